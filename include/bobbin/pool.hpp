#pragma once
// bobbin::pool<Policy>: a pool of worker threads with a task queue and futures.
//
// Contract:
// - submit/post/try_submit/try_post, stats(), size() may be called from any thread,
//   including the pool's own workers (nested fork-join). wait_idle/shutdown/shutdown_now
//   may be called from any thread but a worker of the same pool (std::logic_error: it
//   would wait for itself).
// - Every accepted task runs exactly once, or, after shutdown_now() or future::cancel(),
//   is cancelled exactly once (its future throws task_cancelled). Nothing accepted is lost,
//   including by the destructor, which behaves like shutdown(); on one of the pool's own
//   workers (a task deletes its pool) it returns at once and the threads finish every
//   accepted task on their own (the handle/core split: ~pool, pool_core::orphan).
// - pool_options::threads above 65536 (what -1 becomes) is refused: std::invalid_argument.
// - Tasks submitted by the pool's own workers are accepted until the pool has stopped
//   (so a fork-join computation in flight completes during shutdown()) and never wait for
//   queue_capacity; tasks from other threads are refused with pool_closed once shutdown
//   has begun, and wait (submit/post) or are refused (try_*) while the queue is full.
//
// How:
// - One worker loop (work()) for every policy. The policy (policy/*.hpp) decides where a
//   task goes and which task a worker takes next; the pool owns the threads, the counters,
//   sleeping and waking, capacity and shutdown.
// - Wake-ups (after Go's and Tokio's schedulers): `searching_` counts workers that are
//   awake and looking for work; `sleepers_` those parked on the idle stack. Whoever makes
//   work available issues a fence and, if any worker may take it, wakes one sleeper only
//   if nobody is searching; the woken worker counts as searching from the moment it is
//   chosen, so a burst of submissions wakes one worker, not one per task. A searcher that
//   finds work and was the last one wakes the next sleeper, so parallelism ramps up. If
//   the policy gives the task to one worker, that worker is woken if it sleeps. A worker
//   about to sleep pushes itself on the idle stack, stops searching (seq_cst RMWs),
//   fences, then asks the policy once more for work: with the producer's fence this is
//   the Dekker pattern, so either the producer sees the sleeper or the sleeper sees the
//   work. A sleeper whose last look finds work searches again (counted) before it takes
//   it: a producer that saw it searching woke nobody, so it owes the "last searcher wakes
//   the next" step for what it leaves behind. No lost wake-ups, and an idle pool sleeps in
//   futex_wait. The fences are asymmetric (detail/sync/asymmetric_fence.hpp): the producer's,
//   paid per task, is a compiler barrier; the sleeper's, paid per sleep, is a membarrier()
//   system call.
// - Helping: a worker that waits (future::get, task_group::wait) runs other tasks
//   meanwhile, so recursive fork-join never deadlocks. Every task carries its fork-join
//   depth (0 from outside, its parent's + 1 from a task). While less than half of a
//   worker's stack is in use, its waits may run any task (so tasks may wait for unrelated
//   ones queued behind them, thousands deep, on a single-thread pool); past that, only
//   tasks deeper than the one they wait in (detail/pool/stack_budget.hpp). That bounds the
//   stack (a helper taking the oldest task of a shared queue would otherwise nest without
//   end) and cannot deadlock a fork-join computation: with
//   depths rising along every chain of waits, no chain can close into a cycle (the rule
//   of the early TBB scheduler). A wait first runs the newest tasks of its worker's own
//   queue, if the policy has one (take_newest: in fork-join, the waiter's own children),
//   under the same rule, from the waiter's own frame and straight from the deque slot
//   (one call frame and one 64-byte copy less per level of recursion), and enters the
//   full worker loop only if it is still not done.
// - wait_idle() compares per-worker single-writer counters: the sum of finished tasks,
//   read first (acquire), equals the sum of submitted ones, read second. A task is counted
//   as submitted before it is visible and as finished after it ran, so equality means
//   every task accepted before the call has finished (see balanced()). An outside
//   submission is counted (one seq_cst RMW) before it checks `closed_`; shutdown sets
//   `closed_` (seq_cst) before it waits for balance, so a submission is either refused or
//   waited for.
// - queue_capacity (opt-in) is a count of queued outside tasks under a mutex: taken before
//   a task is built (so a refused try_* moves nothing), given back when a worker takes
//   the task off the policy's queue.

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <cstdio>
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

#include "detail/sync/asymmetric_fence.hpp"
#include "detail/config.hpp"
#include "detail/task/block_on.hpp"
#include "detail/sync/parker.hpp"
#include "detail/pool/stack_budget.hpp"
#include "detail/task/task.hpp"
#include "detail/thread_name.hpp"
#include "errors.hpp"
#include "future.hpp"
#include "options.hpp"
#include "policies.hpp"

namespace bobbin {

// Statistics can be compiled out (-DBOBBIN_POOL_STATS=0), to measure what they cost:
// then running, stolen, busy time and utilization read 0, and failed/cancelled tasks
// count as completed. The counters wait_idle() needs are always kept.
#ifndef BOBBIN_POOL_STATS
#define BOBBIN_POOL_STATS 1
#endif

struct worker_stats {
  std::uint64_t tasks_run = 0;     // finished on this worker (completed + failed + cancelled)
  std::uint64_t tasks_stolen = 0;  // taken from another worker's queue
  std::chrono::nanoseconds busy_time{0};  // time spent running tasks (idle: searching or asleep)
};

struct pool_stats {
  std::size_t threads = 0;
  std::uint64_t queued = 0;     // accepted, not yet started
  std::uint64_t running = 0;    // started, not finished
  std::uint64_t submitted = 0;  // accepted in all
  std::uint64_t completed = 0;  // ran and returned
  std::uint64_t failed = 0;     // ran and threw
  std::uint64_t cancelled = 0;  // never ran (future::cancel, shutdown_now)
  std::uint64_t stolen = 0;
  std::vector<worker_stats> workers;
  std::chrono::steady_clock::time_point taken_at{};  // when this snapshot was taken
  std::chrono::nanoseconds alive_time{0};            // since the pool started

  std::chrono::nanoseconds busy_time() const noexcept {
    std::chrono::nanoseconds b{0};
    for (const auto& w : workers) b += w.busy_time;
    return b;
  }

  // Like Node's performance.eventLoopUtilization(): the share of the workers' time spent
  // running tasks, 0 to 1, since the pool started.
  double utilization() const noexcept {
    const double capacity = static_cast<double>(alive_time.count()) * static_cast<double>(threads);
    return capacity > 0 ? static_cast<double>(busy_time().count()) / capacity : 0.0;
  }

