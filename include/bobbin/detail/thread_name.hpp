#pragma once
// Naming the calling thread for debuggers and `top -H`: base-<id><tail>. The kernel keeps
// 15 characters; base is cut first, so the whole id survives. Nothing off Linux.

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#if defined(__linux__)
#include <pthread.h>
#endif

namespace bobbin::detail {

inline void name_this_thread([[maybe_unused]] std::string_view base, [[maybe_unused]] std::uint64_t id,
                             [[maybe_unused]] std::string_view tail = {}) {
#if defined(__linux__)
  constexpr std::size_t limit = 15;
  std::string suffix(1, '-');  // appended, not "-" + ...: g++ 12 -O2 warns (-Wrestrict) there
  suffix += std::to_string(id);
  suffix += tail;
  std::string n(base.substr(0, suffix.size() < limit ? limit - suffix.size() : 0));
  n += suffix;
  n.resize(std::min(n.size(), limit));
  pthread_setname_np(pthread_self(), n.c_str());
#endif
}

}  // namespace bobbin::detail
