#pragma once
// detail::future_awaiter<T>: `co_await fut` — suspends the coroutine until the future's
// task ends, never blocking the thread; the coroutine resumes where its context says
// (detail/coro/context.hpp), or does not suspend at all when the result is already there.
//
// Contract: made by future<T>::operator co_await, which hands over the future's state;
// the awaiter is the state's consumer from then on (detail/future/shared_state.hpp) and
// lives in the awaiting coroutine's frame until it resumes.
// - Exactly one party resumes the coroutine: the state's completion (it takes the
//   registered waiter) or, if the coroutine's stop is requested first, the stop callback
//   (its try_unregister succeeds). Either may fire while await_suspend is still running on
//   the coroutine's thread: `phase_` hands over — the resumer exchanges it to `resumed`,
//   and resumes only if await_suspend had already finished (`suspended`); otherwise
//   await_suspend sees `resumed` and does not suspend. acq_rel on both exchanges: the
//   awaiter's writes before suspending are seen by the resumer and vice versa.
// - A stop request cancels the awaited task too (as future::cancel(): if it has not
//   started it never runs; if it runs, its stop token is requested), and the await throws
//   task_cancelled. The state's result is ordered before the resumption by the
//   completion's acq_rel exchange (detail/sync/parker.hpp).

#include <atomic>
#include <coroutine>
#include <exception>
#include <optional>
#include <stop_token>
#include <utility>

#include "../../errors.hpp"
#include "../coro/context.hpp"
#include "../sync/parker.hpp"
#include "shared_state.hpp"

namespace bobbin::detail {

template <class T>
class future_awaiter final : private waiter {
 public:
  explicit future_awaiter(value_state<T>* s) noexcept : waiter{&on_done}, s_(s) {}
  future_awaiter(future_awaiter&& o) noexcept : waiter{&on_done}, s_(std::exchange(o.s_, nullptr)) {}
  future_awaiter(const future_awaiter&) = delete;
  future_awaiter& operator=(const future_awaiter&) = delete;
  // With s_ still held: never awaited, or the coroutine's frame destroyed while it waited
  // (a foreign coroutine type may do that). Registered, it unregisters first: abandon()
  // expects no waiter, and the completion must not notify a destroyed awaiter.
  ~future_awaiter() {
    if (s_ == nullptr) return;
    stop_.reset();
    (void)s_->try_unregister(static_cast<waiter*>(this));
    s_->abandon();
  }

  bool await_ready() const noexcept { return s_->done(); }

  template <class P>
  bool await_suspend(std::coroutine_handle<P> h) noexcept {
    ctx_ = context_of(h);
    h_ = h;
    if (ctx_.stop_requested()) {
      cancelled_ = true;
      return false;
    }
    if (!s_->try_register(static_cast<waiter*>(this))) return false;  // done meanwhile
    if (ctx_.stop_possible()) stop_.emplace(*ctx_.stop, on_stop{this});
    // Whoever resumes (completion or stop) after this point finds `suspended`.
    return phase_.exchange(suspended, std::memory_order_acq_rel) != resumed;
  }

  T await_resume() {
    stop_.reset();  // waits for a stop callback running elsewhere (it has resumed us already)
    value_state<T>* s = std::exchange(s_, nullptr);
    if (cancelled_) {
      if (!s->cancel_if_queued()) s->request_stop();
      s->abandon();
      throw task_cancelled{};
    }
    struct disposer {
      value_state<T>* s;
      ~disposer() { s->dispose(); }
    } d{s};
    if (s->failed()) std::rethrow_exception(s->take_error());
    return take_value(*s);
  }

 private:
  enum : int { suspending, suspended, resumed };

  struct on_stop {
    future_awaiter* self;
    void operator()() const noexcept {
      if (!self->s_->try_unregister(static_cast<waiter*>(self))) return;  // completing: it resumes us
      self->cancelled_ = true;
      self->resume();
    }
  };

  static void on_done(waiter* w) noexcept { static_cast<future_awaiter*>(w)->resume(); }

  void resume() noexcept {
    if (phase_.exchange(resumed, std::memory_order_acq_rel) == suspended) resume_from_wait(ctx_, h_);
  }

  value_state<T>* s_;
  std::coroutine_handle<> h_;
  coro_context ctx_;
  std::atomic<int> phase_{suspending};
  bool cancelled_ = false;
  std::optional<std::stop_callback<on_stop>> stop_;
};

}  // namespace bobbin::detail
