#include "train/train_gemm.h"

#include <algorithm>
#include <cstring>

#include "cpu/simd.h"
#include "train/activation_simd.h"

namespace bertkit::train {

using namespace cpu::simd;

namespace {

// Blocking. For each (jc, pc) block of B (KC x NC floats, 4 MB: shared by every thread, in L2/L3)
// B is packed once into NR-column panels; tasks then cover (row block x panel group) tiles of C.
// A is read in place (no packing) when its rows or its columns are contiguous: the micro-kernel
// broadcasts A(i, p) from either layout. Only edge tiles and fully strided A are copied.
// (The macros let bench experiments try other sizes; KC = 1024 covers BERT's k = 768 and a
// 1024-token weight gradient in one pass, measured ~3% faster than 512 on the forward.)
#ifndef BK_TRAIN_KC
#define BK_TRAIN_KC 1024
#endif
#ifndef BK_TRAIN_NC
#define BK_TRAIN_NC 1024
#endif
#ifndef BK_TRAIN_ROWTILES
#define BK_TRAIN_ROWTILES 8
#endif
#ifndef BK_TRAIN_PANELS
#define BK_TRAIN_PANELS 4
#endif
constexpr int64_t kKC = BK_TRAIN_KC;
constexpr int64_t kNC = BK_TRAIN_NC;
constexpr int64_t kRowTiles = BK_TRAIN_ROWTILES;     // row tiles (of MR rows) per task
constexpr int64_t kPanelGroup = BK_TRAIN_PANELS;   // B panels per task

// The layouts of A the micro-kernel reads: rows contiguous in p (aps == 1: X, dY), or the MR
// values of one p contiguous (ars == 1: dY^T, and packed tiles).
enum class ALayout { kRows, kCols };

// The activation epilogue of one tile (pointers at the tile's first element, ldc apart); null
// when the block is not the last of k or the GEMM has none.
struct TileAct {
  Activation act;
  float* out;
  const float* input;
};

// C[0:mr, 0:nr] (+)= alpha * A[0:MR, 0:kc] . Bpanel[0:kc, 0:NR] (+ bias), then the activation.
template <class V, int MR, int NV, ALayout kLayout>
BK_INLINE void Micro(int64_t kc, const float* a, int64_t astride, const float* pb, float* c, int64_t ldc, int64_t mr, int64_t nr,
                     bool load_c, const float* bias, float alpha, const TileAct* ta) {
  constexpr int L = Traits<V>::kLanes;
  constexpr int NR = L * NV;
  V acc[MR][NV];
  for (int r = 0; r < MR; ++r)
    for (int v = 0; v < NV; ++v) acc[r][v] = V{};
  if constexpr (kLayout == ALayout::kRows) {
    // astride = row stride; A(r, p) = a[r * astride + p]
    const float* rows[MR];
    for (int r = 0; r < MR; ++r) rows[r] = a + r * astride;
    for (int64_t p = 0; p < kc; ++p) {
      V b[NV];
      for (int v = 0; v < NV; ++v) b[v] = Load<V>(pb + p * NR + v * L);
#pragma GCC unroll 8
      for (int r = 0; r < MR; ++r) {
        const float av = rows[r][p];
        for (int v = 0; v < NV; ++v) acc[r][v] += av * b[v];
      }
    }
  } else {
    // astride = p stride; A(r, p) = a[p * astride + r]
    for (int64_t p = 0; p < kc; ++p) {
      V b[NV];
      for (int v = 0; v < NV; ++v) b[v] = Load<V>(pb + p * NR + v * L);
      const float* ap = a + p * astride;
#pragma GCC unroll 8
      for (int r = 0; r < MR; ++r) {
        const float av = ap[r];
        for (int v = 0; v < NV; ++v) acc[r][v] += av * b[v];
      }
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
        if (ta != nullptr && ta->input != nullptr) x *= ActGrad<V>(Load<V>(ta->input + r * ldc + v * L), ta->act);
        Store<V>(row + v * L, x);
        if (ta != nullptr && ta->out != nullptr) Store<V>(ta->out + r * ldc + v * L, ActForward<V>(x, ta->act));
      }
    }
  } else {
    for (int64_t r = 0; r < mr; ++r) {
      alignas(64) float tmp[NR];
      for (int v = 0; v < NV; ++v) Store<V>(tmp + v * L, acc[r][v]);
      float* row = c + r * ldc;
      if (load_c)
        for (int64_t j = 0; j < nr; ++j) tmp[j] += row[j];
      if (ta != nullptr) {
        alignas(64) float in[NR] = {};
        if (ta->input != nullptr) {
          for (int64_t j = 0; j < nr; ++j) in[j] = ta->input[r * ldc + j];
          for (int v = 0; v < NV; ++v) Store<V>(tmp + v * L, Load<V>(tmp + v * L) * ActGrad<V>(Load<V>(in + v * L), ta->act));
        }
        if (ta->out != nullptr) {
          for (int v = 0; v < NV; ++v) Store<V>(in + v * L, ActForward<V>(Load<V>(tmp + v * L), ta->act));
          for (int64_t j = 0; j < nr; ++j) ta->out[r * ldc + j] = in[j];
        }
      }
      for (int64_t j = 0; j < nr; ++j) row[j] = tmp[j];
    }
  }
}

// B(p0 + p, j0 + j) for p < kc, j < NR into [kc][NR] (columns past n zero).
template <class V, int NR>
BK_INLINE void PackPanel(const GemmArgs& g, int64_t p0, int64_t kc, int64_t j0, float* dst) {
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
    // B(p, j) = b[p * rsb + j * csb]. W^T (rsb == 1, a full panel): L x L blocks transposed in
    // registers, L rows of W in, L rows of the panel out.
    int64_t p_done = 0;
    if (g.rsb == 1 && cols == NR) {
      constexpr int L = Traits<V>::kLanes;
      for (; p_done + L <= kc; p_done += L)
        for (int64_t j = 0; j < NR; j += L)
          TransposeTile<V>([&](int t) { return g.b + (p0 + p_done) + (j0 + j + t) * g.csb; }, dst + p_done * NR + j, NR);
    }
    // The rest element by element, in blocks of 16 p, so that the 16 destination rows being
    // written stay in L1.
    for (int64_t pb = p_done; pb < kc; pb += 16) {
      const int64_t pe = std::min<int64_t>(kc, pb + 16);
      for (int64_t j = 0; j < NR; ++j) {
        if (j < cols) {
          const float* src = g.b + (p0 + pb) * g.rsb + (j0 + j) * g.csb;
          for (int64_t p = pb; p < pe; ++p) dst[p * NR + j] = src[(p - pb) * g.rsb];
        } else {
          for (int64_t p = pb; p < pe; ++p) dst[p * NR + j] = 0.f;
        }
      }
    }
  }
}

