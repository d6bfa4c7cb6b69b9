#pragma once
// detail::task_ring: a growable FIFO ring of tasks with a word of metadata each, for the
// policies' mutex-guarded queues. Not thread-safe: its owner guards it. Tasks still in it
// when it is destroyed are cancelled (their futures throw task_cancelled). Once it has
// grown to its working size, pushing allocates nothing.

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "task.hpp"

namespace bobbin::detail {

struct queued_task {
  task::raw raw;
  std::uint64_t meta;  // bit 0: submitted from outside the pool; above: a policy's sequence number
};

inline constexpr std::uint64_t from_outside = 1;

class task_ring {
 public:
  explicit task_ring(std::size_t capacity = 64) {
    std::size_t c = 2;
    while (c < capacity) c *= 2;
    buf_.resize(c);
  }
  task_ring(task_ring&&) noexcept = default;
  task_ring& operator=(task_ring&&) = delete;
  task_ring(const task_ring&) = delete;
  ~task_ring() {
    while (count_ > 0) {
      task t;
      pop(t);  // destroyed unrun: cancelled
    }
  }

  std::size_t size() const noexcept { return count_; }
  bool empty() const noexcept { return count_ == 0; }

  // Takes t (it becomes empty). May throw std::bad_alloc (t is then untouched).
  void push(task& t, std::uint64_t meta) {
    if (count_ == buf_.size()) grow();
    buf_[(head_ + count_) & (buf_.size() - 1)] = {t.bytes(), meta};
    t.forget();
    ++count_;
  }

  const queued_task& front() const noexcept { return buf_[head_]; }

  // The oldest task of depth >= min_depth, if any: moved into the empty task `out`, the
  // others keeping their order; its metadata, or no_task.
  static constexpr std::uint64_t no_task = ~std::uint64_t{0};
  std::uint64_t take_first(std::uint32_t min_depth, task& out) noexcept {
    const std::size_t mask = buf_.size() - 1;
    for (std::size_t k = 0; k < count_; ++k) {
      const queued_task q = buf_[(head_ + k) & mask];
      if (q.raw.depth < min_depth) continue;
      for (std::size_t j = k; j > 0; --j) buf_[(head_ + j) & mask] = buf_[(head_ + j - 1) & mask];
      head_ = (head_ + 1) & mask;
      --count_;
      out.bytes() = q.raw;
      return q.meta;
    }
    return no_task;
  }

  std::uint32_t max_depth() const noexcept {
    std::uint32_t d = 0;
    for (std::size_t k = 0; k < count_; ++k) d = std::max(d, buf_[(head_ + k) & (buf_.size() - 1)].raw.depth);
    return d;
  }

  bool any(std::uint32_t min_depth) const noexcept {
    for (std::size_t k = 0; k < count_; ++k) {
      if (buf_[(head_ + k) & (buf_.size() - 1)].raw.depth >= min_depth) return true;
    }
    return false;
  }

  // Moves the oldest task into the empty task `out`; returns its metadata.
  std::uint64_t pop(task& out) noexcept {
    const queued_task& q = buf_[head_];
    out.bytes() = q.raw;
    head_ = (head_ + 1) & (buf_.size() - 1);
    --count_;
    return q.meta;
  }

 private:
  void grow() {
    std::vector<queued_task> bigger(buf_.size() * 2);
    for (std::size_t i = 0; i < count_; ++i) bigger[i] = buf_[(head_ + i) & (buf_.size() - 1)];
    buf_.swap(bigger);
    head_ = 0;
  }

  std::vector<queued_task> buf_;
  std::size_t head_ = 0;
  std::size_t count_ = 0;
};

}  // namespace bobbin::detail
