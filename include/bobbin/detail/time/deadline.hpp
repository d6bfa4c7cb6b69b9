#pragma once
// detail::deadline: when a timed wait gives up, for every timed wait in the library
// (futures, channels, atomics, the parkers under them). Modelled on Abseil's KernelTimeout:
// one small value built from whatever the caller passed, which the sleepers then ask
// "has it passed?" and "how long may I sleep?".
//
// Contract:
// - after(d) takes any std::chrono::duration, at(t) any time point of any clock and any
//   duration type (a floating-point or an integer representation up to 64 bits; others
//   are refused at compile time). Neither overflows, whatever the value: a wait that would
//   end beyond what the clock can count (hours::max(), +infinity, time_point::max()) is
//   never(); one before now (a zero, negative or -infinity duration, ::min(), any time
//   point already reached) has passed at once. NaN counts as zero: the wait tries once.
//   A deadline about 292 years or more away (nanoseconds::max()) is never().
// - Never early: durations and time points are rounded up to whole nanoseconds, and a
//   time point of another clock is checked on that clock, each time it is asked.
// - A relative deadline is measured on std::chrono::steady_clock from the moment after()
//   is called. A time point of any other clock keeps its own clock: has_passed() and
//   remaining() read Clock::now() (which must not throw, as for a trivial clock), and
//   sleep_time() is at most a second, so a sleeper notices within a second that such a
//   clock was set forward.
// - A deadline is a value (trivially copyable, a few words); every member is const and
//   may be called from any thread.

#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <ratio>
#include <type_traits>
#include <utility>

