#pragma once
// bobbin::pool<Policy>: a pool of worker threads with a task queue and futures.
//
// Contract:
// - submit/post/try_schedule, stats(), size() may be called from any thread, including
//   the pool's own workers (nested fork-join). wait_idle/shutdown/shutdown_now may be
//   called from any thread but a worker of the same pool (std::logic_error: it would wait
//   for itself).
// - Every accepted task runs exactly once, or, after shutdown_now() or future::cancel(),
//   is cancelled exactly once (its future throws task_cancelled). Nothing accepted is lost,
//   including by the destructor, which behaves like shutdown().
// - Tasks submitted by the pool's own workers are accepted until the pool has stopped
//   (so a fork-join computation in flight completes during shutdown()); tasks from other
//   threads are refused with pool_closed once shutdown has begun.
//
// How (work_stealing):
// - Each worker owns a Chase-Lev deque (detail/deque.hpp). Its own submissions go there;
//   outside submissions go to one mutex-protected injection ring, from which a worker
//   takes a batch into its deque (one lock per batch, not per task).
// - Wake-ups (after Go's and Tokio's schedulers): `searching_` counts workers that are
//   awake and looking for work; `sleepers_` those parked on the idle stack. Whoever makes
//   work available issues a fence and wakes one sleeper only if nobody is
//   searching; the woken worker counts as searching from the moment it is chosen, so a
//   burst of submissions wakes one worker, not one per task. A searcher that finds work
//   and was the last one wakes the next sleeper, so parallelism ramps up. A worker about
//   to sleep pushes itself on the idle stack, stops searching (seq_cst RMWs), fences, then
//   looks at every queue once more: with the producer's fence this is the Dekker pattern,
//   so either the producer sees the sleeper or the sleeper sees the work. No lost
//   wake-ups, and an idle pool sleeps in futex_wait. The fences are asymmetric
//   (detail/asymmetric_fence.hpp): the producer's, paid per task, is a compiler barrier;
//   the sleeper's, paid per sleep, is a membarrier() system call.
// - wait_idle() compares per-worker single-writer counters: the sum of finished tasks,
//   read first (acquire), equals the sum of submitted ones, read second. A task is counted
//   as submitted before it is visible and as finished after it ran, so equality means
//   every task accepted before the call has finished (see balanced()).

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

#if defined(__linux__)
#include <pthread.h>
#endif

#include "detail/asymmetric_fence.hpp"
#include "detail/config.hpp"
#include "detail/deque.hpp"
#include "detail/hooks.hpp"
#include "detail/parker.hpp"
#include "detail/task.hpp"
#include "errors.hpp"
#include "future.hpp"
#include "policies.hpp"

namespace bobbin {

struct pool_options {
  std::size_t threads = 0;         // 0: std::thread::hardware_concurrency()
  std::size_t queue_capacity = 0;  // outside submissions queued at most; 0: unbounded
  std::string name = "bobbin";     // threads are named name-0, name-1, ...
  std::function<void(std::size_t)> on_thread_start = {};  // called on each worker, with its index
  std::function<void(std::size_t)> on_thread_stop = {};
  // An exception escaping a detached (post) task. Default: counted in stats().failed and
  // the first one printed to stderr.
  std::function<void(std::exception_ptr)> on_error = {};
};

struct task_options {
  int priority = 0;  // used by the priority policy; higher runs first
};

struct worker_stats {
  std::uint64_t tasks_run = 0;     // finished on this worker (completed + failed + cancelled)
  std::uint64_t tasks_stolen = 0;  // taken from another worker's deque
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
};

// What every pool is, whatever its policy: this_worker::pool() returns one.
class pool_base : public detail::scheduler {
 public:
  virtual std::size_t size() const noexcept = 0;

  // Runs fn(args...) detached. Throws pool_closed once the pool refuses work.
  template <class F, class... Args>
    requires(!std::is_same_v<std::decay_t<F>, task_options>)
  void post(F&& fn, Args&&... args) {
    detail::task t(make_detached(std::forward<F>(fn), std::forward<Args>(args)...));
    if (!try_schedule(t)) throw pool_closed{};
  }

 protected:
  ~pool_base() = default;

