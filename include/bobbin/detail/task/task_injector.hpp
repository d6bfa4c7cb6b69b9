#pragma once
// detail::task_injector: the lock-free queue through which tasks from outside a pool reach
// its workers (work_stealing's injection queue, fifo's and least_busy's shared queues).
// Unbounded, first in first out, any number of producers and consumers; a consumer may
// take a run of tasks with one claim.
//
// Contract:
// - push() from any thread; take(), has_work() and size_approx() from any thread; the
//   destructor runs alone and cancels (destroys unrun) what is left.
// - Tickets: a producer takes ticket t = tail_++ (one RMW, the only one it makes), copies
//   the task into slot t % N of segment t / N and publishes it by storing the task's ops
//   pointer (release); the slot is one cache line and that pointer is its state: null
//   until published. A consumer looks at the slots from head_ on, and claims the run
//   [h, k) of published ones with one CAS head_: h -> k, so head_ <= tail_ and each task
//   is taken exactly once, in ticket order; a producer's tasks keep the order it pushed
//   them in. Consumers never write to a slot (a producer's next store there would have to
//   fetch the line back first, once per task): after copying its run out a consumer adds
//   its length to the segment's `consumed` count (release).
// - Segments (as detail::segmented_queue, the channels' queue; the lookup and the list:
//   detail/queue/segment_lookup.hpp, segment_list.hpp): live ones in ticket order on a
//   list that only the mutex-holding slow path walks or changes; the fast path finds its
//   segment through a hint and checks the segment's id. A run never crosses a segment's
//   end. The consumer that claims a segment's last ticket retires it; it is reused once
//   `consumed` says every slot was copied out, and the producer that reuses it sets every
//   state back to null (a run of independent stores, which also brings the lines the
//   producers will write next into its cache). A consumer may read a slot of a segment
//   recycled under it, but acts only after its CAS succeeds, which proves that ticket h
//   was not claimed yet, so the segment was not retired and the slots it read were
//   tickets h..k-1's. Memory is kept until the queue dies (stale hints stay safe to read).
// - Allocation: a producer makes sure the segment for the ticket it is about to take
//   exists before it takes it, so std::bad_alloc leaves the task untouched and nothing
//   claimed. Only when producers race past a segment's end may one have to allocate after
//   its claim; a failure there ends the program (std::terminate): a claimed ticket that is
//   never filled would stall every consumer.
// - Layout: tail_ with the producers' hint, head_ with the consumers', and the slow path
//   sit on three cache lines; in a segment, id (read on every push), consumed (written by
//   consumers) and each slot have lines of their own. check_layout() asserts it.
// - Waking: has_work() counts a push from its RMW on, before the task is published, so a
//   worker that saw it does not sleep; it then finds the task once its producer publishes.
//   The pool's producer fences after push() and before it looks for sleepers.

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <mutex>
#include <type_traits>
#include <utility>

#include "../config.hpp"
#include "../queue/segment_list.hpp"
#include "../queue/segment_lookup.hpp"
#include "task.hpp"

namespace bobbin::detail {

class task_injector : segment_lookup<task_injector> {
  friend segment_lookup<task_injector>;

  static constexpr std::size_t slots_per_segment = 256;  // 16 KiB
  static constexpr unsigned shift = 8;
  static constexpr std::uint64_t mask = slots_per_segment - 1;
  static_assert(std::size_t{1} << shift == slots_per_segment, "a segment's slots are a power of two: ticket >> shift");

  struct alignas(cache_line) slot {
    task::raw raw;  // raw.ops: null until published (set back when the segment is reused)
  };
  static_assert(sizeof(slot) == cache_line && alignof(slot) == cache_line, "a slot is one cache line");

  static std::atomic_ref<const void*> state(slot& s) noexcept { return std::atomic_ref<const void*>(s.raw.ops); }

  struct segment {
    std::atomic<std::uint64_t> id{segment_list<segment>::dead_id};  // read by producers on every push
    segment* next = nullptr;  // guarded by the mutex (segment_list)
    // Slots copied out since the segment got its id; written by consumers, on its own line.
    alignas(cache_line) std::atomic<std::size_t> consumed{0};
    slot slots[slots_per_segment];

    segment() noexcept {
      for (slot& s : slots) s.raw.ops = nullptr;
    }
    // acquire: pairs with take()'s release; the slots' readers are done with them.
    bool all_consumed() const noexcept { return consumed.load(std::memory_order_acquire) == slots_per_segment; }
    // atomic: a consumer that lags behind may still look at a state here (and then fail
    // its claim).
    void reset() noexcept {
      for (slot& s : slots) state(s).store(nullptr, std::memory_order_relaxed);
      consumed.store(0, std::memory_order_relaxed);
    }
  };

 public:
  task_injector() = default;
  task_injector(const task_injector&) = delete;
  task_injector& operator=(const task_injector&) = delete;

  ~task_injector() {
    check_layout();
    const std::uint64_t end = tail_.load(std::memory_order_relaxed);
    for (std::uint64_t h = head_.load(std::memory_order_relaxed); h < end; ++h) {
      segment* s = segments_.find(h >> shift);
      if (s == nullptr) continue;
      slot& sl = s->slots[h & mask];
      if (sl.raw.ops != nullptr) {
        task t;
        t.bytes() = sl.raw;  // destroyed unrun: cancelled
      }
    }
  }

