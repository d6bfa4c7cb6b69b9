// bobbin::future: results, exceptions, waits, then, cancel, when_all.
#include <doctest/doctest.h>

#include <bobbin/future.hpp>
#include <bobbin/pool.hpp>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <iterator>
#include <latch>
#include <limits>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

using namespace std::chrono_literals;

namespace {
struct custom_error {
  int code;
};
}  // namespace

TEST_CASE("future: value, void, reference and move-only results") {
  bobbin::pool<> p({.threads = 2});
  CHECK(p.submit([] { return 6 * 7; }).get() == 42);
  int side = 0;
  p.submit([&] { side = 1; }).get();
  CHECK(side == 1);
  int target = 5;
  int& ref = p.submit([&]() -> int& { return target; }).get();
  CHECK(&ref == &target);
  auto up = p.submit([] { return std::make_unique<std::string>("hi"); }).get();
  CHECK(*up == "hi");
  CHECK(p.submit([](int a, std::string b) { return b + std::to_string(a); }, 3, std::string("x")).get() == "x3");
}

TEST_CASE("future: the task's exception reaches get() with its own type") {
  bobbin::pool<> p({.threads = 2});
  auto f = p.submit([]() -> int { throw custom_error{17}; });
  try {
    (void)f.get();
    FAIL("get() should have thrown");
  } catch (const custom_error& e) {
    CHECK(e.code == 17);
  }
  CHECK_THROWS_AS(p.submit([] { throw std::out_of_range("x"); }).get(), std::out_of_range);
}

TEST_CASE("future: valid, ready, wait, wait_for, wait_until") {
  bobbin::pool<> p({.threads = 1});
  std::latch release(1);
  auto f = p.submit([&] {
    release.wait();
    return 1;
  });
  CHECK(f.valid());
  CHECK_FALSE(f.ready());
  const auto t0 = std::chrono::steady_clock::now();
  CHECK(f.wait_for(20ms) == std::future_status::timeout);
  CHECK(std::chrono::steady_clock::now() - t0 >= 20ms);
  CHECK(f.wait_until(std::chrono::steady_clock::now() + 1ms) == std::future_status::timeout);
  release.count_down();
  f.wait();
  CHECK(f.ready());
  CHECK(f.wait_for(0ms) == std::future_status::ready);
  CHECK(f.get() == 1);
  CHECK_FALSE(f.valid());
  CHECK_THROWS_AS(f.get(), std::future_error);
  bobbin::future<int> empty;
  CHECK_FALSE(empty.valid());
  CHECK_THROWS_AS(empty.wait(), std::future_error);
}

TEST_CASE("future: wait_for wakes when the result arrives before the deadline") {
  bobbin::pool<> p({.threads = 1});
  auto f = p.submit([] {
    std::this_thread::sleep_for(10ms);
    return 3;
  });
  CHECK(f.wait_for(10s) == std::future_status::ready);
  CHECK(f.get() == 3);
}

TEST_CASE("future: cancel before the task runs; a running task sees its stop_token") {
  bobbin::pool<> p({.threads = 1});
  std::latch started(1), release(1);
  auto blocker = p.submit([&] {
    started.count_down();
    release.wait();
  });
  started.wait();
  std::atomic<bool> ran{false};
  auto queued = p.submit([&] { ran = true; });
  CHECK(queued.cancel());
  CHECK(queued.ready());
  CHECK_THROWS_AS(queued.get(), bobbin::task_cancelled);
  release.count_down();
  blocker.get();
  p.wait_idle();
  CHECK_FALSE(ran.load());
  CHECK(p.stats().cancelled == 1);

  std::latch running(1);
  auto stoppable = p.submit([&](std::stop_token st) {
    running.count_down();
    while (!st.stop_requested()) std::this_thread::sleep_for(100us);
    return 9;
  });
  running.wait();
  CHECK_FALSE(stoppable.cancel());  // already running: not cancelled, but asked to stop
  CHECK(stoppable.get() == 9);
}

