// Fault injection (issue 8): this binary replaces the global operator new with one that
// throws std::bad_alloc (or, for the nothrow forms, returns nullptr) on the Nth allocation
// from the moment it is armed, counting only the threads that take part: the thread that
// armed it, or every pool worker when armed with inject::on_pool_threads. doctest and
// other threads allocate undisturbed.
//
// Each scenario sweeps N = 1, 2, 3, ... until the operation completes without reaching its
// Nth allocation, so every allocation it makes fails once. For every N it checks that the
// operation either succeeded or threw std::bad_alloc to its caller (no other exception, no
// std::terminate, no hang), that with injection off the object still works, and that every
// item or task accepted, before and by the successful calls, is delivered or run exactly
// once (in order, where there is one). The ASan build checks that nothing leaks.

#include <doctest/doctest.h>

#include <bobbin/broadcast_channel.hpp>
#include <bobbin/channel.hpp>
#include <bobbin/detail/config.hpp>
#include <bobbin/detail/task/ws_deque.hpp>
#include <bobbin/message_port.hpp>
#include <bobbin/policies.hpp>
#include <bobbin/pool.hpp>
#include <bobbin/task_group.hpp>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <deque>
#include <functional>
#include <memory>
#include <new>
#include <optional>
#include <stdexcept>
#include <thread>
#include <tuple>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

// ---------------------------------------------------------------------------------------
// The injecting operator new.

namespace inject {

// > 0: armed; the counted allocation that takes it from 1 to 0 fails. Then it stays <= 0.
std::atomic<long> countdown{0};
std::atomic<long> injected{0};  // failures injected so far
std::atomic<bool> pool_threads_count{false};
// constinit: no TLS guard, so reading them inside operator new is safe at any time.
constinit thread_local bool this_thread_counts = false;
constinit thread_local bool is_pool_thread = false;  // set by the pools' on_thread_start

bool fail_now() noexcept {
  if (!this_thread_counts && !(is_pool_thread && pool_threads_count.load(std::memory_order_relaxed))) return false;
  if (countdown.load(std::memory_order_relaxed) <= 0) return false;
  if (countdown.fetch_sub(1, std::memory_order_relaxed) != 1) return false;
  injected.fetch_add(1, std::memory_order_relaxed);
  return true;
}

enum scope { this_thread, on_pool_threads };

// Arms the injection for its lifetime: the n-th counted allocation from now fails.
class armed {
 public:
  explicit armed(long n, scope s = this_thread) : scope_(s), before_(injected.load()) {
    countdown.store(n);
    if (s == this_thread) {
      this_thread_counts = true;
    } else {
      pool_threads_count.store(true);
    }
  }
  armed(const armed&) = delete;
  armed& operator=(const armed&) = delete;
  ~armed() { disarm(); }

  // Idempotent; after it, nothing more is injected.
  void disarm() noexcept {
    countdown.store(0);
    if (scope_ == this_thread) {
      this_thread_counts = false;
    } else {
      pool_threads_count.store(false);
    }
  }
  // Whether a failure was injected since construction.
  bool hit() const noexcept { return injected.load() != before_; }

 private:
  scope scope_;
  long before_;
};

void* allocate(std::size_t n) noexcept { return std::malloc(n == 0 ? 1 : n); }

void* allocate(std::size_t n, std::align_val_t al) noexcept {
  const auto a = std::max(static_cast<std::size_t>(al), sizeof(void*));
  void* p = nullptr;
  return posix_memalign(&p, a, n == 0 ? a : n) == 0 ? p : nullptr;
}

}  // namespace inject

// Replacements built on malloc/free are exactly what the standard allows; g++ cannot see
// that the pairs match.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#endif

void* operator new(std::size_t n) {
  if (inject::fail_now()) throw std::bad_alloc();
  if (void* p = inject::allocate(n)) return p;
  throw std::bad_alloc();
}
void* operator new[](std::size_t n) { return ::operator new(n); }
void* operator new(std::size_t n, const std::nothrow_t&) noexcept {
  return inject::fail_now() ? nullptr : inject::allocate(n);
}
void* operator new[](std::size_t n, const std::nothrow_t&) noexcept { return ::operator new(n, std::nothrow); }
void* operator new(std::size_t n, std::align_val_t al) {
  if (inject::fail_now()) throw std::bad_alloc();
  if (void* p = inject::allocate(n, al)) return p;
  throw std::bad_alloc();
}
void* operator new[](std::size_t n, std::align_val_t al) { return ::operator new(n, al); }
void* operator new(std::size_t n, std::align_val_t al, const std::nothrow_t&) noexcept {
  return inject::fail_now() ? nullptr : inject::allocate(n, al);
}
void* operator new[](std::size_t n, std::align_val_t al, const std::nothrow_t&) noexcept {
  return ::operator new(n, al, std::nothrow);
}

void operator delete(void* p) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t) noexcept { std::free(p); }
void operator delete(void* p, const std::nothrow_t&) noexcept { std::free(p); }
void operator delete[](void* p, const std::nothrow_t&) noexcept { std::free(p); }
void operator delete(void* p, std::align_val_t) noexcept { std::free(p); }
void operator delete[](void* p, std::align_val_t) noexcept { std::free(p); }
void operator delete(void* p, std::size_t, std::align_val_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t, std::align_val_t) noexcept { std::free(p); }
void operator delete(void* p, std::align_val_t, const std::nothrow_t&) noexcept { std::free(p); }
void operator delete[](void* p, std::align_val_t, const std::nothrow_t&) noexcept { std::free(p); }

// ---------------------------------------------------------------------------------------
// Helpers.

namespace {

// Far more attempts than any scenario has allocations: reaching it means the sweep never
// ends (an allocation per attempt that never stops failing).
constexpr long sweep_limit = 5000;

enum class outcome { ok, bad_alloc, other };

template <class F>
outcome attempt(F&& f) {
  try {
    f();
    return outcome::ok;
  } catch (const std::bad_alloc&) {
    return outcome::bad_alloc;
  } catch (...) {
    return outcome::other;
  }
}

// Runs f on a new thread and joins it. The injection's switch is per thread, so f arms it
// there; and a new thread's caches are empty (the per-thread block cache of future states,
// detail/future/block_cache.hpp), so the state of its first submit really comes from operator new.
template <class F>
void on_fresh_thread(F&& f) {
  std::thread t(std::forward<F>(f));
  t.join();
}

bobbin::pool_options options(std::size_t threads, std::size_t queue_capacity = 0) {
  return {.threads = threads,
          .queue_capacity = queue_capacity,
          .on_thread_start = [](std::size_t) { inject::is_pool_thread = true; }};
}

// Holds the threads that pass it until it opens; counts them. Never allocates.
class gate {
 public:
  gate() = default;
  gate(const gate&) = delete;
  gate& operator=(const gate&) = delete;

