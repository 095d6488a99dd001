// Register-blocked GEMM over pre-packed weights, written with vector extensions and compiled
// once per ISA (function target attributes), dispatched at run time by the ISA the weights were
// packed for. Each task owns a block of rows x a block of panels and walks the whole K, keeping an
// MR x NR tile of C in registers; the epilogue (bias, activation, residual) runs on that tile
// before it is stored, so the output is written exactly once.
#include "cpu/gemm.h"

#include <algorithm>
#if defined(_WIN32)
#include <malloc.h>
#endif
#include <cstdlib>
#include <cstring>
#include <vector>

#include "cpu/simd.h"

namespace bertkit::cpu {

using namespace simd;

#if defined(_WIN32)
void AlignedFloats::Free::operator()(float* p) const { _aligned_free(p); }
static void* AlignedAlloc(size_t bytes) { return _aligned_malloc(bytes, 64); }
#else
void AlignedFloats::Free::operator()(float* p) const { std::free(p); }
static void* AlignedAlloc(size_t bytes) { return std::aligned_alloc(64, bytes); }
#endif

bool AlignedFloats::Allocate(int64_t n) {
  size_t bytes = static_cast<size_t>(std::max<int64_t>(n, 1)) * sizeof(float);
  bytes = (bytes + 63) / 64 * 64;  // aligned_alloc wants a multiple of the alignment
  float* p = static_cast<float*>(AlignedAlloc(bytes));
  if (p == nullptr) return false;
  ptr.reset(p);
  size = n;
  return true;
}

namespace {

// Tile shapes per ISA: MR rows x (NV vectors of V) columns, sized so that the MR*NV accumulators
// plus the B vectors fit the register file (16 xmm / 16 ymm / 32 zmm).
struct TileShape {
  int mr;
  int nr;
};
TileShape ShapeFor(Isa isa) {
  switch (isa) {
    case Isa::kAvx512: return {6, 64};
    case Isa::kAvx2: return {6, 16};
    case Isa::kGeneric: return {4, 8};
  }
  return {4, 8};
}

template <class V>
BK_INLINE V ApplyEpilogue(V v, Epilogue e) {
  switch (e) {
    case Epilogue::kNone: return v;
    case Epilogue::kGelu: return GeluErf<V>(v);
    case Epilogue::kGeluTanh: return GeluTanh<V>(v);
    case Epilogue::kRelu: return Relu<V>(v);
    case Epilogue::kTanh: return Tanh<V>(v);
  }
  return v;
}

// One MR x NR tile: acc = A[0:MR, :] . panel, then epilogue and store of the valid columns.
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
  alignas(64) float bias[NR];
  if (a.bias != nullptr) {
    std::memcpy(bias, a.bias + col, ncols * sizeof(float));
    for (int64_t j = ncols; j < NR; ++j) bias[j] = 0.f;
  } else {
    for (int j = 0; j < NR; ++j) bias[j] = 0.f;
  }
  for (int r = 0; r < MR; ++r) {
    alignas(64) float out[NR];
    for (int v = 0; v < NV; ++v) {
      V y = ApplyEpilogue<V>(acc[r][v] + Load<V>(bias + v * L), a.epilogue);
      Store<V>(out + v * L, y);
    }
    float* dst = a.y + (row + r) * a.ldy + col;
    if (a.residual != nullptr) {
      const float* res = a.residual + (row + r) * a.ldr + col;
      for (int64_t j = 0; j < ncols; ++j) dst[j] = out[j] + res[j];
    } else {
      std::memcpy(dst, out, ncols * sizeof(float));
    }
  }
}

template <class V, int MR, int NV>
BK_INLINE void TileRows(const LinearArgs& a, int64_t row, int64_t rows, const float* panel, int64_t col, int64_t ncols) {
  if constexpr (MR > 0) {
    if (rows == MR) return Tile<V, MR, NV>(a, row, panel, col, ncols);
    return TileRows<V, MR - 1, NV>(a, row, rows, panel, col, ncols);
  }
}

struct Plan {
  int64_t row_block;    // rows per task, a multiple of MR
  int64_t panel_block;  // panels per task
  int64_t row_tasks;
  int64_t panel_tasks;
  int64_t panels;
};

template <class V, int MR, int NV>
BK_INLINE void RunTask(const LinearArgs& a, const Plan& plan, int64_t task) {
  constexpr int NR = Traits<V>::kLanes * NV;
  const int64_t rt = task % plan.row_tasks;
  const int64_t pt = task / plan.row_tasks;
  const int64_t r0 = rt * plan.row_block, r1 = std::min(a.m, r0 + plan.row_block);
  const int64_t p0 = pt * plan.panel_block, p1 = std::min(plan.panels, p0 + plan.panel_block);
  const int64_t n = a.w->n, k = a.w->k;
  for (int64_t p = p0; p < p1; ++p) {
    const float* panel = a.w->data.data() + p * k * NR;
    const int64_t col = p * NR;
    const int64_t ncols = std::min<int64_t>(NR, n - col);
    for (int64_t r = r0; r < r1; r += MR) {
      TileRows<V, MR, NV>(a, r, std::min<int64_t>(MR, r1 - r), panel, col, ncols);
    }
  }
}

void TaskGeneric(const LinearArgs& a, const Plan& plan, int64_t task) { RunTask<f32x4, 4, 2>(a, plan, task); }
#if BK_X86
BK_TARGET_AVX2 void TaskAvx2(const LinearArgs& a, const Plan& plan, int64_t task) { RunTask<f32x8, 6, 2>(a, plan, task); }
BK_TARGET_AVX512 void TaskAvx512(const LinearArgs& a, const Plan& plan, int64_t task) { RunTask<f32x16, 6, 4>(a, plan, task); }
#endif

}  // namespace

