// bobbin::worker and bobbin::supervisor: workerData, the parent port both ways, exit codes,
// the online/error/exit events (early and late handlers), terminate, the destructor, thread
// ids, on_message ordering on a pool and on the worker's dispatcher, and restarts.
//
// Nothing is asserted on a spawned thread: workers and handlers record, the test thread
// checks. Every wait on a port has a timeout, so a broken worker fails a test, not the run.

#include <bobbin/pool.hpp>
#include <bobbin/supervisor.hpp>
#include <bobbin/worker.hpp>

#include <doctest/doctest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#if defined(__linux__)
#include <pthread.h>

#include "support/moved_from.hpp"
#endif

#include "support/counted.hpp"

using namespace std::chrono_literals;

namespace {

constexpr auto patience = 10s;  // how long a test waits for something that should be quick

// counted::holding counts live values (not moved-from shells): worker_data must be neither
// leaked nor destroyed twice, and must be gone before the exit event.
using counted = bobbin_test::counted<std::string, struct worker_data_tag>;

// Waits (bounded) until pred() holds.
template <class P>
bool eventually(P pred) {
  const auto until = std::chrono::steady_clock::now() + patience;
  while (!pred()) {
    if (std::chrono::steady_clock::now() > until) return false;
    std::this_thread::sleep_for(1ms);
  }
  return true;
}

class boom : public std::runtime_error {
 public:
  explicit boom(int c) : std::runtime_error("boom " + std::to_string(c)), code(c) {}
  int code;
};

}  // namespace

TEST_CASE("worker_data in, messages both ways, exit code out; exit event has the same code" * doctest::timeout(60)) {
  REQUIRE(counted::holding == 0);
  {
    using ctx_t = bobbin::worker_context<int, std::string, counted>;
    bobbin::worker<int, std::string, counted> w(
        [](ctx_t& ctx) {
          auto& port = ctx.parent_port();
          int sum = 0;
          while (auto n = port.receive_for(patience)) {
            if (*n < 0) break;
            sum += *n;
            port.post_message(ctx.worker_data().value + ":" + std::to_string(*n * 2));
          }
          return sum;
        },
        {.worker_data = counted("resizer-data"), .name = "resizer"});
    CHECK(w.name() == "resizer");
    CHECK(counted::holding == 1);  // the one in the worker

    std::optional<int> exit_seen;
    int live_at_exit = -1;
    std::uint64_t exit_on = 0;
    w.on_exit([&](int code) {
      exit_seen = code;
      live_at_exit = static_cast<int>(counted::holding.load());
      exit_on = bobbin::this_thread_id();
    });

    for (int i = 1; i <= 5; ++i) CHECK(w.post_message(i));
    for (int i = 1; i <= 5; ++i) CHECK(w.receive_for(patience) == "resizer-data:" + std::to_string(i * 2));
    CHECK_FALSE(w.try_receive().has_value());
    CHECK(w.post_message(-1));

    CHECK(w.join() == 15);
    CHECK(w.join() == 15);  // idempotent
    CHECK(exit_seen == 15);  // the exit handler ran on the worker, before join returned
    CHECK(exit_on == w.thread_id());
    CHECK(live_at_exit == 0);  // the data went before the exit event
    // The port closed when the function returned.
    CHECK_FALSE(w.post_message(1));
    CHECK_FALSE(w.receive().has_value());
  }
  CHECK(counted::holding == 0);
}

TEST_CASE("a function returning void exits with 0; the thread carries the worker's name") {
  std::string thread_name;
  bobbin::worker<int> w(
      [&](bobbin::worker_context<int>&) {
#if defined(__linux__)
        char buf[16] = {};
        pthread_getname_np(pthread_self(), buf, sizeof buf);
        thread_name = buf;
#endif
      },
      {.name = "a-rather-long-name"});
  CHECK(w.join() == 0);
#if defined(__linux__)
  // Cut to 15 characters, keeping the whole id.
  const std::string id = "-" + std::to_string(w.thread_id());
  CHECK(thread_name.size() == 15);
  CHECK(thread_name == std::string("a-rather-long-name").substr(0, 15 - id.size()) + id);
#endif
}

