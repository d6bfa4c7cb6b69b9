// detail::task: inline storage, boxing, run-once, cancellation.
#include <doctest/doctest.h>

#include <bobbin/detail/task/task.hpp>

#include "support/counted.hpp"

#include <array>
#include <memory>
#include <stdexcept>
#include <string>

using bobbin::detail::task;

namespace {

// A callable that counts its objects (counted::live) and its calls.
struct counted : bobbin_test::counted<int, counted> {
  static inline int calls = 0;
  void operator()() const { ++calls; }
};

struct hooked {
  int* cancelled;
  using bobbin_cancel_hook = void;
  void operator()() const {}
  void cancel() noexcept { ++*cancelled; }
};

}  // namespace

TEST_CASE("task: small trivially copyable callables are inline, others boxed") {
  struct small {
    std::array<void*, 6> p;
    void operator()() const {}
  };
  struct big {
    std::array<void*, 7> p;
    void operator()() const {}
  };
  CHECK(task::stored_inline<small>);
  CHECK_FALSE(task::stored_inline<big>);
  CHECK_FALSE(task::stored_inline<counted>);  // not trivially copyable
  static_assert(sizeof(task) == 64);
}

TEST_CASE("task: runs once and is empty afterwards") {
  int n = 0;
  task t([&n] { ++n; });
  REQUIRE(static_cast<bool>(t));
  t.run();
  CHECK(n == 1);
  CHECK_FALSE(static_cast<bool>(t));
}

TEST_CASE("task: a boxed callable is destroyed exactly once, run or not") {
  counted::reset();
  counted::calls = 0;
  {
    task t{counted{}};
    CHECK(counted::live == 1);
    task u = std::move(t);
    CHECK(counted::live == 1);
    u.run();
    CHECK(counted::calls == 1);
    CHECK(counted::live == 0);
  }
  {
    task t{counted{}};
  }
  CHECK(counted::live == 0);
  CHECK(counted::calls == 1);
}

TEST_CASE("task: move-only callables and exceptions") {
  auto p = std::make_unique<int>(7);
  int seen = 0;
  task t([q = std::move(p), &seen] { seen = *q; });
  t.run();
  CHECK(seen == 7);

  task bad([] { throw std::runtime_error("boom"); });
  CHECK_THROWS_AS(bad.run(), std::runtime_error);
  CHECK_FALSE(static_cast<bool>(bad));
}

TEST_CASE("task: destroying an unrun task calls its cancel hook, running does not") {
  int cancelled = 0;
  {
    task t{hooked{&cancelled}};
  }
  CHECK(cancelled == 1);
  {
    task t{hooked{&cancelled}};
    t.run();
  }
  CHECK(cancelled == 1);
}

TEST_CASE("task: bytes round trip (how the deque moves tasks)") {
  int n = 0;
  task t([&n] { n += 2; });
  task::raw r = t.bytes();
  t.forget();
  CHECK_FALSE(static_cast<bool>(t));
  task u = task::adopt(r);
  u.run();
  CHECK(n == 2);
}
