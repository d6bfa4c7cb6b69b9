// libFuzzer target for bobbin::pool<Policy>'s public API (issue 8c). An input picks a
// policy, 1 to 3 threads and maybe a queue capacity, then calls the API in its order from
// this thread: submit (with priorities), post, try_submit, try_post, future::cancel, get,
// wait_for, when_all, wait_idle, stats, shutdown, shutdown_now, and tasks that themselves
// submit children and wait for them (future::get, task_group, when_all) or post them, that
// throw, spin, watch their stop_token, or call wait_idle from inside (std::logic_error).
// Every task counts its runs. Checked:
// - no task runs twice; a task runs exactly once unless its future's cancel() returned
//   true or shutdown_now() began; a refused try_* never runs;
// - every future resolves, by the time its pool is shut down: get() returns the task's
//   value, rethrows its exception, or throws task_cancelled when it never ran; when_all
//   holds the first failure in argument order;
// - after wait_idle() every task accepted so far has finished;
// - submit/post/try_* after shutdown throw pool_closed; a worker's submissions are never
//   refused; a task_group's wait() rethrows one of its members' exceptions;
// - a stop_token is requested only by cancel() or shutdown_now();
// - stats(): finished never exceeds submitted; at the end submitted = completed + failed +
//   cancelled, counted as the tasks were; on_error saw each detached task that threw;
//   shutdown_now() returned at least the tasks it cancelled itself.
//
// Issue 15 added the operations that found its defects: shutdown() from two threads while
// two others wait_idle() and one posts (every call must return); tasks whose nested
// post/try_post/submit of a callable whose copy throws must throw that exception and leave a
// bounded pool's capacity intact (checked at the end: an idle bounded pool accepts try_post);
// wait_for/wait_until with extreme values (hours::max, +inf, nanoseconds::min, time_point
// max and min): an endless wait returns ready, a past one returns at once; priorities spread
// over the whole int range (thousands of distinct levels).
//
// Input: byte 0 policy and threads, byte 1 queue capacity, priority aging, how the pool
// ends, wide priorities and failing nested submissions; then up to 64 operations, each one
// byte (the operation, by value mod 16) followed by the bytes its task specification needs.

#include <bobbin/future.hpp>
#include <bobbin/policies.hpp>
#include <bobbin/pool.hpp>
#include <bobbin/task_group.hpp>

#include "../support/policies.hpp"

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <future>
#include <limits>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <stdexcept>
#include <stop_token>
#include <thread>
#include <utility>
#include <vector>

namespace {

[[noreturn]] void fail(const char* what) {
  std::fprintf(stderr, "fuzz_pool: %s\n", what);
  std::abort();
}

void require(bool ok, const char* what) {
  if (!ok) fail(what);
}

// What a task throws (not a std::exception: the pool must carry any type).
struct task_error {
  std::size_t idx;
};

// A callable whose copy throws: a nested post/submit of an lvalue of it fails while the
// task is built, after a bounded pool took (or, from a worker, did not take) a place.
struct copy_error {};
struct throwing_copy {
  throwing_copy() = default;
  throwing_copy(const throwing_copy&) { throw copy_error{}; }
  throwing_copy(throwing_copy&&) noexcept = default;
  std::size_t operator()() const { return 0; }
};

enum class kind : std::uint8_t { submitted, posted, group_member };
enum class children : std::uint8_t { none, submit_get, group, post, when_all };

struct record {
  // The specification, written by this thread before the task (or its parent) is
  // submitted.
  kind how = kind::submitted;
  bool throws = false;
  bool wants_stop = false;
  bool calls_wait_idle = false;
  bool cancels_first_child = false;
  unsigned spin_us = 0;
  int priority = 0;
  children mode = children::none;
  std::size_t first_child = 0;
  std::size_t child_count = 0;
  // What happened.
  std::atomic<int> runs{0};
  std::atomic<bool> accepted{false};
  std::atomic<bool> saw_stop{false};
  std::atomic<bool> cancel_called{false};    // cancel() was called on its future
  std::atomic<bool> cancel_succeeded{false};  // ... and returned true
};

struct byte_reader {
  std::span<const std::uint8_t> bytes;
  std::size_t at = 0;
  bool empty() const { return at >= bytes.size(); }
  unsigned next() { return at < bytes.size() ? bytes[at++] : 0u; }
};

constexpr std::size_t max_ops = 64;
constexpr std::size_t max_records = 1024;

template <class Policy>
class harness {
  using pool_type = bobbin::pool<Policy>;
  using future_type = bobbin::future<std::size_t>;

