#pragma once
// detail::per_worker_queue: a mutex-guarded FIFO that only its worker takes from, in
// batches into a private buffer. Shared by round_robin and least_busy, which differ only
// in how they choose the worker.
//
// Deep waits: a task here can run on no other worker, so a waiter can never be told to
// leave one alone (that could deadlock); a deeply nested waiter (min_depth != 0) takes
// instead the deepest task it holds, which keeps the nesting of waits shallow.
//
// Thread-safety: push() from any thread; pop()/has_work() by the owning worker only.

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <mutex>

#include "../config.hpp"
#include "../sync/lock_briefly.hpp"
#include "../task/task_ring.hpp"
#include "vocabulary.hpp"

namespace bobbin::detail {

class alignas(cache_line) per_worker_queue {
 public:
  // With a bounded pool queue, no batches: queue_capacity counts a task until it starts.
  void set_batching(bool on) noexcept { batching_ = on; }

  void push(task& t, std::uint64_t meta) {
    auto lock = lock_briefly(mutex_);
    ring_.push(t, meta);
    size_.store(ring_.size(), std::memory_order_relaxed);
  }

  bool pop(task& out, pop_info& info, std::uint32_t min_depth) {
    if (min_depth != 0) return pop_deep(out, info, min_depth);
    if (!local_.empty()) {
      local_.pop(out);
      return true;
    }
    if (size_.load(std::memory_order_relaxed) == 0) return false;
    std::unique_lock lock(mutex_, std::try_to_lock);  // held: look again later (detail/sync/lock_briefly.hpp)
    if (!lock || ring_.empty()) return false;
    info.outside_taken += ring_.pop(out) & from_outside;
    while (batching_ && !ring_.empty() && local_.room() > 0) {
      task t;
      info.outside_taken += ring_.pop(t) & from_outside;
      local_.push(t);
    }
    size_.store(ring_.size(), std::memory_order_relaxed);
    return true;
  }

  bool has_work(std::uint32_t) const noexcept { return !local_.empty() || size_.load(std::memory_order_seq_cst) != 0; }

 private:
  // The deepest task held here (the oldest among equals), whatever min_depth (see the top).
  bool pop_deep(task& out, pop_info& info, std::uint32_t) {
    const bool have_local = !local_.empty();
    const std::uint32_t local_best = have_local ? local_.max_depth() : 0;
    if (size_.load(std::memory_order_relaxed) != 0) {
      std::lock_guard lock(mutex_);
      if (!ring_.empty()) {
        const std::uint32_t ring_best = ring_.max_depth();
        if (!have_local || ring_best > local_best) {
          info.outside_taken += ring_.take_first(ring_best, out) & from_outside;
          size_.store(ring_.size(), std::memory_order_relaxed);
          return true;
        }
      }
    }
    return have_local && local_.take_first(local_best, out) != local_.no_task;
  }

  mutable std::mutex mutex_;  // guards ring_
  task_ring<queued_task> ring_;
  std::atomic<std::size_t> size_{0};
  // A batch taken from ring_ (its origins counted then), owner only: one lock per batch
  // of up to local_batch tasks instead of one per task.
  static constexpr std::size_t local_batch = 32;
  task_ring<task::raw, local_batch> local_;
  bool batching_ = true;
};
// One per worker, in one array: each starts a cache line and fills whole ones, so no two
// workers' queues share a line.
static_assert(alignof(per_worker_queue) == cache_line && sizeof(per_worker_queue) % cache_line == 0,
              "a worker's queue must not share a cache line with its neighbour's");

}  // namespace bobbin::detail
