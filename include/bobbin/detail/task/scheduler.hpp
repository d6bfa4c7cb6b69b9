#pragma once
// The small interfaces through which futures and task groups reach a pool without
// including it (DESIGN.md: future.hpp and task_group.hpp never include pool.hpp).
//
// - scheduler: something that runs tasks (a pool). try_schedule() may be called from any
//   thread; it takes the task (leaving `t` empty) and returns true, or returns false and
//   leaves `t` untouched once the pool no longer accepts work. A scheduler is also where
//   coroutines resume (resumer, detail/coro/context.hpp: resume_later queues a resumption
//   that no statistics count) and the home of coroutine roots (detail/coro/root.hpp): a
//   root is counted as one task, submitted when it is queued and finished when the
//   coroutine ends (root_finished, from any thread), so wait_idle() waits for suspended
//   coroutines too; report_error() takes a detached root's exception (on_error).
// - awaitable: what a blocked thread waits for (a future's state, a task group).
// - pool_thread: a pool's record of one of its threads, installed for that thread in
//   detail::current_pool_thread() (thread_state.hpp). help_until() runs the pool's
//   pending tasks while the awaitable is not done, and sleeps when there are none, waking
//   for either new work or completion. This is what lets recursive fork-join wait without
//   deadlock on any number of threads. Before it, a wait runs the newest tasks of the
//   thread's own queue itself (take_newest ... finish_newest), checking the awaitable
//   between them inline (detail/task/block_on.hpp).
//
// "Worker" in bobbin's public names means either a pool's thread (this_worker::index) or
// a dedicated worker (worker.hpp); inside detail/, a pool's thread is a pool_thread.

#include <coroutine>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <stop_token>

#include "../coro/context.hpp"
#include "../sync/parker.hpp"
#include "task.hpp"

namespace bobbin::detail {

struct scheduler : resumer {
  virtual bool try_schedule(task& t) = 0;
  virtual std::size_t concurrency() const noexcept = 0;
  virtual void root_finished(task_outcome outcome) noexcept = 0;
  virtual void report_error(std::exception_ptr e) noexcept = 0;

 protected:
  ~scheduler() = default;
};

struct awaitable {
  virtual bool done() const noexcept = 0;
  virtual bool try_register(waiter* w) noexcept = 0;
  virtual bool try_unregister(waiter* w) noexcept = 0;

 protected:
  ~awaitable() = default;
};

struct pool_thread {
  // The fast path of a wait, in steps, so that the task runs from the waiter's own frame
  // (block_on) rather than from a frame of the pool's: one call frame less per level of
  // fork-join, which keeps deep recursion within the return-address predictor.
  // take_newest() pops the newest task of the thread's own queue (if it may run there)
  // and does the pool's bookkeeping for a task that starts; the caller runs it
  // (task::run_words), reports an exception with task_threw(), and then calls
  // finish_newest() with what take_newest() returned and how the task ended.
  struct taken {
    const task::word* slot = nullptr;  // nullptr: none (go the slow way, help_until)
    std::uint32_t outer_depth = 0;
  };
  virtual taken take_newest() = 0;
  virtual void task_threw(std::exception_ptr e) noexcept = 0;
  virtual void finish_newest(taken t, task_outcome outcome) noexcept = 0;
  virtual void help_until(awaitable& a) = 0;
  virtual scheduler& owner() noexcept = 0;
  virtual std::size_t index() const noexcept = 0;
  virtual std::stop_token stop_token() const noexcept = 0;
  // Coroutine fork-join (detail/coro/promise.hpp): spawn() queues a resumption of h on this
  // thread's own queue, counted by nobody (it belongs to a root already counted); it
  // cannot fail (out of memory while growing a queue terminates). take_back(h) takes the
  // newest task of this thread's own queue back iff it is exactly that resumption of h
  // (so the caller resumes h itself), and leaves the queue as it was otherwise.
  virtual void spawn(std::coroutine_handle<> h) noexcept = 0;
  virtual bool take_back(std::coroutine_handle<> h) noexcept = 0;

 protected:
  ~pool_thread() = default;
};

}  // namespace bobbin::detail
