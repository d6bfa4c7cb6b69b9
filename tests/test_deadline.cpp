// detail::deadline (issue 15, 6): saturation of every duration and time point to "never"
// or "already passed", without overflow; time points checked on their own clock; and the
// channels' timed waits, which go through it, with the same extreme values.
// Threads never assert: they collect, the test checks.

#include <bobbin/channel.hpp>
#include <bobbin/detail/time/deadline.hpp>

#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <limits>
#include <optional>
#include <ratio>
#include <thread>

using namespace std::chrono_literals;
using bobbin::detail::deadline;
namespace cm = bobbin::detail::chrono_math;

namespace {

using steady = std::chrono::steady_clock;
using sys = std::chrono::system_clock;
using std::chrono::duration;
using std::chrono::hours;
using std::chrono::nanoseconds;
using std::chrono::time_point;

constexpr double inf = std::numeric_limits<double>::infinity();
constexpr double not_a_number = std::numeric_limits<double>::quiet_NaN();

bool is_never(const deadline& d) {
  return d.is_infinite() && !d.has_passed() && d.remaining() == nanoseconds::max() &&
         d.steady_time() == steady::time_point::max();
}

bool is_past(const deadline& d) {
  const auto at = d.steady_time();  // before the now() it is compared with
  return !d.is_infinite() && d.has_passed() && d.remaining() == nanoseconds::zero() &&
         d.sleep_time() == nanoseconds::zero() && at <= steady::now();
}

// A clock that moves only when told to, in milliseconds; not steady.
struct manual_clock {
  using rep = std::int64_t;
  using period = std::milli;
  using duration = std::chrono::duration<rep, period>;
  using time_point = std::chrono::time_point<manual_clock>;
  static constexpr bool is_steady = false;
  static inline std::atomic<rep> ticks{0};
  static time_point now() noexcept { return time_point(duration(ticks.load())); }
};

// A clock in seconds whose epoch lies 3,000 years back: its now() is beyond what
// nanoseconds since its epoch can count.
struct far_clock {
  using rep = std::int64_t;
  using period = std::ratio<1>;
  using duration = std::chrono::duration<rep, period>;
  using time_point = std::chrono::time_point<far_clock>;
  static constexpr bool is_steady = false;
  static constexpr rep offset = 3000LL * 365 * 24 * 3600;
  static time_point now() noexcept {
    return time_point(duration(offset +
                               std::chrono::duration_cast<duration>(steady::now().time_since_epoch()).count()));
  }
};

// A clock counting seconds in a double, at the steady clock's pace.
struct double_clock {
  using rep = double;
  using period = std::ratio<1>;
  using duration = std::chrono::duration<rep, period>;
  using time_point = std::chrono::time_point<double_clock>;
  static constexpr bool is_steady = true;
  static time_point now() noexcept {
    return time_point(std::chrono::duration_cast<duration>(steady::now().time_since_epoch()));
  }
};

// Clocks that are not steady get sleeps of at most a second (deadline.hpp); these two
// say so, as a clock must.
static_assert(!manual_clock::is_steady && !far_clock::is_steady && double_clock::is_steady);

}  // namespace

