// bobbin::channel<T>: MPMC stress, close semantics, bounded behaviour, timeouts, payload
// lifetimes and exception safety. Threads never assert: they collect, the test checks.

#include <bobbin/channel.hpp>

#include <doctest/doctest.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <numeric>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "support/counted.hpp"
#include "support/moved_from.hpp"

namespace {

using namespace std::chrono_literals;
using clock_type = std::chrono::steady_clock;

// Capacities to run the shared cases over: 0 means unbounded; 1 and 2 wrap the ring
// around on almost every message.
constexpr std::size_t capacities[] = {0, 1, 2, 64};

template <class T>
bobbin::channel<T> make_channel(std::size_t cap) {
  return cap == 0 ? bobbin::channel<T>() : bobbin::channel<T>(bobbin::capacity{cap});
}

// Counts constructions and destructions (counted::live); a destructor that runs twice on one
// object (or on garbage) is counted as a bad destruction (counted::bad_destructions).
using counted = bobbin_test::counted<>;

// Copying throws while armed (only the main thread copies it).
struct throws_on_copy {
  static inline bool armed = false;
  int value = 0;
  explicit throws_on_copy(int v) : value(v) {}
  throws_on_copy(const throws_on_copy& o) : value(o.value) {
    if (armed) throw std::runtime_error("copy refused");
  }
  throws_on_copy(throws_on_copy&&) noexcept = default;
};

template <class F>
double elapsed_ms(F&& f) {
  const auto start = clock_type::now();
  f();
  return std::chrono::duration<double, std::milli>(clock_type::now() - start).count();
}

}  // namespace

TEST_CASE("unbounded channel: FIFO for one thread, try_receive, size") {
  bobbin::channel<int> ch;
  CHECK(ch.size() == 0);
  CHECK_FALSE(ch.try_receive().has_value());
  // Enough to span several segments and to recycle the first ones.
  constexpr int n = 5000;
  for (int i = 0; i < n; ++i) REQUIRE(ch.send(i));
  CHECK(ch.size() == n);
  for (int i = 0; i < n; ++i) REQUIRE(ch.try_receive() == i);
  CHECK(ch.size() == 0);
  CHECK_FALSE(ch.try_receive().has_value());
  // Interleaved, with a backlog that wanders across segment boundaries.
  int next_in = 0;
  int next_out = 0;
  for (int round = 0; round < 200; ++round) {
    for (int k = 0; k < 37; ++k) ch.send(next_in++);
    for (int k = 0; k < 29 && next_out < next_in; ++k) REQUIRE(ch.receive() == next_out++);
  }
  while (next_out < next_in) REQUIRE(ch.receive() == next_out++);
}

TEST_CASE("copies are handles to one channel") {
  bobbin::channel<std::string> a;
  bobbin::channel<std::string> b = a;
  CHECK(a == b);
  CHECK_FALSE(a == bobbin::channel<std::string>());
  b.send("hello");
  CHECK(a.receive() == "hello");
  a.close();
  CHECK(b.closed());
}

TEST_CASE("capacity 0 is rejected") {
  CHECK_THROWS_AS(bobbin::channel<int>(bobbin::capacity{0}), std::invalid_argument);
}

TEST_CASE("bounded channel: try_send says full at capacity, FIFO across wrap-around") {
  for (std::size_t cap : {std::size_t{1}, std::size_t{2}, std::size_t{3}, std::size_t{64}}) {
    CAPTURE(cap);
    bobbin::channel<int> ch(bobbin::capacity{cap});
    for (std::size_t i = 0; i < cap; ++i) REQUIRE(ch.try_send(static_cast<int>(i)) == bobbin::send_status::ok);
    CHECK(ch.size() == cap);
    int extra = 99;
    CHECK(ch.try_send(extra) == bobbin::send_status::full);
    CHECK(ch.receive() == 0);
    CHECK(ch.try_send(extra) == bobbin::send_status::ok);
    CHECK(ch.size() == cap);
    for (std::size_t i = 1; i < cap; ++i) CHECK(ch.receive() == static_cast<int>(i));
    CHECK(ch.receive() == 99);
    // Many laps of the ring.
    for (int i = 0; i < 1000; ++i) {
      REQUIRE(ch.try_send(i) == bobbin::send_status::ok);
      REQUIRE(ch.try_receive() == i);
    }
    CHECK_FALSE(ch.try_receive().has_value());
  }
}

