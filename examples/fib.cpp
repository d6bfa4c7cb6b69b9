// example_fib [n] [threads]: recursive fibonacci on a bobbin pool, one task per call, in
// the two shapes people write first, timed against plain recursion.
//
// One task per call is the worst case for any pool (each task does a nanosecond of
// work), so expect the pool to be slower than serial here: it measures the cost of a
// task. Real code gives each task more work, e.g. by going serial below some n.
#include <bobbin/pool.hpp>
#include <bobbin/task_group.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <utility>

long fib_serial(int n) { return n < 2 ? n : fib_serial(n - 1) + fib_serial(n - 2); }

// Fork-join with a task_group: one half runs as a task, this thread computes the other.
long fib_group(bobbin::pool<>& p, int n) {
  if (n < 2) return n;
  long a = 0;
  bobbin::task_group g(p);
  g.run([&] { a = fib_group(p, n - 1); });
  long b = fib_group(p, n - 2);
  g.wait();  // on a worker, wait() runs other tasks meanwhile: no deadlock
  return a + b;
}

// The same with submit: the task's result comes back through a future.
long fib_submit(bobbin::pool<>& p, int n) {
  if (n < 2) return n;
  auto a = p.submit(fib_submit, std::ref(p), n - 1);
  long b = fib_submit(p, n - 2);
  return a.get() + b;  // likewise, get() helps while it waits
}

// The best of three runs in milliseconds; `result` gets the value. The volatile store
// keeps the work inside the timed region: fib_serial has no side effects, and a compiler
// may otherwise move it past the clock read (clang does).
template <class F>
double best_ms(F&& run, long& result) {
  double best = 1e300;
  for (int i = 0; i < 3; ++i) {
    const auto start = std::chrono::steady_clock::now();
    const volatile long value = run();
    best = std::min(best, std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count());
    result = value;
  }
  return best;
}

int main(int argc, char** argv) {
  const int n = argc > 1 ? std::atoi(argv[1]) : 30;
  const long threads = argc > 2 ? std::atol(argv[2]) : 0;  // 0: one per hardware thread
  if (n < 0 || n > 45 || threads < 0) {
    std::fprintf(stderr, "usage: %s [n (0..45), default 30] [threads, default: hardware threads]\n", argv[0]);
    return 2;
  }

  bobbin::pool_options options;
  options.threads = static_cast<std::size_t>(threads);
  bobbin::pool<> p(options);

  long serial = 0, group = 0, submitted = 0;
  // Likewise, n read through a volatile keeps the compiler from computing fib_serial(n)
  // once, ahead of all three runs.
  const volatile int n_each_run = n;
  const double serial_ms = best_ms([&] { return fib_serial(n_each_run); }, serial);
  // Started from this (outside) thread: the top call runs on the pool, as a task.
  const double group_ms = best_ms([&] { return p.submit(fib_group, std::ref(p), n).get(); }, group);
  const double submit_ms = best_ms([&] { return p.submit(fib_submit, std::ref(p), n).get(); }, submitted);

  long expected = 0;
  for (long i = 0, next = 1; i < n; ++i) expected = std::exchange(next, expected + next);

  std::printf("fib(%d) = %ld   (%zu threads, best of 3 runs)\n", n, serial, p.size());
  std::printf("serial:            %9.2f ms\n", serial_ms);
  std::printf("pool (task_group): %9.2f ms   (%.2fx)\n", group_ms, serial_ms / group_ms);
  std::printf("pool (submit):     %9.2f ms   (%.2fx)\n", submit_ms, serial_ms / submit_ms);
  if (serial != expected || group != expected || submitted != expected) {
    std::fprintf(stderr, "wrong result: serial %ld, task_group %ld, submit %ld, expected %ld\n", serial, group,
                 submitted, expected);
    return 1;
  }
  return 0;
}
