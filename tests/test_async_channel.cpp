// co_await async_receive() / async_send(v) on channels, ports, broadcast receivers and a
// worker: fast paths, suspension and resumption (inline and queued), close, cancellation,
// threads and coroutines mixed on one channel. Threads and coroutines never assert: they
// collect, the test checks.

#include <bobbin/broadcast_channel.hpp>
#include <bobbin/channel.hpp>
#include <bobbin/errors.hpp>
#include <bobbin/message_port.hpp>
#include <bobbin/pool.hpp>
#include <bobbin/task.hpp>
#include <bobbin/worker.hpp>

#include <doctest/doctest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <coroutine>
#include <cstddef>
#include <deque>
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
#include <utility>
#include <vector>

#include "support/fault_alloc.hpp"
#include "support/policies.hpp"

namespace {

using namespace std::chrono_literals;
using bobbin::detail::coro_context;
using bobbin::detail::resumer;

// --- A throwaway coroutine type: lazy, started by hand, its frame owned by the job. ---

struct job {
  struct promise_type {
    coro_context ctx;
    coro_context& bobbin_context() noexcept { return ctx; }
    std::exception_ptr error;
    std::atomic<bool> finished{false};

    job get_return_object() { return job(std::coroutine_handle<promise_type>::from_promise(*this)); }
    std::suspend_always initial_suspend() noexcept { return {}; }
    // Sets `finished` once suspended for good: whoever sees it may destroy the frame.
    auto final_suspend() noexcept {
      struct final_awaiter {
        bool await_ready() noexcept { return false; }
        void await_suspend(std::coroutine_handle<promise_type> h) noexcept {
          h.promise().finished.store(true, std::memory_order_release);
        }
        void await_resume() noexcept {}
      };
      return final_awaiter{};
    }
    void return_void() noexcept {}
    void unhandled_exception() noexcept { error = std::current_exception(); }
  };
  using handle = std::coroutine_handle<promise_type>;

  explicit job(handle h) : h_(h) {}
  job(job&& o) noexcept : h_(std::exchange(o.h_, {})) {}
  job& operator=(job&&) = delete;
  ~job() {
    // A frame suspended in an awaiter may not be destroyed: leak it (the test fails anyway).
    if (h_ && finished()) h_.destroy();
  }

  // Runs the coroutine here until it first suspends; after a wait it is resumed where
  // `where` says (nullptr: inline, on the waking thread).
  void start(resumer* where = nullptr, const std::stop_token* stop = nullptr) {
    h_.promise().ctx = coro_context{where, stop};
    h_.resume();
  }
  bool finished() const noexcept { return h_.promise().finished.load(std::memory_order_acquire); }
  // Destroys the frame wherever it is suspended (only when nothing can wake it).
  void destroy_now() noexcept { std::exchange(h_, {}).destroy(); }
  std::exception_ptr error() const { return h_.promise().error; }

 private:
  handle h_;
};

// A resumer that queues handles; run() drains them on the calling thread, or `threads`
// threads of its own do.
class queue_resumer final : public resumer {
 public:
  explicit queue_resumer(int threads = 0) {
    for (int i = 0; i < threads; ++i) {
      threads_.emplace_back([this](std::stop_token st) {
        while (run_one(st)) {
        }
      });
    }
  }
  queue_resumer(const queue_resumer&) = delete;
  queue_resumer& operator=(const queue_resumer&) = delete;
  ~queue_resumer() {
    {
      // Under the lock: a thread between its look at the stop and its sleep would miss it.
      std::lock_guard lock(mutex_);
      for (auto& t : threads_) t.request_stop();
    }
    cv_.notify_all();
  }

  void resume_later(std::coroutine_handle<> h) noexcept override {
    {
      std::lock_guard lock(mutex_);
      queue_.push_back(h);
      ++queued_;
    }
    cv_.notify_one();
  }

