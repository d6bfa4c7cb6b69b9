#pragma once
// bobbin::task_group: structured fork-join on a pool; parallel_for and parallel_reduce
// built on it.
//
// Contract:
// - run() may be called from any thread, including from inside the group's own tasks
//   (they may add work to their group). wait() is called by the thread that created the
//   group (std::logic_error otherwise: see below); it returns once every task run() before
//   it, and every task those added, has finished, and rethrows the first exception any of
//   them threw. The group can be reused after.
// - On a pool worker, wait() runs other pending tasks while it waits (no deadlock in
//   recursive fork-join, whatever the number of threads); elsewhere it sleeps.
// - The destructor waits too, on any thread: it never returns while a task of the group
//   is queued or running (none is left running that refers to a dead frame). It may run on
//   another thread than the creator's (a group handed over in a std::unique_ptr), provided
//   the creator has let go of it: it is not in wait() and calls nothing more on it (the
//   group's own tasks may still run and add work, anywhere). An exception that no wait()
//   collected is dropped. If waiting itself fails (a pool out of memory), std::terminate.
// - A task of the group cancelled by pool::shutdown_now() counts as finished and makes
//   wait() throw task_cancelled.
//
// Counting, built for the common case where the creating thread runs most of its tasks
// itself (it pops what it pushed): spawns and finishes on the creating thread ("owner")
// are plain counters; only spawns and finishes on other threads touch `balance_`, which
// holds 2 x (their spawns - their finishes). Pending = local spawns - local finishes +
// balance_/2 (signed: a task spawned here may finish elsewhere, and the other way round).
// To sleep, the waiter moves the local part into balance_ and sets the low bit (a waiter
// is registered) with one CAS; from then on balance_ alone is the pending count (x2, plus
// the bit), so the remote finisher whose fetch_sub leaves exactly 1 is the last, and it
// needs nothing else from the group to know it. A registered waiter does
// not return before that finisher has notified it, and without a waiter the fetch_sub is
// a remote finisher's last access to the group, so the group may live on the owner's
// stack. While registered the owner runs nothing, so the local counters stay put.
//
// Only the owner thread *inside the group's wait()* counts a finish locally, and a spawn
// only from the owner's own frame or inside that wait (not from a member that the owner
// thread runs while it is not waiting for the group: `running_here_` tells). So once the
// owner has let go of the group, nothing writes the local counters any more, even though
// members may still run on the owner thread: a destructor on another thread reads them
// (after whatever handed the group over, which orders the owner's last writes before it)
// and gets an exact count, and its waiter is notified by the last finisher like the
// owner's would be. wait() stays the owner's: another thread's wait() could not exclude
// the owner's own run() calls, which count locally.

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

#include "detail/config.hpp"
#include "detail/task/block_on.hpp"
#include "errors.hpp"

namespace bobbin {

class task_group final : private detail::awaitable {
 public:
  template <class Pool>
    requires std::derived_from<Pool, detail::scheduler>
  explicit task_group(Pool& p) noexcept : sched_(p), owner_(detail::this_thread_token()) {}

  task_group(const task_group&) = delete;
  task_group& operator=(const task_group&) = delete;

  // Waits for every task of the group, on any thread (see the contract at the top).
  ~task_group() {
    if (!done()) wait_to_end();  // after wait(), nothing to do: keep that path small
  }

