// int8 GEMM: weights quantized per output channel (symmetric, [-127, 127]) and packed as
// quadruples along K ([kpad/4][nr][4] per panel); activations quantized per row at run time to
// uint8 with a zero point; AVX512-VNNI `vpdpbusd` (four u8 x s8 products per int32 lane, exact
// int32 accumulation: kpad * 255 * 127 < 2^31 for any BERT width), dequantized in the epilogue:
//   y = scale_x[r] * scale_w[c] * (acc - zero_point[r] * colsum[c]).
#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "cpu/gemm_internal.h"

#if BK_X86
// GCC 12's AVX-512 headers trip its own uninitialized-variable warnings (_mm512_undefined_*).
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>
#endif

namespace bertkit::cpu::detail {

void PackPanelInt8(const float* const* prow, int64_t k, int64_t kpad, int nr, int8_t* panel, float* scale, int32_t* colsum) {
  std::vector<int8_t> q(kpad);
  for (int j = 0; j < nr; ++j) {
    const float* src = prow[j];
    float amax = 0.f;
    for (int64_t kk = 0; src && kk < k; ++kk) amax = std::max(amax, std::fabs(src[kk]));
    const float s = amax > 0.f ? amax / 127.f : 1.f;
    int32_t sum = 0;
    std::fill(q.begin(), q.end(), int8_t{0});
    for (int64_t kk = 0; src && kk < k; ++kk) {
      // |src / s| <= 127: adding 1.5 * 2^23 rounds to nearest even, as std::nearbyint does in
      // the default rounding mode, without a library call per weight.
      const float r = (src[kk] / s + 12582912.f) - 12582912.f;
      q[kk] = static_cast<int8_t>(std::max(-127.f, std::min(127.f, r)));
    }
    for (int64_t kk = 0; kk < kpad; ++kk) {
      panel[((kk / 4) * nr + j) * 4 + (kk % 4)] = q[kk];
      sum += q[kk];
    }
    scale[j] = s;
    colsum[j] = sum;
  }
}

#if BK_X86
namespace {

template <int MR>
BK_TARGET_AVX512_VNNI BK_INLINE void TileInt8(const LinearArgs& a, const uint8_t* xq, const RowQuant* rq, int64_t row, int64_t p, int64_t col,
                        int64_t ncols) {
  constexpr int NV = 4, NR = 64;
  const int64_t kq = a.w->kpad / 4;
  const int64_t ldq = a.w->kpad;
  const int8_t* panel = a.w->int8.data() + p * a.w->kpad * NR;
  // Vector-extension accumulators: GCC keeps these in registers (with __m512i it spills).
  i32x16 acc[MR][NV];
  for (int r = 0; r < MR; ++r)
    for (int v = 0; v < NV; ++v) acc[r][v] = i32x16{};
  for (int64_t i = 0; i < kq; ++i) {
    __m512i b[NV];
    for (int v = 0; v < NV; ++v) b[v] = _mm512_loadu_si512(panel + (i * NR + v * 16) * 4);
#pragma GCC unroll 8
    for (int r = 0; r < MR; ++r) {
      int32_t quad;
      std::memcpy(&quad, xq + (row + r) * ldq + 4 * i, 4);
      const __m512i x = _mm512_set1_epi32(quad);
      for (int v = 0; v < NV; ++v) acc[r][v] = (i32x16)_mm512_dpbusd_epi32((__m512i)acc[r][v], x, b[v]);
    }
  }
  const float* scale = a.w->scale.data() + p * NR;
  const int32_t* colsum = a.w->colsum.data() + p * NR;
  f32x16 out[MR][NV];
  for (int r = 0; r < MR; ++r) {
    const __m512i zp = _mm512_set1_epi32(rq[row + r].zero_point);
    const __m512 sx = _mm512_set1_ps(rq[row + r].scale);
    for (int v = 0; v < NV; ++v) {
      const __m512i corrected = _mm512_sub_epi32((__m512i)acc[r][v], _mm512_mullo_epi32(zp, _mm512_loadu_si512(colsum + v * 16)));
      // (__builtin_convertvector rather than _mm512_cvtepi32_ps: GCC 12 warns on the latter.)
      const f32x16 fc = __builtin_convertvector((i32x16)corrected, f32x16);
      out[r][v] = fc * (f32x16)_mm512_mul_ps(sx, _mm512_loadu_ps(scale + v * 16));
    }
  }
  StoreTile<f32x16, MR, NV>(a, row, col, ncols, out);
}

template <int MR>
BK_TARGET_AVX512_VNNI BK_INLINE void TileRowsInt8(const LinearArgs& a, const uint8_t* xq, const RowQuant* rq, int64_t row, int64_t rows, int64_t p,
                            int64_t col, int64_t ncols) {
  if constexpr (MR > 0) {
    if (rows == MR) return TileInt8<MR>(a, xq, rq, row, p, col, ncols);
    return TileRowsInt8<MR - 1>(a, xq, rq, row, rows, p, col, ncols);
  }
}

// QuantizeRow (gemm.cc) with AVX-512: the same arithmetic (min/max including 0, x * (1/scale)
// rounded to nearest even by vcvtps2dq under the default MXCSR, + zero point, clamped), so the
// results are identical; the kernel test checks both against the reference.
BK_TARGET_AVX512_VNNI RowQuant QuantizeRowAvx512(const float* x, int64_t k, int64_t kpad, uint8_t* q) {
  __m512 lo = _mm512_setzero_ps(), hi = _mm512_setzero_ps();
  int64_t i = 0;
  for (; i + 16 <= k; i += 16) {
    const __m512 v = _mm512_loadu_ps(x + i);
    lo = _mm512_min_ps(lo, v);
    hi = _mm512_max_ps(hi, v);
  }
  float flo = _mm512_reduce_min_ps(lo), fhi = _mm512_reduce_max_ps(hi);
  for (; i < k; ++i) {
    flo = std::min(flo, x[i]);
    fhi = std::max(fhi, x[i]);
  }
  RowQuant rq;
  rq.scale = fhi > flo ? (fhi - flo) / 255.f : 1.f;
  const float inv = 1.f / rq.scale;
  rq.zero_point = static_cast<int32_t>(std::nearbyint(-flo * inv));
  const __m512 vinv = _mm512_set1_ps(inv);
  const __m512i zp = _mm512_set1_epi32(rq.zero_point);
  const __m512i zero = _mm512_setzero_si512(), top = _mm512_set1_epi32(255);
  for (i = 0; i + 16 <= k; i += 16) {
    __m512i v = _mm512_add_epi32(_mm512_cvtps_epi32(_mm512_mul_ps(_mm512_loadu_ps(x + i), vinv)), zp);
    v = _mm512_min_epi32(_mm512_max_epi32(v, zero), top);
    _mm_storeu_si128(reinterpret_cast<__m128i*>(q + i), _mm512_cvtepi32_epi8(v));
  }
  for (; i < k; ++i) {
    const float v = std::nearbyint(x[i] * inv) + static_cast<float>(rq.zero_point);
    q[i] = static_cast<uint8_t>(std::min(255.f, std::max(0.f, v)));
  }
  for (; i < kpad; ++i) q[i] = 0;
  return rq;
}

BK_TARGET_AVX512_VNNI void TaskInt8(const LinearArgs& a, const uint8_t* xq, const RowQuant* rq, const Plan& plan, int64_t task) {
  constexpr int MR = 6, NR = 64;
  const int64_t r0 = plan.RowBegin(task), r1 = std::min(a.m, r0 + plan.row_block);
  const int64_t p0 = plan.PanelBegin(task), p1 = std::min(plan.panels, p0 + plan.panel_block);
  for (int64_t p = p0; p < p1; ++p) {
    const int64_t col = p * NR;
    const int64_t ncols = std::min<int64_t>(NR, a.w->n - col);
    for (int64_t r = r0; r < r1; r += MR) TileRowsInt8<MR>(a, xq, rq, r, std::min<int64_t>(MR, r1 - r), p, col, ncols);
  }
}

}  // namespace
#endif

void LinearInt8(const LinearArgs& a, ThreadPool* pool) {
#if BK_X86
  const int64_t kpad = a.w->kpad;
  auto* xq = static_cast<uint8_t*>(a.scratch);
  // The per-row parameters follow the quantized rows, 64-byte aligned.
  auto* rq = reinterpret_cast<RowQuant*>(xq + (a.m * kpad + 63) / 64 * 64);
  pool->ParallelFor((a.m + 15) / 16, [&](int64_t t, int) {
    for (int64_t r = t * 16; r < std::min(a.m, (t + 1) * 16); ++r) rq[r] = QuantizeRowAvx512(a.x + r * a.ldx, a.w->k, kpad, xq + r * kpad);
  });
  const Plan plan = MakePlan(a.m, a.w->n, ShapeFor(Isa::kAvx512), pool->size());
  pool->ParallelFor(plan.tasks(), [&](int64_t task, int) { TaskInt8(a, xq, rq, plan, task); });
#else
  (void)a;
  (void)pool;
#endif
}

}  // namespace bertkit::cpu::detail
