// bobbin::broadcast_channel: every subscriber sees every message in one order; dropped
// subscribers cost nothing and block nobody; close ends everyone after they drain.

#include <bobbin/channel.hpp>

#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "support/counted.hpp"
#include "support/moved_from.hpp"

namespace {

using namespace std::chrono_literals;

// One thread taking tasks from a queue; the destructor runs what is queued, then joins.
class test_executor {
 public:
  test_executor() : worker_([this] { run(); }) {}
  test_executor(const test_executor&) = delete;
  test_executor& operator=(const test_executor&) = delete;
  ~test_executor() {
    {
      std::lock_guard lock(mutex_);
      stopping_ = true;
    }
    wake_.notify_all();
    worker_.join();
  }

  void post(std::function<void()> task) {
    {
      std::lock_guard lock(mutex_);
      tasks_.push_back(std::move(task));
    }
    wake_.notify_one();
  }

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
      task();
    }
  }

  std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<std::function<void()>> tasks_;
  bool stopping_ = false;
  std::thread worker_;  // last: starts once the rest is ready
};

using counted = bobbin_test::counted<>;  // counted::live: its objects

}  // namespace

TEST_CASE("every subscriber sees every message, all in the same order" * doctest::timeout(60)) {
  bobbin::broadcast_channel<std::int64_t> bc;
  constexpr int subscribers = 3;
  constexpr int posters = 2;
  constexpr int per_poster = 20'000;
  std::vector<bobbin::broadcast_receiver<std::int64_t>> subs;
  for (int i = 0; i < subscribers; ++i) subs.push_back(bc.subscribe());
  CHECK(bc.subscriber_count() == subscribers);

  std::vector<std::vector<std::int64_t>> seen(subscribers);
  std::vector<std::thread> readers;
  for (int i = 0; i < subscribers; ++i)
    readers.emplace_back([&seen, sub = subs[i], i]() mutable {
      for (auto&& v : sub) seen[i].push_back(v);
    });
  std::vector<std::thread> writers;
  for (int p = 0; p < posters; ++p)
    writers.emplace_back([bc, p]() mutable {
      for (int i = 0; i < per_poster; ++i) bc.post_message(std::int64_t{p} * per_poster + i);
    });
  for (auto& t : writers) t.join();
  bc.close();
  for (auto& t : readers) t.join();

  for (int i = 0; i < subscribers; ++i) {
    CAPTURE(i);
    CHECK(seen[i].size() == static_cast<std::size_t>(posters) * per_poster);
    CHECK(seen[i] == seen[0]);  // one order for everybody
  }
  std::vector<std::int64_t> last(posters, -1);
  bool ordered = true;
  for (std::int64_t v : seen[0]) {
    const auto p = static_cast<std::size_t>(v / per_poster);
    if (v <= last[p]) ordered = false;
    last[p] = v;
  }
  CHECK(ordered);
}