TEST_CASE("an exception escaping the function: error event with that exception, exit code 1" * doctest::timeout(60)) {
  bobbin::worker<int, int> w([](bobbin::worker_context<int, int>& ctx) -> int {
    const int c = ctx.parent_port().receive_for(patience).value_or(0);
    ctx.parent_port().post_message(c);  // still delivered after the throw
    throw boom(c);
  });
  std::exception_ptr early;
  std::uint64_t error_on = 0;
  std::vector<std::string> order;
  std::mutex order_mutex;
  w.on_error([&](std::exception_ptr e) {
    early = e;
    error_on = bobbin::this_thread_id();
    std::lock_guard lock(order_mutex);
    order.push_back("error");
  });
  w.on_exit([&](int code) {
    std::lock_guard lock(order_mutex);
    order.push_back("exit " + std::to_string(code));
  });
  REQUIRE(w.post_message(7));

  CHECK(w.join() == 1);
  CHECK(error_on == w.thread_id());
  CHECK(order == std::vector<std::string>{"error", "exit 1"});
  REQUIRE(early);
  bool same = false;
  try {
    std::rethrow_exception(early);
  } catch (const boom& b) {
    same = b.code == 7 && std::string(b.what()) == "boom 7";
  } catch (...) {
  }
  CHECK(same);
  CHECK(w.receive() == 7);
  CHECK_FALSE(w.receive().has_value());

  // Added after the fact: called at once, here, with the same exception.
  std::exception_ptr late;
  std::thread::id late_on;
  w.on_error([&](std::exception_ptr e) {
    late = e;
    late_on = std::this_thread::get_id();
  });
  CHECK(late == early);
  CHECK(late_on == std::this_thread::get_id());
}

TEST_CASE("handlers added after their event fired are called at once, on the caller's thread") {
  bobbin::worker<int> w([](bobbin::worker_context<int>&) { return 3; });
  REQUIRE(w.join() == 3);
  int online = 0;
  int error = 0;
  std::optional<int> exit;
  std::thread::id where;
  w.on_online([&] {
    ++online;
    where = std::this_thread::get_id();
  });
  w.on_error([&](std::exception_ptr) { ++error; });  // never fired: never called
  w.on_exit([&](int code) { exit = code; });
  CHECK(online == 1);
  CHECK(where == std::this_thread::get_id());
  CHECK(error == 0);
  CHECK(exit == 3);
}

TEST_CASE("online fires once, before the function; handlers added early run on the worker" * doctest::timeout(60)) {
  for (int round = 0; round < 50; ++round) {
    std::atomic<int> online{0};
    std::atomic<bool> function_started{false};
    bobbin::worker<int> w([&](bobbin::worker_context<int>& ctx) {
      function_started = true;
      ctx.parent_port().receive_for(patience);
    });
    // Added in time, it runs on the worker before the function; added late, at once here.
    w.on_online([&] {
      if (bobbin::this_thread_id() != 0 && function_started.load()) online += 100;
      ++online;
    });
    w.post_message(0);
    w.join();
    CHECK(online == 1);
  }
}

TEST_CASE("terminate: stop token requested, port closed both ways, join returns the function's code" *
          doctest::timeout(60)) {
  std::atomic<bool> saw_stop{false};
  std::vector<int> received;  // worker-side, read after join
  bool post_after = true;
  bobbin::worker<int> w([&](bobbin::worker_context<int>& ctx) {
    // Wait for the stop request before reading: what was posted before it is still there.
    const auto until = std::chrono::steady_clock::now() + patience;
    while (!ctx.stop_token().stop_requested() && std::chrono::steady_clock::now() < until)
      std::this_thread::sleep_for(1ms);
    saw_stop = ctx.stop_token().stop_requested();
    for (int v : ctx.parent_port()) received.push_back(v);  // ends: closed and drained
    post_after = ctx.parent_port().post_message(0);
    return 42;
  });
  for (int i = 0; i < 3; ++i) REQUIRE(w.post_message(i));
  w.terminate();
  w.terminate();  // idempotent
  CHECK_FALSE(w.post_message(9));
  CHECK(w.join() == 42);
  CHECK(saw_stop);
  CHECK(received == std::vector<int>{0, 1, 2});
  CHECK_FALSE(post_after);
}

