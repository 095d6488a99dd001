// The engine's C++ API: what the N-API addon, the C++ tests and benchmarks use. It knows nothing
// of JavaScript. Names mirror Hugging Face transformers (config keys, module and output names).
//
// A model is created from a config and the checkpoint's tensors (canonical names: the
// BertModel names without the "bert." prefix, heads as transformers names them), converted once
// to the compute dtype and packed for the kernels. A forward runs on a packed, padding-free batch
// and writes into caller-owned buffers.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "bertkit/status.h"

namespace bertkit {

enum class Architecture : int {
  kBertModel = 0,
  kBertForMaskedLM,
  kBertForNextSentencePrediction,
  kBertForPreTraining,
  kBertForSequenceClassification,
  kBertForTokenClassification,
  kBertForQuestionAnswering,
  kBertForMultipleChoice,
};
bool ParseArchitecture(std::string_view name, Architecture* out);
const char* ArchitectureName(Architecture a);

// config.hidden_act. "gelu" is the exact erf GELU; "gelu_new", "gelu_pytorch_tanh" and
// "gelu_fast" are the same tanh approximation (to float32 rounding).
enum class Activation : int { kGelu = 0, kGeluTanh, kRelu };
bool ParseActivation(std::string_view name, Activation* out);

struct ModelConfig {
  Architecture architecture = Architecture::kBertModel;
  int64_t vocab_size = 0;
  int64_t hidden_size = 0;
  int64_t num_hidden_layers = 0;
  int64_t num_attention_heads = 0;
  int64_t intermediate_size = 0;
  int64_t max_position_embeddings = 0;
  int64_t type_vocab_size = 0;
  int64_t num_labels = 0;  // classifier outputs (sequence / token classification)
  double layer_norm_eps = 1e-12;
  Activation hidden_act = Activation::kGelu;
  bool has_pooler = true;           // BertModel checkpoints may lack pooler weights
  bool tie_word_embeddings = true;  // MLM decoder = word embeddings

  Status Validate() const;
};

enum class DType : int { kF32 = 0, kF16, kBF16 };
bool ParseDType(std::string_view name, DType* out);
size_t DTypeSize(DType d);

// A checkpoint tensor as stored (little-endian, row-major); the engine copies and converts it.
// Its bytes are either in memory (`data`) or still in a file (`file` at `offset`): the engine
// then reads them itself, once, while converting, so a checkpoint is never held twice.
struct TensorView {
  std::string name;
  DType dtype = DType::kF32;
  std::vector<int64_t> dims;
  const void* data = nullptr;
  size_t nbytes = 0;
  std::string file;
  uint64_t offset = 0;
};

// What the encoder's linear layers compute in. kBFloat16 needs AVX512-BF16 and kInt8
// AVX512-VNNI; where the CPU lacks them the model computes in float32 and ModelInfo says why.
// Embeddings, LayerNorm, attention, the pooler and the task heads always compute in float32.
// kFloat16 is a GPU dtype (tensor cores); the CPU computes it in float32 and says so.
enum class ComputeDType : int { kFloat32 = 0, kBFloat16, kInt8, kFloat16 };
bool ParseComputeDType(std::string_view name, ComputeDType* out);
const char* ComputeDTypeName(ComputeDType d);

// Which backend runs a model: the CPU engine, or the CUDA one (CreateCudaModel, in builds with
// the CUDA backend; the N-API addon answers kUnavailable where it has none).
enum class Device : int { kCpu = 0, kCuda };

struct EngineOptions {
  int threads = 0;  // 0 = every core this process may use
  ComputeDType dtype = ComputeDType::kFloat32;
  // Identifies the weights' source (files, sizes, modification times, config): models created
  // with the same key (and dtype) in one process share one read-only copy of the weights.
  // Empty: never shared.
  std::string share_key;
  Device device = Device::kCpu;  // last, so that EngineOptions{threads, dtype, ...} still reads as before
};

// A packed batch: sequence s is tokens [cu_seqlens[s], cu_seqlens[s + 1]).
struct BatchInput {
  const int32_t* input_ids = nullptr;       // [num_tokens]
  int64_t num_tokens = 0;
  const int32_t* cu_seqlens = nullptr;      // [num_sequences + 1], 0 first, num_tokens last
  int64_t num_sequences = 0;
  const int32_t* token_type_ids = nullptr;  // [num_tokens] or null = zeros
  const int32_t* position_ids = nullptr;    // [num_tokens] or null = 0..n-1 per sequence
  // [num_tokens] or null = ones. 0 marks a token that is computed but attended by no token
  // (a padded position in transformers' terms).
  const uint8_t* attention_mask = nullptr;
  // The tokens (indices into the batch) whose masked-LM logits are wanted, in the order given;
  // null = every token. The MLM head is V x H per token (30522 x 768 for BERT-base): fill-mask
  // needs it at the [MASK] positions only. Other outputs are unaffected.
  const int32_t* logits_tokens = nullptr;
  int64_t num_logits_tokens = 0;
};

// A caller-owned output buffer; data == null means "not wanted".
struct OutputBuffer {
  float* data = nullptr;
  int64_t size = 0;  // in floats, must equal the size OutputSizes gives
};

// Outputs with transformers' names, in packed layout: per-token outputs are [num_tokens, ...],
// per-sequence outputs [num_sequences, ...].
struct ForwardOutputs {
  OutputBuffer last_hidden_state;        // [T, H]
  OutputBuffer pooler_output;            // [B, H]
  OutputBuffer logits;                   // MLM [T, V] (or [num_logits_tokens, V]) / NSP [B, 2] / seq cls [B, labels] / token cls [T, labels] / multiple choice [B]
  OutputBuffer prediction_logits;        // PreTraining [T, V] (or [num_logits_tokens, V])
  OutputBuffer seq_relationship_logits;  // PreTraining [B, 2]
  OutputBuffer start_logits;             // QA [T]
  OutputBuffer end_logits;               // QA [T]
  OutputBuffer hidden_states;            // [layers + 1, T, H]: embeddings, then each layer's output
  OutputBuffer attentions;               // [layers, sum over sequences of heads * n * n]
};

// Element counts of each output for a batch (0 = this architecture does not produce it).
struct OutputSizes {
  int64_t last_hidden_state = 0;
  int64_t pooler_output = 0;
  int64_t logits = 0;
  int64_t prediction_logits = 0;
  int64_t seq_relationship_logits = 0;
  int64_t start_logits = 0;
  int64_t end_logits = 0;
  int64_t hidden_states = 0;
  int64_t attentions = 0;
};

struct ModelInfo {
  std::string backend;      // "cpu"
  std::string isa;          // kernels in use: "avx512", "avx2", "generic"
  int threads = 0;
  std::string dtype;            // what the encoder computes in: "float32", "bfloat16", "int8"
  std::string dtype_fallback;   // why the requested dtype is not used (empty when it is)
  std::string gemm;             // CUDA: what the Linear layers run on: "cublasLt", "wgmma", "mma", "simt" ('' on the CPU)
  std::string gemm_reason;      // CUDA: why not cuBLASLt (empty when it is)
  int64_t weight_bytes = 0;  // memory held for weights
  bool weights_shared = false;  // the weights are another model's (EngineOptions::share_key)
  int64_t workspace_bytes = 0;
};

class Model {
 public:
  virtual ~Model() = default;
  const ModelConfig& config() const { return config_; }