TEST_CASE("future: then runs on the pool with the value, and forwards exceptions") {
  bobbin::pool<> p({.threads = 2});
  auto f = p.submit([] { return 20; }).then([](int x) { return x + 1; }).then([](int x) { return x * 2; });
  CHECK(f.get() == 42);

  // Attached before the task finishes: runs on the pool that ran it.
  std::optional<std::size_t> where;
  std::latch release(1);
  auto pending = p.submit([&] { release.wait(); }).then([&] { where = bobbin::this_worker::index(); });
  release.count_down();
  pending.get();
  CHECK(where.has_value());
  // Attached to a ready future from a thread outside any pool: runs inline.
  auto ready = p.submit([] { return 1; });
  ready.wait();
  std::optional<std::size_t> inline_where{99};
  ready.then([&](int) { inline_where = bobbin::this_worker::index(); }).get();
  CHECK_FALSE(inline_where.has_value());

  bool called = false;
  auto g = p.submit([]() -> int { throw custom_error{5}; }).then([&](int) {
    called = true;
    return 0;
  });
  CHECK_THROWS_AS(g.get(), custom_error);
  CHECK_FALSE(called);

  auto h =
      p.submit([] { return std::string("a"); }).then([](std::string s) -> std::string { throw std::runtime_error(s); });
  CHECK_THROWS_AS(h.get(), std::runtime_error);
}

TEST_CASE("future: then on a ready future whose pool is gone runs inline") {
  bobbin::future<int> f;
  {
    bobbin::pool<> p({.threads = 1});
    f = p.submit([] { return 1; });
    f.wait();
  }
  CHECK(f.then([](int x) { return x + 1; }).get() == 2);
}

TEST_CASE("when_all: variadic and range, values in order, first failure wins") {
  bobbin::pool<> p({.threads = 2});
  auto all = bobbin::when_all(p.submit([] { return 1; }), p.submit([] { return std::string("two"); }), p.submit([] {}));
  auto [a, b, c] = all.get();
  CHECK(a == 1);
  CHECK(b == "two");
  (void)c;

  std::vector<bobbin::future<int>> fs;
  for (int i = 0; i < 100; ++i) fs.push_back(p.submit([i] { return i * i; }));
  auto squares = bobbin::when_all(fs).get();
  REQUIRE(squares.size() == 100);
  for (int i = 0; i < 100; ++i) CHECK(squares[static_cast<std::size_t>(i)] == i * i);
  for (auto& f : fs) CHECK_FALSE(f.valid());

  auto failing = bobbin::when_all(p.submit([] { return 1; }), p.submit([]() -> int { throw custom_error{1}; }),
                                  p.submit([]() -> int { throw custom_error{2}; }));
  try {
    failing.get();
    FAIL("expected custom_error");
  } catch (const custom_error& e) {
    CHECK(e.code == 1);
  }

  std::vector<bobbin::future<int>> none;
  CHECK(bobbin::when_all(none).get().empty());
}

TEST_CASE("when_all: the result future may be dropped before its inputs finish") {
  bobbin::pool<> p({.threads = 1});
  std::latch release(1);
  {
    auto all = bobbin::when_all(p.submit([&] {
      release.wait();
      return 1;
    }));
  }
  release.count_down();
  p.wait_idle();  // ASan/LSan: nothing leaked, nothing used after free
}

TEST_CASE("future: dropped before its task runs, or cancelled and dropped: no leak, no use after free") {
  bobbin::pool<> p({.threads = 1});
  std::latch started(1), release(1);
  p.post([&] {
    started.count_down();
    release.wait();
  });
  started.wait();
  std::atomic<int> ran{0};
  for (int i = 0; i < 100; ++i) {
    auto dropped = p.submit([&] { return ran.fetch_add(1); });  // abandoned while queued
    auto cancelled = p.submit([&] { return ran.fetch_add(100); });
    CHECK(cancelled.cancel());  // dropped after cancel: the queued runner frees it later
  }
  {
    auto taken = p.submit([] { return std::string(100, 'x'); });
    auto moved_over = p.submit([] { return std::string(100, 'y'); });
    taken = std::move(moved_over);  // the first state is abandoned by the assignment
    release.count_down();
    CHECK(taken.get() == std::string(100, 'y'));
  }
  p.wait_idle();
  CHECK(ran == 100);
  const auto s = p.stats();
  CHECK(s.cancelled == 100);
  CHECK(s.submitted == s.completed + s.cancelled);
}

// Issue 15, 6: wait_for / wait_until with values at the limits of their types. An
// "infinite" wait must wait for the result (a task that finishes ~50 ms later), not report
// a timeout at once; a wait whose deadline has passed must report a timeout at once while
// the task is still blocked, not sleep until the task ends. Neither may overflow (UBSan).

