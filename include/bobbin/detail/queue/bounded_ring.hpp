#pragma once
// detail::bounded_ring<T>: the queue behind a bounded channel. A ring of exactly `capacity`
// slots with a turn number per slot (Vyukov's bounded MPMC queue), plus close.
//
// Contract:
// - Any number of threads call try_push and try_pop concurrently; neither blocks (blocking
//   is channel_core's job). close, closed, size, front_ready and back_free may be called by
//   anyone at any time. The destructor runs alone.
// - Positions: tail_ counts claimed pushes, head_ claimed pops. A producer claims position
//   p with a CAS on tail_ only when slot p % n is free for p, then constructs the message
//   and publishes it through the slot's turn; a consumer claims p with a CAS on head_ only
//   when slot p is published, moves the message out, then hands the slot to position p + n.
//   So head_ <= tail_ <= head_ + n, and at most n messages are ever held.
// - Turns: slot p % n is writable for p at 4p, written at 4p+1, skipped at 4p+2 (T's
//   constructor threw after the claim; consumers step over it). Four per lap keeps
//   "written at p" apart from "writable for p + 1" even for a ring of one slot.
// - Memory: publishing (turn = 4p+1) is seq_cst, so it releases the message to the
//   consumer's acquire (or seq_cst) load of the turn, and it is ordered before the
//   producer's look at the receivers' wait_gate. Freeing (turn = 4(p+n)) is seq_cst for
//   the same two reasons towards producers and the senders' gate.
// - Close sets a bit in tail_ with one RMW: a producer's claim (a CAS from a value without
//   the bit) fails from then on, so the positions below the final tail are exactly the
//   accepted messages, and every one of them is published (or skipped) and then drained.
// - Layout: tail_ (producers), head_ (consumers) and closed_ with the fields every push and
//   pop reads (n_, mask_, slots_) sit on three cache lines, so a producer's claim does not
//   evict the consumers' line; check_layout() asserts it with offsetof at compile time.
// - Not strictly FIFO-visible: a message published at p + 1 is not popped before the
//   message at p, which may still be under construction; try_pop says empty meanwhile.
//   Order is kept: each producer's messages are taken in the order it sent them.

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <type_traits>
#include <utility>

#include "../config.hpp"
#include "slot_storage.hpp"

namespace bobbin::detail {

template <message_type T>
class bounded_ring {
 public:
  // capacity >= 1; the caller checks.
  explicit bounded_ring(std::size_t capacity)
      : n_(capacity), mask_((capacity & (capacity - 1)) == 0 ? capacity - 1 : 0), slots_(new slot[capacity]()) {
    check_layout();
    for (std::size_t i = 0; i < capacity; ++i) slots_[i].turn.store(writable(i), std::memory_order_relaxed);
  }

  bounded_ring(const bounded_ring&) = delete;
  bounded_ring& operator=(const bounded_ring&) = delete;

  ~bounded_ring() {
    const std::uint64_t end = tail_.load(std::memory_order_relaxed) & ~closed_bit;
    for (std::uint64_t p = head_.load(std::memory_order_relaxed); p != end; ++p) {
      slot& s = at(p);
      if (s.turn.load(std::memory_order_relaxed) == written(p)) s.value.destroy();
    }
    delete[] slots_;
  }

  // Constructs a T from std::forward<U>(v) in a claimed slot, or leaves v alone.
  template <class U>
  push_status try_push(U&& v) {
    // relaxed: a guess at the free position; the CAS below checks it.
    std::uint64_t pos = tail_.load(std::memory_order_relaxed);
    for (;;) {
      if ((pos & closed_bit) != 0) return push_status::closed;
      slot& s = at(pos);
      // acquire: the consumer that freed this slot is done with the previous message.
      const std::uint64_t turn = s.turn.load(std::memory_order_acquire);
      const auto diff = static_cast<std::int64_t>(turn - writable(pos));
      if (diff == 0) {
        // relaxed: the claim needs only atomicity; the message is published through turn.
        if (tail_.compare_exchange_weak(pos, pos + 1, std::memory_order_relaxed)) {
          publish(s, pos, std::forward<U>(v));
          return push_status::ok;
        }
      } else if (diff < 0) {
        // The slot still holds the message of one lap ago: full, unless tail_ moved on
        // (taken, or closed: then the loop says closed, which wins over full).
        const std::uint64_t now = tail_.load(std::memory_order_relaxed);
        if (now == pos) return push_status::full;
        pos = now;
      } else {
        pos = tail_.load(std::memory_order_relaxed);  // another producer claimed pos
      }
    }
  }

