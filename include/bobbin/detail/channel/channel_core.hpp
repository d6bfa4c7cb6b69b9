#pragma once
// detail::channel_core<T>: one channel's shared state. A queue (bounded_ring when a
// capacity is given, else segmented_queue) plus two wait gates, one where receivers
// wait (not_empty_) and one where senders on a full bounded channel wait (not_full_).
// Threads sleep there (receive, send); coroutines link an awaiter there (async_ops.hpp,
// through receivers() and senders()).
//
// Contract:
// - Every member may be called from any thread at any time; the destructor runs alone
//   (when the last handle goes) and destroys the messages still queued.
// - Who wakes whom ("sleeping" is a blocked thread or a suspended coroutine alike: the
//   gates wake either kind, and an awaiter retries through try_receive / try_send, so the
//   hand-on below covers both):
//   * a push that succeeded wakes at most one sleeping receiver (one new message);
//   * a pop that freed a slot (took a message, or stepped over a skipped one) wakes at
//     most one sleeping sender;
//   * close wakes everyone on both gates;
//   * hand-on: the queues are not strictly FIFO-visible (a receiver woken for the message
//     at p + 1 finds p still under construction and sleeps again), so a thread that
//     succeeded and sees more ready on its side while others sleep wakes one of them.
//     Each such wake-up corresponds to something that is ready, so no more threads wake
//     than there is work for, and no message is left behind while a receiver sleeps.
// - Ordering: the queues publish and free slots with seq_cst stores and read them with
//   seq_cst loads, and close sets its flag with a seq_cst store; wait_gate's contract
//   asks exactly that. A pop's claim (seq_cst CAS on head) comes before its hand-on look at
//   the gate (seq_cst load), so a receiver that registered and then saw the old head is
//   seen by the hand-on.
// - Timed operations (send_until, receive_until) take a detail::deadline, or a time point
//   of any clock, which becomes one (deadline.hpp: saturated, checked on its own clock).
// - A waker may hold no lock of its own while a coroutine waits on the gate it notifies
//   (the coroutine may be resumed on its thread): a caller that pushes under a lock opens a
//   wake_batch first (async_ops.hpp; broadcast_channel does).
// - Exceptions: if T's constructor throws in a push, the claimed slot is marked skipped
//   (receivers step over it), one receiver is woken in case it sleeps on that slot, and
//   the exception propagates; the channel stays consistent. See slot_storage::move_to
//   for a move that throws in a pop.

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <optional>
#include <type_traits>
#include <utility>
#include <variant>

#include "../queue/bounded_ring.hpp"
#include "../queue/segmented_queue.hpp"
#include "../queue/slot_storage.hpp"
#include "../sync/wait_gate.hpp"
#include "../time/deadline.hpp"

namespace bobbin::detail {

template <message_type T>
class channel_core {
 public:
  // capacity 0: unbounded.
  explicit channel_core(std::size_t capacity) {
    if (capacity != 0) queue_.template emplace<bounded_ring<T>>(capacity);
  }

  channel_core(const channel_core&) = delete;
  channel_core& operator=(const channel_core&) = delete;

  bool bounded() const noexcept { return std::holds_alternative<bounded_ring<T>>(queue_); }

  // U is T, T& or const T& (moved or copied into the channel only on success).
  template <class U>
  push_status try_send(U&& v) {
    push_status st;
    try {
      st = visit([&](auto& q) { return q.try_push(std::forward<U>(v)); });
    } catch (...) {
      not_empty_.notify_one();  // a receiver may sleep on the slot that is now skipped
      throw;
    }
    if (st == push_status::ok) pushed();
    return st;
  }

  // Blocks while full; ok or closed.
  template <class U>
  push_status send(U&& v) {
    // Forwarding v again after a failed try is fine: it is moved only on success.
    push_status st = try_send(std::forward<U>(v));
    if (st != push_status::full) return st;
    not_full_.wait(
        [&] {
          st = try_send(std::forward<U>(v));
          return st != push_status::full;
        },
        room_for_a_batch());
    return st;
  }

  // As send, but gives up at the deadline (then full).
  template <class U>
  push_status send_until(U&& v, const deadline& d) {
    push_status st = try_send(std::forward<U>(v));
    if (st != push_status::full) return st;
    not_full_.wait_until(
        [&] {
          st = try_send(std::forward<U>(v));
          return st != push_status::full;
        },
        d, room_for_a_batch());
    return st;
  }

  // A time point of any clock, checked on that clock.
  template <class U, class Clock, class Duration>
  push_status send_until(U&& v, const std::chrono::time_point<Clock, Duration>& t) {
    return send_until(std::forward<U>(v), deadline::at(t));
  }

