#pragma once
// detail::pool_core<Policy>: the pool itself, its threads, queues and counters. The user
// holds a bobbin::pool (pool.hpp), a handle that owns one pool_core; the core outlives the
// handle when the handle is destroyed on one of the pool's own threads (orphan()).
//
// This file is the table of contents: the class with a one-line contract per member.
// The definitions are below it, in three files:
//   pool_core_submit.hpp  a task comes in: submit, admission, queue_capacity, wake-up
//   pool_core_loop.hpp    the one worker loop: find, run, help, sleep (idle_workers.hpp)
//   pool_core_life.hpp    start, wait_idle, shutdown, orphaning, stats, errors
//
// Memory orders and the invariants they keep are stated where they are used:
// idle_workers.hpp (sleeping and waking), pool_core_life.hpp balanced() (wait_idle), and
// pool_core_submit.hpp admit() (closing). Thread-safety: see pool.hpp's contract.

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <stop_token>
#include <string>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

#if defined(__unix__) || defined(__APPLE__)
#include <unistd.h>
#endif

#include "../../errors.hpp"
#include "../../future.hpp"
#include "../../options.hpp"
#include "../../policies.hpp"
#include "../../pool_base.hpp"
#include "../../pool_stats.hpp"
#include "../config.hpp"
#include "../coro/promise.hpp"
#include "../coro/root.hpp"
#include "../future/task_state.hpp"
#include "../sync/asymmetric_fence.hpp"
#include "../task/scheduler.hpp"
#include "../task/task.hpp"
#include "../thread_name.hpp"
#include "../thread_state.hpp"
#include "idle_waiters.hpp"
#include "idle_workers.hpp"
#include "queue_capacity.hpp"
#include "stack_budget.hpp"
#include "stall_monitor.hpp"
#include "thread_record.hpp"

namespace bobbin {
template <policy Policy>
class pool;
}  // namespace bobbin

namespace bobbin::detail {

// The most threads a pool may have: a larger pool_options::threads (what -1 becomes, say)
// is a mistake, refused with std::invalid_argument before anything is allocated.
inline constexpr std::size_t max_pool_threads = std::size_t{1} << 16;

inline std::size_t checked_thread_count(std::size_t requested) {
  if (requested > max_pool_threads) {
    throw std::invalid_argument("bobbin: pool_options::threads = " + std::to_string(requested) +
                                " is more than a pool may have (65536)");
  }
  return requested != 0 ? requested : std::max(1u, std::thread::hardware_concurrency());
}

template <policy Policy>
class pool_core final : public pool_base {
  using queues_type = typename Policy::queues;
  template <bobbin::policy>
  friend class bobbin::pool;

 public:
  // ---- Life (pool_core_life.hpp) ----
  // Starts the threads (and the stall monitor); on failure joins those started, rethrows.
  pool_core(pool_options options, pool_base& face);
  pool_core(const pool_core&) = delete;
  pool_core& operator=(const pool_core&) = delete;
  // Like shutdown(); an orphaned core is deleted by its last thread instead.
  ~pool_core();

  std::size_t size() const noexcept override { return threads_; }
  std::size_t concurrency() const noexcept override { return threads_; }

  // ---- Submission, any thread (pool_core_submit.hpp) ----
  // fn(args...) on the pool; its future. Blocks at queue_capacity (outside threads only).
  template <class F, class... Args>
  auto submit(const task_options& o, F&& fn, Args&&... args);
  // Like submit(); an empty optional instead of waiting, fn and args untouched.
  template <class F, class... Args>
  auto try_submit(const task_options& o, F&& fn, Args&&... args)
      -> std::optional<decltype(submit(o, std::forward<F>(fn), std::forward<Args>(args)...))>;
  using pool_base::post;
  using pool_base::try_post;
  // detail::scheduler (task groups, continuations): the pool-thread path without the two
  // virtual steps of a submission from outside.
  bool try_schedule(detail::task& t) override;

  // ---- Coroutines, any thread (pool_core_submit.hpp; detail/coro/) ----
  // Queues a resumption of h, counted by nobody (its root is); inline once the pool stops.
  void resume_later(std::coroutine_handle<> h) noexcept override;
  // A coroutine root (detail/coro/root.hpp) ended: count it as one finished task.
  void root_finished(detail::task_outcome outcome) noexcept override;

