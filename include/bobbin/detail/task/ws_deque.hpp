#pragma once
// detail::ws_deque<T>: the Chase-Lev work-stealing deque, after "Correct and Efficient
// Work-Stealing for Weak Memory Models" (Lê, Pop, Cohen, Zappa Nardelli, PPoPP 2013),
// growable, holding trivially copyable values inline.
//
// Contract:
// - One owner thread calls push(), pop() and pop_in_place() (LIFO end, "bottom"). Any
//   thread may call steal() (FIFO end, "top") concurrently with the owner and thieves.
// - Every pushed value is returned exactly once, by a pop or by a successful steal().
// - size_approx()/empty_approx() may be called from any thread; they are snapshots.
// - The deque never shrinks. Arrays outgrown by push() are retired, not freed, until the
//   deque is destroyed: a thief may still be reading one.
// - Layout: top_ (thieves' CAS), bottom_ with the owner's copy of the array, and array_
//   sit on three cache lines; an array's capacity is a power of two. check_layout()
//   asserts the lines with offsetof at compile time.
//
// Values are stored as arrays of 64-bit atomic words. A thief copies a slot before its CAS
// on top decides whether the copy is its to keep; the owner may be overwriting that slot
// only once top has moved past it, in which case the CAS fails and the torn copy is
// dropped. Relaxed atomic words make that speculative read well-defined (and visible to
// TSan), which is why T must be trivially copyable.
//
// Memory orders: instead of the paper's stand-alone fences (which TSan cannot model), the
// two places that need store->load ordering use seq_cst accesses on top/bottom: a pop's
// store of bottom and claim()'s load of top, steal()'s loads of top then bottom, the CAS.
// On x86 this costs what the fences cost (one locked instruction in pop, none in steal).
// pop(out, no_thief) drops pop's fence for a caller whose thieves announce themselves and
// run the heavy side of detail::asymmetric_fence before stealing (see that overload); the
// work_stealing policy pops that way, so a fork-join spawn costs no locked instruction.

#include <atomic>
#include <cassert>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <type_traits>
#include <utility>
#include <vector>

#include "../config.hpp"
#include "../sync/asymmetric_fence.hpp"

namespace bobbin::detail {

enum class steal_status { success, empty, lost_race };

template <class T>
  requires std::is_trivially_copyable_v<T> && (sizeof(T) % sizeof(std::uint64_t) == 0)
class ws_deque {
  static constexpr std::size_t words = sizeof(T) / sizeof(std::uint64_t);

  struct slot {
    std::atomic<std::uint64_t> w[words];
  };

  // Word by word between a slot and the value itself: no intermediate copy, whose wide
  // reads of just-written narrow stores would stall store forwarding. Unrolled by a fold
  // (a loop of 8 is not unrolled at -O2).
  BOBBIN_ALWAYS_INLINE static void put(slot& s, const T& v) noexcept {
    const auto* src = reinterpret_cast<const unsigned char*>(&v);
    [&]<std::size_t... k>(std::index_sequence<k...>) BOBBIN_ALWAYS_INLINE {
      (s.w[k].store(word_at(src + k * sizeof(std::uint64_t)), std::memory_order_relaxed), ...);
    }(std::make_index_sequence<words>{});
  }
  // Only the first N words (a value whose other words are never read).
  template <std::size_t N>
  BOBBIN_ALWAYS_INLINE static void put_prefix(slot& s, const T& v) noexcept {
    static_assert(N <= words);
    const auto* src = reinterpret_cast<const unsigned char*>(&v);
    [&]<std::size_t... k>(std::index_sequence<k...>) BOBBIN_ALWAYS_INLINE {
      (s.w[k].store(word_at(src + k * sizeof(std::uint64_t)), std::memory_order_relaxed), ...);
    }(std::make_index_sequence<N>{});
  }
  BOBBIN_ALWAYS_INLINE static void get(const slot& s, T& out) noexcept { get(s.w, out); }
  BOBBIN_ALWAYS_INLINE static void get(const std::atomic<std::uint64_t>* w, T& out) noexcept {
    auto* dst = reinterpret_cast<unsigned char*>(&out);
    [&]<std::size_t... k>(std::index_sequence<k...>) BOBBIN_ALWAYS_INLINE {
      (set_word(dst + k * sizeof(std::uint64_t), w[k].load(std::memory_order_relaxed)), ...);
    }(std::make_index_sequence<words>{});
  }
  static std::uint64_t word_at(const unsigned char* p) noexcept {
    std::uint64_t w;
    std::memcpy(&w, p, sizeof w);
    return w;
  }
  static void set_word(unsigned char* p, std::uint64_t w) noexcept { std::memcpy(p, &w, sizeof w); }

