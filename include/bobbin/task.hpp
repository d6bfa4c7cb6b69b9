#pragma once
// bobbin::task<T>: a lazy, move-only coroutine — Node's `async function`. It starts when
// it is awaited (co_await), submitted to a pool (pool.submit(coro_fn, args...)), posted
// (pool.post) or run by sync_wait; awaiting it resumes the awaiter when it ends, by
// symmetric transfer, so a chain of a million sequential awaits uses no more stack than
// one. Its exception reaches whoever awaits it.
//
//   bobbin::task<long> fib(int n) {
//     if (n < 2) co_return n;
//     auto [a, b] = co_await bobbin::when_all(fib(n - 1), fib(n - 2));
//     co_return a + b;
//   }
//
// Also here: when_all over tasks (Promise.all: children run concurrently on the current
// pool, fork-join at the speed of task_group), when_any (Promise.race: the first to end
// wins, the others' stop tokens are requested, and when_any returns once all have ended),
// sync_wait (run a task from a thread that is not a worker and wait for it), and
// this_task::stop_token(). Awaitables of the other components: future<T> (future.hpp),
// channels' async_receive/async_send, atomics::wait_async, sleep_for (timer.hpp),
// pool.schedule() (pool.hpp).
//
// Contract:
// - A task is a handle used by one thread at a time; it can be awaited once (awaiting it
//   consumes it). Awaiting an empty task (moved from, or awaited already) throws
//   std::logic_error. Destroying a task that never started destroys its frame; a task
//   must not be destroyed while it runs (bobbin never does: the awaiter owns it).
// - Where a coroutine resumes after a suspension: on the pool it runs on (the resumption
//   is queued there, detail/coro/context.hpp), on sync_wait's thread, or inline when the
//   awaited thing is already done. A child awaited or joined runs where its parent runs.
// - Stop: a coroutine's stop token is its root's (a pool's submit: future::cancel() and
//   shutdown_now() request it; when_any: its own, requested when a child wins). Awaits
//   that suspend (channels, sleeps, atomics, futures) resume when it is requested, with
//   task_cancelled (or nullopt from a receive).
// - Frames come from a per-thread cache (detail/coro/frame_cache.hpp): steady-state
//   fork-join allocates nothing.
//
// Layout: detail/coro/promise.hpp (the promise, links, the fork-join join point),
// detail/coro/root.hpp (how a pool runs a coroutine), this file (the public types).

#include <array>
#include <condition_variable>
#include <coroutine>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <exception>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <stop_token>
#include <tuple>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

#include "detail/coro/context.hpp"
#include "detail/coro/promise.hpp"
#include "detail/coro/transfer.hpp"
#include "detail/future/shared_state.hpp"
#include "future.hpp"

namespace bobbin {

template <class T = void>
class task;

namespace detail {

template <class T>
struct is_task : std::false_type {};
template <class T>
struct is_task<bobbin::task<T>> : std::true_type {};
template <class T>
inline constexpr bool is_task_v = is_task<std::remove_cvref_t<T>>::value;

template <class T>
struct is_future : std::false_type {};
template <class T>
struct is_future<future<T>> : std::true_type {};
template <class T>
inline constexpr bool is_future_v = is_future<std::remove_cvref_t<T>>::value;

// The result a bobbin::task<T> holds until its awaiter takes it.
template <class T>
class task_result {
 public:
  template <class U>
  void return_value(U&& v) {
    value_.emplace(std::forward<U>(v));
  }
  T take() { return std::move(*value_); }

 private:
  std::optional<T> value_;
};
template <class T>
class task_result<T&> {
 public:
  void return_value(T& v) noexcept { value_ = std::addressof(v); }
  T& take() noexcept { return *value_; }

 private:
  T* value_ = nullptr;
};
template <>
class task_result<void> {
 public:
  void return_void() noexcept {}
  void take() noexcept {}
};

template <class T>
class task_promise final : public promise_base, public task_result<T> {
 public:
  bobbin::task<T> get_return_object() noexcept;
  // The value, or the coroutine's exception rethrown.
  T result() {
    rethrow_if_failed();
    return this->take();
  }
};

}  // namespace detail

template <class T>
class [[nodiscard]] task {
 public:
  using promise_type = detail::task_promise<T>;
  using value_type = T;

