// The BERT graph on the GPU: CudaModel, the CUDA backend behind bertkit::Model. The same graph
// as native/cpu/cpu_model.cc (BertEmbeddings, BertLayer x N, BertPooler, the heads), the same
// validation and output sizes (core/model.cc), weights read through core/WeightReader.
//
// Per layer, with P the precision's storage type (float32 in the checking mode):
//   qkv_p   = hidden_p . Wqkv^T + b                         (one GEMM, [T, 3H]: what attention reads)
//   ctx_p   = attention(qkv_p)                              (varlen, packed, no padding)
//   attn_f  = LayerNorm(ctx_p . Wo^T + bo + hidden_f)       (GEMM epilogue adds bias + residual)
//   inter_p = act(attn_p . Wi^T + bi)                       (GEMM epilogue: bias + GELU)
//   hidden_f = LayerNorm(inter_p . Wd^T + bd + attn_f)
// The residual stream (hidden_f, attn_f) stays float32; the GEMM inputs are P.
//
// Memory: weights uploaded once in P (biases and LayerNorm parameters float32); activations in
// one grow-only arena per model, laid out per batch shape; inputs staged in pinned memory and
// sent with one copy. One stream per model. A batch shape seen twice is captured into a CUDA
// graph and replayed from then on (small batches are launch-bound). Only requested outputs are
// computed and copied back, and the MLM head runs only on BatchInput::logits_tokens when given.
#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <new>
#include <string>
#include <tuple>
#include <vector>

#if defined(__linux__)
#include <sys/mman.h>
#endif

#include "bertkit/engine.h"
#include "core/batch_plan.h"
#include "core/bert_weights.h"
#include "core/forward_guard.h"
#include "core/weight_reader.h"
#include "cuda/backend.h"
#include "cuda/common.cuh"
#include "cuda/gemm_dispatch.h"
#include "cuda/kernels/kernels.cuh"

namespace bertkit {
namespace cuda {

const char* PrecisionName(Precision p) {
  switch (p) {
    case Precision::kFloat32: return "float32";
    case Precision::kFloat16: return "float16";
    case Precision::kBFloat16: return "bfloat16";
  }
  return "float32";
}

bool ParsePrecision(std::string_view name, Precision* out) {
  if (name == "float32" || name == "fp32") *out = Precision::kFloat32;
  else if (name == "float16" || name == "fp16") *out = Precision::kFloat16;
  else if (name == "bfloat16" || name == "bf16") *out = Precision::kBFloat16;
  else return false;
  return true;
}

CudaOptions OptionsFor(const EngineOptions& options, std::string* fallback) {
  CudaOptions c;
  fallback->clear();
  switch (options.dtype) {
    case ComputeDType::kFloat32: c.precision = Precision::kFloat32; break;
    case ComputeDType::kBFloat16: c.precision = Precision::kBFloat16; break;
    case ComputeDType::kFloat16: c.precision = Precision::kFloat16; break;
    case ComputeDType::kInt8:
      c.precision = Precision::kFloat16;
      *fallback = "int8 is implemented on the CPU only: the CUDA backend computes in float16";
      break;
  }
  if (const char* env = std::getenv("BERTKIT_CUDA_DTYPE"); env != nullptr && *env != '\0') {
    Precision p;
    if (!ParsePrecision(env, &p)) {
      *fallback = std::string("BERTKIT_CUDA_DTYPE=") + env + " is not float32, float16 or bfloat16 (ignored)";
    } else if (p != c.precision || options.dtype == ComputeDType::kInt8) {
      *fallback = std::string("BERTKIT_CUDA_DTYPE=") + env + " overrides the requested dtype " + ComputeDTypeName(options.dtype);
      c.precision = p;
    }
  }
  if (const char* env = std::getenv("BERTKIT_CUDA_GRAPHS"); env != nullptr && std::strcmp(env, "0") == 0) c.graphs = false;
  if (const char* env = std::getenv("BERTKIT_CUDA_TF32"); env != nullptr && std::strcmp(env, "1") == 0) c.tf32 = true;
  return c;
}

namespace {

size_t Align(size_t x) { return (x + 255) & ~size_t{255}; }

struct Linear {
  void* w = nullptr;  // P [n, k]
  float* b = nullptr;
  int64_t n = 0, k = 0;
};
struct Norm {
  float* g = nullptr;
  float* b = nullptr;
};
// Device pointers in the module tree of core/bert_weights.h (tables in P).
using CudaWeights = BertWeights<void*, Linear, Norm>;

Act ActFor(Activation a) {
  switch (a) {
    case Activation::kGelu: return Act::kGelu;
    case Activation::kGeluTanh: return Act::kGeluTanh;
    case Activation::kRelu: return Act::kRelu;
    case Activation::kTanh: return Act::kTanh;
  }
  return Act::kGelu;
}


// Which parts of the graph a forward runs (only what the requested outputs need).
struct Flags {
  bool token_types = false, mask = false, rows = false;
  bool pooler = false, mlm = false, pretraining_nsp = false, pooled_head = false, token_head = false, qa = false;
  bool hidden_states = false, attentions = false;
  uint32_t Bits() const {
    const bool b[] = {token_types, mask, rows, pooler, mlm, pretraining_nsp, pooled_head, token_head, qa, hidden_states, attentions};
    uint32_t v = 0;
    for (size_t i = 0; i < sizeof(b); ++i) v |= static_cast<uint32_t>(b[i]) << i;
    return v;
  }
};

// Byte offsets into the arena for one batch shape. The inputs come first, laid out as in the
// pinned staging buffer, so one copy sends them all.
struct Plan {
  int64_t T = 0, B = 0, R = 0, max_len = 0, probs_per_layer = 0;
  size_t ids = 0, tt = 0, pos = 0, mask = 0, cu = 0, uniform = 0, rows = 0, probs_off = 0, inputs_bytes = 0;
  size_t hidden_f = 0, hidden_p = 0, qkv = 0, ctx = 0, attn_f = 0, attn_p = 0, inter = 0;
  size_t first_p = 0, pooled_f = 0, pooled_p = 0, mlm_x = 0, mlm_t_f = 0, mlm_t_p = 0, head_f = 0, head2_f = 0;
  size_t hs = 0, probs = 0, total = 0;
};

class CudaModel final : public Model {
 public:
  CudaModel(const ModelConfig& config, const CudaOptions& options, const DeviceInfo& device)
      : Model(config), options_(options), prec_(options.precision), device_(device) {}
  ~CudaModel() override;

