#pragma once
// detail::timer_service: the one process-wide timer thread behind every time-based
// suspension of a coroutine (sleep_for, sleep_until, atomics::wait_async's timeout).
// detail::timer_heap: the pairing heap it keeps its pending timers in.
//
// Contract:
// - A timer_node is intrusive: its owner (an awaiter inside a coroutine frame) sets
//   `fire` and keeps the node alive until the service is done with it (below). The
//   service never allocates: schedule() and cancel() are noexcept.
// - instance() returns the service, starting its thread on the first call (it throws
//   std::system_error if no thread can be started, and tries again on the next call).
//   Any thread may call schedule() and cancel(), for any node, concurrently.
// - schedule(node, d) arms a node that is not armed (never scheduled, fired, or cancelled):
//   the service calls node->fire(node) once, on the timer thread, once `d` has passed on
//   its own clock (never early: a time point of another clock is checked on that clock,
//   at least once a second as detail::deadline asks), unless cancel() removes it first.
//   deadline::never() is allowed: such a node only waits to be cancelled.
// - cancel(node) returns true iff it took the node out of the heap itself: then fire is
//   never called for this arming. It returns false if the timer thread already took the
//   node (fire has run, is running, or is about to run) or the node is not armed (never
//   scheduled, or another cancel() took it). Of a firing and any number of cancel()
//   calls racing on one armed node, exactly one "takes" it: the firing, or one cancel()
//   that returns true.
// - Node lifetime: the service touches a node only under its lock, except the call
//   node->fire(node), after which the service never touches the node again. So a node
//   may be destroyed (1) after a cancel() that returned true, or (2) once its fire
//   callback has made its last access to it: the callback decides that, typically with
//   an atomic its owner can watch (see timer.hpp and atomics.hpp).
// - Fire callbacks run on the timer thread one at a time, outside the lock, in deadline
//   order (ties: the order of schedule()). They must not block: a late callback delays
//   every later timer. They may call schedule() and cancel(). A coroutine resumed inline
//   by a fire callback (a context without a resumer) runs on the timer thread, under the
//   same rule.
// Memory order: everything happens under the service's mutex, so what a thread wrote
// before schedule() happens before the fire callback runs, and a cancel() that returns
// false happens after the timer thread took the node (whatever the callback then writes
// needs the callback's own synchronisation, e.g. an acq_rel RMW that the owner reads).
//
// The thread sleeps on a condition variable until the earliest deadline (at most
// deadline::max_steady_sleep, an hour, at a time), or until schedule() brings an earlier
// one: with timers pending and none due, it uses no CPU.
//
// Lifecycle: the service object is never destroyed (it lives in static storage, so
// cancel() and schedule() stay valid during and after static destruction). Its thread
// is stopped and joined at process exit by the destructor of a function-local static
// created on the first instance() call. Timers still pending then are dropped: they
// stay in the heap and never fire (their coroutines stay suspended; cancel() still takes
// them out), and so do timers scheduled afterwards. So a pool of static storage made
// before the first timer was used, destroyed after this stop, waits in its destructor
// for a coroutine still sleeping then: stop such coroutines before exit (a stop request
// still cancels a dropped sleep).
// fork(): the timer thread exists only in the parent. A child made by fork() may exit
// (the exit-time stop does not wait for the parent's thread), but its timers never fire:
// use no timers in a child that does not exec.

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <new>
#include <thread>
#include <utility>

#include "../thread_name.hpp"
#include "deadline.hpp"

#if defined(__unix__) || defined(__APPLE__)
#include <unistd.h>
#endif

namespace bobbin::detail {

class timer_service;
class timer_heap;

class timer_node {
 public:
  // Called once on the timer thread when the deadline has passed; see the contract.
  void (*fire)(timer_node*) noexcept = nullptr;

 private:
  friend class timer_heap;
  friend class timer_service;
  enum class state : unsigned char { idle, queued, taken };

