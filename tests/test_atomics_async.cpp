// atomics::wait_async (Atomics.waitAsync) and its meeting with blocking waiters and notify.
// tests/test_atomics_async_fallback.cpp runs this same file with the portable parking.
#include <bobbin/atomics.hpp>
#include <bobbin/errors.hpp>
#include <bobbin/pool.hpp>
#include <bobbin/task.hpp>

#include <doctest/doctest.h>

#include "support/foreign_coroutine.hpp"

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
#include <optional>
#include <random>
#include <stop_token>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

using namespace std::chrono_literals;
using bobbin::shared_buffer;
using bobbin::typed_array;
using bobbin::wait_result;
using bobbin::detail::coro_context;
namespace atomics = bobbin::atomics;

// A named namespace, not an anonymous one: test_atomics_async_fallback.cpp includes this
// file, and g++ then warns (-Wsubobject-linkage) about coroutine frames built from types
// of an anonymous namespace in an included file.
namespace atomics_async_test {

using clock_type = std::chrono::steady_clock;

template <class Pred>
bool eventually(Pred pred, std::chrono::milliseconds limit = 30'000ms) {
  const auto give_up = clock_type::now() + limit;
  while (!pred()) {
    if (clock_type::now() > give_up) return false;
    std::this_thread::yield();
  }
  return true;
}

template <class T>
std::size_t waiting(const typed_array<T>& view, std::size_t i) {
  return bobbin::detail::atomics_waiters.waiting(&view[i]);
}

using bobbin_test::co;
using bobbin_test::queue_resumer;

// What a waiting coroutine saw: a wait_result, or task_cancelled (cancelled), or nothing yet.
enum class seen { none, ok, not_equal, timed_out, cancelled, other_error };

seen as_seen(wait_result r) {
  switch (r) {
    case wait_result::ok: return seen::ok;
    case wait_result::not_equal: return seen::not_equal;
    case wait_result::timed_out: return seen::timed_out;
  }
  return seen::other_error;
}

// Awaits wait_async(view, i, expected [, timeout]) and records what it gave.
template <class T>
co waiter(const typed_array<T>& view, std::size_t i, std::type_identity_t<T> expected,
          std::optional<std::chrono::nanoseconds> timeout, std::atomic<seen>& out) {
  try {
    const wait_result r = timeout ? co_await atomics::wait_async(view, i, expected, *timeout)
                                  : co_await atomics::wait_async(view, i, expected);
    out.store(as_seen(r));
  } catch (const bobbin::task_cancelled&) {
    out.store(seen::cancelled);
  } catch (...) {
    out.store(seen::other_error);
  }
}

// N coroutines waiting on view[i], each with its own result slot.
struct waiters {
  std::vector<std::unique_ptr<std::atomic<seen>>> out;
  std::vector<co> cos;

  template <class T>
  void add(const typed_array<T>& view, std::size_t i, std::type_identity_t<T> expected,
           std::optional<std::chrono::nanoseconds> timeout, coro_context ctx) {
    out.push_back(std::make_unique<std::atomic<seen>>(seen::none));
    cos.push_back(waiter(view, i, expected, timeout, *out.back()));
    cos.back().start(ctx);
  }
  std::size_t count(seen s) const {
    std::size_t n = 0;
    for (const auto& o : out) n += o->load() == s ? 1 : 0;
    return n;
  }
  bool all_finished() const {
    for (const auto& c : cos)
      if (!c.finished()) return false;
    return true;
  }
};

bobbin::task<wait_result> wait_task(typed_array<std::int32_t> view, std::size_t i) {
  co_return co_await atomics::wait_async(view, i, 0, 60s);
}

}  // namespace atomics_async_test

using namespace atomics_async_test;

