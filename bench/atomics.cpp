// bobbin::atomics against what a C++ programmer would write instead.
//
// - add: atomics::add on a typed_array<int32_t> (bounds check included) against a raw
//   std::atomic<int32_t>::fetch_add, one thread, the same loop. Target: within 1.2x.
// - ping-pong: two threads hand a value back and forth, each sleeping until the other
//   answers: atomics::wait/notify, then mutex + condition_variable and
//   std::atomic::wait/notify_one for comparison. Every round trip is timed; the
//   counters median_us and p99_us are computed from those times. Targets: bobbin's
//   median under 20 µs and at least 5x faster than mutex + condition_variable.
// Each benchmark checks its result and reports an error instead of a figure if wrong.
#include <bobbin/atomics.hpp>
#include <bobbin/shared_buffer.hpp>

#include <benchmark/benchmark.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <thread>
#include <vector>

namespace {

void bm_atomics_add(benchmark::State& state) {
  bobbin::shared_buffer buf(64);
  bobbin::typed_array<std::int32_t> counter(buf);
  std::size_t index = 0;
  for (auto _ : state) {
    benchmark::DoNotOptimize(index);  // a runtime index: the bounds check stays in the loop
    benchmark::DoNotOptimize(bobbin::atomics::add(counter, index, 1));
  }
  const auto expected = static_cast<std::uint32_t>(state.iterations());
  if (static_cast<std::uint32_t>(bobbin::atomics::load(counter, 0)) != expected)
    state.SkipWithError("atomics::add lost an increment");
}
BENCHMARK(bm_atomics_add);

void bm_std_atomic_fetch_add(benchmark::State& state) {
  std::atomic<std::int32_t> counter{0};
  std::size_t index = 0;
  for (auto _ : state) {
    benchmark::DoNotOptimize(index);  // the same loop as above, minus the view
    benchmark::DoNotOptimize(counter.fetch_add(1));
  }
  if (static_cast<std::uint32_t>(counter.load()) != static_cast<std::uint32_t>(state.iterations()))
    state.SkipWithError("fetch_add lost an increment");
}
BENCHMARK(bm_std_atomic_fetch_add);

// Times each round trip and reports the median and 99th percentile in µs.
class round_trips {
 public:
  explicit round_trips(const benchmark::State& state) {
    times_.reserve(static_cast<std::size_t>(state.max_iterations));
  }
  template <class F>
  void time(F&& round_trip) {
    const auto start = std::chrono::steady_clock::now();
    round_trip();
    times_.push_back(std::chrono::steady_clock::now() - start);
  }
  void report(benchmark::State& state) {
    if (times_.empty()) return;
    std::sort(times_.begin(), times_.end());
    const auto us = [](std::chrono::steady_clock::duration d) {
      return std::chrono::duration<double, std::micro>(d).count();
    };
    state.counters["median_us"] = us(times_[times_.size() / 2]);
    state.counters["p99_us"] = us(times_[times_.size() * 99 / 100]);
  }

 private:
  std::vector<std::chrono::steady_clock::duration> times_;
};

// Odd values are the benchmark thread's serve, even values the partner's return; a
// negative value tells the partner to stop.
void bm_ping_pong_bobbin(benchmark::State& state) {
  bobbin::shared_buffer buf(sizeof(std::int32_t));
  bobbin::typed_array<std::int32_t> ball(buf);
  std::int32_t partner_rounds = 0;
  std::jthread partner([&] {
    for (std::int32_t r = 0;; ++r) {
      std::int32_t v;
      while ((v = bobbin::atomics::load(ball, 0)) == 2 * r) bobbin::atomics::wait(ball, 0, 2 * r);
      if (v < 0) return;
      partner_rounds = r + 1;
      bobbin::atomics::store(ball, 0, 2 * r + 2);
      bobbin::atomics::notify(ball, 0, 1);
    }
  });
  round_trips times(state);
  std::int32_t r = 0;
  for (auto _ : state) {
    times.time([&] {
      bobbin::atomics::store(ball, 0, 2 * r + 1);
      bobbin::atomics::notify(ball, 0, 1);
      while (bobbin::atomics::load(ball, 0) == 2 * r + 1) bobbin::atomics::wait(ball, 0, 2 * r + 1);
    });
    ++r;
  }
  const std::int32_t last = bobbin::atomics::load(ball, 0);
  bobbin::atomics::store(ball, 0, -1);
  bobbin::atomics::notify(ball, 0);
  partner.join();
  if (last != 2 * r || partner_rounds != r) state.SkipWithError("a round trip went wrong");
  times.report(state);
}
BENCHMARK(bm_ping_pong_bobbin)->UseRealTime();

void bm_ping_pong_condition_variable(benchmark::State& state) {
  std::mutex mutex;
  std::condition_variable to_partner, to_main;
  std::int32_t ball = 0;  // guarded by mutex
  std::int32_t partner_rounds = 0;
  std::jthread partner([&] {
    for (std::int32_t r = 0;; ++r) {
      std::unique_lock lock(mutex);
      to_partner.wait(lock, [&] { return ball != 2 * r; });
      if (ball < 0) return;
      partner_rounds = r + 1;
      ball = 2 * r + 2;
      lock.unlock();
      to_main.notify_one();
    }
  });
  round_trips times(state);
  std::int32_t r = 0;
  for (auto _ : state) {
    times.time([&] {
      {
        std::lock_guard lock(mutex);
        ball = 2 * r + 1;
      }
      to_partner.notify_one();
      std::unique_lock lock(mutex);
      to_main.wait(lock, [&] { return ball != 2 * r + 1; });
    });
    ++r;
  }
  std::int32_t last = 0;
  {
    std::lock_guard lock(mutex);
    last = ball;
    ball = -1;
  }
  to_partner.notify_one();
  partner.join();
  if (last != 2 * r || partner_rounds != r) state.SkipWithError("a round trip went wrong");
  times.report(state);
}
BENCHMARK(bm_ping_pong_condition_variable)->UseRealTime();

// C++20's own wait/notify: no timeout and no count, shown for reference.
void bm_ping_pong_std_atomic_wait(benchmark::State& state) {
  std::atomic<std::int32_t> ball{0};
  std::int32_t partner_rounds = 0;
  std::jthread partner([&] {
    for (std::int32_t r = 0;; ++r) {
      std::int32_t v;
      while ((v = ball.load()) == 2 * r) ball.wait(2 * r);
      if (v < 0) return;
      partner_rounds = r + 1;
      ball.store(2 * r + 2);
      ball.notify_one();
    }
  });
  round_trips times(state);
  std::int32_t r = 0;
  for (auto _ : state) {
    times.time([&] {
      ball.store(2 * r + 1);
      ball.notify_one();
      while (ball.load() == 2 * r + 1) ball.wait(2 * r + 1);
    });
    ++r;
  }
  const std::int32_t last = ball.load();
  ball.store(-1);
  ball.notify_one();
  partner.join();
  if (last != 2 * r || partner_rounds != r) state.SkipWithError("a round trip went wrong");
  times.report(state);
}
BENCHMARK(bm_ping_pong_std_atomic_wait)->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