  // The service's, under its lock.
  deadline when_ = deadline::never();
  std::chrono::steady_clock::time_point key_{};  // when to look at when_ next
  std::uint64_t seq_ = 0;                        // ties between equal keys: first scheduled first
  timer_node* child_ = nullptr;                  // pairing heap: leftmost child
  timer_node* next_ = nullptr;                   // next sibling
  timer_node* prev_ = nullptr;                   // previous sibling, or the parent of a leftmost child
  state state_ = state::idle;
};

// A pairing heap (Fredman, Sedgewick, Sleator, Tarjan 1986) of timer nodes, keyed by
// (key_, seq_): push O(1), pop and erase O(log n) amortised, no allocation. Not
// thread-safe: the service calls it under its lock.
class timer_heap {
 public:
  bool empty() const noexcept { return root_ == nullptr; }
  timer_node* top() const noexcept { return root_; }

  void push(timer_node* n) noexcept {
    n->child_ = n->next_ = n->prev_ = nullptr;
    root_ = root_ == nullptr ? n : meld(root_, n);
  }

  void pop() noexcept {
    timer_node* r = root_;
    root_ = merge_pairs(r->child_);
    r->child_ = nullptr;
  }

  // `n` must be in this heap.
  void erase(timer_node* n) noexcept {
    if (n == root_) {
      pop();
      return;
    }
    // Cut n's subtree out of its sibling list, then meld its children back at the root.
    if (n->prev_->child_ == n) {
      n->prev_->child_ = n->next_;
    } else {
      n->prev_->next_ = n->next_;
    }
    if (n->next_ != nullptr) n->next_->prev_ = n->prev_;
    n->next_ = n->prev_ = nullptr;
    timer_node* rest = merge_pairs(n->child_);
    n->child_ = nullptr;
    if (rest != nullptr) root_ = meld(root_, rest);
  }

 private:
  static bool before(const timer_node* a, const timer_node* b) noexcept {
    return a->key_ < b->key_ || (a->key_ == b->key_ && a->seq_ < b->seq_);
  }

  // Two roots (no parent, no siblings): the later one becomes the earlier one's first child.
  static timer_node* meld(timer_node* a, timer_node* b) noexcept {
    if (before(b, a)) std::swap(a, b);
    b->prev_ = a;
    b->next_ = a->child_;
    if (a->child_ != nullptr) a->child_->prev_ = b;
    a->child_ = b;
    return a;
  }

  // The standard two passes over a sibling list: meld pairs left to right, then the pairs
  // right to left into one tree.
  static timer_node* merge_pairs(timer_node* first) noexcept {
    timer_node* pairs = nullptr;  // the melded pairs, last first, linked through next_
    while (first != nullptr) {
      timer_node* a = first;
      timer_node* b = a->next_;
      first = b != nullptr ? b->next_ : nullptr;
      a->next_ = a->prev_ = nullptr;
      if (b != nullptr) {
        b->next_ = b->prev_ = nullptr;
        a = meld(a, b);
      }
      a->next_ = pairs;
      pairs = a;
    }
    timer_node* result = nullptr;
    while (pairs != nullptr) {
      timer_node* p = pairs;
      pairs = p->next_;
      p->next_ = nullptr;
      result = result == nullptr ? p : meld(result, p);
    }
    return result;
  }

  timer_node* root_ = nullptr;
};

class timer_service {
 public:
  using clock = std::chrono::steady_clock;

  timer_service(const timer_service&) = delete;
  timer_service& operator=(const timer_service&) = delete;

  // The process's service, its thread started (throws std::system_error if it cannot be).
  static timer_service& instance() {
    // Never destroyed (see the top); the guard's destructor stops the thread at exit.
    alignas(timer_service) static unsigned char storage[sizeof(timer_service)];
    static timer_service& service = *::new (static_cast<void*>(storage)) timer_service();
    static const exit_guard guard{service};
    // acquire: pairs with start()'s release (the thread object is set).
    if (!service.started_.load(std::memory_order_acquire)) service.start();
    return service;
  }

  // Arms `node` to fire once `d` has passed (see the contract).
  void schedule(timer_node* node, const deadline& d) noexcept {
    bool earliest = false;
    {
      std::lock_guard lock(mutex_);
      node->when_ = d;
      node->key_ = key_for(d, clock::now());
      node->seq_ = next_seq_++;
      node->state_ = timer_node::state::queued;
      heap_.push(node);
      earliest = heap_.top() == node;
    }
    // Outside the lock, so the thread does not wake into a held mutex; the service is
    // never destroyed, so this is safe whatever happens to the node meanwhile.
    if (earliest) cv_.notify_one();
  }

