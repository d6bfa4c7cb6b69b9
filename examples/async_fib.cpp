// example_async_fib [n]: fibonacci as coroutines. An `async function` is a
// bobbin::task<T>, `await Promise.all([...])` is co_await bobbin::when_all(...), and a
// pool runs the coroutines on all its threads.
#include <bobbin/pool.hpp>
#include <bobbin/task.hpp>

#include <cstdio>
#include <cstdlib>

// [fib]
bobbin::task<long> fib(int n) {  // async function fib(n)
  if (n < 2) co_return n;
  // await Promise.all([fib(n - 1), fib(n - 2)]): both run at once, on the pool's threads
  auto [a, b] = co_await bobbin::when_all(fib(n - 1), fib(n - 2));
  co_return a + b;
}
// [fib]

// [schedule]
bobbin::task<long> fib_on(bobbin::pool<>& pool, int n) {
  co_await pool.schedule();  // continue on one of the pool's workers
  co_return co_await fib(n);
}
// [schedule]

long fib_serial(int n) { return n < 2 ? n : fib_serial(n - 1) + fib_serial(n - 2); }

int main(int argc, char** argv) {
  const int n = argc > 1 ? std::atoi(argv[1]) : 25;
  if (n < 0 || n > 40) {
    std::fprintf(stderr, "usage: %s [n (0..40), default 25]\n", argv[0]);
    return 2;
  }

  // [run]
  bobbin::pool<> pool;  // one worker per hardware thread
  // A coroutine function submitted like any function: the pool runs it; a future<long>.
  const long submitted = pool.submit(fib, n).get();
  // Or from a thread that is not a worker: sync_wait runs a task and waits for it.
  const long waited = bobbin::sync_wait(fib_on(pool, n));
  // [run]

  const long expected = fib_serial(n);
  std::printf("fib(%d) = %ld (pool.submit), %ld (sync_wait), %ld (serial), %zu threads\n", n, submitted, waited,
              expected, pool.size());
  return submitted == expected && waited == expected ? 0 : 1;
}