  // ---- Waiting and stopping, any thread but the pool's own (pool_core_life.hpp) ----
  // Until every task accepted before the call has finished; sleeps meanwhile.
  void wait_idle();
  // Stops accepting outside tasks, runs everything queued, joins. Idempotent.
  void shutdown();
  // Stops accepting, cancels what is queued, requests every stop token, joins; how many
  // tasks it cancelled.
  std::size_t shutdown_now();
  // A snapshot; never blocks the threads.
  pool_stats stats() const;

 private:
  struct worker;  // a thread_record that is also the pool_thread its thread runs as
  using taken = detail::pool_thread::taken;

  // ---- Submission (pool_core_submit.hpp) ----
  BOBBIN_NOINLINE bool schedule_from_outside(detail::task& t);
  template <class F, class... Args>
  auto submit_reserved(const task_options& o, F&& fn, Args&&... args);
  // The state of a submission that was never queued, without its task's cancel hook.
  static void discard_unqueued(detail::task& t, detail::state_base* s) noexcept;
  // Whether the calling thread's submissions take a place (outside threads, with a capacity).
  bool takes_a_place() const noexcept { return capacity_.bounded() && current_worker_of_this() == nullptr; }
  admission reserve(bool block) override;
  void unreserve() override;
  bool admit(detail::task& t, const task_options& o) override;
  // A pool thread's submission: counted (unless a coroutine's resumption), queued, a
  // sleeper woken if needed.
  void push_local(worker& w, detail::task& t, const task_options& o, bool counted = true);
  // A coroutine's fork (pool_thread::spawn / take_back, detail/coro/promise.hpp).
  void spawn(worker& w, std::coroutine_handle<> h) noexcept;
  bool take_back(worker& w, std::coroutine_handle<> h) noexcept;
  // An outside submission counted but not queued after all.
  void withdraw_outside();
  // After making work visible and a fence: wake the one thread that may take it, or any.
  void wake(std::size_t target);
  BOBBIN_ALWAYS_INLINE void wake_any() {
    if constexpr (policy_parts::shares_tasks<queues_type>) idle_.wake_any();
  }

  // ---- The worker loop (pool_core_loop.hpp) ----
  // Runs tasks until `a` is done (a helping wait) or, for the thread's own loop
  // (Top, a == nullptr), until the pool stops.
  template <bool Top>
  void work(worker& w, detail::awaitable* a);
  bool find_task(worker& w, detail::task& t, std::uint32_t min_depth);
  // Parks w until new work may exist, `a` completes or the pool stops; whether w searches.
  bool sleep(worker& w, detail::awaitable* a, std::uint32_t min_depth);
  // w stops searching without a task; the last searcher passes work left on.
  void stop_searching(worker& w);
  BOBBIN_NOINLINE void warn_stack_budget(worker& w) noexcept;
  BOBBIN_ALWAYS_INLINE void run(worker& w, detail::task& t);
  // The fast path of a wait (pool_thread::take_newest / finish_newest).
  BOBBIN_ALWAYS_INLINE taken take_newest(worker& w);
  BOBBIN_ALWAYS_INLINE void finish_newest(worker& w, taken t, detail::task_outcome outcome) noexcept;
  // What every task run on w does first and last.
  BOBBIN_ALWAYS_INLINE std::uint64_t task_begins(worker& w, std::uint32_t task_depth) noexcept;
  BOBBIN_ALWAYS_INLINE void task_ends(worker& w, std::uint64_t depth, std::uint32_t outer_depth) noexcept;
  BOBBIN_ALWAYS_INLINE static void count_outcome(worker& w, detail::task_outcome outcome) noexcept;
  BOBBIN_ALWAYS_INLINE static std::uint32_t help_min_depth(const worker& w) noexcept;
  static void policy_finished(void* self, std::size_t w) noexcept {
    static_cast<pool_core*>(self)->queues_.finished(w);
  }
  static constexpr bool counts_running = policy_parts::counts_running<queues_type>;
  static constexpr unsigned spin_rounds = 128;

