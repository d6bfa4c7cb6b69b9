#pragma once
// The tests' one replacement of the global operator new / delete: it counts allocations and
// can make the Nth allocation fail (std::bad_alloc, or nullptr from the nothrow forms).
//
// Include this header from exactly ONE translation unit of a program. It defines the
// replaceable allocation functions, which the standard forbids declaring inline and allows
// once per program; a second TU that includes it makes the link fail with a multiple
// definition of operator new (loudly, never silently). In tests/ that is the rule already:
// every tests/test_*.cpp is a program of its own with main.cpp (tests/CMakeLists.txt), and
// main.cpp does not include it; so a test file includes it and nothing else does. The
// state below is `inline` and could be shared, but only this TU has a use for it.
//
// Failures: armed a(n) makes the n-th counted allocation from now fail, counting only the
// threads that take part: the thread that armed it, or, armed with inject::on_pool_threads,
// every thread that set inject::is_pool_thread (a pool's on_thread_start does). doctest and
// other threads allocate undisturbed. a.hit() says whether a failure was injected.
//
// Counts: inject::allocations counts every call of the unaligned forms (new, new[], their
// nothrow forms) on any thread, inject::aligned_allocations the aligned ones, armed or not.
// (The counting test_pool_alloc.cpp checks `allocations`, which is what its own operator
// new counted before this header: libstdc++'s aligned operator new never reached it.)

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdlib>
#include <new>

namespace bobbin_test::inject {

// > 0: armed; the counted allocation that takes it from 1 to 0 fails. Then it stays <= 0.
inline std::atomic<long> countdown{0};
inline std::atomic<long> injected{0};  // failures injected so far
inline std::atomic<bool> pool_threads_count{false};
inline std::atomic<long> allocations{0};
inline std::atomic<long> aligned_allocations{0};
// constinit: no TLS guard, so reading them inside operator new is safe at any time.
inline constinit thread_local bool this_thread_counts = false;
inline constinit thread_local bool is_pool_thread = false;  // set by the pools' on_thread_start

inline bool fail_now() noexcept {
  if (!this_thread_counts && !(is_pool_thread && pool_threads_count.load(std::memory_order_relaxed))) return false;
  if (countdown.load(std::memory_order_relaxed) <= 0) return false;
  if (countdown.fetch_sub(1, std::memory_order_relaxed) != 1) return false;
  injected.fetch_add(1, std::memory_order_relaxed);
  return true;
}

enum scope { this_thread, on_pool_threads };

// Arms the injection for its lifetime: the n-th counted allocation from now fails.
class armed {
 public:
  explicit armed(long n, scope s = this_thread) : scope_(s), before_(injected.load()) {
    countdown.store(n);
    if (s == this_thread) {
      this_thread_counts = true;
    } else {
      pool_threads_count.store(true);
    }
  }
  armed(const armed&) = delete;
  armed& operator=(const armed&) = delete;
  ~armed() { disarm(); }

  // Idempotent; after it, nothing more is injected.
  void disarm() noexcept {
    countdown.store(0);
    if (scope_ == this_thread) {
      this_thread_counts = false;
    } else {
      pool_threads_count.store(false);
    }
  }
  // Whether a failure was injected since construction.
  bool hit() const noexcept { return injected.load() != before_; }

 private:
  scope scope_;
  long before_;
};

inline void* allocate(std::size_t n) noexcept {
  allocations.fetch_add(1, std::memory_order_relaxed);
  return std::malloc(n == 0 ? 1 : n);
}

inline void* allocate(std::size_t n, std::align_val_t al) noexcept {
  aligned_allocations.fetch_add(1, std::memory_order_relaxed);
  const auto a = std::max(static_cast<std::size_t>(al), sizeof(void*));
  void* p = nullptr;
  return posix_memalign(&p, a, n == 0 ? a : n) == 0 ? p : nullptr;
}

}  // namespace bobbin_test::inject

// Replacements built on malloc/free are exactly what the standard allows; g++ cannot see
// that the pairs match (its warning would fire where the including TU's news and deletes
// are inlined, so it stays off for the rest of that TU).
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#endif

void* operator new(std::size_t n) {
  if (bobbin_test::inject::fail_now()) throw std::bad_alloc();
  if (void* p = bobbin_test::inject::allocate(n)) return p;
  throw std::bad_alloc();
}
void* operator new[](std::size_t n) { return ::operator new(n); }
void* operator new(std::size_t n, const std::nothrow_t&) noexcept {
  return bobbin_test::inject::fail_now() ? nullptr : bobbin_test::inject::allocate(n);
}
void* operator new[](std::size_t n, const std::nothrow_t&) noexcept { return ::operator new(n, std::nothrow); }
void* operator new(std::size_t n, std::align_val_t al) {
  if (bobbin_test::inject::fail_now()) throw std::bad_alloc();
  if (void* p = bobbin_test::inject::allocate(n, al)) return p;
  throw std::bad_alloc();
}
void* operator new[](std::size_t n, std::align_val_t al) { return ::operator new(n, al); }
void* operator new(std::size_t n, std::align_val_t al, const std::nothrow_t&) noexcept {
  return bobbin_test::inject::fail_now() ? nullptr : bobbin_test::inject::allocate(n, al);
}
void* operator new[](std::size_t n, std::align_val_t al, const std::nothrow_t&) noexcept {
  return ::operator new(n, al, std::nothrow);
}

void operator delete(void* p) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t) noexcept { std::free(p); }
void operator delete(void* p, const std::nothrow_t&) noexcept { std::free(p); }
void operator delete[](void* p, const std::nothrow_t&) noexcept { std::free(p); }
void operator delete(void* p, std::align_val_t) noexcept { std::free(p); }
void operator delete[](void* p, std::align_val_t) noexcept { std::free(p); }
void operator delete(void* p, std::size_t, std::align_val_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t, std::align_val_t) noexcept { std::free(p); }
void operator delete(void* p, std::align_val_t, const std::nothrow_t&) noexcept { std::free(p); }
void operator delete[](void* p, std::align_val_t, const std::nothrow_t&) noexcept { std::free(p); }