  Status Load(const std::vector<TensorView>& tensors);
  Status Forward(const BatchInput& in, const ForwardOutputs& out) override;
  ModelInfo Info() const override;
  Status ReadBack(std::vector<DeviceTensor>* out);
  void set_dtype_fallback(std::string s) { dtype_fallback_ = std::move(s); }

 private:
  Status Run(const BatchInput& in, const ForwardOutputs& out);
  Plan MakePlan(int64_t T, int64_t B, int64_t R, int64_t max_len, int64_t probs_per_layer, const Flags& f) const;
  Status Execute(const Plan& p, const Flags& f);
  Status CopyOutputs(const Plan& p, const Flags& f, const ForwardOutputs& out);
  Status Enqueue(const Plan& p, const Flags& f);
  Status Gemm(const void* x, int64_t m, const Linear& l, Act act, const float* residual, float* y_f, void* y_p);
  Status Reserve(size_t arena_bytes, size_t pinned_bytes);
  void DropGraphs();

  // Weight upload.
  Status Alloc(size_t bytes, void** out);
  Status ReadHost(WeightReader& r, const std::vector<std::string>& names, size_t* total);  // into host_scratch_
  Status UploadP(WeightReader& r, const std::vector<std::string>& names, void** out);  // concatenated rows
  Status UploadF32(WeightReader& r, const std::vector<std::string>& names, float** out);

  CudaOptions options_;
  Precision prec_;
  DeviceInfo device_;
  std::string dtype_fallback_;
  cudaStream_t stream_ = nullptr;
  GemmDispatch gemm_;  // cuBLASLt or the own kernels (destroyed after the stream is drained)
  std::atomic<bool> busy_{false};

  std::vector<void*> allocations_;
  // Where each checkpoint tensor went (ReadBackWeights: the test that the device holds exactly
  // the file's values rounded to the precision).
  struct UploadedTensor {
    std::string name;
    size_t count = 0;
    const void* device = nullptr;
    Precision stored = Precision::kFloat32;
  };
  std::vector<UploadedTensor> uploaded_;
  int64_t weight_bytes_ = 0;
  std::vector<float> host_scratch_;
  float* staging_ = nullptr;  // device float32 staging for conversions (load only)
  size_t staging_bytes_ = 0;

  // The decoder's weight is the word table when tied; `head` is HeadSpec::linear.
  CudaWeights w_;
  BatchPlan plan_;

  char* arena_ = nullptr;
  size_t arena_bytes_ = 0;
  char* pinned_ = nullptr;
  size_t pinned_bytes_ = 0;
  // Outputs come back through two pinned chunks (CopyOutputs), each with its event.
  static constexpr size_t kOutChunk = size_t{4} << 20;
  char* pinned_out_ = nullptr;
  cudaEvent_t out_ready_[2] = {nullptr, nullptr};

