#pragma once
// detail::state_base / value_state<T>: the shared state behind a bobbin::future<T> (one
// allocation per submit, then() or when_all), with its cancel machine; state_runner, the
// pointer that sits in a queue for it, and run_state(), how its task runs.
//
// Contract: two parties share a state, each calling only its own side's members.
// - The runner (producer: the queued task, a continuation, when_all's last arrival):
//   begin_run(), set_from()/set_error(), complete_and_leave(), cancel_from_runner(),
//   release() after a lost begin_run().
// - The consumer (the future, one thread at a time): done(), try_register()/
//   try_unregister() (awaitable, to wait), cancel_if_queued(), request_stop(), failed(),
//   take_error(), the value, then dispose() or abandon(); release() after a cancel.
// Ordering: the runner writes its result (value or error), then completes the state with
// a release RMW (completion::complete); done() observes it with acquire, so a consumer
// that sees the state done sees the result. The cancel handshake's fences and orders are
// explained at state_base below (the Dekker pattern of detail/sync/asymmetric_fence.hpp).

#include <atomic>
#include <cstdint>
#include <exception>
#include <functional>
#include <optional>
#include <type_traits>
#include <utility>
#include <variant>

#include "../../errors.hpp"
#include "../sync/asymmetric_fence.hpp"
#include "../sync/parker.hpp"
#include "../task/scheduler.hpp"
#include "../task/task.hpp"
#include "../thread_state.hpp"

namespace bobbin::detail {

// What a future<T> stores: T itself, a reference_wrapper for T&, monostate for void.
template <class T>
using stored_t = std::conditional_t<
    std::is_void_v<T>, std::monostate,
    std::conditional_t<std::is_reference_v<T>, std::reference_wrapper<std::remove_reference_t<T>>, T>>;

class state_base : public awaitable {
 public:
  enum stage_t : std::uint32_t { queued, running, finished, cancelled };

  state_base(const state_base&) = delete;
  state_base& operator=(const state_base&) = delete;

  // awaitable
  bool done() const noexcept final { return done_.done(); }
  bool try_register(waiter* w) noexcept final { return done_.try_register(w); }
  bool try_unregister(waiter* w) noexcept final { return done_.try_unregister(w); }

  // Ownership. The runner (producer) and the future (consumer) share the state. Normally
  // no reference count is touched: the runner's last act is complete_and_leave(), whose
  // exchange also tells it whether the consumer already left (then it destroys the
  // state); a consumer that sees the state done destroys it (dispose()), and one that
  // leaves early marks it abandoned (abandon()). Only after a successful cancel() by the
  // consumer does the queued runner still hold a pointer to a done state: then both drop
  // a reference (release()) and the last one destroys.

  // Starting and cancelling. The runner says it starts (started_) and the consumer that
  // a cancel is wanted (cancel_wanted_), each then fences and reads the other's flag: the
  // Dekker pattern, so at least one sees the other. A runner that sees no cancel runs:
  // that consumer then sees started_ and gives up. Otherwise the two decide with one CAS
  // on stage_ (a consumer that saw started_ does not contend: the runner's CAS wins). The
  // fences are asymmetric (detail/sync/asymmetric_fence.hpp): the runner's, paid per task, is
  // a compiler barrier; the consumer's, paid per cancel(), a membarrier() system call. A
  // CAS per task here was a fifth of a fork-join submit's time (measured with perf).

  // The runner's side. Returns false if the consumer cancelled first: the runner must
  // then release() and do nothing else.
  bool begin_run() noexcept {
    started_.store(true, std::memory_order_relaxed);
    asymmetric_fence::light();
    if (!cancel_wanted_.load(std::memory_order_relaxed)) return true;
    std::uint32_t expected = queued;
    return stage_.compare_exchange_strong(expected, running, std::memory_order_acq_rel, std::memory_order_acquire);
  }

  // The runner's last access: publishes the result (value or error, written before).
  void complete_and_leave() noexcept {
    stage_.store(finished, std::memory_order_relaxed);
    if (done_.complete()) destroy();
  }

  // The runner gives up a task it never started (pool teardown, shutdown_now).
  void cancel_from_runner() noexcept {
    if (begin_run()) {
      error_ = std::make_exception_ptr(task_cancelled{});
      run_before_publish();
      complete_and_leave();
    } else {
      release();
    }
  }

