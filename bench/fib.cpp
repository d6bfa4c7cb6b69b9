// The headline benchmark: recursive fibonacci with one task per call, on a pool of
// --threads=N threads ($BOBBIN_THREADS, default 2), beside the same code through oneTBB
// and OpenMP when CMake found them, so one run prints every ratio side by side.
//
// Families, n in {20, 24, 28, 30, 32}:
// - serial:            plain recursion, the baseline.
// - bobbin_submit:     the DESIGN.md shape, submit(fib, n - 1) + fib(n - 2) + get().
// - bobbin_task_group: task_group run(fib(n - 1)) + fib(n - 2) + wait().
// - tbb_task_group:    the same shape in a tbb::task_arena of the same size.
// - openmp_tasks:      the same shape with `omp task` / `omp taskwait`.
// - coarse_fib40:      fib(40) cut into 2, 4 or 8 independent serial subtrees, one task
//                      each, beside the serial fib(40) and the same 8 pieces on plain
//                      std::threads (what the machine allows at that moment).
//
// Counters: x_serial is the wall time per run divided by the serial time of the same n
// (below 1 is a speedup; the serial family's own x_serial shows how noisy the machine
// was); tasks/s counts spawned tasks (fib(n + 1) - 1 per run); speedup (coarse only) is
// 1 / x_serial. Every run's result is checked against a table. All families use real
// time: the benchmark thread sleeps while the pool works.
#include <bobbin/pool.hpp>
#include <bobbin/task_group.hpp>

#include <benchmark/benchmark.h>

#include "common.hpp"

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <future>
#include <limits>
#include <map>
#include <numeric>
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

std::size_t g_threads = 2;  // set once in main()

constexpr auto fib_table = [] {
  std::array<long, 41> t{};
  t[1] = 1;
  for (std::size_t i = 2; i < t.size(); ++i) t[i] = t[i - 1] + t[i - 2];
  return t;
}();

// Tasks one recursive run spawns: one per call with n >= 2, of which there are fib(n + 1) - 1.
double spawned_tasks(int n) { return static_cast<double>(fib_table[static_cast<std::size_t>(n) + 1] - 1); }

bool correct(int n, long r) { return r == fib_table[static_cast<std::size_t>(n)]; }

namespace serial {
long fib(int n) { return n < 2 ? n : fib(n - 1) + fib(n - 2); }
}  // namespace serial

namespace submit_shape {
long fib(bobbin::pool<>& p, int n) {
  if (n < 2) return n;
  auto a = p.submit(fib, std::ref(p), n - 1);
  long b = fib(p, n - 2);
  return a.get() + b;
}
}  // namespace submit_shape

namespace group_shape {
long fib(bobbin::pool<>& p, int n) {
  if (n < 2) return n;
  long a = 0;
  bobbin::task_group g(p);
  g.run([&] { a = fib(p, n - 1); });
  long b = fib(p, n - 2);
  g.wait();
  return a + b;
}
}  // namespace group_shape

#if BOBBIN_HAVE_TBB
namespace tbb_shape {
long fib(int n) {
  if (n < 2) return n;
  long a = 0;
  tbb::task_group g;
  g.run([&] { a = fib(n - 1); });
  long b = fib(n - 2);
  g.wait();
  return a + b;
}
}  // namespace tbb_shape
#endif

#if BOBBIN_HAVE_OPENMP
namespace omp_shape {
long fib(int n) {
  if (n < 2) return n;
  long a = 0;
#pragma omp task shared(a)
  a = fib(n - 1);
  long b = fib(n - 2);
#pragma omp taskwait
  return a + b;
}

long run(int n, int threads) {
  long r = 0;
#pragma omp parallel num_threads(threads)
#pragma omp single
  r = fib(n);
  return r;
}
}  // namespace omp_shape
#endif

// One serial fib(n) with the input and the result hidden from the optimiser, so the call
// cannot be folded or dropped; the function itself is compiled as it would be anyway.
long serial_fib_once(int n) {
  benchmark::DoNotOptimize(n);
  long r = serial::fib(n);
  benchmark::DoNotOptimize(r);
  return r;
}

// The denominator of every x_serial: the serial time of fib(n) in seconds, measured once
// per n and process, at startup (main), before any pool or peer thread exists, so that
// every family of the run divides by the same figure. It is the minimum over at least 3
// runs and 100 ms of runs: the least disturbed figure on a shared machine. A low
// denominator can only make the parallel ratios look worse.
double serial_seconds(int n) {
  static std::map<int, double> measured;  // filled by main(), before any other thread
  if (auto it = measured.find(n); it != measured.end()) return it->second;
  using clock = std::chrono::steady_clock;
  double best = std::numeric_limits<double>::infinity();
  const auto until = clock::now() + std::chrono::milliseconds(100);
  for (int run = 0; run < 3 || clock::now() < until; ++run) {
    const auto start = clock::now();
    const long r = serial_fib_once(n);
    best = std::min(best, std::chrono::duration<double>(clock::now() - start).count());
    if (!correct(n, r)) {
      std::fprintf(stderr, "bench_fib: serial fib(%d) = %ld, expected %ld\n", n, r, fib_table[static_cast<std::size_t>(n)]);
      std::exit(1);
    }
  }
  measured.emplace(n, best);
  return best;
}

