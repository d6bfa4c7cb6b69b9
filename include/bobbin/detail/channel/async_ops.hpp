#pragma once
// The awaitables behind co_await ch.async_receive() and co_await ch.async_send(v): a
// channel operation that suspends the awaiting coroutine instead of blocking its thread.
//
//   receive_awaiter<T>       async_receive() of channel, message_port, broadcast_receiver,
//                            worker (receiver_api.hpp)
//   send_awaiter<T, U>       async_send(v) of channel (U is const T& or T&&)
//   gate_awaiter<D>          what both share: waiting on a wait_gate as a gate_waiter
//   wake_batch               defers wake-ups made on this thread until its end
//
// Contract:
// - An awaiter is created by the call and awaited at once, by one coroutine, once
//   (co_await ch.async_receive()); it refers to the channel and, for a send, to v, which
//   must outlive the co_await (they do in that form). It lives in the coroutine's frame
//   while suspended. Destroying a frame that is suspended here is not supported (bobbin's
//   pools never do); the awaiter's destructor makes a best effort (leaves the gate, drops
//   its stop callback), which is enough only if no send, receive, close or stop on that
//   channel wakes it at the same time, and only while the channel is alive.
// - await_ready tries the non-blocking operation (try_receive / try_send): no suspension
//   and no allocation when a message (a slot) is there. await_suspend(h) reads the
//   coroutine's context (detail/coro/context.hpp) and waits on the channel's gate as a
//   gate_waiter, with the same loop as a blocked thread (wait_gate.hpp): enlist (a seq_cst
//   RMW), attempt, park. If the operation becomes possible meanwhile it returns false: the
//   coroutine goes on at once and is never resumed from inside await_suspend.
// - Wake-then-retry: a notifier that takes over a parked awaiter calls its on_claim, which
//   retries the operation on the notifier's thread (with no lock held) and, if it succeeded
//   (or the channel is closed), resumes the coroutine with resume_from_wait(ctx, h); if it
//   lost the race, it enlists and parks again. So a coroutine is resumed only with its
//   result, and a woken awaiter that finds nothing waits on like a woken thread. A message
//   moved out (or in) by that retry is moved on the notifier's thread; an exception from
//   T's constructor there is kept and rethrown by await_resume.
// - No lost wake-up, also with threads and coroutines mixed on one gate: an awaiter
//   registers before its last attempt as a thread does; one notify_one() wakes one waiter
//   of either kind; an awaiter whose attempt succeeded after a notifier had already picked
//   it passes that wake-up on (withdraw says woken); and its attempt is channel_core's
//   try_receive / try_send, whose hand-on sees async waiters too (has_waiters()).
// - Cancellation: if the context's stop is possible, await_suspend registers a
//   std::stop_callback after its first enlist. A stop request while parked: the gate's lock
//   decides between it and a notifier (wait_gate::cancel), and exactly one resumes the
//   coroutine; while active (being registered or retrying), the awaiter is marked and the
//   owner ends the wait at its next enlist. await_resume then tries the operation once more:
//   a receive returns the message that is there, else nullopt; a send returns true if there
//   was room (false if closed), else throws task_cancelled. A stop already requested at
//   co_await: the same, without suspending. The stop_callback is destroyed in await_resume;
//   its destructor may wait for a callback running on another thread, which holds no lock
//   and only resumes (or queues) the coroutine, so that wait is short; a callback that
//   resumed the coroutine inline is on the same thread, and the destructor does not wait.
// - Resumption never happens under a lock. wake_batch: a wake-up (a retry and a resume)
//   made while another one is running on this thread, or inside a wake_batch scope, is
//   queued and run after it, on this thread: the stack stays flat when one retry hands on to
//   the next, and a caller that must notify under a lock of its own (broadcast_channel's
//   post_message) opens a wake_batch before taking it. A coroutine resumed inline (its
//   context has no resumer) that then blocks its thread holds up the wake-ups queued behind
//   it; coroutines on a pool or in sync_wait are queued, not run inline.
// - Ordering: the channel's queue and gate order the messages (channel_core.hpp); what the
//   waker wrote into the awaiter (result, outcome) reaches the coroutine through
//   resume_from_wait (the resumer's queue, or the same thread).

