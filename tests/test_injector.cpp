// detail::task_injector alone: FIFO order and claim sizes for one thread across many
// segments, segment reuse, cancellation of what is left when the queue dies, exactly-once
// delivery and per-producer order under P producers x C consumers, and a push whose segment
// allocation fails (this binary replaces the global operator new, see below).
#include <doctest/doctest.h>

#include <bobbin/detail/config.hpp>
#include <bobbin/detail/task/task.hpp>
#include <bobbin/detail/task/task_injector.hpp>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <new>
#include <numeric>
#include <thread>
#include <vector>

// ---------------------------------------------------------------------------------------
// A counting, failing operator new. Only the thread inside an alloc::scope is counted, so
// doctest and the stress threads allocate undisturbed.

namespace alloc {

// constinit: no TLS guard, so reading them inside operator new is safe at any time.
constinit thread_local bool counting = false;
constinit thread_local long count = 0;    // counted allocations since the scope began
constinit thread_local long fail_at = 0;  // > 0: the counted allocation that fails
constinit thread_local long failures = 0;
constinit thread_local long frees = 0;  // counted deallocations since the scope began

bool fail_now() noexcept {
  if (!counting) return false;
  if (++count != fail_at) return false;
  ++failures;
  return true;
}

// Counts this thread's allocations for its lifetime; the n-th (n > 0) throws std::bad_alloc.
class scope {
 public:
  explicit scope(long n = 0) noexcept : failures_before_(failures) {
    count = 0;
    frees = 0;
    fail_at = n;
    counting = true;
  }
  scope(const scope&) = delete;
  scope& operator=(const scope&) = delete;
  ~scope() {
    counting = false;
    fail_at = 0;
  }
  long allocations() const noexcept { return count; }
  long deallocations() const noexcept { return frees; }
  bool failed() const noexcept { return failures != failures_before_; }

 private:
  long failures_before_;
};

void* allocate(std::size_t n) noexcept { return std::malloc(n == 0 ? 1 : n); }

void deallocate(void* p) noexcept {
  if (counting && p != nullptr) ++frees;
  std::free(p);
}

void* allocate(std::size_t n, std::align_val_t al) noexcept {
  const auto a = std::max(static_cast<std::size_t>(al), sizeof(void*));
  void* p = nullptr;
  return posix_memalign(&p, a, n == 0 ? a : n) == 0 ? p : nullptr;
}

}  // namespace alloc

// Replacements built on malloc/free are exactly what the standard allows; g++ cannot see
// that the pairs match. The segments are over-aligned, so the aligned forms matter.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#endif

void* operator new(std::size_t n) {
  if (alloc::fail_now()) throw std::bad_alloc();
  if (void* p = alloc::allocate(n)) return p;
  throw std::bad_alloc();
}
void* operator new[](std::size_t n) { return ::operator new(n); }
void* operator new(std::size_t n, const std::nothrow_t&) noexcept {
  return alloc::fail_now() ? nullptr : alloc::allocate(n);
}
void* operator new[](std::size_t n, const std::nothrow_t&) noexcept { return ::operator new(n, std::nothrow); }
void* operator new(std::size_t n, std::align_val_t al) {
  if (alloc::fail_now()) throw std::bad_alloc();
  if (void* p = alloc::allocate(n, al)) return p;
  throw std::bad_alloc();
}
void* operator new[](std::size_t n, std::align_val_t al) { return ::operator new(n, al); }
void* operator new(std::size_t n, std::align_val_t al, const std::nothrow_t&) noexcept {
  return alloc::fail_now() ? nullptr : alloc::allocate(n, al);
}
void* operator new[](std::size_t n, std::align_val_t al, const std::nothrow_t&) noexcept {
  return ::operator new(n, al, std::nothrow);
}

