// Watching a pool: stats and utilization printed once a second while a skewed workload
// runs, and a stall report for a task that hangs. docs/monitoring.md quotes it.
//   example_monitor [seconds]   (default 3)
#include <bobbin/pool.hpp>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <thread>

using namespace std::chrono_literals;

int main(int argc, char** argv) {
  const int seconds = argc > 1 ? std::atoi(argv[1]) : 3;

  // [stall]
  bobbin::pool<> pool({.threads = 2,
                       .stall_after = 200ms,
                       .on_stall = [](std::size_t worker, std::chrono::nanoseconds running) {
                         std::printf("  ! worker %zu: one task has run for %lld ms\n", worker,
                                     static_cast<long long>(running.count() / 1'000'000));
                       }});
  // [stall]

  // A skewed workload from an outside thread: mostly 50 us tasks, one in 50 takes 5 ms,
  // and one task, once, hangs for 400 ms.
  std::thread producer([&] {
    std::mt19937 rng(42);
    const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(seconds);
    bool hung = false;
    while (std::chrono::steady_clock::now() < until) {
      const auto cost = rng() % 50 == 0 ? 5ms : std::chrono::microseconds(50);
      pool.post([cost] { std::this_thread::sleep_for(cost); });
      if (!hung) {
        hung = true;
        pool.post([] { std::this_thread::sleep_for(400ms); });
      }
      std::this_thread::sleep_for(std::chrono::microseconds(150));
    }
  });

  // [watch]
  bobbin::pool_stats previous = pool.stats();
  for (int s = 1; s <= seconds; ++s) {
    std::this_thread::sleep_for(1s);
    const bobbin::pool_stats now = pool.stats();
    std::printf("t=%ds  done %llu (+%llu)  queued %llu  running %llu  stolen %llu  utilization %.0f%% (last second)\n",
                s, static_cast<unsigned long long>(now.completed),
                static_cast<unsigned long long>(now.completed - previous.completed),
                static_cast<unsigned long long>(now.queued), static_cast<unsigned long long>(now.running),
                static_cast<unsigned long long>(now.stolen), 100.0 * now.utilization(previous));
    for (std::size_t w = 0; w < now.workers.size(); ++w) {
      std::printf("    worker %zu: %llu tasks, busy %lld ms\n", w,
                  static_cast<unsigned long long>(now.workers[w].tasks_run),
                  static_cast<long long>(now.workers[w].busy_time.count() / 1'000'000));
    }
    previous = now;
  }
  // [watch]
  producer.join();
  pool.wait_idle();
  const bobbin::pool_stats end = pool.stats();
  std::printf("total: submitted %llu = completed %llu + failed %llu + cancelled %llu\n",
              static_cast<unsigned long long>(end.submitted), static_cast<unsigned long long>(end.completed),
              static_cast<unsigned long long>(end.failed), static_cast<unsigned long long>(end.cancelled));
  return end.submitted == end.completed ? 0 : 1;
}
