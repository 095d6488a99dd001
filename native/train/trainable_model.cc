// The BERT graph for training. Module and parameter names mirror transformers' modeling_bert.py
// (BertEmbeddings, BertLayer = attention.self / attention.output / intermediate / output,
// BertPooler, the heads), and so does every loss (see the table in
// shared/fixtures/training/README.md): CrossEntropyLoss with ignore_index -100, MSELoss after
// squeeze, BCEWithLogitsLoss, QA's clamp to [0, L] with L ignored, PreTraining = MLM + NSP.
//
// Memory: parameters, gradients and (from the first step) the two AdamW moments are four arenas
// with the same layout; query, key and value of a layer are adjacent ([3H, H] weights, [3H]
// biases) so the projection is one GEMM forward and backward. Activations saved for the backward
// and the backward's temporaries are carved from one grow-only arena per batch shape.
//
// Work: only real tokens are packed (no padding computed), and the last layer runs its queries,
// attention, dense layers and their backward only on the rows its head reads when those are few
// (pooled heads, MLM; see Run), which changes no result.
#include "train/trainable_model.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <map>
#include <mutex>
#include <new>
#include <system_error>

#include "core/weight_reader.h"
#include "cpu/cpu_features.h"
#include "cpu/gemm.h"
#include "cpu/thread_pool.h"
#include "train/train_gemm.h"
#include "train/train_kernels.h"