  // The consumer's side: cancels a task that has not started. True if it never will run.
  bool cancel_if_queued() noexcept {
    cancel_wanted_.store(true, std::memory_order_relaxed);
    asymmetric_fence::heavy();
    if (started_.load(std::memory_order_relaxed)) return false;  // it runs (see begin_run)
    std::uint32_t expected = queued;
    if (!stage_.compare_exchange_strong(expected, cancelled, std::memory_order_acq_rel, std::memory_order_acquire)) {
      return false;
    }
    error_ = std::make_exception_ptr(task_cancelled{});
    (void)done_.complete();  // the consumer is here: nobody has abandoned it
    return true;
  }

  // The consumer is done with a state it has seen done.
  void dispose() noexcept {
    if (stage_.load(std::memory_order_relaxed) == cancelled) {  // only the consumer sets it
      release();
    } else {
      destroy();
    }
  }

  // The consumer leaves, done or not.
  void abandon() noexcept {
    if (stage_.load(std::memory_order_relaxed) == cancelled) {
      release();
    } else if (!done_.abandon()) {
      destroy();  // it completed meanwhile: the runner has left
    }
  }

  void release() noexcept {
    // acq_rel: the last owner sees every write of the other before it destroys.
    if (refs_.fetch_sub(1, std::memory_order_acq_rel) == 1) destroy();
  }

  bool failed() const noexcept { return static_cast<bool>(error_); }
  // Moves the exception out. The consumer takes it before dropping its reference, so the
  // exception object is released on the thread that handles it: libstdc++'s reference
  // count on exceptions is invisible to ThreadSanitizer, which would otherwise see a free
  // on the runner's thread race with the handler's reads.
  std::exception_ptr take_error() noexcept { return std::move(error_); }
  // The runner's failure, written before complete_and_leave() publishes it.
  void set_error(std::exception_ptr e) noexcept { error_ = std::move(e); }

  // Runs the task this state belongs to (a submit's callable, a continuation); called by
  // the queued runner. Ends with complete_and_leave() (or release() if cancelled); returns
  // how it ended, for the pool's statistics.
  virtual task_outcome run() = 0;
  // Asks a running task to stop (its stop_token), if it has one.
  virtual void request_stop() noexcept {}

 protected:
  state_base() = default;
  ~state_base() = default;
  virtual void destroy() noexcept = 0;

  std::atomic<std::uint32_t> refs_{2};  // used only after a consumer's cancel()
  std::atomic<std::uint32_t> stage_{queued};
  std::atomic<bool> started_{false};        // the runner's flag (see begin_run)
  std::atomic<bool> cancel_wanted_{false};  // the consumer's flag
  completion done_;
  std::exception_ptr error_;
};

template <class T>
class value_state : public state_base {
 public:
  std::optional<stored_t<T>> value;

  template <class F>
  void set_from(F&& f) {
    if constexpr (std::is_void_v<T>) {
      std::forward<F>(f)();
      value.emplace();
    } else if constexpr (std::is_reference_v<T>) {
      value.emplace(std::ref(std::forward<F>(f)()));
    } else {
      value.emplace(std::forward<F>(f)());
    }
  }

 protected:
  ~value_state() = default;
};

// Takes the value out of a ready state that did not fail (future::get, continuations).
template <class T>
T take_value(value_state<T>& s) {
  if constexpr (std::is_void_v<T>) {
    return;
  } else if constexpr (std::is_reference_v<T>) {
    return s.value->get();
  } else {
    return std::move(*s.value);
  }
}

// The trivially copyable thing that sits in a queue for a state-backed task: a pointer.
// Destroying it unrun (shutdown_now, pool teardown) cancels the state.
struct state_runner {
  state_base* state;
  using bobbin_cancel_hook = void;
  task_outcome operator()() const { return state->run(); }
  void cancel() noexcept { state->cancel_from_runner(); }
};

// Runs `body` as the state's task: honours cancellation, captures exceptions, reports
// the outcome, drops the runner's reference.
template <class T, class Body>
task_outcome run_state(value_state<T>& s, Body&& body) noexcept {
  if (!s.begin_run()) {
    s.release();
    return task_outcome::cancelled;
  }
  std::exception_ptr error;
  try {
    s.set_from(std::forward<Body>(body));
  } catch (...) {
    error = std::current_exception();
  }
  // Completed after the catch block has ended: the runtime's own reference to the
  // exception is gone before the consumer may see (and free) it.
  const task_outcome outcome = error ? task_outcome::failed : task_outcome::ok;
  if (error) s.set_error(std::move(error));
  run_before_publish();
  s.complete_and_leave();
  return outcome;
}

}  // namespace bobbin::detail