#include <coroutine>
#include <exception>
#include <memory>
#include <optional>
#include <stop_token>
#include <type_traits>
#include <utility>

#include "../../errors.hpp"
#include "../coro/context.hpp"
#include "../queue/slot_storage.hpp"
#include "../sync/wait_gate.hpp"
#include "channel_core.hpp"

namespace bobbin::detail {

// One wake-up to run later: an awaiter's retry or its resumption after a stop.
struct deferred_wake {
  void (*run)(deferred_wake&) noexcept = nullptr;
  deferred_wake* next = nullptr;
};

// Runs wake-ups queued on this thread at its end (see the contract). Nests.
class wake_batch {
 public:
  wake_batch() noexcept : outer_(current()) { current() = this; }
  wake_batch(const wake_batch&) = delete;
  wake_batch& operator=(const wake_batch&) = delete;
  ~wake_batch() {
    // Each wake may queue more here; they run in order until none is left.
    while (head_ != nullptr) {
      deferred_wake& w = *head_;
      head_ = w.next;
      if (head_ == nullptr) tail_ = nullptr;
      w.next = nullptr;
      w.run(w);  // w may be gone after this
    }
    current() = outer_;
  }

  // Runs w now, in a batch of its own, or queues it on the batch this thread is in.
  static void run_or_defer(deferred_wake& w) noexcept {
    if (wake_batch* b = current()) {
      b->push(w);
      return;
    }
    wake_batch batch;
    w.run(w);
  }

 private:
  static wake_batch*& current() noexcept {
    static thread_local wake_batch* batch = nullptr;
    return batch;
  }

  void push(deferred_wake& w) noexcept {
    w.next = nullptr;
    (tail_ != nullptr ? tail_->next : head_) = &w;
    tail_ = &w;
  }

  wake_batch* outer_;
  deferred_wake* head_ = nullptr;
  deferred_wake* tail_ = nullptr;
};

// Waiting on a wait_gate for D::attempt() (noexcept; true when done: succeeded, closed, or
// an exception kept for await_resume). D provides await_ready / await_resume.
template <class D>
class gate_awaiter : private gate_waiter, private deferred_wake {
 public:
  gate_awaiter(const gate_awaiter&) = delete;
  gate_awaiter& operator=(const gate_awaiter&) = delete;

  template <class P>
  bool await_suspend(std::coroutine_handle<P> h) noexcept {
    ctx_ = context_of(h);
    handle_ = h;
    if (ctx_.stop_requested()) {
      cancelled_ = true;
      return false;
    }
    return !settle(false);  // await_ready has just tried
  }

 protected:
  explicit gate_awaiter(wait_gate& g) noexcept : gate_waiter(&claimed), gate_(g) {}
  // A frame destroyed while suspended here (never by bobbin's pools): best effort, the
  // awaiter leaves the gate. Safe only if nothing wakes it at the same time (see the top).
  ~gate_awaiter() {
    if (armed_) {
      stop_.reset();
      gate_.withdraw(*this);
    }
  }

  // For await_resume: the wait is over; true if a stop request ended it.
  bool end_wait() noexcept {
    stop_.reset();  // may wait for a callback running on another thread: see the contract
    armed_ = false;
    return cancelled_;
  }

 private:
  struct on_stop {
    gate_awaiter* self;
    void operator()() const noexcept { self->stop(); }
  };

  D& derived() noexcept { return static_cast<D&>(*this); }

