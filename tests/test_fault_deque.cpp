// Fault injection (issue 8) into detail::ws_deque, the work-stealing deque: growth that
// fails keeps every item, also while a thief steals.
//
// tests/support/fault_alloc.hpp is the operator new that fails on the Nth allocation once
// armed; tests/support/fault_injection.hpp says what every sweep checks and holds the
// helpers. The other components' fault injection: tests/test_fault_*.cpp.

#include <doctest/doctest.h>

#include <bobbin/detail/task/ws_deque.hpp>

#include "support/fault_injection.hpp"

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <thread>
#include <vector>

using namespace bobbin_test::fault;

TEST_CASE("fault injection: ws_deque::push keeps its items when growth fails") {
  struct item {
    std::uint64_t id;
    std::uint64_t check;
  };
  constexpr std::uint64_t m = 1000;  // from 2 slots: nine growths
  long failures = 0;
  for (long n = 1;; ++n) {
    REQUIRE(n < sweep_limit);
    CAPTURE(n);
    bobbin::detail::ws_deque<item> d(2);
    std::uint64_t pushed = 0;
    outcome o = outcome::ok;
    bool hit = false;
    {
      inject::armed a(n);
      for (; pushed < m; ++pushed) {
        o = attempt([&] { d.push({pushed, ~pushed}); });
        if (o != outcome::ok) break;
      }
      hit = a.hit();
    }
    CHECK(o != outcome::other);
    CHECK((o == outcome::bad_alloc) == hit);
    CHECK(d.size_approx() == pushed);
    // Later pushes succeed (the failed one again first); a thief takes all, oldest first.
    for (std::uint64_t i = pushed; i < m; ++i) d.push({i, ~i});
    item v{};
    std::uint64_t next = 0;
    bool in_order = true;
    while (d.steal(v) == bobbin::detail::steal_status::success) {
      in_order = in_order && v.id == next && v.check == ~next;
      ++next;
    }
    CHECK(in_order);
    CHECK(next == m);
    if (!hit) break;
    ++failures;
  }
  CHECK(failures >= 9);  // each growth allocates the array, its slots, maybe the list of arrays
}

TEST_CASE("fault injection: ws_deque growth fails while a thief steals" * doctest::timeout(120)) {
  constexpr std::uint64_t m = 20'000;
  for (long n = 1;; ++n) {
    REQUIRE(n < sweep_limit);
    CAPTURE(n);
    bobbin::detail::ws_deque<std::uint64_t> d(2);
    std::atomic<bool> done{false};
    std::vector<std::uint64_t> stolen;
    std::thread thief([&] {
      std::uint64_t v = 0;
      for (;;) {
        const bool finished = done.load();
        if (d.steal(v) == bobbin::detail::steal_status::success) {
          stolen.push_back(v);
        } else if (finished && d.empty_approx()) {
          return;
        }
      }
    });
    std::vector<std::uint64_t> popped;
    popped.reserve(m);
    bool hit = false;
    outcome last = outcome::ok;
    int other = 0;
    {
      inject::armed a(n);
      for (std::uint64_t i = 0; i < m; ++i) {
        outcome o;
        while ((o = attempt([&] { d.push(i); })) == outcome::bad_alloc) last = o;  // retried: the next growth succeeds
        if (o == outcome::other) ++other;
        if (i % 7 == 0) {
          std::uint64_t v;
          if (d.pop(v)) popped.push_back(v);
        }
      }
      hit = a.hit();
    }
    std::uint64_t v;
    while (d.pop(v)) popped.push_back(v);
    done.store(true);
    thief.join();
    CHECK(other == 0);
    CHECK((last == outcome::bad_alloc) == hit);
    std::vector<std::uint64_t> all = popped;
    all.insert(all.end(), stolen.begin(), stolen.end());
    std::sort(all.begin(), all.end());
    bool exactly_once = all.size() == m;
    for (std::uint64_t i = 0; exactly_once && i < m; ++i) exactly_once = all[i] == i;
    CHECK(exactly_once);
    if (!hit) break;
  }
}
