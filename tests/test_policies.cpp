// What makes each scheduling policy itself; and recursive fork-join on every policy
// (helping waits never deadlock, with one thread too). The promises every policy keeps
// (exceptions, lifecycle, capacity, sleeping) are templated over all of them in
// test_pool.cpp.
#include <doctest/doctest.h>

#include <bobbin/pool.hpp>
#include <bobbin/task_group.hpp>

#include <algorithm>
#include <atomic>
#include <latch>
#include <mutex>
#include <set>
#include <thread>
#include <utility>
#include <vector>

namespace {

long serial_fib(int n) { return n < 2 ? n : serial_fib(n - 1) + serial_fib(n - 2); }

template <class P>
long fib_submit(bobbin::pool<P>& p, int n) {
  if (n < 2) return n;
  auto a = p.submit(fib_submit<P>, std::ref(p), n - 1);
  long b = fib_submit(p, n - 2);
  return a.get() + b;
}

template <class P>
long fib_group(bobbin::pool<P>& p, int n) {
  if (n < 2) return n;
  long a = 0;
  bobbin::task_group g(p);
  g.run([&] { a = fib_group(p, n - 1); });
  long b = fib_group(p, n - 2);
  g.wait();
  return a + b;
}

// Holds the pool's only worker busy until released, so that tasks queue up behind it.
struct hold {
  std::latch started{1}, release{1};
  template <class P>
  void on(bobbin::pool<P>& p) {
    p.post([this] {
      started.count_down();
      release.wait();
    });
    started.wait();
  }
};

}  // namespace

TEST_CASE_TEMPLATE("policies: recursive fib in both shapes on 1 and 2 threads" * doctest::timeout(120), P,
                   bobbin::work_stealing, bobbin::least_busy, bobbin::round_robin, bobbin::priority, bobbin::fifo) {
  for (std::size_t threads : {1u, 2u}) {
    CAPTURE(threads);
    bobbin::pool<P> p({.threads = threads});
    CHECK(p.submit(fib_submit<P>, std::ref(p), 16).get() == serial_fib(16));
    CHECK(p.submit(fib_group<P>, std::ref(p), 16).get() == serial_fib(16));
  }
}

TEST_CASE("priority: on a busy one-thread pool, queued tasks run highest first, FIFO within a level") {
  bobbin::pool<bobbin::priority> p({.threads = 1});
  hold h;
  h.on(p);
  std::mutex m;
  std::vector<std::pair<int, int>> order;  // (priority, submission index)
  const int prio[] = {1, 5, 3, 5, 1, 3, -2, 5};
  for (int i = 0; i < 8; ++i) {
    p.post({.priority = prio[i]}, [&, i] {
      std::lock_guard lock(m);
      order.emplace_back(prio[i], i);
    });
  }
  h.release.count_down();
  p.wait_idle();
  const std::vector<std::pair<int, int>> expected{{5, 1}, {5, 3}, {5, 7}, {3, 2}, {3, 5}, {1, 0}, {1, 4}, {-2, 6}};
  CHECK(order == expected);
}

TEST_CASE("priority: submit takes task_options too") {
  bobbin::pool<bobbin::priority> p({.threads = 1});
  hold h;
  h.on(p);
  std::vector<int> order;
  auto low = p.submit({.priority = 0}, [&] { order.push_back(0); });
  auto high = p.submit({.priority = 9}, [&] { order.push_back(9); });
  h.release.count_down();
  low.get();
  high.get();
  CHECK(order == std::vector<int>{9, 0});
}

TEST_CASE("priority: aging lets an old low-priority task through a stream of high ones") {
  for (std::size_t aging : {0u, 3u}) {
    CAPTURE(aging);
    bobbin::pool<bobbin::priority> p({.threads = 1, .priority_aging = aging});
    hold h;
    h.on(p);
    std::vector<int> order;
    p.post({.priority = 0}, [&] { order.push_back(-1); });
    for (int i = 0; i < 20; ++i) p.post({.priority = 10}, [&, i] { order.push_back(i); });
    h.release.count_down();
    p.wait_idle();
    const auto pos = std::find(order.begin(), order.end(), -1) - order.begin();
    if (aging == 0) {
      CHECK(pos == 20);  // strict: last
    } else {
      CHECK(pos < 3);  // within the first `aging` tasks taken
    }
  }
}

TEST_CASE("least_busy: with three of four workers blocked, tasks submitted one at a time run on the free one") {
  bobbin::pool<bobbin::least_busy> p({.threads = 4});
  std::latch blocked(3), release(1);
  std::set<std::size_t> blocked_on;
  std::mutex m;
  for (int i = 0; i < 3; ++i) {
    p.post([&] {
      {
        std::lock_guard lock(m);
        blocked_on.insert(*bobbin::this_worker::index());
      }
      blocked.count_down();
      release.wait();
    });
  }
  blocked.wait();
  CHECK(blocked_on.size() == 3);
  std::set<std::size_t> ran_on;
  for (int i = 0; i < 50; ++i) ran_on.insert(p.submit([] { return *bobbin::this_worker::index(); }).get());
  release.count_down();
  REQUIRE(ran_on.size() == 1);
  CHECK(blocked_on.count(*ran_on.begin()) == 0);
}

