// Host-side entry points to single CUDA kernels, for the C++ tests and benchmarks (plain C++: no
// CUDA headers). Each takes float32 host arrays, stores them on the device in the precision the
// kernel reads (RoundTo gives the value stored), runs one kernel version on the current device,
// and returns float32 host arrays. Not for production paths (every call allocates and syncs).
#pragma once

#include <cstdint>
#include <string>

#include "cuda/backend.h"
#include "cuda/kernels/params.h"

namespace bertkit::cuda::testing {

// The value a float32 becomes when stored in precision p (round to nearest even).
float RoundTo(Precision p, float x);

// Multiprocessors of the current device (0 when none).
int Multiprocessors();

// The Hopper wgmma GEMM on the current device (after kernels were prepared): 0 not requested
// (BERTKIT_CUDA_WGMMA=1) or not possible, 1 selected, -1 requested but failed its self-check.
int WgmmaState();

// y = act(x . w^T + bias) + residual; x [m, k], w [n, k] in p; bias, residual float32. `y_f`
// receives the float32 output; `y_p` (optional) the P output read back as float32. `used`
// (optional) the version kAuto chose.
Status RunGemm(Precision p, GemmVersion v, const float* x, int64_t m, int64_t k, const float* w, int64_t n,
               const float* bias, Act act, const float* residual, float* y_f, float* y_p, GemmVersion* used);

// The same product through a model's GEMM dispatch (cuBLASLt where it loaded, else the own
// kernels), with the outputs a model's call site asks for: y_f and/or y_p (null: not asked).
// `gemm` (optional) gets what the dispatch runs on ("cublasLt", "mma", ...).
Status RunGemmDispatch(Precision p, const float* x, int64_t m, int64_t k, const float* w, int64_t n, const float* bias, Act act,
                       const float* residual, float* y_f, float* y_p, std::string* gemm);

// Attention over a packed batch; qkv [tokens, 3 * heads * head_dim] in p; context [tokens,
// heads * head_dim] read back as float32; probs (optional) as cpu::AttentionArgs lays them out.
Status RunAttention(Precision p, AttentionVersion v, const float* qkv, int64_t tokens, const int32_t* cu_seqlens,
                    int64_t sequences, const uint8_t* key_mask, int heads, int head_dim, float* context, float* probs,
                    AttentionVersion* used);

// Embeddings + LayerNorm; tables in p. out_f float32; out_p (optional) the P copy as float32.
Status RunEmbeddings(Precision p, const int32_t* input_ids, const int32_t* token_type_ids, const int32_t* position_ids,
                     int64_t tokens, int64_t hidden, const float* word, int64_t vocab, const float* position,
                     int64_t max_positions, const float* token_type, int64_t type_vocab, const float* gamma,
                     const float* beta, float eps, float* out_f, float* out_p);

// LayerNorm of float32 rows; out_p (optional) as above.
Status RunLayerNorm(Precision p, const float* x, int64_t rows, int64_t hidden, const float* gamma, const float* beta,
                    float eps, float* out_f, float* out_p);

// dst[i] = src[rows[i]] in p (read back as float32).
Status RunGather(Precision p, const float* src, int64_t src_rows, int64_t width, const int32_t* rows, int64_t count,
                 float* dst);

}  // namespace bertkit::cuda::testing
