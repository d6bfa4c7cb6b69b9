#pragma once
// detail::task_ring<Entry, Capacity>: a FIFO ring of tasks, the policies' one ring.
//   task_ring<queued_task>         grows (powers of two); a word of metadata per task:
//                                  the policies' mutex-guarded queues (fifo, priority,
//                                  per_worker_queue's shared ring).
//   task_ring<task::raw, N>        N slots inline, never grows, no metadata: a worker's
//                                  private batch (per_worker_queue's local buffer: one
//                                  lock per batch instead of per task).
//
// Contract:
// - Not thread-safe: its owner guards it (a mutex, or one thread alone).
// - push() takes a task (it becomes empty). A growable ring may throw std::bad_alloc (the
//   task is then untouched) and, once grown to its working size, allocates nothing; a
//   fixed one never throws and needs room() > 0.
// - pop() (needs !empty()) and take_first() move a task into an empty task and return its
//   metadata (0 for a ring without any); take_first() returns no_task if nothing matched.
// - Tasks still in it when it is destroyed are cancelled (their futures throw
//   task_cancelled).

#include <algorithm>
#include <array>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <type_traits>
#include <vector>

#include "task.hpp"

namespace bobbin::detail {

struct queued_task {
  task::raw raw;
  std::uint64_t meta;  // bit 0: submitted from outside the pool; above: a policy's sequence number
};
static_assert(std::is_trivially_copyable_v<queued_task> && offsetof(queued_task, meta) == sizeof(task::raw),
              "a queued task is a task's bytes, then its metadata word");

inline constexpr std::uint64_t from_outside = 1;

inline constexpr std::size_t growable = 0;  // task_ring's Capacity: grows as needed

template <class Entry, std::size_t Capacity = growable>
  requires std::is_same_v<Entry, queued_task> || std::is_same_v<Entry, task::raw>
class task_ring {
  static constexpr bool fixed = Capacity != growable;
  static constexpr bool has_meta = std::is_same_v<Entry, queued_task>;
  static_assert(!fixed || std::has_single_bit(Capacity), "a fixed capacity is a power of two: a mask finds the slot");
  static_assert(std::is_trivially_copyable_v<Entry>, "entries move as bytes");

 public:
  static constexpr std::uint64_t no_task = ~std::uint64_t{0};

  task_ring() noexcept
    requires fixed
  = default;
  // A power of two at or above capacity (at least 2); doubles when full.
  explicit task_ring(std::size_t capacity = 64)
    requires(!fixed)
  {
    std::size_t c = 2;
    while (c < capacity) c *= 2;
    buf_.resize(c);
  }
  task_ring(const task_ring&) = delete;
  task_ring& operator=(const task_ring&) = delete;
  ~task_ring() {
    while (count_ > 0) {
      task t;
      pop(t);  // destroyed unrun: cancelled
    }
  }

  std::size_t size() const noexcept { return count_; }
  bool empty() const noexcept { return count_ == 0; }
  std::size_t room() const noexcept
    requires fixed
  {
    return Capacity - count_;
  }

  // Takes t (it becomes empty). Growable: may throw std::bad_alloc (t is then untouched).
  // Fixed: needs room() > 0.
  void push(task& t, std::uint64_t meta) noexcept(fixed)
    requires has_meta
  {
    make_room();
    buf_[(head_ + count_) & mask()] = {t.bytes(), meta};
    t.forget();
    ++count_;
  }
  void push(task& t) noexcept(fixed)
    requires(!has_meta)
  {
    make_room();
    buf_[(head_ + count_) & mask()] = t.bytes();
    t.forget();
    ++count_;
  }

  const Entry& front() const noexcept { return buf_[head_]; }

  // The oldest task of depth >= min_depth, if any: moved into the empty task `out`, the
  // others keeping their order; its metadata, or no_task.
  std::uint64_t take_first(std::uint32_t min_depth, task& out) noexcept {
    const std::size_t m = mask();
    for (std::size_t k = 0; k < count_; ++k) {
      const Entry e = buf_[(head_ + k) & m];
      if (raw_of(e).depth < min_depth) continue;
      for (std::size_t j = k; j > 0; --j) buf_[(head_ + j) & m] = buf_[(head_ + j - 1) & m];
      head_ = (head_ + 1) & m;
      --count_;
      out.bytes() = raw_of(e);
      return meta_of(e);
    }
    return no_task;
  }

  std::uint32_t max_depth() const noexcept {
    std::uint32_t d = 0;
    for (std::size_t k = 0; k < count_; ++k) d = std::max(d, raw_of(buf_[(head_ + k) & mask()]).depth);
    return d;
  }

  bool any(std::uint32_t min_depth) const noexcept {
    for (std::size_t k = 0; k < count_; ++k) {
      if (raw_of(buf_[(head_ + k) & mask()]).depth >= min_depth) return true;
    }
    return false;
  }

  // Needs !empty(). Moves the oldest task into the empty task `out`; returns its metadata.
  std::uint64_t pop(task& out) noexcept {
    const Entry& e = buf_[head_];
    out.bytes() = raw_of(e);
    head_ = (head_ + 1) & mask();
    --count_;
    return meta_of(e);
  }

 private:
  static const task::raw& raw_of(const Entry& e) noexcept {
    if constexpr (has_meta) {
      return e.raw;
    } else {
      return e;
    }
  }
  static std::uint64_t meta_of(const Entry& e) noexcept {
    if constexpr (has_meta) {
      return e.meta;
    } else {
      return 0;
    }
  }
  std::size_t mask() const noexcept {
    if constexpr (fixed) {
      return Capacity - 1;
    } else {
      return buf_.size() - 1;
    }
  }

  void make_room() {
    if constexpr (!fixed) {
      if (count_ == buf_.size()) grow();
    }
  }
  void grow() {
    std::vector<Entry> bigger(buf_.size() * 2);
    for (std::size_t i = 0; i < count_; ++i) bigger[i] = buf_[(head_ + i) & mask()];
    buf_.swap(bigger);
    head_ = 0;
  }

  std::conditional_t<fixed, std::array<Entry, fixed ? Capacity : 1>, std::vector<Entry>> buf_;
  std::size_t head_ = 0;
  std::size_t count_ = 0;
};

}  // namespace bobbin::detail
