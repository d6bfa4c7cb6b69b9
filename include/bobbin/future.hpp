#pragma once
// bobbin::future<T>: the result of pool::submit, and when_all over futures.
//
// Thread-safety: a future is a move-only handle used by one thread at a time (like
// std::future). The shared state behind it is reference-counted between the future and
// the task that fulfils it, and allocated once per submit.
//
// Ordering: the task writes its result, then completes the state with a release RMW;
// ready()/get() observe completion with acquire, so the result is visible.
//
// Waiting: get()/wait() on a pool worker run other pending tasks while the result is not
// ready (see detail/task/scheduler.hpp), so recursive fork-join never deadlocks; on any other
// thread they sleep without spinning. wait_for/wait_until sleep (no helping) up to their
// deadline on every thread.

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <functional>
#include <future>
#include <iterator>
#include <memory>
#include <optional>
#include <stop_token>
#include <tuple>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

#include "detail/sync/asymmetric_fence.hpp"
#include "detail/future/block_cache.hpp"
#include "detail/time/deadline.hpp"
#include "detail/task/block_on.hpp"
#include "errors.hpp"

namespace bobbin {

template <class T>
class future;

namespace detail {

// What a future<T> stores: T itself, a reference_wrapper for T&, monostate for void.
template <class T>
using stored_t = std::conditional_t<std::is_void_v<T>, std::monostate,
                                    std::conditional_t<std::is_reference_v<T>,
                                                       std::reference_wrapper<std::remove_reference_t<T>>, T>>;

class state_base : public awaitable {
 public:
  enum stage_t : std::uint32_t { queued, running, finished, cancelled };

  state_base(const state_base&) = delete;
  state_base& operator=(const state_base&) = delete;

  // awaitable
  bool done() const noexcept final { return done_.done(); }
  bool try_register(waiter* w) noexcept final { return done_.try_register(w); }
  bool try_unregister(waiter* w) noexcept final { return done_.try_unregister(w); }

  // Ownership. The runner (producer) and the future (consumer) share the state. Normally
  // no reference count is touched: the runner's last act is complete_and_leave(), whose
  // exchange also tells it whether the consumer already left (then it destroys the
  // state); a consumer that sees the state done destroys it (dispose()), and one that
  // leaves early marks it abandoned (abandon()). Only after a successful cancel() by the
  // consumer does the queued runner still hold a pointer to a done state: then both drop
  // a reference (release()) and the last one destroys.

  // Starting and cancelling. The runner says it starts (started_) and the consumer that
  // a cancel is wanted (cancel_wanted_), each then fences and reads the other's flag: the
  // Dekker pattern, so at least one sees the other. A runner that sees no cancel runs:
  // that consumer then sees started_ and gives up. Otherwise the two decide with one CAS
  // on stage_ (a consumer that saw started_ does not contend: the runner's CAS wins). The
  // fences are asymmetric (detail/sync/asymmetric_fence.hpp): the runner's, paid per task, is
  // a compiler barrier; the consumer's, paid per cancel(), a membarrier() system call. A
  // CAS per task here was a fifth of a fork-join submit's time (measured with perf).

  // The runner's side. Returns false if the consumer cancelled first: the runner must
  // then release() and do nothing else.
  bool begin_run() noexcept {
    started_.store(true, std::memory_order_relaxed);
    asymmetric_fence::light();
    if (!cancel_wanted_.load(std::memory_order_relaxed)) return true;
    std::uint32_t expected = queued;
    return stage_.compare_exchange_strong(expected, running, std::memory_order_acq_rel, std::memory_order_acquire);
  }

  // The runner's last access: publishes the result (value or error, written before).
  void complete_and_leave() noexcept {
    stage_.store(finished, std::memory_order_relaxed);
    if (done_.complete()) destroy();
  }

  // The runner gives up a task it never started (pool teardown, shutdown_now).
  void cancel_from_runner() noexcept {
    if (begin_run()) {
      error_ = std::make_exception_ptr(task_cancelled{});
      run_before_publish();
      complete_and_leave();
    } else {
      release();
    }
  }

