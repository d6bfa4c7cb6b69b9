// A task calls std::exit() while its pool is a static: the pool's destructor then runs on
// that worker, from exit's handlers, where it cannot join itself. It must neither
// terminate (std::logic_error, as before issue 15) nor hang. ctest expects exit code 0.
#include <bobbin/pool.hpp>

#include <chrono>
#include <cstdlib>
#include <thread>

namespace {
bobbin::pool<> static_pool({.threads = 2});
}

int main() {
  for (int i = 0; i < 100; ++i) static_pool.post([] {});
  static_pool.post([] { std::exit(0); });
  std::this_thread::sleep_for(std::chrono::seconds(60));
  return 3;  // exit() never came
}
