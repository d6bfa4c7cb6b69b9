// bobbin_soak: the stress workload of tests/stress/test_stress.cpp (workload.hpp) in a loop,
// round after round on fresh pools, cycling through the five policies, for a given time.
// Once a minute it prints that minute's throughput and counts, and at the end a verdict
// comparing the last minute with the first: the pool must not slow down, leak or lose
// anything over time. Exits non-zero as soon as a round fails a check.
//
//   bobbin_soak [--minutes N] [--tasks-per-round K] [--seed S] [--min-ratio R] [--period-seconds P]
//
//   --minutes N          how long to run, in whole minutes (default 1); 0: one round per
//                        policy, then stop (a smoke test)
//   --tasks-per-round K  ids planned per round (default 100000, as the test)
//   --seed S             the run's seed (default 0x5eed); printed with any failure
//   --min-ratio R        exit 2 if last/first minute throughput < R (default 0: report only)
//   --period-seconds P   length of a reporting "minute" (default 60; shorter to try it out)
#include "workload.hpp"

#include <chrono>
#include <cinttypes>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#if defined(__linux__)
#include <sys/resource.h>
#include <unistd.h>
#endif

namespace {

struct options {
  double minutes = 1;
  std::uint32_t tasks_per_round = 100'000;  // as in test_stress.cpp
  std::uint64_t seed = 0x5eed;
  double min_ratio = 0;
  double period = 60;
};

[[noreturn]] void usage(const char* why) {
  std::fprintf(stderr,
               "bobbin_soak: %s\nusage: bobbin_soak [--minutes N] [--tasks-per-round K] [--seed S] "
               "[--min-ratio R] [--period-seconds P]\n",
               why);
  std::exit(64);
}

options parse(int argc, char** argv) {
  options o;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (i + 1 >= argc) usage(("missing value after " + a).c_str());
    const char* v = argv[++i];
    char* end = nullptr;
    if (a == "--minutes") {
      o.minutes = std::strtod(v, &end);
    } else if (a == "--tasks-per-round") {
      o.tasks_per_round = static_cast<std::uint32_t>(std::strtoul(v, &end, 0));
    } else if (a == "--seed") {
      o.seed = std::strtoull(v, &end, 0);
    } else if (a == "--min-ratio") {
      o.min_ratio = std::strtod(v, &end);
    } else if (a == "--period-seconds") {
      o.period = std::strtod(v, &end);
    } else {
      usage(("unknown option " + a).c_str());
    }
    if (end == v || *end != '\0') usage(("bad value for " + a).c_str());
  }
  if (o.minutes < 0 || o.tasks_per_round == 0 || o.period <= 0) usage("values out of range");
  return o;
}

double rss_mb() {
#if defined(__linux__)
  if (std::FILE* f = std::fopen("/proc/self/statm", "r")) {
    unsigned long pages = 0, resident = 0;
    const int n = std::fscanf(f, "%lu %lu", &pages, &resident);
    std::fclose(f);
    if (n == 2) return static_cast<double>(resident) * static_cast<double>(sysconf(_SC_PAGESIZE)) / 1e6;
  }
#endif
  return 0;
}

// CPU time this process has used (user + system), in seconds: tasks per CPU-second moves
// less than tasks per second when other programs share the machine.
double cpu_seconds() {
#if defined(__linux__)
  rusage u{};
  if (getrusage(RUSAGE_SELF, &u) == 0) {
    return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
           static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
  }
#endif
  return 0;
}

// The machine's 1-minute load average: the soak shares it, and says with whom.
double load_average() {
#if defined(__linux__)
  if (std::FILE* f = std::fopen("/proc/loadavg", "r")) {
    double l = 0;
    const int n = std::fscanf(f, "%lf", &l);
    std::fclose(f);
    if (n == 1) return l;
  }
#endif
  return 0;
}

// What happened in one reporting period.
struct tally {
  std::uint64_t rounds = 0, accepted = 0, ran = 0, threw = 0, cancelled = 0, refused_roots = 0;
  void add(const bobbin_stress::round_report& r) {
    ++rounds;
    accepted += r.accepted;
    ran += r.ran;
    threw += r.threw;
    cancelled += r.cancelled;
    refused_roots += r.refused_roots;
  }
};

