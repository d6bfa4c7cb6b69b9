#pragma once
// detail::block_on(a): how any thread waits for an awaitable (a future's state, a task
// group) to be done. On a pool thread it helps: runs the newest tasks of its own queue
// from the waiter's frame, then the pool's loop (pool_thread::help_until), so recursive
// fork-join never deadlocks. Elsewhere it parks the thread (park_until_done).
//
// Contract: any thread; returns once a.done(). The awaitable's completer unparks a
// registered waiter exactly once (wake_done); a waiter that failed to unregister waits for
// that unpark before its parker may be reused.

#include <exception>

#include "../config.hpp"
#include "../thread_state.hpp"
#include "scheduler.hpp"
#include "task.hpp"

namespace bobbin::detail {

// Parks the calling (non-pool) thread until `a` is done.
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

// Inlined into the waiter (task_group::wait, future::get): see pool_thread.
BOBBIN_ALWAYS_INLINE inline void block_on(awaitable& a) {
  if (a.done()) return;
  if (pool_thread* w = current_pool_thread().thread) {
    for (;;) {
      const pool_thread::taken t = w->take_newest();
      if (t.slot == nullptr) break;
      task_outcome outcome;
      try {
        outcome = task::run_words(t.slot);
      } catch (...) {
        w->task_threw(std::current_exception());
        outcome = task_outcome::failed;
      }
      w->finish_newest(t, outcome);
      if (a.done()) return;
    }
    w->help_until(a);
  } else {
    park_until_done(a);
  }
}

}  // namespace bobbin::detail
