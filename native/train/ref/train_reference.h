// Scalar references for the training kernels and a whole-model float64 forward + loss: the
// definitions, written to be obviously right (float64, std:: math, no blocking, no threads).
// Used only by test/cpp/test_train.cc: each fast kernel is compared with its reference on random
// odd-sized inputs, and the model's gradients with central differences of ModelLossRef.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "bertkit/engine.h"
#include "train/train_gemm.h"
#include "train/train_kernels.h"
#include "train/trainable_model.h"

namespace bertkit::train::ref {

// C (+)= alpha * A . B (+ bias), float64 accumulation.
void GemmRef(const GemmArgs& g);

void LayerNormForwardRef(const float* x, int64_t rows, int64_t h, const float* gamma, const float* beta, double eps, float* y);
// From the layer's input x (not the saved xhat): dx written, dgamma / dbeta accumulated.
void LayerNormBackwardRef(const float* dy, const float* x, const float* gamma, int64_t rows, int64_t h, double eps, float* dx,
                          float* dgamma, float* dbeta);

double ActivationRef(double x, Activation act);
double ActivationGradRef(double x, Activation act);

// Attention from its definition per (sequence, head): scores, masked softmax (uniform when no
// key), dropout with the same counter-based mask, weighted sum; and the backward of all that.
void AttentionForwardRef(const AttentionTrainArgs& a, std::vector<double>* probs, float* context);
void AttentionBackwardRef(const AttentionTrainArgs& a, float* dqkv);

void EmbeddingsBackwardRef(const float* d, const int32_t* ids, const int32_t* types, const int32_t* positions, int64_t tokens,
                           int64_t h, int64_t padding_idx, float* dword, float* dposition, float* dtype);

double CrossEntropyRef(const float* logits, int64_t rows, int64_t classes, const int32_t* labels, int32_t ignore_index, double scale,
                       std::vector<double>* dlogits);
double MseRef(const float* x, const float* y, int64_t n, double scale, std::vector<double>* dx);
double BceRef(const float* z, const float* y, int64_t n, double scale, std::vector<double>* dz);

void AdamWRef(std::vector<double>* p, const std::vector<double>& g, std::vector<double>* m, std::vector<double>* v,
              const AdamWArgs& a);

// The whole model in float64 (canonical parameter names), dropout with the given masks (same
// site / index conventions as TrainableModel), returning Hugging Face's loss.
struct RefDropout {
  double hidden = 0, attention = 0, classifier = 0;
  uint64_t seed = 0, counter = 0;
};
double ModelLossRef(const ModelConfig& config, const std::map<std::string, std::vector<double>>& params, const BatchInput& in,
                    const TrainLabels& labels, int64_t pad_token_id, const RefDropout& dropout);

}  // namespace bertkit::train::ref
