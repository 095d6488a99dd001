// Row kernels: the embeddings (gather + sum + LayerNorm in one pass), LayerNorm, row gathers
// (the pooler's first tokens, the MLM rows asked for) and float32 -> fp16/bf16 conversion.
//
// CPU references: cpu::ref::EmbeddingsRef and cpu::ref::LayerNormRef (native/cpu/ref/reference.cc):
// the sum word + token_type + position (in double there, float32 here, same order), mean and
// variance in double there; here a warp per row, float32 sums over lanes, two passes (mean, then
// the centred variance), so no cancellation.
//
// Versions: v1 one warp per row, the row re-read from L1 in each of the three passes (any
// width); v2 (hidden <= 1024, BERT-base and -large) the row held in registers: one read, one
// write. Not done yet: 16-byte loads, and LayerNorm fused into the GEMM epilogue when a CTA owns
// whole rows.
#include <climits>
#include <type_traits>

#include "cuda/common.cuh"
#include "cuda/kernels/kernels.cuh"

namespace bertkit::cuda {

namespace {

constexpr int kRowsPerBlock = 4;  // warps

// One warp per row. N > 0: the row lives in registers (N values per lane, hidden <= 32 N: one
// read, one write); N == 0: any width, the row re-read from L1 in each pass.
template <int N>
struct RowValues {
  float v[N > 0 ? N : 1];
};

template <class T, int N>
__global__ void __launch_bounds__(128) EmbeddingsKernel(EmbeddingsParams e) {
  const int64_t t = static_cast<int64_t>(blockIdx.x) * kRowsPerBlock + threadIdx.x / 32;
  const int lane = threadIdx.x & 31;
  if (t >= e.tokens) return;
  const int64_t H = e.hidden;
  const T* word = static_cast<const T*>(e.word) + static_cast<int64_t>(e.input_ids[t]) * H;
  const T* type = static_cast<const T*>(e.token_type) + static_cast<int64_t>(e.token_type_ids ? e.token_type_ids[t] : 0) * H;
  const T* pos = static_cast<const T*>(e.position) + static_cast<int64_t>(e.position_ids[t]) * H;
  float* out = e.out_f + t * H;
  T* outp = e.out_p ? static_cast<T*>(e.out_p) + t * H : nullptr;
  const float inv_h = 1.f / static_cast<float>(H);
  if constexpr (N > 0) {
    RowValues<N> r;
    float sum = 0.f;
#pragma unroll
    for (int i = 0; i < N; ++i) {
      const int64_t c = lane + 32 * i;
      r.v[i] = c < H ? (ToF(word[c]) + ToF(type[c])) + ToF(pos[c]) : 0.f;
      sum += r.v[i];
    }
    const float mean = WarpSum(sum) * inv_h;
    float sq = 0.f;
#pragma unroll
    for (int i = 0; i < N; ++i) {
      const float dv = lane + 32 * i < H ? r.v[i] - mean : 0.f;
      sq += dv * dv;
    }
    const float rstd = 1.f / sqrtf(WarpSum(sq) * inv_h + e.eps);
#pragma unroll
    for (int i = 0; i < N; ++i) {
      const int64_t c = lane + 32 * i;
      if (c < H) {
        const float v = (r.v[i] - mean) * rstd * e.gamma[c] + e.beta[c];
        out[c] = v;
        if (outp != nullptr) outp[c] = FromF<T>(v);
      }
    }
  } else {
    float sum = 0.f;
    for (int64_t c = lane; c < H; c += 32) {
      const float v = (ToF(word[c]) + ToF(type[c])) + ToF(pos[c]);
      out[c] = v;  // each lane re-reads only what it wrote
      sum += v;
    }
    const float mean = WarpSum(sum) * inv_h;
    float sq = 0.f;
    for (int64_t c = lane; c < H; c += 32) {
      const float dv = out[c] - mean;
      sq += dv * dv;
    }
    const float rstd = 1.f / sqrtf(WarpSum(sq) * inv_h + e.eps);
    for (int64_t c = lane; c < H; c += 32) {
      const float v = (out[c] - mean) * rstd * e.gamma[c] + e.beta[c];
      out[c] = v;
      if (outp != nullptr) outp[c] = FromF<T>(v);
    }
  }
}

template <class T, int N>
__global__ void __launch_bounds__(128) LayerNormKernel(LayerNormParams l) {
  const int64_t r = static_cast<int64_t>(blockIdx.x) * kRowsPerBlock + threadIdx.x / 32;
  const int lane = threadIdx.x & 31;
  if (r >= l.rows) return;
  const int64_t H = l.hidden;
  float* x = l.x + r * H;
  T* outp = l.out_p ? static_cast<T*>(l.out_p) + r * H : nullptr;
  const float inv_h = 1.f / static_cast<float>(H);
  if constexpr (N > 0) {
    RowValues<N> row;
    float sum = 0.f;
#pragma unroll
    for (int i = 0; i < N; ++i) {
      const int64_t c = lane + 32 * i;
      row.v[i] = c < H ? x[c] : 0.f;
      sum += row.v[i];
    }
    const float mean = WarpSum(sum) * inv_h;
    float sq = 0.f;
#pragma unroll
    for (int i = 0; i < N; ++i) {
      const float dv = lane + 32 * i < H ? row.v[i] - mean : 0.f;
      sq += dv * dv;
    }
    const float rstd = 1.f / sqrtf(WarpSum(sq) * inv_h + l.eps);
#pragma unroll
    for (int i = 0; i < N; ++i) {
      const int64_t c = lane + 32 * i;
      if (c < H) {
        const float v = (row.v[i] - mean) * rstd * l.gamma[c] + l.beta[c];
        x[c] = v;
        if (outp != nullptr) outp[c] = FromF<T>(v);
      }
    }
  } else {
    float sum = 0.f;
    for (int64_t c = lane; c < H; c += 32) sum += x[c];
    const float mean = WarpSum(sum) * inv_h;
    float sq = 0.f;
    for (int64_t c = lane; c < H; c += 32) {
      const float dv = x[c] - mean;
      sq += dv * dv;
    }
    const float rstd = 1.f / sqrtf(WarpSum(sq) * inv_h + l.eps);
    for (int64_t c = lane; c < H; c += 32) {
      const float v = (x[c] - mean) * rstd * l.gamma[c] + l.beta[c];
      x[c] = v;
      if (outp != nullptr) outp[c] = FromF<T>(v);
    }
  }
}

// Values per lane for a row of `hidden` (0: the re-reading version).
template <class F>
void ByWidth(int64_t hidden, F&& f) {
  if (hidden <= 256) f(std::integral_constant<int, 8>());
  else if (hidden <= 512) f(std::integral_constant<int, 16>());
  else if (hidden <= 768) f(std::integral_constant<int, 24>());
  else if (hidden <= 1024) f(std::integral_constant<int, 32>());
  else f(std::integral_constant<int, 0>());
}

template <class T>
__global__ void GatherKernel(GatherParams g) {
  const int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= g.count * g.width) return;
  const int64_t row = i / g.width, c = i % g.width;
  static_cast<T*>(g.dst)[i] = static_cast<const T*>(g.src)[static_cast<int64_t>(g.rows[row]) * g.width + c];
}

template <class T>
__global__ void ConvertKernel(const float* src, T* dst, int64_t n) {
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x)
    dst[i] = FromF<T>(src[i]);
}