TEST_CASE("close: accepted messages drain first, then receive is empty; sends fail") {
  for (std::size_t cap : capacities) {
    CAPTURE(cap);
    auto ch = make_channel<std::unique_ptr<int>>(cap != 0 && cap < 3 ? 3 : cap);
    REQUIRE(ch.send(std::make_unique<int>(1)));
    REQUIRE(ch.send(std::make_unique<int>(2)));
    REQUIRE(ch.send(std::make_unique<int>(3)));
    ch.close();
    ch.close();  // idempotent
    CHECK(ch.closed());

    auto kept = std::make_unique<int>(42);
    CHECK_FALSE(ch.send(std::move(kept)));
    REQUIRE(kept != nullptr);  // not moved from
    CHECK(*kept == 42);
    CHECK(ch.try_send(std::move(kept)) == bobbin::send_status::closed);
    REQUIRE(kept != nullptr);

    CHECK(*ch.receive().value() == 1);
    CHECK(*ch.try_receive().value() == 2);
    CHECK(*ch.receive_for(1ms).value() == 3);
    CHECK_FALSE(ch.receive().has_value());
    CHECK_FALSE(ch.try_receive().has_value());
    CHECK_FALSE(ch.receive_for(1ms).has_value());
  }
}

TEST_CASE("close: a full and closed channel says closed; copied values stay intact") {
  // [statuses]
  bobbin::channel<std::string> ch(bobbin::capacity{1});
  const std::string first = "first";
  REQUIRE(ch.try_send(first) == bobbin::send_status::ok);
  std::string second = "second";
  CHECK(ch.try_send(second) == bobbin::send_status::full);
  CHECK(ch.try_send(std::move(second)) == bobbin::send_status::full);
  CHECK(second == "second");  // not moved from: the send failed
  ch.close();
  CHECK(ch.try_send(std::move(second)) == bobbin::send_status::closed);  // closed wins over full
  CHECK(second == "second");
  CHECK(ch.send_for(std::move(second), 1ms) == bobbin::send_status::closed);
  CHECK(second == "second");
  CHECK(ch.receive() == "first");  // accepted before close: still delivered
  CHECK_FALSE(ch.receive().has_value());  // closed and drained
  // [statuses]
}

TEST_CASE("close wakes blocked receivers" * doctest::timeout(30)) {
  for (std::size_t cap : capacities) {
    CAPTURE(cap);
    auto ch = make_channel<int>(cap);
    constexpr int receivers = 3;
    std::atomic<int> returned{0};
    std::vector<int> got_value(receivers, -1);
    std::vector<std::thread> threads;
    for (int i = 0; i < receivers; ++i) {
      threads.emplace_back([&, i] {
        got_value[i] = ch.receive().has_value() ? 1 : 0;
        ++returned;
      });
    }
    std::this_thread::sleep_for(20ms);  // long enough to be asleep past the spin
    CHECK(returned.load() == 0);
    ch.close();
    for (auto& t : threads) t.join();
    CHECK(returned.load() == receivers);
    CHECK(std::count(got_value.begin(), got_value.end(), 0) == receivers);
  }
}

TEST_CASE("close wakes blocked senders; what was accepted still drains" * doctest::timeout(30)) {
  for (std::size_t cap : {std::size_t{1}, std::size_t{2}}) {
    CAPTURE(cap);
    bobbin::channel<int> ch(bobbin::capacity{cap});
    for (std::size_t i = 0; i < cap; ++i) REQUIRE(ch.send(static_cast<int>(i)));
    constexpr int senders = 3;
    std::atomic<int> returned{0};
    std::vector<int> result(senders, -1);
    std::vector<std::thread> threads;
    for (int i = 0; i < senders; ++i) {
      threads.emplace_back([&, i] {
        result[i] = ch.send(100 + i) ? 1 : 0;
        ++returned;
      });
    }
    std::this_thread::sleep_for(20ms);
    CHECK(returned.load() == 0);
    ch.close();
    for (auto& t : threads) t.join();
    CHECK(std::count(result.begin(), result.end(), 0) == senders);
    for (std::size_t i = 0; i < cap; ++i) CHECK(ch.receive() == static_cast<int>(i));
    CHECK_FALSE(ch.receive().has_value());
  }
}

