// The timer service (detail/time/timer_service.hpp) and sleep_for / sleep_until (timer.hpp).
#include <bobbin/detail/time/timer_service.hpp>
#include <bobbin/errors.hpp>
#include <bobbin/pool.hpp>
#include <bobbin/task.hpp>
#include <bobbin/timer.hpp>

#include <doctest/doctest.h>

#include "support/foreign_coroutine.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <coroutine>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <exception>
#include <memory>
#include <mutex>
#include <random>
#include <stop_token>
#include <thread>
#include <vector>

#include <ctime>

using namespace std::chrono_literals;
using bobbin::detail::coro_context;
using bobbin::detail::deadline;
using bobbin::detail::timer_node;
using bobbin::detail::timer_service;

namespace {

using clock_type = std::chrono::steady_clock;

// Until pred() holds, or a generous deadline passes (false: the test then fails).
template <class Pred>
bool eventually(Pred pred, std::chrono::milliseconds limit = 30'000ms) {
  const auto give_up = clock_type::now() + limit;
  while (!pred()) {
    if (clock_type::now() > give_up) return false;
    std::this_thread::sleep_for(100us);
  }
  return true;
}

// ---- the timer service, driven directly ---------------------------------------------------

struct test_timer : timer_node {
  std::size_t index = 0;
  clock_type::time_point due{};
  std::atomic<int> fired{0};
  clock_type::time_point fired_at{};  // written before `fired`
  std::atomic<std::uint64_t>* order = nullptr;
  std::uint64_t rank = 0;  // written before `fired`: the how-manieth firing this was

  test_timer() noexcept { fire = &on_fire; }
  static void on_fire(timer_node* n) noexcept {
    auto* t = static_cast<test_timer*>(n);
    t->fired_at = clock_type::now();
    if (t->order != nullptr) t->rank = t->order->fetch_add(1, std::memory_order_relaxed);
    t->fired.fetch_add(1, std::memory_order_release);  // last access: the owner may free t after
  }
};

// ---- a minimal coroutine type, its resumer and its driver ---------------------------------

using bobbin_test::co;
using bobbin_test::queue_resumer;

enum class outcome { none, woke, cancelled, other_error };

// Awaits make() (the awaitables can be neither copied nor moved, so the coroutine makes its own).
template <class Make>
co sleeper(Make make, std::atomic<outcome>& out, clock_type::time_point& woke_at) {
  try {
    co_await make();
    woke_at = clock_type::now();
    out.store(outcome::woke);
  } catch (const bobbin::task_cancelled&) {
    woke_at = clock_type::now();
    out.store(outcome::cancelled);
  } catch (...) {
    out.store(outcome::other_error);
  }
}

co sleep_for_co(std::chrono::nanoseconds d, std::atomic<outcome>& out, clock_type::time_point& woke_at) {
  try {
    co_await bobbin::sleep_for(d);
    woke_at = clock_type::now();
    out.store(outcome::woke);
  } catch (const bobbin::task_cancelled&) {
    woke_at = clock_type::now();
    out.store(outcome::cancelled);
  } catch (...) {
    out.store(outcome::other_error);
  }
}

bobbin::task<int> nap(std::chrono::milliseconds d) {
  co_await bobbin::sleep_for(d);
  co_return 1;
}

bobbin::task<std::size_t> race_naps() {
  auto r = co_await bobbin::when_any(nap(10ms), nap(10s));  // the loser's sleep is cancelled
  co_return r.index;
}

double process_cpu_ms() {
  timespec ts{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) * 1e3 + static_cast<double>(ts.tv_nsec) / 1e6;
}

}  // namespace