  template <class F, class... Args>
  static auto make_detached(F&& fn, Args&&... args) {
    return [f = std::decay_t<F>(std::forward<F>(fn)), ... a = std::decay_t<Args>(std::forward<Args>(args))]() mutable {
      if constexpr (std::is_invocable_v<std::decay_t<F>&, std::stop_token, std::decay_t<Args>&&...>) {
        std::invoke(f, detail::current_worker()->stop_token(), std::move(a)...);
      } else {
        std::invoke(f, std::move(a)...);
      }
    };
  }
};

namespace detail {

// The outside-submission queue: a growable ring of tasks, guarded by the pool's mutex.
class injection_ring {
 public:
  injection_ring() : buf_(1024) {}
  std::size_t size() const noexcept { return count_; }
  void push(task& t) {
    if (count_ == buf_.size()) grow();
    buf_[(head_ + count_) & (buf_.size() - 1)] = t.release();
    ++count_;
  }
  task pop() noexcept {
    task t = task::adopt(buf_[head_]);
    head_ = (head_ + 1) & (buf_.size() - 1);
    --count_;
    return t;
  }
  ~injection_ring() {
    while (count_ > 0) pop();  // cancels what was never run
  }

 private:
  void grow() {
    std::vector<task::raw> bigger(buf_.size() * 2);
    for (std::size_t i = 0; i < count_; ++i) bigger[i] = buf_[(head_ + i) & (buf_.size() - 1)];
    buf_.swap(bigger);
    head_ = 0;
  }
  std::vector<task::raw> buf_;
  std::size_t head_ = 0;
  std::size_t count_ = 0;
};

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

}  // namespace detail

template <policy Policy = work_stealing>
class pool final : public pool_base {
 public:
  explicit pool(pool_options options = {}) : options_(std::move(options)) {
    detail::asymmetric_fence::init();
    std::size_t n = options_.threads != 0 ? options_.threads : std::thread::hardware_concurrency();
    if (n == 0) n = 1;
    workers_.reserve(n);
    for (std::size_t i = 0; i < n; ++i) workers_.push_back(std::make_unique<worker>(*this, i));
    idle_stack_.reserve(n);
    try {
      for (auto& w : workers_) w->thread = std::thread([this, wp = w.get()] { thread_main(*wp); });
    } catch (...) {
      stop_and_join();
      throw;
    }
  }

  pool(const pool&) = delete;
  pool& operator=(const pool&) = delete;

  // Like shutdown(): every accepted task runs first.
  ~pool() { shutdown(); }

  std::size_t size() const noexcept override { return workers_.size(); }
  std::size_t concurrency() const noexcept override { return workers_.size(); }

  // Runs fn(args...) on the pool; returns its future. If fn takes a std::stop_token first,
  // it gets one, requested by future::cancel() and shutdown_now().
  template <class F, class... Args>
    requires std::is_invocable_v<std::decay_t<F>&, std::decay_t<Args>&&...> ||
             std::is_invocable_v<std::decay_t<F>&, std::stop_token, std::decay_t<Args>&&...>
  auto submit(F&& fn, Args&&... args) {
    return submit(task_options{}, std::forward<F>(fn), std::forward<Args>(args)...);
  }

  template <class F, class... Args>
    requires std::is_invocable_v<std::decay_t<F>&, std::decay_t<Args>&&...> ||
             std::is_invocable_v<std::decay_t<F>&, std::stop_token, std::decay_t<Args>&&...>
  auto submit(task_options, F&& fn, Args&&... args) {
    using Fn = std::decay_t<F>;
    using R = typename std::conditional_t<std::is_invocable_v<Fn&, std::stop_token, std::decay_t<Args>&&...>,
                                          std::invoke_result<Fn&, std::stop_token, std::decay_t<Args>&&...>,
                                          std::invoke_result<Fn&, std::decay_t<Args>&&...>>::type;
    auto* s = new detail::task_state<R, Fn, std::decay_t<Args>...>(std::forward<F>(fn), std::forward<Args>(args)...);
    future<R> result = detail_make_future<R>(s);
    detail::task t(detail::state_runner{s});
    if (!try_schedule(t)) throw pool_closed{};
    return result;
  }

  template <class F, class... Args>
  void post(task_options, F&& fn, Args&&... args) {
    pool_base::post(std::forward<F>(fn), std::forward<Args>(args)...);
  }
  using pool_base::post;

