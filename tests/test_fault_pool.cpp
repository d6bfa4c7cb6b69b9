// Fault injection (issue 8) into bobbin::pool: submissions from outside (every policy,
// bounded and not), the queues growing under outside posts and under nested spawns on a
// worker, and a pool's construction.
//
// tests/support/fault_alloc.hpp is the operator new that fails on the Nth allocation once
// armed; tests/support/fault_injection.hpp says what every sweep checks and holds the
// helpers. The other components' fault injection: tests/test_fault_*.cpp.

#include <doctest/doctest.h>

#include <bobbin/pool.hpp>
#include <bobbin/task_group.hpp>

#include "support/fault_injection.hpp"
#include "support/policies.hpp"

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <utility>
#include <vector>

using namespace bobbin_test::fault;

namespace {

// One submission from a thread outside the pool, swept. `submit(p, ran, f)` submits (or
// posts) a task that adds 1 to `ran` and returns 7, putting its future (if any) in f.
// Before it, ten tasks are queued behind busy workers; they must all run, once.
// Returns how many attempts had a failure injected.
template <class P, class Submit>
long sweep_outside_submission(Submit submit, bool fresh_thread) {
  long failures = 0;
  for (long n = 1;; ++n) {
    REQUIRE(n < sweep_limit);
    CAPTURE(n);
    gate g;
    std::atomic<int> before{0};
    std::atomic<int> ran{0};
    std::optional<bobbin::future<int>> f;
    bobbin::pool<P> p(options(2));
    opens open_at_exit{g};
    hold_workers(p, g);
    for (int i = 0; i < 10; ++i) p.post([&before] { before.fetch_add(1); });

    outcome o = outcome::other;
    bool hit = false;
    auto op = [&] {
      inject::armed a(n);
      o = attempt([&] { submit(p, ran, f); });
      hit = a.hit();
    };
    if (fresh_thread) {
      on_fresh_thread(op);
    } else {
      op();
    }
    CHECK(o != outcome::other);
    CHECK((o == outcome::bad_alloc) == hit);  // the failure reached the caller, nobody swallowed it
    if (o == outcome::bad_alloc) CHECK_FALSE(f.has_value());

    g.open();
    if (f) CHECK(f->get() == 7);
    p.wait_idle();
    CHECK(before == 10);
    CHECK(ran == (o == outcome::ok ? 1 : 0));
    CHECK(p.submit([] { return 42; }).get() == 42);  // still works
    p.wait_idle();
    const bobbin::pool_stats s = p.stats();
    CHECK(s.submitted == 2 + 10 + (o == outcome::ok ? 1 : 0) + 1);  // a refused task is not counted
    CHECK(s.completed == s.submitted);
    if (!hit) return failures;
    ++failures;
  }
}

}  // namespace

// ---------------------------------------------------------------------------------------
// 1. Submissions from outside the pool.

TEST_CASE_TEMPLATE("fault injection: submit and post from outside, every policy" * doctest::timeout(300), P,
                   BOBBIN_TEST_POLICIES) {
  big_payload big{};
  big[3] = 7;

  SUBCASE("submit: the future's shared state") {
    const long failures = sweep_outside_submission<P>(
        [](bobbin::pool<P>& p, std::atomic<int>& ran, std::optional<bobbin::future<int>>& f) {
          f.emplace(p.submit([&ran] {
            ran.fetch_add(1);
            return 7;
          }));
        },
        true);
    CHECK(failures >= 1);
  }
  SUBCASE("submit: a callable too big for the state cache") {
    const long failures = sweep_outside_submission<P>(
        [big](bobbin::pool<P>& p, std::atomic<int>& ran, std::optional<bobbin::future<int>>& f) {
          f.emplace(p.submit([&ran, big] {
            ran.fetch_add(1);
            return static_cast<int>(big[3]);
          }));
        },
        false);
    CHECK(failures >= 1);
  }
  SUBCASE("submit with task_options (a new priority level)") {
    sweep_outside_submission<P>(
        [](bobbin::pool<P>& p, std::atomic<int>& ran, std::optional<bobbin::future<int>>& f) {
          f.emplace(p.submit({.priority = 5}, [&ran] {
            ran.fetch_add(1);
            return 7;
          }));
        },
        true);
  }
  SUBCASE("post: a small callable allocates nothing") {
    const long failures =
        sweep_outside_submission<P>([](bobbin::pool<P>& p, std::atomic<int>& ran,
                                       std::optional<bobbin::future<int>>&) { p.post([&ran] { ran.fetch_add(1); }); },
                                    false);
    CHECK(failures == 0);
  }
  SUBCASE("post: a callable bigger than the inline buffer") {
    const long failures = sweep_outside_submission<P>(
        [big](bobbin::pool<P>& p, std::atomic<int>& ran, std::optional<bobbin::future<int>>&) {
          p.post([&ran, big] { ran.fetch_add(static_cast<int>(big[3]) - 6); });
        },
        false);
    CHECK(failures >= 1);
  }
  SUBCASE("try_post and try_submit") {
    sweep_outside_submission<P>(
        [big](bobbin::pool<P>& p, std::atomic<int>& ran, std::optional<bobbin::future<int>>&) {
          if (!p.try_post([&ran, big] { ran.fetch_add(static_cast<int>(big[3]) - 6); }))
            throw std::logic_error("unbounded: never full");
        },
        false);
    sweep_outside_submission<P>(
        [](bobbin::pool<P>& p, std::atomic<int>& ran, std::optional<bobbin::future<int>>& f) {
          auto r = p.try_submit([&ran] {
            ran.fetch_add(1);
            return 7;
          });
          if (!r) throw std::logic_error("unbounded: never full");
          f.emplace(std::move(*r));
        },
        true);
  }
}