  // True iff this call took the armed node out: it will not fire (see the contract).
  bool cancel(timer_node* node) noexcept {
    std::lock_guard lock(mutex_);
    if (node->state_ != timer_node::state::queued) return false;
    heap_.erase(node);
    node->state_ = timer_node::state::idle;
    // The thread may now sleep towards an earlier deadline than needed: it wakes, finds
    // nothing due and sleeps again. Cheaper than waking it on every cancel.
    return true;
  }

 private:
  struct exit_guard {
    timer_service& service;
    ~exit_guard() { service.stop(); }
  };

  timer_service() = default;

  // When the thread should look at a node next: its steady deadline exactly (so equal
  // deadlines keep their order), or sooner where deadline caps a sleep: a time point of
  // another clock (a second) or one more than an hour away. The thread re-checks when_
  // itself before it fires.
  static clock::time_point key_for(const deadline& d, clock::time_point now) noexcept {
    if (d.is_infinite()) return clock::time_point::max();
    const clock::time_point due = d.steady_time();
    const std::chrono::nanoseconds sleep = d.sleep_time();
    if (sleep != deadline::max_other_clock_sleep && sleep != deadline::max_steady_sleep) return due;
    const clock::time_point look = now + std::chrono::ceil<clock::duration>(sleep);
    return look < due ? look : due;
  }

  void start() {
    std::lock_guard lock(mutex_);
    if (started_.load(std::memory_order_relaxed) || stopping_) return;
    thread_ = std::thread([this] { run(); });  // may throw: started_ stays false
#if defined(__unix__) || defined(__APPLE__)
    owner_pid_ = ::getpid();
#endif
    started_.store(true, std::memory_order_release);  // release: see instance()
  }

  void stop() noexcept {
#if defined(__unix__) || defined(__APPLE__)
    // A child of fork(): the thread is the parent's, there is nothing to stop or join
    // here, and the parent may have held the lock when it forked.
    if (started_.load(std::memory_order_acquire) && ::getpid() != owner_pid_) return;
#endif
    {
      std::lock_guard lock(mutex_);
      stopping_ = true;  // also keeps start() from starting a thread after this
    }
    cv_.notify_all();
    // acquire: pairs with start()'s release; read after the lock, so a start() that
    // raced with us is seen.
    if (!started_.load(std::memory_order_acquire)) return;
    // A fire callback may end the process (exit() on the timer thread): never join ourselves.
    if (thread_.get_id() == std::this_thread::get_id()) {
      thread_.detach();
      return;
    }
    if (thread_.joinable()) thread_.join();
  }

  void run() noexcept {
    try {
      name_this_thread("bobbin-timer", 0);
    } catch (...) {  // std::bad_alloc: an unnamed thread works as well
    }
    std::unique_lock lock(mutex_);
    while (!stopping_) {
      timer_node* top = heap_.top();
      if (top == nullptr) {
        cv_.wait(lock);
        continue;
      }
      const clock::time_point now = clock::now();
      if (top->key_ > now) {
        // A copy: wait_until reads its argument again after waking, when the node may be
        // gone (cancelled and destroyed meanwhile).
        const clock::time_point cap = now + std::chrono::ceil<clock::duration>(deadline::max_steady_sleep);
        const clock::time_point until = top->key_ < cap ? top->key_ : cap;
        cv_.wait_until(lock, until);
        continue;
      }
      heap_.pop();
      if (!top->when_.has_passed()) {
        // Another clock's time point not reached yet, or a steady one more than an
        // hour away when it was keyed: look again later.
        top->key_ = key_for(top->when_, now);
        heap_.push(top);
        continue;
      }
      top->state_ = timer_node::state::taken;
      lock.unlock();
      top->fire(top);  // the service's last access to the node
      lock.lock();
    }
  }

  std::mutex mutex_;
  std::condition_variable cv_;
  timer_heap heap_;             // under mutex_
  std::uint64_t next_seq_ = 0;  // under mutex_
  bool stopping_ = false;       // under mutex_
  std::atomic<bool> started_{false};
  std::thread thread_;
#if defined(__unix__) || defined(__APPLE__)
  pid_t owner_pid_ = 0;
#endif
};

}  // namespace bobbin::detail
