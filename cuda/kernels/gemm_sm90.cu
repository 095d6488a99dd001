// v5 of the Linear layers (see gemm.cu for the reference and v1-v4): Hopper's warpgroup MMA.
// Compiled for sm_90a only (its own CMake target), launched only on compute capability 9.0,
// and only when selected at run time: BERTKIT_CUDA_WGMMA=1 (off by default until it has run on
// a GPU: bench/gpu/run.sh checks it in a separate process first).
//
// CPU reference: cpu::ref::LinearRef (native/cpu/ref/reference.cc), same fused epilogue as gemm.cu.
//
//   kWgmma128x128  CTA 128x128x64, 2 consumer warpgroups (each 64 rows: wgmma.m64n128k16, fp16/bf16
//                  in, fp32 accumulate), A and B K-major in shared memory with the 128-byte
//                  swizzle (the layout a TMA SWIZZLE_128B load writes), filled by cp.async two
//                  tiles ahead, 4 stages; one wgmma group in flight while the next is issued.
// Not done yet: TMA loads with a producer warpgroup and mbarriers, clusters/multicast, a
// persistent tile scheduler, setmaxnreg.
#include <climits>

#include "cuda/common.cuh"
#include "cuda/kernels/kernels.cuh"

namespace bertkit::cuda {

namespace {

constexpr int kWgBM = 128, kWgBN = 128, kWgBK = 64, kWgStages = 4;
constexpr int kWgStageA = kWgBM * kWgBK * 2;  // 16 KB: 128 rows of 128 bytes
constexpr int kWgStageB = kWgBN * kWgBK * 2;
constexpr int kWgSmem = kWgStages * (kWgStageA + kWgStageB) + 1024;  // + room to align to 1 KB

#if defined(__CUDA_ARCH__) && (__CUDA_ARCH__ >= 900) && defined(__CUDA_ARCH_FEAT_SM90_ALL)
#define BK_WGMMA_ENABLED 1

// Shared-memory matrix descriptor, 128-byte swizzle, K-major: start address, leading byte offset
// (unused for swizzled K-major; 16 bytes), stride byte offset 1024 (8 rows of 128 bytes).
__device__ __forceinline__ uint64_t Desc128(uint32_t smem_addr) {
  uint64_t d = 0;
  d |= static_cast<uint64_t>((smem_addr & 0x3FFFF) >> 4);
  d |= static_cast<uint64_t>(16 >> 4) << 16;
  d |= static_cast<uint64_t>(1024 >> 4) << 32;
  d |= static_cast<uint64_t>(1) << 62;
  return d;
}

__device__ __forceinline__ void WgFence() { asm volatile("wgmma.fence.sync.aligned;\n" ::: "memory"); }
__device__ __forceinline__ void WgCommit() { asm volatile("wgmma.commit_group.sync.aligned;\n" ::: "memory"); }
template <int N> __device__ __forceinline__ void WgWait() { asm volatile("wgmma.wait_group.sync.aligned %0;\n" ::"n"(N) : "memory"); }
__device__ __forceinline__ void FenceProxyAsync() { asm volatile("fence.proxy.async.shared::cta;\n" ::: "memory"); }

#define BK_WG_D8(i) "+f"(d[i + 0]), "+f"(d[i + 1]), "+f"(d[i + 2]), "+f"(d[i + 3]), "+f"(d[i + 4]), "+f"(d[i + 5]), "+f"(d[i + 6]), "+f"(d[i + 7])
#define BK_WG_REGS                                                                                             \
  "{%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, %16, %17, %18, %19, %20, %21, %22, " \
  "%23, %24, %25, %26, %27, %28, %29, %30, %31, %32, %33, %34, %35, %36, %37, %38, %39, %40, %41, %42, %43, "  \
  "%44, %45, %46, %47, %48, %49, %50, %51, %52, %53, %54, %55, %56, %57, %58, %59, %60, %61, %62, %63}"

// D (64x128, fp32) += A (64x16) * B (16x128), both from shared memory, accumulate (scale-d 1).
template <class T> __device__ __forceinline__ void Wgmma64x128x16(float (&d)[64], uint64_t a, uint64_t b);
template <> __device__ __forceinline__ void Wgmma64x128x16<__half>(float (&d)[64], uint64_t a, uint64_t b) {
  asm volatile("wgmma.mma_async.sync.aligned.m64n128k16.f32.f16.f16 " BK_WG_REGS ", %64, %65, 1, 1, 1, 0, 0;\n"
               : BK_WG_D8(0), BK_WG_D8(8), BK_WG_D8(16), BK_WG_D8(24), BK_WG_D8(32), BK_WG_D8(40), BK_WG_D8(48), BK_WG_D8(56)
               : "l"(a), "l"(b));
}
template <> __device__ __forceinline__ void Wgmma64x128x16<__nv_bfloat16>(float (&d)[64], uint64_t a, uint64_t b) {
  asm volatile("wgmma.mma_async.sync.aligned.m64n128k16.f32.bf16.bf16 " BK_WG_REGS ", %64, %65, 1, 1, 1, 0, 0;\n"
               : BK_WG_D8(0), BK_WG_D8(8), BK_WG_D8(16), BK_WG_D8(24), BK_WG_D8(32), BK_WG_D8(40), BK_WG_D8(48), BK_WG_D8(56)
               : "l"(a), "l"(b));
}
#endif

// The fused epilogue (as gemm.cu's) for columns (c, c + 1) of row r.
template <class T>
__device__ __forceinline__ void WgStorePair(const GemmParams& g, int64_t r, int64_t c, float v0, float v1) {
  if (r >= g.m || c >= g.n) return;
  const bool two = c + 1 < g.n;
  if (g.bias != nullptr) {
    v0 += g.bias[c];
    if (two) v1 += g.bias[c + 1];
  }
  v0 = Activate(v0, g.act);
  v1 = Activate(v1, g.act);
  if (g.residual != nullptr) {
    const float* rr = g.residual + r * g.ldr + c;
    v0 += rr[0];
    if (two) v1 += rr[1];
  }
  if (g.y_f != nullptr) {
    float* y = g.y_f + r * g.ldy_f + c;
    y[0] = v0;
    if (two) y[1] = v1;
  }
  if (g.y_p != nullptr) {
    T* y = static_cast<T*>(g.y_p) + r * g.ldy_p + c;
    if (two && (reinterpret_cast<uintptr_t>(y) & 3) == 0) {
      *reinterpret_cast<uint32_t*>(y) = Pack2<T>(v0, v1);
    } else {
      y[0] = FromF<T>(v0);
      if (two) y[1] = FromF<T>(v1);
    }
  }
}

template <class T>
__global__ void __launch_bounds__(256, 1) GemmWgmmaKernel(GemmParams g) {
#ifdef BK_WGMMA_ENABLED
  extern __shared__ __align__(1024) unsigned char smem_raw[];
  // 128-byte swizzle atoms are 1 KB: align the tiles to 1 KB.
  const uint32_t raw = SmemAddr(smem_raw);
  const uint32_t pad = (1024u - (raw & 1023u)) & 1023u;
  unsigned char* smem = smem_raw + pad;
  const uint32_t sA = raw + pad;
  const uint32_t sB = sA + kWgStages * kWgStageA;

  const int64_t tiles_n = (g.n + kWgBN - 1) / kWgBN;
  const int64_t bm = static_cast<int64_t>(blockIdx.x / tiles_n) * kWgBM;
  const int64_t bn = static_cast<int64_t>(blockIdx.x % tiles_n) * kWgBN;
  const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5, wg = warp >> 2;
  const T* x = static_cast<const T*>(g.x);
  const T* w = static_cast<const T*>(g.w);
  const int64_t KT = (g.k + kWgBK - 1) / kWgBK;

  // Row r, 16-byte chunk c (8 elements) of a tile: r * 128 + ((c ^ (r % 8)) * 16), the 128-byte swizzle.
  auto load_tile = [&](int stage, int64_t kt) {
    const int64_t k0 = kt * kWgBK;
#pragma unroll
    for (int i = 0; i < (kWgBM * 8) / 256; ++i) {
      const int c = tid + i * 256, row = c >> 3, ch = c & 7;
      const uint32_t off = row * 128 + ((ch ^ (row & 7)) << 4);
      const int64_t gm = bm + row, gn = bn + row, gk = k0 + ch * 8;
      const bool okA = gm < g.m && gk < g.k, okB = gn < g.n && gk < g.k;
      CpAsync16(sA + stage * kWgStageA + off, okA ? x + gm * g.ldx + gk : x, okA ? 16 : 0);
      CpAsync16(sB + stage * kWgStageB + off, okB ? w + gn * g.k + gk : w, okB ? 16 : 0);
    }
  };
  (void)smem;

  float d[64];
#pragma unroll
  for (int i = 0; i < 64; ++i) d[i] = 0.f;

  constexpr int kAhead = kWgStages - 2;  // tiles in flight ahead of the one computed
#pragma unroll
  for (int s = 0; s < kAhead; ++s) {
    if (s < KT) load_tile(s, s);
    CpAsyncCommit();
  }
  for (int64_t kt = 0; kt < KT; ++kt) {
    CpAsyncWait<kAhead - 1>();  // tile kt is in (this thread's copies)
    FenceProxyAsync();          // ... and visible to the tensor cores' (async) proxy
    __syncthreads();            // everyone's copies; and every warpgroup is done with tile kt - 2
    const int64_t next = kt + kAhead;
    if (next < KT) load_tile(static_cast<int>(next % kWgStages), next);
    CpAsyncCommit();

    const int stage = static_cast<int>(kt % kWgStages);
    const uint32_t a0 = sA + stage * kWgStageA + wg * 64 * 128;  // this warpgroup's 64 rows
    const uint32_t b0 = sB + stage * kWgStageB;
    WgFence();
#pragma unroll
    for (int kk = 0; kk < kWgBK / 16; ++kk) Wgmma64x128x16<T>(d, Desc128(a0 + kk * 32), Desc128(b0 + kk * 32));
    WgCommit();
    WgWait<1>();  // the previous tile's group is done: its stage may be refilled next time
  }
  WgWait<0>();
  CpAsyncWait<0>();

  // Accumulators: n8 block j holds (row, 8j + 2 (lane % 4) + {0, 1}) and row + 8, row = 16 warp + lane / 4.
  const int64_t r0 = bm + wg * 64 + (warp & 3) * 16 + (lane >> 2);
#pragma unroll
  for (int j = 0; j < kWgBN / 8; ++j) {
    const int64_t c = bn + j * 8 + (lane & 3) * 2;
    WgStorePair<T>(g, r0, c, d[4 * j + 0], d[4 * j + 1]);
    WgStorePair<T>(g, r0 + 8, c, d[4 * j + 2], d[4 * j + 3]);
  }
#endif
}

}  // namespace

bool WgmmaCompiled() {
#ifdef BERTKIT_WITH_WGMMA
  return true;
#else
  return false;
#endif
}

cudaError_t PrepareWgmmaKernels() {
  cudaError_t e = cudaFuncSetAttribute(GemmWgmmaKernel<__half>, cudaFuncAttributeMaxDynamicSharedMemorySize, kWgSmem);
  if (e == cudaSuccess) e = cudaFuncSetAttribute(GemmWgmmaKernel<__nv_bfloat16>, cudaFuncAttributeMaxDynamicSharedMemorySize, kWgSmem);
  return e;
}

Status LaunchGemmWgmma(Precision p, const GemmParams& g, cudaStream_t stream) {
  const int64_t tiles = CeilDiv(g.m, kWgBM) * CeilDiv(g.n, kWgBN);
  if (tiles > INT_MAX) return OutOfRange("GEMM too large for one launch");
  if (p == Precision::kFloat16) {
    GemmWgmmaKernel<__half><<<static_cast<unsigned>(tiles), 256, kWgSmem, stream>>>(g);
  } else if (p == Precision::kBFloat16) {
    GemmWgmmaKernel<__nv_bfloat16><<<static_cast<unsigned>(tiles), 256, kWgSmem, stream>>>(g);
  } else {
    return InvalidArgument("the wgmma GEMM takes fp16 or bf16");
  }
  BK_CUDA_LAUNCHED("gemm (wgmma)");
  return Status::Ok();
}

}  // namespace bertkit::cuda
