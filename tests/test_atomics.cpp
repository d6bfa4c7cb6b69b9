// bobbin::atomics: JavaScript's Atomics over typed_array views.
// tests/test_atomics_fallback.cpp runs this same file with the portable parking.
#include <bobbin/atomics.hpp>

#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <stdexcept>
#include <string_view>
#include <thread>
#include <type_traits>
#include <vector>

using namespace std::chrono_literals;
using bobbin::shared_buffer;
using bobbin::typed_array;
using bobbin::wait_result;
namespace atomics = bobbin::atomics;

namespace {

using clock_type = std::chrono::steady_clock;

// Until `n` threads are queued on view[i]: the only way to know a waiter is blocked
// before notifying it. False after a generous deadline (the test then fails, and the
// waiters' own timeouts let the threads finish).
template <class T>
bool until_waiting(const typed_array<T>& view, std::size_t i, std::size_t n) {
  const auto give_up = clock_type::now() + 30s;
  while (bobbin::detail::atomics_waiters.waiting(&view[i]) != n) {
    if (clock_type::now() > give_up) return false;
    std::this_thread::yield();
  }
  return true;
}

// Until `counter` reaches n, or a generous deadline passes.
bool until_count(const std::atomic<std::size_t>& counter, std::size_t n) {
  const auto give_up = clock_type::now() + 30s;
  while (counter.load() != n) {
    if (clock_type::now() > give_up) return false;
    std::this_thread::yield();
  }
  return true;
}

// Long enough never to expire in a passing test, short enough that a failing one ends.
constexpr auto never = 60s;

}  // namespace

TEST_CASE("atomics: the parking scheme is the one this build selects") {
#if defined(__linux__) && !defined(BOBBIN_ATOMICS_PORTABLE_PARKING)
  CHECK(std::string_view(bobbin::detail::wake_signal::name) == "futex");
#else
  CHECK(std::string_view(bobbin::detail::wake_signal::name) == "condition_variable");
#endif
}

TEST_CASE_TEMPLATE("atomics: every operation returns the previous value and has its effect", T, std::int8_t,
                   std::uint8_t, std::int16_t, std::uint16_t, std::int32_t, std::uint32_t, std::int64_t,
                   std::uint64_t) {
  shared_buffer buf(8 * sizeof(T));
  typed_array<T> a(buf);
  const auto neighbours_untouched = [&] { return a[0] == 0 && a[2] == 0; };

  CHECK(atomics::store(a, 1, 5) == 5);
  CHECK(a[1] == 5);
  CHECK(atomics::load(a, 1) == 5);
  CHECK(atomics::add(a, 1, 3) == 5);
  CHECK(a[1] == 8);
  CHECK(atomics::sub(a, 1, 2) == 8);
  CHECK(a[1] == 6);
  CHECK(atomics::bit_and(a, 1, 0b0011) == 6);
  CHECK(a[1] == 2);
  CHECK(atomics::bit_or(a, 1, 0b1000) == 2);
  CHECK(a[1] == 10);
  CHECK(atomics::bit_xor(a, 1, 0b1111) == 10);
  CHECK(a[1] == 5);
  CHECK(atomics::exchange(a, 1, 9) == 5);
  CHECK(a[1] == 9);
  CHECK(atomics::compare_exchange(a, 1, 1, 7) == 9);  // no match: unchanged
  CHECK(a[1] == 9);
  CHECK(atomics::compare_exchange(a, 1, 9, 7) == 9);  // match: replaced
  CHECK(a[1] == 7);
  CHECK(neighbours_untouched());
}