// With queue_capacity, a submission first takes a place in the queue; a failure after that
// must give the place back, or the pool's capacity shrinks for good.
TEST_CASE_TEMPLATE("fault injection: a failed submission to a bounded pool gives its place back" *
                       doctest::timeout(120),
                   P, BOBBIN_TEST_POLICIES) {
  big_payload big{};
  constexpr std::size_t cap = 4;
  for (int kind = 0; kind < 3; ++kind) {
    CAPTURE(kind);
    for (long n = 1;; ++n) {
      REQUIRE(n < sweep_limit);
      CAPTURE(n);
      gate g;
      std::atomic<int> ran{0};
      bobbin::pool<P> p(options(2, cap));
      opens open_at_exit{g};
      hold_workers(p, g);  // taken off the queue: every place is free again
      bool hit = false;
      outcome o = outcome::other;
      std::optional<bobbin::future<int>> f;
      on_fresh_thread([&] {
        inject::armed a(n);
        o = attempt([&] {
          if (kind == 0) p.post([&ran, big] { ran.fetch_add(1 + static_cast<int>(big[0])); });
          if (kind == 1) (void)p.try_post([&ran, big] { ran.fetch_add(1 + static_cast<int>(big[0])); });
          if (kind == 2) f.emplace(p.submit([&ran] { return ran.fetch_add(1); }));
        });
        hit = a.hit();
      });
      CHECK(o != outcome::other);
      // Every place but the one the successful submission holds is free.
      const std::size_t held = o == outcome::ok ? 1 : 0;
      std::size_t accepted = 0;
      while (accepted < cap && p.try_post([&ran] { ran.fetch_add(1); })) ++accepted;
      CHECK(accepted == cap - held);
      g.open();
      if (f) (void)f->get();
      p.wait_idle();
      CHECK(ran == static_cast<int>(accepted + held));
      if (!hit) break;
    }
  }
}

// ---------------------------------------------------------------------------------------
// 2. Growth of the injection queue and the per-worker / shared queues.

TEST_CASE_TEMPLATE("fault injection: outside posts while the queues grow, every policy" * doctest::timeout(300), P,
                   BOBBIN_TEST_POLICIES) {
  constexpr int m =
      3000;  // priority's ring grows twice, the per-worker rings more, the lock-free queue takes 12 segments
  long failures = 0;
  for (long n = 1;; ++n) {
    REQUIRE(n < sweep_limit);
    CAPTURE(n);
    gate g;
    std::vector<std::atomic<int>> ran(m);
    bobbin::pool<P> p(options(2));
    opens open_at_exit{g};
    hold_workers(p, g);
    int accepted = m;
    outcome o = outcome::ok;
    bool hit = false;
    {
      inject::armed a(n);
      for (int i = 0; i < m && o == outcome::ok; ++i) {
        o = attempt([&] { p.post([&ran, i] { ran[static_cast<std::size_t>(i)].fetch_add(1); }); });
        if (o != outcome::ok) accepted = i;
      }
      hit = a.hit();
    }
    CHECK(o != outcome::other);
    CHECK((o == outcome::bad_alloc) == hit);
    // Still works: the rest goes in without injection.
    for (int i = accepted + (o == outcome::ok ? 0 : 1); i < m; ++i)
      p.post([&ran, i] { ran[static_cast<std::size_t>(i)].fetch_add(1); });
    g.open();
    p.wait_idle();
    int wrong = 0;
    for (int i = 0; i < m; ++i) {
      const int expected = (o != outcome::ok && i == accepted) ? 0 : 1;
      if (ran[static_cast<std::size_t>(i)] != expected) ++wrong;
    }
    CHECK(wrong == 0);
    const bobbin::pool_stats s = p.stats();
    CHECK(s.submitted == 2 + static_cast<std::uint64_t>(m) - (o == outcome::ok ? 0 : 1));
    CHECK(s.completed == s.submitted);
    if (!hit) break;
    ++failures;
  }
  CHECK(failures >= 1);
}

// ---------------------------------------------------------------------------------------
// 3. A worker's own queue (the Chase-Lev deque for work_stealing) growing under nested
//    spawns, with failures armed on the pool's threads.

