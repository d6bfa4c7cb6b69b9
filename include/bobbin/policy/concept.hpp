#pragma once
// What a scheduling policy is: the whole contract between pool<Policy> (the one worker
// loop) and a policy, in one place. A policy is a tag type with a nested `queues` class;
// the pool owns the threads, counters, sleeping and waking, capacity and shutdown, and asks
// the queues only where a task goes and which task a worker takes next.
//
// Required (bobbin::policy<P>):
//   static constexpr bool targeted;  // true: push() may name the one worker that may run a
//                                    // task; false: any worker may run any task
//   queues(std::size_t workers, const pool_options&);
//   // Takes t (leaving it empty), submitted by worker `self` of the pool, or by a thread
//   // outside it when self == detail::outside. Returns the worker that must run it, or
//   // detail::any_worker (the pool then wakes one sleeper, if nobody is searching). May
//   // throw std::bad_alloc, leaving t untouched.
//   std::size_t push(detail::task& t, const task_options&, std::size_t self);
//   // Called by worker w only: the next task for w of depth >= min_depth, or false. A
//   // worker deep in nested waits asks only for tasks deeper than the one it waits in
//   // (docs/architecture.md, "Helping"); min_depth is 0 otherwise, the fast path.
//   bool pop(std::size_t w, detail::task& out, detail::pop_info& info, std::uint32_t min_depth);
//   // Called by worker w before it sleeps, after a seq_cst fence: could pop() succeed?
//   bool has_work_for(std::size_t w, std::uint32_t min_depth) const;
//   // Called by worker w after each task it ran (or, with counts_running, before the
//   // task's result is published: detail::before_publish).
//   void finished(std::size_t w);
//
// Optional parts (policy_parts::..., each detected by the pool):
//   shares_tasks<Q>    `static constexpr bool shared` (default: !targeted): some tasks,
//                      those push() returns any_worker for, any worker may take.
//   counts_running<Q>  `static constexpr bool counts_running = true`: finished() must run
//                      before a task's result is published (least_busy's load count).
//   goes_idle<Q>       `void going_idle(std::size_t w) noexcept`: worker w is about to
//                      park (work_stealing withdraws as a thief).
//   pops_in_place<Q>   `const detail::task::word* pop_local_in_place(std::size_t w,
//                      std::uint32_t min_depth)`: the newest task of w's own queue, left in
//                      its slot for a waiting worker to run (work_stealing's fork-join path).
//
// Thread-safety: push() from any thread; pop, has_work_for, finished, going_idle and
// pop_local_in_place from worker w only.

#include <concepts>
#include <cstddef>
#include <cstdint>

#include "../detail/policy/vocabulary.hpp"
#include "../detail/task/task.hpp"
#include "../options.hpp"

namespace bobbin {

template <class P>
concept policy = requires(typename P::queues& q, const typename P::queues& cq, detail::task& t, detail::pop_info& info,
                          std::size_t w) {
  { q.push(t, task_options{}, w) } -> std::same_as<std::size_t>;
  { q.pop(w, t, info, std::uint32_t{0}) } -> std::same_as<bool>;
  { cq.has_work_for(w, std::uint32_t{0}) } -> std::same_as<bool>;
  q.finished(w);
  { P::queues::targeted } -> std::convertible_to<bool>;
} && std::constructible_from<typename P::queues, std::size_t, const pool_options&>;

namespace policy_parts {

template <class Q>
inline constexpr bool shares_tasks = [] {
  if constexpr (requires { Q::shared; }) {
    return bool{Q::shared};
  } else {
    return !Q::targeted;
  }
}();

template <class Q>
concept counts_running = requires {
  requires bool { Q::counts_running };
};

template <class Q>
concept goes_idle = requires(Q& q, std::size_t w) {
  { q.going_idle(w) } noexcept;
};

template <class Q>
concept pops_in_place = requires(Q& q, std::size_t w, std::uint32_t d) {
  { q.pop_local_in_place(w, d) } -> std::same_as<const detail::task::word*>;
};

}  // namespace policy_parts

}  // namespace bobbin
