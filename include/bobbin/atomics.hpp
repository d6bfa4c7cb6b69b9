#pragma once
// bobbin::atomics: JavaScript's Atomics object over bobbin::typed_array views.
//
// Contract:
// - Every function may be called from any thread, on any view, concurrently; the
//   read-modify-write operations, load and store are std::atomic_ref operations on the
//   element, all memory_order_seq_cst, because every JavaScript Atomics operation is
//   sequentially consistent. They return the element's previous value (store: the
//   value stored), and never block except wait().
// - Arithmetic wraps in two's complement like a typed array: atomic add and sub on a
//   signed type are defined as the unsigned operation ([atomics.ref.int]), so there is
//   no signed overflow.
// - An index at or past size() throws std::out_of_range before any access.
// - wait(view, i, expected [, timeout]) compiles only for 32- and 64-bit signed
//   views (Int32Array, BigInt64Array), and so does notify(). wait returns
//   wait_result::not_equal at once if the element differs from expected; otherwise it
//   sleeps until a notify() on the same element wakes it (ok), or the timeout passes
//   (timed_out, never earlier; any duration, saturated as detail::deadline does). A
//   change of value alone does not wake a waiter.
//   notify(view, i, count) wakes up to count waiters, oldest first, and returns exactly
//   how many it woke; notify(view, i) wakes all, and a count is read as ECMAScript's
//   max(ToIntegerOrInfinity(count), 0): a negative or NaN count wakes nobody. Waiters
//   and notifiers meet by address, so views of different types over the same bytes see
//   each other, as in JavaScript.
// - What a notifier wrote before notify() happens before a waiter it wakes returns.
//
// Parking: see detail/sync/waiter_table.hpp (futex on Linux; mutex and condition variable
// elsewhere or with BOBBIN_ATOMICS_PORTABLE_PARKING defined for the whole program).

#include <atomic>
#include <chrono>
#include <cmath>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <string_view>
#include <type_traits>

#include "detail/sync/waiter_table.hpp"
#include "detail/time/deadline.hpp"
#include "shared_buffer.hpp"

