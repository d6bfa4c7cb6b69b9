#pragma once
// bobbin::shared_buffer and bobbin::typed_array<T>: JavaScript's SharedArrayBuffer and its
// integer TypedArray views (Int8Array ... BigUint64Array) for C++.
//
// Contract:
// - A shared_buffer is a handle. Copies share one block of bytes, as posting a
//   SharedArrayBuffer to a worker does; the block lives until the last handle or view
//   is gone. Handles and views may be copied and destroyed on any thread (shared_ptr
//   rules: distinct handle objects, never one object written while another thread
//   reads it). A moved-from handle or view may only be assigned to or destroyed.
// - The bytes start zeroed and never move: a growable buffer reserves max_byte_length
//   bytes up front, so data() and every view stay valid across grow().
// - byte_length() and grow() are thread-safe. grow() is a compare-exchange on the length
//   (seq_cst: ECMA-262 makes the length a sequentially consistent event); byte_length()
//   is an acquire load, so a thread that sees the new length may touch the new bytes.
//   The new bytes were zero from the start, so grow() publishes no data of its own.
// - The bytes carry no synchronisation: plain access (data(), typed_array::operator[],
//   at()) to one element from two threads, one of them writing, is a data race. Shared
//   access goes through bobbin::atomics.
//
// Errors (JavaScript throws RangeError or TypeError for all of these):
// - a misaligned byte offset, or a fixed-length buffer whose length is not a multiple of
//   the element size when a view's length is omitted: std::invalid_argument;
// - a view reaching past the buffer, a byte_length above max_byte_length, grow() above
//   max_byte_length: std::out_of_range;
// - grow() below the current length: std::invalid_argument;
// - grow() on a buffer made without max_byte_length: std::logic_error;
// - typed_array::at() with an index out of range: std::out_of_range.

#include <atomic>
#include <cassert>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <new>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <type_traits>

#include "detail/config.hpp"

namespace bobbin {

namespace detail {

// The bytes behind every handle to one buffer. Allocated with calloc: zero from the
// start, and for a large reservation the kernel hands out zero pages lazily, so a big
// max_byte_length costs address space rather than memory until it is used.
class shared_block {
 public:
  shared_block(std::size_t byte_length, std::size_t max_byte_length, bool growable)
      : max_(max_byte_length), growable_(growable), length_(byte_length) {
    if (max_byte_length > SIZE_MAX - cache_line) throw std::bad_alloc();
    raw_ = std::calloc(max_byte_length + cache_line, 1);
    if (raw_ == nullptr) throw std::bad_alloc();
    const auto address = reinterpret_cast<std::uintptr_t>(raw_);
    const auto aligned = (address + cache_line - 1) & ~std::uintptr_t{cache_line - 1};
    data_ = static_cast<std::byte*>(raw_) + (aligned - address);
  }
  shared_block(const shared_block&) = delete;
  shared_block& operator=(const shared_block&) = delete;
  ~shared_block() { std::free(raw_); }

  std::byte* data() const noexcept { return data_; }
  std::size_t max_byte_length() const noexcept { return max_; }
  bool growable() const noexcept { return growable_; }

  // Acquire: pairs with grow()'s successful exchange (see the contract above).
  std::size_t byte_length() const noexcept { return length_.load(std::memory_order_acquire); }

  void grow(std::size_t new_length) {
    if (!growable_) throw std::logic_error("bobbin::shared_buffer::grow: the buffer is not growable");
    if (new_length > max_)
      throw std::out_of_range("bobbin::shared_buffer::grow: " + std::to_string(new_length) +
                              " bytes exceeds max_byte_length " + std::to_string(max_));
    std::size_t current = length_.load(std::memory_order_seq_cst);
    do {
      if (new_length < current)
        throw std::invalid_argument("bobbin::shared_buffer::grow: " + std::to_string(new_length) +
                                    " bytes is below the current byte_length " + std::to_string(current));
      // seq_cst: growing is a sequentially consistent event in ECMA-262; it also releases
      // the (already zero) bytes to byte_length()'s acquire load.
    } while (!length_.compare_exchange_weak(current, new_length, std::memory_order_seq_cst));
  }

