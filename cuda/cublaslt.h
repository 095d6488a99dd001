// cuBLASLt, loaded at run time. The build never needs cuBLAS (the toolkits of machines without a
// GPU may lack it): the few types, constants and functions used are declared here from the
// library's documented C ABI, and the library is dlopen'ed on first use:
//   BERTKIT_CUBLASLT=<path>   that file only;  BERTKIT_CUBLASLT=0 (or off, none): never
//   otherwise                 libcublasLt.so.13, then .so.12, by soname, then in CUDA_HOME,
//                             CUDA_PATH and /usr/local/cuda (lib64/, targets/<arch>-linux/lib/)
// Where it cannot be loaded the model runs bertkit's own GEMM kernels and says why
// (ModelInfo::gemm_reason). Plain C++ (no CUDA headers): the choice is tested without a GPU.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "cuda/backend.h"
#include "cuda/kernels/params.h"

namespace bertkit::cuda::lt {

// ---- the ABI (cublasLt.h, library_types.h; stable since CUDA 11)
using LtStatus = int;  // cublasStatus_t; 0 = CUBLAS_STATUS_SUCCESS
constexpr LtStatus kSuccess = 0;
using Handle = struct Context*;
using MatmulDesc = struct MatmulDescOpaque*;
using MatrixLayout = struct MatrixLayoutOpaque*;
using Preference = struct PreferenceOpaque*;
struct Algo {
  uint64_t data[8];
};
struct HeuristicResult {
  Algo algo;
  size_t workspace_size;
  LtStatus state;
  float waves_count;
  int reserved[4];
};
enum DataType : int { kR32F = 0, kR16F = 2, kR16BF = 14 };       // cudaDataType_t
enum ComputeType : int { kCompute32F = 68, kCompute32FFastTF32 = 77 };  // cublasComputeType_t
enum Op : int { kOpN = 0, kOpT = 1 };                               // cublasOperation_t
enum DescAttr : int {                                               // cublasLtMatmulDescAttributes_t
  kDescTransA = 3,
  kDescTransB = 4,
  kDescEpilogue = 7,
  kDescBiasPointer = 8,
};
enum Epilogue : uint32_t {  // cublasLtEpilogue_t
  kEpiDefault = 1,
  kEpiRelu = 2,
  kEpiBias = 4,
  kEpiReluBias = 6,
  kEpiGelu = 32,      // the tanh form (gelu_new), not erf
  kEpiGeluBias = 36,
};
enum PrefAttr : int {  // cublasLtMatmulPreferenceAttributes_t
  kPrefMaxWorkspaceBytes = 1,
  kPrefMinAlignmentA = 5,
  kPrefMinAlignmentB = 6,
  kPrefMinAlignmentC = 7,
  kPrefMinAlignmentD = 8,
};

struct Api {
  LtStatus (*Create)(Handle*) = nullptr;
  LtStatus (*Destroy)(Handle) = nullptr;
  size_t (*GetVersion)() = nullptr;
  LtStatus (*MatmulDescCreate)(MatmulDesc*, int compute, int scale_type) = nullptr;
  LtStatus (*MatmulDescDestroy)(MatmulDesc) = nullptr;
  LtStatus (*MatmulDescSetAttribute)(MatmulDesc, int attr, const void* buf, size_t bytes) = nullptr;
  LtStatus (*MatrixLayoutCreate)(MatrixLayout*, int type, uint64_t rows, uint64_t cols, int64_t ld) = nullptr;
  LtStatus (*MatrixLayoutDestroy)(MatrixLayout) = nullptr;
  LtStatus (*MatmulPreferenceCreate)(Preference*) = nullptr;
  LtStatus (*MatmulPreferenceDestroy)(Preference) = nullptr;
  LtStatus (*MatmulPreferenceSetAttribute)(Preference, int attr, const void* buf, size_t bytes) = nullptr;
  LtStatus (*MatmulAlgoGetHeuristic)(Handle, MatmulDesc, MatrixLayout a, MatrixLayout b, MatrixLayout c, MatrixLayout d,
                                   Preference, int requested, HeuristicResult* results, int* returned) = nullptr;
  LtStatus (*Matmul)(Handle, MatmulDesc, const void* alpha, const void* a, MatrixLayout, const void* b, MatrixLayout,
                   const void* beta, const void* c, MatrixLayout, void* d, MatrixLayout, const Algo*, void* workspace,
                   size_t workspace_bytes, void* stream) = nullptr;
};

// ---- loading
struct Library {
  bool ok = false;
  std::string path;    // the file loaded (ok), or the one named by BERTKIT_CUBLASLT
  size_t version = 0;  // cublasLtGetVersion(): 130000 for 13.0.0
  std::string reason;  // why not (when !ok), with the fix
  Api api;
};

// The candidates tried, in order, for an environment: `env` is BERTKIT_CUBLASLT's value (null
// when unset); an empty list means "disabled".
std::vector<std::string> Candidates(const char* env, const char* cuda_home, const char* cuda_path);
// Loads the first candidate that opens and has every symbol. Never throws; a library that opens
// but lacks a symbol is closed again and named in the reason.
Library Load(const std::vector<std::string>& candidates, const char* env);
// The process's library, loaded once from the environment (thread-safe).
const Library& Get();

// ---- the GEMM's choice
// What a model's Linear layers run on, and why (reported as ModelInfo::gemm / gemm_reason).
struct Choice {
  std::string gemm;    // "cublasLt" | "wgmma" | "mma" | "simt"
  std::string reason;  // why not cuBLASLt ('' when it is)
};
// tensor_cores false is the checking mode (bertkit's SIMT kernels in every precision);
// wgmma_state is WgmmaState() (1: the Hopper kernel is selected for the large GEMMs).
Choice Choose(Precision p, bool tensor_cores, const Library& lib, int wgmma_state);

// How one y = act(x . w^T + bias) + residual maps onto a cublasLtMatmul, in column-major terms:
// D[n, m] = op(W)[n, k] . X^T[k, m] (+ C = residual, beta 1) with a bias epilogue, where the
// row-major [m, n] outputs are column-major [n, m]. What the epilogue cannot do exactly (the erf
// GELU of "gelu", tanh) runs after it in one elementwise pass over D (`post`).
struct Plan {
  bool ok = false;
  std::string reason;  // when !ok: why this product stays on bertkit's kernels
  int ab_type = kR32F;  // x and w
  int d_type = kR32F;   // D (and C)
  int compute = kCompute32F;
  uint32_t epilogue = kEpiDefault;
  bool bias_in_p = false;   // the epilogue reads the bias in P (D is P): a P copy of it is needed
  bool residual = false;    // C = residual, beta = 1
  Act post = Act::kNone;    // applied to D afterwards, in place
  bool d_is_y_f = true;     // D is y_f (else y_p)
};
// `tf32`: float32 products on TF32 tensor cores (only when asked for; float32 is exact otherwise).
Plan PlanFor(Precision p, const GemmParams& g, bool tf32);

// The largest power of two (<= 256) dividing the address and every row start (ld elements of
// `elem` bytes): the alignment cuBLASLt may assume for that matrix.
uint32_t Alignment(const void* ptr, int64_t ld, size_t elem);

// The descriptors of one planned product: host-only calls (no handle, no device), so the ABI
// declared above is checked wherever the library loads. `bias`: the pointer the epilogue will
// read (its alignment steers the heuristic); `align`: A, B, C, D as Alignment() gives them.
struct Descriptors {
  MatmulDesc desc = nullptr;
  MatrixLayout a = nullptr, b = nullptr, c = nullptr, d = nullptr;
  Preference pref = nullptr;
};
// Returns nullptr, or the name of the first call that failed (what is made is still in *out).
const char* Describe(const Api& api, const Plan& plan, const GemmParams& g, const void* bias, const uint32_t (&align)[4],
                     uint64_t workspace_bytes, Descriptors* out);
void Release(const Api& api, Descriptors* d);

}  // namespace bertkit::cuda::lt