  task() noexcept = default;
  task(task&& o) noexcept : h_(std::exchange(o.h_, nullptr)) {}
  task& operator=(task&& o) noexcept {
    if (this != &o) {
      reset();
      h_ = std::exchange(o.h_, nullptr);
    }
    return *this;
  }
  task(const task&) = delete;
  task& operator=(const task&) = delete;
  ~task() { reset(); }

  // False for a task moved from or already awaited.
  bool valid() const noexcept { return static_cast<bool>(h_); }

  struct awaiter {
    std::coroutine_handle<promise_type> h;
    task owner;  // destroys the frame once the result is taken

    bool await_ready() const noexcept { return false; }
    template <class P>
    BOBBIN_ALWAYS_INLINE std::coroutine_handle<> await_suspend(std::coroutine_handle<P> parent) noexcept {
      h.promise().await_by(parent, detail::context_of(parent));
      return detail::transfer_to(h);
    }
    BOBBIN_ALWAYS_INLINE T await_resume() { return h.promise().result(); }
  };
  // Starts the task; the awaiter resumes when it ends, with its value or its exception.
  awaiter operator co_await() && { return take_for_await(); }
  awaiter operator co_await() & { return take_for_await(); }

  // For bobbin's own machinery (when_all, roots): the coroutine, still owned by this task.
  std::coroutine_handle<promise_type> handle() const noexcept { return h_; }

 private:
  friend class detail::task_promise<T>;
  explicit task(std::coroutine_handle<promise_type> h) noexcept : h_(h) {}

  awaiter take_for_await() {
    if (!h_) throw std::logic_error("bobbin: co_await on an empty task (moved from, or awaited already)");
    const auto h = h_;
    return awaiter{h, std::move(*this)};
  }
  void reset() noexcept {
    if (h_) std::exchange(h_, nullptr).destroy();
  }

  std::coroutine_handle<promise_type> h_;
};

namespace detail {

template <class T>
bobbin::task<T> task_promise<T>::get_return_object() noexcept {
  return bobbin::task<T>(std::coroutine_handle<task_promise>::from_promise(*this));
}

template <class T>
child_ref child_of(const bobbin::task<T>& t) noexcept {
  return {t.handle(), &t.handle().promise()};
}

[[noreturn]] BOBBIN_NOINLINE inline void throw_empty_task() {
  throw std::logic_error("bobbin: when_all/when_any over an empty task (moved from, or awaited)");
}
template <class T>
BOBBIN_ALWAYS_INLINE inline void check_task(const bobbin::task<T>& t) {
  if (!t.valid()) [[unlikely]]
    throw_empty_task();
}

// A future as a task: awaiting it (future.hpp's awaiter: suspends, never blocks).
template <class T>
bobbin::task<T> await_future(future<T> f) {
  co_return co_await std::move(f);
}

// Consumes its input, an lvalue too (awaiting consumes a task or a future anyway).
template <class A>
BOBBIN_ALWAYS_INLINE inline auto as_task(A&& a) {
  if constexpr (is_task_v<A>) {
    return std::remove_cvref_t<A>(std::move(a));
  } else {
    return await_future(std::move(a));
  }
}

template <class A>
using task_value_t = typename std::remove_cvref_t<A>::value_type;

// when_all over a fixed set of tasks: the join point lives here, in the parent's frame.
template <class... T>
class when_all_awaiter {
  static constexpr std::uint32_t n = sizeof...(T);

 public:
  BOBBIN_ALWAYS_INLINE explicit when_all_awaiter(bobbin::task<T>&&... ts) : tasks_(std::move(ts)...) {
    std::apply([](const auto&... t) { (check_task(t), ...); }, tasks_);
  }
  when_all_awaiter(when_all_awaiter&&) = default;

