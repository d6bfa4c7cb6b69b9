#pragma once
// Scheduling policies for bobbin::pool<Policy>; one header each under policy/, all plugged
// into the pool's one worker loop (see detail/policy/vocabulary.hpp for what a policy provides).
//
//   work_stealing  per-worker deques, idle workers steal (the default)
//   least_busy     each task to the worker with the fewest queued + running tasks
//   round_robin    each task to the next worker in turn
//   priority       one queue, higher task_options::priority first, FIFO within a level
//   fifo           one queue, first in first out

#include <concepts>
#include <cstddef>
#include <cstdint>

#include "policy/fifo.hpp"
#include "policy/least_busy.hpp"
#include "policy/priority.hpp"
#include "policy/round_robin.hpp"
#include "policy/work_stealing.hpp"

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

}  // namespace bobbin