  // Runs fn() as part of the group. Throws pool_closed if the pool refuses it.
  template <class F>
    requires std::is_invocable_v<std::decay_t<F>&>
  void run(F&& fn) {
    const bool local = spawns_here();
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
    if (!on_owner())
      throw std::logic_error("bobbin: task_group::wait() must be called by the thread that created the group");
    {
      const owner_waits mark(*this);
      detail::block_on(*this);
    }
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
    BOBBIN_ALWAYS_INLINE detail::task_outcome operator()() {  // into the runner: no call frame of its own
      // Counted here only if the owner runs it inside its wait. The owner thread may also
      // run a member while it is not waiting for the group (rare): then the member's spawns
      // and its finish go through balance_ (see spawns_here()). A member runs on one thread
      // from start to end, and the owner cannot enter or leave the group's wait meanwhile.
      const bool here = group->on_owner();
      const bool local = here && group->owner_waiting_;
      if (here && !local) ++group->running_here_;
      // Branching on the result at once, rather than keeping a flag across the calls below,
      // keeps the common path as short as a member that returns nothing.
      if (!run_catching()) [[unlikely]] {
        finish(here, local);
        return detail::task_outcome::failed;  // for the pool's stats
      }
      finish(here, local);
      return detail::task_outcome::ok;
    }
    // Runs fn; false if it threw (recorded for wait()). The handler has ended on return:
    // the runtime's own reference to the exception is gone before the owner may see it.
    BOBBIN_ALWAYS_INLINE bool run_catching() noexcept {
      try {
        if constexpr (plain) {
          fn();
        } else {
          (*fn)();
        }
        return true;
      } catch (...) {
        group->record(std::current_exception());
        return false;
      }
    }
    BOBBIN_ALWAYS_INLINE void finish(bool here, bool local) noexcept {
      drop();
      if (here && !local) --group->running_here_;
      detail::run_before_publish();
      group->count_finish(local);
    }
    void cancel() noexcept {
      drop();
      group->record(std::make_exception_ptr(task_cancelled{}));
      group->count_finish(group->finishes_here());
    }
    void drop() noexcept {
      if constexpr (!plain) fn.reset();
    }
  };

  bool on_owner() const noexcept { return detail::this_thread_token() == owner_; }

  // Where a spawn or a finish is counted: locally only while the owner is sure to be the
  // waiter (see the contract at the top); everywhere else through balance_. A spawn is
  // local from the owner's own frame and inside its wait, not from a member that the
  // owner runs outside the wait (running_here_ counts only those, and none can be under
  // the owner's wait: it would wait for itself).
  bool spawns_here() const noexcept { return on_owner() && running_here_ == 0; }
  bool finishes_here() const noexcept { return on_owner() && owner_waiting_; }

  // Marks the owner thread as waiting for the group while it is in wait() (or in the
  // destructor on the owner thread); clears the mark on the way out, even if the wait throws.
  class owner_waits {
   public:
    explicit owner_waits(task_group& g) noexcept : g_(g) { g_.owner_waiting_ = true; }
    owner_waits(const owner_waits&) = delete;
    owner_waits& operator=(const owner_waits&) = delete;
    ~owner_waits() { g_.owner_waiting_ = false; }

   private:
    task_group& g_;
  };

  BOBBIN_NOINLINE void wait_to_end() noexcept {
    // noexcept: if waiting itself fails, std::terminate (never return early).
    if (on_owner()) {
      const owner_waits mark(*this);
      detail::block_on(*this);
    } else {
      detail::block_on(*this);  // the owner has let go: see the contract
    }
  }

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
    // acq_rel: publishes the task's effects to the waiter; seq_cst against try_register.
    if (balance_.fetch_sub(2, std::memory_order_seq_cst) == 3) waiter_->notify(waiter_);
  }

  void record(std::exception_ptr e) noexcept {
    if (!failed_.exchange(true, std::memory_order_acq_rel)) error_ = std::move(e);
  }

  // awaitable; called by the waiter only: the owner in wait() (which checks), or the thread
  // that destroys the group, once the owner has let go of it (the contract).
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
  std::int64_t spawned_ = 0;   // the waiter's: see the contract
  std::int64_t finished_ = 0;  // the waiter's: see the contract
  bool owner_waiting_ = false;      // owner thread only: it is in wait() or the destructor
  std::uint32_t running_here_ = 0;  // owner thread only: members it is running now
  std::atomic<std::int64_t> balance_{0};
  detail::waiter* waiter_ = nullptr;
  std::atomic<bool> failed_{false};
  std::exception_ptr error_;
};

