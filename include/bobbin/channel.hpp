#pragma once
// bobbin::channel<T>: a typed, multi-producer multi-consumer channel between threads, like
// a Go channel. Unbounded by default, bounded with bobbin::capacity{n}. Also brings in
// message ports (make_message_channel) and broadcast_channel, so that
// #include <bobbin/channel.hpp> gives every channel type.
//
//   bobbin::channel<int> ch(bobbin::capacity{64});
//   std::jthread producer([ch]() mutable {
//     for (int i = 0; i < 1000; ++i) ch.send(i);
//     ch.close();
//   });
//   for (int v : ch) use(v);           // until closed and drained
//
// Every member may be called from any thread at the same time, on any copy: copies are
// handles to one channel (shared state), and the channel lives until its last handle goes;
// messages still queued then are destroyed. A moved-from handle is empty: close() does
// nothing, closed() is true and size() 0, it can be assigned to and destroyed; every other
// member throws std::logic_error ("moved-from"). That check is one well-predicted branch.
//
// Semantics:
// - Closing never loses an accepted message: receivers drain what was sent before close,
//   then receive() returns nullopt. send() after close returns false and leaves the value
//   as it was. close() wakes every blocked sender and receiver.
// - Each sender's messages are received in the order it sent them.
// - Blocking calls spin for a few microseconds, then sleep (no CPU while idle). A send
//   wakes at most one sleeping receiver, a receive at most one sleeping sender.
// - Coroutines: co_await ch.async_receive() and co_await ch.async_send(v) suspend instead
//   of blocking (detail/channel/async_ops.hpp); threads and coroutines may wait on one
//   channel together. A suspended coroutine is resumed on its pool (or inline, for a
//   coroutine without a bobbin context), by whichever thread made its operation possible;
//   that thread moves the message for it first. close() wakes every waiting coroutine too.
// - Bounded: never more than n messages are held; the ring of n slots is allocated up
//   front. Unbounded: memory grows in segments of slots that are reused once drained, and
//   the channel keeps the memory of its largest backlog until it is destroyed.
// - Exceptions: if copying or moving T into the channel throws, the message is not sent,
//   the exception propagates, and the channel stays usable (a copied value is untouched; a
//   moved one is as T's move constructor left it). If moving T out of the channel throws
//   in a receive, that message is destroyed and the exception propagates; the channel stays
//   usable. A throwing move is rare (std::is_nothrow_move_constructible covers most types).

#include <chrono>
#include <concepts>
#include <cstddef>
#include <memory>
#include <stdexcept>
#include <utility>

#include "detail/channel/async_ops.hpp"
#include "detail/channel/channel_core.hpp"
#include "detail/channel/handle_access.hpp"
#include "detail/channel/receiver_api.hpp"
#include "detail/queue/slot_storage.hpp"
#include "detail/time/deadline.hpp"

namespace bobbin {

// The number of messages a bounded channel holds. Must be at least 1.
struct capacity {
  std::size_t value;
};

// What a non-blocking (or timed) send did. closed wins over full.
enum class send_status { ok, full, closed };

template <detail::message_type T>
class channel : public detail::receiver_api<channel<T>, T> {
 public:
  // An unbounded channel.
  channel() : core_(std::make_shared<detail::channel_core<T>>(0)) {}

  // A bounded channel of c.value slots; std::invalid_argument if c.value is 0.
  explicit channel(capacity c) : core_(make_bounded(c.value)) {}

  // Blocks while the channel is full. false if it is closed; v is then left as it was.
  bool send(const T& v)
    requires std::copy_constructible<T>
  {
    return core().send(v) == detail::push_status::ok;
  }
  bool send(T&& v) { return core().send(std::move(v)) == detail::push_status::ok; }

  // co_await async_send(v): as send, but a coroutine suspends while the channel is full
  // instead of blocking its thread (no suspension, no allocation when there is room); it
  // is resumed where its context says (its pool). true when sent; false if closed (v left
  // as it was). If its stop is requested while it waits (or before), it still sends if
  // there is room, else throws bobbin::task_cancelled (v left as it was). v must outlive
  // the co_await: await the call at once.
  [[nodiscard]] auto async_send(const T& v)
    requires std::copy_constructible<T>
  {
    return detail::send_awaiter<T, const T&>(core(), v);
  }
  [[nodiscard]] auto async_send(T&& v) { return detail::send_awaiter<T, T&&>(core(), std::move(v)); }

  // Never blocks. v is moved from (or copied) only when the answer is ok.
  send_status try_send(const T& v)
    requires std::copy_constructible<T>
  {
    return status(core().try_send(v));
  }
  send_status try_send(T&& v) { return status(core().try_send(std::move(v))); }

  // As send, but gives up after d or at t: then full (and v is left as it was).
  template <class Rep, class Period>
  send_status send_for(T&& v, const std::chrono::duration<Rep, Period>& d) {
    return status(core().send_until(std::move(v), detail::deadline::after(d)));
  }
  template <class Rep, class Period>
  send_status send_for(const T& v, const std::chrono::duration<Rep, Period>& d)
    requires std::copy_constructible<T>
  {
    return status(core().send_until(v, detail::deadline::after(d)));
  }
  template <class Clock, class Duration>
  send_status send_until(T&& v, const std::chrono::time_point<Clock, Duration>& t) {
    return status(core().send_until(std::move(v), t));
  }
  template <class Clock, class Duration>
  send_status send_until(const T& v, const std::chrono::time_point<Clock, Duration>& t)
    requires std::copy_constructible<T>
  {
    return status(core().send_until(v, t));
  }

  // Receiving (detail/channel/receiver_api.hpp, shared with ports and subscribers; it also
  // defines value_type and iterator): receive() blocks until a message arrives, nullopt once the channel is closed and
  // drained (it blocks a pool's thread too: see there); co_await async_receive() suspends
  // a coroutine instead; try_receive() never blocks; receive_for(d) and receive_until(t)
  // give up at the deadline; for (auto&& v : ch) receives until closed and drained.

  // No more sends; receivers drain what is queued. Idempotent. (A moved-from handle: nothing
  // to close, and closed() is true.)
  void close() noexcept {
    if (core_) core_->close();
  }
  bool closed() const noexcept { return !core_ || core_->closed(); }

  // How many messages are queued: a snapshot that may be stale as soon as it returns (it
  // counts sends in progress too). Never more than the capacity. 0 for a moved-from handle.
  std::size_t size() const noexcept { return core_ ? core_->size() : 0; }

  // Handles to the same channel compare equal.
  friend bool operator==(const channel& a, const channel& b) noexcept { return a.core_ == b.core_; }

 private:
  friend struct detail::handle_access;

  detail::channel_core<T>& core() const {
    return detail::checked(core_, "bobbin::channel: use of a moved-from handle");
  }
  detail::channel_core<T>& receive_core() const { return core(); }

  static std::shared_ptr<detail::channel_core<T>> make_bounded(std::size_t n) {
    if (n == 0) throw std::invalid_argument("bobbin::channel: capacity must be at least 1");
    return std::make_shared<detail::channel_core<T>>(n);
  }

  static constexpr send_status status(detail::push_status s) noexcept {
    switch (s) {
      case detail::push_status::ok: return send_status::ok;
      case detail::push_status::full: return send_status::full;
      case detail::push_status::closed: break;
    }
    return send_status::closed;
  }

  std::shared_ptr<detail::channel_core<T>> core_;
};

}  // namespace bobbin

#include "broadcast_channel.hpp"
#include "message_port.hpp"
