#pragma once
// detail::promise_base: what every bobbin::task coroutine carries besides its result —
// its context (where it resumes, what stops it: context.hpp), and its link, which says
// where control goes when it ends:
//   awaiter  a coroutine co_awaits it: resume that one, by symmetric transfer (no stack
//            growth over chains of awaits) when both run in the same place;
//   join     it is a child of when_all: arrive at the join point (below);
//   root     a pool's submit/post or sync_wait started it: tell the root (root.hpp).
// detail::join_point: when_all's fork-join over coroutines, at the speed of task_group.
//
// Fork (when_all's await_suspend, on the parent's thread): children 1..n-1 are queued on
// the parent's pool thread as resumptions (resume_entry, counted by nobody: they belong to
// a root already counted), newest first = child 1; then the thread transfers to child 0.
// Join (each child's final_suspend): a child that ends takes the next sibling back from
// its thread's own queue if it is still there (not stolen: pool_thread::take_back) and
// transfers to it, carrying a credit of how many children ended on this chain; a chain
// that carries all n resumes the parent with no atomic operation (the common case of
// fork-join: nothing was stolen). A chain that cannot take the next sibling back
// subtracts its credit from `pending` (acq_rel: the last one sees every child's result)
// and the one that brings it to zero resumes the parent; the others return to their
// thread's loop. Off the pools (no queue to share: sync_wait's loop, or a foreign
// coroutine) the children run one after the other on the same chain.
//
// Contract: a promise's fields are written by whoever starts or awaits the coroutine,
// before it first runs, and read by the coroutine itself when it ends; a join point lives
// in the parent's frame (the when_all awaiter) until the parent resumes.

#include <atomic>
#include <coroutine>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <type_traits>

#include "../task/scheduler.hpp"
#include "../task/task.hpp"
#include "../thread_state.hpp"
#include "context.hpp"
#include "frame_cache.hpp"
#include "transfer.hpp"

namespace bobbin::detail {

// The task that resumes a suspended coroutine: one word, stored inline in a queue slot.
// It runs even while its pool cancels queued work, so that a coroutine whose stop was
// requested can observe it and unwind (task.hpp, always_runs).
struct resume_entry {
  std::coroutine_handle<> h;
  using bobbin_always_runs = void;
  task_outcome operator()() const {
    resume_now(h);
    return task_outcome::suspended;
  }
};
static_assert(task::stored_inline<resume_entry> && sizeof(resume_entry) == 8);

// The end of a tree of coroutines (root.hpp): told once, from the root coroutine's final
// suspend, that it ended; its promise holds the result, and the root destroys the frame.
struct coro_root {
  virtual void finished() noexcept = 0;

 protected:
  ~coro_root() = default;
};

class promise_base;
struct join_point;

// Queues h to run soon near the calling thread: on its own queue when it is a thread of
// the pool `ctx` names, else on that pool; false if there is nowhere to queue it.
BOBBIN_ALWAYS_INLINE inline bool spawn_near(const coro_context& ctx, std::coroutine_handle<> h) noexcept {
  if (ctx.where == nullptr) return false;
  const pool_thread_binding& b = current_pool_thread();
  if (b.thread != nullptr && static_cast<const resumer*>(b.pool) == ctx.where) {
    b.thread->spawn(h);
  } else {
    ctx.where->resume_later(h);
  }
  return true;
}

BOBBIN_ALWAYS_INLINE inline bool take_back(std::coroutine_handle<> h) noexcept {
  pool_thread* w = current_pool_thread().thread;
  return w != nullptr && w->take_back(h);
}

class promise_base {
 public:
  enum class link_kind : std::uint8_t { none, awaiter, join, root };

  coro_context& bobbin_context() noexcept { return ctx_; }

  std::suspend_always initial_suspend() noexcept { return {}; }
  struct final_awaiter {
    bool await_ready() const noexcept { return false; }
    template <class P>
    BOBBIN_ALWAYS_INLINE std::coroutine_handle<> await_suspend(std::coroutine_handle<P> h) noexcept {
      return transfer_to(static_cast<promise_base&>(h.promise()).on_end());
    }
    void await_resume() const noexcept {}
  };
  final_awaiter final_suspend() noexcept { return {}; }
  void unhandled_exception() noexcept { error_ = std::current_exception(); }

  static void* operator new(std::size_t n) { return frame_cache::allocate(n); }
  static void operator delete(void* p, std::size_t n) noexcept { frame_cache::deallocate(p, n); }

  // Set before the coroutine first runs (see the top).
  BOBBIN_ALWAYS_INLINE void await_by(std::coroutine_handle<> parent, const coro_context& parent_ctx) noexcept {
    ctx_ = parent_ctx;
    kind_ = link_kind::awaiter;
    link_ = parent.address();
    link_where_ = parent_ctx.where;
  }
  BOBBIN_ALWAYS_INLINE void join_as(join_point* j, const coro_context& parent_ctx, std::uint32_t index) noexcept {
    ctx_ = parent_ctx;
    kind_ = link_kind::join;
    link_ = j;
    index_ = index;
    carried_ = 0;
  }
  void root_at(coro_root* r, const coro_context& ctx) noexcept {
    ctx_ = ctx;
    kind_ = link_kind::root;
    link_ = r;
  }

  bool failed() const noexcept { return static_cast<bool>(error_); }
  std::exception_ptr take_error() noexcept { return std::move(error_); }
  void rethrow_if_failed() {
    if (error_) std::rethrow_exception(std::move(error_));
  }

 private:
  friend struct join_point;
  BOBBIN_ALWAYS_INLINE inline std::coroutine_handle<> on_end() noexcept;

