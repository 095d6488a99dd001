// What the training kernels' files share (train_kernels.h, implemented one section per file:
// train_activations, train_dropout, train_attention, train_layernorm, train_embeddings,
// train_losses, train_optimizer): elementwise blocking, the dropout row kernel, the masked
// softmax rows and the per-ISA dispatch of per-head kernels. Internal to native/train.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>

#include "cpu/simd.h"
#include "train/activation_simd.h"
#include "train/train_gemm.h"
#include "train/train_kernels.h"

namespace bertkit::train::kernels {

using namespace cpu::simd;

constexpr int64_t kElementBlock = 16384;  // elementwise kernels: floats per task

template <class F>
void ForBlocks(int64_t n, cpu::ThreadPool* pool, F&& fn) {
  const int64_t tasks = (n + kElementBlock - 1) / kElementBlock;
  pool->ParallelFor(tasks, [&](int64_t task, int) {
    const int64_t b = task * kElementBlock;
    fn(b, std::min(n, b + kElementBlock));
  });
}

// The scale of a kept element under dropout p (p >= 1 keeps none).
inline float InvKeep(float p) { return p >= 1.f ? 0.f : 1.f / (1.f - p); }

// x[0:n] *= the dropout mask of elements offset..offset + n of stream `key` (train_dropout.cc).
void DropoutRow(float* x, int64_t n, float p, float inv_keep, uint64_t key, uint64_t offset);

// Whether any of a sequence's n tokens is a key (otherwise it attends uniformly).
inline bool AnyKey(const uint8_t* mask, int64_t n) {
  if (mask == nullptr) return true;
  for (int64_t j = 0; j < n; ++j)
    if (mask[j]) return true;
  return false;
}

// ---- softmax rows (attention) ----

// p[0:n] = softmax(scale * s[0:n]) over the keys with mask != 0 (others 0); uniform over all n
// when no key is unmasked. Exp vectorized.
template <class V>
BK_INLINE void SoftmaxRow(const float* s, const uint8_t* mask, int64_t n, float scale, float* p, bool any_key) {
  constexpr int L = Traits<V>::kLanes;
  if (!any_key) {
    const float u = 1.0f / static_cast<float>(n);
    for (int64_t j = 0; j < n; ++j) p[j] = u;
    return;
  }
  float mx = -INFINITY;
  for (int64_t j = 0; j < n; ++j)
    if (mask == nullptr || mask[j]) mx = std::max(mx, s[j]);
  mx *= scale;
  V vsum = V{};
  int64_t j = 0;
  for (; j + L <= n; j += L) {
    V e = Exp<V>(Load<V>(s + j) * scale - mx);
    if (mask != nullptr) {
      for (int t = 0; t < L; ++t)
        if (!mask[j + t]) e[t] = 0.f;
    }
    Store<V>(p + j, e);
    vsum += e;
  }
  float sum = ReduceAdd(vsum);
  for (; j < n; ++j) {
    float e = (mask == nullptr || mask[j]) ? std::exp(s[j] * scale - mx) : 0.f;
    p[j] = e;
    sum += e;
  }
  const float inv = 1.0f / sum;
  j = 0;
  for (; j + L <= n; j += L) Store<V>(p + j, Load<V>(p + j) * inv);
  for (; j < n; ++j) p[j] *= inv;
}

// dS = scale * P * (dP - rowdot(dP, P)), in place over dp.
template <class V>
BK_INLINE void SoftmaxBackwardRow(const float* p, float* dp, int64_t n, float scale) {
  constexpr int L = Traits<V>::kLanes;
  V acc = V{};
  int64_t j = 0;
  for (; j + L <= n; j += L) acc += Load<V>(p + j) * Load<V>(dp + j);
  float dot = ReduceAdd(acc);
  for (; j < n; ++j) dot += p[j] * dp[j];
  j = 0;
  for (; j + L <= n; j += L) Store<V>(dp + j, scale * Load<V>(p + j) * (Load<V>(dp + j) - dot));
  for (; j < n; ++j) dp[j] = scale * p[j] * (dp[j] - dot);
}

// The ISA's copy of a per-head kernel.
template <class Fn>
Fn ByIsa(cpu::Isa isa, Fn generic, [[maybe_unused]] Fn avx2, [[maybe_unused]] Fn avx512) {
  switch (isa) {
#if BK_X86
    case cpu::Isa::kAvx512: return avx512;
    case cpu::Isa::kAvx2: return avx2;
#endif
    default: return generic;
  }
}
// The three copies of a kernel named f##Generic, f##Avx2, f##Avx512 (x86 only has the last two).
#if BK_X86
#define BK_PER_ISA(f) f##Generic, f##Avx2, f##Avx512
#else
#define BK_PER_ISA(f) f##Generic, f##Generic, f##Generic
#endif

// One task per (item, head), each with its thread's slice of the scratch.
template <class F>
void ForItemHeads(const AttentionShape& a, int64_t items, int64_t scratch_per_thread, cpu::ThreadPool* pool, F&& fn) {
  pool->ParallelFor(items * a.heads, [&](int64_t task, int thread) {
    fn(task / a.heads, static_cast<int>(task % a.heads), a.scratch + thread * scratch_per_thread);
  });
}

}  // namespace bertkit::train::kernels
