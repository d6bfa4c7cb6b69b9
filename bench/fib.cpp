// The headline benchmark: recursive fibonacci with one task per call, on a pool of
// --threads=N threads ($BOBBIN_THREADS, default 2), beside the same code through oneTBB
// and OpenMP when CMake found them, so one run prints every ratio side by side.
//
// Families, n in {20, 24, 28, 30, 32}:
// - serial:            the baseline: plain recursion with one real call per fib call,
//                      as every task of the parallel shapes is one real call.
// - serial_inlined:    the same recursion left to the optimiser, which folds it into
//                      itself (g++ -O2: about 3x fewer calls, about 3x faster).
// - bobbin_submit:     the DESIGN.md shape, submit(fib, n - 1) + fib(n - 2) + get().
// - bobbin_task_group: task_group run(fib(n - 1)) + fib(n - 2) + wait().
// - tbb_task_group:    the same shape in a tbb::task_arena of the same size.
// - openmp_tasks:      the same shape with `omp task` / `omp taskwait`.
// - coarse_fib40:      fib(40) cut into 2, 4 or 8 independent serial subtrees, one task
//                      each, beside the serial fib(40) and the same 8 pieces on plain
//                      std::threads (what the machine allows at that moment); the
//                      paired rows alternate each parallel run with a serial one.
//
// Counters: x_serial is the mean wall time per run divided by the serial time of the same
// n (below 1 is a speedup; the serial family's own x_serial shows how noisy the machine
// was); x_inlined divides by serial_inlined's time instead; tasks/s counts spawned tasks
// (fib(n + 1) - 1 per run). The coarse rows compute their pieces with the optimiser's
// fib and divide by its fib(40): speedup is 1 / x_serial, speedup_best the best serial
// run over the best run of the row (the same statistic on both sides); on the paired
// rows, speedup is the mean of the row's serial runs over the mean of its parallel ones,
// serial_ms and parallel_ms those means. Every run's result is checked against a table.
// All families use real time: the benchmark thread sleeps while the pool works.
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
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
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
// The baseline: one real call per fib call. The result leaves through a reference and the
// function is never inlined, so the optimiser can neither fold the recursion into itself
// nor turn one of its two calls into a loop; the parallel shapes cannot either, since
// each task is a call of its own. libfork's benchmark measures its serial fib this way,
// and the reference figures of the project's issue divide by it (3.6 ms for fib(30)).
[[gnu::noinline]] void fib_calls(long& out, int n) {
  if (n < 2) {
    out = n;
    return;
  }
  long a = 0;
  long b = 0;
  fib_calls(a, n - 1);
  fib_calls(b, n - 2);
  out = a + b;
}

// The same recursion as the optimiser likes it: g++ -O2 and above inline it into itself
// several levels deep and loop over one of the two calls. The coarse pieces use it.
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
// cannot be folded or dropped; the functions themselves are compiled as they would be
// anyway.
long serial_calls_once(int n) {
  benchmark::DoNotOptimize(n);
  long r = 0;
  serial::fib_calls(r, n);
  benchmark::DoNotOptimize(r);
  return r;
}

long serial_inlined_once(int n) {
  benchmark::DoNotOptimize(n);
  long r = serial::fib(n);
  benchmark::DoNotOptimize(r);
  return r;
}

enum class baseline { calls, inlined };

// The denominators: the serial time of fib(n) in seconds, per n and baseline, measured
// once per process, at startup (main), before any pool or peer thread exists, so that
// every family of the run divides by the same figure. It is the minimum over at least 3
// runs and 100 ms of runs: the least disturbed figure on a shared machine. A low
// denominator can only make the parallel ratios look worse.
double serial_seconds(baseline which, int n) {
  static std::map<std::pair<baseline, int>, double> measured;  // filled by main(), before any other thread
  if (auto it = measured.find({which, n}); it != measured.end()) return it->second;
  using clock = std::chrono::steady_clock;
  double best = std::numeric_limits<double>::infinity();
  const auto until = clock::now() + std::chrono::milliseconds(100);
  for (int run = 0; run < 3 || clock::now() < until; ++run) {
    const auto start = clock::now();
    const long r = which == baseline::calls ? serial_calls_once(n) : serial_inlined_once(n);
    best = std::min(best, std::chrono::duration<double>(clock::now() - start).count());
    if (!correct(n, r)) {
      std::fprintf(stderr, "bench_fib: serial fib(%d) = %ld, expected %ld\n", n, r,
                   fib_table[static_cast<std::size_t>(n)]);
      std::exit(1);
    }
  }
  measured.emplace(std::pair{which, n}, best);
  return best;
}