 public:
  harness(unsigned threads, unsigned config) : recs_(max_records), child_lists_(max_records) {
    bobbin::pool_options o;
    o.threads = threads;
    o.queue_capacity = (config & 3) == 0 ? 0 : (config & 3) * 2 - 1;  // 0 (unbounded), 1, 3, 5
    o.priority_aging = (config >> 2) & 3;
    o.name = "fuzz";
    o.on_error = [this](std::exception_ptr e) {
      try {
        std::rethrow_exception(e);
      } catch (const task_error& t) {
        require(t.idx < max_records && recs_[t.idx].how == kind::posted && recs_[t.idx].throws,
                "on_error got an exception from a task that should not have thrown it");
        errors_.fetch_add(1);
      } catch (...) {
        fail("on_error got an exception no task threw");
      }
    };
    destroy_at_end_ = (config & 16) != 0;
    wide_priorities_ = (config & 32) != 0;
    bad_children_ = (config & 64) != 0;
    bounded_ = o.queue_capacity != 0;
    owner_ = std::make_unique<pool_type>(std::move(o));
    p_ = owner_.get();
  }

  void run(byte_reader& in) {
    for (std::size_t n = 0; n < max_ops && !in.empty(); ++n) step(in.next(), in);
    finish();
  }

 private:
  // ---- specifications ------------------------------------------------------------------

  // A new record from one spec byte (and, for a parent, more bytes), or max_records when
  // none is left.
  std::size_t make_record(kind how, unsigned s, byte_reader& in, unsigned depth) {
    if (used_ >= max_records) return max_records;
    const std::size_t i = used_++;
    record& r = recs_[i];
    r.how = how;
    r.throws = (s & 3) == 3;
    r.wants_stop = how != kind::group_member && (s & 4) != 0;
    static constexpr std::array<unsigned, 4> spins{0, 0, 10, 100};
    r.spin_us = spins[(s >> 3) & 3];
    r.priority = wide_priorities_ ? wide_priority(i, s) : static_cast<int>((s >> 5) & 3) - 1;
    if ((s & 0xe0) == 0xe0) r.calls_wait_idle = true;
    if ((s & 0x80) != 0 && depth < 2) add_children(i, in.next(), in, depth + 1);
    return i;
  }

  void add_children(std::size_t parent, unsigned c, byte_reader& in, unsigned depth) {
    const auto mode = static_cast<children>(1 + c % 4);
    const std::size_t count = 1 + (c >> 2) % 3;
    const kind how = mode == children::group  ? kind::group_member
                     : mode == children::post ? kind::posted
                                              : kind::submitted;
    std::vector<std::size_t> direct;
    for (std::size_t k = 0; k < count; ++k) {
      const std::size_t child = make_record(how, in.next(), in, depth);
      if (child == max_records) break;
      direct.push_back(child);
    }
    record& p = recs_[parent];
    p.mode = mode;
    p.cancels_first_child = (c & 0x20) != 0;
    p.first_child = children_used_;
    p.child_count = direct.size();
    std::copy(direct.begin(), direct.end(), child_lists_.begin() + static_cast<std::ptrdiff_t>(children_used_));
    children_used_ += direct.size();
  }

  // A priority anywhere in int, distinct for most records (the priority policy must not slow
  // down or keep memory for every level it has seen): INT_MIN, INT_MAX or a hash of i and s.
  static int wide_priority(std::size_t i, unsigned s) {
    if ((s & 0x60) == 0x60) return (i & 1) != 0 ? std::numeric_limits<int>::max() : std::numeric_limits<int>::min();
    std::uint64_t h = (i + 1) * 0x9e3779b97f4a7c15ull ^ s;
    h ^= h >> 29;
    return static_cast<int>(static_cast<std::uint32_t>(h));
  }

