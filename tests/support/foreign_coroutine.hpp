#pragma once
// A minimal coroutine type of the tests' own, and a resumer that queues what it is given:
// how tests exercise bobbin's awaitables with coroutines that are not bobbin::task — a
// context resumed inline (no resumer) or through a queue the test drains itself.

#include <bobbin/detail/coro/context.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <coroutine>
#include <cstddef>
#include <deque>
#include <exception>
#include <mutex>
#include <utility>

namespace bobbin_test {

using bobbin::detail::coro_context;

// Queues handles; run_until() resumes them on the calling thread.
struct queue_resumer final : bobbin::detail::resumer {
  std::mutex m;
  std::condition_variable cv;
  std::deque<std::coroutine_handle<>> q;
  std::atomic<std::size_t> queued{0};

  void resume_later(std::coroutine_handle<> h) noexcept override {
    // All under the lock: once the handle is queued, the test may finish and destroy us.
    std::lock_guard lock(m);
    q.push_back(h);
    queued.fetch_add(1);
    cv.notify_one();
  }

  // Resumes queued coroutines until pred() holds; false after a generous deadline.
  template <class Pred>
  bool run_until(Pred pred, std::chrono::milliseconds limit = std::chrono::milliseconds(30'000)) {
    const auto give_up = std::chrono::steady_clock::now() + limit;
    std::unique_lock lock(m);
    while (!pred()) {
      if (q.empty()) {
        if (cv.wait_until(lock, std::min(give_up, std::chrono::steady_clock::now() + std::chrono::milliseconds(1))) ==
                std::cv_status::timeout &&
            std::chrono::steady_clock::now() > give_up)
          return false;
        continue;
      }
      const auto h = q.front();
      q.pop_front();
      lock.unlock();
      h.resume();
      lock.lock();
    }
    return true;
  }

  std::size_t pending() {
    std::lock_guard lock(m);
    return q.size();
  }
};

// A lazy coroutine whose promise carries a coro_context; start() runs it to its first
// suspension. `finished` is its last write (set at final suspension).
struct co {
  struct promise_type {
    coro_context ctx;
    std::atomic<bool> finished{false};
    coro_context& bobbin_context() noexcept { return ctx; }
    co get_return_object() noexcept { return co{std::coroutine_handle<promise_type>::from_promise(*this)}; }
    std::suspend_always initial_suspend() noexcept { return {}; }
    struct final_awaiter {
      bool await_ready() const noexcept { return false; }
      void await_suspend(std::coroutine_handle<promise_type> h) noexcept {
        h.promise().finished.store(true, std::memory_order_release);
      }
      void await_resume() const noexcept {}
    };
    final_awaiter final_suspend() noexcept { return {}; }
    void return_void() noexcept {}
    void unhandled_exception() noexcept { std::terminate(); }
  };

  explicit co(std::coroutine_handle<promise_type> h) noexcept : h_(h) {}
  co(co&& o) noexcept : h_(std::exchange(o.h_, nullptr)) {}
  co& operator=(co&&) = delete;
  ~co() {
    if (h_) h_.destroy();
  }

  void start(coro_context ctx) {
    h_.promise().ctx = ctx;
    h_.resume();
  }
  bool finished() const noexcept { return h_.promise().finished.load(std::memory_order_acquire); }
  // Destroys the frame, suspended or not.
  void destroy() noexcept { std::exchange(h_, nullptr).destroy(); }

 private:
  std::coroutine_handle<promise_type> h_;
};

}  // namespace bobbin_test