namespace bobbin::detail {

// Saturating arithmetic on chrono counts. Every result is an intmax_t count of some
// period, clamped to [intmax_min, intmax_max]; a clamped result means "at least that far".
namespace chrono_math {

using count_t = std::intmax_t;
inline constexpr count_t count_max = std::numeric_limits<count_t>::max();
inline constexpr count_t count_min = std::numeric_limits<count_t>::min();

enum class rounding { up, down };

// Floating-point representations, and integers up to intmax_t's width (not bool nor the
// character types).
template <class Rep>
concept supported_rep =
    std::is_floating_point_v<Rep> ||
    (std::is_integral_v<Rep> && sizeof(Rep) <= sizeof(std::intmax_t) && !std::is_same_v<Rep, bool> &&
     !std::is_same_v<Rep, char> && !std::is_same_v<Rep, wchar_t> && !std::is_same_v<Rep, char8_t> &&
     !std::is_same_v<Rep, char16_t> && !std::is_same_v<Rep, char32_t>);

// A long double value, rounded, then clamped; NaN gives 0.
inline count_t clamp_real(long double x, rounding r) noexcept {
  if (std::isnan(x)) return 0;
  x = r == rounding::up ? std::ceil(x) : std::floor(x);
  // -count_min is 2^63 for a 64-bit count, exactly representable in every floating type;
  // count_max (2^63 - 1) is not in a double, so compare with the bound above it.
  constexpr long double bound = -static_cast<long double>(count_min);
  if (x >= bound) return count_max;
  if (x < -bound) return count_min;
  return static_cast<count_t>(x);
}

// count × Period, expressed in To periods, rounded as asked, saturated.
template <class To, rounding R, class Rep, class Period>
  requires supported_rep<Rep>
count_t convert(Rep count) noexcept {
  using ratio = std::ratio_divide<Period, To>;
  constexpr auto num = static_cast<std::uintmax_t>(ratio::num);  // ratio_divide's num and den are > 0
  constexpr auto den = static_cast<std::uintmax_t>(ratio::den);
  if constexpr (std::is_floating_point_v<Rep>) {
    return clamp_real(static_cast<long double>(count) * static_cast<long double>(num) / static_cast<long double>(den),
                      R);
  } else {
    // On the magnitude, in unsigned arithmetic: any integral count fits (intmax_t's most
    // negative value included), and only the limits below can be exceeded.
    const bool negative = std::cmp_less(count, 0);
    std::uintmax_t m = 0;
    if constexpr (std::is_signed_v<Rep>) {
      // Two's complement negation in unsigned arithmetic: defined for the minimum too.
      m = negative ? std::uintmax_t{0} - static_cast<std::uintmax_t>(count) : static_cast<std::uintmax_t>(count);
    } else {
      m = static_cast<std::uintmax_t>(count);
    }
    constexpr std::uintmax_t umax = std::numeric_limits<std::uintmax_t>::max();
    std::uintmax_t whole = 0;  // the magnitude of the result, truncated
    bool inexact = false;      // a remainder was dropped
    if constexpr (den == 1) {
      if (m > umax / num) return negative ? count_min : count_max;
      whole = m * num;
    } else if constexpr (num == 1) {
      whole = m / den;
      inexact = m % den != 0;
    } else {
      // count × num / den as (q × den + r) × num / den = q × num + r × num / den.
      const std::uintmax_t q = m / den;
      const std::uintmax_t r = m % den;
      if (q > umax / num) return negative ? count_min : count_max;
      whole = q * num;
      if (r > umax / num) {
        // Only for exotic period pairs (den × num beyond 64 bits): approximate, and step
        // one count further in the rounding direction, so never towards early.
        const long double x =
            static_cast<long double>(m) * static_cast<long double>(num) / static_cast<long double>(den);
        count_t c = clamp_real(negative ? -x : x, R);
        if (R == rounding::up && c != count_max) ++c;
        if (R == rounding::down && c != count_min) --c;
        return c;
      }
      const std::uintmax_t part = r * num;
      if (whole > umax - part / den) return negative ? count_min : count_max;
      whole += part / den;
      inexact = part % den != 0;
    }
    // Rounding up a positive value or down a negative one moves away from zero.
    if (inexact && (R == rounding::up) != negative) {
      if (whole == umax) return negative ? count_min : count_max;
      ++whole;
    }
    if (negative) {
      return whole > static_cast<std::uintmax_t>(count_max) ? count_min : -static_cast<count_t>(whole);
    }
    return whole > static_cast<std::uintmax_t>(count_max) ? count_max : static_cast<count_t>(whole);
  }
}

// a - b, saturated.
constexpr count_t subtract(count_t a, count_t b) noexcept {
  if (b < 0 && a > count_max + b) return count_max;
  if (b > 0 && a < count_min + b) return count_min;
  return a - b;
}

// A duration as whole nanoseconds, rounded up, saturated; NaN gives 0.
template <class Rep, class Period>
std::chrono::nanoseconds ceil_nanoseconds(const std::chrono::duration<Rep, Period>& d) noexcept {
  return std::chrono::nanoseconds(convert<std::nano, rounding::up, Rep, Period>(d.count()));
}

// How far `t` is ahead of its clock's now, rounded up to nanoseconds and saturated:
// zero or less once now has reached t (exactly, on the clock's own counts), at least one
// nanosecond before.
template <class Clock, class Duration>
std::chrono::nanoseconds until(const std::chrono::time_point<Clock, Duration>& t) noexcept {
  const auto now = Clock::now();
  using now_duration = typename decltype(now)::duration;
  using rep = typename Duration::rep;
  using now_rep = typename now_duration::rep;
  if constexpr (std::is_floating_point_v<rep> || std::is_floating_point_v<now_rep>) {
    // Compared in their common floating type, as chrono compares them (no overflow there);
    // the distance in long double nanoseconds (+infinity saturates to nanoseconds::max()).
    if (!(t > now)) return std::chrono::nanoseconds::zero();  // NaN too
    using to_t = std::ratio_divide<typename Duration::period, std::nano>;
    using to_now = std::ratio_divide<typename now_duration::period, std::nano>;
    const long double ahead = static_cast<long double>(t.time_since_epoch().count()) * to_t::num / to_t::den -
                              static_cast<long double>(now.time_since_epoch().count()) * to_now::num / to_now::den;
    const count_t ns = clamp_real(ahead, rounding::up);
    return std::chrono::nanoseconds(ns < 1 ? 1 : ns);
  } else {
    // Both integral: in their common period, into which both convert exactly (a
    // multiplication); then the difference, then nanoseconds.
    using common = typename std::common_type_t<Duration, now_duration>::period;
    const count_t a = convert<common, rounding::up, rep, typename Duration::period>(t.time_since_epoch().count());
    const count_t b =
        convert<common, rounding::down, now_rep, typename now_duration::period>(now.time_since_epoch().count());
    if (a == count_max || b == count_min) return std::chrono::nanoseconds::max();  // beyond the clock
    if (a == count_min || b == count_max || a <= b) return std::chrono::nanoseconds::zero();
    return std::chrono::nanoseconds(convert<std::nano, rounding::up, count_t, common>(subtract(a, b)));
  }
}

}  // namespace chrono_math

class deadline {
 public:
  using clock = std::chrono::steady_clock;

  // How long a sleeper sleeps at most before it looks again: long for the steady clock
  // (only so that no caller converts an enormous duration), a second for other clocks.
  static constexpr std::chrono::nanoseconds max_steady_sleep = std::chrono::hours(1);
  static constexpr std::chrono::nanoseconds max_other_clock_sleep = std::chrono::seconds(1);

  // A wait that ends only when what it waits for happens.
  static constexpr deadline never() noexcept { return deadline(kind::never); }

  // A deadline that has already passed: the wait tries once.
  static constexpr deadline past() noexcept {
    deadline d(kind::steady);
    d.steady_ = clock::time_point::min();
    return d;
  }

  // `d` from now on the steady clock, rounded up.
  template <class Rep, class Period>
    requires chrono_math::supported_rep<Rep>
  static deadline after(const std::chrono::duration<Rep, Period>& d) noexcept {
    const std::chrono::nanoseconds ns = chrono_math::ceil_nanoseconds(d);  // NaN: 0
    if (ns <= std::chrono::nanoseconds::zero()) return past();
    if (ns == std::chrono::nanoseconds::max()) return never();
    const clock::time_point now = clock::now();
    const auto since_epoch = std::chrono::duration_cast<std::chrono::nanoseconds>(now.time_since_epoch());
    const auto later = chrono_math::subtract(std::chrono::nanoseconds::max().count(), ns.count());
    if (since_epoch.count() >= later) return never();  // now + ns would not fit the clock
    deadline r(kind::steady);
    r.steady_ = now + std::chrono::ceil<clock::duration>(ns);
    return r;
  }