  void pass() noexcept {
    held_.fetch_add(1);
    held_.notify_all();
    while (!open_.load(std::memory_order_acquire)) open_.wait(false);
  }
  void wait_held(int k) noexcept {
    for (int h = held_.load(); h < k; h = held_.load()) held_.wait(h);
  }
  void open() noexcept {
    open_.store(true, std::memory_order_release);
    open_.notify_all();
  }

 private:
  std::atomic<bool> open_{false};
  std::atomic<int> held_{0};
};

// Opens a gate when the scope ends, also when a REQUIRE leaves it early (a pool must not be
// destroyed while its workers wait at a closed gate).
struct opens {
  gate& g;
  ~opens() { g.open(); }
};

// Occupies every worker of p at g, so that what is submitted next stays queued.
template <class P>
void hold_workers(bobbin::pool<P>& p, gate& g) {
  for (std::size_t i = 0; i < p.size(); ++i) p.post([&g] { g.pass(); });
  g.wait_held(static_cast<int>(p.size()));
}

// A message that counts its live instances and allocates when copied, so a copy into a
// channel can fail.
struct payload {
  static inline std::atomic<long> live{0};
  int id;
  std::unique_ptr<int> box;

  explicit payload(int i) : id(i), box(std::make_unique<int>(i)) { live.fetch_add(1); }
  payload(const payload& o) : id(o.id), box(std::make_unique<int>(*o.box)) { live.fetch_add(1); }
  payload(payload&& o) noexcept : id(o.id), box(std::move(o.box)) { live.fetch_add(1); }
  payload& operator=(const payload&) = delete;
  ~payload() { live.fetch_sub(1); }
  bool intact() const { return box != nullptr && *box == id; }
};

// An executor that runs what it was given only when asked, on the asking thread. A task's
// exception is counted, as a pool would hand it to on_error.
class manual_executor {
 public:
  void post(std::function<void()> task) { tasks_.push_back(std::move(task)); }
  void run_all() {
    while (!tasks_.empty()) {
      std::function<void()> t = std::move(tasks_.front());
      tasks_.pop_front();
      try {
        t();
      } catch (...) {
        ++errors_;
      }
    }
  }
  long errors() const { return errors_; }

 private:
  std::deque<std::function<void()>> tasks_;
  long errors_ = 0;
};
static_assert(bobbin::detail::executor<manual_executor>);

// Fills a record of what a handler received without allocating (handlers run while
// injection may be armed).
struct record {
  std::array<int, 512> seen{};
  int count = 0;
  void add(int v) {
    if (count < static_cast<int>(seen.size())) seen[static_cast<std::size_t>(count)] = v;
    ++count;
  }
  std::vector<int> values() const { return {seen.begin(), seen.begin() + std::min<int>(count, 512)}; }
};

// `got` is 0..total-1, in order, each once; only `failed` (if >= 0) may be missing: the
// message whose send threw is delivered whole or not at all.
bool all_once_in_order(const std::vector<int>& got, int total, int failed) {
  std::vector<int> want;
  for (int i = 0; i < total; ++i) {
    if (i != failed) want.push_back(i);
  }
  if (got == want) return true;
  want.clear();
  for (int i = 0; i < total; ++i) want.push_back(i);
  return failed >= 0 && got == want;
}

// One submission from a thread outside the pool, swept. `submit(p, ran, f)` submits (or
// posts) a task that adds 1 to `ran` and returns 7, putting its future (if any) in f.
// Before it, ten tasks are queued behind busy workers; they must all run, once.
// Returns how many attempts had a failure injected.
template <class P, class Submit>
long sweep_outside_submission(Submit submit, bool fresh_thread) {
  long failures = 0;
  for (long n = 1;; ++n) {
    REQUIRE(n < sweep_limit);
    CAPTURE(n);
    gate g;
    std::atomic<int> before{0};
    std::atomic<int> ran{0};
    std::optional<bobbin::future<int>> f;
    bobbin::pool<P> p(options(2));
    opens open_at_exit{g};
    hold_workers(p, g);
    for (int i = 0; i < 10; ++i) p.post([&before] { before.fetch_add(1); });

    outcome o = outcome::other;
    bool hit = false;
    auto op = [&] {
      inject::armed a(n);
      o = attempt([&] { submit(p, ran, f); });
      hit = a.hit();
    };
    if (fresh_thread) {
      on_fresh_thread(op);
    } else {
      op();
    }
    CHECK(o != outcome::other);
    CHECK((o == outcome::bad_alloc) == hit);  // the failure reached the caller, nobody swallowed it
    if (o == outcome::bad_alloc) CHECK_FALSE(f.has_value());

    g.open();
    if (f) CHECK(f->get() == 7);
    p.wait_idle();
    CHECK(before == 10);
    CHECK(ran == (o == outcome::ok ? 1 : 0));
    CHECK(p.submit([] { return 42; }).get() == 42);  // still works
    p.wait_idle();
    const bobbin::pool_stats s = p.stats();
    CHECK(s.submitted == 2 + 10 + (o == outcome::ok ? 1 : 0) + 1);  // a refused task is not counted
    CHECK(s.completed == s.submitted);
    if (!hit) return failures;
    ++failures;
  }
}

// Big enough for the heap: past the task's 48 inline bytes, and past the block cache's
// 512 for a future state.
using big_payload = std::array<long, 80>;

}  // namespace

// ---------------------------------------------------------------------------------------
// 1. Submissions from outside the pool.