class soak {
 public:
  explicit soak(const options& o) : o_(o) {}

  int run() {
    using clock = std::chrono::steady_clock;
    std::printf("bobbin_soak: %.4g minutes, %" PRIu32 " tasks per round, seed 0x%" PRIx64 ", policies in turn\n",
                o_.minutes, o_.tasks_per_round, o_.seed);
    std::fflush(stdout);
    // Whole periods, each ending with the first round that ends after it is over.
    const auto periods = static_cast<std::size_t>(std::ceil(o_.minutes));
    auto period_start = clock::now();
    double period_cpu = cpu_seconds();
    tally now;
    for (std::uint64_t round = 0;; ++round) {
      if (!one_round(round, now)) return 1;
      const auto t = clock::now();
      const bool quick_done = periods == 0 && round + 1 == bobbin_test::policy_count;
      if (quick_done || t - period_start >= std::chrono::duration<double>(o_.period)) {
        const double cpu = cpu_seconds();
        report(now, std::chrono::duration<double>(t - period_start).count(), cpu - period_cpu);
        now = {};
        period_start = t;
        period_cpu = cpu;
      }
      if (quick_done || (periods != 0 && rates_.size() == periods)) break;
    }
    return verdict();
  }

 private:
  bool one_round(std::uint64_t round, tally& into) {
    return bobbin_test::with_policy(round % bobbin_test::policy_count,
                                    [&]<class P>() { return one_round<P>(round, into); });
  }

  template <class P>
  bool one_round(std::uint64_t round, tally& into) {
    const std::uint64_t run_seed = bobbin_stress::mix(o_.seed ^ bobbin_stress::policy_tag<P>());
    const std::uint64_t policy_round = round / bobbin_test::policy_count;  // this policy's rounds so far
    const auto rep = bobbin_stress::run_round<P>(bobbin_stress::plan_round(run_seed, policy_round, o_.tasks_per_round));
    if (!rep.ok()) {
      std::printf("FAILED: %s, round %" PRIu64 " (--seed 0x%" PRIx64 "; %s):\n", bobbin_stress::policy_name<P>().data(),
                  policy_round, o_.seed, bobbin_stress::describe(rep.config).c_str());
      for (const auto& f : rep.failures) std::printf("  %s\n", f.c_str());
      std::fflush(stdout);
      return false;
    }
    into.add(rep);
    return true;
  }

  void report(const tally& t, double seconds, double cpu) {
    const double rate = static_cast<double>(t.ran) / seconds;
    const double per_cpu = cpu > 0 ? static_cast<double>(t.ran) / cpu : 0;
    rates_.push_back(rate);
    cpu_rates_.push_back(per_cpu);
    std::printf("minute %3zu: %10.0f tasks/s, %10.0f per CPU-s  (%.1f s, %.1f CPU-s: %" PRIu64 " rounds, %" PRIu64
                " accepted, %" PRIu64 " ran, %" PRIu64 " threw, %" PRIu64 " cancelled, %" PRIu64
                " roots refused; rss %.1f MB, load %.2f)\n",
                rates_.size(), rate, per_cpu, seconds, cpu, t.rounds, t.accepted, t.ran, t.threw, t.cancelled,
                t.refused_roots, rss_mb(), load_average());
    std::fflush(stdout);
  }

  int verdict() const {
    if (rates_.size() < 2) {
      std::printf("verdict: all checks passed; one period only, no trend to compare\n");
      return 0;
    }
    const double ratio = rates_.back() / rates_.front();
    const double cpu_ratio = cpu_rates_.front() > 0 ? cpu_rates_.back() / cpu_rates_.front() : 0;
    std::printf(
        "verdict: all checks passed; last minute %.0f tasks/s / first minute %.0f tasks/s = %.3f (%s); "
        "per CPU-second %.3f\n",
        rates_.back(), rates_.front(), ratio, ratio >= 0.9 ? "flat" : "slower at the end", cpu_ratio);
    return ratio < o_.min_ratio ? 2 : 0;
  }

  options o_;
  std::vector<double> rates_;      // tasks run per second, per period
  std::vector<double> cpu_rates_;  // tasks run per CPU-second of this process, per period
};

}  // namespace

int main(int argc, char** argv) { return soak(parse(argc, argv)).run(); }