TEST_CASE_TEMPLATE("atomics: arithmetic wraps at the type's limits, in two's complement", T, std::int8_t, std::uint8_t,
                   std::int16_t, std::uint16_t, std::int32_t, std::uint32_t, std::int64_t, std::uint64_t) {
  using U = std::make_unsigned_t<T>;
  constexpr T max = std::numeric_limits<T>::max();
  constexpr T min = std::numeric_limits<T>::min();
  const auto wrap_add = [](T x, T y) { return static_cast<T>(static_cast<U>(static_cast<U>(x) + static_cast<U>(y))); };
  const auto wrap_sub = [](T x, T y) { return static_cast<T>(static_cast<U>(static_cast<U>(x) - static_cast<U>(y))); };

  shared_buffer buf(2 * sizeof(T));
  typed_array<T> a(buf);
  atomics::store(a, 0, max);
  CHECK(atomics::add(a, 0, 1) == max);
  CHECK(atomics::load(a, 0) == min);
  CHECK(atomics::sub(a, 0, 1) == min);
  CHECK(atomics::load(a, 0) == max);
  CHECK(atomics::add(a, 0, max) == max);
  CHECK(atomics::load(a, 0) == wrap_add(max, max));
  atomics::store(a, 0, min);
  CHECK(atomics::sub(a, 0, max) == min);
  CHECK(atomics::load(a, 0) == wrap_sub(min, max));
  CHECK(atomics::bit_xor(a, 0, max) == wrap_sub(min, max));
  CHECK(atomics::exchange(a, 0, min) == static_cast<T>(wrap_sub(min, max) ^ max));
  CHECK(atomics::compare_exchange(a, 0, min, max) == min);
  CHECK(a[0] == max);
  CHECK(a[1] == 0);
}

TEST_CASE("atomics: values are the view's element type, not deduced") {
  shared_buffer buf(16);
  typed_array<std::uint8_t> bytes(buf);
  CHECK(atomics::add(bytes, 3, 1) == 0);  // 1 is an int; it converts, as in JavaScript
  atomics::store(bytes, 3, 255);
  CHECK(atomics::add(bytes, 3, 1) == 255);
  CHECK(atomics::load(bytes, 3) == 0);

  typed_array<std::int64_t> big(buf);
  CHECK(atomics::store(big, 1, -1) == -1);
  CHECK(atomics::sub(big, 1, 1) == -1);
  CHECK(atomics::load(big, 1) == -2);
}

TEST_CASE("atomics: operations on a view with an offset touch only its elements") {
  shared_buffer buf(32);
  typed_array<std::int32_t> all(buf);
  typed_array<std::int32_t> view(buf, 8, 2);
  atomics::store(view, 0, 11);
  atomics::add(view, 1, 22);
  CHECK(all[2] == 11);
  CHECK(all[3] == 22);
  for (std::size_t i : {0, 1, 4, 5, 6, 7}) CHECK(all[i] == 0);
  CHECK_THROWS_AS(atomics::load(view, 2), std::out_of_range);
}

TEST_CASE("atomics: an index out of range throws std::out_of_range and touches nothing") {
  shared_buffer buf(16);
  typed_array<std::int32_t> a(buf, 0, 3);
  const std::size_t past = 3;
  CHECK_THROWS_AS(atomics::add(a, past, 1), std::out_of_range);
  CHECK_THROWS_AS(atomics::sub(a, past, 1), std::out_of_range);
  CHECK_THROWS_AS(atomics::bit_and(a, past, 1), std::out_of_range);
  CHECK_THROWS_AS(atomics::bit_or(a, past, 1), std::out_of_range);
  CHECK_THROWS_AS(atomics::bit_xor(a, past, 1), std::out_of_range);
  CHECK_THROWS_AS(atomics::exchange(a, past, 1), std::out_of_range);
  CHECK_THROWS_AS(atomics::compare_exchange(a, past, 0, 1), std::out_of_range);
  CHECK_THROWS_AS(atomics::load(a, past), std::out_of_range);
  CHECK_THROWS_AS(atomics::store(a, past, 1), std::out_of_range);
  CHECK_THROWS_AS(atomics::wait(a, past, 0), std::out_of_range);
  CHECK_THROWS_AS(atomics::wait(a, past, 0, 1ms), std::out_of_range);
  CHECK_THROWS_AS(atomics::notify(a, past), std::out_of_range);
  CHECK_THROWS_AS(atomics::add(a, std::numeric_limits<std::size_t>::max(), 1), std::out_of_range);
  CHECK(typed_array<std::int32_t>(buf)[3] == 0);
}

