// Training kernels: the activations (GELU, its tanh form, ReLU, tanh) forward and backward,
// vectorized per ISA.
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

template <class V>
BK_INLINE void ActForwardRange(const float* u, int64_t b, int64_t e, Activation act, float* y) {
  constexpr int L = Traits<V>::kLanes;
  int64_t i = b;
  for (; i + L <= e; i += L) Store<V>(y + i, ActForward<V>(Load<V>(u + i), act));
  if (i < e) {
    alignas(64) float tmp[L] = {};
    for (int64_t j = i; j < e; ++j) tmp[j - i] = u[j];
    Store<V>(tmp, ActForward<V>(Load<V>(tmp), act));
    for (int64_t j = i; j < e; ++j) y[j] = tmp[j - i];
  }
}

template <class V>
BK_INLINE void ActBackwardRange(const float* u, const float* dy, int64_t b, int64_t e, Activation act, float* du) {
  constexpr int L = Traits<V>::kLanes;
  int64_t i = b;
  for (; i + L <= e; i += L) Store<V>(du + i, Load<V>(dy + i) * ActGrad<V>(Load<V>(u + i), act));
  if (i < e) {
    alignas(64) float tu[L] = {}, td[L] = {};
    for (int64_t j = i; j < e; ++j) {
      tu[j - i] = u[j];
      td[j - i] = dy[j];
    }
    Store<V>(td, Load<V>(td) * ActGrad<V>(Load<V>(tu), act));
    for (int64_t j = i; j < e; ++j) du[j] = td[j - i];
  }
}

template <class V>
BK_INLINE void TanhRange(float* x, int64_t n) {
  constexpr int L = Traits<V>::kLanes;
  int64_t i = 0;
  for (; i + L <= n; i += L) Store<V>(x + i, Tanh<V>(Load<V>(x + i)));
  if (i < n) {
    alignas(64) float tmp[L] = {};
    for (int64_t j = i; j < n; ++j) tmp[j - i] = x[j];
    Store<V>(tmp, Tanh<V>(Load<V>(tmp)));
    for (int64_t j = i; j < n; ++j) x[j] = tmp[j - i];
  }
}

void ActFwdGeneric(const float* u, int64_t b, int64_t e, Activation a, float* y) { ActForwardRange<f32x4>(u, b, e, a, y); }
void ActBwdGeneric(const float* u, const float* dy, int64_t b, int64_t e, Activation a, float* du) {
  ActBackwardRange<f32x4>(u, dy, b, e, a, du);
}
void TanhGeneric(float* x, int64_t n) { TanhRange<f32x4>(x, n); }
#if BK_X86
BK_TARGET_AVX2 void ActFwdAvx2(const float* u, int64_t b, int64_t e, Activation a, float* y) { ActForwardRange<f32x8>(u, b, e, a, y); }
BK_TARGET_AVX2 void ActBwdAvx2(const float* u, const float* dy, int64_t b, int64_t e, Activation a, float* du) {
  ActBackwardRange<f32x8>(u, dy, b, e, a, du);
}
BK_TARGET_AVX2 void TanhAvx2(float* x, int64_t n) { TanhRange<f32x8>(x, n); }
BK_TARGET_AVX512 void ActFwdAvx512(const float* u, int64_t b, int64_t e, Activation a, float* y) {
  ActForwardRange<f32x16>(u, b, e, a, y);
}
BK_TARGET_AVX512 void ActBwdAvx512(const float* u, const float* dy, int64_t b, int64_t e, Activation a, float* du) {
  ActBackwardRange<f32x16>(u, dy, b, e, a, du);
}
BK_TARGET_AVX512 void TanhAvx512(float* x, int64_t n) { TanhRange<f32x16>(x, n); }
#endif

}  // namespace

void ActivationForward(const float* u, int64_t n, Activation act, float* y, cpu::Isa isa, cpu::ThreadPool* pool) {
  ForBlocks(n, pool, [&](int64_t b, int64_t e) {
    switch (isa) {
#if BK_X86
      case cpu::Isa::kAvx512: ActFwdAvx512(u, b, e, act, y); break;
      case cpu::Isa::kAvx2: ActFwdAvx2(u, b, e, act, y); break;
#endif
      default: ActFwdGeneric(u, b, e, act, y); break;
    }
  });
}

void ActivationBackward(const float* u, const float* dy, int64_t n, Activation act, float* du, cpu::Isa isa,
                        cpu::ThreadPool* pool) {
  ForBlocks(n, pool, [&](int64_t b, int64_t e) {
    switch (isa) {
#if BK_X86
      case cpu::Isa::kAvx512: ActBwdAvx512(u, dy, b, e, act, du); break;
      case cpu::Isa::kAvx2: ActBwdAvx2(u, dy, b, e, act, du); break;
#endif
      default: ActBwdGeneric(u, dy, b, e, act, du); break;
    }
  });
}

void TanhForward(float* x, int64_t n, cpu::Isa isa) {
  switch (isa) {
#if BK_X86
    case cpu::Isa::kAvx512: TanhAvx512(x, n); break;
    case cpu::Isa::kAvx2: TanhAvx2(x, n); break;
#endif
    default: TanhGeneric(x, n); break;
  }
}

void TanhBackward(const float* y, const float* dy, int64_t n, float* dx) {
  for (int64_t i = 0; i < n; ++i) dx[i] = dy[i] * (1.f - y[i] * y[i]);
}

}  // namespace bertkit::train