TEST_CASE("bounded: a blocked send resumes when a slot frees" * doctest::timeout(30)) {
  for (std::size_t cap : {std::size_t{1}, std::size_t{2}}) {
    CAPTURE(cap);
    bobbin::channel<int> ch(bobbin::capacity{cap});
    for (std::size_t i = 0; i < cap; ++i) REQUIRE(ch.send(static_cast<int>(i)));
    std::atomic<bool> sent{false};
    std::thread sender([&] {
      ch.send(1000);
      sent = true;
    });
    std::this_thread::sleep_for(20ms);
    CHECK_FALSE(sent.load());
    CHECK(ch.receive() == 0);
    sender.join();
    CHECK(sent.load());
    for (std::size_t i = 1; i < cap; ++i) CHECK(ch.receive() == static_cast<int>(i));
    CHECK(ch.receive() == 1000);
  }
}

TEST_CASE("bounded: size never exceeds capacity under load" * doctest::timeout(60)) {
  constexpr int per_producer = 50'000;
  for (std::size_t cap : {std::size_t{1}, std::size_t{2}, std::size_t{5}}) {
    CAPTURE(cap);
    bobbin::channel<int> ch(bobbin::capacity{cap});
    std::atomic<bool> done{false};
    std::size_t max_seen = 0;
    std::thread monitor([&] {
      while (!done.load(std::memory_order_relaxed)) {
        max_seen = std::max(max_seen, ch.size());
        std::this_thread::yield();  // two cores: leave the senders and receivers room
      }
    });
    std::vector<std::thread> threads;
    std::vector<long long> sums(2, 0);
    for (int p = 0; p < 2; ++p)
      threads.emplace_back([&] {
        for (int i = 1; i <= per_producer; ++i) ch.send(i);
      });
    for (int c = 0; c < 2; ++c)
      threads.emplace_back([&, c] {
        for (int i = 0; i < per_producer; ++i) sums[c] += ch.receive().value_or(0);
      });
    for (auto& t : threads) t.join();
    done = true;
    monitor.join();
    CHECK(max_seen <= cap);
    CHECK(sums[0] + sums[1] == 2LL * per_producer * (per_producer + 1) / 2);
    CHECK(ch.size() == 0);
  }
}

TEST_CASE("4 producers x 4 consumers: each message once, each producer's order kept" * doctest::timeout(120)) {
  constexpr int producers = 4;
  constexpr int consumers = 4;
  constexpr int per_producer = 100'000;
  for (std::size_t cap : capacities) {
    CAPTURE(cap);
    auto ch = make_channel<std::int64_t>(cap);
    std::vector<std::vector<std::int64_t>> received(consumers);
    std::vector<std::thread> threads;
    for (int p = 0; p < producers; ++p)
      threads.emplace_back([&ch, p] {
        for (int i = 0; i < per_producer; ++i) ch.send(std::int64_t{p} * per_producer + i);
      });
    for (int c = 0; c < consumers; ++c)
      threads.emplace_back([&ch, &received, c] {
        for (auto&& v : ch) received[c].push_back(v);
      });
    for (int p = 0; p < producers; ++p) threads[p].join();
    ch.close();
    for (int c = 0; c < consumers; ++c) threads[producers + c].join();

    // Each consumer saw each producer's messages in the order they were sent.
    bool ordered = true;
    for (const auto& mine : received) {
      std::vector<std::int64_t> last(producers, -1);
      for (std::int64_t v : mine) {
        const auto p = static_cast<std::size_t>(v / per_producer);
        if (v <= last[p]) ordered = false;
        last[p] = v;
      }
    }
    CHECK(ordered);
    // Every message was received exactly once.
    std::vector<std::int64_t> all;
    for (auto& mine : received) all.insert(all.end(), mine.begin(), mine.end());
    std::sort(all.begin(), all.end());
    std::vector<std::int64_t> expected(static_cast<std::size_t>(producers) * per_producer);
    std::iota(expected.begin(), expected.end(), 0);
    CHECK(all == expected);
  }
}

