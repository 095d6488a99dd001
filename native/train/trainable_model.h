// The training engine: a BERT (every head of engine.h's Architecture) whose parameters are plain
// row-major float32 arrays with Hugging Face's names, one gradient array per parameter, and AdamW
// moments. FasterTransformer-style tiers: kernels (train_gemm.h, train_kernels.h), this model
// composing them layer by layer with the activations its backward needs kept in one arena.
//
// Separate from the inference engine (cpu_model.cc), whose packed / reduced-precision weights
// are tuned for forwards only. Everything reports failures through Status, never aborts.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "bertkit/engine.h"

namespace bertkit::train {

// config.problem_type of BertForSequenceClassification.
enum class ProblemType : int { kSingleLabel = 0, kRegression, kMultiLabel };
bool ParseProblemType(std::string_view name, ProblemType* out);

struct TrainOptions {
  int threads = 0;                       // 0 = every core this process may use
  int64_t pad_token_id = -1;             // nn.Embedding padding_idx of the word embeddings (-1: none)
  float hidden_dropout_prob = 0.f;       // embeddings, attention output, FFN output
  float attention_probs_dropout_prob = 0.f;
  float classifier_dropout_prob = 0.f;   // before the classifier (classifier_dropout ?? hidden_dropout_prob)
  uint64_t seed = 0;                     // dropout stream
};

// Labels in the packed layout of the batch (T tokens, B sequences). Which fields an architecture
// needs: sequence classification labels [B] (single label) or float_labels [B * num_labels]
// (regression, multi-label); multiple choice labels [B / num_choices]; token classification and
// MLM labels [T]; QA start/end_positions [B]; NSP labels [B]; PreTraining labels [T] and
// next_sentence_label [B]. Class labels equal to -100 are ignored, as CrossEntropyLoss does.
struct TrainLabels {
  const int32_t* labels = nullptr;
  int64_t labels_size = 0;
  const float* float_labels = nullptr;
  int64_t float_labels_size = 0;
  const int32_t* start_positions = nullptr;
  const int32_t* end_positions = nullptr;
  int64_t positions_size = 0;
  const int32_t* next_sentence_label = nullptr;
  int64_t next_sentence_label_size = 0;
  ProblemType problem_type = ProblemType::kSingleLabel;
  int64_t num_choices = 0;  // BertForMultipleChoice: sequences per example
};

struct GradientOptions {
  float loss_scale = 1.f;   // gradients of loss_scale * loss (1 / steps for gradient accumulation)
  bool accumulate = false;  // add to the gradients held; otherwise they are zeroed first
  bool training = true;     // dropout on, with the model's probabilities
  bool backward = true;     // false: forward and loss only (evaluation); the gradients are untouched
  // Run the last layer only on the rows the head reads when that is at most half the batch (see
  // trainable_model.cc); false runs it on every row (the tests compare the two).
  bool last_layer_head_rows = true;
};

// Optional outputs of ComputeGradients (packed, as ForwardOutputs). Asking for MLM logits makes
// the MLM head run on every token; without, it runs only on the tokens that carry a label.
struct TrainOutputs {
  OutputBuffer logits;
  OutputBuffer prediction_logits;
  OutputBuffer seq_relationship_logits;
  OutputBuffer start_logits;
  OutputBuffer end_logits;
};

struct LossParts {
  double loss = 0;  // what Hugging Face's `out.loss` is
  double mlm_loss = 0, nsp_loss = 0;  // PreTraining's two terms
};

// One optimizer step: clip by global norm, then torch.optim.AdamW on every parameter. The
// clipping coefficient scales the gradient inside AdamW, so the gradients held keep their
// unclipped values afterwards (torch rewrites them in place; both are zeroed before the next use).
struct OptimizerStep {
  double lr = 0;
  double beta1 = 0.9, beta2 = 0.999, eps = 1e-8;
  double weight_decay = 0;
  const uint8_t* no_decay = nullptr;  // [NumParameters()], 1 = weight decay 0 for that parameter (or null)
  int64_t no_decay_size = 0;
  double max_grad_norm = 0;           // <= 0: no clipping
};
struct StepResult {
  double grad_norm = 0;   // before clipping
  double clip_coef = 1;
  int64_t step = 0;       // optimizer steps taken, this one included
  bool applied = false;   // false when the gradient norm is not finite (nothing changed)
};

struct ParameterInfo {
  std::string name;  // canonical (engine.h) name
  std::vector<int64_t> dims;
  int64_t numel = 0;
  int64_t offset = 0;  // in the parameter / gradient / moment arenas
};

struct TrainInfo {
  std::string isa;
  int threads = 0;
  int64_t parameters = 0;        // scalars
  int64_t weight_bytes = 0;
  int64_t gradient_bytes = 0;
  int64_t optimizer_bytes = 0;   // AdamW moments (allocated at the first step)
  int64_t activation_bytes = 0;  // the arena: saved activations, backward temporaries, scratch
};

class TrainableModel : public Model {
 public:
  ~TrainableModel() override = default;

  virtual int64_t NumParameters() const = 0;
  virtual const ParameterInfo& Parameter(int64_t i) const = 0;
  virtual int64_t FindParameter(const std::string& name) const = 0;  // -1 when absent

  // Forward (saving activations), loss, backward into the gradients.
  virtual Status ComputeGradients(const BatchInput& in, const TrainLabels& labels, const GradientOptions& options,
                                  const TrainOutputs& outputs, LossParts* loss) = 0;
  virtual Status Step(const OptimizerStep& step, StepResult* result) = 0;
  virtual void ZeroGradients() = 0;

  virtual Status ReadParameter(int64_t i, float* out, int64_t n) = 0;
  virtual Status WriteParameter(int64_t i, const float* in, int64_t n) = 0;
  virtual Status ReadGradient(int64_t i, float* out, int64_t n) = 0;
  // AdamW moments (zeros before the first step).
  virtual Status ReadOptimizerState(int64_t i, float* exp_avg, float* exp_avg_sq, int64_t n) = 0;
  virtual Status WriteOptimizerState(int64_t i, const float* exp_avg, const float* exp_avg_sq, int64_t n) = 0;
  virtual int64_t OptimizerSteps() const = 0;
  virtual void SetOptimizerSteps(int64_t steps) = 0;

  virtual void SetDropout(float hidden, float attention, float classifier) = 0;
  virtual void SetRngState(uint64_t seed, uint64_t counter) = 0;
  virtual void GetRngState(uint64_t* seed, uint64_t* counter) const = 0;

  virtual TrainInfo TrainingInfo() const = 0;

 protected:
  explicit TrainableModel(const ModelConfig& config) : Model(config) {}
};

// Validates config and tensors as CreateCpuModel does, then copies them to float32.
Status CreateTrainableModel(const ModelConfig& config, const std::vector<TensorView>& tensors, const TrainOptions& options,
                            std::unique_ptr<TrainableModel>* out);

}  // namespace bertkit::train