  // Checks every field of the batch against the model: offsets, ids, token types, positions.
  Status ValidateInput(const BatchInput& in) const;
  OutputSizes Sizes(const BatchInput& in) const;
  // Every output buffer given is one this architecture has, sized as Sizes() says for the batch.
  Status ValidateOutputs(const OutputSizes& sizes, const ForwardOutputs& out) const;

  // Runs the model. Not reentrant: concurrent calls on one model get kBusy.
  virtual Status Forward(const BatchInput& in, const ForwardOutputs& out) = 0;
  virtual ModelInfo Info() const = 0;

 protected:
  explicit Model(const ModelConfig& config) : config_(config) {}
  ModelConfig config_;
};

// The tensors an architecture needs, with shapes (used to validate what CreateModel receives).
std::vector<std::pair<std::string, std::vector<int64_t>>> ExpectedTensors(const ModelConfig& config);
// The heads an architecture runs: the pooler (for BertModel only when has_pooler), the MLM head.
bool UsesPooler(const ModelConfig& config);
bool UsesMlmHead(const ModelConfig& config);

// Validates config and tensors (every expected name present once, shapes, byte sizes), converts
// and packs them. Never throws; allocation failure returns kOutOfMemory.
Status CreateCpuModel(const ModelConfig& config, const std::vector<TensorView>& tensors, const EngineOptions& options,
                      std::unique_ptr<Model>* out);

// The CUDA backend (cuda/backend.cu; only in builds that compile cuda/): the same validation, the
// same graph and outputs, on the GPU. EngineOptions::dtype picks what it computes in (float32,
// bfloat16; int8 computes in float16); cuda/backend.h has the CUDA-only options and the probe.
// Returns kUnavailable when no usable device answers.
Status CreateCudaModel(const ModelConfig& config, const std::vector<TensorView>& tensors, const EngineOptions& options,
                       std::unique_ptr<Model>* out);

// Limits that keep a hostile batch from asking for absurd memory.
constexpr int64_t kMaxTokensPerBatch = int64_t{1} << 24;
constexpr int64_t kMaxSequencesPerBatch = int64_t{1} << 20;

const char* EngineVersion();

}  // namespace bertkit