  bool await_ready() const noexcept { return false; }
  template <class P>
  BOBBIN_ALWAYS_INLINE std::coroutine_handle<> await_suspend(std::coroutine_handle<P> parent) noexcept {
    const coro_context ctx = context_of(parent);
    refs_ = std::apply([](const auto&... t) { return std::array<child_ref, n>{child_of(t)...}; }, tasks_);
    join_.n = n;
    join_.children = refs_.data();
    return transfer_to(join_.template fork<n>(parent, ctx.where, ctx));
  }
  // Every child has ended: the first failure in argument order, else every value.
  BOBBIN_ALWAYS_INLINE std::tuple<stored_t<T>...> await_resume() {
    std::apply([](auto&... t) { (t.handle().promise().rethrow_if_failed(), ...); }, tasks_);
    return std::apply([](auto&... t) { return std::tuple<stored_t<T>...>{take_stored(t)...}; }, tasks_);
  }

 private:
  template <class U>
  static stored_t<U> take_stored(bobbin::task<U>& t) {
    if constexpr (std::is_void_v<U>) {
      return {};
    } else if constexpr (std::is_reference_v<U>) {
      return std::ref(t.handle().promise().take());
    } else {
      return t.handle().promise().take();
    }
  }

  std::tuple<bobbin::task<T>...> tasks_;
  std::array<child_ref, n> refs_;
  join_point join_;
};

// when_all over a vector of tasks.
template <class T>
class when_all_range_awaiter {
 public:
  explicit when_all_range_awaiter(std::vector<bobbin::task<T>>&& ts) : tasks_(std::move(ts)) {
    for (const auto& t : tasks_) check_task(t);
    refs_.reserve(tasks_.size());
    for (const auto& t : tasks_) refs_.push_back(child_of(t));
  }

  bool await_ready() const noexcept { return tasks_.empty(); }
  template <class P>
  std::coroutine_handle<> await_suspend(std::coroutine_handle<P> parent) noexcept {
    const coro_context ctx = context_of(parent);
    join_.n = static_cast<std::uint32_t>(refs_.size());
    join_.children = refs_.data();
    return transfer_to(join_.fork(parent, ctx.where, ctx));
  }
  std::vector<stored_t<T>> await_resume() {
    for (auto& t : tasks_) t.handle().promise().rethrow_if_failed();
    std::vector<stored_t<T>> out;
    out.reserve(tasks_.size());
    for (auto& t : tasks_) {
      if constexpr (std::is_void_v<T>) {
        out.emplace_back();
      } else if constexpr (std::is_reference_v<T>) {
        out.emplace_back(std::ref(t.handle().promise().take()));
      } else {
        out.emplace_back(t.handle().promise().take());
      }
    }
    return out;
  }

 private:
  std::vector<bobbin::task<T>> tasks_;
  std::vector<child_ref> refs_;
  join_point join_;
};

// when_any: the children run in a context of their own, whose stop source the first
// child to end requests (after linking it to the parent's stop, if any).
template <class Value>
class when_any_base {
 protected:
  // Registered before the children start; the first child to end wins.
  void start(const coro_context& parent_ctx) {
    if (parent_ctx.stop_possible()) link_.emplace(*parent_ctx.stop, forward{&stop_});
    token_ = stop_.get_token();
    ctx_ = coro_context{parent_ctx.where, &token_};
    join_.on_child_end = &child_ended;
    join_.owner = this;
  }
  static void child_ended(void* owner, std::uint32_t index) noexcept {
    auto* self = static_cast<when_any_base*>(owner);
    std::uint32_t none = unset;
    // acq_rel: the winner's index is published to the last child's join (its fetch_sub).
    if (self->winner_.compare_exchange_strong(none, index, std::memory_order_acq_rel)) self->stop_.request_stop();
  }

  struct forward {
    std::stop_source* to;
    void operator()() const noexcept { to->request_stop(); }
  };
  static constexpr std::uint32_t unset = ~std::uint32_t{0};

