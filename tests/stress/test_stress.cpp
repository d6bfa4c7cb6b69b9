// Stress: 10 million tasks across the five policies (2 million each), in rounds of
// 100,000 on fresh pools, each ending with a concurrent shutdown_now(): nested fork-join
// (futures and task groups, depth 0-3), planned exceptions (1 in 1,000), cancellations,
// bounded and unbounded queues, priorities. Every id is accounted for after each round
// (see workload.hpp): ran at most once, every future resolved to exactly the right value,
// error or task_cancelled, never-run tasks exactly the cancelled ones, nothing submitted
// after shutdown_now()'s stop request run, every callable destroyed once, stats() equal
// to the counts.
//
// Environment:
//   BOBBIN_STRESS_TASKS  total tasks over the five policies (default 10000000)
//   BOBBIN_STRESS_SEED   the run's seed (default 0x5eed; decimal or 0x-hex). A failure
//                        prints it with the round it happened in; rerunning with it (and the
//                        same BOBBIN_STRESS_TASKS) replays the same plan (not the same
//                        schedule: a race may need a few runs).
#include <doctest/doctest.h>

#include "workload.hpp"

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <iomanip>
#include <sstream>
#include <string>

namespace {

std::uint64_t env_or(const char* name, std::uint64_t fallback) {
  const char* v = std::getenv(name);
  if (v == nullptr || *v == '\0') return fallback;
  return std::strtoull(v, nullptr, 0);
}

constexpr std::uint32_t round_tasks = 100'000;
constexpr std::uint64_t policies = bobbin_test::policy_count;

}  // namespace

TEST_CASE_TEMPLATE(
    "stress: rounds of nested tasks with errors, cancellations and a concurrent shutdown_now, every "
    "task accounted for" *
        doctest::timeout(900),
    P, BOBBIN_TEST_POLICIES) {
  const std::uint64_t total = env_or("BOBBIN_STRESS_TASKS", 10'000'000);
  const std::uint64_t seed = env_or("BOBBIN_STRESS_SEED", 0x5eed);
  const std::uint64_t mine = std::max<std::uint64_t>(1, total / policies);
  const std::uint64_t rounds = (mine + round_tasks - 1) / round_tasks;
  const std::uint64_t run_seed = bobbin_stress::mix(seed ^ bobbin_stress::policy_tag<P>());

  bobbin_stress::round_report sum;
  const auto start = std::chrono::steady_clock::now();
  for (std::uint64_t r = 0; r < rounds; ++r) {
    const auto tasks = static_cast<std::uint32_t>(mine * (r + 1) / rounds - mine * r / rounds);
    const auto rep = bobbin_stress::run_round<P>(bobbin_stress::plan_round(run_seed, r, tasks));
    if (!rep.ok()) {
      std::ostringstream s;
      s << bobbin_stress::policy_name<P>() << ", round " << r << " of " << rounds << " failed (BOBBIN_STRESS_SEED=0x"
        << std::hex << seed << std::dec << "; " << bobbin_stress::describe(rep.config) << "):";
      for (const auto& f : rep.failures) s << "\n  " << f;
      FAIL_CHECK(s.str());
      break;
    }
    sum.accepted += rep.accepted;
    sum.not_accepted += rep.not_accepted;
    sum.ran += rep.ran;
    sum.threw += rep.threw;
    sum.cancelled += rep.cancelled;
    sum.cancel_won += rep.cancel_won;
    sum.refused_roots += rep.refused_roots;
    sum.futures += rep.futures;
    sum.posts += rep.posts;
    sum.group_tasks += rep.group_tasks;
    sum.shutdown_now_cancelled += rep.shutdown_now_cancelled;
    sum.late_children += rep.late_children;
  }
  std::ostringstream seconds;
  seconds << std::fixed << std::setprecision(1)
          << std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count() << " s";
  MESSAGE(bobbin_stress::policy_name<P>()
          << ": " << rounds << " rounds, " << sum.accepted << " accepted (" << sum.futures << " with futures, "
          << sum.posts << " posted, " << sum.group_tasks << " in groups), " << sum.ran << " ran (" << sum.threw
          << " threw), " << sum.cancelled << " cancelled (" << sum.cancel_won << " by future::cancel, "
          << sum.shutdown_now_cancelled << " by shutdown_now, " << sum.late_children
          << " submitted after its stop request), " << sum.not_accepted << " not accepted (" << sum.refused_roots
          << " roots refused); " << seconds.str());
  CHECK(sum.accepted + sum.not_accepted == mine);
  CHECK(sum.accepted == sum.ran + sum.cancelled);
}
