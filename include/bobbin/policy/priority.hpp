#pragma once
// priority: one shared queue ordered by task_options::priority, higher first, FIFO within
// a level; every int is a level, INT_MIN to INT_MAX. Workers take one task at a time. With
// pool_options::priority_aging = k, every k-th task taken is instead the oldest one
// waiting, whatever its priority: a low-priority task then waits for at most about k
// times the number of tasks older than it, however many high-priority tasks keep
// arriving. Off (strict priority) by default.
//
// Contract (policy/concept.hpp says who calls what):
// - push() from any thread, under mutex_ (detail::lock_briefly). pop() from any worker,
//   with try_lock: a held lock means "look again later" (detail/sync/lock_briefly.hpp).
//   has_work_for() from any worker: for min_depth == 0 without the lock, a seq_cst load of
//   size_, which pairs with the pool's fences (a producer's after push(), a worker's
//   before its last look; pool.hpp); under mutex_ otherwise. levels_held() from any
//   thread, under mutex_. The destructor runs alone and cancels the tasks left.
// - size_ is the number of queued tasks, written only under mutex_ (relaxed: the mutex
//   orders the tasks themselves); read without it only as a hint (pop's early exit) and
//   for the look before sleeping.
// - push() allocates (a new level, a ring that grows, a slot in by_age_) before it changes
//   anything: if that throws std::bad_alloc, t and the queue are untouched.
//
// Cost: levels_ holds only the levels that have a task, highest first, so a priority used
// as a deadline (a new level per task) costs what the tasks queued now cost, not what was
// ever queued. With L levels non-empty: push is O(log L) (O(1) more into an existing
// level, amortised over the ring's growth); pop takes the first level's oldest task, O(1)
// amortised, and an aged pop O(log L) (by_age_, kept only when aging is on). A deeply
// nested waiter (min_depth != 0) scans the queued tasks in priority order, as before.
// Memory: a level is freed when its last task is taken, except for up to spare_levels
// spares, kept and reused whole (map node and ring) by the next new levels, so that a
// queue hovering around empty allocates nothing per task. Spares are small (rings of at
// most spare_tasks tasks) but for one, the last large level to empty, kept for its own
// priority: a busy level that empties and fills again gets its grown ring back, as when
// levels were never freed. So what stays after a drain is a few small rings and one
// level's working ring.

#include <algorithm>
#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <vector>

#include "../detail/config.hpp"
#include "../detail/sync/lock_briefly.hpp"
#include "../detail/task/task_ring.hpp"
#include "concept.hpp"

namespace bobbin {

struct priority {
  class queues {
   public:
    static constexpr bool targeted = false;  // any worker may run any task

    // Emptied levels kept for reuse (see the top): at most spare_levels, of which one may
    // be large (have held more than spare_tasks tasks at once).
    static constexpr std::size_t spare_levels = 4;
    static constexpr std::size_t spare_tasks = 256;

    queues(std::size_t, const pool_options& o) : aging_(o.priority_aging) {}

