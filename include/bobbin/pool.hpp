#pragma once
// bobbin::pool<Policy>: a pool of worker threads with a task queue and futures.
//
// Contract:
// - submit/post/try_submit/try_post, stats(), size() may be called from any thread,
//   including the pool's own workers (nested fork-join). wait_idle/shutdown/shutdown_now
//   may be called from any thread but a worker of the same pool (std::logic_error: it
//   would wait for itself).
// - Every accepted task runs exactly once, or, after shutdown_now() or future::cancel(),
//   is cancelled exactly once (its future throws task_cancelled). Nothing accepted is lost,
//   including by the destructor, which behaves like shutdown(); on one of the pool's own
//   workers (a task deletes its pool) it returns at once and the threads finish every
//   accepted task on their own.
// - pool_options::threads above 65536 (what -1 becomes) is refused: std::invalid_argument.
// - Tasks submitted by the pool's own workers are accepted until the pool has stopped
//   (so a fork-join computation in flight completes during shutdown()) and never wait for
//   queue_capacity; tasks from other threads are refused with pool_closed once shutdown
//   has begun, and wait (submit/post) or are refused (try_*) while the queue is full.
//
// The life of a task, file by file (docs/architecture.md draws it):
//   pool.hpp                      pool::submit(fn) forwards to the core
//   detail/pool/pool_core_submit  reserve a place (queue_capacity.hpp), build the future's
//                                 state (detail/future/), count it, policy push, wake a
//                                 sleeper (idle_workers.hpp)
//   policy/<name>.hpp             where the task waits: a deque, a ring, a shared queue
//   detail/pool/pool_core_loop    a pool thread finds it, runs it (task/task.hpp), counts
//                                 its outcome; a waiting thread helps (task/block_on.hpp)
//   detail/future/                the runner stores the value and wakes the future's waiter
//
// The object is a handle on a detail::pool_core (detail/pool/pool_core.hpp), which holds
// everything and outlives the handle when the handle is destroyed on one of its own
// workers.

#include <cstddef>
#include <memory>
#include <type_traits>
#include <utility>

#include "detail/pool/pool_core.hpp"
#include "errors.hpp"
#include "future.hpp"
#include "options.hpp"
#include "policies.hpp"
#include "pool_base.hpp"
#include "pool_stats.hpp"
#include "task.hpp"

namespace bobbin {

template <policy Policy = work_stealing>
class pool;

// A pool of worker threads. The object is a handle on its detail::pool_core: every call
// goes straight to it. See the top of this file for the contract.
template <policy Policy>
class pool final : public pool_base {
  using core = detail::pool_core<Policy>;

 public:
  // Throws std::invalid_argument for threads > 65536, std::system_error if a thread cannot
  // start (then the threads already started are joined first).
  explicit pool(pool_options options = {}) : core_(std::make_unique<core>(std::move(options), *this)) {}

  pool(const pool&) = delete;
  pool& operator=(const pool&) = delete;

  // Like shutdown(): every accepted task runs first. On one of the pool's own workers (a
  // task deletes the pool, or holds the last shared_ptr to it, or calls std::exit() while
  // the pool is a static) it cannot wait for itself: it stops accepting outside tasks and
  // returns; the threads finish every accepted task (tasks of the pool may still submit
  // nested ones) and end, and the last to end frees the pool's state. this_worker::pool()
  // returns nullptr on them from then on.
  ~pool() {
    if (core_->forked_away()) {
      // A child made by fork() has none of the pool's threads: there is nothing to wait for
      // or join, and the queued tasks are the parent's. The state is left as it is.
      (void)core_.release();
    } else if (core_->on_own_worker()) {
      core_.release()->orphan();
    } else {
      core_->shutdown();
    }
  }

  std::size_t size() const noexcept override { return core_->size(); }
  std::size_t concurrency() const noexcept override { return core_->concurrency(); }

