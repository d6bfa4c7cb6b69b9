#pragma once
// detail::segment_list<Segment>: the bookkeeping of segments shared by the two lock-free
// ticket queues (segmented_queue for channels, task_injector for pools): the live
// segments in id order, those retired while a reader may still be copying out of them,
// and the free ones waiting for reuse. How threads find a segment (hints, the locked slow
// path) is segment_lookup.hpp.
//
// Contract:
// - The owning queue holds its mutex around every call; the destructor runs alone.
// - Segment has `std::atomic<std::uint64_t> id`, `Segment* next`, and the member functions
//   `bool all_consumed() const noexcept` (every slot was read out: it may be reused) and
//   `void reset() noexcept` (makes a reused segment's slots empty).
// - Ids only grow; a retired or free segment's id is dead_id, so a stale hint to it no
//   longer matches any ticket. Memory is freed only by the destructor.

#include <atomic>
#include <cstdint>
#include <utility>

namespace bobbin::detail {

template <class Segment>
class segment_list {
 public:
  static constexpr std::uint64_t dead_id = ~std::uint64_t{0};

  segment_list() = default;
  segment_list(const segment_list&) = delete;
  segment_list& operator=(const segment_list&) = delete;
  ~segment_list() {
    for (Segment* list : {live_first_, retired_, free_}) {
      while (list != nullptr) delete std::exchange(list, list->next);
    }
  }

  // The live segment with id k, or nullptr. Producers look for the newest segment,
  // consumers for the oldest: both ends are one step away (with a backlog the list is
  // long, and walking it cost a producer most of its time).
  Segment* find(std::uint64_t k) const noexcept {
    if (live_last_ != nullptr && live_last_->id.load(std::memory_order_relaxed) <= k) {
      return live_last_->id.load(std::memory_order_relaxed) == k ? live_last_ : nullptr;
    }
    for (Segment* s = live_first_; s != nullptr; s = s->next) {
      const std::uint64_t id = s->id.load(std::memory_order_relaxed);
      if (id == k) return s;
      if (id > k) return nullptr;
    }
    return nullptr;
  }

  // Appends segments until one has id k (reusing free ones, else allocating) and returns
  // it; `appended` counts the segments ever appended (the next id), read by producers'
  // fast path. If allocating throws, the segments appended so far stay (they are empty
  // and will be used) and k's is missing.
  Segment* append_through(std::uint64_t k, std::atomic<std::uint64_t>& appended) {
    Segment* s = nullptr;
    for (std::uint64_t id = appended.load(std::memory_order_relaxed); id <= k; ++id) {
      if (free_ == nullptr) reclaim_retired();
      if (free_ != nullptr) {
        s = std::exchange(free_, free_->next);
        s->reset();
      } else {
        s = new Segment;
      }
      s->next = nullptr;
      // release: a fast path that reads this id (acquire) sees the reset above.
      s->id.store(id, std::memory_order_release);
      (live_last_ != nullptr ? live_last_->next : live_first_) = s;
      live_last_ = s;
      appended.store(id + 1, std::memory_order_release);  // release: as the id
    }
    return s;
  }

  // Every ticket of s is claimed: off the live list; free once all_consumed().
  void retire(Segment& s) noexcept {
    s.id.store(dead_id, std::memory_order_relaxed);  // stale hints no longer match it
    Segment** link = &live_first_;
    Segment* prev = nullptr;
    while (*link != &s) {
      prev = *link;
      link = &(*link)->next;
    }
    *link = s.next;
    if (live_last_ == &s) live_last_ = prev;
    Segment*& list = s.all_consumed() ? free_ : retired_;
    s.next = list;
    list = &s;
  }

 private:
  void reclaim_retired() noexcept {
    for (Segment** link = &retired_; *link != nullptr;) {
      Segment* s = *link;
      if (s->all_consumed()) {
        *link = s->next;
        s->next = free_;
        free_ = s;
      } else {
        link = &s->next;
      }
    }
  }

  Segment* live_first_ = nullptr;  // ascending ids (with gaps where segments were recycled)
  Segment* live_last_ = nullptr;
  Segment* retired_ = nullptr;  // every ticket claimed, some slot still being read
  Segment* free_ = nullptr;
};

}  // namespace bobbin::detail
