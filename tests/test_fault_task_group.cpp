// Fault injection (issue 8) into fork-join: parallel_for with failures on the pool's
// threads, task_group::run of a callable that must be boxed.
//
// tests/support/fault_alloc.hpp is the operator new that fails on the Nth allocation once
// armed; tests/support/fault_injection.hpp says what every sweep checks and holds the
// helpers. The other components' fault injection: tests/test_fault_*.cpp.

#include <doctest/doctest.h>

#include <bobbin/pool.hpp>
#include <bobbin/task_group.hpp>

#include "support/fault_injection.hpp"

#include <atomic>
#include <cstddef>
#include <memory>
#include <vector>

using namespace bobbin_test::fault;

// With failures on every worker: a fork-join computation either completes or reports
// std::bad_alloc from wait(); no index runs twice, and nothing hangs.
TEST_CASE("fault injection: parallel_for with failures on the pool's threads" * doctest::timeout(300)) {
  constexpr int m = 400;
  bobbin::pool<> p(options(2));
  for (long n = 1;; ++n) {
    REQUIRE(n < sweep_limit);
    CAPTURE(n);
    std::vector<std::atomic<int>> ran(m);
    outcome o;
    bool hit;
    {
      inject::armed a(n, inject::on_pool_threads);
      o = attempt([&] {
        bobbin::parallel_for(
            p, 0, m,
            [&](int i) {
              if (i % 8 == 0) (void)std::make_unique<int>(i);  // the work itself allocates
              ran[static_cast<std::size_t>(i)].fetch_add(1);
            },
            1);
      });
      hit = a.hit();
    }
    CHECK(o != outcome::other);
    CHECK((o == outcome::bad_alloc) == hit);
    int twice = 0;
    int missing = 0;
    for (auto& r : ran) {
      twice += r > 1 ? 1 : 0;
      missing += r == 0 ? 1 : 0;
    }
    CHECK(twice == 0);
    if (o == outcome::ok) CHECK(missing == 0);
    if (!hit) break;
  }
  std::atomic<int> sum{0};
  bobbin::parallel_for(p, 0, m, [&](int i) { sum.fetch_add(i); });
  CHECK(sum == m * (m - 1) / 2);
}

// task_group::run with a callable that does not fit inline: the task's own box is the
// allocation that fails. The spawn is counted only once the task is built (or wait()
// would hang), and a refused task's callable is destroyed (or its box would leak).
TEST_CASE("fault injection: task_group::run with a boxed callable" * doctest::timeout(60)) {
  bobbin::pool<> p(options(2));
  std::atomic<int> ran{0};
  big_payload big{};
  for (long n = 1;; ++n) {
    REQUIRE(n < sweep_limit);
    CAPTURE(n);
    bobbin::task_group tg(p);
    outcome o;
    bool hit;
    {
      inject::armed a(n);
      o = attempt([&] { tg.run([&ran, big] { ran.fetch_add(1 + static_cast<int>(big[0])); }); });
      hit = a.hit();
    }
    CHECK(o != outcome::other);
    tg.wait();
    if (!hit) break;
  }
  // And from a worker, where the queue's growth may fail too.
  for (long n = 1;; ++n) {
    REQUIRE(n < sweep_limit);
    CAPTURE(n);
    bool hit = false;
    p.submit([&] {
       bobbin::task_group tg(p);
       inject::armed a(n);
       for (int i = 0; i < 300; ++i) {
         if (attempt([&] { tg.run([&ran, big] { ran.fetch_add(1 + static_cast<int>(big[0])); }); }) != outcome::ok)
           break;
       }
       hit = a.hit();
       a.disarm();
       tg.wait();
     }).get();
    if (!hit) break;
  }
}