namespace {

using steady = std::chrono::steady_clock;
using sys = std::chrono::system_clock;
using std::chrono::duration;
using std::chrono::hours;
using std::chrono::nanoseconds;
using std::chrono::time_point;

constexpr double inf = std::numeric_limits<double>::infinity();
constexpr double not_a_number = std::numeric_limits<double>::quiet_NaN();

// wait(f) on a task that returns 5 after ~50 ms: true if wait said ready and it was.
template <class Wait>
bool waits_until_ready(bobbin::pool<>& p, Wait wait) {
  auto f = p.submit([] {
    std::this_thread::sleep_for(50ms);
    return 5;
  });
  const std::future_status st = wait(f);
  const bool ready = f.ready();
  return st == std::future_status::ready && ready && f.get() == 5;
}

// wait(f) on a task that stays blocked until released (or, so that a wait that wrongly
// sleeps until the task ends does end, for 3 s): true if wait said timeout within a second
// and the task was still blocked then.
template <class Wait>
bool times_out_at_once(bobbin::pool<>& p, Wait wait) {
  std::atomic<bool> release{false};
  auto f = p.submit([&release] {
    const auto give_up = steady::now() + 3s;
    while (!release.load() && steady::now() < give_up) std::this_thread::sleep_for(1ms);
    return 9;
  });
  const auto t0 = steady::now();
  const std::future_status st = wait(f);
  const auto took = steady::now() - t0;
  const bool still_blocked = !f.ready();
  release = true;
  const int v = f.get();
  return st == std::future_status::timeout && took < 1s && still_blocked && v == 9;
}

}  // namespace