  // Everything a captured graph bakes in: shapes, the arena layout they imply, per-layer offsets.
  using Key = std::tuple<int64_t, int64_t, int64_t, int64_t, int64_t, uint32_t>;
  struct Graph {
    cudaGraphExec_t exec = nullptr;
    uint64_t last_use = 0;
  };
  std::map<Key, Graph> graphs_;
  std::map<Key, int> seen_;
  uint64_t clock_ = 0;
  bool graphs_failed_ = false;
  static constexpr size_t kMaxGraphs = 16;
};

CudaModel::~CudaModel() {
  cudaSetDevice(device_.ordinal);
  if (stream_ != nullptr) cudaStreamSynchronize(stream_);
  DropGraphs();
  if (stream_ != nullptr) cudaStreamDestroy(stream_);
  for (void* p : allocations_) cudaFree(p);
  if (staging_ != nullptr) cudaFree(staging_);
  if (arena_ != nullptr) cudaFree(arena_);
  if (pinned_ != nullptr) cudaFreeHost(pinned_);
  if (pinned_out_ != nullptr) cudaFreeHost(pinned_out_);
  for (cudaEvent_t e : out_ready_)
    if (e != nullptr) cudaEventDestroy(e);
  cudaGetLastError();
}

void CudaModel::DropGraphs() {
  for (auto& [_, g] : graphs_) cudaGraphExecDestroy(g.exec);
  graphs_.clear();
  seen_.clear();
}

Status CudaModel::Alloc(size_t bytes, void** out) {
  BK_CUDA_RETURN(cudaMalloc(out, std::max<size_t>(bytes, 16)));
  allocations_.push_back(*out);
  weight_bytes_ += static_cast<int64_t>(bytes);
  return Status::Ok();
}

// Every upload is ordered on stream_ (cudaMemcpyAsync there, never a plain cudaMemcpy): a
// pageable cudaMemcpy may return before its DMA lands and nothing orders it before a kernel on a
// non-blocking stream, so the conversion below could read a half-copied staging buffer (the
// fp16/bf16 error of issue 13). The stream is drained before host_scratch_ or staging_ is reused.
Status CudaModel::ReadHost(WeightReader& r, const std::vector<std::string>& names, size_t* total) {
  *total = 0;
  for (const auto& n : names) *total += r.View(n).nbytes / DTypeSize(r.View(n).dtype);
  host_scratch_.resize(*total);
  size_t at = 0;
  for (const auto& n : names) {
    BK_RETURN_IF_ERROR(r.ReadF32(n, host_scratch_.data() + at));
    const size_t count = r.View(n).nbytes / DTypeSize(r.View(n).dtype);
    uploaded_.push_back(UploadedTensor{n, count});
    at += count;
  }
  return Status::Ok();
}

Status CudaModel::UploadP(WeightReader& r, const std::vector<std::string>& names, void** out) {
  size_t total = 0;
  const size_t first = uploaded_.size();
  BK_RETURN_IF_ERROR(ReadHost(r, names, &total));
  BK_RETURN_IF_ERROR(Alloc(total * PrecisionBytes(prec_), out));
  for (size_t i = first, at = 0; i < uploaded_.size(); at += uploaded_[i].count, ++i) {
    uploaded_[i].device = static_cast<char*>(*out) + at * PrecisionBytes(prec_);
    uploaded_[i].stored = prec_;
  }
  if (prec_ == Precision::kFloat32) {
    BK_CUDA_RETURN(cudaMemcpyAsync(*out, host_scratch_.data(), total * 4, cudaMemcpyHostToDevice, stream_));
    BK_CUDA_RETURN(cudaStreamSynchronize(stream_));
    return Status::Ok();
  }
  if (staging_bytes_ < total * 4) {
    if (staging_ != nullptr) cudaFree(staging_);
    staging_ = nullptr;
    staging_bytes_ = 0;
    BK_CUDA_RETURN(cudaMalloc(&staging_, total * 4));
    staging_bytes_ = total * 4;
  }
  BK_CUDA_RETURN(cudaMemcpyAsync(staging_, host_scratch_.data(), total * 4, cudaMemcpyHostToDevice, stream_));
  BK_RETURN_IF_ERROR(LaunchConvert(prec_, staging_, *out, static_cast<int64_t>(total), stream_));
  // The staging buffer and host_scratch_ are reused by the next tensor: wait for both.
  BK_CUDA_RETURN(cudaStreamSynchronize(stream_));
  return Status::Ok();
}

Status CudaModel::UploadF32(WeightReader& r, const std::vector<std::string>& names, float** out) {
  size_t total = 0;
  const size_t first = uploaded_.size();
  BK_RETURN_IF_ERROR(ReadHost(r, names, &total));
  void* p = nullptr;
  BK_RETURN_IF_ERROR(Alloc(total * 4, &p));
  *out = static_cast<float*>(p);
  for (size_t i = first, at = 0; i < uploaded_.size(); at += uploaded_[i].count, ++i) {
    uploaded_[i].device = static_cast<char*>(p) + at * 4;
    uploaded_[i].stored = Precision::kFloat32;
  }
  BK_CUDA_RETURN(cudaMemcpyAsync(p, host_scratch_.data(), total * 4, cudaMemcpyHostToDevice, stream_));
  BK_CUDA_RETURN(cudaStreamSynchronize(stream_));
  return Status::Ok();
}

Status CudaModel::Load(const std::vector<TensorView>& tensors) {
  const ModelConfig& c = config_;
  WeightReader reader(tensors);
  BK_RETURN_IF_ERROR(reader.Validate(c));
  BK_CUDA_RETURN(cudaSetDevice(device_.ordinal));
  BK_RETURN_IF_ERROR(PrepareKernels());
  BK_CUDA_RETURN(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking));
  for (cudaEvent_t& e : out_ready_) BK_CUDA_RETURN(cudaEventCreateWithFlags(&e, cudaEventDisableTiming));
  BK_RETURN_IF_ERROR(gemm_.Init(prec_, options_, device_.multiprocessors, stream_));

