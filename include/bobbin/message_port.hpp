#pragma once
// bobbin::make_message_channel<A, B>(): Node.js's MessageChannel. Two connected ports:
// port1 sends A and receives B, port2 sends B and receives A.
//
//   auto [port1, port2] = bobbin::make_message_channel<request, reply>();
//   port2.on_message([&](request r) { port2.post_message(answer(r)); }, pool);
//   port1.post_message(request{...});
//   std::optional<reply> r = port1.receive();
//
// A port is a handle: copies share the port, every member may be called from any thread.
// Each direction is an unbounded queue, so post_message never blocks. A moved-from handle
// is empty: close() does nothing and closed() is true, it can be assigned to and destroyed;
// every other member throws std::logic_error ("moved-from").
//
// Semantics:
// - Messages arrive in the order each thread posted them.
// - close(), on either port, closes both directions: post_message then returns false (the
//   value is left as it was), and each side receives what was posted before, then
//   receive() returns nullopt. When the last handle to a port is destroyed, the port
//   closes the same way, so its peer sees the end of the stream.
// - on_message(handler, executor): from then on, each message is handed to
//   handler(In&&), run as a task on `executor` (anything with post(task): a bobbin::pool,
//   a thread with a queue), one message at a time per port, in order, like a port's
//   'message' event. receive() and try_receive() still work and take messages first, as
//   Node's receiveMessageOnPort does: each message goes either to a receive or to the
//   handler, never both. on_message may be called once per port (std::logic_error after).
//   Once the port is closed and its messages handled, the handler is destroyed (with what
//   it captured). A handler that captures its own port keeps that port open until close()
//   is called, like a Node port with a 'message' listener keeps the event loop alive.
// - Lifetimes with on_message: the port holds the executor by reference (a pointer), and
//   posts to it from whichever thread posts a message to this port (the peer's
//   post_message), closes either port (close()), or drops the last handle of either port
//   (which closes it): each of these may schedule a drain. So the executor must outlive the
//   port's open life: keep it alive until the port is closed (by close() on either port or
//   by the last handle of either port going, and a handler that holds its own port keeps
//   it open) and the executor has run the tasks it was given by then (the last releases
//   the handler). A pool does that if it is declared before the ports and every handle,
//   copies and captures included, is gone or the port closed before the pool is
//   destroyed; a pool's destructor runs what is queued. An executor destroyed earlier is
//   used after its end by the next post or close: undefined behaviour that no check
//   catches. The handler and what it captures are the port's, not the executor's.
// - An exception thrown by the handler leaves the task and goes to the executor (a pool
//   passes it to on_error); delivery goes on with the next message. If the executor's post
//   throws (a pool that was shut down, or out of memory), post_message propagates it; the
//   message stays queued and goes with the next post. If it throws for the drain that
//   close() schedules, close() propagates it once both directions are closed; closing
//   again schedules that drain again (it releases the handler).

#include <chrono>
#include <concepts>
#include <functional>
#include <iterator>
#include <memory>
#include <optional>
#include <stdexcept>
#include <utility>

#include "detail/config.hpp"
#include "detail/time/deadline.hpp"
#include "detail/channel/executor.hpp"
#include "detail/channel/mailbox.hpp"
#include "detail/queue/slot_storage.hpp"
#include "detail/channel/receive_iterator.hpp"
#include "detail/sync/wait_gate.hpp"

namespace bobbin {

template <detail::message_type A, detail::message_type B = A>
struct message_channel;

template <detail::message_type A, detail::message_type B = A>
message_channel<A, B> make_message_channel();

// One end of a message channel: sends Out, receives In.
template <detail::message_type Out, detail::message_type In = Out>
class message_port {
 public:
  using value_type = In;
  using iterator = detail::receive_iterator<message_port, In>;