TEST_CASE_TEMPLATE("fault injection: submit and post from outside, every policy" * doctest::timeout(300), P,
                   bobbin::work_stealing, bobbin::least_busy, bobbin::round_robin, bobbin::priority,
                   bobbin::fifo) {
  big_payload big{};
  big[3] = 7;

  SUBCASE("submit: the future's shared state") {
    const long failures = sweep_outside_submission<P>(
        [](bobbin::pool<P>& p, std::atomic<int>& ran, std::optional<bobbin::future<int>>& f) {
          f.emplace(p.submit([&ran] {
            ran.fetch_add(1);
            return 7;
          }));
        },
        true);
    CHECK(failures >= 1);
  }
  SUBCASE("submit: a callable too big for the state cache") {
    const long failures = sweep_outside_submission<P>(
        [big](bobbin::pool<P>& p, std::atomic<int>& ran, std::optional<bobbin::future<int>>& f) {
          f.emplace(p.submit([&ran, big] {
            ran.fetch_add(1);
            return static_cast<int>(big[3]);
          }));
        },
        false);
    CHECK(failures >= 1);
  }
  SUBCASE("submit with task_options (a new priority level)") {
    sweep_outside_submission<P>(
        [](bobbin::pool<P>& p, std::atomic<int>& ran, std::optional<bobbin::future<int>>& f) {
          f.emplace(p.submit({.priority = 5}, [&ran] {
            ran.fetch_add(1);
            return 7;
          }));
        },
        true);
  }
  SUBCASE("post: a small callable allocates nothing") {
    const long failures = sweep_outside_submission<P>(
        [](bobbin::pool<P>& p, std::atomic<int>& ran, std::optional<bobbin::future<int>>&) {
          p.post([&ran] { ran.fetch_add(1); });
        },
        false);
    CHECK(failures == 0);
  }
  SUBCASE("post: a callable bigger than the inline buffer") {
    const long failures = sweep_outside_submission<P>(
        [big](bobbin::pool<P>& p, std::atomic<int>& ran, std::optional<bobbin::future<int>>&) {
          p.post([&ran, big] { ran.fetch_add(static_cast<int>(big[3]) - 6); });
        },
        false);
    CHECK(failures >= 1);
  }
  SUBCASE("try_post and try_submit") {
    sweep_outside_submission<P>(
        [big](bobbin::pool<P>& p, std::atomic<int>& ran, std::optional<bobbin::future<int>>&) {
          if (!p.try_post([&ran, big] { ran.fetch_add(static_cast<int>(big[3]) - 6); }))
            throw std::logic_error("unbounded: never full");
        },
        false);
    sweep_outside_submission<P>(
        [](bobbin::pool<P>& p, std::atomic<int>& ran, std::optional<bobbin::future<int>>& f) {
          auto r = p.try_submit([&ran] {
            ran.fetch_add(1);
            return 7;
          });
          if (!r) throw std::logic_error("unbounded: never full");
          f.emplace(std::move(*r));
        },
        true);
  }
}

// With queue_capacity, a submission first takes a place in the queue; a failure after that
// must give the place back, or the pool's capacity shrinks for good.
TEST_CASE_TEMPLATE("fault injection: a failed submission to a bounded pool gives its place back" *
                       doctest::timeout(120),
                   P, bobbin::work_stealing, bobbin::least_busy, bobbin::round_robin, bobbin::priority,
                   bobbin::fifo) {
  big_payload big{};
  constexpr std::size_t cap = 4;
  for (int kind = 0; kind < 3; ++kind) {
    CAPTURE(kind);
    for (long n = 1;; ++n) {
      REQUIRE(n < sweep_limit);
      CAPTURE(n);
      gate g;
      std::atomic<int> ran{0};
      bobbin::pool<P> p(options(2, cap));
      opens open_at_exit{g};
      hold_workers(p, g);  // taken off the queue: every place is free again
      bool hit = false;
      outcome o = outcome::other;
      std::optional<bobbin::future<int>> f;
      on_fresh_thread([&] {
        inject::armed a(n);
        o = attempt([&] {
          if (kind == 0) p.post([&ran, big] { ran.fetch_add(1 + static_cast<int>(big[0])); });
          if (kind == 1) (void)p.try_post([&ran, big] { ran.fetch_add(1 + static_cast<int>(big[0])); });
          if (kind == 2) f.emplace(p.submit([&ran] { return ran.fetch_add(1); }));
        });
        hit = a.hit();
      });
      CHECK(o != outcome::other);
      // Every place but the one the successful submission holds is free.
      const std::size_t held = o == outcome::ok ? 1 : 0;
      std::size_t accepted = 0;
      while (accepted < cap && p.try_post([&ran] { ran.fetch_add(1); })) ++accepted;
      CHECK(accepted == cap - held);
      g.open();
      if (f) (void)f->get();
      p.wait_idle();
      CHECK(ran == static_cast<int>(accepted + held));
      if (!hit) break;
    }
  }
}

// ---------------------------------------------------------------------------------------
// 2. Growth of the injection queue and the per-worker / shared queues.

TEST_CASE_TEMPLATE("fault injection: outside posts while the queues grow, every policy" * doctest::timeout(300), P,
                   bobbin::work_stealing, bobbin::least_busy, bobbin::round_robin, bobbin::priority,
                   bobbin::fifo) {
  constexpr int m = 3000;  // priority's ring grows twice, the per-worker rings more, the lock-free queue takes 12 segments
  long failures = 0;
  for (long n = 1;; ++n) {
    REQUIRE(n < sweep_limit);
    CAPTURE(n);
    gate g;
    std::vector<std::atomic<int>> ran(m);
    bobbin::pool<P> p(options(2));
    opens open_at_exit{g};
    hold_workers(p, g);
    int accepted = m;
    outcome o = outcome::ok;
    bool hit = false;
    {
      inject::armed a(n);
      for (int i = 0; i < m && o == outcome::ok; ++i) {
        o = attempt([&] { p.post([&ran, i] { ran[static_cast<std::size_t>(i)].fetch_add(1); }); });
        if (o != outcome::ok) accepted = i;
      }
      hit = a.hit();
    }
    CHECK(o != outcome::other);
    CHECK((o == outcome::bad_alloc) == hit);
    // Still works: the rest goes in without injection.
    for (int i = accepted + (o == outcome::ok ? 0 : 1); i < m; ++i)
      p.post([&ran, i] { ran[static_cast<std::size_t>(i)].fetch_add(1); });
    g.open();
    p.wait_idle();
    int wrong = 0;
    for (int i = 0; i < m; ++i) {
      const int expected = (o != outcome::ok && i == accepted) ? 0 : 1;
      if (ran[static_cast<std::size_t>(i)] != expected) ++wrong;
    }
    CHECK(wrong == 0);
    const bobbin::pool_stats s = p.stats();
    CHECK(s.submitted == 2 + static_cast<std::uint64_t>(m) - (o == outcome::ok ? 0 : 1));
    CHECK(s.completed == s.submitted);
    if (!hit) break;
    ++failures;
  }
  CHECK(failures >= 1);
}

// ---------------------------------------------------------------------------------------
// 3. A worker's own queue (the Chase-Lev deque for work_stealing) growing under nested
//    spawns, with failures armed on the pool's threads.