  // The consumer's side: cancels a task that has not started. True if it never will run.
  bool cancel_if_queued() noexcept {
    cancel_wanted_.store(true, std::memory_order_relaxed);
    asymmetric_fence::heavy();
    if (started_.load(std::memory_order_relaxed)) return false;  // it runs (see begin_run)
    std::uint32_t expected = queued;
    if (!stage_.compare_exchange_strong(expected, cancelled, std::memory_order_acq_rel, std::memory_order_acquire)) {
      return false;
    }
    error_ = std::make_exception_ptr(task_cancelled{});
    (void)done_.complete();  // the consumer is here: nobody has abandoned it
    return true;
  }

  // The consumer is done with a state it has seen done.
  void dispose() noexcept {
    if (stage_.load(std::memory_order_relaxed) == cancelled) {  // only the consumer sets it
      release();
    } else {
      destroy();
    }
  }

  // The consumer leaves, done or not.
  void abandon() noexcept {
    if (stage_.load(std::memory_order_relaxed) == cancelled) {
      release();
    } else if (!done_.abandon()) {
      destroy();  // it completed meanwhile: the runner has left
    }
  }

  void release() noexcept {
    // acq_rel: the last owner sees every write of the other before it destroys.
    if (refs_.fetch_sub(1, std::memory_order_acq_rel) == 1) destroy();
  }

  bool failed() const noexcept { return static_cast<bool>(error_); }
  // Moves the exception out. The consumer takes it before dropping its reference, so the
  // exception object is released on the thread that handles it: libstdc++'s reference
  // count on exceptions is invisible to ThreadSanitizer, which would otherwise see a free
  // on the runner's thread race with the handler's reads.
  std::exception_ptr take_error() noexcept { return std::move(error_); }
  // The runner's failure, written before complete_and_leave() publishes it.
  void set_error(std::exception_ptr e) noexcept { error_ = std::move(e); }

  // Runs the task this state belongs to (a submit's callable, a continuation); called by
  // the queued runner. Ends with complete_and_leave() (or release() if cancelled); returns
  // how it ended, for the pool's statistics.
  virtual task_outcome run() = 0;
  // Asks a running task to stop (its stop_token), if it has one.
  virtual void request_stop() noexcept {}

 protected:
  state_base() = default;
  ~state_base() = default;
  virtual void destroy() noexcept = 0;

  std::atomic<std::uint32_t> refs_{2};  // used only after a consumer's cancel()
  std::atomic<std::uint32_t> stage_{queued};
  std::atomic<bool> started_{false};        // the runner's flag (see begin_run)
  std::atomic<bool> cancel_wanted_{false};  // the consumer's flag
  completion done_;
  std::exception_ptr error_;
};

template <class T>
class value_state : public state_base {
 public:
  std::optional<stored_t<T>> value;

  template <class F>
  void set_from(F&& f) {
    if constexpr (std::is_void_v<T>) {
      std::forward<F>(f)();
      value.emplace();
    } else if constexpr (std::is_reference_v<T>) {
      value.emplace(std::ref(std::forward<F>(f)()));
    } else {
      value.emplace(std::forward<F>(f)());
    }
  }

 protected:
  ~value_state() = default;
};

// The trivially copyable thing that sits in a queue for a state-backed task: a pointer.
// Destroying it unrun (shutdown_now, pool teardown) cancels the state.
struct state_runner {
  state_base* state;
  using bobbin_cancel_hook = void;
  task_outcome operator()() const { return state->run(); }
  void cancel() noexcept { state->cancel_from_runner(); }
};

// Runs `body` as the state's task: honours cancellation, captures exceptions, reports
// the outcome, drops the runner's reference.
template <class T, class Body>
task_outcome run_state(value_state<T>& s, Body&& body) noexcept {
  if (!s.begin_run()) {
    s.release();
    return task_outcome::cancelled;
  }
  std::exception_ptr error;
  try {
    s.set_from(std::forward<Body>(body));
  } catch (...) {
    error = std::current_exception();
  }
  // Completed after the catch block has ended: the runtime's own reference to the
  // exception is gone before the consumer may see (and free) it.
  const task_outcome outcome = error ? task_outcome::failed : task_outcome::ok;
  if (error) s.set_error(std::move(error));
  run_before_publish();
  s.complete_and_leave();
  return outcome;
}

// The state of pool::submit(fn, args...): the callable and its arguments live in it.
template <class R, class F, class... Args>
class task_state final : public value_state<R> {
  static constexpr bool wants_stop = std::is_invocable_v<F&, std::stop_token, Args&&...>;

