// The ABI between host code and the CUDA kernels: one plain struct per kernel family (raw device
// pointers, every stride, each field commented), as flash-attention does. No CUDA headers here:
// cuda/testing.h and the host side of the model use these too.
//
// Types: "P" is the precision's storage type (float, __half or __nv_bfloat16), passed as void*
// with the Precision next to it; everything typed float is float32 whatever the precision.
#pragma once

#include <cstdint>

namespace bertkit::cuda {

// Epilogue activations (transformers' names in the comments).
enum class Act : int {
  kNone = 0,
  kGelu,      // "gelu": 0.5 x (1 + erf(x / sqrt 2))
  kGeluTanh,  // "gelu_new" / "gelu_pytorch_tanh": 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))
  kRelu,
  kTanh,      // BertPooler
};

// Kernel versions (the lab's names; every version is checked against the CPU reference by
// test/cpp/test_cuda.cc). kAuto picks by precision, shape and device.
enum class GemmVersion : int {
  kAuto = 0,
  kSimt,         // v1: float32 FMA, 64x64 tiles; any precision, any shape (the float32 mode)
  kMma128x128,   // v2: mma.sync m16n8k16 tensor cores, 128x128x32 tiles, 8 warps, 4-stage cp.async
  kMma128x64,    // v3: the same, 128x64 tiles, 4 warps (more CTAs for mid-sized problems)
  kMma64x64,     // v4: the same, 64x64 tiles, 4 warps (small batches)
  kWgmma128x128, // v5: Hopper wgmma (sm_90a), 128x128x64, 2 warpgroups; only where selected at run time
};
enum class AttentionVersion : int {
  kAuto = 0,
  kSimt,   // v1: one warp per (query, head), three passes over the keys; any head_dim; probs output
  kFlash,  // v2: FlashAttention-2 style, mma.sync, online softmax, 64x64 blocks; fp16/bf16, head_dim % 8 == 0, <= 128
};

// y = act(x . w^T + bias) + residual: the Linear layers of BERT, with their epilogues fused.
struct GemmParams {
  const void* x = nullptr;  // P [m, k], row stride ldx (elements)
  int64_t ldx = 0;
  const void* w = nullptr;  // P [n, k] row-major (transformers' [out_features, in_features]), stride k
  int64_t m = 0, n = 0, k = 0;
  const float* bias = nullptr;      // [n] or null
  Act act = Act::kNone;
  const float* residual = nullptr;  // [m, n] (stride ldr) added after the activation, or null
  int64_t ldr = 0;
  float* y_f = nullptr;             // float32 output [m, n] (stride ldy_f), or null
  int64_t ldy_f = 0;
  void* y_p = nullptr;              // P output [m, n] (stride ldy_p), or null (y_f and/or y_p)
  int64_t ldy_p = 0;
};

// Multi-head self-attention over packed sequences (no padding anywhere): sequence s is tokens
// [cu_seqlens[s], cu_seqlens[s+1]). Same semantics as cpu::AttentionArgs: token t attends to the
// tokens of its own sequence whose key_mask is 1; a sequence with no such token attends
// uniformly to all its tokens (uniform[s] = 1).
struct AttentionParams {
  const void* qkv = nullptr;  // P [tokens, 3 * heads * head_dim]: query | key | value, head h at h * head_dim
  void* context = nullptr;    // P [tokens, heads * head_dim]
  const int32_t* cu_seqlens = nullptr;  // [sequences + 1]
  const uint8_t* key_mask = nullptr;    // [tokens] or null (all 1)
  const uint8_t* uniform = nullptr;     // [sequences]: 1 = no key in the sequence is 1
  float* probs = nullptr;               // optional softmax output: per sequence [heads, n, n] at probs_offsets[s]
  const int64_t* probs_offsets = nullptr;
  int64_t tokens = 0;
  int64_t sequences = 0;
  int heads = 0;
  int head_dim = 0;
  int64_t max_seqlen = 0;  // longest sequence (sizes the grid)
  float scale = 0;         // 1 / sqrt(head_dim)
};

// out[t] = LayerNorm(word[ids[t]] + token_type[types[t]] + position[positions[t]]).
struct EmbeddingsParams {
  const int32_t* input_ids = nullptr;       // [tokens]
  const int32_t* token_type_ids = nullptr;  // [tokens] or null (zeros)
  const int32_t* position_ids = nullptr;    // [tokens]
  int64_t tokens = 0;
  int64_t hidden = 0;
  const void* word = nullptr;      // P [vocab, hidden]
  const void* position = nullptr;  // P [max_position_embeddings, hidden]
  const void* token_type = nullptr;  // P [type_vocab_size, hidden]
  const float* gamma = nullptr;
  const float* beta = nullptr;
  float eps = 0;
  float* out_f = nullptr;  // [tokens, hidden] float32 (always)
  void* out_p = nullptr;   // [tokens, hidden] P, or null
};

// In place over float32 rows, optionally also written as P: x = LayerNorm(x) * gamma + beta.
struct LayerNormParams {
  float* x = nullptr;  // [rows, hidden], contiguous
  void* out_p = nullptr;  // [rows, hidden] P, or null
  int64_t rows = 0;
  int64_t hidden = 0;
  const float* gamma = nullptr;
  const float* beta = nullptr;
  float eps = 0;
};

// dst[i] = src[rows[i]] for P rows of `width` elements (pooler's first tokens, MLM rows).
struct GatherParams {
  const void* src = nullptr;
  void* dst = nullptr;
  const int32_t* rows = nullptr;  // [count]
  int64_t count = 0;
  int64_t width = 0;
};

}  // namespace bertkit::cuda
