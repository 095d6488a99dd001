// What every backend shares: names, config validation, the tensors an architecture needs, and
// validation and sizing of a batch.
#include <string>

#include "bertkit/engine.h"

namespace bertkit {

namespace {

struct Named {
  const char* name;
  Architecture value;
};
constexpr Named kArchitectures[] = {
    {"BertModel", Architecture::kBertModel},
    {"BertForMaskedLM", Architecture::kBertForMaskedLM},
    {"BertForNextSentencePrediction", Architecture::kBertForNextSentencePrediction},
    {"BertForPreTraining", Architecture::kBertForPreTraining},
    {"BertForSequenceClassification", Architecture::kBertForSequenceClassification},
    {"BertForTokenClassification", Architecture::kBertForTokenClassification},
    {"BertForQuestionAnswering", Architecture::kBertForQuestionAnswering},
    {"BertForMultipleChoice", Architecture::kBertForMultipleChoice},
};

}  // namespace

bool UsesPooler(const ModelConfig& c) {
  switch (c.architecture) {
    case Architecture::kBertModel: return c.has_pooler;
    case Architecture::kBertForNextSentencePrediction:
    case Architecture::kBertForPreTraining:
    case Architecture::kBertForSequenceClassification:
    case Architecture::kBertForMultipleChoice: return true;
    default: return false;
  }
}

bool UsesMlmHead(const ModelConfig& c) {
  return c.architecture == Architecture::kBertForMaskedLM || c.architecture == Architecture::kBertForPreTraining;
}

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
  for (const auto& a : kArchitectures)
    if (a.value == arch) return a.name;
  return "unknown";
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
  if (architecture == Architecture::kBertForSequenceClassification ||
      architecture == Architecture::kBertForTokenClassification) {
    BK_RETURN_IF_ERROR(range("num_labels", num_labels, 1, int64_t{1} << 20));
  }
  if (!(layer_norm_eps >= 0 && layer_norm_eps < 1)) return InvalidArgument("layer_norm_eps must be in [0, 1)");
  if (static_cast<int>(architecture) < 0 || static_cast<int>(architecture) > static_cast<int>(Architecture::kBertForMultipleChoice))
    return InvalidArgument("unknown architecture");
  return Status::Ok();
}

std::vector<std::pair<std::string, std::vector<int64_t>>> ExpectedTensors(const ModelConfig& c) {
  const int64_t H = c.hidden_size, I = c.intermediate_size;
  std::vector<std::pair<std::string, std::vector<int64_t>>> t;
  auto linear = [&](const std::string& name, int64_t out, int64_t in) {
    t.push_back({name + ".weight", {out, in}});
    t.push_back({name + ".bias", {out}});
  };
  auto layer_norm = [&](const std::string& name, int64_t n) {
    t.push_back({name + ".weight", {n}});
    t.push_back({name + ".bias", {n}});
  };
  t.push_back({"embeddings.word_embeddings.weight", {c.vocab_size, H}});
  t.push_back({"embeddings.position_embeddings.weight", {c.max_position_embeddings, H}});
  t.push_back({"embeddings.token_type_embeddings.weight", {c.type_vocab_size, H}});
  layer_norm("embeddings.LayerNorm", H);
  for (int64_t i = 0; i < c.num_hidden_layers; ++i) {
    const std::string p = "encoder.layer." + std::to_string(i) + ".";
    linear(p + "attention.self.query", H, H);
    linear(p + "attention.self.key", H, H);
    linear(p + "attention.self.value", H, H);
    linear(p + "attention.output.dense", H, H);
    layer_norm(p + "attention.output.LayerNorm", H);
    linear(p + "intermediate.dense", I, H);
    linear(p + "output.dense", H, I);
    layer_norm(p + "output.LayerNorm", H);
  }
  if (UsesPooler(c)) linear("pooler.dense", H, H);
  if (UsesMlmHead(c)) {
    linear("cls.predictions.transform.dense", H, H);
    layer_norm("cls.predictions.transform.LayerNorm", H);
    t.push_back({"cls.predictions.bias", {c.vocab_size}});
    if (!c.tie_word_embeddings) t.push_back({"cls.predictions.decoder.weight", {c.vocab_size, H}});
  }
  switch (c.architecture) {
    case Architecture::kBertForNextSentencePrediction:
    case Architecture::kBertForPreTraining: linear("cls.seq_relationship", 2, H); break;
    case Architecture::kBertForSequenceClassification:
    case Architecture::kBertForTokenClassification: linear("classifier", c.num_labels, H); break;
    case Architecture::kBertForMultipleChoice: linear("classifier", 1, H); break;
    case Architecture::kBertForQuestionAnswering: linear("qa_outputs", 2, H); break;
    default: break;
  }
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
    if (n > c.max_position_embeddings) {
      return OutOfRange("sequence " + std::to_string(s) + " has " + std::to_string(n) + " tokens; the model accepts at most " +
                        std::to_string(c.max_position_embeddings) + " (max_position_embeddings)");
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
  if (in.token_type_ids != nullptr) {
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
  switch (c.architecture) {
    case Architecture::kBertForMaskedLM: s.logits = mlm_rows * V; break;
    case Architecture::kBertForNextSentencePrediction: s.logits = B * 2; break;
    case Architecture::kBertForPreTraining:
      s.prediction_logits = mlm_rows * V;
      s.seq_relationship_logits = B * 2;
      break;
    case Architecture::kBertForSequenceClassification: s.logits = B * c.num_labels; break;
    case Architecture::kBertForTokenClassification: s.logits = T * c.num_labels; break;
    case Architecture::kBertForMultipleChoice: s.logits = B; break;
    case Architecture::kBertForQuestionAnswering:
      s.start_logits = T;
      s.end_logits = T;
      break;
    default: break;
  }
  s.hidden_states = (c.num_hidden_layers + 1) * T * H;
  int64_t squares = 0;
  for (int64_t i = 0; i < B; ++i) {
    const int64_t n = static_cast<int64_t>(in.cu_seqlens[i + 1]) - in.cu_seqlens[i];
    squares += n * n;
  }
  s.attentions = c.num_hidden_layers * c.num_attention_heads * squares;
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
