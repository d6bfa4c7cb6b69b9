#pragma once
// detail::idle_waiters: the threads parked in pool::wait_idle(), and their wake-up.
//
// A waiter lists its parker, then checks the pool's balance again before it parks; a
// pool thread about to sleep (or the pool as it stops) checks any() and, if so, wakes
// every listed waiter, which looks again. The count is read and written seq_cst: a waiter's
// listing (count += 1, then its balance check) and a pool thread's last finish (its
// counter, then any()) are ordered, so one of them sees the other.
//
// Thread-safety: wait() from any thread but the pool's own; any() and wake_all() from any
// thread. A waiter that finds itself taken off the list waits for the unpark in flight
// before its parker may be reused.

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <mutex>
#include <vector>

#include "../config.hpp"
#include "../sync/parker.hpp"
#include "../thread_state.hpp"

namespace bobbin::detail {

class idle_waiters {
 public:
  idle_waiters() { list_.reserve(8); }  // a first wait that sleeps allocates nothing

  // Parks the calling thread until done() holds (done: the pool is balanced).
  template <class Done>
  void wait(Done done) {
    parker& p = this_thread_parker();
    while (!done()) {
      p.reset();
      {
        std::lock_guard lock(mutex_);
        list_.push_back(&p);
        count_.fetch_add(1, std::memory_order_seq_cst);
      }
      if (!done()) p.park();
      bool still_listed;
      {
        std::lock_guard lock(mutex_);
        auto it = std::find(list_.begin(), list_.end(), &p);
        still_listed = it != list_.end();
        if (still_listed) {
          list_.erase(it);
          count_.fetch_sub(1, std::memory_order_seq_cst);
        }
      }
      if (!still_listed) p.wait_for(wake_done);  // a waker took us off: its unpark may be in flight
    }
  }

  bool any() const noexcept { return count_.load(std::memory_order_seq_cst) != 0; }

  void wake_all() {
    std::lock_guard lock(mutex_);
    for (parker* p : list_) p->unpark(wake_done);
    count_.fetch_sub(list_.size(), std::memory_order_seq_cst);
    list_.clear();
  }

 private:
  alignas(cache_line) std::atomic<std::size_t> count_{0};
  std::mutex mutex_;
  std::vector<parker*> list_;  // guarded by mutex_
};

}  // namespace bobbin::detail
