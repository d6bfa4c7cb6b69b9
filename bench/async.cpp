// The coroutine layer (bobbin::task, when_all, async channels, sleep_for) beside the
// thread-based shapes it replaces, in one binary, on a pool of --threads=N threads
// ($BOBBIN_THREADS, default 2), as bench/fib.cpp.
//
// Families:
// - bobbin_task_group:    fib(n) with bench/fib.cpp's task_group shape, one task per call:
//                         run(fib(n - 1)) + fib(n - 2) + wait().
// - bobbin_coroutine_fib: fib(n) with one coroutine per call:
//                         co_await when_all(fib(n - 1), fib(n - 2)).
//                         n is 30, or --n=N (2 to 40). Counters: x_serial is the mean time
//                         per run over the serial fib(n) (bench/fib.cpp's baseline, one
//                         real call per fib call); x_task_group, on the coroutine row, is
//                         its mean over bobbin_task_group's in the same process (absent if
//                         that row was filtered out); tasks/s counts fib(n + 1) - 1 per run.
// - async_pipeline:       producer -> stage -> stage -> consumer, 100,000 ints through three
//                         bounded channels (capacity 64 or 8), each stage a coroutine on
//                         the pool, co_await async_send / async_receive.
// - thread_pipeline:      the same on 4 dedicated std::threads (started per run, tens of
//                         microseconds) with blocking send / receive.
//                         Both report items_per_second; every run checks that each item
//                         arrived once, in order.
// - idle_pool_with_timer: the pool idle but for one coroutine in co_await sleep_for(10s):
//                         cpu_ms_per_200ms is the process CPU time (every thread, the timer
//                         thread too) over 200 ms of the benchmark thread sleeping, which
//                         should be well under 10 ms; the coroutine is then cancelled
//                         (future::cancel()) and must end with task_cancelled at once.
//   idle_pool:            the same with nothing pending, the floor for the row above.
// All families use real time: the benchmark thread sleeps while the pool works.
#include <bobbin/channel.hpp>
#include <bobbin/errors.hpp>
#include <bobbin/pool.hpp>
#include <bobbin/task.hpp>
#include <bobbin/task_group.hpp>
#include <bobbin/timer.hpp>

#include <benchmark/benchmark.h>

#include "common.hpp"

#include <algorithm>
#include <array>
#include <atomic>
#include <charconv>
#include <chrono>
#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <functional>
#include <future>
#include <limits>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