  // ... and since an earlier snapshot of the same pool (eventLoopUtilization(prev)).
  double utilization(const pool_stats& earlier) const noexcept {
    const double capacity =
        static_cast<double>((alive_time - earlier.alive_time).count()) * static_cast<double>(threads);
    const auto busy = busy_time() - earlier.busy_time();
    return capacity > 0 ? std::clamp(static_cast<double>(busy.count()) / capacity, 0.0, 1.0) : 0.0;
  }
};

class pool_base;
template <policy Policy = work_stealing>
class pool;

namespace this_worker {
std::optional<std::size_t> index() noexcept;
pool_base* pool() noexcept;
}  // namespace this_worker

// What every pool is, whatever its policy: this_worker::pool() returns one.
class pool_base : public detail::scheduler {
 public:
  virtual std::size_t size() const noexcept = 0;

  // Runs fn(args...) detached. From outside the pool, blocks while the queue is at
  // queue_capacity. Throws pool_closed once the pool refuses work.
  template <class F, class... Args>
    requires(!std::is_same_v<std::decay_t<F>, task_options>)
  void post(F&& fn, Args&&... args) {
    post(task_options{}, std::forward<F>(fn), std::forward<Args>(args)...);
  }
  template <class F, class... Args>
  void post(const task_options& o, F&& fn, Args&&... args) {
    if (reserve(true) == admission::closed) throw pool_closed{};
    detail::task t = build_reserved(std::forward<F>(fn), std::forward<Args>(args)...);
    if (!admit(t, o)) throw pool_closed{};
  }

  // Like post(), but returns false instead of waiting when the queue is full, leaving
  // fn and args untouched (not moved from). Throws pool_closed once the pool refuses work.
  template <class F, class... Args>
    requires(!std::is_same_v<std::decay_t<F>, task_options>)
  bool try_post(F&& fn, Args&&... args) {
    return try_post(task_options{}, std::forward<F>(fn), std::forward<Args>(args)...);
  }
  template <class F, class... Args>
  bool try_post(const task_options& o, F&& fn, Args&&... args) {
    const admission a = reserve(false);
    if (a == admission::closed) throw pool_closed{};
    if (a == admission::full) return false;
    detail::task t = build_reserved(std::forward<F>(fn), std::forward<Args>(args)...);
    if (!admit(t, o)) throw pool_closed{};
    return true;
  }

  friend pool_base* this_worker::pool() noexcept;

 protected:
  enum class admission { accepted, full, closed };

  ~pool_base() = default;

  // What this_worker::pool() returns for a worker of this pool: the pool object the user
  // made, or nullptr once it was destroyed (its workers then finish what it accepted).
  virtual pool_base* user_facing() noexcept { return this; }

  // Step 1 of a submission: a thread outside the pool, with a bounded queue, takes a
  // place in it (waiting for one if `block`), so a refused try_* has moved nothing yet.
  virtual admission reserve(bool block) = 0;
  // Step 2: queue t. False (t untouched, the place given back) if the pool closed since.
  virtual bool admit(detail::task& t, const task_options& o) = 0;
  // Gives back the place of step 1 when the task could not be built in between.
  virtual void unreserve() = 0;

  // The task of a post, between steps 1 and 2: if building it throws (std::bad_alloc for
  // a callable that needs the heap, or a copy of fn or args), the place is given back.
  template <class F, class... Args>
  detail::task build_reserved(F&& fn, Args&&... args) {
    try {
      return detail::task(make_detached(std::forward<F>(fn), std::forward<Args>(args)...));
    } catch (...) {
      unreserve();
      throw;
    }
  }

  template <class F, class... Args>
  static auto make_detached(F&& fn, Args&&... args) {
    return [f = std::decay_t<F>(std::forward<F>(fn)), ... a = std::decay_t<Args>(std::forward<Args>(args))]() mutable {
      if constexpr (std::is_invocable_v<std::decay_t<F>&, std::stop_token, std::decay_t<Args>&&...>) {
        std::invoke(f, detail::current_pool_thread().thread->stop_token(), std::move(a)...);
      } else {
        std::invoke(f, std::move(a)...);
      }
    };
  }
};

namespace detail {

// A counter with one writer (its worker) and any number of readers: no RMW needed.
struct single_writer_counter {
  std::atomic<std::uint64_t> v{0};
  void add(std::uint64_t n = 1) noexcept {
    // release: a reader that sees the new count sees what the worker did before it.
    v.store(v.load(std::memory_order_relaxed) + n, std::memory_order_release);
  }
  void sub() noexcept { v.store(v.load(std::memory_order_relaxed) - 1, std::memory_order_release); }
  std::uint64_t get() const noexcept { return v.load(std::memory_order_acquire); }
};

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

// The pool itself: its threads, queues and counters. bobbin::pool (below) is the object a
// user holds; it owns one pool_core, which outlives it when the user's pool is destroyed
// on one of its own workers (see ~pool).
template <policy Policy>
class pool_core final : public pool_base {
  using queues_type = typename Policy::queues;
  template <bobbin::policy>
  friend class bobbin::pool;

 public:
  pool_core(pool_options options, pool_base& face)
      : options_(std::move(options)),
        threads_(checked_thread_count(options_.threads)),
        queues_(threads_, options_),
        face_(&face) {
    detail::asymmetric_fence::init();
    workers_.reserve(threads_);
    for (std::size_t i = 0; i < threads_; ++i) workers_.push_back(std::make_unique<worker>(*this, i));
    idle_stack_.reserve(threads_);
    idle_waiters_.reserve(8);  // a first wait_idle() that sleeps allocates nothing
    try {
      for (auto& w : workers_) w->thread = std::thread([this, wp = w.get()] { thread_main(*wp); });
      if (stall_watch_) {
        monitor_ = std::thread([this] {
          watch_for_stalls();
          if (orphaned_.load(std::memory_order_acquire)) thread_ends();  // may delete *this
        });
      }
    } catch (...) {
      stop_and_join();
      throw;
    }
  }

  pool_core(const pool_core&) = delete;
  pool_core& operator=(const pool_core&) = delete;

  // Like shutdown(): every accepted task runs first. An orphaned core (orphan()) is
  // destroyed by its last thread, with nothing left to run or join.
  ~pool_core() {
    if (!orphaned_.load(std::memory_order_relaxed)) shutdown();
  }

  std::size_t size() const noexcept override { return threads_; }
  std::size_t concurrency() const noexcept override { return threads_; }

  // Runs fn(args...) on the pool; returns its future. If fn takes a std::stop_token first,
  // it gets one, requested by future::cancel() and shutdown_now(). From outside the pool,
  // blocks while the queue is at queue_capacity.
  template <class F, class... Args>
    requires(!std::is_same_v<std::decay_t<F>, task_options>)
  auto submit(F&& fn, Args&&... args) {
    return submit(task_options{}, std::forward<F>(fn), std::forward<Args>(args)...);
  }
  template <class F, class... Args>
  auto submit(const task_options& o, F&& fn, Args&&... args) {
    if (reserve(true) == admission::closed) throw pool_closed{};
    return submit_reserved(o, std::forward<F>(fn), std::forward<Args>(args)...);
  }