  // With bad_children_, a task first submits a callable whose copy throws, each way: each
  // must throw copy_error (never pool_closed: a worker's submissions are accepted until the
  // pool has stopped, and it cannot stop while this task runs).
  void bad_nested_submissions() {
    const throwing_copy bad;
    int thrown = 0;
    try {
      p_->post(bad);
    } catch (const copy_error&) {
      ++thrown;
    }
    try {
      (void)p_->try_post(bad);
    } catch (const copy_error&) {
      ++thrown;
    }
    try {
      (void)p_->submit(bad);
    } catch (const copy_error&) {
      ++thrown;
    }
    require(thrown == 3, "a nested submission whose copy throws did not throw that exception");
  }

  std::span<const std::size_t> children_of(const record& r) const {
    return std::span(child_lists_.data() + r.first_child, r.child_count);
  }

  // ---- the tasks ---------------------------------------------------------------------

  std::size_t body(std::size_t i, const std::stop_token* st) {
    record& r = recs_[i];
    require(r.runs.fetch_add(1) == 0, "a task ran twice");
    if (bad_children_ && (i & 1) == 0) bad_nested_submissions();
    if (r.spin_us != 0) {
      const auto end = std::chrono::steady_clock::now() + std::chrono::microseconds(r.spin_us);
      while (std::chrono::steady_clock::now() < end && !(st != nullptr && st->stop_requested()))
        bobbin::detail::cpu_relax();
    }
    if (r.calls_wait_idle) {
      bool refused = false;
      try {
        p_->wait_idle();
      } catch (const std::logic_error&) {
        refused = true;
      }
      require(refused, "wait_idle() from a worker did not throw std::logic_error");
    }
    switch (r.mode) {
      case children::none: break;
      case children::submit_get: submit_and_get(r); break;
      case children::group: run_group(r); break;
      case children::post: post_children(r); break;
      case children::when_all: gather_children(r); break;
    }
    if (st != nullptr && st->stop_requested()) r.saw_stop.store(true);
    if (r.throws) throw task_error{i};
    return i;
  }

  auto callable(std::size_t i) {
    return [this, i] { return body(i, nullptr); };
  }
  auto stop_callable(std::size_t i) {
    return [this, i](std::stop_token st) { return body(i, &st); };
  }

  // Submits record i (from any thread); the future, or nullopt if try_ found the queue full.
  std::optional<future_type> submit(std::size_t i, bool with_priority, bool try_only) {
    record& r = recs_[i];
    const bobbin::task_options o{.priority = with_priority ? r.priority : 0};
    std::optional<future_type> f;
    if (try_only) {
      if (r.wants_stop) {
        if (auto g = p_->try_submit(o, stop_callable(i))) f.emplace(std::move(*g));
      } else {
        if (auto g = p_->try_submit(o, callable(i))) f.emplace(std::move(*g));
      }
    } else {
      f.emplace(r.wants_stop ? p_->submit(o, stop_callable(i)) : p_->submit(o, callable(i)));
    }
    if (f) r.accepted.store(true);
    return f;
  }

  // Posts record i; false if try_ found the queue full.
  bool post(std::size_t i, bool try_only) {
    record& r = recs_[i];
    const bobbin::task_options o{.priority = r.priority};
    auto detached = [this, i] { body(i, nullptr); };
    auto detached_stop = [this, i](std::stop_token st) { body(i, &st); };
    bool ok = true;
    if (try_only) {
      ok = r.wants_stop ? p_->try_post(o, detached_stop) : p_->try_post(o, detached);
    } else if (r.wants_stop) {
      p_->post(o, detached_stop);
    } else {
      p_->post(o, detached);
    }
    if (ok) r.accepted.store(true);
    return ok;
  }

  // get() on the future of record i: the value, its exception, or task_cancelled.
  void check_result(std::size_t i, future_type& f) {
    record& r = recs_[i];
    try {
      const std::size_t v = f.get();
      require(v == i, "get() returned another task's value");
      require(r.runs.load() == 1 && !r.throws, "get() returned a value for a task that did not return one");
    } catch (const task_error& e) {
      require(e.idx == i && r.throws && r.runs.load() == 1, "get() rethrew an exception its task did not throw");
    } catch (const bobbin::task_cancelled&) {
      require(r.runs.load() == 0, "get() threw task_cancelled for a task that ran");
      require(r.cancel_succeeded.load() || now_called_.load(),
              "a task was cancelled without cancel() or shutdown_now()");
    }
  }

