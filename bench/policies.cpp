// Every scheduling policy on the same three workloads, 2 threads, one binary:
//   empty   1,000,000 empty tasks posted from one outside thread, then wait_idle
//   skewed  10,000 tasks, 90% spinning 1 us and 10% spinning 100 us (every 10th), then wait_idle
//   fib     recursive fib(25), one submit per call
// and, for priority alone (the others ignore task_options::priority):
//   levels/L   200,000 empty priority-0 tasks, after L distinct priorities were used once
//              each (posted and drained before the timing: a priority used as a deadline
//              leaves such a trail); L = 0 is the same pool without the trail
//   deadlines  200,000 empty tasks, each at a priority of its own (a level per task)
// After the benchmarks, a table gives each policy's time as a ratio to work_stealing's,
// measured in this same run, and the priority rows as ratios to levels/0. BOBBIN_THREADS
// overrides the thread count.
#include <benchmark/benchmark.h>

#include <bobbin/pool.hpp>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <string>

namespace {

std::size_t threads() {
  const char* env = std::getenv("BOBBIN_THREADS");
  return env != nullptr ? std::strtoul(env, nullptr, 10) : 2;
}

void spin_for(std::chrono::nanoseconds d) {
  const auto until = std::chrono::steady_clock::now() + d;
  while (std::chrono::steady_clock::now() < until) {
  }
}

long serial_fib(int n) { return n < 2 ? n : serial_fib(n - 1) + serial_fib(n - 2); }

template <class P>
long fib(bobbin::pool<P>& p, int n) {
  if (n < 2) return n;
  auto a = p.submit(fib<P>, std::ref(p), n - 1);
  long b = fib(p, n - 2);
  return a.get() + b;
}

// Best (minimum) seconds per iteration of each (workload, policy), for the ratio table.
std::map<std::string, std::map<std::string, double>> best;

void record(const std::string& workload, const char* policy, double seconds) {
  auto& slot = best[workload][policy];
  if (slot == 0 || seconds < slot) slot = seconds;
}

template <class P>
void empty_tasks(benchmark::State& state, const char* name) {
  constexpr long n = 1'000'000;
  bobbin::pool<P> p({.threads = threads()});
  std::atomic<long> ran{0};
  for (auto _ : state) {
    const auto t0 = std::chrono::steady_clock::now();
    for (long i = 0; i < n; ++i) p.post([&ran] { ran.fetch_add(1, std::memory_order_relaxed); });
    p.wait_idle();
    record("empty", name, std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  }
  if (ran.load() != n * static_cast<long>(state.iterations())) state.SkipWithError("lost or repeated tasks");
  state.SetItemsProcessed(n * static_cast<long>(state.iterations()));
}

template <class P>
void skewed_tasks(benchmark::State& state, const char* name) {
  constexpr int n = 10'000;
  bobbin::pool<P> p({.threads = threads()});
  std::atomic<int> ran{0};
  for (auto _ : state) {
    const auto t0 = std::chrono::steady_clock::now();
    for (int i = 0; i < n; ++i) {
      const auto cost = i % 10 == 0 ? std::chrono::microseconds(100) : std::chrono::microseconds(1);
      p.post([&ran, cost] {
        spin_for(cost);
        ran.fetch_add(1, std::memory_order_relaxed);
      });
    }
    p.wait_idle();
    record("skewed", name, std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  }
  if (ran.load() != n * static_cast<int>(state.iterations())) state.SkipWithError("lost or repeated tasks");
  state.SetItemsProcessed(n * static_cast<long>(state.iterations()));
  // The ideal on T threads: (9,000 x 1 us + 1,000 x 100 us) / T.
  state.counters["ideal_ms"] = 109.0 / static_cast<double>(threads());
}

template <class P>
void fib_25(benchmark::State& state, const char* name) {
  static const long expected = serial_fib(25);
  bobbin::pool<P> p({.threads = threads()});
  for (auto _ : state) {
    const auto t0 = std::chrono::steady_clock::now();
    const long r = p.submit(fib<P>, std::ref(p), 25).get();
    record("fib", name, std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
    if (r != expected) state.SkipWithError("wrong fib(25)");
  }
  state.SetItemsProcessed(121'392 * static_cast<long>(state.iterations()));  // fib(26) - 1 tasks
}

// priority only: see the top.
constexpr long level_tasks = 200'000;

void priority_after_levels(benchmark::State& state) {
  const int levels = static_cast<int>(state.range(0));
  bobbin::pool<bobbin::priority> p({.threads = threads()});
  std::atomic<long> ran{0};
  for (int i = 1; i <= levels; ++i) p.post({.priority = i}, [&ran] { ran.fetch_add(1, std::memory_order_relaxed); });
  p.wait_idle();
  if (ran.exchange(0) != levels) state.SkipWithError("lost or repeated tasks while making the levels");
  for (auto _ : state) {
    const auto t0 = std::chrono::steady_clock::now();
    for (long i = 0; i < level_tasks; ++i) p.post([&ran] { ran.fetch_add(1, std::memory_order_relaxed); });
    p.wait_idle();
    record("levels/" + std::to_string(levels), "priority",
           std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  }
  if (ran.load() != level_tasks * static_cast<long>(state.iterations())) state.SkipWithError("lost or repeated tasks");
  state.SetItemsProcessed(level_tasks * static_cast<long>(state.iterations()));
}

void priority_deadlines(benchmark::State& state) {
  bobbin::pool<bobbin::priority> p({.threads = threads()});
  std::atomic<long> ran{0};
  long deadline = 0;  // ever later: each task a lower priority than the one before
  for (auto _ : state) {
    const auto t0 = std::chrono::steady_clock::now();
    for (long i = 0; i < level_tasks; ++i) {
      const int priority = -static_cast<int>(++deadline % 1'000'000'000);
      p.post({.priority = priority}, [&ran] { ran.fetch_add(1, std::memory_order_relaxed); });
    }
    p.wait_idle();
    record("deadlines", "priority", std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  }
  if (ran.load() != level_tasks * static_cast<long>(state.iterations())) state.SkipWithError("lost or repeated tasks");
  state.SetItemsProcessed(level_tasks * static_cast<long>(state.iterations()));
}

template <class P>
void register_policy(const char* name) {
  benchmark::RegisterBenchmark((std::string("empty/") + name).c_str(), empty_tasks<P>, name)
      ->Unit(benchmark::kMillisecond)
      ->UseRealTime()
      ->MinTime(1.0);
  benchmark::RegisterBenchmark((std::string("skewed/") + name).c_str(), skewed_tasks<P>, name)
      ->Unit(benchmark::kMillisecond)
      ->UseRealTime()
      ->MinTime(1.0);
  benchmark::RegisterBenchmark((std::string("fib25/") + name).c_str(), fib_25<P>, name)
      ->Unit(benchmark::kMillisecond)
      ->UseRealTime()
      ->MinTime(1.0);
}

void print_ratios() {
  std::printf("\nBest time per workload, and its ratio to work_stealing (same run, %zu threads):\n", threads());
  std::printf("%-14s %22s %22s %22s\n", "policy", "empty (1M tasks)", "skewed (10k tasks)", "fib(25)");
  for (const char* policy : {"work_stealing", "least_busy", "round_robin", "priority", "fifo"}) {
    std::printf("%-14s", policy);
    for (const char* w : {"empty", "skewed", "fib"}) {
      const double t = best[w][policy];
      const double base = best[w]["work_stealing"];
      if (t == 0 || base == 0) {
        std::printf(" %22s", "-");
      } else if (std::string(w) == "empty") {
        std::printf("  %6.1f M/s %5.0fms %4.2fx", 1.0 / t, t * 1e3, t / base);
      } else {
        std::printf("  %11.1f ms %6.2fx", t * 1e3, t / base);
      }
    }
    std::printf("\n");
  }
  const double base = best["levels/0"]["priority"];
  for (const char* w : {"levels/0", "levels/20000", "deadlines"}) {
    const double t = best[w]["priority"];
    if (t == 0) continue;
    std::printf("priority %-13s %6.1f M/s %6.1f ms", w, static_cast<double>(level_tasks) / t / 1e6, t * 1e3);
    if (base != 0) std::printf(" %5.2fx levels/0", t / base);
    std::printf("\n");
  }
}

}  // namespace

int main(int argc, char** argv) {
  register_policy<bobbin::work_stealing>("work_stealing");
  register_policy<bobbin::least_busy>("least_busy");
  register_policy<bobbin::round_robin>("round_robin");
  register_policy<bobbin::priority>("priority");
  register_policy<bobbin::fifo>("fifo");
  benchmark::RegisterBenchmark("levels/priority", priority_after_levels)
      ->Arg(0)
      ->Arg(20'000)
      ->Unit(benchmark::kMillisecond)
      ->UseRealTime()
      ->MinTime(1.0);
  benchmark::RegisterBenchmark("deadlines/priority", priority_deadlines)
      ->Unit(benchmark::kMillisecond)
      ->UseRealTime()
      ->MinTime(1.0);
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  print_ratios();
}