  // Resumes what is queued until nothing is (on the calling thread).
  void run() {
    for (;;) {
      std::coroutine_handle<> h;
      {
        std::lock_guard lock(mutex_);
        if (queue_.empty()) return;
        h = queue_.front();
        queue_.pop_front();
      }
      h.resume();
    }
  }

  // Until pred() holds or 20 s passed, draining the queue here.
  template <class Pred>
  bool run_until(Pred pred) {
    const auto end = std::chrono::steady_clock::now() + 20s;
    while (!pred()) {
      run();
      if (std::chrono::steady_clock::now() > end) return false;
      std::unique_lock lock(mutex_);
      cv_.wait_for(lock, 1ms, [&] { return !queue_.empty(); });
    }
    return true;
  }

  long queued() const {
    std::lock_guard lock(mutex_);
    return queued_;
  }
  bool empty() const {
    std::lock_guard lock(mutex_);
    return queue_.empty();
  }

 private:
  bool run_one(const std::stop_token& st) {
    std::coroutine_handle<> h;
    {
      std::unique_lock lock(mutex_);
      cv_.wait(lock, [&] { return !queue_.empty() || st.stop_requested(); });
      if (queue_.empty()) return false;
      h = queue_.front();
      queue_.pop_front();
    }
    h.resume();
    return true;
  }