void operator delete(void* p) noexcept { alloc::deallocate(p); }
void operator delete[](void* p) noexcept { alloc::deallocate(p); }
void operator delete(void* p, std::size_t) noexcept { alloc::deallocate(p); }
void operator delete[](void* p, std::size_t) noexcept { alloc::deallocate(p); }
void operator delete(void* p, const std::nothrow_t&) noexcept { alloc::deallocate(p); }
void operator delete[](void* p, const std::nothrow_t&) noexcept { alloc::deallocate(p); }
void operator delete(void* p, std::align_val_t) noexcept { alloc::deallocate(p); }
void operator delete[](void* p, std::align_val_t) noexcept { alloc::deallocate(p); }
void operator delete(void* p, std::size_t, std::align_val_t) noexcept { alloc::deallocate(p); }
void operator delete[](void* p, std::size_t, std::align_val_t) noexcept { alloc::deallocate(p); }
void operator delete(void* p, std::align_val_t, const std::nothrow_t&) noexcept { alloc::deallocate(p); }
void operator delete[](void* p, std::align_val_t, const std::nothrow_t&) noexcept { alloc::deallocate(p); }

// ---------------------------------------------------------------------------------------

using bobbin::detail::task;
using bobbin::detail::task_injector;

namespace {

// Mirrors task_injector's segment size: a run never crosses a segment's end.
constexpr std::size_t segment_slots = 256;

#if BOBBIN_TSAN
constexpr std::size_t interleaved_ops = 20'000;
constexpr std::uint64_t per_producer = 20'000;
#else
constexpr std::size_t interleaved_ops = 200'000;
constexpr std::uint64_t per_producer = 200'000;
#endif

std::uint64_t next(std::uint64_t& s) noexcept {  // xorshift64
  s ^= s << 13;
  s ^= s >> 7;
  s ^= s << 17;
  return s;
}

// Appends its id to a log when run. 48 bytes and trivially copyable: stored inline, with
// every byte of the task written (so a task's bytes can be compared).
struct logged {
  std::vector<std::uint64_t>* log;
  std::uint64_t id;
  std::array<std::uint64_t, 4> pad{};
  void operator()() const { log->push_back(id); }
};
static_assert(sizeof(logged) == task::inline_size && task::stored_inline<logged>);

// The same, 64 bytes: boxed on the heap.
struct logged_boxed {
  std::vector<std::uint64_t>* log;
  std::uint64_t id;
  std::array<std::uint64_t, 6> pad{};
  void operator()() const { log->push_back(id); }
};
static_assert(!task::stored_inline<logged_boxed>);

// Owns the tasks that one take() handed out, in ticket order. Its buffer is reserved up
// front: rest() runs inside the noexcept take() and must not allocate.
struct run_buffer {
  task first;
  std::vector<task> rest;
  run_buffer() { rest.reserve(segment_slots); }

  // slow: the first rest() call sleeps a little, between the run's claim and the end of its
  // copying out, when a segment recycled too early would be overwritten under it.
  template <class Share>
  std::size_t take(task_injector& q, std::size_t max, Share&& share, bool slow = false) {
    rest.clear();
    return q.take(first, max, share, [this, slow](task::raw& r) noexcept {
      if (slow && rest.empty()) std::this_thread::sleep_for(std::chrono::microseconds(50));
      task t;
      t.bytes() = r;
      rest.push_back(std::move(t));
    });
  }
  // Runs first, then the rest, in the order they were taken.
  void run_all() {
    if (first) first.run();
    for (task& t : rest) t.run();
    rest.clear();
  }
};

// The claim take() must make of the c tasks it saw.
std::size_t clamped(std::size_t want, std::size_t c) { return std::clamp<std::size_t>(want, 1, c); }

bool is_iota(const std::vector<std::uint64_t>& v, std::uint64_t n) {
  if (v.size() != n) return false;
  for (std::uint64_t i = 0; i < n; ++i)
    if (v[i] != i) return false;
  return true;
}

}  // namespace

// ---------------------------------------------------------------------------------------

