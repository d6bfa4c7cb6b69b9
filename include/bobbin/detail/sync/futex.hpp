#pragma once
// Parking on a 32-bit word: the Linux futex, or std::atomic::wait elsewhere.
//
// Contract:
// - futex_wait(word, expected, timeout) sleeps only while *word == expected (checked
//   atomically by the kernel against a concurrent futex_wake); it may return early
//   (spurious wake-up, signal), so callers re-check their condition in a loop.
// - futex_wait(word, expected, deadline) sleeps at most the deadline's sleep_time() and
//   returns timed_out only once the deadline has passed (without sleeping if it already
//   had); an infinite deadline sleeps without a timeout.
// - futex_wake(word, n) wakes at most n threads sleeping on word and, on Linux, returns
//   exactly how many it woke (FUTEX_WAKE's return value). The portable fallback cannot
//   count and returns 0; code that needs exact counts (atomics::notify) keeps its own
//   parking table for non-Linux systems.
// - The word's value carries the synchronisation: the waker changes it (release or
//   stronger) before waking, the sleeper re-reads it (acquire) after waking. The futex
//   itself promises no memory ordering.
// Private futexes: bobbin never shares these words across processes.

#include <atomic>
#include <chrono>
#include <climits>
#include <cstdint>

#include "../time/deadline.hpp"

#if defined(__linux__)
#include <cerrno>
#include <ctime>
#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>
#endif

namespace bobbin::detail {

static_assert(sizeof(std::atomic<std::uint32_t>) == sizeof(std::uint32_t));

enum class futex_status { woken, not_equal, timed_out };

#if defined(__linux__)

inline long futex_syscall(const std::atomic<std::uint32_t>* word, int op, std::uint32_t val,
                          const timespec* timeout) noexcept {
  // The kernel reads the word itself; the cast drops only the atomic wrapper.
  return ::syscall(SYS_futex, reinterpret_cast<const std::uint32_t*>(word), op | FUTEX_PRIVATE_FLAG, val, timeout,
                   nullptr, 0);
}

// Sleeps while *word == expected, at most `timeout` if given (relative).
inline futex_status futex_wait(const std::atomic<std::uint32_t>& word, std::uint32_t expected,
                               const std::chrono::nanoseconds* timeout = nullptr) noexcept {
  timespec ts{};
  const timespec* tsp = nullptr;
  if (timeout != nullptr) {
    auto ns = timeout->count() < 0 ? 0 : timeout->count();
    ts.tv_sec = static_cast<time_t>(ns / 1'000'000'000);
    ts.tv_nsec = static_cast<long>(ns % 1'000'000'000);
    tsp = &ts;
  }
  if (futex_syscall(&word, FUTEX_WAIT, expected, tsp) == 0) return futex_status::woken;
  switch (errno) {
    case EAGAIN: return futex_status::not_equal;
    case ETIMEDOUT: return futex_status::timed_out;
    default: return futex_status::woken;  // EINTR: spurious, the caller re-checks
  }
}

// Wakes at most n sleepers; returns how many were woken.
inline int futex_wake(const std::atomic<std::uint32_t>& word, int n = INT_MAX) noexcept {
  const long r = futex_syscall(&word, FUTEX_WAKE, static_cast<std::uint32_t>(n), nullptr);
  return r < 0 ? 0 : static_cast<int>(r);
}

#else
}  // namespace bobbin::detail
#include <algorithm>
#include <thread>
namespace bobbin::detail {

inline futex_status futex_wait(const std::atomic<std::uint32_t>& word, std::uint32_t expected,
                               const std::chrono::nanoseconds* timeout = nullptr) noexcept {
  if (word.load(std::memory_order_acquire) != expected) return futex_status::not_equal;
  if (timeout != nullptr) {
    // std::atomic::wait has no timeout: poll with a short sleep and report a (spurious)
    // wake-up; callers keep their own deadline. Only reached off Linux.
    std::this_thread::sleep_for(std::min(*timeout, std::chrono::nanoseconds(50'000)));
    return futex_status::woken;
  }
  word.wait(expected, std::memory_order_acquire);
  return futex_status::woken;
}

inline int futex_wake(const std::atomic<std::uint32_t>& word, int n = INT_MAX) noexcept {
  auto& w = const_cast<std::atomic<std::uint32_t>&>(word);
  if (n == 1) w.notify_one();
  else w.notify_all();
  return 0;
}

#endif

// Sleeps while *word == expected until the deadline: see the contract above.
inline futex_status futex_wait(const std::atomic<std::uint32_t>& word, std::uint32_t expected,
                               const deadline& d) noexcept {
  if (d.is_infinite()) return futex_wait(word, expected);
  const std::chrono::nanoseconds slice = d.sleep_time();
  if (slice <= std::chrono::nanoseconds::zero()) return futex_status::timed_out;
  const futex_status st = futex_wait(word, expected, &slice);
  // A slice that ended is not the deadline: the caller re-checks and sleeps again.
  return st == futex_status::timed_out && !d.has_passed() ? futex_status::woken : st;
}

}  // namespace bobbin::detail
