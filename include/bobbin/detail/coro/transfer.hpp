#pragma once
// detail::transfer_to(h) and detail::resume_now(h): symmetric transfer, and the one way
// bobbin resumes a coroutine, in every build.
//
// A chain of awaits (a million sequential co_awaits, a fork-join tree's joins) uses no
// stack only if `return h;` from await_suspend is a tail call. clang makes it one in
// every build; g++ 12 only with -O2 or more (-foptimize-sibling-calls) and without
// -fsanitize=address or thread: elsewhere a long chain overflows the stack. In those
// builds (trampolined_transfer) a transfer parks h in the thread's trampoline
// (thread_state.hpp) and returns to the loop in resume_now(), which resumes it: the stack
// stays flat, at some 30 instructions per fork-join (callgrind, fib). g++ cannot tell -O1
// from -O2 by macro: at -O1 define BOBBIN_COROUTINE_TRAMPOLINE=1 (or add
// -foptimize-sibling-calls); the macro, 0 or 1, overrides the choice in any build. A
// transfer outside any loop (a foreign coroutine awaiting a bobbin task) runs its own
// loop. Elsewhere both are the plain operations.
//
// Contract: calling thread only; resume_now() may nest (a coroutine that blocks in
// future::get() helps, and the task it runs may resume another coroutine): each loop
// saves and restores the trampoline of the loop it runs in.

#include <coroutine>
#include <utility>

#include "../config.hpp"
#include "../thread_state.hpp"

namespace bobbin::detail {

#if defined(BOBBIN_COROUTINE_TRAMPOLINE)
inline constexpr bool trampolined_transfer = BOBBIN_COROUTINE_TRAMPOLINE != 0;
#elif defined(__GNUC__) && !defined(__clang__) && (BOBBIN_ASAN || BOBBIN_TSAN || !defined(__OPTIMIZE__))
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
