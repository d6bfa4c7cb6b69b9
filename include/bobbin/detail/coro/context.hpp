#pragma once
// detail::coro_context: what a suspended bobbin coroutine needs to be resumed correctly —
// where it resumes (a resumer: a pool, or sync_wait's loop) and what stops it (a
// std::stop_token). Every awaitable of bobbin (futures, channels, ports, atomics::
// wait_async, sleep_for, pool::schedule) reads it from the awaiting coroutine's promise
// when it suspends (context_of), so that a wake-up from any thread resumes the coroutine
// where it belongs (resume_from_wait) and a stop request can cancel the wait.
//
// Contract:
// - resumer::resume_later(h) may be called from any thread, never throws and never
//   blocks; h is resumed exactly once, later, on one of the resumer's threads (never
//   inside the call). A pool that has stopped resumes h inline instead (nothing is lost).
// - A coroutine's context is read and written only by the coroutine itself (while it
//   runs, or by an awaiter in await_suspend); an awaiter copies it when it suspends, and
//   the copy stays valid until the coroutine resumes: the stop_token it points to lives
//   in the root of the coroutine's tree (a pool's submit/post, sync_wait, when_any),
//   which outlives every coroutine of the tree.
// - Whoever wakes a suspended coroutine must hold no lock while doing so (the coroutine
//   may run inline, when `where` is nullptr, and take the same lock).
// Ordering: a resumer's queue publishes what the waker wrote before resume_later (its
// push is a release, the pop an acquire); inline resumption is on the waker's thread.

#include <coroutine>
#include <stop_token>
#include <type_traits>

#include "transfer.hpp"

namespace bobbin::detail {

struct resumer {
  virtual void resume_later(std::coroutine_handle<> h) noexcept = 0;

 protected:
  ~resumer() = default;
};

struct coro_context {
  resumer* where = nullptr;               // nullptr: resume inline, on the waker's thread
  const std::stop_token* stop = nullptr;  // nullptr: nothing stops this coroutine

  bool stop_requested() const noexcept { return stop != nullptr && stop->stop_requested(); }
  bool stop_possible() const noexcept { return stop != nullptr && stop->stop_possible(); }
};

// A promise type that carries a coro_context: bobbin::task's, and any user promise that
// provides `detail::coro_context& bobbin_context() noexcept`.
template <class P>
concept has_coro_context = requires(P& p) {
  { p.bobbin_context() } noexcept -> std::same_as<coro_context&>;
};

// The context of the coroutine `h` (a default one, inline and unstoppable, for a
// coroutine of a foreign type).
template <class P>
coro_context context_of(std::coroutine_handle<P> h) noexcept {
  if constexpr (has_coro_context<P>) {
    return h.promise().bobbin_context();
  } else {
    return {};
  }
}

// Resumes a coroutine that waited, where its context says: queued on its resumer, or
// inline here.
inline void resume_from_wait(const coro_context& c, std::coroutine_handle<> h) noexcept {
  if (c.where != nullptr) {
    c.where->resume_later(h);
  } else {
    resume_now(h);
  }
}

}  // namespace bobbin::detail
