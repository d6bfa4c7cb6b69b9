#pragma once
// detail::segmented_queue<T>: the queue behind an unbounded channel. Tickets from two
// counters, and a list of fixed-size segments that hold the slots, recycled when used up.
//
// Contract:
// - Any number of threads call try_push and try_pop concurrently; neither blocks (blocking
//   is channel_core's job). close, closed, size and front_ready may be called by anyone at
//   any time. The destructor runs alone.
// - Tickets: a producer takes ticket t = tail_++ (always succeeds: unbounded), constructs
//   the message in slot t % N of segment t / N and publishes it through the slot's state.
//   A consumer claims ticket h with a CAS on head_ only once slot h is published, so
//   head_ <= tail_ and each message is taken exactly once. Each producer's messages get
//   increasing tickets, so they are taken in the order it sent them.
// - Segments: N slots each, live ones kept in ticket order in a list that only the
//   mutex-holding slow path walks or changes. The fast path finds its segment through a
//   hint (the segment last used by producers, or by consumers) and checks the segment's id
//   (the lookup and the list: segment_lookup.hpp, segment_list.hpp).
//   The consumer that claims a segment's last ticket retires it: every ticket in it is
//   claimed, so no producer and no new consumer will look at it again. It is reused (with
//   a new id) once every slot says consumed, which each consumer stores, with a plain
//   release store, when it is done with its slot: usually at once, else when a later
//   append needs a segment and finds it done. Memory is never returned to the
//   system before the queue dies, so reading a stale hint's id is always safe, and a
//   segment whose id matches is the right one (ids only grow). The queue therefore keeps
//   the memory of its largest backlog until it is destroyed.
// - Why a stale read cannot do harm: a producer owns its ticket before it looks for the
//   segment, and the segment cannot be retired before that ticket is published and
//   claimed. A consumer may read a slot of a segment that is recycled under it, but it acts
//   only after its CAS head_: h -> h + 1 succeeds, which proves that ticket h was not
//   claimed yet, so the segment had not been retired: the slot it read was ticket h's.
// - Memory: the state store that publishes a message is seq_cst (it releases the message
//   and comes before the producer's look at the receivers' wait gate); consumers read it
//   with seq_cst (they retry after registering with the gate). A consumer's "consumed"
//   store is release and the recycler reads it with acquire, so a reused slot's last
//   reader is done with it. A reused segment is reset before its new id is stored
//   (release); the fast path reads the id with acquire before it touches a slot.
// - Allocation: a producer makes sure the segment for the ticket it is about to take
//   exists before taking it, so std::bad_alloc leaves nothing claimed. Only when many
//   producers race past the end of a segment at once may a producer have to allocate after
//   its claim; a failure there ends the program (std::terminate), as a claimed ticket that
//   is never filled would stall every consumer. Consumers never allocate: a ticket whose
//   segment is not there yet has not been published either.
// - Close sets a bit in tail_ with one RMW and stores the final tail; tickets below it
//   are exactly the accepted messages. Producers that race with close may still bump
//   tail_; they fail and touch nothing else.
// - Layout: tail_ with the producers' hint, head_ with the consumers', closed_ with the
//   final tail, and the slow path sit on four cache lines; check_layout() asserts it.

#include <algorithm>
#include <atomic>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <optional>
#include <type_traits>
#include <utility>

#include "../config.hpp"
#include "segment_list.hpp"
#include "segment_lookup.hpp"
#include "slot_storage.hpp"

namespace bobbin::detail {

template <message_type T>
class segmented_queue : segment_lookup<segmented_queue<T>> {
  friend segment_lookup<segmented_queue<T>>;
  using lookup = segment_lookup<segmented_queue<T>>;

  enum : std::uint32_t { empty_slot = 0, written_slot = 1, skipped_slot = 2, consumed_slot = 3 };

  struct slot {
    std::atomic<std::uint32_t> state{empty_slot};
    slot_storage<T> value;
  };

  // About 16 KiB of slots per segment, between 8 and 1024 of them.
  static constexpr std::size_t slots_per_segment =
      std::clamp<std::size_t>(std::bit_floor(16384 / sizeof(slot)), 8, 1024);
  static constexpr unsigned shift = std::countr_zero(slots_per_segment);
  static constexpr std::uint64_t mask = slots_per_segment - 1;
  static_assert(std::has_single_bit(slots_per_segment));

