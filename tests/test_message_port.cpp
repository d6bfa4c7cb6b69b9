// bobbin::make_message_channel: ports in order both ways, close from either side, and
// on_message (one handler at a time per port, in order) on a small executor of our own.

#include <bobbin/channel.hpp>
#include <bobbin/pool.hpp>

#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "support/moved_from.hpp"

namespace {

using namespace std::chrono_literals;

// A few threads taking tasks from one queue: with more than one, two handlers of a port
// would run at once if the port let them. Exceptions that escape a task are counted.
// The destructor runs what is queued, then joins.
class test_executor {
 public:
  explicit test_executor(int threads) {
    for (int i = 0; i < threads; ++i) workers_.emplace_back([this] { run(); });
  }
  test_executor(const test_executor&) = delete;
  test_executor& operator=(const test_executor&) = delete;
  ~test_executor() {
    {
      std::lock_guard lock(mutex_);
      stopping_ = true;
    }
    wake_.notify_all();
    for (auto& t : workers_) t.join();
  }

  void post(std::function<void()> task) {
    {
      std::lock_guard lock(mutex_);
      tasks_.push_back(std::move(task));
    }
    wake_.notify_one();
  }

  long errors() const { return errors_.load(); }

 private:
  void run() {
    for (;;) {
      std::function<void()> task;
      {
        std::unique_lock lock(mutex_);
        wake_.wait(lock, [&] { return stopping_ || !tasks_.empty(); });
        if (tasks_.empty()) return;
        task = std::move(tasks_.front());
        tasks_.pop_front();
      }
      try {
        task();
      } catch (...) {
        ++errors_;
      }
    }
  }

  std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<std::function<void()>> tasks_;
  bool stopping_ = false;
  std::atomic<long> errors_{0};
  std::vector<std::thread> workers_;
};

static_assert(bobbin::detail::executor<test_executor>);

struct tagged {
  int sender;
  int seq;
};

}  // namespace

TEST_CASE("ports deliver in order both ways" * doctest::timeout(60)) {
  auto [port1, port2] = bobbin::make_message_channel<int, std::string>();
  constexpr int n = 20'000;
  std::vector<int> at_port2;
  std::vector<std::string> at_port1;
  std::thread side1([&, p = port1]() mutable {
    for (int i = 0; i < n; ++i) p.post_message(i);
    for (int i = 0; i < n; ++i) at_port1.push_back(p.receive().value_or("?"));
  });
  std::thread side2([&, p = port2]() mutable {
    for (int i = 0; i < n; ++i) p.post_message(std::to_string(i));
    for (int i = 0; i < n; ++i) at_port2.push_back(p.receive().value_or(-1));
  });
  side1.join();
  side2.join();
  bool ok1 = true;
  bool ok2 = true;
  for (int i = 0; i < n; ++i) {
    ok1 = ok1 && at_port1[i] == std::to_string(i);
    ok2 = ok2 && at_port2[i] == i;
  }
  CHECK(ok1);
  CHECK(ok2);
  CHECK_FALSE(port1.try_receive().has_value());
  CHECK_FALSE(port2.try_receive().has_value());
}

TEST_CASE("close on either port closes both ways; the peer drains first") {
  for (int closer = 1; closer <= 2; ++closer) {
    CAPTURE(closer);
    auto [port1, port2] = bobbin::make_message_channel<std::unique_ptr<int>, int>();
    REQUIRE(port1.post_message(std::make_unique<int>(1)));
    REQUIRE(port1.post_message(std::make_unique<int>(2)));
    REQUIRE(port2.post_message(10));
    if (closer == 1) {
      port1.close();
    } else {
      port2.close();
    }
    port1.close();  // idempotent
    CHECK(port1.closed());
    CHECK(port2.closed());

    auto kept = std::make_unique<int>(3);
    CHECK_FALSE(port1.post_message(std::move(kept)));
    CHECK(kept != nullptr);
    CHECK_FALSE(port2.post_message(11));

    CHECK(*port2.receive().value() == 1);
    CHECK(*port2.receive().value() == 2);
    CHECK_FALSE(port2.receive().has_value());
    CHECK(port1.receive() == 10);
    CHECK_FALSE(port1.receive().has_value());
  }
}

TEST_CASE("the last handle of a port closes it; the peer sees the end after draining") {
  auto channel = bobbin::make_message_channel<int>();
  bobbin::message_port<int> peer = channel.port2;
  {
    auto port1 = std::move(channel.port1);
    auto copy = port1;
    port1.post_message(1);
    copy.post_message(2);
  }
  CHECK(peer.closed());
  CHECK(peer.receive() == 1);
  CHECK(peer.receive() == 2);
  CHECK_FALSE(peer.receive().has_value());
  CHECK_FALSE(peer.post_message(3));
}

