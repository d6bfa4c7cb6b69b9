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

#include <memory>
#include <utility>

#include "detail/channel/channel_core.hpp"
#include "detail/channel/handle_access.hpp"
#include "detail/channel/mailbox.hpp"
#include "detail/channel/post_api.hpp"
#include "detail/channel/receiver_api.hpp"
#include "detail/queue/slot_storage.hpp"

namespace bobbin {

template <detail::message_type A, detail::message_type B = A>
struct message_channel;

template <detail::message_type A, detail::message_type B = A>
message_channel<A, B> make_message_channel();

// One end of a message channel: sends Out, receives In.
template <detail::message_type Out, detail::message_type In = Out>
class message_port : public detail::post_api<message_port<Out, In>, Out>,
                     public detail::inbox_api<message_port<Out, In>, In> {
 public:
  // Sending (detail/channel/post_api.hpp): post_message(v) never blocks; false if the port
  // is closed, and v is then left as it was.
  //
  // Receiving (detail/channel/receiver_api.hpp, as a channel's): receive() blocks until a
  // message arrives, nullopt once closed and drained; try_receive(), receive_for(d),
  // receive_until(t); for (auto&& m : port) receives until closed and drained. receive()
  // blocks the calling thread: inside a task on a one-thread pool, waiting for a message
  // that another task of that pool would post is a deadlock (see channel::receive; use
  // on_message there, or a coroutine: co_await port.async_receive() suspends it instead).
  // A worker's parent port (ctx.parent_port()) is such a port, and a worker's own
  // async_receive() takes what its function posted.
  //
  // on_message(handler, executor) runs handler(In&&) on `executor` for each message (see
  // the top of this file: the executor must outlive the port's open life).

  // Closes both directions. Idempotent. Does nothing on a moved-from handle.
  void close() {
    if (ends_) ends_->close();
  }
  bool closed() const noexcept { return !ends_ || ends_->out->core().closed(); }

  friend bool operator==(const message_port& a, const message_port& b) noexcept { return a.ends_ == b.ends_; }

 private:
  template <detail::message_type A, detail::message_type B>
  friend message_channel<A, B> make_message_channel();
  friend struct detail::handle_access;

  // Shared by the handles of one port; the last one closes the port.
  struct ends {
    std::shared_ptr<detail::mailbox<Out>> out;
    std::shared_ptr<detail::mailbox<In>> in;

    ends(std::shared_ptr<detail::mailbox<Out>> o, std::shared_ptr<detail::mailbox<In>> i)
        : out(std::move(o)), in(std::move(i)) {}
    ends(const ends&) = delete;
    ends& operator=(const ends&) = delete;
    ~ends() { detail::close_quietly(*this); }
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

  ends& both() const { return detail::checked(ends_, "bobbin::message_port: use of a moved-from handle"); }
  detail::mailbox<Out>& post_box() const { return *both().out; }
  detail::mailbox<In>& inbox() const { return *both().in; }
  detail::channel_core<In>& receive_core() const { return inbox().core(); }

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
  return {p1(std::make_shared<typename p1::ends>(a, b)), p2(std::make_shared<typename p2::ends>(b, a))};
}

}  // namespace bobbin
