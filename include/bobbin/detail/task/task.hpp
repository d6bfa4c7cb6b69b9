#pragma once
// detail::task: a move-only, type-erased, run-once callable of exactly one cache line.
//
// Layout: a pointer to a static table of operations, the task's fork-join depth (set by
// the pool: 0 for a task from outside, its parent's + 1 for a task submitted by a task),
// and 48 bytes of storage. A callable lives inline when it is trivially copyable, at most
// 48 bytes and at most 8-aligned;
// otherwise it is moved into one heap box and the storage holds the pointer. Either way the
// task's bytes can be copied to move it (it is trivially relocatable), which lets the
// work-stealing deque keep tasks inline in atomic words: a spawned task costs no
// allocation. (libstdc++'s std::function uses the same rule for its small buffer.)
//
// Running consumes the task and returns its task_outcome. Destroying a task that never ran cancels it: the callable is
// destroyed without being called and, if it asks for it (a `cancel()` member marked by
// `using bobbin_cancel_hook = void;`), told so; this is how a future learns that its task
// was cancelled and how no accepted task is lost silently.
//
// Thread-safety: a task is a plain value; one thread owns it at a time.

#include <atomic>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <new>
#include <type_traits>
#include <utility>

#include "../config.hpp"

namespace bobbin::detail {

// How a task ended, for the pool's statistics: what task::run() returns. A callable that
// catches its own exception (a future's runner, a task group's member) says so by
// returning task_outcome; any other callable ends ok unless it throws. `suspended`: the
// task ran a coroutine, which is counted when its root ends (detail/coro/root.hpp), not
// when a run of it returns.
enum class task_outcome : std::uint8_t { ok, failed, cancelled, suspended };

// A callable marked `using bobbin_always_runs = void;` is run even while its pool cancels
// queued tasks (shutdown_now): the resumption of a suspended coroutine, which must run to
// observe its stop request and unwind (detail/coro/promise.hpp).
template <class F>
concept always_runs = requires { typename F::bobbin_always_runs; };

template <class F>
concept has_cancel_hook = requires(F& f) {
  typename F::bobbin_cancel_hook;
  { f.cancel() } noexcept;
};

class task {
 public:
  static constexpr std::size_t inline_size = 48;

  // The trivially copyable representation the deque moves around.
  struct raw {
    const void* ops;      // const ops_table*; nullptr when empty
    std::uint32_t depth;  // fork-join depth (see the top); the pool's business
    std::uint32_t unused;  // written together with depth, as one 8-byte word (set_depth)
    alignas(8) unsigned char storage[inline_size];
  };
  static_assert(sizeof(raw) == 64 && std::is_trivially_copyable_v<raw>);

  template <class F>
  static constexpr bool stored_inline = std::is_trivially_copyable_v<F> && sizeof(F) <= inline_size && alignof(F) <= 8;

  // Empty. The storage is left uninitialised: it is written before it is read.
  task() noexcept {
    raw_.ops = nullptr;
    set_depth(0);
  }

  template <class F>
    requires(!std::is_same_v<std::remove_cvref_t<F>, task> && std::is_invocable_v<std::decay_t<F>&>)
  explicit task(F&& f) {
    using Fn = std::decay_t<F>;
    // A task may be destroyed where nobody can take an exception (a cancelled task in a
    // queue's destructor, a worker's loop): refuse the callable here, as channels refuse
    // such messages.
    static_assert(std::is_nothrow_destructible_v<Fn>,
                  "bobbin: a task's callable, and everything it captures or is given, must not throw from its "
                  "destructor");
    if constexpr (stored_inline<Fn>) {
      ::new (static_cast<void*>(raw_.storage)) Fn(std::forward<F>(f));
    } else {
      Fn* boxed = new Fn(std::forward<F>(f));
      std::memcpy(raw_.storage, &boxed, sizeof boxed);
    }
    raw_.ops = &ops_for<Fn>;
    set_depth(0);
  }

  task(task&& other) noexcept : raw_(other.raw_) { other.raw_.ops = nullptr; }
  task& operator=(task&& other) noexcept {
    if (this != &other) {
      reset();
      raw_ = other.raw_;
      other.raw_.ops = nullptr;
    }
    return *this;
  }
  task(const task&) = delete;
  task& operator=(const task&) = delete;
  ~task() { reset(); }

  explicit operator bool() const noexcept { return raw_.ops != nullptr; }

