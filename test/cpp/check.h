// The C++ tests' harness: CHECK counts every check and reports a failure with its place, never
// aborting, so one run lists everything that is wrong; main() returns non-zero if any failed.
#pragma once

#include <cstdint>
#include <cstdio>
#include <random>
#include <vector>

namespace bertkit::testing {
inline int g_failures = 0;
inline int64_t g_checks = 0;

// n values uniform in [lo, hi) from the test's own seeded generator (deterministic runs).
inline std::vector<float> RandomFloats(std::mt19937& rng, int64_t n, float lo = -1.f, float hi = 1.f) {
  std::uniform_real_distribution<float> d(lo, hi);
  std::vector<float> v(n);
  for (auto& x : v) x = d(rng);
  return v;
}
}  // namespace bertkit::testing

#define CHECK(cond, ...)                                        \
  do {                                                          \
    ++::bertkit::testing::g_checks;                             \
    if (!(cond)) {                                              \
      ++::bertkit::testing::g_failures;                         \
      std::fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__); \
      std::fprintf(stderr, __VA_ARGS__);                        \
      std::fprintf(stderr, "\n");                               \
    }                                                           \
  } while (0)