  // Like submit(), but returns an empty optional instead of waiting when the queue is
  // full, leaving fn and args untouched (not moved from).
  template <class F, class... Args>
    requires(!std::is_same_v<std::decay_t<F>, task_options>)
  auto try_submit(F&& fn, Args&&... args) {
    return try_submit(task_options{}, std::forward<F>(fn), std::forward<Args>(args)...);
  }
  template <class F, class... Args>
  auto try_submit(const task_options& o, F&& fn, Args&&... args)
      -> std::optional<decltype(submit(o, std::forward<F>(fn), std::forward<Args>(args)...))> {
    const admission a = reserve(false);
    if (a == admission::closed) throw pool_closed{};
    if (a == admission::full) return std::nullopt;
    return submit_reserved(o, std::forward<F>(fn), std::forward<Args>(args)...);
  }

  using pool_base::post;
  using pool_base::try_post;

  // detail::scheduler (task_group, continuations): the worker path without the two
  // virtual steps of a submission from outside.
  bool try_schedule(detail::task& t) override {
    if (worker* w = current_worker_of_this()) [[likely]] {
      push_local(*w, t, task_options{});
      return true;
    }
    return schedule_from_outside(t);
  }

 private:
  BOBBIN_NOINLINE bool schedule_from_outside(detail::task& t) {
    if (reserve(true) == admission::closed) return false;
    return admit(t, task_options{});
  }

 public:
  // Blocks until every task accepted before the call has finished (queues empty, no task
  // running). Sleeps while it waits.
  void wait_idle() {
    if (current_worker_of_this() != nullptr) {
      throw std::logic_error("bobbin: wait_idle() called from a worker of the same pool would wait for itself");
    }
    detail::parker& p = detail::this_thread_parker();
    while (!balanced()) {
      p.reset();
      {
        std::lock_guard lock(idle_waiters_mutex_);
        idle_waiters_.push_back(&p);
        idle_waiter_count_.fetch_add(1, std::memory_order_seq_cst);
      }
      if (!balanced()) p.park();
      bool still_listed;
      {
        std::lock_guard lock(idle_waiters_mutex_);
        auto it = std::find(idle_waiters_.begin(), idle_waiters_.end(), &p);
        still_listed = it != idle_waiters_.end();
        if (still_listed) {
          idle_waiters_.erase(it);
          idle_waiter_count_.fetch_sub(1, std::memory_order_seq_cst);
        }
      }
      if (!still_listed) p.wait_for(detail::wake_done);  // a worker took us off: its unpark may be in flight
    }
  }

  // Stops accepting outside tasks, runs everything queued, joins the workers. Idempotent.
  void shutdown() {
    if (current_worker_of_this() != nullptr) {
      throw std::logic_error("bobbin: shutdown() called from a worker of the same pool would join itself");
    }
    std::lock_guard life(lifecycle_mutex_);
    if (stopped_) return;
    close();
    wait_idle();
    stop_and_join();
  }

  // Stops accepting, cancels every queued task (their futures throw task_cancelled),
  // requests every stop_token, waits for running tasks, joins. Returns how many tasks it
  // cancelled.
  std::size_t shutdown_now() {
    if (current_worker_of_this() != nullptr) {
      throw std::logic_error("bobbin: shutdown_now() called from a worker of the same pool would join itself");
    }
    std::lock_guard life(lifecycle_mutex_);
    if (stopped_) return 0;
    const std::uint64_t before = total_cancelled();
    cancelling_.store(true, std::memory_order_seq_cst);
    close();
    stop_source_.request_stop();
    wait_idle();
    stop_and_join();
    return static_cast<std::size_t>(total_cancelled() - before);
  }

  // A snapshot; never blocks the workers.
  pool_stats stats() const {
    pool_stats s;
    s.threads = workers_.size();
    std::uint64_t running = 0;
    for (const auto& w : workers_) {
      worker_stats ws;
      const std::uint64_t c = w->completed.get(), f = w->failed.get(), x = w->cancelled.get();
      ws.tasks_run = c + f + x;
      ws.tasks_stolen = w->stolen.get();
      s.completed += c;
      s.failed += f;
      s.cancelled += x;
      s.stolen += ws.tasks_stolen;
      running += w->running.load(std::memory_order_acquire);
      s.workers.push_back(ws);
    }
    s.taken_at = std::chrono::steady_clock::now();
    s.alive_time = s.taken_at - started_at_;
#if BOBBIN_POOL_STATS
    const std::int64_t now = std::chrono::duration_cast<std::chrono::nanoseconds>(s.taken_at.time_since_epoch()).count();
    for (std::size_t i = 0; i < workers_.size(); ++i) s.workers[i].busy_time = busy_time_of(*workers_[i], now);
#endif
    s.submitted = external_submitted_.load(std::memory_order_acquire);
    for (const auto& w : workers_) s.submitted += w->submitted.get();
    const std::uint64_t finished = s.completed + s.failed + s.cancelled;
    s.running = running;
    const std::uint64_t open = s.submitted > finished ? s.submitted - finished : 0;
    s.queued = open > running ? open - running : 0;
    return s;
  }

 private:
  pool_base* user_facing() noexcept override { return face_.load(std::memory_order_acquire); }

  bool on_own_worker() const noexcept { return current_worker_of_this() != nullptr; }

  // Whether this is a child process made by fork() after the pool started: its threads
  // exist only in the parent.
  bool forked_away() const noexcept {
#if defined(__unix__) || defined(__APPLE__)
    return ::getpid() != owner_pid_;
#else
    return false;
#endif
  }

  // The user's pool is being destroyed on one of our own workers (see ~pool), which cannot
  // join itself. Stop accepting outside tasks and let the threads go: each ends once every
  // accepted task has finished (work(): orphaned_ and balanced()), and the last one to end
  // deletes the core (thread_ends()). Nothing may touch the core after this call but its
  // own threads and the tasks they run.
  void orphan() noexcept {
    face_.store(nullptr, std::memory_order_release);
    close();
    // Before the stall monitor may end (it reads this after monitor_stop_, under the mutex).
    // seq_cst, as the idle workers' check that reads it: see stop_if_orphaned(). The core
    // cannot be deleted before this returns: the calling thread is one of its workers.
    orphaned_.store(true, std::memory_order_seq_cst);
    for (auto& w : workers_) w->thread.detach();
    if (monitor_.joinable()) {
      {
        std::lock_guard lock(monitor_mutex_);
        monitor_stop_ = true;
      }
      monitor_cv_.notify_all();
      monitor_.detach();
    }
    wake_all_sleepers();  // so that each looks again, and the last one idle stops the pool
  }