  // Moves the next message into out. Sets freed when it freed a slot (took a message, or
  // stepped over a skipped one), which may let a sender in.
  pop_status try_pop(std::optional<T>& out, bool& freed) {
    // seq_cst, here and for the turn: a receiver retrying after it registered with the
    // wait gate must see a publication that came before the producer's look at the gate.
    std::uint64_t pos = head_.load(std::memory_order_seq_cst);
    for (;;) {
      slot& s = at(pos);
      const std::uint64_t turn = s.turn.load(std::memory_order_seq_cst);
      const auto diff = static_cast<std::int64_t>(turn - written(pos));
      if (diff == 0 || diff == 1) {  // written or skipped
        // seq_cst: a sleeper's registration, its load of head_ and this claim are ordered,
        // so channel_core's hand-on after a pop sees a sleeper that looked at this slot.
        if (head_.compare_exchange_weak(pos, pos + 1, std::memory_order_seq_cst)) {
          freed = true;
          if (diff == 0) {
            struct free_on_exit {
              bounded_ring& q;
              slot& s;
              std::uint64_t pos;
              // seq_cst: releases the slot to the producer one lap ahead, and comes before
              // the consumer's look at the senders' gate.
              ~free_on_exit() { s.turn.store(writable(pos + q.n_), std::memory_order_seq_cst); }
            } guard{*this, s, pos};
            s.value.move_to(out);
            return pop_status::ok;
          }
          s.turn.store(writable(pos + n_), std::memory_order_seq_cst);  // as above
          pos = head_.load(std::memory_order_seq_cst);
        }
      } else if (diff < 0) {
        // Nothing published at pos: empty, or a push in progress there.
        if (closed_.load(std::memory_order_seq_cst) &&  // seq_cst: Dekker pair with close
            pos == (tail_.load(std::memory_order_relaxed) & ~closed_bit))
          return pop_status::closed;
        const std::uint64_t now = head_.load(std::memory_order_seq_cst);
        if (now == pos) return pop_status::empty;
        pos = now;  // the slot we read belonged to an older lap: look again
      } else {
        pos = head_.load(std::memory_order_seq_cst);  // another consumer took pos
      }
    }
  }

  // True if this call closed the ring (false: it was closed already).
  bool close() noexcept {
    // seq_cst: from this RMW on, no claim succeeds; the final tail is what it returns.
    if ((tail_.fetch_or(closed_bit, std::memory_order_seq_cst) & closed_bit) != 0) return false;
    // seq_cst: ordered before close's look at the wait gates (see wait_gate). A consumer
    // that sees the flag sees the bit in tail_ (sequenced before).
    closed_.store(true, std::memory_order_seq_cst);
    return true;
  }

  bool closed() const noexcept { return closed_.load(std::memory_order_acquire); }

  // A snapshot: tail first, then head, so the answer is within [0, capacity].
  std::size_t size() const noexcept {
    const std::uint64_t t = tail_.load(std::memory_order_acquire) & ~closed_bit;
    const std::uint64_t h = head_.load(std::memory_order_acquire);
    return t > h ? static_cast<std::size_t>(t - h) : 0;
  }

  // Whether the slot at head_ is published (a pop would take it or step over it).
  bool front_ready() const noexcept {
    const std::uint64_t pos = head_.load(std::memory_order_seq_cst);  // seq_cst: see try_pop
    const std::uint64_t turn = at(pos).turn.load(std::memory_order_seq_cst);
    return turn == written(pos) || turn == skipped(pos);
  }

  // Whether at least k slots are free, or the ring is closed (then a push fails at once).
  bool has_room(std::size_t k) const noexcept {
    const std::uint64_t t = tail_.load(std::memory_order_relaxed);  // relaxed: a hint only
    if ((t & closed_bit) != 0) return true;
    const std::uint64_t h = head_.load(std::memory_order_relaxed);
    return n_ - static_cast<std::size_t>(t - std::min(t, h)) >= k;
  }