  join_point join_;
  std::atomic<std::uint32_t> winner_{unset};
  std::stop_source stop_;
  std::stop_token token_;
  std::optional<std::stop_callback<forward>> link_;
  coro_context ctx_;
};

}  // namespace detail

// What when_any returns: which input ended first, and its value.
template <class T>
struct when_any_result {
  std::size_t index;
  T value;
};

namespace detail {

template <class T>
class when_any_range_awaiter : public when_any_base<T> {
 public:
  explicit when_any_range_awaiter(std::vector<bobbin::task<T>>&& ts) : tasks_(std::move(ts)) {
    if (tasks_.empty())
      throw std::invalid_argument("bobbin: when_any over no tasks or futures has no first to wait for");
    for (const auto& t : tasks_) check_task(t);
    refs_.reserve(tasks_.size());
    for (const auto& t : tasks_) refs_.push_back(child_of(t));
  }

  bool await_ready() const noexcept { return false; }
  template <class P>
  std::coroutine_handle<> await_suspend(std::coroutine_handle<P> parent) noexcept {
    const coro_context parent_ctx = context_of(parent);
    this->start(parent_ctx);
    this->join_.n = static_cast<std::uint32_t>(refs_.size());
    this->join_.children = refs_.data();
    return transfer_to(this->join_.fork(parent, parent_ctx.where, this->ctx_));
  }
  when_any_result<stored_t<T>> await_resume() {
    this->link_.reset();
    const std::size_t i = this->winner_.load(std::memory_order_acquire);
    auto& p = tasks_[i].handle().promise();
    p.rethrow_if_failed();
    if constexpr (std::is_void_v<T>) {
      return {i, {}};
    } else if constexpr (std::is_reference_v<T>) {
      return {i, std::ref(p.take())};
    } else {
      return {i, p.take()};
    }
  }

 private:
  std::vector<bobbin::task<T>> tasks_;
  std::vector<child_ref> refs_;
};

// Runs coroutines on the thread that calls sync_wait: a queue of resumptions it drains.
class run_loop final : public resumer {
 public:
  // Both notify under the lock: once the loop's thread sees the change it may return and
  // destroy the loop.
  void resume_later(std::coroutine_handle<> h) noexcept override {
    std::lock_guard lock(mutex_);
    queue_.push_back(h);  // out of memory here terminates (noexcept)
    ready_.notify_one();
  }
  void finish() noexcept {
    std::lock_guard lock(mutex_);
    done_ = true;
    ready_.notify_one();
  }
  // Resumes what is queued until finish() was called.
  void run() {
    std::unique_lock lock(mutex_);
    for (;;) {
      if (!queue_.empty()) {
        const std::coroutine_handle<> h = queue_.front();
        queue_.pop_front();
        lock.unlock();
        resume_now(h);
        lock.lock();
      } else if (done_) {
        return;
      } else {
        ready_.wait(lock);
      }
    }
  }

 private:
  std::mutex mutex_;
  std::condition_variable ready_;
  std::deque<std::coroutine_handle<>> queue_;  // when_all over n tasks queues n - 1 at once
  bool done_ = false;
};

template <class T>
class sync_wait_root final : public coro_root {
 public:
  explicit sync_wait_root(run_loop& loop) noexcept : loop_(loop) {}
  void finished() noexcept override { loop_.finish(); }

