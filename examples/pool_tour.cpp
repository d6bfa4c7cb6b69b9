// A tour of the pool, futures and fork-join; docs/pool.md quotes it section by section.
#include <bobbin/bobbin.hpp>

#include <cstdio>
#include <numeric>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

int main() {
  // [pool]
  bobbin::pool<> pool({.threads = 4, .name = "tour"});
  // [pool]

  // [submit]
  bobbin::future<int> answer = pool.submit([](int a, int b) { return a * b; }, 6, 7);
  std::printf("6 * 7 = %d\n", answer.get());
  // [submit]

  // [post]
  std::atomic<int> done{0};
  for (int i = 0; i < 100; ++i) pool.post([&done] { done.fetch_add(1); });
  pool.wait_idle();  // every task accepted so far has finished
  std::printf("posted tasks run: %d\n", done.load());
  // [post]

  // [errors]
  auto failing = pool.submit([]() -> int { throw std::runtime_error("no luck"); });
  try {
    failing.get();
  } catch (const std::runtime_error& e) {
    std::printf("the task threw: %s\n", e.what());
  }
  // [errors]

  // [then]
  auto greeting = pool.submit([] { return std::string("hello"); })
                      .then([](std::string s) { return s + ", world"; })
                      .then([](std::string s) { return s.size(); });
  std::printf("length: %zu\n", greeting.get());
  // [then]

  // [when_all]
  std::vector<bobbin::future<long>> parts;
  for (long k = 0; k < 4; ++k) parts.push_back(pool.submit([k] { return k * k; }));
  std::vector<long> squares = bobbin::when_all(parts).get();
  std::printf("sum of squares: %ld\n", std::accumulate(squares.begin(), squares.end(), 0L));
  // [when_all]

  // [cancel]
  std::atomic<bool> started{false};
  auto worker = pool.submit([&started](std::stop_token stop) {
    started = true;
    long rounds = 0;
    while (!stop.stop_requested()) ++rounds;
    return rounds;
  });
  while (!started) std::this_thread::yield();
  bool never_ran = worker.cancel();  // running: returns false and requests its stop_token
  std::printf("cancelled before it ran: %s; it stopped after %ld rounds\n", never_ran ? "yes" : "no", worker.get());
  // A task that has not started yet is cancelled outright: get() throws task_cancelled.
  // [cancel]

  // [task_group]
  std::vector<int> data(1000);
  bobbin::task_group group(pool);
  group.run([&] { std::iota(data.begin(), data.begin() + 500, 0); });
  group.run([&] { std::iota(data.begin() + 500, data.end(), 500); });
  group.wait();  // rethrows the first exception of the group, if any
  // [task_group]

  // [parallel]
  bobbin::parallel_for(pool, 0, 1000, [&](int i) { data[static_cast<std::size_t>(i)] *= 2; });
  long total = bobbin::parallel_reduce(
      pool, 0, 1000, 0L, [&](int i) { return long{data[static_cast<std::size_t>(i)]}; },
      [](long a, long b) { return a + b; });
  std::printf("parallel_reduce: %ld\n", total);
  // [parallel]

  // [stats]
  bobbin::pool_stats s = pool.stats();
  std::printf("submitted %llu, completed %llu, failed %llu, stolen %llu\n",
              static_cast<unsigned long long>(s.submitted), static_cast<unsigned long long>(s.completed),
              static_cast<unsigned long long>(s.failed), static_cast<unsigned long long>(s.stolen));
  // [stats]

  // [shutdown]
  pool.shutdown();  // runs what is queued, joins; the destructor does the same
  try {
    pool.post([] {});
  } catch (const bobbin::pool_closed&) {
    std::printf("a closed pool refuses work\n");
  }
  // [shutdown]
  return total == 999L * 1000 ? 0 : 1;
}
