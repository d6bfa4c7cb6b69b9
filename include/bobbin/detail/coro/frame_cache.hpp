#pragma once
// detail::frame_cache: where bobbin::task's coroutine frames come from. Per-thread free
// lists by size class (multiples of 64 bytes, up to 1 KiB), so that steady-state
// fork-join with coroutines allocates nothing: a frame freed goes to the freeing
// thread's list, and the next frame of its class on that thread reuses it.
//
// Contract: allocate() and deallocate() from any thread; a frame may be freed on another
// thread than the one that allocated it (work stealing moves coroutines), and then joins
// that thread's list. No synchronisation: each list is touched by its own thread only.
// Each list keeps at most max_cached frames; the rest, and everything a thread holds when
// it exits, goes back to operator new's heap. Larger frames come from the heap directly.
// Under AddressSanitizer the cache is bypassed, so that every use after free is caught.

#include <cstddef>
#include <new>
#include <utility>

#include "../config.hpp"
#include "../thread_state.hpp"

namespace bobbin::detail {

class frame_cache {
  static constexpr std::size_t granule = 64;
  static constexpr std::size_t max_cached = 1024;
  static constexpr std::size_t largest = granule * free_frame_lists::classes;

  static std::size_t class_of(std::size_t n) noexcept { return (n - 1) / granule; }

 public:
  BOBBIN_ALWAYS_INLINE static void* allocate(std::size_t n) {
    if constexpr (!BOBBIN_ASAN) {
      free_frame_lists* lists = free_frames();
      if (n <= largest && lists != nullptr) [[likely]] {
        free_block_list& l = lists->by_class[class_of(n)];
        if (l.head != nullptr) [[likely]] {
          --l.count;
          return std::exchange(l.head, l.head->next);
        }
        return ::operator new((class_of(n) + 1) * granule);
      }
    }
    return ::operator new(n);
  }

  BOBBIN_ALWAYS_INLINE static void deallocate(void* p, std::size_t n) noexcept {
    if constexpr (!BOBBIN_ASAN) {
      free_frame_lists* lists = free_frames();
      if (n <= largest && lists != nullptr) [[likely]] {
        free_block_list& l = lists->by_class[class_of(n)];
        if (l.count < max_cached) [[likely]] {
          l.head = ::new (p) free_block_list::node{l.head};
          ++l.count;
          return;
        }
      }
    }
    ::operator delete(p);
  }
};

}  // namespace bobbin::detail
