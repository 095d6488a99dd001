// The Linear layers: y = act(x . w^T + bias) + residual, with the epilogue fused (QKV projection +
// bias written where attention reads it; output projection + bias + residual; FFN up + bias +
// GELU; FFN down + bias + residual; the pooler's tanh and the heads).
//
// CPU reference: cpu::ref::LinearRef (native/cpu/ref/reference.cc): double accumulation, then
// act(acc + bias), then + residual, as here.
//
// Versions (GemmVersion in params.h), each checked against the reference by test/cpp/test_cuda.cc:
//   v1 kSimt       float32 FMA, 64x64x16 tiles, 4x4 outputs per thread; any type, any shape.
//   v2 kMma128x128 mma.sync.m16n8k16 (fp16/bf16 in, fp32 accumulate), 128x128x32 CTA tile,
//                  8 warps of 64x32, 4-stage cp.async pipeline, rows padded by 16 bytes so that
//                  cp.async writes and ldmatrix reads are free of bank conflicts.
//   v3 kMma128x64  the same with 4 warps of 64x32 (mid-sized problems: more CTAs per wave).
//   v4 kMma64x64   the same with 4 warps of 32x32 (small batches).
// The tensor-core versions read 16-byte chunks with cp.async when every row start is 16-byte
// aligned (k and ldx multiples of 8); otherwise they load element by element (any k).
//   v5 kWgmma128x128  Hopper wgmma (gemm_sm90.cu), selected at run time only (see below).
// Not done yet: split-K for the smallest batches; a shared-memory staged epilogue for wider stores.
#include <atomic>
#include <climits>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <type_traits>
#include <vector>

#include "cuda/common.cuh"
#include "cuda/kernels/kernels.cuh"