  // Called by each thread of the core (workers and the stall monitor) as its last step
  // when the core is orphaned: the last one deletes it.
  void thread_ends() noexcept {
    const std::size_t all = threads_ + (stall_watch_ ? 1 : 0);
    // acq_rel: the last one sees every other thread's last writes before it deletes.
    if (threads_ended_.fetch_add(1, std::memory_order_acq_rel) + 1 == all) delete this;
  }

  // An orphaned core stops once every accepted task has finished. Each worker checks when it
  // finds nothing to run: the one that finishes the last task sees the balance (its own
  // count, then a full fence, then everyone's: of two workers finishing at once, the later
  // check sees both counts).
  void stop_if_orphaned() noexcept {
    if (!orphaned_.load(std::memory_order_seq_cst)) return;
    detail::seq_cst_fence();
    if (!balanced() || stopping_.exchange(true, std::memory_order_seq_cst)) return;
    wake_all_sleepers();
  }

  struct worker final : detail::pool_thread {
    worker(pool_core& p, std::size_t i) : owner_pool(p), idx(i) {}
    worker(const worker&) = delete;
    worker& operator=(const worker&) = delete;

    taken take_newest() override { return owner_pool.take_newest(*this); }
    void task_threw(std::exception_ptr e) noexcept override { owner_pool.report_error(std::move(e)); }
    void finish_newest(taken t, detail::task_outcome outcome) noexcept override {
      owner_pool.finish_newest(*this, t, outcome);
    }
    void help_until(detail::awaitable& a) override { owner_pool.template work<false>(*this, &a); }
    detail::scheduler& owner() noexcept override { return owner_pool; }
    std::size_t index() const noexcept override { return idx; }
    std::stop_token stop_token() const noexcept override { return owner_pool.stop_source_.get_token(); }

    pool_core& owner_pool;
    const std::size_t idx;
    std::thread thread;
    bool in_idle_stack = false;       // guarded by idle_mutex_
    std::atomic<bool> sleeping{false};  // on the idle stack; read by targeted wake-ups
    detail::parker park;
    // Written by this worker only, on their own cache lines.
    alignas(detail::cache_line) detail::single_writer_counter submitted;
    detail::single_writer_counter completed;
    detail::single_writer_counter failed;
    detail::single_writer_counter cancelled;
    detail::single_writer_counter stolen;
    std::atomic<std::uint64_t> running{0};  // nesting depth of tasks running on this worker
    // Busy time, stamped per stretch of work (not per task): busy_since is when the
    // current stretch began (0: idle); busy_ns sums the stretches that ended.
    alignas(detail::cache_line) std::atomic<std::int64_t> busy_since{0};
    detail::single_writer_counter busy_ns;
    bool busy = false;  // this worker only
    std::uint32_t depth = 0;         // depth of the innermost task running here (this worker only)
    std::uintptr_t help_floor = 0;  // see help_min_depth (this worker only)
    // Stall detection (only when stall_after > 0): the outermost task's start (0: none)
    // and a sequence number telling one task from the next.
    alignas(detail::cache_line) std::atomic<std::int64_t> task_started{0};
    std::atomic<std::uint64_t> task_seq{0};
  };

  static std::int64_t now_ns() noexcept {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
        .count();
  }

  // Busy time of w so far, consistent with a stretch that may be ending as we read.
  static std::chrono::nanoseconds busy_time_of(const worker& w, std::int64_t now) noexcept {
    for (;;) {
      const std::int64_t since = w.busy_since.load(std::memory_order_acquire);
      const std::uint64_t done = w.busy_ns.get();
      if (w.busy_since.load(std::memory_order_acquire) != since) continue;  // a stretch began or ended
      const std::int64_t open = since != 0 ? std::max<std::int64_t>(0, now - since) : 0;
      return std::chrono::nanoseconds(static_cast<std::int64_t>(done) + open);
    }
  }

  template <class F, class... Args>
  auto submit_reserved(const task_options& o, F&& fn, Args&&... args) {
    using Fn = std::decay_t<F>;
    static_assert(std::is_invocable_v<Fn&, std::decay_t<Args>&&...> ||
                      std::is_invocable_v<Fn&, std::stop_token, std::decay_t<Args>&&...>,
                  "bobbin::pool::submit: fn cannot be called with these arguments (as rvalues), with or "
                  "without a leading std::stop_token");
    static_assert((std::is_nothrow_destructible_v<Fn> && ... && std::is_nothrow_destructible_v<std::decay_t<Args>>),
                  "bobbin: a task's callable, and everything it captures or is given, must not throw from its "
                  "destructor");
    using R = typename std::conditional_t<std::is_invocable_v<Fn&, std::stop_token, std::decay_t<Args>&&...>,
                                          std::invoke_result<Fn&, std::stop_token, std::decay_t<Args>&&...>,
                                          std::invoke_result<Fn&, std::decay_t<Args>&&...>>::type;
    detail::value_state<R>* s;
    try {
      s = new detail::task_state<R, Fn, std::decay_t<Args>...>(std::forward<F>(fn), std::forward<Args>(args)...);
    } catch (...) {
      unreserve();
      throw;
    }
    detail::task t(detail::state_runner{s});
    bool queued = false;
    try {
      queued = admit(t, o);  // may throw std::bad_alloc, t untouched
    } catch (...) {
      discard_unqueued(t, s);
      throw;
    }
    if (!queued) {
      discard_unqueued(t, s);
      throw pool_closed{};
    }
    return detail_make_future<R>(s);
  }

  // The state of a submission that was never queued goes without its task's cancel hook,
  // which would report a cancellation on this thread (to the task running here, if any).
  static void discard_unqueued(detail::task& t, detail::state_base* s) noexcept {
    t.forget();
    s->release();  // the runner's reference
    s->release();  // and the future's, which was never made: the state goes
  }

  // Whether a submission from the calling thread takes a place in the queue (reserve) and
  // so must give it back if it fails: only outside threads, only with a capacity.
  bool takes_a_place() const noexcept { return options_.queue_capacity != 0 && current_worker_of_this() == nullptr; }

  admission reserve(bool block) override {
    if (!takes_a_place()) return admission::accepted;
    std::unique_lock lock(capacity_mutex_);
    while (outside_queued_ >= options_.queue_capacity) {
      if (closed_.load(std::memory_order_relaxed)) return admission::closed;
      if (!block) return admission::full;
      ++blocked_producers_;
      not_full_.wait(lock);
      --blocked_producers_;
    }
    ++outside_queued_;
    return admission::accepted;
  }

  // A worker's submission took no place: giving one back would free a place some outside
  // task holds, and underflow the count once none is held.
  void unreserve() override {
    if (takes_a_place()) release_place();
  }

  void release_place(std::size_t n = 1) {
    if (options_.queue_capacity == 0 || n == 0) return;
    bool notify;
    {
      std::lock_guard lock(capacity_mutex_);
      outside_queued_ -= n;
      notify = blocked_producers_ != 0;
    }
    if (notify) not_full_.notify_all();
  }

