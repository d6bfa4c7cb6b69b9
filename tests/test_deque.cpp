// The Chase-Lev deque alone: exactly-once delivery between an owner and thieves, growth.
#include <doctest/doctest.h>

#include <bobbin/detail/deque.hpp>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <thread>
#include <vector>

namespace {

struct item {
  std::uint64_t id;
  std::uint64_t check;  // a second word, so torn copies would be caught
};

bool intact(const item& v) { return v.check == ~v.id; }

}  // namespace

TEST_CASE("deque: owner push/pop is LIFO and grows from capacity 2") {
  bobbin::detail::ws_deque<item> d(2);
  CHECK(d.capacity() == 2);
  for (std::uint64_t i = 0; i < 100; ++i) d.push({i, ~i});
  CHECK(d.capacity() >= 100);
  CHECK(d.size_approx() == 100);
  item v{};
  for (std::uint64_t i = 100; i-- > 0;) {
    REQUIRE(d.pop(v));
    CHECK(v.id == i);
    CHECK(intact(v));
  }
  CHECK_FALSE(d.pop(v));
  CHECK(d.empty_approx());
}

TEST_CASE("deque: steal is FIFO and reports empty") {
  bobbin::detail::ws_deque<item> d(4);
  item v{};
  CHECK(d.steal(v) == bobbin::detail::steal_status::empty);
  for (std::uint64_t i = 0; i < 10; ++i) d.push({i, ~i});
  for (std::uint64_t i = 0; i < 10; ++i) {
    REQUIRE(d.steal(v) == bobbin::detail::steal_status::success);
    CHECK(v.id == i);
  }
  CHECK(d.steal(v) == bobbin::detail::steal_status::empty);
}

TEST_CASE("deque: owner against 2 thieves, every item exactly once, with growth" * doctest::timeout(120)) {
#if BOBBIN_TSAN
  constexpr std::uint64_t n = 200'000;
#else
  constexpr std::uint64_t n = 2'000'000;
#endif
  bobbin::detail::ws_deque<item> d(2);  // forces many grow() calls while thieves read
  std::atomic<bool> done{false};
  std::vector<std::vector<std::uint64_t>> stolen(2);
  std::vector<std::uint64_t> torn(2, 0);
  std::vector<std::thread> thieves;
  for (int k = 0; k < 2; ++k) {
    thieves.emplace_back([&, k] {
      item v{};
      for (;;) {
        const auto r = d.steal(v);
        if (r == bobbin::detail::steal_status::success) {
          if (!intact(v)) ++torn[k];
          stolen[k].push_back(v.id);
        } else if (r == bobbin::detail::steal_status::empty && done.load(std::memory_order_acquire)) {
          break;
        }
      }
    });
  }
  std::vector<std::uint64_t> popped;
  std::uint64_t owner_torn = 0;
  item v{};
  for (std::uint64_t i = 0; i < n; ++i) {
    d.push({i, ~i});
    if (i % 3 == 0 && d.pop(v)) {  // mix pops in, so the last-item race happens often
      if (!intact(v)) ++owner_torn;
      popped.push_back(v.id);
    }
  }
  while (d.pop(v)) {
    if (!intact(v)) ++owner_torn;
    popped.push_back(v.id);
  }
  done.store(true, std::memory_order_release);
  for (auto& t : thieves) t.join();

  std::vector<std::uint64_t> all = popped;
  for (auto& s : stolen) all.insert(all.end(), s.begin(), s.end());
  std::sort(all.begin(), all.end());
  CHECK(owner_torn == 0);
  CHECK(torn[0] == 0);
  CHECK(torn[1] == 0);
  REQUIRE(all.size() == n);
  bool exact = true;
  for (std::uint64_t i = 0; i < n; ++i) exact = exact && all[i] == i;
  CHECK(exact);
  MESSAGE("popped " << popped.size() << ", stolen " << stolen[0].size() << " + " << stolen[1].size()
                    << ", capacity " << d.capacity());
}
