#pragma once
// detail::thread_record: what a pool keeps about each of its threads: its counters (for
// stats() and wait_idle()), its sleeper (idle_workers.hpp), its stall stamps, and the
// state of the task running on it (fork-join depth, helping floor, busy stretch).
//
// Thread-safety: the single_writer_counters, `running`, `busy_since` and the stall stamps
// are written by the thread itself only and read by anyone (release/acquire: a reader that
// sees a count sees what the thread did before it). Fields marked "this thread only" are
// never read elsewhere. Counters that different threads write sit on their own cache lines.

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <thread>

#include "../config.hpp"
#include "idle_workers.hpp"
#include "stall_monitor.hpp"

namespace bobbin::detail {

// A counter with one writer (its thread) and any number of readers: no RMW needed.
struct single_writer_counter {
  std::atomic<std::uint64_t> v{0};
  void add(std::uint64_t n = 1) noexcept {
    // release: a reader that sees the new count sees what the thread did before it.
    v.store(v.load(std::memory_order_relaxed) + n, std::memory_order_release);
  }
  void sub() noexcept { v.store(v.load(std::memory_order_relaxed) - 1, std::memory_order_release); }
  std::uint64_t get() const noexcept { return v.load(std::memory_order_acquire); }
};

struct thread_record {
  explicit thread_record(std::size_t i) noexcept : idx(i) {}
  thread_record(const thread_record&) = delete;
  thread_record& operator=(const thread_record&) = delete;

  const std::size_t idx;
  std::thread thread;
  detail::sleeper sleeper;
  // Written by this thread only, on their own cache lines.
  alignas(cache_line) single_writer_counter submitted;
  single_writer_counter completed;
  single_writer_counter failed;
  single_writer_counter cancelled;
  single_writer_counter stolen;
  std::atomic<std::uint64_t> running{0};  // nesting depth of tasks running on this thread
  // Busy time, stamped per stretch of work (not per task): busy_since is when the current
  // stretch began (0: idle); busy_ns sums the stretches that ended.
  alignas(cache_line) std::atomic<std::int64_t> busy_since{0};
  single_writer_counter busy_ns;
  bool busy = false;              // this thread only
  std::uint32_t depth = 0;        // depth of the innermost task running here (this thread only)
  std::uintptr_t help_floor = 0;  // see pool_core::help_min_depth (this thread only)
  stall_stamps stall;             // only when stall_after > 0

  std::uint64_t finished() const noexcept { return completed.get() + failed.get() + cancelled.get(); }

  // A stretch of work begins or ends (the thread's own loop, with statistics on).
  void busy_begins() noexcept {
    if (busy) return;
    busy = true;
    busy_since.store(steady_now_ns(), std::memory_order_release);
  }
  void busy_ends() noexcept {
    if (!busy) return;
    busy = false;
    busy_ns.add(static_cast<std::uint64_t>(steady_now_ns() - busy_since.load(std::memory_order_relaxed)));
    busy_since.store(0, std::memory_order_release);
  }

  // Busy time so far, consistent with a stretch that may be ending as we read (any thread).
  std::chrono::nanoseconds busy_time(std::int64_t now) const noexcept {
    for (;;) {
      const std::int64_t since = busy_since.load(std::memory_order_acquire);
      const std::uint64_t done = busy_ns.get();
      if (busy_since.load(std::memory_order_acquire) != since) continue;  // a stretch began or ended
      const std::int64_t open = since != 0 ? std::max<std::int64_t>(0, now - since) : 0;
      return std::chrono::nanoseconds(static_cast<std::int64_t>(done) + open);
    }
  }
};

}  // namespace bobbin::detail
