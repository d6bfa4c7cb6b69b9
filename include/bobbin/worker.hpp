#pragma once
// bobbin::worker<In, Out, Data>: Node.js's `new Worker(...)` for a C++ function. A dedicated
// thread runs the function with its worker_data and a parent port; the owner talks to it
// through the other end of that port and hears its lifecycle events.
//
//   bobbin::worker<job, result, config> w([](bobbin::worker_context<job, result, config>& ctx) {
//     for (job& j : ctx.parent_port()) ctx.parent_port().post_message(run(j, ctx.worker_data()));
//     return 0;                                   // the exit code
//   }, {.worker_data = cfg, .name = "resizer"});
//   w.post_message(job{...});
//   std::optional<result> r = w.receive();
//   w.terminate();                                // stop token + port closed
//   int code = w.join();
//
// Contract:
// - Every member of worker may be called from any thread, at the same time, except that
//   the destructor and move assignment must not race with other calls, and join() must not
//   be called from the worker's own thread nor from the thread that runs its on_message
//   handler (std::logic_error: it would wait for itself). worker_context belongs to the
//   worker's thread; its port and stop token may be copied and handed to other threads.
// - The port: make_message_channel<In, Out>(); the owner's end sends In and receives Out,
//   the worker's end (ctx.parent_port()) the reverse. When the function returns (or throws)
//   the port is closed both ways: the owner still receives what the worker posted, then
//   receive() returns nullopt; post_message returns false from then on.
// - Events, on the worker's thread, in this order: online (before the function runs), error
//   (an exception escaped the function: the handler gets it, and the exit code is 1), exit
//   (the code). Each fires once. on_online/on_error/on_exit add a handler; one added after
//   its event fired is called at once, on the caller's thread, before on_*() returns, with
//   the same argument. So a handler added right after construction never misses its event,
//   as in Node, where events wait for the constructor to return. Error and exit handlers
//   have run before join() returns. A handler must not throw (std::terminate, as an
//   exception thrown by a Node event listener ends the process).
// - Messages: on_message(handler, executor) runs handler(Out&&) on the executor (a
//   bobbin::pool), one message at a time, in order (it is the port's own on_message).
//   on_message(handler) without an executor starts one thread of the worker's own, the
//   dispatcher, which runs the handler for each message, in order; join() then also waits
//   until the handler has seen every message (the port is closed by then), and an exception
//   escaping the handler calls std::terminate (pass a pool to have its on_error see them).
//   Either way, receive()/try_receive() keep working and compete with the handler, as the
//   port's do: each message goes to one of them, never both. on_message may be called once
//   (std::logic_error after).
// - terminate() is cooperative: it requests ctx.stop_token() and closes the port. The
//   function still runs to its end (it sees the stop request, its receive() returns nullopt
//   once drained, its post_message false) and its return value is the exit code.
// - The destructor terminates and joins; on the worker's own thread (say, the worker
//   object was owned by one of its handlers) it detaches instead, and the thread keeps the
//   shared state alive until it ends. Nothing ever calls std::terminate for a joinable
//   thread, and nothing hangs as long as the function honours its stop token or its port.
// - thread_id(): Node's threadId, unique per worker in the process, from 1 up;
//   bobbin::this_thread_id() is the calling thread's (0 on any thread that is not a
//   worker's: the main thread, a pool's threads, the dispatcher).
// - A worker is move-only. A moved-from worker is empty: terminate() does nothing,
//   thread_id() is 0 and name() empty, the destructor and move assignment work; every other
//   member throws std::logic_error ("moved-from") rather than touch a state it no longer has.
//
// Synchronisation: each event is a detail::once_event (detail/sync/once_event.hpp), a
// mutex-guarded record (fired? with what?) plus its handler list; firing marks it under the
// lock and calls the handlers outside it, adding checks the mark under the lock, so every
// handler is called exactly once and no user code runs under a lock. The exit code reaches
// join() through that record and the thread's join. One mutex serialises join()
// (std::thread::join may not be called twice at once); another guards the on_message
// state. The port, the stop source and the id counter (relaxed: ids only need to be
// unique) synchronise themselves.

#include <atomic>
#include <concepts>
#include <cstdint>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <stop_token>
#include <string>
#include <thread>
#include <tuple>
#include <type_traits>
#include <utility>
#include <variant>

#include "channel.hpp"
#include "detail/channel/executor.hpp"
#include "detail/channel/handle_access.hpp"
#include "detail/channel/mailbox.hpp"
#include "detail/channel/post_api.hpp"
#include "detail/channel/receiver_api.hpp"
#include "detail/queue/slot_storage.hpp"
#include "detail/sync/once_event.hpp"
#include "detail/thread_name.hpp"
#include "detail/thread_state.hpp"
#include "message_port.hpp"

