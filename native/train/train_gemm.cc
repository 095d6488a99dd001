#include "train/train_gemm.h"

#include <algorithm>
#include <cstring>

#include "cpu/simd.h"

namespace bertkit::train {

using namespace cpu::simd;

namespace {

// Block sizes, shared by every ISA (NR of each ISA divides NC, MR divides MC): an A block
// (MC x KC, 96 KB) and a B block (KC x NC, 256 KB) stay in L2 while a task sweeps them.
constexpr int64_t kMC = 96;
constexpr int64_t kKC = 256;
constexpr int64_t kNC = 256;

// A(i0 + r, p0 + p) into [kc][MR] (rows past m are zero).
template <int MR>
BK_INLINE void PackA(const GemmArgs& g, int64_t i0, int64_t p0, int64_t kc, float* dst) {
  const int64_t rows = std::min<int64_t>(MR, g.m - i0);
  if (g.csa == 1) {
    for (int r = 0; r < MR; ++r) {
      if (r < rows) {
        const float* src = g.a + (i0 + r) * g.rsa + p0;
        for (int64_t p = 0; p < kc; ++p) dst[p * MR + r] = src[p];
      } else {
        for (int64_t p = 0; p < kc; ++p) dst[p * MR + r] = 0.f;
      }
    }
  } else {
    for (int64_t p = 0; p < kc; ++p) {
      const float* src = g.a + i0 * g.rsa + (p0 + p) * g.csa;
      int r = 0;
      for (; r < rows; ++r) dst[p * MR + r] = src[r * g.rsa];
      for (; r < MR; ++r) dst[p * MR + r] = 0.f;
    }
  }
}

// B(p0 + p, j0 + j) into [kc][NR] (columns past n are zero).
template <int NR>
BK_INLINE void PackB(const GemmArgs& g, int64_t p0, int64_t j0, int64_t kc, float* dst) {
  const int64_t cols = std::min<int64_t>(NR, g.n - j0);
  if (g.csb == 1) {
    for (int64_t p = 0; p < kc; ++p) {
      const float* src = g.b + (p0 + p) * g.rsb + j0;
      float* d = dst + p * NR;
      if (cols == NR) {
        std::memcpy(d, src, NR * sizeof(float));
      } else {
        int64_t j = 0;
        for (; j < cols; ++j) d[j] = src[j];
        for (; j < NR; ++j) d[j] = 0.f;
      }
    }
  } else {
    for (int64_t j = 0; j < NR; ++j) {
      if (j < cols) {
        const float* src = g.b + p0 * g.rsb + (j0 + j) * g.csb;
        for (int64_t p = 0; p < kc; ++p) dst[p * NR + j] = src[p * g.rsb];
      } else {
        for (int64_t p = 0; p < kc; ++p) dst[p * NR + j] = 0.f;
      }
    }
  }
}

// C[0:mr, 0:nr] (+)= alpha * Apanel . Bpanel (+ bias), accumulators in registers.
template <class V, int MR, int NV>
BK_INLINE void Micro(int64_t kc, const float* pa, const float* pb, float* c, int64_t ldc, int64_t mr, int64_t nr,
                     bool load_c, const float* bias, float alpha) {
  constexpr int L = Traits<V>::kLanes;
  constexpr int NR = L * NV;
  V acc[MR][NV];
  for (int r = 0; r < MR; ++r)
    for (int v = 0; v < NV; ++v) acc[r][v] = V{};
  for (int64_t p = 0; p < kc; ++p) {
    V b[NV];
    for (int v = 0; v < NV; ++v) b[v] = Load<V>(pb + p * NR + v * L);
#pragma GCC unroll 8
    for (int r = 0; r < MR; ++r) {
      const float av = pa[p * MR + r];
      for (int v = 0; v < NV; ++v) acc[r][v] += av * b[v];
    }
  }
  if (alpha != 1.f)
    for (int r = 0; r < MR; ++r)
      for (int v = 0; v < NV; ++v) acc[r][v] *= alpha;
  if (bias != nullptr) {
    alignas(64) float bb[NR];
    for (int j = 0; j < NR; ++j) bb[j] = j < nr ? bias[j] : 0.f;
    for (int r = 0; r < MR; ++r)
      for (int v = 0; v < NV; ++v) acc[r][v] += Load<V>(bb + v * L);
  }
  if (mr == MR && nr == NR) {
    for (int r = 0; r < MR; ++r) {
      float* row = c + r * ldc;
      for (int v = 0; v < NV; ++v) {
        V x = acc[r][v];
        if (load_c) x += Load<V>(row + v * L);
        Store<V>(row + v * L, x);
      }
    }
  } else {
    for (int64_t r = 0; r < mr; ++r) {
      alignas(64) float tmp[NR];
      for (int v = 0; v < NV; ++v) Store<V>(tmp + v * L, acc[r][v]);
      float* row = c + r * ldc;
      if (load_c) {
        for (int64_t j = 0; j < nr; ++j) row[j] += tmp[j];
      } else {
        for (int64_t j = 0; j < nr; ++j) row[j] = tmp[j];
      }
    }
  }
}

// One MC x NC block of C, all of K.
template <class V, int MR, int NV>
BK_INLINE void Block(const GemmArgs& g, int64_t i0, int64_t j0, float* scratch) {
  constexpr int NR = Traits<V>::kLanes * NV;
  const int64_t mc = std::min(kMC, g.m - i0);
  const int64_t nc = std::min(kNC, g.n - j0);
  float* pa = scratch;             // [MC / MR panels][KC][MR]
  float* pb = scratch + kMC * kKC;  // [NC / NR panels][KC][NR]
  if (g.k == 0) {
    // Degenerate: C = 0 (+ bias) or unchanged.
    if (!g.accumulate)
      for (int64_t i = 0; i < mc; ++i)
        for (int64_t j = 0; j < nc; ++j) g.c[(i0 + i) * g.ldc + j0 + j] = g.bias ? g.bias[j0 + j] : 0.f;
    return;
  }
  for (int64_t p0 = 0; p0 < g.k; p0 += kKC) {
    const int64_t kc = std::min(kKC, g.k - p0);
    for (int64_t jp = 0; jp < nc; jp += NR) PackB<NR>(g, p0, j0 + jp, kc, pb + (jp / NR) * kc * NR);
    for (int64_t ip = 0; ip < mc; ip += MR) PackA<MR>(g, i0 + ip, p0, kc, pa + (ip / MR) * kc * MR);
    const bool load_c = g.accumulate || p0 > 0;
    for (int64_t jp = 0; jp < nc; jp += NR) {
      const float* bias = (!g.accumulate && p0 == 0 && g.bias) ? g.bias + j0 + jp : nullptr;
      for (int64_t ip = 0; ip < mc; ip += MR) {
        Micro<V, MR, NV>(kc, pa + (ip / MR) * kc * MR, pb + (jp / NR) * kc * NR, g.c + (i0 + ip) * g.ldc + j0 + jp, g.ldc,
                         std::min<int64_t>(MR, mc - ip), std::min<int64_t>(NR, nc - jp), load_c, bias, g.alpha);
      }
    }
  }
}

void BlockGeneric(const GemmArgs& g, int64_t i0, int64_t j0, float* s) { Block<f32x4, 4, 2>(g, i0, j0, s); }
#if BK_X86
BK_TARGET_AVX2 void BlockAvx2(const GemmArgs& g, int64_t i0, int64_t j0, float* s) { Block<f32x8, 6, 2>(g, i0, j0, s); }
BK_TARGET_AVX512 void BlockAvx512(const GemmArgs& g, int64_t i0, int64_t j0, float* s) { Block<f32x16, 6, 4>(g, i0, j0, s); }
#endif

void RunBlock(const GemmArgs& g, cpu::Isa isa, int64_t i0, int64_t j0, float* scratch) {
  switch (isa) {
#if BK_X86
    case cpu::Isa::kAvx512: BlockAvx512(g, i0, j0, scratch); break;
    case cpu::Isa::kAvx2: BlockAvx2(g, i0, j0, scratch); break;
#endif
    default: BlockGeneric(g, i0, j0, scratch); break;
  }
}

}  // namespace

int64_t GemmScratchFloats() { return kMC * kKC + kKC * kNC + 16; }

void GemmSerial(const GemmArgs& g, cpu::Isa isa, float* scratch) {
  if (g.m <= 0 || g.n <= 0) return;
  for (int64_t j0 = 0; j0 < g.n; j0 += kNC)
    for (int64_t i0 = 0; i0 < g.m; i0 += kMC) RunBlock(g, isa, i0, j0, scratch);
}

void Gemm(const GemmArgs& g, cpu::Isa isa, cpu::ThreadPool* pool, float* scratch) {
  if (g.m <= 0 || g.n <= 0) return;
  const int64_t mb = (g.m + kMC - 1) / kMC, nb = (g.n + kNC - 1) / kNC;
  const int64_t per = GemmScratchFloats();
  pool->ParallelFor(mb * nb, [&](int64_t task, int thread) {
    RunBlock(g, isa, (task % mb) * kMC, (task / mb) * kNC, scratch + thread * per);
  });
}

void LinearForward(const float* x, int64_t m, int64_t k, const float* w, int64_t n, const float* bias, float* y,
                   cpu::Isa isa, cpu::ThreadPool* pool, float* scratch) {
  GemmArgs g;
  g.m = m;
  g.n = n;
  g.k = k;
  g.a = x;
  g.rsa = k;
  g.csa = 1;
  g.b = w;
  g.rsb = 1;
  g.csb = k;
  g.c = y;
  g.ldc = n;
  g.bias = bias;
  Gemm(g, isa, pool, scratch);
}

void LinearBackwardInput(const float* dy, int64_t m, int64_t n, const float* w, int64_t k, float* dx, bool accumulate,
                         cpu::Isa isa, cpu::ThreadPool* pool, float* scratch) {
  GemmArgs g;
  g.m = m;
  g.n = k;
  g.k = n;
  g.a = dy;
  g.rsa = n;
  g.csa = 1;
  g.b = w;
  g.rsb = k;
  g.csb = 1;
  g.c = dx;
  g.ldc = k;
  g.accumulate = accumulate;
  Gemm(g, isa, pool, scratch);
}

void LinearBackwardWeight(const float* dy, int64_t m, int64_t n, const float* x, int64_t k, float* dw, cpu::Isa isa,
                          cpu::ThreadPool* pool, float* scratch) {
  GemmArgs g;
  g.m = n;
  g.n = k;
  g.k = m;
  g.a = dy;
  g.rsa = 1;
  g.csa = n;
  g.b = x;
  g.rsb = k;
  g.csb = 1;
  g.c = dw;
  g.ldc = k;
  g.accumulate = true;
  Gemm(g, isa, pool, scratch);
}

}  // namespace bertkit::train
