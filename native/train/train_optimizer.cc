// Training kernels: the optimizer step's passes over the arenas: the sum of squares for the
// gradient norm, scaling, and torch.optim.AdamW vectorized per ISA.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <numeric>
#include <utility>
#include <vector>

#include "train/train_kernels_internal.h"

namespace bertkit::train {

using namespace kernels;

namespace {

// ---- AdamW ----

template <class V>
BK_INLINE void AdamWRange(float* p, const float* g, float* m, float* v, int64_t b, int64_t e, float decay, float one_m_b1,
                          float b2, float one_m_b2, float step_size, float inv_bc2_sqrt, float eps, float gs) {
  constexpr int L = Traits<V>::kLanes;
  int64_t i = b;
  for (; i + L <= e; i += L) {
    V pv = Load<V>(p + i) * decay;
    const V gv = Load<V>(g + i) * gs;
    V mv = Load<V>(m + i);
    mv = mv + one_m_b1 * (gv - mv);
    V vv = Load<V>(v + i) * b2 + one_m_b2 * gv * gv;
    V root;
    for (int t = 0; t < L; ++t) root[t] = std::sqrt(vv[t]);
    V denom = root * inv_bc2_sqrt + eps;
    pv = pv - step_size * (mv / denom);
    Store<V>(p + i, pv);
    Store<V>(m + i, mv);
    Store<V>(v + i, vv);
  }
  for (; i < e; ++i) {
    float pv = p[i] * decay;
    const float gv = g[i] * gs;
    float mv = m[i] + one_m_b1 * (gv - m[i]);
    float vv = v[i] * b2 + one_m_b2 * gv * gv;
    pv -= step_size * (mv / (std::sqrt(vv) * inv_bc2_sqrt + eps));
    p[i] = pv;
    m[i] = mv;
    v[i] = vv;
  }
}

}  // namespace

namespace {
// Float partial sums of 64 terms (L lanes each), added in double.
template <class V>
BK_INLINE double SumSquaresRange(const float* x, int64_t b, int64_t e) {
  constexpr int L = Traits<V>::kLanes;
  double s = 0.0;
  int64_t i = b;
  for (; i + 64 <= e; i += 64) {
    V acc = V{};
    for (int j = 0; j < 64; j += L) {
      const V v = Load<V>(x + i + j);
      acc += v * v;
    }
    s += ReduceAdd(acc);
  }
  float f = 0.f;
  for (; i < e; ++i) f += x[i] * x[i];
  return s + f;
}
double SumSquaresGeneric(const float* x, int64_t b, int64_t e) { return SumSquaresRange<f32x4>(x, b, e); }
#if BK_X86
BK_TARGET_AVX2 double SumSquaresAvx2(const float* x, int64_t b, int64_t e) { return SumSquaresRange<f32x8>(x, b, e); }
BK_TARGET_AVX512 double SumSquaresAvx512(const float* x, int64_t b, int64_t e) { return SumSquaresRange<f32x16>(x, b, e); }
#endif
}  // namespace

double SumSquares(const float* x, int64_t n, cpu::ThreadPool* pool) {
  static const cpu::Isa isa = cpu::DetectIsa();
  const int64_t block = 65536;
  const int64_t chunks = (n + block - 1) / block;
  std::vector<double> part(chunks, 0.0);
  pool->ParallelFor(chunks, [&](int64_t c, int) {
    const int64_t b = c * block, e = std::min(n, (c + 1) * block);
    switch (isa) {
#if BK_X86
      case cpu::Isa::kAvx512: part[c] = SumSquaresAvx512(x, b, e); break;
      case cpu::Isa::kAvx2: part[c] = SumSquaresAvx2(x, b, e); break;
#endif
      default: part[c] = SumSquaresGeneric(x, b, e); break;
    }
  });
  double total = 0.0;
  for (double p : part) total += p;
  return total;
}

void ScaleInPlace(float* x, int64_t n, float s, cpu::ThreadPool* pool) {
  ForBlocks(n, pool, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) x[i] *= s;
  });
}

namespace {
void AdamWGeneric(float* p, const float* g, float* m, float* v, int64_t b, int64_t e, float decay, float omb1, float b2,
                  float omb2, float ss, float ibc, float eps, float gs) {
  AdamWRange<f32x4>(p, g, m, v, b, e, decay, omb1, b2, omb2, ss, ibc, eps, gs);
}
#if BK_X86
BK_TARGET_AVX2 void AdamWAvx2(float* p, const float* g, float* m, float* v, int64_t b, int64_t e, float decay, float omb1,
                              float b2, float omb2, float ss, float ibc, float eps, float gs) {
  AdamWRange<f32x8>(p, g, m, v, b, e, decay, omb1, b2, omb2, ss, ibc, eps, gs);
}
BK_TARGET_AVX512 void AdamWAvx512(float* p, const float* g, float* m, float* v, int64_t b, int64_t e, float decay, float omb1,
                                  float b2, float omb2, float ss, float ibc, float eps, float gs) {
  AdamWRange<f32x16>(p, g, m, v, b, e, decay, omb1, b2, omb2, ss, ibc, eps, gs);
}
#endif
}  // namespace

void AdamW(float* p, const float* g, float* m, float* v, int64_t n, const AdamWArgs& a, cpu::Isa isa, cpu::ThreadPool* pool) {
  const double bc1 = 1.0 - std::pow(static_cast<double>(a.beta1), static_cast<double>(a.step));
  const double bc2 = 1.0 - std::pow(static_cast<double>(a.beta2), static_cast<double>(a.step));
  const float decay = static_cast<float>(1.0 - static_cast<double>(a.lr) * a.weight_decay);
  const float step_size = static_cast<float>(a.lr / bc1);
  const float inv_bc2_sqrt = static_cast<float>(1.0 / std::sqrt(bc2));
  const float omb1 = 1.f - a.beta1, omb2 = 1.f - a.beta2;
  ForBlocks(n, pool, [&](int64_t b, int64_t e) {
    switch (isa) {
#if BK_X86
      case cpu::Isa::kAvx512: AdamWAvx512(p, g, m, v, b, e, decay, omb1, a.beta2, omb2, step_size, inv_bc2_sqrt, a.eps, a.grad_scale); break;
      case cpu::Isa::kAvx2: AdamWAvx2(p, g, m, v, b, e, decay, omb1, a.beta2, omb2, step_size, inv_bc2_sqrt, a.eps, a.grad_scale); break;
#endif
      default: AdamWGeneric(p, g, m, v, b, e, decay, omb1, a.beta2, omb2, step_size, inv_bc2_sqrt, a.eps, a.grad_scale); break;
    }
  });
}

}  // namespace bertkit::train