TEST_CASE("timer_service: random deadlines fire once each, in deadline order, never early" * doctest::timeout(120)) {
  timer_service& service = timer_service::instance();
  constexpr std::size_t n = 2000;
  std::vector<std::unique_ptr<test_timer>> timers;
  std::atomic<std::uint64_t> order{0};
  std::mt19937 rng(12345);
  std::uniform_int_distribution<int> offset_us(0, 150'000);
  const auto start = clock_type::now() + 150ms;
  for (std::size_t i = 0; i < n; ++i) {
    auto t = std::make_unique<test_timer>();
    t->index = i;
    t->order = &order;
    // Some equal deadlines: those fire in the order they were scheduled.
    t->due = start + std::chrono::microseconds(offset_us(rng) / 100 * 100);
    timers.push_back(std::move(t));
  }
  for (auto& t : timers) service.schedule(t.get(), deadline::at(t->due));
  const bool all_scheduled_in_time = clock_type::now() < start;
  // A third cancelled, from everywhere in the heap.
  std::vector<bool> cancelled(n, false);
  std::size_t cancelled_count = 0;
  for (std::size_t i = 0; i < n; i += 3) {
    cancelled[i] = service.cancel(timers[i].get());
    cancelled_count += cancelled[i] ? 1 : 0;
  }
  REQUIRE(eventually([&] { return order.load() == n - cancelled_count; }));
  std::this_thread::sleep_for(20ms);  // nothing else fires
  CHECK(order.load() == n - cancelled_count);

  std::vector<const test_timer*> fired;
  for (std::size_t i = 0; i < n; ++i) {
    const int f = timers[i]->fired.load(std::memory_order_acquire);
    if (cancelled[i]) {
      CHECK(f == 0);
    } else {
      CHECK(f == 1);
      CHECK(timers[i]->fired_at >= timers[i]->due);
      fired.push_back(timers[i].get());
    }
  }
  if (all_scheduled_in_time && cancelled_count == (n + 2) / 3) {
    // Every timer was in the heap before the first was due: they fired by (deadline, index).
    std::sort(fired.begin(), fired.end(), [](const test_timer* a, const test_timer* b) { return a->rank < b->rank; });
    const bool in_order = std::is_sorted(fired.begin(), fired.end(), [](const test_timer* a, const test_timer* b) {
      return a->due < b->due || (a->due == b->due && a->index < b->index);
    });
    CHECK(in_order);
  } else {
    MESSAGE("scheduling was too slow to check the order");
  }
}

TEST_CASE("timer_service: a cancelled timer never fires; cancel after firing returns false") {
  timer_service& service = timer_service::instance();
  test_timer a, b, c;
  service.schedule(&a, deadline::after(30ms));
  service.schedule(&b, deadline::after(10ms));
  service.schedule(&c, deadline::never());
  CHECK(service.cancel(&a));
  CHECK_FALSE(service.cancel(&a));  // not armed any more
  REQUIRE(eventually([&] { return b.fired.load() == 1; }));
  CHECK_FALSE(service.cancel(&b));
  std::this_thread::sleep_for(60ms);
  CHECK(a.fired.load() == 0);
  CHECK(c.fired.load() == 0);
  CHECK(service.cancel(&c));  // never() waits to be cancelled

  // Re-armed after a cancel and after a firing.
  service.schedule(&a, deadline::after(1ms));
  service.schedule(&b, deadline::past());
  REQUIRE(eventually([&] { return a.fired.load() == 1 && b.fired.load() == 2; }));
}

TEST_CASE("timer_service: a time point of another clock fires once reached on that clock") {
  test_timer t;
  const auto due = std::chrono::system_clock::now() + 30ms;
  timer_service::instance().schedule(&t, deadline::at(due));
  REQUIRE(eventually([&] { return t.fired.load() == 1; }));
  CHECK(std::chrono::system_clock::now() >= due);
}

TEST_CASE("timer_service: cancel racing the firing: exactly one outcome" * doctest::timeout(120)) {
  timer_service& service = timer_service::instance();
  std::mt19937 rng(7);
  std::uniform_int_distribution<int> us(0, 300);
  constexpr int rounds = 2000;
  int won_by_cancel = 0, won_by_fire = 0, bad = 0;
  for (int r = 0; r < rounds; ++r) {
    test_timer t;
    service.schedule(&t, deadline::after(std::chrono::microseconds(us(rng))));
    const auto spin_until = clock_type::now() + std::chrono::microseconds(us(rng));
    while (clock_type::now() < spin_until) {
    }
    if (service.cancel(&t)) {
      ++won_by_cancel;
      if (t.fired.load() != 0) ++bad;
    } else {
      // It fired or is firing: wait for the callback's last access before `t` dies.
      if (!eventually([&] { return t.fired.load(std::memory_order_acquire) == 1; })) ++bad;
      ++won_by_fire;
    }
  }
  // Cancelled timers stay unfired (their nodes are gone, so check on fresh ones meanwhile).
  CHECK(bad == 0);
  CHECK(won_by_cancel + won_by_fire == rounds);
  MESSAGE("cancel won " << won_by_cancel << ", the timer " << won_by_fire);
}

TEST_CASE("timer_service: 10,000 timers from 4 threads, a third cancelled" * doctest::timeout(120)) {
  timer_service& service = timer_service::instance();
  constexpr std::size_t threads = 4, per_thread = 2500;
  std::vector<std::vector<std::unique_ptr<test_timer>>> timers(threads);
  std::vector<std::vector<bool>> cancelled(threads);
  std::atomic<std::uint64_t> fired{0};
  std::vector<std::thread> ts;
  for (std::size_t k = 0; k < threads; ++k) {
    timers[k].resize(per_thread);
    cancelled[k].assign(per_thread, false);
    for (auto& t : timers[k]) {
      t = std::make_unique<test_timer>();
      t->order = &fired;
    }
    ts.emplace_back([&, k] {
      std::mt19937 rng(static_cast<unsigned>(k) + 1);
      std::uniform_int_distribution<int> us(0, 50'000);
      for (std::size_t i = 0; i < per_thread; ++i) {
        test_timer* t = timers[k][i].get();
        t->due = clock_type::now() + std::chrono::microseconds(us(rng));
        service.schedule(t, deadline::at(t->due));
        if (i % 3 == 1) cancelled[k][i - 1] = service.cancel(timers[k][i - 1].get());
      }
    });
  }
  for (auto& t : ts) t.join();
  std::size_t expected = 0;
  for (std::size_t k = 0; k < threads; ++k)
    for (std::size_t i = 0; i < per_thread; ++i) expected += cancelled[k][i] ? 0 : 1;
  REQUIRE(eventually([&] { return fired.load() == expected; }));
  std::this_thread::sleep_for(20ms);
  CHECK(fired.load() == expected);
  std::size_t wrong = 0, early = 0;
  for (std::size_t k = 0; k < threads; ++k) {
    for (std::size_t i = 0; i < per_thread; ++i) {
      const auto& t = *timers[k][i];
      const int f = t.fired.load(std::memory_order_acquire);
      if (f != (cancelled[k][i] ? 0 : 1)) ++wrong;
      if (f == 1 && t.fired_at < t.due) ++early;
    }
  }
  CHECK(wrong == 0);
  CHECK(early == 0);
}

TEST_CASE("sleep_for: sleeps at least d, resumed inline on the timer thread or on its resumer") {
  for (const bool queued : {false, true}) {
    CAPTURE(queued);
    queue_resumer resumer;
    std::atomic<outcome> out{outcome::none};
    clock_type::time_point woke_at{};
    co c = sleep_for_co(20ms, out, woke_at);
    const auto start = clock_type::now();
    c.start({queued ? &resumer : nullptr, nullptr});
    CHECK_FALSE(c.finished());
    if (queued) {
      REQUIRE(resumer.run_until([&] { return c.finished(); }));
      CHECK(resumer.queued.load() == 1);
    } else {
      REQUIRE(eventually([&] { return c.finished(); }));
    }
    CHECK(out.load() == outcome::woke);
    CHECK(woke_at - start >= 20ms);
  }
}

TEST_CASE("sleep_for / sleep_until: zero, negative and past complete without suspending") {
  std::stop_source stopped;
  stopped.request_stop();
  const std::stop_token token = stopped.get_token();
  queue_resumer resumer;
  std::atomic<outcome> out{outcome::none};
  clock_type::time_point woke_at{};
  {
    co c = sleeper([&] { return bobbin::sleep_for(0ms); }, out, woke_at);
    c.start({&resumer, nullptr});
    CHECK(c.finished());
    CHECK(out.load() == outcome::woke);
  }
  {
    out = outcome::none;
    co c = sleeper([&] { return bobbin::sleep_for(-5s); }, out, woke_at);
    c.start({&resumer, &token});  // not even a stop request is looked at
    CHECK(c.finished());
    CHECK(out.load() == outcome::woke);
  }
  {
    out = outcome::none;
    co c = sleeper([&] { return bobbin::sleep_until(std::chrono::system_clock::now() - 1s); }, out, woke_at);
    c.start({&resumer, nullptr});
    CHECK(c.finished());
    CHECK(out.load() == outcome::woke);
  }
  {
    out = outcome::none;
    co c = sleeper([&] { return bobbin::sleep_for(std::chrono::duration<double>(-1.5)); }, out, woke_at);
    c.start({&resumer, nullptr});
    CHECK(c.finished());
    CHECK(out.load() == outcome::woke);
  }
  CHECK(resumer.pending() == 0);
  CHECK(resumer.queued.load() == 0);
}

TEST_CASE("sleep_for: a stop already requested throws task_cancelled without suspending") {
  std::stop_source src;
  src.request_stop();
  const std::stop_token token = src.get_token();
  queue_resumer resumer;
  std::atomic<outcome> out{outcome::none};
  clock_type::time_point woke_at{};
  co c = sleep_for_co(10s, out, woke_at);
  c.start({&resumer, &token});
  CHECK(c.finished());
  CHECK(out.load() == outcome::cancelled);
  CHECK(resumer.queued.load() == 0);
}

TEST_CASE("sleep_for: a stop request while sleeping cancels promptly with task_cancelled") {
  for (const bool queued : {false, true}) {
    CAPTURE(queued);
    std::stop_source src;
    const std::stop_token token = src.get_token();
    queue_resumer resumer;
    std::atomic<outcome> out{outcome::none};
    clock_type::time_point woke_at{};
    co c = sleep_for_co(10s, out, woke_at);
    const auto start = clock_type::now();
    c.start({queued ? &resumer : nullptr, &token});
    CHECK_FALSE(c.finished());
    std::this_thread::sleep_for(20ms);
    CHECK_FALSE(c.finished());
    // From another thread: the stop callback runs there (inline resumption included).
    std::thread stopper([&] { src.request_stop(); });
    if (queued) {
      CHECK(resumer.run_until([&] { return c.finished(); }));
    } else {
      CHECK(eventually([&] { return c.finished(); }));
    }
    stopper.join();
    CHECK(out.load() == outcome::cancelled);
    CHECK(woke_at - start < 5s);
  }
}

TEST_CASE("sleep_for: an unbounded sleep ends only by a stop request") {
  std::stop_source src;
  const std::stop_token token = src.get_token();
  std::atomic<outcome> out{outcome::none};
  clock_type::time_point woke_at{};
  co c = sleeper([&] { return bobbin::sleep_for(std::chrono::hours::max()); }, out, woke_at);
  c.start({nullptr, &token});
  std::this_thread::sleep_for(10ms);
  CHECK_FALSE(c.finished());
  src.request_stop();  // inline: runs the coroutine here
  CHECK(c.finished());
  CHECK(out.load() == outcome::cancelled);
}

TEST_CASE("sleep_until: steady and system clock time points") {
  std::atomic<outcome> out{outcome::none};
  clock_type::time_point woke_at{};
  {
    const auto due = clock_type::now() + 15ms;
    co c = sleeper([&] { return bobbin::sleep_until(due); }, out, woke_at);
    c.start({});
    REQUIRE(eventually([&] { return c.finished(); }));
    CHECK(out.load() == outcome::woke);
    CHECK(woke_at >= due);
  }
  {
    out = outcome::none;
    const auto due = std::chrono::system_clock::now() + 15ms;
    co c = sleeper([&] { return bobbin::sleep_until(due); }, out, woke_at);
    c.start({});
    REQUIRE(eventually([&] { return c.finished(); }));
    CHECK(out.load() == outcome::woke);
    CHECK(std::chrono::system_clock::now() >= due);
  }
}

TEST_CASE("sleep_for: an idle process with a pending 10 s sleep uses no CPU") {
  std::stop_source src;
  const std::stop_token token = src.get_token();
  queue_resumer resumer;
  std::atomic<outcome> out{outcome::none};
  clock_type::time_point woke_at{};
  co c = sleep_for_co(10s, out, woke_at);
  c.start({&resumer, &token});
  std::this_thread::sleep_for(20ms);  // let the timer thread settle into its sleep
  const double before = process_cpu_ms();
  std::this_thread::sleep_for(200ms);
  const double used = process_cpu_ms() - before;
  MESSAGE("CPU time over 200 ms idle: " << used << " ms");
  CHECK(used < 10.0);
  src.request_stop();
  CHECK(resumer.run_until([&] { return c.finished(); }));
  CHECK(out.load() == outcome::cancelled);
}

TEST_CASE("sleep_for: stop racing the timer resumes exactly once" * doctest::timeout(120)) {
  std::mt19937 rng(99);
  std::uniform_int_distribution<int> us(0, 400);
  int woke = 0, cancelled = 0, bad = 0;
  for (int r = 0; r < 1000; ++r) {
    const bool queued = r % 2 == 0;
    std::stop_source src;
    const std::stop_token token = src.get_token();
    queue_resumer resumer;
    std::atomic<outcome> out{outcome::none};
    clock_type::time_point woke_at{};
    co c = sleep_for_co(std::chrono::microseconds(us(rng)), out, woke_at);
    c.start({queued ? &resumer : nullptr, &token});
    const auto spin_until = clock_type::now() + std::chrono::microseconds(us(rng));
    while (clock_type::now() < spin_until) {
    }
    src.request_stop();
    const bool done =
        queued ? resumer.run_until([&] { return c.finished(); }) : eventually([&] { return c.finished(); });
    if (!done) ++bad;
    if (queued && resumer.queued.load() > 1) ++bad;  // resumed once at most
    switch (out.load()) {
      case outcome::woke: ++woke; break;
      case outcome::cancelled: ++cancelled; break;
      default: ++bad; break;
    }
  }
  CHECK(bad == 0);
  MESSAGE("woke " << woke << ", cancelled " << cancelled);
}

TEST_CASE("sleep_for: a frame destroyed while sleeping takes its timer back") {
  std::stop_source src;
  const std::stop_token token = src.get_token();
  queue_resumer resumer;
  std::atomic<outcome> out{outcome::none};
  clock_type::time_point woke_at{};
  {
    co c = sleep_for_co(20ms, out, woke_at);
    c.start({&resumer, &token});
    c.destroy();
  }
  std::this_thread::sleep_for(60ms);
  src.request_stop();  // the stop callback was deregistered too
  CHECK(resumer.queued.load() == 0);
  CHECK(out.load() == outcome::none);
}

TEST_CASE("sleep_for in bobbin::task: sync_wait, a pool, future::cancel, when_any" * doctest::timeout(120)) {
  auto start = clock_type::now();
  CHECK(bobbin::sync_wait(nap(15ms)) == 1);
  CHECK(clock_type::now() - start >= 15ms);

  bobbin::pool<> p({.threads = 2});
  start = clock_type::now();
  CHECK(p.submit(nap, 15ms).get() == 1);
  CHECK(clock_type::now() - start >= 15ms);

  start = clock_type::now();
  auto f = p.submit(nap, 10s);
  std::this_thread::sleep_for(20ms);
  f.cancel();
  CHECK_THROWS_AS(f.get(), bobbin::task_cancelled);
  CHECK(clock_type::now() - start < 5s);

  start = clock_type::now();
  CHECK(bobbin::sync_wait(race_naps()) == 0);
  CHECK(clock_type::now() - start < 5s);
}

TEST_CASE("sleep_for: sleeping coroutines leave their worker free" * doctest::timeout(120)) {
  // 100 sleeps of 50 ms on one thread: 5 s if each held the thread, about 50 ms if not.
  bobbin::pool<> p({.threads = 1});
  std::vector<bobbin::future<int>> fs;
  const auto start = clock_type::now();
  for (int i = 0; i < 100; ++i) fs.push_back(p.submit(nap, 50ms));
  int sum = 0;
  for (auto& f : fs) sum += f.get();
  CHECK(sum == 100);
  const auto took = clock_type::now() - start;
  CHECK(took >= 50ms);
  CHECK(took < 2500ms);
}
