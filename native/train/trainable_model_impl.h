// The training engine's model, declared for the files that implement it: trainable_model.cc
// (parameters, loading, the optimizer step, the API), train_forward.cc (batch plan and encoder
// forward), train_heads.cc (pooler, heads, losses and their backward), train_backward.cc (the
// encoder's backward). Module and parameter names mirror transformers' modeling_bert.py.
//
// Memory: parameters, gradients and (from the first step) the two AdamW moments are four arenas
// with the same layout; query, key and value of a layer are adjacent ([3H, H] weights, [3H]
// biases) so the projection is one GEMM forward and backward. Activations saved for the backward
// and the backward's temporaries are carved from one grow-only arena per batch shape.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "core/batch_plan.h"
#include "core/bert_weights.h"
#include "cpu/cpu_features.h"
#include "cpu/gemm.h"
#include "cpu/thread_pool.h"
#include "train/train_gemm.h"
#include "train/train_kernels.h"
#include "train/trainable_model.h"

namespace bertkit::train::detail {

using cpu::AlignedFloats;

// BERTKIT_TRAIN_PROFILE=1: time per phase, printed to stderr every 10 calls (a diagnostic for
// the benchmarks; off, it costs one branch per phase).
struct Profile {
  bool on = std::getenv("BERTKIT_TRAIN_PROFILE") != nullptr;
  std::map<std::string, double> seconds;
  int calls = 0;
  int every = std::getenv("BERTKIT_TRAIN_PROFILE") ? std::max(1, std::atoi(std::getenv("BERTKIT_TRAIN_PROFILE"))) : 10;
  void Report() {
    if (!on || ++calls % every) return;
    const double total = seconds["(total gradients)"] + seconds["(total step)"];
    std::fprintf(stderr, "bertkit train profile (%d calls, %.3f s/call):\n", calls, total / calls);
    for (const auto& [k, v] : seconds) std::fprintf(stderr, "  %-22s %7.1f ms/call %5.1f%%\n", k.c_str(), v / calls * 1e3, 100 * v / total);
  }
};
inline Profile& Prof() {
  static Profile p;
  return p;
}
struct Phase {
  const char* name;
  std::chrono::steady_clock::time_point t0;
  explicit Phase(const char* n) : name(n) {
    if (Prof().on) t0 = std::chrono::steady_clock::now();
  }
  ~Phase() {
    if (Prof().on) Prof().seconds[name] += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  }
};
constexpr int32_t kIgnore = -100;
constexpr uint64_t kSiteClassifier = 1u << 20;  // the classifier dropout's mask

struct Linear {
  int64_t w = -1, b = -1;  // parameter offsets
  int64_t out = 0, in = 0;
};
struct Norm {
  int64_t g = -1, b = -1;
};
// Parameter offsets in the arenas (query, key and value adjacent: one [3H, H] projection).
using TrainWeights = BertWeights<int64_t, Linear, Norm>;
using Layer = TrainWeights::Layer;

// Saved activations of one layer.
struct LayerActs {
  float* qkv;
  float* probs;
  float* ctx;
  float* xhat1;
  float* rstd1;
  float* y1;
  float* u;
  float* act;
  float* xhat2;
  float* rstd2;
  float* y2;
};

// Everything one call carves from the arena (two passes over Prepare's layout: size, then carve).
struct Saved {
  float *emb_sum, *x0, *xhat_e, *rstd_e, *tmp;
  std::vector<LayerActs> L;
  float *first, *pooled, *pooled_drop, *seq_drop;
  // A sequence head's own dense layer: its input after the classifier dropout, its pre-activation.
  float *first_drop, *dense_u;
  // The embeddings at embedding_size before embeddings_project (ALBERT, ELECTRA), and its gradient.
  float *x0e, *dx0e;
  // The discriminator's dense layer on every token: pre-activation, activation, and its gradient.
  float *tok_u, *tok_act, *dtok;
  float *g_in, *t_u, *t_act, *t_xhat, *t_rstd, *t_y;  // MLM transform
  float *logits, *nsp_logits, *dlogits, *dnsp;
  float *dA, *dB, *dI, *dqkv, *dctx, *dpooled, *dfirst, *dt, *dt2;
  float *x_sel, *q_sel, *y_sel, *d_sel, *dq_sel;  // the last layer's kept rows
  float *gemm, *column, *attention;
};

// One call's shapes and options, shared by its forward, heads and loss, and backward.
struct Pass {
  const BatchInput* in = nullptr;
  const TrainLabels* labels = nullptr;  // null: a forward without loss
  GradientOptions options;
  bool backward = false;
  int64_t T = 0, B = 0;
  int64_t R = 0;           // MLM rows (BatchPlan::mlm_rows)
  int64_t head_width = 0;  // logits per row of the task head
  int64_t head_rows = 0;
  int64_t nsp_rows = 0;    // PreTraining's seq_relationship rows
  bool pooled_head = false;
  // The last layer runs on the kept rows only (keep_rows_, K of them) after its keys and values.
  bool prune = false;
  int64_t K = 0;
  float p_hidden = 0, p_attn = 0, p_cls = 0;
  uint64_t seed = 0, counter = 0;
  Saved p;
  AttentionTrainArgs aa;
  AttentionRowsArgs ra;  // the last layer's kept rows
  Linear q_part, kv_part;  // the last layer's query part and key | value part of the fused projection
  const float* last = nullptr;  // the last hidden state

