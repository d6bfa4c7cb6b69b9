#pragma once
// bobbin::supervisor<In, Out, Data>: keeps a bobbin::worker running, restarting it when it
// fails — Node's `cluster.on('exit', (w, code) => { if (code !== 0) cluster.fork(); })`
// for threads, with a limit.
//
//   bobbin::supervisor<job, result, config> s(work, {.worker_data = cfg, .name = "parser"},
//                                             {.max_restarts = 3});
//   s.on_restart([](auto& fresh, const bobbin::restart_info& r) { ... });
//   s.current()->post_message(job{...});
//   int code = s.join();   // once the last worker exited and will not be restarted
//
// Contract:
// - A worker fails when it exits with a non-zero code (an exception escaping its function
//   exits with 1). Then, unless stop() was called or max_restarts restarts have been made
//   in all, a new worker starts: the same function, a fresh copy of the worker_options
//   (so Data must be copyable), a new thread id and a new port. What the failed worker had
//   not received is lost with its port, as with a crashed Node worker. A worker that exits
//   with 0 ends the supervision.
// - One monitor thread per supervisor joins the current worker and starts the next; it
//   also runs the on_restart hooks, after the new worker has started and before it is
//   waited for. A hook must not throw (std::terminate) and must not destroy the supervisor
//   nor call join() or successor() (they wait for the monitor); it may call current(),
//   restarts() and stop().
// - The owner may terminate() a worker itself (one that stopped responding, say): it is
//   restarted if its function then returns a non-zero code, like any failure.
// - current(), successor(), restarts(), on_restart(), stop() and join() may be called from
//   any thread. The destructor stops and joins; it must not race with other calls.
// - Locks: one mutex guards the current worker, the hooks and the stop and done flags, with
//   a condition variable for successor(); no user code runs under it. restarts() reads an
//   atomic counter (relaxed: it publishes nothing; join() orders the final count before
//   its return).

#include <atomic>
#include <concepts>
#include <condition_variable>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <thread>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

#include "worker.hpp"

namespace bobbin {

struct supervisor_options {
  int max_restarts = 3;  // restarts allowed in all; after that a failure ends the supervision
};

// Why a worker was restarted.
struct restart_info {
  int restart = 0;             // 1 for the first restart
  int exit_code = 0;           // of the worker that failed
  std::exception_ptr error;    // what escaped its function, or null (a non-zero return)
};

template <detail::message_type In, detail::message_type Out = In, class Data = std::monostate>
class supervisor {
  static_assert(std::copy_constructible<Data>, "every restart gets a fresh copy of worker_data");

 public:
  using worker_type = worker<In, Out, Data>;
  using context = typename worker_type::context;

  // Starts the first worker at once. fn must be copyable: each restart runs a copy.
  template <class F>
    requires detail::worker_function<std::decay_t<F>, context> && std::copy_constructible<std::decay_t<F>>
  explicit supervisor(F&& fn, worker_options<Data> options = {}, supervisor_options s = {})
      : fn_(wrap(std::forward<F>(fn))), options_(std::move(options)), max_restarts_(s.max_restarts) {
    current_ = start();
    announced_ = current_.w;
    monitor_ = std::thread([this] { supervise(); });
  }

  supervisor(const supervisor&) = delete;
  supervisor& operator=(const supervisor&) = delete;

  ~supervisor() {
    stop();
    join_monitor();
  }

  // The worker running now; after the end, the last one. Never null. The supervisor may
  // replace it at any time: a handle to a failed worker stays valid (its port is closed).
  std::shared_ptr<worker_type> current() const {
    std::lock_guard lock(mutex_);
    return current_.w;
  }

  // Waits until w has been replaced and returns the worker that replaced it (the latest, if
  // several restarts happened since), once the on_restart hooks have run for it; nullptr if
  // w exited for good (the supervision ended with it). For an owner whose worker's port
  // closed under it: ask for the successor, then carry on with it.
  std::shared_ptr<worker_type> successor(const std::shared_ptr<worker_type>& w) const {
    std::unique_lock lock(mutex_);
    changed_.wait(lock, [&] { return announced_ != w || done_; });
    return announced_ != w ? announced_ : nullptr;
  }

  // Restarts made so far.
  int restarts() const noexcept { return restarts_.load(std::memory_order_relaxed); }

