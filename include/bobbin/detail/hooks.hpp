#pragma once
// The small interface through which futures and task groups reach a pool without
// including it (DESIGN.md: future.hpp and task_group.hpp never include pool.hpp).
//
// - scheduler: something that runs tasks (a pool). try_schedule() may be called from any
//   thread; it takes the task (leaving `t` empty) and returns true, or returns false and
//   leaves `t` untouched once the pool no longer accepts work.
// - awaitable: what a blocked thread waits for (a future's state, a task group).
// - worker_hook: installed in thread-local storage on each pool worker. help_until()
//   runs the pool's pending tasks while the awaitable is not done, and sleeps when there
//   are none, waking for either new work or completion. This is what lets recursive
//   fork-join wait without deadlock on any number of threads. Before it, a wait runs the
//   newest tasks of the worker's own queue itself (take_newest ... finish_newest),
//   checking the awaitable between them inline.
// - block_on(a): waits for `a` on any thread: helping on a worker, parked elsewhere.

#include <cstddef>
#include <cstdint>
#include <exception>
#include <stop_token>
#include <utility>

#include "parker.hpp"
#include "task.hpp"

namespace bobbin::detail {

struct scheduler {
  virtual bool try_schedule(task& t) = 0;
  virtual std::size_t concurrency() const noexcept = 0;

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

struct worker_hook {
  // The fast path of a wait, in steps, so that the task runs from the waiter's own frame
  // (block_on) rather than from a frame of the pool's: one call frame less per level of
  // fork-join, which keeps deep recursion within the return-address predictor.
  // take_newest() pops the newest task of the worker's own queue (if it may run there)
  // and does the pool's bookkeeping for a task that starts; the caller runs it
  // (task::run_words), reports an exception with task_threw(), and then calls
  // finish_newest() with what take_newest() returned.
  struct taken {
    const task::word* slot = nullptr;  // nullptr: none (go the slow way, help_until)
    std::uint32_t outer_depth = 0;
  };
  virtual taken take_newest() = 0;
  virtual void task_threw(std::exception_ptr e) noexcept = 0;
  virtual void finish_newest(taken t) noexcept = 0;
  virtual void help_until(awaitable& a) = 0;
  virtual scheduler& owner() noexcept = 0;
  virtual std::size_t index() const noexcept = 0;
  virtual std::stop_token stop_token() const noexcept = 0;

 protected:
  ~worker_hook() = default;
};

// An address unique to the calling thread (constant-initialised: no TLS guard on access).
inline const void* this_thread_token() noexcept {
  thread_local const char token = 0;
  return &token;
}

inline worker_hook*& current_worker() noexcept {
  thread_local worker_hook* w = nullptr;
  return w;
}

// Called by a task just before it publishes its result (a future's value, a group's
// count), so that what the pool does at the end of a task (least_busy drops the worker's
// load) happens before whoever waits for the result can submit again. The pool installs
// it around each task it runs; a task runs it at most once; nested tasks (helping) save
// and restore it.
struct before_publish_hook {
  void (*fn)(void* ctx, std::size_t arg) noexcept = nullptr;
  void* ctx = nullptr;
  std::size_t arg = 0;
};
inline before_publish_hook& before_publish() noexcept {
  thread_local before_publish_hook h;
  return h;
}
inline void run_before_publish() noexcept {
  before_publish_hook& h = before_publish();
  if (h.fn != nullptr) std::exchange(h.fn, nullptr)(h.ctx, h.arg);
}

// How the last task run on this thread ended; runners that catch their callable's
// exception (a submit's, a task_group's) report it here so the pool's stats can count it.
enum class task_outcome : std::uint8_t { ok, failed, cancelled };
inline task_outcome& last_task_outcome() noexcept {
  thread_local task_outcome o = task_outcome::ok;
  return o;
}

// Parks the calling (non-worker) thread until `a` is done.
inline void park_until_done(awaitable& a) noexcept {
  parker& p = this_thread_parker();
  while (!a.done()) {
    p.reset();
    if (!a.try_register(&p)) return;
    p.park();
    if (!a.try_unregister(&p)) {
      // The completer took our registration: its unpark may still be on the way.
      p.wait_for(wake_done);
      return;
    }
  }
}

// Inlined into the waiter (task_group::wait, future::get): see worker_hook.
BOBBIN_ALWAYS_INLINE inline void block_on(awaitable& a) {
  if (a.done()) return;
  if (worker_hook* w = current_worker()) {
    for (;;) {
      const worker_hook::taken t = w->take_newest();
      if (t.slot == nullptr) break;
      try {
        task::run_words(t.slot);
      } catch (...) {
        w->task_threw(std::current_exception());
      }
      w->finish_newest(t);
      if (a.done()) return;
    }
    w->help_until(a);
  } else {
    park_until_done(a);
  }
}

}  // namespace bobbin::detail
