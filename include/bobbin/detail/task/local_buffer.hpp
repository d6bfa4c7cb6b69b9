#pragma once
// detail::local_buffer: a worker's private FIFO of up to 32 tasks taken from a shared
// queue in one batch (one lock per batch instead of per task). Owner thread only; tasks
// left in it at destruction are cancelled.

#include <algorithm>
#include <cstddef>
#include <cstdint>

#include "task.hpp"

namespace bobbin::detail {

class local_buffer {
 public:
  static constexpr std::size_t capacity = 32;

  local_buffer() = default;
  local_buffer(const local_buffer&) = delete;
  local_buffer& operator=(const local_buffer&) = delete;
  ~local_buffer() {
    task t;
    while (pop(t)) t.reset();
  }

  bool empty() const noexcept { return count_ == 0; }
  std::size_t room() const noexcept { return capacity - count_; }

  void push(task& t) noexcept {
    items_[(head_ + count_) % capacity] = t.bytes();
    t.forget();
    ++count_;
  }

  // The oldest task of depth >= min_depth, the others keeping their order.
  bool take_first(std::uint32_t min_depth, task& out) noexcept {
    for (std::size_t k = 0; k < count_; ++k) {
      const task::raw r = items_[(head_ + k) % capacity];
      if (r.depth < min_depth) continue;
      for (std::size_t j = k; j > 0; --j) items_[(head_ + j) % capacity] = items_[(head_ + j - 1) % capacity];
      head_ = (head_ + 1) % capacity;
      --count_;
      out.bytes() = r;
      return true;
    }
    return false;
  }

  std::uint32_t max_depth() const noexcept {
    std::uint32_t d = 0;
    for (std::size_t k = 0; k < count_; ++k) d = std::max(d, items_[(head_ + k) % capacity].depth);
    return d;
  }

  bool any(std::uint32_t min_depth) const noexcept {
    for (std::size_t k = 0; k < count_; ++k) {
      if (items_[(head_ + k) % capacity].depth >= min_depth) return true;
    }
    return false;
  }

  bool pop(task& out) noexcept {
    if (count_ == 0) return false;
    out.bytes() = items_[head_];
    head_ = (head_ + 1) % capacity;
    --count_;
    return true;
  }

 private:
  task::raw items_[capacity];
  std::size_t head_ = 0;
  std::size_t count_ = 0;
};

}  // namespace bobbin::detail