TEST_CASE("injector: an empty queue takes nothing and calls neither share nor rest") {
  task_injector q;
  CHECK_FALSE(q.has_work());
  CHECK(q.size_approx() == 0);
  task first;
  int calls = 0;
  const auto share = [&calls](std::size_t c) {
    ++calls;
    return c;
  };
  CHECK(q.take(first, 64, share, [&calls](task::raw&) noexcept { ++calls; }) == 0);
  CHECK_FALSE(first);
  CHECK(calls == 0);
}

TEST_CASE("injector: a max of SIZE_MAX means all there is (no overflow past the head)") {
  task_injector q;
  int ran = 0;
  for (int i = 0; i < 3; ++i) {
    task t([&ran] { ++ran; });
    q.push(t);
  }
  const auto all = [](std::size_t c) { return c; };
  std::vector<task> rest;
  const auto keep = [&rest](task::raw& r) noexcept {
    rest.emplace_back();
    rest.back().bytes() = r;
  };
  task a;
  CHECK(q.take(a, 1, all, keep) == 1);
  a.run();
  task b;
  CHECK(q.take(b, SIZE_MAX, all, keep) == 2);  // once returned 0: h + max wrapped
  b.run();
  for (task& t : rest) t.run();
  CHECK(ran == 3);
  CHECK_FALSE(q.has_work());
}

TEST_CASE("injector: one thread, FIFO across many segments; take claims share(c) of the c it saw") {
  // c = min(max, what is left, what is left of the segment); share(c) clamped to [1, c].
  struct config {
    const char* name;
    std::size_t max;
    std::size_t (*share)(std::size_t);
  };
  const config configs[] = {
      {"max 1", 1, [](std::size_t c) { return c; }},
      {"all it sees", 1'000'000, [](std::size_t c) { return c; }},
      {"half of 64", 64, [](std::size_t c) { return c / 2; }},  // 0 for c == 1: clamped to 1
      {"share 0", 100, [](std::size_t) { return std::size_t{0}; }},
      {"share too many", 7, [](std::size_t c) { return c + 1000; }},
      {"odd max, ceil half", 37, [](std::size_t c) { return (c + 1) / 2; }},
  };
  constexpr std::uint64_t n = 3000;  // 12 segments
  for (const config& cfg : configs) {
    CAPTURE(cfg.name);
    std::vector<std::uint64_t> log;
    log.reserve(n);
    task_injector q;
    std::size_t kept = 0;  // tasks that push() left non-empty
    for (std::uint64_t i = 0; i < n; ++i) {
      task t(logged{&log, i});
      q.push(t);
      kept += t ? 1 : 0;
    }
    CHECK(kept == 0);
    CHECK(q.has_work());
    CHECK(q.size_approx() == n);
    CHECK(log.empty());

    run_buffer b;
    std::uint64_t taken = 0;
    std::size_t wrong_seen = 0, wrong_count = 0, wrong_size = 0, empty_first = 0;
    while (taken < n) {
      if (q.size_approx() != n - taken || !q.has_work()) ++wrong_size;
      const std::size_t c =
          std::min({cfg.max, static_cast<std::size_t>(n - taken), segment_slots - taken % segment_slots});
      std::size_t seen = 0;
      const std::size_t got = b.take(q, cfg.max, [&](std::size_t s) {
        seen = s;
        return cfg.share(s);
      });
      if (seen != c) ++wrong_seen;
      if (got != clamped(cfg.share(c), c) || got != 1 + b.rest.size()) ++wrong_count;
      if (!b.first) ++empty_first;
      if (got == 0) break;
      b.run_all();
      taken += got;
    }
    CHECK(wrong_seen == 0);
    CHECK(wrong_count == 0);
    CHECK(wrong_size == 0);
    CHECK(empty_first == 0);
    CHECK(is_iota(log, n));  // each ran once, in push order
    CHECK_FALSE(q.has_work());
    CHECK(q.size_approx() == 0);
    CHECK(b.take(q, 64, [](std::size_t c) { return c; }) == 0);
    CHECK_FALSE(b.first);
  }
}