template <template <class> class K, class Params>
Status LaunchRows(Precision p, const Params& params, int64_t rows, cudaStream_t stream) {
  const int64_t blocks = CeilDiv(rows, kRowsPerBlock);
  if (blocks > INT_MAX) return OutOfRange("too many rows for one launch");
  const unsigned grid = static_cast<unsigned>(blocks);
  switch (p) {
    case Precision::kFloat32: K<float>::Launch(grid, params, stream); break;
    case Precision::kFloat16: K<__half>::Launch(grid, params, stream); break;
    case Precision::kBFloat16: K<__nv_bfloat16>::Launch(grid, params, stream); break;
  }
  BK_CUDA_LAUNCHED("row kernel");
  return Status::Ok();
}

template <class T> struct EmbeddingsLauncher {
  static void Launch(unsigned grid, const EmbeddingsParams& e, cudaStream_t s) {
    ByWidth(e.hidden, [&](auto n) { EmbeddingsKernel<T, decltype(n)::value><<<grid, 128, 0, s>>>(e); });
  }
};
template <class T> struct LayerNormLauncher {
  static void Launch(unsigned grid, const LayerNormParams& l, cudaStream_t s) {
    ByWidth(l.hidden, [&](auto n) { LayerNormKernel<T, decltype(n)::value><<<grid, 128, 0, s>>>(l); });
  }
};

}  // namespace