  void push_local(worker& w, detail::task& t, const task_options& o) {
    t.set_depth(w.depth + 1);
    w.submitted.add();  // before the task is visible: see balanced()
    std::size_t target;
    try {
      target = queues_.push(t, o, w.idx);  // may throw std::bad_alloc, t untouched
    } catch (...) {
      w.submitted.sub();
      throw;
    }
    detail::asymmetric_fence::light();  // publish before looking for sleepers (see the top)
    wake(target);
  }

  bool admit(detail::task& t, const task_options& o) override {
    std::size_t target;
    if (worker* w = current_worker_of_this()) {
      push_local(*w, t, o);
      return true;
    } else {
      t.set_depth(0);
      // Counted before it is visible, then checked against closed_ (see the top).
      external_submitted_.fetch_add(1, std::memory_order_seq_cst);
      try {
        if (closed_.load(std::memory_order_seq_cst)) {
          withdraw_outside();
          return false;
        }
        target = queues_.push(t, o, detail::outside);
      } catch (...) {
        withdraw_outside();
        throw;
      }
    }
    detail::asymmetric_fence::light();  // publish before looking for sleepers (see the top)
    wake(target);
    return true;
  }

  // An outside submission counted but not queued after all.
  void withdraw_outside() {
    external_submitted_.fetch_sub(1, std::memory_order_seq_cst);
    release_place();
    if (idle_waiter_count_.load(std::memory_order_seq_cst) != 0) wake_idle_waiters();
  }

  worker* current_worker_of_this() const noexcept {
    const detail::pool_thread_binding& b = detail::current_pool_thread();
    return b.pool == this ? static_cast<worker*>(b.thread) : nullptr;
  }

  void thread_main(worker& w) {
    detail::name_this_thread(options_.name, w.idx);
    detail::current_pool_thread() = {&w, this};
    w.help_floor = detail::help_floor();
    call_hook(options_.on_thread_start, w.idx);
    work<true>(w, nullptr);
    call_hook(options_.on_thread_stop, w.idx);
    detail::current_pool_thread() = {};
    if (orphaned_.load(std::memory_order_acquire)) thread_ends();  // the last step: may delete *this
  }

  void call_hook(const std::function<void(std::size_t)>& hook, std::size_t idx) noexcept {
    if (!hook) return;
    try {
      hook(idx);
    } catch (...) {
      report_error(std::current_exception());
    }
  }


  // The fast path of a wait on worker w (detail::pool_thread::take_newest): the newest
  // task of w's own queue, left in its slot for the waiter to run. In fork-join it is the
  // waiter's own child, and most waits end after one. The depth rule is the loop's (see
  // the top). None while shutdown_now() cancels (the slow path cancels), or if the policy
  // keeps no queue per worker. The bookkeeping is run()'s, split in two.
  using taken = detail::pool_thread::taken;

  // The depth rule (see the top and detail/pool/stack_budget.hpp): a wait on w runs any task
  // while less than half of w's stack is in use, and only tasks deeper than the one it
  // waits in after that.
  BOBBIN_ALWAYS_INLINE static std::uint32_t help_min_depth(const worker& w) noexcept {
    return detail::frame_address() < w.help_floor ? w.depth + 1 : 0;
  }

  BOBBIN_ALWAYS_INLINE taken take_newest(worker& w) {
    if constexpr (requires { queues_.pop_local_in_place(w.idx, std::uint32_t{}); }) {
      static_assert(!counts_running);
      if (cancelling_.load(std::memory_order_relaxed)) return {};
      const detail::task::word* s = queues_.pop_local_in_place(w.idx, help_min_depth(w));
      if (s == nullptr) return {};
      const taken t{s, w.depth};
      task_begins(w, detail::task::depth_of(s));
      return t;
    } else {
      return {};
    }
  }
  BOBBIN_ALWAYS_INLINE void finish_newest(worker& w, taken t, detail::task_outcome outcome) noexcept {
    queues_.finished(w.idx);
    task_ends(w, w.running.load(std::memory_order_relaxed) - 1, t.outer_depth);
    count_outcome(w, outcome);
  }

  // The one worker loop: runs tasks until `a` is done (a helping wait) or, for the
  // thread's own loop (a == nullptr), until the pool stops.
  // Compiled twice: Top for the thread's own loop (a == nullptr), which stamps busy time;
  // the helping loop, where fork-join spends its time, carries no statistics code.
  template <bool Top>
  void work(worker& w, detail::awaitable* a) {
    const std::uint32_t min_depth = a != nullptr ? help_min_depth(w) : 0;
    bool searching = false;
    unsigned spins = 0;
    for (;;) {
      if (a != nullptr && a->done()) break;
      detail::task t;
      if (find_task(w, t, min_depth)) {
        if constexpr (Top && BOBBIN_POOL_STATS) {
          if (!w.busy) {  // a stretch of work begins
            w.busy = true;
            w.busy_since.store(now_ns(), std::memory_order_release);
          }
        }
        if (searching) {
          searching = false;
          // The last searcher found work: if there is more, let another look. (Without the
          // look, one post to an idle pool would wake two workers, and the first would pay
          // for the second's system call before running its task. A task pushed while we
          // look and missed here is not lost: its producer sees no searcher and wakes one,
          // or we take it after this task.)
          if (searching_.fetch_sub(1, std::memory_order_seq_cst) == 1 && queues_.has_work_for(w.idx, 0)) wake_any();
        }
        run(w, t);
        spins = 0;
        continue;
      }
      if constexpr (Top && BOBBIN_POOL_STATS) {
        if (w.busy) {  // the stretch ends: nothing left to run
          w.busy = false;
          w.busy_ns.add(static_cast<std::uint64_t>(now_ns() - w.busy_since.load(std::memory_order_relaxed)));
          w.busy_since.store(0, std::memory_order_release);
        }
      }
      if constexpr (Top) stop_if_orphaned();
      if (a == nullptr && stopping_.load(std::memory_order_acquire)) break;
      if (!searching) {
        searching = true;
        searching_.fetch_add(1, std::memory_order_seq_cst);
      }
      if (spins < spin_rounds) {
        ++spins;
        if (spins < spin_rounds / 2) {
          for (int k = 0; k < 16; ++k) detail::cpu_relax();
        } else {
          std::this_thread::yield();
        }
        continue;
      }
      spins = 0;
      searching = sleep(w, a, min_depth);
    }
    if (searching) stop_searching(w);
  }

  // w stops searching without taking a task. If it was the last searcher, producers that
  // saw it searching woke nobody: pass their work on.
  void stop_searching(worker& w) {
    if (searching_.fetch_sub(1, std::memory_order_seq_cst) == 1 && queues_.has_work_for(w.idx, 0)) wake_any();
  }

