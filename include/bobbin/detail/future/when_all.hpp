#pragma once
// bobbin::when_all(futures...) and when_all(range): a future that is ready when every
// input is. Included by bobbin/future.hpp (include that); the gather states behind it are
// in bobbin::detail.
//
// Contract: when_all() may be called from any thread; it consumes its inputs only once
// it cannot fail any more (see each overload). The inputs' states complete on any
// threads: each completion calls its link (a detail::waiter) registered with
// try_register(), or the caller arrives for an input already done. The count of
// arrivals (inputs + 1 for the creator) is an acq_rel RMW: the last arrival sees every
// input's result, assembles the value and is the state's runner (it completes it with
// release, detail/future/shared_state.hpp); the future is its consumer.

#include <atomic>
#include <cstddef>
#include <exception>
#include <future>
#include <iterator>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

#include "../sync/parker.hpp"
#include "../task/task.hpp"
#include "shared_state.hpp"

namespace bobbin {

template <class T>
class future;  // bobbin/future.hpp

template <class U>
future<U> detail_make_future(detail::value_state<U>* s) noexcept;

namespace detail {

template <class T>
value_state<T>* state_of(future<T>& f) noexcept;

// when_all: counts down as inputs complete; the last one assembles the result.
template <class Result, class Derived>
class gather_state : public value_state<Result> {
 protected:
  struct link : waiter {
    explicit link(gather_state* o) : waiter{&on_done}, owner(o) {}
    gather_state* owner;
    static void on_done(waiter* w) noexcept { static_cast<link*>(w)->owner->arrive(); }
  };

  // The last arrival is the producer: inputs may complete after the future was dropped.
  explicit gather_state(std::size_t n) : remaining_(n + 1) {}

  void arm(state_base& input, link& l) noexcept {
    if (!input.try_register(&l)) arrive();
  }

  // Called once per input, plus once by the creator after arming every input.
  void arrive() noexcept {
    // acq_rel: the last arrival sees every input's result.
    if (remaining_.fetch_sub(1, std::memory_order_acq_rel) != 1) return;
    if (!this->begin_run()) {  // the future was cancelled meanwhile
      this->release();
      return;
    }
    std::exception_ptr error;
    try {
      this->set_from([this] { return static_cast<Derived*>(this)->assemble(); });
    } catch (...) {
      error = std::current_exception();
    }
    if (error) this->set_error(std::move(error));
    this->complete_and_leave();
  }

  task_outcome run() override { return task_outcome::ok; }  // never queued

 private:
  std::atomic<std::size_t> remaining_;
};

template <class... T>
  requires(sizeof...(T) > 0)
class when_all_tuple_state final : public gather_state<std::tuple<stored_t<T>...>, when_all_tuple_state<T...>> {
  using base = gather_state<std::tuple<stored_t<T>...>, when_all_tuple_state<T...>>;
  using link = typename base::link;

 public:
  explicit when_all_tuple_state(future<T>&&... fs)
      : base(sizeof...(T)), inputs_(std::move(fs)...), links_{link_for<T>()...} {}

  void start() noexcept {
    [this]<std::size_t... I>(std::index_sequence<I...>) {
      (this->arm(*state_of(std::get<I>(inputs_)), links_[I]), ...);
    }(std::index_sequence_for<T...>{});
    this->arrive();
  }

  std::tuple<stored_t<T>...> assemble() {
    std::exception_ptr first;
    [&]<std::size_t... I>(std::index_sequence<I...>) {
      ((first = first ? first : state_of(std::get<I>(inputs_))->take_error()), ...);
    }(std::index_sequence_for<T...>{});
    if (first) std::rethrow_exception(first);
    return [&]<std::size_t... I>(std::index_sequence<I...>) {
      return std::tuple<stored_t<T>...>(std::move(*state_of(std::get<I>(inputs_))->value)...);
    }(std::index_sequence_for<T...>{});
  }

 private:
  template <class>
  link link_for() {
    return link(this);
  }
  void destroy() noexcept override { delete this; }

  std::tuple<future<T>...> inputs_;
  link links_[sizeof...(T)];
};

template <class T>
class when_all_vector_state final : public gather_state<std::vector<stored_t<T>>, when_all_vector_state<T>> {
  using base = gather_state<std::vector<stored_t<T>>, when_all_vector_state<T>>;
  using link = typename base::link;

 public:
  // Makes room for n inputs and their values: every allocation when_all makes, before any
  // input is touched. Then adopt() each input and start().
  explicit when_all_vector_state(std::size_t n) : base(n), links_(n, link(this)) {
    inputs_.reserve(n);
    values_.reserve(n);
  }

  // Takes a valid input into the room made for it: never allocates.
  void adopt(future<T>&& f) noexcept { inputs_.push_back(std::move(f)); }