namespace {

struct nested_result {
  int accepted = 0;
  outcome o = outcome::ok;
};

// A task on a worker spawns m children (task_group::run if `group`, else nested submit)
// while children cannot run yet (they wait at `children_go`), so the worker's queue grows.
template <class P>
long sweep_nested_spawns(int m, bool group) {
  long failures = 0;
  for (long n = 1;; ++n) {
    REQUIRE(n < sweep_limit);
    CAPTURE(n);
    gate children_go;
    std::vector<std::atomic<int>> ran(static_cast<std::size_t>(m));
    bobbin::pool<P> p(options(2));
    opens open_at_exit{children_go};
    std::vector<bobbin::future<void>> futures;
    futures.reserve(static_cast<std::size_t>(m));  // the outer task's own bookkeeping does not allocate
    bool hit = false;
    auto outer = [&]() -> nested_result {
      nested_result r{m, outcome::ok};
      auto child = [&ran, &children_go](int i) {
        return [&ran, &children_go, i] {
          children_go.pass();
          ran[static_cast<std::size_t>(i)].fetch_add(1);
        };
      };
      bobbin::task_group tg(p);
      {
        inject::armed a(n, inject::on_pool_threads);
        for (int i = 0; i < m && r.o == outcome::ok; ++i) {
          r.o = attempt([&] {
            if (group) {
              tg.run(child(i));
            } else {
              futures.push_back(p.submit(child(i)));
            }
          });
          if (r.o != outcome::ok) r.accepted = i;
        }
        hit = a.hit();
      }
      children_go.open();
      tg.wait();
      for (auto& f : futures) f.get();
      return r;
    };
    const nested_result r = p.submit(outer).get();
    CHECK(r.o != outcome::other);
    CHECK((r.o == outcome::bad_alloc) == hit);
    p.wait_idle();
    int wrong = 0;
    for (int i = 0; i < m; ++i) {
      if (ran[static_cast<std::size_t>(i)] != (i < r.accepted ? 1 : 0)) ++wrong;
    }
    CHECK(wrong == 0);
    // Still works: the same again without injection.
    std::atomic<int> again{0};
    p.submit([&] {
       bobbin::task_group tg(p);
       for (int i = 0; i < m; ++i) tg.run([&again] { again.fetch_add(1); });
       tg.wait();
     }).get();
    CHECK(again == m);
    p.wait_idle();
    const bobbin::pool_stats s = p.stats();
    CHECK(s.completed + s.failed + s.cancelled == s.submitted);
    if (!hit) return failures;
    ++failures;
  }
}

}  // namespace

TEST_CASE_TEMPLATE("fault injection: task_group::run on a worker while its queue grows" * doctest::timeout(300), P,
                   bobbin::work_stealing, bobbin::least_busy, bobbin::round_robin, bobbin::priority,
                   bobbin::fifo) {
  // 2000: the deque (256 slots) grows three times, the per-worker rings (64) five times.
  CHECK(sweep_nested_spawns<P>(2000, true) >= 1);
}

TEST_CASE_TEMPLATE("fault injection: nested submit on a worker (states and queue growth)" * doctest::timeout(600), P,
                   bobbin::work_stealing, bobbin::round_robin, bobbin::fifo) {
  // Every nested submit allocates its future's state (the worker's cache is empty), so the
  // sweep is long: keep it just past the deque's first growth.
  CHECK(sweep_nested_spawns<P>(300, false) >= 300);
}

// A task whose nested submit failed and that caught the failure has still run normally.
// (A submit that was not queued must not go through the task's cancel hook, which would
// mark the *calling* task as cancelled in the statistics and run its before-publish hook
// early.)
TEST_CASE("fault injection: a failed nested submit does not count its caller as cancelled" *
          doctest::timeout(300)) {
  constexpr int m = 300;  // past the deque's 256 slots
  for (long n = 1;; ++n) {
    REQUIRE(n < sweep_limit);
    CAPTURE(n);
    bobbin::pool<> p(options(1));
    bool hit = false;
    p.post([&] {
      std::vector<bobbin::future<int>> fs;
      fs.reserve(m);
      {
        inject::armed a(n);
        for (int i = 0; i < m; ++i) {
          if (attempt([&] { fs.push_back(p.submit([i] { return i; })); }) != outcome::ok) break;
        }
        hit = a.hit();
      }
      for (auto& f : fs) (void)f.get();
    });
    p.wait_idle();
    const bobbin::pool_stats s = p.stats();
    CHECK(s.cancelled == 0);
    CHECK(s.completed == s.submitted);
    if (!hit) break;
  }
}

TEST_CASE("fault injection: ws_deque::push keeps its items when growth fails") {
  struct item {
    std::uint64_t id;
    std::uint64_t check;
  };
  constexpr std::uint64_t m = 1000;  // from 2 slots: nine growths
  long failures = 0;
  for (long n = 1;; ++n) {
    REQUIRE(n < sweep_limit);
    CAPTURE(n);
    bobbin::detail::ws_deque<item> d(2);
    std::uint64_t pushed = 0;
    outcome o = outcome::ok;
    bool hit = false;
    {
      inject::armed a(n);
      for (; pushed < m; ++pushed) {
        o = attempt([&] { d.push({pushed, ~pushed}); });
        if (o != outcome::ok) break;
      }
      hit = a.hit();
    }
    CHECK(o != outcome::other);
    CHECK((o == outcome::bad_alloc) == hit);
    CHECK(d.size_approx() == pushed);
    // Later pushes succeed (the failed one again first); a thief takes all, oldest first.
    for (std::uint64_t i = pushed; i < m; ++i) d.push({i, ~i});
    item v{};
    std::uint64_t next = 0;
    bool in_order = true;
    while (d.steal(v) == bobbin::detail::steal_status::success) {
      in_order = in_order && v.id == next && v.check == ~next;
      ++next;
    }
    CHECK(in_order);
    CHECK(next == m);
    if (!hit) break;
    ++failures;
  }
  CHECK(failures >= 9);  // each growth allocates the array, its slots, maybe the list of arrays
}

TEST_CASE("fault injection: ws_deque growth fails while a thief steals" * doctest::timeout(120)) {
  constexpr std::uint64_t m = 20'000;
  for (long n = 1;; ++n) {
    REQUIRE(n < sweep_limit);
    CAPTURE(n);
    bobbin::detail::ws_deque<std::uint64_t> d(2);
    std::atomic<bool> done{false};
    std::vector<std::uint64_t> stolen;
    std::thread thief([&] {
      std::uint64_t v = 0;
      for (;;) {
        const bool finished = done.load();
        if (d.steal(v) == bobbin::detail::steal_status::success) {
          stolen.push_back(v);
        } else if (finished && d.empty_approx()) {
          return;
        }
      }
    });
    std::vector<std::uint64_t> popped;
    popped.reserve(m);
    bool hit = false;
    outcome last = outcome::ok;
    int other = 0;
    {
      inject::armed a(n);
      for (std::uint64_t i = 0; i < m; ++i) {
        outcome o;
        while ((o = attempt([&] { d.push(i); })) == outcome::bad_alloc) last = o;  // retried: the next growth succeeds
        if (o == outcome::other) ++other;
        if (i % 7 == 0) {
          std::uint64_t v;
          if (d.pop(v)) popped.push_back(v);
        }
      }
      hit = a.hit();
    }
    std::uint64_t v;
    while (d.pop(v)) popped.push_back(v);
    done.store(true);
    thief.join();
    CHECK(other == 0);
    CHECK((last == outcome::bad_alloc) == hit);
    std::vector<std::uint64_t> all = popped;
    all.insert(all.end(), stolen.begin(), stolen.end());
    std::sort(all.begin(), all.end());
    bool exactly_once = all.size() == m;
    for (std::uint64_t i = 0; exactly_once && i < m; ++i) exactly_once = all[i] == i;
    CHECK(exactly_once);
    if (!hit) break;
  }
}