TEST_CASE("atomics: a length-tracking view reaches the bytes a grow adds") {
  shared_buffer g(8, {.max_byte_length = 64});
  typed_array<std::int32_t> t(g);
  CHECK_THROWS_AS(atomics::add(t, 2, 1), std::out_of_range);
  g.grow(16);
  CHECK(atomics::add(t, 3, 1) == 0);
  CHECK(atomics::load(t, 3) == 1);
}

TEST_CASE("atomics: is_lock_free") {
  static_assert(atomics::is_lock_free(4));  // JavaScript guarantees 4
  CHECK(atomics::is_lock_free(1));
  CHECK(atomics::is_lock_free(2));
  CHECK(atomics::is_lock_free(8));
  CHECK_FALSE(atomics::is_lock_free(0));
  CHECK_FALSE(atomics::is_lock_free(3));
  CHECK_FALSE(atomics::is_lock_free(16));
}

// wait and notify exist for Int32Array and BigInt64Array only: anything else does not compile.
template <class T>
constexpr bool can_wait = requires(typed_array<T> v) { atomics::wait(v, 0, 0); };
template <class T>
constexpr bool can_wait_for = requires(typed_array<T> v) { atomics::wait(v, 0, 0, 1ms); };
template <class T>
constexpr bool can_notify = requires(typed_array<T> v) { atomics::notify(v, 0); };
static_assert(can_wait<std::int32_t> && can_wait<std::int64_t>);
static_assert(can_wait_for<std::int32_t> && can_wait_for<std::int64_t>);
static_assert(can_notify<std::int32_t> && can_notify<std::int64_t>);
static_assert(!can_wait<std::int16_t> && !can_wait<std::int8_t> && !can_wait<std::uint32_t> &&
              !can_wait<std::uint64_t> && !can_wait<std::uint8_t>);
static_assert(!can_wait_for<std::int16_t> && !can_wait_for<std::uint32_t>);
static_assert(!can_notify<std::int16_t> && !can_notify<std::uint32_t> && !can_notify<std::uint64_t>);

TEST_CASE_TEMPLATE("atomics::wait returns not_equal at once when the value differs", T, std::int32_t, std::int64_t) {
  shared_buffer buf(16);
  typed_array<T> a(buf);
  atomics::store(a, 1, 5);
  CHECK(atomics::wait(a, 1, 4) == wait_result::not_equal);
  const auto start = clock_type::now();
  CHECK(atomics::wait(a, 1, 6, 10s) == wait_result::not_equal);
  CHECK(clock_type::now() - start < 5s);
  CHECK(bobbin::to_string(wait_result::not_equal) == "not-equal");
}

TEST_CASE_TEMPLATE("atomics::wait times out no earlier than its timeout", T, std::int32_t, std::int64_t) {
  shared_buffer buf(16);
  typed_array<T> a(buf);
  for (auto timeout : {1ms, 20ms, 60ms}) {
    const auto start = clock_type::now();
    CHECK(atomics::wait(a, 0, 0, timeout) == wait_result::timed_out);
    CHECK(clock_type::now() - start >= timeout);
  }
  const auto start = clock_type::now();
  CHECK(atomics::wait(a, 0, 0, std::chrono::duration<double, std::milli>(15.5)) == wait_result::timed_out);
  CHECK(clock_type::now() - start >= std::chrono::duration<double, std::milli>(15.5));
  // Zero and negative timeouts do not sleep; the value is still compared.
  CHECK(atomics::wait(a, 0, 0, 0ms) == wait_result::timed_out);
  CHECK(atomics::wait(a, 0, 0, -5s) == wait_result::timed_out);
  CHECK(atomics::wait(a, 0, 1, 0ms) == wait_result::not_equal);
  CHECK(bobbin::detail::atomics_waiters.waiting(&a[0]) == 0);
}