  // false if the port is closed; v is then left as it was.
  bool post_message(const Out& v)
    requires std::copy_constructible<Out>
  {
    return both().out->post(v);
  }
  bool post_message(Out&& v) { return both().out->post(std::move(v)); }

  // Blocks until a message arrives; nullopt once closed and drained. Blocks the calling
  // thread: inside a task on a one-thread pool, waiting for a message that another task of
  // that pool would post is a deadlock (see channel::receive; use on_message there).
  std::optional<In> receive() { return both().in->core().receive(); }
  std::optional<In> try_receive() { return both().in->core().try_receive(); }
  template <class Rep, class Period>
  std::optional<In> receive_for(const std::chrono::duration<Rep, Period>& d) {
    return both().in->core().receive_until(detail::deadline::after(d));
  }
  template <class Clock, class Duration>
  std::optional<In> receive_until(const std::chrono::time_point<Clock, Duration>& t) {
    return both().in->core().receive_until(t);
  }

  // Runs handler(message) on `executor` for each message (see the top of this file: the
  // executor must outlive the port's open life).
  template <class F, detail::executor E>
    requires std::invocable<std::decay_t<F>&, In&&> && std::move_constructible<std::decay_t<F>>
  void on_message(F&& handler, E& executor) {
    both().in->set_handler(std::forward<F>(handler), executor);
  }

  // Closes both directions. Idempotent. Does nothing on a moved-from handle.
  void close() {
    if (ends_) ends_->close();
  }
  bool closed() const noexcept { return !ends_ || ends_->out->core().closed(); }

  // for (auto&& m : port): receives until closed and drained.
  iterator begin() { return iterator(*this); }
  std::default_sentinel_t end() const noexcept { return {}; }

  friend bool operator==(const message_port& a, const message_port& b) noexcept {
    return a.ends_ == b.ends_;
  }

 private:
  template <detail::message_type A, detail::message_type B>
  friend message_channel<A, B> make_message_channel();

  // Shared by the handles of one port; the last one closes the port.
  struct ends {
    std::shared_ptr<detail::mailbox<Out>> out;
    std::shared_ptr<detail::mailbox<In>> in;

    ends(std::shared_ptr<detail::mailbox<Out>> o, std::shared_ptr<detail::mailbox<In>> i)
        : out(std::move(o)), in(std::move(i)) {}
    ends(const ends&) = delete;
    ends& operator=(const ends&) = delete;
    ~ends() {
      try {
        close();
      } catch (...) {
        // The executor refused the drain that would release the handler; the handler is
        // then released with the mailbox. Nothing else can fail here.
      }
    }
    // Both directions close even if scheduling the last drain of one throws (then the
    // exception propagates, and closing again retries the drain).
    void close() {
      try {
        out->close();
      } catch (...) {
        in->close();
        throw;
      }
      in->close();
    }
  };

  explicit message_port(std::shared_ptr<ends> e) : ends_(std::move(e)) {}

  ends& both() const {
    if (!ends_) [[unlikely]] moved_from();
    return *ends_;
  }
  [[noreturn]] BOBBIN_NOINLINE static void moved_from() {
    throw std::logic_error("bobbin::message_port: use of a moved-from handle");
  }

  std::shared_ptr<ends> ends_;
};

// Node's `const { port1, port2 } = new MessageChannel()`.
template <detail::message_type A, detail::message_type B>
struct message_channel {
  message_port<A, B> port1;  // sends A, receives B
  message_port<B, A> port2;  // sends B, receives A
};

template <detail::message_type A, detail::message_type B>
message_channel<A, B> make_message_channel() {
  auto a = std::make_shared<detail::mailbox<A>>();  // port1 -> port2
  auto b = std::make_shared<detail::mailbox<B>>();  // port2 -> port1
  using p1 = message_port<A, B>;
  using p2 = message_port<B, A>;
  return {p1(std::make_shared<typename p1::ends>(a, b)),
          p2(std::make_shared<typename p2::ends>(b, a))};
}

}  // namespace bobbin
