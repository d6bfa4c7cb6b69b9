// Coroutines (bobbin/task.hpp): task<T> of every kind of result, laziness, exceptions,
// chains of awaits that use no stack, fork-join fib over every policy, when_all and
// when_any over tasks and futures, co_await on futures and pool.schedule(), stop and
// cancel of suspended coroutines (frames destroyed exactly once), wait_idle and the
// destructor with suspended roots, statistics, no frame allocation in steady-state
// fork-join (the counting operator new of support/fault_alloc.hpp), and a stress run.
#include <doctest/doctest.h>

#include <bobbin/pool.hpp>
#include <bobbin/task.hpp>

#include "support/counted.hpp"
#include "support/fault_alloc.hpp"
#include "support/policies.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <numeric>
#include <optional>
#include <stdexcept>
#include <stop_token>
#include <string>
#include <thread>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

namespace {

using namespace std::chrono_literals;
using bobbin::task;

struct first_error : std::runtime_error {
  first_error() : std::runtime_error("first") {}
};
struct second_error : std::runtime_error {
  second_error() : std::runtime_error("second") {}
};

// Locals and parameters of coroutines: a frame destroyed exactly once brings these to 0.
using local = bobbin_test::counted<int, struct local_tag>;
using param = bobbin_test::counted<int, struct param_tag>;

task<int> value_of(int v) { co_return v; }
task<void> nothing() { co_return; }
task<int&> ref_to(int& r) { co_return r; }
task<std::string> text(std::size_t n) { co_return std::string(n, 'x'); }
task<std::unique_ptr<int>> boxed(int v) { co_return std::make_unique<int>(v); }
task<int> read_param(param p) { co_return p.value; }

template <class E>
task<int> fail_with() {
  throw E{};
  co_return 0;
}

task<int> mark(std::atomic<int>& ran, int v) {
  ran.fetch_add(1);
  co_return v;
}

task<long> fib(int n) {
  if (n < 2) co_return n;
  auto [a, b] = co_await bobbin::when_all(fib(n - 1), fib(n - 2));
  co_return a + b;
}

task<long> sequential_awaits(int n) {
  long sum = 0;
  for (int i = 0; i < n; ++i) sum += co_await value_of(1);
  for (int i = 0; i < n; ++i) co_await nothing();
  co_return sum;
}

task<long> deep(int n) {
  if (n == 0) co_return 0;
  co_return 1 + co_await deep(n - 1);
}

// How far the stack moved between the first and the last of n sequential awaits, and
// between the outermost and innermost of n nested ones: about 0 when symmetric transfer is
// a tail call, or trampolined where it is not (detail/coro/transfer.hpp).
task<std::uintptr_t> frame_address() { co_return reinterpret_cast<std::uintptr_t>(__builtin_frame_address(0)); }
task<std::uintptr_t> nested_frame_address(int n) {
  if (n == 0) co_return co_await frame_address();
  co_return co_await nested_frame_address(n - 1);
}
task<std::ptrdiff_t> stack_growth(int n, bool nested) {
  const std::uintptr_t first = co_await frame_address();
  std::uintptr_t last = first;
  if (nested) {
    last = co_await nested_frame_address(n);
  } else {
    for (int i = 0; i < n; ++i) last = co_await frame_address();
  }
  co_return static_cast<std::ptrdiff_t>(first - last);
}

// A flag the test thread opens; tasks on a pool of their own wait for it.
struct gate {
  std::atomic<bool> opened{false};
  void wait() const {
    while (!opened.load()) std::this_thread::sleep_for(100us);
  }
  void open() { opened = true; }
};

void wait_for_flag(const std::atomic<bool>& flag) {
  while (!flag.load()) std::this_thread::sleep_for(100us);
}

// What the losers of when_any saw: blocking tasks that started, and of those the ones
// that saw their stop token requested (the loser's await cancels its task), and losers
// whose await threw task_cancelled while their own stop token was requested. A loser that
// starts after the winner ended cancels its task before that task starts.
struct race_counts {
  std::atomic<int> started{0}, stopped{0}, cancelled{0};
  void reset() {
    started = 0;
    stopped = 0;
    cancelled = 0;
  }
};

// A loser of when_any: waits, on `blockers`, until its stop is requested.
task<int> until_stopped(bobbin::pool<>& blockers, race_counts& counts) {
  const std::stop_token st = co_await bobbin::this_task::stop_token();
  auto f = blockers.submit([&counts](std::stop_token own) {
    counts.started.fetch_add(1);
    while (!own.stop_requested()) std::this_thread::sleep_for(200us);
    counts.stopped.fetch_add(1);
    return -1;
  });
  try {
    co_return co_await std::move(f);
  } catch (const bobbin::task_cancelled&) {
    if (st.stop_requested()) counts.cancelled.fetch_add(1);
    throw;
  }
}

// v after d, waiting on `blockers` (the coroutine suspends meanwhile).
task<int> value_after(bobbin::pool<>& blockers, int v, std::chrono::milliseconds d) {
  co_return co_await blockers.submit([v, d] {
    std::this_thread::sleep_for(d);
    return v;
  });
}

// Suspends on a future that completes only when `g` opens; counts its task_cancelled.
task<int> await_gate(bobbin::pool<>& blockers, gate& g, std::atomic<int>& suspended, std::atomic<int>& cancelled) {
  local l{1};
  auto fut = blockers.submit([&g] {
    g.wait();
    return 1;
  });
  suspended.fetch_add(1);
  try {
    co_return co_await std::move(fut) + l.value;
  } catch (const bobbin::task_cancelled&) {
    cancelled.fetch_add(1);
    throw;
  }
}

}  // namespace