template <class V, int MR, int NV>
struct Kernel {
  static constexpr int NR = Traits<V>::kLanes * NV;

  // BK_INLINE: these must inline into the per-ISA wrappers below to get their target.
  BK_INLINE static void Pack(const GemmArgs& g, int64_t p0, int64_t kc, int64_t jc, int64_t panel, float* packed) {
    PackPanel<V, NR>(g, p0, kc, jc + panel * NR, packed + panel * kc * NR);
  }

  // One task: row tiles [t0, t1) (of MR rows) x panels [q0, q1) of the packed block.
  BK_INLINE static void Task(const GemmArgs& g, int64_t p0, int64_t kc, int64_t jc, int64_t nc, const float* packed, int64_t t0, int64_t t1,
                   int64_t q0, int64_t q1, float* edge) {
    const bool load_c = g.accumulate || p0 > 0;
    const bool rows_layout = g.csa == 1;
    const bool cols_layout = !rows_layout && g.rsa == 1;
    for (int64_t q = q0; q < q1; ++q) {
      const float* pb = packed + q * kc * NR;
      const int64_t j = jc + q * NR;
      const int64_t nr = std::min<int64_t>(NR, jc + nc - j);
      const float* bias = (!g.accumulate && p0 == 0 && g.bias) ? g.bias + j : nullptr;
      const bool act = p0 + kc == g.k && (g.act_out != nullptr || g.act_input != nullptr);
      for (int64_t t = t0; t < t1; ++t) {
        const int64_t i = t * MR;
        const int64_t mr = std::min<int64_t>(MR, g.m - i);
        float* c = g.c + i * g.ldc + j;
        const float* a = g.a + i * g.rsa + p0 * g.csa;
        TileAct ta{g.act, g.act_out ? g.act_out + i * g.ldc + j : nullptr, g.act_input ? g.act_input + i * g.ldc + j : nullptr};
        const TileAct* tap = act ? &ta : nullptr;
        if (mr == MR && rows_layout) {
          Micro<V, MR, NV, ALayout::kRows>(kc, a, g.rsa, pb, c, g.ldc, mr, nr, load_c, bias, g.alpha, tap);
        } else if (mr == MR && cols_layout) {
          Micro<V, MR, NV, ALayout::kCols>(kc, a, g.csa, pb, c, g.ldc, mr, nr, load_c, bias, g.alpha, tap);
        } else {
          // Edge tile or strided A: copy it to [kc][MR], zero padded.
          for (int64_t p = 0; p < kc; ++p)
            for (int r = 0; r < MR; ++r) edge[p * MR + r] = r < mr ? a[r * g.rsa + p * g.csa] : 0.f;
          Micro<V, MR, NV, ALayout::kCols>(kc, edge, MR, pb, c, g.ldc, mr, nr, load_c, bias, g.alpha, tap);
        }
      }
    }
  }
};

