// Register-blocked GEMM over pre-packed weights. The float32 kernels are written with vector
// extensions and compiled once per ISA (function target attributes), dispatched at run time by
// the ISA the weights were packed for. Each task owns a block of rows x a block of panels and
// walks the whole K, keeping an MR x NR tile of C in registers; the epilogue (bias, activation,
// residual) runs on that tile before it is stored, so the output is written exactly once.
// bf16 and int8 kernels: gemm_bf16.cc, gemm_int8.cc.
#include "cpu/gemm.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <new>
#include <vector>
#if defined(_WIN32)
#include <malloc.h>
#endif

#include "cpu/gemm_internal.h"

namespace bertkit::cpu {

#if defined(_WIN32)
void* AlignedAlloc(size_t bytes) { return _aligned_malloc((bytes + 63) / 64 * 64, 64); }
void AlignedFree(void* p) { _aligned_free(p); }
#else
// aligned_alloc wants a size that is a multiple of the alignment.
void* AlignedAlloc(size_t bytes) { return std::aligned_alloc(64, (bytes + 63) / 64 * 64); }
void AlignedFree(void* p) { std::free(p); }
#endif

// Defined in gemm_bf16.cc / gemm_int8.cc.
namespace detail {
// Each packs one panel from its nr rows (`prow[j]`: row j of the panel, k floats; null: a
// padding column of zeros).
void PackPanelBf16(const float* const* prow, int64_t k, int64_t kpad, int nr, uint16_t* panel);
void PackPanelInt8(const float* const* prow, int64_t k, int64_t kpad, int nr, int8_t* panel, float* scale, int32_t* colsum);
void LinearBf16(const LinearArgs& a, ThreadPool* pool);
void LinearInt8(const LinearArgs& a, ThreadPool* pool);
}  // namespace detail

using namespace simd;
using namespace detail;

const char* WeightFormatName(WeightFormat f) {
  switch (f) {
    case WeightFormat::kF32: return "float32";
    case WeightFormat::kBF16: return "bfloat16";
    case WeightFormat::kInt8: return "int8";
  }
  return "float32";
}

bool SupportsFormat(WeightFormat f) {
  switch (f) {
    case WeightFormat::kF32: return true;
    case WeightFormat::kBF16: return DetectIsa() == Isa::kAvx512 && HasAvx512Bf16();
    case WeightFormat::kInt8: return DetectIsa() == Isa::kAvx512 && HasAvx512Vnni();
  }
  return false;
}

int64_t PackedWeight::bytes() const {
  return f32.size * 4 + bf16.size * 2 + int8.size + scale.size * 4 + colsum.size * 4;
}

namespace {

// One MR x NR tile: acc = A[0:MR, :] . panel, then the epilogue.
template <class V, int MR, int NV>
BK_INLINE void Tile(const LinearArgs& a, int64_t row, const float* panel, int64_t col, int64_t ncols) {
  constexpr int L = Traits<V>::kLanes;
  constexpr int NR = L * NV;
  const int64_t k = a.w->k;
  const float* x = a.x + row * a.ldx;
  V acc[MR][NV];
  for (int r = 0; r < MR; ++r)
    for (int v = 0; v < NV; ++v) acc[r][v] = V{};
  for (int64_t kk = 0; kk < k; ++kk) {
    V b[NV];
    for (int v = 0; v < NV; ++v) b[v] = Load<V>(panel + kk * NR + v * L);
#pragma GCC unroll 8
    for (int r = 0; r < MR; ++r) {
      const float xv = x[r * a.ldx + kk];
      for (int v = 0; v < NV; ++v) acc[r][v] += xv * b[v];
    }
  }
  StoreTile<V, MR, NV>(a, row, col, ncols, acc);
}

template <class V, int MR, int NV>
BK_INLINE void TileRows(const LinearArgs& a, int64_t row, int64_t rows, const float* panel, int64_t col, int64_t ncols) {
  if constexpr (MR > 0) {
    if (rows == MR) return Tile<V, MR, NV>(a, row, panel, col, ncols);
    return TileRows<V, MR - 1, NV>(a, row, rows, panel, col, ncols);
  }
}

template <class V, int MR, int NV>
BK_INLINE void RunTask(const LinearArgs& a, const Plan& plan, int64_t task) {
  constexpr int NR = Traits<V>::kLanes * NV;
  const int64_t r0 = plan.RowBegin(task), r1 = std::min(a.m, r0 + plan.row_block);
  const int64_t p0 = plan.PanelBegin(task), p1 = std::min(plan.panels, p0 + plan.panel_block);
  for (int64_t p = p0; p < p1; ++p) {
    const float* panel = a.w->f32.data() + p * a.w->k * NR;
    const int64_t col = p * NR;
    const int64_t ncols = std::min<int64_t>(NR, a.w->n - col);
    for (int64_t r = r0; r < r1; r += MR) TileRows<V, MR, NV>(a, r, std::min<int64_t>(MR, r1 - r), panel, col, ncols);
  }
}

void TaskGeneric(const LinearArgs& a, const Plan& plan, int64_t task) { RunTask<f32x4, 4, 2>(a, plan, task); }
#if BK_X86
BK_TARGET_AVX2 void TaskAvx2(const LinearArgs& a, const Plan& plan, int64_t task) { RunTask<f32x8, 6, 2>(a, plan, task); }
BK_TARGET_AVX512 void TaskAvx512(const LinearArgs& a, const Plan& plan, int64_t task) { RunTask<f32x16, 6, 4>(a, plan, task); }
#endif

// A transpose of the panel's rows into [k][nr]. Full panels go L x L blocks at a time through
// registers (simd.h Transpose); the rest, in blocks of 16 k-values, element by element, so the
// block being written (16 x nr floats) stays in L1 while each row contributes one cache line
// (load time: the packing is most of it).
template <class V>
BK_INLINE void PackPanelF32T(const float* const* prow, int64_t k, int nr, float* panel) {
  constexpr int L = Traits<V>::kLanes;
  int64_t k_done = 0;
  bool full = nr % L == 0;
  for (int j = 0; j < nr; ++j) full = full && prow[j] != nullptr;
  if (full) {
    for (; k_done + L <= k; k_done += L)
      for (int j0 = 0; j0 < nr; j0 += L) TransposeTile<V>([&](int t) { return prow[j0 + t] + k_done; }, panel + k_done * nr + j0, nr);
  }
  constexpr int64_t kBlock = 16;
  for (int64_t k0 = k_done; k0 < k; k0 += kBlock) {
    const int64_t k1 = std::min(k, k0 + kBlock);
    for (int j = 0; j < nr; ++j) {
      const float* src = prow[j];
      if (src == nullptr) {
        for (int64_t kk = k0; kk < k1; ++kk) panel[kk * nr + j] = 0.f;
      } else {
        for (int64_t kk = k0; kk < k1; ++kk) panel[kk * nr + j] = src[kk];
      }
    }
  }
}
void PackPanelF32Generic(const float* const* prow, int64_t k, int nr, float* panel) { PackPanelF32T<f32x4>(prow, k, nr, panel); }
#if BK_X86
BK_TARGET_AVX2 void PackPanelF32Avx2(const float* const* prow, int64_t k, int nr, float* panel) { PackPanelF32T<f32x8>(prow, k, nr, panel); }
BK_TARGET_AVX512 void PackPanelF32Avx512(const float* const* prow, int64_t k, int nr, float* panel) {
  PackPanelF32T<f32x16>(prow, k, nr, panel);
}
#endif
void PackPanelF32(const float* const* prow, int64_t k, int nr, float* panel, Isa isa) {
  switch (isa) {
#if BK_X86
    case Isa::kAvx512: PackPanelF32Avx512(prow, k, nr, panel); break;
    case Isa::kAvx2: PackPanelF32Avx2(prow, k, nr, panel); break;
#endif
    default: PackPanelF32Generic(prow, k, nr, panel); break;
  }
}

// Allocates `out` for W [n, k] and packs every panel, panels split over the pool. `rows_of(p,
// thread, prow)` points prow[0..nr) at the panel's rows (null past n); false aborts the packing.
template <class RowsOf>
bool PackPanels(int64_t n, int64_t k, Isa isa, PackedWeight* out, ThreadPool* pool, WeightFormat format, RowsOf&& rows_of) {
  const int nr = ShapeFor(isa).nr;
  const int64_t panels = (n + nr - 1) / nr;
  out->format = format;
  out->n = n;
  out->k = k;
  out->nr = nr;
  out->isa = isa;
  bool ok = true;
  switch (format) {
    case WeightFormat::kF32: out->kpad = k; ok = out->f32.Allocate(panels * k * nr); break;
    case WeightFormat::kBF16: out->kpad = (k + 1) / 2 * 2; ok = out->bf16.Allocate(panels * out->kpad * nr); break;
    case WeightFormat::kInt8:
      out->kpad = (k + 3) / 4 * 4;
      ok = out->int8.Allocate(panels * out->kpad * nr) && out->scale.Allocate(panels * nr) && out->colsum.Allocate(panels * nr);
      break;
  }
  if (!ok) return false;
  std::atomic<bool> failed{false};
  auto pack_panel = [&](int64_t p, int thread) {
    if (failed.load(std::memory_order_relaxed)) return;
    const float* prow[64] = {};  // nr <= 64 for every ISA
    if (!rows_of(p, thread, prow)) {
      failed.store(true, std::memory_order_relaxed);
      return;
    }
    switch (format) {
      case WeightFormat::kF32: PackPanelF32(prow, k, nr, out->f32.data() + p * k * nr, isa); break;
      case WeightFormat::kBF16: PackPanelBf16(prow, k, out->kpad, nr, out->bf16.data() + p * out->kpad * nr); break;
      case WeightFormat::kInt8:
        PackPanelInt8(prow, k, out->kpad, nr, out->int8.data() + p * out->kpad * nr, out->scale.data() + p * nr, out->colsum.data() + p * nr);
        break;
    }
  };
  if (pool != nullptr) {
    pool->ParallelFor(panels, pack_panel);
  } else {
    for (int64_t p = 0; p < panels; ++p) pack_panel(p, 0);
  }
  return !failed.load();
}

}  // namespace

bool PackWeight(const float* w, int64_t n, int64_t k, Isa isa, PackedWeight* out, ThreadPool* pool, WeightFormat format) {
  return PackPanels(n, k, isa, out, pool, format, [&](int64_t p, int, const float** prow) {
    const int nr = out->nr;
    for (int j = 0; j < nr && p * nr + j < n; ++j) prow[j] = w + (p * nr + j) * k;
    return true;
  });
}

bool PackWeight(const RowSource& source, int64_t n, int64_t k, Isa isa, PackedWeight* out, ThreadPool* pool, WeightFormat format) {
  // One panel's rows per thread, reused: the whole W never exists unpacked.
  std::vector<std::vector<float>> buffers(pool != nullptr ? pool->size() : 1);
  return PackPanels(n, k, isa, out, pool, format, [&](int64_t p, int thread, const float** prow) {
    const int nr = out->nr;
    const int64_t row0 = p * nr, count = std::min<int64_t>(nr, n - row0);
    std::vector<float>& buf = buffers[thread];
    // Runs on pool threads: an exception must not leave them (it would end the process).
    try {
      if (buf.size() < static_cast<size_t>(nr * k)) buf.resize(static_cast<size_t>(nr * k));
    } catch (const std::bad_alloc&) {
      return false;
    }
    if (!source(row0, count, buf.data())) return false;
    for (int64_t j = 0; j < count; ++j) prow[j] = buf.data() + j * k;
    return true;
  });
}

RowQuant QuantizeRow(const float* x, int64_t k, int64_t kpad, uint8_t* q) {
  float lo = 0.f, hi = 0.f;
  for (int64_t i = 0; i < k; ++i) {
    lo = std::min(lo, x[i]);
    hi = std::max(hi, x[i]);
  }
  RowQuant rq;
  rq.scale = hi > lo ? (hi - lo) / 255.f : 1.f;
  const float inv = 1.f / rq.scale;
  rq.zero_point = static_cast<int32_t>(std::nearbyint(-lo * inv));
  for (int64_t i = 0; i < k; ++i) {
    const float v = std::nearbyint(x[i] * inv) + static_cast<float>(rq.zero_point);
    q[i] = static_cast<uint8_t>(std::min(255.f, std::max(0.f, v)));
  }
  for (int64_t i = k; i < kpad; ++i) q[i] = 0;  // meets zero weights
  return rq;
}

int64_t LinearScratchBytes(int64_t m, const PackedWeight& w) {
  switch (w.format) {
    case WeightFormat::kF32: return 0;
    case WeightFormat::kBF16: return m * w.kpad * 2;
    case WeightFormat::kInt8: return (m * w.kpad + 63) / 64 * 64 + m * static_cast<int64_t>(sizeof(RowQuant));
  }
  return 0;
}

void Linear(const LinearArgs& a, ThreadPool* pool) {
  if (a.m <= 0) return;
  if (a.w->format == WeightFormat::kBF16) return LinearBf16(a, pool);
  if (a.w->format == WeightFormat::kInt8) return LinearInt8(a, pool);
  const Plan plan = MakePlan(a.m, a.w->n, ShapeFor(a.w->isa), pool->size());
  pool->ParallelFor(plan.tasks(), [&](int64_t task, int) {
    switch (a.w->isa) {
#if BK_X86
      case Isa::kAvx512: TaskAvx512(a, plan, task); break;
      case Isa::kAvx2: TaskAvx2(a, plan, task); break;
#endif
      default: TaskGeneric(a, plan, task); break;
    }
  });
}

}  // namespace bertkit::cpu
