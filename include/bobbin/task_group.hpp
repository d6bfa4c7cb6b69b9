#pragma once
// bobbin::task_group: structured fork-join on a pool; parallel_for and parallel_reduce
// built on it.
//
// Contract:
// - run() may be called from any thread, including from inside the group's own tasks
//   (they may add work to their group). wait() is called by the thread that created the
//   group (std::logic_error otherwise); it returns once every task run() before it, and
//   every task those added, has finished, and rethrows the first exception any of them
//   threw. The group can be reused after.
// - On a pool worker, wait() runs other pending tasks while it waits (no deadlock in
//   recursive fork-join, whatever the number of threads); elsewhere it sleeps.
// - The destructor waits too (a group never leaves tasks running that refer to a dead
//   frame); an exception that no wait() collected is then dropped.
// - A task of the group cancelled by pool::shutdown_now() counts as finished and makes
//   wait() throw task_cancelled.
//
// Counting, built for the common case where the creating thread runs most of its tasks
// itself (it pops what it pushed): spawns and finishes on the creating thread ("owner")
// are plain counters; only spawns and finishes on other threads touch `balance_`, which
// holds 2 x (their spawns - their finishes). Pending = local spawns - local finishes +
// balance_/2 (signed: a task spawned here may finish elsewhere, and the other way round).
// To sleep, the owner moves its local part into balance_ and sets the low bit (a waiter
// is registered) with one CAS; from then on balance_ alone is the pending count (x2, plus
// the bit), so the remote finisher whose fetch_sub leaves exactly 1 is the last, and it
// needs nothing else from the group to know it. A registered owner does
// not return before that finisher has notified it, and without a waiter the fetch_sub is
// a remote finisher's last access to the group, so the group may live on the owner's
// stack. While registered the owner runs nothing, so the local counters stay put.

#include <algorithm>
#include <atomic>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <optional>
#include <stdexcept>
#include <type_traits>
#include <utility>
#include <vector>

#include "detail/hooks.hpp"
#include "errors.hpp"

namespace bobbin {

class task_group final : private detail::awaitable {
 public:
  template <class Pool>
    requires std::derived_from<Pool, detail::scheduler>
  explicit task_group(Pool& p) noexcept : sched_(p), owner_(detail::this_thread_token()) {}

  task_group(const task_group&) = delete;
  task_group& operator=(const task_group&) = delete;

  ~task_group() {
    if (!done()) wait_quietly();
  }

  // Runs fn() as part of the group. Throws pool_closed if the pool refuses it.
  template <class F>
    requires std::is_invocable_v<std::decay_t<F>&>
  void run(F&& fn) {
    const bool local = on_owner();
    // Built before it is counted: building may throw (std::bad_alloc, a copy of fn).
    detail::task t(member<std::decay_t<F>>{this, std::forward<F>(fn)});
    count_spawn(local);
    bool queued = false;
    try {
      queued = sched_.try_schedule(t);
    } catch (...) {
      t.discard();  // not queued: nothing else will finish it, and nothing was cancelled
      count_finish(local);
      throw;
    }
    if (!queued) {
      t.discard();
      count_finish(local);
      throw pool_closed{};
    }
  }

  // Waits for every task of the group; rethrows the first exception one of them threw.
  BOBBIN_ALWAYS_INLINE void wait() {
    if (!on_owner()) throw std::logic_error("bobbin: task_group::wait() must be called by the thread that created the group");
    detail::block_on(*this);
    // Nothing is in flight: reset for the next round (the waiter bit included).
    spawned_ = finished_ = 0;
    balance_.store(0, std::memory_order_relaxed);
    if (failed_.load(std::memory_order_acquire)) {
      std::exception_ptr e = std::exchange(error_, nullptr);
      failed_.store(false, std::memory_order_relaxed);
      std::rethrow_exception(e);
    }
  }

 private:
  // The callable is destroyed before the group hears that the task finished, so nothing
  // it captured outlives wait(). (A trivially destructible one has nothing to destroy and
  // stays small enough to be stored inline.)
  template <class F>
  struct member {
    static constexpr bool plain = std::is_trivially_destructible_v<F>;
    task_group* group;
    std::conditional_t<plain, F, std::optional<F>> fn;
    using bobbin_cancel_hook = void;
    void operator()() {
      try {
        if constexpr (plain) {
          fn();
        } else {
          (*fn)();
        }
      } catch (...) {
        detail::last_task_outcome() = detail::task_outcome::failed;  // for the pool's stats
        group->record(std::current_exception());
      }
      drop();
      detail::run_before_publish();
      group->count_finish(group->on_owner());
    }
    void cancel() noexcept {
      drop();
      group->record(std::make_exception_ptr(task_cancelled{}));
      group->count_finish(group->on_owner());
    }
    void drop() noexcept {
      if constexpr (!plain) fn.reset();
    }
  };

  bool on_owner() const noexcept { return detail::this_thread_token() == owner_; }

  void count_spawn(bool local) noexcept {
    if (local) {
      ++spawned_;
    } else {
      balance_.fetch_add(2, std::memory_order_relaxed);  // the queue orders it before the task runs
    }
  }

