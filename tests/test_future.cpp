// bobbin::future: results, exceptions, waits, then, cancel, when_all.
#include <doctest/doctest.h>

#include <bobbin/future.hpp>
#include <bobbin/pool.hpp>

#include <atomic>
#include <chrono>
#include <latch>
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

  auto h = p.submit([] { return std::string("a"); }).then([](std::string s) -> std::string { throw std::runtime_error(s); });
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
  auto all = bobbin::when_all(p.submit([] { return 1; }), p.submit([] { return std::string("two"); }),
                              p.submit([] {}));
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