  // Undoes the adopt() calls: moves the inputs back, in order, to the elements from
  // `first` on, where they came from.
  template <class It>
  void give_back(It first) {
    for (auto& f : inputs_) {
      *first = std::move(f);
      ++first;
    }
    inputs_.clear();
  }

  void start() noexcept {
    for (std::size_t i = 0; i < inputs_.size(); ++i) this->arm(*state_of(inputs_[i]), links_[i]);
    this->arrive();
  }

  std::vector<stored_t<T>> assemble() {
    for (auto& f : inputs_) {
      if (state_of(f)->failed()) std::rethrow_exception(state_of(f)->take_error());
    }
    for (auto& f : inputs_) values_.push_back(std::move(*state_of(f)->value));  // reserved: no allocation
    return std::move(values_);
  }

 private:
  void destroy() noexcept override { delete this; }

  std::vector<future<T>> inputs_;
  std::vector<link> links_;
  std::vector<stored_t<T>> values_;
};

// True if some future is passed twice (only futures of one type can be the same object).
template <class... T>
bool same_future_twice(const future<T>&... fs) noexcept {
  const void* const at[] = {static_cast<const void*>(&fs)...};
  for (std::size_t i = 0; i < sizeof...(T); ++i) {
    for (std::size_t j = i + 1; j < sizeof...(T); ++j) {
      if (at[i] == at[j]) return true;
    }
  }
  return false;
}

// For std::move_iterator<It>: It (void for any other iterator).
template <class It>
struct move_iterator_base_of {
  using type = void;
};
template <class It>
struct move_iterator_base_of<std::move_iterator<It>> {
  using type = It;
};
template <class It>
using move_iterator_base = typename move_iterator_base_of<It>::type;

}  // namespace detail

// A future that is ready when every input is; its value is a tuple of their values
// (std::monostate for future<void>). If any input failed (or was cancelled), it holds the
// exception of the first such input, in argument order. Consumes the inputs, but only on
// success: if it throws (std::bad_alloc, or std::future_error when an input is not valid
// or is passed twice), every input is left as it was, valid and usable.
template <class... T>
  requires(sizeof...(T) > 0)
future<std::tuple<detail::stored_t<T>...>> when_all(future<T>&&... fs) {
  if ((!fs.valid() || ...) || detail::same_future_twice(fs...)) {
    throw std::future_error(std::future_errc::no_state);
  }
  // The state is the one allocation; the inputs move into it only once it exists.
  auto* s = new detail::when_all_tuple_state<T...>(std::move(fs)...);
  s->start();
  return detail_make_future<std::tuple<detail::stored_t<T>...>>(s);
}

// The same over a range of futures (moved from): a future of a vector, in range order.
// Over a range that can be read twice (a forward range of futures, such as a vector; or
// move iterators over one), it gives the same guarantee: if it throws, every future in the
// range is still there, valid. Over a range that can be read only once, the futures it has
// read are lost if it throws.
template <std::input_iterator It>
  requires requires { typename std::iter_value_t<It>::value_type; }
future<std::vector<detail::stored_t<typename std::iter_value_t<It>::value_type>>> when_all(It first, It last) {
  using T = typename std::iter_value_t<It>::value_type;
  using state = detail::when_all_vector_state<T>;
  if constexpr (std::forward_iterator<detail::move_iterator_base<It>>) {
    return when_all(first.base(), last.base());
  } else if constexpr (std::forward_iterator<It> && std::is_reference_v<std::iter_reference_t<It>>) {
    // First pass: check every input and count them. Then allocate everything. Second
    // pass: move the inputs in, which cannot fail; an input seen twice (the range holds
    // the same future twice) is found invalid there, and the moves are undone.
    std::size_t n = 0;
    for (It i = first; i != last; ++i, ++n) {
      if (!(*i).valid()) throw std::future_error(std::future_errc::no_state);
    }
    auto* s = new state(n);
    try {
      for (It i = first; i != last; ++i) {
        auto&& f = *i;
        if (!f.valid()) throw std::future_error(std::future_errc::no_state);
        s->adopt(std::move(f));
      }
    } catch (...) {
      s->give_back(first);
      delete s;
      throw;
    }
    s->start();
    return detail_make_future<std::vector<detail::stored_t<T>>>(s);
  } else {
    std::vector<future<T>> fs;
    for (; first != last; ++first) {
      auto&& f = *first;
      if (!f.valid()) throw std::future_error(std::future_errc::no_state);
      fs.push_back(std::move(f));
    }
    return when_all(fs.begin(), fs.end());
  }
}

// The same over a container (or any range whose begin() gives futures): when_all(begin, end).
template <class Range>
  requires requires(Range& r) {
    std::begin(r);
    typename std::iter_value_t<decltype(std::begin(r))>::value_type;
  }
auto when_all(Range& futures) {
  return when_all(std::begin(futures), std::end(futures));
}

}  // namespace bobbin
