// libFuzzer target for bobbin::channel<T> (issue 8b). Each input drives two runs:
// - sequential: one thread sends, receives, closes, copies and drops handles, and makes
//   chosen copies or moves of a message throw, on one channel (unbounded, or bounded with
//   1 to 8 slots), checked after every call against a model queue: the exact answer of
//   every send and receive, the message received, size(), closed(), and the number of
//   messages alive (a leak or a double destruction shows there, and ASan sees the heap
//   payload). A call that would block forever here is replaced by its timed form, which
//   must then time out.
// - concurrent: producers and consumers on threads, with blocking or non-blocking calls,
//   maybe a close while they run and consumers that leave early: every accepted message is
//   received at most once, in each producer's order, and exactly once when the consumers
//   drain; whatever is left is destroyed with the last handle.
//
// Input: byte 0 picks the channel (unbounded or capacity 1..8) and the message size
// (small, or 2 KiB so that an unbounded channel's segments hold only 8 slots); byte 1 the
// shape of the concurrent run; every further byte is an operation (low 4 bits) with an
// argument (high 4 bits).

#include <bobbin/channel.hpp>

#include "../support/counted.hpp"

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <optional>
#include <span>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace {

[[noreturn]] void fail(const char* what) {
  std::fprintf(stderr, "fuzz_channel: %s\n", what);
  std::abort();
}

void require(bool ok, const char* what) {
  if (!ok) fail(what);
}

// Messages alive (constructed minus destroyed): msg_count::live.
using msg_count = bobbin_test::counted<std::uint64_t, struct msg_tag>;

// Failure injection, sequential run only: while a channel call is under way (in_call), the
// next copy or move of a message throws once (fail_next).
thread_local bool in_call = false;
thread_local bool fail_next = false;

struct injected_failure {};

void maybe_fail() {
  if (in_call && fail_next) {
    fail_next = false;
    throw injected_failure{};
  }
}

// Scope of one channel call: copies and moves inside it may be made to throw.
struct call_scope {
  call_scope() { in_call = true; }
  ~call_scope() { in_call = false; }
  call_scope(const call_scope&) = delete;
  call_scope& operator=(const call_scope&) = delete;
};

std::string text_for(std::uint64_t id) {
  // Longer than the small-string buffer: on the heap, where ASan sees a double free.
  return "message " + std::to_string(id) + " with a payload long enough for the heap";
}

// A message: its id is `value`.
template <std::size_t Pad>
struct msg : msg_count {
  std::string payload;
  std::array<std::uint64_t, Pad> pad;

  explicit msg(std::uint64_t i) : msg_count(i), payload(text_for(i)), pad{} { pad.fill(i); }
  // maybe_fail() first: a throwing copy or move leaves its source as it was.
  msg(const msg& o) : msg_count((maybe_fail(), o)), payload(o.payload), pad(o.pad) {}
  msg(msg&& o) : msg_count((maybe_fail(), std::move(o))), payload(std::move(o.payload)), pad(o.pad) {}
  msg& operator=(const msg&) = delete;
  msg& operator=(msg&&) = delete;

  bool intact() const {
    return payload == text_for(value) &&
           std::all_of(pad.begin(), pad.end(), [this](std::uint64_t w) { return w == value; });
  }
};

// The sequential model: queued entries in order, a skipped slot (a send whose copy threw
// after it claimed its place) as nullopt. Skipped slots count in size() and take room in
// a bounded channel until a receive steps over them.
struct model {
  std::deque<std::optional<std::uint64_t>> q;
  bool closed = false;
  std::size_t capacity = 0;  // 0: unbounded

  bool full() const { return capacity != 0 && q.size() >= capacity; }
  bobbin::send_status send_answer() const {
    if (closed) return bobbin::send_status::closed;
    return full() ? bobbin::send_status::full : bobbin::send_status::ok;
  }
  void drop_skipped() {
    while (!q.empty() && !q.front()) q.pop_front();
  }
  long messages() const {
    return static_cast<long>(std::count_if(q.begin(), q.end(), [](const auto& e) { return e.has_value(); }));
  }
};

struct byte_reader {
  std::span<const std::uint8_t> bytes;
  std::size_t at = 0;
  bool empty() const { return at >= bytes.size(); }
  unsigned next() { return at < bytes.size() ? bytes[at++] : 0u; }
};

template <std::size_t Pad>
class sequential_run {
  using M = msg<Pad>;
  using channel = bobbin::channel<M>;

 public:
  explicit sequential_run(std::size_t capacity) : capacity_(capacity) { fresh(); }