  // A power of two (the constructor rounds up, grow() doubles): slots are found with mask.
  struct array {
    explicit array(std::int64_t cap) : capacity(cap), mask(cap - 1), slots(new slot[static_cast<std::size_t>(cap)]) {
      assert(cap >= 2 && (cap & (cap - 1)) == 0);
    }
    std::int64_t capacity;
    std::int64_t mask;
    std::unique_ptr<slot[]> slots;
    slot& at(std::int64_t i) const noexcept { return slots[static_cast<std::size_t>(i & mask)]; }
  };

 public:
  explicit ws_deque(std::size_t initial_capacity = 256) {
    check_layout();
    std::size_t cap = 2;
    while (cap < initial_capacity) cap *= 2;
    auto a = std::make_unique<array>(static_cast<std::int64_t>(cap));
    array_.store(a.get(), std::memory_order_relaxed);
    own_slots_ = a->slots.get();
    own_mask_ = a->mask;
    arrays_.push_back(std::move(a));
  }
  ws_deque(const ws_deque&) = delete;
  ws_deque& operator=(const ws_deque&) = delete;

  // Owner only.
  BOBBIN_ALWAYS_INLINE void push(const T& v) {
    const std::int64_t b = bottom_.load(std::memory_order_relaxed);
    // acquire: pairs with the thieves' CAS on top, so slots they vacated may be reused.
    const std::int64_t t = top_.load(std::memory_order_acquire);
    if (b - t > own_mask_) grow(t, b);
    put(own_slot(b), v);
    // release: a thief that sees the new bottom sees the slot's contents.
    bottom_.store(b + 1, std::memory_order_release);
  }

  // Owner only. Like push(), for a value whose words past the first N are never read (a
  // coroutine's resumption: ops, depth and a handle); the rest of the slot keeps whatever
  // it held, which a thief's copy may carry along harmlessly.
  template <std::size_t N>
  BOBBIN_ALWAYS_INLINE void push_prefix(const T& v) {
    const std::int64_t b = bottom_.load(std::memory_order_relaxed);
    const std::int64_t t = top_.load(std::memory_order_acquire);  // as in push()
    if (b - t > own_mask_) grow(t, b);
    put_prefix<N>(own_slot(b), v);
    bottom_.store(b + 1, std::memory_order_release);  // as in push()
  }

  // Owner only. LIFO. Writes the value to `out` and returns true, or returns false
  // (`out` untouched) when the deque is empty.
  bool pop(T& out) noexcept { return copy_out(pop_in_place(), out); }

  // Owner only. Like pop(), but without the store->load fence when `no_thief()`, called
  // after bottom is stored, says that no thief can be stealing: for a caller whose thieves
  // first announce themselves (where no_thief() looks) and then run
  // asymmetric_fence::heavy() before their first steal(). That is the asymmetric
  // fence's handshake, [store bottom; light(); load announcement] against [store
  // announcement; heavy(); load bottom]: either this pop sees the announcement and fences,
  // or the thief's loads of bottom see this pop's store, which is what the fence is for.
  template <class NoThief>
  BOBBIN_ALWAYS_INLINE bool pop(T& out, NoThief&& no_thief) noexcept {
    return copy_out(pop_in_place(std::forward<NoThief>(no_thief)), out);
  }

