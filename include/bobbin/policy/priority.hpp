#pragma once
// priority: one shared queue ordered by task_options::priority, higher first, FIFO within
// a level. Workers take one task at a time. With pool_options::priority_aging = k, every
// k-th task taken is instead the oldest one waiting, whatever its priority: a low-priority
// task then waits for at most about k times the number of tasks older than it, however
// many high-priority tasks keep arriving. Off (strict priority) by default.

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>

#include "../detail/config.hpp"
#include "../detail/spin_lock.hpp"
#include "../detail/task_ring.hpp"
#include "common.hpp"

namespace bobbin {

struct priority {
  class queues {
   public:
    static constexpr bool targeted = false;  // any worker may run any task

    queues(std::size_t, const pool_options& o) : aging_(o.priority_aging) {}

    std::size_t push(detail::task& t, const task_options& opts, std::size_t self) {
      auto lock = detail::lock_briefly(mutex_);
      auto it = levels_.try_emplace(opts.priority, 64).first;  // a level, once, stays
      // meta: the sequence number (FIFO within a level, age across levels), origin in bit 0.
      it->second.push(t, (seq_ << 1) | (self == detail::outside ? detail::from_outside : 0));
      ++seq_;
      size_.store(size_.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
      return detail::any_worker;
    }

    bool pop(std::size_t, detail::task& out, detail::pop_info& info, std::uint32_t min_depth) {
      if (size_.load(std::memory_order_relaxed) == 0) return false;
      std::unique_lock lock(mutex_, std::try_to_lock);  // held: look again later (detail/spin_lock.hpp)
      if (!lock) return false;
      if (min_depth != 0) {  // a deep waiter: the first deep-enough task in priority order
        for (auto& [level, ring] : levels_) {
          const std::uint64_t meta = ring.take_first(min_depth, out);
          if (meta == detail::task_ring::no_task) continue;
          info.outside_taken = meta & detail::from_outside;
          size_.store(size_.load(std::memory_order_relaxed) - 1, std::memory_order_relaxed);
          return true;
        }
        return false;
      }
      detail::task_ring* from = nullptr;
      const bool age = aging_ != 0 && ++taken_ % aging_ == 0;
      for (auto& [level, ring] : levels_) {  // highest priority first
        if (ring.empty()) continue;
        if (!age) {
          from = &ring;
          break;
        }
        if (from == nullptr || ring.front().meta < from->front().meta) from = &ring;  // the oldest front
      }
      if (from == nullptr) return false;
      info.outside_taken = from->pop(out) & detail::from_outside;
      size_.store(size_.load(std::memory_order_relaxed) - 1, std::memory_order_relaxed);
      return true;
    }

    bool has_work_for(std::size_t, std::uint32_t min_depth) const {
      if (size_.load(std::memory_order_seq_cst) == 0) return false;
      if (min_depth == 0) return true;
      std::lock_guard lock(mutex_);
      for (const auto& [level, ring] : levels_) {
        if (ring.any(min_depth)) return true;
      }
      return false;
    }
    void finished(std::size_t) noexcept {}

   private:
    const std::size_t aging_;
    alignas(detail::cache_line) mutable std::mutex mutex_;  // guards everything below but size_
    std::map<int, detail::task_ring, std::greater<int>> levels_;
    std::uint64_t seq_ = 0;
    std::uint64_t taken_ = 0;
    alignas(detail::cache_line) std::atomic<std::size_t> size_{0};  // written under mutex_
  };
};

}  // namespace bobbin
