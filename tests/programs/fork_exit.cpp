// A forked child (no exec) exits while a static pool exists: the pool's threads do not
// exist in the child, so its destructor must not wait for them (before issue 15 it hung
// under ASan and TSan). The parent checks that the child exits 0 within 20 s.
#include <bobbin/pool.hpp>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <thread>

#include <csignal>
#include <sys/wait.h>
#include <unistd.h>

namespace {
bobbin::pool<> static_pool({.threads = 2});
}

int main() {
  static_pool.submit([] { return 1; }).get();
  const pid_t child = fork();
  if (child < 0) return 2;
  if (child == 0) std::exit(0);  // runs the static pool's destructor in the child
  for (int i = 0; i < 2000; ++i) {
    int status = 0;
    const pid_t r = waitpid(child, &status, WNOHANG);
    if (r == child) {
      const bool ok = WIFEXITED(status) && WEXITSTATUS(status) == 0;
      if (!ok) std::fprintf(stderr, "fork_exit: the child ended with status %d\n", status);
      return ok ? 0 : 1;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  std::fprintf(stderr, "fork_exit: the child still runs after 20 s (hung in exit)\n");
  kill(child, SIGKILL);
  waitpid(child, nullptr, 0);
  return 1;
}
