#pragma once
// The waiter lists behind atomics::wait / atomics::wait_async / atomics::notify:
// ECMA-262's WaiterList, one FIFO of waiters per address, kept in a fixed table of
// buckets hashed by address, each bucket a mutex and an intrusive list. A waiter is a
// sleeping thread (wait) or an asynchronous waiter (a coroutine's awaiter, queued with
// enqueue()); both kinds share the list, so notify() wakes them together, oldest first.
//
// Contract:
// - wait(address, matches, deadline) and notify(address, count) may be called from any
//   thread, for any address, concurrently. The deadline is a detail::deadline
//   (deadline.hpp): never() waits until notified.
// - wait() calls matches() under the bucket's lock: a notify() for the same address takes
//   the same lock, so a notifier that changed the value before notifying either makes
//   matches() false or finds the waiter queued. No wake-up is lost.
// - wait() returns `notified` only when a notify() took its node off the list, never
//   because the value changed. notify() returns exactly the number of nodes it took off,
//   oldest first, and each of those waiters returns `notified`.
// - A timed-out waiter removes itself under the lock; if a notifier took it off first,
//   the notification wins: the waiter waits (briefly) for the signal and returns
//   `notified`, so the count notify() returned stays exact.
// - Memory order: a notifier signals each node with a release operation which the waiter
//   reads with acquire, so what the notifier wrote before notify() is visible to a woken
//   waiter; the bucket lock orders queueing against notify().
// - Asynchronous waiters: enqueue(node, address, matches) queues a waiter_node whose
//   on_notify is set, if matches() holds under the lock (any thread, concurrently with
//   everything above). Exactly one party unlinks a queued node: a notify(), which counts
//   it and then calls node->on_notify(node) once, after unlocking, or one remove(node)
//   that returns true. remove() returns false once someone else unlinked the node: if
//   that was a notify(), its callback is coming or has run. For the callback, the bucket
//   lock orders the notifier's earlier writes before it (it runs on the notifier's
//   thread); it carries them on to its coroutine itself.
// - Thread nodes live on the waiting thread's stack, asynchronous ones in a coroutine
//   frame. A notifier unlinks its nodes under the lock and wakes them after unlocking
//   (woken threads need not queue on the lock, and the system call stays out of the
//   critical section); the signal, or the call of on_notify, is its last access to a
//   node: a thread may destroy its node as soon as it sees the signal, and an
//   asynchronous waiter's callback decides when its owner may destroy it.
//
// The signal: on Linux, a 32-bit futex word per node (the value itself may be 64 bits,
// and the node's own word lets a short spin catch a prompt notify without a system call).
// Elsewhere, or when BOBBIN_ATOMICS_PORTABLE_PARKING is defined, a mutex and condition
// variable per node. Define that macro for a whole program or not at all: the table's
// type depends on it, so mixing the two in one program breaks the one-definition rule.

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <thread>

#include "../config.hpp"
#include "../time/deadline.hpp"
#include "futex.hpp"

#if defined(__linux__) && !defined(BOBBIN_ATOMICS_PORTABLE_PARKING)
#define BOBBIN_DETAIL_ATOMICS_FUTEX 1
#else
#define BOBBIN_DETAIL_ATOMICS_FUTEX 0
#endif

namespace bobbin::detail {

#if BOBBIN_DETAIL_ATOMICS_FUTEX

// One-shot signal on a futex word: the waiter spins, then announces `sleeping` and
// futex-waits; signal() makes the system call only for a sleeper.
class futex_signal {
 public:
  static constexpr const char* name = "futex";

  // acquire: pairs with signal()'s release.
  bool signalled() const noexcept { return state_.load(std::memory_order_acquire) == set; }

  // Blocks until signalled (true) or the deadline has passed (false).
  bool sleep_until(const deadline& d) noexcept {
    for (;;) {
      std::uint32_t s = state_.load(std::memory_order_acquire);  // pairs with signal()
      if (s == set) return true;
      // acquire on failure: it may read signal()'s store.
      if (s == waiting &&
          !state_.compare_exchange_weak(s, sleeping, std::memory_order_acquire, std::memory_order_acquire))
        continue;
      if (futex_wait(state_, sleeping, d) == futex_status::timed_out) return false;
    }
  }

  // After signalled() was seen without sleeping: nothing to wait for.
  void settle() noexcept {}