TEST_CASE("destroying a running worker neither hangs nor aborts" * doctest::timeout(60)) {
  const auto start = std::chrono::steady_clock::now();
  std::atomic<int> exits{0};
  {
    bobbin::worker<int> spinning([](bobbin::worker_context<int>& ctx) {
      while (!ctx.stop_token().stop_requested()) std::this_thread::sleep_for(100us);
      return 5;
    });
    bobbin::worker<int> receiving([](bobbin::worker_context<int>& ctx) {
      while (ctx.parent_port().receive()) {
      }
      return 6;
    });
    bobbin::worker<int> handled([](bobbin::worker_context<int>& ctx) {
      for (int i = 0; !ctx.stop_token().stop_requested(); ++i) {
        if (!ctx.parent_port().post_message(i)) break;
        std::this_thread::sleep_for(50us);
      }
    });
    handled.on_message([](int) {});
    spinning.on_exit([&](int code) { exits += code; });
    receiving.on_exit([&](int code) { exits += code; });
    std::this_thread::sleep_for(5ms);  // let them all be running
  }
  CHECK(exits == 11);
  CHECK(std::chrono::steady_clock::now() - start < patience);
}

TEST_CASE("thread ids: unique, non-zero, the same inside and out; 0 elsewhere" * doctest::timeout(60)) {
  CHECK(bobbin::this_thread_id() == 0);
  struct seen {
    std::uint64_t ctx_id;
    std::uint64_t this_id;
  };
  std::vector<bobbin::worker<int, seen>> workers;
  for (int i = 0; i < 8; ++i) {
    workers.emplace_back([](bobbin::worker_context<int, seen>& ctx) {
      ctx.parent_port().post_message(seen{ctx.thread_id(), bobbin::this_thread_id()});
    });
  }
  std::set<std::uint64_t> ids;
  for (auto& w : workers) {
    const auto s = w.receive_for(patience);
    REQUIRE(s.has_value());
    CHECK(s->ctx_id == w.thread_id());
    CHECK(s->this_id == w.thread_id());
    CHECK(w.thread_id() != 0);
    ids.insert(w.thread_id());
  }
  CHECK(ids.size() == workers.size());
  for (auto& w : workers) CHECK(w.join() == 0);

  bobbin::pool<> p({.threads = 2});
  CHECK(p.submit([] { return bobbin::this_thread_id(); }).get() == 0);
}

TEST_CASE("on_message on a pool: one message at a time, in order" * doctest::timeout(120)) {
#if BOBBIN_TSAN
  constexpr int n = 5'000;
#else
  constexpr int n = 50'000;
#endif
  bobbin::pool<> p({.threads = 4});  // declared first: outlives the worker's handler
  std::atomic<int> inside{0};
  std::atomic<bool> overlapped{false};
  std::vector<int> got;  // touched by one handler at a time
  got.reserve(n);
  bobbin::worker<int> w([](bobbin::worker_context<int>& ctx) {
    for (int i = 0; i < n; ++i) ctx.parent_port().post_message(i);
  });
  w.on_message(
      [&](int v) {
        if (inside.fetch_add(1) != 0) overlapped = true;
        got.push_back(v);
        inside.fetch_sub(1);
      },
      p);
  CHECK_THROWS_AS(w.on_message([](int) {}, p), std::logic_error);
  CHECK_THROWS_AS(w.on_message([](int) {}), std::logic_error);
  CHECK(w.join() == 0);
  p.wait_idle();
  CHECK_FALSE(overlapped.load());
  REQUIRE(got.size() == static_cast<std::size_t>(n));
  bool in_order = true;
  for (int i = 0; i < n; ++i) in_order = in_order && got[static_cast<std::size_t>(i)] == i;
  CHECK(in_order);
}

TEST_CASE("on_message without an executor: the dispatcher, in order; join waits for it" * doctest::timeout(60)) {
  constexpr int n = 5'000;
  std::vector<int> got;  // the dispatcher's, read after join
  std::uint64_t handler_thread_id = 99;
  bobbin::worker<int> w([](bobbin::worker_context<int>& ctx) {
    for (int i = 0; i < n; ++i) ctx.parent_port().post_message(i);
    return 1;
  });
  w.on_message([&](int v) {
    handler_thread_id = bobbin::this_thread_id();
    got.push_back(v);
  });
  CHECK(w.join() == 1);
  REQUIRE(got.size() == static_cast<std::size_t>(n));
  bool in_order = true;
  for (int i = 0; i < n; ++i) in_order = in_order && got[static_cast<std::size_t>(i)] == i;
  CHECK(in_order);
  CHECK(handler_thread_id == 0);  // the dispatcher is the owner's side, not the worker
}