TEST_CASE_TEMPLATE("atomics::wait returns ok when notified" * doctest::timeout(60), T, std::int32_t, std::int64_t) {
  shared_buffer buf(32);
  typed_array<T> a(buf);
  wait_result untimed{}, timed{};
  {
    std::jthread waiter([&] { untimed = atomics::wait(a, 2, 0); });
    REQUIRE(until_waiting(a, 2, 1));
    CHECK(atomics::notify(a, 2) == 1);
  }
  CHECK(untimed == wait_result::ok);
  {
    std::jthread waiter([&] { timed = atomics::wait(a, 2, 0, never); });
    REQUIRE(until_waiting(a, 2, 1));
    CHECK(atomics::notify(a, 2, 1) == 1);
  }
  CHECK(timed == wait_result::ok);
  CHECK(atomics::notify(a, 2) == 0);
}

TEST_CASE("atomics::wait is woken by notify, not by a change of value" * doctest::timeout(60)) {
  shared_buffer buf(16);
  typed_array<std::int32_t> a(buf);
  wait_result result{};
  clock_type::duration waited{};
  {
    std::jthread waiter([&] {
      const auto start = clock_type::now();
      result = atomics::wait(a, 0, 0, 100ms);
      waited = clock_type::now() - start;
    });
    REQUIRE(until_waiting(a, 0, 1));
    atomics::store(a, 0, 1);
  }
  CHECK(result == wait_result::timed_out);
  CHECK(waited >= 100ms);
}

TEST_CASE("atomics::notify with no waiters returns 0, and wakes only its own element") {
  shared_buffer buf(16);
  typed_array<std::int32_t> a(buf);
  CHECK(atomics::notify(a, 0) == 0);
  CHECK(atomics::notify(a, 0, 1) == 0);
  wait_result result{};
  {
    std::jthread waiter([&] { result = atomics::wait(a, 1, 0, never); });
    REQUIRE(until_waiting(a, 1, 1));
    CHECK(atomics::notify(a, 0) == 0);
    CHECK(atomics::notify(a, 2) == 0);
    CHECK(atomics::notify(a, 1, 0) == 0);  // count 0 wakes nobody
    CHECK(bobbin::detail::atomics_waiters.waiting(&a[1]) == 1);
    CHECK(atomics::notify(a, 1) == 1);
  }
  CHECK(result == wait_result::ok);
}

TEST_CASE_TEMPLATE("atomics::notify(count) wakes exactly count of n waiters; the default wakes all" *
                       doctest::timeout(120),
                   T, std::int32_t, std::int64_t) {
  constexpr std::size_t n = 6;
  shared_buffer buf(64);
  typed_array<T> a(buf);
  std::vector<wait_result> results(n, wait_result::timed_out);
  std::atomic<std::size_t> returned{0};
  {
    std::vector<std::jthread> waiters;
    for (std::size_t t = 0; t < n; ++t) {
      waiters.emplace_back([&, t] {
        results[t] = atomics::wait(a, 3, 0, never);
        returned.fetch_add(1);
      });
    }
    REQUIRE(until_waiting(a, 3, n));

    CHECK(atomics::notify(a, 3, 2) == 2);
    CHECK(bobbin::detail::atomics_waiters.waiting(&a[3]) == n - 2);
    CHECK(until_count(returned, 2));
    CHECK(returned.load() == 2);  // the others are still queued: only a notify frees them

    CHECK(atomics::notify(a, 3, 1) == 1);
    CHECK(until_count(returned, 3));
    CHECK(atomics::notify(a, 3) == n - 3);
    CHECK(until_count(returned, n));
    CHECK(atomics::notify(a, 3) == 0);
  }
  for (std::size_t t = 0; t < n; ++t) CHECK(results[t] == wait_result::ok);
}