  // Whether the callable must run even while its pool cancels (see always_runs).
  bool runs_when_cancelled() const noexcept {
    return raw_.ops != nullptr && static_cast<const ops_table*>(raw_.ops)->runs_always;
  }

  // Runs the callable and destroys it, leaving the task empty; returns how it ended (see
  // task_outcome). Exceptions propagate (the callable is destroyed first either way).
  task_outcome run() {
    const auto* ops = static_cast<const ops_table*>(std::exchange(raw_.ops, nullptr));
    return ops->run(raw_.storage);
  }

  // Destroys the callable without running it (telling it so); the task becomes empty.
  void reset() noexcept {
    if (raw_.ops != nullptr) {
      static_cast<const ops_table*>(std::exchange(raw_.ops, nullptr))->cancel(raw_.storage);
    }
  }

  // Destroys the callable without running it and without its cancel hook, for a task that
  // was never accepted anywhere; the task becomes empty.
  void discard() noexcept {
    if (raw_.ops != nullptr) {
      static_cast<const ops_table*>(std::exchange(raw_.ops, nullptr))->discard(raw_.storage);
    }
  }

  // For queues that move tasks as bytes: copy bytes() somewhere, then forget() (the task
  // no longer owns the callable); or fill an empty task's bytes() and it owns what they hold.
  raw& bytes() noexcept { return raw_; }
  const raw& bytes() const noexcept { return raw_; }
  void forget() noexcept { raw_.ops = nullptr; }
  std::uint32_t depth() const noexcept { return raw_.depth; }
  // One 8-byte store for depth and its neighbour: the deque moves tasks as 8-byte words,
  // and an 8-byte load of a word whose half was just stored alone cannot be forwarded from
  // the store buffer (a stall of some 15 cycles per spawn, measured with perf).
  void set_depth(std::uint32_t d) noexcept {
    const std::uint64_t w = std::endian::native == std::endian::little ? std::uint64_t{d} : std::uint64_t{d} << 32;
    static_assert(offsetof(raw, unused) == offsetof(raw, depth) + sizeof(std::uint32_t));
    std::memcpy(reinterpret_cast<unsigned char*>(&raw_) + offsetof(raw, depth), &w, sizeof w);
  }
  raw release() noexcept {
    raw r = raw_;
    raw_.ops = nullptr;
    return r;
  }
  static task adopt(const raw& r) noexcept {
    task t;
    t.raw_ = r;
    return t;
  }

  // A task can also be run where it lies as words (a work-stealing deque's slot: raw's
  // bytes, 8 to a relaxed atomic word), without first copying all 64 bytes out: the
  // fork-join path, where a spawned task is popped again at once and the copy's loads
  // would wait on the copy's stores. run_words() copies only the callable out of the words
  // before calling it, so the callable may overwrite them while it runs (its first spawn
  // reuses the slot). The caller owns the words: nobody else writes them meanwhile.
  using word = std::atomic<std::uint64_t>;
  static constexpr std::size_t word_count = sizeof(raw) / sizeof(std::uint64_t);
  static constexpr std::size_t storage_word = offsetof(raw, storage) / sizeof(std::uint64_t);
  static std::uint32_t depth_of(const word* w) noexcept { return field<std::uint32_t, offsetof(raw, depth)>(w); }
  static task_outcome run_words(const word* w) {
    const auto* ops = static_cast<const ops_table*>(field<const void*, offsetof(raw, ops)>(w));
    return ops->run_words(w + storage_word);
  }
  // Whether the words hold a task whose callable is exactly `f` (a callable of one word,
  // stored inline): how a coroutine's join recognises its own child's resumption.
  template <class Fn>
    requires(stored_inline<Fn> && sizeof(Fn) == sizeof(std::uint64_t))
  static bool words_hold(const word* w, const Fn& f) noexcept {
    return field<const void*, offsetof(raw, ops)>(w) == &ops_for<Fn> &&
           w[storage_word].load(std::memory_order_relaxed) == std::bit_cast<std::uint64_t>(f);
  }
  // The task held in the words, as an owning task (to cancel it, or to move it elsewhere).
  static task adopt_words(const word* w) noexcept {
    task t;
    [&]<std::size_t... k>(std::index_sequence<k...>) BOBBIN_ALWAYS_INLINE {
      (store_word(reinterpret_cast<unsigned char*>(&t.raw_) + k * sizeof(std::uint64_t),
                  w[k].load(std::memory_order_relaxed)),
       ...);
    }(std::make_index_sequence<word_count>{});
    return t;
  }