TEST_CASE("join from the worker's own thread or from its dispatcher is refused" * doctest::timeout(60)) {
  bobbin::worker<int> w([](bobbin::worker_context<int>& ctx) {
    ctx.parent_port().post_message(1);
    ctx.parent_port().receive_for(patience);
    return 4;
  });
  std::atomic<int> refused{0};
  w.on_message([&](int) {
    try {
      w.join();
    } catch (const std::logic_error&) {
      ++refused;
    }
  });
  w.on_exit([&](int) {
    try {
      w.join();
    } catch (const std::logic_error&) {
      ++refused;
    }
  });
  REQUIRE(eventually([&] { return refused.load() == 1; }));  // the handler saw message 1
  w.post_message(0);
  CHECK(w.join() == 4);
  CHECK(refused == 2);
}

TEST_CASE("a worker whose last owner is its own exit handler detaches instead of joining itself" *
          doctest::timeout(60)) {
  auto w = std::make_shared<bobbin::worker<int>>([](bobbin::worker_context<int>& ctx) {
    ctx.parent_port().receive_for(patience);
    return 0;
  });
  std::weak_ptr<bobbin::worker<int>> watch = w;
  w->on_exit([keep = w](int) {});  // a cycle, broken when the handler is released
  w->post_message(0);
  w.reset();
  CHECK(eventually([&] { return watch.expired(); }));
  std::this_thread::sleep_for(10ms);  // let the detached thread finish its last steps
}

TEST_CASE("a worker can be moved; move assignment ends the worker it replaces" * doctest::timeout(60)) {
  std::atomic<int> exited{0};
  bobbin::worker<int> a([](bobbin::worker_context<int>& ctx) {
    while (ctx.parent_port().receive()) {
    }
    return 1;
  });
  a.on_exit([&](int code) { exited += code; });
  const auto id = a.thread_id();
  bobbin::worker<int> b(std::move(a));
  CHECK(b.thread_id() == id);
  b = bobbin::worker<int>([](bobbin::worker_context<int>&) { return 2; });
  CHECK(exited == 1);  // the first worker was terminated and joined
  CHECK(b.join() == 2);
}

TEST_CASE("supervisor: restarts a failing worker up to the limit, then stops" * doctest::timeout(60)) {
  using ctx_t = bobbin::worker_context<int, int, int>;
  std::atomic<int> runs{0};
  bobbin::supervisor<int, int, int> s(
      [&](ctx_t& ctx) -> int {
        ++runs;
        throw boom(ctx.worker_data());
      },
      {.worker_data = 9, .name = "flaky"}, {.max_restarts = 3});
  std::vector<bobbin::restart_info> infos;  // the monitor's, read after join
  std::vector<std::uint64_t> fresh_ids;
  s.on_restart([&](bobbin::worker<int, int, int>& fresh, const bobbin::restart_info& r) {
    infos.push_back(r);
    fresh_ids.push_back(fresh.thread_id());
  });
  const int code = s.join();
  CHECK(code == 1);
  CHECK(s.join() == 1);
  CHECK(s.restarts() == 3);
  CHECK(runs == 4);
  // The first restart may come before on_restart was added; those after it are all seen.
  CHECK(infos.size() <= 3);
  for (std::size_t i = 0; i < infos.size(); ++i) {
    const auto& r = infos[i];
    CHECK(r.restart == 3 - static_cast<int>(infos.size() - 1 - i));
    CHECK(r.exit_code == 1);
    REQUIRE(r.error);
    std::string what;
    try {
      std::rethrow_exception(r.error);
    } catch (const boom& b) {
      what = b.what();
    } catch (...) {
    }
    CHECK(what == "boom 9");
  }
  std::set<std::uint64_t> distinct(fresh_ids.begin(), fresh_ids.end());
  CHECK(distinct.size() == fresh_ids.size());
  if (!fresh_ids.empty()) CHECK(s.current()->thread_id() == fresh_ids.back());
}

