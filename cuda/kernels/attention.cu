// Variable-length multi-head self-attention over packed sequences (no padding work): each
// sequence's queries attend to its own keys, masked keys excluded, and a sequence with no key
// attends uniformly to all its tokens (what transformers' additive finfo.min mask amounts to).
//
// CPU reference: cpu::ref::AttentionRef (native/cpu/ref/reference.cc), from the definition:
// scores in double, softmax, weighted sum, probabilities optional.
//
// Versions (AttentionVersion in params.h), each checked against the reference by
// test/cpp/test_cuda.cc on ragged batches:
//   v1 kSimt   one warp per (query, head); lanes over keys: pass 1 the row max, pass 2 the sum,
//              pass 3 the weighted sum of V (probabilities broadcast with shuffles) and, when
//              asked, the probabilities. Any type and head_dim; the path for outputAttentions
//              and for float32.
//   v2 kFlash  FlashAttention-2 style: a CTA = 64 queries of one (sequence, head), 4 warps of 16
//              query rows; 64-key blocks of K and V through shared memory (cp.async; V's load
//              overlaps S = QK^T, the next K's overlaps PV); S and O in mma.sync registers
//              (fp16/bf16 in, fp32 accumulate), online softmax in base 2 with the running max
//              and sum per row; P reused from the S accumulators as the A operand of PV (rounded
//              to fp16/bf16, as FlashAttention does). head_dim padded to 16/32/64/96/128 with
//              zeros; head_dim % 8 == 0 and <= 128.
// Not done yet: splitting long sequences' keys across CTAs (flash-decoding) for tiny batches.
#include <climits>
#include <cmath>
#include <type_traits>

#include "cuda/common.cuh"
#include "cuda/kernels/kernels.cuh"

