// The short tour of docs/index.md: a pool, fork-join, a channel, a message port, and
// shared memory with atomics, in one program.
#include <bobbin/bobbin.hpp>
#include <bobbin/channel.hpp>

#include <cstdint>
#include <cstdio>
#include <functional>
#include <string>

int main() {
  // [pool]
  bobbin::pool<> pool;  // one worker per hardware thread, work-stealing
  bobbin::future<int> square = pool.submit([](int x) { return x * x; }, 12);
  std::printf("12 * 12 = %d\n", square.get());
  // [pool]

  // [fork_join]
  const long sum = bobbin::parallel_reduce(pool, 0L, 1'000'000L, 0L, [](long i) { return i % 3; }, std::plus<>{});
  std::printf("sum of i %% 3 below a million = %ld\n", sum);
  // [fork_join]

  // [channel]
  bobbin::channel<std::string> lines(bobbin::capacity{16});  // copies are handles
  pool.post([lines]() mutable {
    for (int i = 1; i <= 3; ++i) lines.send("line " + std::to_string(i));
    lines.close();  // the loop below ends once it has drained the channel
  });
  for (auto&& line : lines) std::printf("received %s\n", line.c_str());
  // [channel]

  // [port]
  auto [port1, port2] = bobbin::make_message_channel<int, std::string>();
  port2.on_message([reply = port2](int n) mutable { reply.post_message(std::to_string(2 * n)); }, pool);
  port1.post_message(21);
  std::printf("port2 answered %s\n", port1.receive().value().c_str());
  port1.close();  // closes both ways; the handler, which holds port2, is then released
  // [port]

  // [shared]
  bobbin::shared_buffer buffer(64);                    // SharedArrayBuffer: 64 zeroed bytes
  bobbin::typed_array<std::int32_t> counters(buffer);  // Int32Array over it
  bobbin::parallel_for(pool, 0, 10'000, [counters](int) { bobbin::atomics::add(counters, 0, 1); });
  std::printf("counter = %d\n", bobbin::atomics::load(counters, 0));
  // [shared]
}
