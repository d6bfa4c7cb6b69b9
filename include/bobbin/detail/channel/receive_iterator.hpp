#pragma once
// detail::receive_iterator: what `for (auto&& v : ch)` walks over. Each step is a blocking
// receive() on the source; the range ends when receive() returns nullopt (closed and
// drained). A single-pass input iterator: copies share the source, not the position. It
// refers to the handle it was made from (begin()), which must outlive it; if that handle
// is moved from meanwhile, the next step throws the handle's moved-from std::logic_error.
// begin() and end() come from receiver_api.hpp (channels, ports, broadcast receivers).
//
// Threads: one iterator belongs to one thread at a time. Iterators over the same channel on
// several threads are fine (each receive is thread-safe; each message goes to one of them).
// Nothing here is atomic: the channel's receive orders the messages (channel_core.hpp).

#include <cstddef>
#include <iterator>
#include <optional>
#include <utility>

namespace bobbin::detail {

template <class Source, class T>
class receive_iterator {
 public:
  using value_type = T;
  using difference_type = std::ptrdiff_t;
  using iterator_concept = std::input_iterator_tag;

  receive_iterator() = default;
  explicit receive_iterator(Source& source) : source_(&source), current_(source.receive()) {}

  T& operator*() const noexcept { return *current_; }
  T* operator->() const noexcept { return &*current_; }

  receive_iterator& operator++() {
    std::optional<T> next = source_->receive();
    current_.reset();  // reset + emplace: T need not be move-assignable
    if (next) current_.emplace(std::move(*next));
    return *this;
  }
  void operator++(int) { ++*this; }

  friend bool operator==(const receive_iterator& it, std::default_sentinel_t) noexcept {
    return !it.current_.has_value();
  }

 private:
  Source* source_ = nullptr;
  mutable std::optional<T> current_;  // mutable: input iterators hand out T& from const
};

}  // namespace bobbin::detail