  mutable std::mutex mutex_;
  std::condition_variable cv_;
  std::deque<std::coroutine_handle<>> queue_;
  long queued_ = 0;
  std::vector<std::jthread> threads_;  // last: they stop before the queue goes
};

template <class Pred>
bool eventually(Pred pred) {
  const auto end = std::chrono::steady_clock::now() + 20s;
  while (!pred()) {
    if (std::chrono::steady_clock::now() > end) return false;
    std::this_thread::sleep_for(100us);
  }
  return true;
}

bool all_finished(const std::vector<job>& jobs) {
  return std::all_of(jobs.begin(), jobs.end(), [](const job& j) { return j.finished(); });
}

template <class T>
bobbin::channel<T> make_channel(std::size_t cap) {
  return cap == 0 ? bobbin::channel<T>() : bobbin::channel<T>(bobbin::capacity{cap});
}

// --- Coroutines used below. Parameters by value: they live in the frame. ---

job receive_one(bobbin::channel<int> ch, std::optional<int>& out) { out = co_await ch.async_receive(); }

job send_one(bobbin::channel<int> ch, int v, bool& ok) { ok = co_await ch.async_send(v); }

job send_moved(bobbin::channel<std::string> ch, std::string& v, bool& ok) { ok = co_await ch.async_send(std::move(v)); }

job receive_all(bobbin::channel<int> ch, std::vector<int>& out) {
  while (auto m = co_await ch.async_receive()) out.push_back(*m);
}

job send_range(bobbin::channel<int> ch, int from, int to, bool close_after) {
  for (int i = from; i < to; ++i) {
    if (!co_await ch.async_send(i)) co_return;
  }
  if (close_after) ch.close();
}

// --- Fast paths ---

TEST_CASE("fast paths: no suspension, no allocation when a message / a slot is there") {
  bobbin::channel<int> ch(bobbin::capacity{2});
  queue_resumer r;
  REQUIRE(ch.try_send(7) == bobbin::send_status::ok);
  std::optional<int> got;
  bool sent = false;
  job rj = receive_one(ch, got);
  job sj = send_one(ch, 8, sent);

  const long before = bobbin_test::inject::allocations.load();
  rj.start(&r);
  sj.start(&r);
  const long allocated = bobbin_test::inject::allocations.load() - before;

  CHECK(rj.finished());
  CHECK(sj.finished());
  CHECK(r.queued() == 0);
  CHECK(allocated == 0);
  CHECK(got == 7);
  CHECK(sent);
  CHECK(ch.try_receive() == 8);
}

TEST_CASE("fast paths on a closed channel: receive drains then nullopt, send false (value kept)") {
  bobbin::channel<std::string> ch(bobbin::capacity{1});
  REQUIRE(ch.send("x"));
  ch.close();
  std::vector<std::optional<std::string>> got;
  std::string v = "kept";
  bool ok = true;
  auto recv2 = [](bobbin::channel<std::string> c, std::vector<std::optional<std::string>>& out) -> job {
    out.push_back(co_await c.async_receive());
    out.push_back(co_await c.async_receive());
  };
  job a = recv2(ch, got);
  job b = send_moved(ch, v, ok);
  a.start();
  b.start();
  REQUIRE(a.finished());
  REQUIRE(b.finished());
  REQUIRE(got.size() == 2);
  CHECK(got[0] == "x");
  CHECK(got[1] == std::nullopt);
  CHECK_FALSE(ok);
  CHECK(v == "kept");
}

// --- Suspension and resumption ---

TEST_CASE("a suspended receiver is resumed by a send: inline, and queued on its resumer") {
  SUBCASE("inline: on the sending thread, before send returns") {
    bobbin::channel<int> ch;
    std::optional<int> got;
    job j = receive_one(ch, got);
    j.start();
    CHECK_FALSE(j.finished());
    REQUIRE(ch.send(5));
    CHECK(j.finished());
    CHECK(got == 5);
  }
  SUBCASE("queued: the send queues it; the resumer's loop runs it") {
    bobbin::channel<int> ch;
    queue_resumer r;
    std::optional<int> got;
    job j = receive_one(ch, got);
    j.start(&r);
    CHECK_FALSE(j.finished());
    CHECK(r.queued() == 0);
    REQUIRE(ch.send(5));
    CHECK(r.queued() == 1);  // resumed with its message, once
    CHECK_FALSE(j.finished());
    r.run();
    CHECK(j.finished());
    CHECK(got == 5);
    CHECK(ch.size() == 0);
  }
  SUBCASE("from another thread") {
    bobbin::channel<int> ch;
    queue_resumer r;
    std::optional<int> got;
    job j = receive_one(ch, got);
    j.start(&r);
    std::jthread t([ch]() mutable { ch.send(9); });
    CHECK(r.run_until([&] { return j.finished(); }));
    CHECK(got == 9);
  }
}

TEST_CASE("a suspended sender is resumed when a slot frees; moved only when sent") {
  bobbin::channel<std::string> ch(bobbin::capacity{1});
  REQUIRE(ch.send("first"));
  queue_resumer r;
  std::string v = "second";
  bool ok = false;
  job j = send_moved(ch, v, ok);
  j.start(&r);
  CHECK_FALSE(j.finished());
  CHECK(v == "second");  // not moved while full
  CHECK(ch.receive() == "first");
  CHECK(r.queued() == 1);
  r.run();
  REQUIRE(j.finished());
  CHECK(ok);
  CHECK(ch.try_receive() == "second");
}

TEST_CASE("close wakes every suspended receiver and sender" * doctest::timeout(30)) {
  SUBCASE("receivers: drain, then nullopt") {
    bobbin::channel<int> ch;
    queue_resumer r;
    std::vector<std::optional<int>> got(8, std::optional<int>(-1));
    std::vector<job> jobs;
    for (auto& g : got) jobs.push_back(receive_one(ch, g));
    for (std::size_t i = 0; i < jobs.size(); ++i) jobs[i].start(i % 2 == 0 ? &r : nullptr);
    CHECK(ch.try_send(1) == bobbin::send_status::ok);
    ch.close();
    r.run();
    REQUIRE(all_finished(jobs));
    CHECK(std::count(got.begin(), got.end(), std::optional<int>(1)) == 1);
    CHECK(std::count(got.begin(), got.end(), std::nullopt) == 7);
  }
  SUBCASE("senders: false, value left as it was") {
    bobbin::channel<std::string> ch(bobbin::capacity{1});
    REQUIRE(ch.send("held"));
    queue_resumer r;
    std::vector<std::string> values(6, "mine");
    bool oks[6] = {true, true, true, true, true, true};
    std::vector<job> jobs;
    for (std::size_t i = 0; i < values.size(); ++i) jobs.push_back(send_moved(ch, values[i], oks[i]));
    for (std::size_t i = 0; i < jobs.size(); ++i) jobs[i].start(i % 2 == 0 ? &r : nullptr);
    ch.close();
    r.run();
    REQUIRE(all_finished(jobs));
    for (std::size_t i = 0; i < values.size(); ++i) {
      CHECK_FALSE(oks[i]);
      CHECK(values[i] == "mine");
    }
    CHECK(ch.receive() == "held");
    CHECK(ch.receive() == std::nullopt);
  }
}

// --- Capacity 1 and 2: one thread, producer and consumer coroutines take turns ---

TEST_CASE("bounded capacity 1 and 2: a producer and a consumer coroutine on one thread" * doctest::timeout(60)) {
  for (std::size_t cap : {std::size_t{1}, std::size_t{2}}) {
    for (bool queued : {false, true}) {
      CAPTURE(cap);
      CAPTURE(queued);
      constexpr int n = 5000;
      auto ch = make_channel<int>(cap);
      queue_resumer r;
      std::vector<int> got;
      job consumer = receive_all(ch, got);
      job producer = send_range(ch, 0, n, true);
      consumer.start(queued ? &r : nullptr);
      producer.start(queued ? &r : nullptr);
      CHECK(r.run_until([&] { return consumer.finished() && producer.finished(); }));
      std::vector<int> want(n);
      std::iota(want.begin(), want.end(), 0);
      CHECK(got == want);
    }
  }
}

// --- Threads and coroutines mixed ---

// 4 producers (2 threads with send, 2 coroutines with async_send) and 4 consumers (2 threads
// with receive, 2 coroutines with async_receive) on one bounded channel: each message once,
// each producer's order kept by each consumer.
void mixed_run(std::size_t cap, int resumer_threads, bool inline_resume) {
  constexpr int producers = 4;
  constexpr int per_producer = 3000;
  auto ch = make_channel<int>(cap);
  queue_resumer r(resumer_threads);
  resumer* where = inline_resume ? nullptr : &r;

  std::vector<std::vector<int>> got(4);
  std::vector<job> jobs;
  std::vector<std::jthread> threads;
  std::atomic<int> producers_left{producers};
  auto producer_done = [&] {
    if (producers_left.fetch_sub(1) == 1) ch.close();
  };
  auto async_producer = [](bobbin::channel<int> c, int base, std::function<void()> done) -> job {
    for (int i = 0; i < per_producer; ++i) co_await c.async_send(base + i);
    done();
  };

  // Consumers first, so that some wait before anything is sent.
  jobs.push_back(receive_all(ch, got[0]));
  jobs.push_back(receive_all(ch, got[1]));
  for (auto& j : jobs) j.start(where);
  for (int c = 2; c < 4; ++c) {
    threads.emplace_back([ch, &out = got[static_cast<std::size_t>(c)]]() mutable {
      while (auto m = ch.receive()) out.push_back(*m);
    });
  }
  for (int p = 0; p < 2; ++p) {
    threads.emplace_back([ch, p, &producer_done]() mutable {
      for (int i = 0; i < per_producer; ++i) ch.send(p * 1'000'000 + i);
      producer_done();
    });
  }
  jobs.push_back(async_producer(ch, 2 * 1'000'000, producer_done));
  jobs.push_back(async_producer(ch, 3 * 1'000'000, producer_done));
  jobs[2].start(where);
  jobs[3].start(where);

  if (resumer_threads == 0) {
    CHECK(r.run_until([&] { return all_finished(jobs); }));
  } else {
    CHECK(eventually([&] { return all_finished(jobs); }));
  }
  threads.clear();  // joins
  REQUIRE(all_finished(jobs));
  for (const auto& j : jobs) CHECK_FALSE(j.error());

  std::vector<int> all;
  for (const auto& g : got) {
    // In order per producer.
    std::vector<int> last(producers, -1);
    bool ordered = true;
    for (int v : g) {
      const auto p = static_cast<std::size_t>(v / 1'000'000);
      if (v % 1'000'000 <= last[p]) ordered = false;
      last[p] = v % 1'000'000;
    }
    CHECK(ordered);
    all.insert(all.end(), g.begin(), g.end());
  }
  std::sort(all.begin(), all.end());
  std::vector<int> want;
  for (int p = 0; p < producers; ++p)
    for (int i = 0; i < per_producer; ++i) want.push_back(p * 1'000'000 + i);
  CHECK(all == want);
}

TEST_CASE("threads and coroutines on one channel: each message exactly once, in order per producer" *
          doctest::timeout(300)) {
  int threads = 0;
  bool inline_resume = false;
  SUBCASE("coroutines resumed inline") { inline_resume = true; }
  SUBCASE("coroutines queued, resumed by the test thread") {}
  SUBCASE("coroutines queued, resumed by 2 threads") { threads = 2; }
  for (std::size_t cap : {std::size_t{1}, std::size_t{2}, std::size_t{8}, std::size_t{0}}) {
    CAPTURE(cap);
    mixed_run(cap, threads, inline_resume);
  }
}

// --- Cancellation ---

TEST_CASE("stop while suspended: a receive returns nullopt, a send throws task_cancelled" * doctest::timeout(30)) {
  for (bool queued : {false, true}) {
    CAPTURE(queued);
    queue_resumer r;
    resumer* where = queued ? &r : nullptr;

    bobbin::channel<int> in;
    std::stop_source rs;
    const std::stop_token rt = rs.get_token();
    std::optional<int> got = -1;
    job rj = receive_one(in, got);
    rj.start(where, &rt);
    CHECK_FALSE(rj.finished());

    bobbin::channel<int> out(bobbin::capacity{1});
    REQUIRE(out.send(1));
    std::stop_source ss;
    const std::stop_token st = ss.get_token();
    bool ok = true;
    job sj = send_one(out, 2, ok);
    sj.start(where, &st);
    CHECK_FALSE(sj.finished());

    rs.request_stop();
    ss.request_stop();
    r.run();
    REQUIRE(rj.finished());
    REQUIRE(sj.finished());
    CHECK(got == std::nullopt);
    CHECK_FALSE(rj.error());
    REQUIRE(sj.error());
    CHECK_THROWS_AS(std::rethrow_exception(sj.error()), bobbin::task_cancelled);
    // Both channels still work, and nothing was left registered.
    CHECK(in.send(3));
    CHECK(in.try_receive() == 3);
    CHECK(out.receive() == 1);
    CHECK(out.try_receive() == std::nullopt);
  }
}

TEST_CASE("stop requested before co_await: what is there is still taken / sent") {
  std::stop_source src;
  src.request_stop();
  const std::stop_token tok = src.get_token();

  bobbin::channel<int> ch(bobbin::capacity{1});
  std::optional<int> got = -1;
  job r1 = receive_one(ch, got);
  r1.start(nullptr, &tok);
  REQUIRE(r1.finished());
  CHECK(got == std::nullopt);  // nothing there

  bool ok = false;
  job s1 = send_one(ch, 4, ok);
  s1.start(nullptr, &tok);
  REQUIRE(s1.finished());
  CHECK(ok);  // there was room

  job s2 = send_one(ch, 5, ok);
  s2.start(nullptr, &tok);
  REQUIRE(s2.finished());
  REQUIRE(s2.error());  // full
  CHECK_THROWS_AS(std::rethrow_exception(s2.error()), bobbin::task_cancelled);

  job r2 = receive_one(ch, got);
  r2.start(nullptr, &tok);
  REQUIRE(r2.finished());
  CHECK(got == 4);  // a message that is there is delivered
  CHECK(ch.try_receive() == std::nullopt);
}

// A stop request racing with a send: the message is received, or still in the channel.
TEST_CASE("stop racing with delivery: no message is lost" * doctest::timeout(120)) {
  constexpr int rounds = 2000;
  int received = 0;
  int left = 0;
  int cancelled = 0;
  int bad = 0;
  for (int i = 0; i < rounds; ++i) {
    queue_resumer r(i % 3 == 2 ? 1 : 0);
    resumer* where = i % 3 == 0 ? nullptr : &r;
    bobbin::channel<int> ch(bobbin::capacity{1 + static_cast<std::size_t>(i % 2)});
    std::stop_source src;
    const std::stop_token tok = src.get_token();
    std::optional<int> got = -1;
    job j = receive_one(ch, got);
    j.start(where, &tok);
    std::jthread sender([ch, i]() mutable { ch.send(i); });
    std::jthread stopper([&src] { src.request_stop(); });
    sender.join();
    stopper.join();
    if (i % 3 == 1) {
      r.run_until([&] { return j.finished(); });
    } else {
      eventually([&] { return j.finished(); });
    }
    if (!j.finished()) {
      ++bad;
      break;
    }
    const std::optional<int> rest = ch.try_receive();
    if (got == i && !rest) {
      ++received;
    } else if (got == std::nullopt && rest == i) {
      ++left;
      ++cancelled;
    } else {
      ++bad;
    }
  }
  CHECK(bad == 0);
  CHECK(received + left == rounds);
  MESSAGE("received " << received << ", left in the channel after the stop " << cancelled);
}

// Senders cancelled while others deliver: every value is sent once or reported cancelled.
TEST_CASE("stop racing with senders: each value sent once, or cancelled and not sent" * doctest::timeout(120)) {
  constexpr int rounds = 1000;
  int bad = 0;
  for (int i = 0; i < rounds; ++i) {
    queue_resumer r;
    bobbin::channel<int> ch(bobbin::capacity{1});
    REQUIRE(ch.send(-1));
    std::stop_source src;
    const std::stop_token tok = src.get_token();
    bool ok = false;
    job j = send_one(ch, i, ok);
    j.start(i % 2 == 0 ? nullptr : &r, &tok);
    std::jthread receiver([ch]() mutable { ch.receive(); });
    std::jthread stopper([&src] { src.request_stop(); });
    receiver.join();
    stopper.join();
    if (!r.run_until([&] { return j.finished(); })) {
      ++bad;
      break;
    }
    const std::optional<int> rest = ch.try_receive();
    const bool threw = static_cast<bool>(j.error());
    if (threw ? (rest.has_value() || ok) : !(ok && rest == i)) ++bad;
  }
  CHECK(bad == 0);
}

// --- Ports, broadcast receivers, workers ---

TEST_CASE("message port: async_receive, and close ends it") {
  auto [p1, p2] = bobbin::make_message_channel<int, std::string>();
  queue_resumer r;
  std::vector<std::string> got;
  auto take = [](bobbin::message_port<int, std::string> port, std::vector<std::string>& out) -> job {
    while (auto m = co_await port.async_receive()) out.push_back(*m);
  };
  job j = take(p1, got);
  j.start(&r);
  CHECK(p2.post_message("a"));
  CHECK(p2.post_message("b"));
  r.run();
  CHECK(got == std::vector<std::string>{"a", "b"});
  CHECK_FALSE(j.finished());
  p2.close();
  r.run();
  CHECK(j.finished());
}

TEST_CASE("broadcast receivers: async_receive; a subscriber resumed inline may post to the channel") {
  bobbin::broadcast_channel<int> bc;
  auto s1 = bc.subscribe();
  auto s2 = bc.subscribe();
  std::vector<int> got1;
  std::vector<int> got2;
  // Inline: resumed by post_message itself, which holds its lock while it pushes; the
  // resumption must come after the unlock, or the echo below would deadlock.
  auto echo = [](bobbin::broadcast_receiver<int> sub, bobbin::broadcast_channel<int> ch, std::vector<int>& out) -> job {
    while (auto m = co_await sub.async_receive()) {
      out.push_back(*m);
      if (*m < 3) ch.post_message(*m + 10);
    }
  };
  auto plain = [](bobbin::broadcast_receiver<int> sub, std::vector<int>& out) -> job {
    while (auto m = co_await sub.async_receive()) out.push_back(*m);
  };
  job a = echo(s1, bc, got1);
  job b = plain(s2, got2);
  a.start();
  b.start();
  for (int i = 0; i < 5; ++i) CHECK(bc.post_message(i));
  bc.close();
  REQUIRE(a.finished());
  REQUIRE(b.finished());
  CHECK(got1 == got2);
  CHECK(got1.size() == 8);  // 0..4 and the echoes 10, 11, 12
  CHECK(std::count(got1.begin(), got1.end(), 12) == 1);
}

TEST_CASE("worker: async_receive takes what the worker's function posted" * doctest::timeout(30)) {
  bobbin::worker<int, int> w([](bobbin::worker_context<int, int>& ctx) {
    for (int i = 0; i < 3; ++i) {
      if (auto m = ctx.parent_port().receive()) ctx.parent_port().post_message(*m * 2);
    }
  });  // its port closes when it returns: the owner drains, then nullopt
  queue_resumer r;
  std::vector<int> got;
  auto take = [](bobbin::worker<int, int>& wk, std::vector<int>& out) -> job {
    while (auto m = co_await wk.async_receive()) out.push_back(*m);
  };
  job j = take(w, got);
  j.start(&r);
  for (int i = 1; i <= 3; ++i) w.post_message(i);
  CHECK(r.run_until([&] { return j.finished(); }));
  CHECK(got == std::vector<int>{2, 4, 6});
  w.join();
}

// --- Many waiters: wake-ups chain without growing the stack ---

TEST_CASE("10,000 suspended receivers, resumed inline by one close and one burst of sends" * doctest::timeout(60)) {
  constexpr int n = 10'000;
  bobbin::channel<int> ch;
  std::vector<std::optional<int>> got(n, std::optional<int>(-1));
  std::vector<job> jobs;
  jobs.reserve(n);
  for (auto& g : got) jobs.push_back(receive_one(ch, g));
  for (auto& j : jobs) j.start();
  for (int i = 0; i < n / 2; ++i) REQUIRE(ch.send(i));
  ch.close();
  REQUIRE(all_finished(jobs));
  std::vector<int> values;
  for (const auto& g : got)
    if (g) values.push_back(*g);
  std::sort(values.begin(), values.end());
  std::vector<int> want(n / 2);
  std::iota(want.begin(), want.end(), 0);
  CHECK(values == want);
}

TEST_CASE("a frame destroyed while suspended leaves the gate and drops its stop callback") {
  bobbin::channel<int> ch(bobbin::capacity{1});
  REQUIRE(ch.send(0));
  std::stop_source src;
  const std::stop_token tok = src.get_token();
  std::optional<int> got;
  bool ok = false;
  job r = receive_one(bobbin::channel<int>(), got);
  job s = send_one(ch, 1, ok);
  r.start(nullptr, &tok);
  s.start(nullptr, &tok);
  REQUIRE_FALSE(r.finished());
  REQUIRE_FALSE(s.finished());
  r.destroy_now();
  s.destroy_now();
  src.request_stop();           // no callback left to run
  CHECK(ch.receive() == 0);     // frees the slot: nobody is woken
  CHECK(ch.try_send(2) == bobbin::send_status::ok);
  CHECK(ch.receive() == 2);
}

// A move that throws in the retry (on the sender's thread) reaches the awaiting coroutine.
struct throws_on_move {
  static inline std::atomic<bool> armed{false};
  int value = 0;
  explicit throws_on_move(int v) : value(v) {}
  throws_on_move(const throws_on_move&) = default;
  throws_on_move(throws_on_move&& o) : value(o.value) {
    if (armed.load()) throw std::runtime_error("move refused");
  }
  throws_on_move& operator=(const throws_on_move&) = default;
  ~throws_on_move() = default;
};

TEST_CASE("an exception from T's move in a woken receive is rethrown in the coroutine") {
  bobbin::channel<throws_on_move> ch;
  std::optional<throws_on_move> got;
  auto take = [](bobbin::channel<throws_on_move> c, std::optional<throws_on_move>& out) -> job {
    out = co_await c.async_receive();
  };
  job j = take(ch, got);
  j.start();
  const throws_on_move v(3);
  throws_on_move::armed = true;
  REQUIRE(ch.send(v));  // copied in; the retry's move out, here, throws
  throws_on_move::armed = false;
  REQUIRE(j.finished());
  REQUIRE(j.error());
  CHECK_THROWS_AS(std::rethrow_exception(j.error()), std::runtime_error);
  CHECK(ch.try_send(v) == bobbin::send_status::ok);  // still usable
}

// --- On real pools: bobbin::task stages joined by bounded channels ---

constexpr int pipeline_items = 10'000;

bobbin::task<void> produce(bobbin::channel<int> out, int n) {
  for (int i = 0; i < n; ++i) {
    if (!co_await out.async_send(i)) break;
  }
  out.close();
}

bobbin::task<void> add_one(bobbin::channel<int> in, bobbin::channel<int> out) {
  while (auto m = co_await in.async_receive()) {
    if (!co_await out.async_send(*m + 1)) break;
  }
  out.close();
}

bobbin::task<std::vector<int>> collect(bobbin::channel<int> in) {
  std::vector<int> got;
  while (auto m = co_await in.async_receive()) got.push_back(*m);
  co_return got;
}

std::vector<int> pipeline_want() {
  std::vector<int> want(pipeline_items);
  std::iota(want.begin(), want.end(), 2);
  return want;
}

}  // namespace

