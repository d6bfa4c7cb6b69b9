#pragma once
// pool_core, part 1 of 3: a task comes in (see pool_core.hpp for the table of contents).
//
// Counting (wait_idle's balance, see pool_core_life.hpp balanced()): a task is counted as
// submitted before it is visible and as finished after it ran. A pool thread counts in its
// own single-writer counter; an outside submission in one seq_cst RMW, before it checks
// `closed_`. shutdown sets `closed_` (seq_cst) before it waits for the balance, so an
// outside submission is either refused or waited for.
//
// Waking (idle_workers.hpp): after a task is visible, asymmetric_fence::light() (a compiler
// barrier; the sleeper pays the heavy side), then wake().

#include "pool_core.hpp"

namespace bobbin::detail {

template <policy Policy>
template <class F, class... Args>
inline auto pool_core<Policy>::submit(const task_options& o, F&& fn, Args&&... args) {
  if (reserve(true) == admission::closed) throw pool_closed{};
  return submit_reserved(o, std::forward<F>(fn), std::forward<Args>(args)...);
}

template <policy Policy>
template <class F, class... Args>
inline auto pool_core<Policy>::try_submit(const task_options& o, F&& fn, Args&&... args)
    -> std::optional<decltype(submit(o, std::forward<F>(fn), std::forward<Args>(args)...))> {
  const admission a = reserve(false);
  if (a == admission::closed) throw pool_closed{};
  if (a == admission::full) return std::nullopt;
  return submit_reserved(o, std::forward<F>(fn), std::forward<Args>(args)...);
}

template <policy Policy>
inline bool pool_core<Policy>::try_schedule(detail::task& t) {
  if (worker* w = current_worker_of_this()) [[likely]] {
    push_local(*w, t, task_options{});
    return true;
  }
  return schedule_from_outside(t);
}

template <policy Policy>
bool pool_core<Policy>::schedule_from_outside(detail::task& t) {
  if (reserve(true) == admission::closed) return false;
  return admit(t, task_options{});
}

template <policy Policy>
template <class F, class... Args>
inline auto pool_core<Policy>::submit_reserved(const task_options& o, F&& fn, Args&&... args) {
  using Fn = std::decay_t<F>;
  static_assert(std::is_invocable_v<Fn&, std::decay_t<Args>&&...> ||
                    std::is_invocable_v<Fn&, std::stop_token, std::decay_t<Args>&&...>,
                "bobbin::pool::submit: fn cannot be called with these arguments (as rvalues), with or "
                "without a leading std::stop_token");
  static_assert((std::is_nothrow_destructible_v<Fn> && ... && std::is_nothrow_destructible_v<std::decay_t<Args>>),
                "bobbin: a task's callable, and everything it captures or is given, must not throw from its "
                "destructor");
  using R0 = typename std::conditional_t<std::is_invocable_v<Fn&, std::stop_token, std::decay_t<Args>&&...>,
                                         std::invoke_result<Fn&, std::stop_token, std::decay_t<Args>&&...>,
                                         std::invoke_result<Fn&, std::decay_t<Args>&&...>>::type;
  // A coroutine function (returns bobbin::task<T>): the future is the coroutine's.
  constexpr bool coroutine = detail::coroutine_task<R0>;
  using R = typename std::conditional_t<coroutine, detail::task_value_of<R0>, std::type_identity<R0>>::type;
  detail::value_state<R>* s;
  try {
    if constexpr (coroutine) {
      s = new detail::coro_state<R, Fn, std::decay_t<Args>...>(*this, false, std::forward<F>(fn),
                                                               std::forward<Args>(args)...);
    } else {
      s = new detail::task_state<R, Fn, std::decay_t<Args>...>(std::forward<F>(fn), std::forward<Args>(args)...);
    }
  } catch (...) {
    unreserve();
    throw;
  }
  detail::task t(detail::state_runner{s});
  bool queued = false;
  try {
    queued = admit(t, o);  // may throw std::bad_alloc, t untouched
  } catch (...) {
    discard_unqueued(t, s);
    throw;
  }
  if (!queued) {
    discard_unqueued(t, s);
    throw pool_closed{};
  }
  return detail_make_future<R>(s);
}

// Without the cancel hook, which would report a cancellation on this thread (to the task
// running here, if any).
template <policy Policy>
inline void pool_core<Policy>::discard_unqueued(detail::task& t, detail::state_base* s) noexcept {
  t.forget();
  s->release();  // the runner's reference
  s->release();  // and the future's, which was never made: the state goes
}

template <policy Policy>
inline auto pool_core<Policy>::reserve(bool block) -> admission {
  if (!takes_a_place()) return admission::accepted;
  switch (capacity_.take(block, closed_)) {
    case queue_capacity::result::accepted: return admission::accepted;
    case queue_capacity::result::full: return admission::full;
    default: return admission::closed;
  }
}

// A pool thread's submission took no place: giving one back would free a place some
// outside task holds, and underflow the count once none is held.
template <policy Policy>
inline void pool_core<Policy>::unreserve() {
  if (takes_a_place()) capacity_.give_back();
}

template <policy Policy>
inline void pool_core<Policy>::push_local(worker& w, detail::task& t, const task_options& o, bool counted) {
  t.set_depth(w.depth + 1);
  if (counted) w.submitted.add();  // before the task is visible: see balanced()
  std::size_t target;
  try {
    target = queues_.push(t, o, w.idx);  // may throw std::bad_alloc, t untouched
  } catch (...) {
    if (counted) w.submitted.sub();
    throw;
  }
  detail::asymmetric_fence::light();  // publish before looking for sleepers (idle_workers.hpp)
  wake(target);
}

template <policy Policy>
inline bool pool_core<Policy>::admit(detail::task& t, const task_options& o) {
  std::size_t target;
  if (worker* w = current_worker_of_this()) {
    push_local(*w, t, o);
    return true;
  } else {
    t.set_depth(0);
    // Counted before it is visible, then checked against closed_ (see the top).
    external_submitted_.fetch_add(1, std::memory_order_seq_cst);
    try {
      if (closed_.load(std::memory_order_seq_cst)) {
        withdraw_outside();
        return false;
      }
      target = queues_.push(t, o, detail::outside);
    } catch (...) {
      withdraw_outside();
      throw;
    }
  }
  detail::asymmetric_fence::light();  // publish before looking for sleepers (idle_workers.hpp)
  wake(target);
  return true;
}

template <policy Policy>
inline void pool_core<Policy>::withdraw_outside() {
  external_submitted_.fetch_sub(1, std::memory_order_seq_cst);
  capacity_.give_back();
  if (idle_waiters_.any()) idle_waiters_.wake_all();
}

template <policy Policy>
inline void pool_core<Policy>::wake(std::size_t target) {
  if constexpr (queues_type::targeted) {
    if (target != detail::any_worker) return idle_.wake(target);
  }
  wake_any();
}

}  // namespace bobbin::detail

