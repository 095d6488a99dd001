// Training kernels: dropout, counter-based (train_kernels.h), so forward and backward regenerate
// the same mask anywhere; the row kernel vectorized per ISA.
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

// DropoutUniform over L lanes at once (the same bits as the scalar function).
template <class V> struct U32;
template <> struct U32<f32x4> { typedef uint32_t T __attribute__((vector_size(16))); };
template <> struct U32<f32x8> { typedef uint32_t T __attribute__((vector_size(32))); };
template <> struct U32<f32x16> { typedef uint32_t T __attribute__((vector_size(64))); };

template <class U>
BK_INLINE U Mix32V(U x) {
  x ^= x >> 16;
  x *= 0x7feb352dU;
  x ^= x >> 15;
  x *= 0x846ca68bU;
  x ^= x >> 16;
  return x;
}

template <class V>
BK_INLINE void DropoutRowT(float* x, int64_t n, float p, float inv_keep, uint64_t key, uint64_t offset) {
  using U = typename U32<V>::T;
  constexpr int L = Traits<V>::kLanes;
  const uint32_t lo = static_cast<uint32_t>(key), hi = static_cast<uint32_t>(key >> 32);
  U lane;
  for (int t = 0; t < L; ++t) lane[t] = static_cast<uint32_t>(t);
  int64_t j = 0;
  for (; j + L <= n; j += L) {
    const U idx = lane + static_cast<uint32_t>(offset + j);
    const U h = Mix32V<U>(Mix32V<U>(idx ^ lo) ^ hi);
    const V u = __builtin_convertvector(h >> 8, V) * (1.0f / 16777216.0f);
    const V v = Load<V>(x + j) * inv_keep;
    Store<V>(x + j, u >= p ? v : V{});
  }
  for (; j < n; ++j) x[j] = DropoutUniform(key, offset + j) >= p ? x[j] * inv_keep : 0.f;
}

void DropoutRowGeneric(float* x, int64_t n, float p, float k, uint64_t key, uint64_t off) { DropoutRowT<f32x4>(x, n, p, k, key, off); }
#if BK_X86
BK_TARGET_AVX2 void DropoutRowAvx2(float* x, int64_t n, float p, float k, uint64_t key, uint64_t off) { DropoutRowT<f32x8>(x, n, p, k, key, off); }
BK_TARGET_AVX512 void DropoutRowAvx512(float* x, int64_t n, float p, float k, uint64_t key, uint64_t off) {
  DropoutRowT<f32x16>(x, n, p, k, key, off);
}
#endif

}  // namespace

namespace kernels {

void DropoutRow(float* x, int64_t n, float p, float inv_keep, uint64_t key, uint64_t offset) {
  static const cpu::Isa isa = cpu::DetectIsa();
  switch (isa) {
#if BK_X86
    case cpu::Isa::kAvx512: DropoutRowAvx512(x, n, p, inv_keep, key, offset); break;
    case cpu::Isa::kAvx2: DropoutRowAvx2(x, n, p, inv_keep, key, offset); break;
#endif
    default: DropoutRowGeneric(x, n, p, inv_keep, key, offset); break;
  }
}

}  // namespace kernels

void Dropout(float* x, int64_t n, float p, uint64_t key, uint64_t offset, cpu::ThreadPool* pool) {
  if (!(p > 0.f)) return;
  const float inv_keep = InvKeep(p);
  ForBlocks(n, pool, [&](int64_t b, int64_t e) { DropoutRow(x + b, e - b, p, inv_keep, key, offset + b); });
}

void DropoutRows(float* x, int64_t rows, int64_t h, const int64_t* index, float p, uint64_t key, cpu::ThreadPool* pool) {
  if (!(p > 0.f)) return;
  const float inv_keep = InvKeep(p);
  pool->ParallelFor(rows, [&](int64_t r, int) { DropoutRow(x + r * h, h, p, inv_keep, key, static_cast<uint64_t>(index[r]) * h); });
}

}  // namespace bertkit::train
