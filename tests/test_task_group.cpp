// Fork-join: recursive fib in both shapes on 1, 2 and 4 threads; task_group; parallel_for
// and parallel_reduce.
#include <doctest/doctest.h>

#include <bobbin/pool.hpp>
#include <bobbin/task_group.hpp>

#include <atomic>
#include <chrono>
#include <latch>
#include <memory>
#include <numeric>
#include <stdexcept>
#include <thread>
#include <vector>

namespace {

long serial_fib(int n) { return n < 2 ? n : serial_fib(n - 1) + serial_fib(n - 2); }

long fib_submit(bobbin::pool<>& p, int n) {
  if (n < 2) return n;
  auto a = p.submit(fib_submit, std::ref(p), n - 1);
  long b = fib_submit(p, n - 2);
  return a.get() + b;
}

long fib_group(bobbin::pool<>& p, int n) {
  if (n < 2) return n;
  long a = 0;
  bobbin::task_group g(p);
  g.run([&] { a = fib_group(p, n - 1); });
  long b = fib_group(p, n - 2);
  g.wait();
  return a + b;
}

}  // namespace

TEST_CASE("fork-join: recursive fib(20) equals the serial value in both shapes, 1/2/4 threads" * doctest::timeout(120)) {
  const long expected = serial_fib(20);
  for (std::size_t threads : {1u, 2u, 4u}) {
    CAPTURE(threads);
    bobbin::pool<> p({.threads = threads});
    CHECK(p.submit(fib_submit, std::ref(p), 20).get() == expected);
    CHECK(p.submit(fib_group, std::ref(p), 20).get() == expected);
    // Started from outside the pool too: the outer thread sleeps, the workers help.
    CHECK(fib_submit(p, 18) == serial_fib(18));
    CHECK(fib_group(p, 18) == serial_fib(18));
  }
}

TEST_CASE("fork-join: work is stolen in a 2-thread fib") {
  bobbin::pool<> p({.threads = 2});
  // On a loaded machine the second worker may not get a core during one short run; a
  // pool that never steals fails every round.
  bool all_right = true;
  for (int round = 0; round < 50 && p.stats().stolen == 0; ++round) {
    all_right = all_right && p.submit(fib_group, std::ref(p), 22).get() == serial_fib(22);
  }
  CHECK(all_right);
  CHECK(p.stats().stolen > 0);
}

TEST_CASE("task_group: waits for nested runs, rethrows the first error, is reusable") {
  bobbin::pool<> p({.threads = 2});
  std::atomic<int> n{0};
  bobbin::task_group g(p);
  for (int i = 0; i < 100; ++i) {
    g.run([&] {
      n.fetch_add(1);
      g.run([&] { n.fetch_add(1); });  // a task adding to its own group, from a worker
    });
  }
  g.wait();
  CHECK(n == 200);

  g.run([] { throw std::runtime_error("boom"); });
  g.run([&] { n.fetch_add(1); });
  CHECK_THROWS_AS(g.wait(), std::runtime_error);
  CHECK(n == 201);
  g.run([&] { n.fetch_add(1); });
  g.wait();  // the error was consumed
  CHECK(n == 202);
}

TEST_CASE("task_group: wait from another thread is refused; the destructor waits") {
  bobbin::pool<> p({.threads = 2});
  std::atomic<int> n{0};
  {
    bobbin::task_group g(p);
    for (int i = 0; i < 10; ++i) {
      g.run([&] {
        std::this_thread::sleep_for(std::chrono::milliseconds(2));
        n.fetch_add(1);
      });
    }
    bool refused = false;
    std::thread other([&] {
      try {
        g.wait();
      } catch (const std::logic_error&) {
        refused = true;
      }
    });
    other.join();
    CHECK(refused);
  }
  CHECK(n == 10);
}

TEST_CASE("task_group: a group on a one-thread pool waited on from that worker does not deadlock") {
  bobbin::pool<> p({.threads = 1});
  auto total = p.submit([&p] {
    std::atomic<int> sum{0};
    bobbin::task_group g(p);
    for (int i = 1; i <= 100; ++i) g.run([&sum, i] { sum.fetch_add(i); });
    g.wait();
    return sum.load();
  });
  CHECK(total.get() == 5050);
}

TEST_CASE("task_group: shutdown_now cancels its queued tasks and wait() reports it") {
  bobbin::pool<> p({.threads = 1});
  std::latch started(1), release(1);
  p.post([&] {
    started.count_down();
    release.wait();
  });
  started.wait();
  bobbin::task_group g(p);
  std::atomic<int> ran{0};
  for (int i = 0; i < 10; ++i) g.run([&] { ran.fetch_add(1); });
  std::thread stopper([&] { p.shutdown_now(); });
  // shutdown_now starts cancelling before it closes the pool: once post() is refused,
  // every task still queued will be cancelled rather than run.
  for (;;) {
    try {
      p.post([] {});
    } catch (const bobbin::pool_closed&) {
      break;
    }
    std::this_thread::yield();
  }
  release.count_down();
  stopper.join();
  CHECK_THROWS_AS(g.wait(), bobbin::task_cancelled);
  CHECK(ran == 0);
  CHECK_THROWS_AS(g.run([] {}), bobbin::pool_closed);
}