  uint64_t Key(uint64_t site) const { return DropoutKey(seed, counter, site); }
};

class TrainableModelImpl final : public TrainableModel {
 public:
  TrainableModelImpl(const ModelConfig& config, const TrainOptions& options, int threads)
      : TrainableModel(config), pool_(threads), isa_(cpu::DetectIsa()), options_(options) {}

  Status Load(const std::vector<TensorView>& tensors);

  int64_t NumParameters() const override { return static_cast<int64_t>(params_.size()); }
  const ParameterInfo& Parameter(int64_t i) const override { return params_[i]; }
  int64_t FindParameter(const std::string& name) const override {
    auto it = by_name_.find(name);
    return it == by_name_.end() ? -1 : it->second;
  }

  Status ComputeGradients(const BatchInput& in, const TrainLabels& labels, const GradientOptions& options,
                          const TrainOutputs& outputs, LossParts* loss) override;
  Status Step(const OptimizerStep& step, StepResult* result) override;
  void ZeroGradients() override {
    std::lock_guard<std::mutex> lock(mu_);
    std::fill(grads_.data(), grads_.data() + grads_.size, 0.f);
  }
  Status Forward(const BatchInput& in, const ForwardOutputs& out) override;
  ModelInfo Info() const override;
  TrainInfo TrainingInfo() const override;

  Status ReadParameter(int64_t i, float* out, int64_t n) override { return Copy(i, n, [&](const ParameterInfo& p) { std::memcpy(out, params_data_.data() + p.offset, p.numel * 4); }); }
  Status WriteParameter(int64_t i, const float* in, int64_t n) override {
    return Copy(i, n, [&](const ParameterInfo& p) { std::memcpy(params_data_.data() + p.offset, in, p.numel * 4); });
  }
  Status ReadGradient(int64_t i, float* out, int64_t n) override {
    return Copy(i, n, [&](const ParameterInfo& p) { std::memcpy(out, grads_.data() + p.offset, p.numel * 4); });
  }
  Status ReadOptimizerState(int64_t i, float* m, float* v, int64_t n) override {
    return Copy(i, n, [&](const ParameterInfo& p) {
      if (exp_avg_.size == 0) {
        std::fill(m, m + p.numel, 0.f);
        std::fill(v, v + p.numel, 0.f);
      } else {
        std::memcpy(m, exp_avg_.data() + p.offset, p.numel * 4);
        std::memcpy(v, exp_avg_sq_.data() + p.offset, p.numel * 4);
      }
    });
  }
  Status WriteOptimizerState(int64_t i, const float* m, const float* v, int64_t n) override {
    {
      std::lock_guard<std::mutex> lock(mu_);
      BK_RETURN_IF_ERROR(EnsureMoments());
    }
    return Copy(i, n, [&](const ParameterInfo& p) {
      std::memcpy(exp_avg_.data() + p.offset, m, p.numel * 4);
      std::memcpy(exp_avg_sq_.data() + p.offset, v, p.numel * 4);
    });
  }
  int64_t OptimizerSteps() const override { return steps_; }
  void SetOptimizerSteps(int64_t steps) override { steps_ = steps; }
  void SetDropout(float hidden, float attention, float classifier) override {
    std::lock_guard<std::mutex> lock(mu_);
    options_.hidden_dropout_prob = hidden;
    options_.attention_probs_dropout_prob = attention;
    options_.classifier_dropout_prob = classifier;
  }
  void SetRngState(uint64_t seed, uint64_t counter) override {
    std::lock_guard<std::mutex> lock(mu_);
    options_.seed = seed;
    rng_counter_ = counter;
  }
  void GetRngState(uint64_t* seed, uint64_t* counter) const override {
    *seed = options_.seed;
    *counter = rng_counter_;
  }

 private:
  template <class F>
  Status Copy(int64_t i, int64_t n, F&& f) {
    std::lock_guard<std::mutex> lock(mu_);
    if (i < 0 || i >= NumParameters()) return InvalidArgument("no parameter " + std::to_string(i));
    const ParameterInfo& p = params_[i];
    if (n != p.numel)
      return InvalidArgument(p.name + " has " + std::to_string(p.numel) + " values, the buffer " + std::to_string(n));
    f(p);
    return Status::Ok();
  }

