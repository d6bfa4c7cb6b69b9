#pragma once
// detail::idle_workers: a pool's sleeping and waking (after Go's and Tokio's schedulers).
//
// Words: T = searching, the pool threads awake and looking for work; S = sleepers, those
// parked on the idle stack; A = tasks queued that any pool thread may take; A_k = tasks
// only thread k may take (targeted policies).
//
// The invariant, true whenever no producer or sleeper is between its two steps below:
//
//     A > 0    =>  T >= 1  or  S == 0      (shared work: somebody looks, or nobody sleeps)
//     A_k > 0  =>  thread k is not parked  (targeted work: its one taker is awake)
//
// How each side keeps it:
// - A producer (pool_core::push_local / admit) publishes the task, fences (the light side
//   of detail/sync/asymmetric_fence.hpp), then wake_any(): if T == 0 and S > 0 it pops a
//   sleeper and counts it as searching (T += 1) on its behalf, before it unparks it, so a
//   burst of submissions wakes one thread, not one per task. Targeted work: wake(k).
// - A thread about to sleep (pool_core::sleep) enter()s: pushes itself on the idle stack
//   (S += 1) and stops searching (T -= 1), all seq_cst RMWs; fences (the heavy side); then
//   looks at the queues once more. With the producer's fence this is the Dekker pattern:
//   either the producer sees the sleeper (S > 0) or the sleeper sees the task. A sleeper
//   whose last look finds work leave()s and searches again (T += 1) before it takes it: a
//   producer that saw it searching woke nobody, so it owes the "last searcher wakes the
//   next" step for what it leaves behind.
// - A searcher that finds work stops searching (T -= 1); if it was the last one and work
//   remains, it wakes the next sleeper (wake_any), so parallelism ramps up.
// No lost wake-ups, and an idle pool sleeps in futex_wait.
//
// Thread-safety: start_searching/stop_searching, wake_any, wake, wake_all from any thread;
// enter/leave by pool thread k about itself. The idle stack is guarded by a mutex, taken
// only on the slow paths (a sleeper, a wake-up).

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <mutex>
#include <vector>

#include "../config.hpp"
#include "../sync/parker.hpp"

namespace bobbin::detail {

// What a pool thread needs to sleep: its place on the idle stack and its parker.
struct sleeper {
  bool in_idle_stack = false;         // guarded by idle_workers::mutex_
  std::atomic<bool> sleeping{false};  // on the idle stack; read by targeted wake-ups
  parker park;
};

class idle_workers {
 public:
  explicit idle_workers(std::size_t threads) {
    all_.reserve(threads);
    stack_.reserve(threads);
  }

  // The pool's threads, in index order, before they start; they outlive this object's use.
  void add(sleeper& s) { all_.push_back(&s); }

  void start_searching() noexcept { searching_.fetch_add(1, std::memory_order_seq_cst); }
  // Returns whether the caller was the last searcher (and so owes a wake_any if work is left).
  bool stop_searching() noexcept { return searching_.fetch_sub(1, std::memory_order_seq_cst) == 1; }

  // Any thread may take the work: wake one sleeper, unless somebody is already searching.
  // The two loads inline (every spawn pays them), the wake-up out of line.
  BOBBIN_ALWAYS_INLINE void wake_any() {
    if (searching_.load(std::memory_order_seq_cst) != 0) return;
    if (sleepers_.load(std::memory_order_seq_cst) == 0) return;
    wake_a_sleeper();
  }

  // Only thread k may take the work: wake it if it sleeps.
  void wake(std::size_t k) {
    sleeper& s = *all_[k];
    if (!s.sleeping.load(std::memory_order_seq_cst)) return;
    std::lock_guard lock(mutex_);
    if (!s.in_idle_stack) return;
    stack_.erase(std::find(stack_.begin(), stack_.end(), k));
    unpark_locked(s);
  }

  void wake_all() noexcept {
    std::lock_guard lock(mutex_);
    for (std::size_t i : stack_) unpark_locked(*all_[i]);
    stack_.clear();
  }

  // Thread k, searching, goes on the idle stack and stops searching (see the top).
  void enter(std::size_t k) {
    sleeper& s = *all_[k];
    {
      std::lock_guard lock(mutex_);
      stack_.push_back(k);
      s.in_idle_stack = true;
      s.sleeping.store(true, std::memory_order_seq_cst);
      sleepers_.fetch_add(1, std::memory_order_seq_cst);
    }
    searching_.fetch_sub(1, std::memory_order_seq_cst);
  }

  // Thread k is awake again (woken, or it never parked): off the idle stack. Returns whether
  // it is searching now: a waker chose it (and counted it), or its last look found `work`.
  bool leave(std::size_t k, bool work) {
    sleeper& s = *all_[k];
    bool chosen;
    {
      std::lock_guard lock(mutex_);
      chosen = !s.in_idle_stack;  // a waker popped us and counted us as searching
      if (s.in_idle_stack) {
        stack_.erase(std::find(stack_.begin(), stack_.end(), k));
        s.in_idle_stack = false;
        sleepers_.fetch_sub(1, std::memory_order_seq_cst);
      }
      s.sleeping.store(false, std::memory_order_relaxed);
    }
    if (work && !chosen) {
      // We stopped searching in enter(), but producers that saw us searching before that
      // woke nobody: search again, so that taking this work passes the wake-up on.
      start_searching();
      chosen = true;
    }
    return chosen;
  }

 private:
  BOBBIN_NOINLINE void wake_a_sleeper() {
    std::lock_guard lock(mutex_);
    if (stack_.empty() || searching_.load(std::memory_order_relaxed) != 0) return;
    unpark_locked(*all_[stack_.back()]);
    stack_.pop_back();
  }

  // With mutex_ held, for a sleeper on the idle stack (the caller removes it).
  void unpark_locked(sleeper& s) noexcept {
    s.in_idle_stack = false;
    sleepers_.fetch_sub(1, std::memory_order_seq_cst);
    searching_.fetch_add(1, std::memory_order_seq_cst);  // on the chosen thread's behalf
    s.park.unpark(wake_work);
  }

  alignas(cache_line) std::atomic<std::size_t> searching_{0};
  std::atomic<std::size_t> sleepers_{0};
  std::mutex mutex_;
  std::vector<std::size_t> stack_;  // guarded by mutex_
  std::vector<sleeper*> all_;       // written before the threads start
};

}  // namespace bobbin::detail