  static void signal(futex_signal* s) noexcept {
    std::atomic<std::uint32_t>* word = &s->state_;
    // release: the notifier's earlier writes happen before the woken waiter returns.
    if (word->exchange(set, std::memory_order_release) == sleeping) {
      // From here on the waiter may have returned and its node be gone. A private futex
      // wake only hashes the address, never touches the memory; at worst it is a spurious
      // wake-up for whoever sleeps on that word now, which every futex user tolerates.
      futex_syscall(word, FUTEX_WAKE, 1, nullptr);
    }
  }

 private:
  static constexpr std::uint32_t waiting = 0, sleeping = 1, set = 2;
  std::atomic<std::uint32_t> state_{waiting};
};

using wake_signal = futex_signal;

#else

// One-shot signal on a mutex and condition variable. signal() does all its work under
// the mutex, and the waiter takes the mutex before it returns, so the node outlives the
// notifier's last touch.
class condvar_signal {
 public:
  static constexpr const char* name = "condition_variable";

  // acquire: pairs with signal()'s release (a lock-free peek for the spin).
  bool signalled() const noexcept { return set_.load(std::memory_order_acquire); }

  bool sleep_until(const deadline& d) {
    std::unique_lock lock(mutex_);
    // relaxed: the mutex orders set_ here.
    const auto pred = [this] { return set_.load(std::memory_order_relaxed); };
    if (d.is_infinite()) {
      cv_.wait(lock, pred);
      return true;
    }
    // The deadline decides the timeout, on its own clock, so it never ends early whatever
    // the platform's condition variable converts a timeout to.
    while (!pred()) {
      if (d.has_passed()) return false;
      cv_.wait_for(lock, d.sleep_time());
    }
    return true;
  }

  // After signalled() was seen lock-free: wait until signal() has left the mutex.
  void settle() { std::lock_guard lock(mutex_); }

  static void signal(condvar_signal* s) {
    std::lock_guard lock(s->mutex_);
    s->set_.store(true, std::memory_order_release);  // release: see signalled()
    s->cv_.notify_one();
  }

 private:
  std::atomic<bool> set_{false};
  std::mutex mutex_;
  std::condition_variable cv_;
};

using wake_signal = condvar_signal;

#endif

enum class park_result { notified, not_equal, timed_out };

// A waiter on the list of one address. The lists' fields belong to the table, under the
// bucket lock.
struct waiter_node {
  // nullptr for a sleeping thread (the table's own node); the callback of an
  // asynchronous waiter, called once by the notify() that unlinks it.
  void (*on_notify)(waiter_node*) noexcept = nullptr;