 public:
  template <class G, class... A>
  explicit task_state(G&& g, A&&... a) : fn_(std::forward<G>(g)), args_(std::forward<A>(a)...) {}

  task_outcome run() override {
    return run_state<R>(*this, [this]() -> R {
      if constexpr (wants_stop) {
        std::optional<std::stop_callback<forward_stop>> link;
        if (pool_thread* w = current_pool_thread().thread) link.emplace(w->stop_token(), forward_stop{&stop_});
        return std::apply([this](auto&... a) -> R { return std::invoke(fn_, stop_.get_token(), std::move(a)...); },
                          args_);
      } else {
        return std::apply([this](auto&... a) -> R { return std::invoke(fn_, std::move(a)...); }, args_);
      }
    });
  }

  void request_stop() noexcept override {
    if constexpr (wants_stop) stop_.request_stop();
  }

  // One allocation per submit, from a per-thread cache (detail/future/block_cache.hpp).
  static void* operator new(std::size_t) { return cached_allocation<task_state>::allocate(); }
  static void operator delete(void* p) noexcept { cached_allocation<task_state>::deallocate(p); }

 private:
  struct forward_stop {
    std::stop_source* to;
    void operator()() const noexcept { to->request_stop(); }
  };
  struct no_stop {};
  void destroy() noexcept override { delete this; }

  F fn_;
  std::tuple<Args...> args_;
  [[no_unique_address]] std::conditional_t<wants_stop, std::stop_source, no_stop> stop_;
};

template <class T>
value_state<T>* state_of(future<T>& f) noexcept;

}  // namespace detail

// ---------------------------------------------------------------------------------------

template <class T>
class future {
 public:
  using value_type = T;

  future() noexcept = default;
  future(future&& o) noexcept : s_(std::exchange(o.s_, nullptr)) {}
  future& operator=(future&& o) noexcept {
    if (this != &o) {
      if (s_ != nullptr) s_->abandon();
      s_ = std::exchange(o.s_, nullptr);
    }
    return *this;
  }
  future(const future&) = delete;
  future& operator=(const future&) = delete;
  ~future() {
    if (s_ != nullptr) s_->abandon();
  }

  // True until get() or then() consumed the future (or it was moved from).
  bool valid() const noexcept { return s_ != nullptr; }

  // True once the task finished, failed or was cancelled. Never blocks.
  bool ready() const {
    check();
    return s_->done();
  }

  // Waits (helping on a worker), then returns the result or rethrows the task's exception
  // (task_cancelled if it never ran). Consumes the future.
  T get() {
    wait();
    struct disposer {
      detail::value_state<T>* s;
      ~disposer() { s->dispose(); }
    } r{std::exchange(s_, nullptr)};
    if (r.s->failed()) std::rethrow_exception(r.s->take_error());
    if constexpr (std::is_void_v<T>) {
      return;
    } else if constexpr (std::is_reference_v<T>) {
      return r.s->value->get();
    } else {
      return std::move(*r.s->value);
    }
  }

  void wait() const {
    check();
    detail::block_on(*s_);
  }

  // Sleeps until ready or `d` has passed on the steady clock. Any duration: a negative,
  // zero, NaN or -infinity one only looks; one too large to count (hours::max(),
  // +infinity) waits until ready (detail/time/deadline.hpp).
  template <class Rep, class Period>
  std::future_status wait_for(const std::chrono::duration<Rep, Period>& d) const {
    return timed_wait(detail::deadline::after(d));
  }

  // Sleeps until ready or `t` has passed on its own clock (any clock, any duration type;
  // time_point::max() waits until ready, ::min() only looks).
  template <class Clock, class Duration>
  std::future_status wait_until(const std::chrono::time_point<Clock, Duration>& t) const {
    return timed_wait(detail::deadline::at(t));
  }

  // Cancels the task if it has not started: returns true and get() throws
  // task_cancelled. If it is running, requests its stop_token (if it takes one) and
  // returns false. Thread-safe with respect to the running task. Costs a membarrier()
  // system call (some microseconds) so that running a task costs no atomic RMW.
  bool cancel() {
    check();
    if (s_->cancel_if_queued()) return true;
    s_->request_stop();
    return false;
  }

