#pragma once
// Locking a queue's std::mutex the way its users need:
// - lock_briefly(m) spins a little on try_lock before blocking: a producer that finds the
//   lock held by a worker moving a batch (a few dozen nanoseconds) waits that long rather
//   than going to sleep in the kernel, which costs both sides system calls and context
//   switches.
// - A worker taking from a shared queue uses std::try_to_lock instead, and treats a held
//   lock as "look again" (its search loop retries; before it sleeps it sees the queue is
//   not empty and does not): it never makes a producer's unlock wake anybody.

#include <mutex>

#include "../config.hpp"

namespace bobbin::detail {

inline std::unique_lock<std::mutex> lock_briefly(std::mutex& m) {
  for (int i = 0; i < 64; ++i) {
    if (m.try_lock()) return std::unique_lock<std::mutex>(m, std::adopt_lock);
    cpu_relax();
  }
  return std::unique_lock<std::mutex>(m);
}

}  // namespace bobbin::detail
