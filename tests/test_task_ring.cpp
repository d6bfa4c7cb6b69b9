// detail::task_ring alone: FIFO order across wrap-around, growth while wrapped, the fixed
// ring's capacity, take_first's choice, metadata out as it went in, every task run or
// cancelled exactly once.
#include <doctest/doctest.h>

#include <bobbin/detail/task/task.hpp>
#include <bobbin/detail/task/task_ring.hpp>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <numeric>
#include <type_traits>
#include <utility>
#include <vector>

using bobbin::detail::queued_task;
using bobbin::detail::task;
using bobbin::detail::task_ring;

namespace {

using growable_ring = task_ring<queued_task>;
using fixed_ring = task_ring<task::raw, 32>;

// What became of each task id: run (in which order) or cancelled (destroyed unrun).
struct tracker {
  std::vector<int> ran, cancelled, run_order, cancel_order;
  explicit tracker(int n) : ran(n), cancelled(n) { run_order.reserve(n), cancel_order.reserve(n); }
};

struct probe {  // inline: trivially copyable
  tracker* tr;
  int id;
  using bobbin_cancel_hook = void;
  void operator()() const { ++tr->ran[id], tr->run_order.push_back(id); }
  void cancel() noexcept { ++tr->cancelled[id], tr->cancel_order.push_back(id); }
};
struct boxed_probe {  // boxed, and counts its objects: a lost or doubly freed task shows
  static inline long live = 0;
  probe p;
  std::unique_ptr<int> owned = std::make_unique<int>(0);
  explicit boxed_probe(probe q) : p(q) { ++live; }
  boxed_probe(boxed_probe&& o) noexcept : p(o.p), owned(std::move(o.owned)) { ++live; }
  ~boxed_probe() { --live; }
  using bobbin_cancel_hook = void;
  void operator()() const { p(); }
  void cancel() noexcept { p.cancel(); }
};
static_assert(task::stored_inline<probe> && !task::stored_inline<boxed_probe>);

template <class Ring>
constexpr bool has_meta = std::is_same_v<Ring, growable_ring>;

// High bits set, so a truncated or swapped word shows; never no_task.
std::uint64_t meta_for(int id) { return (std::uint64_t{0xA5C3} << 48) ^ (std::uint64_t(id) << 1) ^ (id & 1u); }
std::uint32_t depth_for(int id) { return static_cast<std::uint32_t>(id * 7 % 5); }

// Pushes task `id` (every third boxed); false if the ring did not take it.
template <class Ring>
bool put(Ring& r, tracker& tr, int id) {
  task t = id % 3 == 0 ? task(boxed_probe{probe{&tr, id}}) : task(probe{&tr, id});
  t.set_depth(depth_for(id));
  if constexpr (has_meta<Ring>) r.push(t, meta_for(id));
  if constexpr (!has_meta<Ring>) r.push(t);
  return !t;
}

// Runs a task taken out of a ring with metadata `meta`; true if it is task `id` whole.
template <class Ring>
bool run_is(task& t, std::uint64_t meta, tracker& tr, int id) {
  if (!t || t.depth() != depth_for(id) || meta != (has_meta<Ring> ? meta_for(id) : 0)) return false;
  const std::size_t before = tr.run_order.size();
  t.run();
  return !t && tr.run_order.size() == before + 1 && tr.run_order.back() == id;
}

// Random pushes (`pushes` steps in 8, while fewer than `bound` are held), pops and
// take_first()s against a std::deque of ids, then a drain; stops at the first mismatch.
// Returns the number of tasks taken.
template <class Ring>
int against_model(Ring& r, tracker& tr, int steps, std::size_t bound, unsigned pushes, std::uint32_t x) {
  std::deque<int> model;
  int next = 0, taken = 0, bad = 0;
  for (int s = 0; (s < steps || !model.empty()) && bad == 0; ++s) {
    x = x * 1664525u + 1013904223u;
    const unsigned op = (x >> 24) % 8;
    if (s < steps && model.size() < bound && (model.empty() || op < pushes)) {
      bad += !put(r, tr, next);
      model.push_back(next++);
    } else if (s >= steps || op < 7) {
      task t;
      const std::uint64_t meta = r.pop(t);
      bad += !run_is<Ring>(t, meta, tr, model.front());
      model.pop_front();
      ++taken;
    } else {
      const std::uint32_t min_depth = (x >> 16) % 6;  // 5: none has it
      const auto it = std::find_if(model.begin(), model.end(), [&](int id) { return depth_for(id) >= min_depth; });
      bad += r.any(min_depth) != (it != model.end());
      task t;
      const std::uint64_t meta = r.take_first(min_depth, t);
      if (it == model.end()) {
        bad += meta != Ring::no_task || static_cast<bool>(t);
      } else {
        bad += !run_is<Ring>(t, meta, tr, *it);
        model.erase(it);
        ++taken;
      }
    }
    std::uint32_t deepest = 0;
    for (int id : model) deepest = std::max(deepest, depth_for(id));
    bad += r.size() != model.size() || r.empty() != model.empty() || r.max_depth() != deepest;
    if constexpr (!has_meta<Ring>) bad += r.room() != 32 - model.size();
  }
  CHECK(bad == 0);
  CHECK(next == taken);
  return taken;
}

std::vector<int> ids_below(int n) {
  std::vector<int> v(n);
  std::iota(v.begin(), v.end(), 0);
  return v;
}

// Every id below n ran exactly once, none cancelled.
void all_ran_once(const tracker& tr, int n) {
  std::vector<int> ids = tr.run_order;
  std::sort(ids.begin(), ids.end());
  CHECK(ids == ids_below(n));
  CHECK(tr.cancel_order.empty());
  CHECK(std::count(tr.ran.begin(), tr.ran.end(), 1) == n);
}

}  // namespace