  // Runs fn with this future's value once it is ready, on the pool that ran this task
  // (if the future is already ready: on the calling worker's pool, or inline on a thread
  // that is not a pool worker), and returns the future of fn's result. If this future fails or is cancelled, fn is not called and
  // the returned future holds the same exception. Consumes this future.
  template <class F>
  auto then(F&& fn);

 private:
  template <class>
  friend class future;
  template <class U>
  friend future<U> detail_make_future(detail::value_state<U>*) noexcept;
  template <class U>
  friend detail::value_state<U>* detail::state_of(future<U>&) noexcept;

  explicit future(detail::value_state<T>* s) noexcept : s_(s) {}

  std::future_status timed_wait(const detail::deadline& d) const {
    check();
    if (s_->done()) return std::future_status::ready;
    detail::parker& p = detail::this_thread_parker();
    p.reset();
    if (!s_->try_register(&p)) return std::future_status::ready;
    if (p.park_until(d) == 0 && s_->try_unregister(&p)) return std::future_status::timeout;
    p.wait_for(detail::wake_done);  // the completer took our registration
    return std::future_status::ready;
  }

  void check() const {
    if (s_ == nullptr) throw_no_state();
  }
  [[noreturn]] static void throw_no_state() { throw std::future_error(std::future_errc::no_state); }

  detail::value_state<T>* s_ = nullptr;
};

template <class U>
future<U> detail_make_future(detail::value_state<U>* s) noexcept {
  return future<U>(s);
}

namespace detail {

template <class T>
value_state<T>* state_of(future<T>& f) noexcept {
  return f.s_;
}

// Takes the value out of a ready state (for continuations and when_all).
template <class T>
T take_value(value_state<T>& s) {
  if constexpr (std::is_void_v<T>) {
    return;
  } else if constexpr (std::is_reference_v<T>) {
    return s.value->get();
  } else {
    return std::move(*s.value);
  }
}

// then(): a state that waits on a source state and runs fn with its value.
template <class U, class T, class F>
class continuation_state final : public value_state<U>, public waiter {
 public:
  continuation_state(value_state<T>* src, F fn) : waiter{&on_source_done}, src_(src), fn_(std::move(fn)) {}

  void attach() noexcept {
    if (!src_->try_register(static_cast<waiter*>(this))) launch();
  }

  task_outcome run() override {
    return run_state<U>(*this, [this]() -> U {
      if (src_->failed()) std::rethrow_exception(src_->take_error());
      if constexpr (std::is_void_v<T>) {
        return std::invoke(fn_);
      } else {
        return std::invoke(fn_, take_value(*src_));
      }
    });
  }

 private:
  static void on_source_done(waiter* w) noexcept { static_cast<continuation_state*>(w)->launch(); }

  // On the pool of the thread that completed the source (the pool that ran it), or of the
  // thread calling then() if the source was already done; inline when that thread is
  // not a pool worker or its pool refuses work. (A pool pointer kept in the state could
  // outlive its pool; the current thread's pool is alive by definition.)
  void launch() noexcept {
    if (pool_thread* w = current_pool_thread().thread) {
      scheduler* s = &w->owner();
      task t(state_runner{this});
      try {
        if (s->try_schedule(t)) return;
      } catch (...) {
        // Out of memory while queueing: run it here rather than lose it.
      }
      t.forget();  // not queued: run it right here
    }
    run();
  }

  void destroy() noexcept override {
    src_->dispose();  // the source completed before this state's runner was launched
    delete this;
  }

  value_state<T>* src_;
  F fn_;
};

// when_all: counts down as inputs complete; the last one assembles the result.
template <class Result, class Derived>
class gather_state : public value_state<Result> {
 protected:
  struct link : waiter {
    explicit link(gather_state* o) : waiter{&on_done}, owner(o) {}
    gather_state* owner;
    static void on_done(waiter* w) noexcept { static_cast<link*>(w)->owner->arrive(); }
  };

  // The last arrival is the producer: inputs may complete after the future was dropped.
  explicit gather_state(std::size_t n) : remaining_(n + 1) {}

