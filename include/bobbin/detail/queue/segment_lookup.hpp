#pragma once
// detail::segment_lookup<Queue>: how the threads of a segmented ticket queue find the
// segment that holds a ticket, written once for the two such queues (segmented_queue for
// channels, task_injector for pools): a fast path through a hint, the segment a side last
// used, and a locked slow path that finds the segment in the queue's segment_list, appends
// it if it never was, and points the hint at it. The queues keep what differs: their
// slots, how a ticket is claimed and published, when a consumer is done with a slot, and
// which tickets were issued.
//
// Contract:
// - A mixin (CRTP): Queue derives from segment_lookup<Queue>, which holds no data (the
//   queue's layout stays its own, and `this` is the queue's), and befriends it. Queue has
//   the type `segment` (a segment_list Segment: segment k holds tickets k * N to
//   k * N + N - 1, N = 1 << shift) and the members
//     static constexpr unsigned shift;
//     bool ticket_issued(std::uint64_t h);   // a producer was given ticket h
//     std::atomic<segment*> tail_hint_;      // the segment producers last used, and
//     std::atomic<std::uint64_t> appended_;  // segments ever appended = the next id: both
//                                            // on the producers' line, read on every push
//     std::atomic<segment*> head_hint_;      // the segment consumers last used, on theirs
//     std::mutex mutex_;                     // the slow path's, guarding segments_
//     segment_list<segment> segments_;
// - Any thread calls prepare_segment, producer_segment, consumer_segment and
//   retire_segment; the slow path and retire_segment take mutex_.
// - A hint's segment is the right one if its id matches: ids only grow, and segments are
//   freed only when the queue dies, so reading a stale hint's id is always safe.
// - Memory: a reused segment is reset, then its new id stored (release, segment_list),
//   then a hint pointed at it (release); the fast path reads the hint and the id with
//   acquire before it touches a slot.
// - Allocation: prepare_segment(), before a producer's claim, may throw std::bad_alloc.
//   producer_segment(), after the claim, is noexcept: it allocates only when producers
//   raced past a segment's end, and a failure there ends the program (std::terminate), as
//   a claimed ticket that is never filled would stall every consumer. Consumers never
//   allocate.

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <type_traits>

#include "../config.hpp"
#include "segment_list.hpp"

namespace bobbin::detail {

template <class Queue>
class segment_lookup {
 protected:
  // The lines the members above must sit on (the producers' tail_, tail_hint_, appended_;
  // the consumers' head_, head_hint_), for the queue's own check_layout() to call where
  // the queue is complete.
  static constexpr void check_lookup_layout() noexcept {
    using q = Queue;
    static_assert(std::is_standard_layout_v<q>, "offsetof below needs a standard-layout queue");
    static_assert(alignof(q) >= cache_line && offsetof(q, tail_) % cache_line == 0,
                  "tail_ must start a cache line of its own");
    static_assert(offsetof(q, appended_) + sizeof(q::appended_) <= offsetof(q, tail_) + cache_line,
                  "the producers' hint and segment count must share tail_'s line");
    static_assert(offsetof(q, head_) % cache_line == 0 && offsetof(q, head_) >= offsetof(q, tail_) + cache_line,
                  "head_ (consumers) must sit on another cache line than tail_ (producers)");
    static_assert(offsetof(q, head_hint_) + sizeof(q::head_hint_) <= offsetof(q, head_) + cache_line,
                  "the consumers' hint must share head_'s line");
  }

  // A producer about to claim a ticket in segment k (a guess from the tail): appends the
  // segment now if it never was, so that std::bad_alloc comes before the claim.
  void prepare_segment(std::uint64_t k) {
    // acquire: pairs with the release in append_through; not needed for safety (the slow
    // path takes the mutex), only to skip it.
    if (k >= queue().appended_.load(std::memory_order_acquire)) find_slow(k, queue().tail_hint_);
  }

  // Segment k, for a producer that owns a ticket in it: it exists or is about to be
  // appended, and cannot be recycled before that ticket is published.
  auto& producer_segment(std::uint64_t k) noexcept {
    // acquire (both): the segment was reset, and its id set, before the hint pointed at it.
    auto* s = queue().tail_hint_.load(std::memory_order_acquire);
    if (s != nullptr && s->id.load(std::memory_order_acquire) == k) return *s;
    return *find_slow(k, queue().tail_hint_);  // noexcept: see "Allocation" in the contract
  }

  // The segment holding ticket h, for a consumer, or nullptr when there is nothing to read
  // there: no producer was given ticket h yet, or its producer has not appended the
  // segment yet (then it has not published either), or h was taken and its segment
  // recycled (the caller re-reads its head then). Consumers never allocate.
  auto* consumer_segment(std::uint64_t h) {
    auto* s = queue().head_hint_.load(std::memory_order_acquire);  // acquire: as for producers
    if (s != nullptr && s->id.load(std::memory_order_acquire) == (h >> Queue::shift)) return s;
    if (!queue().ticket_issued(h)) return decltype(s){nullptr};  // nobody was given ticket h: nothing to find
    return find_slow(h >> Queue::shift, queue().head_hint_, false);
  }

  // Every ticket of s is claimed: take it off the live list, and put it on the free list
  // if every slot is consumed, else on the retired list until it is.
  template <class Segment>
  void retire_segment(Segment& s) noexcept {
    std::lock_guard lock(queue().mutex_);
    queue().segments_.retire(s);
  }

 private:
  Queue& queue() noexcept { return static_cast<Queue&>(*this); }

  // Segment k, appended if it never was (when `append`); nullptr if it was recycled
  // already. Points the hint at it: the caller's side works there now. (A thread that lags
  // behind may point it back; the others then take this path once more and point it
  // forward again.)
  template <class Segment>
  Segment* find_slow(std::uint64_t k, std::atomic<Segment*>& hint, bool append = true) {
    Queue& q = queue();
    std::lock_guard lock(q.mutex_);
    Segment* s = q.segments_.find(k);
    if (s == nullptr && append && k >= q.appended_.load(std::memory_order_relaxed))
      s = q.segments_.append_through(k, q.appended_);
    // release: the reset and id of s come before the hint that leads to it.
    if (s != nullptr) hint.store(s, std::memory_order_release);
    return s;
  }
};

}  // namespace bobbin::detail
