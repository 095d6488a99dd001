// Launchers of the CUDA kernels (FasterTransformer's first tier: invokeX(params, stream)). Each
// returns a Status for launch errors; errors during execution surface at the next
// synchronization (the model turns them into a Status there).
#pragma once

#include <cuda_runtime.h>

#include "bertkit/status.h"
#include "cuda/backend.h"
#include "cuda/kernels/params.h"

namespace bertkit::cuda {

// Once per device before the first launch (and before any graph capture): raises the
// dynamic shared-memory limits of the kernels that need more than 48 KB.
Status PrepareKernels();
cudaError_t PrepareGemmKernels();       // gemm.cu
cudaError_t PrepareAttentionKernels();  // attention.cu

// gemm_sm90.cu (the Hopper wgmma GEMM; see gemm.cu for when it is used). Stubs answer when the
// build compiled no sm_90 architecture.
bool WgmmaCompiled();
cudaError_t PrepareWgmmaKernels();
Status LaunchGemmWgmma(Precision p, const GemmParams& g, cudaStream_t stream);
// The wgmma path on the current device: 0 not requested or not possible here, 1 selected, -1
// requested but it failed its self-check (see gemm.cu). Valid after PrepareKernels().
int WgmmaState();

// gemm.cu. `sms`: the device's multiprocessor count (tile choice).
Status LaunchGemm(Precision p, const GemmParams& g, GemmVersion v, int sms, cudaStream_t stream);
// The version kAuto resolves to for this problem (for tests and benchmarks to report).
GemmVersion ChooseGemm(Precision p, const GemmParams& g, int sms);

// attention.cu
Status LaunchAttention(Precision p, const AttentionParams& a, AttentionVersion v, cudaStream_t stream);
AttentionVersion ChooseAttention(Precision p, const AttentionParams& a);

// norm.cu
Status LaunchEmbeddings(Precision p, const EmbeddingsParams& e, cudaStream_t stream);
Status LaunchLayerNorm(Precision p, const LayerNormParams& l, cudaStream_t stream);
Status LaunchGather(Precision p, const GatherParams& g, cudaStream_t stream);
// float32 -> P, n elements (host-side weight upload goes through it).
Status LaunchConvert(Precision p, const float* src, void* dst, int64_t n, cudaStream_t stream);

}  // namespace bertkit::cuda
