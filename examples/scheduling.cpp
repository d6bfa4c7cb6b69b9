// One short example per scheduling policy; docs/scheduling.md quotes each section.
#include <bobbin/bobbin.hpp>

#include <chrono>
#include <cstdio>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

int main() {
  {
    // [work_stealing]
    // The default: recursive fork-join, parallel loops, anything that spawns from tasks.
    bobbin::pool<> pool;  // bobbin::pool<bobbin::work_stealing>
    long sum = bobbin::parallel_reduce(pool, 0L, 1'000'000L, 0L, [](long i) { return i % 7; }, std::plus<>{});
    std::printf("work_stealing: %ld\n", sum);
    // [work_stealing]
  }
  {
    // [least_busy]
    // Independent requests of uneven cost, submitted from outside: each goes to an idle
    // worker, or waits in one shared queue for the first worker that becomes free.
    bobbin::pool<bobbin::least_busy> pool({.threads = 2});
    std::vector<bobbin::future<int>> replies;
    for (int request = 0; request < 8; ++request) {
      replies.push_back(pool.submit([request] {
        std::this_thread::sleep_for(std::chrono::milliseconds(request % 4 == 0 ? 20 : 1));
        return request;
      }));
    }
    for (auto& r : replies) r.get();
    std::printf("least_busy: %zu replies\n", replies.size());
    // [least_busy]
  }
  {
    // [round_robin]
    // Equal-cost work spread evenly and predictably: task i runs on worker i % threads.
    bobbin::pool<bobbin::round_robin> pool({.threads = 2});
    std::mutex m;
    std::vector<std::size_t> where;
    for (int i = 0; i < 4; ++i) {
      pool.post([&] {
        std::lock_guard lock(m);
        where.push_back(*bobbin::this_worker::index());
      });
    }
    pool.wait_idle();
    std::printf("round_robin: %zu tasks\n", where.size());
    // [round_robin]
  }
  {
    // [priority]
    // Urgent work first; equal priorities in submission order. With priority_aging = 8,
    // every 8th task taken is the oldest waiting one, so nothing starves.
    bobbin::pool<bobbin::priority> pool({.threads = 1, .priority_aging = 8});
    auto background = pool.submit({.priority = -1}, [] { return std::string("reindex"); });
    auto urgent = pool.submit({.priority = 10}, [] { return std::string("user request"); });
    pool.post({.priority = 0}, [] {});
    std::printf("priority: %s, %s\n", urgent.get().c_str(), background.get().c_str());
    // [priority]
  }
  {
    // [fifo]
    // Strict order on one worker: a serial queue, like a single-threaded event loop.
    bobbin::pool<bobbin::fifo> pool({.threads = 1});
    std::string log;
    for (char c : std::string("in order")) pool.post([&log, c] { log += c; });
    pool.wait_idle();
    std::printf("fifo: %s\n", log.c_str());
    // [fifo]
  }
}
