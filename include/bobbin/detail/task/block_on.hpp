#pragma once
// detail::block_on(a): how any thread waits for an awaitable (a future's state, a task
// group) to be done. On a pool thread it helps: runs the newest tasks of its own queue
// from the waiter's frame, then the pool's loop (pool_thread::help_until), so recursive
// fork-join never deadlocks. Elsewhere it parks the thread (park_until_done).
// detail::park_until_done(a, deadline): the one loop that parks a thread until an
// awaitable is done or a deadline passes, without helping: block_on off the pools,
// future::wait_for/wait_until on any thread.
//
// Contract: any thread. block_on returns once a.done(); park_until_done returns true once
// a.done(), false if the deadline passed first (never for deadline::never()). It sleeps
// on the calling thread's parker (this_thread_parker) and asks of the awaitable (a
// completion, detail/sync/parker.hpp, gives all of it):
// - try_register(w) fails only if a is done. Once it succeeded, whoever makes a done
//   after the waiter's next look at done() notifies w once (wake_done), unless w was
//   unregistered first: register, then look, then park, so no wake-up is lost.
// - A notification may come before a is done (a waker that wakes every waiter): the
//   loop looks again and re-registers.
// - try_unregister(w) fails iff a waker took w: its unpark may still be on the way, so
//   the waiter waits for it (wake_done) before its parker may be reused.
// Ordering: park_until_done returns true only on a.done(), whose acquire (a completion's,
// a task group's balance) makes the completer's writes visible; the parker's word
// (release unpark, acquire reads) only carries the wake-up.

#include <exception>

#include "../config.hpp"
#include "../sync/parker.hpp"
#include "../thread_state.hpp"
#include "../time/deadline.hpp"
#include "scheduler.hpp"
#include "task.hpp"

namespace bobbin::detail {

// Parks the calling thread (any thread; it runs no task meanwhile) until `a` is done,
// then returns true, or until `d` has passed, then returns false.
inline bool park_until_done(awaitable& a, const deadline& d) noexcept {
  if (a.done()) return true;
  parker& p = this_thread_parker();
  do {
    p.reset();
    if (a.try_register(&p)) {
      // Registered, then one more look: a waker that makes `a` done after it finds p.
      const bool timed_out = !a.done() && p.park_until(d) == 0;
      if (!a.try_unregister(&p)) {
        p.wait_for(wake_done);  // a waker took our registration: its unpark may still be on the way
      } else if (timed_out) {
        return false;
      }
    }
  } while (!a.done());
  return true;
}

// block_on's path off the pools: out of line, so that the waiter it is inlined into keeps
// a small frame (no deadline on its stack); the thread is about to sleep anyway.
BOBBIN_NOINLINE inline void park_until_done(awaitable& a) noexcept { (void)park_until_done(a, deadline::never()); }

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