  // ---- Life (pool_core_life.hpp) ----
  worker* current_worker_of_this() const noexcept;
  bool on_own_worker() const noexcept { return current_worker_of_this() != nullptr; }
  pool_base* user_facing() noexcept override { return face_.load(std::memory_order_acquire); }
  void thread_main(worker& w);
  void call_hook(const std::function<void(std::size_t)>& hook, std::size_t idx) noexcept;
  void report_error(std::exception_ptr e) noexcept override;
  // True iff every task accepted so far has finished (wait_idle's test).
  bool balanced() const noexcept;
  std::uint64_t total_cancelled() const noexcept;
  void close();
  void stop_and_join();
  // A child made by fork() after the pool started: its threads exist only in the parent.
  bool forked_away() const noexcept;
  // The handle is destroyed on a thread of ours: let the threads finish and end on their own.
  void orphan() noexcept;
  // Each thread's last step once orphaned: the last one deletes the core.
  void thread_ends() noexcept;
  void stop_if_orphaned() noexcept;

  pool_options options_;
  const std::size_t threads_;
  const bool stall_watch_ = options_.stall_after > std::chrono::nanoseconds::zero();
  const std::chrono::steady_clock::time_point started_at_ = std::chrono::steady_clock::now();
  queues_type queues_;
  std::atomic<pool_base*> face_;  // the user's pool; nullptr once orphaned
  std::vector<std::unique_ptr<worker>> workers_;

  alignas(detail::cache_line) std::atomic<std::uint64_t> external_submitted_{0};
  std::atomic<bool> closed_{false};
  // Coroutine roots that ended on a thread not of this pool (root_finished): ok, failed.
  std::atomic<std::uint64_t> foreign_finished_[2] = {0, 0};
  // Calls of resume_later/root_finished from threads not of this pool, still touching it:
  // the coroutine they resume may end, and the pool be destroyed, before they return, so
  // the destructor waits for them (pool_core_submit.hpp).
  std::atomic<std::uint32_t> outside_callers_{0};
  // Its own line: pool threads read the bound after each outside task they take, and the
  // line above is the one every outside submission writes.
  alignas(detail::cache_line) detail::queue_capacity capacity_{options_.queue_capacity};

  detail::idle_workers idle_{threads_};
  detail::idle_waiters idle_waiters_;

  alignas(detail::cache_line) std::atomic<bool> stopping_{false};
  std::atomic<bool> cancelling_{false};
  std::atomic<bool> error_printed_{false};
  std::atomic<bool> stack_warned_{false};
  std::stop_source stop_source_;
  std::mutex lifecycle_mutex_;
  bool stopped_ = false;  // guarded by lifecycle_mutex_

  detail::stall_monitor monitor_;  // running only if stall_after > 0

  // Orphaning (orphan(), thread_ends()): set once, by the handle's destructor on one of our
  // threads; from then on the threads end on their own and the last one deletes the core.
  std::atomic<bool> orphaned_{false};
  std::atomic<std::size_t> threads_ended_{0};

#if defined(__unix__) || defined(__APPLE__)
  const pid_t owner_pid_ = ::getpid();  // see forked_away()
#endif
};

template <policy Policy>
struct pool_core<Policy>::worker final : pool_thread, thread_record {
  worker(pool_core& p, std::size_t i) : thread_record(i), owner_pool(p) {}  // pool_thread first: casts are free

  taken take_newest() override { return owner_pool.take_newest(*this); }
  void task_threw(std::exception_ptr e) noexcept override { owner_pool.report_error(std::move(e)); }
  void finish_newest(taken t, task_outcome outcome) noexcept override { owner_pool.finish_newest(*this, t, outcome); }
  void help_until(awaitable& a) override { owner_pool.template work<false>(*this, &a); }
  scheduler& owner() noexcept override { return owner_pool; }
  std::size_t index() const noexcept override { return idx; }
  std::stop_token stop_token() const noexcept override { return owner_pool.stop_source_.get_token(); }
  void spawn(std::coroutine_handle<> h) noexcept override { owner_pool.spawn(*this, h); }
  bool take_back(std::coroutine_handle<> h) noexcept override { return owner_pool.take_back(*this, h); }

  pool_core& owner_pool;
};

}  // namespace bobbin::detail

#include "pool_core_life.hpp"
#include "pool_core_loop.hpp"
#include "pool_core_submit.hpp"
