#pragma once
// bobbin::future<T>: the result of pool::submit, then() on it, and when_all over futures.
//
// Thread-safety: a future is a move-only handle used by one thread at a time (like
// std::future). The shared state behind it is reference-counted between the future and
// the task that fulfils it, and allocated once per submit.
//
// Ordering: the task writes its result, then completes the state with a release RMW;
// ready()/get() observe completion with acquire, so the result is visible.
//
// Waiting: get()/wait() on a pool worker run other pending tasks while the result is not
// ready (see detail/task/scheduler.hpp), so recursive fork-join never deadlocks; on any other
// thread they sleep without spinning. wait_for/wait_until sleep (no helping) up to their
// deadline on every thread.
//
// What is where:
//   future<T>                          this file: the API first, its definitions below
//   when_all(futures...), (range)      detail/future/when_all.hpp, included here
//   co_await fut (coroutines)          detail/future/future_awaiter.hpp
//   the shared state, cancel machine   detail/future/shared_state.hpp
//   the state of a submit              detail/future/task_state.hpp (included by the pool)
//   the state of a then()              detail/future/continuation.hpp
//   waiting: helping, parking          detail/task/block_on.hpp

#include <chrono>
#include <exception>
#include <future>
#include <type_traits>
#include <utility>

#include "detail/future/continuation.hpp"
#include "detail/future/future_awaiter.hpp"
#include "detail/future/shared_state.hpp"
#include "detail/future/when_all.hpp"
#include "detail/task/block_on.hpp"
#include "detail/time/deadline.hpp"
#include "errors.hpp"

namespace bobbin {

template <class T>
class future;

template <class U>
future<U> detail_make_future(detail::value_state<U>* s) noexcept;

namespace detail {
template <class T>
value_state<T>* state_of(future<T>& f) noexcept;
}  // namespace detail

template <class T>
class future {
 public:
  using value_type = T;

  // An empty future: valid() is false. Moving leaves the source empty; destroying or
  // overwriting a valid future lets go of its result (the task still runs).
  future() noexcept = default;
  future(future&& o) noexcept;
  future& operator=(future&& o) noexcept;
  future(const future&) = delete;
  future& operator=(const future&) = delete;
  ~future();

  // True until get() or then() consumed the future (or it was moved from).
  bool valid() const noexcept;

  // The members below throw std::future_error (no_state) on a future that is not valid().

  // True once the task finished, failed or was cancelled. Never blocks.
  bool ready() const;

  // Waits (helping on a worker), then returns the result or rethrows the task's exception
  // (task_cancelled if it never ran). Consumes the future.
  T get();

  // Waits until ready (helping on a worker).
  void wait() const;

  // Sleeps until ready or `d` has passed on the steady clock. Any duration: a negative,
  // zero, NaN or -infinity one only looks; one too large to count (hours::max(),
  // +infinity) waits until ready (detail/time/deadline.hpp).
  template <class Rep, class Period>
  std::future_status wait_for(const std::chrono::duration<Rep, Period>& d) const;

  // Sleeps until ready or `t` has passed on its own clock (any clock, any duration type;
  // time_point::max() waits until ready, ::min() only looks).
  template <class Clock, class Duration>
  std::future_status wait_until(const std::chrono::time_point<Clock, Duration>& t) const;

  // Cancels the task if it has not started: returns true and get() throws
  // task_cancelled. If it is running, requests its stop_token (if it takes one) and
  // returns false. Thread-safe with respect to the running task. Costs a membarrier()
  // system call (some microseconds) so that running a task costs no atomic RMW.
  bool cancel();

  // Runs fn with this future's value once it is ready, on the pool that ran this task
  // (if the future is already ready: on the calling worker's pool, or inline on a thread
  // that is not a pool worker), and returns the future of fn's result. If this future
  // fails or is cancelled, fn is not called and the returned future holds the same
  // exception. Consumes this future.
  template <class F>
  auto then(F&& fn);

