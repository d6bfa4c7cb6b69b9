#pragma once
// pool_core, part 2 of 3: the one worker loop (see pool_core.hpp for the table of contents).
//
// One loop for every policy: the policy (policy/*.hpp, contract in policy/concept.hpp)
// decides where a task goes and which task a thread takes next; this loop finds, runs,
// spins, and sleeps (idle_workers.hpp states the sleep invariant and who keeps it).
//
// Helping: a thread that waits (future::get, task_group::wait) runs other tasks meanwhile
// (work<false>), so recursive fork-join never deadlocks. Every task carries its fork-join
// depth (0 from outside, its parent's + 1 from a task). While less than half of a thread's
// stack is in use, its waits may run any task (so tasks may wait for unrelated ones queued
// behind them, thousands deep, on a single-thread pool); past that, only tasks deeper than
// the one they wait in (stack_budget.hpp): with depths rising along every chain of waits,
// no chain can close into a cycle (the rule of the early TBB scheduler), and the stack is
// bounded. A wait first runs the newest tasks of its thread's own queue, if the policy has
// one (take_newest: in fork-join, the waiter's own children), under the same rule, from the
// waiter's own frame and straight from the deque slot (task/block_on.hpp), and enters the
// full loop only if it is still not done.

#include <cstdio>

#include "pool_core.hpp"