namespace bobbin {

// Atomics.wait's "ok", "not-equal", "timed-out".
enum class wait_result { ok, not_equal, timed_out };

constexpr std::string_view to_string(wait_result r) noexcept {
  switch (r) {
    case wait_result::ok: return "ok";
    case wait_result::not_equal: return "not-equal";
    case wait_result::timed_out: return "timed-out";
  }
  return "?";
}

// Element types that atomics::wait and atomics::notify accept: those of Int32Array and
// BigInt64Array.
template <class T>
concept waitable_element = typed_array_element<T> && std::signed_integral<T> && (sizeof(T) == 4 || sizeof(T) == 8);

namespace atomics {

// Atomics.add: element += v, wrapping; returns the previous value.
template <typed_array_element T>
T add(const typed_array<T>& view, std::size_t index, std::type_identity_t<T> v) {
  return std::atomic_ref<T>(view.at(index)).fetch_add(v, std::memory_order_seq_cst);
}

// Atomics.sub: element -= v, wrapping; returns the previous value.
template <typed_array_element T>
T sub(const typed_array<T>& view, std::size_t index, std::type_identity_t<T> v) {
  return std::atomic_ref<T>(view.at(index)).fetch_sub(v, std::memory_order_seq_cst);
}

// Atomics.and: element &= v; returns the previous value.
template <typed_array_element T>
T bit_and(const typed_array<T>& view, std::size_t index, std::type_identity_t<T> v) {
  return std::atomic_ref<T>(view.at(index)).fetch_and(v, std::memory_order_seq_cst);
}

// Atomics.or: element |= v; returns the previous value.
template <typed_array_element T>
T bit_or(const typed_array<T>& view, std::size_t index, std::type_identity_t<T> v) {
  return std::atomic_ref<T>(view.at(index)).fetch_or(v, std::memory_order_seq_cst);
}

// Atomics.xor: element ^= v; returns the previous value.
template <typed_array_element T>
T bit_xor(const typed_array<T>& view, std::size_t index, std::type_identity_t<T> v) {
  return std::atomic_ref<T>(view.at(index)).fetch_xor(v, std::memory_order_seq_cst);
}

// Atomics.exchange: element = v; returns the previous value.
template <typed_array_element T>
T exchange(const typed_array<T>& view, std::size_t index, std::type_identity_t<T> v) {
  return std::atomic_ref<T>(view.at(index)).exchange(v, std::memory_order_seq_cst);
}

// Atomics.compareExchange: element = replacement if element == expected; returns the
// previous value either way (equal to expected exactly when the exchange happened).
template <typed_array_element T>
T compare_exchange(const typed_array<T>& view, std::size_t index, std::type_identity_t<T> expected,
                   std::type_identity_t<T> replacement) {
  // compare_exchange_strong leaves the element's value in `expected`, equal or not.
  std::atomic_ref<T>(view.at(index)).compare_exchange_strong(expected, replacement, std::memory_order_seq_cst);
  return expected;
}

// Atomics.load.
template <typed_array_element T>
T load(const typed_array<T>& view, std::size_t index) {
  return std::atomic_ref<T>(view.at(index)).load(std::memory_order_seq_cst);
}

// Atomics.store: returns v.
template <typed_array_element T>
T store(const typed_array<T>& view, std::size_t index, std::type_identity_t<T> v) {
  std::atomic_ref<T>(view.at(index)).store(v, std::memory_order_seq_cst);
  return v;
}

// Atomics.isLockFree: whether atomics on elements of `bytes` bytes are lock-free here.
constexpr bool is_lock_free(std::size_t bytes) noexcept {
  switch (bytes) {
    case 1: return std::atomic_ref<std::int8_t>::is_always_lock_free;
    case 2: return std::atomic_ref<std::int16_t>::is_always_lock_free;
    case 4: return std::atomic_ref<std::int32_t>::is_always_lock_free;
    case 8: return std::atomic_ref<std::int64_t>::is_always_lock_free;
    default: return false;
  }
}

}  // namespace atomics

namespace detail {

template <class T>
wait_result atomics_wait(const typed_array<T>& view, std::size_t index, T expected, const deadline& d) {
  T& element = view.at(index);
  const std::atomic_ref<T> ref(element);
  // seq_cst, as Atomics.wait reads. A differing value needs no lock: returning here
  // is the same as reading it under the lock a moment later.
  if (ref.load(std::memory_order_seq_cst) != expected) return wait_result::not_equal;
  const auto matches = [&] { return ref.load(std::memory_order_seq_cst) == expected; };
  switch (atomics_waiters.wait(&element, matches, d)) {
    case park_result::notified: return wait_result::ok;
    case park_result::not_equal: return wait_result::not_equal;
    case park_result::timed_out: break;
  }
  return wait_result::timed_out;
}

// Atomics.notify's count: ToIntegerOrInfinity(count), then at least 0. NaN and every
// negative count wake nobody, +infinity wakes all, a fraction is truncated.
template <class Count>
  requires std::is_arithmetic_v<Count>
std::size_t notify_count(Count count) noexcept {
  constexpr std::size_t all = std::numeric_limits<std::size_t>::max();
  if constexpr (std::is_floating_point_v<Count>) {
    if (std::isnan(count) || count <= Count{0}) return 0;
    // static_cast<Count>(all) may round up to 2^64: every count below it converts exactly.
    if (count >= static_cast<Count>(all)) return all;
    return static_cast<std::size_t>(count);  // truncates towards zero
  } else if constexpr (std::is_same_v<Count, bool>) {
    return count ? 1 : 0;
  } else {
    if constexpr (std::is_signed_v<Count>) {
      if (count < Count{0}) return 0;
    }
    const auto n = static_cast<std::uintmax_t>(count);
    if constexpr (sizeof(std::uintmax_t) > sizeof(std::size_t)) {
      if (n > all) return all;
    }
    return static_cast<std::size_t>(n);
  }
}

}  // namespace detail

namespace atomics {

// Atomics.wait without a timeout: sleeps until notified if the element equals
// `expected`. Only for int32 / int64 views.
template <waitable_element T>
wait_result wait(const typed_array<T>& view, std::size_t index, std::type_identity_t<T> expected) {
  return detail::atomics_wait(view, index, expected, detail::deadline::never());
}

// Atomics.wait with a timeout, of any duration type: a zero, negative or -infinity
// timeout does not sleep (timed_out if the value matches); NaN, +infinity and one too
// large for the steady clock (hours::max()) wait forever, like JavaScript's NaN and
// +Infinity. Never overflows (see detail/time/deadline.hpp).
template <waitable_element T, class Rep, class Period>
wait_result wait(const typed_array<T>& view, std::size_t index, std::type_identity_t<T> expected,
                 std::chrono::duration<Rep, Period> timeout) {
  if constexpr (std::is_floating_point_v<Rep>) {
    // JavaScript reads a NaN timeout as +Infinity; detail::deadline reads NaN as zero.
    if (std::isnan(timeout.count())) return detail::atomics_wait(view, index, expected, detail::deadline::never());
  }
  return detail::atomics_wait(view, index, expected, detail::deadline::after(timeout));
}

// Atomics.notify(ta, i): wakes every waiter on the element, oldest first, and returns how
// many it woke (0 if none was waiting). Only for int32 / int64 views.
template <waitable_element T>
std::size_t notify(const typed_array<T>& view, std::size_t index) {
  return detail::atomics_waiters.notify(&view.at(index), std::numeric_limits<std::size_t>::max());
}

// Atomics.notify(ta, i, count): wakes up to `count` waiters, oldest first; returns how many
// it woke. `count` is any arithmetic type, read as JavaScript reads it: a negative count
// or NaN wakes nobody (not everyone), +infinity wakes all, a fraction is truncated.
template <waitable_element T, class Count>
  requires std::is_arithmetic_v<Count>
std::size_t notify(const typed_array<T>& view, std::size_t index, Count count) {
  return detail::atomics_waiters.notify(&view.at(index), detail::notify_count(count));
}

}  // namespace atomics

}  // namespace bobbin