// ---- task<T>: results, laziness, misuse, lifetime ----

TEST_CASE("task: int, void, int&, std::string and move-only results, through sync_wait, co_await and submit") {
  CHECK(bobbin::sync_wait(value_of(42)) == 42);
  bobbin::sync_wait(nothing());
  int x = 1;
  int& r = bobbin::sync_wait(ref_to(x));
  CHECK(&r == &x);
  CHECK(bobbin::sync_wait(text(1000)) == std::string(1000, 'x'));
  const std::unique_ptr<int> b = bobbin::sync_wait(boxed(7));
  REQUIRE(b != nullptr);
  CHECK(*b == 7);

  auto all_kinds = [](int& target) -> task<int> {
    const int a = co_await value_of(1);
    co_await nothing();
    int& ref = co_await ref_to(target);
    ref += 10;
    const std::string s = co_await text(100);
    const std::unique_ptr<int> u = co_await boxed(5);
    co_return a + static_cast<int>(s.size()) + *u;
  };
  int y = 0;
  CHECK(bobbin::sync_wait(all_kinds(y)) == 106);
  CHECK(y == 10);

  bobbin::pool<> p({.threads = 2});
  CHECK(p.submit(all_kinds, std::ref(y)).get() == 106);
  CHECK(y == 20);
  CHECK(&p.submit(ref_to, std::ref(x)).get() == &x);
  CHECK(p.submit(text, std::size_t{64}).get() == std::string(64, 'x'));
  CHECK(*p.submit(boxed, 3).get() == 3);
  p.submit(nothing).get();
  // Move-only arguments taken by value; a reference parameter refers to the argument the
  // pool keeps for the coroutine's life.
  auto unbox = [](std::unique_ptr<int> u) -> task<int> { co_return *u; };
  CHECK(p.submit(unbox, std::make_unique<int>(8)).get() == 8);
  auto await_it = [](bobbin::future<int> f) -> task<int> { co_return co_await std::move(f); };
  CHECK(p.submit(await_it, p.submit([] { return 9; })).get() == 9);
  auto keep = [](const std::string& kept) -> task<std::size_t> {
    co_await nothing();
    co_return kept.size();
  };
  CHECK(p.submit(keep, std::string(50, 'k')).get() == 50);
}

TEST_CASE("task: lazy, nothing runs before it is awaited; a task made and not awaited never runs") {
  std::atomic<int> ran{0};
  auto t = mark(ran, 3);
  CHECK(ran == 0);
  CHECK(t.valid());
  CHECK(bobbin::sync_wait(std::move(t)) == 3);
  CHECK(ran == 1);
  CHECK_FALSE(t.valid());  // NOLINT(bugprone-use-after-move): moved from, on purpose

  auto outer = [](std::atomic<int>& r) -> task<int> {
    [[maybe_unused]] auto never = mark(r, 1);
    auto later = mark(r, 2);
    const int before = r.load();
    const int v = co_await later;
    co_return before * 100 + r.load() * 10 + v;
  };
  ran = 0;
  CHECK(bobbin::sync_wait(outer(ran)) == 12);
  CHECK(ran == 1);

  // On a pool: the coroutine function is called, and the task started, by a worker.
  bobbin::pool<> p({.threads = 1});
  ran = 0;
  auto f = p.submit(outer, std::ref(ran));
  CHECK(f.get() == 12);
  CHECK(ran == 1);
}

TEST_CASE("task: awaiting an empty or moved-from task throws std::logic_error") {
  CHECK_THROWS_AS(bobbin::sync_wait(task<int>{}), std::logic_error);
  auto outer = []() -> task<int> {
    int caught = 0;
    auto t = value_of(1);
    auto moved = std::move(t);
    try {
      (void)co_await t;  // NOLINT(bugprone-use-after-move)
    } catch (const std::logic_error&) {
      ++caught;
    }
    const int v = co_await moved;
    try {
      (void)co_await moved;  // awaited already
    } catch (const std::logic_error&) {
      ++caught;
    }
    try {
      (void)co_await bobbin::when_all(std::move(t), value_of(2));
    } catch (const std::logic_error&) {
      ++caught;
    }
    try {
      std::vector<task<int>> ts;
      ts.push_back(value_of(3));
      ts.emplace_back();
      (void)co_await bobbin::when_any(std::move(ts));
    } catch (const std::logic_error&) {
      ++caught;
    }
    co_return caught * 10 + v;
  };
  CHECK(bobbin::sync_wait(outer()) == 41);
  bobbin::pool<> p({.threads = 1});
  CHECK(p.submit(outer).get() == 41);
  // A coroutine function that returns an empty task.
  CHECK_THROWS_AS(p.submit([] { return task<int>{}; }).get(), std::logic_error);
}

TEST_CASE("task: destroying a task that never started destroys its frame and its parameters") {
  param::reset();
  {
    auto t = read_param(param{5});
    CHECK(param::holding == 1);
  }
  CHECK(param::live == 0);
  {
    auto t = read_param(param{6});
    CHECK(bobbin::sync_wait(std::move(t)) == 6);
  }
  CHECK(param::live == 0);
  {
    std::vector<task<int>> ts;
    for (int i = 0; i < 10; ++i) ts.push_back(read_param(param{i}));
    auto all = bobbin::when_all(std::move(ts));
    auto pair = bobbin::when_all(read_param(param{1}), read_param(param{2}));
    std::vector<task<int>> us;
    for (int i = 0; i < 3; ++i) us.push_back(read_param(param{i}));
    auto any = bobbin::when_any(std::move(us));
    CHECK(param::holding == 15);
  }
  CHECK(param::live == 0);
  CHECK(param::bad_destructions == 0);
}