  // A task's outcome once it is over: 0 success, 1 threw, 2 never ran.
  int outcome(std::size_t i) const {
    const record& r = recs_[i];
    if (r.runs.load() == 0) return 2;
    return r.throws ? 1 : 0;
  }

  // when_all over futures of `ids`, in that order.
  void check_gathered(std::span<const std::size_t> ids, bobbin::future<std::vector<std::size_t>>& all) {
    all.wait();  // every input is over once it is ready
    std::size_t first_bad = ids.size();
    for (std::size_t k = 0; k < ids.size(); ++k) {
      if (outcome(ids[k]) != 0) {
        first_bad = k;
        break;
      }
    }
    try {
      const std::vector<std::size_t> v = all.get();
      require(first_bad == ids.size(), "when_all returned values although an input failed");
      require(v.size() == ids.size(), "when_all returned the wrong number of values");
      for (std::size_t k = 0; k < ids.size(); ++k) require(v[k] == ids[k], "when_all returned a wrong value");
    } catch (const task_error& e) {
      require(first_bad < ids.size() && outcome(ids[first_bad]) == 1 && e.idx == ids[first_bad],
              "when_all did not hold the first failure in argument order");
    } catch (const bobbin::task_cancelled&) {
      require(first_bad < ids.size() && outcome(ids[first_bad]) == 2,
              "when_all threw task_cancelled but its first failure was not a cancellation");
    }
  }

  void cancel(std::size_t i, future_type& f) {
    record& r = recs_[i];
    r.cancel_called.store(true);  // before cancel(): the task may see its stop_token at once
    if (f.cancel()) r.cancel_succeeded.store(true);
  }

  // Children: a worker's submissions are accepted until the pool has stopped, and the
  // pool cannot stop while this task runs, so none may throw pool_closed.
  void submit_and_get(const record& r) {
    std::vector<std::pair<std::size_t, future_type>> fs;
    for (std::size_t c : children_of(r)) fs.emplace_back(c, std::move(*submit(c, true, false)));
    if (r.cancels_first_child && !fs.empty()) cancel(fs.front().first, fs.front().second);
    for (auto& [c, f] : fs) check_result(c, f);
  }

  void run_group(const record& r) {
    bobbin::task_group g(*p_);
    for (std::size_t c : children_of(r)) {
      g.run([this, c] { body(c, nullptr); });
      recs_[c].accepted.store(true);
    }
    bool any_throws = false;
    try {
      g.wait();
    } catch (const task_error& e) {
      const auto kids = children_of(r);
      require(std::find(kids.begin(), kids.end(), e.idx) != kids.end() && outcome(e.idx) == 1,
              "task_group::wait() rethrew an exception none of its tasks threw");
      any_throws = true;
    } catch (const bobbin::task_cancelled&) {
      require(now_called_.load(), "task_group::wait() threw task_cancelled without shutdown_now()");
      return;
    }
    for (std::size_t c : children_of(r)) {
      require(recs_[c].runs.load() == 1 || now_called_.load(), "task_group::wait() returned before its tasks ran");
      if (recs_[c].throws && recs_[c].runs.load() == 1) {
        require(any_throws || now_called_.load(), "task_group::wait() lost a task's exception");
      }
    }
  }

  void post_children(const record& r) {
    for (std::size_t c : children_of(r)) post(c, false);
  }

  void gather_children(const record& r) {
    std::vector<future_type> fs;
    std::vector<std::size_t> ids;
    for (std::size_t c : children_of(r)) {
      fs.push_back(std::move(*submit(c, false, false)));
      ids.push_back(c);
    }
    if (r.cancels_first_child && !fs.empty()) cancel(ids.front(), fs.front());
    auto all = bobbin::when_all(fs);
    check_gathered(ids, all);
  }

  // ---- this thread's operations ----------------------------------------------------------

