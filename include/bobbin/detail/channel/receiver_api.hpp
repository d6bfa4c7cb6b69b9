#pragma once
// The receiving half of the public channel API, written once (CRTP mixins) for the four
// handles that receive: channel, message_port, broadcast_receiver and worker.
//
//   receive_calls<D, T>  receive(), try_receive(), receive_for(d), receive_until(t),  worker
//                        co_await async_receive()
//   receiver_api<D, T>   those, plus value_type, iterator, begin(), end()            channel
//   inbox_api<D, T>      those, plus on_message(handler, executor)                   message_port,
//                                                                                     broadcast_receiver
// Contract:
// - D derives publicly from one of them, declares `friend struct detail::handle_access;`
//   and has the primitives handle_access.hpp lists: receive_core() (the channel_core<T>
//   receives take from) and, for inbox_api, inbox() (the mailbox<T> a handler is set on).
//   Both throw D's moved-from std::logic_error, so every member here but end() does on a
//   moved-from handle.
// - Every member may be called from any thread at the same time, as D's own. Nothing here
//   holds state or synchronises: channel_core orders the messages and wakes sleepers
//   (channel_core.hpp), the mailbox schedules the handler (mailbox.hpp). The mixins are
//   empty classes, so a handle stays the size of its std::shared_ptr.
// - async_receive() returns an awaiter (async_ops.hpp) that refers to D's channel_core: the
//   handle must outlive the co_await, as it does in `co_await h.async_receive()`.
// - What "closed" means for each handle (a port closes both ways, a worker's port closes
//   when its function ends, ...) is said at D.

#include <chrono>
#include <concepts>
#include <iterator>
#include <optional>
#include <type_traits>
#include <utility>

#include "../time/deadline.hpp"
#include "async_ops.hpp"
#include "executor.hpp"
#include "handle_access.hpp"
#include "receive_iterator.hpp"

namespace bobbin::detail {

// What on_message accepts for messages of type T (worker.hpp's on_message too): the
// handler is moved into the port and called with each message as an rvalue.
template <class F, class T>
concept message_handler = std::invocable<std::decay_t<F>&, T&&> && std::move_constructible<std::decay_t<F>>;

template <class D, class T>
class receive_calls {
 public:
  // Blocks until a message arrives; nullopt once closed and drained.
  // It blocks the calling thread, also on a pool: a receive() inside a pool task holds that
  // worker until a message comes, and if the sender is a task queued behind it on the same
  // pool (always so on a one-thread pool, or once every worker is blocked like this), it
  // never comes: a deadlock. Inside pool tasks, use a coroutine and co_await
  // async_receive(), or try_receive(), a timed receive, or a port's on_message.
  std::optional<T> receive() { return receiving().receive(); }

  // co_await async_receive(): as receive(), but suspends the awaiting coroutine instead of
  // blocking its thread (no suspension, no allocation when a message is there). The
  // coroutine is resumed where its context says (its pool), with the message, or nullopt
  // once closed and drained. If its stop is requested while it waits (or before), it is
  // resumed with a message that is there, else nullopt. Awaited at once, by one coroutine.
  [[nodiscard]] receive_awaiter<T> async_receive() { return receive_awaiter<T>(receiving()); }

  // Never blocks; nullopt if nothing is ready right now (or closed and drained). A message
  // whose send is still copying it in is not ready yet.
  std::optional<T> try_receive() { return receiving().try_receive(); }

  // As receive, but gives up after d or at t (then nullopt); never returns nullopt before
  // that unless closed and drained. t may be of any clock; it is checked on that clock.
  template <class Rep, class Period>
  std::optional<T> receive_for(const std::chrono::duration<Rep, Period>& d) {
    return receiving().receive_until(deadline::after(d));
  }
  template <class Clock, class Duration>
  std::optional<T> receive_until(const std::chrono::time_point<Clock, Duration>& t) {
    return receiving().receive_until(t);
  }

 protected:
  receive_calls() = default;

 private:
  decltype(auto) receiving() const { return handle_access::receive_core(static_cast<const D&>(*this)); }
};

template <class D, class T>
class receiver_api : public receive_calls<D, T> {
 public:
  using value_type = T;
  using iterator = receive_iterator<D, T>;

  // for (auto&& v : handle): receives until closed and drained.
  iterator begin() { return iterator(static_cast<D&>(*this)); }
  std::default_sentinel_t end() const noexcept { return {}; }

 protected:
  receiver_api() = default;
};

template <class D, class T>
class inbox_api : public receiver_api<D, T> {
 public:
  // Runs handler(T&&) on `executor` for each message that no receive took, one at a time,
  // in order, like a port's 'message' event. Once per handle (std::logic_error after). The
  // executor must outlive the handle's open life: see the top of message_port.hpp.
  template <class F, executor E>
    requires message_handler<F, T>
  void on_message(F&& handler, E& executor) {
    handle_access::inbox(static_cast<const D&>(*this)).set_handler(std::forward<F>(handler), executor);
  }

 protected:
  inbox_api() = default;
};

}  // namespace bobbin::detail
