// Pieces shared by the float32, bf16 and int8 GEMMs: the tile epilogue and the work split.
#pragma once

#include <algorithm>
#include <cstring>

#include "cpu/gemm.h"
#include "cpu/simd.h"

namespace bertkit::cpu::detail {

using namespace simd;

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

// Writes one MR x (NV vectors) tile of finished dot products: + bias, activation, + residual,
// then the valid columns only. The output is written exactly once.
template <class V, int MR, int NV>
BK_INLINE void StoreTile(const LinearArgs& a, int64_t row, int64_t col, int64_t ncols, V (&acc)[MR][NV]) {
  constexpr int L = Traits<V>::kLanes;
  constexpr int NR = L * NV;
  alignas(64) float bias[NR];
  if (a.bias != nullptr) {
    std::memcpy(bias, a.bias + col, ncols * sizeof(float));
    for (int64_t j = ncols; j < NR; ++j) bias[j] = 0.f;
  } else {
    for (int j = 0; j < NR; ++j) bias[j] = 0.f;
  }
  for (int r = 0; r < MR; ++r) {
    alignas(64) float out[NR];
    for (int v = 0; v < NV; ++v) Store<V>(out + v * L, ApplyEpilogue<V>(acc[r][v] + Load<V>(bias + v * L), a.epilogue));
    float* dst = a.y + (row + r) * a.ldy + col;
    if (a.residual != nullptr) {
      const float* res = a.residual + (row + r) * a.ldr + col;
      for (int64_t j = 0; j < ncols; ++j) dst[j] = out[j] + res[j];
    } else {
      std::memcpy(dst, out, ncols * sizeof(float));
    }
  }
}

// Tile shapes: MR rows x NR columns, sized so that the accumulators plus the B vectors fit the
// register file (16 xmm / 16 ymm / 32 zmm).
struct TileShape {
  int mr;
  int nr;
};
inline TileShape ShapeFor(Isa isa) {
  switch (isa) {
    case Isa::kAvx512: return {6, 64};
    case Isa::kAvx2: return {6, 16};
    case Isa::kGeneric: return {4, 8};
  }
  return {4, 8};
}

// Work split: tasks are (row block, panel block) pairs.
struct Plan {
  int64_t row_block;    // rows per task, a multiple of MR
  int64_t panel_block;  // panels per task
  int64_t row_tasks;
  int64_t panel_tasks;
  int64_t panels;
  int64_t tasks() const { return row_tasks * panel_tasks; }
  int64_t RowBegin(int64_t task) const { return (task % row_tasks) * row_block; }
  int64_t PanelBegin(int64_t task) const { return (task / row_tasks) * panel_block; }
};

inline Plan MakePlan(int64_t m, int64_t n, TileShape shape, int threads) {
  Plan plan;
  plan.panels = (n + shape.nr - 1) / shape.nr;
  // Rows per task: enough to reuse each panel from cache, few enough to give every thread work.
  plan.row_block = std::max<int64_t>(shape.mr, std::min<int64_t>(16 * shape.mr, (m + threads - 1) / threads));
  plan.row_block = (plan.row_block + shape.mr - 1) / shape.mr * shape.mr;
  plan.row_tasks = (m + plan.row_block - 1) / plan.row_block;
  // Split the columns too when the rows alone leave threads idle (small batches).
  const int64_t want_tasks = 4 * threads;
  const int64_t panel_tasks = std::max<int64_t>(1, std::min<int64_t>(plan.panels, (want_tasks + plan.row_tasks - 1) / plan.row_tasks));
  plan.panel_block = (plan.panels + panel_tasks - 1) / panel_tasks;
  plan.panel_tasks = (plan.panels + plan.panel_block - 1) / plan.panel_block;
  return plan;
}

}  // namespace bertkit::cpu::detail
