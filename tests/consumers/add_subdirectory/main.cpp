// Uses bobbin through add_subdirectory(<bobbin's source tree>).
// .ci/packaging.sh builds it with -Wall -Wextra -Wpedantic -Wconversion -Wsign-conversion
// -Wshadow -Wold-style-cast -Wuseless-cast -Werror: bobbin's headers reach a consumer as
// system headers, so its warning flags apply to its own code only.
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
  std::printf("add_subdirectory: fib(20) = %ld\n", r);
  return r == 6765 ? 0 : 1;
}