TEST_CASE("atomics: waiters and notifiers meet by address, whatever the view") {
  shared_buffer buf(32);
  typed_array<std::int32_t> words(buf);
  typed_array<std::int32_t> shifted(buf, 8);
  typed_array<std::int64_t> wide(buf, 8);
  wait_result first{}, second{};
  {
    std::jthread waiter([&] { first = atomics::wait(words, 2, 0, never); });
    REQUIRE(until_waiting(words, 2, 1));
    CHECK(atomics::notify(shifted, 0) == 1);  // byte 8 both times
  }
  {
    std::jthread waiter([&] { second = atomics::wait(wide, 0, 0, never); });
    REQUIRE(until_waiting(wide, 0, 1));
    CHECK(atomics::notify(words, 2) == 1);  // BigInt64Array and Int32Array at byte 8
  }
  CHECK(first == wait_result::ok);
  CHECK(second == wait_result::ok);
}

TEST_CASE("atomics::notify publishes what the notifier wrote before it" * doctest::timeout(60)) {
  // The notify/wake pair itself orders the plain write before the plain read; the
  // ThreadSanitizer build checks that.
  shared_buffer buf(16);
  typed_array<std::int32_t> a(buf);
  wait_result result{};
  std::int32_t seen = 0;
  {
    std::jthread waiter([&] {
      result = atomics::wait(a, 0, 0, never);
      seen = a[1];
    });
    REQUIRE(until_waiting(a, 0, 1));
    a[1] = 42;
    CHECK(atomics::notify(a, 0) == 1);
  }
  CHECK(result == wait_result::ok);
  CHECK(seen == 42);
}

TEST_CASE("atomics: 4 threads x 100,000 adds lose nothing" * doctest::timeout(120)) {
  constexpr std::size_t threads = 4;
  constexpr std::size_t adds = 100'000;
  shared_buffer buf(64);
  typed_array<std::int32_t> counter(buf, 0, 1);
  typed_array<std::uint8_t> small(buf, 8, 1);  // wraps every 256 adds
  typed_array<std::int64_t> big(buf, 16, 1);
  {
    std::vector<std::jthread> workers;
    for (std::size_t t = 0; t < threads; ++t) {
      workers.emplace_back([&] {
        for (std::size_t i = 0; i < adds; ++i) {
          atomics::add(counter, 0, 1);
          atomics::add(small, 0, 1);
          atomics::sub(big, 0, 3);
        }
      });
    }
  }
  CHECK(atomics::load(counter, 0) == static_cast<std::int32_t>(threads * adds));
  CHECK(atomics::load(small, 0) == (threads * adds) % 256);
  CHECK(atomics::load(big, 0) == -3 * static_cast<std::int64_t>(threads * adds));
}

TEST_CASE("atomics: a wait/notify ping-pong sees every round once" * doctest::timeout(120)) {
  constexpr std::int32_t rounds = 2000;
  shared_buffer buf(16);
  typed_array<std::int32_t> ball(buf, 0, 1);
  std::vector<std::int32_t> seen_by_partner;
  {
    std::jthread partner([&] {
      for (std::int32_t r = 0; r < rounds; ++r) {
        // Odd values are the main thread's serve, even values the partner's return.
        while (atomics::load(ball, 0) != 2 * r + 1) atomics::wait(ball, 0, 2 * r);
        seen_by_partner.push_back(atomics::load(ball, 0));
        atomics::store(ball, 0, 2 * r + 2);
        atomics::notify(ball, 0);
      }
    });
    for (std::int32_t r = 0; r < rounds; ++r) {
      atomics::store(ball, 0, 2 * r + 1);
      atomics::notify(ball, 0);
      while (atomics::load(ball, 0) != 2 * r + 2) atomics::wait(ball, 0, 2 * r + 1);
    }
  }
  REQUIRE(seen_by_partner.size() == static_cast<std::size_t>(rounds));
  for (std::int32_t r = 0; r < rounds; ++r) CHECK(seen_by_partner[static_cast<std::size_t>(r)] == 2 * r + 1);
}