  // The owner's loop (await_suspend, or the notifier that took the awaiter over): true when
  // the wait is over (the owner resumes the coroutine), false when parked (no longer ours).
  bool settle(bool try_first) noexcept {
    if (try_first && derived().attempt()) return true;
    for (;;) {
      if (!gate_.enlist(*this)) {
        cancelled_ = true;
        return true;
      }
      if (!armed_) {
        // After the first enlist, so that a stop from now on finds the awaiter linked, or
        // finds it active and is seen by the next enlist. May run on_stop here, inline.
        armed_ = true;
        if (ctx_.stop_possible()) stop_.emplace(*ctx_.stop, on_stop{this});
      }
      if (derived().attempt()) {
        if (gate_.withdraw(*this) == wait_gate::withdrawn::woken) gate_.notify_one();  // not ours: pass on
        return true;
      }
      if (wait_gate::park(*this)) return false;
      // Unlinked since enlist (a wake-up, or a stop): retry, as a woken thread does.
      if (derived().attempt()) return true;
    }
  }

  void resume() noexcept { resume_from_wait(ctx_, handle_); }  // our last touch of *this

  // A notifier took the parked awaiter over: retry (maybe later: wake_batch).
  static void claimed(gate_waiter& w) noexcept {
    auto& self = static_cast<gate_awaiter&>(w);
    self.run = [](deferred_wake& d) noexcept {
      auto& a = static_cast<gate_awaiter&>(d);
      if (a.settle(true)) a.resume();
    };
    wake_batch::run_or_defer(self);
  }

  // The stop callback, on the thread that requested the stop (or inline in emplace).
  void stop() noexcept {
    if (!gate_.cancel(*this)) return;  // not parked: the owner sees it
    cancelled_ = true;
    this->run = [](deferred_wake& d) noexcept { static_cast<gate_awaiter&>(d).resume(); };
    wake_batch::run_or_defer(*this);
  }

  wait_gate& gate_;
  coro_context ctx_;
  std::coroutine_handle<> handle_;
  bool armed_ = false;
  bool cancelled_ = false;
  std::optional<std::stop_callback<on_stop>> stop_;
};

template <message_type T>
class receive_awaiter : public gate_awaiter<receive_awaiter<T>> {
 public:
  explicit receive_awaiter(channel_core<T>& core) noexcept
      : gate_awaiter<receive_awaiter<T>>(core.receivers()), core_(core) {}

  bool await_ready() noexcept { return attempt(); }

  // The message; nullopt once closed and drained, or if a stop ended the wait and no
  // message was there.
  std::optional<T> await_resume() {
    const bool cancelled = this->end_wait();
    if (error_) std::rethrow_exception(error_);
    if (cancelled) core_.try_receive(out_);  // a message that is there is not dropped
    return std::move(out_);
  }

 private:
  friend class gate_awaiter<receive_awaiter<T>>;

  bool attempt() noexcept {
    try {
      return core_.try_receive(out_) != pop_status::empty;
    } catch (...) {
      error_ = std::current_exception();  // T's move threw: that message is gone (channel_core)
      return true;
    }
  }

  channel_core<T>& core_;
  std::optional<T> out_;
  std::exception_ptr error_;
};

// U: const T& (copied in) or T&& (moved in), only when sent.
template <message_type T, class U>
class send_awaiter : public gate_awaiter<send_awaiter<T, U>> {
 public:
  send_awaiter(channel_core<T>& core, U&& v) noexcept
      : gate_awaiter<send_awaiter<T, U>>(core.senders()), core_(core), v_(std::addressof(v)) {}

  bool await_ready() noexcept { return attempt(); }

  // true when sent, false when closed (v untouched); task_cancelled if a stop ended the
  // wait and there was still no room.
  bool await_resume() {
    const bool cancelled = this->end_wait();
    if (error_) std::rethrow_exception(error_);
    if (cancelled) {
      st_ = core_.try_send(std::forward<U>(*v_));
      if (st_ == push_status::full) throw task_cancelled();
    }
    return st_ == push_status::ok;
  }

 private:
  friend class gate_awaiter<send_awaiter<T, U>>;

  bool attempt() noexcept {
    try {
      st_ = core_.try_send(std::forward<U>(*v_));
      return st_ != push_status::full;
    } catch (...) {
      error_ = std::current_exception();  // T's constructor threw: not sent (channel_core)
      return true;
    }
  }

  channel_core<T>& core_;
  std::remove_reference_t<U>* v_;
  push_status st_ = push_status::full;
  std::exception_ptr error_;
};

}  // namespace bobbin::detail