TEST_CASE("a receiver blocked on a port wakes when the peer closes" * doctest::timeout(30)) {
  auto [port1, port2] = bobbin::make_message_channel<int>();
  std::optional<int> got = 0;
  std::thread receiver([&, p = port2]() mutable { got = p.receive(); });
  std::this_thread::sleep_for(20ms);
  port1.close();
  receiver.join();
  CHECK_FALSE(got.has_value());
}

TEST_CASE("timed receive on a port") {
  auto [port1, port2] = bobbin::make_message_channel<int>();
  const auto start = std::chrono::steady_clock::now();
  CHECK_FALSE(port1.receive_for(20ms).has_value());
  CHECK(std::chrono::steady_clock::now() - start >= 20ms);
  port2.post_message(5);
  CHECK(port1.receive_until(std::chrono::steady_clock::now() + 1s) == 5);
}

TEST_CASE("range-for over a port ends when the peer closes") {
  auto [port1, port2] = bobbin::make_message_channel<int>();
  std::jthread peer([p = port2]() mutable {
    for (int i = 1; i <= 100; ++i) p.post_message(i);
    p.close();
  });
  int sum = 0;
  for (int v : port1) sum += v;
  CHECK(sum == 5050);
}

TEST_CASE("on_message: one handler at a time per port, in each sender's order" * doctest::timeout(60)) {
  test_executor executor(4);
  auto [port1, port2] = bobbin::make_message_channel<tagged, int>();
  constexpr int senders = 3;
  constexpr int per_sender = 10'000;
  std::atomic<bool> busy{false};
  std::atomic<int> overlaps{0};
  std::vector<tagged> seen;  // touched only by handlers: a race here is TSan's to report
  bobbin::channel<int> done;
  // `done` by value: a handle of its own, alive while the handler uses it.
  port2.on_message(
      [&busy, &overlaps, &seen, done](tagged m) mutable {
        if (busy.exchange(true)) ++overlaps;
        seen.push_back(m);
        busy = false;
        if (seen.size() == senders * per_sender) done.send(1);
      },
      executor);
  std::vector<std::thread> threads;
  for (int s = 0; s < senders; ++s)
    threads.emplace_back([s, p = port1]() mutable {
      for (int i = 0; i < per_sender; ++i) p.post_message(tagged{s, i});
    });
  for (auto& t : threads) t.join();
  REQUIRE(done.receive_for(30s).has_value());
  CHECK(overlaps.load() == 0);
  std::vector<int> next(senders, 0);
  bool in_order = true;
  for (const tagged& m : seen) {
    if (m.seq != next[m.sender]) in_order = false;
    ++next[m.sender];
  }
  CHECK(in_order);
  CHECK(next == std::vector<int>(senders, per_sender));
  CHECK(executor.errors() == 0);
}

TEST_CASE("on_message gets what was posted before it was set; it may be set only once") {
  test_executor executor(2);
  auto [port1, port2] = bobbin::make_message_channel<int>();
  for (int i = 0; i < 10; ++i) port1.post_message(i);
  bobbin::channel<int> seen;
  port2.on_message([seen](int v) mutable { seen.send(v); }, executor);
  for (int i = 0; i < 10; ++i) CHECK(seen.receive_for(10s) == i);
  CHECK_THROWS_AS(port2.on_message([](int) {}, executor), std::logic_error);
}

TEST_CASE("receive and on_message share one queue: each message goes to one of them" * doctest::timeout(60)) {
  test_executor executor(2);
  auto [port1, port2] = bobbin::make_message_channel<int>();
  constexpr int n = 20'000;
  std::atomic<long> by_handler{0};
  std::atomic<int> handled{0};
  port2.on_message(
      [&](int v) {
        by_handler += v;
        ++handled;
      },
      executor);
  std::thread sender([p = port1]() mutable {
    for (int i = 1; i <= n; ++i) p.post_message(i);
    p.close();
  });
  long by_receive = 0;
  int received = 0;
  for (int v : port2) {
    by_receive += v;
    ++received;
  }
  sender.join();
  // The receive loop ended: everything was taken by one side or the other; wait for the
  // handlers still running.
  const auto deadline = std::chrono::steady_clock::now() + 30s;
  while (received + handled.load() < n && std::chrono::steady_clock::now() < deadline) std::this_thread::sleep_for(1ms);
  CHECK(received + handled.load() == n);
  CHECK(by_receive + by_handler.load() == static_cast<long>(n) * (n + 1) / 2);
}

TEST_CASE("handlers on both ports bounce a message back and forth" * doctest::timeout(60)) {
  test_executor executor(2);
  auto [port1, port2] = bobbin::make_message_channel<int>();
  constexpr int rounds = 2'000;
  bobbin::channel<int> done;
  port2.on_message([reply = port2](int v) mutable { reply.post_message(v + 1); }, executor);
  port1.on_message(
      [reply = port1, done](int v) mutable {
        if (v >= rounds) {
          done.send(v);
        } else {
          reply.post_message(v + 1);
        }
      },
      executor);
  port1.post_message(0);
  CHECK(done.receive_for(30s) == rounds + 1);  // port1 sees the odd numbers
  port1.close();  // the handlers hold their own ports: closing lets them go
}

