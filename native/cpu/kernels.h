// CPU kernels other than the GEMM. Each has a scalar reference in cpu/ref/reference.h and a
// randomized test against it (test/cpp/test_kernels.cc).
#pragma once

#include <cstdint>

#include "cpu/cpu_features.h"
#include "cpu/gemm.h"
#include "cpu/thread_pool.h"

namespace bertkit::cpu {

// out[t] = LayerNorm(word[input_ids[t]] + token_type[token_type_ids[t]] + position[position_ids[t]]).
// Ids are validated by the caller.
struct EmbeddingsArgs {
  const int32_t* input_ids;
  const int32_t* token_type_ids;  // null = all zeros
  const int32_t* position_ids;    // never null (the model derives defaults)
  int64_t tokens;
  int64_t hidden;  // the tables' width (embedding_size)
  const float* word_embeddings;    // [vocab, hidden], or null when word_packed is given
  const PackedWeight* word_packed;  // the table stored once, packed for a tied MLM decoder
  const float* position_embeddings;
  const float* token_type_embeddings;  // null: a family without token types (DistilBERT)
  const float* gamma;
  const float* beta;
  float eps;
  float* out;  // [tokens, hidden]
};
void Embeddings(const EmbeddingsArgs& args, ThreadPool* pool);

// In place: x[r] = LayerNorm(x[r]) * gamma + beta, rows of `hidden` floats, row stride ld.
void LayerNormRows(float* x, int64_t rows, int64_t hidden, int64_t ld, const float* gamma, const float* beta, float eps,
                   ThreadPool* pool);

// Multi-head self-attention over packed sequences. Q, K, V are column blocks of one [tokens, 3H]
// matrix (the fused QKV projection). Token t of a sequence attends to the tokens of its own
// sequence whose key_mask is 1; when a sequence has none, it attends uniformly to all of its
// tokens (what transformers' additive finfo.min mask amounts to). Output: context [tokens, H]
// with head h in columns [h*d, (h+1)*d), the layout transformers gets after its permute.
struct AttentionArgs {
  const float* qkv;       // [tokens, 3 * heads * head_dim]
  int64_t tokens;
  const int32_t* cu_seqlens;
  int64_t sequences;
  const uint8_t* key_mask;  // [tokens] or null (all keys)
  int heads;
  int head_dim;
  float scale;
  float* context;           // [tokens, heads * head_dim]
  // Optional: softmax probabilities, per sequence s of length n a block [heads, n, n] at
  // probs_offsets[s] (masked keys get 0).
  float* probs;
  const int64_t* probs_offsets;
  // Per-thread scratch: ThreadPool::size() * AttentionScratchFloats(max_seq_len, head_dim) floats.
  float* scratch;
  int64_t max_seq_len;
};
int64_t AttentionScratchFloats(int64_t max_seq_len, int head_dim);
void Attention(const AttentionArgs& args, Isa isa, ThreadPool* pool);

}  // namespace bertkit::cpu