// Seconds per run of a family: the mean over its runs and the best of them.
struct run_times {
  double mean = 0;
  double best = 0;
};

// Runs `once(n)` as the timed body and checks every result; nullopt if a result was wrong
// (the run is then marked as an error) or nothing ran. Each run is timed here (Google
// Benchmark does not expose its own elapsed time; the clock reads cost nanoseconds, a run
// at least 0.1 ms).
template <class Once>
std::optional<run_times> run_checked(benchmark::State& state, int n, Once&& once) {
  using clock = std::chrono::steady_clock;
  double total = 0;
  double best = std::numeric_limits<double>::infinity();
  for (auto _ : state) {
    const auto start = clock::now();
    const long r = once(n);
    const double seconds = std::chrono::duration<double>(clock::now() - start).count();
    if (!correct(n, r)) {
      state.SkipWithError("wrong result");
      return std::nullopt;
    }
    total += seconds;
    best = std::min(best, seconds);
  }
  if (state.iterations() == 0) return std::nullopt;
  return run_times{total / static_cast<double>(state.iterations()), best};
}

// The recursive families: fib(n) per run, one task per call, divided by both baselines. A
// fib(16) first wakes the threads up, so no family pays for thread start-up inside its
// timing.
template <class Once>
void run_recursive(benchmark::State& state, Once&& once) {
  if (!correct(16, once(16))) {
    state.SkipWithError("wrong result (warm-up, fib(16))");
    return;
  }
  const int n = static_cast<int>(state.range(0));
  const auto t = run_checked(state, n, once);
  if (!t) return;
  state.counters["x_serial"] = t->mean / serial_seconds(baseline::calls, n);
  state.counters["x_inlined"] = t->mean / serial_seconds(baseline::inlined, n);
  state.counters["tasks/s"] = spawned_tasks(n) / t->mean;
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
  const int n = static_cast<int>(state.range(0));
  if (const auto t = run_checked(state, n, serial_calls_once))
    state.counters["x_serial"] = t->mean / serial_seconds(baseline::calls, n);
}

void bm_serial_inlined(benchmark::State& state) {
  const int n = static_cast<int>(state.range(0));
  if (const auto t = run_checked(state, n, serial_inlined_once)) {
    state.counters["x_serial"] = t->mean / serial_seconds(baseline::calls, n);
    state.counters["x_inlined"] = t->mean / serial_seconds(baseline::inlined, n);
  }
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
  for (std::size_t i = 0; i < nodes.size(); ++i)
    label += (i == 0 ? " fib(" : " + fib(") + std::to_string(nodes[i]) + ")";
  state.SetLabel(label);
  return nodes;
}

// Runs a coarse family and sets its counters against the optimiser's serial fib(40), the
// function its pieces run.
//
// Unpaired, the denominator is the best serial run at startup, as for every family. Paired,
// each iteration runs the serial fib(40) on this thread and then the row's parallel run,
// both timed: a slow spell of the shared machine (whole runs here vary by 5-10%) then
// falls on both sides alike instead of on one of them, and the row's own serial runs are
// its denominator. Paired rows report the sum of both in their time.
template <bool Paired, class Once>
void run_coarse(benchmark::State& state, Once&& once) {
  if constexpr (Paired) {
    using clock = std::chrono::steady_clock;
    double serial_total = 0;
    auto serial_then = [&](int n) {
      const auto start = clock::now();
      const long r = serial_inlined_once(n);
      serial_total += std::chrono::duration<double>(clock::now() - start).count();
      return correct(n, r) ? once(n) : -1;
    };
    const auto t = run_checked(state, coarse_n, serial_then);
    if (!t) return;
    // run_checked timed serial + parallel; the parallel side alone is that minus the serial.
    const double runs = static_cast<double>(state.iterations());
    const double parallel_mean = t->mean - serial_total / runs;
    state.counters["speedup"] = serial_total / runs / parallel_mean;
    state.counters["serial_ms"] = serial_total / runs * 1e3;
    state.counters["parallel_ms"] = parallel_mean * 1e3;
  } else {
    const auto t = run_checked(state, coarse_n, once);
    if (!t) return;
    const double serial = serial_seconds(baseline::inlined, coarse_n);
    state.counters["x_serial"] = t->mean / serial;
    state.counters["speedup"] = serial / t->mean;
    state.counters["speedup_best"] = serial / t->best;
  }
}

