#pragma once
// bobbin::broadcast_channel<T>: Node.js's BroadcastChannel. Every message posted goes, as
// a copy, to every receiver subscribed at that moment.
//
//   bobbin::broadcast_channel<event> bc;
//   auto sub = bc.subscribe();          // a broadcast_receiver<event>
//   bc.post_message(event{...});        // sub and every other subscriber get a copy
//   for (auto&& e : sub) { ... }        // until bc is closed (and sub drained)
//
// Channel and receivers are handles: copies share state, and every member may be called
// from any thread. A moved-from handle is empty: close() does nothing, closed() is true and
// subscriber_count() 0, it can be assigned to and destroyed; every other member throws
// std::logic_error ("moved-from").
//
// Semantics:
// - A receiver gets the messages posted after subscribe() returned, in order; all
//   receivers see all messages in the same order.
// - Each receiver has its own unbounded queue, so post_message never blocks: a slow
//   receiver costs memory, never the poster's time. A receiver whose last handle was
//   destroyed (or that was closed) stops receiving and costs nothing more.
// - close() ends every receiver after it has drained what was posted before; post_message
//   then returns false and subscribe() returns a receiver that is already closed. When the
//   last handle to the channel goes, it closes the same way.
// - post_message copies the message once per receiver, under a lock that orders posts. If
//   a copy (or the queue's growth) throws, the receivers before it in the list have the
//   message, the others do not, and the exception propagates; the channel stays usable.
//   Every receiver with a handler that has the message is scheduled; if an executor's post
//   throws, that receiver's message stays queued for the next post (as for a port) and the
//   first such exception propagates.
// - A receiver's co_await async_receive() works as a channel's. A coroutine waiting there
//   is resumed by post_message after its lock is released (a wake_batch), never under it.
// - A receiver's on_message(handler, executor) works as a message port's, executor
//   lifetime included (see message_port.hpp): the executor is posted to by every
//   post_message and close() of the channel, and by the receiver's close(), until the
//   receiver is closed and its last drain has run.

#include <concepts>
#include <cstddef>
#include <exception>
#include <memory>
#include <mutex>
#include <utility>
#include <vector>

#include "detail/channel/async_ops.hpp"
#include "detail/channel/channel_core.hpp"
#include "detail/channel/handle_access.hpp"
#include "detail/channel/mailbox.hpp"
#include "detail/channel/receiver_api.hpp"
#include "detail/queue/slot_storage.hpp"

namespace bobbin {

template <detail::message_type T>
  requires std::copy_constructible<T>
class broadcast_channel;

// One subscription to a broadcast_channel.
template <detail::message_type T>
  requires std::copy_constructible<T>
class broadcast_receiver : public detail::inbox_api<broadcast_receiver<T>, T> {
 public:
  // Receiving (detail/channel/receiver_api.hpp, as a channel's): receive() blocks until a
  // message arrives, nullopt once closed and drained; it blocks the calling thread (see
  // channel::receive about pool tasks). try_receive(), receive_for(d), receive_until(t);
  // for (auto&& m : sub) receives until closed and drained.
  //
  // on_message(handler, executor): as message_port::on_message.

  // Unsubscribes: nothing more arrives; what is queued can still be received. Does nothing
  // on a moved-from handle.
  void close() {
    if (sub_) sub_->box->close();
  }
  bool closed() const noexcept { return !sub_ || sub_->box->core().closed(); }

  friend bool operator==(const broadcast_receiver& a, const broadcast_receiver& b) noexcept { return a.sub_ == b.sub_; }

 private:
  friend class broadcast_channel<T>;
  friend struct detail::handle_access;

  // Shared by a receiver's handles; the channel holds it weakly, so it dies with them.
  struct subscription {
    std::shared_ptr<detail::mailbox<T>> box = std::make_shared<detail::mailbox<T>>();
    subscription() = default;
    subscription(const subscription&) = delete;
    subscription& operator=(const subscription&) = delete;
    // Ends a drain that may still run, releasing its handler.
    ~subscription() { detail::close_quietly(*box); }
  };

  explicit broadcast_receiver(std::shared_ptr<subscription> s) : sub_(std::move(s)) {}
  detail::mailbox<T>& inbox() const {
    return *detail::checked(sub_, "bobbin::broadcast_receiver: use of a moved-from handle").box;
  }
  detail::channel_core<T>& receive_core() const { return inbox().core(); }