namespace bobbin::detail {

// A coroutine's resumption: on this thread's own queue from one of ours; from elsewhere
// into the shared queue, taking a place beyond queue_capacity if need be (a pool thread
// gives one back when it takes it; a resumption must never wait or be refused). Once the
// pool stops, nobody would take it: run it here.
//
// From outside, the pool may be destroyed as soon as the coroutine it resumes has ended,
// which may be before this call returns: outside_callers_ keeps the destructor waiting.
// seq_cst increment before the push: the destructor sees the balance that the
// coroutine's end makes (after the push) and then this count, in that order.
template <policy Policy>
inline void pool_core<Policy>::resume_later(std::coroutine_handle<> h) noexcept {
  if (worker* w = current_worker_of_this()) return spawn(*w, h);
  outside_callers_.fetch_add(1, std::memory_order_seq_cst);
  if (stopping_.load(std::memory_order_acquire)) {
    outside_callers_.fetch_sub(1, std::memory_order_release);
    return detail::resume_now(h);
  }
  detail::task t(detail::resume_entry{h});
  if (capacity_.bounded()) capacity_.force_take();
  const std::size_t target = queues_.push(t, task_options{}, detail::outside);  // bad_alloc: terminate
  detail::asymmetric_fence::light();  // publish before looking for sleepers (idle_workers.hpp)
  wake(target);
  outside_callers_.fetch_sub(1, std::memory_order_release);
}

template <policy Policy>
inline void pool_core<Policy>::spawn(worker& w, std::coroutine_handle<> h) noexcept {
  detail::task t(detail::resume_entry{h});
  if constexpr (requires { queues_.push_own_short(w.idx, t); }) {
    // The fork of coroutine fork-join: three words into w's own deque (push_local's steps).
    t.set_depth(w.depth + 1);
    queues_.push_own_short(w.idx, t);  // bad_alloc while growing the deque: terminate
    detail::asymmetric_fence::light();  // publish before looking for sleepers (idle_workers.hpp)
    wake_any();
  } else {
    push_local(w, t, task_options{}, false);  // bad_alloc while growing the queue: terminate
  }
}

// The newest task of w's own queue, if it is exactly the resumption of h; put back (into
// the slot it just left: no growth) otherwise.
template <policy Policy>
inline bool pool_core<Policy>::take_back(worker& w, std::coroutine_handle<> h) noexcept {
  if constexpr (policy_parts::pops_in_place<queues_type>) {
    const detail::task::word* s = queues_.pop_local_in_place(w.idx, 0);
    if (s == nullptr) return false;
    if (detail::task::words_hold(s, detail::resume_entry{h})) return true;
    detail::task t = detail::task::adopt_words(s);
    (void)queues_.push(t, task_options{}, w.idx);
    return false;
  } else {
    return false;
  }
}

// Counted like a task that ran on this thread if it is one of ours, else in the shared
// foreign count; then wait_idle() may be satisfied, and its waiters woken (a pool thread
// wakes them when it goes to sleep, but this may be no pool thread).
template <policy Policy>
inline void pool_core<Policy>::root_finished(detail::task_outcome outcome) noexcept {
  if (worker* w = current_worker_of_this()) {
    count_outcome(*w, outcome);
  } else {
    outside_callers_.fetch_add(1, std::memory_order_seq_cst);  // see resume_later
    foreign_finished_[outcome == detail::task_outcome::ok ? 0 : 1].fetch_add(1, std::memory_order_seq_cst);
    if (idle_waiters_.any()) idle_waiters_.wake_all();
    outside_callers_.fetch_sub(1, std::memory_order_release);
  }
}

}  // namespace bobbin::detail
