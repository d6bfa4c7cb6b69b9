// The pool's raw costs: task throughput, the wake-up latency of an idle pool, and the CPU
// an idle pool burns, on --threads=N workers ($BOBBIN_THREADS, default 2), beside oneTBB
// and OpenMP when CMake found them.
//
// - post_1m_one_producer:  1,000,000 empty post() from the benchmark thread, wait_idle().
// - post_1m_two_producers: the same million from two persistent outside threads.
// - submit_1m_futures:     1,000,000 submit() returning 1, then get() on every future.
// - tbb_task_group_1m, tbb_arena_enqueue_1m, openmp_tasks_1m: a million empty tasks.
// - wakeup_latency_bare:   the time for a plain std::thread sleeping in
//                          std::atomic::wait to run after another thread's notify_one.
// - wakeup_latency_pool:   the time for an idle pool (its workers parked) to start a
//                          posted task; ratio_to_bare divides its median by that of bare
//                          hand-offs interleaved with the pool's samples.
// - idle_cpu:              process CPU time over 200 ms of an idle pool.
// Each benchmark checks its counts and reports an error instead of a figure if wrong.
#include <bobbin/pool.hpp>

#include <benchmark/benchmark.h>

#include "common.hpp"

#include <algorithm>
#include <atomic>
#include <barrier>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#if BOBBIN_HAVE_TBB
#include <oneapi/tbb/global_control.h>
#include <oneapi/tbb/info.h>
#include <oneapi/tbb/task_arena.h>
#include <oneapi/tbb/task_group.h>
#include <oneapi/tbb/version.h>
#endif
#if BOBBIN_HAVE_OPENMP
#include <omp.h>
#endif