  std::shared_ptr<subscription> sub_;
};

template <detail::message_type T>
  requires std::copy_constructible<T>
class broadcast_channel {
 public:
  using receiver = broadcast_receiver<T>;

  broadcast_channel() : state_(std::make_shared<state>()) {}

  // A new receiver that gets every message posted from now on.
  receiver subscribe() {
    state& st = shared();
    auto sub = std::make_shared<typename receiver::subscription>();
    std::lock_guard lock(st.mutex);
    if (st.closed) {
      sub->box->close();
    } else {
      st.subscribers.push_back(sub);
    }
    return receiver(std::move(sub));
  }

  // Copies v to every current receiver; false if the channel is closed.
  bool post_message(const T& v) {
    state& st = shared();
    std::vector<std::shared_ptr<detail::mailbox<T>>> with_handler;  // to schedule after unlocking
    // A receiver that took the message but could not be added to with_handler (no memory):
    // it is scheduled all the same. At most one: the first error ends the loop.
    std::shared_ptr<typename receiver::subscription> unlisted;
    std::exception_ptr error;
    // The pushes below wake coroutines waiting in async_receive, under our lock: their
    // retries and resumptions wait until this function returns (after the unlock).
    detail::wake_batch wakes;
    {
      std::lock_guard lock(st.mutex);
      if (st.closed) return false;
      bool dropped = false;
      try {
        for (const auto& weak : st.subscribers) {
          auto sub = weak.lock();
          if (!sub) {
            dropped = true;
            continue;
          }
          if (sub->box->push(v) && sub->box->has_handler()) {
            unlisted = std::move(sub);
            with_handler.push_back(unlisted->box);
            unlisted.reset();
          }
        }
      } catch (...) {
        error = std::current_exception();
      }
      if (dropped) std::erase_if(st.subscribers, [](const auto& w) { return w.expired(); });
    }
    // Outside the lock: an executor may run the handler inline, and it may post here. Every
    // receiver is scheduled even if scheduling another throws (then its message stays
    // queued for the next post, as with a port); the first error is rethrown.
    const auto dispatch = [&error](detail::mailbox<T>& box) {
      try {
        box.dispatch();
      } catch (...) {
        if (!error) error = std::current_exception();
      }
    };
    for (const auto& box : with_handler) dispatch(*box);
    if (unlisted) dispatch(*unlisted->box);
    if (error) std::rethrow_exception(error);
    return true;
  }

  // Ends every receiver once it has drained; idempotent. Does nothing on a moved-from handle.
  void close() {
    if (state_) state_->close();
  }
  bool closed() const {
    if (!state_) return true;
    std::lock_guard lock(state_->mutex);
    return state_->closed;
  }

  // How many receivers are subscribed: a snapshot (dropped ones may still count until the
  // next post). 0 for a moved-from handle.
  std::size_t subscriber_count() const {
    if (!state_) return 0;
    std::lock_guard lock(state_->mutex);
    return state_->subscribers.size();
  }

  friend bool operator==(const broadcast_channel& a, const broadcast_channel& b) noexcept {
    return a.state_ == b.state_;
  }

 private:
  struct state {
    mutable std::mutex mutex;
    std::vector<std::weak_ptr<typename receiver::subscription>> subscribers;
    bool closed = false;

    state() = default;
    state(const state&) = delete;
    state& operator=(const state&) = delete;
    ~state() { detail::close_quietly(*this); }

    void close() {
      std::vector<std::weak_ptr<typename receiver::subscription>> to_close;
      {
        std::lock_guard lock(mutex);
        if (closed) return;
        closed = true;
        to_close.swap(subscribers);
      }
      // Outside the lock, for the same reason as in post_message.
      std::exception_ptr error;
      for (const auto& weak : to_close) {
        try {
          if (const auto sub = weak.lock()) sub->box->close();
        } catch (...) {
          if (!error) error = std::current_exception();
        }
      }
      if (error) std::rethrow_exception(error);
    }
  };

  state& shared() const { return detail::checked(state_, "bobbin::broadcast_channel: use of a moved-from handle"); }

  std::shared_ptr<state> state_;
};

}  // namespace bobbin
