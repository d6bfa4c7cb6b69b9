// Fault injection (issue 8) into bobbin::message_port: posts with and without a handler,
// on_message, and a close whose last drain cannot be scheduled.
//
// tests/support/fault_alloc.hpp is the operator new that fails on the Nth allocation once
// armed; tests/support/fault_injection.hpp says what every sweep checks and holds the
// helpers. The other components' fault injection: tests/test_fault_*.cpp.

#include <doctest/doctest.h>

#include <bobbin/message_port.hpp>

#include "support/fault_injection.hpp"

#include <stdexcept>
#include <vector>

using namespace bobbin_test::fault;

// Ports have queues of their own, and handlers scheduled on an executor.

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
using tracked = bobbin_test::counted<int, struct tracked_tag>;  // tracked::live: its objects

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