TEST_CASE("timed receive returns at its deadline, not before, within a few ms" * doctest::timeout(30)) {
  for (std::size_t cap : {std::size_t{0}, std::size_t{2}}) {
    CAPTURE(cap);
    auto ch = make_channel<int>(cap);
    constexpr auto wait = 20ms;
    // Never early; late by a few ms at most in the best of three tries (the machine may
    // be busy with other work for any single one).
    double best_late_ms = 1e9;
    for (int attempt = 0; attempt < 3; ++attempt) {
      const double ms = elapsed_ms([&] { CHECK_FALSE(ch.receive_for(wait).has_value()); });
      CHECK(ms >= 20.0);
      best_late_ms = std::min(best_late_ms, ms - 20.0);
    }
    CHECK(best_late_ms < 5.0);

    const auto deadline = std::chrono::system_clock::now() + wait;
    CHECK_FALSE(ch.receive_until(deadline).has_value());
    CHECK(std::chrono::system_clock::now() >= deadline);

    CHECK_FALSE(ch.receive_for(0ms).has_value());
    CHECK_FALSE(ch.receive_for(-5ms).has_value());

    // A message that arrives during the wait ends it early.
    std::thread sender([ch]() mutable {
      std::this_thread::sleep_for(10ms);
      ch.send(7);
    });
    std::optional<int> got;
    const double ms = elapsed_ms([&] { got = ch.receive_for(10s); });
    sender.join();
    CHECK(got == 7);
    CHECK(ms < 5000.0);
  }
}

TEST_CASE("timed send on a full channel gives up at its deadline") {
  bobbin::channel<std::string> ch(bobbin::capacity{1});
  REQUIRE(ch.send("a"));
  std::string v = "b";
  const double ms = elapsed_ms([&] { CHECK(ch.send_for(std::move(v), 20ms) == bobbin::send_status::full); });
  CHECK(ms >= 20.0);
  CHECK(v == "b");
  CHECK(ch.receive() == "a");
  CHECK(ch.send_until(std::move(v), clock_type::now() + 1s) == bobbin::send_status::ok);
  CHECK(ch.receive() == "b");
}

TEST_CASE("move-only payloads") {
  for (std::size_t cap : capacities) {
    CAPTURE(cap);
    auto ch = make_channel<std::unique_ptr<int>>(cap);
    std::thread producer([ch]() mutable {
      for (int i = 0; i < 1000; ++i) ch.send(std::make_unique<int>(i));
      ch.close();
    });
    int expected = 0;
    bool in_order = true;
    for (auto&& p : ch) {
      if (p == nullptr || *p != expected) in_order = false;
      ++expected;
    }
    producer.join();
    CHECK(in_order);
    CHECK(expected == 1000);
  }
}

TEST_CASE("counting payload: no leak, no double destruction") {
  for (std::size_t cap : capacities) {
    CAPTURE(cap);
    counted::reset();
    {
      const std::size_t n = cap == 0 ? 3000 : cap;  // unbounded: several segments
      auto ch = make_channel<counted>(cap);
      for (std::size_t i = 0; i < n; ++i) {
        const counted c(static_cast<int>(i));
        REQUIRE(ch.send(c));  // a copy
      }
      CHECK(counted::live.load() == static_cast<long>(n));
      for (std::size_t i = 0; i < n / 2; ++i) REQUIRE(ch.receive()->value == static_cast<int>(i));
      CHECK(counted::live.load() == static_cast<long>(n - n / 2));
      // Refill a bounded channel so that the queued messages span a wrap-around.
      for (std::size_t i = 0; cap != 0 && i < n / 2; ++i) REQUIRE(ch.send(counted(-1)));
      auto copy = ch;
    }  // the last handles go with messages still queued
    CHECK(counted::live.load() == 0);
    CHECK(counted::bad_destructions.load() == 0);

    // Messages left in a closed channel go too.
    {
      auto ch = make_channel<counted>(cap);
      ch.send(counted(1));
      ch.close();
      CHECK_FALSE(ch.send(counted(2)));
    }
    CHECK(counted::live.load() == 0);
    CHECK(counted::bad_destructions.load() == 0);
  }
}

