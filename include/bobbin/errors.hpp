#pragma once
// The exceptions bobbin throws for its own reasons (a task's own exceptions travel
// through its future unchanged).

#include <stdexcept>

namespace bobbin {

// submit()/post()/try_submit() on a pool that is shutting down or shut down.
class pool_closed : public std::runtime_error {
 public:
  pool_closed() : std::runtime_error("bobbin: the pool no longer accepts tasks (shut down)") {}
};

// get() on the future of a task that never ran: cancelled by future::cancel() or
// pool::shutdown_now().
class task_cancelled : public std::runtime_error {
 public:
  task_cancelled() : std::runtime_error("bobbin: the task was cancelled before it ran") {}
};

}  // namespace bobbin