TEST_CASE_TEMPLATE("wait_async: not_equal and a zero timeout complete at once, without suspending", T, std::int32_t,
                   std::int64_t) {
  shared_buffer buf(4 * sizeof(T));
  typed_array<T> a(buf);
  atomics::store(a, 1, 5);
  queue_resumer resumer;
  std::atomic<seen> out{seen::none};
  std::stop_source stopped;
  stopped.request_stop();
  const std::stop_token token = stopped.get_token();

  co c1 = waiter(a, 1, 4, std::nullopt, out);
  c1.start({&resumer, &token});  // decided before the stop token is looked at
  CHECK(c1.finished());
  CHECK(out.load() == seen::not_equal);

  co c2 = waiter(a, 1, 5, std::chrono::nanoseconds(0ms), out);
  c2.start({&resumer, nullptr});
  CHECK(c2.finished());
  CHECK(out.load() == seen::timed_out);

  co c3 = waiter(a, 1, 5, std::chrono::nanoseconds(-1s), out);
  c3.start({&resumer, nullptr});
  CHECK(c3.finished());
  CHECK(out.load() == seen::timed_out);

  co c4 = waiter(a, 1, 7, std::chrono::nanoseconds(0ms), out);  // value first
  c4.start({&resumer, nullptr});
  CHECK(c4.finished());
  CHECK(out.load() == seen::not_equal);

  CHECK(waiting(a, 1) == 0);
  CHECK(resumer.queued.load() == 0);
  CHECK_THROWS_AS((void)atomics::wait_async(a, 4, 0), std::out_of_range);
}

TEST_CASE("wait_async: a stop already requested throws task_cancelled without suspending") {
  shared_buffer buf(16);
  typed_array<std::int32_t> a(buf);
  std::stop_source src;
  src.request_stop();
  const std::stop_token token = src.get_token();
  queue_resumer resumer;
  std::atomic<seen> out{seen::none};
  co c = waiter(a, 0, 0, std::nullopt, out);
  c.start({&resumer, &token});
  CHECK(c.finished());
  CHECK(out.load() == seen::cancelled);
  CHECK(waiting(a, 0) == 0);
}

TEST_CASE_TEMPLATE("wait_async: notify(count) wakes exactly count of N async waiters, oldest first", T, std::int32_t,
                   std::int64_t) {
  shared_buffer buf(4 * sizeof(T));
  typed_array<T> a(buf);
  queue_resumer resumer;
  waiters w;
  constexpr std::size_t n = 8;
  for (std::size_t k = 0; k < n; ++k) w.add(a, 2, 0, std::nullopt, {&resumer, nullptr});
  CHECK(waiting(a, 2) == n);
  CHECK(atomics::notify(a, 1, 5) == 0);  // another element
  CHECK(atomics::notify(a, 2, 3) == 3);
  REQUIRE(resumer.run_until([&] { return w.count(seen::ok) == 3; }));
  for (std::size_t k = 0; k < n; ++k) CHECK(w.out[k]->load() == (k < 3 ? seen::ok : seen::none));
  CHECK(waiting(a, 2) == n - 3);
  CHECK(atomics::notify(a, 2, 0) == 0);
  CHECK(atomics::notify(a, 2, -1) == 0);
  CHECK(atomics::notify(a, 2, 1.9) == 1);
  CHECK(atomics::notify(a, 2) == n - 4);
  REQUIRE(resumer.run_until([&] { return w.all_finished(); }));
  CHECK(w.count(seen::ok) == n);
  CHECK(resumer.queued.load() == n);
  CHECK(waiting(a, 2) == 0);
}

TEST_CASE("wait_async: blocking and async waiters share one FIFO; notify counts both") {
  shared_buffer buf(16);
  typed_array<std::int32_t> a(buf);
  queue_resumer resumer;
  waiters w;
  std::atomic<int> thread_results[2] = {{-1}, {-1}};
  std::vector<std::thread> threads;

  // Order: async 0, thread 0, async 1, thread 1.
  w.add(a, 0, 0, std::nullopt, {&resumer, nullptr});
  threads.emplace_back([&] { thread_results[0] = static_cast<int>(atomics::wait(a, 0, 0, 60s)); });
  REQUIRE(eventually([&] { return waiting(a, 0) == 2; }));
  w.add(a, 0, 0, std::chrono::nanoseconds(60s), {&resumer, nullptr});
  threads.emplace_back([&] { thread_results[1] = static_cast<int>(atomics::wait(a, 0, 0, 60s)); });
  REQUIRE(eventually([&] { return waiting(a, 0) == 4; }));

  CHECK(atomics::notify(a, 0, 1) == 1);
  REQUIRE(resumer.run_until([&] { return w.cos[0].finished(); }));
  CHECK(w.out[0]->load() == seen::ok);
  CHECK(w.out[1]->load() == seen::none);
  CHECK(thread_results[0].load() == -1);

  CHECK(atomics::notify(a, 0, 1) == 1);
  REQUIRE(eventually([&] { return thread_results[0].load() != -1; }));
  CHECK(thread_results[0].load() == static_cast<int>(wait_result::ok));
  CHECK(w.out[1]->load() == seen::none);

  CHECK(atomics::notify(a, 0, 2) == 2);  // the async waiter, then the thread
  REQUIRE(resumer.run_until([&] { return w.cos[1].finished(); }));
  CHECK(w.out[1]->load() == seen::ok);
  for (auto& t : threads) t.join();
  CHECK(thread_results[1].load() == static_cast<int>(wait_result::ok));
  CHECK(waiting(a, 0) == 0);
}

