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

// The checkpoint's class name (config.architectures[0]): a model family and a task head. The
// table in core/model.cc maps each to its Family and Head; backends read those, never this name.
enum class Architecture : int {
  kBertModel = 0,
  kBertForMaskedLM,
  kBertForNextSentencePrediction,
  kBertForPreTraining,
  kBertForSequenceClassification,
  kBertForTokenClassification,
  kBertForQuestionAnswering,
  kBertForMultipleChoice,
  kDistilBertModel,
  kDistilBertForMaskedLM,
  kDistilBertForSequenceClassification,
  kDistilBertForTokenClassification,
  kDistilBertForQuestionAnswering,
  kDistilBertForMultipleChoice,
  kRobertaModel,
  kRobertaForMaskedLM,
  kRobertaForSequenceClassification,
  kRobertaForTokenClassification,
  kRobertaForQuestionAnswering,
  kRobertaForMultipleChoice,
  kXLMRobertaModel,
  kXLMRobertaForMaskedLM,
  kXLMRobertaForSequenceClassification,
  kXLMRobertaForTokenClassification,
  kXLMRobertaForQuestionAnswering,
  kXLMRobertaForMultipleChoice,
  kCamembertModel,
  kCamembertForMaskedLM,
  kCamembertForSequenceClassification,
  kCamembertForTokenClassification,
  kCamembertForQuestionAnswering,
  kCamembertForMultipleChoice,
  kAlbertModel,
  kAlbertForMaskedLM,
  kAlbertForPreTraining,
  kAlbertForSequenceClassification,
  kAlbertForTokenClassification,
  kAlbertForQuestionAnswering,
  kAlbertForMultipleChoice,
  kElectraModel,
  kElectraForPreTraining,
  kElectraForMaskedLM,
  kElectraForSequenceClassification,
  kElectraForTokenClassification,
  kElectraForQuestionAnswering,
};
bool ParseArchitecture(std::string_view name, Architecture* out);
const char* ArchitectureName(Architecture a);

// The encoder's family. The structure fields of ModelConfig (EmbeddingsConfig, LayerSharing,
// PoolerConfig, HeadConfig) carry what DistilBERT, RoBERTa, ALBERT and ELECTRA differ in, so that
// a family is a row of data read by every backend: no backend branches on Family. XLM-RoBERTa
// and CamemBERT are RoBERTa's graph.
enum class Family : int { kBert = 0, kDistilBert, kRoberta, kAlbert, kElectra };
// The task head on the encoder, as transformers' *For* classes name it.
enum class Head : int {
  kNone = 0,  // the bare encoder (BertModel)
  kMaskedLM,
  kNextSentencePrediction,
  kPreTraining,
  kSequenceClassification,
  kTokenClassification,
  kQuestionAnswering,
  kMultipleChoice,
  // ELECTRA's discriminator (ElectraForPreTraining): one replaced-token logit per token, from
  // discriminator_predictions (dense -> hidden_act -> dense_prediction), i.e. the head's own
  // dense layer then a [1, H] linear on every token.
  kDiscriminator,
};
Family FamilyOf(Architecture a);
Head HeadOf(Architecture a);

// config.hidden_act. "gelu" is the exact erf GELU; "gelu_new", "gelu_pytorch_tanh" and
// "gelu_fast" are the same tanh approximation (to float32 rounding). kTanh is no hidden_act name:
// it is the pooler's (and RoBERTa's classification head's) activation.
enum class Activation : int { kGelu = 0, kGeluTanh, kRelu, kTanh };
bool ParseActivation(std::string_view name, Activation* out);

// Embeddings: word + position (+ token type) lookups, LayerNorm, then (when embedding_size is set)
// a projection to hidden_size.
struct EmbeddingsConfig {
  bool token_type_embeddings = true;  // DistilBERT has none
  // >= 0: RoBERTa's positions, made from the ids (nn.Embedding padding_idx): a token equal to
  // padding_idx gets padding_idx, the others padding_idx + 1 + the count of non-padding tokens
  // before them in the sequence. -1: positions 0..n-1.
  int64_t padding_idx = -1;
  // The lookup tables' width when it is not hidden_size (ALBERT, ELECTRA): the embeddings are then
  // projected to hidden_size ("embeddings_project"). 0 = hidden_size, no projection.
  int64_t embedding_size = 0;
};

// Layers that share weights (ALBERT): num_hidden_groups weight sets of inner_group_num layers;
// layer i runs group i / (num_hidden_layers / num_hidden_groups). 0 groups = every layer its own.
struct LayerSharing {
  int64_t num_hidden_groups = 0;
  int64_t inner_group_num = 1;
};

// BertPooler: activation(dense(h of each sequence's first token)).
struct PoolerConfig {
  bool present = true;  // BertModel checkpoints may lack pooler weights; ELECTRA and DistilBERT have none
  Activation activation = Activation::kTanh;
};

// The encoder: hyperparameters (config.json keys) and structure. What a family is.
struct EncoderConfig {
  Family family = Family::kBert;
  int64_t vocab_size = 0;
  int64_t hidden_size = 0;
  int64_t num_hidden_layers = 0;
  int64_t num_attention_heads = 0;
  int64_t intermediate_size = 0;
  int64_t max_position_embeddings = 0;
  int64_t type_vocab_size = 0;
  double layer_norm_eps = 1e-12;
  Activation hidden_act = Activation::kGelu;
  EmbeddingsConfig embeddings;
  LayerSharing sharing;
  PoolerConfig pooler;
};