namespace detail {

// Unsigned, and wide enough for last - first over any range of I (and for any grain):
// sizes and offsets are computed in it, modulo 2^N, so no split can overflow.
template <std::integral I>
using range_size = std::common_type_t<std::make_unsigned_t<std::common_type_t<I, int>>, std::size_t>;

// last - first, for first <= last.
template <std::integral I>
constexpr range_size<I> range_length(I first, I last) noexcept {
  using U = range_size<I>;
  return static_cast<U>(static_cast<U>(last) - static_cast<U>(first));
}

// first + k, for k <= last - first: exact (the conversion back to I is modular).
template <std::integral I>
constexpr I range_at(I first, range_size<I> k) noexcept {
  return static_cast<I>(static_cast<range_size<I>>(first) + k);
}

// The largest piece: `grain`, or for 0 about 8 pieces per thread.
template <class U>
constexpr U piece_length(U n, std::size_t grain, std::size_t threads) noexcept {
  if (grain != 0) return static_cast<U>(grain);
  const U pieces = static_cast<U>(8) * static_cast<U>(std::max<std::size_t>(1, threads));
  return std::max<U>(1, n / pieces);
}

}  // namespace detail

// Calls fn(i) for every i in [first, last) on the pool, splitting the range in halves
// until pieces are at most `grain` long (0, the default: about 8 pieces per thread). Any
// range of any integral type works, [INT_MIN, INT_MAX) included: lengths are computed
// unsigned. An empty or reversed range (first >= last) calls nothing. Returns when all
// calls have returned; rethrows the first exception (the other pieces still run).
template <class Pool, std::integral I, class F>
  requires std::derived_from<Pool, detail::scheduler> && std::is_invocable_v<F&, I>
void parallel_for(Pool& p, I first, I last, F&& fn, std::size_t grain = 0) {
  if (!(first < last)) return;
  using U = detail::range_size<I>;
  task_group g(p);
  struct splitter {
    task_group* g;
    std::remove_reference_t<F>* fn;
    U grain;
    void operator()(I lo, I hi) const {
      U n = detail::range_length(lo, hi);
      while (n > grain) {
        const I mid = detail::range_at(lo, n / 2);
        g->run([s = *this, mid, hi] { s(mid, hi); });
        hi = mid;
        n /= 2;  // the lower half: n - (n - n / 2)
      }
      for (U k = 0; k != n; ++k) (*fn)(detail::range_at(lo, k));
    }
  };
  const splitter root{&g, &fn, detail::piece_length(detail::range_length(first, last), grain, p.concurrency())};
  g.run([root, first, last] { root(first, last); });
  g.wait();
}

// combine(... combine(combine(identity, map(first)), map(first + 1)) ..., map(last - 1)),
// computed in pieces of `grain` (0: about 8 per thread) on the pool and combined in index
// order, so `combine` need be associative but not commutative. Any range of any integral
// type works; an empty or reversed range (first >= last) returns identity. One partial
// result is kept per piece: std::length_error if there would be more than a std::vector
// can hold (choose a larger grain).
template <class Pool, std::integral I, class T, class Map, class Combine>
  requires std::derived_from<Pool, detail::scheduler> && std::is_invocable_v<Map&, I> &&
           std::is_invocable_r_v<T, Combine&, T, std::invoke_result_t<Map&, I>> && std::copy_constructible<T>
T parallel_reduce(Pool& p, I first, I last, T identity, Map map, Combine combine, std::size_t grain = 0) {
  if (!(first < last)) return identity;
  using U = detail::range_size<I>;
  const U n = detail::range_length(first, last);
  const U piece = detail::piece_length(n, grain, p.concurrency());
  const U pieces = n / piece + (n % piece != 0 ? 1 : 0);  // not (n + piece - 1) / piece: it may wrap
  std::vector<T> partial;
  if (pieces > partial.max_size())
    throw std::length_error("bobbin::parallel_reduce: too many pieces; use a larger grain");
  partial.assign(static_cast<std::size_t>(pieces), identity);
  parallel_for(
      p, std::size_t{0}, static_cast<std::size_t>(pieces),
      [&](std::size_t k) {
        const U lo = static_cast<U>(k) * piece;  // < n: no wrap
        const U len = std::min<U>(piece, n - lo);
        T acc = identity;
        for (U j = 0; j != len; ++j) acc = combine(std::move(acc), map(detail::range_at(first, lo + j)));
        partial[k] = std::move(acc);
      },
      1);
  T result = std::move(identity);
  for (T& v : partial) result = combine(std::move(result), std::move(v));
  return result;
}

}  // namespace bobbin
