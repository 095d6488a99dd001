// The BERT graph on the CPU kernels. Weights mirror transformers' module tree (BertEmbeddings,
// BertLayer: attention.self / attention.output / intermediate / output, BertPooler, heads); the
// query, key and value projections are fused into one GEMM at load.
//
// Memory plan: weights are converted to float32 and packed once; activations live in a
// workspace that grows to the largest batch seen and is reused. Every buffer a layer reads is
// still intact when the layer ends (no in-place reuse across layers except `hidden`), which is
// what a backward pass will need once activations are kept per layer.
#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <new>
#include <string>
#include <system_error>
#include <vector>

#include "bertkit/engine.h"
#include "core/forward_guard.h"
#include "core/weight_reader.h"
#include "cpu/cpu_features.h"
#include "cpu/gemm.h"
#include "cpu/kernels.h"
#include "cpu/thread_pool.h"

namespace bertkit {

namespace {

using cpu::AlignedFloats;
using cpu::Epilogue;
using cpu::PackedWeight;

struct Linear {
  PackedWeight weight;
  std::vector<float> bias;
};

struct LayerNorm {
  std::vector<float> weight;
  std::vector<float> bias;
};

struct BertLayer {
  Linear attention_self_qkv;  // query | key | value, [3H, H]
  Linear attention_output_dense;
  LayerNorm attention_output_LayerNorm;
  Linear intermediate_dense;
  Linear output_dense;
  LayerNorm output_LayerNorm;
};

Epilogue EpilogueFor(Activation a) {
  switch (a) {
    case Activation::kGelu: return Epilogue::kGelu;
    case Activation::kGeluTanh: return Epilogue::kGeluTanh;
    case Activation::kRelu: return Epilogue::kRelu;
  }
  return Epilogue::kGelu;
}

// Grow-only buffer.
struct Buffer {
  AlignedFloats mem;
  float* Get(int64_t n) {
    if (mem.size < n && !mem.Allocate(n)) throw std::bad_alloc();
    return mem.data();
  }
};

// The parameters in compute layout. Immutable once loaded, so every model loaded from the same
// files with the same options can share one copy, read-only (see the cache below).
struct CpuWeights {
  cpu::WeightFormat format = cpu::WeightFormat::kF32;  // of the encoder's linear layers
  ComputeDType dtype = ComputeDType::kFloat32;

  // BertEmbeddings
  // Empty when tied to the MLM decoder (gathered from it). Not a std::vector: the largest tensor
  // (94 MB in BERT-base) would be zero-filled before being read over.
  cpu::AlignedFloats word_embeddings;
  std::vector<float> position_embeddings;
  std::vector<float> token_type_embeddings;
  LayerNorm embeddings_LayerNorm;
  std::vector<BertLayer> layer;
  Linear pooler_dense;
  // Heads
  Linear cls_predictions_transform_dense;
  LayerNorm cls_predictions_transform_LayerNorm;
  Linear cls_predictions_decoder;  // tied: packed word embeddings, bias = cls.predictions.bias
  Linear cls_seq_relationship;
  Linear classifier;
  Linear qa_outputs;

  int64_t bytes = 0;

  Status Load(const ModelConfig& c, const std::vector<TensorView>& tensors, cpu::Isa isa, cpu::ThreadPool* pool);
};

// Process-wide: weak references, so weights live exactly as long as some model uses them. Keyed by
// what the caller says identifies the files (EngineOptions::share_key) plus dtype and ISA.
std::mutex g_weights_mu;
std::map<std::string, std::weak_ptr<const CpuWeights>> g_weights;

class CpuModel final : public Model {
 public:
  CpuModel(const ModelConfig& config, int threads) : Model(config), pool_(threads), isa_(cpu::DetectIsa()) {}

  Status Load(const std::vector<TensorView>& tensors, const EngineOptions& options);
  Status Forward(const BatchInput& in, const ForwardOutputs& out) override;
  ModelInfo Info() const override;

 private:
  Status Run(const BatchInput& in, const ForwardOutputs& out);
  void ApplyLinear(const float* x, int64_t m, int64_t ldx, const Linear& l, Epilogue e, const float* residual, float* y);