  void arm(state_base& input, link& l) noexcept {
    if (!input.try_register(&l)) arrive();
  }

  // Called once per input, plus once by the creator after arming every input.
  void arrive() noexcept {
    // acq_rel: the last arrival sees every input's result.
    if (remaining_.fetch_sub(1, std::memory_order_acq_rel) != 1) return;
    if (!this->begin_run()) {  // the future was cancelled meanwhile
      this->release();
      return;
    }
    std::exception_ptr error;
    try {
      this->set_from([this] { return static_cast<Derived*>(this)->assemble(); });
    } catch (...) {
      error = std::current_exception();
    }
    if (error) this->set_error(std::move(error));
    this->complete_and_leave();
  }

  task_outcome run() override { return task_outcome::ok; }  // never queued

 private:
  std::atomic<std::size_t> remaining_;
};

template <class... T>
  requires(sizeof...(T) > 0)
class when_all_tuple_state final : public gather_state<std::tuple<stored_t<T>...>, when_all_tuple_state<T...>> {
  using base = gather_state<std::tuple<stored_t<T>...>, when_all_tuple_state<T...>>;
  using link = typename base::link;

 public:
  explicit when_all_tuple_state(future<T>&&... fs)
      : base(sizeof...(T)), inputs_(std::move(fs)...), links_{link_for<T>()...} {}

  void start() noexcept {
    [this]<std::size_t... I>(std::index_sequence<I...>) {
      (this->arm(*state_of(std::get<I>(inputs_)), links_[I]), ...);
    }(std::index_sequence_for<T...>{});
    this->arrive();
  }

  std::tuple<stored_t<T>...> assemble() {
    std::exception_ptr first;
    [&]<std::size_t... I>(std::index_sequence<I...>) {
      ((first = first ? first : state_of(std::get<I>(inputs_))->take_error()), ...);
    }(std::index_sequence_for<T...>{});
    if (first) std::rethrow_exception(first);
    return [&]<std::size_t... I>(std::index_sequence<I...>) {
      return std::tuple<stored_t<T>...>(std::move(*state_of(std::get<I>(inputs_))->value)...);
    }(std::index_sequence_for<T...>{});
  }

 private:
  template <class>
  link link_for() {
    return link(this);
  }
  void destroy() noexcept override { delete this; }

  std::tuple<future<T>...> inputs_;
  link links_[sizeof...(T)];
};

template <class T>
class when_all_vector_state final : public gather_state<std::vector<stored_t<T>>, when_all_vector_state<T>> {
  using base = gather_state<std::vector<stored_t<T>>, when_all_vector_state<T>>;
  using link = typename base::link;

 public:
  // Makes room for n inputs and their values: every allocation when_all makes, before any
  // input is touched. Then adopt() each input and start().
  explicit when_all_vector_state(std::size_t n) : base(n), links_(n, link(this)) {
    inputs_.reserve(n);
    values_.reserve(n);
  }

  // Takes a valid input into the room made for it: never allocates.
  void adopt(future<T>&& f) noexcept { inputs_.push_back(std::move(f)); }

  // Undoes the adopt() calls: moves the inputs back, in order, to the elements from
  // `first` on, where they came from.
  template <class It>
  void give_back(It first) {
    for (auto& f : inputs_) {
      *first = std::move(f);
      ++first;
    }
    inputs_.clear();
  }

  void start() noexcept {
    for (std::size_t i = 0; i < inputs_.size(); ++i) this->arm(*state_of(inputs_[i]), links_[i]);
    this->arrive();
  }

  std::vector<stored_t<T>> assemble() {
    for (auto& f : inputs_) {
      if (state_of(f)->failed()) std::rethrow_exception(state_of(f)->take_error());
    }
    for (auto& f : inputs_) values_.push_back(std::move(*state_of(f)->value));  // reserved: no allocation
    return std::move(values_);
  }

 private:
  void destroy() noexcept override { delete this; }

