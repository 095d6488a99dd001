// Kernels of the training path: forwards that save what their backward needs, the backwards,
// the losses (value and gradient of the logits together), dropout and AdamW. Every kernel has a
// scalar float64 reference in train/ref/train_reference.h and a randomized test against it in
// test/cpp/test_train.cc.
//
// Determinism: every output element is produced by one task in a fixed order; reductions over
// rows (bias / LayerNorm parameter gradients, the gradient norm, embedding rows hit by several
// tokens) go through a fixed number of chunks reduced in order. Results do not depend on the
// number of threads or on scheduling.
#pragma once

#include <cstdint>

#include "bertkit/engine.h"
#include "cpu/cpu_features.h"
#include "cpu/thread_pool.h"

namespace bertkit::train {

// ---- dropout: counter-based, so forward and backward regenerate the same mask anywhere ----

// splitmix64's finalizer: a bijective mix of 64 bits.
inline uint64_t Mix64(uint64_t z) {
  z += 0x9e3779b97f4a7c15ull;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}
// The stream of one dropout site in one training step.
inline uint64_t DropoutKey(uint64_t seed, uint64_t step, uint64_t site) {
  return Mix64(Mix64(seed) ^ Mix64(step * 0x9e3779b97f4a7c15ull + 0x632be59bd9b4e019ull) ^ (site * 0xd6e8feb86659fd93ull));
}
// 32-bit "lowbias32" mixer (Wellons' hash-prospector: bias ~0.17); two rounds keyed by the two
// halves of the stream key. 32-bit lanes so the per-element hash vectorizes (train_dropout.cc).
inline uint32_t Mix32(uint32_t x) {
  x ^= x >> 16;
  x *= 0x7feb352dU;
  x ^= x >> 15;
  x *= 0x846ca68bU;
  x ^= x >> 16;
  return x;
}
// Element `index` (< 2^32 per site and step) of that stream, uniform in [0, 1) with 24 bits; the
// element is kept when >= p.
inline float DropoutUniform(uint64_t key, uint64_t index) {
  const uint32_t h = Mix32(Mix32(static_cast<uint32_t>(index) ^ static_cast<uint32_t>(key)) ^ static_cast<uint32_t>(key >> 32));
  return static_cast<float>(h >> 8) * (1.0f / 16777216.0f);
}
// x[i] = keep(offset + i) ? x[i] / (1 - p) : 0, in place (p >= 1 zeroes everything). The same
// call is the forward (on activations) and the backward (on their gradients).
void Dropout(float* x, int64_t n, float p, uint64_t key, uint64_t offset, cpu::ThreadPool* pool);
// Dropout of rows [rows, h] gathered from a [tokens, h] tensor: row r uses the mask of token
// index[r] (offset index[r] * h), the one Dropout over the whole tensor would use.
void DropoutRows(float* x, int64_t rows, int64_t h, const int64_t* index, float p, uint64_t key, cpu::ThreadPool* pool);

// ---- LayerNorm over rows of h floats ----

// y = xhat * gamma + beta with xhat = (x - mean) * rstd, rstd = 1 / sqrt(var + eps) (biased var).
void LayerNormForward(const float* x, int64_t rows, int64_t h, const float* gamma, const float* beta, float eps, float* y,
                      float* xhat, float* rstd, cpu::ThreadPool* pool);
// dx = rstd * (g - mean(g) - xhat * mean(g * xhat)) with g = dy * gamma (dx may alias dy);
// dgamma += sum dy * xhat, dbeta += sum dy. `partials`: ColumnScratchFloats(rows, 2 * h) floats.
void LayerNormBackward(const float* dy, const float* xhat, const float* rstd, const float* gamma, int64_t rows, int64_t h,
                       float* dx, float* dgamma, float* dbeta, cpu::ThreadPool* pool, float* partials);

// Row chunks of the column reductions (fixed, so sums do not depend on the thread count).
int64_t ColumnChunks(int64_t rows);
int64_t ColumnScratchFloats(int64_t rows, int64_t cols);
// out[j] += sum_i x[i * ld + j].
void ColumnSumAccumulate(const float* x, int64_t rows, int64_t cols, int64_t ld, float* out, cpu::ThreadPool* pool,
                         float* partials);

// ---- activations ----

// y = act(u), elementwise.
void ActivationForward(const float* u, int64_t n, Activation act, float* y, cpu::Isa isa, cpu::ThreadPool* pool);
// du = dy * act'(u) (du may alias dy).
void ActivationBackward(const float* u, const float* dy, int64_t n, Activation act, float* du, cpu::Isa isa,
                        cpu::ThreadPool* pool);
// The pooler: y = tanh(x); backward dx = dy * (1 - y^2) from the saved output.
void TanhForward(float* x, int64_t n, cpu::Isa isa);
void TanhBackward(const float* y, const float* dy, int64_t n, float* dx);

// ---- self-attention over packed sequences ----

// Layout as cpu::Attention: qkv [tokens, 3H] (query | key | value, head h in columns h*d..),
// context [tokens, H]. A token whose key_mask is 0 is attended by nobody (it still queries); a
// sequence with no key at all attends uniformly to all its tokens (transformers' finfo.min
// mask). The softmax probabilities are saved per sequence s as [heads, n, n] at
// probs_offsets[s]; dropout on them uses index probs_offsets[s] + (h * n + i) * n + j.
//
// Why packed rather than the padded rectangle: training batches arrive padded, but only tokens
// whose output can reach the loss are packed (every real token; a padded position only where a
// head reads it: QA's start/end softmax runs over all L positions, a token label that is not
// -100, the pooler's position 0), so no FLOP is spent on padding that cannot matter, and a kept
// padded position is computed exactly as transformers computes it (a query-only token).
// What both attention kernels share: the packed batch, the heads, the mask and the dropout.
struct AttentionShape {
  const int32_t* cu_seqlens = nullptr;
  int64_t sequences = 0;
  const uint8_t* key_mask = nullptr;  // null = every token is a key
  int heads = 0;
  int head_dim = 0;
  float scale = 0.f;
  const int64_t* probs_offsets = nullptr;  // per sequence, into the [heads, n, n] probabilities
  float dropout = 0.f;
  uint64_t dropout_key = 0;
  float* scratch = nullptr;  // pool->size() * the kernel's ...ScratchFloats(max_seq_len)
  int64_t max_seq_len = 0;
};

struct AttentionTrainArgs : AttentionShape {
  const float* qkv = nullptr;
  int64_t tokens = 0;
  float* probs = nullptr;  // at probs_offsets[s]
  float* context = nullptr;
  // backward
  const float* dcontext = nullptr;
  float* dqkv = nullptr;  // [tokens, 3H], every element written
};
int64_t AttentionScratchFloats(int64_t max_seq_len);
void AttentionForward(const AttentionTrainArgs& args, cpu::Isa isa, cpu::ThreadPool* pool);
void AttentionBackward(const AttentionTrainArgs& args, cpu::Isa isa, cpu::ThreadPool* pool);

// Attention for some query rows only. The last layer of a model whose head reads a few of its
// output rows (the pooler's first token, MLM's masked tokens) needs keys and values of every
// token but queries, and everything after them, only for those rows. Same masking, softmax and
// dropout indices as AttentionForward / AttentionBackward, so each row equals theirs (up to the
// order of float sums).
// probs_offsets is AttentionTrainArgs' layout: only the dropout indices use it here.
struct AttentionRowsArgs : AttentionShape {
  const float* q = nullptr;       // [num_rows, H], query of token rows[r]
  const float* kv = nullptr;      // [tokens, 2H]: key | value
  const int64_t* rows = nullptr;  // token indices, ascending
  int64_t num_rows = 0;
  float* probs = nullptr;    // saved softmax, row r head h at (r * heads + h) * max_seq_len
  float* context = nullptr;  // [num_rows, H]
  // backward
  const float* dcontext = nullptr;  // [num_rows, H]
  float* dq = nullptr;              // [num_rows, H]
  float* dkv = nullptr;             // [tokens, 2H], every element written
};
int64_t AttentionRowsScratchFloats(int64_t max_seq_len);
void AttentionRowsForward(const AttentionRowsArgs& args, cpu::Isa isa, cpu::ThreadPool* pool);
void AttentionRowsBackward(const AttentionRowsArgs& args, cpu::Isa isa, cpu::ThreadPool* pool);

// ---- embeddings ----

// out[t] = (word[ids[t]] + type[types[t]]) + position[positions[t]] (transformers' order).
// `type` null: no token type table (DistilBERT); then EmbeddingsBackward's `dtype` is null too.
void EmbeddingsSum(const int32_t* ids, const int32_t* types, const int32_t* positions, int64_t tokens, int64_t h,
                   const float* word, const float* position, const float* type, float* out, cpu::ThreadPool* pool);
// Scatter-add of d[t] into the rows each token used: dword (skipping ids == padding_idx, as
// nn.Embedding(padding_idx=...) does; -1 = none), dposition, dtype (null types = row 0). Rows hit
// by several tokens sum them in token order.
void EmbeddingsBackward(const float* d, const int32_t* ids, const int32_t* types, const int32_t* positions, int64_t tokens,
                        int64_t h, int64_t padding_idx, float* dword, float* dposition, float* dtype, cpu::ThreadPool* pool);

// ---- losses: value (float64) and d loss / d logits, scaled by `scale` ----

// Mean cross-entropy over the rows whose label != ignore_index; NaN when no row counts (as
// torch). dlogits (rows x classes, ld) is written for every row (0 on ignored rows).
double CrossEntropy(const float* logits, int64_t rows, int64_t classes, int64_t ld, const int32_t* labels,
                    int32_t ignore_index, float scale, float* dlogits, int64_t ldd, cpu::ThreadPool* pool, cpu::Isa isa);
// mean (x - y)^2
double MseLoss(const float* x, const float* y, int64_t n, float scale, float* dx);
// mean BCEWithLogits(z, y) = mean max(z, 0) - z y + log1p(exp(-|z|))
double BceWithLogits(const float* z, const float* y, int64_t n, float scale, float* dz);

// ---- optimizer ----

// sum of squares in float64, fixed chunks.
double SumSquares(const float* x, int64_t n, cpu::ThreadPool* pool);
void ScaleInPlace(float* x, int64_t n, float s, cpu::ThreadPool* pool);

// torch.optim.AdamW (decoupled, single-tensor), one parameter, step t already counted:
//   p *= 1 - lr * wd; m = lerp(m, g, 1 - b1); v = b2 v + (1 - b2) g^2;
//   p -= (lr / bc1) * m / (sqrt(v) / sqrt(bc2) + eps),  bc1 = 1 - b1^t, bc2 = 1 - b2^t.
struct AdamWArgs {
  float lr = 0.f;
  float beta1 = 0.9f;
  float beta2 = 0.999f;
  float eps = 1e-8f;
  float weight_decay = 0.f;
  int64_t step = 1;
  float grad_scale = 1.f;  // the gradient used is g * grad_scale (clipping, without a pass that rewrites g)
};
void AdamW(float* p, const float* g, float* m, float* v, int64_t n, const AdamWArgs& a, cpu::Isa isa, cpu::ThreadPool* pool);

}  // namespace bertkit::train
