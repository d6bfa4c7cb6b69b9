// Fault injection (issue 8) into bobbin::broadcast_channel: subscribe, and posts that reach
// a prefix of the subscribers.
//
// tests/support/fault_alloc.hpp is the operator new that fails on the Nth allocation once
// armed; tests/support/fault_injection.hpp says what every sweep checks and holds the
// helpers. The other components' fault injection: tests/test_fault_*.cpp.

#include <doctest/doctest.h>

#include <bobbin/broadcast_channel.hpp>

#include "support/fault_injection.hpp"

#include <algorithm>
#include <array>
#include <cstddef>
#include <optional>
#include <stdexcept>
#include <vector>

using namespace bobbin_test::fault;

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
        h1.on_message([&seen](payload v) { seen[1].add(v.intact() ? v.value : -1); }, ex);
        h2.on_message([&seen](payload v) { seen[2].add(v.intact() ? v.value : -1); }, ex);
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
        while (auto v = plain.try_receive()) seen[0].add(v->intact() ? v->value : -1);
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
