#pragma once
// detail::stall_monitor: pool_options::stall_after, a health check. A thread of its own
// (only when stall_after > 0) looks at each pool thread's stall_stamps every
// stall_after / 4 (at least every millisecond) and reports each outermost task that has
// run longer than stall_after, once.
//
// Thread-safety: a pool thread stamps its own stall_stamps (begin/end, release stores);
// the monitor reads them (acquire) and tells one task from the next by the sequence
// number, reading it before and after the start time. start/stop/detach from the pool's
// owner only (the constructor, shutdown, an orphaning destructor).

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <thread>
#include <vector>

#include "../config.hpp"

namespace bobbin::detail {

inline std::int64_t steady_now_ns() noexcept {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// A pool thread's outermost task: when it started (0: none) and which one it is.
struct alignas(cache_line) stall_stamps {
  std::atomic<std::int64_t> task_started{0};
  std::atomic<std::uint64_t> task_seq{0};

  void begin() noexcept {  // by the pool thread itself
    task_seq.store(task_seq.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
    task_started.store(steady_now_ns(), std::memory_order_release);
  }
  void end() noexcept { task_started.store(0, std::memory_order_release); }
};

class stall_monitor {
 public:
  // Starts the thread: stamps(i) is pool thread i's stall_stamps (i < n); on_stall(i,
  // elapsed) reports a stall (the monitor's lock released meanwhile); at_exit() is its
  // last step.
  template <class Stamps, class OnStall, class AtExit>
  void start(std::size_t n, std::chrono::nanoseconds stall_after, Stamps stamps, OnStall on_stall, AtExit at_exit) {
    thread_ = std::thread([this, n, stall_after, stamps, on_stall, at_exit] {
      watch(n, stall_after, stamps, on_stall);
      at_exit();
    });
  }

  bool running() const noexcept { return thread_.joinable(); }

  void stop() {
    if (!thread_.joinable()) return;
    ask_to_stop();
    thread_.join();
  }

  // Lets the thread end on its own (the pool is orphaned: nobody may join it).
  void detach() {
    if (!thread_.joinable()) return;
    ask_to_stop();
    thread_.detach();
  }

 private:
  void ask_to_stop() {
    {
      std::lock_guard lock(mutex_);
      stop_ = true;
    }
    cv_.notify_all();
  }

  template <class Stamps, class OnStall>
  void watch(std::size_t n, std::chrono::nanoseconds stall_after, Stamps& stamps, OnStall& on_stall) {
    const auto period = std::max<std::chrono::nanoseconds>(stall_after / 4, std::chrono::milliseconds(1));
    std::vector<std::uint64_t> reported(n, 0);
    std::unique_lock lock(mutex_);
    while (!cv_.wait_for(lock, period, [this] { return stop_; })) {
      const std::int64_t now = steady_now_ns();
      for (std::size_t i = 0; i < n; ++i) {
        const stall_stamps& s = stamps(i);
        const std::uint64_t seq = s.task_seq.load(std::memory_order_acquire);
        const std::int64_t started = s.task_started.load(std::memory_order_acquire);
        if (started == 0 || seq == reported[i] || s.task_seq.load(std::memory_order_acquire) != seq) continue;
        const std::chrono::nanoseconds elapsed(now - started);
        if (elapsed < stall_after) continue;
        reported[i] = seq;
        lock.unlock();
        on_stall(i, elapsed);
        lock.lock();
      }
    }
  }

  std::thread thread_;
  std::mutex mutex_;
  std::condition_variable cv_;
  bool stop_ = false;  // guarded by mutex_
};

}  // namespace bobbin::detail