// Runs `once(n)` as the timed body and checks every result. Counters: x_serial = wall
// time per run / serial_seconds(n), timed around the loop here (Google Benchmark does not
// expose its own elapsed time; the two differ by the loop's own cost, nanoseconds);
// tasks = tasks_per_run x runs / elapsed, as a rate over the same real time.
template <class Once>
void run_checked(benchmark::State& state, int n, double tasks_per_run, Once&& once) {
  const double serial = serial_seconds(n);
  using clock = std::chrono::steady_clock;
  const auto start = clock::now();
  for (auto _ : state) {
    if (!correct(n, once(n))) {
      state.SkipWithError("wrong result");
      break;
    }
  }
  const double elapsed = std::chrono::duration<double>(clock::now() - start).count();
  const auto runs = static_cast<double>(state.iterations());
  if (runs == 0) return;
  state.counters["x_serial"] = elapsed / (runs * serial);
  if (tasks_per_run > 0) state.counters["tasks/s"] = tasks_per_run * runs / elapsed;
}

// The recursive families: fib(n) per run, one task per call. A fib(16) first wakes the
// threads up, so no family pays for thread start-up inside its timing.
template <class Once>
void run_recursive(benchmark::State& state, Once&& once) {
  if (!correct(16, once(16))) {
    state.SkipWithError("wrong result (warm-up, fib(16))");
    return;
  }
  const int n = static_cast<int>(state.range(0));
  run_checked(state, n, spawned_tasks(n), once);
}

// get(), but a run that has not finished after a minute is a deadlock: say so and abort
// rather than hang whoever runs the benchmark (CI) forever.
long get_or_abort(bobbin::future<long> f) {
  if (f.wait_for(std::chrono::minutes(1)) != std::future_status::ready) {
    std::fprintf(stderr, "bench_fib: a run has not finished after a minute: the pool is deadlocked\n");
    std::abort();
  }
  return f.get();
}

bobbin::pool_options pool_size() {
  bobbin::pool_options o;
  o.threads = g_threads;
  return o;
}

void bm_serial(benchmark::State& state) {
  run_checked(state, static_cast<int>(state.range(0)), 0, serial_fib_once);
}

void bm_bobbin_submit(benchmark::State& state) {
  bobbin::pool<> p(pool_size());
  run_recursive(state, [&](int n) { return get_or_abort(p.submit(submit_shape::fib, std::ref(p), n)); });
}

void bm_bobbin_task_group(benchmark::State& state) {
  bobbin::pool<> p(pool_size());
  run_recursive(state, [&](int n) { return get_or_abort(p.submit(group_shape::fib, std::ref(p), n)); });
}

#if BOBBIN_HAVE_TBB
void bm_tbb_task_group(benchmark::State& state) {
  const int threads = static_cast<int>(g_threads);
  // The arena keeps a slot for the thread that calls execute(): it needs threads - 1
  // workers, which TBB's default limit (the core count) may not allow.
  tbb::global_control limit(tbb::global_control::max_allowed_parallelism,
                            static_cast<std::size_t>(std::max(threads, tbb::info::default_concurrency())));
  tbb::task_arena arena(threads);
  arena.initialize();
  run_recursive(state, [&](int n) { return arena.execute([n] { return tbb_shape::fib(n); }); });
}
#endif

#if BOBBIN_HAVE_OPENMP
void bm_openmp_tasks(benchmark::State& state) {
  const int threads = static_cast<int>(g_threads);
  run_recursive(state, [threads](int n) { return omp_shape::run(n, threads); });
}
#endif

// fib(n) as a sum of `pieces` (a power of two) independent subtrees: the nodes of its call
// tree log2(pieces) levels below the root, since applying fib(m) = fib(m - 1) + fib(m - 2)
// to every node of a level keeps the sum. Largest first, the usual order for handing out
// uneven pieces. Empty if the pieces do not add up.
std::vector<int> frontier(int n, std::size_t pieces) {
  std::vector<int> nodes{n};
  while (nodes.size() < pieces) {
    std::vector<int> next;
    for (int m : nodes) {
      next.push_back(m - 1);
      next.push_back(m - 2);
    }
    nodes.swap(next);
  }
  std::ranges::sort(nodes, std::greater<>{});
  long sum = 0;
  for (int m : nodes) sum += fib_table[static_cast<std::size_t>(m)];
  if (nodes.size() != pieces || !correct(n, sum)) return {};
  return nodes;
}

