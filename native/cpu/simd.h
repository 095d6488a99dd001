// Portable SIMD through GCC/Clang vector extensions: the same source compiles to SSE2, AVX2 or
// AVX-512 depending on the target of the function it is inlined into (see BK_MULTIVERSION in
// cpu_features.h), and to NEON on aarch64. Math functions here are branch-free so that they
// vectorize; their accuracy is checked against std:: double versions in the kernel tests.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>

namespace bertkit::cpu::simd {

typedef float f32x4 __attribute__((vector_size(16)));
typedef float f32x8 __attribute__((vector_size(32)));
typedef float f32x16 __attribute__((vector_size(64)));
typedef int32_t i32x4 __attribute__((vector_size(16)));
typedef int32_t i32x8 __attribute__((vector_size(32)));
typedef int32_t i32x16 __attribute__((vector_size(64)));

template <class V> struct Traits;
template <> struct Traits<f32x4> { using I = i32x4; static constexpr int kLanes = 4; };
template <> struct Traits<f32x8> { using I = i32x8; static constexpr int kLanes = 8; };
template <> struct Traits<f32x16> { using I = i32x16; static constexpr int kLanes = 16; };

#define BK_INLINE inline __attribute__((always_inline))

template <class V> BK_INLINE V Load(const float* p) {
  V v;
  std::memcpy(&v, p, sizeof(V));
  return v;
}
template <class V> BK_INLINE void Store(float* p, V v) { std::memcpy(p, &v, sizeof(V)); }
template <class V> BK_INLINE V Splat(float x) { return V{} + x; }
template <class V> BK_INLINE V Min(V a, V b) { return a < b ? a : b; }
template <class V> BK_INLINE V Max(V a, V b) { return a > b ? a : b; }

// Mean and 1 / sqrt(variance + eps) of a row, as LayerNorm wants them: two passes (mean, then
// centred squares; one-pass E[x^2] - E[x]^2 loses digits when the mean is large compared to the
// spread), with 8-wide partial sums (a single running sum is a chain of dependent adds).
struct RowStats {
  float mean, rstd;
};
BK_INLINE RowStats MeanRstd(const float* x, int64_t n, float eps);

// In-register transpose of an L x L block (r[i] = row i): for each bit b of the index, a
// butterfly exchanges element (i, j) with (i ^ b, j ^ b) where row bit b is 0 and column bit b
// is 1, i.e. swaps that bit between row and column. One two-source shuffle per row and bit.
template <class V> BK_INLINE void Transpose(V* r);
template <> BK_INLINE void Transpose<f32x16>(f32x16* r) {
#define BK_BFLY(b, ...) \
  for (int i = 0; i < 16; ++i) \
    if (!(i & b)) { \
      const f32x16 a = r[i], c = r[i + b]; \
      __VA_ARGS__ \
    }
  BK_BFLY(8, r[i] = __builtin_shufflevector(a, c, 0, 1, 2, 3, 4, 5, 6, 7, 16, 17, 18, 19, 20, 21, 22, 23);
          r[i + 8] = __builtin_shufflevector(a, c, 8, 9, 10, 11, 12, 13, 14, 15, 24, 25, 26, 27, 28, 29, 30, 31);)
  BK_BFLY(4, r[i] = __builtin_shufflevector(a, c, 0, 1, 2, 3, 16, 17, 18, 19, 8, 9, 10, 11, 24, 25, 26, 27);
          r[i + 4] = __builtin_shufflevector(a, c, 4, 5, 6, 7, 20, 21, 22, 23, 12, 13, 14, 15, 28, 29, 30, 31);)
  BK_BFLY(2, r[i] = __builtin_shufflevector(a, c, 0, 1, 16, 17, 4, 5, 20, 21, 8, 9, 24, 25, 12, 13, 28, 29);
          r[i + 2] = __builtin_shufflevector(a, c, 2, 3, 18, 19, 6, 7, 22, 23, 10, 11, 26, 27, 14, 15, 30, 31);)
  BK_BFLY(1, r[i] = __builtin_shufflevector(a, c, 0, 16, 2, 18, 4, 20, 6, 22, 8, 24, 10, 26, 12, 28, 14, 30);
          r[i + 1] = __builtin_shufflevector(a, c, 1, 17, 3, 19, 5, 21, 7, 23, 9, 25, 11, 27, 13, 29, 15, 31);)
}
template <> BK_INLINE void Transpose<f32x8>(f32x8* r) {
#undef BK_BFLY
#define BK_BFLY(b, ...) \
  for (int i = 0; i < 8; ++i) \
    if (!(i & b)) { \
      const f32x8 a = r[i], c = r[i + b]; \
      __VA_ARGS__ \
    }
  BK_BFLY(4, r[i] = __builtin_shufflevector(a, c, 0, 1, 2, 3, 8, 9, 10, 11); r[i + 4] = __builtin_shufflevector(a, c, 4, 5, 6, 7, 12, 13, 14, 15);)
  BK_BFLY(2, r[i] = __builtin_shufflevector(a, c, 0, 1, 8, 9, 4, 5, 12, 13); r[i + 2] = __builtin_shufflevector(a, c, 2, 3, 10, 11, 6, 7, 14, 15);)
  BK_BFLY(1, r[i] = __builtin_shufflevector(a, c, 0, 8, 2, 10, 4, 12, 6, 14); r[i + 1] = __builtin_shufflevector(a, c, 1, 9, 3, 11, 5, 13, 7, 15);)
}
template <> BK_INLINE void Transpose<f32x4>(f32x4* r) {
#undef BK_BFLY
#define BK_BFLY(b, ...) \
  for (int i = 0; i < 4; ++i) \
    if (!(i & b)) { \
      const f32x4 a = r[i], c = r[i + b]; \
      __VA_ARGS__ \
    }
  BK_BFLY(2, r[i] = __builtin_shufflevector(a, c, 0, 1, 4, 5); r[i + 2] = __builtin_shufflevector(a, c, 2, 3, 6, 7);)
  BK_BFLY(1, r[i] = __builtin_shufflevector(a, c, 0, 4, 2, 6); r[i + 1] = __builtin_shufflevector(a, c, 1, 5, 3, 7);)
#undef BK_BFLY
}

// An L x L block through registers: dst[t * ldd + j] = row(j)[t] for t, j < L.
template <class V, class Row>
BK_INLINE void TransposeTile(Row&& row, float* dst, int64_t ldd) {
  constexpr int L = Traits<V>::kLanes;
  V r[L];
  for (int t = 0; t < L; ++t) r[t] = Load<V>(row(t));
  Transpose<V>(r);
  for (int t = 0; t < L; ++t) Store<V>(dst + t * ldd, r[t]);
}

template <class V> BK_INLINE float ReduceAdd(V v) {
  float s = 0.f;
  for (int i = 0; i < Traits<V>::kLanes; ++i) s += v[i];
  return s;
}
template <class V> BK_INLINE float ReduceMax(V v) {
  float m = v[0];
  for (int i = 1; i < Traits<V>::kLanes; ++i) m = v[i] > m ? v[i] : m;
  return m;
}

// exp(x): round-to-nearest range reduction x = n ln2 + r, |r| <= ln2/2, degree-6 Taylor
// polynomial (relative error below 2e-7, about 1.5 ulp), scaled by 2^n built in the exponent
// bits. Inputs are clamped to [-87.3, 88]: below, the result is the smallest normal (true value
// < 1.2e-38, harmless for softmax/erfc); above, exp saturates at 1.65e38 instead of inf.
template <class V> BK_INLINE V Exp(V x) {
  using I = typename Traits<V>::I;
  x = Min(Max(x, Splat<V>(-87.3f)), Splat<V>(88.0f));
  const V magic = Splat<V>(12582912.0f);  // 1.5 * 2^23: adding it rounds to an integer
  V n = (x * 1.44269504088896341f + magic) - magic;
  V r = x - n * 0.693359375f;            // ln2 split in two for an exact n*ln2_hi
  r = r - n * -2.12194440e-4f;
  V p = Splat<V>(1.f / 720.f);
  p = p * r + 1.f / 120.f;
  p = p * r + 1.f / 24.f;
  p = p * r + 1.f / 6.f;
  p = p * r + 0.5f;
  p = p * r + 1.f;
  p = p * r + 1.f;
  I bits = (__builtin_convertvector(n, I) + 127) << 23;
  V scale;
  std::memcpy(&scale, &bits, sizeof(V));
  return p * scale;
}

// 0.5 * erfc(z) for z >= 0 (Numerical Recipes' erfcc Chebyshev fit, fractional error < 1.2e-7
// everywhere), so the GELU tail keeps full relative precision instead of computing 1 - erf.
template <class V> BK_INLINE V HalfErfcNonNeg(V z) {
  V t = 1.f / (1.f + 0.5f * z);
  V p = Splat<V>(0.17087277f);
  p = p * t + -0.82215223f;
  p = p * t + 1.48851587f;
  p = p * t + -1.13520398f;
  p = p * t + 0.27886807f;
  p = p * t + -0.18628806f;
  p = p * t + 0.09678418f;
  p = p * t + 0.37409196f;
  p = p * t + 1.00002368f;
  p = p * t + -1.26551223f;
  return 0.5f * t * Exp<V>(p - z * z);
}

// GELU with the exact erf: x * Phi(x), Phi(x) = 1 - 0.5 erfc(x/sqrt2) for x >= 0, else 0.5 erfc(-x/sqrt2).
template <class V> BK_INLINE V GeluErf(V x) {
  V ax = x < 0.f ? -x : x;
  V e = HalfErfcNonNeg<V>(ax * 0.70710678118654752f);
  return x * (x < 0.f ? e : 1.f - e);
}

// tanh(x) = sign(x) (1 - 2 / (exp(2|x|) + 1)); below |x| = 1/16 a Taylor series avoids the
// cancellation of 1 - 2/(...) near zero (absolute error there < 1e-9).
template <class V> BK_INLINE V Tanh(V x) {
  V ax = Min(x < 0.f ? -x : x, Splat<V>(9.f));
  V big = 1.f - 2.f / (Exp<V>(2.f * ax) + 1.f);
  V x2 = ax * ax;
  V small = ax * (1.f + x2 * (-1.f / 3.f + x2 * (2.f / 15.f + x2 * (-17.f / 315.f))));
  V y = ax < 0.0625f ? small : big;
  return x < 0.f ? -y : y;
}

// The tanh approximation ("gelu_new", "gelu_pytorch_tanh", "gelu_fast").
template <class V> BK_INLINE V GeluTanh(V x) {
  V inner = 0.79788456080286536f * (x + 0.044715f * x * x * x);
  return 0.5f * x * (1.f + Tanh<V>(inner));
}

template <class V> BK_INLINE V Relu(V x) { return x < 0.f ? V{} : x; }

BK_INLINE RowStats MeanRstd(const float* x, int64_t n, float eps) {
  using V = f32x8;
  constexpr int L = 8;
  V acc = V{};
  int64_t i = 0;
  for (; i + L <= n; i += L) acc += Load<V>(x + i);
  float sum = ReduceAdd(acc);
  for (; i < n; ++i) sum += x[i];
  const float mean = sum / static_cast<float>(n);
  V vacc = V{};
  for (i = 0; i + L <= n; i += L) {
    const V d = Load<V>(x + i) - mean;
    vacc += d * d;
  }
  float var = ReduceAdd(vacc);
  for (; i < n; ++i) var += (x[i] - mean) * (x[i] - mean);
  var /= static_cast<float>(n);
  return {mean, 1.0f / std::sqrt(var + eps)};
}

}  // namespace bertkit::cpu::simd