  // Left uninitialised here: whoever starts the coroutine sets what on_end() reads for its
  // kind of link (await_by, join_as, root_at), before it first runs.
  coro_context ctx_;
  void* link_;           // the awaiter's frame, a join_point, or a coro_root
  resumer* link_where_;  // awaiter: where the awaiter runs
  link_kind kind_;
  std::uint32_t index_;    // join: which child
  std::uint32_t carried_;  // join: children that ended on the chain that runs this one
  std::exception_ptr error_;
};

// A child of a join: its handle, to resume it, and its promise, to link it.
struct child_ref {
  std::coroutine_handle<> h;
  promise_base* p;
};

// A bobbin coroutine type (bobbin::task<T>): what pool.submit/post recognise as a
// coroutine function's result, and its value type.
template <class R>
concept coroutine_task = requires {
  typename R::promise_type;
  typename R::value_type;
} && std::is_base_of_v<promise_base, typename R::promise_type>;
// A callable that makes one (pool.post(coro_fn, args...)).
// Called as the pool calls it (coro_state, root.hpp): with the stored arguments as lvalues
// if it takes them so, else as rvalues.
template <class F, class... Args>
concept returns_coroutine_task =
    (std::is_invocable_v<F&, Args&...> && coroutine_task<std::invoke_result_t<F&, Args&...>>) ||
    (!std::is_invocable_v<F&, Args&...> && std::is_invocable_v<F&, Args&&...> &&
     coroutine_task<std::invoke_result_t<F&, Args&&...>>);
template <class R>
struct task_value_of {
  using type = typename R::value_type;
};

struct join_point {
  std::atomic<std::uint32_t> pending;
  std::uint32_t n;
  bool sequential = false;  // nowhere to queue children: they run one after another
  std::coroutine_handle<> parent;
  resumer* parent_where;
  const child_ref* children;  // n of them, in order
  // Called as each child ends, before anything else (when_any picks its winner); may be
  // null. `owner` is its argument.
  void (*on_child_end)(void* owner, std::uint32_t index) noexcept = nullptr;
  void* owner = nullptr;

  // Starts the children from the parent's await_suspend; returns the one to run now.
  // `ctx` is the children's context (the parent's, or when_any's with its own stop).
  // N: the number of children when known at compile time (when_all over arguments: the
  // loops unroll), 0 when only `n` says (a range).
  template <std::uint32_t N = 0>
  BOBBIN_ALWAYS_INLINE std::coroutine_handle<> fork(std::coroutine_handle<> par, resumer* par_where,
                                                    const coro_context& ctx) noexcept {
    const std::uint32_t count = N != 0 ? N : n;
    parent = par;
    parent_where = par_where;
    pending.store(count, std::memory_order_relaxed);  // published by the queue's push (release)
    if constexpr (N != 0) {
      [&]<std::uint32_t... i>(std::integer_sequence<std::uint32_t, i...>) BOBBIN_ALWAYS_INLINE {
        (children[i].p->join_as(this, ctx, i), ...);
      }(std::make_integer_sequence<std::uint32_t, N>{});
    } else {
      for (std::uint32_t i = 0; i < count; ++i) children[i].p->join_as(this, ctx, i);
    }
    if (count > 1 && ctx.where != nullptr) {
      if constexpr (N != 0) {
        // Newest first = child 1: spawn N-1, ..., 1.
        [&]<std::uint32_t... k>(std::integer_sequence<std::uint32_t, k...>) BOBBIN_ALWAYS_INLINE {
          ((void)spawn_near(ctx, children[N - 1 - k].h), ...);
        }(std::make_integer_sequence<std::uint32_t, N - 1>{});
      } else {
        for (std::uint32_t i = count - 1; i >= 1; --i) (void)spawn_near(ctx, children[i].h);
      }
    } else {
      sequential = true;
    }
    return children[0].h;
  }

  BOBBIN_ALWAYS_INLINE std::coroutine_handle<> arrive(promise_base& child) noexcept {
    if (on_child_end != nullptr) on_child_end(owner, child.index_);
    const std::uint32_t credit = child.carried_ + 1;
    const std::uint32_t next = child.index_ + 1;
    if (next < n) {
      const child_ref sibling = children[next];
      if (sequential || take_back(sibling.h)) {
        sibling.p->carried_ = credit;
        return sibling.h;
      }
    }
    // All n ended on this chain: nobody else touched the count.
    if (credit == n || pending.fetch_sub(credit, std::memory_order_acq_rel) == credit) {
      return resume_parent(child.ctx_.where);
    }
    return std::noop_coroutine();
  }

  std::coroutine_handle<> resume_parent(resumer* here) const noexcept {
    if (here == parent_where || parent_where == nullptr) return parent;
    parent_where->resume_later(parent);  // a child moved elsewhere: back where the parent runs
    return std::noop_coroutine();
  }
};

BOBBIN_ALWAYS_INLINE inline std::coroutine_handle<> promise_base::on_end() noexcept {
  switch (kind_) {
    case link_kind::awaiter: {
      const auto awaiter = std::coroutine_handle<>::from_address(link_);
      if (link_where_ == ctx_.where || link_where_ == nullptr) return awaiter;
      link_where_->resume_later(awaiter);
      return std::noop_coroutine();
    }
    case link_kind::join: return static_cast<join_point*>(link_)->arrive(*this);
    case link_kind::root: static_cast<coro_root*>(link_)->finished(); return std::noop_coroutine();
    default: return std::noop_coroutine();
  }
}

}  // namespace bobbin::detail