TEST_CASE_TEMPLATE("4-stage coroutine pipeline on one pool of 1 or 2 threads completes in order" *
                       doctest::timeout(300),
                   P, BOBBIN_TEST_POLICIES) {
  for (std::size_t threads : {std::size_t{1}, std::size_t{2}}) {
    CAPTURE(threads);
    bobbin::pool<P> pool(bobbin::pool_options{.threads = threads});
    bobbin::channel<int> a(bobbin::capacity{8});
    bobbin::channel<int> b(bobbin::capacity{8});
    bobbin::channel<int> c(bobbin::capacity{8});
    // The consumer first: on one thread, every stage suspends in turn and the others run.
    auto consumer = pool.submit(collect, c);
    pool.post(add_one, b, c);
    auto stage = pool.submit(add_one, a, b);
    pool.post(produce, a, pipeline_items);
    const std::vector<int> got = consumer.get();
    stage.get();
    CHECK(got == pipeline_want());
    pool.wait_idle();
  }
}

TEST_CASE("pipeline: stages on a pool, the consumer in sync_wait on this thread" * doctest::timeout(120)) {
  bobbin::pool<> pool(bobbin::pool_options{.threads = 1});
  bobbin::channel<int> a(bobbin::capacity{8});
  bobbin::channel<int> b(bobbin::capacity{8});
  bobbin::channel<int> c(bobbin::capacity{8});
  pool.post(produce, a, pipeline_items);
  pool.post(add_one, a, b);
  pool.post(add_one, b, c);
  CHECK(bobbin::sync_wait(collect(c)) == pipeline_want());
  pool.wait_idle();
}

TEST_CASE("a coroutine suspended in async_receive on a pool is cancelled by future::cancel" * doctest::timeout(60)) {
  bobbin::pool<> pool(bobbin::pool_options{.threads = 1});
  bobbin::channel<int> ch;
  auto f = pool.submit(collect, ch);
  REQUIRE(ch.send(1));
  // Let it take the message and suspend again.
  CHECK(eventually([&] { return ch.size() == 0; }));
  std::this_thread::sleep_for(10ms);
  f.cancel();
  // The receive returns nullopt, which ends the loop; the future then holds the value, or
  // task_cancelled if the pool counts the coroutine as cancelled. Either way, it ends.
  try {
    CHECK(f.get() == std::vector<int>{1});
  } catch (const bobbin::task_cancelled&) {
  }
  CHECK(ch.send(2));  // nobody left registered
  CHECK(ch.try_receive() == 2);
}
