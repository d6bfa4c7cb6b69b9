#pragma once
// detail::task_state<R, F, Args...>: the shared state of pool::submit(fn, args...), which
// also holds the callable and its arguments: one allocation per submit, from a per-thread
// cache (detail/future/block_cache.hpp).
//
// Contract: pool::submit creates it and queues a state_runner for it; the runner calls
// run() once (or cancels it: state_runner::cancel); the future is the consumer
// (detail/future/shared_state.hpp). request_stop() may be called from any thread while
// the task runs: std::stop_source is thread-safe. A callable that takes a std::stop_token
// first gets one that is requested by future::cancel() and by its pool thread's stop
// token (shutdown_now).

#include <cstddef>
#include <functional>
#include <optional>
#include <stop_token>
#include <tuple>
#include <type_traits>
#include <utility>

#include "../task/scheduler.hpp"
#include "../task/task.hpp"
#include "../thread_state.hpp"
#include "block_cache.hpp"
#include "shared_state.hpp"

namespace bobbin::detail {

template <class R, class F, class... Args>
class task_state final : public value_state<R> {
  static constexpr bool wants_stop = std::is_invocable_v<F&, std::stop_token, Args&&...>;

 public:
  template <class G, class... A>
  explicit task_state(G&& g, A&&... a) : fn_(std::forward<G>(g)), args_(std::forward<A>(a)...) {}

  task_outcome run() override {
    return run_state<R>(*this, [this]() -> R {
      if constexpr (wants_stop) {
        std::optional<std::stop_callback<forward_stop>> link;
        if (pool_thread* w = current_pool_thread().thread) link.emplace(w->stop_token(), forward_stop{&stop_});
        return std::apply([this](auto&... a) -> R { return std::invoke(fn_, stop_.get_token(), std::move(a)...); },
                          args_);
      } else {
        return std::apply([this](auto&... a) -> R { return std::invoke(fn_, std::move(a)...); }, args_);
      }
    });
  }

  void request_stop() noexcept override {
    if constexpr (wants_stop) stop_.request_stop();
  }

  // One allocation per submit, from a per-thread cache (detail/future/block_cache.hpp).
  static void* operator new(std::size_t) { return cached_allocation<task_state>::allocate(); }
  static void operator delete(void* p) noexcept { cached_allocation<task_state>::deallocate(p); }

 private:
  struct forward_stop {
    std::stop_source* to;
    void operator()() const noexcept { to->request_stop(); }
  };
  struct no_stop {};
  void destroy() noexcept override { delete this; }

  F fn_;
  std::tuple<Args...> args_;
  [[no_unique_address]] std::conditional_t<wants_stop, std::stop_source, no_stop> stop_;
};

}  // namespace bobbin::detail