TEST_CASE("wait_async: the timeout resumes with timed_out, never early, and leaves the list") {
  shared_buffer buf(16);
  typed_array<std::int64_t> a(buf);
  for (const bool queued : {false, true}) {
    CAPTURE(queued);
    queue_resumer resumer;
    std::atomic<seen> out{seen::none};
    co c = waiter(a, 1, 0, std::chrono::nanoseconds(20ms), out);
    const auto start = clock_type::now();
    c.start({queued ? &resumer : nullptr, nullptr});
    CHECK(waiting(a, 1) == 1);
    if (queued) {
      REQUIRE(resumer.run_until([&] { return c.finished(); }));
    } else {
      REQUIRE(eventually([&] { return c.finished(); }));
    }
    CHECK(clock_type::now() - start >= 20ms);
    CHECK(out.load() == seen::timed_out);
    CHECK(waiting(a, 1) == 0);
    CHECK(atomics::notify(a, 1) == 0);
  }
}

TEST_CASE("wait_async: timeout racing notify keeps notify's count exact" * doctest::timeout(180)) {
  shared_buffer buf(16);
  typed_array<std::int32_t> a(buf);
  std::mt19937 rng(2024);
  std::uniform_int_distribution<int> us(0, 300);
  std::size_t notified_total = 0, ok_total = 0, timed_out_total = 0, bad = 0;
  for (int r = 0; r < 400; ++r) {
    const bool queued = r % 2 == 0;
    queue_resumer resumer;
    waiters w;
    constexpr std::size_t n = 4;
    for (std::size_t k = 0; k < n; ++k) {
      const auto timeout = std::chrono::microseconds(us(rng));
      w.add(a, 0, 0, std::chrono::nanoseconds(timeout), {queued ? &resumer : nullptr, nullptr});
    }
    const auto spin_until = clock_type::now() + std::chrono::microseconds(us(rng));
    while (clock_type::now() < spin_until) {
    }
    std::size_t notified = 0;
    std::thread notifier([&] { notified = atomics::notify(a, 0, 2); });
    notifier.join();
    const bool done =
        queued ? resumer.run_until([&] { return w.all_finished(); }) : eventually([&] { return w.all_finished(); });
    if (!done) ++bad;
    const std::size_t ok = w.count(seen::ok), timed_out = w.count(seen::timed_out);
    if (ok != notified || ok + timed_out != n) ++bad;
    if (queued && resumer.queued.load() > n) ++bad;  // fewer: a timer due before suspension ended
    notified_total += notified;
    ok_total += ok;
    timed_out_total += timed_out;
  }
  CHECK(bad == 0);
  CHECK(ok_total == notified_total);
  CHECK(waiting(a, 0) == 0);
  MESSAGE("ok " << ok_total << ", timed out " << timed_out_total);
}

TEST_CASE("wait_async: a stop request while waiting throws task_cancelled and leaves the list") {
  shared_buffer buf(16);
  typed_array<std::int32_t> a(buf);
  for (const bool queued : {false, true}) {
    CAPTURE(queued);
    queue_resumer resumer;
    std::stop_source src;
    const std::stop_token token = src.get_token();
    std::atomic<seen> out{seen::none};
    co c = waiter(a, 0, 0, std::chrono::nanoseconds(60s), out);
    c.start({queued ? &resumer : nullptr, &token});
    CHECK(waiting(a, 0) == 1);
    std::thread stopper([&] { src.request_stop(); });
    if (queued) {
      REQUIRE(resumer.run_until([&] { return c.finished(); }));
    } else {
      REQUIRE(eventually([&] { return c.finished(); }));
    }
    stopper.join();
    CHECK(out.load() == seen::cancelled);
    CHECK(waiting(a, 0) == 0);
    CHECK(atomics::notify(a, 0) == 0);
  }
}