namespace bobbin::detail {

// The depth rule (see the top): any task while less than half of w's stack is in use, only
// tasks deeper than the one it waits in after that.
template <policy Policy>
BOBBIN_ALWAYS_INLINE inline std::uint32_t pool_core<Policy>::help_min_depth(const worker& w) noexcept {
  return detail::frame_address() < w.help_floor ? w.depth + 1 : 0;
}

// Compiled twice: Top for the thread's own loop (a == nullptr), which stamps busy time;
// the helping loop, where fork-join spends its time, carries no statistics code.
template <policy Policy>
template <bool Top>
inline void pool_core<Policy>::work(worker& w, detail::awaitable* a) {
  const std::uint32_t min_depth = a != nullptr ? help_min_depth(w) : 0;
  bool searching = false;
  unsigned spins = 0;
  for (;;) {
    if (a != nullptr && a->done()) break;
    detail::task t;
    if (find_task(w, t, min_depth)) {
      if constexpr (Top && pool_stats_enabled) w.busy_begins();
      if (searching) {
        searching = false;
        // The last searcher found work: if there is more, let another look. (Without the
        // look, one post to an idle pool would wake two threads, and the first would pay
        // for the second's system call before running its task. A task pushed while we
        // look and missed here is not lost: its producer sees no searcher and wakes one,
        // or we take it after this task.)
        if (idle_.stop_searching() && queues_.has_work_for(w.idx, 0)) wake_any();
      }
      run(w, t);
      spins = 0;
      continue;
    }
    if constexpr (Top && pool_stats_enabled) w.busy_ends();  // nothing left to run
    if constexpr (Top) stop_if_orphaned();
    if (a == nullptr && stopping_.load(std::memory_order_acquire)) break;
    if (!searching) {
      searching = true;
      idle_.start_searching();
    }
    if (spins < spin_rounds) {
      ++spins;
      if (spins < spin_rounds / 2) {
        for (int k = 0; k < 16; ++k) detail::cpu_relax();
      } else {
        std::this_thread::yield();
      }
      continue;
    }
    spins = 0;
    searching = sleep(w, a, min_depth);
  }
  if (searching) stop_searching(w);
}

template <policy Policy>
inline void pool_core<Policy>::stop_searching(worker& w) {
  if (idle_.stop_searching() && queues_.has_work_for(w.idx, 0)) wake_any();
}

template <policy Policy>
inline bool pool_core<Policy>::find_task(worker& w, detail::task& t, std::uint32_t min_depth) {
  detail::pop_info info;
  const bool found = queues_.pop(w.idx, t, info, min_depth);
  if (info.outside_taken != 0) capacity_.give_back(info.outside_taken);
  if constexpr (pool_stats_enabled) {
    if (info.stolen) w.stolen.add();
  }
  return found;
}

// Called while searching. The steps and why they are safe: idle_workers.hpp.
template <policy Policy>
inline bool pool_core<Policy>::sleep(worker& w, detail::awaitable* a, std::uint32_t min_depth) {
  if constexpr (policy_parts::goes_idle<queues_type>) queues_.going_idle(w.idx);
  detail::parker& park = w.sleeper.park;
  park.reset();
  if (a != nullptr && !a->try_register(&park)) {
    stop_searching(w);
    return false;
  }
  idle_.enter(w.idx);
  if (idle_waiters_.any()) idle_waiters_.wake_all();
  // Pairs with the light() of whoever published work (sync/asymmetric_fence.hpp); then the
  // last look: sleep only if there is nothing to do.
  detail::asymmetric_fence::heavy();
  const bool work = queues_.has_work_for(w.idx, min_depth);
  const bool nothing = !work && (a != nullptr ? !a->done() : !stopping_.load(std::memory_order_seq_cst));
  if (nothing && min_depth != 0) [[unlikely]]
    warn_stack_budget(w);
  if (nothing) park.park();
  const bool chosen = idle_.leave(w.idx, work);
  if (a != nullptr && !a->try_unregister(&park)) park.wait_for(detail::wake_done);
  return chosen;
}

// A wait past its stack budget (help_min_depth) is going to sleep while tasks it may not
// run are queued. Another thread may still finish what it waits for, so this is no certain
// deadlock; but if none does, the pool hangs. Say so once, on stderr.
template <policy Policy>
void pool_core<Policy>::warn_stack_budget(worker& w) noexcept {
  if (!queues_.has_work_for(w.idx, 0) || stack_warned_.exchange(true, std::memory_order_relaxed)) return;
  std::fprintf(stderr,
               "bobbin: worker %zu waits with half its stack in use, so it may run only tasks deeper than "
               "the one it waits in, and tasks it may not run are queued; if nothing else finishes what "
               "it waits for, the pool hangs (tasks that wait for unrelated ones, nested thousands deep: "
               "see docs/pool.md, \"Waiting helps\")\n",
               w.idx);
}

template <policy Policy>
BOBBIN_ALWAYS_INLINE inline void pool_core<Policy>::run(worker& w, detail::task& t) {
  const std::uint32_t outer_depth = w.depth;
  const std::uint64_t depth = task_begins(w, t.depth());
  // The policy hears that the task ended before its result is published (see
  // detail::before_publish), or after it ran if it publishes nothing.
  [[maybe_unused]] detail::before_publish_hook outer_hook;
  if constexpr (counts_running) {
    detail::before_publish_hook& hook = detail::before_publish();
    outer_hook = hook;
    hook = {&policy_finished, this, w.idx};
  }
  // A future's or a group's runner catches its callable's exception and returns how the
  // task ended; any other task ended ok unless it threw.
  detail::task_outcome outcome;
  if (cancelling_.load(std::memory_order_relaxed) && !t.runs_when_cancelled()) {
    t.reset();
    outcome = detail::task_outcome::cancelled;
  } else {
    try {
      outcome = t.run();
    } catch (...) {
      outcome = detail::task_outcome::failed;
      report_error(std::current_exception());
    }
  }
  if constexpr (counts_running) {
    detail::run_before_publish();
    detail::before_publish() = outer_hook;
  }
  if constexpr (!counts_running) queues_.finished(w.idx);
  task_ends(w, depth, outer_depth);
  count_outcome(w, outcome);
}

// The fast path of a wait on w (pool_thread::take_newest): the newest task of w's own
// queue, left in its slot for the waiter to run. In fork-join it is the waiter's own
// child, and most waits end after one. The depth rule is the loop's (see the top). None
// while shutdown_now() cancels (the slow path cancels), or if the policy keeps no queue
// per thread. The bookkeeping is run()'s, split in two.
template <policy Policy>
BOBBIN_ALWAYS_INLINE inline auto pool_core<Policy>::take_newest(worker& w) -> taken {
  if constexpr (policy_parts::pops_in_place<queues_type>) {
    static_assert(!counts_running);
    if (cancelling_.load(std::memory_order_relaxed)) return {};
    const detail::task::word* s = queues_.pop_local_in_place(w.idx, help_min_depth(w));
    if (s == nullptr) return {};
    const taken t{s, w.depth};
    task_begins(w, detail::task::depth_of(s));
    return t;
  } else {
    return {};
  }
}

template <policy Policy>
BOBBIN_ALWAYS_INLINE inline void pool_core<Policy>::finish_newest(worker& w, taken t,
                                                                  detail::task_outcome outcome) noexcept {
  queues_.finished(w.idx);
  task_ends(w, w.running.load(std::memory_order_relaxed) - 1, t.outer_depth);
  count_outcome(w, outcome);
}

// What every task run on w does first and last, in run() and in the wait's fast path: its
// depth for the depth rule, w's count of running tasks (also telling helping from
// outermost), and the stall watch's stamps, for the outermost task only (the running count
// first: nested runs skip the load of stall_watch_). task_begins returns the count before
// the task, task_ends restores it.
template <policy Policy>
BOBBIN_ALWAYS_INLINE inline std::uint64_t pool_core<Policy>::task_begins(worker& w, std::uint32_t task_depth) noexcept {
  w.depth = task_depth;
  const std::uint64_t depth = w.running.load(std::memory_order_relaxed);
  if (depth == 0 && stall_watch_) w.stall.begin();
  w.running.store(depth + 1, std::memory_order_release);
  return depth;
}

template <policy Policy>
BOBBIN_ALWAYS_INLINE inline void pool_core<Policy>::task_ends(worker& w, std::uint64_t depth,
                                                              std::uint32_t outer_depth) noexcept {
  w.running.store(depth, std::memory_order_release);
  w.depth = outer_depth;
  if (depth == 0 && stall_watch_) w.stall.end();
}

template <policy Policy>
BOBBIN_ALWAYS_INLINE inline void pool_core<Policy>::count_outcome(worker& w, detail::task_outcome outcome) noexcept {
  if (outcome == detail::task_outcome::suspended) return;  // its root counts it (detail/coro/root.hpp)
  if constexpr (!pool_stats_enabled) {
    w.completed.add();
  } else if (outcome == detail::task_outcome::ok) [[likely]] {
    w.completed.add();
  } else if (outcome == detail::task_outcome::failed) {
    w.failed.add();
  } else {
    w.cancelled.add();
  }
}

}  // namespace bobbin::detail
