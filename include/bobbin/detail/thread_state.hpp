#pragma once
// Everything bobbin keeps per thread, in one place: each thread_local of the library is
// defined here and nowhere else, behind an accessor that returns a reference to it.
//
// Contract: each accessor touches only the calling thread's copy, so none needs
// synchronisation; what a copy points to has its own contract (a pool's thread record
// belongs to that pool). Constant-initialised where possible, so an access costs no TLS
// guard check. The library's parts that read each one:
//
//   this_thread_token      task_group: is the caller the group's owner thread?
//   current_pool_thread    pools, futures, task groups: the pool thread the caller is, if any
//   before_publish         pools (least_busy), futures, task groups: the end-of-task hook
//   this_thread_parker     futures, task groups, pool::wait_idle: a parked outside thread
//   free_blocks<Size>      future states: the per-thread block cache
//   free_frames            coroutine frames (bobbin::task): the per-thread frame cache
//   coro_trampoline        coroutines, in builds whose compiler cannot tail-call a
//                          symmetric transfer (detail/coro/transfer.hpp)
//   current_worker_id      worker.hpp: the dedicated (Node-style) worker the caller is
//   current_dispatcher     worker.hpp: the worker whose message dispatcher the caller is
//   current_monitor        supervisor.hpp: the supervisor whose monitor the caller is

#include <coroutine>
#include <cstddef>
#include <cstdint>
#include <new>
#include <utility>

#include "config.hpp"
#include "sync/parker.hpp"

namespace bobbin::detail {

struct scheduler;
struct pool_thread;

// An address unique to the calling thread.
inline const void* this_thread_token() noexcept {
  thread_local const char token = 0;
  return &token;
}

// The pool thread the caller is: its record (see detail/task/scheduler.hpp) and the pool
// that runs it, or both nullptr off the pools' threads. Set by a pool thread for its life.
struct pool_thread_binding {
  pool_thread* thread = nullptr;
  const scheduler* pool = nullptr;
};
inline pool_thread_binding& current_pool_thread() noexcept {
  thread_local constinit pool_thread_binding b;
  return b;
}

// Called by a task just before it publishes its result (a future's value, a group's
// count), so that what the pool does at the end of a task (least_busy drops the worker's
// load) happens before whoever waits for the result can submit again. The pool installs
// it around each task it runs; a task runs it at most once; nested tasks (helping) save
// and restore it.
struct before_publish_hook {
  void (*fn)(void* ctx, std::size_t arg) noexcept = nullptr;
  void* ctx = nullptr;
  std::size_t arg = 0;
};
inline before_publish_hook& before_publish() noexcept {
  thread_local constinit before_publish_hook h;
  return h;
}
inline void run_before_publish() noexcept {
  before_publish_hook& h = before_publish();
  if (h.fn != nullptr) std::exchange(h.fn, nullptr)(h.ctx, h.arg);
}

// The calling thread's parker, for waits off the pools' threads (pool threads park on
// their own, in their pool's thread record).
inline parker& this_thread_parker() noexcept {
  thread_local parker p;
  return p;
}

// A thread's free blocks of one size (detail/future/block_cache.hpp): a singly linked list
// through the blocks themselves, freed when the thread exits.
struct free_block_list {
  struct node {
    node* next;
  };
  node* head = nullptr;
  std::size_t count = 0;
  free_block_list() = default;
  free_block_list(const free_block_list&) = delete;
  free_block_list& operator=(const free_block_list&) = delete;
  ~free_block_list() {
    while (head != nullptr) ::operator delete(std::exchange(head, head->next));
  }
};
template <std::size_t Size>
free_block_list& free_blocks() noexcept {
  thread_local free_block_list l;
  return l;
}

// A thread's free coroutine frames (detail/coro/frame_cache.hpp), one list per size class.
// Reached through a constant-initialised pointer, so that the allocation path of every
// coroutine frame costs no TLS guard check; the lists themselves are made on the thread's
// first frame and freed when it exits, after which the pointer says `gone` (a frame freed
// later, by another thread_local's destructor, goes straight to the heap).
struct free_frame_lists {
  static constexpr std::size_t classes = 16;
  free_block_list by_class[classes];
};
inline free_frame_lists*& free_frames_pointer() noexcept {
  thread_local constinit free_frame_lists* p = nullptr;
  return p;
}
inline free_frame_lists* const free_frames_gone = reinterpret_cast<free_frame_lists*>(alignof(free_frame_lists));
BOBBIN_NOINLINE inline free_frame_lists* make_free_frames() noexcept {
  struct owner {
    free_frame_lists lists;
    owner() noexcept { free_frames_pointer() = &lists; }
    ~owner() { free_frames_pointer() = free_frames_gone; }
  };
  thread_local owner o;
  return free_frames_pointer();
}
// The calling thread's lists, or nullptr once they are gone.
inline free_frame_lists* free_frames() noexcept {
  free_frame_lists* p = free_frames_pointer();
  // One comparison on the common path: nullptr (not made yet) and `gone` are both below.
  if (reinterpret_cast<std::uintptr_t>(p) > reinterpret_cast<std::uintptr_t>(free_frames_gone)) [[likely]]
    return p;
  if (p == free_frames_gone) return nullptr;
  return make_free_frames();
}

// detail/coro/transfer.hpp: the coroutine to resume next on this thread's trampoline, and
// whether a trampoline loop is running on it.
struct coro_trampoline_state {
  std::coroutine_handle<> next;
  bool active = false;
};
inline coro_trampoline_state& coro_trampoline() noexcept {
  thread_local constinit coro_trampoline_state t;
  return t;
}

// worker.hpp: the id of the dedicated worker whose thread the caller is (0: none).
inline std::uint64_t& current_worker_id() noexcept {
  thread_local constinit std::uint64_t id = 0;
  return id;
}

// worker.hpp: which worker's message dispatcher the caller is (identity only, never
// dereferenced).
inline const void*& current_dispatcher() noexcept {
  thread_local constinit const void* owner = nullptr;
  return owner;
}

// supervisor.hpp: which supervisor's monitor thread the caller is (identity only).
inline const void*& current_monitor() noexcept {
  thread_local constinit const void* s = nullptr;
  return s;
}

}  // namespace bobbin::detail
