#pragma once
// The words policies and the pool share (see policy/concept.hpp for the contract).

#include <cstddef>
#include <cstdint>
#include <limits>

#include "../task/task.hpp"

namespace bobbin::detail {

inline constexpr std::size_t outside = std::numeric_limits<std::size_t>::max();
inline constexpr std::size_t any_worker = std::numeric_limits<std::size_t>::max();

struct pop_info {
  std::size_t outside_taken = 0;  // tasks submitted from outside that pop() took off a shared queue
  bool stolen = false;            // the task came from another worker's queue
};

}  // namespace bobbin::detail
