// shared_buffer (SharedArrayBuffer) and typed_array<T> (Int8Array ... BigUint64Array).
#include <bobbin/shared_buffer.hpp>

#include <doctest/doctest.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <stdexcept>
#include <thread>
#include <typeinfo>
#include <vector>

using bobbin::shared_buffer;
using bobbin::typed_array;

namespace {

template <class E, class F>
bool throws_exactly(F&& f) {
  try {
    f();
  } catch (const E& e) {
    return typeid(e) == typeid(E);
  } catch (...) {
  }
  return false;
}

}  // namespace

static_assert(bobbin::typed_array_element<std::int8_t> && bobbin::typed_array_element<std::uint8_t>);
static_assert(bobbin::typed_array_element<std::int16_t> && bobbin::typed_array_element<std::uint16_t>);
static_assert(bobbin::typed_array_element<std::int32_t> && bobbin::typed_array_element<std::uint32_t>);
static_assert(bobbin::typed_array_element<std::int64_t> && bobbin::typed_array_element<std::uint64_t>);
static_assert(!bobbin::typed_array_element<float> && !bobbin::typed_array_element<double>);
static_assert(!bobbin::typed_array_element<bool> && !bobbin::typed_array_element<char>);
static_assert(!bobbin::typed_array_element<const int> && !bobbin::typed_array_element<char32_t>);

TEST_CASE("shared_buffer: zeroed, cache-line aligned, shared by copies") {
  shared_buffer buf(1000);
  CHECK(buf.byte_length() == 1000);
  CHECK(buf.max_byte_length() == 1000);
  CHECK_FALSE(buf.growable());
  CHECK(reinterpret_cast<std::uintptr_t>(buf.data()) % 64 == 0);
  CHECK(std::all_of(buf.data(), buf.data() + 1000, [](std::byte b) { return b == std::byte{0}; }));

  shared_buffer copy = buf;  // like posting a SharedArrayBuffer: same memory
  CHECK(copy == buf);
  CHECK(copy.data() == buf.data());
  copy.data()[7] = std::byte{42};
  CHECK(buf.data()[7] == std::byte{42});
  CHECK_FALSE(shared_buffer(1000) == buf);

  shared_buffer empty;
  CHECK(empty.byte_length() == 0);
  CHECK(empty.data() != nullptr);
}

TEST_CASE("shared_buffer: the bytes outlive the handle that made them") {
  typed_array<std::int32_t> view = [] {
    shared_buffer buf(16);
    typed_array<std::int32_t> v(buf);
    v[3] = 7;
    return v;
  }();
  CHECK(view.size() == 4);
  CHECK(view[3] == 7);
  CHECK(view.buffer().byte_length() == 16);
}

TEST_CASE("shared_buffer: a fixed-length buffer refuses to grow") {
  shared_buffer buf(32);
  CHECK(throws_exactly<std::logic_error>([&] { buf.grow(64); }));
  CHECK(throws_exactly<std::logic_error>([&] { buf.grow(32); }));
  CHECK(buf.byte_length() == 32);
}

TEST_CASE("shared_buffer: byte_length above max_byte_length throws std::out_of_range") {
  CHECK(throws_exactly<std::out_of_range>([] { shared_buffer b(65, {.max_byte_length = 64}); }));
  shared_buffer same(64, {.max_byte_length = 64});  // growable even with no room to grow
  CHECK(same.growable());
  CHECK(same.max_byte_length() == 64);
}