TEST_CASE("supervisor: a non-zero code is a failure; success ends the supervision" * doctest::timeout(60)) {
  using ctx_t = bobbin::worker_context<int, int>;
  std::atomic<int> runs{0};
  bobbin::supervisor<int, int> s(
      [&](ctx_t& ctx) {
        const int run = ++runs;
        ctx.parent_port().post_message(run);
        return run < 3 ? 7 : 0;  // fails twice, then succeeds
      },
      {}, {.max_restarts = 5});
  CHECK(s.join() == 0);
  CHECK(s.restarts() == 2);
  CHECK(runs == 3);
  CHECK(s.current()->receive_for(patience) == 3);  // the last worker's message
}

TEST_CASE("supervisor: max_restarts 0 never restarts; stop() prevents restarts" * doctest::timeout(60)) {
  {
    bobbin::supervisor<int> s([](bobbin::worker_context<int>&) { return 2; }, {}, {.max_restarts = 0});
    CHECK(s.join() == 2);
    CHECK(s.restarts() == 0);
  }
  {
    std::atomic<int> runs{0};
    bobbin::supervisor<int> s([&](bobbin::worker_context<int>& ctx) {
      ++runs;
      while (!ctx.stop_token().stop_requested()) std::this_thread::sleep_for(100us);
      return 8;  // a failure, but the supervisor was stopped
    });
    REQUIRE(eventually([&] { return runs.load() == 1; }));
    s.stop();
    CHECK(s.join() == 8);
    CHECK(s.restarts() == 0);
    CHECK(runs == 1);
  }
  {
    // Destroyed while its worker runs: stops and joins.
    bobbin::supervisor<int> s([](bobbin::worker_context<int>& ctx) {
      while (ctx.parent_port().receive()) {
      }
      return 1;
    });
  }
}

TEST_CASE("supervisor: on_restart gets the new worker, which takes messages" * doctest::timeout(60)) {
  using ctx_t = bobbin::worker_context<int, int>;
  bobbin::supervisor<int, int> s(
      [](ctx_t& ctx) -> int {
        auto n = ctx.parent_port().receive_for(patience);
        if (!n || *n < 0) throw std::runtime_error("bad input");
        ctx.parent_port().post_message(*n * 10);
        return 0;
      },
      {}, {.max_restarts = 1});
  std::atomic<int> restarted{0};
  s.on_restart([&](bobbin::worker<int, int>& fresh, const bobbin::restart_info&) {
    fresh.post_message(4);
    ++restarted;
  });
  s.current()->post_message(-1);  // the first worker fails on this
  CHECK(s.join() == 0);
  CHECK(restarted == 1);
  CHECK(s.current()->receive_for(patience) == 40);
}

TEST_CASE("supervisor: successor() hands over the restarted worker, nullptr at the end" * doctest::timeout(60)) {
  using ctx_t = bobbin::worker_context<int, int>;
  bobbin::supervisor<int, int> s(
      [](ctx_t& ctx) -> int {
        for (int n : ctx.parent_port()) {
          if (n < 0) throw std::runtime_error("negative");
          ctx.parent_port().post_message(n + 1);
        }
        return 0;
      },
      {}, {.max_restarts = 1});
  std::string why;  // the monitor's; successor() orders it before its return
  s.on_restart([&](bobbin::worker<int, int>&, const bobbin::restart_info& r) {
    try {
      std::rethrow_exception(r.error);
    } catch (const std::exception& e) {
      why = e.what();
    }
  });
  auto first = s.current();
  REQUIRE(first->post_message(1));
  CHECK(first->receive_for(patience) == 2);
  REQUIRE(first->post_message(-1));
  CHECK_FALSE(first->receive_for(patience).has_value());  // it died: its port closed
  auto second = s.successor(first);
  REQUIRE(second != nullptr);
  CHECK(why == "negative");  // the hooks ran before successor() handed the worker over
  CHECK(second != first);
  CHECK(second->thread_id() != first->thread_id());
  first.reset();  // the failed worker (and its exception) go here, while the monitor waits
  REQUIRE(second->post_message(5));
  CHECK(second->receive_for(patience) == 6);
  REQUIRE(second->post_message(-1));  // no restart left
  CHECK(s.successor(second) == nullptr);
  CHECK(s.join() == 1);
  CHECK(s.restarts() == 1);
}

