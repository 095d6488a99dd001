#include "cpu/kernels.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "cpu/simd.h"

namespace bertkit::cpu {

using namespace simd;

namespace {

BK_INLINE void NormalizeRow(const float* x, float* out, int64_t n, const float* gamma, const float* beta, float eps) {
  const RowStats st = MeanRstd(x, n, eps);
  for (int64_t i = 0; i < n; ++i) out[i] = (x[i] - st.mean) * st.rstd * gamma[i] + beta[i];
}

int64_t RoundUp(int64_t x, int64_t m) { return (x + m - 1) / m * m; }

// Attention for one (sequence, head) as two register-blocked mini-GEMMs per block of QB
// queries: S = Q.K^T (QB x keys, K^T stored as 4-vector-wide key panels), the softmax on S in
// place, then C = P.V (QB x d, V rows padded to whole vectors). Each loaded K or V vector feeds
// QB FMAs, where a query-at-a-time loop would reload its scores for every FMA.
constexpr int kQueryBlock = 6;

// S[r][j] = q_r . k_j for a 4-vector-wide block of keys (panel = K^T block, row stride ldk).
template <class V, int QB>
BK_INLINE void ScoreTile(const float* q, int64_t ldq, int64_t d, const float* panel, int64_t ldk, float* s, int64_t lds) {
  constexpr int L = Traits<V>::kLanes;
  V acc[QB][4];
  for (int r = 0; r < QB; ++r)
    for (int v = 0; v < 4; ++v) acc[r][v] = V{};
  for (int64_t c = 0; c < d; ++c) {
    V b[4];
    for (int v = 0; v < 4; ++v) b[v] = Load<V>(panel + c * ldk + v * L);
    for (int r = 0; r < QB; ++r) {
      const float x = q[r * ldq + c];
      for (int v = 0; v < 4; ++v) acc[r][v] += x * b[v];
    }
  }
  for (int r = 0; r < QB; ++r)
    for (int v = 0; v < 4; ++v) Store<V>(s + r * lds + v * L, acc[r][v]);
}

// C[r][0:NV*L] = sum_j P[r][j] V[j][0:NV*L] (V rows of stride ldv).
template <class V, int QB, int NV>
BK_INLINE void ContextTile(const float* p, int64_t ldp, int64_t nk, const float* v, int64_t ldv, float* c, int64_t ldc) {
  constexpr int L = Traits<V>::kLanes;
  V acc[QB][NV];
  for (int r = 0; r < QB; ++r)
    for (int k = 0; k < NV; ++k) acc[r][k] = V{};
  for (int64_t j = 0; j < nk; ++j) {
    V b[NV];
    for (int k = 0; k < NV; ++k) b[k] = Load<V>(v + j * ldv + k * L);
    for (int r = 0; r < QB; ++r) {
      const float x = p[r * ldp + j];
      for (int k = 0; k < NV; ++k) acc[r][k] += x * b[k];
    }
  }
  for (int r = 0; r < QB; ++r)
    for (int k = 0; k < NV; ++k) Store<V>(c + r * ldc + k * L, acc[r][k]);
}

template <class V, int QB>
BK_INLINE void ContextBlock(const float* p, int64_t ldp, int64_t nk, const float* v, int64_t dpad, float* c) {
  constexpr int L = Traits<V>::kLanes;
  for (int64_t col = 0; col < dpad; col += 4 * L) {
    switch ((dpad - col) / L) {
      case 1: ContextTile<V, QB, 1>(p, ldp, nk, v + col, dpad, c + col, dpad); break;
      case 2: ContextTile<V, QB, 2>(p, ldp, nk, v + col, dpad, c + col, dpad); break;
      case 3: ContextTile<V, QB, 3>(p, ldp, nk, v + col, dpad, c + col, dpad); break;
      default: ContextTile<V, QB, 4>(p, ldp, nk, v + col, dpad, c + col, dpad); break;
    }
  }
}

template <class V>
BK_INLINE void SoftmaxRow(float* s, int64_t nk, float scale) {
  constexpr int L = Traits<V>::kLanes;
  float mx = -INFINITY;
  for (int64_t j = 0; j < nk; ++j) mx = std::max(mx, s[j]);
  mx *= scale;
  V vsum = V{};
  int64_t j = 0;
  for (; j + L <= nk; j += L) {
    V e = Exp<V>(Load<V>(s + j) * scale - mx);
    Store<V>(s + j, e);
    vsum += e;
  }
  float sum = ReduceAdd(vsum);
  if (j < nk) {
    // Tail: lanes past nk are not keys and stay out of the sum.
    V e = Exp<V>(Load<V>(s + j) * scale - mx);
    for (int64_t t = 0; t < nk - j; ++t) {
      s[j + t] = e[t];
      sum += e[t];
    }
  }
  const V inv = Splat<V>(1.0f / sum);
  for (j = 0; j < nk; j += L) Store<V>(s + j, Load<V>(s + j) * inv);
}

template <class V, int QB>
BK_INLINE void QueryBlock(const AttentionArgs& a, int64_t s, int h, int64_t i0, int64_t n, int64_t nk, int64_t nkpad,
                          int64_t dpad, bool uniform, bool all_keys, const float* kt, const float* vc, float* sc, float* ctx) {
  constexpr int L = Traits<V>::kLanes;
  const int64_t start = a.cu_seqlens[s];
  const int64_t d = a.head_dim;
  const int64_t hidden = static_cast<int64_t>(a.heads) * d;
  const float* q = a.qkv + (start + i0) * 3 * hidden + h * d;
  if (uniform) {
    for (int r = 0; r < QB; ++r)
      for (int64_t j = 0; j < nkpad; ++j) sc[r * nkpad + j] = 1.0f / static_cast<float>(nk);
  } else {
    for (int64_t j = 0; j < nkpad; j += 4 * L) ScoreTile<V, QB>(q, 3 * hidden, d, kt + j, nkpad, sc + j, nkpad);
    for (int r = 0; r < QB; ++r) SoftmaxRow<V>(sc + r * nkpad, nk, a.scale);
  }
  ContextBlock<V, QB>(sc, nkpad, nk, vc, dpad, ctx);
  for (int r = 0; r < QB; ++r) {
    std::memcpy(a.context + (start + i0 + r) * hidden + h * d, ctx + r * dpad, d * sizeof(float));
    if (a.probs != nullptr) {
      float* prow = a.probs + a.probs_offsets[s] + (static_cast<int64_t>(h) * n + i0 + r) * n;
      int64_t k = 0;
      for (int64_t j = 0; j < n; ++j) prow[j] = (all_keys || a.key_mask[start + j] != 0) ? sc[r * nkpad + k++] : 0.f;
    }
  }
}

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
  const int64_t nkpad = RoundUp(nk, 4 * L);  // whole key panels; padded keys score 0 and are skipped
  const int64_t dpad = RoundUp(d, L);

