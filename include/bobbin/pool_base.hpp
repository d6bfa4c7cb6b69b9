#pragma once
// bobbin::pool_base: what every pool is, whatever its policy (this_worker::pool() returns
// one), and bobbin::this_worker: which pool thread the caller is.
//
// Contract: post/try_post from any thread, including the pool's own threads (see pool.hpp
// for the whole contract of a pool). A submission takes two steps, so that a refused
// try_post has moved nothing: reserve() a place (outside threads, with a queue_capacity),
// build the task, admit() it.

#include <cstddef>
#include <functional>
#include <optional>
#include <stop_token>
#include <type_traits>
#include <utility>

#include "detail/coro/promise.hpp"
#include "detail/coro/root.hpp"
#include "detail/task/scheduler.hpp"
#include "detail/task/task.hpp"
#include "detail/thread_state.hpp"
#include "errors.hpp"
#include "options.hpp"

namespace bobbin {

class pool_base;

namespace this_worker {
std::optional<std::size_t> index() noexcept;
pool_base* pool() noexcept;
}  // namespace this_worker

class pool_base : public detail::scheduler {
 public:
  virtual std::size_t size() const noexcept = 0;

  // Runs fn(args...) detached. From outside the pool, blocks while the queue is at
  // queue_capacity. Throws pool_closed once the pool refuses work.
  template <class F, class... Args>
    requires(!std::is_same_v<std::decay_t<F>, task_options>)
  void post(F&& fn, Args&&... args) {
    post(task_options{}, std::forward<F>(fn), std::forward<Args>(args)...);
  }
  // A coroutine function (returning bobbin::task<T>) runs as a coroutine on the pool: its
  // exception goes to on_error; wait_idle() waits for it to end, suspended or not.
  template <class F, class... Args>
  void post(const task_options& o, F&& fn, Args&&... args) {
    if (reserve(true) == admission::closed) throw pool_closed{};
    detail::task t = build_reserved(std::forward<F>(fn), std::forward<Args>(args)...);
    if (!admit(t, o)) throw pool_closed{};
  }

  // Like post(), but returns false instead of waiting when the queue is full, leaving
  // fn and args untouched (not moved from). Throws pool_closed once the pool refuses work.
  template <class F, class... Args>
    requires(!std::is_same_v<std::decay_t<F>, task_options>)
  bool try_post(F&& fn, Args&&... args) {
    return try_post(task_options{}, std::forward<F>(fn), std::forward<Args>(args)...);
  }
  template <class F, class... Args>
  bool try_post(const task_options& o, F&& fn, Args&&... args) {
    const admission a = reserve(false);
    if (a == admission::closed) throw pool_closed{};
    if (a == admission::full) return false;
    detail::task t = build_reserved(std::forward<F>(fn), std::forward<Args>(args)...);
    if (!admit(t, o)) throw pool_closed{};
    return true;
  }

  friend pool_base* this_worker::pool() noexcept;

 protected:
  enum class admission { accepted, full, closed };

  ~pool_base() = default;

  // What this_worker::pool() returns for a thread of this pool: the pool object the user
  // made, or nullptr once it was destroyed (its threads then finish what it accepted).
  virtual pool_base* user_facing() noexcept { return this; }

  // Step 1 of a submission: a thread outside the pool, with a bounded queue, takes a
  // place in it (waiting for one if `block`), so a refused try_* has moved nothing yet.
  virtual admission reserve(bool block) = 0;
  // Step 2: queue t. False (t untouched, the place given back) if the pool closed since.
  virtual bool admit(detail::task& t, const task_options& o) = 0;
  // Gives back the place of step 1 when the task could not be built in between.
  virtual void unreserve() = 0;

  // The task of a post, between steps 1 and 2: if building it throws (std::bad_alloc for
  // a callable that needs the heap, or a copy of fn or args), the place is given back.
  template <class F, class... Args>
  detail::task build_reserved(F&& fn, Args&&... args) {
    try {
      if constexpr (detail::returns_coroutine_task<std::decay_t<F>, std::decay_t<Args>...>) {
        return make_detached_coroutine(std::forward<F>(fn), std::forward<Args>(args)...);
      } else {
        return detail::task(make_detached(std::forward<F>(fn), std::forward<Args>(args)...));
      }
    } catch (...) {
      unreserve();
      throw;
    }
  }

  // A detached coroutine root: its state, whose future nobody holds (abandoned at once: the
  // state goes when the coroutine ends, or when its runner is cancelled or discarded).
  template <class F, class... Args>
  detail::task make_detached_coroutine(F&& fn, Args&&... args) {
    using R = typename detail::coro_call_result_t<std::decay_t<F>, std::decay_t<Args>...>::value_type;
    auto* s = new detail::coro_state<R, std::decay_t<F>, std::decay_t<Args>...>(*this, true, std::forward<F>(fn),
                                                                                std::forward<Args>(args)...);
    s->abandon();
    return detail::task(detail::state_runner{s});
  }
  template <class F, class... Args>
  static auto make_detached(F&& fn, Args&&... args) {
    return [f = std::decay_t<F>(std::forward<F>(fn)), ... a = std::decay_t<Args>(std::forward<Args>(args))]() mutable {
      if constexpr (std::is_invocable_v<std::decay_t<F>&, std::stop_token, std::decay_t<Args>&&...>) {
        std::invoke(f, detail::current_pool_thread().thread->stop_token(), std::move(a)...);
      } else {
        std::invoke(f, std::move(a)...);
      }
    };
  }
};

namespace this_worker {

// The calling thread's index in its pool, or nullopt off the pool's threads.
inline std::optional<std::size_t> index() noexcept {
  if (detail::pool_thread* w = detail::current_pool_thread().thread) return w->index();
  return std::nullopt;
}

// The pool the calling thread works for, or nullptr (also once that pool was destroyed
// on one of its own threads, which then finish what it had accepted).
inline pool_base* pool() noexcept {
  if (detail::pool_thread* w = detail::current_pool_thread().thread) {
    return static_cast<pool_base&>(w->owner()).user_facing();
  }
  return nullptr;
}

}  // namespace this_worker

}  // namespace bobbin
