// Dedicated workers:
//
//   round_trip    owner post_message, the worker echoes, owner receive   (median_us, p99_us)
//   port_pingpong the same over a bare make_message_channel and a std::thread, for scale
//   start_join    construct a worker whose function returns at once, then join it
//
// Every run checks the echoed values (and exit codes) and reports an error instead of a
// figure if one is wrong. Target (issue 6): round_trip median under 20 us.

#include <bobbin/worker.hpp>

#include <benchmark/benchmark.h>

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <thread>
#include <vector>

namespace {

constexpr int rounds = 10'000;  // round trips per iteration, each timed on its own

void report(benchmark::State& state, std::vector<double>& us, bool wrong, const char* what) {
  if (wrong || us.empty()) {
    state.SkipWithError(what);
    return;
  }
  std::sort(us.begin(), us.end());
  const auto at = [&](double q) { return us[static_cast<std::size_t>(q * static_cast<double>(us.size() - 1))]; };
  state.counters["median_us"] = at(0.50);
  state.counters["p99_us"] = at(0.99);
  state.SetItemsProcessed(state.iterations() * rounds);
}

void round_trip(benchmark::State& state) {
  std::vector<double> us;
  bool wrong = false;
  for (auto _ : state) {
    bobbin::worker<int> echo([](bobbin::worker_context<int>& ctx) {
      for (int v : ctx.parent_port()) ctx.parent_port().post_message(v);
      return 3;
    });
    for (int i = 0; i < rounds; ++i) {
      const auto start = std::chrono::steady_clock::now();
      echo.post_message(i);
      const auto reply = echo.receive();
      const auto stop = std::chrono::steady_clock::now();
      us.push_back(std::chrono::duration<double, std::micro>(stop - start).count());
      wrong = wrong || reply != i;
    }
    echo.terminate();
    wrong = wrong || echo.join() != 3;
  }
  report(state, us, wrong, "round_trip: an echo did not match, or the exit code was wrong");
}

void port_pingpong(benchmark::State& state) {
  std::vector<double> us;
  bool wrong = false;
  for (auto _ : state) {
    auto [mine, theirs] = bobbin::make_message_channel<int>();
    std::thread echo([port = theirs]() mutable {
      for (int v : port) port.post_message(v);
    });
    for (int i = 0; i < rounds; ++i) {
      const auto start = std::chrono::steady_clock::now();
      mine.post_message(i);
      const auto reply = mine.receive();
      const auto stop = std::chrono::steady_clock::now();
      us.push_back(std::chrono::duration<double, std::micro>(stop - start).count());
      wrong = wrong || reply != i;
    }
    mine.close();
    echo.join();
  }
  report(state, us, wrong, "port_pingpong: an echo did not match");
}

void start_join(benchmark::State& state) {
  bool wrong = false;
  for (auto _ : state) {
    bobbin::worker<int> w([](bobbin::worker_context<int>& ctx) { return static_cast<int>(ctx.thread_id() % 100); });
    wrong = wrong || w.join() != static_cast<int>(w.thread_id() % 100);
  }
  if (wrong) state.SkipWithError("start_join: wrong exit code");
}

}  // namespace

BENCHMARK(round_trip)->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK(port_pingpong)->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK(start_join)->UseRealTime()->Unit(benchmark::kMicrosecond);

BENCHMARK_MAIN();