  void step(unsigned code, unsigned arg) {
    switch (code) {
      case 0: send(arg, false); break;
      case 1: send(arg, true); break;
      case 2: try_send(arg, false); break;
      case 3: try_send(arg, true); break;
      case 4: send_for(arg); break;
      case 5: receive(); break;
      case 6: try_receive(); break;
      case 7: receive_for(arg); break;
      case 8: close(arg); break;
      case 9: copy_handle(arg); break;
      case 10: drop_handle(arg); break;
      case 11: fail_next = true; break;
      case 12: drain(); break;
      case 13: move_handle(arg); break;
      case 14: burst(arg); break;
      default: check_handles(); break;
    }
    check();
  }

  // Drops every handle: the channel goes, with whatever it still holds.
  void finish() {
    handles_.clear();
    fail_next = false;
    require(msg_count::live.load() == 0, "messages outlived their channel (or were destroyed twice)");
  }

 private:
  channel& pick(unsigned arg) { return handles_[arg % handles_.size()]; }

  void fresh() {
    handles_.clear();
    handles_.push_back(capacity_ == 0 ? channel() : channel(bobbin::capacity{capacity_}));
    m_ = model{};
    m_.capacity = capacity_;
  }

  // A send that claims a place constructs the message there; if the construction throws,
  // the place is a skipped slot.
  template <class Call>
  bobbin::send_status sending(M& v, bobbin::send_status expect, Call&& call) {
    const bool will_throw = expect == bobbin::send_status::ok && fail_next;
    bobbin::send_status got;
    try {
      call_scope scope;
      got = call(v);
    } catch (const injected_failure&) {
      require(will_throw, "send threw where no copy or move should have been made");
      m_.q.push_back(std::nullopt);
      require(v.intact(), "a send whose copy threw changed the message");
      return bobbin::send_status::ok;
    }
    require(!will_throw, "send should have copied or moved the message (and thrown)");
    require(got == expect, "send answered otherwise than the model");
    if (got == bobbin::send_status::ok) {
      m_.q.push_back(v.value);
    } else {
      require(v.intact(), "a failed send changed the message");
    }
    return got;
  }

  void send(unsigned arg, bool move) {
    M v(next_id_++);
    channel& ch = pick(arg);
    const bobbin::send_status expect = m_.send_answer();
    if (expect == bobbin::send_status::full) {  // would block forever: the timed form times out
      const std::chrono::nanoseconds now{0};
      sending(v, expect, [&](M& x) { return move ? ch.send_for(std::move(x), now) : ch.send_for(x, now); });
      return;
    }
    sending(v, expect, [&](M& x) {
      const bool ok = move ? ch.send(std::move(x)) : ch.send(x);
      return ok ? bobbin::send_status::ok : bobbin::send_status::closed;
    });
  }

  void try_send(unsigned arg, bool move) {
    M v(next_id_++);
    channel& ch = pick(arg);
    sending(v, m_.send_answer(), [&](M& x) { return move ? ch.try_send(std::move(x)) : ch.try_send(x); });
  }

  void send_for(unsigned arg) {
    M v(next_id_++);
    channel& ch = pick(arg);
    const auto d = std::chrono::microseconds(arg & 4 ? 2 : 0);
    sending(v, m_.send_answer(), [&](M& x) { return arg & 8 ? ch.send_for(std::move(x), d) : ch.send_for(x, d); });
  }

  // What a receive should return: nullopt, or the front message; skipped slots on the way
  // are stepped over. A move out that throws loses the message.
  template <class Call>
  void receiving(Call&& call) {
    m_.drop_skipped();
    const bool has = !m_.q.empty();
    const bool will_throw = has && fail_next;
    try {
      std::optional<M> got = scoped(call);
      require(!will_throw, "receive should have moved the message out (and thrown)");
      require(got.has_value() == has, "receive: nullopt disagrees with the model");
      if (got) {
        require(got->intact(), "a received message is damaged");
        require(got->value == *m_.q.front(), "received a message out of order");
        m_.q.pop_front();
      }
    } catch (const injected_failure&) {
      require(will_throw, "receive threw where no move should have been made");
      m_.q.pop_front();
    }
  }

  // Runs call() inside a call_scope; its result is returned without a copy or move.
  template <class Call>
  static auto scoped(Call& call) {
    call_scope scope;
    return call();
  }

  bool would_block() {
    m_.drop_skipped();
    return m_.q.empty() && !m_.closed;
  }

