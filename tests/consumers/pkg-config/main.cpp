// Uses bobbin through pkg-config: g++ -std=c++20 main.cpp $(pkg-config --cflags --libs bobbin)
// .ci/packaging.sh builds it with -Wall -Wextra -Wpedantic -Wconversion -Wsign-conversion
// -Wshadow -Werror. pkg-config hands out -I, not -isystem (-isystem /usr/include would break
// the standard library's #include_next), so bobbin's headers must be clean under these.
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
  std::printf("pkg-config: fib(20) = %ld\n", r);
  return r == 6765 ? 0 : 1;
}
