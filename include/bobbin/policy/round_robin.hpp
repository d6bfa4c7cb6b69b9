#pragma once
// round_robin: each task submitted from outside the pool goes to the next worker in turn,
// into that worker's own queue; no stealing. A task submitted by a task stays on its
// worker, so a fork-join computation runs depth-first where it started (a waiter then
// holds every task it waits for, and its stack stays shallow). Fair and predictable when
// tasks cost the same; when they do not, a worker that drew long tasks falls behind while
// others idle (see docs/scheduling.md).
//
// Contract (policy/concept.hpp says who calls what): push() from any thread; the turn
// counter is the only shared state beside the workers' queues
// (detail/policy/per_worker_queue.hpp, which says what each queue allows).

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>

#include "../detail/config.hpp"
#include "../detail/policy/per_worker_queue.hpp"
#include "concept.hpp"

namespace bobbin {

struct round_robin {
  class queues {
   public:
    static constexpr bool targeted = true;  // a task is for one worker only

    queues(std::size_t workers, const pool_options& o)
        : n_(workers), queue_(std::make_unique<detail::per_worker_queue[]>(workers)) {
      for (std::size_t i = 0; i < workers; ++i) queue_[i].set_batching(o.queue_capacity == 0);
    }

    std::size_t push(detail::task& t, const task_options&, std::size_t self) {
      if (self != detail::outside) {  // from a task: stays on its worker (see the top)
        queue_[self].push(t, 0);
        return self;
      }
      // relaxed: the turn only spreads tasks; it orders nothing.
      const std::size_t w = next_.fetch_add(1, std::memory_order_relaxed) % n_;
      queue_[w].push(t, detail::from_outside);
      return w;
    }

    bool pop(std::size_t w, detail::task& out, detail::pop_info& info, std::uint32_t min_depth) {
      return queue_[w].pop(out, info, min_depth);
    }
    bool has_work_for(std::size_t w, std::uint32_t min_depth) const { return queue_[w].has_work(min_depth); }
    void finished(std::size_t) noexcept {}

   private:
    std::size_t n_;
    std::unique_ptr<detail::per_worker_queue[]> queue_;
    alignas(detail::cache_line) std::atomic<std::size_t> next_{0};
  };
};

// The contract (policy/concept.hpp), and which of its optional parts round_robin has.
static_assert(policy<round_robin>);
static_assert(!policy_parts::shares_tasks<round_robin::queues>);
static_assert(!policy_parts::counts_running<round_robin::queues>);
static_assert(!policy_parts::goes_idle<round_robin::queues>);
static_assert(!policy_parts::pops_in_place<round_robin::queues>);

}  // namespace bobbin
