// Allocation counts (the counting global operator new of tests/support/fault_alloc.hpp,
// never armed here): no heap allocation per post of a small callable; at most one per
// submit. The queues grow geometrically and keep their size, so N tasks may cost O(log N)
// allocations the first time a queue reaches a new size (which queue depends on timing),
// never O(N); once the queues are warm, none at all.
#include <doctest/doctest.h>

#include <bobbin/pool.hpp>
#include <bobbin/task_group.hpp>

#include "support/fault_alloc.hpp"

#include <array>
#include <atomic>
#include <vector>

namespace {
// Every call of operator new (and new[], and their nothrow forms) so far, on any thread.
const std::atomic<long>& allocations = bobbin_test::inject::allocations;
}  // namespace

TEST_CASE("post: a 48-byte callable costs no heap allocation, from outside and from a worker") {
  bobbin::pool<> p({.threads = 2});
  std::atomic<long> sum{0};
  std::array<long, 5> payload{1, 2, 3, 4, 5};
  auto small = [&sum, payload] { sum.fetch_add(payload[4], std::memory_order_relaxed); };
  static_assert(sizeof(small) == 48);
  constexpr int n = 20'000;
  for (int i = 0; i < n; ++i) p.post(small);  // warm-up: queues reach their working size
  p.wait_idle();

  const long before = allocations.load();
  for (int i = 0; i < n; ++i) p.post(small);
  p.wait_idle();
  CHECK(allocations.load() - before < 8);

  // Strictly: one task at a time never needs a bigger queue.
  const long before_one = allocations.load();
  for (int i = 0; i < 1000; ++i) {
    p.post(small);
    p.wait_idle();
  }
  CHECK(allocations.load() - before_one == 0);

  // From a worker: into its own deque (warmed up first, then counted).
  auto nested = [&p, small] {
    for (int i = 0; i < n; ++i) p.post(small);
  };
  p.post(nested);
  p.wait_idle();
  const long before_nested = allocations.load();
  p.post(nested);
  p.wait_idle();
  CHECK(allocations.load() - before_nested < 32);  // the other worker's deque may grow: O(log n)
  CHECK(sum == 5L * (4 * n + 1000));
}

TEST_CASE("submit: at most one allocation per call (the shared state)") {
  bobbin::pool<> p({.threads = 2});
  constexpr int n = 10'000;
  std::vector<bobbin::future<int>> fs;
  fs.reserve(n);
  for (int i = 0; i < n; ++i) fs.push_back(p.submit([i] { return i; }));
  for (auto& f : fs) (void)f.get();
  fs.clear();
  p.wait_idle();

  const long before = allocations.load();
  for (int i = 0; i < n; ++i) fs.push_back(p.submit([i] { return i; }));
  long sum = 0;
  for (auto& f : fs) sum += f.get();
  p.wait_idle();
  CHECK(allocations.load() - before <= n + 8);
  CHECK(sum == static_cast<long>(n) * (n - 1) / 2);
}

TEST_CASE("task_group::run: no allocation per task") {
  bobbin::pool<> p({.threads = 2});
  std::atomic<int> count{0};
  auto body = [&] {
    bobbin::task_group g(p);
    for (int i = 0; i < 5000; ++i) g.run([&] { count.fetch_add(1, std::memory_order_relaxed); });
    g.wait();
  };
  p.submit(body).get();
  const long before = allocations.load();
  p.submit(body).get();
  CHECK(allocations.load() - before < 32);  // the submit's state, and deque growth at most
  CHECK(count == 10000);
}