// With failures on every worker: a fork-join computation either completes or reports
// std::bad_alloc from wait(); no index runs twice, and nothing hangs.
TEST_CASE("fault injection: parallel_for with failures on the pool's threads" * doctest::timeout(300)) {
  constexpr int m = 400;
  bobbin::pool<> p(options(2));
  for (long n = 1;; ++n) {
    REQUIRE(n < sweep_limit);
    CAPTURE(n);
    std::vector<std::atomic<int>> ran(m);
    outcome o;
    bool hit;
    {
      inject::armed a(n, inject::on_pool_threads);
      o = attempt([&] {
        bobbin::parallel_for(
            p, 0, m,
            [&](int i) {
              if (i % 8 == 0) (void)std::make_unique<int>(i);  // the work itself allocates
              ran[static_cast<std::size_t>(i)].fetch_add(1);
            },
            1);
      });
      hit = a.hit();
    }
    CHECK(o != outcome::other);
    CHECK((o == outcome::bad_alloc) == hit);
    int twice = 0;
    int missing = 0;
    for (auto& r : ran) {
      twice += r > 1 ? 1 : 0;
      missing += r == 0 ? 1 : 0;
    }
    CHECK(twice == 0);
    if (o == outcome::ok) CHECK(missing == 0);
    if (!hit) break;
  }
  std::atomic<int> sum{0};
  bobbin::parallel_for(p, 0, m, [&](int i) { sum.fetch_add(i); });
  CHECK(sum == m * (m - 1) / 2);
}

// task_group::run with a callable that does not fit inline: the task's own box is the
// allocation that fails. The spawn is counted only once the task is built (or wait()
// would hang), and a refused task's callable is destroyed (or its box would leak).
TEST_CASE("fault injection: task_group::run with a boxed callable" * doctest::timeout(60)) {
  bobbin::pool<> p(options(2));
  std::atomic<int> ran{0};
  big_payload big{};
  for (long n = 1;; ++n) {
    REQUIRE(n < sweep_limit);
    CAPTURE(n);
    bobbin::task_group tg(p);
    outcome o;
    bool hit;
    {
      inject::armed a(n);
      o = attempt([&] { tg.run([&ran, big] { ran.fetch_add(1 + static_cast<int>(big[0])); }); });
      hit = a.hit();
    }
    CHECK(o != outcome::other);
    tg.wait();
    if (!hit) break;
  }
  // And from a worker, where the queue's growth may fail too.
  for (long n = 1;; ++n) {
    REQUIRE(n < sweep_limit);
    CAPTURE(n);
    bool hit = false;
    p.submit([&] {
       bobbin::task_group tg(p);
       inject::armed a(n);
       for (int i = 0; i < 300; ++i) {
         if (attempt([&] { tg.run([&ran, big] { ran.fetch_add(1 + static_cast<int>(big[0])); }); }) !=
             outcome::ok)
           break;
       }
       hit = a.hit();
       a.disarm();
       tg.wait();
     }).get();
    if (!hit) break;
  }
}

// future::then allocates the continuation's state before the source state leaves the
// future; otherwise the source state, and the value in it, would leak.
struct then_value {
  static inline std::atomic<long> live{0};
  int id;
  explicit then_value(int i) : id(i) { live.fetch_add(1); }
  then_value(const then_value& o) : id(o.id) { live.fetch_add(1); }
  ~then_value() { live.fetch_sub(1); }
};

TEST_CASE("fault injection: then() that fails to allocate leaks nothing") {
  bobbin::pool<> p(options(2));
  for (long n = 1;; ++n) {
    REQUIRE(n < sweep_limit);
    CAPTURE(n);
    {
      auto f = p.submit([] { return then_value(1); });
      f.wait();
      std::optional<bobbin::future<int>> g;
      outcome o;
      bool hit;
      {
        inject::armed a(n);
        o = attempt([&] { g.emplace(f.then([](then_value v) { return v.id + 1; })); });
        hit = a.hit();
      }
      CHECK(o != outcome::other);
      if (g) CHECK(g->get() == 2);
      if (!hit) break;
    }
    p.wait_idle();
    CHECK(then_value::live == 0);
  }
}

// when_all (issue 15, 11): like then(), it consumes its inputs only when it succeeds. A
// failure at any of its allocations reaches the caller, and every input is still valid
// and gives its value; once it succeeded, the result holds every value (nothing is left
// to allocate when the inputs complete). Inputs ready before the call (the result is
// assembled inside it) and inputs still pending behind busy workers.
TEST_CASE("fault injection: when_all(range) that fails to allocate leaves every input valid" *
          doctest::timeout(120)) {
  constexpr int m = 5;
  bobbin::pool<> p(options(2));
  for (const bool pending : {false, true}) {
    CAPTURE(pending);
    long failures = 0;
    for (long n = 1;; ++n) {
      REQUIRE(n < sweep_limit);
      CAPTURE(n);
      gate g;
      opens open_at_exit{g};
      std::vector<bobbin::future<then_value>> fs;
      for (int i = 0; i < m; ++i) {
        fs.push_back(p.submit([&g, pending, i] {
          if (pending) g.pass();
          return then_value(i);
        }));
      }
      if (!pending) {
        for (auto& f : fs) f.wait();
      }
      std::optional<bobbin::future<std::vector<then_value>>> all;
      outcome o;
      bool hit;
      {
        inject::armed a(n);
        o = attempt([&] { all.emplace(bobbin::when_all(fs)); });
        hit = a.hit();
      }
      CHECK(o != outcome::other);
      CHECK((o == outcome::bad_alloc) == hit);
      g.open();
      std::vector<int> got;
      if (o == outcome::bad_alloc) {
        for (auto& f : fs) {
          CHECK(f.valid());
          if (f.valid()) got.push_back(f.get().id);
        }
      } else {
        for (auto& f : fs) CHECK_FALSE(f.valid());
        REQUIRE(all.has_value());
        for (const then_value& v : all->get()) got.push_back(v.id);
      }
      CHECK(got == std::vector<int>{0, 1, 2, 3, 4});
      p.wait_idle();
      if (!hit) break;
      ++failures;
    }
    CHECK(failures >= 1);
  }
  CHECK(then_value::live == 0);
}

