#pragma once
// work_stealing: a Chase-Lev deque per worker. A worker pushes and pops its own tasks at
// one end (LIFO: depth-first fork-join, hot caches); an idle worker steals from the other
// end of a random victim (FIFO: the oldest, usually largest, work). Tasks from outside the
// pool enter an injection ring; a worker moves a batch of them into its deque, where the
// others can steal them. The default policy.

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <vector>

#include "../detail/config.hpp"
#include "../detail/deque.hpp"
#include "../detail/spin_lock.hpp"
#include "../detail/task_ring.hpp"
#include "common.hpp"

namespace bobbin {

struct work_stealing {
  class queues {
   public:
    static constexpr bool targeted = false;  // any worker may run any task

    // With a bounded queue, tasks are taken one at a time, so that queue_capacity counts
    // every outside task until it starts (a batch in a deque would no longer count).
    queues(std::size_t workers, const pool_options& o)
        : batch_limit_(o.queue_capacity != 0 ? 1 : 64), injection_(1024) {
      for (std::size_t i = 0; i < workers; ++i) own_.push_back(std::make_unique<own>(i));
    }
    ~queues() {
      detail::task t;
      for (auto& o : own_) {
        while (o->deque.pop(t.bytes())) t.reset();  // never run: cancelled
      }
    }

    std::size_t push(detail::task& t, const task_options&, std::size_t self) {
      if (self != detail::outside) {
        own_[self]->deque.push(t.bytes());  // may throw while growing: t untouched
        t.forget();
      } else {
        auto lock = detail::lock_briefly(mutex_);
        injection_.push(t, detail::from_outside);
        injection_size_.store(injection_.size(), std::memory_order_relaxed);
      }
      return detail::any_worker;
    }

    bool pop(std::size_t w, detail::task& out, detail::pop_info& info, std::uint32_t min_depth) {
      own& me = *own_[w];
      if (me.deque.pop(out.bytes())) {
        if (out.depth() >= min_depth) return true;
        me.deque.push(out.bytes());  // too shallow for this waiter: back where it was (no growth)
      }
      // Tasks from outside have depth 0: only for an unrestricted taker.
      if (min_depth == 0 && injection_size_.load(std::memory_order_relaxed) != 0 && take_injected(me, out, info)) {
        return true;
      }
      const std::size_t n = own_.size();
      if (n > 1) {
        const auto deep_enough = [min_depth](const detail::task::raw& r) { return r.depth >= min_depth; };
        const std::size_t start = me.next_random() % n;
        for (std::size_t k = 0; k < n; ++k) {
          own& victim = *own_[(start + k) % n];
          if (&victim == &me) continue;
          auto r = victim.deque.steal(out.bytes(), deep_enough);
          if (r == detail::steal_status::lost_race) r = victim.deque.steal(out.bytes(), deep_enough);
          if (r == detail::steal_status::success) {
            info.stolen = true;
            return true;
          }
        }
      }
      out.forget();  // the bytes may hold a torn copy: not ours
      return false;
    }

    bool has_work_for(std::size_t w, std::uint32_t min_depth) const noexcept {
      if (min_depth == 0) {
        if (injection_size_.load(std::memory_order_seq_cst) != 0) return true;
        for (const auto& o : own_) {
          if (!o->deque.empty_approx()) return true;
        }
        return false;
      }
      detail::task::raw r;
      if (own_[w]->deque.peek_bottom(r) && r.depth >= min_depth) return true;
      for (const auto& o : own_) {
        if (o.get() != own_[w].get() && o->deque.peek_top(r) && r.depth >= min_depth) return true;
      }
      return false;
    }

    void finished(std::size_t) noexcept {}

   private:
    struct own {
      explicit own(std::size_t i) : rng(static_cast<std::uint32_t>(i) * 2654435761u + 1u) {}
      std::uint32_t next_random() noexcept {
        rng ^= rng << 13;
        rng ^= rng >> 17;
        rng ^= rng << 5;
        return rng;
      }
      detail::ws_deque<detail::task::raw> deque;
      std::uint32_t rng;
    };

    // One task to run, the rest of a batch into w's deque. Never more than fits in the
    // deque as it is: the moves must not allocate, or a std::bad_alloc would strand
    // tasks taken out of the ring.
    bool take_injected(own& me, detail::task& first, detail::pop_info& info) {
      std::unique_lock lock(mutex_, std::try_to_lock);  // held: look again later (detail/spin_lock.hpp)
      if (!lock) return false;
      const std::size_t avail = injection_.size();
      if (avail == 0) return false;
      const std::size_t cap = me.deque.capacity();
      const std::size_t room = cap - std::min(cap, me.deque.size_approx() + 1);
      // A few (coarse) tasks go one at a time: a batch of the largest would leave the other
      // workers idle at the end. A backlog goes in shares of half the queue per worker, up
      // to 64, so that producers and workers do not fight over the lock task by task.
      const std::size_t share = avail <= 4 * own_.size() ? 1 : avail / own_.size();
      const std::size_t batch = std::min<std::size_t>({share, batch_limit_, room + 1});
      injection_.pop(first);
      for (std::size_t moved = 1; moved < batch; ++moved) {
        detail::task t;
        injection_.pop(t);
        me.deque.push(t.bytes());
        t.forget();
      }
      injection_size_.store(injection_.size(), std::memory_order_relaxed);
      info.outside_taken = batch;
      return true;
    }

    std::vector<std::unique_ptr<own>> own_;
    const std::size_t batch_limit_;
    alignas(detail::cache_line) std::mutex mutex_;  // guards injection_
    detail::task_ring injection_;
    alignas(detail::cache_line) std::atomic<std::size_t> injection_size_{0};
  };
};

}  // namespace bobbin