// ---- exceptions ----

TEST_CASE("task: an exception reaches the awaiting coroutine, sync_wait and submit's future as the same type") {
  auto catcher = []() -> task<int> {
    try {
      co_return co_await fail_with<first_error>();
    } catch (const first_error&) {
      co_return 1;
    }
  };
  auto relay = []() -> task<int> { co_return co_await fail_with<second_error>(); };
  CHECK(bobbin::sync_wait(catcher()) == 1);
  CHECK_THROWS_AS(bobbin::sync_wait(fail_with<first_error>()), first_error);
  CHECK_THROWS_AS(bobbin::sync_wait(relay()), second_error);

  bobbin::pool<> p({.threads = 2});
  CHECK_THROWS_AS(p.submit(&fail_with<first_error>).get(), first_error);
  CHECK_THROWS_AS(p.submit(relay).get(), second_error);
  CHECK(p.submit(catcher).get() == 1);
  // The coroutine function throws before it makes a task.
  CHECK_THROWS_AS(p.submit([]() -> task<int> { throw second_error{}; }).get(), second_error);
  // A failure after a suspension on the pool.
  auto late = [](bobbin::pool<>& pool) -> task<int> {
    (void)co_await pool.submit([] { return 0; });
    throw first_error{};
  };
  CHECK_THROWS_AS(p.submit(late, std::ref(p)).get(), first_error);
}

TEST_CASE("post: a coroutine's exception goes to on_error and counts as failed") {
  std::mutex m;
  std::vector<std::exception_ptr> errors;
  bobbin::pool_stats s;
  {
    bobbin::pool<> p({.threads = 2, .on_error = [&](std::exception_ptr e) {
                        std::lock_guard lock(m);
                        errors.push_back(std::move(e));
                      }});
    p.post(&fail_with<first_error>);
    p.post(
        [](bobbin::pool<>& pool) -> task<void> {
          (void)co_await pool.submit([] { return 0; });
          throw second_error{};
        },
        std::ref(p));
    p.post(value_of, 3);
    p.wait_idle();
    s = p.stats();
    std::lock_guard lock(m);
    CHECK(errors.size() == 2);
  }
  CHECK(s.submitted == 4);  // the three posts, and the submit of the second one
  CHECK(s.submitted == s.completed + s.failed + s.cancelled);
  if constexpr (bobbin::detail::pool_stats_enabled) CHECK(s.failed == 2);
  int firsts = 0, seconds = 0;
  for (const auto& e : errors) {
    try {
      std::rethrow_exception(e);
    } catch (const first_error&) {
      ++firsts;
    } catch (const second_error&) {
      ++seconds;
    } catch (...) {
    }
  }
  CHECK(firsts == 1);
  CHECK(seconds == 1);
}

// ---- symmetric transfer: no stack per await ----