namespace bertkit::train {

bool ParseProblemType(std::string_view name, ProblemType* out) {
  if (name == "single_label_classification") *out = ProblemType::kSingleLabel;
  else if (name == "regression") *out = ProblemType::kRegression;
  else if (name == "multi_label_classification") *out = ProblemType::kMultiLabel;
  else return false;
  return true;
}

namespace {

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
Profile& Prof() {
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
constexpr uint64_t kSiteClassifier = 1u << 20;


struct Linear {
  int64_t w = -1, b = -1;  // parameter offsets
  int64_t out = 0, in = 0;
};
struct Norm {
  int64_t g = -1, b = -1;
};
struct Layer {
  Linear qkv;  // query | key | value, adjacent
  Linear attention_output;
  Norm attention_ln;
  Linear intermediate;
  Linear output;
  Norm output_ln;
};

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
  // The forward with saved activations; `head_rows` = MLM rows to run (all when `all_rows`).
  Status Run(const BatchInput& in, const TrainLabels* labels, const GradientOptions& options, bool all_mlm_rows,
             LossParts* loss, const TrainOutputs* train_out, const ForwardOutputs* fwd_out);

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

  int64_t word_ = -1, position_ = -1, token_type_ = -1;
  Norm embeddings_ln_;
  std::vector<Layer> layers_;
  Linear pooler_;
  Linear transform_;
  Norm transform_ln_;
  int64_t decoder_w_ = -1;  // the word embeddings when tied
  int64_t decoder_b_ = -1;  // cls.predictions.bias
  Linear seq_relationship_;
  Linear classifier_;
  Linear qa_;

  AlignedFloats arena_;
  float* gemm_scratch_ = nullptr;
  float* column_scratch_ = nullptr;
  std::vector<int32_t> positions_;
  std::vector<int64_t> probs_offsets_;
  std::vector<int64_t> mlm_rows_;
  std::vector<int32_t> mlm_labels_;
  std::vector<int64_t> keep_rows_;
};

Status TrainableModelImpl::Load(const std::vector<TensorView>& tensors) {
  const ModelConfig& c = config_;
  WeightReader reader(tensors);
  BK_RETURN_IF_ERROR(reader.Validate(c));
  const auto expected = ExpectedTensors(c);
  std::map<std::string, std::vector<int64_t>> dims;
  for (const auto& [name, d] : expected) dims[name] = d;

  // Layout: q/k/v weights back to back, then q/k/v biases back to back; every other tensor on
  // its own; each group starts on a 64-byte boundary.
  int64_t total = 0;
  std::map<std::string, int64_t> offset;
  auto place_group = [&](const std::vector<std::string>& names) {
    total = (total + 15) / 16 * 16;
    for (const auto& n : names) {
      offset[n] = total;
      int64_t numel = 1;
      for (int64_t d : dims.at(n)) numel *= d;
      total += numel;
    }
  };
  for (const auto& [name, d] : expected) {
    if (offset.count(name)) continue;
    const auto pos = name.find("attention.self.");
    if (pos != std::string::npos) {
      const std::string prefix = name.substr(0, pos + 15);
      place_group({prefix + "query.weight", prefix + "key.weight", prefix + "value.weight"});
      place_group({prefix + "query.bias", prefix + "key.bias", prefix + "value.bias"});
      continue;
    }
    place_group({name});
  }
  total = (total + 15) / 16 * 16;
  if (!params_data_.Allocate(total) || !grads_.Allocate(total))
    return Status(StatusCode::kOutOfMemory, "out of memory for the parameters and their gradients");
  std::fill(params_data_.data(), params_data_.data() + total, 0.f);
  std::fill(grads_.data(), grads_.data() + total, 0.f);
  for (const auto& [name, d] : expected) {
    ParameterInfo p;
    p.name = name;
    p.dims = d;
    p.numel = 1;
    for (int64_t x : d) p.numel *= x;
    p.offset = offset.at(name);
    by_name_[name] = static_cast<int64_t>(params_.size());
    params_.push_back(p);
    BK_RETURN_IF_ERROR(reader.ReadF32(name, params_data_.data() + p.offset));
  }

  const int64_t H = c.hidden_size, I = c.intermediate_size;
  auto lin = [&](const std::string& n, int64_t out, int64_t in) {
    Linear l;
    l.w = offset.at(n + ".weight");
    l.b = offset.at(n + ".bias");
    l.out = out;
    l.in = in;
    return l;
  };
  auto norm = [&](const std::string& n) { return Norm{offset.at(n + ".weight"), offset.at(n + ".bias")}; };
  word_ = offset.at("embeddings.word_embeddings.weight");
  position_ = offset.at("embeddings.position_embeddings.weight");
  token_type_ = offset.at("embeddings.token_type_embeddings.weight");
  embeddings_ln_ = norm("embeddings.LayerNorm");
  layers_.resize(c.num_hidden_layers);
  for (int64_t i = 0; i < c.num_hidden_layers; ++i) {
    const std::string p = "encoder.layer." + std::to_string(i) + ".";
    Layer& L = layers_[i];
    L.qkv = lin(p + "attention.self.query", 3 * H, H);
    L.attention_output = lin(p + "attention.output.dense", H, H);
    L.attention_ln = norm(p + "attention.output.LayerNorm");
    L.intermediate = lin(p + "intermediate.dense", I, H);
    L.output = lin(p + "output.dense", H, I);
    L.output_ln = norm(p + "output.LayerNorm");
  }
  if (offset.count("pooler.dense.weight")) pooler_ = lin("pooler.dense", H, H);
  if (UsesMlmHead(c)) {
    transform_ = lin("cls.predictions.transform.dense", H, H);
    transform_ln_ = norm("cls.predictions.transform.LayerNorm");
    decoder_w_ = c.tie_word_embeddings ? word_ : offset.at("cls.predictions.decoder.weight");
    decoder_b_ = offset.at("cls.predictions.bias");
  }
  if (offset.count("cls.seq_relationship.weight")) seq_relationship_ = lin("cls.seq_relationship", 2, H);
  if (offset.count("classifier.weight")) {
    classifier_ = lin("classifier", c.architecture == Architecture::kBertForMultipleChoice ? 1 : c.num_labels, H);
  }
  if (offset.count("qa_outputs.weight")) qa_ = lin("qa_outputs", 2, H);
  return Status::Ok();
}

Status TrainableModelImpl::ValidateLabels(const BatchInput& in, const TrainLabels& lb) const {
  const ModelConfig& c = config_;
  const int64_t T = in.num_tokens, B = in.num_sequences;
  auto need = [](bool ok, const std::string& what) { return ok ? Status::Ok() : InvalidArgument(what); };
  auto classes = [&](const int32_t* v, int64_t n, int64_t k, const char* what) -> Status {
    for (int64_t i = 0; i < n; ++i) {
      if (v[i] != kIgnore && (v[i] < 0 || v[i] >= k)) {
        return OutOfRange(std::string(what) + " " + std::to_string(v[i]) + " at index " + std::to_string(i) +
                          " is outside [0, " + std::to_string(k) + ") (and is not -100, the ignored label)");
      }
    }
    return Status::Ok();
  };
  auto sized = [&](const int32_t* v, int64_t have, int64_t want, const char* what) -> Status {
    if (v == nullptr) return InvalidArgument(std::string(ArchitectureName(c.architecture)) + " needs " + what);
    if (have != want)
      return InvalidArgument(std::string(what) + " has " + std::to_string(have) + " entries, the batch needs " + std::to_string(want));
    return Status::Ok();
  };
  switch (c.architecture) {
    case Architecture::kBertModel: return InvalidArgument("BertModel has no head and no loss: train a task architecture");
    case Architecture::kBertForSequenceClassification:
      if (lb.problem_type == ProblemType::kSingleLabel) {
        BK_RETURN_IF_ERROR(sized(lb.labels, lb.labels_size, B, "labels"));
        return classes(lb.labels, B, c.num_labels, "label");
      }
      BK_RETURN_IF_ERROR(need(lb.float_labels != nullptr, "regression / multi-label classification needs float labels"));
      BK_RETURN_IF_ERROR(need(lb.float_labels_size == B * c.num_labels,
                              "float labels have " + std::to_string(lb.float_labels_size) + " values, the batch needs " +
                                  std::to_string(B * c.num_labels) + " (batch x num_labels)"));
      for (int64_t i = 0; i < lb.float_labels_size; ++i)
        if (!std::isfinite(lb.float_labels[i])) return OutOfRange("float label " + std::to_string(i) + " is not finite");
      return Status::Ok();
    case Architecture::kBertForMultipleChoice: {
      if (lb.num_choices < 1 || B % lb.num_choices != 0)
        return InvalidArgument("multiple choice: " + std::to_string(B) + " sequences are not a whole number of examples of " +
                               std::to_string(lb.num_choices) + " choices");
      BK_RETURN_IF_ERROR(sized(lb.labels, lb.labels_size, B / lb.num_choices, "labels"));
      return classes(lb.labels, B / lb.num_choices, lb.num_choices, "label");
    }
    case Architecture::kBertForTokenClassification:
      BK_RETURN_IF_ERROR(sized(lb.labels, lb.labels_size, T, "labels"));
      return classes(lb.labels, T, c.num_labels, "label");
    case Architecture::kBertForMaskedLM:
      BK_RETURN_IF_ERROR(sized(lb.labels, lb.labels_size, T, "labels"));
      return classes(lb.labels, T, c.vocab_size, "label");
    case Architecture::kBertForNextSentencePrediction:
      BK_RETURN_IF_ERROR(sized(lb.labels, lb.labels_size, B, "labels"));
      return classes(lb.labels, B, 2, "label");
    case Architecture::kBertForPreTraining:
      BK_RETURN_IF_ERROR(sized(lb.labels, lb.labels_size, T, "labels"));
      BK_RETURN_IF_ERROR(classes(lb.labels, T, c.vocab_size, "label"));
      BK_RETURN_IF_ERROR(sized(lb.next_sentence_label, lb.next_sentence_label_size, B, "next_sentence_label"));
      return classes(lb.next_sentence_label, B, 2, "next_sentence_label");
    case Architecture::kBertForQuestionAnswering:
      BK_RETURN_IF_ERROR(sized(lb.start_positions, lb.positions_size, B, "start_positions"));
      return sized(lb.end_positions, lb.positions_size, B, "end_positions");
  }
  return Status::Ok();
}

Status TrainableModelImpl::ComputeGradients(const BatchInput& in, const TrainLabels& labels, const GradientOptions& options,
                                            const TrainOutputs& outputs, LossParts* loss) {
  std::lock_guard<std::mutex> lock(mu_);
  try {
    BK_RETURN_IF_ERROR(ValidateInput(in));
    if (in.logits_tokens != nullptr) return InvalidArgument("logits_tokens selects forward outputs; training batches take labels");
    BK_RETURN_IF_ERROR(ValidateLabels(in, labels));
    if (!std::isfinite(options.loss_scale)) return InvalidArgument("loss_scale must be finite");
    const bool all_rows = outputs.logits.data != nullptr || outputs.prediction_logits.data != nullptr;
    Status s;
    {
      Phase ph("(total gradients)");
      s = Run(in, &labels, options, all_rows, loss, &outputs, nullptr);
    }
    if (options.training) ++rng_counter_;
    return s;
  } catch (const std::bad_alloc&) {
    return Status(StatusCode::kOutOfMemory, "out of memory for the activations of this batch");
  } catch (const std::exception& e) {
    return Internal(e.what());
  }
}

Status TrainableModelImpl::Forward(const BatchInput& in, const ForwardOutputs& out) {
  std::lock_guard<std::mutex> lock(mu_);
  try {
    BK_RETURN_IF_ERROR(ValidateInput(in));
    GradientOptions o;
    o.training = false;
    return Run(in, nullptr, o, true, nullptr, nullptr, &out);
  } catch (const std::bad_alloc&) {
    return Status(StatusCode::kOutOfMemory, "out of memory for the activations of this batch");
  } catch (const std::exception& e) {
    return Internal(e.what());
  }
}

Status TrainableModelImpl::Run(const BatchInput& in, const TrainLabels* labels, const GradientOptions& options,
                               bool all_mlm_rows, LossParts* loss_out, const TrainOutputs* train_out,
                               const ForwardOutputs* fwd_out) {
  const ModelConfig& c = config_;
  const Architecture arch = c.architecture;
  const int64_t T = in.num_tokens, B = in.num_sequences, H = c.hidden_size, I = c.intermediate_size, V = c.vocab_size;
  const int64_t NL = c.num_hidden_layers;
  const int heads = static_cast<int>(c.num_attention_heads);
  const int head_dim = static_cast<int>(H / heads);
  const float eps = static_cast<float>(c.layer_norm_eps);
  const bool with_loss = labels != nullptr;
  const bool backward = with_loss && options.backward;
  const float p_hidden = options.training ? options_.hidden_dropout_prob : 0.f;
  const float p_attn = options.training ? options_.attention_probs_dropout_prob : 0.f;
  const float p_cls = options.training ? options_.classifier_dropout_prob : 0.f;
  const uint64_t seed = options_.seed, counter = rng_counter_;
  auto key = [&](uint64_t site) { return DropoutKey(seed, counter, site); };

  if (fwd_out != nullptr) {
    const OutputSizes sizes = Sizes(in);
    struct Check {
      const char* name;
      const OutputBuffer& buf;
      int64_t size;
    };
    const Check checks[] = {
        {"last_hidden_state", fwd_out->last_hidden_state, sizes.last_hidden_state},
        {"pooler_output", fwd_out->pooler_output, sizes.pooler_output},
        {"logits", fwd_out->logits, sizes.logits},
        {"prediction_logits", fwd_out->prediction_logits, sizes.prediction_logits},
        {"seq_relationship_logits", fwd_out->seq_relationship_logits, sizes.seq_relationship_logits},
        {"start_logits", fwd_out->start_logits, sizes.start_logits},
        {"end_logits", fwd_out->end_logits, sizes.end_logits},
        {"hidden_states", fwd_out->hidden_states, sizes.hidden_states},
        {"attentions", fwd_out->attentions, sizes.attentions},
    };
    for (const auto& ch : checks) {
      if (ch.buf.data == nullptr) continue;
      if (ch.size == 0) return InvalidArgument(std::string(ArchitectureName(arch)) + " has no output " + ch.name);
      if (ch.buf.size != ch.size)
        return InvalidArgument(std::string("output buffer ") + ch.name + " holds " + std::to_string(ch.buf.size) +
                               " floats, the batch needs " + std::to_string(ch.size));
    }
  }
  if (train_out != nullptr) {
    const OutputSizes sizes = Sizes(in);
    auto check = [&](const OutputBuffer& b, int64_t size, const char* name) -> Status {
      if (b.data == nullptr) return Status::Ok();
      if (size == 0) return InvalidArgument(std::string(ArchitectureName(arch)) + " has no output " + name);
      if (b.size != size)
        return InvalidArgument(std::string("output buffer ") + name + " holds " + std::to_string(b.size) + " floats, the batch needs " +
                               std::to_string(size));
      return Status::Ok();
    };
    BK_RETURN_IF_ERROR(check(train_out->logits, sizes.logits, "logits"));
    BK_RETURN_IF_ERROR(check(train_out->prediction_logits, sizes.prediction_logits, "prediction_logits"));
    BK_RETURN_IF_ERROR(check(train_out->seq_relationship_logits, sizes.seq_relationship_logits, "seq_relationship_logits"));
    BK_RETURN_IF_ERROR(check(train_out->start_logits, sizes.start_logits, "start_logits"));
    BK_RETURN_IF_ERROR(check(train_out->end_logits, sizes.end_logits, "end_logits"));
  }

  int64_t max_len = 0;
  for (int64_t s = 0; s < B; ++s) max_len = std::max<int64_t>(max_len, in.cu_seqlens[s + 1] - in.cu_seqlens[s]);
  const int32_t* position_ids = in.position_ids;
  if (position_ids == nullptr) {
    positions_.resize(T);
    for (int64_t s = 0; s < B; ++s)
      for (int32_t t = in.cu_seqlens[s]; t < in.cu_seqlens[s + 1]; ++t) positions_[t] = t - in.cu_seqlens[s];
    position_ids = positions_.data();
  }
  probs_offsets_.resize(B);
  int64_t probs_per_layer = 0;
  for (int64_t s = 0; s < B; ++s) {
    probs_offsets_[s] = probs_per_layer;
    const int64_t n = in.cu_seqlens[s + 1] - in.cu_seqlens[s];
    probs_per_layer += heads * n * n;
  }

  // MLM rows: every token, or those with a label.
  const bool mlm = UsesMlmHead(c);
  int64_t R = 0;
  if (mlm) {
    mlm_rows_.clear();
    mlm_labels_.clear();
    if (labels == nullptr && in.logits_tokens != nullptr) {
      // A forward asking for the MLM logits of some tokens only (fill-mask), in its order.
      for (int64_t i = 0; i < in.num_logits_tokens; ++i) {
        mlm_rows_.push_back(in.logits_tokens[i]);
        mlm_labels_.push_back(kIgnore);
      }
    } else {
      for (int64_t t = 0; t < T; ++t) {
        const int32_t l = labels ? labels->labels[t] : kIgnore;
        if (all_mlm_rows || l != kIgnore) {
          mlm_rows_.push_back(t);
          mlm_labels_.push_back(l);
        }
      }
    }
    R = static_cast<int64_t>(mlm_rows_.size());
  }
  const bool pooled_head = UsesPooler(c) && pooler_.w >= 0;
  int64_t head_width = 0;  // logits per row of the task head
  int64_t head_rows = 0;
  switch (arch) {
    case Architecture::kBertForSequenceClassification: head_width = c.num_labels; head_rows = B; break;
    case Architecture::kBertForMultipleChoice: head_width = 1; head_rows = B; break;
    case Architecture::kBertForNextSentencePrediction: head_width = 2; head_rows = B; break;
    case Architecture::kBertForTokenClassification: head_width = c.num_labels; head_rows = T; break;
    case Architecture::kBertForQuestionAnswering: head_width = 2; head_rows = T; break;
    case Architecture::kBertForMaskedLM: head_width = V; head_rows = R; break;
    case Architecture::kBertForPreTraining: head_width = V; head_rows = R; break;
    case Architecture::kBertModel: break;
  }
  const int64_t nsp_rows = arch == Architecture::kBertForPreTraining ? B : 0;

  // Rows of the last layer's output that anything reads. A pooled head reads each sequence's
  // first token and MLM its labelled tokens; when that is at most half the batch, the last layer
  // computes keys and values for every token but its queries, attention output, FFN and their
  // backward for those rows only. Same loss, logits and gradients (rows are independent after
  // attention, and the dropout masks are indexed by token), ~1/12 less work on BERT-base.
  std::vector<int64_t>& keep = keep_rows_;
  keep.clear();
  const bool wants_every_row =
      fwd_out != nullptr && (fwd_out->last_hidden_state.data || fwd_out->hidden_states.data || fwd_out->attentions.data);
  if (NL > 0 && options.last_layer_head_rows && !wants_every_row) {
    const bool pooled_only = arch == Architecture::kBertForSequenceClassification || arch == Architecture::kBertForMultipleChoice ||
                             arch == Architecture::kBertForNextSentencePrediction;
    const bool mlm_head = arch == Architecture::kBertForMaskedLM || arch == Architecture::kBertForPreTraining;
    if ((pooled_only && pooled_head) || mlm_head) {
      if (pooled_head)
        for (int64_t s = 0; s < B; ++s) keep.push_back(in.cu_seqlens[s]);
      for (int64_t r = 0; r < R; ++r) keep.push_back(mlm_rows_[r]);
      std::sort(keep.begin(), keep.end());
      keep.erase(std::unique(keep.begin(), keep.end()), keep.end());
    }
  }
  const bool prune = !keep.empty() && 2 * static_cast<int64_t>(keep.size()) <= T;
  const int64_t K = prune ? static_cast<int64_t>(keep.size()) : T;  // rows of the last layer after its keys and values

  // ---- arena layout (two passes: size, then carve) ----
  struct Plan {
    float *emb_sum, *x0, *xhat_e, *rstd_e, *tmp;
    std::vector<LayerActs> L;
    float *first, *pooled, *pooled_drop, *seq_drop;
    float *g_in, *t_u, *t_act, *t_xhat, *t_rstd, *t_y;  // MLM transform
    float *logits, *nsp_logits, *dlogits, *dnsp;
    float *dA, *dB, *dI, *dqkv, *dctx, *dpooled, *dfirst, *dt, *dt2;
    float *x_sel, *q_sel, *y_sel, *d_sel, *dq_sel;  // the last layer's kept rows
    float *gemm, *column, *attention;
  } p;
  p.L.resize(NL);
  int64_t used = 0;
  float* base = nullptr;
  auto take = [&](int64_t n) -> float* {
    float* r = base ? base + used : nullptr;
    used += (std::max<int64_t>(n, 1) + 15) / 16 * 16;
    return r;
  };
  const int64_t column_rows = std::max<int64_t>({T, B, R, 1});
  const int64_t column_cols = std::max<int64_t>({3 * H, I, 2 * H, mlm ? V : 0, head_width, 2});
  for (int pass = 0; pass < 2; ++pass) {
    used = 0;
    p.emb_sum = take(T * H);
    p.tmp = p.emb_sum;  // the embedding sum is dead once normalized
    p.x0 = take(T * H);
    p.xhat_e = take(T * H);
    p.rstd_e = take(T);
    for (int64_t l = 0; l < NL; ++l) {
      LayerActs& a = p.L[l];
      const int64_t rows = l == NL - 1 ? K : T;  // the pruned last layer: kept rows after keys and values
      a.qkv = take(T * 3 * H);
      a.probs = take(prune && l == NL - 1 ? K * heads * max_len : probs_per_layer);
      a.ctx = take(rows * H);
      a.xhat1 = take(rows * H);
      a.rstd1 = take(rows);
      a.y1 = take(rows * H);
      a.u = take(rows * I);
      a.act = take(rows * I);
      a.xhat2 = take(rows * H);
      a.rstd2 = take(rows);
      a.y2 = take(T * H);  // scattered back to token rows: the heads read it by token
    }
    p.x_sel = take(prune ? K * H : 0);
    p.q_sel = take(prune ? K * H : 0);
    p.y_sel = take(prune ? K * H : 0);
    p.first = take(pooled_head ? B * H : 0);
    p.pooled = take(pooled_head ? B * H : 0);
    p.pooled_drop = take(pooled_head ? B * H : 0);
    p.seq_drop = take(arch == Architecture::kBertForTokenClassification ? T * H : 0);
    p.g_in = take(R * H);
    p.t_u = take(R * H);
    p.t_act = take(R * H);
    p.t_xhat = take(R * H);
    p.t_rstd = take(R);
    p.t_y = take(R * H);
    p.logits = take(head_rows * head_width);
    p.nsp_logits = take(nsp_rows * 2);
    if (with_loss) {
      p.dlogits = take(head_rows * head_width);
      p.dnsp = take(nsp_rows * 2);
    }
    if (backward) {
      p.dA = take(T * H);
      p.dB = take(T * H);
      p.dI = take(T * I);
      p.dqkv = take(T * 3 * H);
      p.dctx = take(T * H);
      p.dpooled = take(pooled_head ? B * H : 0);
      p.dfirst = take(pooled_head ? B * H : 0);
      p.dt = take(R * H);
      p.dt2 = take(R * H);
      p.d_sel = take(prune ? K * H : 0);
      p.dq_sel = take(prune ? K * H : 0);
    }
    p.gemm = take(pool_.size() * GemmScratchFloats());
    p.column = take(ColumnScratchFloats(column_rows, column_cols));
    p.attention = take(pool_.size() * AttentionScratchFloats(max_len));  // >= AttentionRowsScratchFloats
    if (pass == 0) {
      if (arena_.size < used && !arena_.Allocate(used)) throw std::bad_alloc();
      base = arena_.data();
    }
  }
  gemm_scratch_ = p.gemm;
  column_scratch_ = p.column;

  // ---- forward ----
  { Phase ph("embeddings"); EmbeddingsSum(in.input_ids, in.token_type_ids, position_ids, T, H, P(word_), P(position_), P(token_type_), p.emb_sum, &pool_); }
  { Phase ph("layernorm"); LayerNormForward(p.emb_sum, T, H, P(embeddings_ln_.g), P(embeddings_ln_.b), eps, p.x0, p.xhat_e, p.rstd_e, &pool_); }
  { Phase ph("dropout"); Dropout(p.x0, T * H, p_hidden, key(0), 0, &pool_); }

  auto add_into = [&](float* dst, const float* src, int64_t n) {
    pool_.ParallelFor((n + 16383) / 16384, [&](int64_t task, int) {
      const int64_t e = std::min(n, (task + 1) * 16384);
      for (int64_t i = task * 16384; i < e; ++i) dst[i] += src[i];
    });
  };

  auto gather = [&](const float* src, float* dst) {  // dst[r] = src[keep[r]]
    for (int64_t r = 0; r < K; ++r) std::memcpy(dst + r * H, src + keep[r] * H, H * 4);
  };
  AttentionShape shape;
  shape.cu_seqlens = in.cu_seqlens;
  shape.sequences = B;
  shape.key_mask = in.attention_mask;
  shape.heads = heads;
  shape.head_dim = head_dim;
  shape.scale = 1.0f / std::sqrt(static_cast<float>(head_dim));
  shape.probs_offsets = probs_offsets_.data();
  shape.dropout = p_attn;
  shape.scratch = p.attention;
  shape.max_seq_len = max_len;
  AttentionTrainArgs aa;
  static_cast<AttentionShape&>(aa) = shape;
  aa.tokens = T;
  AttentionRowsArgs ra;  // the last layer's kept rows
  static_cast<AttentionShape&>(ra) = shape;
  ra.rows = keep.data();
  ra.num_rows = K;
  ra.q = p.q_sel;
  ra.dcontext = p.dctx;
  ra.dq = p.dq_sel;
  ra.dkv = p.dqkv;  // [T, 2H] within the [T, 3H] buffer
  // The last layer's query part and key | value part of the fused projection.
  const Linear q_part = NL > 0 ? Linear{layers_[NL - 1].qkv.w, layers_[NL - 1].qkv.b, H, H} : Linear{};
  const Linear kv_part = NL > 0 ? Linear{layers_[NL - 1].qkv.w + H * H, layers_[NL - 1].qkv.b + H, 2 * H, H} : Linear{};

  // Hidden dropout of M rows of a layer: row r is token rows[r] (every token in order when null),
  // so the kept rows of the last layer get the masks a full layer would.
  auto hidden_dropout = [&](float* x, int64_t M, const int64_t* rows, uint64_t k) {
    Phase ph("dropout");
    if (rows != nullptr) {
      DropoutRows(x, M, H, rows, p_hidden, k, &pool_);
    } else {
      Dropout(x, M * H, p_hidden, k, 0, &pool_);
    }
  };
  // A layer after its attention, on M rows (a.ctx given): attention.output (dense, dropout,
  // residual `res`, LayerNorm), intermediate (dense + activation), output (dense, dropout,
  // residual, LayerNorm into `out`).
  auto post_attention_forward = [&](int64_t l, int64_t M, const int64_t* rows, const float* res, float* out) {
    const Layer& W = layers_[l];
    LayerActs& a = p.L[l];
    LinearFwd(a.ctx, M, W.attention_output, p.tmp);
    hidden_dropout(p.tmp, M, rows, key(2 + 3 * l));
    { Phase ph("residual"); add_into(p.tmp, res, M * H); }
    { Phase ph("layernorm"); LayerNormForward(p.tmp, M, H, P(W.attention_ln.g), P(W.attention_ln.b), eps, a.y1, a.xhat1, a.rstd1, &pool_); }
    LinearFwd(a.y1, M, W.intermediate, a.u, {c.hidden_act, a.act, nullptr});  // and act = hidden_act(u)
    LinearFwd(a.act, M, W.output, p.tmp);
    hidden_dropout(p.tmp, M, rows, key(3 + 3 * l));
    { Phase ph("residual"); add_into(p.tmp, a.y1, M * H); }
    { Phase ph("layernorm"); LayerNormForward(p.tmp, M, H, P(W.output_ln.g), P(W.output_ln.b), eps, out, a.xhat2, a.rstd2, &pool_); }
  };

  for (int64_t l = 0; l < NL; ++l) {
    LayerActs& a = p.L[l];
    const float* x_in = l == 0 ? p.x0 : p.L[l - 1].y2;
    if (prune && l == NL - 1) {
      gather(x_in, p.x_sel);
      LinearFwd(x_in, T, kv_part, a.qkv);  // keys and values of every token, [T, 2H]
      LinearFwd(p.x_sel, K, q_part, p.q_sel);
      ra.kv = a.qkv;
      ra.probs = a.probs;
      ra.context = a.ctx;
      ra.dropout_key = key(1 + 3 * l);
      { Phase ph("attention forward"); AttentionRowsForward(ra, isa_, &pool_); }
      post_attention_forward(l, K, keep.data(), p.x_sel, p.y_sel);
      for (int64_t r = 0; r < K; ++r) std::memcpy(a.y2 + keep[r] * H, p.y_sel + r * H, H * 4);
      continue;
    }
    LinearFwd(x_in, T, layers_[l].qkv, a.qkv);
    aa.qkv = a.qkv;
    aa.probs = a.probs;
    aa.context = a.ctx;
    aa.dropout_key = key(1 + 3 * l);
    { Phase ph("attention forward"); AttentionForward(aa, isa_, &pool_); }
    post_attention_forward(l, T, nullptr, x_in, a.y2);
  }
  const float* last = NL > 0 ? p.L[NL - 1].y2 : p.x0;

  if (pooled_head) {
    for (int64_t s = 0; s < B; ++s) std::memcpy(p.first + s * H, last + static_cast<int64_t>(in.cu_seqlens[s]) * H, H * 4);
    LinearFwd(p.first, B, pooler_, p.pooled);
    TanhForward(p.pooled, B * H, isa_);
    std::memcpy(p.pooled_drop, p.pooled, B * H * 4);
  }
  switch (arch) {
    case Architecture::kBertForSequenceClassification:
    case Architecture::kBertForMultipleChoice:
      { Phase ph("dropout"); Dropout(p.pooled_drop, B * H, p_cls, key(kSiteClassifier), 0, &pool_); }
      LinearFwd(p.pooled_drop, B, classifier_, p.logits);
      break;
    case Architecture::kBertForNextSentencePrediction: LinearFwd(p.pooled, B, seq_relationship_, p.logits); break;
    case Architecture::kBertForTokenClassification:
      std::memcpy(p.seq_drop, last, T * H * 4);
      { Phase ph("dropout"); Dropout(p.seq_drop, T * H, p_cls, key(kSiteClassifier), 0, &pool_); }
      LinearFwd(p.seq_drop, T, classifier_, p.logits);
      break;
    case Architecture::kBertForQuestionAnswering: LinearFwd(last, T, qa_, p.logits); break;
    case Architecture::kBertForMaskedLM:
    case Architecture::kBertForPreTraining:
      for (int64_t r = 0; r < R; ++r) std::memcpy(p.g_in + r * H, last + mlm_rows_[r] * H, H * 4);
      LinearFwd(p.g_in, R, transform_, p.t_u);
      ActivationForward(p.t_u, R * H, c.hidden_act, p.t_act, isa_, &pool_);
      { Phase ph("layernorm"); LayerNormForward(p.t_act, R, H, P(transform_ln_.g), P(transform_ln_.b), eps, p.t_y, p.t_xhat, p.t_rstd, &pool_); }
      LinearForward(p.t_y, R, H, P(decoder_w_), V, P(decoder_b_), p.logits, isa_, &pool_, gemm_scratch_);
      if (arch == Architecture::kBertForPreTraining) LinearFwd(p.pooled, B, seq_relationship_, p.nsp_logits);
      break;
    case Architecture::kBertModel: break;
  }

  // ---- outputs ----
  if (fwd_out != nullptr) {
    const ForwardOutputs& o = *fwd_out;
    if (o.last_hidden_state.data) std::memcpy(o.last_hidden_state.data, last, T * H * 4);
    if (o.pooler_output.data) std::memcpy(o.pooler_output.data, p.pooled, B * H * 4);
    if (o.hidden_states.data) {
      std::memcpy(o.hidden_states.data, p.x0, T * H * 4);
      for (int64_t l = 0; l < NL; ++l) std::memcpy(o.hidden_states.data + (l + 1) * T * H, p.L[l].y2, T * H * 4);
    }
    if (o.attentions.data)
      for (int64_t l = 0; l < NL; ++l) std::memcpy(o.attentions.data + l * probs_per_layer, p.L[l].probs, probs_per_layer * 4);
  }
  {
    OutputBuffer logits, prediction, seqrel, start, end;
    if (fwd_out) {
      logits = fwd_out->logits;
      prediction = fwd_out->prediction_logits;
      seqrel = fwd_out->seq_relationship_logits;
      start = fwd_out->start_logits;
      end = fwd_out->end_logits;
    } else if (train_out) {
      logits = train_out->logits;
      prediction = train_out->prediction_logits;
      seqrel = train_out->seq_relationship_logits;
      start = train_out->start_logits;
      end = train_out->end_logits;
    }
    if (arch == Architecture::kBertForQuestionAnswering) {
      for (int64_t t = 0; t < T; ++t) {
        if (start.data) start.data[t] = p.logits[2 * t];
        if (end.data) end.data[t] = p.logits[2 * t + 1];
      }
    } else if (arch == Architecture::kBertForPreTraining) {
      if (prediction.data) std::memcpy(prediction.data, p.logits, R * V * 4);  // R: every token, or logits_tokens
      if (seqrel.data) std::memcpy(seqrel.data, p.nsp_logits, B * 2 * 4);
    } else if (logits.data) {
      std::memcpy(logits.data, p.logits, head_rows * head_width * 4);  // MLM: head_rows == R
    }
  }
  if (!with_loss) return Status::Ok();

  // ---- loss and d loss / d logits ----
  const TrainLabels& lb = *labels;
  const float scale = options.loss_scale;
  LossParts parts;
  switch (arch) {
    case Architecture::kBertForSequenceClassification:
      if (lb.problem_type == ProblemType::kSingleLabel) {
        parts.loss = CrossEntropy(p.logits, B, head_width, head_width, lb.labels, kIgnore, scale, p.dlogits, head_width, &pool_, isa_);
      } else if (lb.problem_type == ProblemType::kRegression) {
        parts.loss = MseLoss(p.logits, lb.float_labels, B * head_width, scale, p.dlogits);
      } else {
        parts.loss = BceWithLogits(p.logits, lb.float_labels, B * head_width, scale, p.dlogits);
      }
      break;
    case Architecture::kBertForMultipleChoice:
      // logits [B] viewed as [B / choices, choices]
      parts.loss = CrossEntropy(p.logits, B / lb.num_choices, lb.num_choices, lb.num_choices, lb.labels, kIgnore, scale, p.dlogits,
                                lb.num_choices, &pool_, isa_);
      break;
    case Architecture::kBertForNextSentencePrediction:
    case Architecture::kBertForTokenClassification:
      parts.loss = CrossEntropy(p.logits, head_rows, head_width, head_width, lb.labels, kIgnore, scale, p.dlogits, head_width, &pool_, isa_);
      break;
    case Architecture::kBertForMaskedLM:
    case Architecture::kBertForPreTraining:
      parts.mlm_loss = CrossEntropy(p.logits, R, V, V, mlm_labels_.data(), kIgnore, scale, p.dlogits, V, &pool_, isa_);
      parts.loss = parts.mlm_loss;
      if (arch == Architecture::kBertForPreTraining) {
        parts.nsp_loss = CrossEntropy(p.nsp_logits, B, 2, 2, lb.next_sentence_label, kIgnore, scale, p.dnsp, 2, &pool_, isa_);
        parts.loss = parts.mlm_loss + parts.nsp_loss;
      }
      break;
    case Architecture::kBertForQuestionAnswering: {
      // Per sequence of n tokens: position clamp(x, 0, n), ignored when == n; softmax over all n.
      double sum[2] = {0, 0};
      int64_t count[2] = {0, 0};
      std::vector<int64_t> target(2 * B);
      for (int64_t s = 0; s < B; ++s) {
        const int64_t n = in.cu_seqlens[s + 1] - in.cu_seqlens[s];
        const int32_t raw[2] = {lb.start_positions[s], lb.end_positions[s]};
        for (int k = 0; k < 2; ++k) {
          target[2 * s + k] = std::min<int64_t>(std::max<int64_t>(raw[k], 0), n);
          if (target[2 * s + k] != n) ++count[k];
        }
      }
      std::fill(p.dlogits, p.dlogits + 2 * T, 0.f);
      for (int64_t s = 0; s < B; ++s) {
        const int64_t st = in.cu_seqlens[s], n = in.cu_seqlens[s + 1] - st;
        for (int k = 0; k < 2; ++k) {
          const int64_t tgt = target[2 * s + k];
          if (tgt == n) continue;
          double mx = -INFINITY;
          for (int64_t j = 0; j < n; ++j) mx = std::max<double>(mx, p.logits[2 * (st + j) + k]);
          double z = 0;
          for (int64_t j = 0; j < n; ++j) z += std::exp(p.logits[2 * (st + j) + k] - mx);
          sum[k] += mx + std::log(z) - p.logits[2 * (st + tgt) + k];
          const double g = 0.5 * scale / static_cast<double>(count[k]);
          for (int64_t j = 0; j < n; ++j)
            p.dlogits[2 * (st + j) + k] = static_cast<float>(std::exp(p.logits[2 * (st + j) + k] - mx) / z * g - (j == tgt ? g : 0.0));
        }
      }
      const double nan = std::numeric_limits<double>::quiet_NaN();
      const double ls = count[0] ? sum[0] / count[0] : nan, le = count[1] ? sum[1] / count[1] : nan;
      parts.loss = (ls + le) / 2;
      break;
    }
    case Architecture::kBertModel: break;
  }
  if (loss_out) *loss_out = parts;
  if (!backward) return Status::Ok();

  // ---- backward ----
  { Phase ph("zero grads"); if (!options.accumulate) std::fill(grads_.data(), grads_.data() + grads_.size, 0.f); }
  float* dY = p.dA;  // d loss / d last hidden state
  std::fill(dY, dY + T * H, 0.f);
  auto pooler_backward = [&](const float* dpooled) {
    TanhBackward(p.pooled, dpooled, B * H, p.dpooled);
    LinearBwd(p.dpooled, B, pooler_, p.first, p.dfirst, false);
    for (int64_t s = 0; s < B; ++s) {
      float* row = dY + static_cast<int64_t>(in.cu_seqlens[s]) * H;
      for (int64_t i = 0; i < H; ++i) row[i] += p.dfirst[s * H + i];
    }
  };
  switch (arch) {
    case Architecture::kBertForSequenceClassification:
    case Architecture::kBertForMultipleChoice:
      // dpooled_drop into dB (a free [T, H] buffer, B <= T rows)
      LinearBwd(p.dlogits, B, classifier_, p.pooled_drop, p.dB, false);
      { Phase ph("dropout"); Dropout(p.dB, B * H, p_cls, key(kSiteClassifier), 0, &pool_); }
      pooler_backward(p.dB);
      break;
    case Architecture::kBertForNextSentencePrediction:
      LinearBwd(p.dlogits, B, seq_relationship_, p.pooled, p.dB, false);
      pooler_backward(p.dB);
      break;
    case Architecture::kBertForTokenClassification:
      LinearBwd(p.dlogits, T, classifier_, p.seq_drop, dY, false);
      { Phase ph("dropout"); Dropout(dY, T * H, p_cls, key(kSiteClassifier), 0, &pool_); }
      break;
    case Architecture::kBertForQuestionAnswering: LinearBwd(p.dlogits, T, qa_, last, dY, false); break;
    case Architecture::kBertForMaskedLM:
    case Architecture::kBertForPreTraining: {
      // decoder (tied: the word embeddings' gradient), bias
      LinearBackwardWeight(p.dlogits, R, V, p.t_y, H, G(decoder_w_), isa_, &pool_, gemm_scratch_);
      ColumnSumAccumulate(p.dlogits, R, V, V, G(decoder_b_), &pool_, column_scratch_);
      LinearBackwardInput(p.dlogits, R, V, P(decoder_w_), H, p.dt, false, isa_, &pool_, gemm_scratch_);
      { Phase ph("layernorm"); LayerNormBackward(p.dt, p.t_xhat, p.t_rstd, P(transform_ln_.g), R, H, p.dt, G(transform_ln_.g), G(transform_ln_.b), &pool_,
                        column_scratch_); }
      ActivationBackward(p.t_u, p.dt, R * H, c.hidden_act, p.dt, isa_, &pool_);
      LinearBwd(p.dt, R, transform_, p.g_in, p.dt2, false);
      for (int64_t r = 0; r < R; ++r) {
        float* row = dY + mlm_rows_[r] * H;
        for (int64_t i = 0; i < H; ++i) row[i] += p.dt2[r * H + i];
      }
      if (arch == Architecture::kBertForPreTraining) {
        LinearBwd(p.dnsp, B, seq_relationship_, p.pooled, p.dB, false);
        pooler_backward(p.dB);
      }
      break;
    }
    case Architecture::kBertModel: break;
  }

  // The backward of post_attention_forward on M rows: d holds d loss / d out and becomes
  // d loss / d h1 (the attention block's output, = d res); p.dctx gets d loss / d ctx.
  auto post_attention_backward = [&](int64_t l, int64_t M, const int64_t* rows, float* d) {
    const Layer& W = layers_[l];
    LayerActs& a = p.L[l];
    // output.LayerNorm: d becomes d(h2), h2 = drop(output.dense(act)) + y1
    { Phase ph("layernorm"); LayerNormBackward(d, a.xhat2, a.rstd2, P(W.output_ln.g), M, H, d, G(W.output_ln.g), G(W.output_ln.b), &pool_,
                      column_scratch_); }
    const float* d_out = d;
    if (p_hidden > 0.f) {
      { Phase ph("dropout"); std::memcpy(p.dB, d, M * H * 4); }
      hidden_dropout(p.dB, M, rows, key(3 + 3 * l));
      d_out = p.dB;
    }
    LinearBwd(d_out, M, W.output, a.act, p.dI, false, {c.hidden_act, nullptr, a.u});  // dI = d(act) * act'(u)
    // d(y1) = d(h2) (residual) + du . W_intermediate
    LinearBwd(p.dI, M, W.intermediate, a.y1, d, true);
    // attention.output.LayerNorm: d becomes d(h1), h1 = drop(attention.output.dense(ctx)) + res
    { Phase ph("layernorm"); LayerNormBackward(d, a.xhat1, a.rstd1, P(W.attention_ln.g), M, H, d, G(W.attention_ln.g), G(W.attention_ln.b), &pool_,
                      column_scratch_); }
    const float* d_ao = d;
    if (p_hidden > 0.f) {
      { Phase ph("dropout"); std::memcpy(p.dB, d, M * H * 4); }
      hidden_dropout(p.dB, M, rows, key(2 + 3 * l));
      d_ao = p.dB;
    }
    LinearBwd(d_ao, M, W.attention_output, a.ctx, p.dctx, false);
  };

  // Layers, last to first. cur (= dA) holds d loss / d (layer output); dB is the other [T, H].
  float* cur = p.dA;
  for (int64_t l = NL - 1; l >= 0; --l) {
    LayerActs& a = p.L[l];
    const float* x_in = l == 0 ? p.x0 : p.L[l - 1].y2;
    if (prune && l == NL - 1) {
      // The same steps on the kept rows (d_sel), then keys and values back to every row.
      float* d = p.d_sel;
      gather(cur, d);
      post_attention_backward(l, K, keep.data(), d);
      ra.kv = a.qkv;
      ra.probs = a.probs;
      ra.context = a.ctx;
      ra.dropout_key = key(1 + 3 * l);
      { Phase ph("attention backward"); AttentionRowsBackward(ra, isa_, &pool_); }
      // d(x_in) = dkv . W_kv (every row) + (d(h1) + dq . W_q) on the kept rows
      LinearBwd(p.dqkv, T, kv_part, x_in, cur, false);
      LinearBwd(p.dq_sel, K, q_part, p.x_sel, d, true);
      for (int64_t r = 0; r < K; ++r) {
        float* row = cur + keep[r] * H;
        const float* src = d + r * H;
        for (int64_t i = 0; i < H; ++i) row[i] += src[i];
      }
      continue;
    }
    post_attention_backward(l, T, nullptr, cur);
    aa.qkv = a.qkv;
    aa.probs = a.probs;
    aa.context = a.ctx;
    aa.dropout_key = key(1 + 3 * l);
    aa.dcontext = p.dctx;
    aa.dqkv = p.dqkv;
    { Phase ph("attention backward"); AttentionBackward(aa, isa_, &pool_); }
    // d(x_in) = d(h1) (residual) + dqkv . W_qkv
    LinearBwd(p.dqkv, T, layers_[l].qkv, x_in, cur, true);
  }
  // Embeddings: dropout, LayerNorm, then the three lookups.
  { Phase ph("dropout"); Dropout(cur, T * H, p_hidden, key(0), 0, &pool_); }
  { Phase ph("layernorm"); LayerNormBackward(cur, p.xhat_e, p.rstd_e, P(embeddings_ln_.g), T, H, cur, G(embeddings_ln_.g), G(embeddings_ln_.b), &pool_,
                    column_scratch_); }
  { Phase ph("embeddings"); EmbeddingsBackward(cur, in.input_ids, in.token_type_ids, position_ids, T, H, options_.pad_token_id, G(word_), G(position_),
                     G(token_type_), &pool_); }
  return Status::Ok();
}

Status TrainableModelImpl::Step(const OptimizerStep& st, StepResult* result) {
  std::lock_guard<std::mutex> lock(mu_);
  if (!(st.lr >= 0) || !std::isfinite(st.lr)) return InvalidArgument("lr must be a finite number >= 0");
  if (!(st.beta1 >= 0 && st.beta1 < 1) || !(st.beta2 >= 0 && st.beta2 < 1)) return InvalidArgument("betas must be in [0, 1)");
  if (!(st.eps >= 0) || !std::isfinite(st.eps)) return InvalidArgument("eps must be a finite number >= 0");
  if (!std::isfinite(st.weight_decay)) return InvalidArgument("weight_decay must be finite");
  if (st.no_decay != nullptr && st.no_decay_size != NumParameters())
    return InvalidArgument("no_decay must have one entry per parameter (" + std::to_string(NumParameters()) + ")");
  try {
    BK_RETURN_IF_ERROR(EnsureMoments());
    StepResult r;
    Phase ph("(total step)");
    const double total = std::sqrt(SumSquares(grads_.data(), grads_.size, &pool_));
    r.grad_norm = total;
    if (!std::isfinite(total)) {
      r.applied = false;
      r.step = steps_;
      *result = r;
      return Status::Ok();
    }
    if (st.max_grad_norm > 0) {
      // torch.nn.utils.clip_grad_norm_: coef = max_norm / (total + 1e-6), clamped to 1.
      // The coefficient scales the gradient inside AdamW (one pass over the arenas, not two).
      r.clip_coef = std::min(1.0, st.max_grad_norm / (total + 1e-6));
    }
    ++steps_;
    AdamWArgs a;
    a.lr = static_cast<float>(st.lr);
    a.beta1 = static_cast<float>(st.beta1);
    a.beta2 = static_cast<float>(st.beta2);
    a.eps = static_cast<float>(st.eps);
    a.step = steps_;
    a.grad_scale = static_cast<float>(r.clip_coef);
    for (int64_t i = 0; i < NumParameters(); ++i) {
      const ParameterInfo& p = params_[i];
      a.weight_decay = (st.no_decay != nullptr && st.no_decay[i]) ? 0.f : static_cast<float>(st.weight_decay);
      AdamW(params_data_.data() + p.offset, grads_.data() + p.offset, exp_avg_.data() + p.offset, exp_avg_sq_.data() + p.offset,
            p.numel, a, isa_, &pool_);
    }
    r.step = steps_;
    r.applied = true;
    *result = r;
    Prof().Report();
    return Status::Ok();
  } catch (const std::bad_alloc&) {
    return Status(StatusCode::kOutOfMemory, "out of memory in the optimizer step");
  }
}

ModelInfo TrainableModelImpl::Info() const {
  ModelInfo info;
  info.backend = "cpu";
  info.isa = cpu::IsaName(isa_);
  info.threads = pool_.size();
  info.dtype = "float32";
  info.weight_bytes = params_data_.size * 4;
  info.workspace_bytes = arena_.size * 4;
  return info;
}

TrainInfo TrainableModelImpl::TrainingInfo() const {
  TrainInfo t;
  t.isa = cpu::IsaName(isa_);
  t.threads = pool_.size();
  for (const auto& p : params_) t.parameters += p.numel;
  t.weight_bytes = params_data_.size * 4;
  t.gradient_bytes = grads_.size * 4;
  t.optimizer_bytes = (exp_avg_.size + exp_avg_sq_.size) * 4;
  t.activation_bytes = arena_.size * 4;
  return t;
}

}  // namespace

Status CreateTrainableModel(const ModelConfig& config, const std::vector<TensorView>& tensors, const TrainOptions& options,
                            std::unique_ptr<TrainableModel>* out) {
  BK_RETURN_IF_ERROR(config.Validate());
  if (options.threads < 0 || options.threads > 1024) return InvalidArgument("threads must be in [0, 1024]");
  auto prob = [](float p, const char* name) -> Status {
    if (!(p >= 0.f && p <= 1.f)) return InvalidArgument(std::string(name) + " must be in [0, 1]");
    return Status::Ok();
  };
  BK_RETURN_IF_ERROR(prob(options.hidden_dropout_prob, "hidden_dropout_prob"));
  BK_RETURN_IF_ERROR(prob(options.attention_probs_dropout_prob, "attention_probs_dropout_prob"));
  BK_RETURN_IF_ERROR(prob(options.classifier_dropout_prob, "classifier_dropout"));
  if (options.pad_token_id >= config.vocab_size) return InvalidArgument("pad_token_id must be below vocab_size");
  const int threads = options.threads == 0 ? cpu::AvailableCores() : options.threads;
  try {
    auto model = std::make_unique<TrainableModelImpl>(config, options, threads);
    BK_RETURN_IF_ERROR(model->Load(tensors));
    *out = std::move(model);
    return Status::Ok();
  } catch (const std::bad_alloc&) {
    return Status(StatusCode::kOutOfMemory, "out of memory while loading the weights");
  } catch (const std::system_error& e) {
    return Status(StatusCode::kInternal, std::string("cannot start the thread pool: ") + e.what());
  } catch (const std::exception& e) {
    return Internal(e.what());
  }
}

}  // namespace bertkit::train