 private:
  friend class waiter_table;
  const void* address_ = nullptr;
  waiter_node* prev_ = nullptr;
  waiter_node* next_ = nullptr;
  bool taken_ = false;  // under the bucket lock: unlinked by a notifier or by remove()
};

// How long a waiter spins on its signal before it sleeps: long enough to catch a
// partner that answers at once (a ping-pong round trip between two cores takes under
// 1 µs when both spin), short against the ~50 µs it costs to wake a sleeping core.
// After the first quarter microsecond the spin yields between looks: a partner that
// shares our core can then run and answer, instead of waiting for our spin to end
// (pinned to one core, that takes a round trip from 22 µs to 2 µs).
inline constexpr std::chrono::nanoseconds atomics_spin_for{10'000};
inline constexpr std::chrono::nanoseconds atomics_spin_before_yield{250};

class waiter_table {
 public:
  // Queues the caller on `address` if matches() holds (checked under the lock), then
  // waits for a notify() on that address or for the deadline (never(): no timeout).
  template <class Matches>
  park_result wait(const void* address, Matches&& matches, const deadline& d) {
    bucket& b = bucket_for(address);
    thread_node self;
    self.address_ = address;
    {
      std::lock_guard lock(b.mutex);
      if (!matches()) return park_result::not_equal;
      if (d.has_passed()) return park_result::timed_out;
      b.push_back(&self);
    }

    if (spin(self.signal, d)) {
      self.signal.settle();
      return park_result::notified;
    }
    if (self.signal.sleep_until(d)) return park_result::notified;

    {
      std::lock_guard lock(b.mutex);
      if (!self.taken_) {
        b.erase(&self);
        return park_result::timed_out;
      }
    }
    // A notifier took the node off just before the deadline and is about to signal it.
    self.signal.sleep_until(deadline::never());
    return park_result::notified;
  }

  // Queues the asynchronous waiter `node` (on_notify set, not queued) on `address` if
  // matches() holds, checked under the lock; false (not queued) if it does not.
  template <class Matches>
  bool enqueue(waiter_node* node, const void* address, Matches&& matches) {
    bucket& b = bucket_for(address);
    node->address_ = address;
    node->taken_ = false;
    std::lock_guard lock(b.mutex);
    if (!matches()) return false;
    b.push_back(node);
    return true;
  }

  // Unlinks a node that enqueue() queued: true iff this call unlinked it (no notify()
  // will call its callback), false if a notify() or another remove() did first.
  bool remove(waiter_node* node) noexcept {
    bucket& b = bucket_for(node->address_);
    std::lock_guard lock(b.mutex);
    if (node->taken_) return false;
    b.erase(node);
    node->taken_ = true;
    return true;
  }

  // Wakes up to `count` waiters on `address`, oldest first; returns how many it woke.
  std::size_t notify(const void* address, std::size_t count) {
    if (count == 0) return 0;
    bucket& b = bucket_for(address);
    waiter_node* taken = nullptr;
    waiter_node** last = &taken;
    std::size_t n = 0;
    {
      std::lock_guard lock(b.mutex);
      for (waiter_node* w = b.head; w != nullptr && n < count;) {
        waiter_node* next = w->next_;
        if (w->address_ == address) {
          b.erase(w);
          w->taken_ = true;
          *last = w;
          last = &w->next_;
          ++n;
        }
        w = next;
      }
      *last = nullptr;
    }
    for (waiter_node* w = taken; w != nullptr;) {
      waiter_node* next = w->next_;  // read before the wake-up: after it, w may be gone
      if (w->on_notify == nullptr) {
        wake_signal::signal(&static_cast<thread_node*>(w)->signal);
      } else {
        w->on_notify(w);
      }
      w = next;
    }
    return n;
  }

  // How many waiters (threads and asynchronous ones) are queued on `address` now. For tests, which must know that their
  // waiters are asleep before they notify.
  std::size_t waiting(const void* address) {
    bucket& b = bucket_for(address);
    std::lock_guard lock(b.mutex);
    std::size_t n = 0;
    for (waiter_node* w = b.head; w != nullptr; w = w->next_) n += w->address_ == address ? 1 : 0;
    return n;
  }

 private:
  struct thread_node : waiter_node {
    wake_signal signal;
  };

  struct alignas(cache_line) bucket {
    std::mutex mutex;
    waiter_node* head = nullptr;
    waiter_node* tail = nullptr;

    void push_back(waiter_node* n) noexcept {
      n->prev_ = tail;
      n->next_ = nullptr;
      (tail != nullptr ? tail->next_ : head) = n;
      tail = n;
    }
    void erase(waiter_node* n) noexcept {
      (n->prev_ != nullptr ? n->prev_->next_ : head) = n->next_;
      (n->next_ != nullptr ? n->next_->prev_ : tail) = n->prev_;
    }
  };

  static constexpr std::size_t bucket_bits = 8;
  static_assert(sizeof(bucket) % cache_line == 0, "one bucket per cache line");

  bucket& bucket_for(const void* address) noexcept {
    // Fibonacci hashing: neighbouring elements land in different buckets.
    const auto a = static_cast<std::uint64_t>(reinterpret_cast<std::uintptr_t>(address));
    return buckets_[(a * 0x9E3779B97F4A7C15ULL) >> (64 - bucket_bits)];
  }

  static bool spin(const wake_signal& signal, const deadline& d) noexcept {
    using clock = std::chrono::steady_clock;
    const auto start = clock::now();
    auto until = start + atomics_spin_for;
    if (!d.is_infinite()) until = start + std::min(atomics_spin_for, d.remaining());
    const auto yield_from = start + atomics_spin_before_yield;
    for (unsigned i = 1;; ++i) {
      if (signal.signalled()) return true;
      cpu_relax();
      if (i % 16 == 0) {  // a look at the clock costs about two pauses
        const auto now = clock::now();
        if (now >= until) return false;
        if (now >= yield_from) std::this_thread::yield();
      }
    }
  }

  bucket buckets_[std::size_t{1} << bucket_bits];
};

// The process-wide table: constant-initialised, so usable from any static initialiser.
inline constinit waiter_table atomics_waiters{};

}  // namespace bobbin::detail