namespace bertkit::cuda {

namespace {

constexpr float kNegInf = -INFINITY;

// v1
template <class T>
__global__ void __launch_bounds__(128) AttentionSimtKernel(AttentionParams a) {
  const int64_t item = static_cast<int64_t>(blockIdx.x) * 4 + threadIdx.x / 32;
  const int lane = threadIdx.x & 31;
  if (item >= a.tokens * a.heads) return;
  const int64_t t = item / a.heads;
  const int h = static_cast<int>(item % a.heads);
  // The sequence holding token t: the last s with cu_seqlens[s] <= t.
  int64_t lo = 0, hi = a.sequences;
  while (hi - lo > 1) {
    const int64_t mid = (lo + hi) / 2;
    if (a.cu_seqlens[mid] <= t) lo = mid;
    else hi = mid;
  }
  const int64_t s = lo;
  const int64_t start = a.cu_seqlens[s];
  const int64_t n = a.cu_seqlens[s + 1] - start;
  const int64_t i = t - start;
  const int d = a.head_dim;
  const int64_t H = static_cast<int64_t>(a.heads) * d, ld = 3 * H;
  const T* qkv = static_cast<const T*>(a.qkv);
  const T* q = qkv + t * ld + static_cast<int64_t>(h) * d;
  const T* kbase = qkv + start * ld + H + static_cast<int64_t>(h) * d;
  const T* vbase = kbase + H;
  const bool uniform = a.uniform[s] != 0;
  const uint8_t* mask = a.key_mask ? a.key_mask + start : nullptr;

  auto score = [&](int64_t j) -> float {
    if (uniform) return 0.f;
    if (mask != nullptr && mask[j] == 0) return kNegInf;
    const T* k = kbase + j * ld;
    float acc = 0.f;
    for (int c = 0; c < d; ++c) acc = fmaf(ToF(q[c]), ToF(k[c]), acc);
    return acc * a.scale;
  };

  float mx = kNegInf;
  for (int64_t j = lane; j < n; j += 32) mx = fmaxf(mx, score(j));
  mx = WarpMax(mx);  // finite: the sequence has a key, or is uniform
  float sum = 0.f;
  for (int64_t j = lane; j < n; j += 32) {
    const float sc = score(j);
    sum += sc == kNegInf ? 0.f : expf(sc - mx);
  }
  sum = WarpSum(sum);
  const float inv = 1.f / sum;

  T* ctx = static_cast<T*>(a.context) + t * H + static_cast<int64_t>(h) * d;
  float* probs = a.probs ? a.probs + a.probs_offsets[s] + (static_cast<int64_t>(h) * n + i) * n : nullptr;
  for (int c0 = 0; c0 < d; c0 += 256) {
    float acc[8];
#pragma unroll
    for (int u = 0; u < 8; ++u) acc[u] = 0.f;
    for (int64_t j0 = 0; j0 < n; j0 += 32) {
      const int64_t j = j0 + lane;
      float p = 0.f;
      if (j < n) {
        const float sc = score(j);
        p = sc == kNegInf ? 0.f : expf(sc - mx) * inv;
        if (probs != nullptr && c0 == 0) probs[j] = p;
      }
      const int cnt = static_cast<int>(n - j0 < 32 ? n - j0 : 32);
      for (int jj = 0; jj < cnt; ++jj) {
        const float pj = __shfl_sync(0xffffffffu, p, jj);
        if (pj == 0.f) continue;  // the same for every lane
        const T* v = vbase + (j0 + jj) * ld;
#pragma unroll
        for (int u = 0; u < 8; ++u) {
          const int c = c0 + lane + 32 * u;
          if (c < d) acc[u] = fmaf(pj, ToF(v[c]), acc[u]);
        }
      }
    }
#pragma unroll
    for (int u = 0; u < 8; ++u) {
      const int c = c0 + lane + 32 * u;
      if (c < d) ctx[c] = FromF<T>(acc[u]);
    }
  }
}

constexpr int kFlashBM = 64, kFlashBN = 64, kFlashThreads = 128;

template <int D>
constexpr int FlashSmemBytes() {
  return 3 * 64 * (D + 8) * 2;
}

// v2
template <class T, int D>
__global__ void __launch_bounds__(kFlashThreads) AttentionFlashKernel(AttentionParams a) {
  constexpr int BM = kFlashBM, BN = kFlashBN, LD = D + 8;  // rows padded by 16 bytes
  constexpr int CPR = D / 8;
  static_assert(D % 16 == 0 && (D / 8) % 2 == 0, "head_dim block");
  extern __shared__ __align__(16) unsigned char smem_raw[];
  T* Qs = reinterpret_cast<T*>(smem_raw);  // [BM][LD]
  T* Ks = Qs + BM * LD;                    // [BN][LD]
  T* Vs = Ks + BN * LD;                    // [BN][LD]

  const int64_t s = blockIdx.x;
  const int h = blockIdx.y;
  const int64_t q0 = static_cast<int64_t>(blockIdx.z) * BM;
  const int64_t start = a.cu_seqlens[s];
  const int64_t n = a.cu_seqlens[s + 1] - start;
  if (q0 >= n) return;
  const int d = a.head_dim;
  const int64_t H = static_cast<int64_t>(a.heads) * d, ld = 3 * H;
  const T* qg = static_cast<const T*>(a.qkv) + start * ld + static_cast<int64_t>(h) * d;
  const T* kg = qg + H;
  const T* vg = qg + 2 * H;
  const bool uniform = a.uniform[s] != 0;
  const uint8_t* mask = a.key_mask ? a.key_mask + start : nullptr;
  const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;

  // 64 rows from r0 (zeros past the sequence and past head_dim).
  auto load_rows = [&](T* dst, const T* src, int64_t r0) {
    for (int c = tid; c < 64 * CPR; c += kFlashThreads) {
      const int row = c / CPR, col = (c % CPR) * 8;
      const int64_t gr = r0 + row;
      const bool ok = gr < n && col < d;
      CpAsync16(SmemAddr(dst + row * LD + col), ok ? src + gr * ld + col : src, ok ? 16 : 0);
    }
  };

  load_rows(Qs, qg, q0);
  CpAsyncCommit();
  load_rows(Ks, kg, 0);
  CpAsyncCommit();

  const float scale_log2 = a.scale * 1.4426950408889634f;
  uint32_t qf[D / 16][4];
  float o[D / 8][4];
#pragma unroll
  for (int i = 0; i < D / 8; ++i)
#pragma unroll
    for (int e = 0; e < 4; ++e) o[i][e] = 0.f;
  float m_run[2] = {kNegInf, kNegInf};  // rows lane/4 and lane/4 + 8 of this warp's 16
  float l_run[2] = {0.f, 0.f};          // this thread's share of the row sums

  const int64_t blocks = (n + BN - 1) / BN;
  for (int64_t j = 0; j < blocks; ++j) {
    load_rows(Vs, vg, j * BN);
    CpAsyncCommit();
    CpAsyncWait<1>();  // everything but V_j: Q and K_j are in
    __syncthreads();
    if (j == 0) {
#pragma unroll
      for (int kk = 0; kk < D / 16; ++kk)
        LdMatrixX4(qf[kk], SmemAddr(Qs + (warp * 16 + (lane & 15)) * LD + kk * 16 + (lane >> 4) * 8));
    }
    // S = Q K^T for this warp's 16 rows x 64 keys.
    float sacc[BN / 8][4];
#pragma unroll
    for (int i = 0; i < BN / 8; ++i)
#pragma unroll
      for (int e = 0; e < 4; ++e) sacc[i][e] = 0.f;
#pragma unroll
    for (int kk = 0; kk < D / 16; ++kk) {
#pragma unroll
      for (int ni = 0; ni < BN / 8; ni += 2) {
        uint32_t r[4];
        LdMatrixX4(r, SmemAddr(Ks + (ni * 8 + (lane & 7) + (lane >> 4) * 8) * LD + kk * 16 + ((lane >> 3) & 1) * 8));
        Mma16816<T>(sacc[ni], qf[kk], r[0], r[1]);
        Mma16816<T>(sacc[ni + 1], qf[kk], r[2], r[3]);
      }
    }
    __syncthreads();  // every warp is done with K_j
    if (j + 1 < blocks) load_rows(Ks, kg, (j + 1) * BN);
    CpAsyncCommit();

    // Mask, then the online softmax (base 2).
    float mx[2] = {m_run[0], m_run[1]};
#pragma unroll
    for (int ni = 0; ni < BN / 8; ++ni) {
#pragma unroll
      for (int e = 0; e < 4; ++e) {
        const int64_t key = j * BN + ni * 8 + (lane & 3) * 2 + (e & 1);
        const bool valid = key < n && (uniform || mask == nullptr || mask[key] != 0);
        const float x = uniform ? 0.f : sacc[ni][e] * scale_log2;
        sacc[ni][e] = valid ? x : kNegInf;
        mx[e >> 1] = fmaxf(mx[e >> 1], sacc[ni][e]);
      }
    }
    float base[2], alpha[2], rs[2] = {0.f, 0.f};
#pragma unroll
    for (int r = 0; r < 2; ++r) {
      mx[r] = fmaxf(mx[r], __shfl_xor_sync(0xffffffffu, mx[r], 1));
      mx[r] = fmaxf(mx[r], __shfl_xor_sync(0xffffffffu, mx[r], 2));
      base[r] = mx[r] == kNegInf ? 0.f : mx[r];  // a row with no valid key yet: keep zeros
      alpha[r] = exp2f(m_run[r] - base[r]);      // 0 when m_run is -inf
      m_run[r] = mx[r];
    }
#pragma unroll
    for (int ni = 0; ni < BN / 8; ++ni) {
#pragma unroll
      for (int e = 0; e < 4; ++e) {
        const float p = exp2f(sacc[ni][e] - base[e >> 1]);
        sacc[ni][e] = p;
        rs[e >> 1] += p;
      }
    }
#pragma unroll
    for (int r = 0; r < 2; ++r) l_run[r] = l_run[r] * alpha[r] + rs[r];
#pragma unroll
    for (int dn = 0; dn < D / 8; ++dn) {
      o[dn][0] *= alpha[0];
      o[dn][1] *= alpha[0];
      o[dn][2] *= alpha[1];
      o[dn][3] *= alpha[1];
    }
    // P as A fragments: keys 16*kk2 .. +15 are the S tiles 2*kk2 and 2*kk2 + 1.
    uint32_t pa[BN / 16][4];
#pragma unroll
    for (int kk2 = 0; kk2 < BN / 16; ++kk2) {
      pa[kk2][0] = Pack2<T>(sacc[2 * kk2][0], sacc[2 * kk2][1]);
      pa[kk2][1] = Pack2<T>(sacc[2 * kk2][2], sacc[2 * kk2][3]);
      pa[kk2][2] = Pack2<T>(sacc[2 * kk2 + 1][0], sacc[2 * kk2 + 1][1]);
      pa[kk2][3] = Pack2<T>(sacc[2 * kk2 + 1][2], sacc[2 * kk2 + 1][3]);
    }
    CpAsyncWait<1>();  // everything but K_{j+1}: V_j is in
    __syncthreads();
    // O += P V: V is [key][d] in shared memory, so B fragments come transposed.
#pragma unroll
    for (int kk2 = 0; kk2 < BN / 16; ++kk2) {
#pragma unroll
      for (int dn = 0; dn < D / 8; dn += 2) {
        uint32_t r[4];
        LdMatrixX4Trans(r, SmemAddr(Vs + (kk2 * 16 + (lane & 15)) * LD + dn * 8 + (lane >> 4) * 8));
        Mma16816<T>(o[dn], pa[kk2], r[0], r[1]);
        Mma16816<T>(o[dn + 1], pa[kk2], r[2], r[3]);
      }
    }
    __syncthreads();  // every warp is done with V_j
  }
  CpAsyncWait<0>();

  float inv[2];
#pragma unroll
  for (int r = 0; r < 2; ++r) {
    float l = l_run[r];
    l += __shfl_xor_sync(0xffffffffu, l, 1);
    l += __shfl_xor_sync(0xffffffffu, l, 2);
    inv[r] = l > 0.f ? 1.f / l : 0.f;
  }
  T* ctx = static_cast<T*>(a.context) + start * H + static_cast<int64_t>(h) * d;
#pragma unroll
  for (int dn = 0; dn < D / 8; ++dn) {
    const int col = dn * 8 + (lane & 3) * 2;
    if (col >= d) continue;
#pragma unroll
    for (int r = 0; r < 2; ++r) {
      const int64_t row = q0 + warp * 16 + (lane >> 2) + 8 * r;
      if (row < n) {
        *reinterpret_cast<uint32_t*>(ctx + row * H + col) = Pack2<T>(o[dn][2 * r] * inv[r], o[dn][2 * r + 1] * inv[r]);
      }
    }
  }
}

template <class T, int D>
Status LaunchFlash(const AttentionParams& a, cudaStream_t stream) {
  const int64_t qblocks = CeilDiv(a.max_seqlen, kFlashBM);
  if (a.sequences > INT_MAX || qblocks > 65535 || a.heads > 65535) return OutOfRange("attention grid too large");
  const dim3 grid(static_cast<unsigned>(a.sequences), static_cast<unsigned>(a.heads), static_cast<unsigned>(qblocks));
  AttentionFlashKernel<T, D><<<grid, kFlashThreads, FlashSmemBytes<D>(), stream>>>(a);
  BK_CUDA_LAUNCHED("attention");
  return Status::Ok();
}

template <class T>
Status LaunchSimtTyped(const AttentionParams& a, cudaStream_t stream) {
  const int64_t blocks = CeilDiv(a.tokens * a.heads, 4);
  if (blocks > INT_MAX) return OutOfRange("attention grid too large");
  AttentionSimtKernel<T><<<static_cast<unsigned>(blocks), 128, 0, stream>>>(a);
  BK_CUDA_LAUNCHED("attention");
  return Status::Ok();
}

template <class T>
Status LaunchTyped(const AttentionParams& a, AttentionVersion v, cudaStream_t stream) {
  if constexpr (!std::is_same_v<T, float>) {
    if (v == AttentionVersion::kFlash) {
      if (a.head_dim <= 16) return LaunchFlash<T, 16>(a, stream);
      if (a.head_dim <= 32) return LaunchFlash<T, 32>(a, stream);
      if (a.head_dim <= 64) return LaunchFlash<T, 64>(a, stream);
      if (a.head_dim <= 96) return LaunchFlash<T, 96>(a, stream);
      return LaunchFlash<T, 128>(a, stream);
    }
  }
  return LaunchSimtTyped<T>(a, stream);
}

template <class T>
cudaError_t RaiseSmem() {
  cudaError_t e = cudaSuccess;
  auto raise = [&](auto kernel, int bytes) {
    if (e == cudaSuccess && bytes > 48 * 1024) e = cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, bytes);
  };
  raise(AttentionFlashKernel<T, 96>, FlashSmemBytes<96>());
  raise(AttentionFlashKernel<T, 128>, FlashSmemBytes<128>());
  return e;
}

}  // namespace