TEST_CASE("task_ring: FIFO with take_first against a model, wrapping many times without growing") {
  tracker tg(4000), tf(16000);
  int ng = 0, nf = 0;
  {
    growable_ring g(4);  // kept at most 4: it wraps, never grows
    ng = against_model(g, tg, 4000, 4, 4, 1);
    fixed_ring f;
    nf = against_model(f, tf, 16000, 32, 4, 2);
  }
  CHECK(ng > 1000);  // head went round a 4-slot ring hundreds of times
  CHECK(nf > 4000);  // and round 32 slots over a hundred times
  all_ran_once(tg, ng);
  all_ran_once(tf, nf);
  CHECK(boxed_probe::live == 0);
}

TEST_CASE("task_ring: a growable ring grows from its smallest capacity through a model workout") {
  tracker tr(6000);
  int n = 0;
  {
    growable_ring g(0);  // capacity 2; pushes outnumber takes: some 1500 held at the peak
    n = against_model(g, tr, 6000, 6000, 5, 3);
  }
  CHECK(n > 3000);
  all_ran_once(tr, n);
  CHECK(boxed_probe::live == 0);
}

TEST_CASE("task_ring: growth while wrapped keeps order and metadata") {
  tracker tr(400);
  growable_ring g(2);
  REQUIRE(put(g, tr, 0));
  REQUIRE(put(g, tr, 1));
  int next = 2, out = 0, bad = 0;
  // Each round takes one (head moves on) and adds two: full again with head mid-ring, so
  // every growth (2, 4, 8, ..., 256) copies a wrapped ring.
  for (int round = 0; round < 198; ++round) {
    task t;
    bad += !run_is<growable_ring>(t, g.pop(t), tr, out++);
    bad += !put(g, tr, next++);
    bad += !put(g, tr, next++);
    bad += g.front().meta != meta_for(out);
  }
  CHECK(bad == 0);
  CHECK(g.size() == 200);
  for (task t; !g.empty();) bad += !run_is<growable_ring>(t, g.pop(t), tr, out++);
  CHECK(bad == 0);
  CHECK(out == 398);
  all_ran_once(tr, 398);
}

