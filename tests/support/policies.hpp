#pragma once
// The scheduling policies every policy-generic test, stress run and fuzzer goes through,
// written once (bobbin/policies.hpp lists them). Their order is part of the contract: the
// fuzzers and the soak pick a policy by index (byte % policy_count, round % policy_count),
// so kept regression inputs and seeds mean the same policy only while it stays the same.
// Add a new policy at the end.
//
//   TEST_CASE_TEMPLATE("...", P, BOBBIN_TEST_POLICIES) { bobbin::pool<P> p; ... }
//   using all_policies = std::tuple<...>   the same list as a type
//   with_policy(i, f)                       f.template operator()<P>() for the i-th policy
//   policy_name<P>()                        "work_stealing", ... (for messages and seeds)

#include <bobbin/policies.hpp>

#include <cstddef>
#include <string_view>
#include <tuple>
#include <type_traits>
#include <utility>

// A comma-separated list, for doctest's TEST_CASE_TEMPLATE(name, T, ...).
#define BOBBIN_TEST_POLICIES \
  bobbin::work_stealing, bobbin::least_busy, bobbin::round_robin, bobbin::priority, bobbin::fifo

namespace bobbin_test {

using all_policies = std::tuple<BOBBIN_TEST_POLICIES>;
inline constexpr std::size_t policy_count = std::tuple_size_v<all_policies>;

template <std::size_t I>
using policy_at = std::tuple_element_t<I, all_policies>;

namespace detail {
template <std::size_t I, class F>
decltype(auto) with_policy_from(std::size_t index, F& f) {
  if constexpr (I + 1 == policy_count) {
    return f.template operator()<policy_at<I>>();
  } else {
    if (index == I) return f.template operator()<policy_at<I>>();
    return with_policy_from<I + 1>(index, f);
  }
}
}  // namespace detail

// Calls f.template operator()<P>() with P the policy at `index % policy_count` and returns
// what it returns (the same type for every policy), e.g.
//   with_policy(data[0], [&]<class P>() { run<P>(threads, in); });
template <class F>
decltype(auto) with_policy(std::size_t index, F&& f) {
  return detail::with_policy_from<0>(index % policy_count, f);
}

template <class Policy>
constexpr std::string_view policy_name() noexcept {
  if constexpr (std::is_same_v<Policy, bobbin::work_stealing>) return "work_stealing";
  else if constexpr (std::is_same_v<Policy, bobbin::least_busy>) return "least_busy";
  else if constexpr (std::is_same_v<Policy, bobbin::round_robin>) return "round_robin";
  else if constexpr (std::is_same_v<Policy, bobbin::priority>) return "priority";
  else if constexpr (std::is_same_v<Policy, bobbin::fifo>) return "fifo";
  else return "?";
}

// Every policy in the list has a name (policy_tag in stress/workload.hpp seeds from it).
static_assert([]<std::size_t... I>(std::index_sequence<I...>) {
  return ((policy_name<policy_at<I>>() != "?") && ...);
}(std::make_index_sequence<policy_count>{}));

}  // namespace bobbin_test