namespace {

using clock_type = std::chrono::steady_clock;

std::size_t g_threads = 2;  // set once in main()
constexpr std::int64_t million = 1'000'000;

bobbin::pool_options pool_size() {
  bobbin::pool_options o;
  o.threads = g_threads;
  return o;
}

// Tasks the pool has finished in all, from its own counters: lets the bobbin benchmarks
// check their counts while posting truly empty tasks.
std::uint64_t finished(const bobbin::pool<>& p) {
  const bobbin::pool_stats s = p.stats();
  return s.completed + s.failed + s.cancelled;
}

// Posts a few tasks and waits: the workers have started and run once before any timing.
void warm_up(bobbin::pool<>& p) {
  for (int i = 0; i < 1000; ++i) p.post([] {});
  p.wait_idle();
}

void items(benchmark::State& state, std::int64_t per_run) { state.SetItemsProcessed(state.iterations() * per_run); }

void post_1m_one_producer(benchmark::State& state) {
  bobbin::pool<> p(pool_size());
  warm_up(p);
  for (auto _ : state) {
    const std::uint64_t before = finished(p);
    for (std::int64_t i = 0; i < million; ++i) p.post([] {});
    p.wait_idle();
    if (finished(p) - before != million) {
      state.SkipWithError("the pool did not run every task exactly once");
      break;
    }
  }
  items(state, million);
}

// Producers that live across iterations: each round, the benchmark thread releases them
// at a barrier and meets them at the same barrier once they have posted their share.
void post_1m_two_producers(benchmark::State& state) {
  constexpr int producers = 2;
  constexpr std::int64_t share = million / producers;
  bobbin::pool<> p(pool_size());
  warm_up(p);
  std::barrier sync(producers + 1);
  std::atomic<bool> quit{false};
  std::vector<std::jthread> team;  // declared last: joined before the barrier dies
  for (int k = 0; k < producers; ++k) {
    team.emplace_back([&] {
      for (;;) {
        sync.arrive_and_wait();  // released
        if (quit.load(std::memory_order_relaxed)) return;  // the barrier orders it
        for (std::int64_t i = 0; i < share; ++i) p.post([] {});
        sync.arrive_and_wait();  // posted
      }
    });
  }
  for (auto _ : state) {
    const std::uint64_t before = finished(p);
    sync.arrive_and_wait();
    sync.arrive_and_wait();
    p.wait_idle();
    if (finished(p) - before != producers * share) {
      state.SkipWithError("the pool did not run every task exactly once");
      break;
    }
  }
  quit.store(true, std::memory_order_relaxed);
  sync.arrive_and_wait();
  items(state, producers * share);
}

void submit_1m_futures(benchmark::State& state) {
  bobbin::pool<> p(pool_size());
  warm_up(p);
  std::vector<bobbin::future<int>> futures;
  futures.reserve(million);
  for (auto _ : state) {
    futures.clear();
    for (std::int64_t i = 0; i < million; ++i) futures.push_back(p.submit([] { return 1; }));
    std::int64_t sum = 0;
    for (auto& f : futures) sum += f.get();
    if (sum != million) {
      state.SkipWithError("a future did not deliver its task's result");
      break;
    }
  }
  items(state, million);
}

// The peers' tasks cannot be counted from outside, so each adds one to a counter of its
// own thread (no sharing, no atomic RMW): a nanosecond or two that bobbin's empty tasks,
// counted by the pool's stats, do not pay.
struct alignas(64) slot {
  std::int64_t n = 0;
};

std::int64_t total(const std::vector<slot>& slots) {
  std::int64_t sum = 0;
  for (const slot& s : slots) sum += s.n;
  return sum;
}

#if BOBBIN_HAVE_TBB
// TBB's default limit is the core count, the calling thread included; an arena of
// `slots` threads none of which is the caller needs `slots` workers.
tbb::global_control tbb_allow(int workers) {
  return tbb::global_control(tbb::global_control::max_allowed_parallelism,
                             static_cast<std::size_t>(std::max(workers + 1, tbb::info::default_concurrency())));
}

// One task_group in an arena of N threads, the benchmark thread being one of them: it
// spawns, then helps in wait().
void tbb_task_group_1m(benchmark::State& state) {
  const int threads = static_cast<int>(g_threads);
  const tbb::global_control limit = tbb_allow(threads - 1);
  tbb::task_arena arena(threads);
  arena.initialize();
  std::vector<slot> slots(static_cast<std::size_t>(threads));
  for (auto _ : state) {
    for (slot& s : slots) s.n = 0;
    arena.execute([&] {
      tbb::task_group tg;
      for (std::int64_t i = 0; i < million; ++i) {
        tg.run([&slots] { ++slots[static_cast<std::size_t>(tbb::this_task_arena::current_thread_index())].n; });
      }
      tg.wait();
    });
    if (total(slots) != million) {
      state.SkipWithError("TBB did not run every task exactly once");
      break;
    }
  }
  items(state, million);
}

// Fire-and-forget enqueue into an arena of N worker threads (no slot for the benchmark
// thread, like bobbin's post), waited for with a countdown; the last task wakes the
// benchmark thread. Static: an enqueued task may still be inside notify_one() when the
// benchmark thread moves on, and TBB does not wait for enqueued tasks.
struct enqueue_countdown {
  static inline std::atomic<std::int64_t> remaining{0};
  static inline std::atomic<std::uint32_t> done{0};
};

void tbb_arena_enqueue_1m(benchmark::State& state) {
  const int threads = static_cast<int>(g_threads);
  const tbb::global_control limit = tbb_allow(threads);
  tbb::task_arena arena(threads, 0);
  arena.initialize();
  using cd = enqueue_countdown;
  for (auto _ : state) {
    cd::remaining.store(million, std::memory_order_relaxed);
    cd::done.store(0, std::memory_order_relaxed);
    for (std::int64_t i = 0; i < million; ++i) {
      arena.enqueue([] {
        // acq_rel: the last one to count down has seen every other task finish.
        if (cd::remaining.fetch_sub(1, std::memory_order_acq_rel) == 1) {
          cd::done.store(1, std::memory_order_release);
          cd::done.notify_one();
        }
      });
    }
    while (cd::done.load(std::memory_order_acquire) == 0) cd::done.wait(0, std::memory_order_acquire);
    if (cd::remaining.load(std::memory_order_relaxed) != 0) {
      state.SkipWithError("TBB did not run every task exactly once");
      break;
    }
  }
  items(state, million);
}
#endif

#if BOBBIN_HAVE_OPENMP
// A parallel region of N threads; one of them (the benchmark thread) creates the tasks,
// then waits in taskwait while all of them run tasks. libgomp runs a new task at once in
// the creating thread while more than 64 x N are queued, so most of the million never
// wait in a queue: this is a producer-runs-it figure as much as a queue's.
void openmp_tasks_1m(benchmark::State& state) {
  const int threads = static_cast<int>(g_threads);
  std::vector<slot> slots(static_cast<std::size_t>(threads));
  for (auto _ : state) {
    for (slot& s : slots) s.n = 0;
#pragma omp parallel num_threads(threads)
#pragma omp single
    {
      for (std::int64_t i = 0; i < million; ++i) {
#pragma omp task
        ++slots[static_cast<std::size_t>(omp_get_thread_num())].n;
      }
#pragma omp taskwait
    }
    if (total(slots) != million) {
      state.SkipWithError("OpenMP did not run every task exactly once");
      break;
    }
  }
  items(state, million);
}
#endif

// Wake-up latency: each sample waits `gap` first, long past the point where an idle worker
// stops spinning and parks, then times the hand-off from "about to publish" to "the other
// side runs".
constexpr int samples = 2000;
constexpr auto gap = std::chrono::milliseconds(2);

struct latency {
  double median_us = 0;
  double p99_us = 0;
};

latency summarize(std::vector<clock_type::duration> v) {
  std::ranges::sort(v);
  const auto us = [](clock_type::duration d) { return std::chrono::duration<double, std::micro>(d).count(); };
  return {us(v[v.size() / 2]), us(v[v.size() * 99 / 100])};
}

void report(benchmark::State& state, const latency& l) {
  state.counters["median_us"] = l.median_us;
  state.counters["p99_us"] = l.p99_us;
}

// The baseline hand-off: a consumer thread parked in std::atomic<uint32_t>::wait; the
// producer stores and notifies; the consumer notes the time and answers the same way.
class bare_handoff {
 public:
  bare_handoff()
      : consumer_([this] {
          for (std::uint32_t k = 1;; ++k) {
            while (go_.load(std::memory_order_acquire) != k) go_.wait(k - 1, std::memory_order_acquire);
            if (quit_.load(std::memory_order_relaxed)) return;  // ordered by go_
            woke_ = clock_type::now();
            ack_.store(k, std::memory_order_release);  // publishes woke_
            ack_.notify_one();
          }
        }) {}
  bare_handoff(const bare_handoff&) = delete;
  bare_handoff& operator=(const bare_handoff&) = delete;
  ~bare_handoff() {
    quit_.store(true, std::memory_order_relaxed);
    go_.store(++round_, std::memory_order_release);
    go_.notify_one();
  }