TEST_CASE("parallel_for: every index exactly once, any grain, empty ranges") {
  bobbin::pool<> p({.threads = 3});
  for (std::size_t grain : {0u, 1u, 7u, 1000u}) {
    CAPTURE(grain);
    std::vector<std::atomic<int>> hits(10'000);
    bobbin::parallel_for(p, 0, 10'000, [&](int i) { hits[static_cast<std::size_t>(i)].fetch_add(1); }, grain);
    int wrong = 0;
    for (auto& h : hits) wrong += h.load() != 1;
    CHECK(wrong == 0);
  }
  int calls = 0;
  bobbin::parallel_for(p, 5, 5, [&](int) { ++calls; });
  bobbin::parallel_for(p, 5, 2, [&](int) { ++calls; });
  CHECK(calls == 0);
  CHECK_THROWS_AS(bobbin::parallel_for(p, 0, 100, [](int i) {
                    if (i == 42) throw std::runtime_error("42");
                  }),
                  std::runtime_error);
}

TEST_CASE("parallel_reduce: sums, non-commutative combine in index order") {
  bobbin::pool<> p({.threads = 2});
  const long sum = bobbin::parallel_reduce(p, 1L, 100'001L, 0L, [](long i) { return i; }, std::plus<>{});
  CHECK(sum == 5'000'050'000L);
  const std::string s = bobbin::parallel_reduce(
      p, 0, 26, std::string{}, [](int i) { return std::string(1, static_cast<char>('a' + i)); },
      [](std::string a, const std::string& b) { return a + b; }, 3);
  CHECK(s == "abcdefghijklmnopqrstuvwxyz");
  CHECK(bobbin::parallel_reduce(p, 0, 0, 7, [](int) { return 1; }, std::plus<>{}) == 7);
}

TEST_CASE("task_group: a member that throws counts as failed; its callable is gone when wait() returns") {
  bobbin::pool<> p({.threads = 2});
  {
    bobbin::task_group g(p);
    g.run([] { throw std::runtime_error("boom"); });
    CHECK_THROWS_AS(g.wait(), std::runtime_error);
    p.wait_idle();
    const auto s = p.stats();
    CHECK(s.failed == 1);
    CHECK(s.completed == 0);
  }
  // A capture whose destructor takes its time: wait() must not return before it ran, or it
  // would touch this frame after the group is gone.
  struct slow_to_die {
    std::atomic<int>* live;
    explicit slow_to_die(std::atomic<int>* l) : live(l) { live->fetch_add(1); }
    slow_to_die(const slow_to_die& o) : live(o.live) { live->fetch_add(1); }
    ~slow_to_die() {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
      live->fetch_sub(1);
    }
  };
  for (int round = 0; round < 5; ++round) {
    std::atomic<int> live{0};
    {
      bobbin::task_group g(p);
      const slow_to_die k(&live);
      g.run([k] { (void)k; });
      g.wait();
      CHECK(live.load() == 1);  // every copy the group made is gone; k itself goes below
    }
  }
}

TEST_CASE("task_group: a wait runs its worker's newest tasks itself, a throwing one included") {
  // One worker: the task below posts a detached task that throws after running a group
  // member, so the member's wait finds the throwing task newest in its own deque and runs
  // it from its own frame (the wait's fast path). The error must reach on_error once and
  // count as failed; the member and everything after must still run.
  std::atomic<int> errors{0};
  std::atomic<bool> right_type{false};
  bobbin::pool<> p({.threads = 1, .on_error = [&](std::exception_ptr e) {
                      try {
                        std::rethrow_exception(e);
                      } catch (const std::runtime_error&) {
                        right_type = true;
                      } catch (...) {
                      }
                      errors.fetch_add(1);
                    }});
  const int result = p.submit([&p] {
                        int ran = 0;
                        bobbin::task_group g(p);
                        g.run([&ran] { ran += 1; });
                        p.post([] { throw std::runtime_error("detached"); });
                        g.wait();  // runs the post, then the member: both newer than this task
                        return ran;
                      }).get();
  p.wait_idle();
  CHECK(result == 1);
  CHECK(errors.load() == 1);
  CHECK(right_type.load());
  const auto s = p.stats();
  CHECK(s.failed == 1);
  CHECK(s.completed == 2);  // the submitted task and the member
  CHECK(p.submit([] { return 5; }).get() == 5);
}