TEST_CASE("chrono_math::convert saturates instead of overflowing, and rounds as asked") {
  using cm::count_max;
  using cm::count_min;
  using cm::rounding;
  constexpr auto llmax = std::numeric_limits<long long>::max();
  constexpr auto llmin = std::numeric_limits<long long>::min();

  CHECK(cm::convert<std::nano, rounding::up, long long, std::ratio<3600>>(llmax) == count_max);
  CHECK(cm::convert<std::nano, rounding::up, long long, std::ratio<3600>>(llmin) == count_min);
  CHECK(cm::convert<std::nano, rounding::up, long long, std::ratio<3600>>(2) == 7'200'000'000'000);
  CHECK(cm::convert<std::nano, rounding::down, long long, std::nano>(llmin) == count_min);
  CHECK(cm::convert<std::nano, rounding::up, long long, std::nano>(llmax) == count_max);

  // A third of a second: up and down differ by one, on either side of zero.
  CHECK(cm::convert<std::nano, rounding::up, int, std::ratio<1, 3>>(1) == 333'333'334);
  CHECK(cm::convert<std::nano, rounding::down, int, std::ratio<1, 3>>(1) == 333'333'333);
  CHECK(cm::convert<std::nano, rounding::up, int, std::ratio<1, 3>>(-1) == -333'333'333);
  CHECK(cm::convert<std::nano, rounding::down, int, std::ratio<1, 3>>(-1) == -333'333'334);
  CHECK(cm::convert<std::nano, rounding::up, long long, std::ratio<1, 3>>(llmax) == count_max);
  CHECK(cm::convert<std::nano, rounding::up, long long, std::ratio<1, 3>>(llmin) == count_min);

  // Unsigned counts past intmax_t's range, into a coarser period: exact.
  CHECK(cm::convert<std::nano, rounding::up, unsigned long long, std::pico>(~0ULL) == 18'446'744'073'709'552);
  CHECK(cm::convert<std::nano, rounding::down, unsigned long long, std::pico>(~0ULL) == 18'446'744'073'709'551);
  CHECK(cm::convert<std::nano, rounding::up, unsigned long long, std::ratio<1>>(~0ULL) == count_max);

  // Floating point: infinities saturate, NaN is zero, fractions round.
  CHECK(cm::convert<std::nano, rounding::up, double, std::ratio<1>>(inf) == count_max);
  CHECK(cm::convert<std::nano, rounding::up, double, std::ratio<1>>(-inf) == count_min);
  CHECK(cm::convert<std::nano, rounding::up, double, std::ratio<1>>(not_a_number) == 0);
  CHECK(cm::convert<std::nano, rounding::up, double, std::ratio<1>>(1e300) == count_max);
  CHECK(cm::convert<std::nano, rounding::up, double, std::ratio<1>>(-1e300) == count_min);
  CHECK(cm::convert<std::nano, rounding::up, double, std::ratio<1>>(1e-10) == 1);
  CHECK(cm::convert<std::nano, rounding::down, double, std::ratio<1>>(1e-10) == 0);
  CHECK(cm::convert<std::nano, rounding::up, float, std::milli>(1.5f) == 1'500'000);

  // Periods whose ratio needs more than 64 bits: approximate, but never towards early.
  using tiny = std::ratio<1, 205'891'132'094'649>;  // 3^-30 s
  const auto up = cm::convert<std::nano, rounding::up, long long, tiny>(1LL << 62);
  const auto down = cm::convert<std::nano, rounding::down, long long, tiny>(1LL << 62);
  CHECK(up >= 22'398'662'688'918);  // the exact ceiling
  CHECK(up <= 22'398'662'688'920);
  CHECK(down <= 22'398'662'688'917);
  CHECK(down >= 22'398'662'688'915);

  CHECK(cm::subtract(count_max, -1) == count_max);
  CHECK(cm::subtract(count_min, 1) == count_min);
  CHECK(cm::subtract(5, 7) == -2);
}

TEST_CASE("deadline::after: huge and infinite durations never pass, negative, zero and NaN ones have") {
  CHECK(is_never(deadline::never()));
  CHECK(is_past(deadline::past()));

  CHECK(is_never(deadline::after(hours::max())));
  CHECK(is_never(deadline::after(nanoseconds::max())));
  CHECK(is_never(deadline::after(duration<double>(inf))));
  CHECK(is_never(deadline::after(duration<long double>(std::numeric_limits<long double>::infinity()))));
  CHECK(is_never(deadline::after(duration<double>(1e300))));
  CHECK(is_never(deadline::after(duration<float, std::ratio<31'556'952>>(1e30f))));
  CHECK(is_never(deadline::after(duration<unsigned long long>(~0ULL))));
  CHECK(is_never(deadline::after(std::chrono::years(1'000))));

  CHECK(is_past(deadline::after(hours::min())));
  CHECK(is_past(deadline::after(nanoseconds::min())));
  CHECK(is_past(deadline::after(duration<double>(-inf))));
  CHECK(is_past(deadline::after(duration<double>(not_a_number))));
  CHECK(is_past(deadline::after(duration<double>(-0.0))));
  CHECK(is_past(deadline::after(-1s)));
  CHECK(is_past(deadline::after(0ns)));
  CHECK(is_past(deadline::after(duration<long long, std::ratio<1, 3>>(std::numeric_limits<long long>::min()))));
}

TEST_CASE("deadline::after: a finite duration, rounded up, measured on the steady clock") {
  const auto t0 = steady::now();
  const deadline d = deadline::after(10s);
  CHECK_FALSE(d.is_infinite());
  CHECK_FALSE(d.has_passed());
  CHECK(d.steady_time() >= t0 + 10s);
  CHECK(d.steady_time() <= steady::now() + 10s);
  CHECK(d.remaining() > 9s);
  CHECK(d.remaining() <= 10s);
  CHECK(d.sleep_time() <= 10s);

  // A fraction of a nanosecond more is a whole nanosecond later.
  const auto t1 = steady::now();
  const deadline frac = deadline::after(duration<double, std::milli>(1.0000001));
  CHECK(frac.steady_time() >= t1 + 1'000'001ns);

  // Far away, but finite: sleeps of at most an hour (re-checked), never a huge timeout.
  const deadline far = deadline::after(hours(24 * 365 * 100));
  CHECK_FALSE(far.is_infinite());
  CHECK_FALSE(far.has_passed());
  CHECK(far.sleep_time() == deadline::max_steady_sleep);

  const deadline short_one = deadline::after(20ms);
  std::this_thread::sleep_for(25ms);
  CHECK(short_one.has_passed());
  CHECK(short_one.remaining() == 0ns);
}

TEST_CASE("deadline::at: the limits of any clock and duration type saturate") {
  CHECK(is_never(deadline::at(steady::time_point::max())));
  CHECK(is_never(deadline::at(time_point<steady, hours>::max())));
  CHECK(is_never(deadline::at(time_point<steady, hours>(hours(1LL << 50)))));
  CHECK(is_never(deadline::at(time_point<steady, duration<double>>(duration<double>(inf)))));
  CHECK(is_never(deadline::at(sys::time_point::max())));
  CHECK(is_never(deadline::at(time_point<sys, hours>::max())));
  CHECK(is_never(deadline::at(time_point<sys, hours>(hours(1LL << 50)))));
  CHECK(is_never(deadline::at(time_point<sys, duration<double>>(duration<double>(inf)))));
  CHECK(is_never(deadline::at(time_point<sys, duration<double>>(duration<double>(1e300)))));
  CHECK(is_never(deadline::at(time_point<far_clock, hours>::max())));

  CHECK(is_past(deadline::at(steady::time_point::min())));
  CHECK(is_past(deadline::at(time_point<steady, hours>::min())));
  CHECK(is_past(deadline::at(time_point<steady, duration<double>>(duration<double>(-inf)))));
  CHECK(is_past(deadline::at(time_point<steady, duration<double>>(duration<double>(not_a_number)))));
  CHECK(is_past(deadline::at(steady::now() - 1ms)));
  CHECK(is_past(deadline::at(sys::time_point::min())));
  CHECK(is_past(deadline::at(time_point<sys, hours>::min())));
  CHECK(is_past(deadline::at(time_point<sys, hours>(hours(-(1LL << 50))))));
  CHECK(is_past(deadline::at(time_point<sys, duration<double>>(duration<double>(-inf)))));
  CHECK(is_past(deadline::at(time_point<sys, duration<double>>(duration<double>(not_a_number)))));
  CHECK(is_past(deadline::at(sys::now() - 1h)));
  CHECK(is_past(deadline::at(time_point<far_clock, hours>::min())));
}

TEST_CASE("deadline::at: a time point of another clock is checked on that clock") {
  const deadline on_system = deadline::at(sys::now() + 10s);
  CHECK_FALSE(on_system.is_infinite());
  CHECK_FALSE(on_system.has_passed());
  CHECK(on_system.remaining() > 9s);
  CHECK(on_system.remaining() <= 10s);
  CHECK(on_system.sleep_time() <= deadline::max_other_clock_sleep);
  CHECK(on_system.steady_time() > steady::now() + 9s);
  CHECK(on_system.steady_time() <= steady::now() + 10s);

  // A coarse duration type on the system clock: rounded to the clock's own counts.
  const auto next_hour = std::chrono::ceil<hours>(sys::now() + 1s);
  const deadline on_the_hour = deadline::at(time_point<sys, hours>(next_hour));
  CHECK_FALSE(on_the_hour.has_passed());
  CHECK(on_the_hour.remaining() <= 1h);

  // The manual clock decides alone, whatever the steady clock does.
  manual_clock::ticks = 0;
  const deadline manual = deadline::at(manual_clock::time_point(5ms));
  CHECK_FALSE(manual.has_passed());
  CHECK(manual.remaining() == 5ms);
  std::this_thread::sleep_for(10ms);
  CHECK_FALSE(manual.has_passed());
  manual_clock::ticks = 4;
  CHECK(manual.remaining() == 1ms);
  manual_clock::ticks = 5;
  CHECK(manual.has_passed());
  manual_clock::ticks = 0;  // set back: not passed any more, as on the clock
  CHECK_FALSE(manual.has_passed());

  // A clock whose now() is beyond nanoseconds since its epoch.
  const auto far_now = far_clock::now();
  CHECK_FALSE(deadline::at(far_now + 2s).has_passed());
  CHECK(deadline::at(far_now + 2s).remaining() > 0s);
  CHECK(deadline::at(far_now + 2s).remaining() <= 2s);
  CHECK(deadline::at(far_now - 1s).has_passed());
  CHECK(deadline::at(time_point<far_clock, std::chrono::milliseconds>(far_now + 2s)).remaining() <= 2s);
  // Nanoseconds since that epoch cannot reach now: such a time point has passed.
  CHECK(deadline::at(time_point<far_clock, nanoseconds>(nanoseconds::max() - 1ns)).has_passed());

  // A floating-point clock.
  const deadline soon = deadline::at(double_clock::now() + duration<double>(0.05));
  CHECK_FALSE(soon.has_passed());
  CHECK(soon.remaining() <= 50ms);
  CHECK(is_never(deadline::at(double_clock::time_point(duration<double>(inf)))));
  CHECK(is_past(deadline::at(double_clock::time_point(duration<double>(-inf)))));
  CHECK(is_past(deadline::at(double_clock::time_point(duration<double>(not_a_number)))));
  CHECK(is_past(deadline::at(double_clock::now() - duration<double>(1e-3))));
}

// ---------------------------------------------------------------------------------------
// The channels' timed waits with the same values: an infinite one waits for the message
// that comes ~50 ms later; a past one gives up at once.

namespace {

// Runs wait(ch) while another thread sends 7 after ~50 ms; what wait returned.
template <class Wait>
std::optional<int> receive_while_sent_later(Wait wait) {
  bobbin::channel<int> ch;
  std::thread sender([ch]() mutable {
    std::this_thread::sleep_for(50ms);
    ch.send(7);
  });
  std::optional<int> got = wait(ch);
  sender.join();
  return got;
}

// Runs wait(ch) on an empty channel nobody sends to; true if it returned nullopt within a
// second.
template <class Wait>
bool gives_up_promptly(Wait wait) {
  bobbin::channel<int> ch;
  const auto t0 = steady::now();
  const std::optional<int> got = wait(ch);
  return !got.has_value() && steady::now() - t0 < 1s;
}

}  // namespace

TEST_CASE("channel receive_for / receive_until: extreme values" * doctest::timeout(120)) {
  const auto for_ = [](auto d) { return [d](bobbin::channel<int>& ch) { return ch.receive_for(d); }; };
  const auto until = [](auto t) { return [t](bobbin::channel<int>& ch) { return ch.receive_until(t); }; };

  CHECK(receive_while_sent_later(for_(hours::max())) == 7);
  CHECK(receive_while_sent_later(for_(nanoseconds::max())) == 7);
  CHECK(receive_while_sent_later(for_(duration<double>(inf))) == 7);
  CHECK(receive_while_sent_later(for_(duration<double>(1e300))) == 7);
  CHECK(receive_while_sent_later(until(steady::time_point::max())) == 7);
  CHECK(receive_while_sent_later(until(sys::time_point::max())) == 7);
  CHECK(receive_while_sent_later(until(time_point<sys, hours>::max())) == 7);
  CHECK(receive_while_sent_later(until(time_point<steady, hours>::max())) == 7);
  CHECK(receive_while_sent_later(until(time_point<sys, duration<double>>(duration<double>(inf)))) == 7);

  CHECK(gives_up_promptly(for_(hours::min())));
  CHECK(gives_up_promptly(for_(nanoseconds::min())));
  CHECK(gives_up_promptly(for_(duration<double>(-inf))));
  CHECK(gives_up_promptly(for_(duration<double>(not_a_number))));
  CHECK(gives_up_promptly(for_(-1s)));
  CHECK(gives_up_promptly(until(steady::time_point::min())));
  CHECK(gives_up_promptly(until(sys::time_point::min())));
  CHECK(gives_up_promptly(until(time_point<sys, hours>::min())));
  CHECK(gives_up_promptly(until(time_point<steady, hours>::min())));
  CHECK(gives_up_promptly(until(time_point<sys, duration<double>>(duration<double>(not_a_number)))));
  CHECK(gives_up_promptly(until(time_point<sys, duration<double>>(duration<double>(-inf)))));
}

TEST_CASE("channel send_for / send_until on a full channel: extreme values" * doctest::timeout(120)) {
  // Infinite: a receiver makes room ~50 ms later.
  const auto send_while_room_later = [](auto send) {
    bobbin::channel<int> ch(bobbin::capacity{1});
    ch.send(1);
    std::optional<int> first;
    std::thread receiver([ch, &first]() mutable {
      std::this_thread::sleep_for(50ms);
      first = ch.receive();
    });
    const bobbin::send_status st = send(ch);
    receiver.join();
    return st == bobbin::send_status::ok && first == 1 && ch.try_receive() == 2;
  };
  const auto gives_up = [](auto send) {
    bobbin::channel<int> ch(bobbin::capacity{1});
    ch.send(1);
    const auto t0 = steady::now();
    const bobbin::send_status st = send(ch);
    return st == bobbin::send_status::full && steady::now() - t0 < 1s && ch.size() == 1;
  };
  const auto for_ = [](auto d) { return [d](bobbin::channel<int>& ch) { return ch.send_for(2, d); }; };
  const auto until = [](auto t) { return [t](bobbin::channel<int>& ch) { return ch.send_until(2, t); }; };

  CHECK(send_while_room_later(for_(hours::max())));
  CHECK(send_while_room_later(for_(duration<double>(inf))));
  CHECK(send_while_room_later(until(time_point<sys, hours>::max())));
  CHECK(send_while_room_later(until(steady::time_point::max())));

  CHECK(gives_up(for_(nanoseconds::min())));
  CHECK(gives_up(for_(duration<double>(not_a_number))));
  CHECK(gives_up(for_(duration<double>(-inf))));
  CHECK(gives_up(until(time_point<sys, hours>::min())));
  CHECK(gives_up(until(steady::time_point::min())));
}

TEST_CASE("channel receive_until on a clock that is not steady follows that clock" * doctest::timeout(60)) {
  // Ten seconds ahead on the manual clock, which another thread moves there after ~50 ms:
  // the wait ends within about a second of that (its sleeps are a second at most), not
  // ten seconds later.
  manual_clock::ticks = 0;
  bobbin::channel<int> ch;
  std::thread mover([] {
    std::this_thread::sleep_for(50ms);
    manual_clock::ticks = 10'000;
  });
  const auto t0 = steady::now();
  const std::optional<int> got = ch.receive_until(manual_clock::time_point(10s));
  const auto took = steady::now() - t0;
  mover.join();
  CHECK_FALSE(got.has_value());
  CHECK(took >= 45ms);  // not before the clock got there
  CHECK(took < 5s);
  manual_clock::ticks = 0;
}