TEST_CASE("shared_buffer: grow keeps contents and address, refuses shrinking and passing max") {
  shared_buffer g(64, {.max_byte_length = 4096});
  CHECK(g.growable());
  CHECK(g.byte_length() == 64);
  CHECK(g.max_byte_length() == 4096);
  std::byte* const address = g.data();
  for (std::size_t i = 0; i < 64; ++i) g.data()[i] = static_cast<std::byte>(i + 1);
  typed_array<std::uint8_t> fixed(g, 0, 64);
  typed_array<std::uint8_t> tracking(g);
  CHECK(tracking.length_tracking());
  CHECK_FALSE(fixed.length_tracking());

  g.grow(128);
  CHECK(g.byte_length() == 128);
  CHECK(g.data() == address);
  for (std::size_t i = 0; i < 64; ++i) CHECK(g.data()[i] == static_cast<std::byte>(i + 1));
  for (std::size_t i = 64; i < 128; ++i) CHECK(g.data()[i] == std::byte{0});
  CHECK(fixed.size() == 64);
  CHECK(tracking.size() == 128);
  CHECK(tracking.at(127) == 0);
  CHECK(fixed[63] == 64);

  CHECK(throws_exactly<std::invalid_argument>([&] { g.grow(127); }));
  CHECK(throws_exactly<std::out_of_range>([&] { g.grow(4097); }));
  CHECK(g.byte_length() == 128);
  g.grow(128);  // the same length is allowed, as in JavaScript
  g.grow(4096);
  CHECK(g.byte_length() == 4096);
  CHECK(g.data() == address);
  CHECK(tracking.size() == 4096);
  CHECK_THROWS_AS(g.grow(4097), std::out_of_range);
}

TEST_CASE("shared_buffer: concurrent grows take the largest, readers see the length only rise" * doctest::timeout(60)) {
  constexpr std::size_t threads = 4;
  constexpr std::size_t max = 64 * 1024;
  shared_buffer g(0, {.max_byte_length = max});
  std::vector<std::size_t> refused(threads, 0);
  std::vector<std::size_t> went_down(threads, 0);
  {
    std::vector<std::jthread> growers;
    for (std::size_t t = 0; t < threads; ++t) {
      growers.emplace_back([&, t] {
        std::size_t last_seen = 0;
        for (std::size_t n = t; n <= max; n += threads) {
          try {
            g.grow(n);
          } catch (const std::invalid_argument&) {
            ++refused[t];  // another thread grew past n first
          }
          const std::size_t now = g.byte_length();
          if (now < last_seen || now < n) ++went_down[t];
          last_seen = now;
        }
      });
    }
  }
  CHECK(g.byte_length() == max);
  for (std::size_t t = 0; t < threads; ++t) CHECK(went_down[t] == 0);
}

TEST_CASE("typed_array: views with offsets and lengths, like new Int32Array(sab, off, len)") {
  shared_buffer buf(64);
  typed_array<std::int32_t> all(buf);
  CHECK(all.size() == 16);
  CHECK(all.byte_offset() == 0);
  CHECK(all.byte_length() == 64);
  CHECK(all.buffer() == buf);
  CHECK(typed_array<std::int32_t>::bytes_per_element == 4);

  typed_array<std::int32_t> tail(buf, 16);
  CHECK(tail.size() == 12);
  CHECK(tail.byte_offset() == 16);
  typed_array<std::int32_t> middle(buf, 8, 3);
  CHECK(middle.size() == 3);
  CHECK(middle.byte_length() == 12);
  CHECK(middle.data() == all.data() + 2);

  middle[0] = 5;
  CHECK(all[2] == 5);
  tail[0] = -1;
  CHECK(all[4] == -1);

  typed_array<std::uint8_t> bytes(buf, 16, 4);
  CHECK(std::all_of(bytes.begin(), bytes.end(), [](std::uint8_t b) { return b == 0xff; }));
  typed_array<std::uint64_t> wide(buf, 8, 1);
  all[2] = 0x01010101;
  all[3] = 0x01010101;
  CHECK(wide[0] == 0x0101010101010101ULL);

  typed_array<std::int32_t> at_end(buf, 64);  // JavaScript allows an empty view at the end
  CHECK(at_end.size() == 0);
  typed_array<std::int16_t> none(buf, 10, 0);
  CHECK(none.size() == 0);

  std::int64_t sum = 0;  // middle is all[2..4]
  for (std::int32_t v : middle.span()) sum += v;
  CHECK(sum == std::int64_t{0x01010101} * 2 - 1);
}

