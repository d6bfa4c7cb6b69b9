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
//   views (Int32Array, BigInt64Array), and so do wait_async() and notify(). wait returns
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
// - co_await wait_async(view, i, expected [, timeout]) is Atomics.waitAsync for
//   coroutines, with the same element types, index check and timeout rules as wait().
//   Without suspending it gives not_equal if the element differs from expected, and
//   timed_out for an equal element and a zero or negative timeout (the spec's
//   synchronous results); both are decided when co_await starts, without looking at the
//   stop token. Otherwise the coroutine queues an asynchronous waiter on the element's
//   list, the same FIFO as the blocking waiters', and suspends (its thread is free): a
//   notify() that reaches it counts it and resumes it with ok (notify() wakes blocking
//   and asynchronous waiters together, oldest first), or the timeout resumes it with
//   timed_out, whichever takes it off the list first, so notify()'s count stays exact. It
//   resumes where its detail::coro_context says (its pool, or inline on the notifier's
//   thread or the timer thread for a coroutine without one). Cancellation: a stop
//   requested when it would suspend, or while it waits and before a notify() took it,
//   takes it off the list, and co_await throws bobbin::task_cancelled. The awaitable is
//   awaited at most once, by the coroutine that made it; it cannot be copied or moved.
//
// Parking: see detail/sync/waiter_table.hpp (futex on Linux; mutex and condition variable
// elsewhere or with BOBBIN_ATOMICS_PORTABLE_PARKING defined for the whole program).

#include <atomic>
#include <chrono>
#include <cmath>
#include <concepts>
#include <coroutine>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <optional>
#include <stop_token>
#include <string_view>
#include <thread>
#include <type_traits>

#include "detail/coro/context.hpp"
#include "detail/sync/waiter_table.hpp"
#include "detail/time/deadline.hpp"
#include "detail/time/timer_service.hpp"
#include "errors.hpp"
#include "shared_buffer.hpp"
#include "timer.hpp"

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

// The awaitable of atomics::wait_async. Exactly one party takes the waiter node off the
// element's list (the bucket lock decides): a notify() (ok), the timer's callback
// (timed_out) or the stop callback (cancelled); only that winner resumes the coroutine,
// through a wake_latch (timer.hpp). Losers: a stop callback that finds the node gone
// does nothing (await_resume's stop_callback destruction waits for it to return); a timer
// that finds it gone marks timer_done as its last access, and await_resume, unless the
// timer won, takes the timer back with cancel() or, if the timer thread has it already,
// waits for that mark (a few instructions away: the timer thread is then between taking
// the node and the mark, running nothing else).
template <waitable_element T>
class [[nodiscard]] wait_async_awaiter {
 public:
  wait_async_awaiter(T& element, T expected, const deadline& d) noexcept
      : element_(&element), expected_(expected), deadline_(d) {}
  wait_async_awaiter(const wait_async_awaiter&) = delete;
  wait_async_awaiter& operator=(const wait_async_awaiter&) = delete;

  // Destroyed while suspended (the frame destroyed without resuming): leave the list, the
  // timer service and the stop token, each of which may be racing to resume us.
  ~wait_async_awaiter() {
    if (outcome_ == outcome::waiting) {
      (void)atomics_waiters.remove(&waiter_);
      stop_.reset();
      settle_timer();
    }
  }

  bool await_ready() noexcept {
    // seq_cst, as Atomics.waitAsync reads. Re-checked under the lock before queueing.
    if (std::atomic_ref<T>(*element_).load(std::memory_order_seq_cst) != expected_) {
      outcome_ = outcome::not_equal;
      return true;
    }
    if (deadline_.has_passed()) {
      outcome_ = outcome::timed_out;
      return true;
    }
    return false;
  }

  template <class P>
  bool await_suspend(std::coroutine_handle<P> h) {
    const coro_context ctx = context_of(h);
    if (ctx.stop_requested()) {
      outcome_ = outcome::cancelled;
      return false;
    }
    // May throw: nothing registered yet.
    timer_service* service = deadline_.is_infinite() ? nullptr : &timer_service::instance();
    latch_.prepare(ctx, h);
    waiter_.owner = this;
    waiter_.on_notify = &on_notify;
    const std::atomic_ref<T> ref(*element_);
    // seq_cst, as Atomics.waitAsync reads; under the bucket lock, so no notify is lost.
    const auto matches = [&] { return ref.load(std::memory_order_seq_cst) == expected_; };
    if (!atomics_waiters.enqueue(&waiter_, element_, matches)) {
      outcome_ = outcome::not_equal;
      return false;
    }
    outcome_ = outcome::waiting;
    if (service != nullptr) {
      timer_.owner = this;
      timer_.fire = &on_timer;
      service_ = service;
      service->schedule(&timer_, deadline_);
    }
    // May run on_stop() here and now, if a stop was requested since the check above.
    if (ctx.stop_possible()) stop_.emplace(*ctx.stop, stop_fn{this});
    return latch_.arm(won_notify | won_timer | won_stop);
  }