TEST_CASE("atomics: notify counts stay exact while timed waits expire around them" * doctest::timeout(180)) {
  // Waiters time out all the time while a notifier wakes them in small batches; a waiter
  // taken off the list in the same instant as its deadline must still return ok, so the
  // sum of notify()'s counts equals the number of ok results exactly.
  constexpr std::size_t threads = 4;
  constexpr std::size_t waits = 1500;
  shared_buffer buf(16);
  typed_array<std::int32_t> a(buf, 0, 1);
  std::vector<std::size_t> oks(threads, 0), others(threads, 0);
  std::atomic<std::size_t> finished{0};
  std::size_t notified = 0;
  {
    std::vector<std::jthread> waiters;
    for (std::size_t t = 0; t < threads; ++t) {
      waiters.emplace_back([&, t] {
        for (std::size_t i = 0; i < waits; ++i) {
          const auto timeout = std::chrono::microseconds((i * 37 + t * 11) % 300);
          switch (atomics::wait(a, 0, 0, timeout)) {
            case wait_result::ok: ++oks[t]; break;
            case wait_result::timed_out: break;
            case wait_result::not_equal: ++others[t]; break;
          }
        }
        finished.fetch_add(1);
      });
    }
    // Pauses of 0-150 µs between notifies, on the scale of the timeouts, so that
    // deadlines and notifies often meet (the waiter's "taken at its deadline" path
    // runs tens of times per run).
    for (std::size_t round = 0; finished.load() < threads; ++round) {
      notified += atomics::notify(a, 0, 1 + round % 3);
      const auto until = clock_type::now() + std::chrono::microseconds(round * 53 % 150);
      while (clock_type::now() < until) std::this_thread::yield();
    }
  }
  std::size_t total_ok = 0;
  for (std::size_t t = 0; t < threads; ++t) {
    total_ok += oks[t];
    CHECK(others[t] == 0);
  }
  CHECK(total_ok == notified);
  CHECK(notified > 0);
  CHECK(bobbin::detail::atomics_waiters.waiting(&a[0]) == 0);
}

// Issue 15, 12: Atomics.notify reads its count as max(ToIntegerOrInfinity(count), 0)
// (ECMA-262, Atomics.notify step 3): undefined (no count) is +Infinity, NaN is 0, a
// fraction is truncated, and a negative count wakes nobody, not everyone.
TEST_CASE_TEMPLATE("atomics::notify: a negative or NaN count wakes nobody, +infinity everyone, fractions truncate" *
                       doctest::timeout(120),
                   T, std::int32_t, std::int64_t) {
  constexpr std::size_t n = 3;
  shared_buffer buf(32);
  typed_array<T> a(buf);
  std::vector<wait_result> results(n, wait_result::timed_out);
  std::atomic<std::size_t> returned{0};
  constexpr double inf = std::numeric_limits<double>::infinity();
  {
    std::vector<std::jthread> waiters;
    for (std::size_t t = 0; t < n; ++t) {
      waiters.emplace_back([&, t] {
        results[t] = atomics::wait(a, 1, 0, never);
        returned.fetch_add(1);
      });
    }
    REQUIRE(until_waiting(a, 1, n));
    CHECK(atomics::notify(a, 1, -1) == 0);
    CHECK(atomics::notify(a, 1, std::numeric_limits<int>::min()) == 0);
    CHECK(atomics::notify(a, 1, std::int64_t{-1}) == 0);
    CHECK(atomics::notify(a, 1, -0.5) == 0);
    CHECK(atomics::notify(a, 1, -inf) == 0);
    CHECK(atomics::notify(a, 1, std::numeric_limits<double>::quiet_NaN()) == 0);
    CHECK(atomics::notify(a, 1, 0.0) == 0);
    CHECK(atomics::notify(a, 1, 0.99) == 0);
    CHECK(bobbin::detail::atomics_waiters.waiting(&a[1]) == n);
    CHECK(returned.load() == 0);

    CHECK(atomics::notify(a, 1, 1.9) == 1);  // truncated to 1
    CHECK(until_count(returned, 1));
    CHECK(atomics::notify(a, 1, inf) == n - 1);
    CHECK(until_count(returned, n));
  }
  for (std::size_t t = 0; t < n; ++t) CHECK(results[t] == wait_result::ok);

  // Counts too large for any waiter list, of any type: all.
  const auto wakes_both = [&](auto count) {
    std::size_t woken = 0;
    bool queued = false;
    {
      std::vector<std::jthread> waiters;
      for (std::size_t t = 0; t < 2; ++t) waiters.emplace_back([&] { (void)atomics::wait(a, 1, 0, never); });
      queued = until_waiting(a, 1, 2);
      woken = atomics::notify(a, 1, count);
      if (woken != 2) atomics::notify(a, 1);  // let the threads end either way
    }
    return queued && woken == 2;
  };
  CHECK(wakes_both(1e30));
  CHECK(wakes_both(std::numeric_limits<std::uint64_t>::max()));
  CHECK(wakes_both(std::numeric_limits<std::int64_t>::max()));
  CHECK(wakes_both(std::numeric_limits<long double>::infinity()));
}