 private:
  struct ops_table {
    task_outcome (*run)(unsigned char* storage);
    task_outcome (*run_words)(const word* storage);
    void (*cancel)(unsigned char* storage) noexcept;
    void (*discard)(unsigned char* storage) noexcept;
    bool runs_always;
  };

  template <class Fn>
  static Fn* object(unsigned char* storage) noexcept {
    if constexpr (stored_inline<Fn>) {
      return std::launder(reinterpret_cast<Fn*>(storage));
    } else {
      Fn* boxed;
      std::memcpy(&boxed, storage, sizeof boxed);
      return boxed;
    }
  }

  template <class Fn>
  static void destroy(Fn* f) noexcept {
    if constexpr (stored_inline<Fn>) {
      f->~Fn();
    } else {
      delete f;
    }
  }

  // Calls f: a runner that catches its callable's exception (a future's, a task group's)
  // returns the outcome; any other callable's result is ignored, its outcome is ok.
  template <class Fn>
  BOBBIN_ALWAYS_INLINE static task_outcome call(Fn& f) {
    if constexpr (std::is_same_v<decltype(f()), task_outcome>) {
      return f();
    } else {
      f();
      return task_outcome::ok;
    }
  }

  template <class Fn>
  static task_outcome run_impl(unsigned char* storage) {
    Fn* f = object<Fn>(storage);
    struct guard {
      Fn* f;
      ~guard() { destroy(f); }
    } g{f};
    return call(*f);
  }

  template <class Fn>
  static task_outcome run_words_impl(const word* storage) {
    if constexpr (stored_inline<Fn>) {
      // Trivially copyable and destructible: a copy of the bytes is the callable. Loaded
      // word by word and bit_cast, it is built in registers, not through the stack.
      constexpr std::size_t k = (sizeof(Fn) + sizeof(std::uint64_t) - 1) / sizeof(std::uint64_t);
      struct image {
        std::uint64_t v[k];
      } img;
      [&]<std::size_t... i>(std::index_sequence<i...>) BOBBIN_ALWAYS_INLINE {
        ((img.v[i] = storage[i].load(std::memory_order_relaxed)), ...);
      }(std::make_index_sequence<k>{});
      if constexpr (sizeof(Fn) == sizeof(image)) {
        Fn f = std::bit_cast<Fn>(img);
        return call(f);
      } else {
        struct padded {
          Fn f;
          unsigned char pad[sizeof(image) - sizeof(Fn)];
        };
        static_assert(sizeof(padded) == sizeof(image));
        Fn f = std::bit_cast<padded>(img).f;
        return call(f);
      }
    } else {
      unsigned char copy[sizeof(std::uint64_t)];
      store_word(copy, storage[0].load(std::memory_order_relaxed));
      return run_impl<Fn>(copy);  // the storage holds the box's address
    }
  }

  static void store_word(unsigned char* p, std::uint64_t v) noexcept { std::memcpy(p, &v, sizeof v); }
  // A field of raw that lies within one word.
  template <class T, std::size_t Offset>
  static T field(const word* w) noexcept {
    static_assert(std::is_trivially_copyable_v<T> &&
                  Offset % sizeof(std::uint64_t) + sizeof(T) <= sizeof(std::uint64_t));
    const std::uint64_t v = w[Offset / sizeof v].load(std::memory_order_relaxed);
    T out;
    std::memcpy(&out, reinterpret_cast<const unsigned char*>(&v) + Offset % sizeof v, sizeof out);
    return out;
  }

  template <class Fn>
  static void cancel_impl(unsigned char* storage) noexcept {
    Fn* f = object<Fn>(storage);
    if constexpr (has_cancel_hook<Fn>) f->cancel();
    destroy(f);
  }

  template <class Fn>
  static void discard_impl(unsigned char* storage) noexcept {
    destroy(object<Fn>(storage));
  }

  template <class Fn>
  static constexpr ops_table ops_for{&run_impl<Fn>, &run_words_impl<Fn>, &cancel_impl<Fn>, &discard_impl<Fn>,
                                     always_runs<Fn>};

  raw raw_;
};

static_assert(sizeof(task) == 64);

}  // namespace bobbin::detail
