#pragma once
// Options of a pool and of a task; their own header so that policies can see them.

#include <chrono>
#include <cstddef>
#include <exception>
#include <functional>
#include <string>

namespace bobbin {

struct pool_options {
  std::size_t threads = 0;  // 0: std::thread::hardware_concurrency()
  // Tasks submitted from outside the pool that may be queued at once; 0: unbounded.
  // submit()/post() block while it is reached, try_submit() reports full. Tasks submitted
  // by the pool's own workers never wait (a worker blocked on its own pool would deadlock).
  std::size_t queue_capacity = 0;
  std::string name = "bobbin";  // threads are named name-0, name-1, ...
  std::function<void(std::size_t)> on_thread_start = {};  // called on each worker, with its index
  std::function<void(std::size_t)> on_thread_stop = {};
  // An exception escaping a detached (post) task. Default: counted in stats().failed and
  // the first one printed to stderr.
  std::function<void(std::exception_ptr)> on_error = {};
  // The priority policy only: every priority_aging-th task a worker takes is the oldest
  // waiting one, whatever its priority, so low priorities cannot starve forever. 0: off
  // (strict priority order).
  std::size_t priority_aging = 0;
  // Stall detection (a health check): a task still running stall_after after it started is
  // reported once to on_stall(worker index, how long it has run so far), from a monitor
  // thread that exists only when stall_after > 0. The check runs every stall_after / 4
  // (at least every millisecond), so a report comes between stall_after and about
  // 1.25 x stall_after. A worker's outermost task is watched (a task that helps while it
  // waits is still the one running).
  std::chrono::nanoseconds stall_after{0};
  std::function<void(std::size_t, std::chrono::nanoseconds)> on_stall = {};
};

struct task_options {
  int priority = 0;  // the priority policy runs higher first, FIFO within a level
};

}  // namespace bobbin
