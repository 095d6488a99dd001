// bfloat16 GEMM: weights packed as bf16 pairs along K ([kpad/2][nr][2] per panel), activations
// rounded to bf16 once per call, AVX512-BF16 `vdpbf16ps` (two products per fp32 lane, fp32
// accumulation) — twice the multiply-adds of an fp32 FMA per instruction, half the weight bytes.
#include <algorithm>
#include <cstring>

#include "cpu/gemm_internal.h"

#if BK_X86
// GCC 12's AVX-512 headers trip its own uninitialized-variable warnings (_mm512_undefined_*).
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>
#endif

namespace bertkit::cpu::detail {

void PackPanelBf16(const float* const* prow, int64_t k, int64_t kpad, int nr, uint16_t* panel) {
  for (int j = 0; j < nr; ++j) {
    const float* src = prow[j];
    for (int64_t kk = 0; kk < kpad; ++kk) {
      const float v = src && kk < k ? src[kk] : 0.f;
      panel[((kk / 2) * nr + j) * 2 + (kk % 2)] = RoundToBf16(v);
    }
  }
}

#if BK_X86
namespace {

template <int MR>
BK_TARGET_AVX512_BF16 BK_INLINE void TileBf16(const LinearArgs& a, const uint16_t* xq, int64_t row, const uint16_t* panel, int64_t col, int64_t ncols) {
  constexpr int NV = 4;  // 64 columns = 4 x 16 fp32 lanes
  const int64_t kp = a.w->kpad / 2;
  const int64_t ldq = a.w->kpad;
  __m512 acc[MR][NV];
  for (int r = 0; r < MR; ++r)
    for (int v = 0; v < NV; ++v) acc[r][v] = _mm512_setzero_ps();
  for (int64_t i = 0; i < kp; ++i) {
    __m512bh b[NV];
    for (int v = 0; v < NV; ++v) b[v] = (__m512bh)_mm512_loadu_si512(panel + (i * 64 + v * 16) * 2);
#pragma GCC unroll 8
    for (int r = 0; r < MR; ++r) {
      int32_t pair;
      std::memcpy(&pair, xq + (row + r) * ldq + 2 * i, 4);
      const __m512bh x = (__m512bh)_mm512_set1_epi32(pair);
      for (int v = 0; v < NV; ++v) acc[r][v] = _mm512_dpbf16_ps(acc[r][v], x, b[v]);
    }
  }
  f32x16 out[MR][NV];
  for (int r = 0; r < MR; ++r)
    for (int v = 0; v < NV; ++v) out[r][v] = (f32x16)acc[r][v];
  StoreTile<f32x16, MR, NV>(a, row, col, ncols, out);
}

template <int MR>
BK_TARGET_AVX512_BF16 BK_INLINE void TileRowsBf16(const LinearArgs& a, const uint16_t* xq, int64_t row, int64_t rows, const uint16_t* panel, int64_t col,
                            int64_t ncols) {
  if constexpr (MR > 0) {
    if (rows == MR) return TileBf16<MR>(a, xq, row, panel, col, ncols);
    return TileRowsBf16<MR - 1>(a, xq, row, rows, panel, col, ncols);
  }
}

// Rounds one row to bf16 (round to nearest even, as RoundToBf16) with vcvtne2ps2bf16.
BK_TARGET_AVX512_BF16 void RoundRowBf16(const float* x, int64_t k, int64_t kpad, uint16_t* q) {
  int64_t i = 0;
  for (; i + 32 <= k; i += 32) {
    const __m512bh v = _mm512_cvtne2ps_pbh(_mm512_loadu_ps(x + i + 16), _mm512_loadu_ps(x + i));
    _mm512_storeu_si512(q + i, (__m512i)v);
  }
  for (; i < k; ++i) q[i] = RoundToBf16(x[i]);
  for (; i < kpad; ++i) q[i] = 0;
}

BK_TARGET_AVX512_BF16 void TaskBf16(const LinearArgs& a, const uint16_t* xq, const Plan& plan, int64_t task) {
  constexpr int MR = 6, NR = 64;
  const int64_t r0 = plan.RowBegin(task), r1 = std::min(a.m, r0 + plan.row_block);
  const int64_t p0 = plan.PanelBegin(task), p1 = std::min(plan.panels, p0 + plan.panel_block);
  for (int64_t p = p0; p < p1; ++p) {
    const uint16_t* panel = a.w->bf16.data() + p * a.w->kpad * NR;
    const int64_t col = p * NR;
    const int64_t ncols = std::min<int64_t>(NR, a.w->n - col);
    for (int64_t r = r0; r < r1; r += MR) TileRowsBf16<MR>(a, xq, r, std::min<int64_t>(MR, r1 - r), panel, col, ncols);
  }
}

}  // namespace
#endif

void LinearBf16(const LinearArgs& a, ThreadPool* pool) {
#if BK_X86
  // Round the activations to bf16 once (they are reused by every panel).
  auto* xq = static_cast<uint16_t*>(a.scratch);
  const int64_t kpad = a.w->kpad, k = a.w->k;
  pool->ParallelFor((a.m + 15) / 16, [&](int64_t t, int) {
    for (int64_t r = t * 16; r < std::min(a.m, (t + 1) * 16); ++r) RoundRowBf16(a.x + r * a.ldx, k, kpad, xq + r * kpad);
  });
  const Plan plan = MakePlan(a.m, a.w->n, ShapeFor(Isa::kAvx512), pool->size());
  pool->ParallelFor(plan.tasks(), [&](int64_t task, int) { TaskBf16(a, xq, plan, task); });
#else
  (void)a;
  (void)pool;
#endif
}

}  // namespace bertkit::cpu::detail
