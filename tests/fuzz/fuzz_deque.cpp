// libFuzzer target for detail::ws_deque (issue 8a). Each input drives two runs on fresh
// deques that start tiny, so grow() happens often:
// - sequential: owner operations and steals, all from this thread, compared exactly with a
//   std::deque model (push = push_back, pop = pop_back, steal = pop_front; an empty answer
//   must agree too, and a steal without contention never loses a race);
// - concurrent: one or two thieves steal while this thread, the owner, follows the same
//   bytes; after the thieves are joined, every pushed item was taken exactly once, intact.
//
// Input: byte 0 picks the item size (1, 2 or 8 words: torn copies of a multi-word item
// are caught by its check words) and the initial capacity (2, 4, 8 or 16); byte 1 the
// number of thieves and how they steal; every further byte is an operation (low 3 bits)
// with an argument (high 5 bits).

#include <bobbin/detail/task/ws_deque.hpp>

#include <algorithm>
#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <span>
#include <thread>
#include <vector>

namespace {

using bobbin::detail::steal_status;
using bobbin::detail::ws_deque;

[[noreturn]] void fail(const char* what) {
  std::fprintf(stderr, "fuzz_deque: %s\n", what);
  std::abort();
}

void require(bool ok, const char* what) {
  if (!ok) fail(what);
}

// An item of W words: the id, then words derived from it, so a copy mixed from two items
// (a torn read) is detected.
template <std::size_t W>
struct item {
  std::array<std::uint64_t, W> w;