namespace bertkit::cuda {

namespace {

// The fused epilogue for the pair of columns (c, c+1) of row r.
template <class T>
__device__ __forceinline__ void StorePair(const GemmParams& g, int64_t r, int64_t c, float v0, float v1) {
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
    if constexpr (sizeof(T) == 2) {
      if (two && (reinterpret_cast<uintptr_t>(y) & 3) == 0) {
        *reinterpret_cast<uint32_t*>(y) = Pack2<T>(v0, v1);
        return;
      }
    }
    y[0] = FromF<T>(v0);
    if (two) y[1] = FromF<T>(v1);
  }
}

// v1: SIMT. 256 threads, 64x64 tile, each thread 4 rows x 4 columns.
template <class T>
__global__ void __launch_bounds__(256) GemmSimtKernel(GemmParams g) {
  constexpr int BM = 64, BN = 64, BK = 16;
  __shared__ float As[BK][BM + 4];
  __shared__ float Bs[BK][BN + 4];
  const int64_t tiles_n = (g.n + BN - 1) / BN;
  const int64_t bm = static_cast<int64_t>(blockIdx.x / tiles_n) * BM;
  const int64_t bn = static_cast<int64_t>(blockIdx.x % tiles_n) * BN;
  const int tid = threadIdx.x, tx = tid % 16, ty = tid / 16;
  const T* x = static_cast<const T*>(g.x);
  const T* w = static_cast<const T*>(g.w);
  float acc[4][4];
#pragma unroll
  for (int i = 0; i < 4; ++i)
#pragma unroll
    for (int j = 0; j < 4; ++j) acc[i][j] = 0.f;
  for (int64_t k0 = 0; k0 < g.k; k0 += BK) {
#pragma unroll
    for (int i = 0; i < 4; ++i) {
      const int e = tid + i * 256;
      const int row = e / BK, kk = e % BK;
      const int64_t gk = k0 + kk;
      const int64_t gm = bm + row, gn = bn + row;
      As[kk][row] = (gm < g.m && gk < g.k) ? ToF(x[gm * g.ldx + gk]) : 0.f;
      Bs[kk][row] = (gn < g.n && gk < g.k) ? ToF(w[gn * g.k + gk]) : 0.f;
    }
    __syncthreads();
#pragma unroll
    for (int kk = 0; kk < BK; ++kk) {
      float a[4], b[4];
#pragma unroll
      for (int i = 0; i < 4; ++i) a[i] = As[kk][ty * 4 + i];
#pragma unroll
      for (int j = 0; j < 4; ++j) b[j] = Bs[kk][tx * 4 + j];
#pragma unroll
      for (int i = 0; i < 4; ++i)
#pragma unroll
        for (int j = 0; j < 4; ++j) acc[i][j] = fmaf(a[i], b[j], acc[i][j]);
    }
    __syncthreads();
  }
#pragma unroll
  for (int i = 0; i < 4; ++i) {
    StorePair<T>(g, bm + ty * 4 + i, bn + tx * 4, acc[i][0], acc[i][1]);
    StorePair<T>(g, bm + ty * 4 + i, bn + tx * 4 + 2, acc[i][2], acc[i][3]);
  }
}

// One 16-byte chunk (8 elements) of row `row`, columns [col, col + 8), into shared memory; zeros
// outside [0, rows) x [0, cols).
template <class T>
__device__ __forceinline__ void LoadChunk(T* dst, const T* src, int64_t ld, int64_t row, int64_t rows, int64_t col,
                                          int64_t cols, bool aligned) {
  if (aligned) {
    int bytes = 0;
    const T* p = src;
    if (row < rows && col < cols) {
      const int64_t left = cols - col;
      bytes = static_cast<int>(left < 8 ? left : 8) * 2;
      p = src + row * ld + col;
    }
    CpAsync16(SmemAddr(dst), p, bytes);
  } else {
    uint16_t v[8];
#pragma unroll
    for (int e = 0; e < 8; ++e) {
      T t = FromF<T>(0.f);
      if (row < rows && col + e < cols) t = src[row * ld + col + e];
      v[e] = *reinterpret_cast<uint16_t*>(&t);
    }
    uint4 u;
    u.x = v[0] | (static_cast<uint32_t>(v[1]) << 16);
    u.y = v[2] | (static_cast<uint32_t>(v[3]) << 16);
    u.z = v[4] | (static_cast<uint32_t>(v[5]) << 16);
    u.w = v[6] | (static_cast<uint32_t>(v[7]) << 16);
    *reinterpret_cast<uint4*>(dst) = u;
  }
}

constexpr int kMmaBK = 32;
constexpr int kMmaLds = kMmaBK + 8;  // 80-byte rows
constexpr int kMmaStages = 4;

template <int BM, int BN>
constexpr int MmaSmemBytes() {
  return kMmaStages * (BM + BN) * kMmaLds * 2;
}

// v2-v4: tensor cores. WM x WN warps, each a (BM/WM) x (BN/WN) tile of m16n8 mma tiles.
template <class T, int BM, int BN, int WM, int WN>
__global__ void __launch_bounds__(WM * WN * 32) GemmMmaKernel(GemmParams g, bool aligned) {
  constexpr int BK = kMmaBK, LDS = kMmaLds, STAGES = kMmaStages;
  constexpr int THREADS = WM * WN * 32;
  constexpr int WTM = BM / WM, WTN = BN / WN;
  constexpr int MI = WTM / 16, NI = WTN / 8;
  constexpr int CPR = BK / 8;  // 16-byte chunks per tile row
  static_assert(NI % 2 == 0, "B fragments load two n8 tiles at a time");
  extern __shared__ __align__(16) unsigned char smem_raw[];
  T* As = reinterpret_cast<T*>(smem_raw);  // [STAGES][BM][LDS]
  T* Bs = As + STAGES * BM * LDS;          // [STAGES][BN][LDS]

  const int64_t tiles_n = (g.n + BN - 1) / BN;
  const int64_t bm = static_cast<int64_t>(blockIdx.x / tiles_n) * BM;
  const int64_t bn = static_cast<int64_t>(blockIdx.x % tiles_n) * BN;
  const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
  const int wm0 = (warp / WN) * WTM, wn0 = (warp % WN) * WTN;
  const T* x = static_cast<const T*>(g.x);
  const T* w = static_cast<const T*>(g.w);
  const int64_t KT = (g.k + BK - 1) / BK;

  auto load_tile = [&](int stage, int64_t kt) {
    const int64_t k0 = kt * BK;
    T* as = As + stage * BM * LDS;
    T* bs = Bs + stage * BN * LDS;
#pragma unroll
    for (int c = tid; c < BM * CPR; c += THREADS) {
      const int row = c / CPR, ch = c % CPR;
      LoadChunk<T>(as + row * LDS + ch * 8, x, g.ldx, bm + row, g.m, k0 + ch * 8, g.k, aligned);
    }
#pragma unroll
    for (int c = tid; c < BN * CPR; c += THREADS) {
      const int row = c / CPR, ch = c % CPR;
      LoadChunk<T>(bs + row * LDS + ch * 8, w, g.k, bn + row, g.n, k0 + ch * 8, g.k, aligned);
    }
  };

  float acc[MI][NI][4];
#pragma unroll
  for (int i = 0; i < MI; ++i)
#pragma unroll
    for (int j = 0; j < NI; ++j)
#pragma unroll
      for (int e = 0; e < 4; ++e) acc[i][j][e] = 0.f;

#pragma unroll
  for (int s = 0; s < STAGES - 1; ++s) {
    if (s < KT) load_tile(s, s);
    CpAsyncCommit();
  }
  for (int64_t kt = 0; kt < KT; ++kt) {
    // Groups committed so far: STAGES - 1 + kt; at most STAGES - 2 pending means tile kt is in.
    CpAsyncWait<STAGES - 2>();
    // Also: every warp finished computing on tile kt - 1, whose stage is refilled next.
    __syncthreads();
    const int64_t next = kt + STAGES - 1;
    if (next < KT) load_tile(static_cast<int>(next % STAGES), next);
    CpAsyncCommit();  // possibly empty: keeps the group count uniform

    const T* as = As + static_cast<int>(kt % STAGES) * BM * LDS;
    const T* bs = Bs + static_cast<int>(kt % STAGES) * BN * LDS;
#pragma unroll
    for (int kk = 0; kk < BK; kk += 16) {
      uint32_t a[MI][4];
      uint32_t b[NI][2];
#pragma unroll
      for (int mi = 0; mi < MI; ++mi) {
        // Matrices: rows +0..7 / +8..15 at k +0..7, then at k +8..15 (a0..a3 of m16n8k16).
        LdMatrixX4(a[mi], SmemAddr(as + (wm0 + mi * 16 + (lane & 15)) * LDS + kk + (lane >> 4) * 8));
      }
#pragma unroll
      for (int ni = 0; ni < NI; ni += 2) {
        // Matrices: n +0..7 at k +0..7 and +8..15 (b0, b1 of tile ni), then n +8..15 (tile ni+1).
        uint32_t r[4];
        LdMatrixX4(r, SmemAddr(bs + (wn0 + ni * 8 + (lane & 7) + (lane >> 4) * 8) * LDS + kk + ((lane >> 3) & 1) * 8));
        b[ni][0] = r[0];
        b[ni][1] = r[1];
        b[ni + 1][0] = r[2];
        b[ni + 1][1] = r[3];
      }
#pragma unroll
      for (int mi = 0; mi < MI; ++mi)
#pragma unroll
        for (int ni = 0; ni < NI; ++ni) Mma16816<T>(acc[mi][ni], a[mi], b[ni][0], b[ni][1]);
    }
  }
  CpAsyncWait<0>();

  // Accumulator layout: c0, c1 at row lane/4, columns 2 (lane%4) + {0, 1}; c2, c3 at row + 8.
#pragma unroll
  for (int mi = 0; mi < MI; ++mi) {
#pragma unroll
    for (int ni = 0; ni < NI; ++ni) {
      const int64_t r = bm + wm0 + mi * 16 + (lane >> 2);
      const int64_t c = bn + wn0 + ni * 8 + (lane & 3) * 2;
      StorePair<T>(g, r, c, acc[mi][ni][0], acc[mi][ni][1]);
      StorePair<T>(g, r + 8, c, acc[mi][ni][2], acc[mi][ni][3]);
    }
  }
}

int64_t Tiles(const GemmParams& g, int bm, int bn) { return CeilDiv(g.m, bm) * CeilDiv(g.n, bn); }

template <class T, int BM, int BN, int WM, int WN>
Status LaunchMma(const GemmParams& g, cudaStream_t stream) {
  const int64_t tiles = Tiles(g, BM, BN);
  if (tiles > INT_MAX) return OutOfRange("GEMM too large for one launch");
  const bool aligned = (reinterpret_cast<uintptr_t>(g.x) & 15) == 0 && (reinterpret_cast<uintptr_t>(g.w) & 15) == 0 &&
                       g.ldx % 8 == 0 && g.k % 8 == 0;
  GemmMmaKernel<T, BM, BN, WM, WN><<<static_cast<unsigned>(tiles), WM * WN * 32, MmaSmemBytes<BM, BN>(), stream>>>(g, aligned);
  BK_CUDA_LAUNCHED("gemm");
  return Status::Ok();
}

template <class T>
Status LaunchSimt(const GemmParams& g, cudaStream_t stream) {
  const int64_t tiles = Tiles(g, 64, 64);
  if (tiles > INT_MAX) return OutOfRange("GEMM too large for one launch");
  GemmSimtKernel<T><<<static_cast<unsigned>(tiles), 256, 0, stream>>>(g);
  BK_CUDA_LAUNCHED("gemm");
  return Status::Ok();
}

template <class T>
Status LaunchTyped(const GemmParams& g, GemmVersion v, cudaStream_t stream) {
  if constexpr (std::is_same_v<T, float>) {
    return LaunchSimt<T>(g, stream);  // no float tensor-core version: kSimt whatever was asked
  } else {
    switch (v) {
      case GemmVersion::kWgmma128x128:
        return LaunchGemmWgmma(std::is_same_v<T, __half> ? Precision::kFloat16 : Precision::kBFloat16, g, stream);
      case GemmVersion::kMma128x128: return LaunchMma<T, 128, 128, 2, 4>(g, stream);
      case GemmVersion::kMma128x64: return LaunchMma<T, 128, 64, 2, 2>(g, stream);
      case GemmVersion::kMma64x64: return LaunchMma<T, 64, 64, 2, 2>(g, stream);
      default: return LaunchSimt<T>(g, stream);
    }
  }
}

template <class T>
cudaError_t RaiseSmem() {
  cudaError_t e = cudaFuncSetAttribute(GemmMmaKernel<T, 128, 128, 2, 4>, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                       MmaSmemBytes<128, 128>());
  if (e == cudaSuccess)
    e = cudaFuncSetAttribute(GemmMmaKernel<T, 128, 64, 2, 2>, cudaFuncAttributeMaxDynamicSharedMemorySize,
                             MmaSmemBytes<128, 64>());
  return e;
}

}  // namespace

