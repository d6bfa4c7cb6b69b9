#pragma once
// detail::mailbox<T>: the receiving end of a message port or of a broadcast subscription.
// An unbounded channel_core, plus an optional handler that an executor runs for each
// message, like the 'message' event of a Node.js MessagePort.
//
// Contract:
// - post/push/receive/close may be called from any thread. set_handler at most once.
//   A mailbox is always owned by a std::shared_ptr (drain tasks keep it alive).
// - The executor is held by pointer and posted to by post/dispatch/close (on whichever
//   thread calls them) until a drain retires the handler; the mailbox cannot tell if it is
//   gone. Its owner (message_port, broadcast_receiver) documents what the user keeps alive.
// - Delivery: once a handler is set, every message that nobody took with receive() is
//   passed to it, in order, one at a time: at most one drain task is scheduled or running
//   per mailbox (the `scheduled_` flag), and a drain hands the flag on to the next
//   (through the executor's queue, which orders them).
// - Scheduling: whoever flips `scheduled_` from false to true posts a drain task. A drain
//   takes messages until the queue is empty, then clears the flag and looks once more: a
//   sender that pushed just before the flag was cleared saw it set and did not post, so
//   the drain must see that message. Both sides use seq_cst (the push publishes with a
//   seq_cst store, then exchanges the flag; the drain stores false, then loads the queue).
//   A drain handles at most drain_batch messages, then posts its successor and returns, so
//   a busy port does not hold an executor thread forever.
// - End: when the queue is closed and drained, the drain releases the handler (and what it
//   captured, e.g. its own port) and keeps the flag set for good: nothing is scheduled any
//   more. Closing schedules a drain for that reason (every close does, so a close whose
//   drain could not be scheduled is retried by closing again).
// - Handler exceptions propagate out of the drain task into the executor (a pool hands
//   them to its on_error); the message that threw is consumed and delivery continues with
//   the next one in a new task. If the executor's post throws, the flag is cleared, the
//   message stays queued, and the exception propagates to whoever posted (or closed).
// - close_quietly(c) (below) is the close of destructors and other noexcept paths: the
//   queue closes first, so only the drain can be refused, and the handler then goes with
//   the mailbox.

#include <atomic>
#include <functional>
#include <memory>
#include <optional>
#include <stdexcept>
#include <type_traits>
#include <utility>

#include "../queue/slot_storage.hpp"
#include "channel_core.hpp"
#include "executor.hpp"

namespace bobbin::detail {

template <message_type T>
class mailbox : public std::enable_shared_from_this<mailbox<T>> {
 public:
  mailbox() = default;
  mailbox(const mailbox&) = delete;
  mailbox& operator=(const mailbox&) = delete;
  ~mailbox() { delete handler_.load(std::memory_order_acquire); }

  channel_core<T>& core() noexcept { return core_; }
  const channel_core<T>& core() const noexcept { return core_; }

  // Queues v (false: closed, v untouched) and schedules the handler if there is one.
  template <class U>
  bool post(U&& v) {
    if (!push(std::forward<U>(v))) return false;
    dispatch();
    return true;
  }

  // Queues v without scheduling anything; the caller calls dispatch() afterwards.
  template <class U>
  bool push(U&& v) {
    return core_.try_send(std::forward<U>(v)) == push_status::ok;  // unbounded: never full
  }

  bool has_handler() const noexcept { return handler_.load(std::memory_order_seq_cst) != nullptr; }

  // If a handler is set and no drain is scheduled, schedules one.
  void dispatch() {
    // seq_cst: after our push's seq_cst publication; set_handler stores the handler and
    // then looks at the queue, so one of the two sees the other.
    handler_base* h = handler_.load(std::memory_order_seq_cst);
    if (h == nullptr) return;
    // seq_cst: pairs with the drain's store(false) and re-check (see the contract). h stays
    // valid if we win: only a drain releases it, and a drain keeps the flag set forever
    // once it has.
    if (scheduled_.exchange(true, std::memory_order_seq_cst)) return;
    schedule(h);
  }

