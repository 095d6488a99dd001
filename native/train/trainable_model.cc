// The training model's parameters (loaded through core/bert_weights.h into four arenas of one
// layout: parameters, gradients, AdamW moments), its API, one call's orchestration (Run) and the
// optimizer step. The graph is in train_forward.cc, train_heads.cc and train_backward.cc.
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
#include "train/trainable_model_impl.h"

namespace bertkit::train {

bool ParseProblemType(std::string_view name, ProblemType* out) {
  if (name == "single_label_classification") *out = ProblemType::kSingleLabel;
  else if (name == "regression") *out = ProblemType::kRegression;
  else if (name == "multi_label_classification") *out = ProblemType::kMultiLabel;
  else return false;
  return true;
}

namespace detail {

Status TrainableModelImpl::Load(const std::vector<TensorView>& tensors) {
  const ModelConfig& c = config_;
  WeightReader reader(tensors);
  BK_RETURN_IF_ERROR(reader.Validate(c));

  // Layout: a fused projection's weights back to back, then its biases back to back; every other
  // tensor on its own; each group starts on a 64-byte boundary.
  int64_t total = 0;
  std::map<std::string, int64_t> offset;
  auto place = [&](const std::vector<std::string>& names) {
    total = (total + 15) / 16 * 16;
    const int64_t first = total;
    for (const auto& n : names) {
      offset[n] = total;
      int64_t numel = 1;
      for (int64_t d : reader.View(n).dims) numel *= d;
      total += numel;
    }
    return first;
  };
  BK_RETURN_IF_ERROR(VisitWeights(
      c, &w_,
      [&](const TableSpec& s, int64_t* off) {
        *off = place({s.name});
        return Status::Ok();
      },
      [&](const LinearSpec& s, Linear* l) {
        if (s.bias_first) l->b = place(s.biases);
        l->w = s.tied ? w_.word_embeddings : place(s.weights);
        if (!s.bias_first) l->b = place(s.biases);
        l->out = s.out;
        l->in = s.in;
        return Status::Ok();
      },
      [&](const NormSpec& s, Norm* n) {
        n->g = place({s.weight});
        n->b = place({s.bias});
        return Status::Ok();
      }));
  total = (total + 15) / 16 * 16;
  if (!params_data_.Allocate(total) || !grads_.Allocate(total))
    return Status(StatusCode::kOutOfMemory, "out of memory for the parameters and their gradients");
  std::fill(params_data_.data(), params_data_.data() + total, 0.f);
  std::fill(grads_.data(), grads_.data() + total, 0.f);
  for (const auto& [name, d] : ExpectedTensors(c)) {
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
  const OutputSizes sizes = Sizes(in);
  if (fwd_out != nullptr) BK_RETURN_IF_ERROR(ValidateOutputs(sizes, *fwd_out));
  if (train_out != nullptr) {
    ForwardOutputs as_forward;
    as_forward.logits = train_out->logits;
    as_forward.prediction_logits = train_out->prediction_logits;
    as_forward.seq_relationship_logits = train_out->seq_relationship_logits;
    as_forward.start_logits = train_out->start_logits;
    as_forward.end_logits = train_out->end_logits;
    BK_RETURN_IF_ERROR(ValidateOutputs(sizes, as_forward));
  }
  const bool wants_every_row =
      fwd_out != nullptr && (fwd_out->last_hidden_state.data || fwd_out->hidden_states.data || fwd_out->attentions.data);
  Pass ps;
  Prepare(in, labels, options, all_mlm_rows, wants_every_row, &ps);
  EncoderForward(ps);
  HeadsForward(ps);
  WriteOutputs(ps, train_out, fwd_out);
  if (labels == nullptr) return Status::Ok();
  const LossParts parts = Loss(ps);
  if (loss_out) *loss_out = parts;
  if (!ps.backward) return Status::Ok();
  HeadsBackward(ps);
  EncoderBackward(ps);
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

}  // namespace detail

namespace {
// What the trainer's forward and backward implement: every part of the description (token types or
// not, positions from the ids, the embeddings projection, shared layers, the heads' own dense
// layers, the discriminator) except a pooler activation other than tanh, which no family has; a
// part added to the description without a backward is refused here by name, not trained as
// another graph.
Status RequireTrainableGraph(const ModelConfig& c) {
  auto lacks = [&](const std::string& what) {
    return Status(StatusCode::kUnavailable, "the trainer does not implement " + what + " (" + ArchitectureName(c.architecture) +
                                                "): training is not supported for this model family yet");
  };
  if (c.pooler.activation != Activation::kTanh) return lacks("a pooler activation other than tanh");
  return Status::Ok();
}
}  // namespace

Status CreateTrainableModel(const ModelConfig& config, const std::vector<TensorView>& tensors, const TrainOptions& options,
                            std::unique_ptr<TrainableModel>* out) {
  BK_RETURN_IF_ERROR(config.Validate());
  BK_RETURN_IF_ERROR(RequireTrainableGraph(config));
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
    auto model = std::make_unique<detail::TrainableModelImpl>(config, options, threads);
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