TEST_CASE("counting payload under concurrency: every message destroyed exactly once" * doctest::timeout(60)) {
  counted::reset();
  constexpr int per_producer = 50'000;
  for (std::size_t cap : capacities) {
    CAPTURE(cap);
    {
      auto ch = make_channel<counted>(cap);
      // Leave some behind for the channel's destructor: half when unbounded, a full ring
      // when bounded (more would keep the producers waiting for good).
      const long left = cap == 0 ? per_producer : static_cast<long>(cap);
      const long to_take = 2L * per_producer - left;
      std::atomic<long> claimed{0};
      std::atomic<long> taken{0};
      std::vector<std::thread> threads;
      for (int p = 0; p < 2; ++p)
        threads.emplace_back([ch]() mutable {
          for (int i = 0; i < per_producer; ++i) ch.send(counted(i));
        });
      for (int c = 0; c < 2; ++c)
        threads.emplace_back([ch, &claimed, &taken, to_take]() mutable {
          while (claimed.fetch_add(1) < to_take)
            if (ch.receive()) ++taken;
        });
      for (auto& t : threads) t.join();
      CHECK(taken.load() == to_take);
      CHECK(counted::live.load() == left);
    }
    CHECK(counted::live.load() == 0);
    CHECK(counted::bad_destructions.load() == 0);
  }
}

TEST_CASE("a throwing copy does not send and does not break the channel" * doctest::timeout(30)) {
  for (std::size_t cap : capacities) {
    CAPTURE(cap);
    auto ch = make_channel<throws_on_copy>(cap == 1 ? 2 : cap);
    // A receiver asleep on the slot the failed send claimed must still get what follows.
    std::optional<throws_on_copy> got;
    std::thread receiver([&] {
      if (auto r = ch.receive()) got.emplace(std::move(*r));
    });
    std::this_thread::sleep_for(10ms);
    const throws_on_copy v(5);
    throws_on_copy::armed = true;
    CHECK_THROWS_AS(ch.send(v), std::runtime_error);
    CHECK_THROWS_AS(ch.try_send(v), std::runtime_error);
    throws_on_copy::armed = false;
    CHECK(v.value == 5);
    CHECK(ch.send(throws_on_copy(6)));
    receiver.join();
    REQUIRE(got.has_value());
    CHECK(got->value == 6);
    CHECK(ch.send(v));
    CHECK(ch.receive()->value == 5);
    CHECK_FALSE(ch.try_receive().has_value());
  }
}

TEST_CASE("range-for receives until closed and drained") {
  for (std::size_t cap : capacities) {
    CAPTURE(cap);
    auto ch = make_channel<int>(cap);
    std::jthread producer([ch]() mutable {
      for (int i = 1; i <= 1000; ++i) ch.send(i);
      ch.close();
    });
    long sum = 0;
    for (int v : ch) sum += v;
    CHECK(sum == 1000L * 1001 / 2);
  }
}

TEST_CASE("close racing with senders: every accepted message is received exactly once" * doctest::timeout(60)) {
  for (std::size_t cap : capacities) {
    CAPTURE(cap);
    for (int round = 0; round < 20; ++round) {
      auto ch = make_channel<int>(cap);
      constexpr int senders = 3;
      std::vector<std::vector<int>> accepted(senders);
      std::vector<int> received;
      std::vector<std::thread> threads;
      for (int s = 0; s < senders; ++s)
        threads.emplace_back([ch, &accepted, s]() mutable {
          for (int i = 0;; ++i) {
            const int v = s * 1'000'000 + i;
            if (!ch.send(v)) break;
            accepted[s].push_back(v);
          }
        });
      threads.emplace_back([ch, &received]() mutable {
        for (int v : ch) received.push_back(v);
      });
      std::this_thread::sleep_for(std::chrono::microseconds(200 * (round % 5)));
      ch.close();
      for (auto& t : threads) t.join();
      std::vector<int> all;
      for (auto& a : accepted) all.insert(all.end(), a.begin(), a.end());
      std::sort(all.begin(), all.end());
      std::sort(received.begin(), received.end());
      REQUIRE(all == received);
    }
  }
}

TEST_CASE("receivers that time out often lose nothing" * doctest::timeout(60)) {
  for (std::size_t cap : capacities) {
    CAPTURE(cap);
    auto ch = make_channel<int>(cap);
    constexpr int per_producer = 20'000;
    std::atomic<long> sum{0};
    std::atomic<int> count{0};
    std::vector<std::thread> threads;
    for (int p = 0; p < 2; ++p)
      threads.emplace_back([ch]() mutable {
        for (int i = 1; i <= per_producer; ++i) {
          ch.send(i);
          if (i % 1000 == 0) std::this_thread::sleep_for(std::chrono::microseconds(50));
        }
      });
    for (int c = 0; c < 3; ++c)
      threads.emplace_back([ch, &sum, &count]() mutable {
        while (count.load() < 2 * per_producer) {
          if (auto v = ch.receive_for(std::chrono::microseconds(20 + 30 * (count.load() % 3)))) {
            sum += *v;
            ++count;
          }
        }
      });
    for (auto& t : threads) t.join();
    CHECK(count.load() == 2 * per_producer);
    CHECK(sum.load() == 2L * per_producer * (per_producer + 1) / 2);
  }
}