  bool find_task(worker& w, detail::task& t, std::uint32_t min_depth) {
    detail::pop_info info;
    const bool found = queues_.pop(w.idx, t, info, min_depth);
    if (info.outside_taken != 0) release_place(info.outside_taken);
#if BOBBIN_POOL_STATS
    if (info.stolen) w.stolen.add();
#endif
    return found;
  }

  // Parks w until new work may exist, `a` completes, or the pool stops. Called while
  // searching; returns whether w is searching on return (a waker chose it).
  bool sleep(worker& w, detail::awaitable* a, std::uint32_t min_depth) {
    if constexpr (requires { queues_.going_idle(w.idx); }) queues_.going_idle(w.idx);
    w.park.reset();
    if (a != nullptr && !a->try_register(&w.park)) {
      stop_searching(w);
      return false;
    }
    {
      std::lock_guard lock(idle_mutex_);
      idle_stack_.push_back(w.idx);
      w.in_idle_stack = true;
      w.sleeping.store(true, std::memory_order_seq_cst);
      sleepers_.fetch_add(1, std::memory_order_seq_cst);
    }
    searching_.fetch_sub(1, std::memory_order_seq_cst);
    if (idle_waiter_count_.load(std::memory_order_seq_cst) != 0) wake_idle_waiters();
    // Pairs with the light() of whoever published work (see the top and
    // detail/sync/asymmetric_fence.hpp); then the last look: sleep only if there is nothing to do.
    detail::asymmetric_fence::heavy();
    const bool work = queues_.has_work_for(w.idx, min_depth);
    const bool nothing = !work && (a != nullptr ? !a->done() : !stopping_.load(std::memory_order_seq_cst));
    if (nothing && min_depth != 0) [[unlikely]] warn_stack_budget(w);
    if (nothing) w.park.park();
    bool chosen;
    {
      std::lock_guard lock(idle_mutex_);
      chosen = !w.in_idle_stack;  // a waker popped us and counted us as searching
      if (w.in_idle_stack) {
        idle_stack_.erase(std::find(idle_stack_.begin(), idle_stack_.end(), w.idx));
        w.in_idle_stack = false;
        sleepers_.fetch_sub(1, std::memory_order_seq_cst);
      }
      w.sleeping.store(false, std::memory_order_relaxed);
    }
    if (work && !chosen) {
      // We stopped searching above, but producers that saw us searching before that woke
      // nobody: search again, so that taking this work passes the wake-up on (work()).
      searching_.fetch_add(1, std::memory_order_seq_cst);
      chosen = true;
    }
    if (a != nullptr && !a->try_unregister(&w.park)) w.park.wait_for(detail::wake_done);
    return chosen;
  }

  // A wait past its stack budget (help_min_depth) is going to sleep while tasks it may not
  // run are queued. Another worker or thread may still finish what it waits for, so this
  // is no certain deadlock; but if none does, the pool hangs. Say so once, on stderr.
  BOBBIN_NOINLINE void warn_stack_budget(worker& w) noexcept {
    if (!queues_.has_work_for(w.idx, 0) || stack_warned_.exchange(true, std::memory_order_relaxed)) return;
    std::fprintf(stderr,
                 "bobbin: worker %zu waits with half its stack in use, so it may run only tasks deeper than "
                 "the one it waits in, and tasks it may not run are queued; if nothing else finishes what "
                 "it waits for, the pool hangs (tasks that wait for unrelated ones, nested thousands deep: "
                 "see docs/pool.md, \"Waiting helps\")\n",
                 w.idx);
  }

  // Called after making work visible and a fence.
  void wake(std::size_t target) {
    if constexpr (queues_type::targeted) {
      if (target != detail::any_worker) return wake_worker(target);
    }
    wake_any();
  }

  // Whether the policy has tasks that any worker may take (see detail/policy/vocabulary.hpp).
  static constexpr bool shares_tasks() {
    if constexpr (requires { queues_type::shared; }) {
      return queues_type::shared;
    } else {
      return !queues_type::targeted;
    }
  }

  // Any worker may take the work: wake one sleeper, unless somebody is already searching.
  // The two loads inline (every spawn pays them), the wake-up out of line.
  BOBBIN_ALWAYS_INLINE void wake_any() {
    if constexpr (!shares_tasks()) return;  // nobody else could take it
    if (searching_.load(std::memory_order_seq_cst) != 0) return;
    if (sleepers_.load(std::memory_order_seq_cst) == 0) return;
    wake_a_sleeper();
  }
  BOBBIN_NOINLINE void wake_a_sleeper() {
    std::lock_guard lock(idle_mutex_);
    if (idle_stack_.empty() || searching_.load(std::memory_order_relaxed) != 0) return;
    unpark_locked(*workers_[idle_stack_.back()]);
    idle_stack_.pop_back();
  }

  // Only worker k may take the work: wake it if it sleeps.
  void wake_worker(std::size_t k) {
    worker& w = *workers_[k];
    if (!w.sleeping.load(std::memory_order_seq_cst)) return;
    std::lock_guard lock(idle_mutex_);
    if (!w.in_idle_stack) return;
    idle_stack_.erase(std::find(idle_stack_.begin(), idle_stack_.end(), k));
    unpark_locked(w);
  }

  // With idle_mutex_ held, for a worker on the idle stack (the caller removes it).
  void unpark_locked(worker& w) noexcept {
    w.in_idle_stack = false;
    sleepers_.fetch_sub(1, std::memory_order_seq_cst);
    searching_.fetch_add(1, std::memory_order_seq_cst);  // on the chosen worker's behalf
    w.park.unpark(detail::wake_work);
  }

  void wake_all_sleepers() noexcept {
    std::lock_guard lock(idle_mutex_);
    for (std::size_t i : idle_stack_) unpark_locked(*workers_[i]);
    idle_stack_.clear();
  }

  void wake_idle_waiters() {
    std::lock_guard lock(idle_waiters_mutex_);
    for (detail::parker* p : idle_waiters_) p->unpark(detail::wake_done);
    idle_waiter_count_.fetch_sub(idle_waiters_.size(), std::memory_order_seq_cst);
    idle_waiters_.clear();
  }

  BOBBIN_ALWAYS_INLINE void run(worker& w, detail::task& t) {
    const std::uint32_t outer_depth = w.depth;
    const std::uint64_t depth = task_begins(w, t.depth());
    // The policy hears that the task ended before its result is published (see
    // detail::before_publish), or after it ran if it publishes nothing.
    [[maybe_unused]] detail::before_publish_hook outer_hook;
    if constexpr (counts_running) {
      detail::before_publish_hook& hook = detail::before_publish();
      outer_hook = hook;
      hook = {&policy_finished, this, w.idx};
    }
    // A future's or a group's runner catches its callable's exception and returns how the
    // task ended; any other task ended ok unless it threw.
    detail::task_outcome outcome;
    if (cancelling_.load(std::memory_order_relaxed)) {
      t.reset();
      outcome = detail::task_outcome::cancelled;
    } else {
      try {
        outcome = t.run();
      } catch (...) {
        outcome = detail::task_outcome::failed;
        report_error(std::current_exception());
      }
    }
    if constexpr (counts_running) {
      detail::run_before_publish();
      detail::before_publish() = outer_hook;
    }
    if constexpr (!counts_running) queues_.finished(w.idx);
    task_ends(w, depth, outer_depth);
    count_outcome(w, outcome);
  }

