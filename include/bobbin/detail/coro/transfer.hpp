#pragma once
// detail::transfer_to(h) and detail::resume_now(h): symmetric transfer, and the one way
// bobbin resumes a coroutine, in every build.
//
// A chain of awaits (a million sequential co_awaits, a fork-join tree's joins) uses no
// stack only if `return h;` from await_suspend is a tail call. clang makes it one in
// every build; g++ does when optimising, but not under -fsanitize=address or thread,
// where a long chain overflows the stack. In those builds (trampolined_transfer) a
// transfer parks h in the thread's trampoline (thread_state.hpp) and returns to the loop
// in resume_now(), which resumes it: the stack stays flat at the price of a thread_local
// access per transfer. A transfer outside any loop (a foreign coroutine awaiting a bobbin
// task) runs its own loop. Elsewhere both are the plain operations.
//
// Contract: calling thread only; resume_now() may nest (a coroutine that blocks in
// future::get() helps, and the task it runs may resume another coroutine): each loop
// saves and restores the trampoline of the loop it runs in.

#include <coroutine>
#include <utility>

#include "../config.hpp"
#include "../thread_state.hpp"

namespace bobbin::detail {

#if defined(__GNUC__) && !defined(__clang__) && (BOBBIN_ASAN || BOBBIN_TSAN)
inline constexpr bool trampolined_transfer = true;
#else
inline constexpr bool trampolined_transfer = false;
#endif

inline void resume_now(std::coroutine_handle<> h) {
  if constexpr (!trampolined_transfer) {
    h.resume();
  } else {
    coro_trampoline_state& t = coro_trampoline();
    const coro_trampoline_state outer = t;
    t = {nullptr, true};
    do {
      h.resume();
      h = std::exchange(t.next, nullptr);
    } while (h);
    t = outer;
  }
}

BOBBIN_ALWAYS_INLINE inline std::coroutine_handle<> transfer_to(std::coroutine_handle<> h) noexcept {
  if constexpr (!trampolined_transfer) {
    return h;
  } else {
    coro_trampoline_state& t = coro_trampoline();
    if (t.active) {
      t.next = h;
    } else {
      resume_now(h);
    }
    return std::noop_coroutine();
  }
}

}  // namespace bobbin::detail