  struct segment {
    std::atomic<std::uint64_t> id{segment_list<segment>::dead_id};  // which run of N tickets it holds now
    segment* next = nullptr;  // on the live, retired or free list; guarded by the mutex
    alignas(cache_line) slot slots[slots_per_segment];

    bool all_consumed() const noexcept {
      for (const slot& sl : slots) {
        // acquire: pairs with release(); the slot's last reader is done with it.
        if (sl.state.load(std::memory_order_acquire) != consumed_slot) return false;
      }
      return true;
    }
    void reset() noexcept {
      for (slot& sl : slots) sl.state.store(empty_slot, std::memory_order_relaxed);
    }
  };

  static constexpr std::uint64_t closed_bit = std::uint64_t{1} << 63;

 public:
  segmented_queue() = default;
  segmented_queue(const segmented_queue&) = delete;
  segmented_queue& operator=(const segmented_queue&) = delete;

  ~segmented_queue() {
    check_layout();
    const std::uint64_t end = limit();
    for (std::uint64_t h = head_.load(std::memory_order_relaxed); h < end; ++h) {
      segment* s = segments_.find(h >> shift);
      slot& sl = s->slots[h & mask];
      if (sl.state.load(std::memory_order_relaxed) == written_slot) sl.value.destroy();
    }
  }

  template <class U>
  push_status try_push(U&& v) {
    // relaxed: a guess, used only to allocate ahead and to fail early once closed.
    const std::uint64_t guess = tail_.load(std::memory_order_relaxed);
    if ((guess & closed_bit) != 0) return push_status::closed;
    lookup::prepare_segment(guess >> shift);  // may throw std::bad_alloc: nothing claimed yet
    // relaxed: the claim needs only atomicity; the message is published through the slot.
    const std::uint64_t t = tail_.fetch_add(1, std::memory_order_relaxed);
    if ((t & closed_bit) != 0) return push_status::closed;
    // The ticket is ours: its segment exists or is about to be appended, and cannot be
    // recycled before we publish.
    slot& sl = lookup::producer_segment(t >> shift).slots[t & mask];
    try {
      sl.value.construct(std::forward<U>(v));
    } catch (...) {
      sl.state.store(skipped_slot, std::memory_order_seq_cst);  // as below; nothing to read
      throw;
    }
    // seq_cst: releases the message, and comes before the producer's look at the
    // receivers' gate (see the contract).
    sl.state.store(written_slot, std::memory_order_seq_cst);
    return push_status::ok;
  }

  // Moves the next message into out. Sets freed when it used up a ticket (took a message,
  // or stepped over a skipped one); the interface is bounded_ring's.
  // Throws only what T's move constructor throws.
  pop_status try_pop(std::optional<T>& out, bool& freed) {
    // seq_cst: a receiver retrying after it registered with the wait gate must see a
    // publication that came before the producer's look at the gate.
    std::uint64_t h = head_.load(std::memory_order_seq_cst);
    for (;;) {
      segment* s = lookup::consumer_segment(h);
      const std::uint32_t state = s != nullptr ? s->slots[h & mask].state.load(std::memory_order_seq_cst) : empty_slot;
      if (state != written_slot && state != skipped_slot) {
        // Nothing published at h: empty, or a push in progress there.
        if (closed_.load(std::memory_order_seq_cst) &&  // seq_cst: Dekker pair with close
            h >= final_tail_.load(std::memory_order_relaxed))
          return pop_status::closed;
        const std::uint64_t now = head_.load(std::memory_order_seq_cst);
        if (now == h) return pop_status::empty;
        h = now;  // what we read may belong to a ticket already taken: look again
        continue;
      }
      // seq_cst: a sleeper's registration, its load of head_ and this claim are ordered,
      // so channel_core's hand-on after a pop sees a sleeper that looked at this slot.
      if (!head_.compare_exchange_weak(h, h + 1, std::memory_order_seq_cst)) continue;
      freed = true;
      slot& sl = s->slots[h & mask];
      if (state == written_slot) {
        struct release_on_exit {
          segmented_queue& q;
          segment& s;
          std::uint64_t ticket;
          ~release_on_exit() { q.release(s, ticket); }
        } guard{*this, *s, h};
        sl.value.move_to(out);
        return pop_status::ok;
      }
      release(*s, h);  // skipped: step over it
      h = head_.load(std::memory_order_seq_cst);
    }
  }