constexpr int coarse_n = 40;

// The pieces of fib(40) for this benchmark's argument, named in the label.
std::vector<int> coarse_pieces(benchmark::State& state) {
  std::vector<int> nodes = frontier(coarse_n, static_cast<std::size_t>(state.range(0)));
  if (nodes.empty()) {
    state.SkipWithError("the pieces do not add up to fib(40)");
    return nodes;
  }
  std::string label = "fib(40) =";
  for (std::size_t i = 0; i < nodes.size(); ++i) label += (i == 0 ? " fib(" : " + fib(") + std::to_string(nodes[i]) + ")";
  state.SetLabel(label);
  return nodes;
}

void add_speedup(benchmark::State& state) {
  if (auto it = state.counters.find("x_serial"); it != state.counters.end()) state.counters["speedup"] = 1 / it->second.value;
}

void bm_coarse_serial(benchmark::State& state) {
  state.SetLabel("fib(40) on the calling thread");
  run_checked(state, coarse_n, 0, serial_fib_once);
  add_speedup(state);
}

void bm_coarse(benchmark::State& state) {
  const std::vector<int> nodes = coarse_pieces(state);
  if (nodes.empty()) return;
  bobbin::pool<> p(pool_size());
  p.submit([] {}).get();  // the workers are up
  std::vector<bobbin::future<long>> parts;
  parts.reserve(nodes.size());
  run_checked(state, coarse_n, 0, [&](int) {
    parts.clear();
    for (int m : nodes) parts.push_back(p.submit(serial_fib_once, m));
    long sum = 0;
    for (auto& f : parts) sum += get_or_abort(std::move(f));
    return sum;
  });
  add_speedup(state);
}

// The same pieces on plain std::threads (started per run, tens of microseconds) that take
// the next piece from a shared index: no pool, the machine's own limit. On a shared
// machine the parallelism available at a given moment can be well below the core count;
// this says whether the pool or the machine stood in the way.
void bm_coarse_std_threads(benchmark::State& state) {
  const std::vector<int> nodes = coarse_pieces(state);
  if (nodes.empty()) return;
  run_checked(state, coarse_n, 0, [&](int) {
    std::atomic<std::size_t> next{0};
    std::vector<long> values(nodes.size());
    {
      std::vector<std::jthread> threads;
      for (std::size_t t = 0; t < g_threads; ++t) {
        threads.emplace_back([&] {
          for (std::size_t i; (i = next.fetch_add(1, std::memory_order_relaxed)) < nodes.size();) {
            values[i] = serial_fib_once(nodes[i]);
          }
        });
      }
    }  // joined
    return std::accumulate(values.begin(), values.end(), 0L);
  });
  add_speedup(state);
}

constexpr std::array fib_ns{20, 24, 28, 30, 32};

void fib_args(benchmark::internal::Benchmark* b) {
  b->ArgName("n");
  for (int n : fib_ns) b->Arg(n);
  b->Unit(benchmark::kMillisecond)->UseRealTime();
}

BENCHMARK(bm_serial)->Name("serial")->Apply(fib_args);
BENCHMARK(bm_bobbin_submit)->Name("bobbin_submit")->Apply(fib_args);
BENCHMARK(bm_bobbin_task_group)->Name("bobbin_task_group")->Apply(fib_args);
#if BOBBIN_HAVE_TBB
BENCHMARK(bm_tbb_task_group)->Name("tbb_task_group")->Apply(fib_args);
#endif
#if BOBBIN_HAVE_OPENMP
// Hundreds of times the serial time (nearly 2 s a run at n = 32): a shorter minimum
// keeps the whole binary within a couple of minutes; one run that long still means something.
BENCHMARK(bm_openmp_tasks)->Name("openmp_tasks")->Apply(fib_args)->MinTime(0.2);
#endif
BENCHMARK(bm_coarse_serial)->Name("coarse_fib40/serial")->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(bm_coarse)
    ->Name("coarse_fib40")
    ->ArgName("pieces")
    ->Arg(2)
    ->Arg(4)
    ->Arg(8)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();
BENCHMARK(bm_coarse_std_threads)
    ->Name("coarse_fib40/std_threads")
    ->ArgName("pieces")
    ->Arg(8)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

}  // namespace

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  g_threads = bench::take_threads(argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  bench::add_context(g_threads);
  for (int n : fib_ns) serial_seconds(n);
  serial_seconds(coarse_n);
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