// Issue 15, 6: timeouts at the limits of their types. An "infinite" one waits for the
// notify that comes ~50 ms after the waiter queued; one that has passed times out at
// once. Neither overflows (UBSan).
namespace {

template <class T, class Timeout>
wait_result wait_notified_later(const typed_array<T>& a, Timeout timeout) {
  std::atomic<bool> returned{false};
  wait_result result = wait_result::not_equal;
  {
    std::jthread waiter([&] {
      result = atomics::wait(a, 0, 0, timeout);
      returned = true;
    });
    const auto give_up = clock_type::now() + 30s;
    while (bobbin::detail::atomics_waiters.waiting(&a[0]) != 1 && !returned.load() && clock_type::now() < give_up) {
      std::this_thread::yield();
    }
    std::this_thread::sleep_for(50ms);
    atomics::notify(a, 0);
  }
  return result;
}

template <class T, class Timeout>
bool times_out_at_once(const typed_array<T>& a, Timeout timeout) {
  const auto t0 = clock_type::now();
  const wait_result r = atomics::wait(a, 0, 0, timeout);
  return r == wait_result::timed_out && clock_type::now() - t0 < 1s;
}

}  // namespace

TEST_CASE_TEMPLATE("atomics::wait: timeouts too large to count wait for the notify; past ones time out at once" *
                       doctest::timeout(120),
                   T, std::int32_t, std::int64_t) {
  using std::chrono::duration;
  shared_buffer buf(16);
  typed_array<T> a(buf);
  constexpr double inf = std::numeric_limits<double>::infinity();
  CHECK(wait_notified_later(a, std::chrono::hours::max()) == wait_result::ok);
  CHECK(wait_notified_later(a, std::chrono::nanoseconds::max()) == wait_result::ok);
  CHECK(wait_notified_later(a, duration<double>(inf)) == wait_result::ok);
  CHECK(wait_notified_later(a, duration<double>(std::numeric_limits<double>::quiet_NaN())) == wait_result::ok);
  CHECK(wait_notified_later(a, duration<double>(1e300)) == wait_result::ok);
  CHECK(wait_notified_later(a, std::chrono::years(10'000)) == wait_result::ok);
  CHECK(wait_notified_later(a, duration<unsigned long long, std::pico>(~0ULL)) == wait_result::ok);

  CHECK(times_out_at_once(a, std::chrono::nanoseconds::min()));
  CHECK(times_out_at_once(a, std::chrono::hours::min()));
  CHECK(times_out_at_once(a, duration<double>(-inf)));
  CHECK(times_out_at_once(a, duration<double>(-0.0)));
  CHECK(times_out_at_once(a, -1s));
  CHECK(bobbin::detail::atomics_waiters.waiting(&a[0]) == 0);
}