TEST_CASE("task_ring: the fixed ring holds 32, never throws, and says when it is empty") {
  static_assert(noexcept(std::declval<fixed_ring&>().push(std::declval<task&>())));
  tracker tr(64);
  fixed_ring f;
  task none;
  CHECK(f.empty());
  CHECK(f.room() == 32);
  CHECK(f.take_first(0, none) == fixed_ring::no_task);
  CHECK_FALSE(none);
  CHECK_FALSE(f.any(0));
  for (int i = 0; i < 32; ++i) REQUIRE(put(f, tr, i));
  CHECK(f.room() == 0);
  CHECK(f.size() == 32);
  CHECK(f.max_depth() == 4);
  CHECK(f.take_first(5, none) == fixed_ring::no_task);  // no depth 5: nothing moves
  CHECK_FALSE(none);
  CHECK(f.size() == 32);
  task t;
  CHECK(run_is<fixed_ring>(t, f.pop(t), tr, 0));
  CHECK(f.room() == 1);
  REQUIRE(put(f, tr, 32));  // into the slot just freed: wrapped
  CHECK(f.room() == 0);
  // depth_for: 1 -> 2, 2 -> 4: the oldest of depth >= 3 is 2, then 4 (depth 3).
  CHECK(run_is<fixed_ring>(t, f.take_first(3, t), tr, 2));
  CHECK(run_is<fixed_ring>(t, f.take_first(3, t), tr, 4));
  int bad = 0;
  for (int id : {1, 3}) bad += !run_is<fixed_ring>(t, f.pop(t), tr, id);
  for (int id = 5; id <= 32; ++id) bad += !run_is<fixed_ring>(t, f.pop(t), tr, id);
  CHECK(bad == 0);
  CHECK(f.empty());
  CHECK(f.room() == 32);
  CHECK(f.take_first(0, none) == fixed_ring::no_task);
  all_ran_once(tr, 33);
}

TEST_CASE("task_ring: every task runs or is cancelled exactly once, the rest at destruction") {
  constexpr int n = 300;
  tracker tr(n);
  {
    growable_ring g(2);
    fixed_ring f;
    for (int i = 0; i < n; ++i) REQUIRE(put(g, tr, i));  // grows 2 -> 512
    // As per_worker_queue does: a batch moved from the shared ring into the local one.
    for (int batch = 0; batch < 3; ++batch) {
      while (f.room() > 0) {
        task t;
        g.pop(t);
        f.push(t);
        REQUIRE_FALSE(t);
      }
      task t;  // 20 taken, 12 left behind each batch: f wraps
      for (int k = 0; k < 20; ++k) CHECK(run_is<fixed_ring>(t, f.pop(t), tr, batch * 20 + k));
    }
    task t;
    CHECK(run_is<growable_ring>(t, g.pop(t), tr, 72));
    // depth_for: 73 -> 1, 74 -> 3, 75 -> 0, 76 -> 2, 77 -> 4: 77 comes out of the middle.
    CHECK(run_is<growable_ring>(t, g.take_first(4, t), tr, 77));
    CHECK(g.size() == static_cast<std::size_t>(n - (32 + 20 + 20) - 2));
    CHECK(f.size() == 12);
    CHECK(tr.cancel_order.empty());
  }  // both rings destroyed holding tasks: cancelled
  std::vector<int> run_ids = ids_below(60);
  run_ids.push_back(72);
  run_ids.push_back(77);
  CHECK(tr.run_order == run_ids);  // and nothing ran at destruction
  std::vector<int> all = tr.run_order;
  all.insert(all.end(), tr.cancel_order.begin(), tr.cancel_order.end());
  std::sort(all.begin(), all.end());
  CHECK(all == ids_below(n));  // each id once, run or cancelled
  int once = 0;
  for (int i = 0; i < n; ++i) once += tr.ran[i] + tr.cancelled[i] == 1;
  CHECK(once == n);
  CHECK(boxed_probe::live == 0);
}