void bm_coarse_serial(benchmark::State& state) {
  state.SetLabel("fib(40) on the calling thread");
  run_coarse<false>(state, serial_inlined_once);
}

template <bool Paired>
void bm_coarse(benchmark::State& state) {
  const std::vector<int> nodes = coarse_pieces(state);
  if (nodes.empty()) return;
  bobbin::pool<> p(pool_size());
  p.submit([] {}).get();  // the workers are up
  std::vector<bobbin::future<long>> parts;
  parts.reserve(nodes.size());
  run_coarse<Paired>(state, [&](int) {
    parts.clear();
    for (int m : nodes) parts.push_back(p.submit(serial_inlined_once, m));
    long sum = 0;
    for (auto& f : parts) sum += get_or_abort(std::move(f));
    return sum;
  });
}

// The same pieces on plain std::threads (started per run, tens of microseconds) that take
// the next piece from a shared index: no pool, the machine's own limit. On a shared
// machine the parallelism available at a given moment can be well below the core count;
// this says whether the pool or the machine stood in the way.
template <bool Paired>
void bm_coarse_std_threads(benchmark::State& state) {
  const std::vector<int> nodes = coarse_pieces(state);
  if (nodes.empty()) return;
  run_coarse<Paired>(state, [&](int) {
    std::atomic<std::size_t> next{0};
    std::vector<long> values(nodes.size());
    {
      std::vector<std::jthread> threads;
      for (std::size_t t = 0; t < g_threads; ++t) {
        threads.emplace_back([&] {
          for (std::size_t i; (i = next.fetch_add(1, std::memory_order_relaxed)) < nodes.size();) {
            values[i] = serial_inlined_once(nodes[i]);
          }
        });
      }
    }  // joined
    return std::accumulate(values.begin(), values.end(), 0L);
  });
}

constexpr std::array fib_ns{20, 24, 28, 30, 32};

void fib_args(benchmark::internal::Benchmark* b) {
  b->ArgName("n");
  for (int n : fib_ns) b->Arg(n);
  b->Unit(benchmark::kMillisecond)->UseRealTime();
}

BENCHMARK(bm_serial)->Name("serial")->Apply(fib_args);
BENCHMARK(bm_serial_inlined)->Name("serial_inlined")->Apply(fib_args);
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
BENCHMARK(bm_coarse<false>)
    ->Name("coarse_fib40")
    ->ArgName("pieces")
    ->Arg(2)
    ->Arg(4)
    ->Arg(8)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();
BENCHMARK(bm_coarse_std_threads<false>)
    ->Name("coarse_fib40/std_threads")
    ->ArgName("pieces")
    ->Arg(8)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();
// Twice the work per iteration, and the point is an average over many: a longer minimum.
BENCHMARK(bm_coarse<true>)
    ->Name("coarse_fib40/paired")
    ->ArgName("pieces")
    ->Arg(8)
    ->MinTime(2.0)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();
BENCHMARK(bm_coarse_std_threads<true>)
    ->Name("coarse_fib40/paired_std_threads")
    ->ArgName("pieces")
    ->Arg(8)
    ->MinTime(2.0)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

}  // namespace

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  g_threads = bench::take_threads(argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  bench::add_context(g_threads);
  for (int n : fib_ns) {
    serial_seconds(baseline::calls, n);
    serial_seconds(baseline::inlined, n);
  }
  serial_seconds(baseline::inlined, coarse_n);
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
