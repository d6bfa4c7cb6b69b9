#pragma once
// detail::queue_capacity: pool_options::queue_capacity, the bound on tasks submitted from
// outside a pool that may be queued at once (opt-in; 0: unbounded).
//
// A count under a mutex: a place is taken before a task is built (so a refused try_* has
// moved nothing), and given back when a pool thread takes the task off the policy's
// queue, or when the submission fails after all. Tasks submitted by the pool's own
// threads take no place (a thread blocked on its own pool would deadlock).
//
// Thread-safety: every member from any thread. take() blocks (block == true) while full;
// close() wakes every blocked producer, who then sees `closed` (set by the pool first).

#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <mutex>

namespace bobbin::detail {

class queue_capacity {
 public:
  enum class result { accepted, full, closed };

  explicit queue_capacity(std::size_t capacity) noexcept : capacity_(capacity) {}

  bool bounded() const noexcept { return capacity_ != 0; }

  // Takes a place (the caller checked bounded()), waiting for one if `block`.
  result take(bool block, const std::atomic<bool>& closed) {
    std::unique_lock lock(mutex_);
    while (queued_ >= capacity_) {
      if (closed.load(std::memory_order_relaxed)) return result::closed;
      if (!block) return result::full;
      ++blocked_;
      not_full_.wait(lock);
      --blocked_;
    }
    ++queued_;
    return result::accepted;
  }

  // Takes a place even when full (a coroutine's resumption, which must never wait: its
  // task already holds or held one); the count may exceed the capacity briefly.
  void force_take() {
    std::lock_guard lock(mutex_);
    ++queued_;
  }
  // Gives back n places (nothing when unbounded).
  void give_back(std::size_t n = 1) {
    if (capacity_ == 0 || n == 0) return;
    bool notify;
    {
      std::lock_guard lock(mutex_);
      queued_ -= n;
      notify = blocked_ != 0;
    }
    if (notify) not_full_.notify_all();
  }

  // The pool closed (its `closed` flag is set): wake the producers blocked in take().
  void close() {
    if (capacity_ == 0) return;
    {
      std::lock_guard lock(mutex_);
    }  // a producer between its check and its wait sees `closed`
    not_full_.notify_all();
  }

 private:
  const std::size_t capacity_;
  std::mutex mutex_;  // guards queued_ and blocked_
  std::condition_variable not_full_;
  std::size_t queued_ = 0;
  std::size_t blocked_ = 0;
};

}  // namespace bobbin::detail