  float* kt = scratch;              // [d][nkpad]: K^T, key panels of 4 vectors
  float* vc = kt + d * nkpad;       // [nkpad][dpad]: V, rows padded to whole vectors
  float* sc = vc + nkpad * dpad;    // [QB][nkpad]: scores, then probabilities
  float* ctx = sc + kQueryBlock * nkpad;  // [QB][dpad]

  int64_t jk = 0;
  for (int64_t j = 0; j < n; ++j) {
    if (!all_keys && a.key_mask[start + j] == 0) continue;
    const float* row = a.qkv + (start + j) * ld + h * d;
    for (int64_t c = 0; c < d; ++c) kt[c * nkpad + jk] = row[hidden + c];
    std::memcpy(vc + jk * dpad, row + 2 * hidden, d * sizeof(float));
    for (int64_t c = d; c < dpad; ++c) vc[jk * dpad + c] = 0.f;
    ++jk;
  }
  for (int64_t c = 0; c < d; ++c)
    for (int64_t j = nk; j < nkpad; ++j) kt[c * nkpad + j] = 0.f;

  int64_t i = 0;
  for (; i + kQueryBlock <= n; i += kQueryBlock) {
    QueryBlock<V, kQueryBlock>(a, s, h, i, n, nk, nkpad, dpad, uniform, all_keys, kt, vc, sc, ctx);
  }
  for (; i < n; ++i) QueryBlock<V, 1>(a, s, h, i, n, nk, nkpad, dpad, uniform, all_keys, kt, vc, sc, ctx);
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
      const float* p = a.position_embeddings + static_cast<int64_t>(a.position_ids[t]) * a.hidden;
      float* o = a.out + t * a.hidden;
      if (a.token_type_embeddings) {
        const float* tt = a.token_type_embeddings + (a.token_type_ids ? static_cast<int64_t>(a.token_type_ids[t]) : 0) * a.hidden;
        // transformers adds word + token type first, then position.
        for (int64_t c = 0; c < a.hidden; ++c) o[c] = (w[c * ws] + tt[c]) + p[c];
      } else {
        for (int64_t c = 0; c < a.hidden; ++c) o[c] = w[c * ws] + p[c];
      }
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
  // Sized for the widest vectors (16 lanes): key panels of 64, rows of whole vectors.
  const int64_t nkpad = RoundUp(max_seq_len, 64);
  const int64_t dpad = RoundUp(head_dim, 16);
  return head_dim * nkpad + nkpad * dpad + kQueryBlock * nkpad + kQueryBlock * dpad;
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