  std::vector<future<T>> inputs_;
  std::vector<link> links_;
  std::vector<stored_t<T>> values_;
};

// True if some future is passed twice (only futures of one type can be the same object).
template <class... T>
bool same_future_twice(const future<T>&... fs) noexcept {
  const void* const at[] = {static_cast<const void*>(&fs)...};
  for (std::size_t i = 0; i < sizeof...(T); ++i) {
    for (std::size_t j = i + 1; j < sizeof...(T); ++j) {
      if (at[i] == at[j]) return true;
    }
  }
  return false;
}

// For std::move_iterator<It>: It (void for any other iterator).
template <class It>
struct move_iterator_base_of {
  using type = void;
};
template <class It>
struct move_iterator_base_of<std::move_iterator<It>> {
  using type = It;
};
template <class It>
using move_iterator_base = typename move_iterator_base_of<It>::type;

}  // namespace detail

template <class T>
template <class F>
auto future<T>::then(F&& fn) {
  using U = typename std::conditional_t<std::is_void_v<T>, std::invoke_result<std::decay_t<F>&>,
                               std::invoke_result<std::decay_t<F>&, T>>::type;
  check();
  // Allocated before the source state leaves this future: if it throws, nothing moved.
  auto* c = new detail::continuation_state<U, T, std::decay_t<F>>(s_, std::forward<F>(fn));
  s_ = nullptr;
  c->attach();
  return future<U>(c);
}

// A future that is ready when every input is; its value is a tuple of their values
// (std::monostate for future<void>). If any input failed (or was cancelled), it holds the
// exception of the first such input, in argument order. Consumes the inputs, but only on
// success: if it throws (std::bad_alloc, or std::future_error when an input is not valid
// or is passed twice), every input is left as it was, valid and usable.
template <class... T>
  requires(sizeof...(T) > 0)
future<std::tuple<detail::stored_t<T>...>> when_all(future<T>&&... fs) {
  if ((!fs.valid() || ...) || detail::same_future_twice(fs...)) {
    throw std::future_error(std::future_errc::no_state);
  }
  // The state is the one allocation; the inputs move into it only once it exists.
  auto* s = new detail::when_all_tuple_state<T...>(std::move(fs)...);
  s->start();
  return detail_make_future<std::tuple<detail::stored_t<T>...>>(s);
}

// The same over a range of futures (moved from): a future of a vector, in range order.
// Over a range that can be read twice (a forward range of futures, such as a vector; or
// move iterators over one), it gives the same guarantee: if it throws, every future in the
// range is still there, valid. Over a range that can be read only once, the futures it has
// read are lost if it throws.
template <std::input_iterator It>
  requires requires { typename std::iter_value_t<It>::value_type; }
future<std::vector<detail::stored_t<typename std::iter_value_t<It>::value_type>>> when_all(It first, It last) {
  using T = typename std::iter_value_t<It>::value_type;
  using state = detail::when_all_vector_state<T>;
  if constexpr (std::forward_iterator<detail::move_iterator_base<It>>) {
    return when_all(first.base(), last.base());
  } else if constexpr (std::forward_iterator<It> && std::is_reference_v<std::iter_reference_t<It>>) {
    // First pass: check every input and count them. Then allocate everything. Second
    // pass: move the inputs in, which cannot fail; an input seen twice (the range holds
    // the same future twice) is found invalid there, and the moves are undone.
    std::size_t n = 0;
    for (It i = first; i != last; ++i, ++n) {
      if (!(*i).valid()) throw std::future_error(std::future_errc::no_state);
    }
    auto* s = new state(n);
    try {
      for (It i = first; i != last; ++i) {
        auto&& f = *i;
        if (!f.valid()) throw std::future_error(std::future_errc::no_state);
        s->adopt(std::move(f));
      }
    } catch (...) {
      s->give_back(first);
      delete s;
      throw;
    }
    s->start();
    return detail_make_future<std::vector<detail::stored_t<T>>>(s);
  } else {
    std::vector<future<T>> fs;
    for (; first != last; ++first) {
      auto&& f = *first;
      if (!f.valid()) throw std::future_error(std::future_errc::no_state);
      fs.push_back(std::move(f));
    }
    return when_all(fs.begin(), fs.end());
  }
}

template <class Range>
  requires requires(Range& r) {
    std::begin(r);
    typename std::iter_value_t<decltype(std::begin(r))>::value_type;
  }
auto when_all(Range& futures) {
  return when_all(std::begin(futures), std::end(futures));
}

}  // namespace bobbin