  // One hand-off to the parked consumer; returns how long it took to run.
  clock_type::duration sample() {
    const std::uint32_t k = ++round_;
    const auto sent = clock_type::now();
    go_.store(k, std::memory_order_release);
    go_.notify_one();
    while (ack_.load(std::memory_order_acquire) != k) ack_.wait(k - 1, std::memory_order_acquire);
    return woke_ - sent;
  }
  std::uint32_t rounds() const noexcept { return round_; }
  std::uint32_t answered() const noexcept { return ack_.load(std::memory_order_acquire); }

 private:
  std::atomic<std::uint32_t> go_{0};
  std::atomic<std::uint32_t> ack_{0};
  std::atomic<bool> quit_{false};
  std::uint32_t round_ = 0;  // producer side only
  clock_type::time_point woke_;
  std::jthread consumer_;  // last: joined before the rest dies
};

void wakeup_latency_bare(benchmark::State& state) {
  bare_handoff bare;
  std::vector<clock_type::duration> times;
  times.reserve(samples);
  for (auto _ : state) {
    for (int k = 0; k < samples; ++k) {
      std::this_thread::sleep_for(gap);
      times.push_back(bare.sample());
    }
  }
  if (bare.answered() != bare.rounds()) {
    state.SkipWithError("a hand-off was lost");
    return;
  }
  report(state, summarize(times));
}

// The pool's samples alternate with bare ones taken in the same loop, so both see the
// same machine: on a shared (or virtual) machine the cost of waking a parked thread
// swings by several times from one second to the next, and a ratio between figures
// measured seconds apart would mostly measure that. bare_median_us is the paired figure.
void wakeup_latency_pool(benchmark::State& state) {
  std::atomic<std::uint32_t> ack{0};
  clock_type::time_point started;
  bare_handoff bare;
  bobbin::pool<> p(pool_size());  // declared after what its tasks touch: joined first
  warm_up(p);
  std::vector<clock_type::duration> times;
  std::vector<clock_type::duration> bare_times;
  times.reserve(samples);
  bare_times.reserve(samples);
  for (auto _ : state) {
    const std::uint64_t before = finished(p);
    for (std::uint32_t k = 1; k <= samples; ++k) {
      std::this_thread::sleep_for(gap);
      const auto sent = clock_type::now();
      p.post([&ack, &started, k] {
        started = clock_type::now();
        ack.store(k, std::memory_order_release);  // publishes `started`
        ack.notify_one();
      });
      while (ack.load(std::memory_order_acquire) != k) ack.wait(k - 1, std::memory_order_acquire);
      times.push_back(started - sent);
      std::this_thread::sleep_for(gap);
      bare_times.push_back(bare.sample());
    }
    p.wait_idle();
    if (finished(p) - before != samples || bare.answered() != bare.rounds()) {
      state.SkipWithError("a task or a hand-off was lost");
      return;
    }
  }
  const latency pool_latency = summarize(times);
  const latency bare_latency = summarize(bare_times);
  report(state, pool_latency);
  state.counters["bare_median_us"] = bare_latency.median_us;
  state.counters["ratio_to_bare"] = pool_latency.median_us / bare_latency.median_us;
}

double process_cpu_ms() {
  timespec ts{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) * 1e3 + static_cast<double>(ts.tv_nsec) / 1e6;
}

// Each round runs one task first, so the workers have just been busy: the 200 ms include
// their spinning down and going to sleep, as they would after real work.
void idle_cpu(benchmark::State& state) {
  bobbin::pool<> p(pool_size());
  double cpu_ms = 0;
  std::int64_t rounds = 0;
  for (auto _ : state) {
    const std::uint64_t before = finished(p);
    p.post([] {});
    p.wait_idle();
    const double start = process_cpu_ms();
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    cpu_ms += process_cpu_ms() - start;
    ++rounds;
    if (finished(p) - before != 1) {
      state.SkipWithError("the pool did not run its task");
      break;
    }
  }
  if (rounds > 0) state.counters["cpu_ms"] = cpu_ms / static_cast<double>(rounds);
}

void throughput(benchmark::internal::Benchmark* b) { b->Unit(benchmark::kMillisecond)->UseRealTime(); }

BENCHMARK(post_1m_one_producer)->Apply(throughput);
BENCHMARK(post_1m_two_producers)->Apply(throughput);
BENCHMARK(submit_1m_futures)->Apply(throughput);
#if BOBBIN_HAVE_TBB
BENCHMARK(tbb_task_group_1m)->Apply(throughput);
BENCHMARK(tbb_arena_enqueue_1m)->Apply(throughput);
#endif
#if BOBBIN_HAVE_OPENMP
BENCHMARK(openmp_tasks_1m)->Apply(throughput);
#endif
// One iteration is 2,000 samples of 2 ms and more (the pool's, with the paired bare
// samples, 8 s).
BENCHMARK(wakeup_latency_bare)->Iterations(1)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(wakeup_latency_pool)->Iterations(1)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(idle_cpu)->Iterations(3)->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  g_threads = bench::take_threads(argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  bench::add_context(g_threads);
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
