#pragma once
// fifo: one shared queue, first in first out, for every task (outside and nested). Workers
// take one task at a time, so with one worker tasks run in submission order; with several,
// they start in submission order.

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <mutex>

#include "../detail/config.hpp"
#include "../detail/spin_lock.hpp"
#include "../detail/task_ring.hpp"
#include "common.hpp"

namespace bobbin {

struct fifo {
  class queues {
   public:
    static constexpr bool targeted = false;  // any worker may run any task

    queues(std::size_t, const pool_options&) : ring_(1024) {}

    std::size_t push(detail::task& t, const task_options&, std::size_t self) {
      auto lock = detail::lock_briefly(mutex_);
      ring_.push(t, self == detail::outside ? detail::from_outside : 0);
      size_.store(ring_.size(), std::memory_order_relaxed);
      return detail::any_worker;
    }

    bool pop(std::size_t, detail::task& out, detail::pop_info& info, std::uint32_t min_depth) {
      if (size_.load(std::memory_order_relaxed) == 0) return false;
      std::unique_lock lock(mutex_, std::try_to_lock);  // held: look again later (detail/spin_lock.hpp)
      if (!lock || ring_.empty()) return false;
      if (min_depth == 0) {
        info.outside_taken = ring_.pop(out) & detail::from_outside;
      } else {
        const std::uint64_t meta = ring_.take_first(min_depth, out);
        if (meta == detail::task_ring::no_task) return false;
        info.outside_taken = meta & detail::from_outside;
      }
      size_.store(ring_.size(), std::memory_order_relaxed);
      return true;
    }

    bool has_work_for(std::size_t, std::uint32_t min_depth) const {
      if (size_.load(std::memory_order_seq_cst) == 0) return false;
      if (min_depth == 0) return true;
      std::lock_guard lock(mutex_);
      return ring_.any(min_depth);
    }
    void finished(std::size_t) noexcept {}

   private:
    alignas(detail::cache_line) mutable std::mutex mutex_;  // guards ring_
    detail::task_ring ring_;
    alignas(detail::cache_line) std::atomic<std::size_t> size_{0};
  };
};

}  // namespace bobbin