TEST_CASE("on_message set after the worker exited still gets every message; join waits again" * doctest::timeout(60)) {
  bobbin::worker<int> w([](bobbin::worker_context<int>& ctx) {
    for (int i = 0; i < 3; ++i) ctx.parent_port().post_message(i);
    return 2;
  });
  REQUIRE(w.join() == 2);
  std::vector<int> got;  // the dispatcher's, read after the second join
  w.on_message([&](int v) { got.push_back(v); });
  CHECK(w.join() == 2);
  CHECK(got == std::vector<int>{0, 1, 2});
}

TEST_CASE("move-only messages and worker_data" * doctest::timeout(60)) {
  using ctx_t = bobbin::worker_context<std::unique_ptr<int>, std::unique_ptr<int>, std::unique_ptr<int>>;
  bobbin::worker<std::unique_ptr<int>, std::unique_ptr<int>, std::unique_ptr<int>> w(
      [](ctx_t& ctx) {
        for (auto& p : ctx.parent_port()) {
          ctx.parent_port().post_message(std::make_unique<int>(*p + *ctx.worker_data()));
        }
      },
      {.worker_data = std::make_unique<int>(100)});
  REQUIRE(w.post_message(std::make_unique<int>(1)));
  auto r = w.receive_for(patience);
  REQUIRE(r.has_value());
  CHECK(**r == 101);
  w.terminate();
  CHECK(w.join() == 0);
}

TEST_CASE("supervisor: join() and successor() from the supervised worker, its handlers or dispatcher are refused" *
          doctest::timeout(60)) {
  using ctx_t = bobbin::worker_context<int, int>;
  using sup_t = bobbin::supervisor<int, int>;
  std::atomic<sup_t*> sp{nullptr};
  std::atomic<int> refused_in_function{0};
  std::atomic<int> refused_in_dispatcher{0};
  std::atomic<int> refused_in_exit{0};
  const auto refuses = [](auto&& call) {
    try {
      call();
    } catch (const std::logic_error&) {
      return true;
    }
    return false;
  };
  sup_t s(
      [&](ctx_t& ctx) -> int {
        if (!ctx.parent_port().receive_for(patience)) return 3;  // sp is set once this arrives
        sup_t& self = *sp.load();
        refused_in_function += refuses([&] { self.join(); });
        refused_in_function += refuses([&] { (void)self.successor(self.current()); });
        ctx.parent_port().post_message(1);  // for the dispatcher
        return 0;
      },
      {}, {.max_restarts = 0});
  sp = &s;
  auto w = s.current();
  w->on_message([&](int) {
    refused_in_dispatcher += refuses([&] { s.join(); });
    refused_in_dispatcher += refuses([&] { (void)s.successor(w); });
  });
  w->on_exit([&](int) { refused_in_exit += refuses([&] { s.join(); }); });
  REQUIRE(w->post_message(0));
  CHECK(s.join() == 0);
  CHECK(refused_in_function == 2);
  CHECK(refused_in_dispatcher == 2);
  CHECK(refused_in_exit == 1);
  CHECK(s.successor(w) == nullptr);  // from the owner, after the end: no wait, no refusal
}

TEST_CASE("supervisor: successor() and join() from an on_restart hook are refused" * doctest::timeout(60)) {
  using ctx_t = bobbin::worker_context<int, int>;
  using sup_t = bobbin::supervisor<int, int>;
  sup_t s(
      [](ctx_t& ctx) -> int {
        for (int n : ctx.parent_port()) {
          if (n < 0) return 2;
        }
        return 0;
      },
      {}, {.max_restarts = 1});
  const auto first = s.current();
  int refused = 0;  // the monitor's, read after successor() below
  s.on_restart([&](bobbin::worker<int, int>&, const bobbin::restart_info&) {
    try {
      (void)s.successor(first);  // the monitor announces the successor only after the hooks
    } catch (const std::logic_error&) {
      ++refused;
    }
    try {
      s.join();
    } catch (const std::logic_error&) {
      ++refused;
    }
  });
  REQUIRE(first->post_message(-1));
  const auto second = s.successor(first);
  REQUIRE(second != nullptr);
  CHECK(refused == 2);
  s.stop();
  CHECK(s.join() == 0);
}

