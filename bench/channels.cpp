// Channels between threads: bobbin::channel beside moodycamel::BlockingConcurrentQueue (when
// found) and a mutex + condition_variable queue, in one binary.
//
//   spsc      one producer, one consumer, int messages          (items_per_second)
//   mpmc      two producers, two consumers                       (items_per_second)
//   pingpong  a round trip between two threads, blocking receive (median_us, p99_us)
//
// Every run checks what was received (sum, count, echoed values) and reports an error
// instead of a figure if it is wrong.

#include <bobbin/channel.hpp>

#include <benchmark/benchmark.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <mutex>
#include <thread>
#include <vector>

#if BOBBIN_HAVE_MOODYCAMEL
#include <blockingconcurrentqueue.h>
#endif

namespace {

// Each queue under test: send(int) and a blocking receive() -> int.

struct bobbin_unbounded {
  bobbin::channel<int> ch;
  void send(int v) { ch.send(v); }
  int receive() { return ch.receive().value_or(-1); }
};

struct bobbin_bounded {
  bobbin::channel<int> ch{bobbin::capacity{1024}};
  void send(int v) { ch.send(v); }
  int receive() { return ch.receive().value_or(-1); }
};

#if BOBBIN_HAVE_MOODYCAMEL
struct moodycamel_blocking {
  moodycamel::BlockingConcurrentQueue<int> q;
  void send(int v) { q.enqueue(v); }
  int receive() {
    int v = -1;
    q.wait_dequeue(v);
    return v;
  }
};
#endif

class mutex_condvar {
 public:
  void send(int v) {
    {
      std::lock_guard lock(mutex_);
      queue_.push_back(v);
    }
    ready_.notify_one();
  }
  int receive() {
    std::unique_lock lock(mutex_);
    ready_.wait(lock, [&] { return !queue_.empty(); });
    const int v = queue_.front();
    queue_.pop_front();
    return v;
  }

 private:
  std::mutex mutex_;
  std::condition_variable ready_;
  std::deque<int> queue_;
};

constexpr int messages = 1 << 20;  // per iteration, all producers together

template <class Queue>
void spsc(benchmark::State& state) {
  bool wrong = false;
  for (auto _ : state) {
    Queue q;
    std::thread producer([&q] {
      for (int i = 0; i < messages; ++i) q.send(i);
    });
    std::int64_t sum = 0;
    for (int i = 0; i < messages; ++i) sum += q.receive();
    producer.join();
    wrong = wrong || sum != std::int64_t{messages} * (messages - 1) / 2;
  }
  if (wrong) state.SkipWithError("spsc: the sum of what was received is wrong");
  state.SetItemsProcessed(state.iterations() * messages);
}

template <class Queue>
void mpmc(benchmark::State& state) {
  constexpr int producers = 2;
  constexpr int consumers = 2;
  constexpr int per_producer = messages / producers;
  constexpr int per_consumer = messages / consumers;
  bool wrong = false;
  for (auto _ : state) {
    Queue q;
    std::vector<std::int64_t> sums(consumers, 0);
    std::vector<std::thread> threads;
    for (int p = 0; p < producers; ++p)
      threads.emplace_back([&q] {
        for (int i = 0; i < per_producer; ++i) q.send(i);
      });
    for (int c = 0; c < consumers; ++c)
      threads.emplace_back([&q, &sums, c] {
        std::int64_t sum = 0;
        for (int i = 0; i < per_consumer; ++i) sum += q.receive();
        sums[c] = sum;
      });
    for (auto& t : threads) t.join();
    std::int64_t total = 0;
    for (std::int64_t s : sums) total += s;
    wrong = wrong || total != std::int64_t{producers} * per_producer * (per_producer - 1) / 2;
  }
  if (wrong) state.SkipWithError("mpmc: the sum of what was received is wrong");
  state.SetItemsProcessed(state.iterations() * messages);
}

// Two queues, one each way; the echo thread sends back what it receives. Each round trip
// is timed on its own, so the counters are the median and the 99th percentile.
template <class Queue>
void pingpong(benchmark::State& state) {
  constexpr int rounds = 10'000;  // per iteration
  std::vector<double> round_trip_us;
  bool wrong = false;
  for (auto _ : state) {
    Queue there;
    Queue back;
    std::thread echo([&] {
      for (int i = 0; i < rounds; ++i) back.send(there.receive());
    });
    for (int i = 0; i < rounds; ++i) {
      const auto start = std::chrono::steady_clock::now();
      there.send(i);
      const int reply = back.receive();
      const auto stop = std::chrono::steady_clock::now();
      round_trip_us.push_back(std::chrono::duration<double, std::micro>(stop - start).count());
      wrong = wrong || reply != i;
    }
    echo.join();
  }
  if (wrong || round_trip_us.empty()) {
    state.SkipWithError("pingpong: a reply did not match its request");
    return;
  }
  std::sort(round_trip_us.begin(), round_trip_us.end());
  const auto at = [&](double q) {
    const double last = static_cast<double>(round_trip_us.size() - 1);
    return round_trip_us[static_cast<std::size_t>(q * last)];
  };
  state.counters["median_us"] = at(0.50);
  state.counters["p99_us"] = at(0.99);
  state.SetItemsProcessed(state.iterations() * rounds);
}

}  // namespace

BENCHMARK_TEMPLATE(spsc, bobbin_unbounded)->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK_TEMPLATE(spsc, bobbin_bounded)->UseRealTime()->Unit(benchmark::kMillisecond);
#if BOBBIN_HAVE_MOODYCAMEL
BENCHMARK_TEMPLATE(spsc, moodycamel_blocking)->UseRealTime()->Unit(benchmark::kMillisecond);
#endif
BENCHMARK_TEMPLATE(spsc, mutex_condvar)->UseRealTime()->Unit(benchmark::kMillisecond);

BENCHMARK_TEMPLATE(mpmc, bobbin_unbounded)->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK_TEMPLATE(mpmc, bobbin_bounded)->UseRealTime()->Unit(benchmark::kMillisecond);
#if BOBBIN_HAVE_MOODYCAMEL
BENCHMARK_TEMPLATE(mpmc, moodycamel_blocking)->UseRealTime()->Unit(benchmark::kMillisecond);
#endif
BENCHMARK_TEMPLATE(mpmc, mutex_condvar)->UseRealTime()->Unit(benchmark::kMillisecond);

BENCHMARK_TEMPLATE(pingpong, bobbin_unbounded)->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK_TEMPLATE(pingpong, bobbin_bounded)->UseRealTime()->Unit(benchmark::kMillisecond);
#if BOBBIN_HAVE_MOODYCAMEL
BENCHMARK_TEMPLATE(pingpong, moodycamel_blocking)->UseRealTime()->Unit(benchmark::kMillisecond);
#endif
BENCHMARK_TEMPLATE(pingpong, mutex_condvar)->UseRealTime()->Unit(benchmark::kMillisecond);

BENCHMARK_MAIN();