  // Queues t (taking it) and returns true, or returns false (t untouched) once closed.
  bool try_schedule(detail::task& t) override {
    if (worker* w = current_worker_of_this()) {
      w->submitted.add();  // before the task is visible: see balanced()
      try {
        w->deque.push(t.bytes());  // may grow the deque: std::bad_alloc
      } catch (...) {
        w->submitted.sub();
        throw;
      }
      t.forget();
      detail::asymmetric_fence::light();  // publish before looking for sleepers (see the top)
      wake_if_nobody_searching();
      return true;
    }
    {
      std::unique_lock lock(mutex_);
      if (options_.queue_capacity != 0) {
        while (!closed_ && injection_.size() >= options_.queue_capacity) {
          ++blocked_producers_;
          not_full_.wait(lock);
          --blocked_producers_;
        }
      }
      if (closed_) return false;
      injection_.push(t);
      external_submitted_.store(external_submitted_.load(std::memory_order_relaxed) + 1, std::memory_order_release);
      injection_size_.store(injection_.size(), std::memory_order_relaxed);
    }
    detail::asymmetric_fence::light();
    wake_if_nobody_searching();
    return true;
  }

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
    s.submitted = external_submitted_.load(std::memory_order_acquire);
    for (const auto& w : workers_) s.submitted += w->submitted.get();
    const std::uint64_t finished = s.completed + s.failed + s.cancelled;
    s.running = running;
    const std::uint64_t open = s.submitted > finished ? s.submitted - finished : 0;
    s.queued = open > running ? open - running : 0;
    return s;
  }

 private:
  struct worker final : detail::worker_hook {
    worker(pool& p, std::size_t i) : owner_pool(p), idx(i), rng(static_cast<std::uint32_t>(i) * 2654435761u + 1u) {}
    worker(const worker&) = delete;
    worker& operator=(const worker&) = delete;
    ~worker() {
      detail::task t;
      while (deque.pop(t.bytes())) t.reset();  // only tasks that never ran: cancels them
    }

    void help_until(detail::awaitable& a) override { owner_pool.work(*this, &a); }
    detail::scheduler& owner() noexcept override { return owner_pool; }
    std::size_t index() const noexcept override { return idx; }
    std::stop_token stop_token() const noexcept override { return owner_pool.stop_source_.get_token(); }

    std::uint32_t next_random() noexcept {
      rng ^= rng << 13;
      rng ^= rng >> 17;
      rng ^= rng << 5;
      return rng;
    }

    pool& owner_pool;
    const std::size_t idx;
    std::uint32_t rng;
    std::thread thread;
    bool in_idle_stack = false;  // guarded by idle_mutex_

    detail::ws_deque<detail::task::raw> deque;
    detail::parker park;
    // Written by this worker only.
    alignas(detail::cache_line) detail::single_writer_counter submitted;
    detail::single_writer_counter completed;
    detail::single_writer_counter failed;
    detail::single_writer_counter cancelled;
    detail::single_writer_counter stolen;
    std::atomic<std::uint64_t> running{0};  // nesting depth of tasks running on this worker
  };

  struct thread_binding {
    const pool* owner = nullptr;
    worker* self = nullptr;
  };
  static thread_binding& binding() noexcept {
    thread_local thread_binding b;
    return b;
  }
  worker* current_worker_of_this() const noexcept {
    const thread_binding& b = binding();
    return b.owner == this ? b.self : nullptr;
  }

  void thread_main(worker& w) {
    name_thread(w.idx);
    binding() = {this, &w};
    detail::current_worker() = &w;
    call_hook(options_.on_thread_start, w.idx);
    work(w, nullptr);
    call_hook(options_.on_thread_stop, w.idx);
    detail::current_worker() = nullptr;
    binding() = {};
  }

  void call_hook(const std::function<void(std::size_t)>& hook, std::size_t idx) noexcept {
    if (!hook) return;
    try {
      hook(idx);
    } catch (...) {
      report_error(std::current_exception());
    }
  }

  void name_thread([[maybe_unused]] std::size_t idx) {
#if defined(__linux__)
    std::string n = options_.name + "-" + std::to_string(idx);
    if (n.size() > 15) n.resize(15);  // the kernel's limit
    pthread_setname_np(pthread_self(), n.c_str());
#endif
  }

