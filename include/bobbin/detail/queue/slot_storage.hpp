#pragma once
// Pieces shared by the channel queues (bounded_ring, segmented_queue): what a message type
// must be, the answers of a non-blocking push or pop, and raw storage for one message.
//
// Contract: slot_storage does not synchronise and does not know whether it holds a T. The
// queue that owns it keeps a per-slot state (bounded_ring's turn, segmented_queue's slot
// state) that says so, and hands the slot from thread to thread through that state: the
// constructing thread publishes with a release (or seq_cst) store of it after construct,
// the taking thread acquires it before move_to, and the slot is freed by a store after
// move_to. So at any time one thread at most calls construct, get, destroy or move_to.

#include <concepts>
#include <cstddef>
#include <memory>
#include <new>
#include <optional>
#include <type_traits>
#include <utility>

namespace bobbin::detail {

// A message is an object that can be moved into and out of the queue and destroyed
// without throwing. Copying is needed only by the calls that copy (send(const T&)).
template <class T>
concept message_type = std::is_object_v<T> && !std::is_const_v<T> && !std::is_volatile_v<T> &&
                       std::move_constructible<T> && std::is_nothrow_destructible_v<T>;

enum class push_status { ok, full, closed };
enum class pop_status { ok, empty, closed };  // closed: closed and drained

// Raw, suitably aligned room for one T; the queue's slot state says whether it holds one.
template <class T>
struct slot_storage {
  alignas(T) std::byte bytes[sizeof(T)];

  template <class U>
  void construct(U&& v) {
    // Checked here, where the struct is complete: a slot costs its state and a T, no more.
    static_assert(sizeof(slot_storage) == sizeof(T) && alignof(slot_storage) == alignof(T),
                  "slot_storage must have a T's size and alignment");
    std::construct_at(reinterpret_cast<T*>(bytes), std::forward<U>(v));
  }
  T& get() noexcept { return *std::launder(reinterpret_cast<T*>(bytes)); }
  void destroy() noexcept { std::destroy_at(&get()); }

  // Moves the message into `out` and destroys it here. If T's move constructor throws,
  // the message is destroyed all the same and the exception propagates: the slot is
  // always empty afterwards, so the queue stays consistent (the message is lost).
  void move_to(std::optional<T>& out) {
    struct destroy_on_exit {
      slot_storage& s;
      ~destroy_on_exit() { s.destroy(); }
    } guard{*this};
    out.emplace(std::move(get()));
  }
};

}  // namespace bobbin::detail
