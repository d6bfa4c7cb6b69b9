// The Chase-Lev deque alone: exactly-once delivery between an owner and thieves, growth.
#include <doctest/doctest.h>

#include <bobbin/detail/sync/asymmetric_fence.hpp>
#include <bobbin/detail/task/ws_deque.hpp>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <string>
#include <thread>
#include <vector>

namespace {

struct item {
  std::uint64_t id;
  std::uint64_t check;  // a second word, so torn copies would be caught
};

bool intact(const item& v) { return v.check == ~v.id; }

#if BOBBIN_TSAN
constexpr std::uint64_t items = 200'000;
#else
constexpr std::uint64_t items = 2'000'000;
#endif

// The owner pushes `items` values into a deque of capacity 2 (many grow() calls while
// thieves read), popping after every third push so that the last-item race happens often,
// then drains; 2 thieves steal until the owner is done and the deque is empty. `pop(d, v)`
// is the owner's pop; `thief_step(d, v)` one steal attempt. Every item exactly once, none
// torn.
template <class Pop, class ThiefStep>
void owner_against_two_thieves(Pop pop, ThiefStep thief_step) {
  bobbin::detail::ws_deque<item> d(2);
  std::atomic<bool> done{false};
  std::vector<std::vector<std::uint64_t>> stolen(2);
  std::vector<std::uint64_t> torn(2, 0);
  std::vector<std::thread> thieves;
  for (int k = 0; k < 2; ++k) {
    thieves.emplace_back([&, k] {
      item v{};
      for (;;) {
        const auto r = thief_step(d, v);
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
  for (std::uint64_t i = 0; i < items; ++i) {
    d.push({i, ~i});
    if (i % 3 == 0 && pop(d, v)) {
      if (!intact(v)) ++owner_torn;
      popped.push_back(v.id);
    }
  }
  while (pop(d, v)) {
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
  REQUIRE(all.size() == items);
  bool exact = true;
  for (std::uint64_t i = 0; i < items; ++i) exact = exact && all[i] == i;
  CHECK(exact);
  MESSAGE("popped " << popped.size() << ", stolen " << stolen[0].size() << " + " << stolen[1].size() << ", capacity "
                    << d.capacity());
}

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

TEST_CASE("deque: pop_in_place hands out the slot's words, which stay put until the next push") {
  bobbin::detail::ws_deque<item> d(2);
  for (std::uint64_t i = 0; i < 5; ++i) d.push({i, ~i});  // grows twice
  const auto* w = d.pop_in_place();
  REQUIRE(w != nullptr);
  CHECK(w[0].load() == 4);
  CHECK(w[1].load() == ~std::uint64_t{4});
  // The last value left goes through the CAS on top; a steal in between takes the oldest.
  item v{};
  REQUIRE(d.steal(v) == bobbin::detail::steal_status::success);
  CHECK(v.id == 0);
  const auto* w3 = d.pop_in_place();
  REQUIRE(w3 != nullptr);
  CHECK(w3[0].load() == 3);
  CHECK(w[0].load() == 4);  // no push since: the first slot is untouched
  d.push({7, ~std::uint64_t{7}});  // reuses the slot of 3
  CHECK(w3[0].load() == 7);
  for (std::uint64_t expect : {7, 2, 1}) {
    const auto* x = d.pop_in_place([] { return true; });
    REQUIRE(x != nullptr);
    CHECK(x[0].load() == expect);
    CHECK(x[1].load() == ~expect);
  }
  CHECK(d.pop_in_place() == nullptr);
  CHECK(d.pop_in_place([] { return true; }) == nullptr);
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
  owner_against_two_thieves([](auto& d, item& v) { return d.pop(v); }, [](auto& d, item& v) { return d.steal(v); });
}

// The fence-free pop as the work_stealing policy uses it: the owner skips its fence while
// no thief is announced; a thief announces itself and runs the heavy fence before it
// steals, and withdraws after a few steals (so the owner keeps switching between its two
// paths while thieves come and go).
TEST_CASE("deque: fence-free pops against announced thieves, every item exactly once" * doctest::timeout(120)) {
  bobbin::detail::asymmetric_fence::init();  // membarrier where available (not under TSan)
  MESSAGE("asymmetric fence: " << std::string(bobbin::detail::asymmetric_fence::asymmetric() ? "membarrier"
                                                                                             : "seq_cst fences"));
  std::atomic<int> announced{0};
  const auto no_thief = [&] { return announced.load(std::memory_order_acquire) == 0; };
  owner_against_two_thieves([&](auto& d, item& v) { return d.pop(v, no_thief); },
                            [&](auto& d, item& v) {
                              thread_local int left = 0;  // steals left in this thief's episode
                              if (left == 0) {
                                announced.fetch_add(1, std::memory_order_seq_cst);
                                bobbin::detail::asymmetric_fence::heavy();
                                left = 64;
                              }
                              const auto r = d.steal(v);
                              if (--left == 0 || r == bobbin::detail::steal_status::empty) {
                                announced.fetch_sub(1, std::memory_order_release);
                                left = 0;
                              }
                              return r;
                            });
}