  // hook(fresh_worker, info) after each restart from now on, on the monitor thread.
  template <class F>
    requires std::invocable<F&, worker_type&, const restart_info&> && std::copy_constructible<std::decay_t<F>>
  void on_restart(F&& hook) {
    std::lock_guard lock(mutex_);
    hooks_.emplace_back(std::forward<F>(hook));
  }

  // No more restarts; terminates the current worker (cooperatively). Idempotent.
  void stop() {
    std::shared_ptr<worker_type> w;
    {
      std::lock_guard lock(mutex_);
      stopping_ = true;
      w = current_.w;
    }
    w->terminate();
  }

  // Waits until the supervision has ended: the current worker exited and will not be
  // restarted (it succeeded, stop() was called, or the limit was reached). Returns its exit
  // code. Idempotent. std::logic_error from an on_restart hook (it would wait for itself).
  int join() {
    if (monitoring() == this)
      throw std::logic_error("bobbin::supervisor: join() from an on_restart hook would wait for itself");
    join_monitor();
    return final_code_;  // written by the monitor before it ended; ordered by the join
  }

 private:
  using function = std::function<int(context&)>;
  using restart_hook = std::function<void(worker_type&, const restart_info&)>;

  template <class F>
  static function wrap(F&& fn) {
    return [f = std::decay_t<F>(std::forward<F>(fn))](context& ctx) mutable -> int {
      if constexpr (std::is_void_v<std::invoke_result_t<std::decay_t<F>&, context&>>) {
        std::invoke(f, ctx);
        return 0;
      } else {
        return static_cast<int>(std::invoke(f, ctx));
      }
    };
  }

  struct running {
    std::shared_ptr<worker_type> w;
    std::shared_ptr<std::exception_ptr> error;  // set by its error handler
  };

  running start() {
    running r{std::make_shared<worker_type>(fn_, options_), std::make_shared<std::exception_ptr>()};
    // Added after the start: if the error already fired, this runs at once. Either way it
    // has run before the worker's join() returns.
    r.w->on_error([slot = r.error](std::exception_ptr e) { *slot = std::move(e); });
    return r;
  }

  // The supervisor whose monitor the calling thread is, if any.
  static const supervisor*& monitoring() noexcept {
    thread_local const supervisor* s = nullptr;
    return s;
  }

  void supervise() noexcept {
    monitoring() = this;
    running now;
    {
      std::lock_guard lock(mutex_);
      now = current_;
    }
    for (;;) {
      const int code = now.w->join();
      {
        restart_info info;
        std::vector<restart_hook> hooks;
        {
          std::lock_guard lock(mutex_);
          const int made = restarts_.load(std::memory_order_relaxed);
          bool again = code != 0 && !stopping_ && made < max_restarts_;
          if (again) {
            info = {made + 1, code, *now.error};
            try {
              now = start();  // under the lock: stop() either sees the new worker or stops us first
            } catch (...) {
              again = false;  // no thread to be had: the failure stands
            }
          }
          if (!again) {
            final_code_ = code;
            done_ = true;
            changed_.notify_all();  // the waiters wake once we unlock
            return;
          }
          current_ = now;
          restarts_.fetch_add(1, std::memory_order_relaxed);
          hooks = hooks_;
        }
        for (auto& h : hooks) h(*now.w, info);
      }  // the hooks' copies and the failed worker's exception go before the hand-over
      {
        std::lock_guard lock(mutex_);
        announced_ = now.w;
        changed_.notify_all();
      }
    }
  }

  void join_monitor() {
    std::lock_guard lock(join_mutex_);
    if (monitor_.joinable()) monitor_.join();
  }

  const function fn_;
  const worker_options<Data> options_;
  const int max_restarts_;

  mutable std::mutex mutex_;  // guards current_, announced_, hooks_, stopping_, done_
  mutable std::condition_variable changed_;  // announced_ replaced, or done_
  running current_;
  std::shared_ptr<worker_type> announced_;  // current_.w once the hooks have run for it
  std::vector<restart_hook> hooks_;
  bool stopping_ = false;
  bool done_ = false;
  std::atomic<int> restarts_{0};
  int final_code_ = 0;  // the monitor's, until it ends

  std::mutex join_mutex_;
  std::thread monitor_;  // last: starts once everything above exists
};

}  // namespace bobbin