  static constexpr std::uint64_t check_word(std::uint64_t id, std::size_t k) noexcept {
    return (id + k) * 0x9e3779b97f4a7c15u ^ (std::uint64_t{k} << 56);
  }
  static item make(std::uint64_t id) noexcept {
    item v{};
    v.w[0] = id;
    for (std::size_t k = 1; k < W; ++k) v.w[k] = check_word(id, k);
    return v;
  }
  std::uint64_t id() const noexcept { return w[0]; }
  bool intact() const noexcept {
    for (std::size_t k = 1; k < W; ++k) {
      if (w[k] != check_word(w[0], k)) return false;
    }
    return true;
  }
};

// The owner's bytes, also read by the concurrent run.
struct op {
  unsigned code;  // 0..7
  unsigned arg;   // 0..31
};

std::vector<op> decode(std::span<const std::uint8_t> bytes) {
  std::vector<op> ops;
  ops.reserve(bytes.size());
  for (std::uint8_t b : bytes) ops.push_back({b & 7u, static_cast<unsigned>(b >> 3)});
  return ops;
}

template <std::size_t W>
void check_same(const item<W>& got, std::uint64_t want, const char* what) {
  require(got.intact(), "a value came back torn");
  require(got.id() == want, what);
}

template <std::size_t W>
void sequential(std::size_t initial_capacity, const std::vector<op>& ops) {
  using T = item<W>;
  ws_deque<T> d(initial_capacity);
  std::deque<std::uint64_t> model;
  std::uint64_t next_id = 0;
  std::size_t last_capacity = d.capacity();
  require(last_capacity >= 2 && last_capacity >= initial_capacity, "initial capacity too small");
  T v{};

  auto pop_one = [&] {
    const bool got = d.pop(v);
    require(got == !model.empty(), "pop: empty answer disagrees with the model");
    if (got) {
      check_same(v, model.back(), "pop: not the newest item");
      model.pop_back();
    }
  };
  auto steal_one = [&] {
    const steal_status s = d.steal(v);
    require(s != steal_status::lost_race, "steal lost a race with nobody");
    require((s == steal_status::success) == !model.empty(), "steal: empty answer disagrees with the model");
    if (s == steal_status::success) {
      check_same(v, model.front(), "steal: not the oldest item");
      model.pop_front();
    }
  };

  for (const op& o : ops) {
    switch (o.code) {
      case 0:  // push arg + 1 items
        for (unsigned i = 0; i <= o.arg; ++i) {
          d.push(T::make(next_id));
          model.push_back(next_id++);
        }
        break;
      case 1: pop_one(); break;
      case 2:
        for (unsigned i = 0; i <= o.arg % 4; ++i) pop_one();
        break;
      case 3: steal_one(); break;
      case 4: {  // a steal with a predicate: a refused item stays where it is
        const std::uint64_t m = o.arg % 3 + 2;
        const steal_status s = d.steal(v, [m](const T& x) { return x.id() % m != 0; });
        require(s != steal_status::lost_race, "predicate steal lost a race with nobody");
        const bool take = !model.empty() && model.front() % m != 0;
        require((s == steal_status::success) == take, "predicate steal disagrees with the model");
        if (take) {
          check_same(v, model.front(), "predicate steal: not the oldest item");
          model.pop_front();
        }
        break;
      }
      case 5: {  // peeks at both ends
        const bool b = d.peek_bottom(v);
        require(b == !model.empty(), "peek_bottom: empty answer disagrees with the model");
        if (b) check_same(v, model.back(), "peek_bottom: not the newest item");
        const bool t = d.peek_top(v);
        require(t == !model.empty(), "peek_top: empty answer disagrees with the model");
        if (t) check_same(v, model.front(), "peek_top: not the oldest item");
        break;
      }
      case 6:  // alternate pops and steals
        for (unsigned i = 0; i <= o.arg % 8; ++i) (i % 2 == 0) ? pop_one() : steal_one();
        break;
      default:  // steal arg % 4 + 1 items
        for (unsigned i = 0; i <= o.arg % 4; ++i) steal_one();
        break;
    }
    require(d.size_approx() == model.size(), "size_approx disagrees with the model");
    require(d.empty_approx() == model.empty(), "empty_approx disagrees with the model");
    const std::size_t cap = d.capacity();
    require(cap >= model.size(), "holds more than its capacity");
    require((cap & (cap - 1)) == 0, "capacity is not a power of two");
    require(cap >= last_capacity, "capacity shrank");
    last_capacity = cap;
  }
  while (!model.empty()) pop_one();
  require(!d.pop(v) && d.steal(v) == steal_status::empty, "not empty after the model drained");
}

template <std::size_t W>
void concurrent(std::size_t initial_capacity, unsigned mode, const std::vector<op>& ops) {
  using T = item<W>;
  ws_deque<T> d(initial_capacity);
  const unsigned thieves = 1 + (mode & 1);
  const bool picky = (mode & 2) != 0;  // the second thief refuses ids divisible by 3

  std::atomic<unsigned> ready{0};
  std::atomic<bool> done{false};
  std::vector<std::vector<std::uint64_t>> taken(thieves + 1);  // [thieves]: the owner's
  std::vector<int> torn(thieves + 1, 0);
  std::vector<std::thread> threads;
  threads.reserve(thieves);
  for (unsigned k = 0; k < thieves; ++k) {
    threads.emplace_back([&, k] {
      auto& mine = taken[k];
      const bool refuse_threes = picky && k == 1;
      T v{};
      ready.fetch_add(1);
      for (;;) {
        // done is read before the steal: an empty answer after it means nothing is left
        // for this thief (the owner pushes nothing once done is set).
        const bool last = done.load(std::memory_order_acquire);
        const steal_status s = refuse_threes ? d.steal(v, [](const T& x) { return x.id() % 3 != 0; }) : d.steal(v);
        if (s == steal_status::success) {
          if (!v.intact()) ++torn[k];
          mine.push_back(v.id());
        } else if (s == steal_status::empty) {
          if (last) break;
          // Nothing there: let the owner run (two cores are often shared with others).
          std::this_thread::yield();
        }
      }
    });
  }
  while (ready.load() != thieves) std::this_thread::yield();

  std::uint64_t pushed = 0;
  auto& mine = taken[thieves];
  T v{};
  auto pop_one = [&] {
    if (d.pop(v)) {
      if (!v.intact()) ++torn[thieves];
      mine.push_back(v.id());
    }
  };
  for (const op& o : ops) {
    switch (o.code) {
      case 0:
        for (unsigned i = 0; i <= o.arg; ++i) d.push(T::make(pushed++));
        break;
      case 1: pop_one(); break;
      case 2:
        for (unsigned i = 0; i <= o.arg % 4; ++i) pop_one();
        break;
      case 3:
      case 4:  // let the thieves get ahead
        for (unsigned i = 0; i < o.arg * 8; ++i) bobbin::detail::cpu_relax();
        break;
      case 5:
        if (d.peek_bottom(v)) require(v.intact(), "owner's peek_bottom came back torn");
        break;
      case 6: std::this_thread::yield(); break;
      default: require(d.size_approx() <= pushed, "size_approx above the number pushed"); break;
    }
  }
  done.store(true, std::memory_order_release);
  for (auto& t : threads) t.join();
  while (d.pop(v)) {  // what a picky thief left behind
    if (!v.intact()) ++torn[thieves];
    mine.push_back(v.id());
  }

  for (int t : torn) require(t == 0, "a successful pop or steal returned a torn value");
  std::vector<std::uint8_t> seen(pushed, 0);
  for (const auto& list : taken) {
    for (std::uint64_t id : list) {
      require(id < pushed, "an id that was never pushed");
      require(seen[id]++ == 0, "an item was taken twice");
    }
  }
  require(std::find(seen.begin(), seen.end(), 0) == seen.end(), "an item was lost");
  for (unsigned k = 0; k < thieves; ++k) {
    // Each thief takes from the top, so it sees ids in push order.
    require(std::is_sorted(taken[k].begin(), taken[k].end()), "a thief took items out of order");
  }
}

template <std::size_t W>
void run(std::size_t initial_capacity, unsigned mode, const std::vector<op>& ops) {
  sequential<W>(initial_capacity, ops);
  concurrent<W>(initial_capacity, mode, ops);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 2) return 0;
  const std::size_t initial_capacity = std::size_t{2} << (data[0] & 3u);
  const unsigned mode = data[1];
  const std::vector<op> ops = decode(std::span(data + 2, size - 2));
  switch ((data[0] >> 2) % 3) {
    case 0: run<1>(initial_capacity, mode, ops); break;
    case 1: run<2>(initial_capacity, mode, ops); break;
    default: run<8>(initial_capacity, mode, ops); break;
  }
  return 0;
}
