#pragma once
// least_busy: each task submitted from outside the pool goes to the worker with the fewest
// queued + running tasks (ties broken in turn), into that worker's own queue; no
// stealing. A task submitted by a task stays on its worker, as with round_robin (a
// fork-join computation runs depth-first where it started). Balances independent tasks of
// uneven cost at submission time, at the price of reading every worker's load per task.

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>

#include "../detail/config.hpp"
#include "common.hpp"
#include "per_worker_queue.hpp"

namespace bobbin {

struct least_busy {
  class queues {
   public:
    static constexpr bool targeted = true;  // a task is for one worker only
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
      // Ties go in turn: start the scan one further each time.
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
      return queue_[w].pop(out, info, min_depth);
    }
    bool has_work_for(std::size_t w, std::uint32_t min_depth) const { return queue_[w].has_work(min_depth); }
    // A task of w's ended: it no longer counts against w.
    void finished(std::size_t w) noexcept { load_[w].n.fetch_sub(1, std::memory_order_relaxed); }

    std::size_t load(std::size_t w) const noexcept { return load_[w].n.load(std::memory_order_relaxed); }

   private:
    struct alignas(detail::cache_line) load_counter {
      std::atomic<std::size_t> n{0};
    };
    std::size_t n_;
    std::unique_ptr<detail::per_worker_queue[]> queue_;
    std::unique_ptr<load_counter[]> load_;
    alignas(detail::cache_line) std::atomic<std::size_t> next_{0};
  };
};

}  // namespace bobbin
