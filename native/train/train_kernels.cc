#include "train/train_kernels.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <numeric>
#include <utility>
#include <vector>

#include "cpu/simd.h"
#include "train/activation_simd.h"
#include "train/train_gemm.h"

namespace bertkit::train {

using namespace cpu::simd;

namespace {

constexpr int64_t kElementBlock = 16384;  // elementwise kernels: floats per task

template <class F>
void ForBlocks(int64_t n, cpu::ThreadPool* pool, F&& fn) {
  const int64_t tasks = (n + kElementBlock - 1) / kElementBlock;
  pool->ParallelFor(tasks, [&](int64_t task, int) {
    const int64_t b = task * kElementBlock;
    fn(b, std::min(n, b + kElementBlock));
  });
}

// ---- activations, vectorized per ISA ----

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

// ---- softmax rows (attention) ----

// p[0:n] = softmax(scale * s[0:n]) over the keys with mask != 0 (others 0); uniform over all n
// when no key is unmasked. Exp vectorized.
template <class V>
BK_INLINE void SoftmaxRow(const float* s, const uint8_t* mask, int64_t n, float scale, float* p, bool any_key) {
  constexpr int L = Traits<V>::kLanes;
  if (!any_key) {
    const float u = 1.0f / static_cast<float>(n);
    for (int64_t j = 0; j < n; ++j) p[j] = u;
    return;
  }
  float mx = -INFINITY;
  for (int64_t j = 0; j < n; ++j)
    if (mask == nullptr || mask[j]) mx = std::max(mx, s[j]);
  mx *= scale;
  V vsum = V{};
  int64_t j = 0;
  for (; j + L <= n; j += L) {
    V e = Exp<V>(Load<V>(s + j) * scale - mx);
    if (mask != nullptr) {
      for (int t = 0; t < L; ++t)
        if (!mask[j + t]) e[t] = 0.f;
    }
    Store<V>(p + j, e);
    vsum += e;
  }
  float sum = ReduceAdd(vsum);
  for (; j < n; ++j) {
    float e = (mask == nullptr || mask[j]) ? std::exp(s[j] * scale - mx) : 0.f;
    p[j] = e;
    sum += e;
  }
  const float inv = 1.0f / sum;
  j = 0;
  for (; j + L <= n; j += L) Store<V>(p + j, Load<V>(p + j) * inv);
  for (; j < n; ++j) p[j] *= inv;
}

// dS = scale * P * (dP - rowdot(dP, P)), in place over dp.
template <class V>
BK_INLINE void SoftmaxBackwardRow(const float* p, float* dp, int64_t n, float scale) {
  constexpr int L = Traits<V>::kLanes;
  V acc = V{};
  int64_t j = 0;
  for (; j + L <= n; j += L) acc += Load<V>(p + j) * Load<V>(dp + j);
  float dot = ReduceAdd(acc);
  for (; j < n; ++j) dot += p[j] * dp[j];
  j = 0;
  for (; j + L <= n; j += L) Store<V>(dp + j, scale * Load<V>(p + j) * (Load<V>(dp + j) - dot));
  for (; j < n; ++j) dp[j] = scale * p[j] * (dp[j] - dot);
}

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

// Whether any of a sequence's n tokens is a key (otherwise it attends uniformly).
bool AnyKey(const uint8_t* mask, int64_t n) {
  if (mask == nullptr) return true;
  for (int64_t j = 0; j < n; ++j)
    if (mask[j]) return true;
  return false;
}

// The scale of a kept element under dropout p (p >= 1 keeps none).
inline float InvKeep(float p) { return p >= 1.f ? 0.f : 1.f / (1.f - p); }

template <class V>
BK_INLINE void AttendForward(const AttentionTrainArgs& a, int64_t s, int h, float* scratch, cpu::Isa isa) {
  const int64_t start = a.cu_seqlens[s];
  const int64_t n = a.cu_seqlens[s + 1] - start;
  const int64_t d = a.head_dim, H = static_cast<int64_t>(a.heads) * d, ld = 3 * H;
  const float* q = a.qkv + start * ld + h * d;
  const float* k = q + H;
  const float* v = q + 2 * H;
  float* sc = scratch;                 // [n, n]
  float* gemm = scratch + 2 * a.max_seq_len * a.max_seq_len;
  const uint8_t* mask = a.key_mask ? a.key_mask + start : nullptr;
  const bool any_key = AnyKey(mask, n);
  GemmArgs g;
  g.m = n; g.n = n; g.k = d;
  g.a = q; g.rsa = ld; g.csa = 1;
  g.b = k; g.rsb = 1; g.csb = ld;
  g.c = sc; g.ldc = n;
  GemmSerial(g, isa, gemm);
  const int64_t base = a.probs_offsets[s] + static_cast<int64_t>(h) * n * n;
  float* P = a.probs + base;
  for (int64_t i = 0; i < n; ++i) SoftmaxRow<V>(sc + i * n, mask, n, a.scale, P + i * n, any_key);
  const float* Pd = P;
  if (a.dropout > 0.f) {
    float* drop = sc;  // scores are no longer needed
    const float inv_keep = InvKeep(a.dropout);
    std::memcpy(drop, P, n * n * sizeof(float));
    for (int64_t i = 0; i < n; ++i) DropoutRow(drop + i * n, n, a.dropout, inv_keep, a.dropout_key, base + i * n);
    Pd = drop;
  }
  GemmArgs c;
  c.m = n; c.n = d; c.k = n;
  c.a = Pd; c.rsa = n; c.csa = 1;
  c.b = v; c.rsb = ld; c.csb = 1;
  c.c = a.context + start * H + h * d; c.ldc = H;
  GemmSerial(c, isa, gemm);
}

template <class V>
BK_INLINE void AttendBackward(const AttentionTrainArgs& a, int64_t s, int h, float* scratch, cpu::Isa isa) {
  const int64_t start = a.cu_seqlens[s];
  const int64_t n = a.cu_seqlens[s + 1] - start;
  const int64_t d = a.head_dim, H = static_cast<int64_t>(a.heads) * d, ld = 3 * H;
  const float* q = a.qkv + start * ld + h * d;
  const float* k = q + H;
  const float* v = q + 2 * H;
  float* dq = a.dqkv + start * ld + h * d;
  float* dk = dq + H;
  float* dv = dq + 2 * H;
  const float* dctx = a.dcontext + start * H + h * d;
  float* dP = scratch;                                   // [n, n]
  float* Pd = scratch + a.max_seq_len * a.max_seq_len;   // [n, n] dropped probs
  float* gemm = scratch + 2 * a.max_seq_len * a.max_seq_len;
  const int64_t base = a.probs_offsets[s] + static_cast<int64_t>(h) * n * n;
  const float* P = a.probs + base;
  const float inv_keep = InvKeep(a.dropout);

  // dP' = dctx . V^T
  GemmArgs g;
  g.m = n; g.n = n; g.k = d;
  g.a = dctx; g.rsa = H; g.csa = 1;
  g.b = v; g.rsb = 1; g.csb = ld;
  g.c = dP; g.ldc = n;
  GemmSerial(g, isa, gemm);
  // dV = P'^T . dctx
  const float* Pused = P;
  if (a.dropout > 0.f) {
    std::memcpy(Pd, P, n * n * sizeof(float));
    for (int64_t i = 0; i < n; ++i) DropoutRow(Pd + i * n, n, a.dropout, inv_keep, a.dropout_key, base + i * n);
    Pused = Pd;
  }
  GemmArgs gv;
  gv.m = n; gv.n = d; gv.k = n;
  gv.a = Pused; gv.rsa = 1; gv.csa = n;
  gv.b = dctx; gv.rsb = H; gv.csb = 1;
  gv.c = dv; gv.ldc = ld;
  GemmSerial(gv, isa, gemm);
  // dP = dP' * mask / keep; dS = scale * P * (dP - rowdot(dP, P))
  if (a.dropout > 0.f)
    for (int64_t i = 0; i < n; ++i) DropoutRow(dP + i * n, n, a.dropout, inv_keep, a.dropout_key, base + i * n);
  for (int64_t i = 0; i < n; ++i) SoftmaxBackwardRow<V>(P + i * n, dP + i * n, n, a.scale);
  // dQ = dS . K ; dK = dS^T . Q
  GemmArgs gq;
  gq.m = n; gq.n = d; gq.k = n;
  gq.a = dP; gq.rsa = n; gq.csa = 1;
  gq.b = k; gq.rsb = ld; gq.csb = 1;
  gq.c = dq; gq.ldc = ld;
  GemmSerial(gq, isa, gemm);
  GemmArgs gk;
  gk.m = n; gk.n = d; gk.k = n;
  gk.a = dP; gk.rsa = 1; gk.csa = n;
  gk.b = q; gk.rsb = ld; gk.csb = 1;
  gk.c = dk; gk.ldc = ld;
  GemmSerial(gk, isa, gemm);
}

void AttnFwdGeneric(const AttentionTrainArgs& a, int64_t s, int h, float* sc) { AttendForward<f32x4>(a, s, h, sc, cpu::Isa::kGeneric); }
void AttnBwdGeneric(const AttentionTrainArgs& a, int64_t s, int h, float* sc) { AttendBackward<f32x4>(a, s, h, sc, cpu::Isa::kGeneric); }
#if BK_X86
BK_TARGET_AVX2 void AttnFwdAvx2(const AttentionTrainArgs& a, int64_t s, int h, float* sc) { AttendForward<f32x8>(a, s, h, sc, cpu::Isa::kAvx2); }
BK_TARGET_AVX2 void AttnBwdAvx2(const AttentionTrainArgs& a, int64_t s, int h, float* sc) { AttendBackward<f32x8>(a, s, h, sc, cpu::Isa::kAvx2); }
BK_TARGET_AVX512 void AttnFwdAvx512(const AttentionTrainArgs& a, int64_t s, int h, float* sc) {
  AttendForward<f32x16>(a, s, h, sc, cpu::Isa::kAvx512);
}
BK_TARGET_AVX512 void AttnBwdAvx512(const AttentionTrainArgs& a, int64_t s, int h, float* sc) {
  AttendBackward<f32x16>(a, s, h, sc, cpu::Isa::kAvx512);
}
#endif

// ---- attention for selected query rows (vectors of head_dim: dot products and axpys) ----

template <class V>
BK_INLINE float Dot(const float* a, const float* b, int64_t n) {
  constexpr int L = Traits<V>::kLanes;
  V acc = V{};
  int64_t i = 0;
  for (; i + L <= n; i += L) acc += Load<V>(a + i) * Load<V>(b + i);
  float s = ReduceAdd(acc);
  for (; i < n; ++i) s += a[i] * b[i];
  return s;
}
template <class V>
BK_INLINE void Axpy(float alpha, const float* x, float* y, int64_t n) {  // y += alpha x
  constexpr int L = Traits<V>::kLanes;
  int64_t i = 0;
  for (; i + L <= n; i += L) Store<V>(y + i, Load<V>(y + i) + alpha * Load<V>(x + i));
  for (; i < n; ++i) y[i] += alpha * x[i];
}

int64_t SequenceOf(const int32_t* cu_seqlens, int64_t sequences, int64_t token) {
  return std::upper_bound(cu_seqlens + 1, cu_seqlens + sequences + 1, static_cast<int32_t>(token)) - (cu_seqlens + 1);
}

// One (row, head): scores against every key of the row's sequence, softmax, dropout, P . V.
template <class V>
BK_INLINE void AttendRowForward(const AttentionRowsArgs& a, int64_t r, int h, float* scratch) {
  const int64_t t = a.rows[r];
  const int64_t s = SequenceOf(a.cu_seqlens, a.sequences, t);
  const int64_t start = a.cu_seqlens[s], n = a.cu_seqlens[s + 1] - start, i = t - start;
  const int64_t d = a.head_dim, H = static_cast<int64_t>(a.heads) * d;
  const float* q = a.q + r * H + h * d;
  const float* kv = a.kv + start * 2 * H + h * d;
  const uint8_t* mask = a.key_mask ? a.key_mask + start : nullptr;
  float* sc = scratch;
  for (int64_t j = 0; j < n; ++j) sc[j] = Dot<V>(q, kv + j * 2 * H, d);
  float* P = a.probs + (r * a.heads + h) * a.max_seq_len;
  SoftmaxRow<V>(sc, mask, n, a.scale, P, AnyKey(mask, n));
  const float* Pd = P;
  if (a.dropout > 0.f) {
    std::memcpy(sc, P, n * sizeof(float));
    const float inv_keep = InvKeep(a.dropout);
    DropoutRow(sc, n, a.dropout, inv_keep, a.dropout_key, a.probs_offsets[s] + (h * n + i) * n);
    Pd = sc;
  }
  float* ctx = a.context + r * H + h * d;
  std::fill(ctx, ctx + d, 0.f);
  for (int64_t j = 0; j < n; ++j) Axpy<V>(Pd[j], kv + j * 2 * H + H, ctx, d);
}

// One (sequence, head): its keys' and values' gradients from the selected rows in it, in row
// order, and those rows' query gradients.
template <class V>
BK_INLINE void AttendRowsBackward(const AttentionRowsArgs& a, int64_t s, int h, int64_t r0, int64_t r1, float* scratch) {
  const int64_t start = a.cu_seqlens[s], n = a.cu_seqlens[s + 1] - start;
  const int64_t d = a.head_dim, H = static_cast<int64_t>(a.heads) * d;
  const float* kv = a.kv + start * 2 * H + h * d;
  float* dkv = a.dkv + start * 2 * H + h * d;
  for (int64_t j = 0; j < n; ++j) {
    std::fill(dkv + j * 2 * H, dkv + j * 2 * H + d, 0.f);
    std::fill(dkv + j * 2 * H + H, dkv + j * 2 * H + H + d, 0.f);
  }
  const float inv_keep = InvKeep(a.dropout);
  float* dP = scratch;
  float* Pd = scratch + a.max_seq_len;
  for (int64_t r = r0; r < r1; ++r) {
    const int64_t i = a.rows[r] - start;
    const float* P = a.probs + (r * a.heads + h) * a.max_seq_len;
    const float* dctx = a.dcontext + r * H + h * d;
    const float* q = a.q + r * H + h * d;
    const uint64_t offset = a.probs_offsets[s] + (h * n + i) * n;
    for (int64_t j = 0; j < n; ++j) dP[j] = Dot<V>(dctx, kv + j * 2 * H + H, d);
    const float* Pused = P;
    if (a.dropout > 0.f) {
      std::memcpy(Pd, P, n * sizeof(float));
      DropoutRow(Pd, n, a.dropout, inv_keep, a.dropout_key, offset);
      DropoutRow(dP, n, a.dropout, inv_keep, a.dropout_key, offset);
      Pused = Pd;
    }
    for (int64_t j = 0; j < n; ++j) Axpy<V>(Pused[j], dctx, dkv + j * 2 * H + H, d);  // dV += P'^T dctx
    SoftmaxBackwardRow<V>(P, dP, n, a.scale);
    float* dq = a.dq + r * H + h * d;
    std::fill(dq, dq + d, 0.f);
    for (int64_t j = 0; j < n; ++j) {
      Axpy<V>(dP[j], kv + j * 2 * H, dq, d);  // dQ = dS K
      Axpy<V>(dP[j], q, dkv + j * 2 * H, d);  // dK += dS^T q
    }
  }
}

void AttnRowFwdGeneric(const AttentionRowsArgs& a, int64_t r, int h, float* sc) { AttendRowForward<f32x4>(a, r, h, sc); }
void AttnRowsBwdGeneric(const AttentionRowsArgs& a, int64_t s, int h, int64_t r0, int64_t r1, float* sc) {
  AttendRowsBackward<f32x4>(a, s, h, r0, r1, sc);
}
#if BK_X86
BK_TARGET_AVX2 void AttnRowFwdAvx2(const AttentionRowsArgs& a, int64_t r, int h, float* sc) { AttendRowForward<f32x8>(a, r, h, sc); }
BK_TARGET_AVX2 void AttnRowsBwdAvx2(const AttentionRowsArgs& a, int64_t s, int h, int64_t r0, int64_t r1, float* sc) {
  AttendRowsBackward<f32x8>(a, s, h, r0, r1, sc);
}
BK_TARGET_AVX512 void AttnRowFwdAvx512(const AttentionRowsArgs& a, int64_t r, int h, float* sc) { AttendRowForward<f32x16>(a, r, h, sc); }
BK_TARGET_AVX512 void AttnRowsBwdAvx512(const AttentionRowsArgs& a, int64_t s, int h, int64_t r0, int64_t r1, float* sc) {
  AttendRowsBackward<f32x16>(a, s, h, r0, r1, sc);
}
#endif

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

// ---------------------------------------------------------------------------------------------

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

int64_t ColumnChunks(int64_t rows) { return std::max<int64_t>(1, std::min<int64_t>(32, (rows + 31) / 32)); }
int64_t ColumnScratchFloats(int64_t rows, int64_t cols) { return ColumnChunks(rows) * cols; }

namespace {
// Reduces partials [chunks][cols] into out (+=), in chunk order.
void ReducePartials(const float* partials, int64_t chunks, int64_t cols, float* out, cpu::ThreadPool* pool) {
  const int64_t block = 256;
  pool->ParallelFor((cols + block - 1) / block, [&](int64_t task, int) {
    const int64_t c1 = std::min(cols, (task + 1) * block);
    for (int64_t c = task * block; c < c1; ++c) {
      float s = 0.f;
      for (int64_t k = 0; k < chunks; ++k) s += partials[k * cols + c];
      out[c] += s;
    }
  });
}
}  // namespace

void ColumnSumAccumulate(const float* x, int64_t rows, int64_t cols, int64_t ld, float* out, cpu::ThreadPool* pool,
                         float* partials) {
  if (rows <= 0) return;
  const int64_t chunks = ColumnChunks(rows);
  const int64_t per = (rows + chunks - 1) / chunks;
  pool->ParallelFor(chunks, [&](int64_t c, int) {
    float* acc = partials + c * cols;
    std::fill(acc, acc + cols, 0.f);
    const int64_t r1 = std::min(rows, (c + 1) * per);
    for (int64_t r = c * per; r < r1; ++r) {
      const float* row = x + r * ld;
      for (int64_t j = 0; j < cols; ++j) acc[j] += row[j];
    }
  });
  ReducePartials(partials, chunks, cols, out, pool);
}

void LayerNormForward(const float* x, int64_t rows, int64_t h, const float* gamma, const float* beta, float eps, float* y,
                      float* xhat, float* rstd, cpu::ThreadPool* pool) {
  const int64_t block = 16;
  pool->ParallelFor((rows + block - 1) / block, [&](int64_t task, int) {
    const int64_t r1 = std::min(rows, (task + 1) * block);
    for (int64_t r = task * block; r < r1; ++r) {
      const float* xr = x + r * h;
      const RowStats st = MeanRstd(xr, h, eps);  // as the inference kernel
      const float mean = st.mean, inv = st.rstd;
      rstd[r] = inv;
      float* xh = xhat + r * h;
      float* yr = y + r * h;
      for (int64_t i = 0; i < h; ++i) {
        const float v = (xr[i] - mean) * inv;
        xh[i] = v;
        yr[i] = v * gamma[i] + beta[i];
      }
    }
  });
}

void LayerNormBackward(const float* dy, const float* xhat, const float* rstd, const float* gamma, int64_t rows, int64_t h,
                       float* dx, float* dgamma, float* dbeta, cpu::ThreadPool* pool, float* partials) {
  if (rows <= 0) return;
  const int64_t chunks = ColumnChunks(rows);
  const int64_t per = (rows + chunks - 1) / chunks;
  pool->ParallelFor(chunks, [&](int64_t c, int) {
    float* pg = partials + c * 2 * h;
    float* pb = pg + h;
    std::fill(pg, pg + 2 * h, 0.f);
    const int64_t r1 = std::min(rows, (c + 1) * per);
    for (int64_t r = c * per; r < r1; ++r) {
      const float* dyr = dy + r * h;
      const float* xh = xhat + r * h;
      for (int64_t i = 0; i < h; ++i) {
        pg[i] += dyr[i] * xh[i];
        pb[i] += dyr[i];
      }
      // The two row sums with 8-wide partial sums (see LayerNormForward).
      using V = f32x8;
      constexpr int L = 8;
      V a1 = V{}, a2 = V{};
      int64_t i = 0;
      for (; i + L <= h; i += L) {
        const V g = Load<V>(dyr + i) * Load<V>(gamma + i);
        a1 += g;
        a2 += g * Load<V>(xh + i);
      }
      float s1 = ReduceAdd(a1), s2 = ReduceAdd(a2);
      for (; i < h; ++i) {
        const float g = dyr[i] * gamma[i];
        s1 += g;
        s2 += g * xh[i];
      }
      const float m1 = s1 / static_cast<float>(h), m2 = s2 / static_cast<float>(h);
      const float inv = rstd[r];
      float* dxr = dx + r * h;
      for (int64_t i = 0; i < h; ++i) dxr[i] = inv * (dyr[i] * gamma[i] - m1 - xh[i] * m2);
    }
  });
  // partials rows are [dgamma | dbeta] of 2h columns.
  std::vector<float> both(2 * h, 0.f);
  ReducePartials(partials, chunks, 2 * h, both.data(), pool);
  for (int64_t i = 0; i < h; ++i) {
    dgamma[i] += both[i];
    dbeta[i] += both[h + i];
  }
}

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

int64_t AttentionScratchFloats(int64_t max_seq_len) { return 2 * max_seq_len * max_seq_len + GemmScratchFloats() + 16; }

namespace {
// The ISA's copy of a per-head kernel.
template <class Fn>
Fn ByIsa(cpu::Isa isa, Fn generic, [[maybe_unused]] Fn avx2, [[maybe_unused]] Fn avx512) {
  switch (isa) {
#if BK_X86
    case cpu::Isa::kAvx512: return avx512;
    case cpu::Isa::kAvx2: return avx2;
#endif
    default: return generic;
  }
}
// The three copies of a kernel named f##Generic, f##Avx2, f##Avx512 (x86 only has the last two).
#if BK_X86
#define BK_PER_ISA(f) f##Generic, f##Avx2, f##Avx512
#else
#define BK_PER_ISA(f) f##Generic, f##Generic, f##Generic
#endif

// One task per (item, head), each with its thread's slice of the scratch.
template <class F>
void ForItemHeads(const AttentionShape& a, int64_t items, int64_t scratch_per_thread, cpu::ThreadPool* pool, F&& fn) {
  pool->ParallelFor(items * a.heads, [&](int64_t task, int thread) {
    fn(task / a.heads, static_cast<int>(task % a.heads), a.scratch + thread * scratch_per_thread);
  });
}
}  // namespace

void AttentionForward(const AttentionTrainArgs& a, cpu::Isa isa, cpu::ThreadPool* pool) {
  const auto fn = ByIsa(isa, BK_PER_ISA(AttnFwd));
  ForItemHeads(a, a.sequences, AttentionScratchFloats(a.max_seq_len), pool, [&](int64_t s, int h, float* sc) { fn(a, s, h, sc); });
}

void AttentionBackward(const AttentionTrainArgs& a, cpu::Isa isa, cpu::ThreadPool* pool) {
  const auto fn = ByIsa(isa, BK_PER_ISA(AttnBwd));
  ForItemHeads(a, a.sequences, AttentionScratchFloats(a.max_seq_len), pool, [&](int64_t s, int h, float* sc) { fn(a, s, h, sc); });
}

int64_t AttentionRowsScratchFloats(int64_t max_seq_len) { return 2 * max_seq_len + 16; }

void AttentionRowsForward(const AttentionRowsArgs& a, cpu::Isa isa, cpu::ThreadPool* pool) {
  const auto fn = ByIsa(isa, BK_PER_ISA(AttnRowFwd));
  ForItemHeads(a, a.num_rows, AttentionRowsScratchFloats(a.max_seq_len), pool, [&](int64_t r, int h, float* sc) { fn(a, r, h, sc); });
}

void AttentionRowsBackward(const AttentionRowsArgs& a, cpu::Isa isa, cpu::ThreadPool* pool) {
  // rows are ascending, so each sequence's rows are one range [first[s], first[s + 1])
  std::vector<int64_t> first(a.sequences + 1, a.num_rows);
  for (int64_t r = a.num_rows - 1; r >= 0; --r) first[SequenceOf(a.cu_seqlens, a.sequences, a.rows[r])] = r;
  for (int64_t s = a.sequences - 1; s >= 0; --s) first[s] = std::min(first[s], first[s + 1]);
  const auto fn = ByIsa(isa, BK_PER_ISA(AttnRowsBwd));
  ForItemHeads(a, a.sequences, AttentionRowsScratchFloats(a.max_seq_len), pool,
               [&](int64_t s, int h, float* sc) { fn(a, s, h, first[s], first[s + 1], sc); });
}

void EmbeddingsSum(const int32_t* ids, const int32_t* types, const int32_t* positions, int64_t tokens, int64_t h,
                   const float* word, const float* position, const float* type, float* out, cpu::ThreadPool* pool) {
  const int64_t block = 16;
  pool->ParallelFor((tokens + block - 1) / block, [&](int64_t task, int) {
    const int64_t t1 = std::min(tokens, (task + 1) * block);
    for (int64_t t = task * block; t < t1; ++t) {
      const float* w = word + static_cast<int64_t>(ids[t]) * h;
      const float* tt = type + (types ? static_cast<int64_t>(types[t]) : 0) * h;
      const float* p = position + static_cast<int64_t>(positions[t]) * h;
      float* o = out + t * h;
      for (int64_t c = 0; c < h; ++c) o[c] = (w[c] + tt[c]) + p[c];
    }
  });
}

namespace {
// Adds d[t] into table row key(t) for every token, grouping tokens by row (sorted by row, then
// token) so that each row is one task and sums its tokens in token order.
template <class Key>
void ScatterRows(const float* d, int64_t tokens, int64_t h, float* table, Key key, cpu::ThreadPool* pool) {
  std::vector<std::pair<int64_t, int64_t>> order;
  order.reserve(tokens);
  for (int64_t t = 0; t < tokens; ++t) {
    const int64_t r = key(t);
    if (r >= 0) order.push_back({r, t});
  }
  std::sort(order.begin(), order.end());
  std::vector<int64_t> starts;
  for (size_t i = 0; i < order.size(); ++i)
    if (i == 0 || order[i].first != order[i - 1].first) starts.push_back(static_cast<int64_t>(i));
  starts.push_back(static_cast<int64_t>(order.size()));
  pool->ParallelFor(static_cast<int64_t>(starts.size()) - 1, [&](int64_t g, int) {
    float* row = table + order[starts[g]].first * h;
    for (int64_t i = starts[g]; i < starts[g + 1]; ++i) {
      const float* src = d + order[i].second * h;
      for (int64_t c = 0; c < h; ++c) row[c] += src[c];
    }
  });
}
}  // namespace

void EmbeddingsBackward(const float* d, const int32_t* ids, const int32_t* types, const int32_t* positions, int64_t tokens,
                        int64_t h, int64_t padding_idx, float* dword, float* dposition, float* dtype, cpu::ThreadPool* pool) {
  ScatterRows(d, tokens, h, dword, [&](int64_t t) -> int64_t { return ids[t] == padding_idx ? -1 : ids[t]; }, pool);
  ScatterRows(d, tokens, h, dposition, [&](int64_t t) -> int64_t { return positions[t]; }, pool);
  ScatterRows(d, tokens, h, dtype, [&](int64_t t) -> int64_t { return types ? types[t] : 0; }, pool);
}

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