TEST_CASE("a handler that throws: the executor gets the exception, delivery goes on") {
  test_executor executor(2);
  auto [port1, port2] = bobbin::make_message_channel<int>();
  bobbin::channel<int> seen;
  port2.on_message(
      [seen](int v) mutable {
        seen.send(v);
        if (v % 3 == 0) throw std::runtime_error("handler failed");
      },
      executor);
  for (int i = 1; i <= 9; ++i) port1.post_message(i);
  for (int i = 1; i <= 9; ++i) CHECK(seen.receive_for(10s) == i);
  port1.close();
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  while (executor.errors() < 3 && std::chrono::steady_clock::now() < deadline) std::this_thread::sleep_for(1ms);
  CHECK(executor.errors() == 3);
}

TEST_CASE("a handler that holds its own port is released once the port closes" * doctest::timeout(30)) {
  test_executor executor(1);
  auto token = std::make_shared<int>(0);
  {
    auto [port1, port2] = bobbin::make_message_channel<int>();
    port2.on_message([self = port2, token](int) {}, executor);
    port1.post_message(1);
    CHECK(token.use_count() == 2);
    port1.close();
  }
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  while (token.use_count() > 1 && std::chrono::steady_clock::now() < deadline) std::this_thread::sleep_for(1ms);
  CHECK(token.use_count() == 1);
}

TEST_CASE("move-only messages through ports and handlers") {
  test_executor executor(1);
  auto [port1, port2] = bobbin::make_message_channel<std::unique_ptr<int>, std::unique_ptr<std::string>>();
  bobbin::channel<int> seen;
  port2.on_message([seen](std::unique_ptr<int> p) mutable { seen.send(*p); }, executor);
  port1.post_message(std::make_unique<int>(41));
  CHECK(seen.receive_for(10s) == 41);
  port2.post_message(std::make_unique<std::string>("back"));
  CHECK(*port1.receive().value() == "back");
}

TEST_CASE("on_message with a bobbin::pool as the executor" * doctest::timeout(60)) {
  static_assert(bobbin::detail::executor<bobbin::pool<>>);
  bobbin::pool<> pool(bobbin::pool_options{.threads = 2});
  auto [port1, port2] = bobbin::make_message_channel<int>();
  constexpr int n = 5'000;
  std::atomic<bool> busy{false};
  std::atomic<int> overlaps{0};
  std::vector<int> seen;
  bobbin::channel<int> done;
  port2.on_message(
      [&busy, &overlaps, &seen, done](int v) mutable {
        if (busy.exchange(true)) ++overlaps;
        seen.push_back(v);
        busy = false;
        if (v == n - 1) done.send(0);
      },
      pool);
  for (int i = 0; i < n; ++i) port1.post_message(i);
  REQUIRE(done.receive_for(30s).has_value());
  CHECK(overlaps.load() == 0);
  std::vector<int> expected(n);
  for (int i = 0; i < n; ++i) expected[i] = i;
  CHECK(seen == expected);
  port1.close();
}

using bobbin_test::refuses_moved_from;

TEST_CASE("a moved-from port is empty: clear errors, no null dereference") {
  auto channel = bobbin::make_message_channel<std::string, int>();
  auto& port1 = channel.port1;  // not a structured binding: lambdas below capture it
  auto& port2 = channel.port2;
  auto moved = std::move(port1);
  const std::string type = "bobbin::message_port";
  const std::string v = "v";
  CHECK(refuses_moved_from([&] { port1.post_message(v); }, type));
  CHECK(refuses_moved_from([&] { port1.post_message(std::string("v")); }, type));
  CHECK(refuses_moved_from([&] { (void)port1.receive(); }, type));
  CHECK(refuses_moved_from([&] { (void)port1.try_receive(); }, type));
  CHECK(refuses_moved_from([&] { (void)port1.receive_for(1ms); }, type));
  CHECK(refuses_moved_from([&] { (void)port1.receive_until(std::chrono::steady_clock::now()); }, type));
  CHECK(refuses_moved_from(
      [&] {
        for (int m : port1) (void)m;
      },
      type));
  test_executor ex(1);
  CHECK(refuses_moved_from([&] { port1.on_message([](int) {}, ex); }, type));
  CHECK_NOTHROW(port1.close());  // nothing to close: the port lives on in `moved`
  CHECK(port1.closed());
  CHECK_FALSE(port1 == moved);
  CHECK_FALSE(moved.closed());
  REQUIRE(moved.post_message("hello"));
  CHECK(port2.try_receive() == "hello");
  port1 = moved;  // assigned to: a handle again
  REQUIRE(port2.post_message(3));
  CHECK(port1.try_receive() == 3);
}
