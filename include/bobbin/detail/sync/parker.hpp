#pragma once
// detail::parker: where one thread sleeps until another wakes it. detail::waiter: anything
// that wants to hear that something completed (a parked thread, a continuation).
// detail::completion: a one-shot "done" flag with at most one registered waiter.
//
// Parker contract:
// - Only the owning thread calls reset(), park(), park_until(deadline) and wait_for(bit).
// - Any thread calls unpark(bit). Each wake-up source uses its own bit, so the owner can
//   tell "my future completed" (wake_done) from "there may be new work" (wake_work) and
//   can wait for a particular source's unpark to have happened before it leaves: a waker
//   touches the parker's word, so the owner must not let the parker die while a waker
//   that committed to waking it has not stored yet. unpark's fetch_or is release and the
//   owner's loads are acquire: what the waker did before unparking is visible after.
// - The futex syscall that follows the store may reach a parker whose owner already saw
//   the bit and moved on; a private FUTEX_WAKE on an address nobody sleeps on is harmless.
//
// Completion contract (one completer, at most one registered waiter at a time):
// - complete() is called once; it publishes (release) everything written before it and
//   notifies the waiter registered at that moment, if any. It returns true if the
//   consumer had abandoned the completion first (abandon() succeeded): the caller then
//   owns whatever the consumer left behind.
// - abandon() (consumer) succeeds iff complete() has not happened yet; afterwards the
//   consumer never touches the completion again.
// - try_register(w) fails iff already complete; try_unregister(w) fails iff complete()
//   has taken w, in which case w is notified (or about to be): a parked owner must then
//   wait for that notification before it reuses or destroys w.

#include <atomic>
#include <cstdint>

#include "../time/deadline.hpp"
#include "futex.hpp"

namespace bobbin::detail {

inline constexpr std::uint32_t wake_done = 1;  // a completion this thread waited for
inline constexpr std::uint32_t wake_work = 2;  // the pool: work may be available

struct waiter {  // at least pointer-aligned: completion tags use the low bits
  void (*notify)(waiter*) noexcept;
};

class parker : public waiter {
 public:
  parker() noexcept : waiter{&notify_done} {}
  parker(const parker&) = delete;
  parker& operator=(const parker&) = delete;

  void reset() noexcept { word_.store(0, std::memory_order_relaxed); }

  void unpark(std::uint32_t bit) noexcept {
    word_.fetch_or(bit, std::memory_order_release);
    futex_wake(word_, 1);
  }

  // Sleeps until some bit is set; returns the bits.
  std::uint32_t park() noexcept {
    std::uint32_t w;
    while ((w = word_.load(std::memory_order_acquire)) == 0) futex_wait(word_, 0);
    return w;
  }

  // Sleeps until some bit is set or the deadline passes; returns the bits (0: timed out).
  std::uint32_t park_until(const deadline& d) noexcept {
    std::uint32_t w;
    while ((w = word_.load(std::memory_order_acquire)) == 0) {
      if (futex_wait(word_, 0, d) == futex_status::timed_out) return 0;
    }
    return w;
  }

  // Sleeps until `bit` is set.
  void wait_for(std::uint32_t bit) noexcept {
    std::uint32_t w;
    while (((w = word_.load(std::memory_order_acquire)) & bit) == 0) futex_wait(word_, w);
  }

  std::uint32_t bits() const noexcept { return word_.load(std::memory_order_acquire); }

 private:
  static void notify_done(waiter* w) noexcept { static_cast<parker*>(w)->unpark(wake_done); }
  std::atomic<std::uint32_t> word_{0};
};

class completion {
  static constexpr std::uintptr_t pending = 0;
  static constexpr std::uintptr_t done_tag = 1;
  static constexpr std::uintptr_t abandoned_tag = 2;  // waiters are at least 4-aligned

 public:
  bool done() const noexcept { return slot_.load(std::memory_order_acquire) == done_tag; }

  [[nodiscard]] bool complete() noexcept {
    // acq_rel: release publishes the result; acquire sees the waiter's registration (or
    // everything the consumer did before abandoning).
    const std::uintptr_t old = slot_.exchange(done_tag, std::memory_order_acq_rel);
    if (old == abandoned_tag) return true;
    if (old != pending) {
      auto* w = reinterpret_cast<waiter*>(old);
      w->notify(w);
    }
    return false;
  }

  bool abandon() noexcept {
    std::uintptr_t expected = pending;
    // release: the completer that finds the tag sees what the consumer did before.
    return slot_.compare_exchange_strong(expected, abandoned_tag, std::memory_order_acq_rel, std::memory_order_acquire);
  }

  bool try_register(waiter* w) noexcept {
    std::uintptr_t expected = pending;
    // acq_rel on success (publishes the waiter), acquire on failure (sees the result).
    return slot_.compare_exchange_strong(expected, reinterpret_cast<std::uintptr_t>(w), std::memory_order_acq_rel,
                                         std::memory_order_acquire);
  }

  bool try_unregister(waiter* w) noexcept {
    auto expected = reinterpret_cast<std::uintptr_t>(w);
    return slot_.compare_exchange_strong(expected, pending, std::memory_order_acq_rel, std::memory_order_acquire);
  }

 private:
  std::atomic<std::uintptr_t> slot_{pending};
};

}  // namespace bobbin::detail
