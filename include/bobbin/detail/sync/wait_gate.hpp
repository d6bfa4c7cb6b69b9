#pragma once
// detail::wait_gate: where the receivers (or the senders) of one channel sleep until a
// message (or a free slot) may be there for them. Spin briefly, then park on a futex.
//
// Contract:
// - A waiter calls wait(attempt) or wait_until(attempt, deadline) (a detail::deadline, so
//   a time point of any clock or a timeout of any size; see deadline.hpp). attempt() is the
//   caller's non-blocking operation (try to take a message); it runs on the waiting thread
//   only, any number of times, and returns true when it succeeded or there is nothing left
//   to wait for (closed). The gate keeps trying it for a short spin (gate_spin_for, with
//   growing pauses between tries, and only when the optional worth_trying() hint agrees),
//   then registers, tries once more and sleeps.
// - A notifier first makes its change visible with a seq_cst store or RMW (publishes a
//   message, frees a slot, closes), then calls notify_one() (one more thing to take: wakes
//   at most one sleeper) or notify_all() (closed: wakes everyone).
// - No lost wake-up: a waiter registers with a seq_cst RMW before its last attempt, and
//   notify_one() looks for registered waiters with a seq_cst load after the change; in the
//   single total order of seq_cst operations either the notifier sees the registration, or
//   the attempt sees the change. attempt() must therefore read with seq_cst loads.
// - Fast path: with nobody registered, notify_one() is one load of a word that only
//   changes when a thread goes to sleep. A registered waiter is woken once: notify_one()
//   turns one registration into a wake-up token, so further notifications, while that
//   waiter is still on its way out of the kernel, make no syscall.
// - Spurious returns from attempt's point of view are fine: a woken thread that finds
//   nothing registers again and sleeps. A caller that succeeds while more is ready and
//   others sleep passes the wake-up on (the channels do: see channel_core).
//
// State: one 32-bit futex word; the low 16 bits count registered waiters, the high 16 bits
// count wake-up tokens not yet taken. Every thread between "register" and "return" owns
// exactly one unit (a registration or a token), so at most 65535 threads may wait on one
// gate at a time.

#include <atomic>
#include <cassert>
#include <chrono>
#include <climits>
#include <cstdint>
#include <thread>

#include "../config.hpp"
#include "../time/deadline.hpp"
#include "futex.hpp"