  cpu::ThreadPool pool_;
  cpu::Isa isa_;
  std::atomic<bool> busy_{false};
  std::shared_ptr<const CpuWeights> w_;
  bool shared_ = false;  // w_ came from another model
  std::string dtype_fallback_;  // why the requested dtype is not used

  // Workspace, reused across forwards.
  Buffer hidden_, qkv_, context_, attention_output_, intermediate_, first_tokens_, pooled_, head_, gathered_, scratch_,
      linear_scratch_;
  std::vector<int32_t> positions_;
  std::vector<int64_t> probs_offsets_;
};

Status CpuModel::Load(const std::vector<TensorView>& tensors, const EngineOptions& options) {
  // Reduced precision only where this CPU has the dot-product instructions; otherwise say why.
  const cpu::WeightFormat want = options.dtype == ComputeDType::kBFloat16 ? cpu::WeightFormat::kBF16
                                 : options.dtype == ComputeDType::kInt8   ? cpu::WeightFormat::kInt8
                                                                          : cpu::WeightFormat::kF32;
  const bool supported = cpu::SupportsFormat(want);
  if (options.dtype == ComputeDType::kFloat16) {
    dtype_fallback_ = "float16 is a GPU dtype (CUDA tensor cores): the CPU computes in float32 (bfloat16 is the CPU's fast 16-bit dtype)";
  } else if (!supported) {
    dtype_fallback_ = std::string(ComputeDTypeName(options.dtype)) + " needs " +
                      (want == cpu::WeightFormat::kBF16 ? "AVX512-BF16" : "AVX512-VNNI") +
                      ", which this CPU lacks (or BERTKIT_ISA disables): computing in float32";
  }
  std::string key;
  if (!options.share_key.empty()) {
    key = options.share_key + "|" + cpu::WeightFormatName(supported ? want : cpu::WeightFormat::kF32) + "|" + cpu::IsaName(isa_);
    std::lock_guard<std::mutex> lock(g_weights_mu);
    auto it = g_weights.find(key);
    if (it != g_weights.end()) w_ = it->second.lock();
    if (w_) {
      // Names and shapes must still be right: the key is the caller's word, the tensors are checked.
      WeightReader reader(tensors);
      BK_RETURN_IF_ERROR(reader.Validate(config_));
      shared_ = true;
      return Status::Ok();
    }
  }
  auto w = std::make_shared<CpuWeights>();
  if (supported && want != cpu::WeightFormat::kF32) {
    w->format = want;
    w->dtype = options.dtype;
  }
  BK_RETURN_IF_ERROR(w->Load(config_, tensors, isa_, &pool_));
  w_ = w;
  if (!key.empty()) {
    std::lock_guard<std::mutex> lock(g_weights_mu);
    for (auto it = g_weights.begin(); it != g_weights.end();) it = it->second.expired() ? g_weights.erase(it) : std::next(it);
    g_weights[key] = w_;
  }
  return Status::Ok();
}

namespace {
// The first error of work split over the pool's threads.
struct FirstFailure {
  std::mutex mu;
  Status status;
  bool Note(const Status& s) {
    if (s.ok()) return true;
    std::lock_guard<std::mutex> lock(mu);
    if (status.ok()) status = s;
    return false;
  }
};
}  // namespace

Status CpuWeights::Load(const ModelConfig& c, const std::vector<TensorView>& tensors, cpu::Isa isa_, cpu::ThreadPool* pool) {
  WeightReader reader(tensors);
  BK_RETURN_IF_ERROR(reader.Validate(c));
  auto oom = [](const std::string& what) { return Status(StatusCode::kOutOfMemory, "out of memory packing " + what); };
  // Matrices are packed straight from their source, each packing thread reading the rows of its
  // own panel (cpu::PackWeight with a RowSource): reads run in parallel, no unpacked copy is made.
  // `parts` are stacked row-wise (the fused QKV is query | key | value).
  auto pack = [&](const std::vector<std::string>& parts, const std::string& what, PackedWeight* out,
                  cpu::WeightFormat format = cpu::WeightFormat::kF32) -> Status {
    const int64_t part_rows = reader.View(parts[0]).dims[0], k = reader.View(parts[0]).dims[1];
    FirstFailure failure;
    auto source = [&](int64_t row0, int64_t count, float* dst) {
      while (count > 0) {
        const int64_t part = row0 / part_rows, local = row0 % part_rows, take = std::min(count, part_rows - local);
        if (!failure.Note(reader.ReadRowsF32(parts[part], local, take, dst))) return false;
        row0 += take;
        count -= take;
        dst += take * k;
      }
      return true;
    };
    if (!cpu::PackWeight(source, part_rows * static_cast<int64_t>(parts.size()), k, isa_, out, pool, format)) {
      return failure.status.ok() ? oom(what) : failure.status;
    }
    bytes += out->bytes();
    return Status::Ok();
  };
  auto vec = [&](const std::string& name, std::vector<float>* out) -> Status {
    BK_RETURN_IF_ERROR(reader.ReadF32(name, out));
    bytes += static_cast<int64_t>(out->size() * sizeof(float));
    return Status::Ok();
  };
  auto linear = [&](const std::string& name, Linear* l, cpu::WeightFormat format = cpu::WeightFormat::kF32) -> Status {
    BK_RETURN_IF_ERROR(pack({name + ".weight"}, name, &l->weight, format));
    return vec(name + ".bias", &l->bias);
  };
  auto layer_norm = [&](const std::string& name, LayerNorm* ln) -> Status {
    BK_RETURN_IF_ERROR(vec(name + ".weight", &ln->weight));
    return vec(name + ".bias", &ln->bias);
  };

  const bool mlm = reader.Has("cls.predictions.bias");
  if (mlm && c.tie_word_embeddings) {
    // One copy of the table: packed for the decoder GEMM, gathered from by the embeddings.
    BK_RETURN_IF_ERROR(pack({"embeddings.word_embeddings.weight"}, "the word embeddings", &cls_predictions_decoder.weight));
  } else {
    // The largest tensor: read in row blocks on the pool's threads (reads and page faults in parallel).
    const std::string name = "embeddings.word_embeddings.weight";
    const int64_t rows = reader.View(name).dims[0], cols = reader.View(name).dims[1], block = 512;
    if (!word_embeddings.Allocate(rows * cols)) return oom("the word embeddings");
    FirstFailure failure;
    pool->ParallelFor((rows + block - 1) / block, [&](int64_t b, int) {
      failure.Note(reader.ReadRowsF32(name, b * block, std::min(block, rows - b * block), word_embeddings.data() + b * block * cols));
    });
    BK_RETURN_IF_ERROR(failure.status);
    bytes += word_embeddings.size * static_cast<int64_t>(sizeof(float));
  }
  BK_RETURN_IF_ERROR(vec("embeddings.position_embeddings.weight", &position_embeddings));
  BK_RETURN_IF_ERROR(vec("embeddings.token_type_embeddings.weight", &token_type_embeddings));
  BK_RETURN_IF_ERROR(layer_norm("embeddings.LayerNorm", &embeddings_LayerNorm));

  layer.resize(c.num_hidden_layers);
  for (int64_t i = 0; i < c.num_hidden_layers; ++i) {
    const std::string p = "encoder.layer." + std::to_string(i) + ".";
    BertLayer& L = layer[i];
    // Fuse query, key, value into one [3H, H] projection: one pass over the activations.
    const std::string self = p + "attention.self.";
    L.attention_self_qkv.bias.clear();
    for (const char* part : {"query", "key", "value"}) {
      std::vector<float> b;
      BK_RETURN_IF_ERROR(reader.ReadF32(self + part + ".bias", &b));
      L.attention_self_qkv.bias.insert(L.attention_self_qkv.bias.end(), b.begin(), b.end());
    }
    bytes += static_cast<int64_t>(L.attention_self_qkv.bias.size() * sizeof(float));
    BK_RETURN_IF_ERROR(pack({self + "query.weight", self + "key.weight", self + "value.weight"}, p + "attention.self",
                            &L.attention_self_qkv.weight, format));
    BK_RETURN_IF_ERROR(linear(p + "attention.output.dense", &L.attention_output_dense, format));
    BK_RETURN_IF_ERROR(layer_norm(p + "attention.output.LayerNorm", &L.attention_output_LayerNorm));
    BK_RETURN_IF_ERROR(linear(p + "intermediate.dense", &L.intermediate_dense, format));
    BK_RETURN_IF_ERROR(linear(p + "output.dense", &L.output_dense, format));
    BK_RETURN_IF_ERROR(layer_norm(p + "output.LayerNorm", &L.output_LayerNorm));
  }
  if (reader.Has("pooler.dense.weight")) BK_RETURN_IF_ERROR(linear("pooler.dense", &pooler_dense));
  if (mlm) {
    BK_RETURN_IF_ERROR(linear("cls.predictions.transform.dense", &cls_predictions_transform_dense));
    BK_RETURN_IF_ERROR(layer_norm("cls.predictions.transform.LayerNorm", &cls_predictions_transform_LayerNorm));
    if (!c.tie_word_embeddings) {
      BK_RETURN_IF_ERROR(pack({"cls.predictions.decoder.weight"}, "the MLM decoder", &cls_predictions_decoder.weight));
    }
    BK_RETURN_IF_ERROR(vec("cls.predictions.bias", &cls_predictions_decoder.bias));
  }
  if (reader.Has("cls.seq_relationship.weight")) BK_RETURN_IF_ERROR(linear("cls.seq_relationship", &cls_seq_relationship));
  if (reader.Has("classifier.weight")) BK_RETURN_IF_ERROR(linear("classifier", &classifier));
  if (reader.Has("qa_outputs.weight")) BK_RETURN_IF_ERROR(linear("qa_outputs", &qa_outputs));
  return Status::Ok();
}

void CpuModel::ApplyLinear(const float* x, int64_t m, int64_t ldx, const Linear& l, Epilogue e, const float* residual,
                           float* y) {
  cpu::LinearArgs a;
  a.x = x;
  a.ldx = ldx;
  a.m = m;
  a.w = &l.weight;
  a.bias = l.bias.data();
  a.residual = residual;
  a.ldr = l.weight.n;
  a.epilogue = e;
  a.y = y;
  a.ldy = l.weight.n;
  const int64_t scratch_bytes = cpu::LinearScratchBytes(m, l.weight);
  if (scratch_bytes > 0) a.scratch = linear_scratch_.Get((scratch_bytes + 3) / 4);
  cpu::Linear(a, &pool_);
}

Status CpuModel::Forward(const BatchInput& in, const ForwardOutputs& out) {
  return GuardedForward(busy_, "out of memory for the activations of this batch", [&] { return Run(in, out); });
}

Status CpuModel::Run(const BatchInput& in, const ForwardOutputs& out) {
  BK_RETURN_IF_ERROR(ValidateInput(in));
  const ModelConfig& c = config_;
  const OutputSizes sizes = Sizes(in);
  BK_RETURN_IF_ERROR(ValidateOutputs(sizes, out));

  const int64_t T = in.num_tokens, B = in.num_sequences, H = c.hidden_size, I = c.intermediate_size;
  const int heads = static_cast<int>(c.num_attention_heads);
  const int head_dim = static_cast<int>(H / heads);
  const float eps = static_cast<float>(c.layer_norm_eps);
  const Epilogue act = EpilogueFor(c.hidden_act);

  int64_t max_len = 0;
  for (int64_t s = 0; s < B; ++s) max_len = std::max<int64_t>(max_len, in.cu_seqlens[s + 1] - in.cu_seqlens[s]);

  const int32_t* position_ids = in.position_ids;
  if (position_ids == nullptr) {
    positions_.resize(T);
    for (int64_t s = 0; s < B; ++s)
      for (int32_t t = in.cu_seqlens[s]; t < in.cu_seqlens[s + 1]; ++t) positions_[t] = t - in.cu_seqlens[s];
    position_ids = positions_.data();
  }

  float* hidden = hidden_.Get(T * H);
  float* qkv = qkv_.Get(T * 3 * H);
  float* context = context_.Get(T * H);
  float* attention_output = attention_output_.Get(T * H);
  float* intermediate = intermediate_.Get(T * I);
  float* scratch = scratch_.Get(pool_.size() * cpu::AttentionScratchFloats(max_len, head_dim));

  cpu::EmbeddingsArgs ea;
  ea.input_ids = in.input_ids;
  ea.token_type_ids = in.token_type_ids;
  ea.position_ids = position_ids;
  ea.tokens = T;
  ea.hidden = H;
  // Tied MLM models keep the table only in its packed form (see Load).
  ea.word_embeddings = w_->word_embeddings.size == 0 ? nullptr : w_->word_embeddings.data();
  ea.word_packed = w_->word_embeddings.size == 0 ? &w_->cls_predictions_decoder.weight : nullptr;
  ea.position_embeddings = w_->position_embeddings.data();
  ea.token_type_embeddings = w_->token_type_embeddings.data();
  ea.gamma = w_->embeddings_LayerNorm.weight.data();
  ea.beta = w_->embeddings_LayerNorm.bias.data();
  ea.eps = eps;
  ea.out = hidden;
  cpu::Embeddings(ea, &pool_);
  if (out.hidden_states.data) std::memcpy(out.hidden_states.data, hidden, T * H * sizeof(float));

  int64_t probs_per_layer = 0;
  if (out.attentions.data) {
    probs_offsets_.resize(B);
    for (int64_t s = 0; s < B; ++s) {
      probs_offsets_[s] = probs_per_layer;
      const int64_t n = in.cu_seqlens[s + 1] - in.cu_seqlens[s];
      probs_per_layer += heads * n * n;
    }
  }

  for (int64_t l = 0; l < c.num_hidden_layers; ++l) {
    const BertLayer& L = w_->layer[l];
    ApplyLinear(hidden, T, H, L.attention_self_qkv, Epilogue::kNone, nullptr, qkv);
    cpu::AttentionArgs aa;
    aa.qkv = qkv;
    aa.tokens = T;
    aa.cu_seqlens = in.cu_seqlens;
    aa.sequences = B;
    aa.key_mask = in.attention_mask;
    aa.heads = heads;
    aa.head_dim = head_dim;
    aa.scale = 1.0f / std::sqrt(static_cast<float>(head_dim));
    aa.context = context;
    aa.probs = out.attentions.data ? out.attentions.data + l * probs_per_layer : nullptr;
    aa.probs_offsets = probs_offsets_.data();
    aa.scratch = scratch;
    aa.max_seq_len = max_len;
    cpu::Attention(aa, isa_, &pool_);
    // BertSelfOutput: LayerNorm(dense(context) + input)
    ApplyLinear(context, T, H, L.attention_output_dense, Epilogue::kNone, hidden, attention_output);
    cpu::LayerNormRows(attention_output, T, H, H, L.attention_output_LayerNorm.weight.data(),
                       L.attention_output_LayerNorm.bias.data(), eps, &pool_);
    // BertIntermediate + BertOutput: LayerNorm(dense(act(dense(x))) + x)
    ApplyLinear(attention_output, T, H, L.intermediate_dense, act, nullptr, intermediate);
    ApplyLinear(intermediate, T, I, L.output_dense, Epilogue::kNone, attention_output, hidden);
    cpu::LayerNormRows(hidden, T, H, H, L.output_LayerNorm.weight.data(), L.output_LayerNorm.bias.data(), eps, &pool_);
    if (out.hidden_states.data) std::memcpy(out.hidden_states.data + (l + 1) * T * H, hidden, T * H * sizeof(float));
  }
  if (out.last_hidden_state.data) std::memcpy(out.last_hidden_state.data, hidden, T * H * sizeof(float));

  // BertPooler: tanh(dense(h of each sequence's first token)).
  float* pooled = nullptr;
  if (sizes.pooler_output > 0) {
    float* first = first_tokens_.Get(B * H);
    for (int64_t s = 0; s < B; ++s) std::memcpy(first + s * H, hidden + static_cast<int64_t>(in.cu_seqlens[s]) * H, H * sizeof(float));
    pooled = out.pooler_output.data ? out.pooler_output.data : pooled_.Get(B * H);
    ApplyLinear(first, B, H, w_->pooler_dense, Epilogue::kTanh, nullptr, pooled);
  }

  switch (c.architecture) {
    case Architecture::kBertForMaskedLM:
    case Architecture::kBertForPreTraining: {
      // BertLMPredictionHead: decoder(LayerNorm(act(dense(h)))) with the decoder tied, on every
      // token or only on the tokens asked for.
      const float* rows = hidden;
      int64_t m = T;
      if (in.logits_tokens != nullptr) {
        m = in.num_logits_tokens;
        float* gathered = gathered_.Get(std::max<int64_t>(m, 1) * H);
        for (int64_t i = 0; i < m; ++i) std::memcpy(gathered + i * H, hidden + static_cast<int64_t>(in.logits_tokens[i]) * H, H * sizeof(float));
        rows = gathered;
      }
      float* dst = c.architecture == Architecture::kBertForMaskedLM ? out.logits.data : out.prediction_logits.data;
      if (dst && m > 0) {
        float* transformed = head_.Get(m * H);
        ApplyLinear(rows, m, H, w_->cls_predictions_transform_dense, act, nullptr, transformed);
        cpu::LayerNormRows(transformed, m, H, H, w_->cls_predictions_transform_LayerNorm.weight.data(),
                           w_->cls_predictions_transform_LayerNorm.bias.data(), eps, &pool_);
        ApplyLinear(transformed, m, H, w_->cls_predictions_decoder, Epilogue::kNone, nullptr, dst);
      }
      if (c.architecture == Architecture::kBertForPreTraining && out.seq_relationship_logits.data)
        ApplyLinear(pooled, B, H, w_->cls_seq_relationship, Epilogue::kNone, nullptr, out.seq_relationship_logits.data);
      break;
    }
    case Architecture::kBertForNextSentencePrediction:
      if (out.logits.data) ApplyLinear(pooled, B, H, w_->cls_seq_relationship, Epilogue::kNone, nullptr, out.logits.data);
      break;
    case Architecture::kBertForSequenceClassification:
    case Architecture::kBertForMultipleChoice:
      if (out.logits.data) ApplyLinear(pooled, B, H, w_->classifier, Epilogue::kNone, nullptr, out.logits.data);
      break;
    case Architecture::kBertForTokenClassification:
      if (out.logits.data) ApplyLinear(hidden, T, H, w_->classifier, Epilogue::kNone, nullptr, out.logits.data);
      break;
    case Architecture::kBertForQuestionAnswering:
      if (out.start_logits.data || out.end_logits.data) {
        float* both = head_.Get(T * 2);
        ApplyLinear(hidden, T, H, w_->qa_outputs, Epilogue::kNone, nullptr, both);
        for (int64_t t = 0; t < T; ++t) {
          if (out.start_logits.data) out.start_logits.data[t] = both[2 * t];
          if (out.end_logits.data) out.end_logits.data[t] = both[2 * t + 1];
        }
      }
      break;
    case Architecture::kBertModel: break;
  }
  return Status::Ok();
}

ModelInfo CpuModel::Info() const {
  ModelInfo info;
  info.backend = "cpu";
  info.isa = cpu::IsaName(isa_);
  info.threads = pool_.size();
  info.dtype = ComputeDTypeName(w_->dtype);
  info.dtype_fallback = dtype_fallback_;
  info.weight_bytes = w_->bytes;
  info.weights_shared = shared_;
  int64_t ws = 0;
  for (const Buffer* b : {&hidden_, &qkv_, &context_, &attention_output_, &intermediate_, &first_tokens_, &pooled_, &head_, &gathered_,
                          &scratch_, &linear_scratch_})
    ws += b->mem.size * static_cast<int64_t>(sizeof(float));
  info.workspace_bytes = ws;
  return info;
}

}  // namespace

Status CreateCpuModel(const ModelConfig& config, const std::vector<TensorView>& tensors, const EngineOptions& options,
                      std::unique_ptr<Model>* out) {
  BK_RETURN_IF_ERROR(config.Validate());
  if (options.threads < 0 || options.threads > 1024) return InvalidArgument("threads must be in [0, 1024]");
  const int threads = options.threads == 0 ? cpu::AvailableCores() : options.threads;
  try {
    auto model = std::make_unique<CpuModel>(config, threads);
    BK_RETURN_IF_ERROR(model->Load(tensors, options));
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

}  // namespace bertkit
