// Message ports, the bobbin way of Node.js's MessageChannel:
//
//   const { port1, port2 } = new MessageChannel();
//   port2.on('message', (n) => port2.postMessage(n * n));
//   port1.postMessage(7);
//
// First a thread that serves requests with a receive loop, then the same service as an
// on_message handler run by an executor.

#include <bobbin/channel.hpp>

#include <cstdio>
#include <functional>
#include <string>
#include <thread>
#include <utility>

// [executor]
// The smallest executor there is: one thread running the tasks posted to it, in order.
// Anything with post(task) will do; a bobbin::pool is the usual choice.
class thread_executor {
 public:
  thread_executor() = default;
  thread_executor(const thread_executor&) = delete;
  thread_executor& operator=(const thread_executor&) = delete;
  ~thread_executor() { tasks_.close(); }  // the thread runs what is queued, then stops

  void post(std::function<void()> task) { tasks_.send(std::move(task)); }

 private:
  bobbin::channel<std::function<void()>> tasks_;
  std::jthread thread_{[this] {
    for (auto& task : tasks_) task();
  }};  // declared last: starts after tasks_ exists, is joined before it goes
};
// [executor]

int main() {
  // [serve]
  // port1 sends ints and receives strings; port2 the other way round.
  auto [port1, port2] = bobbin::make_message_channel<int, std::string>();

  // 1. A thread that answers every request until its port is closed.
  std::jthread squarer([port = port2]() mutable {
    for (int n : port) port.post_message(std::to_string(n) + " squared: " + std::to_string(n * n));
  });
  for (int n = 1; n <= 3; ++n) port1.post_message(n);
  for (int n = 1; n <= 3; ++n) std::printf("%s\n", port1.receive().value().c_str());
  port1.close();  // both directions: the squarer's loop ends
  squarer.join();
  // [serve]

  // [handler]
  // 2. The same service as a 'message' handler: one message at a time, in order.
  thread_executor executor;
  auto channel = bobbin::make_message_channel<int, std::string>();
  channel.port2.on_message(
      [reply = channel.port2](int n) mutable {
        reply.post_message(std::to_string(n) + " cubed: " + std::to_string(n * n * n));
      },
      executor);
  for (int n = 1; n <= 3; ++n) channel.port1.post_message(n);
  for (int n = 1; n <= 3; ++n) std::printf("%s\n", channel.port1.receive().value().c_str());
  // The handler holds its own port (to reply); closing lets it go, as port.close() does
  // for a Node port with a 'message' listener.
  channel.port1.close();
  // [handler]
}