TEST_CASE("wait_async: stop racing notify: each waiter is either counted and ok, or cancelled" *
          doctest::timeout(180)) {
  shared_buffer buf(16);
  typed_array<std::int32_t> a(buf);
  std::mt19937 rng(77);
  std::uniform_int_distribution<int> us(0, 200);
  std::size_t bad = 0, ok_total = 0, cancelled_total = 0;
  for (int r = 0; r < 300; ++r) {
    const bool queued = r % 2 == 0;
    queue_resumer resumer;
    std::stop_source src;
    const std::stop_token token = src.get_token();
    waiters w;
    constexpr std::size_t n = 4;
    for (std::size_t k = 0; k < n; ++k) {
      if (k % 2 == 0) {
        w.add(a, 0, 0, std::nullopt, {queued ? &resumer : nullptr, &token});
      } else {
        w.add(a, 0, 0, std::chrono::nanoseconds(60s), {queued ? &resumer : nullptr, &token});
      }
    }
    std::size_t notified = 0;
    std::thread notifier([&] { notified = atomics::notify(a, 0, 3); });
    const auto spin_until = clock_type::now() + std::chrono::microseconds(us(rng));
    while (clock_type::now() < spin_until) {
    }
    src.request_stop();
    notifier.join();
    const bool done =
        queued ? resumer.run_until([&] { return w.all_finished(); }) : eventually([&] { return w.all_finished(); });
    if (!done) ++bad;
    const std::size_t ok = w.count(seen::ok), cancelled = w.count(seen::cancelled);
    if (ok != notified || ok + cancelled != n) ++bad;
    ok_total += ok;
    cancelled_total += cancelled;
  }
  CHECK(bad == 0);
  CHECK(waiting(a, 0) == 0);
  MESSAGE("ok " << ok_total << ", cancelled " << cancelled_total);
}

TEST_CASE("wait_async: a frame destroyed while waiting leaves the list and takes its timer back") {
  shared_buffer buf(16);
  typed_array<std::int32_t> a(buf);
  queue_resumer resumer;
  std::stop_source src;
  const std::stop_token token = src.get_token();
  std::atomic<seen> out{seen::none};
  {
    co c = waiter(a, 0, 0, std::chrono::nanoseconds(20ms), out);
    c.start({&resumer, &token});
    CHECK(waiting(a, 0) == 1);
    c.destroy();
  }
  CHECK(waiting(a, 0) == 0);
  std::this_thread::sleep_for(50ms);
  src.request_stop();
  CHECK(atomics::notify(a, 0) == 0);
  CHECK(resumer.queued.load() == 0);
  CHECK(out.load() == seen::none);
}

TEST_CASE("wait_async in bobbin::task: sync_wait, a one-thread pool, future::cancel" * doctest::timeout(120)) {
  shared_buffer buf(16);
  typed_array<std::int32_t> a(buf);
  {
    std::size_t woken = 0;
    std::thread notifier([&] {
      if (eventually([&] { return waiting(a, 0) == 1; })) woken = atomics::notify(a, 0);
    });
    CHECK(bobbin::sync_wait(wait_task(a, 0)) == wait_result::ok);
    notifier.join();
    CHECK(woken == 1);
  }
  {
    // Four waiters on one worker: waiting does not hold the thread.
    bobbin::pool<> p({.threads = 1});
    std::vector<bobbin::future<wait_result>> fs;
    for (int k = 0; k < 4; ++k) fs.push_back(p.submit(wait_task, a, std::size_t{1}));
    REQUIRE(eventually([&] { return waiting(a, 1) == 4; }));
    CHECK(atomics::notify(a, 1) == 4);
    for (auto& f : fs) CHECK(f.get() == wait_result::ok);

    auto f = p.submit(wait_task, a, std::size_t{2});
    REQUIRE(eventually([&] { return waiting(a, 2) == 1; }));
    f.cancel();
    CHECK_THROWS_AS(f.get(), bobbin::task_cancelled);
    CHECK(waiting(a, 2) == 0);
    CHECK(atomics::notify(a, 2) == 0);
  }
}
