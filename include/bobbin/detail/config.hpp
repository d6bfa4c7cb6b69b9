#pragma once
// Build-wide facts for bobbin's internals: cache-line size, sanitizer detection, and a
// sequentially consistent fence that ThreadSanitizer can model.

#include <atomic>
#include <cstddef>

#if defined(__SANITIZE_THREAD__)
#define BOBBIN_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define BOBBIN_TSAN 1
#endif
#endif
#ifndef BOBBIN_TSAN
#define BOBBIN_TSAN 0
#endif

#if defined(__SANITIZE_ADDRESS__)
#define BOBBIN_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define BOBBIN_ASAN 1
#endif
#endif
#ifndef BOBBIN_ASAN
#define BOBBIN_ASAN 0
#endif

// BOBBIN_NOINLINE keeps a rarely taken path (a deque's growth) out of its hot caller.
// BOBBIN_ALWAYS_INLINE is for the few tiny functions of the spawn/pop path: in a large
// translation unit (a benchmark with many peers) g++ runs out of its inlining budget and
// left them as calls, which cost a fork-join spawn a third more time (measured).
#if defined(__GNUC__) || defined(__clang__)
#define BOBBIN_NOINLINE __attribute__((noinline))
#define BOBBIN_ALWAYS_INLINE __attribute__((always_inline))
#else
#define BOBBIN_NOINLINE
#define BOBBIN_ALWAYS_INLINE
#endif

namespace bobbin::detail {

// 64 bytes on every x86-64 and most AArch64 parts; a constant (rather than
// std::hardware_destructive_interference_size) so the layout is the same for every TU.
inline constexpr std::size_t cache_line = 64;

// A full fence. TSan does not model std::atomic_thread_fence (g++ even warns), so under
// TSan it is replaced by a seq_cst RMW on a shared dummy, which orders the same way for
// every algorithm here (each pairs the fence with seq_cst loads/stores or RMWs) and which
// TSan understands.
inline void seq_cst_fence() noexcept {
#if BOBBIN_TSAN
  static std::atomic<int> dummy{0};
  dummy.fetch_add(0, std::memory_order_seq_cst);
#else
  std::atomic_thread_fence(std::memory_order_seq_cst);
#endif
}

// Hint to the CPU that we are spinning.
inline void cpu_relax() noexcept {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  asm volatile("yield" ::: "memory");
#endif
}

}  // namespace bobbin::detail
