#pragma once
// fifo: first in, first out, for every task (outside and nested). Workers take one task at
// a time, so with one worker tasks run in submission order; with several, they start in
// submission order.
//
// Two queues keep that one order. Tasks from outside go through a lock-free queue
// (detail/task/task_injector.hpp), whose tickets number them. Tasks submitted by tasks go to a
// mutex-guarded ring, stamped with the ticket the next outside task will get: a nested task
// runs once every outside task submitted before it was taken, and before any submitted
// after it. (The ring is where a deeply nested waiter looks for a task deeper than its
// own: outside tasks have depth 0, never deep enough for it; see pool.hpp, "Helping".)
//
// Contract (policy/concept.hpp says who calls what): push() from any thread; the ring
// under mutex_ (detail::lock_briefly), which pop() only tries (a held lock means "look
// again later"); size_ is the ring's size, written under mutex_ and read without it as a
// hint and, seq_cst, for the look before sleeping; the injector is lock-free.

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <mutex>

#include "../detail/config.hpp"
#include "../detail/sync/lock_briefly.hpp"
#include "../detail/task/task_injector.hpp"
#include "../detail/task/task_ring.hpp"
#include "concept.hpp"

namespace bobbin {

struct fifo {
  class queues {
   public:
    static constexpr bool targeted = false;  // any worker may run any task

    queues(std::size_t, const pool_options&) {}

    std::size_t push(detail::task& t, const task_options&, std::size_t self) {
      if (self == detail::outside) {
        injection_.push(t);  // may throw std::bad_alloc: t untouched
        return detail::any_worker;
      }
      auto lock = detail::lock_briefly(mutex_);
      // meta: the stamp above bit 0 (bit 0, "from outside", stays clear).
      ring_.push(t, injection_.tail_ticket() << 1);
      size_.store(ring_.size(), std::memory_order_relaxed);
      return detail::any_worker;
    }

    bool pop(std::size_t, detail::task& out, detail::pop_info& info, std::uint32_t min_depth) {
      std::unique_lock lock(mutex_, std::defer_lock);
      // A held lock means "look again later" (detail/sync/lock_briefly.hpp).
      if (size_.load(std::memory_order_relaxed) != 0 && lock.try_lock() && !ring_.empty()) {
        if (min_depth != 0) return take_deep(out, min_depth);
        // The nested task first if no outside task older than it is left (or none is
        // ready to be taken: one being pushed is not submitted yet).
        if ((ring_.front().meta >> 1) > injection_.head_ticket() && take_outside(out, info)) return true;
        ring_.pop(out);
        size_.store(ring_.size(), std::memory_order_relaxed);
        return true;
      }
      return min_depth == 0 && take_outside(out, info);
    }

    bool has_work_for(std::size_t, std::uint32_t min_depth) const {
      if (min_depth == 0) return size_.load(std::memory_order_seq_cst) != 0 || injection_.has_work();
      if (size_.load(std::memory_order_seq_cst) == 0) return false;
      std::lock_guard lock(mutex_);
      return ring_.any(min_depth);
    }
    void finished(std::size_t) noexcept {}

   private:
    bool take_outside(detail::task& out, detail::pop_info& info) noexcept {
      const auto one = [](std::size_t) { return std::size_t{1}; };
      const auto none = [](detail::task::raw&) noexcept {};
      if (injection_.take(out, 1, one, none) == 0) return false;
      info.outside_taken = 1;
      return true;
    }

    // With mutex_ held.
    bool take_deep(detail::task& out, std::uint32_t min_depth) {
      if (ring_.take_first(min_depth, out) == ring_.no_task) return false;
      size_.store(ring_.size(), std::memory_order_relaxed);
      return true;
    }

    detail::task_injector injection_;
    alignas(detail::cache_line) mutable std::mutex mutex_;  // guards ring_
    detail::task_ring<detail::queued_task> ring_;
    alignas(detail::cache_line) std::atomic<std::size_t> size_{0};  // ring_'s size, written under mutex_
  };
};

// The contract (policy/concept.hpp), and which of its optional parts fifo has.
static_assert(policy<fifo>);
static_assert(policy_parts::shares_tasks<fifo::queues>);
static_assert(!policy_parts::counts_running<fifo::queues>);
static_assert(!policy_parts::goes_idle<fifo::queues>);
static_assert(!policy_parts::pops_in_place<fifo::queues>);

}  // namespace bobbin
