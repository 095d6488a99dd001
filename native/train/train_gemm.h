// The three GEMM orientations training needs, as one strided GEMM:
//   forward      Y  = X . W^T (+ bias)      A = X,    B(p, j) = W[j, p]
//   input grad   dX = dY . W                A = dY,   B = W
//   weight grad  dW += dY^T . X             A(i, p) = dY[p, i], B = X
// and the per-head attention products (Q K^T, P V and their backward), all expressed through
// element strides: A(i, p) = a[i * rsa + p * csa], B(p, j) = b[p * rsb + j * csb].
//
// BLIS-style: for each KC x NC block of B, B is packed once into NR-column panels (shared by
// all threads), then tasks of (row tiles x panel groups) run an MR x NR register-tiled
// micro-kernel (vector extensions, one copy per ISA, the BK_TARGET_* dispatch of native/cpu)
// that reads A in place, broadcasting A(i, p) from row-major or column-major storage. Every C
// element is computed by one task in a fixed k order, so results never depend on the number of
// threads or on scheduling.
// Reference: train/ref/train_reference.h (GemmRef).
#pragma once

#include <cstdint>

#include "bertkit/engine.h"
#include "cpu/cpu_features.h"
#include "cpu/thread_pool.h"

namespace bertkit::train {

struct GemmArgs {
  int64_t m = 0, n = 0, k = 0;
  const float* a = nullptr;
  int64_t rsa = 0, csa = 0;
  const float* b = nullptr;
  int64_t rsb = 0, csb = 0;
  float* c = nullptr;
  int64_t ldc = 0;           // C(i, j) = c[i * ldc + j]
  bool accumulate = false;   // C += A . B (else C = A . B)
  const float* bias = nullptr;  // [n], added to every row (only with accumulate == false)
  float alpha = 1.f;         // C (+)= alpha * A . B
  // Fused activation (applied to each finished element while its tile is in registers):
  Activation act = Activation::kGelu;
  float* act_out = nullptr;          // act_out(i, j) = act(C(i, j)), same ldc; C keeps the pre-activation
  const float* act_input = nullptr;  // C(i, j) = (A . B)(i, j) * act'(act_input(i, j)), same ldc (accumulate == false)
};

// Floats of scratch one GemmSerial call needs; Gemm needs pool->size() times that.
int64_t GemmScratchFloats();

// One thread, the caller's scratch (GemmScratchFloats() floats, 64-byte aligned).
void GemmSerial(const GemmArgs& args, cpu::Isa isa, float* scratch);

// Split over the pool; `scratch` holds pool->size() * GemmScratchFloats() floats.
void Gemm(const GemmArgs& args, cpu::Isa isa, cpu::ThreadPool* pool, float* scratch);

// Helpers for the three linear-layer orientations (row-major, contiguous).
// The activation after a linear layer, fused into its GEMMs: the forward also writes
// out = act(y); the input gradient of the layer that reads act(y) multiplies by act'(input).
struct ActivationEpilogue {
  Activation act = Activation::kGelu;
  float* out = nullptr;
  const float* input = nullptr;
};
// y[m, n] = x[m, k] . w[n, k]^T + bias (and act_out = act(y) with ep.out)
void LinearForward(const float* x, int64_t m, int64_t k, const float* w, int64_t n, const float* bias, float* y,
                   cpu::Isa isa, cpu::ThreadPool* pool, float* scratch, const ActivationEpilogue& ep = {});
// dx[m, k] (+)= dy[m, n] . w[n, k] (times act'(ep.input) with ep.input, accumulate false)
void LinearBackwardInput(const float* dy, int64_t m, int64_t n, const float* w, int64_t k, float* dx, bool accumulate,
                         cpu::Isa isa, cpu::ThreadPool* pool, float* scratch, const ActivationEpilogue& ep = {});
// dw[n, k] += dy[m, n]^T . x[m, k]
void LinearBackwardWeight(const float* dy, int64_t m, int64_t n, const float* x, int64_t k, float* dw, cpu::Isa isa,
                          cpu::ThreadPool* pool, float* scratch);

}  // namespace bertkit::train