cudaError_t PrepareAttentionKernels() {
  cudaError_t e = RaiseSmem<__half>();
  if (e == cudaSuccess) e = RaiseSmem<__nv_bfloat16>();
  return e;
}

AttentionVersion ChooseAttention(Precision p, const AttentionParams& a) {
  const bool aligned = (reinterpret_cast<uintptr_t>(a.qkv) & 15) == 0 && (reinterpret_cast<uintptr_t>(a.context) & 15) == 0;
  if (p != Precision::kFloat32 && a.probs == nullptr && aligned && a.head_dim % 8 == 0 && a.head_dim <= 128)
    return AttentionVersion::kFlash;
  return AttentionVersion::kSimt;
}

Status LaunchAttention(Precision p, const AttentionParams& a, AttentionVersion v, cudaStream_t stream) {
  if (a.tokens <= 0 || a.sequences <= 0 || a.heads <= 0 || a.head_dim <= 0) return InvalidArgument("empty attention");
  if (v == AttentionVersion::kAuto) v = ChooseAttention(p, a);
  // The flash version cannot do what it was not built for; asking for it anyway is a bug.
  if (v == AttentionVersion::kFlash && ChooseAttention(p, a) != AttentionVersion::kFlash)
    return InvalidArgument("the flash attention kernel needs fp16/bf16, head_dim % 8 == 0 and <= 128, aligned buffers, no probs");
  switch (p) {
    case Precision::kFloat32: return LaunchTyped<float>(a, v, stream);
    case Precision::kFloat16: return LaunchTyped<__half>(a, v, stream);
    case Precision::kBFloat16: return LaunchTyped<__nv_bfloat16>(a, v, stream);
  }
  return InvalidArgument("unknown precision");
}

}  // namespace bertkit::cuda