TEST_CASE("typed_array: misaligned views throw std::invalid_argument, oversized std::out_of_range") {
  shared_buffer buf(16);
  CHECK(throws_exactly<std::invalid_argument>([&] { typed_array<std::int32_t> v(buf, 2); }));
  CHECK(throws_exactly<std::invalid_argument>([&] { typed_array<std::int64_t> v(buf, 4, 1); }));
  CHECK(throws_exactly<std::invalid_argument>([&] { typed_array<std::int16_t> v(buf, 1, 0); }));
  CHECK(throws_exactly<std::out_of_range>([&] { typed_array<std::int32_t> v(buf, 20); }));
  CHECK(throws_exactly<std::out_of_range>([&] { typed_array<std::int32_t> v(buf, 20, 0); }));
  CHECK(throws_exactly<std::out_of_range>([&] { typed_array<std::int32_t> v(buf, 4, 4); }));
  CHECK(throws_exactly<std::out_of_range>([&] { typed_array<std::int64_t> v(buf, 0, 3); }));
  // A length whose byte count overflows must not wrap into range.
  CHECK(throws_exactly<std::out_of_range>([&] {
    typed_array<std::int64_t> v(buf, 8, std::numeric_limits<std::size_t>::max() / 4);
  }));

  // Without a length, a fixed-length buffer must hold whole elements (JavaScript: RangeError).
  shared_buffer six(6);
  CHECK(throws_exactly<std::invalid_argument>([&] { typed_array<std::int32_t> v(six); }));
  typed_array<std::int32_t> one(six, 0, 1);
  CHECK(one.size() == 1);
  typed_array<std::int16_t> three(six);
  CHECK(three.size() == 3);

  // A growable buffer has no such rule: the tracking view rounds down.
  shared_buffer g(6, {.max_byte_length = 64});
  typed_array<std::int32_t> tracking(g);
  CHECK(tracking.size() == 1);
  CHECK(throws_exactly<std::out_of_range>([&] { typed_array<std::int32_t> v(g, 8); }));
}

TEST_CASE("typed_array: at() is bounds-checked, also on a length-tracking view") {
  shared_buffer buf(16);
  typed_array<std::int32_t> a(buf, 4, 2);
  a.at(1) = 9;
  CHECK(a[1] == 9);
  CHECK(throws_exactly<std::out_of_range>([&] { (void)a.at(2); }));
  CHECK(throws_exactly<std::out_of_range>([&] { (void)a.at(std::numeric_limits<std::size_t>::max()); }));

  shared_buffer g(8, {.max_byte_length = 32});
  typed_array<std::int64_t> t(g);
  CHECK(throws_exactly<std::out_of_range>([&] { (void)t.at(1); }));
  g.grow(16);
  t.at(1) = -5;
  CHECK(t[1] == -5);
  CHECK(throws_exactly<std::out_of_range>([&] { (void)t.at(2); }));
}

TEST_CASE_TEMPLATE("typed_array: every integer element type", T, std::int8_t, std::uint8_t, std::int16_t, std::uint16_t,
                   std::int32_t, std::uint32_t, std::int64_t, std::uint64_t) {
  shared_buffer buf(128);
  typed_array<T> v(buf, sizeof(T), 4);
  CHECK(v.size() == 4);
  CHECK(v.byte_length() == 4 * sizeof(T));
  CHECK(reinterpret_cast<std::uintptr_t>(v.data()) % sizeof(T) == 0);
  v[0] = std::numeric_limits<T>::max();
  v[3] = std::numeric_limits<T>::min();
  typed_array<T> whole(buf);
  CHECK(whole.size() == 128 / sizeof(T));
  CHECK(whole[1] == std::numeric_limits<T>::max());
  CHECK(whole[4] == std::numeric_limits<T>::min());
  CHECK(whole[0] == 0);
  CHECK(whole[5] == 0);
  if constexpr (sizeof(T) > 1) {
    CHECK(throws_exactly<std::invalid_argument>([&] { typed_array<T> m(buf, sizeof(T) - 1); }));
  }
}