namespace bobbin::detail {

// How long a blocking channel operation keeps retrying before it sleeps. Waking a sleeping
// thread costs tens of microseconds on a VM; a reply that arrives within the spin is
// caught without a syscall, and an idle receiver stops burning its core soon after.
inline constexpr std::chrono::nanoseconds gate_spin_for{5'000};

class wait_gate {
 public:
  wait_gate() = default;
  wait_gate(const wait_gate&) = delete;
  wait_gate& operator=(const wait_gate&) = delete;

  struct always {
    constexpr bool operator()() const noexcept { return true; }
  };

  // Returns once attempt() returned true. Exceptions from attempt() propagate; the
  // thread is then unregistered. While spinning, attempt() is tried only when
  // worth_trying() says so (a cheap look that lets the other side get ahead first); once
  // registered, always.
  template <class Attempt, class Hint = always>
  void wait(Attempt&& attempt, Hint&& worth_trying = {}) {
    wait_impl(attempt, worth_trying, deadline::never());
  }

  // As wait(), but gives up at `d`; returns attempt()'s last answer (false: timed out).
  // Never returns false before the deadline has passed on its clock.
  template <class Attempt, class Hint = always>
  bool wait_until(Attempt&& attempt, const deadline& d, Hint&& worth_trying = {}) {
    return wait_impl(attempt, worth_trying, d);
  }

  // One more thing may be available: wake one sleeper, if any (see the contract).
  void notify_one() noexcept {
    // seq_cst: after the caller's seq_cst change, before a waiter's seq_cst registration,
    // or else that waiter's next attempt sees the change.
    std::uint32_t s = state_.load(std::memory_order_seq_cst);
    while ((s & waiter_mask) != 0) {
      // release: a woken waiter that takes the token sees what happened before the wake.
      if (state_.compare_exchange_weak(s, s - waiter_one + token_one, std::memory_order_release,
                                       std::memory_order_relaxed)) {
        futex_wake(state_, 1);
        return;
      }
    }
  }

  // Nothing more will change for anyone (closed): wake every sleeper.
  void notify_all() noexcept {
    std::uint32_t s = state_.load(std::memory_order_seq_cst);  // seq_cst: as in notify_one
    while ((s & waiter_mask) != 0) {
      const std::uint32_t waiters = s & waiter_mask;
      if (state_.compare_exchange_weak(s, (s - waiters) + waiters * token_one, std::memory_order_release,
                                       std::memory_order_relaxed)) {
        futex_wake(state_, INT_MAX);
        return;
      }
    }
  }

  // True if some thread is registered and not yet handed a token.
  bool has_waiters() const noexcept {
    // seq_cst: the caller asks after its own seq_cst change (see channel_core's hand-on).
    return (state_.load(std::memory_order_seq_cst) & waiter_mask) != 0;
  }

 private:
  static constexpr std::uint32_t waiter_one = 1;
  static constexpr std::uint32_t waiter_mask = 0xffff;
  static constexpr std::uint32_t token_one = 1u << 16;

  template <class Attempt, class Hint>
  bool wait_impl(Attempt& attempt, Hint& worth_trying, const deadline& d) {
    if (spin(attempt, worth_trying, d)) return true;
    for (;;) {
      if (d.has_passed()) return attempt();
      // seq_cst: the registration comes before the attempt below in the total order (the
      // other half of notify_one's load).
      state_.fetch_add(waiter_one, std::memory_order_seq_cst);
      bool done = false;
      try {
        done = attempt();
      } catch (...) {
        leave();
        throw;
      }
      if (done) {
        leave();
        return true;
      }
      if (!sleep(d)) {
        leave();
        return attempt();
      }
      // Woken: our unit went with the token; register again before the next attempt.
    }
  }

  // Retries for gate_spin_for. Between tries it first pauses, twice as long each time (so
  // that the other side can fill or empty a few slots before we look at their cache line
  // again), then yields the processor: if the thread we wait for shares our core, it runs
  // now instead of after our spin.
  template <class Attempt, class Hint>
  static bool spin(Attempt& attempt, Hint& worth_trying, const deadline& d) {
    constexpr unsigned max_pause = 16;  // 31 pauses in all before yielding: about 0.35 us here
    const auto spin_end = std::chrono::steady_clock::now() + gate_spin_for;
    unsigned pause = 1;
    for (unsigned i = 1;; ++i) {
      if (worth_trying() && attempt()) return true;
      if (pause > max_pause || i % 8 == 0) {  // a clock read costs more than a pause
        if (std::chrono::steady_clock::now() >= spin_end) return false;
        if (d.has_passed()) return false;
      }
      if (pause <= max_pause) {
        for (unsigned k = 0; k < pause; ++k) cpu_relax();
        pause *= 2;
      } else {
        std::this_thread::yield();
      }
    }
  }

  // Sleeps until this thread takes a token (true) or the deadline passes (false; the
  // thread still owns its unit).
  bool sleep(const deadline& d) noexcept {
    std::uint32_t s = state_.load(std::memory_order_relaxed);
    for (;;) {
      if (s >= token_one) {
        // acquire: pairs with notify's release.
        if (state_.compare_exchange_weak(s, s - token_one, std::memory_order_acquire, std::memory_order_relaxed))
          return true;
        continue;
      }
      if (futex_wait(state_, s, d) == futex_status::timed_out) return false;
      s = state_.load(std::memory_order_relaxed);  // relaxed: only the token CAS orders
    }
  }

  // Gives back this thread's unit: a registration if any is left, else a token (then every
  // remaining unit is a token, and there is one for each thread still inside).
  void leave() noexcept {
    std::uint32_t s = state_.load(std::memory_order_relaxed);
    for (;;) {
      assert((s & waiter_mask) != 0 || s >= token_one);
      const std::uint32_t next = (s & waiter_mask) != 0 ? s - waiter_one : s - token_one;
      // relaxed: returning a unit publishes nothing.
      if (state_.compare_exchange_weak(s, next, std::memory_order_relaxed)) return;
    }
  }

  std::atomic<std::uint32_t> state_{0};
};

}  // namespace bobbin::detail