namespace {

using namespace std::chrono_literals;

std::size_t g_threads = 2;  // set once in main()

constexpr auto fib_table = [] {
  std::array<long, 41> t{};
  t[1] = 1;
  for (std::size_t i = 2; i < t.size(); ++i) t[i] = t[i - 1] + t[i - 2];
  return t;
}();

double spawned_tasks(int n) { return static_cast<double>(fib_table[static_cast<std::size_t>(n) + 1] - 1); }

bool correct(int n, long r) { return r == fib_table[static_cast<std::size_t>(n)]; }

bobbin::pool_options pool_size() {
  bobbin::pool_options o;
  o.threads = g_threads;
  return o;
}

// get(), but a run that has not finished after a minute is a deadlock: say so and abort
// rather than hang whoever runs the benchmark (CI) forever.
template <class T>
T get_or_abort(bobbin::future<T> f) {
  if (f.wait_for(std::chrono::minutes(1)) != std::future_status::ready) {
    std::fprintf(stderr, "bench_async: a run has not finished after a minute: deadlocked\n");
    std::abort();
  }
  return f.get();
}

// ---- fib ----

namespace serial {
// bench/fib.cpp's baseline: one real call per fib call, as each task is one.
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
}  // namespace serial

namespace group_shape {
// As bench/fib.cpp writes it.
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

namespace coroutine_shape {
bobbin::task<long> fib(int n) {
  if (n < 2) co_return n;
  auto [a, b] = co_await bobbin::when_all(fib(n - 1), fib(n - 2));
  co_return a + b;
}
}  // namespace coroutine_shape

// The serial fib(n) in seconds: the best of at least 3 runs and 100 ms of runs, measured
// by main() before any pool thread exists.
double serial_seconds(int n) {
  static std::map<int, double> measured;  // filled by main(), before any other thread
  if (auto it = measured.find(n); it != measured.end()) return it->second;
  using clock = std::chrono::steady_clock;
  double best = std::numeric_limits<double>::infinity();
  const auto until = clock::now() + 100ms;
  for (int run = 0; run < 3 || clock::now() < until; ++run) {
    int m = n;
    benchmark::DoNotOptimize(m);
    const auto start = clock::now();
    long r = 0;
    serial::fib_calls(r, m);
    benchmark::DoNotOptimize(r);
    best = std::min(best, std::chrono::duration<double>(clock::now() - start).count());
    if (!correct(n, r)) {
      std::fprintf(stderr, "bench_async: serial fib(%d) = %ld, expected %ld\n", n, r,
                   fib_table[static_cast<std::size_t>(n)]);
      std::exit(1);
    }
  }
  measured.emplace(n, best);
  return best;
}

// bobbin_task_group's mean seconds per run, by n, for the coroutine row's ratio.
std::map<int, double> g_task_group_seconds;

// Runs `once(n)` per iteration (after a fib(16) that wakes the threads up), checks every
// result; the mean seconds per run, or nullopt after marking the run as an error.
template <class Once>
std::optional<double> run_fib(benchmark::State& state, Once&& once) {
  if (!correct(16, once(16))) {
    state.SkipWithError("wrong result (warm-up, fib(16))");
    return std::nullopt;
  }
  const int n = static_cast<int>(state.range(0));
  using clock = std::chrono::steady_clock;
  double total = 0;
  for (auto _ : state) {
    const auto start = clock::now();
    const long r = once(n);
    total += std::chrono::duration<double>(clock::now() - start).count();
    if (!correct(n, r)) {
      state.SkipWithError("wrong result");
      return std::nullopt;
    }
  }
  if (state.iterations() == 0) return std::nullopt;
  const double mean = total / static_cast<double>(state.iterations());
  state.counters["x_serial"] = mean / serial_seconds(n);
  state.counters["tasks/s"] = spawned_tasks(n) / mean;
  return mean;
}

void bm_bobbin_task_group(benchmark::State& state) {
  bobbin::pool<> p(pool_size());
  const auto mean = run_fib(state, [&](int n) { return get_or_abort(p.submit(group_shape::fib, std::ref(p), n)); });
  if (mean) g_task_group_seconds[static_cast<int>(state.range(0))] = *mean;
}

void bm_bobbin_coroutine_fib(benchmark::State& state) {
  bobbin::pool<> p(pool_size());
  const auto mean = run_fib(state, [&](int n) { return get_or_abort(p.submit(coroutine_shape::fib, n)); });
  if (!mean) return;
  if (auto it = g_task_group_seconds.find(static_cast<int>(state.range(0))); it != g_task_group_seconds.end())
    state.counters["x_task_group"] = *mean / it->second;
}

// ---- pipeline ----

constexpr int pipeline_items = 100'000;

// The consumer's verdict: how many items arrived, and whether each was the next expected.
struct received {
  long count = 0;
  bool in_order = true;
};

// Each stage adds 1: the consumer expects the producer's i + 2, in order.
constexpr int stage_step = 1;

// Whatever way a stage ends, its channels close: downstream sees the end of the stream,
// upstream a closed channel (send returns false) instead of waiting forever on a stage
// that has gone (a failure then ends the whole pipeline instead of deadlocking it).
struct closer {
  explicit closer(bobbin::channel<int>& c) : ch(c) {}
  closer(const closer&) = delete;
  closer& operator=(const closer&) = delete;
  ~closer() { ch.close(); }
  bobbin::channel<int>& ch;
};

namespace async_shape {
bobbin::task<void> produce(bobbin::channel<int> out, int n) {
  const closer c{out};
  for (int i = 0; i < n; ++i) {
    if (!co_await out.async_send(i)) co_return;
  }
}

bobbin::task<void> stage(bobbin::channel<int> in, bobbin::channel<int> out) {
  const closer ci{in};
  const closer co{out};
  while (std::optional<int> v = co_await in.async_receive()) {
    if (!co_await out.async_send(*v + stage_step)) co_return;
  }
}

bobbin::task<received> consume(bobbin::channel<int> in) {
  const closer c{in};
  received r;
  while (std::optional<int> v = co_await in.async_receive()) {
    if (*v != static_cast<int>(r.count) + 2 * stage_step) r.in_order = false;
    ++r.count;
  }
  co_return r;
}
}  // namespace async_shape

namespace thread_shape {
void produce(bobbin::channel<int> out, int n) {
  const closer c{out};
  for (int i = 0; i < n; ++i) {
    if (!out.send(i)) return;
  }
}

void stage(bobbin::channel<int> in, bobbin::channel<int> out) {
  const closer ci{in};
  const closer co{out};
  while (std::optional<int> v = in.receive()) {
    if (!out.send(*v + stage_step)) return;
  }
}

received consume(bobbin::channel<int> in) {
  const closer c{in};
  received r;
  while (std::optional<int> v = in.receive()) {
    if (*v != static_cast<int>(r.count) + 2 * stage_step) r.in_order = false;
    ++r.count;
  }
  return r;
}
}  // namespace thread_shape

struct pipeline_channels {
  explicit pipeline_channels(std::size_t cap)
      : a(bobbin::capacity{cap}), b(bobbin::capacity{cap}), c(bobbin::capacity{cap}) {}
  bobbin::channel<int> a;  // producer -> stage 1
  bobbin::channel<int> b;  // stage 1 -> stage 2
  bobbin::channel<int> c;  // stage 2 -> consumer
};

// Runs `once(capacity)` per iteration, checks what the consumer received.
template <class Once>
void run_pipeline(benchmark::State& state, Once&& once) {
  const auto cap = static_cast<std::size_t>(state.range(0));
  for (auto _ : state) {
    const received r = once(cap);
    if (r.count != pipeline_items || !r.in_order) {
      state.SkipWithError(r.count != pipeline_items ? "items lost or duplicated" : "items out of order");
      return;
    }
  }
  state.SetItemsProcessed(state.iterations() * pipeline_items);
}

void bm_async_pipeline(benchmark::State& state) {
  bobbin::pool<> p(pool_size());
  p.submit([] {}).get();  // the workers are up
  run_pipeline(state, [&](std::size_t cap) {
    pipeline_channels ch(cap);
    // The consumer first: the stages that feed it then have somewhere to go at once.
    auto consumer = p.submit(async_shape::consume, ch.c);
    auto stage2 = p.submit(async_shape::stage, ch.b, ch.c);
    auto stage1 = p.submit(async_shape::stage, ch.a, ch.b);
    auto producer = p.submit(async_shape::produce, ch.a, pipeline_items);
    get_or_abort(std::move(producer));
    get_or_abort(std::move(stage1));
    get_or_abort(std::move(stage2));
    return get_or_abort(std::move(consumer));
  });
}

void bm_thread_pipeline(benchmark::State& state) {
  run_pipeline(state, [](std::size_t cap) {
    pipeline_channels ch(cap);
    received r;
    {
      std::jthread consumer([&r, in = ch.c] { r = thread_shape::consume(in); });
      std::jthread stage2(thread_shape::stage, ch.b, ch.c);
      std::jthread stage1(thread_shape::stage, ch.a, ch.b);
      std::jthread producer(thread_shape::produce, ch.a, pipeline_items);
    }  // joined
    return r;
  });
}

// ---- idle pool with a pending timer ----

double process_cpu_seconds() {
  timespec ts{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

bobbin::task<void> sleep_long(std::atomic<bool>& started) {
  started.store(true, std::memory_order_release);
  co_await bobbin::sleep_for(10s);
}

template <bool WithTimer>
void bm_idle_pool(benchmark::State& state) {
  bobbin::pool<> p(pool_size());
  p.submit([] {}).get();  // the workers are up
  double cpu_total = 0;
  for (auto _ : state) {
    std::optional<bobbin::future<void>> sleeper;
    if constexpr (WithTimer) {
      std::atomic<bool> started{false};
      sleeper.emplace(p.submit(sleep_long, std::ref(started)));
      while (!started.load(std::memory_order_acquire)) std::this_thread::yield();
    }
    // The workers' spin after their last task (microseconds) falls in the window too.
    const double before = process_cpu_seconds();
    std::this_thread::sleep_for(200ms);
    cpu_total += process_cpu_seconds() - before;
    if constexpr (WithTimer) {
      const auto cancelled_at = std::chrono::steady_clock::now();
      sleeper->cancel();
      if (sleeper->wait_for(1s) != std::future_status::ready) {
        // The pool's destructor would wait for it, up to 10 s: rather fail loudly.
        std::fprintf(stderr, "bench_async: the sleeping coroutine did not end within 1 s of cancel()\n");
        std::abort();
      }
      const double cancel_ms =
          std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - cancelled_at).count();
      try {
        sleeper->get();
        state.SkipWithError("the 10 s sleep ended normally instead of being cancelled");
        return;
      } catch (const bobbin::task_cancelled&) {
      }
      state.counters["cancel_ms"] = cancel_ms;
    }
  }
  state.counters["cpu_ms_per_200ms"] = cpu_total * 1e3 / static_cast<double>(state.iterations());
}

// --n=N: the fib argument, taken out of argv (as bench::take_threads does --threads=N).
int take_fib_n(int& argc, char** argv, int fallback = 30) {
  int n = fallback;
  int kept = 1;
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    if (arg.starts_with("--n=")) {
      const std::string_view text = arg.substr(4);
      const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
      if (ec != std::errc{} || end != text.data() + text.size() || n < 2 || n > 40) {
        std::fprintf(stderr, "bad fib argument '%.*s' (2 to 40)\n", static_cast<int>(text.size()), text.data());
        std::exit(2);
      }
    } else {
      argv[kept++] = argv[i];
    }
  }
  argc = kept;
  return n;
}

}  // namespace

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  g_threads = bench::take_threads(argc, argv);
  const int fib_n = take_fib_n(argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  bench::add_context(g_threads);
  serial_seconds(fib_n);

  // Registered here, in this order: the task_group row runs before the coroutine row,
  // which divides by it.
  benchmark::RegisterBenchmark("bobbin_task_group", bm_bobbin_task_group)
      ->ArgName("n")
      ->Arg(fib_n)
      ->Unit(benchmark::kMillisecond)
      ->UseRealTime();
  benchmark::RegisterBenchmark("bobbin_coroutine_fib", bm_bobbin_coroutine_fib)
      ->ArgName("n")
      ->Arg(fib_n)
      ->Unit(benchmark::kMillisecond)
      ->UseRealTime();
  for (auto* b : {benchmark::RegisterBenchmark("async_pipeline", bm_async_pipeline),
                  benchmark::RegisterBenchmark("thread_pipeline", bm_thread_pipeline)})
    b->ArgName("capacity")->Arg(64)->Arg(8)->Unit(benchmark::kMillisecond)->UseRealTime();
  benchmark::RegisterBenchmark("idle_pool_with_timer", bm_idle_pool<true>)
      ->Unit(benchmark::kMillisecond)
      ->UseRealTime();
  benchmark::RegisterBenchmark("idle_pool", bm_idle_pool<false>)->Unit(benchmark::kMillisecond)->UseRealTime();

  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
