// Fork-join: recursive fib in both shapes on 1, 2 and 4 threads; task_group; parallel_for
// and parallel_reduce.
#include <doctest/doctest.h>

#include <bobbin/pool.hpp>
#include <bobbin/task_group.hpp>

#include "support/counted.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <climits>
#include <cstdint>
#include <future>
#include <latch>
#include <limits>
#include <memory>
#include <mutex>
#include <numeric>
#include <stdexcept>
#include <thread>
#include <type_traits>
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

TEST_CASE("fork-join: recursive fib(20) equals the serial value in both shapes, 1/2/4 threads" *
          doctest::timeout(120)) {
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
  CHECK_THROWS_AS(bobbin::parallel_for(p, 0, 100,
                                       [](int i) {
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
  // (slow_to_die::live counts its objects; each sleeps before it counts itself gone.)
  struct slow_to_die : bobbin_test::counted<int, slow_to_die> {
    slow_to_die() = default;
    slow_to_die(const slow_to_die&) = default;
    ~slow_to_die() { std::this_thread::sleep_for(std::chrono::milliseconds(20)); }
  };
  for (int round = 0; round < 5; ++round) {
    slow_to_die::reset();
    {
      bobbin::task_group g(p);
      const slow_to_die k;
      g.run([k] { (void)k; });
      g.wait();
      CHECK(slow_to_die::live.load() == 1);  // every copy the group made is gone; k itself goes below
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

TEST_CASE("task_group: destroyed on another thread, the destructor waits for every member" * doctest::timeout(60)) {
  bobbin::pool<> p({.threads = 2});
  for (int round = 0; round < 3; ++round) {
    std::atomic<int> finished{0};
    auto g = std::make_unique<bobbin::task_group>(p);
    for (int i = 0; i < 8; ++i) {
      g->run([&finished] {
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
        finished.fetch_add(1);
      });
    }
    int seen = -1;  // the other thread's, read after its join
    std::thread other([&seen, &finished, g = std::move(g)]() mutable {
      g.reset();  // not the creator: it must wait all the same, not free the group under them
      seen = finished.load();
    });
    other.join();
    CHECK(seen == 8);
  }
}

TEST_CASE("task_group: handed out of the task that made it, unwaited; members still run on its thread" *
          doctest::timeout(120)) {
  // The creator is a pool worker that returns without waiting: it then runs the group's
  // members itself (they are in its own queue), and those add more, while the main thread
  // destroys the group. The count must be exact on both sides (TSan: no race on it).
  for (std::size_t threads : {1u, 2u}) {
    CAPTURE(threads);
    bobbin::pool<> p({.threads = threads});
    for (int round = 0; round < 20; ++round) {
      auto counter = std::make_shared<std::atomic<int>>(0);
      auto made = p.submit([&p, counter] {
        auto g = std::make_unique<bobbin::task_group>(p);
        bobbin::task_group* raw = g.get();
        for (int i = 0; i < 16; ++i) {
          raw->run([raw, counter] {
            raw->run([counter] { counter->fetch_add(1); });  // spawned by a member
            counter->fetch_add(1);
          });
        }
        return g;
      });
      auto g = made.get();
      g.reset();
      CHECK(counter->load() == 32);
    }
  }
}

TEST_CASE("task_group: destroyed by another task on a one-thread pool, which runs what is left" *
          doctest::timeout(60)) {
  // The destroying task is on the only worker, and the group's members are queued behind it
  // on that worker: the destructor must run them (helping), not sleep, nor return early.
  bobbin::pool<> p({.threads = 1});
  for (int round = 0; round < 5; ++round) {
    std::atomic<int> finished{0};
    auto owned = std::make_unique<bobbin::task_group>(p);
    bobbin::task_group* g = owned.get();
    std::unique_ptr<bobbin::task_group> slot;
    std::latch handed(1);
    std::promise<int> seen;
    g->run([&] {
      handed.wait();  // main has put the group in `slot`
      for (int i = 0; i < 10; ++i) g->run([&finished] { finished.fetch_add(1); });
      p.post([&] {
        slot.reset();
        seen.set_value(finished.load());
      });
    });
    slot = std::move(owned);
    handed.count_down();
    CHECK(seen.get_future().get() == 10);
  }
}

namespace {

// Every index of [first, last) exactly once, for several grains: exhaustive for small types.
template <class I>
void check_every_index_once(bobbin::pool<>& p, I first, I last) {
  const auto n = static_cast<std::size_t>(static_cast<long long>(last) - static_cast<long long>(first));
  for (std::size_t grain : {0u, 1u, 3u, 200u, 100'000u}) {
    CAPTURE(grain);
    std::vector<std::atomic<int>> hits(n);
    bobbin::parallel_for(
        p, first, last,
        [&](I i) {
          hits[static_cast<std::size_t>(static_cast<long long>(i) - static_cast<long long>(first))].fetch_add(1);
        },
        grain);
    std::size_t wrong = 0;
    for (auto& h : hits) wrong += h.load() != 1;
    CHECK(wrong == 0);
    // The same split through parallel_reduce: the sum of the indices, and their count.
    const long long sum = bobbin::parallel_reduce(
        p, first, last, 0LL, [](I i) { return static_cast<long long>(i); }, std::plus<>{}, grain);
    long long expected = 0;
    for (long long i = first; i < static_cast<long long>(last); ++i) expected += i;
    CHECK(sum == expected);
  }
}

// The pieces a split makes, without visiting every index of a huge range: the callable
// throws at the first index of its piece, so each piece calls it exactly once (with its
// first index) and the other pieces still run. Returns the pieces' first indices, sorted.
template <class I>
std::vector<I> piece_starts_for(bobbin::pool<>& p, I first, I last, std::size_t grain) {
  std::mutex m;
  std::vector<I> starts;
  bool threw = false;
  try {
    bobbin::parallel_for(
        p, first, last,
        [&](I i) {
          {
            std::lock_guard lock(m);
            starts.push_back(i);
          }
          throw std::runtime_error("piece");
        },
        grain);
  } catch (const std::runtime_error&) {
    threw = true;
  }
  CHECK(threw);
  std::sort(starts.begin(), starts.end());
  return starts;
}

template <class I>
std::vector<I> reduce_piece_starts_for(bobbin::pool<>& p, I first, I last, std::size_t grain) {
  std::mutex m;
  std::vector<I> starts;
  bool threw = false;
  try {
    (void)bobbin::parallel_reduce(
        p, first, last, 0,
        [&](I i) -> int {
          {
            std::lock_guard lock(m);
            starts.push_back(i);
          }
          throw std::runtime_error("piece");
        },
        std::plus<>{}, grain);
  } catch (const std::runtime_error&) {
    threw = true;
  }
  CHECK(threw);
  std::sort(starts.begin(), starts.end());
  return starts;
}

// The pieces tile [first, last): the first starts at `first`, none is empty or longer than
// grain, and there are at most twice as many as the fewest possible.
template <class I>
void check_tiling(const std::vector<I>& starts, I first, I last, std::size_t grain) {
  using U = std::make_unsigned_t<std::common_type_t<I, int>>;
  const auto length = [](I a, I b) {
    return static_cast<std::uint64_t>(static_cast<U>(static_cast<U>(b) - static_cast<U>(a)));
  };
  REQUIRE_FALSE(starts.empty());
  CHECK(starts.front() == first);
  bool fits = true;
  for (std::size_t k = 0; k < starts.size(); ++k) {
    const I end = k + 1 < starts.size() ? starts[k + 1] : last;
    const std::uint64_t len = length(starts[k], end);
    fits = fits && len >= 1 && len <= grain;
  }
  CHECK(fits);
  const std::uint64_t n = length(first, last);
  const std::uint64_t fewest = n / grain + (n % grain != 0 ? 1 : 0);
  CHECK(starts.size() >= fewest);
  CHECK(starts.size() <= 2 * fewest);
}

}  // namespace

TEST_CASE("parallel_for/parallel_reduce: small types, every index of the full range exactly once" *
          doctest::timeout(300)) {
  bobbin::pool<> p({.threads = 2});
  check_every_index_once<std::int8_t>(p, INT8_MIN, INT8_MAX);
  check_every_index_once<std::uint8_t>(p, 0, UINT8_MAX);
  check_every_index_once<std::int16_t>(p, INT16_MIN, INT16_MAX);
  check_every_index_once<std::uint16_t>(p, 0, UINT16_MAX);
  check_every_index_once<char>(p, std::numeric_limits<char>::min(), std::numeric_limits<char>::max());
  check_every_index_once<int>(p, -5, 5);
}

TEST_CASE("parallel_for: int ranges wider than INT_MAX split into O(range/grain) pieces" * doctest::timeout(60)) {
  bobbin::pool<> p({.threads = 2});
  constexpr std::size_t g28 = std::size_t{1} << 28;
  check_tiling(piece_starts_for<int>(p, -1'100'000'000, 1'100'000'000, g28), -1'100'000'000, 1'100'000'000, g28);
  check_tiling(piece_starts_for<int>(p, INT_MIN, INT_MAX, g28), INT_MIN, INT_MAX, g28);
  check_tiling(piece_starts_for<unsigned>(p, 0u, UINT_MAX, g28), 0u, UINT_MAX, g28);
  check_tiling(piece_starts_for<std::int8_t>(p, INT8_MIN, INT8_MAX, 16), std::int8_t{INT8_MIN}, std::int8_t{INT8_MAX},
               16);
}

TEST_CASE("parallel_for: full 64-bit ranges split into O(range/grain) pieces" * doctest::timeout(60)) {
  bobbin::pool<> p({.threads = 2});
  constexpr std::size_t g60 = std::size_t{1} << 60;
  check_tiling(piece_starts_for<std::uint64_t>(p, 0, UINT64_MAX, g60), std::uint64_t{0}, UINT64_MAX, g60);
  CHECK(piece_starts_for<std::uint64_t>(p, 0, UINT64_MAX, SIZE_MAX).size() == 1);  // one piece
  check_tiling(piece_starts_for<std::int64_t>(p, INT64_MIN, INT64_MAX, g60), INT64_MIN, INT64_MAX, g60);
}

TEST_CASE("parallel_reduce: wide ranges make pieces of exactly grain, each mapped once" * doctest::timeout(60)) {
  bobbin::pool<> p({.threads = 2});
  // The pieces start at first + k * grain, k = 0, 1, ...
  const auto exact = [](auto starts, auto first, std::uint64_t grain) {
    bool right = !starts.empty();
    for (std::size_t k = 0; k < starts.size(); ++k) {
      right = right && starts[k] == static_cast<decltype(first)>(static_cast<std::uint64_t>(first) + k * grain);
    }
    return right;
  };
  constexpr std::size_t g28 = std::size_t{1} << 28;
  constexpr std::size_t g60 = std::size_t{1} << 60;
  const auto r3 = reduce_piece_starts_for<std::uint64_t>(p, 0, UINT64_MAX, std::size_t{1} << 62);
  CHECK(r3.size() == 4);
  CHECK(exact(r3, std::uint64_t{0}, std::uint64_t{1} << 62));
  const auto r1 = reduce_piece_starts_for<int>(p, -1'100'000'000, 1'100'000'000, g28);
  CHECK(r1.size() == 9);  // 2.2e9 / 2^28 = 8.2
  CHECK(exact(r1, -1'100'000'000, g28));
  const auto r2 = reduce_piece_starts_for<int>(p, INT_MIN, INT_MAX, g28);
  CHECK(r2.size() == 16);
  CHECK(exact(r2, INT_MIN, g28));
  const auto r4 = reduce_piece_starts_for<std::int64_t>(p, INT64_MIN, INT64_MAX, g60);
  CHECK(r4.size() == 16);
  CHECK(exact(r4, INT64_MIN, g60));
  // The default grain over a huge range: about 8 pieces per thread, not one per index.
  const auto r5 = reduce_piece_starts_for<std::int64_t>(p, INT64_MIN, INT64_MAX, 0);
  CHECK(r5.size() >= 8);
  CHECK(r5.size() <= 8 * p.size() + 1);
}

TEST_CASE("parallel_for/parallel_reduce: empty and reversed ranges do nothing; grain 0 is automatic") {
  bobbin::pool<> p({.threads = 2});
  int calls = 0;
  bobbin::parallel_for(p, INT_MAX, INT_MIN, [&](int) { ++calls; });
  bobbin::parallel_for(p, UINT64_MAX, std::uint64_t{0}, [&](std::uint64_t) { ++calls; });
  bobbin::parallel_for(p, std::int8_t{3}, std::int8_t{3}, [&](std::int8_t) { ++calls; });
  CHECK(calls == 0);
  CHECK(bobbin::parallel_reduce(p, INT_MAX, INT_MIN, 7L, [](int) { return 1L; }, std::plus<>{}) == 7);
  CHECK(bobbin::parallel_reduce(p, 10u, 2u, 7L, [](unsigned) { return 1L; }, std::plus<>{}, 1) == 7);
  // Grain 0 (the default): about 8 pieces per thread.
  const auto starts = piece_starts_for<int>(p, 0, 1 << 20, 0);
  CHECK(starts.size() >= 8);
  CHECK(starts.size() <= 4 * 8 * p.size());
  CHECK(bobbin::parallel_reduce(p, 0, 1000, 0L, [](int i) { return long{i}; }, std::plus<>{}, 0) == 499'500);
}
