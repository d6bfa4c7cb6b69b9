// Fault injection (issue 8) into bobbin::channel: segments and message copies that fail to
// allocate, with and without a waiting receiver; constructors (of the broadcast channel and
// the message channel too) that fail.
//
// tests/support/fault_alloc.hpp is the operator new that fails on the Nth allocation once
// armed; tests/support/fault_injection.hpp says what every sweep checks and holds the
// helpers. The other components' fault injection: tests/test_fault_*.cpp.

#include <doctest/doctest.h>

#include <bobbin/broadcast_channel.hpp>
#include <bobbin/channel.hpp>
#include <bobbin/message_port.hpp>

#include "support/fault_injection.hpp"

#include <chrono>
#include <cstddef>
#include <stdexcept>
#include <thread>
#include <type_traits>
#include <vector>

using namespace bobbin_test::fault;

namespace {

// Sends 0..m-1 through `send(ch, i)` with injection armed; after the first failure, sends
// the rest (the failed one again) without it; checks that the receiver gets 0..m-1 once
// each, in order. Returns how many attempts had a failure injected.
template <class Make, class Send>
long sweep_sends(Make make, Send send, int m) {
  long failures = 0;
  for (long n = 1;; ++n) {
    REQUIRE(n < sweep_limit);
    CAPTURE(n);
    {
      auto ch = make();
      int sent = 0;
      outcome o = outcome::ok;
      bool hit = false;
      {
        inject::armed a(n);
        for (; sent < m; ++sent) {
          o = attempt([&] { send(ch, sent); });
          if (o != outcome::ok) break;
        }
        hit = a.hit();
      }
      CHECK(o != outcome::other);
      CHECK((o == outcome::bad_alloc) == hit);
      // A failed copy's slot counts until a receiver steps over it.
      CHECK(ch.size() >= static_cast<std::size_t>(sent));
      CHECK(ch.size() <= static_cast<std::size_t>(sent) + 1);
      for (int i = sent; i < m; ++i) send(ch, i);
      ch.close();
      std::vector<int> got;
      bool intact = true;
      while (auto v = ch.try_receive()) {
        if constexpr (std::is_same_v<std::decay_t<decltype(*v)>, payload>) {
          intact = intact && v->intact();
          got.push_back(v->value);
        } else {
          got.push_back(*v);
        }
      }
      CHECK(intact);
      CHECK(all_once_in_order(got, m, -1));
      if (!hit) return failures;
      ++failures;
    }
    CHECK(payload::live == 0);
  }
}

}  // namespace

TEST_CASE("fault injection: unbounded channel, segments that fail to allocate") {
  constexpr int m = 5000;  // 1024 ints a segment: five of them
  const auto make = [] { return bobbin::channel<int>(); };
  SUBCASE("send") {
    CHECK(sweep_sends(
              make,
              [](bobbin::channel<int>& ch, int i) {
                if (!ch.send(i)) throw std::logic_error("closed");
              },
              m) == 5);
  }
  SUBCASE("try_send") {
    CHECK(sweep_sends(
              make,
              [](bobbin::channel<int>& ch, int i) {
                if (ch.try_send(i) != bobbin::send_status::ok) throw std::logic_error("not ok");
              },
              m) == 5);
  }
  SUBCASE("send_for") {
    CHECK(sweep_sends(
              make,
              [](bobbin::channel<int>& ch, int i) {
                if (ch.send_for(i, std::chrono::seconds(1)) != bobbin::send_status::ok)
                  throw std::logic_error("not ok");
              },
              m) == 5);
  }
}