  // In a coroutine (bobbin::task): `T v = co_await fut;` suspends until the task ends,
  // never blocking the thread, then gives the value or rethrows (task_cancelled if the
  // coroutine's stop was requested meanwhile: the task is cancelled too). Consumes the
  // future. See detail/future/future_awaiter.hpp.
  detail::future_awaiter<T> operator co_await() && {
    check();
    return detail::future_awaiter<T>(std::exchange(s_, nullptr));
  }
  detail::future_awaiter<T> operator co_await() & { return std::move(*this).operator co_await(); }

 private:
  template <class>
  friend class future;
  template <class U>
  friend future<U> detail_make_future(detail::value_state<U>*) noexcept;
  template <class U>
  friend detail::value_state<U>* detail::state_of(future<U>&) noexcept;

  explicit future(detail::value_state<T>* s) noexcept : s_(s) {}

  std::future_status timed_wait(const detail::deadline& d) const;

  void check() const {
    if (s_ == nullptr) throw_no_state();
  }
  [[noreturn]] static void throw_no_state() { throw std::future_error(std::future_errc::no_state); }

  detail::value_state<T>* s_ = nullptr;
};

// The pool's way to hand out the future of a state it made (pool::submit).
template <class U>
future<U> detail_make_future(detail::value_state<U>* s) noexcept {
  return future<U>(s);
}

namespace detail {

// when_all's way to reach its inputs' states.
template <class T>
value_state<T>* state_of(future<T>& f) noexcept {
  return f.s_;
}

}  // namespace detail

// ---------------------------------------------------------------------------------------
// Definitions. Marked inline as they were when written in the class: get() and wait() are
// on the fork-join path, and inline keeps the compiler's inlining budget for them.

template <class T>
inline future<T>::future(future&& o) noexcept : s_(std::exchange(o.s_, nullptr)) {}

template <class T>
inline future<T>& future<T>::operator=(future&& o) noexcept {
  if (this != &o) {
    if (s_ != nullptr) s_->abandon();
    s_ = std::exchange(o.s_, nullptr);
  }
  return *this;
}

template <class T>
inline future<T>::~future() {
  if (s_ != nullptr) s_->abandon();
}

template <class T>
inline bool future<T>::valid() const noexcept {
  return s_ != nullptr;
}

template <class T>
inline bool future<T>::ready() const {
  check();
  return s_->done();
}

template <class T>
inline T future<T>::get() {
  wait();
  struct disposer {
    detail::value_state<T>* s;
    ~disposer() { s->dispose(); }
  } r{std::exchange(s_, nullptr)};
  if (r.s->failed()) std::rethrow_exception(r.s->take_error());
  return detail::take_value(*r.s);
}

template <class T>
inline void future<T>::wait() const {
  check();
  detail::block_on(*s_);
}

template <class T>
template <class Rep, class Period>
inline std::future_status future<T>::wait_for(const std::chrono::duration<Rep, Period>& d) const {
  return timed_wait(detail::deadline::after(d));
}

template <class T>
template <class Clock, class Duration>
inline std::future_status future<T>::wait_until(const std::chrono::time_point<Clock, Duration>& t) const {
  return timed_wait(detail::deadline::at(t));
}

template <class T>
inline std::future_status future<T>::timed_wait(const detail::deadline& d) const {
  check();
  if (s_->done()) return std::future_status::ready;  // a poll (wait_for(0s)) ends here
  return detail::park_until_done(*s_, d) ? std::future_status::ready : std::future_status::timeout;
}

template <class T>
inline bool future<T>::cancel() {
  check();
  if (s_->cancel_if_queued()) return true;
  s_->request_stop();
  return false;
}

template <class T>
template <class F>
auto future<T>::then(F&& fn) {
  using U = typename std::conditional_t<std::is_void_v<T>, std::invoke_result<std::decay_t<F>&>,
                                        std::invoke_result<std::decay_t<F>&, T>>::type;
  check();
  // Allocated before the source state leaves this future: if it throws, nothing moved.
  auto* c = new detail::continuation_state<U, T, std::decay_t<F>>(s_, std::forward<F>(fn));
  s_ = nullptr;
  c->attach();
  return future<U>(c);
}

}  // namespace bobbin