TEST_CASE("large messages: an unbounded channel of few-slot segments" * doctest::timeout(60)) {
  struct big {
    std::array<std::uint64_t, 512> words;  // 4 KiB: segments of 8 slots
  };
  bobbin::channel<big> ch;
  constexpr int per_producer = 5'000;
  std::vector<std::thread> threads;
  std::vector<std::uint64_t> sums(2, 0);
  bool intact = true;
  std::mutex intact_mutex;
  for (int p = 0; p < 2; ++p)
    threads.emplace_back([ch]() mutable {
      for (int i = 1; i <= per_producer; ++i) {
        big b;
        b.words.fill(static_cast<std::uint64_t>(i));
        ch.send(b);
      }
    });
  for (int c = 0; c < 2; ++c)
    threads.emplace_back([ch, &sums, &intact, &intact_mutex, c]() mutable {
      for (int i = 0; i < per_producer; ++i) {
        const auto b = ch.receive();
        const bool same =
            b && std::all_of(b->words.begin(), b->words.end(), [&](std::uint64_t w) { return w == b->words[0]; });
        if (!same) {
          std::lock_guard lock(intact_mutex);
          intact = false;
        }
        sums[c] += b ? b->words[0] : 0;
      }
    });
  for (auto& t : threads) t.join();
  CHECK(intact);
  CHECK(sums[0] + sums[1] == 2ULL * per_producer * (per_producer + 1) / 2);
}

using bobbin_test::refuses_moved_from;

TEST_CASE("a moved-from channel is empty: clear errors, no null dereference") {
  for (const bool bounded : {false, true}) {
    CAPTURE(bounded);
    bobbin::channel<std::string> a =
        bounded ? bobbin::channel<std::string>(bobbin::capacity{4}) : bobbin::channel<std::string>();
    REQUIRE(a.send("kept"));
    bobbin::channel<std::string> b(std::move(a));
    const std::string type = "bobbin::channel";
    const std::string v = "v";
    CHECK(refuses_moved_from([&] { a.send(v); }, type));
    CHECK(refuses_moved_from([&] { a.send(std::string("v")); }, type));
    CHECK(refuses_moved_from([&] { (void)a.try_send(v); }, type));
    CHECK(refuses_moved_from([&] { (void)a.try_send(std::string("v")); }, type));
    CHECK(refuses_moved_from([&] { (void)a.send_for(v, 1ms); }, type));
    CHECK(refuses_moved_from([&] { (void)a.send_for(std::string("v"), 1ms); }, type));
    CHECK(refuses_moved_from([&] { (void)a.send_until(v, clock_type::now()); }, type));
    CHECK(refuses_moved_from([&] { (void)a.receive(); }, type));
    CHECK(refuses_moved_from([&] { (void)a.try_receive(); }, type));
    CHECK(refuses_moved_from([&] { (void)a.receive_for(1ms); }, type));
    CHECK(refuses_moved_from([&] { (void)a.receive_until(clock_type::now()); }, type));
    CHECK(refuses_moved_from(
        [&] {
          for (auto& m : a) (void)m;
        },
        type));
    // The empty handle's answers: nothing to close, closed, nothing queued.
    CHECK_NOTHROW(a.close());
    CHECK(a.closed());
    CHECK(a.size() == 0);
    CHECK_FALSE(a == b);
    // The channel itself lives on in b; a can be assigned to and works again.
    CHECK(b.try_receive() == "kept");
    CHECK_FALSE(b.closed());
    a = b;
    REQUIRE(a.send("again"));
    CHECK(b.try_receive() == "again");
    // Moved-from by assignment too; an iterator whose handle is moved from stops with the error.
    b.send("one");
    b.send("two");
    auto it = a.begin();
    CHECK(*it == "one");
    bobbin::channel<std::string> c;
    c = std::move(a);
    CHECK(refuses_moved_from([&] { ++it; }, type));
    CHECK(c.try_receive() == "two");
  }
}