  std::size_t capacity() const noexcept { return n_; }

  // Whether the slot at tail_ is free for it (a push would claim it).
  bool back_free() const noexcept {
    const std::uint64_t pos = tail_.load(std::memory_order_seq_cst);  // seq_cst: see try_pop
    if ((pos & closed_bit) != 0) return false;
    return at(pos).turn.load(std::memory_order_seq_cst) == writable(pos);
  }

 private:
  struct slot {
    std::atomic<std::uint64_t> turn;
    slot_storage<T> value;
  };

  // Positions stay below 2^61, so 4 * position fits; the top bit of tail_ marks closed.
  static constexpr std::uint64_t closed_bit = std::uint64_t{1} << 63;
  static constexpr std::uint64_t writable(std::uint64_t pos) noexcept { return pos * 4; }
  static constexpr std::uint64_t written(std::uint64_t pos) noexcept { return pos * 4 + 1; }
  static constexpr std::uint64_t skipped(std::uint64_t pos) noexcept { return pos * 4 + 2; }

  slot& at(std::uint64_t pos) const noexcept {
    return slots_[mask_ != 0 || n_ == 1 ? static_cast<std::size_t>(pos & mask_) : static_cast<std::size_t>(pos % n_)];
  }

  template <class U>
  void publish(slot& s, std::uint64_t pos, U&& v) {
    try {
      s.value.construct(std::forward<U>(v));
    } catch (...) {
      s.turn.store(skipped(pos), std::memory_order_seq_cst);  // as below; nothing to read
      throw;
    }
    // seq_cst: releases the message, and comes before the producer's look at the
    // receivers' gate (see the contract at the top).
    s.turn.store(written(pos), std::memory_order_seq_cst);
  }

  // The layout the comments below promise, checked where the class is complete (as
  // rigtorp's MPMCQueue does in its constructor). offsetof needs a standard-layout class:
  // hence slots_ is a plain pointer (clang does not take libstdc++'s unique_ptr for one).
  static constexpr void check_layout() noexcept {
    static_assert(cache_line != 0 && (cache_line & (cache_line - 1)) == 0,
                  "cache_line must be a power of two (it is an alignment)");
    static_assert(std::is_standard_layout_v<bounded_ring>, "offsetof below needs a standard-layout ring");
    static_assert(std::atomic<std::uint64_t>::is_always_lock_free, "the positions and turns must be lock-free");
    static_assert(alignof(bounded_ring) >= cache_line && offsetof(bounded_ring, tail_) % cache_line == 0,
                  "tail_ must start a cache line of its own");
    static_assert(offsetof(bounded_ring, head_) % cache_line == 0 &&
                      offsetof(bounded_ring, head_) >= offsetof(bounded_ring, tail_) + cache_line,
                  "head_ must sit on another cache line than tail_ (producers and consumers)");
    static_assert(offsetof(bounded_ring, closed_) % cache_line == 0 &&
                      offsetof(bounded_ring, closed_) >= offsetof(bounded_ring, head_) + cache_line,
                  "closed_ and the read-mostly fields must sit on a line of their own");
    static_assert(offsetof(bounded_ring, slots_) + sizeof(slots_) <= offsetof(bounded_ring, closed_) + cache_line,
                  "closed_, n_, mask_ and slots_ must share one cache line (read by every push and pop)");
    static_assert(sizeof(bounded_ring) % cache_line == 0, "the ring must not share its last line with a neighbour");
  }

  // Producers' line, consumers' line, and a line that is read often and written once.
  alignas(cache_line) std::atomic<std::uint64_t> tail_{0};
  alignas(cache_line) std::atomic<std::uint64_t> head_{0};
  alignas(cache_line) std::atomic<bool> closed_{false};
  const std::size_t n_;
  const std::uint64_t mask_;  // n_ - 1 when n_ is a power of two, else 0 (then use %)
  slot* const slots_;         // capacity slots, owned: freed by the destructor
};

}  // namespace bobbin::detail
