#pragma once
// What every policy's queues provide to pool<Policy> (the one worker loop), and the
// vocabulary they share. A policy is a tag type with a nested `queues` class:
//
//   static constexpr bool targeted;  // true: push() may name the one worker that may run
//                                    // a task; false: any worker may run any task
//   static constexpr bool shared;    // optional (default: !targeted): some tasks, those
//                                    // push() returns any_worker for, any worker may take
//   queues(std::size_t workers, const pool_options&);
//   // Takes t (leaving it empty), submitted by worker `self` of the pool, or by a thread
//   // outside it when self == outside. Returns the worker that must run it, or
//   // any_worker (the pool then wakes one sleeper, if nobody is searching). May throw
//   // std::bad_alloc, leaving t untouched.
//   std::size_t push(detail::task& t, const task_options&, std::size_t self);
//   // Called by worker w only: the next task for w of depth >= min_depth, or false. A
//   // worker deep in nested waits asks only for tasks deeper than the one it waits in
//   // (see pool.hpp, "Helping"); min_depth is 0 otherwise, the fast path.
//   bool pop(std::size_t w, detail::task& out, pop_info& info, std::uint32_t min_depth);
//   // Called by worker w before it sleeps, after a seq_cst fence: could pop() succeed?
//   bool has_work_for(std::size_t w, std::uint32_t min_depth) const;
//   // Called by worker w after each task it ran (least_busy counts running tasks); if the
//   // queues declare `static constexpr bool counts_running`, before the task's result is
//   // published instead (detail::before_publish).
//   void finished(std::size_t w);
//   // Optional: called by worker w before it parks (work_stealing withdraws as a thief).
//   void going_idle(std::size_t w) noexcept;
//
// Thread-safety: push() from any thread; pop/has_work_for/finished/going_idle from worker
// w only.

#include <cstddef>
#include <cstdint>
#include <limits>

#include "../task/task.hpp"
#include "../../options.hpp"

namespace bobbin::detail {

inline constexpr std::size_t outside = std::numeric_limits<std::size_t>::max();
inline constexpr std::size_t any_worker = std::numeric_limits<std::size_t>::max();

struct pop_info {
  std::size_t outside_taken = 0;  // tasks submitted from outside that pop() took off a shared queue
  bool stolen = false;            // the task came from another worker's queue
};

}  // namespace bobbin::detail
