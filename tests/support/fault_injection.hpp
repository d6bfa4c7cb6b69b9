#pragma once
// What the fault-injection tests (tests/test_fault_*.cpp, issue 8) share: the injecting
// operator new (fault_alloc.hpp; so this header too goes in one TU per program) and the
// helpers of a sweep.
//
// Each scenario sweeps N = 1, 2, 3, ... until the operation completes without reaching its
// Nth allocation, so every allocation it makes fails once. For every N it checks that the
// operation either succeeded or threw std::bad_alloc to its caller (no other exception, no
// std::terminate, no hang), that with injection off the object still works, and that every
// item or task accepted, before and by the successful calls, is delivered or run exactly
// once (in order, where there is one). The ASan build checks that nothing leaks.

#include <bobbin/detail/channel/executor.hpp>
#include <bobbin/pool.hpp>

#include "counted.hpp"
#include "fault_alloc.hpp"

#include <algorithm>
#include <array>
#include <atomic>
#include <cstddef>
#include <deque>
#include <functional>
#include <memory>
#include <new>
#include <thread>
#include <utility>
#include <vector>

namespace bobbin_test::fault {

namespace inject = bobbin_test::inject;

// Far more attempts than any scenario has allocations: reaching it means the sweep never
// ends (an allocation per attempt that never stops failing).
inline constexpr long sweep_limit = 5000;

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

// A pool's options whose threads count for inject::on_pool_threads.
inline bobbin::pool_options options(std::size_t threads, std::size_t queue_capacity = 0) {
  return {.threads = threads, .queue_capacity = queue_capacity, .on_thread_start = [](std::size_t) {
            inject::is_pool_thread = true;
          }};
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

// Big enough for the heap: past the task's 48 inline bytes, and past the block cache's
// 512 for a future state.
using big_payload = std::array<long, 80>;

// A message that counts its live instances (payload::live) and allocates when copied, so a
// copy into a channel can fail. Its id is `value`; a moved-from one is not intact().
struct payload : bobbin_test::counted<int, payload> {
  std::unique_ptr<int> box;

  explicit payload(int i) : counted(i), box(std::make_unique<int>(i)) {}
  payload(const payload& o) : counted(o), box(std::make_unique<int>(*o.box)) {}
  payload(payload&& o) noexcept : counted(std::move(o)), box(std::move(o.box)) {}
  payload& operator=(const payload&) = delete;
  bool intact() const { return box != nullptr && *box == value; }
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
inline bool all_once_in_order(const std::vector<int>& got, int total, int failed) {
  std::vector<int> want;
  for (int i = 0; i < total; ++i) {
    if (i != failed) want.push_back(i);
  }
  if (got == want) return true;
  want.clear();
  for (int i = 0; i < total; ++i) want.push_back(i);
  return failed >= 0 && got == want;
}

}  // namespace bobbin_test::fault