  // What every task run on worker w does first and last, in run() and in the wait's fast
  // path (take_newest / finish_newest): its depth for the depth rule, w's count of
  // running tasks (also telling helping from outermost), and the stall watch's stamps,
  // for the outermost task only (the running count first: nested runs skip the load of
  // stall_watch_). task_begins returns the count before the task, task_ends restores it.
  BOBBIN_ALWAYS_INLINE std::uint64_t task_begins(worker& w, std::uint32_t task_depth) noexcept {
    w.depth = task_depth;
    const std::uint64_t depth = w.running.load(std::memory_order_relaxed);
    if (depth == 0 && stall_watch_) {
      w.task_seq.store(w.task_seq.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
      w.task_started.store(now_ns(), std::memory_order_release);
    }
    w.running.store(depth + 1, std::memory_order_release);
    return depth;
  }
  BOBBIN_ALWAYS_INLINE void task_ends(worker& w, std::uint64_t depth, std::uint32_t outer_depth) noexcept {
    w.running.store(depth, std::memory_order_release);
    w.depth = outer_depth;
    if (depth == 0 && stall_watch_) w.task_started.store(0, std::memory_order_release);
  }
  BOBBIN_ALWAYS_INLINE static void count_outcome(worker& w, detail::task_outcome outcome) noexcept {
#if BOBBIN_POOL_STATS
    if (outcome == detail::task_outcome::ok) [[likely]] {
      w.completed.add();
    } else if (outcome == detail::task_outcome::failed) {
      w.failed.add();
    } else {
      w.cancelled.add();
    }
#else
    (void)outcome;
    w.completed.add();
#endif
  }

  // Policies that count running tasks (least_busy) must hear of a task's end before its
  // result is published; for the others, finished() is empty and the hook is not set.
  static constexpr bool counts_running = requires { queues_type::counts_running; };
  static void policy_finished(void* self, std::size_t w) noexcept { static_cast<pool_core*>(self)->queues_.finished(w); }

  void report_error(std::exception_ptr e) noexcept {
    if (options_.on_error) {
      try {
        options_.on_error(std::move(e));
      } catch (...) {
        // An on_error that throws has nowhere to report to.
      }
      return;
    }
    if (!error_printed_.exchange(true, std::memory_order_relaxed)) {
      try {
        std::rethrow_exception(e);
      } catch (const std::exception& ex) {
        std::fprintf(stderr, "bobbin: a detached task threw: %s (further errors are only counted)\n", ex.what());
      } catch (...) {
        std::fprintf(stderr, "bobbin: a detached task threw a non-std exception (further errors are only counted)\n");
      }
    }
  }

  // True iff every task accepted so far has finished. Finished counts are read before
  // submitted counts: a task's submission happens before its completion, and a worker's
  // submissions before its own later completions, so if the first sum equals the second
  // then, at the moment between the two reads, nothing accepted was unfinished.
  bool balanced() const noexcept {
    std::uint64_t finished = 0;
    for (const auto& w : workers_) finished += w->completed.get() + w->failed.get() + w->cancelled.get();
    std::uint64_t submitted = external_submitted_.load(std::memory_order_seq_cst);
    for (const auto& w : workers_) submitted += w->submitted.get();
    return finished == submitted;
  }

  std::uint64_t total_cancelled() const noexcept {
    std::uint64_t n = 0;
    for (const auto& w : workers_) n += w->cancelled.get();
    return n;
  }

  void close() {
    closed_.store(true, std::memory_order_seq_cst);
    if (options_.queue_capacity != 0) {
      { std::lock_guard lock(capacity_mutex_); }  // a producer between its check and its wait sees closed_
      not_full_.notify_all();
    }
  }

  void stop_and_join() {
    stopping_.store(true, std::memory_order_seq_cst);
    wake_all_sleepers();
    for (auto& w : workers_) {
      if (w->thread.joinable()) w->thread.join();
    }
    if (monitor_.joinable()) {
      {
        std::lock_guard lock(monitor_mutex_);
        monitor_stop_ = true;
      }
      monitor_cv_.notify_all();
      monitor_.join();
    }
    stopped_ = true;
    // Threads parked in wait_idle() are woken by a worker that goes to sleep; workers that
    // end because the pool stops skip that, so wake them here (balanced() holds now).
    wake_idle_waiters();
  }

  // The stall monitor's thread (only when stall_after > 0): reports each outermost task
  // that has run longer than stall_after, once.
  void watch_for_stalls() {
    const auto period = std::max<std::chrono::nanoseconds>(options_.stall_after / 4, std::chrono::milliseconds(1));
    std::vector<std::uint64_t> reported(workers_.size(), 0);
    std::unique_lock lock(monitor_mutex_);
    while (!monitor_cv_.wait_for(lock, period, [this] { return monitor_stop_; })) {
      const std::int64_t now = now_ns();
      for (std::size_t i = 0; i < workers_.size(); ++i) {
        worker& w = *workers_[i];
        const std::uint64_t seq = w.task_seq.load(std::memory_order_acquire);
        const std::int64_t started = w.task_started.load(std::memory_order_acquire);
        if (started == 0 || seq == reported[i] || w.task_seq.load(std::memory_order_acquire) != seq) continue;
        const std::chrono::nanoseconds elapsed(now - started);
        if (elapsed < options_.stall_after) continue;
        reported[i] = seq;
        if (options_.on_stall) {
          lock.unlock();
          try {
            options_.on_stall(i, elapsed);
          } catch (...) {
            report_error(std::current_exception());
          }
          lock.lock();
        }
      }
    }
  }

  static constexpr unsigned spin_rounds = 128;

  pool_options options_;
  const std::size_t threads_;
  const bool stall_watch_ = options_.stall_after > std::chrono::nanoseconds::zero();
  const std::chrono::steady_clock::time_point started_at_ = std::chrono::steady_clock::now();
  queues_type queues_;
  std::atomic<pool_base*> face_;  // the user's pool; nullptr once orphaned
  std::vector<std::unique_ptr<worker>> workers_;

  alignas(detail::cache_line) std::atomic<std::uint64_t> external_submitted_{0};
  std::atomic<bool> closed_{false};

  std::mutex capacity_mutex_;  // guards outside_queued_ and blocked_producers_
  std::condition_variable not_full_;
  std::size_t outside_queued_ = 0;
  std::size_t blocked_producers_ = 0;

  alignas(detail::cache_line) std::atomic<std::size_t> searching_{0};
  std::atomic<std::size_t> sleepers_{0};
  std::mutex idle_mutex_;
  std::vector<std::size_t> idle_stack_;

  alignas(detail::cache_line) std::atomic<std::size_t> idle_waiter_count_{0};
  std::mutex idle_waiters_mutex_;
  std::vector<detail::parker*> idle_waiters_;

  alignas(detail::cache_line) std::atomic<bool> stopping_{false};
  std::atomic<bool> cancelling_{false};
  std::atomic<bool> error_printed_{false};
  std::atomic<bool> stack_warned_{false};
  std::stop_source stop_source_;
  std::mutex lifecycle_mutex_;
  bool stopped_ = false;  // guarded by lifecycle_mutex_

  std::thread monitor_;  // the stall monitor, if stall_after > 0
  std::mutex monitor_mutex_;
  std::condition_variable monitor_cv_;
  bool monitor_stop_ = false;  // guarded by monitor_mutex_

  // Orphaning (orphan(), thread_ends()): set once, by the user's pool's destructor on a
  // worker; from then on the threads end on their own and the last one deletes the core.
  std::atomic<bool> orphaned_{false};
  std::atomic<std::size_t> threads_ended_{0};

#if defined(__unix__) || defined(__APPLE__)
  const pid_t owner_pid_ = ::getpid();  // see forked_away()
#endif
};

}  // namespace detail

// A pool of worker threads. The object is a handle on its detail::pool_core: every call
// goes straight to it. See the top of this file for the contract.
template <policy Policy>
class pool final : public pool_base {
  using core = detail::pool_core<Policy>;

