#pragma once
// detail::coro_state<T, F, Args...>: how a pool runs a coroutine function — the shared
// state of pool.submit(coro_fn, args...) (a future<T>) and of pool.post(coro_fn, args...)
// (detached: its exception goes to the pool's on_error).
//
// It holds the function and its arguments for the coroutine's whole life (a lambda's
// captures and the arguments stay alive while the coroutine is suspended, however the
// coroutine takes them), calls the function on a worker to make the task<T>, and starts
// it there. The coroutine then runs, suspends and resumes on the pool (the context it gets:
// the pool as `where`, this state's stop token as `stop`); when it ends, finished() stores
// its result in the state and tells the pool that one task has finished (root_finished,
// on whatever thread it ended): a root counts as one task from submit to its end, so
// wait_idle() and shutdown() wait for suspended coroutines too.
//
// Contract: the pool queues a state_runner for the state (run() once, or cancelled before
// it starts: shutdown_now, future::cancel(), as any submit); finished() is called once,
// by the coroutine's final suspend. Stop: future::cancel() on a started coroutine and
// the pool's stop token (shutdown_now) request this state's stop source, which the
// coroutine's awaits observe (context.hpp). The runner's run() returns
// task_outcome::suspended: the pool counts the root in finished(), not per run.

#include <exception>
#include <functional>
#include <optional>
#include <stop_token>
#include <tuple>
#include <type_traits>
#include <utility>

#include "../future/block_cache.hpp"
#include "../future/shared_state.hpp"
#include "../task/scheduler.hpp"
#include "../thread_state.hpp"
#include "promise.hpp"

namespace bobbin::detail {

// How the stored function is called: with the stored arguments as lvalues when it takes
// them so (a parameter `T&` refers to the argument kept here), else as rvalues (a move-only
// parameter taken by value, as pool.submit does for any function).
template <class F, class... Args>
inline constexpr bool coro_call_with_lvalues = std::is_invocable_v<F&, Args&...>;
template <class F, class... Args>
using coro_call_result_t =
    typename std::conditional_t<coro_call_with_lvalues<F, Args...>, std::invoke_result<F&, Args&...>,
                                std::invoke_result<F&, Args&&...>>::type;

template <class T, class F, class... Args>
class coro_state final : public value_state<T>, private coro_root {
  using task_type = coro_call_result_t<F, Args...>;

 public:
  template <class G, class... A>
  coro_state(scheduler& home, bool detached, G&& g, A&&... a)
      : home_(home), detached_(detached), fn_(std::forward<G>(g)), args_(std::forward<A>(a)...) {}

  task_outcome run() override {
    if (!this->begin_run()) {
      this->release();
      return task_outcome::cancelled;
    }
    std::exception_ptr error;
    try {
      body_.emplace(std::apply(
          [this](auto&... a) {
            if constexpr (coro_call_with_lvalues<F, Args...>) {
              return std::invoke(fn_, a...);
            } else {
              return std::invoke(fn_, std::move(a)...);
            }
          },
          args_));
      if (!body_->valid()) throw std::logic_error("bobbin: the coroutine function returned an empty task");
    } catch (...) {
      error = std::current_exception();
    }
    if (error) {
      // Ended after the catch block: the runtime's own reference to the exception is gone
      // before the consumer may see (and free) it (as run_state, shared_state.hpp).
      body_.reset();
      end(std::move(error));
      return task_outcome::suspended;
    }
    if (pool_thread* w = current_pool_thread().thread) link_.emplace(w->stop_token(), forward{&stop_});
    token_ = stop_.get_token();
    auto h = body_->handle();
    h.promise().root_at(this, coro_context{&home_, &token_});
    resume_now(h);
    return task_outcome::suspended;
  }

  void request_stop() noexcept override { stop_.request_stop(); }

  static void* operator new(std::size_t) { return cached_allocation<coro_state>::allocate(); }
  static void operator delete(void* p) noexcept { cached_allocation<coro_state>::deallocate(p); }

 private:
  struct forward {
    std::stop_source* to;
    void operator()() const noexcept { to->request_stop(); }
  };

  // The coroutine ended (its final suspend): its result into the state, its frame freed.
  void finished() noexcept override {
    auto& p = body_->handle().promise();
    std::exception_ptr error = p.take_error();
    if (!error) {
      try {
        this->set_from([&p]() -> T { return p.take(); });
      } catch (...) {
        error = std::current_exception();
      }
    }
    body_.reset();
    end(std::move(error));
  }

  void end(std::exception_ptr error) noexcept {
    link_.reset();
    scheduler& home = home_;
    const task_outcome outcome = error ? task_outcome::failed : task_outcome::ok;
    if (error) {
      if (detached_) {
        home.report_error(error);
      } else {
        this->set_error(error);
      }
      error = nullptr;
    }
    run_before_publish();
    this->complete_and_leave();  // may destroy this state
    home.root_finished(outcome);
  }

  void destroy() noexcept override { delete this; }

  scheduler& home_;
  const bool detached_;
  F fn_;
  std::tuple<Args...> args_;
  std::optional<task_type> body_;
  std::stop_source stop_;
  std::stop_token token_;
  std::optional<std::stop_callback<forward>> link_;
};

}  // namespace bobbin::detail