  // The time point `t` of any clock, checked on that clock.
  template <class Clock, class Duration>
    requires chrono_math::supported_rep<typename Duration::rep>
  static deadline at(const std::chrono::time_point<Clock, Duration>& t) noexcept {
    using point = std::chrono::time_point<Clock, Duration>;
    if (t == point::max()) return never();  // the usual way to say "forever", on any clock
    if (t == point::min()) return past();
    if constexpr (std::is_same_v<Clock, clock>) {
      const std::chrono::nanoseconds ns = chrono_math::ceil_nanoseconds(t.time_since_epoch());
      if (ns == std::chrono::nanoseconds::max()) return never();
      deadline r(kind::steady);
      r.steady_ = clock::time_point(std::chrono::ceil<clock::duration>(ns));
      return r;
    } else {
      static_assert(std::is_trivially_copyable_v<point> && sizeof(point) <= sizeof(own_point_),
                    "bobbin: a time point too large for detail::deadline");
      deadline r(kind::other_clock);
      std::memcpy(r.own_point_, &t, sizeof(point));
      r.own_left_ = &left_on<Clock, Duration>;
      if (r.own_left_(r.own_point_) == std::chrono::nanoseconds::max()) return never();
      return r;
    }
  }

  // True for never(): the sleeper passes no timeout.
  constexpr bool is_infinite() const noexcept { return kind_ == kind::never; }

  // True once the deadline has passed (on its clock). Never true for never().
  bool has_passed() const noexcept { return kind_ != kind::never && remaining() == std::chrono::nanoseconds::zero(); }

  // Time left: zero once passed, nanoseconds::max() for never().
  std::chrono::nanoseconds remaining() const noexcept {
    switch (kind_) {
      case kind::never: return std::chrono::nanoseconds::max();
      case kind::steady: {
        const clock::time_point now = clock::now();
        if (steady_ <= now) return std::chrono::nanoseconds::zero();
        return std::chrono::nanoseconds(chrono_math::subtract(
            std::chrono::duration_cast<std::chrono::nanoseconds>(steady_.time_since_epoch()).count(),
            std::chrono::duration_cast<std::chrono::nanoseconds>(now.time_since_epoch()).count()));
      }
      case kind::other_clock: {
        const std::chrono::nanoseconds left = own_left_(own_point_);
        return left < std::chrono::nanoseconds::zero() ? std::chrono::nanoseconds::zero() : left;
      }
    }
    return std::chrono::nanoseconds::zero();
  }

  // How long a sleeper may sleep before it looks again: remaining(), at most
  // max_steady_sleep (max_other_clock_sleep for a time point of another clock). Zero once
  // passed; max_steady_sleep for never() (whose sleepers need no timeout at all).
  std::chrono::nanoseconds sleep_time() const noexcept {
    const std::chrono::nanoseconds cap = kind_ == kind::other_clock ? max_other_clock_sleep : max_steady_sleep;
    const std::chrono::nanoseconds left = remaining();
    return left < cap ? left : cap;
  }

  // The deadline on the steady clock: clock::time_point::max() for never(). For a time
  // point of another clock, where it falls by that clock's pace now.
  clock::time_point steady_time() const noexcept {
    switch (kind_) {
      case kind::never: return clock::time_point::max();
      case kind::steady: return steady_;
      case kind::other_clock: {
        const clock::time_point now = clock::now();
        const auto left = remaining();
        const auto since_epoch = std::chrono::duration_cast<std::chrono::nanoseconds>(now.time_since_epoch());
        if (since_epoch.count() >= chrono_math::subtract(std::chrono::nanoseconds::max().count(), left.count()))
          return clock::time_point::max();
        return now + std::chrono::ceil<clock::duration>(left);
      }
    }
    return clock::time_point::max();
  }

 private:
  enum class kind : unsigned char { never, steady, other_clock };

  constexpr explicit deadline(kind k) noexcept : kind_(k) {}

  template <class Clock, class Duration>
  static std::chrono::nanoseconds left_on(const unsigned char* stored) noexcept {
    std::chrono::time_point<Clock, Duration> t;
    std::memcpy(&t, stored, sizeof(t));
    return chrono_math::until(t);
  }

  kind kind_;
  clock::time_point steady_{};                                                // kind::steady
  std::chrono::nanoseconds (*own_left_)(const unsigned char*) noexcept = nullptr;  // kind::other_clock
  unsigned char own_point_[16]{};  // kind::other_clock: the time point, as its bytes
};

static_assert(std::is_trivially_copyable_v<deadline>);

}  // namespace bobbin::detail