TEST_CASE("injector: interleaved push and take, FIFO, a few segments reused throughout" * doctest::timeout(60)) {
  // The queue stays under 64 tasks while tens of thousands pass through it (many segments'
  // worth of tickets): two or three segments must do, recycled.
  std::vector<std::uint64_t> log;
  log.reserve(3 * interleaved_ops);
  task_injector q;
  run_buffer b;
  std::uint64_t pushed = 0, taken = 0, rng = 0x9e3779b97f4a7c15;
  std::size_t wrong_size = 0, wrong_count = 0;
  long allocations = 0;
  {
    alloc::scope counted;  // no CHECK in here: doctest would be counted
    for (std::size_t op = 0; op < interleaved_ops; ++op) {
      const std::uint64_t r = next(rng);
      const std::uint64_t queued = pushed - taken;
      if (queued < 4 || (queued < 60 && r % 2 == 0)) {
        for (std::uint64_t k = 0; k <= (r >> 8) % 3; ++k) {
          task t(logged{&log, pushed++});
          q.push(t);
        }
      } else {
        const std::size_t max = 1 + static_cast<std::size_t>((r >> 8) % 8);
        const std::size_t got = b.take(q, max, [r](std::size_t c) { return r % 4 == 1 ? c : 1 + c / 2; });
        if (got == 0 || got > max || got != 1 + b.rest.size()) ++wrong_count;
        taken += got;
        b.run_all();
      }
      if (q.size_approx() != pushed - taken) ++wrong_size;
    }
    allocations = counted.allocations();
  }
  while (std::size_t got = b.take(q, 5, [](std::size_t c) { return c; })) {
    taken += got;
    b.run_all();
  }
  CHECK(pushed > 30 * segment_slots);
  CHECK(taken == pushed);
  CHECK(wrong_count == 0);
  CHECK(wrong_size == 0);
  CHECK(is_iota(log, pushed));
  CHECK_FALSE(q.has_work());
  // Tasks are inline and the log is reserved: every allocation is a segment.
  CHECK(allocations >= 1);
  CHECK(allocations <= 3);
}

namespace {

struct tally {
  std::vector<int> ran, cancelled;
  int alive = 0;  // live hooked_owning callables (their tokens)
  explicit tally(std::size_t n) : ran(n, 0), cancelled(n, 0) {}
};

// Three kinds of callable with a cancel hook: inline, boxed for its size, boxed for not
// being trivially copyable (and owning heap memory: a leak shows under LSan and in alive).
struct hooked_inline {
  tally* t;
  int id;
  using bobbin_cancel_hook = void;
  void operator()() const { ++t->ran[static_cast<std::size_t>(id)]; }
  void cancel() noexcept { ++t->cancelled[static_cast<std::size_t>(id)]; }
};
static_assert(task::stored_inline<hooked_inline>);

struct hooked_big {
  tally* t;
  int id;
  std::array<std::uint64_t, 6> pad{};
  using bobbin_cancel_hook = void;
  void operator()() const { ++t->ran[static_cast<std::size_t>(id)]; }
  void cancel() noexcept { ++t->cancelled[static_cast<std::size_t>(id)]; }
};
static_assert(sizeof(hooked_big) > task::inline_size && !task::stored_inline<hooked_big>);

struct token {
  tally* t;
  explicit token(tally* owner) : t(owner) { ++t->alive; }
  token(const token& o) : t(o.t) { ++t->alive; }
  token& operator=(const token&) = delete;
  ~token() { --t->alive; }
};

struct hooked_owning {
  token tok;
  int id;
  std::unique_ptr<int> payload;
  using bobbin_cancel_hook = void;
  void operator()() const { ++tok.t->ran[static_cast<std::size_t>(id)]; }
  void cancel() noexcept { ++tok.t->cancelled[static_cast<std::size_t>(id)]; }
};
static_assert(!task::stored_inline<hooked_owning>);

task hooked_task(tally& t, int id) {
  switch (id % 3) {
    case 0: return task(hooked_inline{&t, id});
    case 1: return task(hooked_big{&t, id});
    default: return task(hooked_owning{token(&t), id, std::make_unique<int>(id)});
  }
}

}  // namespace