 private:
  void* raw_ = nullptr;
  std::byte* data_ = nullptr;
  std::size_t max_;
  bool growable_;
  std::atomic<std::size_t> length_;
};

[[noreturn]] inline void throw_index_out_of_range(std::size_t index, std::size_t size) {
  throw std::out_of_range("bobbin::typed_array: index " + std::to_string(index) + " is out of range for length " +
                          std::to_string(size));
}

}  // namespace detail

// new SharedArrayBuffer(length, { maxByteLength }).
struct shared_buffer_options {
  // Set: the buffer is growable up to this many bytes, all reserved now.
  std::optional<std::size_t> max_byte_length{};
};

class shared_buffer {
 public:
  // Zeroed bytes, cache-line aligned. Throws std::out_of_range if byte_length exceeds
  // options.max_byte_length, std::bad_alloc if the memory cannot be had.
  explicit shared_buffer(std::size_t byte_length = 0, shared_buffer_options options = {})
      : block_(make_block(byte_length, options)) {}

  // Thread-safe. Acquire load (another thread may be growing the buffer).
  std::size_t byte_length() const noexcept { return block_->byte_length(); }
  // Thread-safe. Equals byte_length() for a buffer that is not growable, as in JavaScript.
  std::size_t max_byte_length() const noexcept {
    return block_->growable() ? block_->max_byte_length() : block_->byte_length();
  }
  bool growable() const noexcept { return block_->growable(); }
  // Never changes for the buffer's lifetime, grow() included.
  std::byte* data() const noexcept { return block_->data(); }

  // Thread-safe. Errors: see the contract at the top of this header.
  void grow(std::size_t new_byte_length) { block_->grow(new_byte_length); }

  // Whether two handles share the same bytes.
  friend bool operator==(const shared_buffer& a, const shared_buffer& b) noexcept { return a.block_ == b.block_; }

 private:
  static std::shared_ptr<detail::shared_block> make_block(std::size_t byte_length,
                                                          const shared_buffer_options& options) {
    const std::size_t max = options.max_byte_length.value_or(byte_length);
    if (byte_length > max)
      throw std::out_of_range("bobbin::shared_buffer: byte_length " + std::to_string(byte_length) +
                              " exceeds max_byte_length " + std::to_string(max));
    return std::make_shared<detail::shared_block>(byte_length, max, options.max_byte_length.has_value());
  }

  std::shared_ptr<detail::shared_block> block_;
};

// The element types of JavaScript's integer typed arrays: one- to eight-byte integers,
// neither bool nor a character type.
template <class T>
concept typed_array_element =
    std::integral<T> && std::same_as<T, std::remove_cv_t<T>> && !std::same_as<T, bool> && !std::same_as<T, char> &&
    !std::same_as<T, wchar_t> && !std::same_as<T, char8_t> && !std::same_as<T, char16_t> &&
    !std::same_as<T, char32_t> && (sizeof(T) == 1 || sizeof(T) == 2 || sizeof(T) == 4 || sizeof(T) == 8);

// new Int32Array(sab, byteOffset, length) and its siblings: a bounds-checked view of
// elements of T in a shared_buffer. The view keeps its buffer alive.
//
// Without a length, a view over a growable buffer tracks the buffer's length (size()
// follows grow()), as in JavaScript; with a length, or over a fixed-length buffer, the
// view's length is fixed.
//
// Thread-safety: every member is safe to call concurrently on one view (none modifies
// it). Element access through operator[] and at() is plain, non-atomic access (see the
// contract above); bobbin::atomics is the shared access.
template <typed_array_element T>
class typed_array {
  static_assert(std::atomic_ref<T>::required_alignment <= sizeof(T),
                "the bounds checks align elements to their size, which atomic_ref must accept");

 public:
  using value_type = T;
  using element_type = T;
  using size_type = std::size_t;
  static constexpr std::size_t bytes_per_element = sizeof(T);

