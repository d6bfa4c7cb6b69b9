#pragma once
// detail::wait_gate: where the receivers (or the senders) of one channel wait until a
// message (or a free slot) may be there for them. A thread spins briefly, then parks on a
// futex; a coroutine (an awaiter of detail/channel/async_ops.hpp) links a gate_waiter into
// the gate's list instead, and is handed the wake-up by whoever notifies.
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
//   at most one waiter, thread or coroutine) or notify_all() (closed: wakes everyone). It
//   may hold locks of its own only if no coroutine waits here (see "async waiters").
// - No lost wake-up: a waiter registers with a seq_cst RMW before its last attempt, and
//   notify_one() looks for registered waiters with a seq_cst load after the change; in the
//   single total order of seq_cst operations either the notifier sees the registration, or
//   the attempt sees the change. attempt() must therefore read with seq_cst loads. An
//   async waiter registers the same way (enlist: a seq_cst RMW that sets async_bit).
// - Fast path: with nobody registered, notify_one() is one load of a word that only
//   changes when a thread goes to sleep or a coroutine enlists or leaves. A registered
//   thread is woken once: notify_one() turns one registration into a wake-up token, so
//   further notifications, while that waiter is still on its way out of the kernel, make
//   no syscall.
// - Spurious returns from attempt's point of view are fine: a woken thread that finds
//   nothing registers again and sleeps. A caller that succeeds while more is ready and
//   others wait passes the wake-up on (the channels do: see channel_core).
//
// Async waiters (gate_waiter, used by detail/channel/async_ops.hpp only):
// - The owner of a gate_waiter (the awaiter's await_suspend, or whoever was handed it)
//   runs the same loop as a thread: enlist(w) (false once cancel(w) was called), attempt,
//   then park(w), or withdraw(w) if the attempt succeeded. Between enlist and park the
//   waiter is `active`; parked, it is owned by nobody until a notifier or cancel() unlinks
//   it and takes it over.
// - notify_one() prefers a linked coroutine to a sleeping thread (no syscall). It unlinks
//   the first one under the gate's lock: a parked one becomes the notifier's, which calls
//   its on_claim function after unlocking (the awaiter then retries on the notifier's
//   thread, and resumes the coroutine or parks it again); an active one is only marked
//   woken, so its owner's park() fails and it retries, as a thread handed a token does.
//   Either way that waiter got this wake-up. notify_all() does this for every one.
// - withdraw(w) says whether w was still linked (left), or was unlinked by a notifier
//   (woken: the caller's attempt succeeded all the same, so it must pass that wake-up on
//   with notify_one(), like a thread's leave() handing back someone else's registration)
//   or by cancel() (stopped: nothing to pass on).
// - cancel(w) (a stop request) marks w stopped, and takes it over if it was parked (true:
//   the caller resumes it); an active w is marked woken and its owner sees the stop at its
//   next enlist. The gate's lock decides between a notifier and cancel(): exactly one of
//   them unlinks a parked waiter.
// - on_claim runs with no lock held, never inside enlist/withdraw/park, so a waiter is never
//   resumed inside its own await_suspend. A gate_waiter must stay alive while linked or
//   claimed (it lives in the suspended coroutine's frame; destroying that frame while it
//   waits is not supported).
// Orders of the list: under a std::mutex (held for a few pointer writes, never while
// calling out). `phase` moves with acq_rel RMWs: the owner's park publishes the awaiter
// (handle, context) to the thread that claims it.
//
// State: one 32-bit futex word; the low 15 bits count registered threads, bit 15
// (async_bit) says the list of async waiters is not empty, the high 16 bits count wake-up
// tokens not yet taken. Every thread between "register" and "return" owns exactly one unit
// (a registration or a token), so at most 32767 threads may wait on one gate at a time
// (coroutines: any number).

#include <atomic>
#include <cassert>
#include <chrono>
#include <climits>
#include <cstdint>
#include <mutex>
#include <thread>

#include "../config.hpp"
#include "../time/deadline.hpp"
#include "futex.hpp"
#include "lock_briefly.hpp"