namespace bobbin {

template <class Data = std::monostate>
struct worker_options {
  Data worker_data{};             // moved into the worker; ctx.worker_data() refers to it
  std::string name = "worker";    // the thread is named name-<thread id> (cut to 15 chars)
};

namespace detail {

// Worker ids: 0 is "not a worker"; relaxed, only uniqueness matters.
inline std::atomic<std::uint64_t> next_worker_id{1};

template <class F, class Context>
concept worker_function =
    std::invocable<F&, Context&> && (std::is_void_v<std::invoke_result_t<F&, Context&>> ||
                                     std::convertible_to<std::invoke_result_t<F&, Context&>, int>);

// Runs a worker's function; its exit code (0 for a function returning void). The worker's
// thread and each of a supervisor's restarts (supervisor.hpp) call it.
template <class F, class Context>
  requires worker_function<F, Context>
int call_worker_function(F& fn, Context& ctx) {
  if constexpr (std::is_void_v<std::invoke_result_t<F&, Context&>>) {
    std::invoke(fn, ctx);
    return 0;
  } else {
    return static_cast<int>(std::invoke(fn, ctx));
  }
}

// The executor behind on_message(handler) without one: tasks go to the dispatcher thread.
// Owned by the handler (see worker::on_message), so it lives as long as the port may post
// to it; when the handler goes, the queue closes and the dispatcher thread ends.
struct dispatch_queue {
  channel<std::function<void()>> tasks;

  dispatch_queue() = default;
  dispatch_queue(const dispatch_queue&) = delete;
  dispatch_queue& operator=(const dispatch_queue&) = delete;
  ~dispatch_queue() { tasks.close(); }

  void post(std::function<void()> task) {
    // A handle of our own: once the task is queued, the dispatcher may run it, release the
    // handler and with it this queue before send() has returned.
    channel<std::function<void()>> keep = tasks;
    // Closed only once the handler is gone, and then the port posts nothing more.
    if (!keep.send(std::move(task))) throw std::logic_error("bobbin::worker: the dispatcher has stopped");
  }
};

template <message_type In, message_type Out, class Data>
struct worker_state {
  worker_state(std::uint64_t i, std::string n, message_port<In, Out> p)
      : id(i), name(std::move(n)), port(std::move(p)) {}

  const std::uint64_t id;
  const std::string name;
  message_port<In, Out> port;  // the owner's end
  std::stop_source stop;
  once_event<> online;
  once_event<std::exception_ptr> error;
  once_event<int> exit;

  std::mutex join_mutex;  // serialises join(); guards `thread` once the constructor is done
  std::thread thread;

  std::mutex message_mutex;  // guards the two below
  bool has_message_handler = false;
  std::thread dispatcher;

  // The dispatcher thread, if on_message(handler) started one, for the caller to join or
  // detach (and nobody else: the next call gets an empty thread).
  std::thread take_dispatcher() {
    std::thread d;
    std::lock_guard lock(message_mutex);
    d.swap(dispatcher);
    return d;
  }
};

}  // namespace detail

// The calling thread's worker id (Node's threadId): that of the bobbin::worker whose
// function it runs, 0 on any other thread. Node's isMainThread is this_thread_id() == 0.
inline std::uint64_t this_thread_id() noexcept { return detail::current_worker_id(); }

template <detail::message_type In, detail::message_type Out, class Data>
class worker;

template <detail::message_type In, detail::message_type Out, class Data>
class supervisor;

// What the worker's function gets; lives on the worker's thread for the function's run.
template <detail::message_type In, detail::message_type Out = In, class Data = std::monostate>
class worker_context {
 public:
  using port_type = message_port<Out, In>;  // sends Out, receives In

  worker_context(const worker_context&) = delete;
  worker_context& operator=(const worker_context&) = delete;

  Data& worker_data() noexcept { return data_; }
  const Data& worker_data() const noexcept { return data_; }
  // Node's parentPort. A handle: copies may go to other threads.
  port_type& parent_port() noexcept { return port_; }
  std::uint64_t thread_id() const noexcept { return id_; }
  // Requested by the owner's terminate() (and its destructor).
  std::stop_token stop_token() const noexcept { return token_; }
  const std::string& name() const noexcept { return name_; }

 private:
  friend class worker<In, Out, Data>;

