#include "cpu/cpu_features.h"

#include <cstdlib>
#include <cstring>
#include <thread>

#if defined(__linux__)
#include <sched.h>
#endif

namespace bertkit::cpu {

namespace {

Isa DetectHardwareIsa() {
#if BK_X86
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
      __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl")) {
    return Isa::kAvx512;
  }
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return Isa::kAvx2;
#endif
  return Isa::kGeneric;
}

}  // namespace

Isa DetectIsa() {
  // Computed once; a function-local static is thread-safe to initialize.
  static const Isa isa = [] {
    Isa hw = DetectHardwareIsa();
    const char* cap = std::getenv("BERTKIT_ISA");
    if (cap != nullptr) {
      Isa want = hw;
      if (std::strcmp(cap, "generic") == 0) want = Isa::kGeneric;
      if (std::strcmp(cap, "avx2") == 0) want = Isa::kAvx2;
      if (std::strcmp(cap, "avx512") == 0) want = Isa::kAvx512;
      if (static_cast<int>(want) < static_cast<int>(hw)) return want;
    }
    return hw;
  }();
  return isa;
}

bool HasAvx512Bf16() {
#if BK_X86
  if (DetectIsa() != Isa::kAvx512) return false;
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx512bf16");
#else
  return false;
#endif
}

bool HasAvx512Vnni() {
#if BK_X86
  if (DetectIsa() != Isa::kAvx512) return false;
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx512vnni");
#else
  return false;
#endif
}

const char* IsaName(Isa isa) {
  switch (isa) {
    case Isa::kGeneric: return "generic";
    case Isa::kAvx2: return "avx2";
    case Isa::kAvx512: return "avx512";
  }
  return "generic";
}

std::string CpuFeatureString() {
  std::string s;
#if BK_X86
  __builtin_cpu_init();
  // __builtin_cpu_supports needs a string literal, hence the macro.
#define BK_FEATURE(name)                    \
  if (__builtin_cpu_supports(name)) {       \
    if (!s.empty()) s += ' ';               \
    s += name;                              \
  }
  BK_FEATURE("sse4.2")
  BK_FEATURE("avx2")
  BK_FEATURE("fma")
  BK_FEATURE("avx512f")
  BK_FEATURE("avx512bw")
  BK_FEATURE("avx512vl")
  BK_FEATURE("avx512vnni")
  BK_FEATURE("avx512bf16")
#undef BK_FEATURE
#elif defined(__aarch64__)
  s = "neon";
#endif
  return s;
}

int AvailableCores() {
#if defined(__linux__)
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof(set), &set) == 0) {
    int n = CPU_COUNT(&set);
    if (n > 0) return n;
  }
#endif
  unsigned n = std::thread::hardware_concurrency();
  return n > 0 ? static_cast<int>(n) : 1;
}

}  // namespace bertkit::cpu