// Per-ISA entry points (function target attributes let one source compile three ways).
using PackFn = void (*)(const GemmArgs&, int64_t, int64_t, int64_t, int64_t, float*);
using TaskFn = void (*)(const GemmArgs&, int64_t, int64_t, int64_t, int64_t, const float*, int64_t, int64_t, int64_t, int64_t, float*);
struct Isa {
  int mr, nr;
  PackFn pack;
  TaskFn task;
};

void PackGeneric(const GemmArgs& g, int64_t p0, int64_t kc, int64_t jc, int64_t q, float* out) { Kernel<f32x4, 4, 2>::Pack(g, p0, kc, jc, q, out); }
void TaskGeneric(const GemmArgs& g, int64_t p0, int64_t kc, int64_t jc, int64_t nc, const float* pk, int64_t t0, int64_t t1, int64_t q0,
                 int64_t q1, float* e) {
  Kernel<f32x4, 4, 2>::Task(g, p0, kc, jc, nc, pk, t0, t1, q0, q1, e);
}
#if BK_X86
BK_TARGET_AVX2 void PackAvx2(const GemmArgs& g, int64_t p0, int64_t kc, int64_t jc, int64_t q, float* out) {
  Kernel<f32x8, 6, 2>::Pack(g, p0, kc, jc, q, out);
}
BK_TARGET_AVX2 void TaskAvx2(const GemmArgs& g, int64_t p0, int64_t kc, int64_t jc, int64_t nc, const float* pk, int64_t t0, int64_t t1,
                             int64_t q0, int64_t q1, float* e) {
  Kernel<f32x8, 6, 2>::Task(g, p0, kc, jc, nc, pk, t0, t1, q0, q1, e);
}
BK_TARGET_AVX512 void PackAvx512(const GemmArgs& g, int64_t p0, int64_t kc, int64_t jc, int64_t q, float* out) {
  Kernel<f32x16, 6, 4>::Pack(g, p0, kc, jc, q, out);
}
BK_TARGET_AVX512 void TaskAvx512(const GemmArgs& g, int64_t p0, int64_t kc, int64_t jc, int64_t nc, const float* pk, int64_t t0, int64_t t1,
                                 int64_t q0, int64_t q1, float* e) {
  Kernel<f32x16, 6, 4>::Task(g, p0, kc, jc, nc, pk, t0, t1, q0, q1, e);
}
#endif