  template <class F>
  void expect_closed(F&& f) {
    bool refused = false;
    try {
      f();
    } catch (const bobbin::pool_closed&) {
      refused = true;
    }
    require(refused, "a submission after shutdown was not refused with pool_closed");
  }

  void outside_submit(unsigned spec, byte_reader& in, bool with_priority, bool try_only, bool cancel_now) {
    const std::size_t i = make_record(kind::submitted, spec, in, 0);
    if (i == max_records) return;
    if (closed_) {
      expect_closed([&] { (void)submit(i, with_priority, try_only); });
      return;
    }
    auto f = submit(i, with_priority, try_only);
    if (!f) return;  // full
    ++outside_accepted_;
    if (cancel_now) cancel(i, *f);
    futures_.emplace_back(i, std::move(*f));
  }

  void outside_post(unsigned spec, byte_reader& in, bool try_only) {
    const std::size_t i = make_record(kind::posted, spec, in, 0);
    if (i == max_records) return;
    if (closed_) {
      expect_closed([&] { (void)post(i, try_only); });
      return;
    }
    if (post(i, try_only)) ++outside_accepted_;
  }

  void step(unsigned op, byte_reader& in) {
    switch (op % 16) {
      case 0: outside_submit(in.next(), in, false, false, false); break;
      case 1: outside_submit(in.next(), in, true, false, false); break;
      case 2: outside_post(in.next(), in, false); break;
      case 3: outside_submit(in.next(), in, (op & 0x10) != 0, true, false); break;
      case 4: outside_post(in.next(), in, true); break;
      case 5:
        if (!futures_.empty()) {
          auto& [i, f] = futures_[in.next() % futures_.size()];
          cancel(i, f);
        }
        break;
      case 6:
        if (!futures_.empty()) {
          const std::size_t k = in.next() % futures_.size();
          check_result(futures_[k].first, futures_[k].second);
          futures_.erase(futures_.begin() + static_cast<std::ptrdiff_t>(k));
        }
        break;
      case 7:
        if (!futures_.empty()) timed_wait(futures_[in.next() % futures_.size()].second, (op >> 4) & 7);
        break;
      case 8: wait_idle(); break;
      case 9: {  // a parent task from outside
        const unsigned spec = in.next() | 0x80u;
        outside_submit(spec, in, false, false, false);
        break;
      }
      case 10: gather_outside(1 + (op >> 4) % 3); break;
      case 11: check_stats_now(); break;
      case 12:
        p_->shutdown();
        closed_ = true;
        break;
      case 13:
        now_called_.store(true);  // before: tasks may see it while it runs
        cancelled_by_now_ += p_->shutdown_now();
        closed_ = true;
        break;
      case 14: outside_submit(in.next(), in, false, false, true); break;
      default:
        if ((op & 0x60) == 0x60) {
          concurrent_end();
          break;
        }
        if ((op & 0x10) != 0) {
          std::this_thread::sleep_for(std::chrono::microseconds(20));
        } else {
          std::this_thread::yield();
        }
        break;
    }
  }

  // wait_for / wait_until with short or extreme values. An endless wait must return ready
  // (every accepted task finishes or is cancelled: this thread blocks none of them); a wait
  // whose deadline has passed must return at once, ready or not.
  void timed_wait(future_type& f, unsigned how) {
    using namespace std::chrono;
    const bool was_ready = f.ready();
    std::future_status s{};
    bool endless = false;
    const auto start = steady_clock::now();
    switch (how) {
      case 0:
      case 1:
      case 2:
      case 3: s = f.wait_for(microseconds(how)); break;
      case 4:
        s = f.wait_for(hours::max());
        endless = true;
        break;
      case 5:
        s = f.wait_for(duration<double>(std::numeric_limits<double>::infinity()));
        endless = true;
        break;
      case 6: s = f.wait_for(nanoseconds::min()); break;
      default:
        if (was_ready) {
          s = f.wait_until(time_point<system_clock, hours>::max());
          endless = true;
        } else {
          s = f.wait_until(steady_clock::time_point::min());
        }
        break;
    }
    require(!was_ready || s == std::future_status::ready, "a timed wait timed out on a ready future");
    require(s != std::future_status::ready || f.ready(), "a timed wait said ready, ready() did not");
    require(!endless || s == std::future_status::ready, "an endless timed wait reported a timeout");
    if (how == 6 || (how == 7 && !was_ready)) {
      require(steady_clock::now() - start < seconds(10), "a wait whose deadline had passed blocked");
    }
  }