TEST_CASE("task: a million sequential awaits, and a chain of awaits 100,000 deep, use no stack per await" *
          doctest::timeout(300)) {
  for (const bool nested : {false, true}) {
    CAPTURE(nested);
    const std::ptrdiff_t growth = bobbin::sync_wait(stack_growth(10'000, nested));
    // Without tail calls, 10,000 awaits take a megabyte or more: the runs below would crash.
    REQUIRE_MESSAGE(std::abs(growth) < 64 * 1024,
                    "symmetric transfer is no tail call in this build, and not trampolined "
                    "(detail/coro/transfer.hpp: BOBBIN_COROUTINE_TRAMPOLINE)");
  }
  CHECK(bobbin::sync_wait(sequential_awaits(1'000'000)) == 1'000'000);
  CHECK(bobbin::sync_wait(deep(100'000)) == 100'000);
  bobbin::pool<> p({.threads = 2});
  CHECK(p.submit(sequential_awaits, 1'000'000).get() == 1'000'000);
  CHECK(p.submit(deep, 100'000).get() == 100'000);
}

// ---- when_all ----

TEST_CASE_TEMPLATE("when_all: coroutine fib(20) on pools of 1, 2 and 4 threads", P, BOBBIN_TEST_POLICIES) {
  for (const std::size_t threads : {std::size_t{1}, std::size_t{2}, std::size_t{4}}) {
    CAPTURE(threads);
    bobbin::pool<P> p({.threads = threads});
    CHECK(p.submit(fib, 20).get() == 6765);
    std::vector<bobbin::future<long>> fs;
    for (int n = 10; n < 16; ++n) fs.push_back(p.submit(fib, n));
    long sum = 0;
    for (auto& f : fs) sum += f.get();
    CHECK(sum == 55 + 89 + 144 + 233 + 377 + 610);
    p.wait_idle();
    const bobbin::pool_stats s = p.stats();
    CHECK(s.submitted == 7);
    CHECK(s.submitted == s.completed + s.failed + s.cancelled);
  }
}

TEST_CASE("when_all: fib(20) through sync_wait, and moved to a pool with schedule()") {
  CHECK(bobbin::sync_wait(fib(20)) == 6765);
  bobbin::pool<> p({.threads = 2});
  auto on_pool = [](bobbin::pool<>& pool) -> task<long> {
    co_await pool.schedule();
    co_return co_await fib(20);
  };
  CHECK(bobbin::sync_wait(on_pool(p)) == 6765);
}

TEST_CASE("when_all: a tuple, with void (monostate) and reference results, tasks mixed with futures") {
  auto body = [](bobbin::pool<>& pool, int& target) -> task<int> {
    auto [a, v, r, s, b] = co_await bobbin::when_all(value_of(1), nothing(), ref_to(target), text(10), boxed(4));
    static_assert(std::is_same_v<decltype(v), std::monostate>);
    r.get() += 5;
    auto [x, y, z] =
        co_await bobbin::when_all(pool.submit([] { return 20; }), value_of(300), pool.submit(value_of, 4000));
    co_return a + static_cast<int>(s.size()) + *b + x + y + z;
  };
  bobbin::pool<> p({.threads = 2});
  int target = 0;
  CHECK(bobbin::sync_wait(body(p, target)) == 4335);
  CHECK(target == 5);
  CHECK(p.submit(body, std::ref(p), std::ref(target)).get() == 4335);
  CHECK(target == 10);
  bobbin::pool<> one({.threads = 1});  // the future's task queued behind the coroutine
  CHECK(one.submit(body, std::ref(one), std::ref(target)).get() == 4335);
}

namespace {

struct range_results {
  std::vector<int> values;
  std::size_t units = 0;
  std::size_t empty = 99;
  std::vector<int*> refs;
};

task<range_results> ranges(int n) {
  range_results out;
  std::vector<task<int>> ts;
  for (int i = 0; i < n; ++i) ts.push_back(value_of(i));
  out.values = co_await bobbin::when_all(std::move(ts));
  std::vector<task<void>> vs;
  for (int i = 0; i < n; ++i) vs.push_back(nothing());
  out.units = (co_await bobbin::when_all(vs)).size();  // an lvalue: consumed too
  std::vector<task<int>> none;
  out.empty = (co_await bobbin::when_all(std::move(none))).size();
  static int cells[3] = {};
  std::vector<task<int&>> rs;
  for (int& c : cells) rs.push_back(ref_to(c));
  for (auto& w : co_await bobbin::when_all(std::move(rs))) out.refs.push_back(&w.get());
  co_return out;
}

void check_ranges(const range_results& r, int n) {
  std::vector<int> expected(static_cast<std::size_t>(n));
  std::iota(expected.begin(), expected.end(), 0);
  CHECK(r.values == expected);
  CHECK(r.units == static_cast<std::size_t>(n));
  CHECK(r.empty == 0);
  REQUIRE(r.refs.size() == 3);
  CHECK(r.refs[1] == r.refs[0] + 1);
  CHECK(r.refs[2] == r.refs[0] + 2);
}

}  // namespace

TEST_CASE_TEMPLATE("when_all: a vector of tasks gives a vector in order; an empty vector, an empty one", P,
                   BOBBIN_TEST_POLICIES) {
  check_ranges(bobbin::sync_wait(ranges(100)), 100);
  bobbin::pool<P> p({.threads = 3});
  check_ranges(p.submit(ranges, 1000).get(), 1000);
  check_ranges(p.submit(ranges, 1).get(), 1);
}

namespace {

task<int> count_value(std::atomic<int>& ended, int v) {
  ended.fetch_add(1);
  co_return v;
}
template <class E>
task<int> count_throw(std::atomic<int>& ended) {
  ended.fetch_add(1);
  throw E{};
  co_return 0;
}
// Throws first_error, but only after `later` completed: after its sibling threw.
task<int> count_throw_late(std::atomic<int>& ended, bobbin::future<int> later) {
  (void)co_await std::move(later);
  ended.fetch_add(1);
  throw first_error{};
}

// 10 * which error was caught (1: first_error) + how many children had ended by then.
task<int> first_failure(bobbin::pool<>& slow, std::atomic<int>& ended, bool range) {
  auto later = slow.submit([] {
    std::this_thread::sleep_for(20ms);
    return 0;
  });
  try {
    if (range) {
      std::vector<task<int>> ts;
      ts.push_back(count_value(ended, 1));
      ts.push_back(count_throw_late(ended, std::move(later)));
      ts.push_back(count_throw<second_error>(ended));
      ts.push_back(count_value(ended, 4));
      (void)co_await bobbin::when_all(std::move(ts));
    } else {
      (void)co_await bobbin::when_all(count_value(ended, 1), count_throw_late(ended, std::move(later)),
                                      count_throw<second_error>(ended), count_value(ended, 4));
    }
  } catch (const first_error&) {
    co_return 10 + ended.load();
  } catch (const second_error&) {
    co_return 20 + ended.load();
  }
  co_return 0;
}

}  // namespace

TEST_CASE("when_all: the first failure in argument order is rethrown, after every child ended") {
  bobbin::pool<> p({.threads = 2});
  bobbin::pool<> slow({.threads = 1});
  for (const bool range : {false, true}) {
    CAPTURE(range);
    std::atomic<int> ended{0};
    CHECK(bobbin::sync_wait(first_failure(slow, ended, range)) == 14);
    ended = 0;
    CHECK(p.submit(first_failure, std::ref(slow), std::ref(ended), range).get() == 14);
  }
}

// ---- when_any ----

namespace {

struct race_result {
  std::size_t index = 99;
  int value = 0;
};

task<race_result> race_tasks(bobbin::pool<>& blk, race_counts& counts) {
  std::vector<task<int>> ts;
  for (int i = 0; i < 3; ++i) ts.push_back(until_stopped(blk, counts));
  ts.push_back(value_after(blk, 7, 5ms));
  auto r = co_await bobbin::when_any(std::move(ts));
  co_return race_result{r.index, r.value};
}

task<race_result> race_futures(bobbin::pool<>& blk, race_counts& counts) {
  std::vector<bobbin::future<int>> fs;
  for (int i = 0; i < 2; ++i) {
    fs.push_back(blk.submit([&counts](std::stop_token st) {
      counts.started.fetch_add(1);
      while (!st.stop_requested()) std::this_thread::sleep_for(200us);
      counts.stopped.fetch_add(1);
      return -1;
    }));
  }
  fs.push_back(blk.submit([] {
    std::this_thread::sleep_for(5ms);
    return 5;
  }));
  auto r = co_await bobbin::when_any(fs);  // an lvalue: consumed too
  co_return race_result{r.index, r.value};
}

task<race_result> race_mixed(bobbin::pool<>& blk, race_counts& counts) {
  auto r =
      co_await bobbin::when_any(until_stopped(blk, counts), blk.submit([] { return 9; }), until_stopped(blk, counts));
  co_return race_result{r.index, r.value};
}

task<int> race_failure(bobbin::pool<>& blk, race_counts& counts) {
  auto r = co_await bobbin::when_any(until_stopped(blk, counts), fail_with<second_error>(), until_stopped(blk, counts));
  co_return r.value;
}

}  // namespace

TEST_CASE("when_any: the first to end wins, the others see their stop requested" * doctest::timeout(120)) {
  bobbin::pool<> p({.threads = 2});
  bobbin::pool<> blk({.threads = 5});
  race_counts counts;
  // Every blocking task that started saw its stop requested (and ended: wait_idle).
  auto check_blockers = [&] {
    blk.wait_idle();
    CHECK(counts.stopped == counts.started);
  };
  for (int round = 0; round < 3; ++round) {
    CAPTURE(round);
    const bool on_pool = round != 0;
    counts.reset();
    const race_result a = on_pool ? p.submit(race_tasks, std::ref(blk), std::ref(counts)).get()
                                  : bobbin::sync_wait(race_tasks(blk, counts));
    CHECK(a.index == 3);
    CHECK(a.value == 7);
    CHECK(counts.cancelled == 3);  // every loser ended before when_any returned
    check_blockers();

    counts.reset();
    const race_result b = on_pool ? p.submit(race_futures, std::ref(blk), std::ref(counts)).get()
                                  : bobbin::sync_wait(race_futures(blk, counts));
    CHECK(b.index == 2);
    CHECK(b.value == 5);
    check_blockers();
    CHECK(counts.stopped == 2);  // started before the winner ended: 5 ms

    counts.reset();
    const race_result c = on_pool ? p.submit(race_mixed, std::ref(blk), std::ref(counts)).get()
                                  : bobbin::sync_wait(race_mixed(blk, counts));
    CHECK(c.index == 1);
    CHECK(c.value == 9);
    CHECK(counts.cancelled == 2);
    check_blockers();

    counts.reset();
    if (on_pool) {
      CHECK_THROWS_AS(p.submit(race_failure, std::ref(blk), std::ref(counts)).get(), second_error);
    } else {
      CHECK_THROWS_AS(bobbin::sync_wait(race_failure(blk, counts)), second_error);
    }
    CHECK(counts.cancelled == 2);
    check_blockers();
  }
}

TEST_CASE("when_any: an empty vector throws std::invalid_argument") {
  CHECK_THROWS_AS((void)bobbin::when_any(std::vector<task<int>>{}), std::invalid_argument);
  CHECK_THROWS_AS((void)bobbin::when_any(std::vector<bobbin::future<int>>{}), std::invalid_argument);
  std::vector<bobbin::future<int>> with_empty(2);
  CHECK_THROWS_AS((void)bobbin::when_any(with_empty), std::future_error);
}

TEST_CASE("when_any: the stop of the awaiting coroutine reaches the children") {
  bobbin::pool<> p({.threads = 1});
  bobbin::pool<> blk({.threads = 3});
  race_counts counts;
  auto f = p.submit(
      [](bobbin::pool<>& b, race_counts& c) -> task<int> {
        auto r = co_await bobbin::when_any(until_stopped(b, c), until_stopped(b, c));
        co_return r.value;
      },
      std::ref(blk), std::ref(counts));
  while (counts.started < 2) std::this_thread::sleep_for(100us);
  CHECK_FALSE(f.cancel());
  CHECK_THROWS_AS(f.get(), bobbin::task_cancelled);  // the winner's exception
  CHECK(counts.cancelled == 2);
  blk.wait_idle();
  CHECK(counts.stopped == 2);
}

// ---- co_await future, schedule ----

TEST_CASE("co_await future: a ready one does not suspend; one not ready suspends without blocking the worker") {
  bobbin::pool<> p({.threads = 1});
  bobbin::pool<> blk({.threads = 1});
  auto f = p.submit([] { return 3; });
  f.wait();
  auto aw = std::move(f).operator co_await();
  CHECK(aw.await_ready());

  auto read = [](bobbin::future<int> fut) -> task<int> { co_return co_await std::move(fut); };
  auto g = p.submit([] { return 4; });
  g.wait();
  CHECK(bobbin::sync_wait(read(std::move(g))) == 4);

  std::atomic<bool> open{false}, reached{false};
  auto wait_then_check = [](bobbin::pool<>& home, bobbin::pool<>& b, std::atomic<bool>& op,
                            std::atomic<bool>& at_await) -> task<int> {
    auto fut = b.submit([&op] {
      wait_for_flag(op);
      return 11;
    });
    at_await = true;
    const int v = co_await std::move(fut);
    co_return bobbin::this_worker::pool() == &home&& bobbin::this_worker::index() == 0u ? v : -1;
  };
  auto result = p.submit(wait_then_check, std::ref(p), std::ref(blk), std::ref(open), std::ref(reached));
  wait_for_flag(reached);
  // The only worker is free while the coroutine waits.
  CHECK(p.submit([] { return 5; }).get() == 5);
  CHECK_FALSE(result.ready());
  open = true;
  CHECK(result.get() == 11);

  // An exception through the future, and a void future.
  auto fails = [](bobbin::pool<>& b) -> task<int> {
    co_return co_await b.submit([]() -> int { throw first_error{}; });
  };
  CHECK_THROWS_AS(p.submit(fails, std::ref(blk)).get(), first_error);
  CHECK_THROWS_AS(bobbin::sync_wait(fails(blk)), first_error);
  auto unit = [](bobbin::pool<>& b) -> task<int> {
    co_await b.submit([] {});
    co_return 1;
  };
  CHECK(p.submit(unit, std::ref(blk)).get() == 1);
}

TEST_CASE("schedule: moves a sync_wait coroutine onto a worker of the pool") {
  bobbin::pool<> p({.threads = 2});
  auto hop = [](bobbin::pool<>& target) -> task<int> {
    const bool off_pool = !bobbin::this_worker::index().has_value();
    co_await target.schedule();
    const bool on_pool = bobbin::this_worker::index().has_value() && bobbin::this_worker::pool() == &target;
    const long f = co_await fib(10);
    const bool still_on_pool = bobbin::this_worker::pool() == &target;
    (void)co_await target.submit([] { return 0; });
    const bool after_future = bobbin::this_worker::pool() == &target;
    co_return (off_pool ? 1 : 0) + (on_pool ? 10 : 0) + (f == 55 ? 100 : 0) + (still_on_pool ? 1000 : 0) +
        (after_future ? 10000 : 0);
  };
  CHECK(bobbin::sync_wait(hop(p)) == 11111);
  // From one pool to another.
  bobbin::pool<> q({.threads = 1});
  auto across = [](bobbin::pool<>& to) -> task<int> {
    co_await to.schedule();
    co_return bobbin::this_worker::pool() == &to ? 1 : 0;
  };
  CHECK(p.submit(across, std::ref(q)).get() == 1);
  p.wait_idle();
  q.wait_idle();
  const bobbin::pool_stats s = p.stats();
  CHECK(s.submitted == s.completed + s.failed + s.cancelled);
}

// ---- stop and cancel ----

namespace {

task<int> spin_until_stopped(std::atomic<bool>& started) {
  const std::stop_token st = co_await bobbin::this_task::stop_token();
  started = true;
  while (!st.stop_requested()) std::this_thread::sleep_for(100us);
  co_return 1;
}

}  // namespace

TEST_CASE("this_task::stop_token: requested by future::cancel() and by shutdown_now(), in children too") {
  auto unstoppable = []() -> task<bool> {
    const std::stop_token st = co_await bobbin::this_task::stop_token();
    co_return st.stop_possible();
  };
  CHECK_FALSE(bobbin::sync_wait(unstoppable()));
  {
    bobbin::pool<> p({.threads = 2});
    CHECK(p.submit(unstoppable).get());
    std::atomic<bool> started{false};
    auto f = p.submit(spin_until_stopped, std::ref(started));
    wait_for_flag(started);
    CHECK_FALSE(f.cancel());
    CHECK(f.get() == 1);

    // A child awaited, and children of when_all, see their root's stop.
    started = false;
    auto nested = [](std::atomic<bool>& s) -> task<int> {
      std::atomic<bool> second{false};
      auto [a, b] = co_await bobbin::when_all(spin_until_stopped(s), spin_until_stopped(second));
      co_return a + b + co_await spin_until_stopped(second);
    };
    auto g = p.submit(nested, std::ref(started));
    wait_for_flag(started);
    CHECK_FALSE(g.cancel());
    CHECK(g.get() == 3);
  }
  std::atomic<bool> started{false};
  std::optional<bobbin::future<int>> f;
  {
    bobbin::pool<> p({.threads = 1});
    f = p.submit(spin_until_stopped, std::ref(started));
    wait_for_flag(started);
    p.shutdown_now();
  }
  CHECK(f->get() == 1);
}

TEST_CASE("stop: a coroutine suspended on a future resumes once with task_cancelled; its frame is destroyed" *
          doctest::timeout(60)) {
  bobbin::pool<> blk({.threads = 3});
  local::reset();
  gate g;
  std::atomic<int> suspended{0}, cancelled{0};
  SUBCASE("future::cancel()") {
    bobbin::pool<> p({.threads = 1});
    auto f = p.submit(await_gate, std::ref(blk), std::ref(g), std::ref(suspended), std::ref(cancelled));
    while (suspended == 0) std::this_thread::sleep_for(100us);
    std::this_thread::sleep_for(5ms);
    CHECK(local::live == 1);
    CHECK_FALSE(f.cancel());
    CHECK_THROWS_AS(f.get(), bobbin::task_cancelled);
    CHECK(cancelled == 1);
    CHECK(local::live == 0);
    p.wait_idle();
    const bobbin::pool_stats s = p.stats();
    CHECK(s.submitted == 1);
    CHECK(s.submitted == s.completed + s.failed + s.cancelled);
  }
  SUBCASE("shutdown_now()") {
    std::optional<bobbin::future<int>> f;
    {
      std::atomic<int> errors{0};
      bobbin::pool<> p({.threads = 2, .on_error = [&errors](const std::exception_ptr&) { errors.fetch_add(1); }});
      f = p.submit(await_gate, std::ref(blk), std::ref(g), std::ref(suspended), std::ref(cancelled));
      p.post(await_gate, std::ref(blk), std::ref(g), std::ref(suspended), std::ref(cancelled));
      while (suspended < 2) std::this_thread::sleep_for(100us);
      std::this_thread::sleep_for(5ms);
      CHECK(local::live == 2);
      p.shutdown_now();
      CHECK(cancelled == 2);
      CHECK(local::live == 0);
      CHECK(errors == 1);  // the posted one's task_cancelled
    }
    CHECK_THROWS_AS(f->get(), bobbin::task_cancelled);
  }
  SUBCASE("shutdown_now(), children of when_all suspended") {
    std::optional<bobbin::future<int>> f;
    {
      bobbin::pool<> p({.threads = 1});
      f = p.submit(
          [](bobbin::pool<>& b, gate& gg, std::atomic<int>& s, std::atomic<int>& c) -> task<int> {
            auto [x, y] = co_await bobbin::when_all(await_gate(b, gg, s, c), await_gate(b, gg, s, c));
            co_return x + y;
          },
          std::ref(blk), std::ref(g), std::ref(suspended), std::ref(cancelled));
      while (suspended < 2) std::this_thread::sleep_for(100us);
      std::this_thread::sleep_for(5ms);
      p.shutdown_now();
      CHECK(cancelled == 2);
      CHECK(local::live == 0);
    }
    CHECK_THROWS_AS(f->get(), bobbin::task_cancelled);
  }
  g.open();
  blk.wait_idle();
  CHECK(local::live == 0);
  CHECK(local::bad_destructions == 0);
}

TEST_CASE("co_await future: a frame destroyed while it waits leaves the future's task to finish alone") {
  // Started by hand (no root: inline context, no stop), as a foreign coroutine type may do,
  // then destroyed while suspended on the future.
  bobbin::pool<> blk({.threads = 1});
  gate g;
  std::atomic<int> suspended{0}, cancelled{0};
  local::reset();
  {
    auto t = await_gate(blk, g, suspended, cancelled);
    t.handle().resume();
    CHECK(suspended == 1);
    CHECK(local::live == 1);
  }
  CHECK(local::live == 0);
  g.open();
  blk.wait_idle();  // the task completes its abandoned state, which it then frees
  CHECK(cancelled == 0);
}

TEST_CASE("sync_wait: a coroutine that ends on a pool's worker, many times; a wide when_all on the loop") {
  bobbin::pool<> p({.threads = 2});
  auto hop = [](bobbin::pool<>& target, int i) -> task<int> {
    co_await target.schedule();
    co_return i;
  };
  long sum = 0;
  for (int i = 0; i < 2000; ++i) sum += bobbin::sync_wait(hop(p, i));
  CHECK(sum == 1999L * 2000 / 2);
  auto wide = [](int n) -> task<long> {
    std::vector<task<int>> ts;
    for (int i = 0; i < n; ++i) ts.push_back(value_of(i));
    const std::vector<int> v = co_await bobbin::when_all(std::move(ts));
    co_return std::accumulate(v.begin(), v.end(), 0L);
  };
  CHECK(bobbin::sync_wait(wide(100'000)) == 99'999L * 100'000 / 2);
}

// ---- wait_idle, destructor, statistics ----

TEST_CASE("wait_idle waits for a suspended posted coroutine; the destructor completes one released later" *
          doctest::timeout(60)) {
  // The awaited task runs on the same pool (2 threads: it blocks one), so the coroutine is
  // resumed from one of the pool's own workers.
  std::atomic<int> ended{0};
  auto coro = [](bobbin::pool<>& home, gate& gg, std::atomic<int>& e) -> task<void> {
    const local l{2};
    (void)co_await home.submit([&gg] {
      gg.wait();
      return 0;
    });
    e.fetch_add(l.value / 2);
  };
  local::reset();
  gate first, second;
  std::thread opener;
  {
    bobbin::pool<> p({.threads = 2});
    p.post(coro, std::ref(p), std::ref(first), std::ref(ended));
    std::thread open_first([&first] {
      std::this_thread::sleep_for(50ms);
      first.open();
    });
    p.wait_idle();
    CHECK(first.opened.load());
    CHECK(ended == 1);
    open_first.join();

    p.post(coro, std::ref(p), std::ref(second), std::ref(ended));
    opener = std::thread([&second] {
      std::this_thread::sleep_for(50ms);
      second.open();
    });
  }
  CHECK(ended == 2);
  CHECK(local::live == 0);
  opener.join();
}

TEST_CASE("stats: submitted == completed + failed + cancelled with coroutines that suspended many times") {
  bobbin::pool<> p({.threads = 2});
  bobbin::pool<> blk({.threads = 1});
  auto hops = [](bobbin::pool<>& b, int n, bool fail) -> task<int> {
    int s = 0;
    for (int i = 0; i < n; ++i) s += co_await b.submit([i] { return i; });
    if (fail) throw first_error{};
    co_return s;
  };
  std::vector<bobbin::future<int>> fs;
  for (int i = 0; i < 50; ++i) fs.push_back(p.submit(hops, std::ref(blk), 5, i % 10 == 0));
  for (int i = 0; i < 50; ++i) p.post(hops, std::ref(blk), 3, false);
  int ok = 0, failed = 0;
  for (auto& f : fs) {
    try {
      ok += f.get() == 10 ? 1 : 0;
    } catch (const first_error&) {
      ++failed;
    }
  }
  CHECK(ok == 45);
  CHECK(failed == 5);
  p.wait_idle();
  const bobbin::pool_stats s = p.stats();
  CHECK(s.submitted == 100);
  CHECK(s.submitted == s.completed + s.failed + s.cancelled);
  if constexpr (bobbin::detail::pool_stats_enabled) CHECK(s.failed == 5);
}

// ---- allocation ----

namespace {

// Allocations during the second of two fib(20) awaited in one coroutine: frames only.
task<long> fib_allocations(int n) {
  const std::atomic<long>& allocations = bobbin_test::inject::allocations;
  (void)co_await fib(n);
  const long before = allocations.load();
  const long r = co_await fib(n);
  const long used = allocations.load() - before;
  co_return r == 6765 ? used : -1;
}

}  // namespace

TEST_CASE("fork-join: no heap allocation per coroutine frame in steady state") {
  const std::atomic<long>& allocations = bobbin_test::inject::allocations;
  for (const std::size_t threads : {std::size_t{1}, std::size_t{2}}) {
    CAPTURE(threads);
    bobbin::pool<> p({.threads = threads});
    CHECK(p.submit(fib, 20).get() == 6765);  // warm-up: frame caches, queues, the state's block
    CHECK(p.submit(fib, 20).get() == 6765);
    const long before = allocations.load();
    const long r = p.submit(fib, 20).get();
    const long per_submit = allocations.load() - before;
    CHECK(r == 6765);
    const long frames = p.submit(fib_allocations, 20).get();
    CHECK(frames >= 0);
    MESSAGE("allocations on " << threads << " thread(s): " << per_submit << " for a submit of fib(20), " << frames
                              << " for fib(20) inside a coroutine");
#if !BOBBIN_ASAN
    if (threads == 1) {
      CHECK(frames == 0);
      CHECK(per_submit <= 1);  // the root's std::stop_source (its shared state)
    } else {
      // Frames freed on the other thread join its cache: a few refills.
      CHECK(frames < 256);
      CHECK(per_submit < 256);
    }
#endif
  }
}

// ---- stress ----

namespace {

// Awaits a future made outside, futures of tasks it submits, and two when_all.
task<void> stress_one(bobbin::pool<>& p, bobbin::future<int> from_outside, int id, std::mutex& m,
                      std::vector<int>& seen) {
  const int a = co_await std::move(from_outside);
  const int b = co_await p.submit([id] { return id; });
  auto [c, d, e] = co_await bobbin::when_all(value_of(id), p.submit([id] { return id; }), p.submit(fib, 8));
  std::vector<task<int>> ts;
  for (int i = 0; i < 3; ++i) ts.push_back(value_of(id));
  const std::vector<int> v = co_await bobbin::when_all(std::move(ts));
  const bool good = a == id && b == id && c == id && d == id && e == 21 &&
                    std::all_of(v.begin(), v.end(), [id](int x) { return x == id; });
  std::lock_guard lock(m);
  seen.push_back(good ? id : -1 - id);
}

}  // namespace

TEST_CASE("stress: 1,000 coroutines posted from 4 threads await futures and when_all on 2 threads" *
          doctest::timeout(300)) {
  for (int round = 0; round < 3; ++round) {
    CAPTURE(round);
    bobbin::pool<> p({.threads = 2});
    std::mutex m;
    std::vector<int> seen;
    std::vector<std::thread> posters;
    std::atomic<int> post_failures{0};
    for (int t = 0; t < 4; ++t) {
      posters.emplace_back([&, t] {
        for (int i = 0; i < 250; ++i) {
          const int id = t * 250 + i;
          try {
            // A lambda coroutine whose captures live as long as it runs (the pool keeps the
            // lambda until the coroutine ends).
            p.post([&p, &m, &seen, id, f = p.submit([id] { return id; })]() mutable -> task<void> {
              co_await stress_one(p, std::move(f), id, m, seen);
            });
          } catch (...) {
            post_failures.fetch_add(1);
          }
        }
      });
    }
    for (auto& t : posters) t.join();
    p.wait_idle();
    CHECK(post_failures == 0);
    std::sort(seen.begin(), seen.end());
    std::vector<int> expected(1000);
    std::iota(expected.begin(), expected.end(), 0);
    CHECK(seen == expected);
    const bobbin::pool_stats s = p.stats();
    CHECK(s.submitted == s.completed + s.failed + s.cancelled);
  }
}

// A coroutine of pool p resumed by a worker of another pool (its future completed there):
// p.resume_later() queues the resumption and then wakes a sleeper of p; meanwhile a worker
// of p may run the coroutine to its end, p.wait_idle() return and p be destroyed, while the
// other worker is still in p's wake() (TSan: data race with ~pool_core; a use after free).
// The same holds for root_finished() on a thread not of p. The pool's destructor waits for
// such callers (pool_core::outside_callers_).
TEST_CASE("resume_later from another pool's worker while the pool is destroyed" * doctest::timeout(120)) {
  bobbin::pool<> blk({.threads = 1});
  for (int i = 0; i < 2000; ++i) {
    bobbin::pool<> p({.threads = 1});
    p.post([](bobbin::pool<>& b) -> task<void> { (void)co_await b.submit([] { return 0; }); }, std::ref(blk));
    p.wait_idle();
  }
  blk.wait_idle();
}
