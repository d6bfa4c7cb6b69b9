#pragma once
// bobbin::sleep_for / bobbin::sleep_until: setTimeout for coroutines.
//
//   co_await bobbin::sleep_for(10ms);
//   co_await bobbin::sleep_until(std::chrono::system_clock::now() + 1s);
//
// Contract:
// - Any duration or time point of any clock, read as detail::deadline reads it (never
//   early, never overflowing): a zero, negative or already reached one completes at once
//   without suspending (and without looking at the stop token); one beyond what the
//   clock can count (hours::max(), time_point::max()) sleeps until cancelled.
// - Otherwise the coroutine suspends (its thread is free meanwhile) and resumes where its
//   detail::coro_context says (on its pool, or inline on the timer thread for a coroutine
//   without one), once the time has come: co_await returns normally.
// - Cancellation: if the coroutine's stop token is already stopped when it would suspend,
//   co_await throws bobbin::task_cancelled at once. A stop request while it sleeps cancels
//   the timer and resumes it promptly; co_await throws bobbin::task_cancelled.
// - A sleep_for()/sleep_until() object is awaited at most once, by the coroutine that
//   made it; it can be neither copied nor moved.
// - The timers are kept by one process-wide thread (detail/time/timer_service.hpp), which
//   sleeps while no timer is due. Sleeps still pending at process exit never end.
//
// Exactly one of the timer and a stop request resumes the coroutine: each must first
// take the timer node from the timer service (its firing, or a cancel() that returns
// true; the service's lock decides), and only the one that took it resumes. A
// detail::wake_latch decides whether that winner resumes the coroutine or, if it won
// while await_suspend was still setting up, await_suspend returns false instead.

#include <atomic>
#include <chrono>
#include <coroutine>
#include <cstdint>
#include <optional>
#include <stop_token>

#include "detail/coro/context.hpp"
#include "detail/time/deadline.hpp"
#include "detail/time/timer_service.hpp"
#include "errors.hpp"

namespace bobbin {

namespace detail {

// Who resumes a suspended awaiter: the one winner among its wake-up sources, or its own
// await_suspend when the winner came before the awaiter was set up (a timer already due,
// a stop callback that the stop_callback constructor runs at once).
// Contract: prepare() and then arm() are called by await_suspend, arm() last; win(bit) at
// most once in all, by the wake-up source that won (by its own arbitration); mark(bit)
// by any number of losers. Both are single RMWs on one word, so in its modification
// order either arm() comes first (the winner sees `armed` and resumes) or win() does
// (arm() sees the won bit and returns false: await_suspend resumes by not suspending).
// acq_rel on both: the winner's release publishes what it wrote (and, for a notifier,
// what its thread wrote before notifying) to whoever resumes the coroutine; the acquire
// in win() lets the winner read the handle and context that arm() published.
class wake_latch {
 public:
  static constexpr std::uint32_t armed = 1;  // the other bits are the awaiter's

  void prepare(const coro_context& ctx, std::coroutine_handle<> h) noexcept {
    ctx_ = ctx;
    h_ = h;
  }

  // True: stay suspended, the winner will resume. False: a winner has come already.
  [[nodiscard]] bool arm(std::uint32_t won_mask) noexcept {
    return (state_.fetch_or(armed, std::memory_order_acq_rel) & won_mask) == 0;
  }

  // The winner's last access to the awaiter (the resumed coroutine may destroy it at once).
  void win(std::uint32_t bits) noexcept {
    if ((state_.fetch_or(bits, std::memory_order_acq_rel) & armed) == 0) return;
    const coro_context ctx = ctx_;  // copied: resuming may end the awaiter
    const std::coroutine_handle<> h = h_;
    resume_from_wait(ctx, h);
  }

  // A loser's note (its last access to the awaiter): release, paired with bits().
  void mark(std::uint32_t bits) noexcept { state_.fetch_or(bits, std::memory_order_release); }

  std::uint32_t bits() const noexcept { return state_.load(std::memory_order_acquire); }

 private:
  std::atomic<std::uint32_t> state_{0};
  coro_context ctx_{};
  std::coroutine_handle<> h_{};
};

class [[nodiscard]] sleep_awaiter {
 public:
  explicit sleep_awaiter(const deadline& d) noexcept : deadline_(d) {}
  sleep_awaiter(const sleep_awaiter&) = delete;
  sleep_awaiter& operator=(const sleep_awaiter&) = delete;

  // Destroyed while suspended (the frame destroyed without resuming): take the timer back
  // so that it never fires, and deregister from the stop token.
  ~sleep_awaiter() {
    if (service_ != nullptr && !resumed_) {
      (void)service_->cancel(&timer_);
      stop_.reset();
    }
  }

  bool await_ready() const noexcept { return deadline_.has_passed(); }

  template <class P>
  bool await_suspend(std::coroutine_handle<P> h) {
    const coro_context ctx = context_of(h);
    if (ctx.stop_requested()) {
      cancelled_at_once_ = true;
      return false;
    }
    timer_service& service = timer_service::instance();  // may throw: nothing registered yet
    latch_.prepare(ctx, h);
    timer_.owner = this;
    timer_.fire = &on_timer;
    service_ = &service;
    service.schedule(&timer_, deadline_);
    // May run on_stop() here and now, if a stop was requested since the check above.
    if (ctx.stop_possible()) stop_.emplace(*ctx.stop, stop_fn{this});
    return latch_.arm(won_timer | won_stop);
  }

  void await_resume() {
    if (service_ == nullptr) {  // never suspended
      if (cancelled_at_once_) throw task_cancelled();
      return;
    }
    // Waits for a stop callback running on another thread (it never waits for us: it
    // takes the service's lock, never held for long, and may resume us, never blocks).
    stop_.reset();
    resumed_ = true;
    if ((latch_.bits() & won_stop) != 0) throw task_cancelled();
  }

 private:
  static constexpr std::uint32_t won_timer = 2;
  static constexpr std::uint32_t won_stop = 4;

  struct node : timer_node {
    sleep_awaiter* owner = nullptr;
  };

  struct stop_fn {
    sleep_awaiter* self;
    void operator()() const noexcept { self->on_stop(); }
  };

  // The timer thread took the node: the timer won.
  static void on_timer(timer_node* n) noexcept { static_cast<node*>(n)->owner->latch_.win(won_timer); }

  // Wins only by taking the timer back; otherwise the timer is firing and resumes us.
  void on_stop() noexcept {
    if (service_->cancel(&timer_)) latch_.win(won_stop);
  }

  deadline deadline_;
  timer_service* service_ = nullptr;  // set once suspending: a timer is scheduled
  bool cancelled_at_once_ = false;
  bool resumed_ = false;
  wake_latch latch_;
  node timer_;
  std::optional<std::stop_callback<stop_fn>> stop_;
};

}  // namespace detail

// co_await sleep_for(d): resumes once `d` has passed (see the contract at the top).
template <class Rep, class Period>
  requires detail::chrono_math::supported_rep<Rep>
detail::sleep_awaiter sleep_for(const std::chrono::duration<Rep, Period>& d) noexcept {
  return detail::sleep_awaiter(detail::deadline::after(d));
}

// co_await sleep_until(t): resumes once the time point `t` of its clock has been reached.
template <class Clock, class Duration>
  requires detail::chrono_math::supported_rep<typename Duration::rep>
detail::sleep_awaiter sleep_until(const std::chrono::time_point<Clock, Duration>& t) noexcept {
  return detail::sleep_awaiter(detail::deadline::at(t));
}

}  // namespace bobbin