  BK_RETURN_IF_ERROR(VisitWeights(
      c, &w_, [&](const TableSpec& s, void** out) { return UploadP(reader, {s.name}, out); },
      [&](const LinearSpec& s, Linear* l) -> Status {
        l->n = s.out;
        l->k = s.in;
        if (s.tied) {
          l->w = w_.word_embeddings;  // one copy of the table: gathered from, and the decoder's weight
        } else {
          BK_RETURN_IF_ERROR(UploadP(reader, s.weights, &l->w));  // query | key | value as one [3H, H] projection
        }
        return UploadF32(reader, s.biases, &l->b);
      },
      [&](const NormSpec& s, Norm* n) -> Status {
        BK_RETURN_IF_ERROR(UploadF32(reader, {s.weight}, &n->g));
        return UploadF32(reader, {s.bias}, &n->b);
      }));
  BK_CUDA_RETURN(cudaStreamSynchronize(stream_));
  if (staging_ != nullptr) cudaFree(staging_);
  staging_ = nullptr;
  staging_bytes_ = 0;
  host_scratch_ = std::vector<float>();
  return Status::Ok();
}

Status CudaModel::ReadBack(std::vector<DeviceTensor>* out) {
  BK_CUDA_RETURN(cudaSetDevice(device_.ordinal));
  out->clear();
  std::vector<uint16_t> raw;
  for (const UploadedTensor& u : uploaded_) {
    DeviceTensor t;
    t.name = u.name;
    t.stored = u.stored;
    t.values.resize(u.count);
    if (u.stored == Precision::kFloat32) {
      BK_CUDA_RETURN(cudaMemcpyAsync(t.values.data(), u.device, u.count * 4, cudaMemcpyDeviceToHost, stream_));
      BK_CUDA_RETURN(cudaStreamSynchronize(stream_));
    } else {
      raw.resize(u.count);
      BK_CUDA_RETURN(cudaMemcpyAsync(raw.data(), u.device, u.count * 2, cudaMemcpyDeviceToHost, stream_));
      BK_CUDA_RETURN(cudaStreamSynchronize(stream_));
      for (size_t i = 0; i < u.count; ++i) {
        if (u.stored == Precision::kBFloat16) {
          const uint32_t bits = static_cast<uint32_t>(raw[i]) << 16;
          std::memcpy(&t.values[i], &bits, 4);
        } else {
          __half_raw h;
          h.x = raw[i];
          t.values[i] = __half2float(__half(h));
        }
      }
    }
    out->push_back(std::move(t));
  }
  return Status::Ok();
}

Status CudaModel::Forward(const BatchInput& in, const ForwardOutputs& out) {
  return GuardedForward(busy_, "out of host memory for this batch", [&] { return Run(in, out); });
}

Plan CudaModel::MakePlan(int64_t T, int64_t B, int64_t R, int64_t max_len, int64_t probs_per_layer, const Flags& f) const {
  const ModelConfig& c = config_;
  const int64_t H = c.hidden_size, I = c.intermediate_size, V = c.vocab_size;
  const size_t ps = PrecisionBytes(prec_);
  const bool p32 = prec_ == Precision::kFloat32;
  Plan p;
  p.T = T;
  p.B = B;
  p.R = R;
  p.max_len = max_len;
  p.probs_per_layer = probs_per_layer;
  size_t off = 0;
  auto take = [&](size_t bytes) {
    const size_t o = off;
    off += Align(bytes);
    return o;
  };
  p.ids = take(4 * T);
  p.tt = take(f.token_types ? 4 * T : 0);
  p.pos = take(4 * T);
  p.mask = take(f.mask ? T : 0);
  p.cu = take(4 * (B + 1));
  p.uniform = take(B);
  p.rows = take(f.rows ? 4 * R : 0);
  p.probs_off = take(f.attentions ? 8 * B : 0);
  p.inputs_bytes = off;
  p.hidden_f = take(4 * T * H);
  p.hidden_p = take(p32 ? 0 : ps * T * H);
  p.qkv = take(ps * T * 3 * H);
  p.ctx = take(ps * T * H);
  p.attn_f = take(4 * T * H);
  p.attn_p = take(p32 ? 0 : ps * T * H);
  p.inter = take(ps * T * I);
  p.first_p = take(f.pooler ? ps * B * H : 0);
  p.pooled_f = take(f.pooler ? 4 * B * H : 0);
  p.pooled_p = take(f.pooler && !p32 ? ps * B * H : 0);
  p.mlm_x = take(f.mlm && f.rows ? ps * R * H : 0);
  p.mlm_t_f = take(f.mlm ? 4 * R * H : 0);
  p.mlm_t_p = take(f.mlm && !p32 ? ps * R * H : 0);
  int64_t head = 0;
  if (f.mlm) head = R * V;
  if (f.pooled_head) head = std::max<int64_t>(head, B * w_.head.n);
  if (f.token_head) head = std::max<int64_t>(head, T * w_.head.n);
  if (f.qa) head = std::max<int64_t>(head, T * 2);
  p.head_f = take(4 * head);
  p.head2_f = take(f.pretraining_nsp ? 4 * B * 2 : 0);
  p.hs = take(f.hidden_states ? 4 * (c.num_hidden_layers + 1) * T * H : 0);
  p.probs = take(f.attentions ? 4 * c.num_hidden_layers * probs_per_layer : 0);
  p.total = off;
  return p;
}

Status CudaModel::Reserve(size_t arena_bytes, size_t pinned_bytes) {
  if (arena_bytes > arena_bytes_) {
    DropGraphs();  // they hold pointers into the old arena
    if (arena_ != nullptr) cudaFree(arena_);
    arena_ = nullptr;
    arena_bytes_ = 0;
    // Some headroom so that slowly growing batches do not reallocate every time.
    const size_t want = arena_bytes + arena_bytes / 8;
    cudaError_t e = cudaMalloc(&arena_, want);
    if (e != cudaSuccess) {
      cudaGetLastError();
      BK_CUDA_RETURN(cudaMalloc(&arena_, arena_bytes));
      arena_bytes_ = arena_bytes;
    } else {
      arena_bytes_ = want;
    }
  }
  if (pinned_bytes > pinned_bytes_) {
    if (pinned_ != nullptr) cudaFreeHost(pinned_);
    pinned_ = nullptr;
    pinned_bytes_ = 0;
    BK_CUDA_RETURN(cudaMallocHost(&pinned_, pinned_bytes));
    pinned_bytes_ = pinned_bytes;
  }
  return Status::Ok();
}

Status CudaModel::Gemm(const void* x, int64_t m, const Linear& l, Act act, const float* residual, float* y_f, void* y_p) {
  GemmParams g;
  g.x = x;
  g.ldx = l.k;
  g.w = l.w;
  g.m = m;
  g.n = l.n;
  g.k = l.k;
  g.bias = l.b;
  g.act = act;
  g.residual = residual;
  g.ldr = l.n;
  g.y_f = y_f;
  g.ldy_f = l.n;
  g.y_p = y_p;
  g.ldy_p = l.n;
  return gemm_.Run(g);
}

Status CudaModel::Enqueue(const Plan& p, const Flags& f) {
  const ModelConfig& c = config_;
  const int64_t T = p.T, B = p.B, H = c.hidden_size;
  const bool p32 = prec_ == Precision::kFloat32;
  char* A = arena_;
  auto at = [&](size_t off) -> void* { return A + off; };
  auto fl = [&](size_t off) { return reinterpret_cast<float*>(A + off); };
  const int32_t* cu = reinterpret_cast<const int32_t*>(A + p.cu);
  float* hidden_f = fl(p.hidden_f);
  void* hidden_p = p32 ? at(p.hidden_f) : at(p.hidden_p);
  float* attn_f = fl(p.attn_f);
  void* attn_p = p32 ? at(p.attn_f) : at(p.attn_p);
  const Act act = ActFor(c.hidden_act);
  const float eps = static_cast<float>(c.layer_norm_eps);

  EmbeddingsParams e;
  e.input_ids = reinterpret_cast<const int32_t*>(A + p.ids);
  e.token_type_ids = f.token_types ? reinterpret_cast<const int32_t*>(A + p.tt) : nullptr;
  e.position_ids = reinterpret_cast<const int32_t*>(A + p.pos);
  e.tokens = T;
  e.hidden = H;
  e.word = w_.word_embeddings;
  e.position = w_.position_embeddings;
  e.token_type = w_.token_type_embeddings;
  e.gamma = w_.embeddings_ln.g;
  e.beta = w_.embeddings_ln.b;
  e.eps = eps;
  e.out_f = hidden_f;
  e.out_p = p32 ? nullptr : hidden_p;
  BK_RETURN_IF_ERROR(LaunchEmbeddings(prec_, e, stream_));
  if (f.hidden_states) BK_CUDA_RETURN(cudaMemcpyAsync(fl(p.hs), hidden_f, 4 * T * H, cudaMemcpyDeviceToDevice, stream_));

  const int heads = static_cast<int>(c.num_attention_heads);
  const int head_dim = static_cast<int>(H / heads);
  for (int64_t l = 0; l < c.num_hidden_layers; ++l) {
    const CudaWeights::Layer& L = w_.layers[l];
    // BertSelfAttention: the fused QKV projection, then attention over each sequence.
    BK_RETURN_IF_ERROR(Gemm(hidden_p, T, L.qkv, Act::kNone, nullptr, nullptr, at(p.qkv)));
    AttentionParams a;
    a.qkv = at(p.qkv);
    a.context = at(p.ctx);
    a.cu_seqlens = cu;
    a.key_mask = f.mask ? reinterpret_cast<const uint8_t*>(A + p.mask) : nullptr;
    a.uniform = reinterpret_cast<const uint8_t*>(A + p.uniform);
    a.probs = f.attentions ? fl(p.probs) + l * p.probs_per_layer : nullptr;
    a.probs_offsets = f.attentions ? reinterpret_cast<const int64_t*>(A + p.probs_off) : nullptr;
    a.tokens = T;
    a.sequences = B;
    a.heads = heads;
    a.head_dim = head_dim;
    a.max_seqlen = p.max_len;
    a.scale = 1.0f / std::sqrt(static_cast<float>(head_dim));
    BK_RETURN_IF_ERROR(LaunchAttention(prec_, a, options_.tensor_cores ? AttentionVersion::kAuto : AttentionVersion::kSimt, stream_));
    // BertSelfOutput: LayerNorm(dense(context) + input)
    BK_RETURN_IF_ERROR(Gemm(at(p.ctx), T, L.attention_output, Act::kNone, hidden_f, attn_f, nullptr));
    LayerNormParams ln;
    ln.x = attn_f;
    ln.out_p = p32 ? nullptr : attn_p;
    ln.rows = T;
    ln.hidden = H;
    ln.gamma = L.attention_ln.g;
    ln.beta = L.attention_ln.b;
    ln.eps = eps;
    BK_RETURN_IF_ERROR(LaunchLayerNorm(prec_, ln, stream_));
    // BertIntermediate + BertOutput: LayerNorm(dense(act(dense(x))) + x)
    BK_RETURN_IF_ERROR(Gemm(attn_p, T, L.intermediate, act, nullptr, nullptr, at(p.inter)));
    BK_RETURN_IF_ERROR(Gemm(at(p.inter), T, L.output, Act::kNone, attn_f, hidden_f, nullptr));
    ln.x = hidden_f;
    ln.out_p = p32 ? nullptr : hidden_p;
    ln.gamma = L.output_ln.g;
    ln.beta = L.output_ln.b;
    BK_RETURN_IF_ERROR(LaunchLayerNorm(prec_, ln, stream_));
    if (f.hidden_states)
      BK_CUDA_RETURN(cudaMemcpyAsync(fl(p.hs) + (l + 1) * T * H, hidden_f, 4 * T * H, cudaMemcpyDeviceToDevice, stream_));
  }

  // BertPooler: tanh(dense(h of each sequence's first token)); cu_seqlens[0..B) are those tokens.
  void* pooled_x = nullptr;
  if (f.pooler) {
    GatherParams g;
    g.src = hidden_p;
    g.dst = at(p.first_p);
    g.rows = cu;
    g.count = B;
    g.width = H;
    BK_RETURN_IF_ERROR(LaunchGather(prec_, g, stream_));
    BK_RETURN_IF_ERROR(Gemm(at(p.first_p), B, w_.pooler, ActFor(c.pooler.activation), nullptr, fl(p.pooled_f), p32 ? nullptr : at(p.pooled_p)));
    pooled_x = p32 ? at(p.pooled_f) : at(p.pooled_p);
  }
  if (f.mlm) {
    // BertLMPredictionHead: decoder(LayerNorm(act(dense(h)))), on the rows asked for.
    const void* x = hidden_p;
    if (f.rows) {
      GatherParams g;
      g.src = hidden_p;
      g.dst = at(p.mlm_x);
      g.rows = reinterpret_cast<const int32_t*>(A + p.rows);
      g.count = p.R;
      g.width = H;
      BK_RETURN_IF_ERROR(LaunchGather(prec_, g, stream_));
      x = at(p.mlm_x);
    }
    BK_RETURN_IF_ERROR(Gemm(x, p.R, w_.transform, ActFor(c.TransformAct()), nullptr, fl(p.mlm_t_f), nullptr));
    LayerNormParams ln;
    ln.x = fl(p.mlm_t_f);
    ln.out_p = p32 ? nullptr : at(p.mlm_t_p);
    ln.rows = p.R;
    ln.hidden = H;
    ln.gamma = w_.transform_ln.g;
    ln.beta = w_.transform_ln.b;
    ln.eps = eps;
    BK_RETURN_IF_ERROR(LaunchLayerNorm(prec_, ln, stream_));
    BK_RETURN_IF_ERROR(Gemm(p32 ? at(p.mlm_t_f) : at(p.mlm_t_p), p.R, w_.decoder, Act::kNone, nullptr, fl(p.head_f), nullptr));
  }
  // The head's linear (HeadSpec::linear): on the pooled rows, or on every token.
  if (f.pretraining_nsp) BK_RETURN_IF_ERROR(Gemm(pooled_x, B, w_.head, Act::kNone, nullptr, fl(p.head2_f), nullptr));
  if (f.pooled_head) BK_RETURN_IF_ERROR(Gemm(pooled_x, B, w_.head, Act::kNone, nullptr, fl(p.head_f), nullptr));
  if (f.token_head || f.qa) BK_RETURN_IF_ERROR(Gemm(hidden_p, T, w_.head, Act::kNone, nullptr, fl(p.head_f), nullptr));
  return Status::Ok();
}

Status CudaModel::Execute(const Plan& p, const Flags& f) {
  if (!options_.graphs || graphs_failed_) return Enqueue(p, f);
  const Key key{p.T, p.B, p.R, p.max_len, f.attentions ? p.probs_per_layer : 0, f.Bits()};
  ++clock_;
  auto it = graphs_.find(key);
  if (it != graphs_.end()) {
    it->second.last_use = clock_;
    BK_CUDA_RETURN(cudaGraphLaunch(it->second.exec, stream_));
    return Status::Ok();
  }
  // A shape seen once runs directly; the second time it is captured, then replayed.
  if (seen_.size() > 4096) seen_.clear();
  if (++seen_[key] < 2) return Enqueue(p, f);

  cudaGraph_t graph = nullptr;
  cudaError_t e = cudaStreamBeginCapture(stream_, cudaStreamCaptureModeThreadLocal);
  Status s = e == cudaSuccess ? Enqueue(p, f) : CudaStatus(e, "cudaStreamBeginCapture");
  if (e == cudaSuccess) {
    const cudaError_t end = cudaStreamEndCapture(stream_, &graph);
    if (s.ok() && end != cudaSuccess) s = CudaStatus(end, "cudaStreamEndCapture");
  }
  cudaGraphExec_t exec = nullptr;
  if (s.ok()) {
    e = cudaGraphInstantiate(&exec, graph, 0);
    if (e != cudaSuccess) s = CudaStatus(e, "cudaGraphInstantiate");
  }
  if (graph != nullptr) cudaGraphDestroy(graph);
  if (!s.ok()) {
    // Run this model without graphs from now on; the direct path reports real errors.
    cudaGetLastError();
    graphs_failed_ = true;
    return Enqueue(p, f);
  }
  if (graphs_.size() >= kMaxGraphs) {
    auto oldest = graphs_.begin();
    for (auto g = graphs_.begin(); g != graphs_.end(); ++g)
      if (g->second.last_use < oldest->second.last_use) oldest = g;
    cudaGraphExecDestroy(oldest->second.exec);
    graphs_.erase(oldest);
  }
  graphs_[key] = Graph{exec, clock_};
  BK_CUDA_RETURN(cudaGraphLaunch(exec, stream_));
  return Status::Ok();
}

Status CudaModel::Run(const BatchInput& in, const ForwardOutputs& out) {
  // Ids, offsets, positions, token types, mask values and logits_tokens are all checked here.
  BK_RETURN_IF_ERROR(ValidateInput(in));
  const ModelConfig& c = config_;
  const Architecture arch = c.architecture;
  const HeadSpec& spec = SpecOf(c);
  const int64_t T = in.num_tokens, B = in.num_sequences;
  // Positions, attention offsets, and the MLM head's rows: every token, or only in.logits_tokens
  // (possibly none).
  PlanBatch(c, in, &plan_);
  const bool rows_given = in.logits_tokens != nullptr;
  const int32_t* rows = in.logits_tokens;
  const int64_t R = plan_.R();
  const OutputSizes sizes = Sizes(in);
  BK_RETURN_IF_ERROR(ValidateOutputs(sizes, out));

  // Which parts run, from the head's description and the outputs asked for.
  const bool linear = spec.linear != nullptr;
  Flags f;
  f.token_types = in.token_type_ids != nullptr;
  f.mask = in.attention_mask != nullptr;
  f.rows = rows_given && R > 0;
  f.mlm = R > 0 && spec.mlm && (linear ? out.prediction_logits.data : out.logits.data);
  f.pretraining_nsp = spec.mlm && linear && out.seq_relationship_logits.data;
  f.pooled_head = !spec.mlm && linear && !spec.per_token && out.logits.data;
  f.token_head = linear && spec.per_token && !spec.start_end && out.logits.data;
  f.qa = spec.start_end && (out.start_logits.data || out.end_logits.data);
  f.pooler = sizes.pooler_output > 0 && (out.pooler_output.data || f.pretraining_nsp || f.pooled_head);
  f.hidden_states = out.hidden_states.data != nullptr;
  f.attentions = out.attentions.data != nullptr;

  const Plan p = MakePlan(T, B, R, plan_.max_len, plan_.probs_per_layer, f);
  BK_CUDA_RETURN(cudaSetDevice(device_.ordinal));
  BK_RETURN_IF_ERROR(Reserve(p.total, p.inputs_bytes));

  // Inputs into pinned memory, in the arena's layout; positions and the per-sequence "no key"
  // flags are derived here (the CPU has just validated every id anyway).
  char* h = pinned_;
  std::memcpy(h + p.ids, in.input_ids, 4 * T);
  if (f.token_types) std::memcpy(h + p.tt, in.token_type_ids, 4 * T);
  std::memcpy(h + p.pos, plan_.position_ids, 4 * T);
  if (f.mask) std::memcpy(h + p.mask, in.attention_mask, T);
  std::memcpy(h + p.cu, in.cu_seqlens, 4 * (B + 1));
  uint8_t* uniform = reinterpret_cast<uint8_t*>(h + p.uniform);
  for (int64_t s = 0; s < B; ++s) {
    bool any = in.attention_mask == nullptr;
    for (int32_t t = in.cu_seqlens[s]; !any && t < in.cu_seqlens[s + 1]; ++t) any = in.attention_mask[t] != 0;
    uniform[s] = any ? 0 : 1;
  }
  if (f.rows) std::memcpy(h + p.rows, rows, 4 * R);
  if (f.attentions) std::memcpy(h + p.probs_off, plan_.probs_offsets.data(), 8 * B);
  BK_CUDA_RETURN(cudaMemcpyAsync(arena_, pinned_, p.inputs_bytes, cudaMemcpyHostToDevice, stream_));

  Status s = Execute(p, f);
  if (s.ok()) s = CopyOutputs(p, f, out);
  if (!s.ok()) {
    // Nothing enqueued may outlive this call: the next one rewrites pinned_ and may free the
    // arena, and the caller's arrays are theirs again once we return.
    cudaStreamSynchronize(stream_);
    cudaGetLastError();
  }
  return s;
}

// Only the requested outputs come back, through pinned memory: a device-to-host copy into
// pageable memory is staged by the driver chunk by chunk, and into a freshly allocated array (as
// every JS output is) it also takes a page fault per 4 KiB inside the copy; together these cost
// Node more than the model (issue 13). Here the caller's pages are touched while the GPU still
// computes, then each output moves in chunks through two pinned buffers: the GPU fills one
// while the host copies the other out.
Status CudaModel::CopyOutputs(const Plan& p, const Flags& f, const ForwardOutputs& out) {
  constexpr uintptr_t kHugePage = uintptr_t{2} << 20;
  (void)kHugePage;
  const Architecture arch = config_.architecture;
  const char* A = arena_;
  struct Piece {
    char* dst;
    const char* src;
    size_t bytes;
  };
  std::vector<Piece> pieces;
  auto want = [&](const OutputBuffer& dst, size_t off) {
    if (dst.data == nullptr || dst.size == 0) return;
    const size_t bytes = 4 * static_cast<size_t>(dst.size);
    char* d = reinterpret_cast<char*>(dst.data);
#if defined(__linux__)
    // A large fresh array: ask for 2 MiB pages (one fault, not 512; a no-op where THP is off).
    if (bytes >= (size_t{4} << 20)) {
      const uintptr_t lo = (reinterpret_cast<uintptr_t>(d) + kHugePage - 1) & ~(kHugePage - 1);
      const uintptr_t hi = (reinterpret_cast<uintptr_t>(d) + bytes) & ~(kHugePage - 1);
      if (hi > lo) madvise(reinterpret_cast<void*>(lo), hi - lo, MADV_HUGEPAGE);
    }
#endif
    // One write per page faults it in now, overlapped with the GPU (the copy overwrites it).
    for (size_t at = 0; at < bytes; at += 4096) d[at] = 0;
    for (size_t at = 0; at < bytes; at += kOutChunk) pieces.push_back(Piece{d + at, A + off + at, std::min(kOutChunk, bytes - at)});
  };
  want(out.last_hidden_state, p.hidden_f);
  if (f.pooler) want(out.pooler_output, p.pooled_f);
  if (arch == Architecture::kBertForPreTraining) {
    want(out.prediction_logits, p.head_f);
    want(out.seq_relationship_logits, p.head2_f);
  } else if (arch != Architecture::kBertForQuestionAnswering && arch != Architecture::kBertModel) {
    want(out.logits, p.head_f);
  }
  want(out.hidden_states, p.hs);
  want(out.attentions, p.probs);

  if (!pieces.empty()) {
    if (pinned_out_ == nullptr) BK_CUDA_RETURN(cudaMallocHost(&pinned_out_, 2 * kOutChunk));
    auto issue = [&](size_t i) -> Status {
      BK_CUDA_RETURN(cudaMemcpyAsync(pinned_out_ + (i % 2) * kOutChunk, pieces[i].src, pieces[i].bytes, cudaMemcpyDeviceToHost, stream_));
      BK_CUDA_RETURN(cudaEventRecord(out_ready_[i % 2], stream_));
      return Status::Ok();
    };
    for (size_t i = 0; i < std::min<size_t>(2, pieces.size()); ++i) BK_RETURN_IF_ERROR(issue(i));
    for (size_t i = 0; i < pieces.size(); ++i) {
      BK_CUDA_RETURN(cudaEventSynchronize(out_ready_[i % 2]));
      std::memcpy(pieces[i].dst, pinned_out_ + (i % 2) * kOutChunk, pieces[i].bytes);
      if (i + 2 < pieces.size()) BK_RETURN_IF_ERROR(issue(i + 2));
    }
  }
  if (f.qa) {
    // [T, 2] on the device: column 0 is start, column 1 end (T floats each: small).
    if (out.start_logits.data)
      BK_CUDA_RETURN(cudaMemcpy2DAsync(out.start_logits.data, 4, A + p.head_f, 8, 4, p.T, cudaMemcpyDeviceToHost, stream_));
    if (out.end_logits.data)
      BK_CUDA_RETURN(cudaMemcpy2DAsync(out.end_logits.data, 4, A + p.head_f + 4, 8, 4, p.T, cudaMemcpyDeviceToHost, stream_));
  }
  BK_CUDA_RETURN(cudaStreamSynchronize(stream_));
  return Status::Ok();
}

ModelInfo CudaModel::Info() const {
  ModelInfo info;
  info.backend = "cuda";
  info.isa = "sm_" + std::to_string(device_.compute_capability);
  info.threads = 0;
  info.dtype = PrecisionName(prec_);
  info.dtype_fallback = dtype_fallback_;
  const lt::Choice gemm = gemm_.choice();
  info.gemm = gemm.gemm;
  info.gemm_reason = gemm.reason;
  info.weight_bytes = weight_bytes_;
  info.weights_shared = false;
  info.workspace_bytes = static_cast<int64_t>(arena_bytes_);
  return info;
}

}  // namespace

Status ReadBackWeights(Model& model, std::vector<DeviceTensor>* out) {
  if (model.Info().backend != "cuda") return InvalidArgument("ReadBackWeights needs a model of the CUDA backend");
  return static_cast<CudaModel&>(model).ReadBack(out);
}

Status CreateModel(const ModelConfig& config, const std::vector<TensorView>& tensors, const EngineOptions& options,
                   const CudaOptions& cuda_options, std::unique_ptr<Model>* out) {
  BK_RETURN_IF_ERROR(config.Validate());
  BK_RETURN_IF_ERROR(RequireBertGraph(config, "the CUDA backend"));
  (void)options;
  const ProbeResult probe = Probe();
  if (!probe.available) {
    std::string why;
    for (const auto& r : probe.reasons) why += (why.empty() ? "" : "; ") + r;
    return Status(StatusCode::kUnavailable, "no usable CUDA device: " + why);
  }
  const int device = cuda_options.device >= 0 ? cuda_options.device : probe.device;
  if (device >= static_cast<int>(probe.devices.size()) || !probe.devices[device].supported)
    return Status(StatusCode::kUnavailable, "CUDA device " + std::to_string(device) + " cannot be used");
  try {
    auto model = std::make_unique<CudaModel>(config, cuda_options, probe.devices[device]);
    BK_RETURN_IF_ERROR(model->Load(tensors));
    *out = std::move(model);
    return Status::Ok();
  } catch (const std::bad_alloc&) {
    return Status(StatusCode::kOutOfMemory, "out of host memory while loading the weights");
  } catch (const std::exception& e) {
    return Internal(e.what());
  }
}

}  // namespace cuda

Status CreateCudaModel(const ModelConfig& config, const std::vector<TensorView>& tensors, const EngineOptions& options,
                       std::unique_ptr<Model>* out) {
  std::string fallback;
  const cuda::CudaOptions co = cuda::OptionsFor(options, &fallback);
  std::unique_ptr<Model> model;
  BK_RETURN_IF_ERROR(cuda::CreateModel(config, tensors, options, co, &model));
  static_cast<cuda::CudaModel*>(model.get())->set_dtype_fallback(fallback);
  *out = std::move(model);
  return Status::Ok();
}

}  // namespace bertkit
