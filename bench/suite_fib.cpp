// fib(N) in the shape and output format of the public runtime-benchmarks suite
// (tzcnt/runtime-benchmarks, cpp/<runtime>/fib.cpp), so bobbin's figures sit beside the
// peers' from the same driver: `bench_suite_fib N threads [coroutine|task_group]`.
// Like the suite: the pool is made first, fib(30) runs once untimed, then one fib(N) is
// timed (microseconds) and printed as YAML with the result, which is checked.
#include <sys/resource.h>

#include <bobbin/pool.hpp>
#include <bobbin/task.hpp>
#include <bobbin/task_group.hpp>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>

namespace {

bobbin::task<long> fib_coroutine(int n) {
  if (n < 2) co_return n;
  auto [a, b] = co_await bobbin::when_all(fib_coroutine(n - 1), fib_coroutine(n - 2));
  co_return a + b;
}

long fib_group(bobbin::pool<>& p, int n) {
  if (n < 2) return n;
  long a = 0;
  bobbin::task_group g(p);
  g.run([&] { a = fib_group(p, n - 1); });
  const long b = fib_group(p, n - 2);
  g.wait();
  return a + b;
}

long fib_serial(int n) {
  long a = 0, b = 1;
  for (int i = 0; i < n; ++i) {
    const long c = a + b;
    a = b;
    b = c;
  }
  return a;
}

}  // namespace

int main(int argc, char** argv) {
  const int n = argc > 1 ? std::atoi(argv[1]) : 39;
  const int threads = argc > 2 ? std::atoi(argv[2]) : 2;
  const std::string shape = argc > 3 ? argv[3] : "coroutine";
  if (n < 0 || n > 60 || threads < 1 || (shape != "coroutine" && shape != "task_group")) {
    std::fprintf(stderr, "usage: %s N threads [coroutine|task_group]\n", argv[0]);
    return 2;
  }
  bobbin::pool<> p({.threads = static_cast<std::size_t>(threads)});
  const auto run = [&](int k) {
    if (shape == "coroutine") return p.submit(fib_coroutine, k).get();
    return p.submit([&p, k] { return fib_group(p, k); }).get();
  };
  (void)run(30);  // warm-up, as the suite does
  const auto t0 = std::chrono::high_resolution_clock::now();
  const long result = run(n);
  const auto t1 = std::chrono::high_resolution_clock::now();
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  std::printf("threads: %d\noutput: %ld\nruns:\n  - iteration_count: 1\n    duration: %lld us\n    max_rss: %ld KiB\n",
              threads, result,
              static_cast<long long>(std::chrono::duration_cast<std::chrono::microseconds>(t1 - t0).count()),
              usage.ru_maxrss);
  if (result != fib_serial(n)) {
    std::fprintf(stderr, "wrong result: fib(%d) is %ld\n", n, fib_serial(n));
    return 1;
  }
}
