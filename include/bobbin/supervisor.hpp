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
//   waited for. A hook must not throw (std::terminate); it may call current(), restarts()
//   and stop().
// - The owner may terminate() a worker itself (one that stopped responding, say): it is
//   restarted if its function then returns a non-zero code, like any failure.
// - current(), successor(), restarts(), on_restart(), stop() and join() may be called from
//   any thread. The destructor stops and joins; it must not race with other calls.
// - Waiting for itself: join(), and successor(w) while w is not yet replaced, wait for the
//   monitor, which waits for the current worker (its function, its error and exit
//   handlers, and the dispatcher of its on_message(handler)). Called from one of those
//   threads, or from an on_restart hook (the monitor itself), they would never return:
//   they throw std::logic_error instead, as worker::join() does on its own thread. The
//   destructor cannot throw: on those threads it stops the supervision and detaches the
//   monitor, which ends on its own (the state it needs is shared with it, as a worker's is
//   with its thread).
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

#include "detail/thread_state.hpp"
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
      : st_(std::make_shared<state>(wrap(std::forward<F>(fn)), std::move(options), s.max_restarts)) {
    st_->current = st_->start();
    st_->announced = st_->current.w;
    // The monitor never touches `monitor`: assigning it after the start is not a race.
    st_->monitor = std::thread([st = st_] { st->supervise(); });
  }

  supervisor(const supervisor&) = delete;
  supervisor& operator=(const supervisor&) = delete;

  ~supervisor() {
    stop();
    std::lock_guard lock(st_->join_mutex);
    if (!st_->monitor.joinable()) return;
    if (st_->waits_for_caller()) {
      st_->monitor.detach();  // it holds the state and ends once the current worker has
    } else {
      st_->monitor.join();
    }
  }

  // The worker running now; after the end, the last one. Never null. The supervisor may
  // replace it at any time: a handle to a failed worker stays valid (its port is closed).
  std::shared_ptr<worker_type> current() const {
    std::lock_guard lock(st_->mutex);
    return st_->current.w;
  }

  // Waits until w has been replaced and returns the worker that replaced it (the latest, if
  // several restarts happened since), once the on_restart hooks have run for it; nullptr if
  // w exited for good (the supervision ended with it). For an owner whose worker's port
  // closed under it: ask for the successor, then carry on with it. std::logic_error if the
  // wait would be for the calling thread itself (see the top of this file).
  std::shared_ptr<worker_type> successor(const std::shared_ptr<worker_type>& w) const {
    std::unique_lock lock(st_->mutex);
    if (st_->announced == w && !st_->done && (st_->is_monitor() || w->on_own_thread()))
      throw std::logic_error(
          "bobbin::supervisor: successor() from the worker itself or from an on_restart hook "
          "would wait for itself");
    st_->changed.wait(lock, [&] { return st_->announced != w || st_->done; });
    return st_->announced != w ? st_->announced : nullptr;
  }

  // Restarts made so far.
  int restarts() const noexcept { return st_->restarts.load(std::memory_order_relaxed); }

  // hook(fresh_worker, info) after each restart from now on, on the monitor thread.
  template <class F>
    requires std::invocable<F&, worker_type&, const restart_info&> && std::copy_constructible<std::decay_t<F>>
  void on_restart(F&& hook) {
    std::lock_guard lock(st_->mutex);
    st_->hooks.emplace_back(std::forward<F>(hook));
  }

  // No more restarts; terminates the current worker (cooperatively). Idempotent.
  void stop() {
    std::shared_ptr<worker_type> w;
    {
      std::lock_guard lock(st_->mutex);
      st_->stopping = true;
      w = st_->current.w;
    }
    w->terminate();
  }

  // Waits until the supervision has ended: the current worker exited and will not be
  // restarted (it succeeded, stop() was called, or the limit was reached). Returns its exit
  // code. Idempotent. std::logic_error from an on_restart hook, or from the current worker's
  // function, handlers or dispatcher (it would wait for itself).
  int join() {
    if (st_->waits_for_caller())
      throw std::logic_error(
          "bobbin::supervisor: join() from the supervised worker or from an on_restart hook "
          "would wait for itself");
    std::lock_guard lock(st_->join_mutex);
    if (st_->monitor.joinable()) st_->monitor.join();
    return st_->final_code;  // written by the monitor before it ended; ordered by the join
  }

 private:
  using function = std::function<int(context&)>;
  using restart_hook = std::function<void(worker_type&, const restart_info&)>;

  template <class F>
  static function wrap(F&& fn) {
    return [f = std::decay_t<F>(std::forward<F>(fn))](context& ctx) mutable -> int {
      return detail::call_worker_function(f, ctx);
    };
  }

  struct running {
    std::shared_ptr<worker_type> w;
    std::shared_ptr<std::exception_ptr> error;  // set by its error handler
  };

  // Shared by the supervisor and its monitor thread, so that a monitor detached by a
  // destructor that could not join it (see the top of this file) still has it.
  struct state {
    state(function f, worker_options<Data> o, int m) : fn(std::move(f)), options(std::move(o)), max_restarts(m) {}
    state(const state&) = delete;
    state& operator=(const state&) = delete;

    running start() {
      running r{std::make_shared<worker_type>(fn, options), std::make_shared<std::exception_ptr>()};
      // Added after the start: if the error already fired, this runs at once. Either way it
      // has run before the worker's join() returns.
      r.w->on_error([slot = r.error](std::exception_ptr e) { *slot = std::move(e); });
      return r;
    }

    // The state whose monitor the calling thread is, if any.
    bool is_monitor() const noexcept { return detail::current_monitor() == this; }

    // Whether waiting for the monitor from this thread would wait for itself: this is the
    // monitor, or the current worker's thread or dispatcher, which the monitor joins. (A
    // worker the monitor has replaced has been joined: its threads are gone.) A fresh
    // worker's thread may ask before the monitor made it current: the lock waits for that.
    bool waits_for_caller() const {
      if (is_monitor()) return true;
      std::shared_ptr<worker_type> w;
      {
        std::lock_guard lock(mutex);
        if (done) return false;
        w = current.w;
      }
      return w->on_own_thread();
    }

    void supervise() noexcept {
      detail::current_monitor() = this;
      running now;
      {
        std::lock_guard lock(mutex);
        now = current;
      }
      for (;;) {
        const int code = now.w->join();
        {
          restart_info info;
          std::vector<restart_hook> to_run;
          {
            std::lock_guard lock(mutex);
            const int made = restarts.load(std::memory_order_relaxed);
            bool again = code != 0 && !stopping && made < max_restarts;
            if (again) {
              info = {made + 1, code, *now.error};
              try {
                now = start();  // under the lock: stop() either sees the new worker or stops us first
              } catch (...) {
                again = false;  // no thread to be had: the failure stands
              }
            }
            if (!again) {
              final_code = code;
              done = true;
              changed.notify_all();  // the waiters wake once we unlock
              return;
            }
            current = now;
            restarts.fetch_add(1, std::memory_order_relaxed);
            to_run = hooks;
          }
          for (auto& h : to_run) h(*now.w, info);
        }  // the hooks' copies and the failed worker's exception go before the hand-over
        {
          std::lock_guard lock(mutex);
          announced = now.w;
          changed.notify_all();
        }
      }
    }

    const function fn;
    const worker_options<Data> options;
    const int max_restarts;

    mutable std::mutex mutex;  // guards current, announced, hooks, stopping, done
    mutable std::condition_variable changed;  // announced replaced, or done
    running current;
    std::shared_ptr<worker_type> announced;  // current.w once the hooks have run for it
    std::vector<restart_hook> hooks;
    bool stopping = false;
    bool done = false;
    std::atomic<int> restarts{0};
    int final_code = 0;  // the monitor's, until it ends

    std::mutex join_mutex;  // serialises joining (or detaching) the monitor
    std::thread monitor;
  };

  std::shared_ptr<state> st_;
};

}  // namespace bobbin