  // The one worker loop: runs tasks until `a` is done (a helping wait) or, for the
  // thread's own loop (a == nullptr), until the pool stops.
  void work(worker& w, detail::awaitable* a) {
    bool searching = false;
    unsigned spins = 0;
    for (;;) {
      if (a != nullptr && a->done()) break;
      detail::task t;
      if (find_task(w, t)) {
        if (searching) {
          searching = false;
          // The last searcher found work: there may be more, let another look.
          if (searching_.fetch_sub(1, std::memory_order_seq_cst) == 1) wake_if_nobody_searching();
        }
        run(w, t);
        spins = 0;
        continue;
      }
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
      searching = sleep(w, a);
    }
    if (searching && searching_.fetch_sub(1, std::memory_order_seq_cst) == 1) wake_if_nobody_searching();
  }

  // Parks w until new work may exist, `a` completes, or the pool stops. Called while
  // searching; returns whether w is searching on return (a waker chose it).
  bool sleep(worker& w, detail::awaitable* a) {
    w.park.reset();
    if (a != nullptr && !a->try_register(&w.park)) {
      searching_.fetch_sub(1, std::memory_order_seq_cst);
      return false;
    }
    {
      std::lock_guard lock(idle_mutex_);
      idle_stack_.push_back(w.idx);
      w.in_idle_stack = true;
      sleepers_.fetch_add(1, std::memory_order_seq_cst);
    }
    searching_.fetch_sub(1, std::memory_order_seq_cst);
    if (idle_waiter_count_.load(std::memory_order_seq_cst) != 0) wake_idle_waiters();
    // Pairs with the light() of whoever published work (see the top and
    // detail/asymmetric_fence.hpp); then the last look: sleep only if there is nothing to do.
    detail::asymmetric_fence::heavy();
    const bool nothing =
        !work_visible() && (a != nullptr ? !a->done() : !stopping_.load(std::memory_order_seq_cst));
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
    }
    if (a != nullptr && !a->try_unregister(&w.park)) w.park.wait_for(detail::wake_done);
    return chosen;
  }

  bool work_visible() const noexcept {
    if (injection_size_.load(std::memory_order_seq_cst) != 0) return true;
    for (const auto& v : workers_) {
      if (!v->deque.empty_approx()) return true;
    }
    return false;
  }

  // Called after making work visible and a seq_cst fence (or RMW).
  void wake_if_nobody_searching() {
    if (searching_.load(std::memory_order_seq_cst) != 0) return;
    if (sleepers_.load(std::memory_order_seq_cst) == 0) return;
    worker* chosen = nullptr;
    {
      std::lock_guard lock(idle_mutex_);
      if (idle_stack_.empty() || searching_.load(std::memory_order_relaxed) != 0) return;
      chosen = workers_[idle_stack_.back()].get();
      idle_stack_.pop_back();
      chosen->in_idle_stack = false;
      sleepers_.fetch_sub(1, std::memory_order_seq_cst);
      searching_.fetch_add(1, std::memory_order_seq_cst);  // on the chosen worker's behalf
    }
    chosen->park.unpark(detail::wake_work);
  }

  void wake_all_sleepers() noexcept {
    std::lock_guard lock(idle_mutex_);
    for (std::size_t i : idle_stack_) {
      workers_[i]->in_idle_stack = false;
      sleepers_.fetch_sub(1, std::memory_order_seq_cst);
      searching_.fetch_add(1, std::memory_order_seq_cst);
      workers_[i]->park.unpark(detail::wake_work);
    }
    idle_stack_.clear();
  }

  void wake_idle_waiters() {
    std::lock_guard lock(idle_waiters_mutex_);
    for (detail::parker* p : idle_waiters_) p->unpark(detail::wake_done);
    idle_waiter_count_.fetch_sub(idle_waiters_.size(), std::memory_order_seq_cst);
    idle_waiters_.clear();
  }

  // Fills the empty task `t` with the next task for w; false if there is none.
  bool find_task(worker& w, detail::task& t) {
    if (w.deque.pop(t.bytes())) return true;
    if (injection_size_.load(std::memory_order_relaxed) != 0 && take_injected(w, t)) return true;
    const std::size_t n = workers_.size();
    if (n > 1) {
      const std::size_t start = w.next_random() % n;
      for (std::size_t k = 0; k < n; ++k) {
        worker& victim = *workers_[(start + k) % n];
        if (&victim == &w) continue;
        auto r = victim.deque.steal(t.bytes());
        if (r == detail::steal_status::lost_race) r = victim.deque.steal(t.bytes());
        if (r == detail::steal_status::success) {
          w.stolen.add();
          return true;
        }
      }
    }
    t.forget();  // the bytes may hold a torn copy: not ours
    return false;
  }

  // Takes a batch from the injection ring: one task to run, the rest into w's deque,
  // where other workers can steal them.
  bool take_injected(worker& w, detail::task& first) {
    std::size_t moved = 0;
    bool producers_blocked;
    {
      std::lock_guard lock(mutex_);
      const std::size_t avail = injection_.size();
      if (avail == 0) return false;
      // Never more than fits in w's deque as it is: the moves below must not allocate
      // (a std::bad_alloc there would strand tasks taken out of the ring).
      const std::size_t room = w.deque.capacity() - std::min(w.deque.capacity(), w.deque.size_approx() + 1);
      const std::size_t batch =
          std::min<std::size_t>({std::max<std::size_t>(1, avail / workers_.size()), std::size_t{64}, room + 1});
      first = injection_.pop();
      for (moved = 1; moved < batch; ++moved) {
        detail::task t = injection_.pop();
        w.deque.push(t.bytes());
        t.forget();
      }
      injection_size_.store(injection_.size(), std::memory_order_relaxed);
      producers_blocked = blocked_producers_ != 0;
    }
    if (producers_blocked) not_full_.notify_all();
    if (moved > 1) {
      detail::asymmetric_fence::light();
      wake_if_nobody_searching();
    }
    return true;
  }

  void run(worker& w, detail::task& t) {
    w.running.store(w.running.load(std::memory_order_relaxed) + 1, std::memory_order_release);
    // A future's runner reports its own outcome here; nested runs (helping) restore ours.
    detail::task_outcome& slot = detail::last_task_outcome();
    const detail::task_outcome outer = slot;
    slot = detail::task_outcome::ok;
    if (cancelling_.load(std::memory_order_relaxed)) {
      t.reset();
      slot = detail::task_outcome::cancelled;
    } else {
      try {
        t.run();
      } catch (...) {
        slot = detail::task_outcome::failed;
        report_error(std::current_exception());
      }
    }
    const detail::task_outcome outcome = std::exchange(slot, outer);
    w.running.store(w.running.load(std::memory_order_relaxed) - 1, std::memory_order_release);
    switch (outcome) {
      case detail::task_outcome::ok: w.completed.add(); break;
      case detail::task_outcome::failed: w.failed.add(); break;
      case detail::task_outcome::cancelled: w.cancelled.add(); break;
    }
  }

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
    std::uint64_t submitted = external_submitted_.load(std::memory_order_acquire);
    for (const auto& w : workers_) submitted += w->submitted.get();
    return finished == submitted;
  }

  std::uint64_t total_cancelled() const noexcept {
    std::uint64_t n = 0;
    for (const auto& w : workers_) n += w->cancelled.get();
    return n;
  }

  void close() {
    {
      std::lock_guard lock(mutex_);
      closed_ = true;
    }
    not_full_.notify_all();
  }

  void stop_and_join() {
    stopping_.store(true, std::memory_order_seq_cst);
    wake_all_sleepers();
    for (auto& w : workers_) {
      if (w->thread.joinable()) w->thread.join();
    }
    stopped_ = true;
  }

  static constexpr unsigned spin_rounds = 128;

  pool_options options_;
  std::vector<std::unique_ptr<worker>> workers_;

  alignas(detail::cache_line) std::mutex mutex_;  // guards the injection ring, closed_, blocked_producers_
  detail::injection_ring injection_;
  std::condition_variable not_full_;
  std::size_t blocked_producers_ = 0;
  bool closed_ = false;
  std::atomic<std::uint64_t> external_submitted_{0};  // written under mutex_
  alignas(detail::cache_line) std::atomic<std::size_t> injection_size_{0};

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
  std::stop_source stop_source_;
  std::mutex lifecycle_mutex_;
  bool stopped_ = false;  // guarded by lifecycle_mutex_
};

namespace this_worker {

// The calling thread's index in its pool, or nullopt off the pool's threads.
inline std::optional<std::size_t> index() noexcept {
  if (detail::worker_hook* w = detail::current_worker()) return w->index();
  return std::nullopt;
}

// The pool the calling thread works for, or nullptr.
inline pool_base* pool() noexcept {
  if (detail::worker_hook* w = detail::current_worker()) return static_cast<pool_base*>(&w->owner());
  return nullptr;
}

}  // namespace this_worker

}  // namespace bobbin
