// The README's quick start, verbatim.
#include <bobbin/bobbin.hpp>
#include <cstdio>

long fib(bobbin::pool<>& p, int n) {
  if (n < 2) return n;
  auto a = p.submit(fib, std::ref(p), n - 1);  // fork: runs on the pool, maybe stolen
  long b = fib(p, n - 2);                       // meanwhile, work here
  return a.get() + b;                           // join: helps run tasks while it waits
}

int main() {
  bobbin::pool<> pool;  // one worker per core, work-stealing
  std::printf("fib(25) = %ld\n", pool.submit(fib, std::ref(pool), 25).get());
}