namespace {

struct nested_result {
  int accepted = 0;
  outcome o = outcome::ok;
};

// A task on a worker spawns m children (task_group::run if `group`, else nested submit)
// while children cannot run yet (they wait at `children_go`), so the worker's queue grows.
template <class P>
long sweep_nested_spawns(int m, bool group) {
  long failures = 0;
  for (long n = 1;; ++n) {
    REQUIRE(n < sweep_limit);
    CAPTURE(n);
    gate children_go;
    std::vector<std::atomic<int>> ran(static_cast<std::size_t>(m));
    bobbin::pool<P> p(options(2));
    opens open_at_exit{children_go};
    std::vector<bobbin::future<void>> futures;
    futures.reserve(static_cast<std::size_t>(m));  // the outer task's own bookkeeping does not allocate
    bool hit = false;
    auto outer = [&]() -> nested_result {
      nested_result r{m, outcome::ok};
      auto child = [&ran, &children_go](int i) {
        return [&ran, &children_go, i] {
          children_go.pass();
          ran[static_cast<std::size_t>(i)].fetch_add(1);
        };
      };
      bobbin::task_group tg(p);
      {
        inject::armed a(n, inject::on_pool_threads);
        for (int i = 0; i < m && r.o == outcome::ok; ++i) {
          r.o = attempt([&] {
            if (group) {
              tg.run(child(i));
            } else {
              futures.push_back(p.submit(child(i)));
            }
          });
          if (r.o != outcome::ok) r.accepted = i;
        }
        hit = a.hit();
      }
      children_go.open();
      tg.wait();
      for (auto& f : futures) f.get();
      return r;
    };
    const nested_result r = p.submit(outer).get();
    CHECK(r.o != outcome::other);
    CHECK((r.o == outcome::bad_alloc) == hit);
    p.wait_idle();
    int wrong = 0;
    for (int i = 0; i < m; ++i) {
      if (ran[static_cast<std::size_t>(i)] != (i < r.accepted ? 1 : 0)) ++wrong;
    }
    CHECK(wrong == 0);
    // Still works: the same again without injection.
    std::atomic<int> again{0};
    p.submit([&] {
       bobbin::task_group tg(p);
       for (int i = 0; i < m; ++i) tg.run([&again] { again.fetch_add(1); });
       tg.wait();
     }).get();
    CHECK(again == m);
    p.wait_idle();
    const bobbin::pool_stats s = p.stats();
    CHECK(s.completed + s.failed + s.cancelled == s.submitted);
    if (!hit) return failures;
    ++failures;
  }
}

}  // namespace

TEST_CASE_TEMPLATE("fault injection: task_group::run on a worker while its queue grows" * doctest::timeout(300), P,
                   BOBBIN_TEST_POLICIES) {
  // 2000: the deque (256 slots) grows three times, the per-worker rings (64) five times.
  CHECK(sweep_nested_spawns<P>(2000, true) >= 1);
}

TEST_CASE_TEMPLATE("fault injection: nested submit on a worker (states and queue growth)" * doctest::timeout(600), P,
                   bobbin::work_stealing, bobbin::round_robin, bobbin::fifo) {
  // Every nested submit allocates its future's state (the worker's cache is empty), so the
  // sweep is long: keep it just past the deque's first growth.
  CHECK(sweep_nested_spawns<P>(300, false) >= 300);
}

// A task whose nested submit failed and that caught the failure has still run normally.
// (A submit that was not queued must not go through the task's cancel hook, which would
// mark the *calling* task as cancelled in the statistics and run its before-publish hook
// early.)
TEST_CASE("fault injection: a failed nested submit does not count its caller as cancelled" * doctest::timeout(300)) {
  constexpr int m = 300;  // past the deque's 256 slots
  for (long n = 1;; ++n) {
    REQUIRE(n < sweep_limit);
    CAPTURE(n);
    bobbin::pool<> p(options(1));
    bool hit = false;
    p.post([&] {
      std::vector<bobbin::future<int>> fs;
      fs.reserve(m);
      {
        inject::armed a(n);
        for (int i = 0; i < m; ++i) {
          if (attempt([&] { fs.push_back(p.submit([i] { return i; })); }) != outcome::ok) break;
        }
        hit = a.hit();
      }
      for (auto& f : fs) (void)f.get();
    });
    p.wait_idle();
    const bobbin::pool_stats s = p.stats();
    CHECK(s.cancelled == 0);
    CHECK(s.completed == s.submitted);
    if (!hit) break;
  }
}

// ---------------------------------------------------------------------------------------
// 4. Construction.

TEST_CASE_TEMPLATE("fault injection: a pool whose construction fails leaks nothing" * doctest::timeout(120), P,
                   BOBBIN_TEST_POLICIES) {
  for (long n = 1;; ++n) {
    REQUIRE(n < sweep_limit);
    CAPTURE(n);
    outcome o;
    bool hit;
    {
      inject::armed a(n);
      o = attempt([&] { bobbin::pool<P> p(options(2)); });
      hit = a.hit();
    }
    CHECK(o != outcome::other);
    CHECK((o == outcome::bad_alloc) == hit);
    if (!hit) break;
  }
}
