#pragma once
// How much of a pool thread's stack its helping waits may use for unrelated tasks.
//
// A worker that waits (future::get, task_group::wait) runs other tasks meanwhile, nested on
// its own stack. Any task while the stack is less than half used; past that, only tasks
// deeper in the fork-join tree than the one it waits in (the pool's depth rule), which
// bounds the nesting without ever deadlocking fork-join. A fixed count of nested waits
// did that job before, but it also stopped tasks that wait for unrelated work queued behind
// them after a few levels, and the pool could sleep with work queued (issue 15, item 8).
// The stack's own size is the real limit, so it is the one used.
//
// Thread-safety: help_floor() is called by a worker thread about itself, once, at its
// start; frame_address() reads the caller's frame. Nothing is shared.

#include <cstddef>
#include <cstdint>

#if defined(__linux__)
#include <pthread.h>
#endif

#include "../config.hpp"

namespace bobbin::detail {

// The address of the calling function's frame (the stack grows down on every platform
// bobbin runs on). Under AddressSanitizer, locals may live on a fake stack; the frame
// address is still the real one.
BOBBIN_ALWAYS_INLINE inline std::uintptr_t frame_address() noexcept {
#if defined(__GNUC__) || defined(__clang__)
  return reinterpret_cast<std::uintptr_t>(__builtin_frame_address(0));
#else
  volatile char probe = 0;
  return reinterpret_cast<std::uintptr_t>(&probe);
#endif
}

// When the threads' stack size cannot be read: at least this much is assumed below the
// start of the worker's loop (a platform's smallest default thread stack is 512 KiB,
// macOS's; Linux's is 8 MiB).
inline constexpr std::size_t assumed_free_stack = 256 * 1024;

// The calling thread's help floor: below this frame address, a wait runs only deeper
// tasks. Half-way down the thread's stack; where its bounds are unknown, the assumed
// minimum below the caller's frame.
inline std::uintptr_t help_floor() noexcept {
  const std::uintptr_t here = frame_address();
#if defined(__linux__) && defined(__GLIBC__)
  pthread_attr_t attr;
  if (pthread_getattr_np(pthread_self(), &attr) == 0) {
    void* low = nullptr;
    std::size_t size = 0;
    const bool known = pthread_attr_getstack(&attr, &low, &size) == 0;
    pthread_attr_destroy(&attr);
    const auto bottom = reinterpret_cast<std::uintptr_t>(low);
    if (known && size != 0 && here > bottom && here - bottom <= size) return bottom + (here - bottom) / 2;
  }
#endif
  return here > assumed_free_stack ? here - assumed_free_stack : 0;
}

}  // namespace bobbin::detail