// ---- v5, the Hopper wgmma path (gemm_sm90.cu): selected at run time, never by default yet ----
//
// On when this build has it (an sm_90 architecture was compiled), the device is compute
// capability 9.0, BERTKIT_CUDA_WGMMA=1, and a self-check on that device (a 256x384x320 product
// against v2) agreed. A failed check turns it off for the process, with a warning on stderr.
namespace {

constexpr int kMaxDevices = 64;
std::atomic<int> g_wgmma_state[kMaxDevices];  // 0 unknown, 1 on, -1 off

bool WgmmaWanted() {
  const char* env = std::getenv("BERTKIT_CUDA_WGMMA");
  return WgmmaCompiled() && env != nullptr && std::strcmp(env, "1") == 0;
}

int CurrentDevice() {
  int dev = 0;
  if (cudaGetDevice(&dev) != cudaSuccess) {
    cudaGetLastError();
    return -1;
  }
  return dev >= 0 && dev < kMaxDevices ? dev : -1;
}

bool WgmmaOn() {
  const int dev = CurrentDevice();
  return dev >= 0 && g_wgmma_state[dev].load() == 1;
}

// Runs the product through `v` on random inputs; y gets the float32 output.
cudaError_t SelfTestRun(GemmVersion v, int sms, const __half* x, const __half* w, int64_t m, int64_t n, int64_t k, float* y) {
  GemmParams g;
  g.x = x;
  g.ldx = k;
  g.w = w;
  g.m = m;
  g.n = n;
  g.k = k;
  g.y_f = y;
  g.ldy_f = n;
  const Status s = v == GemmVersion::kWgmma128x128 ? LaunchGemmWgmma(Precision::kFloat16, g, nullptr)
                                                   : LaunchMma<__half, 128, 128, 2, 4>(g, nullptr);
  if (!s.ok()) return cudaErrorLaunchFailure;
  return cudaDeviceSynchronize();
}

void CheckWgmma(int dev) {
  const int64_t m = 256, n = 384, k = 320;
  std::vector<__half> hx(m * k), hw(n * k);
  uint32_t state = 12345;
  auto next = [&]() {
    state = state * 1664525u + 1013904223u;
    return static_cast<float>(static_cast<int>(state >> 9) % 2001 - 1000) / 1000.f;
  };
  for (auto& v : hx) v = __float2half(next());
  for (auto& v : hw) v = __float2half(next());
  __half *x = nullptr, *w = nullptr;
  float *ya = nullptr, *yb = nullptr;
  bool ok = cudaMalloc(&x, hx.size() * 2) == cudaSuccess && cudaMalloc(&w, hw.size() * 2) == cudaSuccess &&
            cudaMalloc(&ya, m * n * 4) == cudaSuccess && cudaMalloc(&yb, m * n * 4) == cudaSuccess &&
            cudaMemcpy(x, hx.data(), hx.size() * 2, cudaMemcpyHostToDevice) == cudaSuccess &&
            cudaMemcpy(w, hw.data(), hw.size() * 2, cudaMemcpyHostToDevice) == cudaSuccess &&
            PrepareWgmmaKernels() == cudaSuccess;
  int sms = 0;
  cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, dev);
  ok = ok && SelfTestRun(GemmVersion::kMma128x128, sms, x, w, m, n, k, ya) == cudaSuccess &&
       SelfTestRun(GemmVersion::kWgmma128x128, sms, x, w, m, n, k, yb) == cudaSuccess;
  double worst = ok ? 0 : INFINITY;
  if (ok) {
    std::vector<float> a(m * n), b(m * n);
    ok = cudaMemcpy(a.data(), ya, a.size() * 4, cudaMemcpyDeviceToHost) == cudaSuccess &&
         cudaMemcpy(b.data(), yb, b.size() * 4, cudaMemcpyDeviceToHost) == cudaSuccess;
    for (size_t i = 0; ok && i < a.size(); ++i) {
      const double d = std::fabs(static_cast<double>(a[i]) - b[i]);
      worst = d > worst || d != d ? d : worst;
    }
  }
  cudaFree(x);
  cudaFree(w);
  cudaFree(ya);
  cudaFree(yb);
  cudaGetLastError();
  // Same inputs, float32 accumulation in another order: |diff| ~ sqrt(k) * 2^-24 * k / 3.
  const bool pass = ok && worst <= 1e-3;
  if (!pass) std::fprintf(stderr, "bertkit: the wgmma GEMM failed its self-check on device %d (max abs %g); using mma.sync\n", dev, worst);
  g_wgmma_state[dev].store(pass ? 1 : -1);
}

}  // namespace

