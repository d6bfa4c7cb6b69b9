// Conan's test_package: the installed headers compile, link and run a pool.
#include <bobbin/bobbin.hpp>

#include <cstdio>
#include <functional>

long fib(bobbin::pool<>& p, int n) {
  if (n < 2) return n;
  auto a = p.submit(fib, std::ref(p), n - 1);
  long b = fib(p, n - 2);
  return a.get() + b;
}

int main() {
  bobbin::pool<> pool({.threads = 2});
  const long r = pool.submit(fib, std::ref(pool), 20).get();
  std::printf("bobbin test_package: fib(20) = %ld\n", r);
  return r == 6765 ? 0 : 1;
}
