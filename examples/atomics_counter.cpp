// Workers share memory the way Node.js workers share a SharedArrayBuffer: each
// increments a shared counter with atomics::add, then a wait/notify handshake hands the
// result back to the main thread, which sleeps in atomics::wait until it is told.
//
// In Node.js:
//   const shared = new Int32Array(new SharedArrayBuffer(8));
//   // in each worker:   for (...) Atomics.add(shared, 0, 1);
//   //                   if (Atomics.add(shared, 1, 1) === workers - 1) Atomics.notify(shared, 1);
//   // in the main thread: Atomics.wait(shared, 1, 0) ... until shared[1] === workers
#include <bobbin/atomics.hpp>
#include <bobbin/shared_buffer.hpp>

#include <cstdint>
#include <cstdio>
#include <thread>
#include <vector>

int main() {
  constexpr std::int32_t workers = 4;
  constexpr std::int32_t increments = 100'000;

  // [counter]
  bobbin::shared_buffer memory(2 * sizeof(std::int32_t));  // zeroed, like new SharedArrayBuffer(8)
  bobbin::typed_array<std::int32_t> shared(memory);        // new Int32Array(memory)
  constexpr std::size_t counter = 0;                       // shared[0]: the count
  constexpr std::size_t done = 1;                          // shared[1]: workers finished

  std::vector<std::jthread> threads;
  for (std::int32_t w = 0; w < workers; ++w) {
    threads.emplace_back([shared] {  // a copy of the view shares the memory
      for (std::int32_t i = 0; i < increments; ++i) bobbin::atomics::add(shared, counter, 1);
      // The last worker to finish wakes the main thread.
      if (bobbin::atomics::add(shared, done, 1) == workers - 1) bobbin::atomics::notify(shared, done);
    });
  }

  // Sleep until the last worker notifies. wait returns not_equal at once if the value
  // has moved on, and a notify that came before the wait is not lost: the loop re-reads.
  for (std::int32_t finished = 0; (finished = bobbin::atomics::load(shared, done)) != workers;) {
    bobbin::atomics::wait(shared, done, finished);
  }
  // [counter]

  const std::int32_t total = bobbin::atomics::load(shared, counter);
  std::printf("%d workers x %d increments = %d\n", workers, increments, total);

  // [handshake]
  // A ping-pong: the main thread serves odd numbers, the partner returns even ones.
  bobbin::shared_buffer ball_memory(sizeof(std::int32_t));
  bobbin::typed_array<std::int32_t> ball(ball_memory);
  constexpr std::int32_t rounds = 5;
  std::jthread partner([ball] {
    for (std::int32_t r = 0; r < rounds; ++r) {
      // Until served. A wake-up is no proof (a late notify from an earlier round may
      // arrive), so the value decides, as in any JavaScript wait loop.
      while (bobbin::atomics::load(ball, 0) == 2 * r) bobbin::atomics::wait(ball, 0, 2 * r);
      std::printf("  partner got %d\n", bobbin::atomics::load(ball, 0));
      bobbin::atomics::store(ball, 0, 2 * r + 2);
      bobbin::atomics::notify(ball, 0);
    }
  });
  for (std::int32_t r = 0; r < rounds; ++r) {
    bobbin::atomics::store(ball, 0, 2 * r + 1);
    bobbin::atomics::notify(ball, 0);
    while (bobbin::atomics::load(ball, 0) == 2 * r + 1) bobbin::atomics::wait(ball, 0, 2 * r + 1);
    std::printf("main got %d\n", bobbin::atomics::load(ball, 0));
  }
  // [handshake]

  return total == workers * increments ? 0 : 1;
}