  // shutdown() from two threads while two others wait_idle() and one posts: every call
  // returns (issue 15: wait_idle() could stay parked for good).
  void concurrent_end() {
    if (closed_) return;
    std::atomic<int> done{0};
    std::vector<std::thread> ts;
    ts.emplace_back([&] {
      try {
        for (int k = 0; k < 50; ++k) {
          const std::size_t i = make_posted_leaf();
          if (i == max_records) break;
          if (post(i, false)) posted_late_.fetch_add(1);
        }
      } catch (const bobbin::pool_closed&) {
      }
      done.fetch_add(1);
    });
    for (int k = 0; k < 2; ++k)
      ts.emplace_back([&] {
        p_->wait_idle();
        done.fetch_add(1);
      });
    for (int k = 0; k < 2; ++k)
      ts.emplace_back([&] {
        p_->shutdown();
        done.fetch_add(1);
      });
    const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (done.load() < 5) {
      if (std::chrono::steady_clock::now() > until) fail("shutdown/wait_idle/post from several threads hung");
      std::this_thread::sleep_for(std::chrono::microseconds(200));
    }
    for (auto& t : ts) t.join();
    outside_accepted_ += posted_late_.load();
    closed_ = true;
  }

  // A leaf record to post: made by concurrent_end()'s poster thread while this thread only
  // waits for it, or by this thread; the lock orders the two.
  std::size_t make_posted_leaf() {
    std::lock_guard lock(records_mutex_);
    if (used_ >= max_records) return max_records;
    const std::size_t i = used_++;
    recs_[i].how = kind::posted;
    return i;
  }

  void gather_outside(std::size_t n) {
    n = std::min(n, futures_.size());
    if (n == 0) return;
    std::vector<future_type> fs;
    std::vector<std::size_t> ids;
    for (std::size_t k = futures_.size() - n; k < futures_.size(); ++k) {
      ids.push_back(futures_[k].first);
      fs.push_back(std::move(futures_[k].second));
    }
    futures_.resize(futures_.size() - n);
    gathered_.emplace_back(std::move(ids), bobbin::when_all(fs));
  }

  void wait_idle() {
    p_->wait_idle();
    if (now_called_.load()) return;
    for (std::size_t i = 0; i < used_; ++i) {
      const record& r = recs_[i];
      if (!r.accepted.load()) continue;
      require(r.runs.load() == 1 || r.cancel_succeeded.load(), "wait_idle() returned before an accepted task finished");
    }
    for (auto& [i, f] : futures_) require(f.ready(), "wait_idle() returned before a future was ready");
  }

  void check_stats_now() {
    const bobbin::pool_stats s = p_->stats();
    const std::uint64_t finished = s.completed + s.failed + s.cancelled;
    require(finished <= s.submitted, "stats: more tasks finished than were submitted");
    require(s.submitted >= outside_accepted_, "stats: fewer submitted than accepted from outside");
    std::uint64_t run = 0;
    for (const auto& w : s.workers) run += w.tasks_run;
    require(run == finished, "stats: per-worker tasks_run do not add up");
    require(s.threads == p_->size(), "stats: wrong thread count");
  }

  // ---- the end -----------------------------------------------------------------------

