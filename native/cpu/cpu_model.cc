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
#include "core/batch_plan.h"
#include "core/bert_weights.h"
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

Epilogue EpilogueFor(Activation a) {
  switch (a) {
    case Activation::kGelu: return Epilogue::kGelu;
    case Activation::kGeluTanh: return Epilogue::kGeluTanh;
    case Activation::kRelu: return Epilogue::kRelu;
    case Activation::kTanh: return Epilogue::kTanh;
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
struct CpuWeights : BertWeights<AlignedFloats, Linear, LayerNorm> {
  cpu::WeightFormat format = cpu::WeightFormat::kF32;  // of the encoder's linear layers
  ComputeDType dtype = ComputeDType::kFloat32;
  // word_embeddings is empty when tied to the MLM decoder (gathered from its packed form). The
  // tables are not std::vectors: the largest (94 MB in BERT-base) would be zero-filled before
  // being read over.
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
  Buffer embedded_, hidden_, qkv_, context_, attention_output_, intermediate_, first_tokens_, pooled_, head_, gathered_, scratch_,
      linear_scratch_;
  BatchPlan plan_;
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

  auto table = [&](const TableSpec& s, AlignedFloats* out) -> Status {
    // One copy of a tied table: packed for the decoder GEMM, gathered from by the embeddings.
    if (s.decoder_tied) return pack({s.name}, "the word embeddings", &decoder.weight);
    // Read in row blocks on the pool's threads (reads and page faults in parallel).
    const int64_t block = 512;
    if (!out->Allocate(s.rows * s.cols)) return oom(s.name);
    FirstFailure failure;
    pool->ParallelFor((s.rows + block - 1) / block, [&](int64_t b, int) {
      failure.Note(reader.ReadRowsF32(s.name, b * block, std::min(block, s.rows - b * block), out->data() + b * block * s.cols));
    });
    BK_RETURN_IF_ERROR(failure.status);
    bytes += out->size * static_cast<int64_t>(sizeof(float));
    return Status::Ok();
  };
  auto linear = [&](const LinearSpec& s, Linear* l) -> Status {
    // The tied decoder's weight was packed with the word embeddings.
    if (!s.tied) BK_RETURN_IF_ERROR(pack(s.weights, s.name, &l->weight, s.layer ? format : cpu::WeightFormat::kF32));
    l->bias.clear();
    for (const auto& name : s.biases) {  // the fused projection's three biases, concatenated
      std::vector<float> b;
      BK_RETURN_IF_ERROR(vec(name, &b));
      l->bias.insert(l->bias.end(), b.begin(), b.end());
    }
    return Status::Ok();
  };
  auto layer_norm = [&](const NormSpec& s, LayerNorm* ln) -> Status {
    BK_RETURN_IF_ERROR(vec(s.weight, &ln->weight));
    return vec(s.bias, &ln->bias);
  };
  return VisitWeights(c, this, table, linear, layer_norm);
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

  PlanBatch(c, in, &plan_);
  const int64_t max_len = plan_.max_len;

  float* hidden = hidden_.Get(T * H);
  float* qkv = qkv_.Get(T * 3 * H);
  float* context = context_.Get(T * H);
  float* attention_output = attention_output_.Get(T * H);
  float* intermediate = intermediate_.Get(T * I);
  float* scratch = scratch_.Get(pool_.size() * cpu::AttentionScratchFloats(max_len, head_dim));

  // Embeddings at embedding_size E, projected to H when E differs (ALBERT, ELECTRA).
  const int64_t E = c.embeddings.embedding_size > 0 ? c.embeddings.embedding_size : H;
  float* embedded = E != H ? embedded_.Get(T * E) : hidden;
  cpu::EmbeddingsArgs ea;
  ea.input_ids = in.input_ids;
  ea.token_type_ids = in.token_type_ids;
  ea.position_ids = plan_.position_ids;
  ea.tokens = T;
  ea.hidden = E;
  // Tied MLM models keep the table only in its packed form (see Load).
  ea.word_embeddings = w_->word_embeddings.size == 0 ? nullptr : w_->word_embeddings.data();
  ea.word_packed = w_->word_embeddings.size == 0 ? &w_->decoder.weight : nullptr;
  ea.position_embeddings = w_->position_embeddings.data();
  ea.token_type_embeddings = c.embeddings.token_type_embeddings ? w_->token_type_embeddings.data() : nullptr;
  ea.gamma = w_->embeddings_ln.weight.data();
  ea.beta = w_->embeddings_ln.bias.data();
  ea.eps = eps;
  ea.out = embedded;
  cpu::Embeddings(ea, &pool_);
  if (E != H) ApplyLinear(embedded, T, E, w_->embeddings_project, Epilogue::kNone, nullptr, hidden);
  if (out.hidden_states.data) std::memcpy(out.hidden_states.data, hidden, T * H * sizeof(float));

  const int64_t probs_per_layer = plan_.probs_per_layer;

  // One application per layer, or per inner layer of each shared group (ALBERT).
  const int64_t applications = NumLayerApplications(c);
  for (int64_t l = 0; l < applications; ++l) {
    const CpuWeights::Layer& L = w_->layers[LayerWeightIndex(c, l)];
    ApplyLinear(hidden, T, H, L.qkv, Epilogue::kNone, nullptr, qkv);
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
    aa.probs_offsets = plan_.probs_offsets.data();
    aa.scratch = scratch;
    aa.max_seq_len = max_len;
    cpu::Attention(aa, isa_, &pool_);
    // BertSelfOutput: LayerNorm(dense(context) + input)
    ApplyLinear(context, T, H, L.attention_output, Epilogue::kNone, hidden, attention_output);
    cpu::LayerNormRows(attention_output, T, H, H, L.attention_ln.weight.data(), L.attention_ln.bias.data(), eps, &pool_);
    // BertIntermediate + BertOutput: LayerNorm(dense(act(dense(x))) + x)
    ApplyLinear(attention_output, T, H, L.intermediate, act, nullptr, intermediate);
    ApplyLinear(intermediate, T, I, L.output, Epilogue::kNone, attention_output, hidden);
    cpu::LayerNormRows(hidden, T, H, H, L.output_ln.weight.data(), L.output_ln.bias.data(), eps, &pool_);
    if (out.hidden_states.data) std::memcpy(out.hidden_states.data + (l + 1) * T * H, hidden, T * H * sizeof(float));
  }
  if (out.last_hidden_state.data) std::memcpy(out.last_hidden_state.data, hidden, T * H * sizeof(float));

  // BertPooler: tanh(dense(h of each sequence's first token)).
  float* pooled = nullptr;
  if (sizes.pooler_output > 0) {
    float* first = first_tokens_.Get(B * H);
    for (int64_t s = 0; s < B; ++s) std::memcpy(first + s * H, hidden + static_cast<int64_t>(in.cu_seqlens[s]) * H, H * sizeof(float));
    pooled = out.pooler_output.data ? out.pooler_output.data : pooled_.Get(B * H);
    ApplyLinear(first, B, H, w_->pooler, EpilogueFor(c.pooler.activation), nullptr, pooled);
  }

  const HeadSpec& spec = SpecOf(c);
  if (spec.mlm) {
    // BertLMPredictionHead: decoder(LayerNorm(act(dense(h)))) with the decoder tied, on every
    // token or only on the tokens asked for.
    const float* rows = hidden;
    const int64_t m = plan_.R();
    if (!plan_.mlm_every_token) {
      float* gathered = gathered_.Get(std::max<int64_t>(m, 1) * H);
      for (int64_t i = 0; i < m; ++i) std::memcpy(gathered + i * H, hidden + plan_.mlm_rows[i] * H, H * sizeof(float));
      rows = gathered;
    }
    float* dst = spec.linear != nullptr ? out.prediction_logits.data : out.logits.data;
    if (dst && m > 0) {
      // The transform maps H to E (ALBERT, ELECTRA's generator), the decoder E to V.
      float* transformed = head_.Get(m * E);
      ApplyLinear(rows, m, H, w_->transform, EpilogueFor(c.TransformAct()), nullptr, transformed);
      cpu::LayerNormRows(transformed, m, E, E, w_->transform_ln.weight.data(), w_->transform_ln.bias.data(), eps, &pool_);
      ApplyLinear(transformed, m, E, w_->decoder, Epilogue::kNone, nullptr, dst);
    }
  }
  if (spec.linear != nullptr) {
    // The head's linear layer on the pooled rows or on every token; a head with its own dense
    // layer reads each sequence's first token (or every token) through it instead of the pooler.
    const float* x = spec.per_token ? hidden : pooled;
    const int64_t m = spec.per_token ? T : B;
    if (c.own_dense) {
      const float* rows = hidden;
      if (!spec.per_token) {
        float* first = first_tokens_.Get(B * H);
        for (int64_t s = 0; s < B; ++s)
          std::memcpy(first + s * H, hidden + static_cast<int64_t>(in.cu_seqlens[s]) * H, H * sizeof(float));
        rows = first;
      }
      float* dense = pooled_.Get(m * H);
      ApplyLinear(rows, m, H, w_->head_dense, EpilogueFor(c.own_dense_act), nullptr, dense);
      x = dense;
    }
    if (spec.start_end) {
      if (out.start_logits.data || out.end_logits.data) {
        float* both = head_.Get(T * 2);
        ApplyLinear(x, m, H, w_->head, Epilogue::kNone, nullptr, both);
        for (int64_t t = 0; t < T; ++t) {
          if (out.start_logits.data) out.start_logits.data[t] = both[2 * t];
          if (out.end_logits.data) out.end_logits.data[t] = both[2 * t + 1];
        }
      }
    } else {
      float* dst = spec.mlm ? out.seq_relationship_logits.data : out.logits.data;
      if (dst) ApplyLinear(x, m, H, w_->head, Epilogue::kNone, nullptr, dst);
    }
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
  for (const Buffer* b : {&embedded_, &hidden_, &qkv_, &context_, &attention_output_, &intermediate_, &first_tokens_, &pooled_, &head_, &gathered_,
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