  template <class F, class E>
  void set_handler(F&& f, E& ex) {
    // acquire: as the CAS below. The usual refusal, leaving f untouched.
    if (handler_set_.load(std::memory_order_acquire)) throw_handler_set();
    // Built before the flag is taken: if building throws (std::bad_alloc, F's constructor),
    // no handler is set and on_message may be called again.
    auto h = std::make_unique<handler_impl<std::decay_t<F>, E>>(std::forward<F>(f), ex);
    bool expected = false;
    if (!handler_set_.compare_exchange_strong(expected, true, std::memory_order_acq_rel)) throw_handler_set();
    handler_.store(h.release(), std::memory_order_seq_cst);  // seq_cst: see dispatch
    dispatch();  // messages that came before the handler
  }

  // Closes the queue (receivers drain it, then see nullopt) and lets a handler retire.
  // Dispatches even if the queue was closed already: a close whose drain could not be
  // scheduled (the executor's post threw) is retried by closing again.
  void close() {
    core_.close();
    dispatch();
  }

 private:
  static constexpr int drain_batch = 64;

  [[noreturn]] static void throw_handler_set() {
    throw std::logic_error("bobbin: on_message may be called only once per port");
  }

  struct handler_base {
    virtual ~handler_base() = default;
    virtual void call(T&& message) = 0;
    virtual void post(std::function<void()> task) = 0;
  };

  template <class F, class E>
  struct handler_impl final : handler_base {
    template <class G>
    handler_impl(G&& g, E& e) : f(std::forward<G>(g)), ex(&e) {}
    void call(T&& message) override { std::invoke(f, std::move(message)); }
    void post(std::function<void()> task) override { ex->post(std::move(task)); }
    F f;
    E* ex;
  };

  void schedule(handler_base* h) {
    try {
      h->post([self = this->shared_from_this()] { self->drain(); });
    } catch (...) {
      scheduled_.store(false, std::memory_order_seq_cst);
      throw;
    }
  }

  // Runs on the executor; holds the flag.
  void drain() {
    // acquire: the handler was stored before the flag was set that scheduled us.
    handler_base* h = handler_.load(std::memory_order_acquire);
    for (int i = 0; i < drain_batch; ++i) {
      std::optional<T> message;
      const pop_status st = core_.try_receive(message);
      if (st == pop_status::closed) {
        retire(h);
        return;
      }
      if (st == pop_status::empty) {
        hand_over(h);
        return;
      }
      try {
        h->call(std::move(*message));
      } catch (...) {
        hand_over(h);
        throw;
      }
    }
    hand_over(h);
  }

  bool has_work() { return core_.front_ready() || core_.closed(); }

  // The drain stops: post a successor if there is work left, else clear the flag and look
  // once more (see the contract).
  void hand_over(handler_base* h) {
    for (;;) {
      if (has_work()) {
        schedule(h);
        return;
      }
      scheduled_.store(false, std::memory_order_seq_cst);  // seq_cst: see the contract
      if (!has_work() || scheduled_.exchange(true, std::memory_order_seq_cst)) return;
    }
  }

  // Closed and drained: drop the handler; the flag stays set, so nothing is scheduled again.
  void retire(handler_base* h) noexcept {
    handler_.store(nullptr, std::memory_order_seq_cst);
    delete h;
  }

  channel_core<T> core_{0};
  std::atomic<handler_base*> handler_{nullptr};
  std::atomic<bool> handler_set_{false};  // set once, even after the handler retired
  std::atomic<bool> scheduled_{false};
};

// Closes c (a mailbox, or what closes mailboxes: a port's two ends, a broadcast channel, a
// worker's port) where nothing may throw: a destructor, worker::terminate. Only the
// executor's post of the last drain can throw, and only after the queues are closed, so c
// is closed all the same; that drain's job, releasing the handler (and what it captured),
// is then done by the mailbox's destructor instead.
template <class C>
void close_quietly(C& c) noexcept {
  try {
    c.close();
  } catch (...) {
    // The executor refused the drain (shut down, out of memory): see above.
  }
}

}  // namespace bobbin::detail