  void finish() {
    // A bounded pool's capacity survived failed nested submissions: once idle, an outside
    // try_post finds room.
    if (bounded_ && !closed_) {
      p_->wait_idle();
      const std::size_t i = make_posted_leaf();
      if (i != max_records) {
        require(post(i, true), "an idle bounded pool refused try_post: its capacity leaked");
        ++outside_accepted_;
      }
    }
    std::optional<bobbin::pool_stats> s;
    if (destroy_at_end_) {
      owner_.reset();  // the destructor behaves like shutdown(); tasks still use p_ meanwhile
      p_ = nullptr;
    } else {
      p_->shutdown();
      s = p_->stats();
    }

    std::uint64_t accepted = 0, ran = 0, failed = 0, never_ran = 0, cancelled_by_futures = 0;
    int post_errors = 0;
    for (std::size_t i = 0; i < used_; ++i) {
      const record& r = recs_[i];
      const int runs = r.runs.load();
      require(runs <= 1, "a task ran twice");
      if (!r.accepted.load()) {
        require(runs == 0, "a task that was never accepted ran");
        continue;
      }
      ++accepted;
      if (runs == 1) {
        ++ran;
        if (r.throws) ++failed;  // a group member that threw counts as failed too (stats())
        if (r.throws && r.how == kind::posted) ++post_errors;
      } else {
        ++never_ran;
        require(r.cancel_succeeded.load() || now_called_.load(), "an accepted task never ran and was not cancelled");
        if (r.cancel_succeeded.load()) ++cancelled_by_futures;
      }
      if (r.saw_stop.load()) {
        require(r.cancel_called.load() || now_called_.load(),
                "a stop_token was requested without cancel() or shutdown_now()");
      }
    }

    for (auto& [i, f] : futures_) {
      require(f.ready(), "a future was not ready after its pool shut down");
      check_result(i, f);
    }
    for (auto& [ids, all] : gathered_) {
      require(all.ready(), "a when_all future was not ready after its pool shut down");
      check_gathered(ids, all);
    }
    require(errors_.load() == post_errors, "on_error was not called once per detached task that threw");
    require(never_ran - cancelled_by_futures <= cancelled_by_now_, "shutdown_now() returned fewer than it cancelled");
    require(cancelled_by_now_ <= never_ran, "shutdown_now() returned more than were cancelled");

    if (s) {
      require(s->submitted == accepted, "stats: submitted differs from the tasks accepted");
      require(s->completed + s->failed + s->cancelled == s->submitted,
              "stats: submitted != completed + failed + cancelled");
      require(s->failed == failed, "stats: failed differs from the tasks that threw");
      require(s->completed == ran - failed, "stats: completed differs from the tasks that returned");
      require(s->cancelled == never_ran, "stats: cancelled differs from the tasks that never ran");
      require(s->running == 0 && s->queued == 0, "stats: running or queued tasks after shutdown");
    }
    if (p_ != nullptr) {
      expect_closed([&] { (void)p_->submit([] { return 0; }); });
      expect_closed([&] { p_->post([] {}); });
    }
  }

  std::vector<record> recs_;
  std::size_t used_ = 0;  // records made (this thread only, before their tasks exist)
  // Every record's children, one slice each; allocated up front, as tasks read it while this
  // thread appends (each record is a child at most once).
  std::vector<std::size_t> child_lists_;
  std::size_t children_used_ = 0;
  std::unique_ptr<pool_type> owner_;
  // The pool for tasks too: unlike owner_, it stays set while the destructor runs them.
  pool_type* p_ = nullptr;
  std::vector<std::pair<std::size_t, future_type>> futures_;
  std::vector<std::pair<std::vector<std::size_t>, bobbin::future<std::vector<std::size_t>>>> gathered_;
  std::atomic<bool> now_called_{false};
  std::atomic<int> errors_{0};
  std::uint64_t cancelled_by_now_ = 0;
  std::uint64_t outside_accepted_ = 0;
  bool closed_ = false;
  bool destroy_at_end_ = false;
  bool wide_priorities_ = false;
  bool bad_children_ = false;
  bool bounded_ = false;
  std::mutex records_mutex_;
  std::atomic<std::uint64_t> posted_late_{0};
};

template <class Policy>
void run(unsigned threads, unsigned config, byte_reader in) {
  harness<Policy> h(threads, config);
  h.run(in);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 2) return 0;
  const unsigned threads = 1 + (data[0] >> 4) % 3;
  byte_reader in{std::span(data + 2, size - 2)};
  // data[0] % policy_count picks the policy, in bobbin_test::all_policies' order: the kept
  // inputs in tests/fuzz/regressions/fuzz_pool/ mean their policy only with both unchanged.
  static_assert(bobbin_test::policy_count == 5, "the kept fuzz_pool inputs were recorded with five policies");
  bobbin_test::with_policy(data[0] % bobbin_test::policy_count, [&]<class P>() { run<P>(threads, data[1], in); });
  return 0;
}