TEST_CASE("fault injection: when_all(futures...) that fails to allocate leaves every input valid" *
          doctest::timeout(120)) {
  bobbin::pool<> p(options(2));
  for (const bool pending : {false, true}) {
    CAPTURE(pending);
    long failures = 0;
    for (long n = 1;; ++n) {
      REQUIRE(n < sweep_limit);
      CAPTURE(n);
      gate g;
      opens open_at_exit{g};
      auto a = p.submit([&g, pending] {
        if (pending) g.pass();
        return then_value(1);
      });
      auto b = p.submit([&g, pending] {
        if (pending) g.pass();
        return big_payload{2};
      });
      auto c = p.submit([&g, pending] {
        if (pending) g.pass();
      });
      if (!pending) {
        a.wait();
        b.wait();
        c.wait();
      }
      std::optional<bobbin::future<std::tuple<then_value, big_payload, std::monostate>>> all;
      outcome o;
      bool hit;
      {
        inject::armed armed(n);
        o = attempt([&] { all.emplace(bobbin::when_all(std::move(a), std::move(b), std::move(c))); });
        hit = armed.hit();
      }
      CHECK(o != outcome::other);
      CHECK((o == outcome::bad_alloc) == hit);
      g.open();
      if (o == outcome::bad_alloc) {
        REQUIRE(a.valid());
        REQUIRE(b.valid());
        REQUIRE(c.valid());
        CHECK(a.get().id == 1);
        CHECK(b.get()[0] == 2);
        c.get();
      } else {
        CHECK_FALSE(a.valid());
        CHECK_FALSE(b.valid());
        CHECK_FALSE(c.valid());
        REQUIRE(all.has_value());
        auto [x, y, z] = all->get();
        CHECK(x.id == 1);
        CHECK(y[0] == 2);
        (void)z;
      }
      p.wait_idle();
      if (!hit) break;
      ++failures;
    }
    CHECK(failures >= 1);
  }
  CHECK(then_value::live == 0);
}

// ---------------------------------------------------------------------------------------
// 4. Channels.

namespace {

// Sends 0..m-1 through `send(ch, i)` with injection armed; after the first failure, sends
// the rest (the failed one again) without it; checks that the receiver gets 0..m-1 once
// each, in order. Returns how many attempts had a failure injected.
template <class Make, class Send>
long sweep_sends(Make make, Send send, int m) {
  long failures = 0;
  for (long n = 1;; ++n) {
    REQUIRE(n < sweep_limit);
    CAPTURE(n);
    {
      auto ch = make();
      int sent = 0;
      outcome o = outcome::ok;
      bool hit = false;
      {
        inject::armed a(n);
        for (; sent < m; ++sent) {
          o = attempt([&] { send(ch, sent); });
          if (o != outcome::ok) break;
        }
        hit = a.hit();
      }
      CHECK(o != outcome::other);
      CHECK((o == outcome::bad_alloc) == hit);
      // A failed copy's slot counts until a receiver steps over it.
      CHECK(ch.size() >= static_cast<std::size_t>(sent));
      CHECK(ch.size() <= static_cast<std::size_t>(sent) + 1);
      for (int i = sent; i < m; ++i) send(ch, i);
      ch.close();
      std::vector<int> got;
      bool intact = true;
      while (auto v = ch.try_receive()) {
        if constexpr (std::is_same_v<std::decay_t<decltype(*v)>, payload>) {
          intact = intact && v->intact();
          got.push_back(v->id);
        } else {
          got.push_back(*v);
        }
      }
      CHECK(intact);
      CHECK(all_once_in_order(got, m, -1));
      if (!hit) return failures;
      ++failures;
    }
    CHECK(payload::live == 0);
  }
}

}  // namespace

TEST_CASE("fault injection: unbounded channel, segments that fail to allocate") {
  constexpr int m = 5000;  // 1024 ints a segment: five of them
  const auto make = [] { return bobbin::channel<int>(); };
  SUBCASE("send") {
    CHECK(sweep_sends(make, [](bobbin::channel<int>& ch, int i) {
            if (!ch.send(i)) throw std::logic_error("closed");
          }, m) == 5);
  }
  SUBCASE("try_send") {
    CHECK(sweep_sends(make, [](bobbin::channel<int>& ch, int i) {
            if (ch.try_send(i) != bobbin::send_status::ok) throw std::logic_error("not ok");
          }, m) == 5);
  }
  SUBCASE("send_for") {
    CHECK(sweep_sends(make, [](bobbin::channel<int>& ch, int i) {
            if (ch.send_for(i, std::chrono::seconds(1)) != bobbin::send_status::ok) throw std::logic_error("not ok");
          }, m) == 5);
  }
}

TEST_CASE("fault injection: channel of a message whose copy allocates") {
  constexpr int m = 40;
  // A copied message is left as it was when its send fails; a moved one is moved only on
  // success; a slot whose copy failed is never received (receivers step over it).
  const auto copy_send = [](auto& ch, int i) {
    const payload v(i);
    bool ok = false;
    try {
      ok = ch.send(v);
    } catch (const std::bad_alloc&) {
      if (!v.intact()) throw std::logic_error("the failed send changed its value");
      throw;
    }
    if (!ok) throw std::logic_error("closed");
  };
  const auto copy_try_send = [](auto& ch, int i) {
    const payload v(i);
    bobbin::send_status st{};
    try {
      st = ch.try_send(v);
    } catch (const std::bad_alloc&) {
      if (!v.intact()) throw std::logic_error("the failed send changed its value");
      throw;
    }
    if (st != bobbin::send_status::ok) throw std::logic_error("not ok");
  };
  const auto move_send = [](auto& ch, int i) {
    payload v(i);  // its own allocation, armed too: fails before the send
    bool ok = false;
    try {
      ok = ch.send(std::move(v));
    } catch (const std::bad_alloc&) {
      if (!v.intact()) throw std::logic_error("the failed send moved its value");
      throw;
    }
    if (!ok) throw std::logic_error("closed");
  };
  const auto unbounded = [] { return bobbin::channel<payload>(); };
  const auto bounded = [] { return bobbin::channel<payload>(bobbin::capacity{64}); };
  SUBCASE("unbounded, copy") { CHECK(sweep_sends(unbounded, copy_send, m) >= 2 * m); }
  SUBCASE("unbounded, try_send copy") { CHECK(sweep_sends(unbounded, copy_try_send, m) >= 2 * m); }
  SUBCASE("unbounded, move") { CHECK(sweep_sends(unbounded, move_send, m) >= m); }
  SUBCASE("bounded, copy") { CHECK(sweep_sends(bounded, copy_send, m) == 2 * m); }
  SUBCASE("bounded, try_send copy") { CHECK(sweep_sends(bounded, copy_try_send, m) == 2 * m); }
  SUBCASE("bounded, move") { CHECK(sweep_sends(bounded, move_send, m) == m); }
  CHECK(payload::live == 0);
}

