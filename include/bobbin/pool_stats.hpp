#pragma once
// bobbin::pool_stats: what pool::stats() returns, a snapshot of a pool's counters.
// Plain values: copy, keep and compare snapshots freely on any thread.

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <vector>

// Statistics can be compiled out (-DBOBBIN_POOL_STATS=0), to measure what they cost:
// then running, stolen, busy time and utilization read 0, and failed/cancelled tasks
// count as completed. The counters wait_idle() needs are always kept.
#ifndef BOBBIN_POOL_STATS
#define BOBBIN_POOL_STATS 1
#endif

namespace bobbin {

namespace detail {
inline constexpr bool pool_stats_enabled = BOBBIN_POOL_STATS != 0;
}  // namespace detail

struct worker_stats {
  std::uint64_t tasks_run = 0;     // finished on this worker (completed + failed + cancelled)
  std::uint64_t tasks_stolen = 0;  // taken from another worker's queue
  std::chrono::nanoseconds busy_time{0};  // time spent running tasks (idle: searching or asleep)
};

struct pool_stats {
  std::size_t threads = 0;
  std::uint64_t queued = 0;     // accepted, not yet started
  std::uint64_t running = 0;    // started, not finished
  std::uint64_t submitted = 0;  // accepted in all
  std::uint64_t completed = 0;  // ran and returned
  std::uint64_t failed = 0;     // ran and threw
  std::uint64_t cancelled = 0;  // never ran (future::cancel, shutdown_now)
  std::uint64_t stolen = 0;
  std::vector<worker_stats> workers;
  std::chrono::steady_clock::time_point taken_at{};  // when this snapshot was taken
  std::chrono::nanoseconds alive_time{0};            // since the pool started

  std::chrono::nanoseconds busy_time() const noexcept {
    std::chrono::nanoseconds b{0};
    for (const auto& w : workers) b += w.busy_time;
    return b;
  }

  // Like Node's performance.eventLoopUtilization(): the share of the workers' time spent
  // running tasks, 0 to 1, since the pool started.
  double utilization() const noexcept {
    const double capacity = static_cast<double>(alive_time.count()) * static_cast<double>(threads);
    return capacity > 0 ? static_cast<double>(busy_time().count()) / capacity : 0.0;
  }

  // ... and since an earlier snapshot of the same pool (eventLoopUtilization(prev)).
  double utilization(const pool_stats& earlier) const noexcept {
    const double capacity =
        static_cast<double>((alive_time - earlier.alive_time).count()) * static_cast<double>(threads);
    const auto busy = busy_time() - earlier.busy_time();
    return capacity > 0 ? std::clamp(static_cast<double>(busy.count()) / capacity, 0.0, 1.0) : 0.0;
  }
};

}  // namespace bobbin