// The task head on the encoder: which one (from the architecture) and its parameters.
struct HeadConfig {
  int64_t num_labels = 0;           // classifier outputs (sequence / token classification)
  bool tie_word_embeddings = true;  // MLM decoder = word embeddings
  // Sequence heads read each sequence's first token through the pooler (BERT, ALBERT), or through
  // a dense + activation of their own when this is set (DistilBERT's pre_classifier + ReLU,
  // RoBERTa's classifier.dense + tanh, ELECTRA's + gelu).
  bool own_dense = false;
  Activation own_dense_act = Activation::kTanh;
  // Training: the classifier dropout also runs before the own dense layer (RoBERTa's and ELECTRA's
  // classification heads; DistilBERT's pre_classifier has none).
  bool own_dense_input_dropout = false;
  // The MLM transform's activation: hidden_act, except where a family hard-codes one (ELECTRA's
  // generator: gelu).
  bool transform_act_is_hidden_act = true;
  Activation transform_act = Activation::kGelu;
};

struct ModelConfig : EncoderConfig, HeadConfig {
  Architecture architecture = Architecture::kBertModel;

  Head head() const { return HeadOf(architecture); }
  const EncoderConfig& encoder() const { return *this; }
  const HeadConfig& head_config() const { return *this; }
  // The MLM transform's activation.
  Activation TransformAct() const { return transform_act_is_hidden_act ? hidden_act : transform_act; }
  // The first position id and the count of positions a sequence may use (RoBERTa's start after padding_idx).
  int64_t PositionOffset() const { return embeddings.padding_idx >= 0 ? embeddings.padding_idx + 1 : 0; }
  int64_t MaxSequenceLength() const { return max_position_embeddings - PositionOffset(); }

  Status Validate() const;
};

// Layer applications: num_hidden_layers, times inner_group_num when layers share weights (ALBERT
// runs each group's inner layers at every depth, and transformers reports hidden states and
// attentions per application).
int64_t NumLayerApplications(const ModelConfig& c);
// The weight set (index into the visitor's layers) application j runs.
int64_t LayerWeightIndex(const ModelConfig& c, int64_t j);
// The backends that implement only BERT's graph (the CUDA backend, the trainer) call this after
// Validate: kUnavailable, naming the first structural part they lack and `who`.
Status RequireBertGraph(const ModelConfig& c, const char* who);

// What a task head reads and writes, one row per Head (core/model.cc): every backend and the
// trainer run the heads from this table, not from the architecture.
enum class HeadWidth : int { kNone = 0, kNumLabels, kOne, kTwo };
struct HeadSpec {
  Head head = Head::kNone;
  bool pooler = false;        // reads the pooled first token of each sequence (the pooler runs)
  bool mlm = false;           // BertLMPredictionHead (transform, LayerNorm, decoder) on the MLM rows
  // The head's own linear layer (checkpoint name), on the pooled rows or on every token; null = none.
  const char* linear = nullptr;
  bool per_token = false;     // the linear runs on every token (token classification, QA)
  HeadWidth width = HeadWidth::kNone;
  bool classifier_dropout = false;  // classifier_dropout before the linear (training)
  // Where the outputs go: `logits`, except PreTraining (prediction_logits for the MLM, the linear
  // to seq_relationship_logits) and QA (the linear's two columns to start_logits / end_logits).
  bool start_end = false;
};
const HeadSpec& SpecOf(Head head);
inline const HeadSpec& SpecOf(const ModelConfig& c) { return SpecOf(c.head()); }
// Logits per row of the head's linear (0 when it has none).
int64_t HeadLinearWidth(const ModelConfig& c);

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
  OutputBuffer logits;                   // MLM [T, V] (or [num_logits_tokens, V]) / NSP [B, 2] / seq cls [B, labels] / token cls [T, labels] / multiple choice [B] / discriminator [T]
  OutputBuffer prediction_logits;        // PreTraining [T, V] (or [num_logits_tokens, V])
  OutputBuffer seq_relationship_logits;  // PreTraining [B, 2] (ALBERT's sop_logits)
  OutputBuffer start_logits;             // QA [T]
  OutputBuffer end_logits;               // QA [T]
  OutputBuffer hidden_states;            // [applications + 1, T, H]: embeddings (projected), then each layer application's output
  OutputBuffer attentions;               // [applications, sum over sequences of heads * n * n] (NumLayerApplications)
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

// The tensors a model needs, with shapes (used to validate what CreateModel receives), in the
// order core/bert_weights.h visits them.
std::vector<std::pair<std::string, std::vector<int64_t>>> ExpectedTensors(const ModelConfig& config);
// The parts a model runs: the pooler (for the bare encoder only when pooler.present), the MLM head.
bool UsesPooler(const ModelConfig& config);
bool UsesMlmHead(const ModelConfig& config);

// Validates config and tensors (every expected name present once, shapes, byte sizes), converts
// and packs them. Never throws; allocation failure returns kOutOfMemory.
Status CreateCpuModel(const ModelConfig& config, const std::vector<TensorView>& tensors, const EngineOptions& options,
                      std::unique_ptr<Model>* out);

// The CUDA backend (cuda/backend.cu; only in builds that compile cuda/): the same validation, the
// same graph and outputs, on the GPU. EngineOptions::dtype picks what it computes in (float32,
// bfloat16; int8 computes in float16); cuda/backend.h has the CUDA-only options and the probe.
// Returns kUnavailable when no usable device answers, and for a description that is not BERT's
// graph (RequireBertGraph: the other families run on the CPU engine).
Status CreateCudaModel(const ModelConfig& config, const std::vector<TensorView>& tensors, const EngineOptions& options,
                       std::unique_ptr<Model>* out);

// Limits that keep a hostile batch from asking for absurd memory.
constexpr int64_t kMaxTokensPerBatch = int64_t{1} << 24;
constexpr int64_t kMaxSequencesPerBatch = int64_t{1} << 20;

const char* EngineVersion();

}  // namespace bertkit
