#pragma once
// least_busy: each task submitted from outside the pool goes to the worker with the fewest
// queued + running tasks (ties broken in turn). A worker holds at most one such task
// queued or running: when every worker is busy, the task waits in the pool's shared queue
// (detail/task/task_injector.hpp), first in first out, and goes to the first worker that runs
// out of work, the least busy one at that moment (as a Node.js worker pool such as
// Piscina queues a task while all its workers are busy). So tasks of uneven cost spread
// by when they finish, not by how many were handed out. No stealing: a task placed on a
// worker runs there, and a task submitted by a task stays on its worker, as with
// round_robin (a fork-join computation runs depth-first where it started). The price is
// reading every worker's load per outside task.
//
// Contract (policy/concept.hpp says who calls what): push() from any thread; the loads
// are relaxed counters, a heuristic (each worker's queue orders its tasks:
// detail/policy/per_worker_queue.hpp); finished() runs before a task's result is
// published (counts_running).

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>

#include "../detail/config.hpp"
#include "../detail/policy/per_worker_queue.hpp"
#include "../detail/task/task_injector.hpp"
#include "concept.hpp"

namespace bobbin {

struct least_busy {
  class queues {
   public:
    static constexpr bool targeted = true;  // a placed task is for its worker only
    static constexpr bool shared = true;    // a waiting one for the first worker free
    // finished() must run before a task's result is published: a caller that waits for
    // the result and submits again must see the worker's load already dropped.
    static constexpr bool counts_running = true;

    queues(std::size_t workers, const pool_options& o)
        : n_(workers),
          queue_(std::make_unique<detail::per_worker_queue[]>(workers)),
          load_(std::make_unique<load_counter[]>(workers)) {
      for (std::size_t i = 0; i < workers; ++i) queue_[i].set_batching(o.queue_capacity == 0);
    }

    std::size_t push(detail::task& t, const task_options&, std::size_t self) {
      if (self != detail::outside) {  // from a task: stays on its worker (see the top)
        load_[self].n.fetch_add(1, std::memory_order_relaxed);
        try {
          queue_[self].push(t, 0);
        } catch (...) {
          load_[self].n.fetch_sub(1, std::memory_order_relaxed);
          throw;
        }
        return self;
      }
      // Ties go in turn: start the scan one further each time (relaxed: it orders nothing).
      const std::size_t start = next_.fetch_add(1, std::memory_order_relaxed) % n_;
      std::size_t best = start;
      std::size_t best_load = load_[start].n.load(std::memory_order_relaxed);
      for (std::size_t k = 1; k < n_ && best_load != 0; ++k) {
        const std::size_t w = (start + k) % n_;
        const std::size_t l = load_[w].n.load(std::memory_order_relaxed);
        if (l < best_load) {
          best = w;
          best_load = l;
        }
      }
      if (best_load >= placed_limit) {  // every worker busy: the first one free takes it
        waiting_.push(t);               // may throw std::bad_alloc: t untouched
        return detail::any_worker;
      }
      // relaxed: the load is a heuristic; the queue's lock orders the task itself.
      load_[best].n.fetch_add(1, std::memory_order_relaxed);
      try {
        queue_[best].push(t, detail::from_outside);
      } catch (...) {
        load_[best].n.fetch_sub(1, std::memory_order_relaxed);
        throw;
      }
      return best;
    }

    bool pop(std::size_t w, detail::task& out, detail::pop_info& info, std::uint32_t min_depth) {
      if (queue_[w].pop(out, info, min_depth)) return true;
      if (min_depth != 0) return false;  // waiting tasks have depth 0: not for a deep waiter
      const auto one = [](std::size_t) { return std::size_t{1}; };
      const auto none = [](detail::task::raw&) noexcept {};
      if (waiting_.take(out, 1, one, none) == 0) return false;
      load_[w].n.fetch_add(1, std::memory_order_relaxed);  // running here now; finished() takes it off
      info.outside_taken += 1;
      return true;
    }
    bool has_work_for(std::size_t w, std::uint32_t min_depth) const {
      return queue_[w].has_work(min_depth) || (min_depth == 0 && waiting_.has_work());
    }
    // A task of w's ended: it no longer counts against w.
    void finished(std::size_t w) noexcept { load_[w].n.fetch_sub(1, std::memory_order_relaxed); }

    std::size_t load(std::size_t w) const noexcept { return load_[w].n.load(std::memory_order_relaxed); }

   private:
    struct alignas(detail::cache_line) load_counter {
      std::atomic<std::size_t> n{0};
    };
    // An outside task is placed on a worker only if that worker's load is below this
    // (idle); otherwise it waits in waiting_ (see the top).
    static constexpr std::size_t placed_limit = 1;

    std::size_t n_;
    std::unique_ptr<detail::per_worker_queue[]> queue_;
    std::unique_ptr<load_counter[]> load_;
    detail::task_injector waiting_;
    alignas(detail::cache_line) std::atomic<std::size_t> next_{0};
  };
};

// The contract (policy/concept.hpp), and which of its optional parts least_busy has.
static_assert(policy<least_busy>);
static_assert(policy_parts::shares_tasks<least_busy::queues>);
static_assert(policy_parts::counts_running<least_busy::queues>);
static_assert(!policy_parts::goes_idle<least_busy::queues>);
static_assert(!policy_parts::pops_in_place<least_busy::queues>);

}  // namespace bobbin