  void receive() {
    channel& ch = pick(0);
    if (would_block()) {
      receiving([&] { return ch.receive_for(std::chrono::nanoseconds(0)); });
    } else {
      receiving([&] { return ch.receive(); });
    }
  }

  void try_receive() {
    channel& ch = pick(next_pick_++);
    receiving([&] { return ch.try_receive(); });
  }

  void receive_for(unsigned arg) {
    channel& ch = pick(arg);
    const auto d = std::chrono::microseconds(arg & 8 ? 1 : 0);
    receiving([&] { return ch.receive_for(d); });
  }

  void close(unsigned arg) {
    pick(arg).close();
    m_.closed = true;
  }

  void copy_handle(unsigned arg) {
    if (handles_.size() >= 6) return;
    channel copy = pick(arg);
    require(copy == pick(arg), "a copied handle is not equal to its source");
    handles_.push_back(std::move(copy));
  }

  void drop_handle(unsigned arg) {
    handles_.erase(handles_.begin() + static_cast<std::ptrdiff_t>(arg % handles_.size()));
    if (!handles_.empty()) return;
    // The last handle went: the channel and every message in it are destroyed.
    require(msg_count::live.load() == 0, "messages outlived their channel (or were destroyed twice)");
    fresh();
  }

  void move_handle(unsigned arg) {
    const std::size_t to = arg % handles_.size();
    const std::size_t from = (arg / 4) % handles_.size();
    if (to == from) return;
    handles_[to] = std::move(handles_[from]);
    handles_.erase(handles_.begin() + static_cast<std::ptrdiff_t>(from));  // moved-from: only destroyed
  }

  // for (auto&& v : ch) on a closed channel: every message left, in order.
  void drain() {
    if (!m_.closed || fail_next) {
      try_receive();
      return;
    }
    for (auto&& v : pick(0)) {
      m_.drop_skipped();
      require(!m_.q.empty(), "the range loop received more than was sent");
      require(v.intact() && v.value == *m_.q.front(), "the range loop received the wrong message");
      m_.q.pop_front();
    }
    m_.drop_skipped();
    require(m_.q.empty(), "the range loop ended before the channel was drained");
  }

  // Many sends in a row (past segment ends), then receives of about half of them.
  void burst(unsigned arg) {
    const unsigned n = 1 + arg * 9;
    for (unsigned i = 0; i < n; ++i) try_send(i, (i & 1) != 0);
    for (unsigned i = 0; i < n / 2; ++i) try_receive();
  }

  void check_handles() {
    for (const channel& h : handles_) require(h == handles_.front(), "handles of one channel compare unequal");
    const channel other;
    require(!(other == handles_.front()), "handles of two channels compare equal");
  }

  void check() {
    const channel& ch = handles_.front();
    require(ch.size() == m_.q.size(), "size() disagrees with the model");
    require(ch.closed() == m_.closed, "closed() disagrees with the model");
    require(m_.capacity == 0 || ch.size() <= m_.capacity, "size() above the capacity");
    require(msg_count::live.load() == m_.messages(), "messages alive differ from messages queued");
  }

  std::size_t capacity_;
  std::vector<channel> handles_;
  model m_;
  std::uint64_t next_id_ = 0;
  unsigned next_pick_ = 0;
};