bool PackWeight(const float* const* rows, int64_t n, int64_t k, Isa isa, PackedWeight* out, ThreadPool* pool) {
  const int nr = ShapeFor(isa).nr;
  const int64_t panels = (n + nr - 1) / nr;
  if (!out->data.Allocate(panels * k * nr)) return false;
  out->n = n;
  out->k = k;
  out->nr = nr;
  out->isa = isa;
  float* dst = out->data.data();
  auto pack_panel = [&](int64_t p, int) {
    float* panel = dst + p * k * nr;
    for (int j = 0; j < nr; ++j) {
      const int64_t col = p * nr + j;
      if (col < n) {
        const float* src = rows[col];
        for (int64_t kk = 0; kk < k; ++kk) panel[kk * nr + j] = src[kk];
      } else {
        for (int64_t kk = 0; kk < k; ++kk) panel[kk * nr + j] = 0.f;
      }
    }
  };
  if (pool != nullptr) {
    pool->ParallelFor(panels, pack_panel);
  } else {
    for (int64_t p = 0; p < panels; ++p) pack_panel(p, 0);
  }
  return true;
}

bool PackWeight(const float* w, int64_t n, int64_t k, Isa isa, PackedWeight* out, ThreadPool* pool) {
  std::vector<const float*> rows(n);
  for (int64_t i = 0; i < n; ++i) rows[i] = w + i * k;
  return PackWeight(rows.data(), n, k, isa, out, pool);
}

void Linear(const LinearArgs& a, ThreadPool* pool) {
  if (a.m <= 0) return;
  const TileShape shape = ShapeFor(a.w->isa);
  Plan plan;
  plan.panels = (a.w->n + shape.nr - 1) / shape.nr;
  // Rows per task: enough to reuse each panel from cache, few enough to give every thread work.
  const int threads = pool->size();
  plan.row_block = std::max<int64_t>(shape.mr, std::min<int64_t>(16 * shape.mr, (a.m + threads - 1) / threads));
  plan.row_block = (plan.row_block + shape.mr - 1) / shape.mr * shape.mr;
  plan.row_tasks = (a.m + plan.row_block - 1) / plan.row_block;
  // Split the columns too when the rows alone leave threads idle (small batches).
  const int64_t want_tasks = 4 * threads;
  const int64_t panel_tasks = std::max<int64_t>(1, std::min<int64_t>(plan.panels, (want_tasks + plan.row_tasks - 1) / plan.row_tasks));
  plan.panel_block = (plan.panels + panel_tasks - 1) / panel_tasks;
  plan.panel_tasks = (plan.panels + plan.panel_block - 1) / plan.panel_block;

  auto run = [&](int64_t task, int) {
    switch (a.w->isa) {
#if BK_X86
      case Isa::kAvx512: TaskAvx512(a, plan, task); break;
      case Isa::kAvx2: TaskAvx2(a, plan, task); break;
#endif
      default: TaskGeneric(a, plan, task); break;
    }
  };
  pool->ParallelFor(plan.row_tasks * plan.panel_tasks, run);
}

}  // namespace bertkit::cpu