int WgmmaState() {
  const int dev = CurrentDevice();
  return dev >= 0 ? g_wgmma_state[dev].load() : 0;
}

cudaError_t PrepareGemmKernels() {
  cudaError_t e = RaiseSmem<__half>();
  if (e == cudaSuccess) e = RaiseSmem<__nv_bfloat16>();
  if (e != cudaSuccess || !WgmmaWanted()) return e;
  const int dev = CurrentDevice();
  int major = 0;
  if (dev < 0 || cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, dev) != cudaSuccess || major != 9) {
    cudaGetLastError();
    return e;
  }
  static std::mutex mu;
  std::lock_guard<std::mutex> lock(mu);
  if (g_wgmma_state[dev].load() == 0) CheckWgmma(dev);
  if (g_wgmma_state[dev].load() == 1) e = PrepareWgmmaKernels();
  return e;
}

GemmVersion ChooseGemm(Precision p, const GemmParams& g, int sms) {
  if (p == Precision::kFloat32) return GemmVersion::kSimt;
  const bool aligned = (reinterpret_cast<uintptr_t>(g.x) & 15) == 0 && (reinterpret_cast<uintptr_t>(g.w) & 15) == 0 &&
                       g.ldx % 8 == 0 && g.k % 8 == 0;
  if (aligned && Tiles(g, 128, 128) >= sms && WgmmaOn()) return GemmVersion::kWgmma128x128;
  // The largest tile that still fills every multiprocessor once.
  if (Tiles(g, 128, 128) >= sms) return GemmVersion::kMma128x128;
  if (Tiles(g, 128, 64) >= sms) return GemmVersion::kMma128x64;
  return GemmVersion::kMma64x64;
}

Status LaunchGemm(Precision p, const GemmParams& g, GemmVersion v, int sms, cudaStream_t stream) {
  if (g.m <= 0 || g.n <= 0 || g.k <= 0) return InvalidArgument("GEMM with an empty dimension");
  if (v == GemmVersion::kAuto) v = ChooseGemm(p, g, sms);
  switch (p) {
    case Precision::kFloat32: return LaunchTyped<float>(g, v, stream);
    case Precision::kFloat16: return LaunchTyped<__half>(g, v, stream);
    case Precision::kBFloat16: return LaunchTyped<__nv_bfloat16>(g, v, stream);
  }
  return InvalidArgument("unknown precision");
}

}  // namespace bertkit::cuda
