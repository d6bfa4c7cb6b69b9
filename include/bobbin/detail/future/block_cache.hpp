#pragma once
// detail::block_cache<Size>: per-thread free lists of fixed-size blocks, for future states.
//
// Contract: allocate() and deallocate() may be called from any thread; a block may be
// freed on another thread than the one that allocated it (it joins that thread's list).
// Each thread keeps at most `max_cached` blocks per size and returns the rest, and all it
// holds when it exits, to operator new's heap. No synchronisation: each list is touched
// only by its own thread. Under AddressSanitizer the cache is bypassed, so that every
// use after free is still caught.

#include <cstddef>
#include <new>
#include <utility>

#include "../config.hpp"
#include "../thread_state.hpp"

namespace bobbin::detail {

template <std::size_t Size>
class block_cache {
  static_assert(Size >= sizeof(void*) && Size % alignof(std::max_align_t) == 0);
  static constexpr std::size_t max_cached = 4096;

  using node = free_block_list::node;
  using list = free_block_list;
  static list& local() noexcept { return free_blocks<Size>(); }

 public:
  static void* allocate() {
    if constexpr (!BOBBIN_ASAN) {
      list& l = local();
      if (l.head != nullptr) {
        --l.count;
        return std::exchange(l.head, l.head->next);
      }
    }
    return ::operator new(Size);
  }

  static void deallocate(void* p) noexcept {
    if constexpr (!BOBBIN_ASAN) {
      list& l = local();
      if (l.count < max_cached) {
        l.head = ::new (p) node{l.head};
        ++l.count;
        return;
      }
    }
    ::operator delete(p);
  }
};

// Class-specific operator new/delete for a type T: blocks from the cache of T's size
// rounded up to a multiple of 64 (so a few sizes share lists), up to 512 bytes.
template <class T>
struct cached_allocation {
  static constexpr std::size_t rounded = (sizeof(T) + 63) / 64 * 64;
  static constexpr bool cached = rounded <= 512 && alignof(T) <= alignof(std::max_align_t);

  static void* allocate() {
    if constexpr (cached) {
      return block_cache<rounded>::allocate();
    } else {
      return ::operator new(sizeof(T));
    }
  }
  static void deallocate(void* p) noexcept {
    if constexpr (cached) {
      block_cache<rounded>::deallocate(p);
    } else {
      ::operator delete(p);
    }
  }
};

}  // namespace bobbin::detail