TEST_CASE("round_robin: n consecutive submissions to n workers land on n different workers") {
  constexpr std::size_t n = 4;
  bobbin::pool<bobbin::round_robin> p({.threads = n});
  for (int round = 0; round < 5; ++round) {
    std::vector<bobbin::future<std::size_t>> fs;
    for (std::size_t i = 0; i < n; ++i) fs.push_back(p.submit([] { return *bobbin::this_worker::index(); }));
    std::set<std::size_t> where;
    for (auto& f : fs) where.insert(f.get());
    CHECK(where.size() == n);
  }
}

TEST_CASE("round_robin: no stealing, so uneven tasks leave a worker behind while another idles") {
  bobbin::pool<bobbin::round_robin> p({.threads = 2});
  std::latch release(1);
  std::atomic<int> done{0};
  // Alternate: even submissions block, odd ones are instant. Whichever worker drew the
  // blocking ones keeps its queue; the other finishes its share and idles.
  for (int i = 0; i < 10; ++i) {
    if (i % 2 == 0) {
      p.post([&] { release.wait(); done.fetch_add(1); });
    } else {
      p.post([&] { done.fetch_add(1); });
    }
  }
  const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (done.load() < 5 && std::chrono::steady_clock::now() < give_up) std::this_thread::yield();
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  CHECK(done.load() == 5);  // the instant half ran; nobody took the blocked worker's queue
  release.count_down();
  p.wait_idle();
  CHECK(done.load() == 10);
}

TEST_CASE("fifo: one worker runs tasks in submission order, nested ones at the back") {
  bobbin::pool<bobbin::fifo> p({.threads = 1});
  hold h;
  h.on(p);
  std::vector<int> order;
  for (int i = 0; i < 100; ++i) {
    p.post([&, i] {
      order.push_back(i);
      if (i == 0) p.post([&] { order.push_back(1000); });
    });
  }
  h.release.count_down();
  p.wait_idle();
  REQUIRE(order.size() == 101);
  for (int i = 0; i < 100; ++i) CHECK(order[static_cast<std::size_t>(i)] == i);
  CHECK(order.back() == 1000);
}

TEST_CASE("work_stealing: idle workers steal, and a worker's own tasks run LIFO") {
  bobbin::pool<bobbin::work_stealing> p({.threads = 1});
  std::vector<int> order;
  p.submit([&] {
     for (int i = 0; i < 5; ++i) p.post([&, i] { order.push_back(i); });
   }).get();
  p.wait_idle();
  CHECK(order == std::vector<int>{4, 3, 2, 1, 0});
}

TEST_CASE_TEMPLATE("policies: fork-join stress, many rounds of task_group fib on 2 and 3 threads" * doctest::timeout(180),
                   P, bobbin::work_stealing, bobbin::least_busy, bobbin::round_robin, bobbin::priority, bobbin::fifo) {
  // Tasks spawned by a waiting owner and finished on other threads while it sleeps: the
  // path that once left a group's count inflated and its owner asleep for good.
#if BOBBIN_TSAN
  constexpr int rounds = 20;
#else
  constexpr int rounds = 200;
#endif
  for (std::size_t threads : {2u, 3u}) {
    bobbin::pool<P> p({.threads = threads});
    long wrong = 0;
    for (int r = 0; r < rounds; ++r) wrong += p.submit(fib_group<P>, std::ref(p), 12).get() != serial_fib(12);
    CHECK(wrong == 0);
  }
}

TEST_CASE_TEMPLATE("policies: deep fork-join keeps the stack bounded (fib(24), submit shape, 2 threads)" *
                       doctest::timeout(180),
                   P, bobbin::work_stealing, bobbin::least_busy, bobbin::round_robin, bobbin::priority, bobbin::fifo) {
  // A waiter taking the oldest task of a shared queue, which waits and takes the oldest in
  // turn, once nested ~100,000 frames deep here and overflowed the stack. Waits nested
  // past a few levels now take only deeper tasks.
#if BOBBIN_TSAN || BOBBIN_ASAN
  constexpr int n = 18;
#else
  constexpr int n = 24;
#endif
  bobbin::pool<P> p({.threads = 2});
  CHECK(p.submit(fib_submit<P>, std::ref(p), n).get() == serial_fib(n));
  CHECK(p.submit(fib_group<P>, std::ref(p), n).get() == serial_fib(n));
}

TEST_CASE("helping: a task may wait for an unrelated, older task on a one-thread pool") {
  bobbin::pool<bobbin::fifo> p({.threads = 1});
  std::latch release(1);
  auto blocker = p.submit([&] { release.wait(); });
  auto older = p.submit([] { return 7; });
  auto waiter = p.submit([&] { return older.get() * 6; });  // helps: runs `older` itself
  release.count_down();
  blocker.get();
  CHECK(waiter.get() == 42);
}
