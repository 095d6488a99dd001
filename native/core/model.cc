// What every backend shares: names, config validation, the tensors an architecture needs, and
// validation and sizing of a batch.
#include <algorithm>
#include <iterator>
#include <string>

#include "bertkit/engine.h"
#include "core/bert_weights.h"

namespace bertkit {

namespace {

// One row per architecture: its name, family and head.
struct Named {
  const char* name;
  Architecture value;
  Family family;
  Head head;
};
constexpr Named kArchitectures[] = {
    {"BertModel", Architecture::kBertModel, Family::kBert, Head::kNone},
    {"BertForMaskedLM", Architecture::kBertForMaskedLM, Family::kBert, Head::kMaskedLM},
    {"BertForNextSentencePrediction", Architecture::kBertForNextSentencePrediction, Family::kBert, Head::kNextSentencePrediction},
    {"BertForPreTraining", Architecture::kBertForPreTraining, Family::kBert, Head::kPreTraining},
    {"BertForSequenceClassification", Architecture::kBertForSequenceClassification, Family::kBert, Head::kSequenceClassification},
    {"BertForTokenClassification", Architecture::kBertForTokenClassification, Family::kBert, Head::kTokenClassification},
    {"BertForQuestionAnswering", Architecture::kBertForQuestionAnswering, Family::kBert, Head::kQuestionAnswering},
    {"BertForMultipleChoice", Architecture::kBertForMultipleChoice, Family::kBert, Head::kMultipleChoice},
    {"DistilBertModel", Architecture::kDistilBertModel, Family::kDistilBert, Head::kNone},
    {"DistilBertForMaskedLM", Architecture::kDistilBertForMaskedLM, Family::kDistilBert, Head::kMaskedLM},
    {"DistilBertForSequenceClassification", Architecture::kDistilBertForSequenceClassification, Family::kDistilBert, Head::kSequenceClassification},
    {"DistilBertForTokenClassification", Architecture::kDistilBertForTokenClassification, Family::kDistilBert, Head::kTokenClassification},
    {"DistilBertForQuestionAnswering", Architecture::kDistilBertForQuestionAnswering, Family::kDistilBert, Head::kQuestionAnswering},
    {"DistilBertForMultipleChoice", Architecture::kDistilBertForMultipleChoice, Family::kDistilBert, Head::kMultipleChoice},
    {"RobertaModel", Architecture::kRobertaModel, Family::kRoberta, Head::kNone},
    {"RobertaForMaskedLM", Architecture::kRobertaForMaskedLM, Family::kRoberta, Head::kMaskedLM},
    {"RobertaForSequenceClassification", Architecture::kRobertaForSequenceClassification, Family::kRoberta, Head::kSequenceClassification},
    {"RobertaForTokenClassification", Architecture::kRobertaForTokenClassification, Family::kRoberta, Head::kTokenClassification},
    {"RobertaForQuestionAnswering", Architecture::kRobertaForQuestionAnswering, Family::kRoberta, Head::kQuestionAnswering},
    {"RobertaForMultipleChoice", Architecture::kRobertaForMultipleChoice, Family::kRoberta, Head::kMultipleChoice},
    {"XLMRobertaModel", Architecture::kXLMRobertaModel, Family::kRoberta, Head::kNone},
    {"XLMRobertaForMaskedLM", Architecture::kXLMRobertaForMaskedLM, Family::kRoberta, Head::kMaskedLM},
    {"XLMRobertaForSequenceClassification", Architecture::kXLMRobertaForSequenceClassification, Family::kRoberta, Head::kSequenceClassification},
    {"XLMRobertaForTokenClassification", Architecture::kXLMRobertaForTokenClassification, Family::kRoberta, Head::kTokenClassification},
    {"XLMRobertaForQuestionAnswering", Architecture::kXLMRobertaForQuestionAnswering, Family::kRoberta, Head::kQuestionAnswering},
    {"XLMRobertaForMultipleChoice", Architecture::kXLMRobertaForMultipleChoice, Family::kRoberta, Head::kMultipleChoice},
    {"CamembertModel", Architecture::kCamembertModel, Family::kRoberta, Head::kNone},
    {"CamembertForMaskedLM", Architecture::kCamembertForMaskedLM, Family::kRoberta, Head::kMaskedLM},
    {"CamembertForSequenceClassification", Architecture::kCamembertForSequenceClassification, Family::kRoberta, Head::kSequenceClassification},
    {"CamembertForTokenClassification", Architecture::kCamembertForTokenClassification, Family::kRoberta, Head::kTokenClassification},
    {"CamembertForQuestionAnswering", Architecture::kCamembertForQuestionAnswering, Family::kRoberta, Head::kQuestionAnswering},
    {"CamembertForMultipleChoice", Architecture::kCamembertForMultipleChoice, Family::kRoberta, Head::kMultipleChoice},
    {"AlbertModel", Architecture::kAlbertModel, Family::kAlbert, Head::kNone},
    {"AlbertForMaskedLM", Architecture::kAlbertForMaskedLM, Family::kAlbert, Head::kMaskedLM},
    {"AlbertForPreTraining", Architecture::kAlbertForPreTraining, Family::kAlbert, Head::kPreTraining},
    {"AlbertForSequenceClassification", Architecture::kAlbertForSequenceClassification, Family::kAlbert, Head::kSequenceClassification},
    {"AlbertForTokenClassification", Architecture::kAlbertForTokenClassification, Family::kAlbert, Head::kTokenClassification},
    {"AlbertForQuestionAnswering", Architecture::kAlbertForQuestionAnswering, Family::kAlbert, Head::kQuestionAnswering},
    {"AlbertForMultipleChoice", Architecture::kAlbertForMultipleChoice, Family::kAlbert, Head::kMultipleChoice},
    {"ElectraModel", Architecture::kElectraModel, Family::kElectra, Head::kNone},
    {"ElectraForPreTraining", Architecture::kElectraForPreTraining, Family::kElectra, Head::kDiscriminator},
    {"ElectraForMaskedLM", Architecture::kElectraForMaskedLM, Family::kElectra, Head::kMaskedLM},
    {"ElectraForSequenceClassification", Architecture::kElectraForSequenceClassification, Family::kElectra, Head::kSequenceClassification},
    {"ElectraForTokenClassification", Architecture::kElectraForTokenClassification, Family::kElectra, Head::kTokenClassification},
    {"ElectraForQuestionAnswering", Architecture::kElectraForQuestionAnswering, Family::kElectra, Head::kQuestionAnswering},
};

const Named* Find(Architecture arch) {
  for (const auto& a : kArchitectures)
    if (a.value == arch) return &a;
  return nullptr;
}

// One row per head (indexed by Head): what it reads, its linear layer, where its outputs go.
HeadSpec MakeSpec(Head head, bool pooler, bool mlm, const char* linear, bool per_token, HeadWidth width, bool classifier_dropout,
                  bool start_end) {
  HeadSpec s;
  s.head = head;
  s.pooler = pooler;
  s.mlm = mlm;
  s.linear = linear;
  s.per_token = per_token;
  s.width = width;
  s.classifier_dropout = classifier_dropout;
  s.start_end = start_end;
  return s;
}
const HeadSpec kHeads[] = {
    //       head                            pooler mlm    linear                  per_token width               cls drop start_end
    MakeSpec(Head::kNone,                    false, false, nullptr,                false, HeadWidth::kNone,      false, false),
    MakeSpec(Head::kMaskedLM,                false, true,  nullptr,                false, HeadWidth::kNone,      false, false),
    MakeSpec(Head::kNextSentencePrediction,  true,  false, "cls.seq_relationship", false, HeadWidth::kTwo,       false, false),
    MakeSpec(Head::kPreTraining,             true,  true,  "cls.seq_relationship", false, HeadWidth::kTwo,       false, false),
    MakeSpec(Head::kSequenceClassification,  true,  false, "classifier",           false, HeadWidth::kNumLabels, true,  false),
    MakeSpec(Head::kTokenClassification,     false, false, "classifier",           true,  HeadWidth::kNumLabels, true,  false),
    MakeSpec(Head::kQuestionAnswering,       false, false, "qa_outputs",           true,  HeadWidth::kTwo,       false, true),
    MakeSpec(Head::kMultipleChoice,          true,  false, "classifier",           false, HeadWidth::kOne,       true,  false),
    MakeSpec(Head::kDiscriminator,           false, false, "classifier",           true,  HeadWidth::kOne,       false, false),
};

}  // namespace

Family FamilyOf(Architecture a) {
  const Named* n = Find(a);
  return n ? n->family : Family::kBert;
}

Head HeadOf(Architecture a) {
  const Named* n = Find(a);
  return n ? n->head : Head::kNone;
}

const HeadSpec& SpecOf(Head head) {
  const int i = static_cast<int>(head);
  return kHeads[i >= 0 && i < static_cast<int>(std::size(kHeads)) ? i : 0];
}

int64_t HeadLinearWidth(const ModelConfig& c) {
  switch (SpecOf(c).width) {
    case HeadWidth::kNumLabels: return c.num_labels;
    case HeadWidth::kOne: return 1;
    case HeadWidth::kTwo: return 2;
    case HeadWidth::kNone: return 0;
  }
  return 0;
}

// A sequence head with its own dense layer reads the first token itself, without the pooler
// (transformers builds those models with add_pooling_layer=False, or has no pooler at all).
bool UsesPooler(const ModelConfig& c) {
  return c.head() == Head::kNone ? c.pooler.present : SpecOf(c).pooler && !c.own_dense && c.pooler.present;
}

int64_t NumLayerApplications(const ModelConfig& c) {
  return c.sharing.num_hidden_groups > 0 ? c.num_hidden_layers * c.sharing.inner_group_num : c.num_hidden_layers;
}

int64_t LayerWeightIndex(const ModelConfig& c, int64_t j) {
  if (c.sharing.num_hidden_groups <= 0) return j;
  // transformers' AlbertTransformer: layer i runs group int(i / (num_hidden_layers / num_hidden_groups)).
  const int64_t inner = c.sharing.inner_group_num, layer = j / inner;
  const int64_t group = static_cast<int64_t>(static_cast<double>(layer) /
                                             (static_cast<double>(c.num_hidden_layers) / static_cast<double>(c.sharing.num_hidden_groups)));
  return group * inner + j % inner;
}

Status RequireBertGraph(const ModelConfig& c, const char* who) {
  auto lacks = [&](const std::string& what) {
    return Status(StatusCode::kUnavailable, std::string(who) + " runs BERT's graph only: " + what + " (" +
                                                ArchitectureName(c.architecture) + ") is not implemented there; the CPU engine runs it");
  };
  if (!c.embeddings.token_type_embeddings) return lacks("embeddings without token types");
  if (c.embeddings.padding_idx >= 0) return lacks("positions from padding_idx");
  if (c.embeddings.embedding_size != 0 && c.embeddings.embedding_size != c.hidden_size) return lacks("an embeddings projection");
  if (c.sharing.num_hidden_groups != 0) return lacks("layers sharing weights");
  if (c.pooler.activation != Activation::kTanh) return lacks("a pooler activation other than tanh");
  if (c.own_dense) return lacks("a head with its own dense layer");
  if (!c.transform_act_is_hidden_act) return lacks("an MLM transform activation other than hidden_act");
  if (c.head() == Head::kDiscriminator) return lacks("the discriminator head");
  return Status::Ok();
}

bool UsesMlmHead(const ModelConfig& c) { return SpecOf(c).mlm; }

bool ParseArchitecture(std::string_view name, Architecture* out) {
  for (const auto& a : kArchitectures) {
    if (name == a.name) {
      *out = a.value;
      return true;
    }
  }
  return false;
}

const char* ArchitectureName(Architecture arch) {
  const Named* n = Find(arch);
  return n ? n->name : "unknown";
}

bool ParseActivation(std::string_view name, Activation* out) {
  if (name == "gelu") *out = Activation::kGelu;
  else if (name == "gelu_new" || name == "gelu_pytorch_tanh" || name == "gelu_fast") *out = Activation::kGeluTanh;
  else if (name == "relu") *out = Activation::kRelu;
  else return false;
  return true;
}

bool ParseDType(std::string_view name, DType* out) {
  if (name == "F32") *out = DType::kF32;
  else if (name == "F16") *out = DType::kF16;
  else if (name == "BF16") *out = DType::kBF16;
  else return false;
  return true;
}

size_t DTypeSize(DType d) { return d == DType::kF32 ? 4 : 2; }

bool ParseComputeDType(std::string_view name, ComputeDType* out) {
  if (name == "float32") *out = ComputeDType::kFloat32;
  else if (name == "bfloat16") *out = ComputeDType::kBFloat16;
  else if (name == "int8") *out = ComputeDType::kInt8;
  else if (name == "float16") *out = ComputeDType::kFloat16;
  else return false;
  return true;
}

const char* ComputeDTypeName(ComputeDType d) {
  switch (d) {
    case ComputeDType::kFloat32: return "float32";
    case ComputeDType::kBFloat16: return "bfloat16";
    case ComputeDType::kInt8: return "int8";
    case ComputeDType::kFloat16: return "float16";
  }
  return "float32";
}

Status ModelConfig::Validate() const {
  auto range = [](const char* key, int64_t v, int64_t lo, int64_t hi) -> Status {
    if (v < lo || v > hi) {
      return InvalidArgument(std::string(key) + " must be in [" + std::to_string(lo) + ", " + std::to_string(hi) +
                             "], got " + std::to_string(v));
    }
    return Status::Ok();
  };
  BK_RETURN_IF_ERROR(range("vocab_size", vocab_size, 1, int64_t{1} << 22));
  BK_RETURN_IF_ERROR(range("hidden_size", hidden_size, 1, int64_t{1} << 15));
  BK_RETURN_IF_ERROR(range("num_hidden_layers", num_hidden_layers, 1, 1024));
  BK_RETURN_IF_ERROR(range("num_attention_heads", num_attention_heads, 1, 1024));
  BK_RETURN_IF_ERROR(range("intermediate_size", intermediate_size, 1, int64_t{1} << 17));
  BK_RETURN_IF_ERROR(range("max_position_embeddings", max_position_embeddings, 1, int64_t{1} << 17));
  BK_RETURN_IF_ERROR(range("type_vocab_size", type_vocab_size, 1, int64_t{1} << 16));
  if (hidden_size % num_attention_heads != 0) {
    return InvalidArgument("hidden_size (" + std::to_string(hidden_size) + ") is not a multiple of num_attention_heads (" +
                           std::to_string(num_attention_heads) + ")");
  }
  if (Find(architecture) == nullptr) return InvalidArgument("unknown architecture");
  if (SpecOf(*this).width == HeadWidth::kNumLabels) BK_RETURN_IF_ERROR(range("num_labels", num_labels, 1, int64_t{1} << 20));
  if (!(layer_norm_eps >= 0 && layer_norm_eps < 1)) return InvalidArgument("layer_norm_eps must be in [0, 1)");
  if (hidden_act == Activation::kTanh) return InvalidArgument("hidden_act tanh is not supported");
  if (embeddings.padding_idx >= 0) {
    BK_RETURN_IF_ERROR(range("padding_idx", embeddings.padding_idx, 0, vocab_size - 1));
    if (MaxSequenceLength() < 1)
      return InvalidArgument("max_position_embeddings must leave room for positions after padding_idx + 1");
  }
  if (embeddings.embedding_size != 0) BK_RETURN_IF_ERROR(range("embedding_size", embeddings.embedding_size, 1, int64_t{1} << 15));
  if (sharing.num_hidden_groups != 0) {
    BK_RETURN_IF_ERROR(range("num_hidden_groups", sharing.num_hidden_groups, 1, num_hidden_layers));
    BK_RETURN_IF_ERROR(range("inner_group_num", sharing.inner_group_num, 1, 1024));
  } else if (sharing.inner_group_num != 1) {
    return InvalidArgument("inner_group_num needs num_hidden_groups (layers sharing weights)");
  }
  if (own_dense && !(head() == Head::kSequenceClassification || head() == Head::kMultipleChoice || head() == Head::kDiscriminator))
    return InvalidArgument("a head's own dense layer belongs to sequence classification, multiple choice or the discriminator");
  if (head() == Head::kDiscriminator && !own_dense) return InvalidArgument("the discriminator head has its own dense layer");
  if (SpecOf(*this).pooler && !own_dense && !pooler.present)
    return InvalidArgument(std::string(ArchitectureName(architecture)) + " reads the pooler, which this description lacks");
  return Status::Ok();
}

std::vector<std::pair<std::string, std::vector<int64_t>>> ExpectedTensors(const ModelConfig& c) {
  std::vector<std::pair<std::string, std::vector<int64_t>>> t;
  struct None {};
  BertWeights<None, None, None> w;
  (void)VisitWeights(  // the callbacks cannot fail
      c, &w,
      [&](const TableSpec& s, None*) {
        t.push_back({s.name, {s.rows, s.cols}});
        return Status::Ok();
      },
      [&](const LinearSpec& s, None*) {
        // Each part's weight then its bias (query.weight, query.bias, key.weight, ...).
        const int64_t parts = static_cast<int64_t>(std::max(s.weights.size(), s.biases.size()));
        const int64_t rows = s.out / parts;
        for (int64_t i = 0; i < parts; ++i) {
          if (s.bias_first && i < static_cast<int64_t>(s.biases.size())) t.push_back({s.biases[i], {rows}});
          if (i < static_cast<int64_t>(s.weights.size())) t.push_back({s.weights[i], {rows, s.in}});
          if (!s.bias_first && i < static_cast<int64_t>(s.biases.size())) t.push_back({s.biases[i], {rows}});
        }
        return Status::Ok();
      },
      [&](const NormSpec& s, None*) {
        t.push_back({s.weight, {s.n}});
        t.push_back({s.bias, {s.n}});
        return Status::Ok();
      });
  return t;
}

Status Model::ValidateInput(const BatchInput& in) const {
  const ModelConfig& c = config_;
  if (in.num_sequences < 1) return InvalidArgument("the batch is empty: at least one sequence is needed");
  if (in.num_sequences > kMaxSequencesPerBatch)
    return OutOfRange("too many sequences in one batch: " + std::to_string(in.num_sequences));
  if (in.num_tokens < 1) return InvalidArgument("the batch has no tokens");
  if (in.num_tokens > kMaxTokensPerBatch) return OutOfRange("too many tokens in one batch: " + std::to_string(in.num_tokens));
  if (in.input_ids == nullptr || in.cu_seqlens == nullptr) return InvalidArgument("input_ids and cu_seqlens are required");
  if (in.cu_seqlens[0] != 0) return InvalidArgument("cu_seqlens must start at 0");
  for (int64_t s = 0; s < in.num_sequences; ++s) {
    const int64_t n = static_cast<int64_t>(in.cu_seqlens[s + 1]) - in.cu_seqlens[s];
    if (n < 1) return InvalidArgument("cu_seqlens must increase strictly: sequence " + std::to_string(s) + " is empty");
    if (n > c.MaxSequenceLength()) {
      return OutOfRange("sequence " + std::to_string(s) + " has " + std::to_string(n) + " tokens; the model accepts at most " +
                        std::to_string(c.MaxSequenceLength()) +
                        (c.PositionOffset() > 0 ? " (max_position_embeddings - padding_idx - 1)" : " (max_position_embeddings)"));
    }
  }
  if (in.cu_seqlens[in.num_sequences] != in.num_tokens)
    return InvalidArgument("cu_seqlens must end at the number of tokens (" + std::to_string(in.num_tokens) + ")");
  for (int64_t t = 0; t < in.num_tokens; ++t) {
    if (in.input_ids[t] < 0 || in.input_ids[t] >= c.vocab_size) {
      return OutOfRange("input id " + std::to_string(in.input_ids[t]) + " at token " + std::to_string(t) +
                        " is outside the vocabulary [0, " + std::to_string(c.vocab_size) + ")");
    }
  }
  // A family without token type embeddings (DistilBERT) ignores them, as its forward takes none.
  if (in.token_type_ids != nullptr && c.embeddings.token_type_embeddings) {
    for (int64_t t = 0; t < in.num_tokens; ++t) {
      if (in.token_type_ids[t] < 0 || in.token_type_ids[t] >= c.type_vocab_size) {
        return OutOfRange("token type id " + std::to_string(in.token_type_ids[t]) + " at token " + std::to_string(t) +
                          " is outside [0, " + std::to_string(c.type_vocab_size) + ") (type_vocab_size)");
      }
    }
  }
  if (in.position_ids != nullptr) {
    for (int64_t t = 0; t < in.num_tokens; ++t) {
      if (in.position_ids[t] < 0 || in.position_ids[t] >= c.max_position_embeddings) {
        return OutOfRange("position id " + std::to_string(in.position_ids[t]) + " at token " + std::to_string(t) +
                          " is outside [0, " + std::to_string(c.max_position_embeddings) + ") (max_position_embeddings)");
      }
    }
  }
  if (in.attention_mask != nullptr) {
    for (int64_t t = 0; t < in.num_tokens; ++t) {
      if (in.attention_mask[t] > 1) return InvalidArgument("attention_mask values must be 0 or 1");
    }
  }
  if (in.logits_tokens != nullptr) {
    if (!UsesMlmHead(c)) return InvalidArgument("logits_tokens selects masked-LM logits; this model has no MLM head");
    if (in.num_logits_tokens < 0 || in.num_logits_tokens > kMaxTokensPerBatch) return OutOfRange("too many logits_tokens");
    for (int64_t i = 0; i < in.num_logits_tokens; ++i) {
      if (in.logits_tokens[i] < 0 || in.logits_tokens[i] >= in.num_tokens) {
        return OutOfRange("logits_tokens[" + std::to_string(i) + "] = " + std::to_string(in.logits_tokens[i]) +
                          " is not a token of the batch [0, " + std::to_string(in.num_tokens) + ")");
      }
    }
  }
  return Status::Ok();
}

OutputSizes Model::Sizes(const BatchInput& in) const {
  const ModelConfig& c = config_;
  const int64_t T = in.num_tokens, B = in.num_sequences, H = c.hidden_size, V = c.vocab_size;
  const int64_t mlm_rows = in.logits_tokens != nullptr ? in.num_logits_tokens : T;
  OutputSizes s;
  s.last_hidden_state = T * H;
  if (UsesPooler(c)) s.pooler_output = B * H;
  const HeadSpec& spec = SpecOf(c);
  const int64_t width = HeadLinearWidth(c);
  const int64_t linear_size = spec.linear == nullptr ? 0 : (spec.per_token ? T : B) * width;
  if (spec.mlm && spec.linear != nullptr) {  // PreTraining
    s.prediction_logits = mlm_rows * V;
    s.seq_relationship_logits = linear_size;
  } else if (spec.mlm) {
    s.logits = mlm_rows * V;
  } else if (spec.start_end) {
    s.start_logits = T;
    s.end_logits = T;
  } else {
    s.logits = linear_size;
  }
  s.hidden_states = (NumLayerApplications(c) + 1) * T * H;
  int64_t squares = 0;
  for (int64_t i = 0; i < B; ++i) {
    const int64_t n = static_cast<int64_t>(in.cu_seqlens[i + 1]) - in.cu_seqlens[i];
    squares += n * n;
  }
  s.attentions = NumLayerApplications(c) * c.num_attention_heads * squares;
  return s;
}

Status Model::ValidateOutputs(const OutputSizes& sizes, const ForwardOutputs& out) const {
  struct Check {
    const char* name;
    const OutputBuffer& buf;
    int64_t size;
  };
  const Check checks[] = {
      {"last_hidden_state", out.last_hidden_state, sizes.last_hidden_state},
      {"pooler_output", out.pooler_output, sizes.pooler_output},
      {"logits", out.logits, sizes.logits},
      {"prediction_logits", out.prediction_logits, sizes.prediction_logits},
      {"seq_relationship_logits", out.seq_relationship_logits, sizes.seq_relationship_logits},
      {"start_logits", out.start_logits, sizes.start_logits},
      {"end_logits", out.end_logits, sizes.end_logits},
      {"hidden_states", out.hidden_states, sizes.hidden_states},
      {"attentions", out.attentions, sizes.attentions},
  };
  for (const auto& ch : checks) {
    if (ch.buf.data == nullptr) continue;
    if (ch.size == 0) return InvalidArgument(std::string(ArchitectureName(config_.architecture)) + " has no output " + ch.name);
    if (ch.buf.size != ch.size) {
      return InvalidArgument(std::string("output buffer ") + ch.name + " holds " + std::to_string(ch.buf.size) +
                             " floats, the batch needs " + std::to_string(ch.size));
    }
  }
  return Status::Ok();
}

const char* EngineVersion() { return "0.1.0"; }

}  // namespace bertkit