  // Owner only. The two pops without the copy: the popped value's words (sizeof(T) / 8
  // relaxed atomic words, in T's layout), or nullptr when the deque is empty. The words
  // stay the owner's until its next push(), which may reuse them: a thief may still read a
  // popped slot (its CAS on top then fails), but only the owner writes slots.
  const std::atomic<std::uint64_t>* pop_in_place() noexcept {
    const std::int64_t b = bottom_.load(std::memory_order_relaxed) - 1;
    // seq_cst store then seq_cst load: the store to bottom must be ordered before the load
    // of top, or a thief and the owner could both take the last value.
    bottom_.store(b, std::memory_order_seq_cst);
    return claim(b);
  }
  template <class NoThief>
  BOBBIN_ALWAYS_INLINE const std::atomic<std::uint64_t>* pop_in_place(NoThief&& no_thief) noexcept {
    const std::int64_t b = bottom_.load(std::memory_order_relaxed) - 1;
    bottom_.store(b, std::memory_order_release);  // not relaxed: "F2", models/README.md
    asymmetric_fence::light();
    if (!no_thief()) seq_cst_fence();
    return claim(b);
  }

 private:
  // Bottom has been lowered to b: the value there is the owner's unless the deque was
  // empty, or it was the last one and a thief took it.
  BOBBIN_ALWAYS_INLINE const std::atomic<std::uint64_t>* claim(std::int64_t b) noexcept {
    std::int64_t t = top_.load(std::memory_order_seq_cst);
    if (t > b) {  // empty
      bottom_.store(b + 1, std::memory_order_relaxed);
      return nullptr;
    }
    if (t == b) {
      // The last value: race the thieves for it through top. seq_cst on failure too: with a
      // relaxed failure, C++20 lets the store of bottom below become visible before the
      // failed CAS, and a thief could take the slot's old contents as a success (found by
      // the model check, models/README.md; not possible on x86 or ARMv8, same code there).
      // The winner reads the slot after the CAS: nobody but the owner writes it.
      const bool won = top_.compare_exchange_strong(t, t + 1, std::memory_order_seq_cst);
      bottom_.store(b + 1, std::memory_order_relaxed);
      if (!won) return nullptr;
    }
    return own_slot(b).w;
  }
  BOBBIN_ALWAYS_INLINE static bool copy_out(const std::atomic<std::uint64_t>* w, T& out) noexcept {
    if (w == nullptr) return false;
    get(w, out);
    return true;
  }

 public:
  // Any thread. FIFO. On success writes the value to `out`; otherwise `out` may have been
  // overwritten with garbage. With a predicate, steals only a value it accepts: the copy
  // read before the CAS is judged, and a refused one is left in place (reported empty).
  steal_status steal(T& out) noexcept {
    return steal(out, [](const T&) { return true; });
  }

  template <class Pred>
  steal_status steal(T& out, Pred&& accept) noexcept {
    // seq_cst loads, top before bottom: see the comment on pop_in_place().
    std::int64_t t = top_.load(std::memory_order_seq_cst);
    const std::int64_t b = bottom_.load(std::memory_order_seq_cst);
    if (t >= b) return steal_status::empty;
    // acquire: pairs with grow()'s release, so the array's contents are visible.
    get(array_.load(std::memory_order_acquire)->at(t), out);
    if (!accept(out)) {
      // A torn copy may be refused wrongly: then the value is simply not taken now.
      return steal_status::empty;
    }
    if (!top_.compare_exchange_strong(t, t + 1, std::memory_order_seq_cst, std::memory_order_relaxed)) {
      return steal_status::lost_race;
    }
    return steal_status::success;
  }

  // Owner only: a copy of the newest value, if any (for a look before popping).
  bool peek_bottom(T& out) const noexcept {
    const std::int64_t b = bottom_.load(std::memory_order_relaxed);
    const std::int64_t t = top_.load(std::memory_order_seq_cst);
    if (b <= t) return false;
    get(own_slot(b - 1), out);
    return true;
  }

  // Any thread: a copy of the oldest value, if any; possibly torn (a hint, not a value).
  bool peek_top(T& out) const noexcept {
    const std::int64_t t = top_.load(std::memory_order_seq_cst);
    const std::int64_t b = bottom_.load(std::memory_order_seq_cst);
    if (t >= b) return false;
    get(array_.load(std::memory_order_acquire)->at(t), out);
    return true;
  }

