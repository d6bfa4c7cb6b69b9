// example_async_tour: async/await as bobbin spells it, one piece at a time: where a
// coroutine resumes, setTimeout, Promise.race, Atomics.waitAsync, a port's message loop,
// cancellation, lambdas' lifetimes and shutdown. docs/async.md is cut from this file.
#include <bobbin/atomics.hpp>
#include <bobbin/channel.hpp>
#include <bobbin/pool.hpp>
#include <bobbin/shared_buffer.hpp>
#include <bobbin/task.hpp>
#include <bobbin/timer.hpp>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <latch>
#include <optional>
#include <stop_token>
#include <string>
#include <thread>
#include <utility>

using namespace std::chrono_literals;

// [where]
bobbin::task<void> hop(bobbin::pool<>& pool) {
  std::printf("started by sync_wait: on a worker? %s\n", bobbin::this_worker::index() ? "yes" : "no");
  co_await pool.schedule();  // from here on, this coroutine runs on the pool
  std::printf("after schedule(): worker %zu\n", *bobbin::this_worker::index());
  co_await bobbin::sleep_for(1ms);  // resumed by the timer thread's wake-up, on the pool
  std::printf("after sleep_for(): worker %zu\n", *bobbin::this_worker::index());
}
// [where]

// [sleep]
bobbin::task<std::string> after(std::chrono::milliseconds delay, std::string what) {
  co_await bobbin::sleep_for(delay);  // await new Promise(r => setTimeout(r, delay))
  co_return what;
}
// [sleep]

// [race]
bobbin::task<std::string> race() {
  // Promise.race: the first to end wins, and the others' stop tokens are requested, so the
  // hour-long sleep is cut short (it throws task_cancelled) and this takes 10 ms.
  auto first = co_await bobbin::when_any(after(10ms, "fast"), after(1h, "slow"));
  co_return "input " + std::to_string(first.index) + " won: " + first.value;
}
// [race]

// [wait_async]
bobbin::task<int> wait_for_flag(bobbin::typed_array<std::int32_t> flag) {
  while (bobbin::atomics::load(flag, 0) == 0) {
    // await Atomics.waitAsync(flag, 0, 0).value: ok once notified, not_equal if it changed
    bobbin::wait_result r = co_await bobbin::atomics::wait_async(flag, 0, 0);
    std::printf("wait_async: %s\n", bobbin::to_string(r).data());
  }
  co_return bobbin::atomics::load(flag, 0);
}
// [wait_async]

// [port_loop]
// port.on('message', m => port.postMessage(m.length)), as a loop in a coroutine
bobbin::task<void> serve(bobbin::message_port<std::size_t, std::string> port) {
  while (auto m = co_await port.async_receive()) port.post_message(m->size());
  // nullopt: the port was closed (by either end) and drained; the coroutine ends
}
// [port_loop]

// [cancel]
bobbin::task<int> ticker() {
  int ticks = 0;
  try {
    for (;;) {
      co_await bobbin::sleep_for(1ms);  // setInterval(tick, 1)
      ++ticks;
    }
  } catch (const bobbin::task_cancelled&) {
    // the stop token was requested while the coroutine slept: sleep_for threw
  }
  std::stop_token stop = co_await bobbin::this_task::stop_token();
  std::printf("ticked %d times, stop requested: %s\n", ticks, stop.stop_requested() ? "yes" : "no");
  co_return ticks;
}
// [cancel]

int main() {
  bobbin::pool<> pool({.threads = 2});

  // [where_run]
  bobbin::sync_wait(hop(pool));
  // [where_run]

  // [race_run]
  std::printf("%s\n", pool.submit(race).get().c_str());
  // [race_run]

  // [wait_async_run]
  bobbin::shared_buffer buffer(4);
  bobbin::typed_array<std::int32_t> flag(buffer);  // Int32Array, zeroed
  bobbin::future<int> waiting = pool.submit(wait_for_flag, flag);
  bobbin::atomics::store(flag, 0, 42);
  bobbin::atomics::notify(flag, 0);
  std::printf("the flag is %d\n", waiting.get());
  // [wait_async_run]

  // [port_loop_run]
  auto [client, server] = bobbin::make_message_channel<std::string, std::size_t>();
  pool.post(serve, std::move(server));
  client.post_message("hello");
  std::printf("\"hello\" has %zu letters\n", client.receive().value());
  client.close();  // closes both ways: serve's loop gets nullopt and ends
  // [port_loop_run]

  // [cancel_run]
  bobbin::future<int> ticking = pool.submit(ticker);
  std::this_thread::sleep_for(20ms);
  ticking.cancel();  // started: requests its stop token (a task still queued never runs)
  try {
    std::printf("the ticker returned %d\n", ticking.get());
  } catch (const bobbin::task_cancelled&) {
    std::printf("the ticker was cancelled before it started\n");
  }
  // [cancel_run]

  // [lifetimes]
  const std::string name = "bobbin";
  // pool.submit and pool.post keep the lambda, its captures and the arguments alive until
  // the coroutine ends, however long it is suspended.
  bobbin::future<std::string> a = pool.submit([name]() -> bobbin::task<std::string> {
    co_await bobbin::sleep_for(1ms);
    co_return "submitted, " + name;
  });
  // Called directly, a lambda coroutine reads its captures through the lambda object, so
  // that object must outlive the task: keep it in a variable that does.
  auto greet = [name]() -> bobbin::task<std::string> {
    co_await bobbin::sleep_for(1ms);
    co_return "captured, " + name;
  };
  bobbin::task<std::string> b = greet();  // fine while greet lives
  // Parameters taken by value are copied into the coroutine's frame: no captures, no risk.
  auto hello = [](std::string who) -> bobbin::task<std::string> {
    co_await bobbin::sleep_for(1ms);
    co_return "a parameter, " + who;
  };
  bobbin::task<std::string> c = hello(name);  // owns its copy of name
  std::printf("%s; %s; %s\n", a.get().c_str(), bobbin::sync_wait(std::move(b)).c_str(),
              bobbin::sync_wait(std::move(c)).c_str());
  // [lifetimes]

  // [wait_idle]
  std::atomic<int> woke{0};
  for (int i = 0; i < 4; ++i) {
    pool.post([&woke]() -> bobbin::task<void> {
      co_await bobbin::sleep_for(5ms);  // suspended, and still counted as one task of the pool
      ++woke;
    });
  }
  pool.wait_idle();  // returns once all four have ended
  std::printf("%d coroutines woke before wait_idle() returned\n", woke.load());
  // [wait_idle]

  // [shutdown_now]
  bobbin::pool<> other({.threads = 1});
  std::latch started(2);
  auto sleeper = other.submit([&started]() -> bobbin::task<std::string> {
    started.count_down();
    try {
      co_await bobbin::sleep_for(1h);
    } catch (const bobbin::task_cancelled&) {
      co_return "sleep_for threw task_cancelled";
    }
    co_return "slept for an hour";
  });
  bobbin::channel<int> inbox;  // nobody sends to it
  auto reader = other.submit(
      [&started](bobbin::channel<int> in) -> bobbin::task<std::string> {
        started.count_down();
        std::optional<int> m = co_await in.async_receive();
        co_return m ? "received a message" : "async_receive gave nullopt";
      },
      inbox);
  started.wait();        // both have started (one still queued would be cancelled: task_cancelled)
  other.shutdown_now();  // requests every stop token: both resume, end, and are destroyed
  std::printf("%s; %s\n", sleeper.get().c_str(), reader.get().c_str());
  // [shutdown_now]

  return woke.load() == 4 ? 0 : 1;
}