TEST_CASE("a dropped subscriber stops receiving and blocks nobody") {
  counted::reset();
  {
    bobbin::broadcast_channel<counted> bc;
    auto kept = bc.subscribe();
    {
      auto dropped = bc.subscribe();
      auto copy = dropped;
      for (int i = 0; i < 100; ++i) bc.post_message(counted(i));  // queued in both
      CHECK(bc.subscriber_count() == 2);
    }
    // The dropped subscriber's queue is gone with it.
    CHECK(counted::live.load() == 100);
    for (int i = 100; i < 100'000; ++i) REQUIRE(bc.post_message(counted(i)));
    CHECK(bc.subscriber_count() == 1);
    for (int i = 0; i < 100'000; ++i) REQUIRE(kept.try_receive()->value == i);
    CHECK_FALSE(kept.try_receive().has_value());
    bc.post_message(counted(-1));  // left queued in `kept`
  }
  CHECK(counted::live.load() == 0);
}

TEST_CASE("close ends every subscriber after it drains") {
  bobbin::broadcast_channel<int> bc;
  auto a = bc.subscribe();
  auto b = bc.subscribe();
  for (int i = 0; i < 3; ++i) REQUIRE(bc.post_message(i));
  bc.close();
  bc.close();  // idempotent
  CHECK(bc.closed());
  CHECK_FALSE(bc.post_message(3));
  for (auto* sub : {&a, &b}) {
    CHECK(sub->closed());
    for (int i = 0; i < 3; ++i) CHECK(sub->receive() == i);
    CHECK_FALSE(sub->receive().has_value());
  }
  auto late = bc.subscribe();
  CHECK(late.closed());
  CHECK_FALSE(late.receive().has_value());
}

TEST_CASE("a subscriber blocked in receive wakes on close" * doctest::timeout(30)) {
  bobbin::broadcast_channel<int> bc;
  auto sub = bc.subscribe();
  std::optional<int> got = 0;
  std::thread reader([&] { got = sub.receive(); });
  std::this_thread::sleep_for(20ms);
  bc.close();
  reader.join();
  CHECK_FALSE(got.has_value());
}

TEST_CASE("the last channel handle going ends the subscribers after they drain") {
  std::optional<bobbin::broadcast_receiver<int>> sub;
  {
    bobbin::broadcast_channel<int> bc;
    sub = bc.subscribe();
    bc.post_message(1);
  }
  CHECK(sub->receive() == 1);
  CHECK_FALSE(sub->receive().has_value());
}

TEST_CASE("a late subscriber gets only what is posted after it subscribed") {
  // [late]
  bobbin::broadcast_channel<int> bc;
  auto early = bc.subscribe();
  bc.post_message(1);
  auto late = bc.subscribe();
  bc.post_message(2);
  CHECK(early.try_receive() == 1);
  CHECK(early.try_receive() == 2);
  CHECK(late.try_receive() == 2);
  CHECK_FALSE(late.try_receive().has_value());
  // [late]
}

TEST_CASE("receiver.close() unsubscribes; the others go on") {
  bobbin::broadcast_channel<int> bc;
  auto a = bc.subscribe();
  auto b = bc.subscribe();
  bc.post_message(1);
  b.close();
  bc.post_message(2);
  CHECK(a.receive() == 1);
  CHECK(a.receive() == 2);
  CHECK(b.receive() == 1);
  CHECK_FALSE(b.receive().has_value());
  CHECK(b.closed());
  CHECK_FALSE(a.closed());
}

TEST_CASE("timed receive on a subscriber") {
  bobbin::broadcast_channel<int> bc;
  auto sub = bc.subscribe();
  const auto start = std::chrono::steady_clock::now();
  CHECK_FALSE(sub.receive_for(20ms).has_value());
  CHECK(std::chrono::steady_clock::now() - start >= 20ms);
  bc.post_message(3);
  CHECK(sub.receive_until(std::chrono::steady_clock::now() + 1s) == 3);
}

TEST_CASE("on_message on subscribers: each handler sees every message in order" * doctest::timeout(30)) {
  test_executor executor;
  bobbin::broadcast_channel<int> bc;
  constexpr int n = 5'000;
  std::vector<int> seen_a;
  std::vector<int> seen_b;
  bobbin::channel<int> done;
  auto a = bc.subscribe();
  auto b = bc.subscribe();
  a.on_message(
      [&seen_a, done](int v) mutable {
        seen_a.push_back(v);
        if (v == n - 1) done.send(0);
      },
      executor);
  b.on_message(
      [&seen_b, done](int v) mutable {
        seen_b.push_back(v);
        if (v == n - 1) done.send(1);
      },
      executor);
  for (int i = 0; i < n; ++i) bc.post_message(i);
  REQUIRE(done.receive_for(10s).has_value());
  REQUIRE(done.receive_for(10s).has_value());
  std::vector<int> expected(n);
  for (int i = 0; i < n; ++i) expected[i] = i;
  CHECK(seen_a == expected);
  CHECK(seen_b == expected);
}

using bobbin_test::refuses_moved_from;

TEST_CASE("a moved-from broadcast channel or receiver is empty: clear errors, no null dereference") {
  bobbin::broadcast_channel<int> bc;
  auto sub = bc.subscribe();
  auto bc2 = std::move(bc);
  auto sub2 = std::move(sub);
  const std::string channel_type = "bobbin::broadcast_channel";
  CHECK(refuses_moved_from([&] { bc.post_message(1); }, channel_type));
  CHECK(refuses_moved_from([&] { (void)bc.subscribe(); }, channel_type));
  CHECK_NOTHROW(bc.close());
  CHECK(bc.closed());
  CHECK(bc.subscriber_count() == 0);
  CHECK_FALSE(bc == bc2);

  const std::string receiver_type = "bobbin::broadcast_receiver";
  CHECK(refuses_moved_from([&] { (void)sub.receive(); }, receiver_type));
  CHECK(refuses_moved_from([&] { (void)sub.try_receive(); }, receiver_type));
  CHECK(refuses_moved_from([&] { (void)sub.receive_for(1ms); }, receiver_type));
  CHECK(refuses_moved_from([&] { (void)sub.receive_until(std::chrono::steady_clock::now()); }, receiver_type));
  CHECK(refuses_moved_from(
      [&] {
        for (int m : sub) (void)m;
      },
      receiver_type));
  test_executor ex;
  CHECK(refuses_moved_from([&] { sub.on_message([](int) {}, ex); }, receiver_type));
  CHECK_NOTHROW(sub.close());
  CHECK(sub.closed());
  CHECK_FALSE(sub == sub2);

  // Both live on in the handles they were moved to.
  CHECK(bc2.subscriber_count() == 1);
  REQUIRE(bc2.post_message(5));
  CHECK(sub2.try_receive() == 5);
  bc = bc2;  // assigned to: a handle again
  sub = sub2;
  REQUIRE(bc.post_message(6));
  CHECK(sub.try_receive() == 6);
}