TEST_CASE("future: wait_for with durations too large to count waits until ready" * doctest::timeout(60)) {
  bobbin::pool<> p({.threads = 1});
  const auto for_ = [](auto d) { return [d](bobbin::future<int>& f) { return f.wait_for(d); }; };
  CHECK(waits_until_ready(p, for_(hours::max())));
  CHECK(waits_until_ready(p, for_(nanoseconds::max())));
  CHECK(waits_until_ready(p, for_(duration<double>(inf))));
  CHECK(waits_until_ready(p, for_(duration<double>(1e300))));
  CHECK(waits_until_ready(p, for_(std::chrono::years(10'000))));
  CHECK(waits_until_ready(p, for_(10s)));  // an ordinary one, for comparison
}

TEST_CASE("future: wait_until with time points at the end of their clock waits until ready" * doctest::timeout(60)) {
  bobbin::pool<> p({.threads = 1});
  const auto until = [](auto t) { return [t](bobbin::future<int>& f) { return f.wait_until(t); }; };
  CHECK(waits_until_ready(p, until(steady::time_point::max())));
  CHECK(waits_until_ready(p, until(time_point<steady, hours>::max())));
  CHECK(waits_until_ready(p, until(sys::time_point::max())));
  CHECK(waits_until_ready(p, until(time_point<sys, hours>::max())));
  CHECK(waits_until_ready(p, until(time_point<sys, duration<double>>(duration<double>(inf)))));
  CHECK(waits_until_ready(p, until(sys::now() + 10s)));
}

TEST_CASE("future: wait_for with negative, NaN and minimal durations times out at once" * doctest::timeout(120)) {
  bobbin::pool<> p({.threads = 1});
  const auto for_ = [](auto d) { return [d](bobbin::future<int>& f) { return f.wait_for(d); }; };
  CHECK(times_out_at_once(p, for_(nanoseconds::min())));
  CHECK(times_out_at_once(p, for_(hours::min())));
  CHECK(times_out_at_once(p, for_(duration<double>(-inf))));
  CHECK(times_out_at_once(p, for_(duration<double>(not_a_number))));
  CHECK(times_out_at_once(p, for_(-1s)));
  CHECK(times_out_at_once(p, for_(0ns)));
  CHECK(times_out_at_once(p, for_(20ms)));  // an ordinary one, for comparison
}

TEST_CASE("future: wait_until with time points at the start of their clock times out at once" * doctest::timeout(120)) {
  bobbin::pool<> p({.threads = 1});
  const auto until = [](auto t) { return [t](bobbin::future<int>& f) { return f.wait_until(t); }; };
  CHECK(times_out_at_once(p, until(steady::time_point::min())));
  CHECK(times_out_at_once(p, until(time_point<steady, hours>::min())));
  CHECK(times_out_at_once(p, until(sys::time_point::min())));
  CHECK(times_out_at_once(p, until(time_point<sys, hours>::min())));
  CHECK(times_out_at_once(p, until(time_point<sys, duration<double>>(duration<double>(-inf)))));
  CHECK(times_out_at_once(p, until(time_point<sys, duration<double>>(duration<double>(not_a_number)))));
  CHECK(times_out_at_once(p, until(sys::now() - 1h)));
}

// Issue 15, 11: when_all consumes its inputs only when it succeeds. (Allocation failures:
// tests/test_fault_future.cpp.)

TEST_CASE("when_all(futures...) that throws leaves every input valid") {
  bobbin::pool<> p({.threads = 2});
  auto a = p.submit([] { return 1; });
  auto b = p.submit([] { return std::string("two"); });
  bobbin::future<int> empty;
  CHECK_THROWS_AS(bobbin::when_all(std::move(a), std::move(b), std::move(empty)), std::future_error);
  REQUIRE(a.valid());
  REQUIRE(b.valid());

  // The same future twice: refused, and still there.
  CHECK_THROWS_AS(bobbin::when_all(std::move(a), std::move(a)), std::future_error);
  REQUIRE(a.valid());

  auto [x, y] = bobbin::when_all(std::move(a), std::move(b)).get();
  CHECK(x == 1);
  CHECK(y == "two");
  CHECK_FALSE(a.valid());
  CHECK_FALSE(b.valid());
}

TEST_CASE("when_all(range) that throws leaves every future in the range valid") {
  bobbin::pool<> p({.threads = 2});
  std::vector<bobbin::future<int>> fs;
  for (int i = 0; i < 5; ++i) fs.push_back(p.submit([i] { return i * 10; }));
  fs.insert(fs.begin() + 3, bobbin::future<int>{});  // an invalid one in the middle
  CHECK_THROWS_AS(bobbin::when_all(fs), std::future_error);
  for (std::size_t i = 0; i < fs.size(); ++i) CHECK(fs[i].valid() == (i != 3));
  fs.erase(fs.begin() + 3);

  // Through move iterators, as through the range itself.
  auto all = bobbin::when_all(std::make_move_iterator(fs.begin()), std::make_move_iterator(fs.end()));
  for (auto& f : fs) CHECK_FALSE(f.valid());
  CHECK(all.get() == std::vector<int>{0, 10, 20, 30, 40});
}

namespace {

// A forward iterator over pointers to futures that gives the futures themselves: a range
// that can hold one future twice.
struct deref_iterator {
  using iterator_concept = std::forward_iterator_tag;
  using value_type = bobbin::future<int>;
  using difference_type = std::ptrdiff_t;
  std::vector<bobbin::future<int>*>::iterator at;
  bobbin::future<int>& operator*() const { return **at; }
  bobbin::future<int>* operator->() const { return *at; }
  deref_iterator& operator++() {
    ++at;
    return *this;
  }
  deref_iterator operator++(int) {
    deref_iterator old = *this;
    ++at;
    return old;
  }
  bool operator==(const deref_iterator&) const = default;
};
static_assert(std::forward_iterator<deref_iterator>);

// An input iterator that hands out each future by value, moved out of a vector as it is
// read: a range that can be read only once.
struct moving_iterator {
  using iterator_concept = std::input_iterator_tag;
  using value_type = bobbin::future<int>;
  using difference_type = std::ptrdiff_t;
  std::vector<bobbin::future<int>>::iterator at;
  bobbin::future<int> operator*() const { return std::move(*at); }
  moving_iterator& operator++() {
    ++at;
    return *this;
  }
  void operator++(int) { ++at; }
  bool operator==(const moving_iterator&) const = default;
};
static_assert(std::input_iterator<moving_iterator> && !std::forward_iterator<moving_iterator>);

}  // namespace

TEST_CASE("when_all(first, last): the same future twice is refused and given back; a single-pass range") {
  bobbin::pool<> p({.threads = 2});
  auto a = p.submit([] { return 1; });
  auto b = p.submit([] { return 2; });
  std::vector<bobbin::future<int>*> picks{&a, &b, &a};
  CHECK_THROWS_AS(bobbin::when_all(deref_iterator{picks.begin()}, deref_iterator{picks.end()}), std::future_error);
  REQUIRE(a.valid());
  REQUIRE(b.valid());

  // Read once, each future moved out as it is read: consumed, and gathered.
  std::vector<bobbin::future<int>> fs;
  fs.push_back(std::move(a));
  fs.push_back(std::move(b));
  CHECK(bobbin::when_all(moving_iterator{fs.begin()}, moving_iterator{fs.end()}).get() == std::vector<int>{1, 2});
  for (auto& f : fs) CHECK_FALSE(f.valid());
}