 public:
  // Throws std::invalid_argument for threads > 65536, std::system_error if a thread cannot
  // start (then the threads already started are joined first).
  explicit pool(pool_options options = {}) : core_(std::make_unique<core>(std::move(options), *this)) {}

  pool(const pool&) = delete;
  pool& operator=(const pool&) = delete;

  // Like shutdown(): every accepted task runs first. On one of the pool's own workers (a
  // task deletes the pool, or holds the last shared_ptr to it, or calls std::exit() while
  // the pool is a static) it cannot wait for itself: it stops accepting outside tasks and
  // returns; the threads finish every accepted task (tasks of the pool may still submit
  // nested ones) and end, and the last to end frees the pool's state. this_worker::pool()
  // returns nullptr on them from then on.
  ~pool() {
    if (core_->forked_away()) {
      // A child made by fork() has none of the pool's threads: there is nothing to wait for
      // or join, and the queued tasks are the parent's. The state is left as it is.
      (void)core_.release();
    } else if (core_->on_own_worker()) {
      core_.release()->orphan();
    } else {
      core_->shutdown();
    }
  }

  std::size_t size() const noexcept override { return core_->size(); }
  std::size_t concurrency() const noexcept override { return core_->concurrency(); }

  // Runs fn(args...) on the pool; returns its bobbin::future. If fn takes a std::stop_token
  // first, it gets one, requested by future::cancel() and shutdown_now(). From outside the
  // pool, blocks while the queue is at queue_capacity. Throws pool_closed once the pool
  // refuses work; whatever building the task throws (its copy, std::bad_alloc).
  template <class F, class... Args>
    requires(!std::is_same_v<std::decay_t<F>, task_options>)
  auto submit(F&& fn, Args&&... args) {
    return core_->submit(task_options{}, std::forward<F>(fn), std::forward<Args>(args)...);
  }
  template <class F, class... Args>
  auto submit(const task_options& o, F&& fn, Args&&... args) {
    return core_->submit(o, std::forward<F>(fn), std::forward<Args>(args)...);
  }

  // Like submit(), but returns an empty optional instead of waiting when the queue is
  // full, leaving fn and args untouched (not moved from).
  template <class F, class... Args>
    requires(!std::is_same_v<std::decay_t<F>, task_options>)
  auto try_submit(F&& fn, Args&&... args) {
    return core_->try_submit(task_options{}, std::forward<F>(fn), std::forward<Args>(args)...);
  }
  template <class F, class... Args>
  auto try_submit(const task_options& o, F&& fn, Args&&... args) {
    return core_->try_submit(o, std::forward<F>(fn), std::forward<Args>(args)...);
  }

  // Runs fn(args...) detached (no future); see pool_base::post and try_post.
  template <class F, class... Args>
    requires(!std::is_same_v<std::decay_t<F>, task_options>)
  void post(F&& fn, Args&&... args) {
    core_->post(task_options{}, std::forward<F>(fn), std::forward<Args>(args)...);
  }
  template <class F, class... Args>
  void post(const task_options& o, F&& fn, Args&&... args) {
    core_->post(o, std::forward<F>(fn), std::forward<Args>(args)...);
  }
  template <class F, class... Args>
    requires(!std::is_same_v<std::decay_t<F>, task_options>)
  bool try_post(F&& fn, Args&&... args) {
    return core_->try_post(task_options{}, std::forward<F>(fn), std::forward<Args>(args)...);
  }
  template <class F, class... Args>
  bool try_post(const task_options& o, F&& fn, Args&&... args) {
    return core_->try_post(o, std::forward<F>(fn), std::forward<Args>(args)...);
  }

  // Blocks until every task accepted before the call has finished; returns at once once
  // the pool has shut down. std::logic_error on a worker of this pool.
  void wait_idle() { core_->wait_idle(); }
  // Stops accepting outside tasks, runs everything queued, joins. Idempotent; any thread
  // but a worker of this pool (std::logic_error).
  void shutdown() { core_->shutdown(); }
  // Stops accepting, cancels what is queued, requests every stop token, waits for running
  // tasks, joins; returns how many tasks it cancelled.
  std::size_t shutdown_now() { return core_->shutdown_now(); }
  // A snapshot; never blocks the workers.
  pool_stats stats() const { return core_->stats(); }

  // detail::scheduler (task_group, continuations).
  bool try_schedule(detail::task& t) override { return core_->try_schedule(t); }

 private:
  admission reserve(bool block) override { return core_->reserve(block); }
  bool admit(detail::task& t, const task_options& o) override { return core_->admit(t, o); }
  void unreserve() override { core_->unreserve(); }

  std::unique_ptr<core> core_;
};

namespace this_worker {

// The calling thread's index in its pool, or nullopt off the pool's threads.
inline std::optional<std::size_t> index() noexcept {
  if (detail::pool_thread* w = detail::current_pool_thread().thread) return w->index();
  return std::nullopt;
}

// The pool the calling thread works for, or nullptr (also once that pool was destroyed
// on one of its own workers, which then finish what it had accepted).
inline pool_base* pool() noexcept {
  if (detail::pool_thread* w = detail::current_pool_thread().thread) return static_cast<pool_base&>(w->owner()).user_facing();
  return nullptr;
}

}  // namespace this_worker

}  // namespace bobbin