TEST_CASE("fault injection: channel of a message whose copy allocates") {
  constexpr int m = 40;
  // A copied message is left as it was when its send fails; a moved one is moved only on
  // success; a slot whose copy failed is never received (receivers step over it).
  const auto copy_send = [](auto& ch, int i) {
    const payload v(i);
    bool ok = false;
    try {
      ok = ch.send(v);
    } catch (const std::bad_alloc&) {
      if (!v.intact()) throw std::logic_error("the failed send changed its value");
      throw;
    }
    if (!ok) throw std::logic_error("closed");
  };
  const auto copy_try_send = [](auto& ch, int i) {
    const payload v(i);
    bobbin::send_status st{};
    try {
      st = ch.try_send(v);
    } catch (const std::bad_alloc&) {
      if (!v.intact()) throw std::logic_error("the failed send changed its value");
      throw;
    }
    if (st != bobbin::send_status::ok) throw std::logic_error("not ok");
  };
  const auto move_send = [](auto& ch, int i) {
    payload v(i);  // its own allocation, armed too: fails before the send
    bool ok = false;
    try {
      ok = ch.send(std::move(v));
    } catch (const std::bad_alloc&) {
      if (!v.intact()) throw std::logic_error("the failed send moved its value");
      throw;
    }
    if (!ok) throw std::logic_error("closed");
  };
  const auto unbounded = [] { return bobbin::channel<payload>(); };
  const auto bounded = [] { return bobbin::channel<payload>(bobbin::capacity{64}); };
  SUBCASE("unbounded, copy") { CHECK(sweep_sends(unbounded, copy_send, m) >= 2 * m); }
  SUBCASE("unbounded, try_send copy") { CHECK(sweep_sends(unbounded, copy_try_send, m) >= 2 * m); }
  SUBCASE("unbounded, move") { CHECK(sweep_sends(unbounded, move_send, m) >= m); }
  SUBCASE("bounded, copy") { CHECK(sweep_sends(bounded, copy_send, m) == 2 * m); }
  SUBCASE("bounded, try_send copy") { CHECK(sweep_sends(bounded, copy_try_send, m) == 2 * m); }
  SUBCASE("bounded, move") { CHECK(sweep_sends(bounded, move_send, m) == m); }
  CHECK(payload::live == 0);
}

// A receiver on another thread (not injected) takes messages while the sender's copies
// fail: it steps over the failed slot, is never stuck on it, and gets the rest in order.
TEST_CASE("fault injection: failed sends while a receiver waits" * doctest::timeout(300)) {
  constexpr int m = 60;
  for (std::size_t capacity : {std::size_t{0}, std::size_t{4}}) {
    CAPTURE(capacity);
    for (long n = 1;; ++n) {
      REQUIRE(n < sweep_limit);
      CAPTURE(n);
      {
        auto ch = capacity == 0 ? bobbin::channel<payload>() : bobbin::channel<payload>(bobbin::capacity{capacity});
        std::vector<int> got;
        bool intact = true;
        std::thread receiver([&] {
          got.reserve(m);
          while (auto v = ch.receive()) {
            intact = intact && v->intact();
            got.push_back(v->value);
          }
        });
        int failed = -1;
        int other = 0;
        bool hit;
        {
          inject::armed a(n);
          for (int i = 0; i < m; ++i) {
            const outcome o = attempt([&] {
              const payload v(i);
              (void)ch.send(v);
            });
            if (o == outcome::bad_alloc) failed = i;
            if (o == outcome::other) ++other;
          }
          hit = a.hit();
        }
        ch.close();
        receiver.join();
        CHECK(other == 0);
        CHECK((failed >= 0) == hit);
        CHECK(intact);
        std::vector<int> want;
        for (int i = 0; i < m; ++i) {
          if (i != failed) want.push_back(i);
        }
        CHECK(got == want);
        if (!hit) break;
      }
      CHECK(payload::live == 0);
    }
  }
}

TEST_CASE("fault injection: constructors that fail leak nothing") {
  const auto sweep = [](auto make) {
    for (long n = 1;; ++n) {
      REQUIRE(n < sweep_limit);
      CAPTURE(n);
      outcome o;
      bool hit;
      {
        inject::armed a(n);
        o = attempt([&] { (void)make(); });
        hit = a.hit();
      }
      CHECK(o != outcome::other);
      CHECK((o == outcome::bad_alloc) == hit);
      if (!hit) return n;
    }
  };
  CHECK(sweep([] { return bobbin::channel<int>(); }) > 1);
  CHECK(sweep([] { return bobbin::channel<int>(bobbin::capacity{16}); }) > 1);
  CHECK(sweep([] { return bobbin::broadcast_channel<int>(); }) > 1);
  CHECK(sweep([] { return bobbin::make_message_channel<int, payload>(); }) > 1);
  CHECK(sweep([] {
          bobbin::channel<int> ch;
          ch.send(1);  // the first segment
          return ch;
        }) > 1);
}
