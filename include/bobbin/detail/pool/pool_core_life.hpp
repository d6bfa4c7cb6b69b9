#pragma once
// pool_core, part 3 of 3: start, wait, stop, orphaning, statistics, errors (see
// pool_core.hpp for the table of contents).
//
// wait_idle() compares per-thread single-writer counters: balanced() reads the sum of
// finished tasks first (acquire), then the sum of submitted ones. A task is counted as
// submitted before it is visible and as finished after it ran, so equality means every
// task accepted before the call has finished.
//
// Orphaning: the user's handle destroyed on one of our own threads (a task deletes its
// pool, or holds the last shared_ptr to it, or calls std::exit() on a static pool) cannot
// join itself. orphan() stops accepting outside tasks and lets the threads go; each ends
// once every accepted task has finished (stop_if_orphaned), and the last thread to end,
// the stall monitor included, deletes the core (thread_ends).

#include <cstdio>

#include "pool_core.hpp"

namespace bobbin::detail {

template <policy Policy>
inline pool_core<Policy>::pool_core(pool_options options, pool_base& face)
    : options_(std::move(options)),
      threads_(checked_thread_count(options_.threads)),
      queues_(threads_, options_),
      face_(&face) {
  detail::asymmetric_fence::init();
  workers_.reserve(threads_);
  for (std::size_t i = 0; i < threads_; ++i) {
    workers_.push_back(std::make_unique<worker>(*this, i));
    idle_.add(workers_.back()->sleeper);
  }
  try {
    for (auto& w : workers_) w->thread = std::thread([this, wp = w.get()] { thread_main(*wp); });
    if (stall_watch_) {
      monitor_.start(
          threads_, options_.stall_after, [this](std::size_t i) -> const stall_stamps& { return workers_[i]->stall; },
          [this](std::size_t i, std::chrono::nanoseconds elapsed) {
            if (!options_.on_stall) return;
            try {
              options_.on_stall(i, elapsed);
            } catch (...) {
              report_error(std::current_exception());
            }
          },
          [this] {
            if (orphaned_.load(std::memory_order_acquire)) thread_ends();  // may delete *this
          });
    }
  } catch (...) {
    stop_and_join();
    throw;
  }
}

template <policy Policy>
inline pool_core<Policy>::~pool_core() {
  if (!orphaned_.load(std::memory_order_relaxed)) shutdown();
  // Every task has finished: an outside thread may still be on its way out of
  // resume_later() or root_finished() for the last coroutine (pool_core_submit.hpp).
  while (outside_callers_.load(std::memory_order_acquire) != 0) std::this_thread::yield();
}

template <policy Policy>
inline auto pool_core<Policy>::current_worker_of_this() const noexcept -> worker* {
  const detail::pool_thread_binding& b = detail::current_pool_thread();
  return b.pool == this ? static_cast<worker*>(b.thread) : nullptr;
}

template <policy Policy>
inline void pool_core<Policy>::thread_main(worker& w) {
  detail::name_this_thread(options_.name, w.idx);
  detail::current_pool_thread() = {&w, this};
  w.help_floor = detail::help_floor();
  call_hook(options_.on_thread_start, w.idx);
  work<true>(w, nullptr);
  call_hook(options_.on_thread_stop, w.idx);
  detail::current_pool_thread() = {};
  if (orphaned_.load(std::memory_order_acquire)) thread_ends();  // the last step: may delete *this
}

template <policy Policy>
inline void pool_core<Policy>::call_hook(const std::function<void(std::size_t)>& hook, std::size_t idx) noexcept {
  if (!hook) return;
  try {
    hook(idx);
  } catch (...) {
    report_error(std::current_exception());
  }
}

template <policy Policy>
inline void pool_core<Policy>::wait_idle() {
  if (on_own_worker()) {
    throw std::logic_error("bobbin: wait_idle() called from a worker of the same pool would wait for itself");
  }
  idle_waiters_.wait([this] { return balanced(); });
}

template <policy Policy>
inline void pool_core<Policy>::shutdown() {
  if (on_own_worker()) {
    throw std::logic_error("bobbin: shutdown() called from a worker of the same pool would join itself");
  }
  std::lock_guard life(lifecycle_mutex_);
  if (stopped_) return;
  close();
  wait_idle();
  stop_and_join();
}

template <policy Policy>
inline std::size_t pool_core<Policy>::shutdown_now() {
  if (on_own_worker()) {
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

template <policy Policy>
inline pool_stats pool_core<Policy>::stats() const {
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
  s.completed += foreign_finished_[0].load(std::memory_order_acquire);
  s.failed += foreign_finished_[1].load(std::memory_order_acquire);
  s.taken_at = std::chrono::steady_clock::now();
  s.alive_time = s.taken_at - started_at_;
  if constexpr (pool_stats_enabled) {
    const std::int64_t now =
        std::chrono::duration_cast<std::chrono::nanoseconds>(s.taken_at.time_since_epoch()).count();
    for (std::size_t i = 0; i < workers_.size(); ++i) s.workers[i].busy_time = workers_[i]->busy_time(now);
  }
  s.submitted = external_submitted_.load(std::memory_order_acquire);
  for (const auto& w : workers_) s.submitted += w->submitted.get();
  const std::uint64_t finished = s.completed + s.failed + s.cancelled;
  s.running = running;
  const std::uint64_t open = s.submitted > finished ? s.submitted - finished : 0;
  s.queued = open > running ? open - running : 0;
  return s;
}

template <policy Policy>
inline void pool_core<Policy>::report_error(std::exception_ptr e) noexcept {
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

// Finished counts are read before submitted counts: a task's submission happens before its
// completion, and a thread's submissions before its own later completions, so if the first
// sum equals the second then, at the moment between the two reads, nothing accepted was
// unfinished.
template <policy Policy>
inline bool pool_core<Policy>::balanced() const noexcept {
  std::uint64_t finished =
      foreign_finished_[0].load(std::memory_order_seq_cst) + foreign_finished_[1].load(std::memory_order_seq_cst);
  for (const auto& w : workers_) finished += w->finished();
  std::uint64_t submitted = external_submitted_.load(std::memory_order_seq_cst);
  for (const auto& w : workers_) submitted += w->submitted.get();
  return finished == submitted;
}

template <policy Policy>
inline std::uint64_t pool_core<Policy>::total_cancelled() const noexcept {
  std::uint64_t n = 0;
  for (const auto& w : workers_) n += w->cancelled.get();
  return n;
}

template <policy Policy>
inline void pool_core<Policy>::close() {
  closed_.store(true, std::memory_order_seq_cst);
  capacity_.close();
}

template <policy Policy>
inline void pool_core<Policy>::stop_and_join() {
  stopping_.store(true, std::memory_order_seq_cst);
  idle_.wake_all();
  for (auto& w : workers_) {
    if (w->thread.joinable()) w->thread.join();
  }
  monitor_.stop();
  stopped_ = true;
  // Threads parked in wait_idle() are woken by a pool thread that goes to sleep; threads
  // that end because the pool stops skip that, so wake them here (balanced() holds now).
  idle_waiters_.wake_all();
}

template <policy Policy>
inline bool pool_core<Policy>::forked_away() const noexcept {
#if defined(__unix__) || defined(__APPLE__)
  return ::getpid() != owner_pid_;
#else
  return false;
#endif
}

// Nothing may touch the core after this call but its own threads and the tasks they run.
template <policy Policy>
inline void pool_core<Policy>::orphan() noexcept {
  face_.store(nullptr, std::memory_order_release);
  close();
  // Before the stall monitor may end (it reads this after its stop flag, under its mutex).
  // seq_cst, as the idle threads' check that reads it: see stop_if_orphaned(). The core
  // cannot be deleted before this returns: the calling thread is one of its threads.
  orphaned_.store(true, std::memory_order_seq_cst);
  for (auto& w : workers_) w->thread.detach();
  monitor_.detach();
  idle_.wake_all();  // so that each looks again, and the last one idle stops the pool
}

template <policy Policy>
inline void pool_core<Policy>::thread_ends() noexcept {
  const std::size_t all = threads_ + (stall_watch_ ? 1 : 0);
  // acq_rel: the last one sees every other thread's last writes before it deletes.
  if (threads_ended_.fetch_add(1, std::memory_order_acq_rel) + 1 == all) delete this;
}

// Each thread checks when it finds nothing to run: the one that finishes the last task sees
// the balance (its own count, then a full fence, then everyone's: of two threads finishing
// at once, the later check sees both counts).
template <policy Policy>
inline void pool_core<Policy>::stop_if_orphaned() noexcept {
  if (!orphaned_.load(std::memory_order_seq_cst)) return;
  detail::seq_cst_fence();
  if (!balanced() || stopping_.exchange(true, std::memory_order_seq_cst)) return;
  idle_.wake_all();
}

}  // namespace bobbin::detail
