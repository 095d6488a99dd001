#include "cpu/kernels.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "cpu/simd.h"

namespace bertkit::cpu {

using namespace simd;

namespace {

// Mean and variance in two passes over the row (one-pass E[x^2] - E[x]^2 loses digits when the
// mean is large compared to the spread), with 8-wide partial sums.
BK_INLINE void NormalizeRow(const float* x, float* out, int64_t n, const float* gamma, const float* beta, float eps) {
  using V = f32x8;
  constexpr int L = 8;
  V acc = V{};
  int64_t i = 0;
  for (; i + L <= n; i += L) acc += Load<V>(x + i);
  float sum = ReduceAdd(acc);
  for (; i < n; ++i) sum += x[i];
  const float mean = sum / static_cast<float>(n);
  V vacc = V{};
  i = 0;
  for (; i + L <= n; i += L) {
    V d = Load<V>(x + i) - mean;
    vacc += d * d;
  }
  float var = ReduceAdd(vacc);
  for (; i < n; ++i) var += (x[i] - mean) * (x[i] - mean);
  var /= static_cast<float>(n);
  const float inv = 1.0f / std::sqrt(var + eps);
  for (i = 0; i < n; ++i) out[i] = (x[i] - mean) * inv * gamma[i] + beta[i];
}

int64_t RoundUp(int64_t x, int64_t m) { return (x + m - 1) / m * m; }

template <class V>
BK_INLINE void AttendHead(const AttentionArgs& a, int64_t s, int h, float* scratch) {
  constexpr int L = Traits<V>::kLanes;
  const int64_t start = a.cu_seqlens[s];
  const int64_t n = a.cu_seqlens[s + 1] - start;
  const int64_t d = a.head_dim;
  const int64_t hidden = static_cast<int64_t>(a.heads) * d;
  const int64_t ld = 3 * hidden;

  int64_t nk = 0;
  if (a.key_mask == nullptr) {
    nk = n;
  } else {
    for (int64_t j = 0; j < n; ++j) nk += a.key_mask[start + j] != 0;
  }
  const bool uniform = nk == 0;  // no key at all: transformers' mask makes the softmax uniform
  const bool all_keys = uniform || nk == n;
  if (all_keys) nk = n;
  const int64_t npad = RoundUp(nk, L);

  float* kt = scratch;               // [d, npad], keys transposed so scores vectorize over keys
  float* vc = kt + d * npad;         // [nk, d]
  float* sc = vc + nk * d;           // [npad]
  float* ctx = sc + npad;            // [d]

  int64_t jk = 0;
  for (int64_t j = 0; j < n; ++j) {
    if (!all_keys && a.key_mask[start + j] == 0) continue;
    const float* row = a.qkv + (start + j) * ld + h * d;
    for (int64_t c = 0; c < d; ++c) kt[c * npad + jk] = row[hidden + c];
    std::memcpy(vc + jk * d, row + 2 * hidden, d * sizeof(float));
    ++jk;
  }
  for (int64_t c = 0; c < d; ++c)
    for (int64_t j = nk; j < npad; ++j) kt[c * npad + j] = 0.f;

  for (int64_t i = 0; i < n; ++i) {
    const float* q = a.qkv + (start + i) * ld + h * d;
    if (uniform) {
      for (int64_t j = 0; j < nk; ++j) sc[j] = 1.0f / static_cast<float>(nk);
    } else {
      for (int64_t j = 0; j < npad; j += L) Store<V>(sc + j, V{});
      for (int64_t c = 0; c < d; ++c) {
        const float qc = q[c];
        const float* krow = kt + c * npad;
        for (int64_t j = 0; j < npad; j += L) Store<V>(sc + j, Load<V>(sc + j) + qc * Load<V>(krow + j));
      }
      float mx = -INFINITY;
      for (int64_t j = 0; j < nk; ++j) mx = std::max(mx, sc[j]);
      mx *= a.scale;
      V vsum = V{};
      int64_t j = 0;
      for (; j + L <= nk; j += L) {
        V e = Exp<V>(Load<V>(sc + j) * a.scale - mx);
        Store<V>(sc + j, e);
        vsum += e;
      }
      float sum = ReduceAdd(vsum);
      if (j < nk) {
        // Tail: padding lanes are excluded from the sum.
        V e = Exp<V>(Load<V>(sc + j) * a.scale - mx);
        for (int64_t t = 0; t < nk - j; ++t) {
          sc[j + t] = e[t];
          sum += e[t];
        }
      }
      const float inv = 1.0f / sum;
      for (int64_t t = 0; t < nk; ++t) sc[t] *= inv;
    }
    for (int64_t c = 0; c < d; ++c) ctx[c] = 0.f;
    for (int64_t j = 0; j < nk; ++j) {
      const float p = sc[j];
      const float* vrow = vc + j * d;
      for (int64_t c = 0; c < d; ++c) ctx[c] += p * vrow[c];
    }
    std::memcpy(a.context + (start + i) * hidden + h * d, ctx, d * sizeof(float));

    if (a.probs != nullptr) {
      float* prow = a.probs + a.probs_offsets[s] + (static_cast<int64_t>(h) * n + i) * n;
      int64_t k = 0;
      for (int64_t j = 0; j < n; ++j) prow[j] = (all_keys || a.key_mask[start + j] != 0) ? sc[k++] : 0.f;
    }
  }
}

void AttendGeneric(const AttentionArgs& a, int64_t s, int h, float* scratch) { AttendHead<f32x4>(a, s, h, scratch); }
#if BK_X86
BK_TARGET_AVX2 void AttendAvx2(const AttentionArgs& a, int64_t s, int h, float* scratch) { AttendHead<f32x8>(a, s, h, scratch); }
BK_TARGET_AVX512 void AttendAvx512(const AttentionArgs& a, int64_t s, int h, float* scratch) { AttendHead<f32x16>(a, s, h, scratch); }
#endif

}  // namespace

void Embeddings(const EmbeddingsArgs& a, ThreadPool* pool) {
  const int64_t block = 16;
  pool->ParallelFor((a.tokens + block - 1) / block, [&](int64_t task, int) {
    const int64_t t1 = std::min(a.tokens, (task + 1) * block);
    for (int64_t t = task * block; t < t1; ++t) {
      const int64_t id = a.input_ids[t];
      const float* w = a.word_packed ? PackedRow(*a.word_packed, id) : a.word_embeddings + id * a.hidden;
      const int64_t ws = a.word_packed ? a.word_packed->nr : 1;
      const float* tt = a.token_type_embeddings + (a.token_type_ids ? static_cast<int64_t>(a.token_type_ids[t]) : 0) * a.hidden;
      const float* p = a.position_embeddings + static_cast<int64_t>(a.position_ids[t]) * a.hidden;
      float* o = a.out + t * a.hidden;
      // transformers adds word + token type first, then position.
      for (int64_t c = 0; c < a.hidden; ++c) o[c] = (w[c * ws] + tt[c]) + p[c];
      NormalizeRow(o, o, a.hidden, a.gamma, a.beta, a.eps);
    }
  });
}

void LayerNormRows(float* x, int64_t rows, int64_t hidden, int64_t ld, const float* gamma, const float* beta, float eps,
                   ThreadPool* pool) {
  const int64_t block = 16;
  pool->ParallelFor((rows + block - 1) / block, [&](int64_t task, int) {
    const int64_t r1 = std::min(rows, (task + 1) * block);
    for (int64_t r = task * block; r < r1; ++r) NormalizeRow(x + r * ld, x + r * ld, hidden, gamma, beta, eps);
  });
}

int64_t AttentionScratchFloats(int64_t max_seq_len, int head_dim) {
  const int64_t npad = RoundUp(max_seq_len, 16);
  return head_dim * npad + max_seq_len * head_dim + npad + head_dim + 16;
}

void Attention(const AttentionArgs& a, Isa isa, ThreadPool* pool) {
  const int64_t per_thread = AttentionScratchFloats(a.max_seq_len, a.head_dim);
  pool->ParallelFor(a.sequences * a.heads, [&](int64_t task, int thread) {
    const int64_t s = task / a.heads;
    const int h = static_cast<int>(task % a.heads);
    float* scratch = a.scratch + thread * per_thread;
    switch (isa) {
#if BK_X86
      case Isa::kAvx512: AttendAvx512(a, s, h, scratch); break;
      case Isa::kAvx2: AttendAvx2(a, s, h, scratch); break;
#endif
      default: AttendGeneric(a, s, h, scratch); break;
    }
  });
}

}  // namespace bertkit::cpu