// A receiver on another thread (not injected) takes messages while the sender's copies
// fail: it steps over the failed slot, is never stuck on it, and gets the rest in order.
TEST_CASE("fault injection: failed sends while a receiver waits" * doctest::timeout(300)) {
  constexpr int m = 60;
  for (std::size_t capacity : {std::size_t{0}, std::size_t{4}}) {
    CAPTURE(capacity);
    for (long n = 1;; ++n) {
      REQUIRE(n < sweep_limit);
      CAPTURE(n);
      {
        auto ch = capacity == 0 ? bobbin::channel<payload>() : bobbin::channel<payload>(bobbin::capacity{capacity});
        std::vector<int> got;
        bool intact = true;
        std::thread receiver([&] {
          got.reserve(m);
          while (auto v = ch.receive()) {
            intact = intact && v->intact();
            got.push_back(v->id);
          }
        });
        int failed = -1;
        int other = 0;
        bool hit;
        {
          inject::armed a(n);
          for (int i = 0; i < m; ++i) {
            const outcome o = attempt([&] {
              const payload v(i);
              (void)ch.send(v);
            });
            if (o == outcome::bad_alloc) failed = i;
            if (o == outcome::other) ++other;
          }
          hit = a.hit();
        }
        ch.close();
        receiver.join();
        CHECK(other == 0);
        CHECK((failed >= 0) == hit);
        CHECK(intact);
        std::vector<int> want;
        for (int i = 0; i < m; ++i) {
          if (i != failed) want.push_back(i);
        }
        CHECK(got == want);
        if (!hit) break;
      }
      CHECK(payload::live == 0);
    }
  }
}

TEST_CASE("fault injection: constructors that fail leak nothing") {
  const auto sweep = [](auto make) {
    for (long n = 1;; ++n) {
      REQUIRE(n < sweep_limit);
      CAPTURE(n);
      outcome o;
      bool hit;
      {
        inject::armed a(n);
        o = attempt([&] { (void)make(); });
        hit = a.hit();
      }
      CHECK(o != outcome::other);
      CHECK((o == outcome::bad_alloc) == hit);
      if (!hit) return n;
    }
  };
  CHECK(sweep([] { return bobbin::channel<int>(); }) > 1);
  CHECK(sweep([] { return bobbin::channel<int>(bobbin::capacity{16}); }) > 1);
  CHECK(sweep([] { return bobbin::broadcast_channel<int>(); }) > 1);
  CHECK(sweep([] { return bobbin::make_message_channel<int, payload>(); }) > 1);
  CHECK(sweep([] {
          bobbin::channel<int> ch;
          ch.send(1);  // the first segment
          return ch;
        }) > 1);
}

TEST_CASE_TEMPLATE("fault injection: a pool whose construction fails leaks nothing" * doctest::timeout(120), P,
                   bobbin::work_stealing, bobbin::least_busy, bobbin::round_robin, bobbin::priority,
                   bobbin::fifo) {
  for (long n = 1;; ++n) {
    REQUIRE(n < sweep_limit);
    CAPTURE(n);
    outcome o;
    bool hit;
    {
      inject::armed a(n);
      o = attempt([&] { bobbin::pool<P> p(options(2)); });
      hit = a.hit();
    }
    CHECK(o != outcome::other);
    CHECK((o == outcome::bad_alloc) == hit);
    if (!hit) break;
  }
}

// ---------------------------------------------------------------------------------------
// Ports and broadcast channels: queues of their own, and handlers scheduled on an executor.

TEST_CASE("fault injection: message_port::post_message without a handler") {
  constexpr int m = 3000;
  long failures = 0;
  for (long n = 1;; ++n) {
    REQUIRE(n < sweep_limit);
    CAPTURE(n);
    auto ports = bobbin::make_message_channel<int, int>();
    auto& a = ports.port1;
    auto& b = ports.port2;
    int posted = 0;
    outcome o = outcome::ok;
    bool hit;
    {
      inject::armed armed(n);
      for (; posted < m; ++posted) {
        o = attempt([&] {
          if (!a.post_message(posted)) throw std::logic_error("closed");
        });
        if (o != outcome::ok) break;
      }
      hit = armed.hit();
    }
    CHECK(o != outcome::other);
    CHECK((o == outcome::bad_alloc) == hit);
    for (int i = posted; i < m; ++i) a.post_message(i);
    a.close();
    std::vector<int> got;
    while (auto v = b.try_receive()) got.push_back(*v);
    CHECK(all_once_in_order(got, m, -1));
    if (!hit) break;
    ++failures;
  }
  CHECK(failures >= 3);
}

// With a handler, a post also schedules a drain on the executor, which allocates. If that
// fails, post_message throws but the message stays queued (message_port.hpp): it is
// delivered, once and in order, with the next post or the close.
TEST_CASE("fault injection: message_port::post_message with a handler") {
  constexpr int m = 40;
  for (long n = 1;; ++n) {
    REQUIRE(n < sweep_limit);
    CAPTURE(n);
    manual_executor ex;
    record seen;
    int failed = -1;
    bool hit;
    int other = 0;
    {
      auto ports = bobbin::make_message_channel<int, int>();
      auto& a = ports.port1;
      auto& b = ports.port2;
      b.on_message([&seen](int v) { seen.add(v); }, ex);
      {
        inject::armed armed(n);
        for (int i = 0; i < m; ++i) {
          const outcome o = attempt([&] {
            if (!a.post_message(i)) throw std::logic_error("closed");
          });
          if (o == outcome::bad_alloc) failed = i;
          if (o == outcome::other) ++other;
          ex.run_all();  // a drain per post: every post schedules one
        }
        hit = armed.hit();
      }
      a.close();
      ex.run_all();
    }
    CHECK(other == 0);
    CHECK((failed >= 0) == hit);
    CHECK(ex.errors() == 0);
    CHECK(all_once_in_order(seen.values(), m, failed));
    if (!hit) break;
  }
}

// set_handler allocates the handler: if that fails, no handler is set, and on_message may
// be called again.
TEST_CASE("fault injection: on_message that fails can be retried") {
  for (long n = 1;; ++n) {
    REQUIRE(n < sweep_limit);
    CAPTURE(n);
    manual_executor ex;
    record first;
    record second;
    outcome o;
    bool hit;
    {
      auto ports = bobbin::make_message_channel<int, int>();
      auto& a = ports.port1;
      auto& b = ports.port2;
      for (int i = 0; i < 3; ++i) a.post_message(i);
      {
        inject::armed armed(n);
        o = attempt([&] { b.on_message([&first](int v) { first.add(v); }, ex); });
        hit = armed.hit();
      }
      CHECK(o != outcome::other);
      CHECK((o == outcome::bad_alloc) == hit);
      // Either the handler is set (a second one is refused) or a second one may be set.
      bool refused = false;
      try {
        b.on_message([&second](int v) { second.add(v); }, ex);
      } catch (const std::logic_error&) {
        refused = true;
      }
      a.post_message(3);
      a.close();
      ex.run_all();
      const std::vector<int> got = refused ? first.values() : second.values();
      CHECK(all_once_in_order(got, 4, -1));
      CHECK((refused ? second.count : first.count) == 0);
      if (o == outcome::ok) CHECK(refused);
    }
    if (!hit) break;
  }
}