  worker_context(Data&& d, port_type p, std::stop_token t, std::uint64_t i, const std::string& n)
      : data_(std::move(d)), port_(std::move(p)), token_(std::move(t)), id_(i), name_(n) {}

  Data data_;
  port_type port_;
  std::stop_token token_;
  std::uint64_t id_;
  const std::string& name_;  // the worker's shared state outlives the context
};

template <detail::message_type In, detail::message_type Out = In, class Data = std::monostate>
class worker : public detail::post_api<worker<In, Out, Data>, In>,
               public detail::receive_calls<worker<In, Out, Data>, Out> {
  static_assert(std::is_object_v<Data> && std::move_constructible<Data>, "worker_data is moved into the worker");
  using state = detail::worker_state<In, Out, Data>;

 public:
  using context = worker_context<In, Out, Data>;
  using options = worker_options<Data>;

  // Starts the thread at once. fn(context&) returns the exit code (an int, or void for 0).
  template <class F>
    requires detail::worker_function<std::decay_t<F>, context>
  explicit worker(F&& fn, worker_options<Data> opts = {}) {
    auto [owner, inside] = make_message_channel<In, Out>();
    const std::uint64_t id = detail::next_worker_id.fetch_add(1, std::memory_order_relaxed);
    st_ = std::make_shared<state>(id, std::move(opts.name), std::move(owner));
    // The thread never touches st_->thread: assigning it after the start is not a race.
    st_->thread = std::thread(&worker::run<std::decay_t<F>>, st_, std::decay_t<F>(std::forward<F>(fn)),
                              std::move(opts.worker_data), std::move(inside));
  }

  worker(worker&&) noexcept = default;
  // Like std::jthread: terminates and joins the worker this one held, then takes other's.
  worker& operator=(worker&& other) noexcept {
    if (this != &other) {
      worker old(std::move(*this));
      st_ = std::move(other.st_);
    }
    return *this;
  }
  worker(const worker&) = delete;
  worker& operator=(const worker&) = delete;
  ~worker() { release(); }

  // To the worker's port (detail/channel/post_api.hpp): post_message(v); false once the port
  // is closed (the value is then left as it was).
  //
  // What the worker posted (detail/channel/receiver_api.hpp): receive() blocks; nullopt once
  // the port is closed (the worker exited or terminate()) and drained. try_receive(),
  // receive_for(d), receive_until(t) as a channel's.

  // Event handlers (see the top of this file). Thread-safe; each may be called many times.
  template <class F>
    requires std::invocable<F&> && std::copy_constructible<std::decay_t<F>>
  void on_online(F&& fn) {
    listen(st().online, std::forward<F>(fn));
  }
  template <class F>
    requires std::invocable<F&, std::exception_ptr> && std::copy_constructible<std::decay_t<F>>
  void on_error(F&& fn) {
    listen(st().error, std::forward<F>(fn));
  }
  template <class F>
    requires std::invocable<F&, int> && std::copy_constructible<std::decay_t<F>>
  void on_exit(F&& fn) {
    listen(st().exit, std::forward<F>(fn));
  }

  // handler(Out&&) for each message, on `executor`, one at a time, in order. Keep the
  // executor alive until the worker has exited and the executor has run what it was given
  // (declare the pool before the worker). std::logic_error if a handler was set before.
  template <class F, detail::executor E>
    requires detail::message_handler<F, Out>
  void on_message(F&& handler, E& executor) {
    claim_message_handler();
    st().port.on_message(std::forward<F>(handler), executor);
  }

  // handler(Out&&) for each message, on the worker's dispatcher thread, one at a time, in
  // order; join() waits for it to finish. std::logic_error if a handler was set before.
  template <class F>
    requires detail::message_handler<F, Out>
  void on_message(F&& handler) {
    state& s = st();
    auto queue = std::make_shared<detail::dispatch_queue>();
    {
      std::lock_guard lock(s.message_mutex);
      if (s.has_message_handler) throw already_handled();
      s.dispatcher = std::thread([tasks = queue->tasks, who = static_cast<const void*>(&s), id = s.id,
                                  base = s.name]() mutable noexcept {
        detail::current_dispatcher() = who;
        detail::name_this_thread(base, id, "m");
        for (auto& task : tasks) task();  // a handler's exception ends here: std::terminate
      });
      s.has_message_handler = true;
    }
    // The handler owns the queue: the port posts to it only while the handler exists, and
    // once the handler is released (port closed and drained) the queue closes.
    s.port.on_message([f = std::decay_t<F>(std::forward<F>(handler)),
                       keep = queue](Out&& m) mutable { std::invoke(f, std::move(m)); },
                      *queue);
  }

  // Requests the stop token and closes the port, both ways. Idempotent, never blocks. Does
  // nothing on a moved-from worker.
  void terminate() noexcept {
    if (!st_) return;
    st_->stop.request_stop();
    detail::close_quietly(st_->port);  // both directions close even if a drain is refused
  }

  // Waits for the function to end (and for the dispatcher, if on_message(handler) started
  // one); returns the exit code. Error and exit handlers have run by then. Idempotent:
  // every call returns the same code.
  int join() {
    state& s = st();
    if (detail::current_worker_id() == s.id)
      throw std::logic_error("bobbin::worker: join() on the worker's own thread would wait for itself");
    if (detail::current_dispatcher() == &s)
      throw std::logic_error("bobbin::worker: join() from its own message handler would wait for itself");
    std::lock_guard lock(s.join_mutex);
    if (s.thread.joinable()) s.thread.join();
    std::thread dispatcher = s.take_dispatcher();
    if (dispatcher.joinable()) dispatcher.join();
    // The exit event fired before the thread ended; the join above ordered it before us.
    return std::get<0>(*s.exit.fired());
  }

  // 0 and an empty name for a moved-from worker.
  std::uint64_t thread_id() const noexcept { return st_ ? st_->id : 0; }
  const std::string& name() const noexcept {
    static const std::string none;
    return st_ ? st_->name : none;
  }

 private:
  template <detail::message_type, detail::message_type, class>
  friend class supervisor;
  friend struct detail::handle_access;

  state& st() const { return detail::checked(st_, "bobbin::worker: use of a moved-from worker"); }
  // The owner's end of the port: it receives Out and posts In.
  detail::channel_core<Out>& receive_core() const { return detail::handle_access::receive_core(st().port); }
  detail::mailbox<In>& post_box() const { return detail::handle_access::post_box(st().port); }

  // Whether the calling thread is one that join() waits for: the worker's own (its
  // function and its handlers) or its dispatcher. false for a moved-from worker.
  bool on_own_thread() const noexcept {
    return st_ && (detail::current_worker_id() == st_->id || detail::current_dispatcher() == st_.get());
  }

  // A copy of fn, called with the event's arguments (as lvalues, on a mutable copy).
  template <class... Args, class F>
  static void listen(detail::once_event<Args...>& event, F&& fn) {
    event.listen([f = std::decay_t<F>(std::forward<F>(fn))](const Args&... args) mutable { std::invoke(f, args...); });
  }

  static std::logic_error already_handled() {
    return std::logic_error("bobbin::worker: on_message may be called only once per worker");
  }

  void claim_message_handler() {
    state& s = st();
    std::lock_guard lock(s.message_mutex);
    if (s.has_message_handler) throw already_handled();
    s.has_message_handler = true;
  }

  // Parameters by reference: std::thread passes its own copies as rvalues, so nothing is
  // moved before the try below (a throwing move of Data counts as the function's error).
  template <class F>
  static void run(std::shared_ptr<state>&& st, F&& fn, Data&& data, message_port<Out, In>&& port) noexcept {
    detail::current_worker_id() = st->id;
    detail::name_this_thread(st->name, st->id);
    st->online.fire();
    int code = 0;
    std::exception_ptr error;
    try {
      context ctx(std::move(data), std::move(port), st->stop.get_token(), st->id, st->name);
      code = detail::call_worker_function(fn, ctx);
    } catch (...) {  // the context (and the worker's data) is gone by now
      error = std::current_exception();
      code = 1;
    }
    // The function has ended: the owner drains what it posted, then gets nullopt.
    detail::close_quietly(st->port);
    if (error) st->error.fire(error);
    st->exit.fire(code);
  }

  // The destructor's work: terminate, then join, or detach what is the calling thread.
  void release() noexcept {
    if (!st_) return;
    terminate();
    const bool on_worker = detail::current_worker_id() == st_->id;
    const bool on_dispatcher = detail::current_dispatcher() == st_.get();
    std::lock_guard lock(st_->join_mutex);
    if (st_->thread.joinable()) {
      if (on_worker) {
        st_->thread.detach();  // it holds st_ and ends on its own
      } else {
        st_->thread.join();
      }
    }
    std::thread dispatcher = st_->take_dispatcher();
    if (dispatcher.joinable()) {
      if (on_dispatcher) {
        dispatcher.detach();  // it holds only the task queue, which closes with the handler
      } else {
        dispatcher.join();
      }
    }
  }

  std::shared_ptr<state> st_;
};

}  // namespace bobbin
