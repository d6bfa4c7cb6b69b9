#pragma once
// What every benchmark binary's main() shares: the pool size from --threads=N (removed
// from argv), else $BOBBIN_THREADS, else 2; and the peers found, in the report's context.

#include <benchmark/benchmark.h>

#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#if BOBBIN_HAVE_TBB
#include <oneapi/tbb/version.h>
#endif
#if BOBBIN_HAVE_OPENMP
#include <omp.h>
#endif

namespace bench {

inline std::size_t parse_threads(std::string_view text) {
  std::size_t n = 0;
  for (char c : text) {
    if (c < '0' || c > '9' || n > 4096) {
      n = 0;
      break;
    }
    n = n * 10 + static_cast<std::size_t>(c - '0');
  }
  if (n == 0 || n > 4096) {
    std::fprintf(stderr, "bad thread count '%.*s'\n", static_cast<int>(text.size()), text.data());
    std::exit(2);
  }
  return n;
}

// Call after benchmark::Initialize: takes --threads=N out of argv (and argc).
inline std::size_t take_threads(int& argc, char** argv, std::size_t fallback = 2) {
  std::size_t threads = fallback;
  if (const char* env = std::getenv("BOBBIN_THREADS"); env != nullptr && *env != '\0') threads = parse_threads(env);
  int kept = 1;
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    if (arg.starts_with("--threads=")) {
      threads = parse_threads(arg.substr(10));
    } else {
      argv[kept++] = argv[i];
    }
  }
  argc = kept;
  return threads;
}

inline void add_context(std::size_t threads) {
  benchmark::AddCustomContext("threads", std::to_string(threads));
  std::string peers;
#if BOBBIN_HAVE_TBB
  peers += "oneTBB " + std::to_string(TBB_VERSION_MAJOR) + "." + std::to_string(TBB_VERSION_MINOR) + " ";
#endif
#if BOBBIN_HAVE_OPENMP
  peers += "OpenMP " + std::to_string(_OPENMP);
#endif
  benchmark::AddCustomContext("peers", peers.empty() ? "none" : peers);
}

}  // namespace bench