  // Takes t (it becomes empty). May throw std::bad_alloc, leaving t untouched.
  void push(task& t) {
    // relaxed: a guess, only to allocate ahead of the claim.
    const std::uint64_t guess = tail_.load(std::memory_order_relaxed);
    prepare_segment(guess >> shift);  // may throw std::bad_alloc: nothing claimed yet
    // relaxed: the claim needs only atomicity; the task is published through its slot.
    const std::uint64_t tk = tail_.fetch_add(1, std::memory_order_relaxed);
    // The ticket is ours: its segment exists or is about to be appended, and cannot be
    // recycled before we publish.
    slot& sl = producer_segment(tk >> shift).slots[tk & mask];
    task::raw& r = t.bytes();
    std::memcpy(reinterpret_cast<unsigned char*>(&sl.raw) + sizeof(void*),
                reinterpret_cast<const unsigned char*>(&r) + sizeof(void*), sizeof(task::raw) - sizeof(void*));
    state(sl).store(r.ops, std::memory_order_release);  // release: the bytes above come first
    t.forget();
  }

  // Looks at up to `max` (>= 1) published tasks from the head and claims the first
  // share(c) of the c it found (1 <= share(c) <= c), in ticket order: the first is moved
  // into the empty task `first`, each other one is passed to rest(task::raw&) in order
  // (rest must not throw). Returns how many it took; 0 if none was published. Reads only
  // the consumers' line and the slots (not the producers' line) while its segment is known.
  template <class Share, class Rest>
  std::size_t take(task& first, std::size_t max, Share&& share, Rest&& rest) noexcept {
    std::uint64_t h = head_.load(std::memory_order_acquire);
    for (;;) {
      segment* s = consumer_segment(h);
      std::uint64_t k = h;
      if (s != nullptr) {
        const std::uint64_t end = h + std::min<std::uint64_t>(max, ((h | mask) + 1) - h);  // no overflow
        // acquire: the slot's bytes were written before its state.
        while (k < end && state(s->slots[k & mask]).load(std::memory_order_acquire) != nullptr) ++k;
      }
      if (k == h) {  // nothing published at h: empty, a push in progress, or h taken meanwhile
        const std::uint64_t now = head_.load(std::memory_order_acquire);
        if (now == h) return 0;
        h = now;
        continue;
      }
      k = h + std::clamp<std::uint64_t>(share(static_cast<std::size_t>(k - h)), 1, k - h);
      // acq_rel: claims are ordered among consumers; the slots were read (acquire) above.
      if (!head_.compare_exchange_weak(h, k, std::memory_order_acq_rel, std::memory_order_acquire)) continue;
      first.bytes() = s->slots[h & mask].raw;
      for (std::uint64_t j = h + 1; j < k; ++j) rest(s->slots[j & mask].raw);
      s->consumed.fetch_add(static_cast<std::size_t>(k - h),
                            std::memory_order_release);  // release: our reads come first
      if (((k - 1) & mask) == mask) retire_segment(*s);  // we claimed its last ticket
      return static_cast<std::size_t>(k - h);
    }
  }

  // Whether a take() may find something (counts pushes in progress). seq_cst: the
  // sleeper's side of the pool's Dekker handshake.
  bool has_work() const noexcept {
    return tail_.load(std::memory_order_seq_cst) > head_.load(std::memory_order_seq_cst);
  }

  // Tickets: every push so far took one below tail_ticket(); every one below head_ticket()
  // has been taken. (fifo stamps its nested tasks with tail_ticket() to keep one order.)
  std::uint64_t tail_ticket() const noexcept { return tail_.load(std::memory_order_acquire); }
  std::uint64_t head_ticket() const noexcept { return head_.load(std::memory_order_acquire); }

  // A snapshot, pushes in progress included.
  std::size_t size_approx() const noexcept {
    const std::uint64_t h = head_.load(std::memory_order_acquire);
    const std::uint64_t t = tail_.load(std::memory_order_acquire);
    return t > h ? static_cast<std::size_t>(t - h) : 0;
  }

 private:
  // For segment_lookup: whether a producer was given ticket h.
  bool ticket_issued(std::uint64_t h) const noexcept { return h < tail_.load(std::memory_order_acquire); }

  // The layout the comments promise, checked where the class is complete (as rigtorp's
  // MPMCQueue does in its constructor; offsetof needs a standard-layout class).
  static constexpr void check_layout() noexcept {
    using q = task_injector;
    static_assert(std::is_standard_layout_v<segment>, "offsetof below needs a standard-layout segment");
    static_assert(offsetof(segment, consumed) % cache_line == 0 &&
                      offsetof(segment, consumed) >= offsetof(segment, id) + cache_line,
                  "a segment's consumed count (written by consumers) must sit on another line than its id "
                  "(read by producers on every push)");
    static_assert(offsetof(segment, slots) % cache_line == 0 &&
                      offsetof(segment, slots) >= offsetof(segment, consumed) + cache_line,
                  "the slots must not share the consumed count's line");
    segment_lookup::check_lookup_layout();
    static_assert(offsetof(q, mutex_) % cache_line == 0 && offsetof(q, mutex_) >= offsetof(q, head_) + cache_line,
                  "the slow path (mutex and lists) must sit on a line of its own");
    static_assert(sizeof(q) % cache_line == 0, "the queue must not share its last line with a neighbour");
  }

  // Producers' line: tickets, their hint and how far segments reach (segment_lookup).
  alignas(cache_line) std::atomic<std::uint64_t> tail_{0};
  std::atomic<segment*> tail_hint_{nullptr};
  std::atomic<std::uint64_t> appended_{0};
  // Consumers' line.
  alignas(cache_line) std::atomic<std::uint64_t> head_{0};
  std::atomic<segment*> head_hint_{nullptr};
  // Slow path.
  alignas(cache_line) std::mutex mutex_;
  segment_list<segment> segments_;  // guarded by mutex_
};

}  // namespace bobbin::detail
