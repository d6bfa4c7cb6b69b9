#pragma once
// detail::continuation_state<U, T, F>: the shared state of future<T>::then(fn), a
// future<U>: it waits on the source state and runs fn with its value.
//
// Contract: future::then() creates it, taking over the source state as its consumer, and
// calls attach() once. It registers itself as the source's waiter (detail::waiter), so the
// thread that completes the source launches it (on_source_done); if the source is already
// done, attach() launches it. Either way it runs once: queued (a state_runner) on the pool
// of the launching thread, or inline (see launch()). The completion's acq_rel exchange
// (detail/sync/parker.hpp) orders the source's result before fn reads it; the source
// state is disposed of when this state is destroyed, so it outlives every read.

#include <exception>
#include <functional>
#include <type_traits>
#include <utility>

#include "../sync/parker.hpp"
#include "../task/scheduler.hpp"
#include "../task/task.hpp"
#include "../thread_state.hpp"
#include "shared_state.hpp"

namespace bobbin::detail {

template <class U, class T, class F>
class continuation_state final : public value_state<U>, public waiter {
 public:
  continuation_state(value_state<T>* src, F fn) : waiter{&on_source_done}, src_(src), fn_(std::move(fn)) {}

  void attach() noexcept {
    if (!src_->try_register(static_cast<waiter*>(this))) launch();
  }

  task_outcome run() override {
    return run_state<U>(*this, [this]() -> U {
      if (src_->failed()) std::rethrow_exception(src_->take_error());
      if constexpr (std::is_void_v<T>) {
        return std::invoke(fn_);
      } else {
        return std::invoke(fn_, take_value(*src_));
      }
    });
  }

 private:
  static void on_source_done(waiter* w) noexcept { static_cast<continuation_state*>(w)->launch(); }

  // On the pool of the thread that completed the source (the pool that ran it), or of the
  // thread calling then() if the source was already done; inline when that thread is
  // not a pool worker or its pool refuses work. (A pool pointer kept in the state could
  // outlive its pool; the current thread's pool is alive by definition.)
  void launch() noexcept {
    if (pool_thread* w = current_pool_thread().thread) {
      scheduler* s = &w->owner();
      task t(state_runner{this});
      try {
        if (s->try_schedule(t)) return;
      } catch (...) {
        // Out of memory while queueing: run it here rather than lose it.
      }
      t.forget();  // not queued: run it right here
    }
    run();
  }

  void destroy() noexcept override {
    src_->dispose();  // the source completed before this state's runner was launched
    delete this;
  }

  value_state<T>* src_;
  F fn_;
};

}  // namespace bobbin::detail