TEST_CASE("injector: the destructor cancels what is left, once each, and frees boxed callables") {
  // A scenario is a list of steps: > 0 pushes that many, < 0 takes that many more (at most
  // 100 a time, all it sees) and runs them.
  struct scenario {
    const char* name;
    std::vector<int> steps;
  };
  const scenario scenarios[] = {
      {"never used", {}},
      {"nothing taken, 3 segments", {700}},
      {"taken across a segment's end", {700, -300}},
      {"the head segment fully taken", {512, -256}},
      {"everything taken", {600, -600}},
      {"left in recycled segments", {520, -520, 700, -100}},
      {"one left at a segment's start", {513, -512}},
  };
  for (const scenario& sc : scenarios) {
    CAPTURE(sc.name);
    int total = 0;
    for (int s : sc.steps) total += std::max(s, 0);
    tally tl(static_cast<std::size_t>(total));
    int pushed = 0, taken = 0, owning_left = 0;
    std::size_t size_before = 0;
    bool took_nothing = false;
    long allocations = 0, deallocations = 0;
    {
      alloc::scope counted;  // the queue's whole life, and nothing else; no CHECK in here
      {
        task_injector q;
        run_buffer b;
        for (int s : sc.steps) {
          for (int i = 0; i < s; ++i) {
            task t = hooked_task(tl, pushed++);
            q.push(t);
          }
          for (const int goal = taken - s; taken < goal && !took_nothing;) {
            const auto max = static_cast<std::size_t>(std::min(100, goal - taken));
            const std::size_t got = b.take(q, max, [](std::size_t c) { return c; });
            took_nothing = got == 0;
            b.run_all();
            taken += static_cast<int>(got);
          }
        }
        size_before = q.size_approx();
        owning_left = tl.alive;
      }
      allocations = counted.allocations();
      deallocations = counted.deallocations();
    }
    CHECK_FALSE(took_nothing);
    CHECK(size_before == static_cast<std::size_t>(pushed - taken));
    int expected_owning = 0;
    for (int i = taken; i < pushed; ++i) expected_owning += i % 3 == 2 ? 1 : 0;
    CHECK(owning_left == expected_owning);
    CHECK(allocations == deallocations);  // boxes and segments: all freed
    std::size_t wrong_taken = 0, wrong_left = 0;
    for (int i = 0; i < pushed; ++i) {
      const auto k = static_cast<std::size_t>(i);
      if (i < taken ? tl.ran[k] != 1 || tl.cancelled[k] != 0 : tl.ran[k] != 0 || tl.cancelled[k] != 1) {
        ++(i < taken ? wrong_taken : wrong_left);
      }
    }
    CHECK(wrong_taken == 0);
    CHECK(wrong_left == 0);
    CHECK(tl.alive == 0);  // every boxed callable was destroyed
  }
}

namespace {

// Marks its id in a per-id counter and tells the consumer that ran it which id it was.
// check = ~id: a torn copy of the task's bytes shows.
constexpr std::uint64_t torn_id = ~std::uint64_t{0};
thread_local std::uint64_t last_run = torn_id;

struct stamp {
  std::atomic<std::uint32_t>* runs;
  std::uint64_t id;
  std::uint64_t check;
  void operator()() const {
    if (check != ~id) {
      last_run = torn_id;
      return;
    }
    runs[id].fetch_add(1, std::memory_order_relaxed);
    last_run = id;
  }
};
static_assert(task::stored_inline<stamp>);

// What one consumer saw; asserted on after the join.
struct consumer_log {
  std::uint64_t tasks = 0;
  std::size_t torn = 0, backwards = 0, wrong_count = 0;
  bool stalled = false;
};

}  // namespace