  // True if this call closed the queue (false: it was closed already).
  bool close() noexcept {
    // seq_cst: from this RMW on every claim fails; what it returns is the final tail.
    const std::uint64_t prev = tail_.fetch_or(closed_bit, std::memory_order_seq_cst);
    if ((prev & closed_bit) != 0) return false;
    final_tail_.store(prev, std::memory_order_relaxed);  // published by the store below
    // seq_cst: ordered before close's look at the wait gates (see wait_gate); a consumer
    // that sees it (seq_cst load) sees final_tail_.
    closed_.store(true, std::memory_order_seq_cst);
    return true;
  }

  bool closed() const noexcept { return closed_.load(std::memory_order_acquire); }

  // A snapshot; it counts pushes in progress too.
  std::size_t size() const noexcept {
    const std::uint64_t t = limit();
    const std::uint64_t h = head_.load(std::memory_order_acquire);
    return t > h ? static_cast<std::size_t>(t - h) : 0;
  }

  // Whether the slot at head_ is published (a pop would take it or step over it).
  bool front_ready() noexcept {
    const std::uint64_t h = head_.load(std::memory_order_seq_cst);  // seq_cst: see try_pop
    const segment* s = lookup::consumer_segment(h);
    if (s == nullptr) return false;
    const std::uint32_t state = s->slots[h & mask].state.load(std::memory_order_seq_cst);
    return state == written_slot || state == skipped_slot;
  }

 private:
  // Tickets below this were handed to producers whose push was accepted (or is underway).
  std::uint64_t limit() const noexcept {
    // acquire (both): a closed queue's final tail is published by the flag.
    if (closed_.load(std::memory_order_acquire)) return final_tail_.load(std::memory_order_relaxed);
    return tail_.load(std::memory_order_acquire) & ~closed_bit;
  }

  // For segment_lookup: whether a producer was given ticket h.
  bool ticket_issued(std::uint64_t h) const noexcept { return h < limit(); }

  // The consumer of `ticket` is done with its slot in s. The one that claimed s's last
  // ticket retires s.
  void release(segment& s, std::uint64_t ticket) noexcept {
    // release: our last touch of the slot comes before whoever reuses it (acquire).
    s.slots[ticket & mask].state.store(consumed_slot, std::memory_order_release);
    if ((ticket & mask) == mask) lookup::retire_segment(s);
  }

  // The layout the comments below promise, checked where the class is complete (as
  // rigtorp's MPMCQueue does in its constructor; offsetof needs a standard-layout class).
  static constexpr void check_layout() noexcept {
    using q = segmented_queue;
    lookup::check_lookup_layout();
    static_assert(offsetof(q, closed_) % cache_line == 0 && offsetof(q, closed_) >= offsetof(q, head_) + cache_line &&
                      offsetof(q, final_tail_) + sizeof(final_tail_) <= offsetof(q, closed_) + cache_line,
                  "closed_ and final_tail_ (read often, written once) must share a line of their own");
    static_assert(offsetof(q, mutex_) % cache_line == 0 && offsetof(q, mutex_) >= offsetof(q, closed_) + cache_line,
                  "the slow path (mutex and lists) must sit on a line of its own");
    static_assert(sizeof(q) % cache_line == 0, "the queue must not share its last line with a neighbour");
  }

  // Producers' line: tickets, their hint and how far segments reach (segment_lookup).
  alignas(cache_line) std::atomic<std::uint64_t> tail_{0};
  std::atomic<segment*> tail_hint_{nullptr};
  std::atomic<std::uint64_t> appended_{0};  // segments ever appended = next id
  // Consumers' line.
  alignas(cache_line) std::atomic<std::uint64_t> head_{0};
  std::atomic<segment*> head_hint_{nullptr};
  // Read often, written once.
  alignas(cache_line) std::atomic<bool> closed_{false};
  std::atomic<std::uint64_t> final_tail_{0};
  // Slow path.
  alignas(cache_line) std::mutex mutex_;
  segment_list<segment> segments_;  // guarded by mutex_
};

}  // namespace bobbin::detail
