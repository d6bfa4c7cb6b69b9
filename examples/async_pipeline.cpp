// example_async_pipeline [items]: four coroutine stages on a pool of two threads,
// produce -> decode -> resize -> consume, joined by bounded channels of 8 messages.
//
// With blocking channels each stage needs a thread of its own: on two threads, two stages
// blocked in send() or receive() hold both threads, the other two never run, and the
// pipeline deadlocks. A coroutine that awaits async_send or async_receive suspends
// instead and gives its thread back to the pool, so any number of stages share two
// threads (one would do), and backpressure still holds: a stage whose output channel is
// full waits there, so at most a few dozen items are in flight, whatever their number.

#include <bobbin/channel.hpp>
#include <bobbin/pool.hpp>
#include <bobbin/task.hpp>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <numeric>
#include <optional>
#include <utility>
#include <vector>

struct packet {  // what arrives: compressed
  int id;
  std::vector<std::uint8_t> bytes;
};

struct image {
  int id;
  std::vector<std::uint8_t> pixels;
};

struct thumbnail {
  int id;
  std::uint64_t checksum;
};

// [stages]
// Each stage takes its channels by value: a coroutine's parameters are copied into its
// frame, so the handles stay valid however long it is suspended.
bobbin::task<void> produce(int items, bobbin::channel<packet> out) {
  for (int id = 0; id < items; ++id) {
    packet p{id, std::vector<std::uint8_t>(64, static_cast<std::uint8_t>(id))};
    if (!co_await out.async_send(std::move(p))) break;  // suspends while full; false: closed
  }
  out.close();  // no more packets: decode drains the channel, then its loop ends
}

bobbin::task<void> decode(bobbin::channel<packet> in, bobbin::channel<image> out) {
  while (auto p = co_await in.async_receive()) {  // nullopt once closed and drained
    image img{p->id, {}};
    for (std::uint8_t b : p->bytes) img.pixels.insert(img.pixels.end(), 16, b);  // "decompress"
    if (!co_await out.async_send(std::move(img))) break;
  }
  out.close();
}

bobbin::task<void> resize(bobbin::channel<image> in, bobbin::channel<thumbnail> out) {
  while (auto img = co_await in.async_receive()) {
    const auto sum = std::accumulate(img->pixels.begin(), img->pixels.end(), std::uint64_t{0});
    if (!co_await out.async_send(thumbnail{img->id, sum})) break;
  }
  out.close();
}

bobbin::task<std::vector<int>> consume(bobbin::channel<thumbnail> in) {
  std::vector<int> ids;  // in the order they came out
  while (auto t = co_await in.async_receive()) ids.push_back(t->id);
  co_return ids;
}
// [stages]

int main(int argc, char** argv) {
  const long n = argc > 1 ? std::atol(argv[1]) : 100;
  if (n < 0 || n > 100'000'000) {
    std::fprintf(stderr, "usage: %s [items (0..100000000), default 100]\n", argv[0]);
    return 2;
  }
  const int items = static_cast<int>(n);

  // [channels]
  bobbin::pool<> pool({.threads = 2});
  bobbin::channel<packet> packets(bobbin::capacity{8});
  bobbin::channel<image> images(bobbin::capacity{8});
  bobbin::channel<thumbnail> thumbnails(bobbin::capacity{8});
  // [channels]

  const auto start = std::chrono::steady_clock::now();
  // [run]
  // Every stage a coroutine on the same pool; the last one's result comes back in a future.
  pool.post(produce, items, packets);
  pool.post(decode, packets, images);
  pool.post(resize, images, thumbnails);
  bobbin::future<std::vector<int>> consumed = pool.submit(consume, thumbnails);
  const std::vector<int> ids = consumed.get();
  // [run]
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();

  std::vector<int> expected(static_cast<std::size_t>(items));
  std::iota(expected.begin(), expected.end(), 0);
  if (ids != expected) {
    std::fprintf(stderr, "wrong output: %zu items came out of %d, or out of order\n", ids.size(), items);
    return 1;
  }
  std::printf("%d items through 4 stages on %zu threads, each once and in order: %.0f items/s\n", items, pool.size(),
              seconds > 0 ? items / seconds : 0.0);
  return 0;
}