// Producers and consumers on threads. Each producer p sends ids p << 32 | 0, 1, 2, ...
template <std::size_t Pad>
void concurrent_run(std::size_t capacity, unsigned shape, unsigned extra) {
  using M = msg<Pad>;
  using channel = bobbin::channel<M>;
  const unsigned producers = 1 + (shape & 1);
  const unsigned consumers = 1 + ((shape >> 1) & 1);
  const bool blocking_send = (shape & 4) == 0;
  const unsigned receive_mode = (shape >> 3) % 3;  // receive, try_receive, receive_for
  const bool close_early = (shape & 32) != 0;
  // Consumer 0 leaves after a few messages; the other one drains the rest.
  const bool quitter = (shape & 64) != 0 && consumers == 2;
  const std::uint64_t per_producer = 1 + extra % 97;

  std::optional<channel> ch;
  if (capacity == 0) {
    ch.emplace();
  } else {
    ch.emplace(bobbin::capacity{capacity});
  }
  std::vector<std::vector<std::uint64_t>> accepted(producers);
  std::vector<int> producer_errors(producers, 0);
  std::vector<std::vector<std::uint64_t>> received(consumers);
  std::vector<int> consumer_errors(consumers, 0);
  std::atomic<unsigned> producers_left{producers};

  // The next message for a consumer, nullopt once the channel is closed and drained.
  auto next = [receive_mode](channel& rx) -> std::optional<M> {
    for (;;) {
      if (receive_mode == 0) return rx.receive();
      if (receive_mode == 1) {
        if (auto v = rx.try_receive()) return v;
        // Closed with nothing left (size() counts sends still in progress): the end.
        if (rx.closed() && rx.size() == 0) return rx.try_receive();
        std::this_thread::yield();
        continue;
      }
      if (auto v = rx.receive_for(std::chrono::microseconds(50))) return v;
      if (rx.closed()) return rx.receive();
    }
  };

  {
    std::vector<std::jthread> threads;
    for (unsigned c = 0; c < consumers; ++c) {
      threads.emplace_back([c, rx = *ch, quitter, &next, &received, &consumer_errors]() mutable {
        auto& mine = received[c];
        for (;;) {
          if (quitter && c == 0 && mine.size() >= 3) return;  // rx, a handle, goes with us
          std::optional<M> v = next(rx);
          if (!v) return;
          if (!v->intact()) ++consumer_errors[c];
          mine.push_back(v->value);
        }
      });
    }
    for (unsigned p = 0; p < producers; ++p) {
      threads.emplace_back([p, tx = *ch, blocking_send, per_producer, &accepted, &producer_errors,
                            &producers_left]() mutable {
        for (std::uint64_t i = 0; i < per_producer; ++i) {
          M v((std::uint64_t{p} << 32) | i);
          bool ok;
          if (blocking_send) {
            ok = (i & 1) != 0 ? tx.send(v) : tx.send(std::move(v));
          } else {
            bobbin::send_status s;
            while ((s = tx.try_send(v)) == bobbin::send_status::full) std::this_thread::yield();
            ok = s == bobbin::send_status::ok;
          }
          if (ok) {
            accepted[p].push_back(i);
          } else {
            if (!v.intact()) ++producer_errors[p];  // a refused message is left as it was
            break;  // closed: every later send fails too
          }
        }
        producers_left.fetch_sub(1);
      });
    }
    if (close_early) {
      for (unsigned i = 0; i < extra % 64; ++i) std::this_thread::yield();
      ch->close();
    } else {
      while (producers_left.load() != 0) std::this_thread::yield();
      ch->close();
    }
    if ((extra & 1) != 0) ch.reset();  // the last handle may go on another thread
  }  // joins
  ch.reset();

  require(msg_count::live.load() == 0, "messages outlived their channel (or were destroyed twice)");
  for (int e : producer_errors) require(e == 0, "a refused send changed the message");
  for (int e : consumer_errors) require(e == 0, "a received message is damaged");
  std::vector<std::vector<std::uint8_t>> seen(producers);
  for (unsigned p = 0; p < producers; ++p) {
    seen[p].assign(accepted[p].size(), 0);
    for (std::size_t i = 0; i < accepted[p].size(); ++i) require(accepted[p][i] == i, "producer bookkeeping");
  }
  for (const auto& mine : received) {
    std::vector<std::uint64_t> last(producers, 0);
    std::vector<bool> any(producers, false);
    for (std::uint64_t id : mine) {
      const auto p = static_cast<unsigned>(id >> 32);
      const std::uint64_t i = id & 0xffffffffu;
      require(p < producers && i < accepted[p].size(), "received a message that was not accepted");
      require(seen[p][i]++ == 0, "a message was received twice");
      require(!any[p] || i > last[p], "a producer's messages arrived out of order");
      any[p] = true;
      last[p] = i;
    }
  }
  if (!quitter) {
    for (const auto& s : seen) require(std::find(s.begin(), s.end(), 0) == s.end(), "an accepted message was lost");
  }
}

template <std::size_t Pad>
void run(std::size_t capacity, unsigned shape, byte_reader in) {
  const unsigned extra = in.bytes.empty() ? 0u : in.bytes.back();
  {
    sequential_run<Pad> s(capacity);
    while (!in.empty()) {
      const unsigned b = in.next();
      s.step(b & 15u, b >> 4);
    }
    s.finish();
  }
  concurrent_run<Pad>(capacity, shape, extra);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 2) return 0;
  const unsigned kind = data[0] % 10;
  const std::size_t capacity = kind < 2 ? 0 : kind - 1;  // 0: unbounded; else 1..8
  byte_reader in{std::span(data + 2, size - 2)};
  if (data[0] & 0x80u) {
    run<256>(capacity, data[1], in);
  } else {
    run<1>(capacity, data[1], in);
  }
  return 0;
}