  std::size_t size_approx() const noexcept {
    const std::int64_t b = bottom_.load(std::memory_order_relaxed);
    const std::int64_t t = top_.load(std::memory_order_relaxed);
    return b > t ? static_cast<std::size_t>(b - t) : 0;
  }
  // seq_cst: used by a worker's last look before it sleeps (see pool.hpp).
  bool empty_approx() const noexcept {
    const std::int64_t t = top_.load(std::memory_order_seq_cst);
    const std::int64_t b = bottom_.load(std::memory_order_seq_cst);
    return b <= t;
  }
  std::size_t capacity() const noexcept {
    return static_cast<std::size_t>(array_.load(std::memory_order_relaxed)->capacity);
  }

 private:
  slot& own_slot(std::int64_t i) const noexcept { return own_slots_[static_cast<std::size_t>(i & own_mask_)]; }

  BOBBIN_NOINLINE void grow(std::int64_t t, std::int64_t b) {
    const array* old = array_.load(std::memory_order_relaxed);
    auto bigger = std::make_unique<array>(old->capacity * 2);
    for (std::int64_t i = t; i < b; ++i) {
      T v;
      get(old->at(i), v);
      put(bigger->at(i), v);
    }
    array* a = bigger.get();
    arrays_.push_back(std::move(bigger));  // the old one stays alive for thieves
    // release: thieves that load the new array see the copied slots.
    array_.store(a, std::memory_order_release);
    own_slots_ = a->slots.get();
    own_mask_ = a->mask;
  }

  // The layout the members' comments promise, checked where the class is complete (as
  // rigtorp's MPMCQueue does in its constructor; offsetof needs a standard-layout class).
  static constexpr void check_layout() noexcept {
    static_assert(std::is_standard_layout_v<ws_deque>, "offsetof below needs a standard-layout deque");
    static_assert(std::atomic<std::int64_t>::is_always_lock_free && std::atomic<std::uint64_t>::is_always_lock_free,
                  "top, bottom and the slots' words must be lock-free");
    static_assert(sizeof(slot) == sizeof(T), "a slot holds T's bytes as words, in T's layout");
    static_assert(alignof(ws_deque) >= cache_line && offsetof(ws_deque, top_) % cache_line == 0,
                  "top_ (the thieves' CAS) must start a cache line of its own");
    static_assert(offsetof(ws_deque, bottom_) % cache_line == 0 &&
                      offsetof(ws_deque, bottom_) >= offsetof(ws_deque, top_) + cache_line,
                  "bottom_ (the owner's) must sit on another cache line than top_");
    static_assert(offsetof(ws_deque, own_slots_) > offsetof(ws_deque, bottom_) &&
                      offsetof(ws_deque, own_mask_) + sizeof(own_mask_) <= offsetof(ws_deque, bottom_) + cache_line,
                  "the owner's copy of the array must share bottom_'s cache line");
    static_assert(offsetof(ws_deque, array_) % cache_line == 0 &&
                      offsetof(ws_deque, array_) >= offsetof(ws_deque, bottom_) + cache_line,
                  "array_ (the thieves' way to the slots) must sit on a line apart from bottom_'s");
    static_assert(sizeof(ws_deque) % cache_line == 0, "the deque must not share its last line with a neighbour");
  }

  // Thieves' line (top_), owner's line (bottom_ and its copy of the array), and the array.
  alignas(cache_line) std::atomic<std::int64_t> top_{0};
  alignas(cache_line) std::atomic<std::int64_t> bottom_{0};
  // The owner's copy of the current array (it alone replaces it), beside bottom_: its push
  // and pop reach a slot without the loads through array_.
  slot* own_slots_ = nullptr;
  std::int64_t own_mask_ = 0;
  alignas(cache_line) std::atomic<array*> array_{nullptr};
  std::vector<std::unique_ptr<array>> arrays_;  // owner only (and the destructor)
};

}  // namespace bobbin::detail