Isa For(cpu::Isa isa) {
  switch (isa) {
#if BK_X86
    case cpu::Isa::kAvx512: return {6, 64, PackAvx512, TaskAvx512};
    case cpu::Isa::kAvx2: return {6, 16, PackAvx2, TaskAvx2};
#endif
    default: return {4, 8, PackGeneric, TaskGeneric};
  }
}

// Scratch layout: [packed B block: KC x NC] then per thread [edge tile: KC x MR (<= 8)].
constexpr int64_t kEdgeFloats = kKC * 8;

void Run(const GemmArgs& g, cpu::Isa isa_id, cpu::ThreadPool* pool, float* scratch) {
  if (g.m <= 0 || g.n <= 0) return;
  const Isa isa = For(isa_id);
  if (g.k == 0) {
    // No products: C = bias or 0 (or unchanged), then the activation as in the epilogue.
    for (int64_t i = 0; i < g.m; ++i)
      for (int64_t j = 0; j < g.n; ++j) {
        float& x = g.c[i * g.ldc + j];
        if (!g.accumulate) x = g.bias ? g.bias[j] : 0.f;
        if (g.act_input != nullptr) x *= ActGrad<f32x4>(Splat<f32x4>(g.act_input[i * g.ldc + j]), g.act)[0];
        if (g.act_out != nullptr) g.act_out[i * g.ldc + j] = ActForward<f32x4>(Splat<f32x4>(x), g.act)[0];
      }
    return;
  }
  float* packed = scratch;
  float* edges = scratch + kKC * kNC;
  const int64_t row_tiles = (g.m + isa.mr - 1) / isa.mr;
  for (int64_t jc = 0; jc < g.n; jc += kNC) {
    const int64_t nc = std::min(kNC, g.n - jc);
    const int64_t panels = (nc + isa.nr - 1) / isa.nr;
    for (int64_t p0 = 0; p0 < g.k; p0 += kKC) {
      const int64_t kc = std::min(kKC, g.k - p0);
      const int64_t row_groups = (row_tiles + kRowTiles - 1) / kRowTiles;
      const int64_t panel_groups = (panels + kPanelGroup - 1) / kPanelGroup;
      if (pool == nullptr) {
        for (int64_t q = 0; q < panels; ++q) isa.pack(g, p0, kc, jc, q, packed);
        isa.task(g, p0, kc, jc, nc, packed, 0, row_tiles, 0, panels, edges);
        continue;
      }
      pool->ParallelFor(panels, [&](int64_t q, int) { isa.pack(g, p0, kc, jc, q, packed); });
      pool->ParallelFor(row_groups * panel_groups, [&](int64_t task, int thread) {
        const int64_t rg = task % row_groups, pg = task / row_groups;
        const int64_t t0 = rg * kRowTiles, t1 = std::min(row_tiles, t0 + kRowTiles);
        const int64_t q0 = pg * kPanelGroup, q1 = std::min(panels, q0 + kPanelGroup);
        isa.task(g, p0, kc, jc, nc, packed, t0, t1, q0, q1, edges + thread * kEdgeFloats);
      });
    }
  }
}

}  // namespace

int64_t GemmScratchFloats() { return kKC * kNC + kEdgeFloats + 16; }

void GemmSerial(const GemmArgs& g, cpu::Isa isa, float* scratch) { Run(g, isa, nullptr, scratch); }

void Gemm(const GemmArgs& g, cpu::Isa isa, cpu::ThreadPool* pool, float* scratch) {
  Run(g, isa, pool, scratch);
}

void LinearForward(const float* x, int64_t m, int64_t k, const float* w, int64_t n, const float* bias, float* y,
                   cpu::Isa isa, cpu::ThreadPool* pool, float* scratch, const ActivationEpilogue& ep) {
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
  g.act = ep.act;
  g.act_out = ep.out;
  Gemm(g, isa, pool, scratch);
}

void LinearBackwardInput(const float* dy, int64_t m, int64_t n, const float* w, int64_t k, float* dx, bool accumulate,
                         cpu::Isa isa, cpu::ThreadPool* pool, float* scratch, const ActivationEpilogue& ep) {
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
  g.act = ep.act;
  g.act_input = ep.input;
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
