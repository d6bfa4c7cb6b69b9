// Fault injection (issue 8) into futures: then() and both forms of when_all consume their
// inputs only when they succeed.
//
// tests/support/fault_alloc.hpp is the operator new that fails on the Nth allocation once
// armed; tests/support/fault_injection.hpp says what every sweep checks and holds the
// helpers. The other components' fault injection: tests/test_fault_*.cpp.

#include <doctest/doctest.h>

#include <bobbin/future.hpp>
#include <bobbin/pool.hpp>

#include "support/fault_injection.hpp"

#include <optional>
#include <tuple>
#include <utility>
#include <variant>
#include <vector>

using namespace bobbin_test::fault;

// future::then allocates the continuation's state before the source state leaves the
// future; otherwise the source state, and the value in it, would leak.
// then_value::live counts its objects; its number is `value`.
using then_value = bobbin_test::counted<int, struct then_value_tag>;

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
        o = attempt([&] { g.emplace(f.then([](then_value v) { return v.value + 1; })); });
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
TEST_CASE("fault injection: when_all(range) that fails to allocate leaves every input valid" * doctest::timeout(120)) {
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
          if (f.valid()) got.push_back(f.get().value);
        }
      } else {
        for (auto& f : fs) CHECK_FALSE(f.valid());
        REQUIRE(all.has_value());
        for (const then_value& v : all->get()) got.push_back(v.value);
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
        CHECK(a.get().value == 1);
        CHECK(b.get()[0] == 2);
        c.get();
      } else {
        CHECK_FALSE(a.valid());
        CHECK_FALSE(b.valid());
        CHECK_FALSE(c.valid());
        REQUIRE(all.has_value());
        auto [x, y, z] = all->get();
        CHECK(x.value == 1);
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