 private:
  run_loop& loop_;
};

}  // namespace detail

// Promise.all over tasks (and futures mixed in): the children start concurrently on the
// current pool (their parent's), and the awaiter resumes when all have ended, with a tuple
// of their values (std::monostate for void) or the first failure in argument order.
// (All futures and no task: future.hpp's when_all, itself awaitable.)
template <class... A>
  requires(sizeof...(A) > 0 && ((detail::is_task_v<A> || detail::is_future_v<A>) && ...) &&
           (detail::is_task_v<A> || ...))
BOBBIN_ALWAYS_INLINE inline auto when_all(A&&... inputs) {
  return detail::when_all_awaiter<detail::task_value_t<A>...>(detail::as_task(std::move(inputs))...);
}

// The same over a vector of tasks: a vector of values, in order.
template <class T>
auto when_all(std::vector<task<T>>&& tasks) {
  return detail::when_all_range_awaiter<T>(std::move(tasks));
}
template <class T>
auto when_all(std::vector<task<T>>& tasks) {
  return detail::when_all_range_awaiter<T>(std::move(tasks));
}

// Promise.race over tasks or futures (a vector of either): the first to end wins; the
// others' stop tokens are requested (a future's task is cancelled: future::cancel()), and
// the awaiter resumes once every child has ended, with {index, value} of the winner, or
// the winner's exception. Throws std::invalid_argument for an empty vector.
template <class T>
auto when_any(std::vector<task<T>>&& tasks) {
  return detail::when_any_range_awaiter<T>(std::move(tasks));
}
template <class T>
auto when_any(std::vector<task<T>>& tasks) {
  return detail::when_any_range_awaiter<T>(std::move(tasks));
}
template <class T>
auto when_any(std::vector<future<T>>&& futures) {
  std::vector<task<T>> ts;
  ts.reserve(futures.size());
  for (auto& f : futures) {
    if (!f.valid()) throw std::future_error(std::future_errc::no_state);
  }
  for (auto& f : futures) ts.push_back(detail::await_future(std::move(f)));
  return detail::when_any_range_awaiter<T>(std::move(ts));
}
template <class T>
auto when_any(std::vector<future<T>>& futures) {
  return when_any(std::move(futures));
}
// Variadic, over inputs of one value type: when_any(t1, t2, f3).
template <class A, class... B>
  requires((detail::is_task_v<A> || detail::is_future_v<A>) &&
           ((detail::is_task_v<B> || detail::is_future_v<B>) && ...) &&
           (std::is_same_v<detail::task_value_t<A>, detail::task_value_t<B>> && ...))
auto when_any(A&& first, B&&... rest) {
  using T = detail::task_value_t<A>;
  std::vector<task<T>> ts;
  ts.reserve(1 + sizeof...(B));
  ts.push_back(detail::as_task(std::move(first)));
  (ts.push_back(detail::as_task(std::move(rest))), ...);
  return detail::when_any_range_awaiter<T>(std::move(ts));
}

// Runs a task to its end from the calling thread and returns its value or rethrows its
// exception. Its resumptions run on this thread (unless it moves itself to a pool with
// co_await pool.schedule()). Meant for threads that are not pool workers: on a worker it
// blocks that worker meanwhile.
template <class T>
T sync_wait(task<T> t) {
  if (!t.valid()) throw std::logic_error("bobbin: sync_wait on an empty task (moved from, or awaited already)");
  detail::run_loop loop;
  detail::sync_wait_root<T> root(loop);
  auto h = t.handle();
  h.promise().root_at(&root, detail::coro_context{&loop, nullptr});
  detail::resume_now(h);
  loop.run();
  return h.promise().result();
}

// A future's value, waiting for it (future::get()).
template <class T>
T sync_wait(future<T> f) {
  return f.get();
}

namespace detail {

struct stop_token_awaiter {
  std::stop_token token;
  bool await_ready() const noexcept { return false; }
  template <class P>
  bool await_suspend(std::coroutine_handle<P> h) noexcept {
    const coro_context c = context_of(h);
    if (c.stop != nullptr) token = *c.stop;
    return false;  // never suspends: it only looks at the context
  }
  std::stop_token await_resume() noexcept { return std::move(token); }
};

}  // namespace detail

namespace this_task {

// co_await bobbin::this_task::stop_token(): the stop token of the running coroutine (see
// the top); a token that is never requested for a coroutine nothing can stop.
inline detail::stop_token_awaiter stop_token() noexcept { return {}; }

}  // namespace this_task

namespace detail {

// pool.schedule(): the rest of the coroutine runs on one of the pool's workers, and its
// later resumptions there too.
class schedule_awaiter {
 public:
  explicit schedule_awaiter(resumer& where) noexcept : where_(where) {}
  bool await_ready() const noexcept { return false; }
  template <class P>
  void await_suspend(std::coroutine_handle<P> h) noexcept {
    if constexpr (has_coro_context<P>) h.promise().bobbin_context().where = &where_;
    where_.resume_later(h);
  }
  void await_resume() const noexcept {}

 private:
  resumer& where_;
};

}  // namespace detail

}  // namespace bobbin