  void count_finish(bool local) noexcept {
    if (local) {
      ++finished_;
      return;
    }
    // acq_rel: publishes the task's effects to the owner; seq_cst against try_register.
    if (balance_.fetch_sub(2, std::memory_order_seq_cst) == 3) waiter_->notify(waiter_);
  }

  void wait_quietly() noexcept {
    try {
      wait();
    } catch (...) {
      // Dropped: see the contract.
    }
  }

  void record(std::exception_ptr e) noexcept {
    if (!failed_.exchange(true, std::memory_order_acq_rel)) error_ = std::move(e);
  }

  // awaitable; called on the owner thread only (wait() checks).
  // Pending x 2 (+ the waiter bit) / 2 == 0, without the division: 1 means that the last
  // finisher saw the bit and its notify is on the way (try_unregister).
  bool done() const noexcept override {
    const std::int64_t twice = 2 * (spawned_ - finished_) + balance_.load(std::memory_order_acquire);
    return static_cast<std::uint64_t>(twice + 1) <= 2;
  }
  // Registration moves the owner's local count into balance_ for good (the local
  // counters are levelled), so that balance_ alone is the pending count while a waiter is
  // registered, and done() stays right after it: the tasks folded in may well finish on
  // other threads. Unregistering only clears the bit.
  bool try_register(detail::waiter* w) noexcept override {
    waiter_ = w;  // published by the CAS below
    const std::int64_t local = 2 * (spawned_ - finished_);
    std::int64_t b = balance_.load(std::memory_order_seq_cst);
    while (b + local != 0) {
      if (balance_.compare_exchange_weak(b, b + local + 1, std::memory_order_seq_cst, std::memory_order_seq_cst)) {
        finished_ = spawned_;
        return true;
      }
    }
    return false;
  }
  bool try_unregister(detail::waiter*) noexcept override {
    std::int64_t b = balance_.load(std::memory_order_seq_cst);
    while (b != 1) {  // 1: the last finisher saw the bit, its notify is on the way
      if (balance_.compare_exchange_weak(b, b - 1, std::memory_order_seq_cst, std::memory_order_seq_cst)) {
        return true;
      }
    }
    return false;
  }

  detail::scheduler& sched_;
  const void* const owner_;
  std::int64_t spawned_ = 0;   // owner thread only
  std::int64_t finished_ = 0;  // owner thread only
  std::atomic<std::int64_t> balance_{0};
  detail::waiter* waiter_ = nullptr;
  std::atomic<bool> failed_{false};
  std::exception_ptr error_;
};

// Calls fn(i) for every i in [first, last) on the pool, splitting the range in halves
// until pieces are at most `grain` long (0: about 8 pieces per thread). Returns when all
// calls have returned; rethrows the first exception (the other pieces still run).
template <class Pool, std::integral I, class F>
  requires std::derived_from<Pool, detail::scheduler> && std::is_invocable_v<F&, I>
void parallel_for(Pool& p, I first, I last, F&& fn, std::size_t grain = 0) {
  if (!(first < last)) return;
  const auto n = static_cast<std::size_t>(last - first);
  if (grain == 0) grain = std::max<std::size_t>(1, n / (8 * std::max<std::size_t>(1, p.concurrency())));
  task_group g(p);
  struct splitter {
    task_group* g;
    std::remove_reference_t<F>* fn;
    std::size_t grain;
    void operator()(I lo, I hi) const {
      while (static_cast<std::size_t>(hi - lo) > grain) {
        const I mid = static_cast<I>(lo + (hi - lo) / 2);
        g->run([s = *this, mid, hi] { s(mid, hi); });
        hi = mid;
      }
      for (I i = lo; i < hi; ++i) (*fn)(i);
    }
  };
  const splitter root{&g, &fn, grain};
  g.run([root, first, last] { root(first, last); });
  g.wait();
}

// combine(... combine(combine(identity, map(first)), map(first + 1)) ..., map(last - 1)),
// computed in pieces of `grain` on the pool and combined in index order, so `combine`
// need be associative but not commutative.
template <class Pool, std::integral I, class T, class Map, class Combine>
  requires std::derived_from<Pool, detail::scheduler> && std::is_invocable_v<Map&, I> &&
           std::is_invocable_r_v<T, Combine&, T, std::invoke_result_t<Map&, I>> && std::copy_constructible<T>
T parallel_reduce(Pool& p, I first, I last, T identity, Map map, Combine combine, std::size_t grain = 0) {
  if (!(first < last)) return identity;
  const auto n = static_cast<std::size_t>(last - first);
  if (grain == 0) grain = std::max<std::size_t>(1, n / (8 * std::max<std::size_t>(1, p.concurrency())));
  const std::size_t pieces = (n + grain - 1) / grain;
  std::vector<T> partial(pieces, identity);
  parallel_for(
      p, std::size_t{0}, pieces,
      [&](std::size_t k) {
        const I lo = static_cast<I>(first + static_cast<I>(k * grain));
        const I hi = static_cast<I>(std::min<std::size_t>(n, (k + 1) * grain) + static_cast<std::size_t>(first));
        T acc = identity;
        for (I i = lo; i < hi; ++i) acc = combine(std::move(acc), map(i));
        partial[k] = std::move(acc);
      },
      1);
  T result = std::move(identity);
  for (T& v : partial) result = combine(std::move(result), std::move(v));
  return result;
}

}  // namespace bobbin