  pop_status try_receive(std::optional<T>& out) {
    bool freed = false;
    pop_status st;
    try {
      st = visit([&](auto& q) { return q.try_pop(out, freed); });
    } catch (...) {
      popped(true, pop_status::ok);  // the slot was freed all the same (see slot_storage::move_to)
      throw;
    }
    popped(freed, st);
    return st;
  }

  std::optional<T> try_receive() {
    std::optional<T> out;
    try_receive(out);
    return out;
  }

  // Blocks until a message or closed-and-drained (then nullopt).
  std::optional<T> receive() {
    std::optional<T> out;
    if (try_receive(out) == pop_status::empty) not_empty_.wait([&] { return try_receive(out) != pop_status::empty; });
    return out;
  }

  // As receive, but gives up at the deadline (then nullopt).
  std::optional<T> receive_until(const deadline& d) {
    std::optional<T> out;
    if (try_receive(out) == pop_status::empty)
      not_empty_.wait_until([&] { return try_receive(out) != pop_status::empty; }, d);
    return out;
  }

  // A time point of any clock, checked on that clock.
  template <class Clock, class Duration>
  std::optional<T> receive_until(const std::chrono::time_point<Clock, Duration>& t) {
    return receive_until(deadline::at(t));
  }

  // True if this call closed the channel.
  bool close() noexcept {
    if (!visit([](auto& q) { return q.close(); })) return false;
    not_empty_.notify_all();
    not_full_.notify_all();
    return true;
  }

  bool closed() const noexcept {
    return visit([](const auto& q) { return q.closed(); });
  }

  std::size_t size() const noexcept {
    return visit([](const auto& q) { return q.size(); });
  }

  // Whether a pop would find something to take (or to step over) right now.
  bool front_ready() {
    return visit([](auto& q) { return q.front_ready(); });
  }

  // The gates, for the awaiters of async_ops.hpp (which wait there as gate_waiters and
  // retry through try_receive / try_send).
  wait_gate& receivers() noexcept { return not_empty_; }
  wait_gate& senders() noexcept { return not_full_; }

 private:
  template <class F>
  decltype(auto) visit(F&& f) {
    if (auto* ring = std::get_if<bounded_ring<T>>(&queue_)) return f(*ring);
    return f(std::get<segmented_queue<T>>(queue_));
  }
  template <class F>
  decltype(auto) visit(F&& f) const {
    if (auto* ring = std::get_if<bounded_ring<T>>(&queue_)) return f(*ring);
    return f(std::get<segmented_queue<T>>(queue_));
  }

  // A sender that found the ring full spins until an eighth of it is free before it
  // tries again. Taking each slot as soon as it frees would keep sender and receiver on
  // the same cache line, one transfer per message each way; after a pause, both sides
  // stream through lines the other has left. Only the spin waits for this: a sender that
  // went to sleep takes the first free slot it is woken for.
  auto room_for_a_batch() {
    const auto* ring = std::get_if<bounded_ring<T>>(&queue_);
    const std::size_t batch = ring != nullptr ? std::max<std::size_t>(1, ring->capacity() / 8) : 1;
    return [ring, batch] { return ring == nullptr || ring->has_room(batch); };
  }

  void pushed() {
    not_empty_.notify_one();
    if (auto* ring = std::get_if<bounded_ring<T>>(&queue_)) {
      if (not_full_.has_waiters() && ring->back_free()) not_full_.notify_one();  // hand-on
    }
  }

  // freed: the pop freed a slot (took a message or stepped over a skipped one); st: what
  // it found. Hands on to a sleeping receiver when more is ready, or when the channel is
  // closed: a receiver that went to sleep after close(), waiting for a send still in
  // progress, must learn that another receiver took that message and nothing is left.
  // Each receiver so woken that finds the channel drained passes it on in turn. (Found by
  // tests/fuzz/fuzz_channel.cpp; its input is in tests/fuzz/regressions/fuzz_channel/.)
  void popped(bool freed, pop_status st) {
    if (freed && bounded()) not_full_.notify_one();
    if (st != pop_status::empty && not_empty_.has_waiters() && (front_ready() || closed())) {
      not_empty_.notify_one();
    }
  }

  std::variant<segmented_queue<T>, bounded_ring<T>> queue_;
  // Read by every push (not_empty_) or pop (not_full_), written only by sleepers.
  alignas(cache_line) wait_gate not_empty_;
  alignas(cache_line) wait_gate not_full_;
};

}  // namespace bobbin::detail