    std::size_t push(detail::task& t, const task_options& opts, std::size_t self) {
      auto lock = detail::lock_briefly(mutex_);
      // meta: the sequence number (FIFO within a level, age across levels), origin in bit 0.
      const std::uint64_t meta = (seq_ << 1) | (self == detail::outside ? detail::from_outside : 0);
      auto it = levels_.lower_bound(opts.priority);  // its level, or the one it goes before
      if (it != levels_.end() && it->first == opts.priority) {
        it->second.push(t, meta);  // may throw std::bad_alloc (the ring grows): nothing changed
      } else {
        if (aging_ != 0) reserve_age_slot();  // may throw: nothing changed yet
        it = add_level(it, opts.priority);    // may throw: nothing changed yet
        it->second.push(t, meta);             // an empty ring has room: allocates nothing
        if (aging_ != 0) age_insert(it);
      }
      ++seq_;
      size_.store(size_.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
      return detail::any_worker;
    }

    bool pop(std::size_t, detail::task& out, detail::pop_info& info, std::uint32_t min_depth) {
      if (size_.load(std::memory_order_relaxed) == 0) return false;
      std::unique_lock lock(mutex_, std::try_to_lock);  // held: look again later (see the top)
      if (!lock || levels_.empty()) return false;
      if (min_depth != 0) return take_deep(out, info, min_depth);
      const bool age = aging_ != 0 && ++taken_ % aging_ == 0;
      // The highest level's oldest task; aged, the level whose oldest task is the oldest.
      const level_iter it = age ? by_age_.front() : levels_.begin();
      info.outside_taken = it->second.ring.pop(out) & detail::from_outside;
      took_from(it);
      return true;
    }

    bool has_work_for(std::size_t, std::uint32_t min_depth) const {
      if (size_.load(std::memory_order_seq_cst) == 0) return false;
      if (min_depth == 0) return true;
      std::lock_guard lock(mutex_);
      return std::any_of(levels_.begin(), levels_.end(),
                         [min_depth](const auto& l) { return l.second.ring.any(min_depth); });
    }
    void finished(std::size_t) noexcept {}

    // Levels holding memory: those with a task, and the spares. Thread-safe (takes the
    // lock); for tests and monitoring.
    std::size_t levels_held() const {
      std::lock_guard lock(mutex_);
      return levels_.size() + spares_;
    }

   private:
    static constexpr std::size_t first_tasks = 2;  // a new level's ring; one task per level is common

    struct level {
      // Spelled out: clang 14 took the implicit one, with a default member initializer in
      // a nested class, for noexcept, and a std::bad_alloc from the ring reached
      // std::terminate (test_fault_pool, clang + ASan).
      level() : ring(first_tasks) {}

      detail::task_ring<detail::queued_task> ring;
      std::size_t most_held = 0;  // the most tasks ring has held; its capacity is the power of two at or above
      std::size_t age_slot = 0;   // its index in by_age_ (aging only)

      void push(detail::task& t, std::uint64_t meta) {
        ring.push(t, meta);
        most_held = std::max(most_held, ring.size());
      }
    };
    using level_map = std::map<int, level, std::greater<int>>;  // highest first
    using level_iter = level_map::iterator;

    static bool large(const level& l) noexcept { return l.most_held > spare_tasks; }

    // With mutex_ held: a level for priority p, inserted before hint, empty. p's own spare
    // if there is one (a busy level back), else a small spare: the large one waits for its
    // own level, which a trail of one-task levels must not take its ring from.
    level_iter add_level(level_iter hint, int p) {
      std::size_t pick = spares_;
      for (std::size_t i = 0; i < spares_; ++i) {
        if (spare_[i].key() == p) {
          pick = i;
          break;
        }
        if (pick == spares_ && !large(spare_[i].mapped())) pick = i;
      }
      if (pick == spares_) return levels_.try_emplace(hint, p);  // may throw std::bad_alloc
      level_map::node_type node = std::move(spare_[pick]);
      --spares_;
      if (pick != spares_) spare_[pick] = std::move(spare_[spares_]);  // the spares stay packed
      node.key() = p;
      return levels_.insert(hint, std::move(node));  // the node itself: allocates nothing
    }

    // With mutex_ held, after a task was taken from *it.
    void took_from(level_iter it) noexcept {
      size_.store(size_.load(std::memory_order_relaxed) - 1, std::memory_order_relaxed);
      if (!it->second.ring.empty()) {
        if (aging_ != 0) sift_down(it->second.age_slot);  // its oldest task is younger now, or the same
        return;
      }
      if (aging_ != 0) age_erase(it->second.age_slot);
      retire(it);
      if (levels_.empty() && by_age_.capacity() > 64) std::vector<level_iter>().swap(by_age_);
    }

    // With mutex_ held: *it is empty; a spare now, or freed. A large one takes the place of
    // the large spare, or with no room left of a small one: the spare it replaces is freed.
    void retire(level_iter it) noexcept {
      std::size_t slot = spares_;  // a new spare, if there is room
      if (large(it->second)) {
        for (std::size_t i = 0; i < spares_; ++i) {
          if (large(spare_[i].mapped())) slot = i;
        }
        if (slot == spare_levels) slot = 0;
      }
      if (slot == spare_levels) {
        levels_.erase(it);
        return;
      }
      if (slot == spares_) ++spares_;
      spare_[slot] = levels_.extract(it);  // frees the spare it replaces, if any
    }

    // With mutex_ held: the first task of depth >= min_depth, in priority order.
    bool take_deep(detail::task& out, detail::pop_info& info, std::uint32_t min_depth) {
      for (auto it = levels_.begin(); it != levels_.end(); ++it) {
        const std::uint64_t meta = it->second.ring.take_first(min_depth, out);
        if (meta == it->second.ring.no_task) continue;
        info.outside_taken = meta & detail::from_outside;
        took_from(it);
        return true;
      }
      return false;
    }

    // by_age_ (aging only): the non-empty levels, a binary min-heap on their oldest task's
    // sequence number; each level knows its slot. Taking a task only makes a level's oldest
    // younger, so it sinks; a new level rises; an emptied one leaves.
    void reserve_age_slot() {
      if (by_age_.size() == by_age_.capacity()) by_age_.reserve(std::max<std::size_t>(16, 2 * by_age_.size()));
    }
    static bool older(level_iter a, level_iter b) noexcept {
      return a->second.ring.front().meta < b->second.ring.front().meta;
    }
    void place(std::size_t i, level_iter it) noexcept {
      by_age_[i] = it;
      it->second.age_slot = i;
    }
    void sift_up(std::size_t i) noexcept {
      const level_iter it = by_age_[i];
      for (; i > 0 && older(it, by_age_[(i - 1) / 2]); i = (i - 1) / 2) place(i, by_age_[(i - 1) / 2]);
      place(i, it);
    }
    void sift_down(std::size_t i) noexcept {
      const level_iter it = by_age_[i];
      for (;;) {
        std::size_t child = 2 * i + 1;
        if (child >= by_age_.size()) break;
        if (child + 1 < by_age_.size() && older(by_age_[child + 1], by_age_[child])) ++child;
        if (!older(by_age_[child], it)) break;
        place(i, by_age_[child]);
        i = child;
      }
      place(i, it);
    }
    void age_insert(level_iter it) noexcept {
      by_age_.push_back(it);  // reserve_age_slot() made room: cannot throw
      sift_up(by_age_.size() - 1);
    }
    void age_erase(std::size_t i) noexcept {
      const level_iter last = by_age_.back();
      by_age_.pop_back();
      if (i == by_age_.size()) return;
      place(i, last);
      sift_up(i);
      sift_down(last->second.age_slot);
    }

    const std::size_t aging_;
    alignas(detail::cache_line) mutable std::mutex mutex_;  // guards everything below but size_
    level_map levels_;                                       // the non-empty levels only
    std::array<level_map::node_type, spare_levels> spare_;  // emptied levels kept for reuse
    std::size_t spares_ = 0;
    std::vector<level_iter> by_age_;
    std::uint64_t seq_ = 0;
    std::uint64_t taken_ = 0;
    alignas(detail::cache_line) std::atomic<std::size_t> size_{0};  // written under mutex_
  };
};

// The contract (policy/concept.hpp), and which of its optional parts priority has.
static_assert(policy<priority>);
static_assert(policy_parts::shares_tasks<priority::queues>);
static_assert(!policy_parts::counts_running<priority::queues>);
static_assert(!policy_parts::goes_idle<priority::queues>);
static_assert(!policy_parts::pops_in_place<priority::queues>);

}  // namespace bobbin