Status LaunchEmbeddings(Precision p, const EmbeddingsParams& e, cudaStream_t stream) {
  if (e.tokens <= 0 || e.hidden <= 0) return InvalidArgument("empty embeddings");
  return LaunchRows<EmbeddingsLauncher>(p, e, e.tokens, stream);
}

Status LaunchLayerNorm(Precision p, const LayerNormParams& l, cudaStream_t stream) {
  if (l.rows <= 0 || l.hidden <= 0) return InvalidArgument("empty LayerNorm");
  return LaunchRows<LayerNormLauncher>(p, l, l.rows, stream);
}

Status LaunchGather(Precision p, const GatherParams& g, cudaStream_t stream) {
  const int64_t n = g.count * g.width;
  if (n <= 0) return InvalidArgument("empty gather");
  const int64_t blocks = CeilDiv(n, 256);
  if (blocks > INT_MAX) return OutOfRange("gather too large");
  switch (p) {
    case Precision::kFloat32: GatherKernel<float><<<static_cast<unsigned>(blocks), 256, 0, stream>>>(g); break;
    case Precision::kFloat16: GatherKernel<__half><<<static_cast<unsigned>(blocks), 256, 0, stream>>>(g); break;
    case Precision::kBFloat16: GatherKernel<__nv_bfloat16><<<static_cast<unsigned>(blocks), 256, 0, stream>>>(g); break;
  }
  BK_CUDA_LAUNCHED("gather");
  return Status::Ok();
}

Status LaunchConvert(Precision p, const float* src, void* dst, int64_t n, cudaStream_t stream) {
  if (n <= 0) return Status::Ok();
  const unsigned blocks = static_cast<unsigned>(CeilDiv(n, 256) < 65536 ? CeilDiv(n, 256) : 65536);
  switch (p) {
    case Precision::kFloat32: ConvertKernel<float><<<blocks, 256, 0, stream>>>(src, static_cast<float*>(dst), n); break;
    case Precision::kFloat16: ConvertKernel<__half><<<blocks, 256, 0, stream>>>(src, static_cast<__half*>(dst), n); break;
    case Precision::kBFloat16:
      ConvertKernel<__nv_bfloat16><<<blocks, 256, 0, stream>>>(src, static_cast<__nv_bfloat16*>(dst), n);
      break;
  }
  BK_CUDA_LAUNCHED("convert");
  return Status::Ok();
}

Status CudaStatus(cudaError_t e, const char* what) {
  if (e == cudaSuccess) return Status::Ok();
  cudaGetLastError();  // clear a non-sticky error so the next call starts clean
  std::string msg = std::string("CUDA error in ") + what + ": " + cudaGetErrorName(e) + " (" + cudaGetErrorString(e) + ")";
  switch (e) {
    case cudaErrorMemoryAllocation: return Status(StatusCode::kOutOfMemory, "out of GPU memory (" + msg + ")");
    case cudaErrorNoDevice:
    case cudaErrorInsufficientDriver:
    case cudaErrorInvalidDevice:
    case cudaErrorDevicesUnavailable: return Status(StatusCode::kUnavailable, msg);
    default: return Status(StatusCode::kInternal, msg);
  }
}

Status PrepareKernels() {
  BK_CUDA_RETURN(PrepareGemmKernels());
  BK_CUDA_RETURN(PrepareAttentionKernels());
  return Status::Ok();
}

}  // namespace bertkit::cuda
