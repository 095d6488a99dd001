// Run-time ISA selection. The release binary is built for baseline x86-64 (or aarch64); hot
// functions carry per-ISA clones and we pick one at run time, so the same prebuild runs on any
// machine and still uses AVX2/AVX-512 where they exist.
#pragma once

#include <string>

namespace bertkit::cpu {

enum class Isa : int {
  kGeneric = 0,  // whatever the baseline target gives (SSE2 on x86-64, NEON on aarch64)
  kAvx2 = 1,     // AVX2 + FMA (x86-64-v3)
  kAvx512 = 2,   // AVX-512 F/BW/DQ/VL (x86-64-v4)
};

// The best ISA this CPU supports, capped by the environment variable BERTKIT_ISA
// ("generic" | "avx2" | "avx512") so tests can exercise every path on one machine.
Isa DetectIsa();
const char* IsaName(Isa isa);
// AVX-512 extensions the reduced-precision GEMMs need (false when BERTKIT_ISA caps below avx512).
bool HasAvx512Bf16();
bool HasAvx512Vnni();
// A short description of the CPU features that matter to the kernels, for diagnostics.
std::string CpuFeatureString();
// Cores this process may run on (affinity mask / cgroup aware where the OS tells).
int AvailableCores();

}  // namespace bertkit::cpu

#if (defined(__x86_64__) || defined(_M_X64)) && (defined(__GNUC__) || defined(__clang__))
#define BK_X86 1
#define BK_TARGET_AVX2 __attribute__((target("avx2,fma,f16c")))
#define BK_TARGET_AVX512 __attribute__((target("avx512f,avx512bw,avx512dq,avx512vl,avx2,fma,f16c,prefer-vector-width=512")))
#define BK_TARGET_AVX512_BF16 \
  __attribute__((target("avx512f,avx512bw,avx512dq,avx512vl,avx512bf16,avx2,fma,f16c,prefer-vector-width=512")))
#define BK_TARGET_AVX512_VNNI \
  __attribute__((target("avx512f,avx512bw,avx512dq,avx512vl,avx512vnni,avx2,fma,f16c,prefer-vector-width=512")))
#else
#define BK_X86 0
#endif
