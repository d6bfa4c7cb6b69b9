#pragma once
// detail::idle_waiters: the threads parked in pool::wait_idle(), and their wake-up.
//
// A wait is an awaitable (detail/task/scheduler.hpp) over the pool's balance, parked in the
// library's one parking loop (detail::park_until_done, task/block_on.hpp): register, look
// at the balance again, park. A pool thread about to sleep (or the pool as it stops) checks
// any() and, if so, wakes every registered waiter, which looks again (an early wake-up is
// fine: the loop re-registers). The count is read and written seq_cst: a waiter's
// registration (count += 1, then its balance check) and a pool thread's last finish (its
// counter, then any()) are ordered, so one of them sees the other.
//
// Thread-safety: wait() from any thread but the pool's own; any() and wake_all() from any
// thread. Each wait's list node lives in its own frame, so registering allocates nothing
// and cannot fail. A waiter whose node a waker took waits for the unpark in flight
// (park_until_done does) before its frame may go.

#include <atomic>
#include <cstddef>
#include <mutex>

#include "../config.hpp"
#include "../sync/parker.hpp"
#include "../task/block_on.hpp"
#include "../task/scheduler.hpp"

namespace bobbin::detail {

class idle_waiters {
 public:
  // Parks the calling thread until balanced() holds (noexcept: the pool's balance test).
  template <class Balanced>
  void wait(const Balanced& balanced) {
    one_wait<Balanced> a(*this, balanced);
    park_until_done(a);
  }

  bool any() const noexcept { return count_.load(std::memory_order_seq_cst) != 0; }

  void wake_all() noexcept {
    std::lock_guard lock(mutex_);
    for (node* n = head_; n != nullptr;) {
      node* next = n->next;  // n's owner may leave once notified (after we unlock)
      n->listed = false;
      n->w->notify(n->w);
      n = next;
    }
    head_ = nullptr;
    count_.store(0, std::memory_order_seq_cst);
  }

 private:
  struct node {
    waiter* w = nullptr;
    node* prev = nullptr;
    node* next = nullptr;
    bool listed = false;  // guarded by mutex_
  };

  template <class Balanced>
  class one_wait final : public awaitable {
   public:
    one_wait(idle_waiters& list, const Balanced& balanced) noexcept : list_(list), balanced_(balanced) {}
    bool done() const noexcept override { return balanced_(); }
    bool try_register(waiter* w) noexcept override {
      n_.w = w;
      list_.push(n_);
      return true;
    }
    bool try_unregister(waiter*) noexcept override { return list_.remove(n_); }

   private:
    idle_waiters& list_;
    const Balanced& balanced_;
    node n_;
  };

  void push(node& n) noexcept {
    std::lock_guard lock(mutex_);
    n.prev = nullptr;
    n.next = head_;
    if (head_ != nullptr) head_->prev = &n;
    head_ = &n;
    n.listed = true;
    count_.fetch_add(1, std::memory_order_seq_cst);
  }

  // False if a waker took n off the list first (its notify may still be on the way).
  bool remove(node& n) noexcept {
    std::lock_guard lock(mutex_);
    if (!n.listed) return false;
    if (n.prev != nullptr) n.prev->next = n.next;
    if (n.next != nullptr) n.next->prev = n.prev;
    if (head_ == &n) head_ = n.next;
    n.listed = false;
    count_.fetch_sub(1, std::memory_order_seq_cst);
    return true;
  }

  alignas(cache_line) std::atomic<std::size_t> count_{0};
  std::mutex mutex_;
  node* head_ = nullptr;  // guarded by mutex_
};

}  // namespace bobbin::detail
