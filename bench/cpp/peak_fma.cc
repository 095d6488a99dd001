// Peak float32 FMA throughput of this machine: independent FMA chains in registers, one thread
// per core, compiled for the widest vectors the CPU has (the same run-time dispatch as the
// engine). The yardstick for "% of peak" in bench/cpu.mjs.
//   peak_fma [threads]   -> prints {"threads": N, "gflops": X, "isa": "..."}
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <thread>
#include <vector>

#include "cpu/cpu_features.h"
#include "cpu/simd.h"

using namespace bertkit::cpu;
using namespace bertkit::cpu::simd;

namespace {

// 20 chains: more than FMA latency x throughput on any current core, so the pipes stay full.
template <class V>
BK_INLINE float Chains(long iters, float seed) {
  const V m = Splat<V>(1.0000001f), c = Splat<V>(seed);
#define BK_D(i) V a##i = Splat<V>(seed * (i + 1));
  BK_D(0) BK_D(1) BK_D(2) BK_D(3) BK_D(4) BK_D(5) BK_D(6) BK_D(7) BK_D(8) BK_D(9)
  BK_D(10) BK_D(11) BK_D(12) BK_D(13) BK_D(14) BK_D(15) BK_D(16) BK_D(17) BK_D(18) BK_D(19)
  for (long it = 0; it < iters; ++it) {
#define BK_F(i) a##i = a##i * m + c;
    BK_F(0) BK_F(1) BK_F(2) BK_F(3) BK_F(4) BK_F(5) BK_F(6) BK_F(7) BK_F(8) BK_F(9)
    BK_F(10) BK_F(11) BK_F(12) BK_F(13) BK_F(14) BK_F(15) BK_F(16) BK_F(17) BK_F(18) BK_F(19)
  }
  V s = a0 + a1 + a2 + a3 + a4 + a5 + a6 + a7 + a8 + a9 + a10 + a11 + a12 + a13 + a14 + a15 + a16 + a17 + a18 + a19;
  return s[0];
}

#if BK_X86
BK_TARGET_AVX512 __attribute__((noinline)) float Run512(long iters, float seed) { return Chains<f32x16>(iters, seed); }
BK_TARGET_AVX2 __attribute__((noinline)) float Run256(long iters, float seed) { return Chains<f32x8>(iters, seed); }
#endif
__attribute__((noinline)) float Run128(long iters, float seed) { return Chains<f32x4>(iters, seed); }

}  // namespace

int main(int argc, char** argv) {
  const int threads = argc > 1 ? std::atoi(argv[1]) : AvailableCores();
  const Isa isa = DetectIsa();
  const int lanes = isa == Isa::kAvx512 ? 16 : isa == Isa::kAvx2 ? 8 : 4;
  const long iters = 200'000'000 / lanes;
  std::vector<float> sink(threads);
  double best = 0;
  for (int rep = 0; rep < 3; ++rep) {
    auto t0 = std::chrono::steady_clock::now();
    std::vector<std::thread> ts;
    for (int t = 0; t < threads; ++t) {
      ts.emplace_back([&, t] {
#if BK_X86
        if (isa == Isa::kAvx512) sink[t] = Run512(iters, 1e-7f);
        else if (isa == Isa::kAvx2) sink[t] = Run256(iters, 1e-7f);
        else
#endif
          sink[t] = Run128(iters, 1e-7f);
      });
    }
    for (auto& t : ts) t.join();
    const double sec = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    best = std::max(best, threads * static_cast<double>(iters) * 20 * lanes * 2 / sec / 1e9);
  }
  std::printf("{\"threads\": %d, \"gflops\": %.1f, \"isa\": \"%s\", \"check\": %g}\n", threads, best, IsaName(isa), sink[0]);
  return 0;
}