  // A view from byte_offset to the end of the buffer (length-tracking if the buffer is
  // growable). Throws std::invalid_argument if byte_offset is not a multiple of sizeof(T)
  // or (fixed-length buffer) the buffer's length is not; std::out_of_range if byte_offset
  // is past the end.
  explicit typed_array(const shared_buffer& buffer, std::size_t byte_offset = 0)
      : buffer_(buffer), offset_(checked_offset(byte_offset)) {
    const std::size_t buffer_length = buffer.byte_length();
    if (buffer.growable()) {
      if (byte_offset > buffer_length) throw_view_out_of_range(byte_offset, 0, buffer_length);
      tracking_ = true;
    } else {
      if (buffer_length % sizeof(T) != 0)
        throw std::invalid_argument("bobbin::typed_array: buffer byte_length " + std::to_string(buffer_length) +
                                    " is not a multiple of " + std::to_string(sizeof(T)));
      if (byte_offset > buffer_length) throw_view_out_of_range(byte_offset, 0, buffer_length);
    }
    length_ = (buffer_length - byte_offset) / sizeof(T);
    data_ = reinterpret_cast<T*>(buffer.data() + byte_offset);
  }

  // A view of exactly `length` elements from byte_offset. Throws std::invalid_argument if
  // byte_offset is not a multiple of sizeof(T), std::out_of_range if the view would reach
  // past the buffer's current end.
  typed_array(const shared_buffer& buffer, std::size_t byte_offset, std::size_t length)
      : buffer_(buffer), offset_(checked_offset(byte_offset)), length_(length) {
    const std::size_t buffer_length = buffer.byte_length();
    if (byte_offset > buffer_length || length > (buffer_length - byte_offset) / sizeof(T))
      throw_view_out_of_range(byte_offset, length, buffer_length);
    data_ = reinterpret_cast<T*>(buffer.data() + byte_offset);
  }

  // JavaScript's length. Thread-safe; for a length-tracking view, an acquire load of
  // the buffer's length.
  std::size_t size() const noexcept {
    if (!tracking_) return length_;
    return (buffer_.byte_length() - offset_) / sizeof(T);
  }
  std::size_t byte_length() const noexcept { return size() * sizeof(T); }
  std::size_t byte_offset() const noexcept { return offset_; }
  bool length_tracking() const noexcept { return tracking_; }
  const shared_buffer& buffer() const noexcept { return buffer_; }

  T* data() const noexcept { return data_; }
  T* begin() const noexcept { return data_; }
  T* end() const noexcept { return data_ + size(); }
  std::span<T> span() const noexcept { return {data_, size()}; }

  // Plain, non-atomic access. Unchecked (asserted in debug builds), like std::span.
  T& operator[](std::size_t i) const noexcept {
    assert(i < size());
    return data_[i];
  }

  // Plain, non-atomic access; throws std::out_of_range if i >= size().
  T& at(std::size_t i) const {
    // length_ is a lower bound of a tracking view's length (shared buffers only grow),
    // so the common case needs no load of the buffer's length.
    if (i >= length_) [[unlikely]] {
      if (!tracking_) detail::throw_index_out_of_range(i, length_);
      const std::size_t current = size();
      if (i >= current) detail::throw_index_out_of_range(i, current);
    }
    return data_[i];
  }

 private:
  static std::size_t checked_offset(std::size_t byte_offset) {
    if (byte_offset % sizeof(T) != 0)
      throw std::invalid_argument("bobbin::typed_array: byte_offset " + std::to_string(byte_offset) +
                                  " is not a multiple of the element size " + std::to_string(sizeof(T)));
    return byte_offset;
  }

  [[noreturn]] static void throw_view_out_of_range(std::size_t byte_offset, std::size_t length,
                                                   std::size_t buffer_length) {
    throw std::out_of_range("bobbin::typed_array: a view of " + std::to_string(length) + " elements of " +
                            std::to_string(sizeof(T)) + " bytes at byte_offset " + std::to_string(byte_offset) +
                            " does not fit a buffer of " + std::to_string(buffer_length) + " bytes");
  }

  shared_buffer buffer_;
  T* data_ = nullptr;
  std::size_t offset_;
  std::size_t length_ = 0;  // a tracking view: its length when made, a lower bound
  bool tracking_ = false;
};

}  // namespace bobbin
