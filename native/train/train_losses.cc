// Training kernels: the losses, value (float64) and d loss / d logits together: cross-entropy
// rows vectorized per ISA (the MLM head: 30522 classes per row), MSE, BCE with logits.
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

// ---- cross-entropy rows (the MLM head: 30522 classes per row) ----

// One row: returns logsumexp(z) - z[label]; writes dz = (softmax(z) - onehot(label)) * g when
// dz is given. exp in float32 (simd.h, ~2e-7 relative), the sum of the exps in float64.
template <class V>
BK_INLINE double CeRowT(const float* z, int64_t n, int32_t label, float g, float* dz) {
  constexpr int L = Traits<V>::kLanes;
  V vmax = Splat<V>(-INFINITY);
  int64_t i = 0;
  for (; i + L <= n; i += L) vmax = Max(vmax, Load<V>(z + i));
  float mx = ReduceMax(vmax);
  for (; i < n; ++i) mx = std::max(mx, z[i]);
  double sum = 0.0;
  V acc = V{};
  i = 0;
  for (; i + L <= n; i += L) {
    const V e = Exp<V>(Load<V>(z + i) - mx);
    if (dz) Store<V>(dz + i, e);
    acc += e;
    if (((i / L) & 63) == 63) {  // flush to float64 every 64 vectors
      sum += ReduceAdd(acc);
      acc = V{};
    }
  }
  sum += ReduceAdd(acc);
  for (; i < n; ++i) {
    const float e = std::exp(z[i] - mx);
    if (dz) dz[i] = e;
    sum += e;
  }
  if (dz) {
    const float scale = static_cast<float>(g / sum);
    i = 0;
    for (; i + L <= n; i += L) Store<V>(dz + i, Load<V>(dz + i) * scale);
    for (; i < n; ++i) dz[i] *= scale;
    dz[label] -= g;
  }
  return mx + std::log(sum) - z[label];
}

double CeRowGeneric(const float* z, int64_t n, int32_t label, float g, float* dz) { return CeRowT<f32x4>(z, n, label, g, dz); }
#if BK_X86
BK_TARGET_AVX2 double CeRowAvx2(const float* z, int64_t n, int32_t label, float g, float* dz) { return CeRowT<f32x8>(z, n, label, g, dz); }
BK_TARGET_AVX512 double CeRowAvx512(const float* z, int64_t n, int32_t label, float g, float* dz) {
  return CeRowT<f32x16>(z, n, label, g, dz);
}
#endif

double CeRow(cpu::Isa isa, const float* z, int64_t n, int32_t label, float g, float* dz) {
  switch (isa) {
#if BK_X86
    case cpu::Isa::kAvx512: return CeRowAvx512(z, n, label, g, dz);
    case cpu::Isa::kAvx2: return CeRowAvx2(z, n, label, g, dz);
#endif
    default: return CeRowGeneric(z, n, label, g, dz);
  }
}

}  // namespace

double CrossEntropy(const float* logits, int64_t rows, int64_t classes, int64_t ld, const int32_t* labels,
                    int32_t ignore_index, float scale, float* dlogits, int64_t ldd, cpu::ThreadPool* pool, cpu::Isa isa) {
  int64_t count = 0;
  for (int64_t r = 0; r < rows; ++r) count += labels[r] != ignore_index;
  std::vector<double> row_loss(rows, 0.0);
  const float g = count > 0 ? scale / static_cast<float>(count) : 0.f;
  pool->ParallelFor(rows, [&](int64_t r, int) {
    float* dz = dlogits ? dlogits + r * ldd : nullptr;
    if (labels[r] == ignore_index) {
      if (dz) std::fill(dz, dz + classes, 0.f);
      return;
    }
    row_loss[r] = CeRow(isa, logits + r * ld, classes, labels[r], g, dz);
  });
  if (count == 0) return std::numeric_limits<double>::quiet_NaN();
  double total = 0.0;
  for (int64_t r = 0; r < rows; ++r) total += row_loss[r];
  return total / static_cast<double>(count);
}

double MseLoss(const float* x, const float* y, int64_t n, float scale, float* dx) {
  double total = 0.0;
  for (int64_t i = 0; i < n; ++i) {
    const double d = static_cast<double>(x[i]) - y[i];
    total += d * d;
    if (dx) dx[i] = static_cast<float>(2.0 * d * scale / static_cast<double>(n));
  }
  return n > 0 ? total / static_cast<double>(n) : std::numeric_limits<double>::quiet_NaN();
}

double BceWithLogits(const float* z, const float* y, int64_t n, float scale, float* dz) {
  double total = 0.0;
  for (int64_t i = 0; i < n; ++i) {
    const double zi = z[i], yi = y[i];
    total += std::max(zi, 0.0) - zi * yi + std::log1p(std::exp(-std::fabs(zi)));
    if (dz) {
      const double sig = zi >= 0 ? 1.0 / (1.0 + std::exp(-zi)) : std::exp(zi) / (1.0 + std::exp(zi));
      dz[i] = static_cast<float>((sig - yi) * scale / static_cast<double>(n));
    }
  }
  return n > 0 ? total / static_cast<double>(n) : std::numeric_limits<double>::quiet_NaN();
}

}  // namespace bertkit::train