TEST_CASE("supervisor: destroyed from its own worker's function neither hangs nor aborts" * doctest::timeout(60)) {
  using ctx_t = bobbin::worker_context<int, int>;
  using sup_t = bobbin::supervisor<int, int>;
  auto holder = std::make_shared<std::shared_ptr<sup_t>>();
  std::atomic<bool> destroyed{false};
  std::atomic<bool> stop_seen{false};
  *holder = std::make_shared<sup_t>(
      [holder, &destroyed, &stop_seen](ctx_t& ctx) -> int {
        if (!ctx.parent_port().receive_for(patience)) return 3;
        holder->reset();  // the last owner: the destructor runs on this worker's thread
        destroyed = true;
        stop_seen = ctx.stop_token().stop_requested();
        return 5;  // a failure, but the supervision was stopped: no restart
      },
      bobbin::worker_options<>{}, bobbin::supervisor_options{.max_restarts = 3});
  std::weak_ptr<bobbin::worker<int, int>> watch = (*holder)->current();
  REQUIRE(watch.lock()->post_message(0));
  REQUIRE(eventually([&] { return destroyed.load(); }));
  CHECK(stop_seen);
  // The detached monitor joins the worker, ends, and lets the state (and the worker) go.
  CHECK(eventually([&] { return watch.expired(); }));
  std::this_thread::sleep_for(10ms);  // let the detached monitor finish its last steps
  holder.reset();
}

TEST_CASE("supervisor: destroyed from an on_restart hook neither hangs nor aborts" * doctest::timeout(60)) {
  using ctx_t = bobbin::worker_context<int, int>;
  using sup_t = bobbin::supervisor<int, int>;
  std::shared_ptr<sup_t> holder = std::make_shared<sup_t>(
      [](ctx_t& ctx) -> int {
        for (int n : ctx.parent_port()) {
          if (n < 0) return 2;
        }
        return 0;
      },
      bobbin::worker_options<>{}, bobbin::supervisor_options{.max_restarts = 3});
  std::weak_ptr<bobbin::worker<int, int>> fresh_watch;  // the monitor's, read after `destroyed`
  std::atomic<bool> destroyed{false};
  holder->on_restart([&](bobbin::worker<int, int>&, const bobbin::restart_info&) {
    fresh_watch = holder->current();
    holder.reset();  // the destructor runs on the monitor thread
    destroyed = true;
  });
  std::weak_ptr<bobbin::worker<int, int>> first = holder->current();
  REQUIRE(first.lock()->post_message(-1));
  REQUIRE(eventually([&] { return destroyed.load(); }));
  CHECK(eventually([&] { return fresh_watch.expired() && first.expired(); }));
  std::this_thread::sleep_for(10ms);  // let the detached monitor finish its last steps
}

using bobbin_test::refuses_moved_from;

TEST_CASE("a moved-from worker is empty: clear errors, no null dereference" * doctest::timeout(60)) {
  bobbin::worker<int> a([](bobbin::worker_context<int>& ctx) {
    while (ctx.parent_port().receive()) {
    }
    return 6;
  });
  bobbin::worker<int> b(std::move(a));
  const std::string type = "bobbin::worker";
  CHECK(refuses_moved_from([&] { a.post_message(1); }, type));
  CHECK(refuses_moved_from(
      [&] {
        const int v = 1;
        a.post_message(v);
      },
      type));
  CHECK(refuses_moved_from([&] { (void)a.receive(); }, type));
  CHECK(refuses_moved_from([&] { (void)a.try_receive(); }, type));
  CHECK(refuses_moved_from([&] { (void)a.receive_for(1ms); }, type));
  CHECK(refuses_moved_from([&] { (void)a.receive_until(std::chrono::steady_clock::now()); }, type));
  CHECK(refuses_moved_from([&] { a.on_online([] {}); }, type));
  CHECK(refuses_moved_from([&] { a.on_error([](std::exception_ptr) {}); }, type));
  CHECK(refuses_moved_from([&] { a.on_exit([](int) {}); }, type));
  CHECK(refuses_moved_from([&] { a.on_message([](int) {}); }, type));
  bobbin::pool<> p({.threads = 1});
  CHECK(refuses_moved_from([&] { a.on_message([](int) {}, p); }, type));
  CHECK(refuses_moved_from([&] { (void)a.join(); }, type));
  CHECK_NOTHROW(a.terminate());
  CHECK(a.thread_id() == 0);
  CHECK(a.name().empty());
  // It can be assigned to, and then works.
  a = bobbin::worker<int>([](bobbin::worker_context<int>&) { return 7; });
  CHECK(a.join() == 7);
  b.terminate();
  CHECK(b.join() == 6);
}