  Status EnsureMoments() {
    if (exp_avg_.size == grads_.size) return Status::Ok();
    if (!exp_avg_.Allocate(grads_.size) || !exp_avg_sq_.Allocate(grads_.size))
      return Status(StatusCode::kOutOfMemory, "out of memory for the AdamW moments");
    std::fill(exp_avg_.data(), exp_avg_.data() + exp_avg_.size, 0.f);
    std::fill(exp_avg_sq_.data(), exp_avg_sq_.data() + exp_avg_sq_.size, 0.f);
    return Status::Ok();
  }

  float* P(int64_t off) { return params_data_.data() + off; }
  float* G(int64_t off) { return grads_.data() + off; }

  Status ValidateLabels(const BatchInput& in, const TrainLabels& labels) const;
  // One forward (activations saved), the outputs asked for, and with labels the loss and (when
  // options.backward) the backward: Prepare, EncoderForward, HeadsForward, WriteOutputs, Loss,
  // HeadsBackward, EncoderBackward. `all_mlm_rows`: the MLM head runs on every token, not only
  // the labelled ones.
  Status Run(const BatchInput& in, const TrainLabels* labels, const GradientOptions& options, bool all_mlm_rows,
             LossParts* loss, const TrainOutputs* train_out, const ForwardOutputs* fwd_out);

  // train_forward.cc: the batch plan, the rows the last layer keeps, the arena carved for them,
  // then embeddings and layers.
  void Prepare(const BatchInput& in, const TrainLabels* labels, const GradientOptions& options, bool all_mlm_rows,
               bool wants_every_row, Pass* ps);
  void EncoderForward(Pass& ps);
  void HiddenDropout(Pass& ps, float* x, int64_t M, const int64_t* rows, uint64_t key);
  void PostAttentionForward(Pass& ps, int64_t l, int64_t M, const int64_t* rows, const float* res, float* out);
  // train_heads.cc: pooler and head, outputs, loss and d loss / d logits, the heads' backward
  // down to d loss / d last hidden state.
  void HeadsForward(Pass& ps);
  void WriteOutputs(const Pass& ps, const TrainOutputs* train_out, const ForwardOutputs* fwd_out);
  LossParts Loss(Pass& ps);
  void HeadsBackward(Pass& ps);
  // train_backward.cc: the layers last to first, then the embeddings.
  void EncoderBackward(Pass& ps);
  void PostAttentionBackward(Pass& ps, int64_t l, int64_t M, const int64_t* rows, float* d);

  // y[m, out] = x[m, in] . W^T + b
  void LinearFwd(const float* x, int64_t m, const Linear& l, float* y, const ActivationEpilogue& ep = {}) {
    Phase ph("gemm forward");
    LinearForward(x, m, l.in, P(l.w), l.out, P(l.b), y, isa_, &pool_, gemm_scratch_, ep);
  }
  // dW += dy^T x, db += colsum(dy), dx (+)= dy W (dx may be null)
  void LinearBwd(const float* dy, int64_t m, const Linear& l, const float* x, float* dx, bool accumulate_dx,
                 const ActivationEpilogue& ep = {}) {
    {
      Phase ph("gemm weight grad");
      LinearBackwardWeight(dy, m, l.out, x, l.in, G(l.w), isa_, &pool_, gemm_scratch_);
    }
    {
      Phase ph("bias grad");
      ColumnSumAccumulate(dy, m, l.out, l.out, G(l.b), &pool_, column_scratch_);
    }
    Phase ph("gemm input grad");
    if (dx != nullptr) LinearBackwardInput(dy, m, l.out, P(l.w), l.in, dx, accumulate_dx, isa_, &pool_, gemm_scratch_, ep);
  }

  cpu::ThreadPool pool_;
  cpu::Isa isa_;
  TrainOptions options_;
  std::mutex mu_;

  std::vector<ParameterInfo> params_;
  std::map<std::string, int64_t> by_name_;
  AlignedFloats params_data_, grads_, exp_avg_, exp_avg_sq_;
  int64_t steps_ = 0;
  uint64_t rng_counter_ = 0;

  // The decoder's weight is the word embeddings when tied; `head` is HeadSpec::linear.
  TrainWeights w_;

  AlignedFloats arena_;
  float* gemm_scratch_ = nullptr;
  float* column_scratch_ = nullptr;
  BatchPlan plan_;
  std::vector<int32_t> mlm_labels_;
  std::vector<int64_t> keep_rows_;
};

}  // namespace bertkit::train::detail
