// Scalar references for the CPU kernels: the definitions, written to be obviously right
// (double accumulation, std:: math, no blocking). Used only by tests.
#pragma once

#include <cstdint>

#include "cpu/gemm.h"
#include "cpu/kernels.h"

namespace bertkit::cpu::ref {

double Activate(double x, Epilogue e);

// y = act(x . W^T + bias) + residual with W [n, k] unpacked.
void LinearRef(const float* x, int64_t m, int64_t k, const float* w, int64_t n, const float* bias,
               const float* residual, Epilogue e, float* y);

// bf16 weights and activations (round to nearest even), products summed in double.
void LinearBf16Ref(const float* x, int64_t m, int64_t k, const float* w, int64_t n, const float* bias,
                   const float* residual, Epilogue e, float* y);

// int8: W quantized per output channel (symmetric, scale = max|w| / 127), x per row to uint8
// with a zero point over [min(x, 0), max(x, 0)]; integer dot products, dequantized in double.
void QuantizeWeightsRef(const float* w, int64_t n, int64_t k, int8_t* q, float* scale);
void QuantizeRowRef(const float* x, int64_t k, uint8_t* q, float* scale, int32_t* zero_point);
void LinearInt8Ref(const float* x, int64_t m, int64_t k, const float* w, int64_t n, const float* bias,
                   const float* residual, Epilogue e, float* y);

void LayerNormRef(const float* x, int64_t rows, int64_t hidden, const float* gamma, const float* beta, double eps,
                  float* out);

void EmbeddingsRef(const EmbeddingsArgs& args);

// Attention from its definition: scores + additive mask, softmax, weighted sum.
void AttentionRef(const AttentionArgs& args);

}  // namespace bertkit::cpu::ref
