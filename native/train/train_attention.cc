// Training kernels: self-attention over packed sequences, forward (probabilities and dropout
// kept) and backward, per (sequence, head); and the same for selected query rows against every
// key of their sequence (the last layer's kept rows).
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

}  // namespace

int64_t AttentionScratchFloats(int64_t max_seq_len) { return 2 * max_seq_len * max_seq_len + GemmScratchFloats() + 16; }

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

}  // namespace bertkit::train