// Closing a port with a handler schedules a last drain that releases the handler. If that
// fails, both directions are closed all the same, and closing again releases the handler.
namespace {
struct tracked {
  static inline std::atomic<long> live{0};
  tracked() { live.fetch_add(1); }
  tracked(const tracked&) { live.fetch_add(1); }
  tracked(tracked&&) noexcept { live.fetch_add(1); }
  ~tracked() { live.fetch_sub(1); }
};
}  // namespace

TEST_CASE("fault injection: closing a port whose last drain cannot be scheduled") {
  for (long n = 1;; ++n) {
    REQUIRE(n < sweep_limit);
    CAPTURE(n);
    manual_executor ex;
    record seen;
    outcome o;
    bool hit;
    {
      auto ports = bobbin::make_message_channel<int, int>();
      auto& a = ports.port1;
      auto& b = ports.port2;
      b.on_message([&seen, t = tracked{}](int v) { seen.add(v); }, ex);
      a.post_message(1);
      ex.run_all();
      {
        inject::armed armed(n);
        o = attempt([&] { a.close(); });  // a's side first: the direction b handles
        hit = armed.hit();
      }
      CHECK(o != outcome::other);
      CHECK((o == outcome::bad_alloc) == hit);
      CHECK(a.closed());
      CHECK(b.closed());
      CHECK_FALSE(a.post_message(2));
      CHECK_FALSE(b.post_message(3));
      if (o != outcome::ok) a.close();  // again, without injection
      ex.run_all();
      CHECK(tracked::live == 0);  // the handler was released, with the last drain
      CHECK(seen.values() == std::vector<int>{1});
    }
    CHECK(tracked::live == 0);
    if (!hit) break;
  }
}

TEST_CASE("fault injection: broadcast_channel::subscribe") {
  for (long n = 1;; ++n) {
    REQUIRE(n < sweep_limit);
    CAPTURE(n);
    bobbin::broadcast_channel<int> bc;
    auto early = bc.subscribe();
    std::optional<bobbin::broadcast_receiver<int>> late;
    outcome o;
    bool hit;
    {
      inject::armed a(n);
      o = attempt([&] { late.emplace(bc.subscribe()); });
      hit = a.hit();
    }
    CHECK(o != outcome::other);
    CHECK((o == outcome::bad_alloc) == hit);
    CHECK(bc.subscriber_count() == (o == outcome::ok ? 2u : 1u));
    bc.post_message(5);
    CHECK(early.try_receive() == 5);
    if (late) CHECK(late->try_receive() == 5);
    if (!hit) break;
  }
}

// Three subscribers, two with handlers: a post copies the message into each queue (their
// first segments), collects the subscribers to schedule, and schedules their drains. A post
// that throws has reached a prefix of the subscribers (broadcast_channel.hpp); whatever a
// subscriber accepted reaches it once, in order.
TEST_CASE("fault injection: broadcast_channel::post_message") {
  constexpr int m = 30;
  for (bool drain_each : {false, true}) {
    CAPTURE(drain_each);
    for (long n = 1;; ++n) {
      REQUIRE(n < sweep_limit);
      CAPTURE(n);
      manual_executor ex;
      std::array<record, 3> seen;
      int failed = -1;
      int other = 0;
      bool hit;
      {
        bobbin::broadcast_channel<payload> bc;
        auto plain = bc.subscribe();
        auto h1 = bc.subscribe();
        auto h2 = bc.subscribe();
        h1.on_message([&seen](payload v) { seen[1].add(v.intact() ? v.id : -1); }, ex);
        h2.on_message([&seen](payload v) { seen[2].add(v.intact() ? v.id : -1); }, ex);
        {
          inject::armed armed(n);
          for (int i = 0; i < m; ++i) {
            const outcome o = attempt([&] {
              const payload v(i);
              if (!bc.post_message(v)) throw std::logic_error("closed");
            });
            if (o == outcome::bad_alloc) failed = i;
            if (o == outcome::other) ++other;
            if (drain_each) ex.run_all();
          }
          hit = armed.hit();
        }
        bc.close();
        ex.run_all();
        while (auto v = plain.try_receive()) seen[0].add(v->intact() ? v->id : -1);
      }
      CHECK(other == 0);
      CHECK((failed >= 0) == hit);
      for (const record& r : seen) CHECK(all_once_in_order(r.values(), m, failed));
      // A prefix: a later subscriber has the failed message only if the earlier ones do.
      if (failed >= 0) {
        std::array<bool, 3> has{};
        for (std::size_t k = 0; k < 3; ++k) {
          const auto v = seen[k].values();
          has[k] = std::find(v.begin(), v.end(), failed) != v.end();
        }
        CHECK((has[0] || !has[1]));
        CHECK((has[1] || !has[2]));
      }
      if (!hit) break;
    }
    CHECK(payload::live == 0);
  }
}

// After a failed post, what the subscribers with handlers accepted is on its way to them:
// only a subscriber whose drain could not be scheduled (the executor's post threw, which
// leaves the message queued for the next post, as for a port) may still hold it, and then
// the post had reached every subscriber.
TEST_CASE("fault injection: a failed broadcast post leaves no accepted message unscheduled") {
  constexpr int m = 20;
  constexpr std::size_t subs_n = 4;
  for (long n = 1;; ++n) {
    REQUIRE(n < sweep_limit);
    CAPTURE(n);
    manual_executor ex;
    std::array<record, subs_n> seen;
    bobbin::broadcast_channel<int> bc;
    std::vector<bobbin::broadcast_receiver<int>> subs;
    for (std::size_t k = 0; k < subs_n; ++k) {
      subs.push_back(bc.subscribe());
      subs.back().on_message([&seen, k](int v) { seen[k].add(v); }, ex);
    }
    bool hit;
    int failed = -1;
    int other = 0;
    {
      inject::armed armed(n);
      for (int i = 0; i < m && failed < 0; ++i) {
        const outcome o = attempt([&] { bc.post_message(i); });
        if (o == outcome::bad_alloc) failed = i;
        if (o == outcome::other) ++other;
        ex.run_all();
      }
      hit = armed.hit();
    }
    ex.run_all();
    CHECK(other == 0);
    CHECK((failed >= 0) == hit);
    CHECK(ex.errors() == 0);
    std::array<std::vector<int>, subs_n> queued;
    std::size_t stranded = 0;
    bool everywhere = true;
    for (std::size_t k = 0; k < subs_n; ++k) {
      while (auto v = subs[k].try_receive()) queued[k].push_back(*v);
      stranded += queued[k].empty() ? 0 : 1;
      std::vector<int> all = seen[k].values();
      all.insert(all.end(), queued[k].begin(), queued[k].end());
      CHECK(all_once_in_order(all, failed >= 0 ? failed + 1 : m, failed));
      everywhere = everywhere && std::find(all.begin(), all.end(), failed) != all.end();
    }
    CHECK(stranded <= 1);
    if (stranded == 1) CHECK(everywhere);
    if (!hit) break;
  }
}