  wait_result await_resume() {
    switch (outcome_) {
      case outcome::not_equal: return wait_result::not_equal;
      case outcome::timed_out: return wait_result::timed_out;
      case outcome::cancelled: throw task_cancelled();
      case outcome::waiting: break;
      case outcome::resumed: break;  // awaited once only
    }
    // Waits for a stop callback running on another thread: it takes the bucket lock (never
    // held for long) and may resume us, but never blocks.
    stop_.reset();
    settle_timer();
    const std::uint32_t bits = latch_.bits();
    outcome_ = outcome::resumed;
    if ((bits & won_notify) != 0) return wait_result::ok;
    if ((bits & won_timer) != 0) return wait_result::timed_out;
    throw task_cancelled();
  }

 private:
  // Decided without suspending (the first three), suspended, or resumed.
  enum class outcome : unsigned char { not_equal, timed_out, cancelled, waiting, resumed };

  static constexpr std::uint32_t won_notify = 2;
  static constexpr std::uint32_t won_timer = 4;
  static constexpr std::uint32_t won_stop = 8;
  static constexpr std::uint32_t timer_done = 16;  // the timer callback's last access

  struct waiter : waiter_node {
    wait_async_awaiter* owner = nullptr;
  };
  struct timer : timer_node {
    wait_async_awaiter* owner = nullptr;
  };
  struct stop_fn {
    wait_async_awaiter* self;
    void operator()() const noexcept { self->on_stop(); }
  };

  // A notify() took the node off the list and counted it: it has won.
  static void on_notify(waiter_node* n) noexcept { static_cast<waiter*>(n)->owner->latch_.win(won_notify); }

  static void on_timer(timer_node* n) noexcept {
    wait_async_awaiter* self = static_cast<timer*>(n)->owner;
    if (atomics_waiters.remove(&self->waiter_)) {
      self->latch_.win(won_timer | timer_done);
    } else {
      self->latch_.mark(timer_done);
    }
  }

  void on_stop() noexcept {
    if (atomics_waiters.remove(&waiter_)) latch_.win(won_stop);
  }

  // After this the timer service will not touch the awaiter again.
  void settle_timer() noexcept {
    if (service_ == nullptr || (latch_.bits() & timer_done) != 0) return;
    if (service_->cancel(&timer_)) return;
    // The timer thread took the node and is about to find it gone from the list.
    while ((latch_.bits() & timer_done) == 0) std::this_thread::yield();
  }

  T* element_;
  T expected_;
  deadline deadline_;
  outcome outcome_ = outcome::not_equal;  // until await_ready decides
  timer_service* service_ = nullptr;      // set when a timer is scheduled
  wake_latch latch_;
  waiter waiter_;
  timer timer_;
  std::optional<std::stop_callback<stop_fn>> stop_;
};

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

// Atomics.waitAsync without a timeout: co_await gives ok once notified, or not_equal at
// once if the element differs from `expected` (see the contract at the top). Only for
// int32 / int64 views.
template <waitable_element T>
detail::wait_async_awaiter<T> wait_async(const typed_array<T>& view, std::size_t index,
                                         std::type_identity_t<T> expected) {
  return detail::wait_async_awaiter<T>(view.at(index), expected, detail::deadline::never());
}

// Atomics.waitAsync with a timeout, read as wait() reads it: zero or negative gives
// timed_out at once for an equal element, NaN and +infinity wait forever; co_await gives
// ok, not_equal or timed_out, or throws task_cancelled.
template <waitable_element T, class Rep, class Period>
detail::wait_async_awaiter<T> wait_async(const typed_array<T>& view, std::size_t index,
                                         std::type_identity_t<T> expected, std::chrono::duration<Rep, Period> timeout) {
  if constexpr (std::is_floating_point_v<Rep>) {
    if (std::isnan(timeout.count())) {
      return detail::wait_async_awaiter<T>(view.at(index), expected, detail::deadline::never());
    }
  }
  return detail::wait_async_awaiter<T>(view.at(index), expected, detail::deadline::after(timeout));
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