namespace bobbin::detail {

// How long a blocking channel operation keeps retrying before it sleeps. Waking a sleeping
// thread costs tens of microseconds on a VM; a reply that arrives within the spin is
// caught without a syscall, and an idle receiver stops burning its core soon after.
inline constexpr std::chrono::nanoseconds gate_spin_for{5'000};

class wait_gate;

// An async waiter's link in a wait_gate (see "async waiters" above). Everything but
// `phase` is guarded by the lock of the gate it waits on.
class gate_waiter {
 public:
  // Called by the notifier that took over a parked waiter, with no lock held.
  using claim_fn = void (*)(gate_waiter&) noexcept;

  explicit gate_waiter(claim_fn on_claim) noexcept : on_claim_(on_claim) {}
  gate_waiter(const gate_waiter&) = delete;
  gate_waiter& operator=(const gate_waiter&) = delete;

 private:
  friend class wait_gate;

  enum phase : std::uint8_t { active, parked, woken };
  enum class unlinked_by : std::uint8_t { nobody, notifier, stop };

  claim_fn on_claim_;
  gate_waiter* prev_ = nullptr;
  gate_waiter* next_ = nullptr;
  bool linked_ = false;
  bool stopped_ = false;                       // cancel() was called: enlist says no
  unlinked_by by_ = unlinked_by::nobody;       // who unlinked it last
  std::atomic<std::uint8_t> phase_{active};
};

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

  // One more thing may be available: wake one waiter, if any (see the contract).
  void notify_one() noexcept {
    // seq_cst: after the caller's seq_cst change, before a waiter's seq_cst registration,
    // or else that waiter's next attempt sees the change.
    std::uint32_t s = state_.load(std::memory_order_seq_cst);
    if ((s & async_bit) != 0 && wake_async(false)) return;
    // Threads registered since our load attempt after the change: s is enough for them.
    while ((s & waiter_mask) != 0) {
      // release: a woken waiter that takes the token sees what happened before the wake.
      if (state_.compare_exchange_weak(s, s - waiter_one + token_one, std::memory_order_release,
                                       std::memory_order_relaxed)) {
        futex_wake(state_, 1);
        return;
      }
    }
  }

  // Nothing more will change for anyone (closed): wake every waiter.
  void notify_all() noexcept {
    std::uint32_t s = state_.load(std::memory_order_seq_cst);  // seq_cst: as in notify_one
    if ((s & async_bit) != 0) wake_async(true);
    while ((s & waiter_mask) != 0) {
      const std::uint32_t waiters = s & waiter_mask;
      if (state_.compare_exchange_weak(s, (s - waiters) + waiters * token_one, std::memory_order_release,
                                       std::memory_order_relaxed)) {
        futex_wake(state_, INT_MAX);
        return;
      }
    }
  }

  // True if some thread is registered and not yet handed a token, or a coroutine is linked.
  bool has_waiters() const noexcept {
    // seq_cst: the caller asks after its own seq_cst change (see channel_core's hand-on).
    return (state_.load(std::memory_order_seq_cst) & (waiter_mask | async_bit)) != 0;
  }

  // --- Async waiters (see the contract). Called by the owner of w. ---

  // Links w (active) and registers it with a seq_cst RMW; false, without linking, if w was
  // cancelled.
  bool enlist(gate_waiter& w) noexcept {
    const std::unique_lock lock = lock_briefly(mutex_);
    if (w.stopped_) return false;
    // relaxed: nobody else looks at phase while w is unlinked and owned (the lock orders
    // the notifier that will unlink it).
    w.phase_.store(gate_waiter::active, std::memory_order_relaxed);
    w.by_ = gate_waiter::unlinked_by::nobody;
    w.prev_ = tail_;
    w.next_ = nullptr;
    (tail_ != nullptr ? tail_->next_ : head_) = &w;
    tail_ = &w;
    w.linked_ = true;
    // seq_cst: the registration, before the owner's next attempt (the other half of
    // notify_one's load), every time: the bit may already be set, but this RMW is what
    // orders our attempt after it.
    state_.fetch_or(async_bit, std::memory_order_seq_cst);
    return true;
  }

  enum class withdrawn { left, woken, stopped };

  // Unlinks w if it is still linked (left); else says who did (see the contract).
  withdrawn withdraw(gate_waiter& w) noexcept {
    const std::unique_lock lock = lock_briefly(mutex_);
    if (w.linked_) {
      unlink(w);
      return withdrawn::left;
    }
    return w.by_ == gate_waiter::unlinked_by::stop ? withdrawn::stopped : withdrawn::woken;
  }

  // Hands w over to whoever unlinks it next (true); false if it was unlinked (and marked
  // woken) since enlist: the owner keeps it and retries.
  static bool park(gate_waiter& w) noexcept {
    std::uint8_t expected = gate_waiter::active;
    // acq_rel: publishes the awaiter to the claiming thread (release), and sees what the
    // one that marked it woken did (acquire).
    return w.phase_.compare_exchange_strong(expected, gate_waiter::parked, std::memory_order_acq_rel);
  }

  // A stop request for w, from any thread: true if w was parked and the caller now owns it.
  bool cancel(gate_waiter& w) noexcept {
    const std::unique_lock lock = lock_briefly(mutex_);
    w.stopped_ = true;
    if (!w.linked_) return false;  // its owner sees stopped_ at its next enlist
    unlink(w);
    w.by_ = gate_waiter::unlinked_by::stop;
    return take_over(w);
  }

 private:
  static constexpr std::uint32_t waiter_one = 1;
  static constexpr std::uint32_t waiter_mask = 0x7fff;
  static constexpr std::uint32_t async_bit = 0x8000;
  static constexpr std::uint32_t token_one = 1u << 16;

  // Under the lock. Clears async_bit when the list becomes empty.
  void unlink(gate_waiter& w) noexcept {
    (w.prev_ != nullptr ? w.prev_->next_ : head_) = w.next_;
    (w.next_ != nullptr ? w.next_->prev_ : tail_) = w.prev_;
    w.prev_ = w.next_ = nullptr;
    w.linked_ = false;
    // relaxed: an empty list has nobody to order with; the next enlist sets it seq_cst.
    if (head_ == nullptr) state_.fetch_and(~async_bit, std::memory_order_relaxed);
  }

  // Under the lock, w just unlinked: true if it was parked (now the caller's), false if it
  // was active (now marked woken: its owner's park fails).
  static bool take_over(gate_waiter& w) noexcept {
    std::uint8_t expected = gate_waiter::active;
    // acq_rel: as park's.
    if (w.phase_.compare_exchange_strong(expected, gate_waiter::woken, std::memory_order_acq_rel)) return false;
    w.phase_.store(gate_waiter::active, std::memory_order_relaxed);  // relaxed: ours now
    return true;
  }

  // Wakes the first linked coroutine (or all): true if there was one. The claimed ones are
  // chained through next_ (theirs now) and their on_claim called after unlocking; each
  // may be gone once its on_claim has returned.
  bool wake_async(bool all) noexcept {
    gate_waiter* claimed = nullptr;
    gate_waiter** last = &claimed;
    bool any = false;
    {
      const std::unique_lock lock = lock_briefly(mutex_);
      while (head_ != nullptr) {
        gate_waiter& w = *head_;
        unlink(w);
        w.by_ = gate_waiter::unlinked_by::notifier;
        any = true;
        if (take_over(w)) {
          *last = &w;
          last = &w.next_;
        }
        if (!all) break;
      }
    }
    while (claimed != nullptr) {
      gate_waiter& w = *claimed;
      claimed = w.next_;
      w.next_ = nullptr;
      w.on_claim_(w);
    }
    return any;
  }

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
  std::mutex mutex_;  // guards the list of async waiters
  gate_waiter* head_ = nullptr;
  gate_waiter* tail_ = nullptr;
};

}  // namespace bobbin::detail