  // Runs fn(args...) on the pool; returns its bobbin::future. If fn takes a std::stop_token
  // first, it gets one, requested by future::cancel() and shutdown_now(). If fn is a
  // coroutine function (returns bobbin::task<T>), the pool runs the coroutine and the
  // future<T> holds its result; fn and args live until it ends (task.hpp). From outside the
  // pool, blocks while the queue is at queue_capacity. Throws pool_closed once the pool
  // refuses work; whatever building the task throws (its copy, std::bad_alloc).
  template <class F, class... Args>
    requires(!std::is_same_v<std::decay_t<F>, task_options>)
  auto submit(F&& fn, Args&&... args) {
    return core_->submit(task_options{}, std::forward<F>(fn), std::forward<Args>(args)...);
  }
  template <class F, class... Args>
  auto submit(const task_options& o, F&& fn, Args&&... args) {
    return core_->submit(o, std::forward<F>(fn), std::forward<Args>(args)...);
  }

  // Like submit(), but returns an empty optional instead of waiting when the queue is
  // full, leaving fn and args untouched (not moved from).
  template <class F, class... Args>
    requires(!std::is_same_v<std::decay_t<F>, task_options>)
  auto try_submit(F&& fn, Args&&... args) {
    return core_->try_submit(task_options{}, std::forward<F>(fn), std::forward<Args>(args)...);
  }
  template <class F, class... Args>
  auto try_submit(const task_options& o, F&& fn, Args&&... args) {
    return core_->try_submit(o, std::forward<F>(fn), std::forward<Args>(args)...);
  }

  // Runs fn(args...) detached (no future); see pool_base::post and try_post.
  template <class F, class... Args>
    requires(!std::is_same_v<std::decay_t<F>, task_options>)
  void post(F&& fn, Args&&... args) {
    core_->post(task_options{}, std::forward<F>(fn), std::forward<Args>(args)...);
  }
  template <class F, class... Args>
  void post(const task_options& o, F&& fn, Args&&... args) {
    core_->post(o, std::forward<F>(fn), std::forward<Args>(args)...);
  }
  template <class F, class... Args>
    requires(!std::is_same_v<std::decay_t<F>, task_options>)
  bool try_post(F&& fn, Args&&... args) {
    return core_->try_post(task_options{}, std::forward<F>(fn), std::forward<Args>(args)...);
  }
  template <class F, class... Args>
  bool try_post(const task_options& o, F&& fn, Args&&... args) {
    return core_->try_post(o, std::forward<F>(fn), std::forward<Args>(args)...);
  }

  // Blocks until every task accepted before the call has finished; returns at once once
  // the pool has shut down. std::logic_error on a worker of this pool.
  void wait_idle() { core_->wait_idle(); }
  // Stops accepting outside tasks, runs everything queued, joins. Idempotent; any thread
  // but a worker of this pool (std::logic_error).
  void shutdown() { core_->shutdown(); }
  // Stops accepting, cancels what is queued, requests every stop token, waits for running
  // tasks, joins; returns how many tasks it cancelled.
  std::size_t shutdown_now() { return core_->shutdown_now(); }
  // A snapshot; never blocks the workers.
  pool_stats stats() const { return core_->stats(); }

  // In a coroutine: `co_await pool.schedule();` continues on one of this pool's workers,
  // and the coroutine's later resumptions happen there too (docs/async.md).
  auto schedule() noexcept { return detail::schedule_awaiter(*core_); }

  // detail::scheduler (task_group, continuations, coroutines).
  bool try_schedule(detail::task& t) override { return core_->try_schedule(t); }
  void resume_later(std::coroutine_handle<> h) noexcept override { core_->resume_later(h); }
  void root_finished(detail::task_outcome o) noexcept override { core_->root_finished(o); }
  void report_error(std::exception_ptr e) noexcept override { core_->report_error(std::move(e)); }

 private:
  admission reserve(bool block) override { return core_->reserve(block); }
  bool admit(detail::task& t, const task_options& o) override { return core_->admit(t, o); }
  void unreserve() override { core_->unreserve(); }

  std::unique_ptr<core> core_;
};

}  // namespace bobbin