TEST_CASE("injector: P producers x C consumers, each task exactly once, each producer's order kept" *
          doctest::timeout(300)) {
  constexpr std::uint64_t m = per_producer;
  for (std::size_t producers = 1; producers <= 3; ++producers) {
    for (std::size_t consumers = 1; consumers <= 3; ++consumers) {
      CAPTURE(producers);
      CAPTURE(consumers);
      const std::uint64_t total = producers * m;
      const auto runs = std::make_unique<std::atomic<std::uint32_t>[]>(total);
      task_injector q;
      std::atomic<std::size_t> ready{0}, producers_done{0};
      std::vector<std::size_t> not_taken_by_push(producers, 0);
      std::vector<consumer_log> logs(consumers);
      const auto start = [&ready, n = producers + consumers] {
        ready.fetch_add(1);
        while (ready.load() < n) std::this_thread::yield();
      };

      std::vector<std::thread> threads;
      for (std::size_t p = 0; p < producers; ++p) {
        threads.emplace_back([&, p] {
          start();
          for (std::uint64_t i = 0; i < m; ++i) {
            const std::uint64_t id = p * m + i;
            task t(stamp{runs.get(), id, ~id});
            q.push(t);
            if (t) ++not_taken_by_push[p];
          }
          producers_done.fetch_add(1);
        });
      }
      for (std::size_t c = 0; c < consumers; ++c) {
        threads.emplace_back([&, c] {
          consumer_log& log = logs[c];
          std::vector<std::uint64_t> last(producers, torn_id);  // per producer: the last index taken
          const auto note = [&](task& t) {
            t.run();
            const std::uint64_t id = last_run;
            if (id == torn_id) {
              ++log.torn;
              return;
            }
            const std::size_t p = static_cast<std::size_t>(id / m);
            const std::uint64_t i = id % m;
            if (last[p] != torn_id && i <= last[p]) ++log.backwards;
            last[p] = i;
            ++log.tasks;
          };
          run_buffer b;
          std::uint64_t rng = 0x2545f4914f6cdd1dULL * (c + 1) + producers;
          auto progress = std::chrono::steady_clock::now();
          std::size_t idle = 0;
          bool saw_all_pushed = false;
          start();
          for (;;) {
            const std::uint64_t r = next(rng);
            const std::size_t max = 1 + static_cast<std::size_t>(r % 64);
            const unsigned mode = static_cast<unsigned>((r >> 8) % 4);
            std::size_t seen = 0;
            const auto share = [&seen, mode](std::size_t s) -> std::size_t {
              seen = s;
              switch (mode) {
                case 0: return 1;
                case 1: return s;
                case 2: return s / 2;
                default: return s - 1;
              }
            };
            const std::size_t got = b.take(q, max, share, (r >> 16) % 16 == 0);
            if (got == 0) {
              // Everything pushed and nothing left: done. A queue that stops handing out
              // tasks it was given is caught here rather than hanging the test.
              const bool all_pushed = producers_done.load() == producers;
              if (all_pushed && !q.has_work()) break;
              if (all_pushed && !saw_all_pushed) {  // the 2 s count from here
                saw_all_pushed = true;
                progress = std::chrono::steady_clock::now();
              }
              if (++idle % 1024 == 0 &&
                  std::chrono::steady_clock::now() - progress > std::chrono::seconds(all_pushed ? 2 : 20)) {
                log.stalled = true;
                break;
              }
              std::this_thread::yield();
              continue;
            }
            progress = std::chrono::steady_clock::now();
            if (got > max || seen > max || got != clamped(share(seen), seen) || got != 1 + b.rest.size())
              ++log.wrong_count;
            note(b.first);
            for (task& t : b.rest) note(t);
            b.rest.clear();
          }
        });
      }
      for (std::thread& t : threads) t.join();

      std::uint64_t consumed = 0;
      for (std::size_t c = 0; c < consumers; ++c) {
        CAPTURE(c);
        const consumer_log& log = logs[c];
        CHECK_FALSE(log.stalled);
        CHECK(log.torn == 0);
        CHECK(log.backwards == 0);
        CHECK(log.wrong_count == 0);
        consumed += log.tasks;
      }
      for (std::size_t p = 0; p < producers; ++p) CHECK(not_taken_by_push[p] == 0);
      CHECK(consumed == total);
      std::uint64_t not_once = 0;
      for (std::uint64_t id = 0; id < total; ++id) not_once += runs[id].load() != 1 ? 1 : 0;
      CHECK(not_once == 0);
      CHECK_FALSE(q.has_work());
      CHECK(q.size_approx() == 0);
    }
  }
}

