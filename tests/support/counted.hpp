#pragma once
// The tests' one lifetime-counting value: a T that counts its objects, so a container or a
// task that leaks a value, destroys one twice, or keeps one longer than it should shows in
// a number. Each Tag has counters of its own:
//
//   using item = bobbin_test::counted<>;                          // an int, counters of <int, void>
//   using data = bobbin_test::counted<std::string, struct data_tag>;
//   struct payload : bobbin_test::counted<int, payload> { ... };  // more members, own counters
//
//   live              objects constructed and not yet destroyed, moved-from shells included
//                     (a copy or a move makes a new object): what a container must bring
//                     back to zero when it goes
//   holding           of those, the ones holding a value, i.e. not moved from (a moved-from
//                     shell is not counted): where a value handed on by move must be gone
//                     or still be, whatever shells are left behind
//   bad_destructions  destructors run on an object not alive (a second destruction, or
//                     garbage): must stay 0; such a destruction still counts off live and
//                     holding, so those show it too
//
// The counters are atomics (values cross threads) and are never reset implicitly: a test
// that checks absolute numbers calls reset() first or checks a difference.

#include <atomic>
#include <cstdint>
#include <utility>

namespace bobbin_test {

template <class T = int, class Tag = void>
class counted {
 public:
  static inline std::atomic<long> live{0};
  static inline std::atomic<long> holding{0};
  static inline std::atomic<long> bad_destructions{0};

  static void reset() noexcept {
    live = 0;
    holding = 0;
    bad_destructions = 0;
  }

  T value{};

  counted() { born(true); }
  explicit counted(T v) : value(std::move(v)) { born(true); }
  counted(const counted& o) : value(o.value) { born(o.holds_); }
  counted(counted&& o) noexcept : value(std::move(o.value)) {
    born(o.holds_);
    o.set_holding(false);
  }
  counted& operator=(const counted& o) {
    value = o.value;
    set_holding(o.holds_);
    return *this;
  }
  counted& operator=(counted&& o) noexcept {
    if (this != &o) {
      value = std::move(o.value);
      set_holding(o.holds_);
      o.set_holding(false);
    }
    return *this;
  }
  // A second destruction is counted as bad and still taken off live and holding, so that
  // a test that checks only those sees it too.
  ~counted() {
    if (tag_ != alive_tag) bad_destructions.fetch_add(1);
    tag_ = 0;
    if (holds_) holding.fetch_sub(1);
    live.fetch_sub(1);
  }

  // Whether this object holds a value (was not moved from).
  bool holds_value() const noexcept { return holds_; }

 private:
  static constexpr std::uint32_t alive_tag = 0x600dcafe;

  void born(bool holds) noexcept {
    holds_ = holds;
    live.fetch_add(1);
    if (holds_) holding.fetch_add(1);
  }
  void set_holding(bool h) noexcept {
    if (h == holds_) return;
    holds_ = h;
    if (h) {
      holding.fetch_add(1);
    } else {
      holding.fetch_sub(1);
    }
  }

  std::uint32_t tag_ = alive_tag;
  bool holds_ = true;
};

}  // namespace bobbin_test
