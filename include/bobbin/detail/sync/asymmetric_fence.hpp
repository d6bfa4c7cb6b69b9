#pragma once
// An asymmetric store->load fence pair for Dekker-style handshakes where one side is hot
// (a worker publishing a task, millions of times a second) and the other rare (a worker
// about to sleep).
//
// Contract: if thread A does [store X; light(); load Y] and thread B does
// [store Y; heavy(); load X], then A's load sees B's store or B's load sees A's store
// (or both), exactly as if both had used a seq_cst fence.
//
// On Linux, heavy() is membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED): the kernel makes
// every running thread of the process execute a full barrier, so light() needs only to
// stop the compiler from reordering. Where membarrier is missing or refused (old kernel,
// seccomp), and under ThreadSanitizer (which does not model it), both are a seq_cst
// fence. The choice is made once per process.
//
// -DBOBBIN_NO_MEMBARRIER makes both sides a seq_cst fence without ever calling
// membarrier(): for sandboxes whose seccomp policy kills the process on an unknown system
// call instead of refusing it, and to measure what the asymmetric pair saves (docs/pool.md).

#include <atomic>

#include "../config.hpp"

#if defined(__linux__) && !BOBBIN_TSAN && !defined(BOBBIN_NO_MEMBARRIER)
#include <linux/membarrier.h>
#include <sys/syscall.h>
#include <unistd.h>
#define BOBBIN_HAVE_MEMBARRIER 1
#else
#define BOBBIN_HAVE_MEMBARRIER 0
#endif

namespace bobbin::detail {

class asymmetric_fence {
 public:
  // True if light() is only a compiler barrier. Registers with the kernel on first use.
  static bool asymmetric() noexcept {
    static const bool ok = register_process();
    return ok;
  }

  static void light() noexcept {
    if (cheap_.load(std::memory_order_relaxed)) {
      std::atomic_signal_fence(std::memory_order_seq_cst);
    } else {
      seq_cst_fence();
    }
  }

  static void heavy() noexcept {
#if BOBBIN_HAVE_MEMBARRIER
    if (cheap_.load(std::memory_order_relaxed)) {
      if (::syscall(SYS_membarrier, MEMBARRIER_CMD_PRIVATE_EXPEDITED, 0, 0) == 0) return;
      // Cannot happen once registered; if it does, light() fences in other threads are
      // missing, so there is no safe fallback here but the kernel's: abort loudly.
      __builtin_trap();
    }
#endif
    seq_cst_fence();
  }

  // Call once before any thread may use light()/heavy() (the pool's constructor does).
  static void init() noexcept { cheap_.store(asymmetric(), std::memory_order_relaxed); }

 private:
  static bool register_process() noexcept {
#if BOBBIN_HAVE_MEMBARRIER
    const long cmds = ::syscall(SYS_membarrier, MEMBARRIER_CMD_QUERY, 0, 0);
    if (cmds < 0 || (cmds & MEMBARRIER_CMD_PRIVATE_EXPEDITED) == 0) return false;
    return ::syscall(SYS_membarrier, MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED, 0, 0) == 0;
#else
    return false;
#endif
  }

  // Written by init() before the first pool's workers exist, with the same value by every
  // later pool's constructor (atomic: those writes may meet other pools' reads).
  static inline std::atomic<bool> cheap_{false};
};

}  // namespace bobbin::detail