namespace {

// Whether t still holds exactly what `before` held (a logged task: every byte written).
bool same_bytes(const task& t, const task::raw& before) { return std::memcmp(&t.bytes(), &before, sizeof before) == 0; }

}  // namespace

TEST_CASE("injector: a push whose segment cannot be allocated throws, leaving the task and the queue intact") {
  std::vector<std::uint64_t> log;
  log.reserve(4096);
  run_buffer b;
  const auto all = [](std::size_t c) { return c; };

  SUBCASE("the first segment") {
    task_injector q;
    task t(logged{&log, 0});
    const task::raw before = t.bytes();
    bool threw = false, failed = false;
    {
      alloc::scope fail_first(1);
      try {
        q.push(t);
      } catch (const std::bad_alloc&) {
        threw = true;
      }
      failed = fail_first.failed();
    }
    CHECK(failed);
    CHECK(threw);
    REQUIRE(t);
    CHECK(same_bytes(t, before));
    CHECK_FALSE(q.has_work());
    CHECK(q.size_approx() == 0);
    CHECK(b.take(q, 64, all) == 0);

    q.push(t);  // the same task, now accepted
    CHECK_FALSE(t);
    for (std::uint64_t i = 1; i < 600; ++i) {
      task u(logged{&log, i});
      q.push(u);
    }
    CHECK(q.size_approx() == 600);
    while (b.take(q, 64, all) != 0) b.run_all();
    CHECK(is_iota(log, 600));
    CHECK_FALSE(q.has_work());
  }

  SUBCASE("a full segment, inline and boxed tasks") {
    task_injector q;
    for (std::uint64_t i = 0; i < segment_slots; ++i) {
      task u(logged{&log, i});
      q.push(u);
    }
    task inline_task(logged{&log, segment_slots});
    task boxed_task(logged_boxed{&log, segment_slots + 1});
    const task::raw inline_before = inline_task.bytes();
    const task::raw boxed_before = boxed_task.bytes();
    int threw = 0;
    bool failed = false;
    {
      alloc::scope fail_first(1);
      try {
        q.push(inline_task);
      } catch (const std::bad_alloc&) {
        ++threw;
      }
      failed = fail_first.failed();
    }
    {
      alloc::scope fail_first(1);
      try {
        q.push(boxed_task);
      } catch (const std::bad_alloc&) {
        ++threw;
      }
      failed = failed && fail_first.failed();
    }
    CHECK(failed);
    CHECK(threw == 2);
    REQUIRE(inline_task);
    REQUIRE(boxed_task);
    CHECK(same_bytes(inline_task, inline_before));
    CHECK(boxed_task.bytes().ops == boxed_before.ops);  // and the same box:
    CHECK(std::memcmp(boxed_task.bytes().storage, boxed_before.storage, sizeof(void*)) == 0);
    CHECK(q.size_approx() == segment_slots);

    q.push(inline_task);
    q.push(boxed_task);
    for (std::uint64_t i = segment_slots + 2; i < 3 * segment_slots; ++i) {
      task u(i % 2 == 0 ? task(logged{&log, i}) : task(logged_boxed{&log, i}));
      q.push(u);
    }
    while (b.take(q, 100, all) != 0) b.run_all();
    CHECK(is_iota(log, 3 * segment_slots));
    CHECK_FALSE(q.has_work());
    CHECK(q.size_approx() == 0);
  }

  SUBCASE("a recycled segment needs no allocation") {
    task_injector q;
    for (std::uint64_t i = 0; i < 2 * segment_slots; ++i) {
      task u(logged{&log, i});
      q.push(u);
    }
    while (b.take(q, 64, all) != 0) b.run_all();
    std::vector<task> more;
    for (std::uint64_t i = 2 * segment_slots; i < 4 * segment_slots; ++i) more.emplace_back(logged{&log, i});
    bool failed = false;
    long allocations = 0;
    {
      alloc::scope fail_first(1);
      for (task& u : more) q.push(u);  // would throw on the first allocation
      failed = fail_first.failed();
      allocations = fail_first.allocations();
    }
    CHECK_FALSE(failed);
    CHECK(allocations == 0);
    while (b.take(q, 64, all) != 0) b.run_all();
    CHECK(is_iota(log, 4 * segment_slots));
  }

  SUBCASE("every allocation of a push/take sequence fails once") {
    // Pushes 600 (3 segments), takes 520 (2 segments recycled), pushes 900 more (two
    // segments' worth into the recycled ones, then a new one): 4 allocations in all. For
    // N = 1, 2, ... the N-th fails; the refused task is pushed again and must land right
    // after the others.
    constexpr std::uint64_t n = 1500;
    std::size_t sweeps = 0;
    for (long fail_at = 1;; ++fail_at) {
      CAPTURE(fail_at);
      log.clear();
      std::vector<task> tasks;
      tasks.reserve(n);
      for (std::uint64_t i = 0; i < n; ++i)
        tasks.push_back(i % 3 == 0 ? task(logged_boxed{&log, i}) : task(logged{&log, i}));
      std::size_t refused = 0, damaged = 0, wrong_size = 0;
      std::uint64_t taken = 0;
      bool failed = false;
      {
        task_injector q;
        {
          alloc::scope armed(fail_at);  // no CHECK in here
          const auto push = [&](std::uint64_t i) {
            const task::raw before = tasks[i].bytes();
            try {
              q.push(tasks[i]);
            } catch (const std::bad_alloc&) {
              ++refused;
              if (!tasks[i] || tasks[i].bytes().ops != before.ops ||
                  std::memcmp(tasks[i].bytes().storage, before.storage, sizeof(void*)) != 0)
                ++damaged;
              if (q.size_approx() != i - taken) ++wrong_size;  // it claimed no ticket
              q.push(tasks[i]);                                  // the one failure is spent
            }
          };
          std::uint64_t i = 0;
          for (; i < 600; ++i) push(i);
          while (taken < 520) {
            const std::size_t got = b.take(q, std::min<std::uint64_t>(64, 520 - taken), all);
            if (got == 0) break;  // caught below: taken != n
            taken += got;
            b.run_all();
          }
          for (; i < n; ++i) push(i);
          failed = armed.failed();
        }
        while (std::size_t got = b.take(q, 64, all)) {
          taken += got;
          b.run_all();
        }
        CHECK_FALSE(q.has_work());
      }
      CHECK(refused == (failed ? 1 : 0));
      CHECK(damaged == 0);
      CHECK(wrong_size == 0);
      CHECK(taken == n);
      CHECK(is_iota(log, n));
      ++sweeps;
      if (!failed) break;
      REQUIRE(fail_at < 10);  // 4 segments; recycled ones cost nothing
    }
    CHECK(sweeps == 5);
  }
}
