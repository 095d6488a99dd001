#include "napi/js_convert.h"

#include <cmath>
#include <limits>

namespace bertkit::napi {

Napi::Error StatusToError(Napi::Env env, const Status& status) {
  Napi::Error err = Napi::Error::New(env, status.message());
  err.Set("code", Napi::String::New(env, StatusCodeName(status.code())));
  return err;
}

void ThrowStatus(Napi::Env env, const Status& status) { throw StatusToError(env, status); }

void ThrowInvalid(Napi::Env env, const std::string& message) {
  ThrowStatus(env, Status(StatusCode::kInvalidArgument, message));
}

namespace {

Napi::Object AsObject(Napi::Env env, const Napi::Value& v, const char* what) {
  if (!v.IsObject() || v.IsArray()) ThrowInvalid(env, std::string(what) + " must be an object");
  return v.As<Napi::Object>();
}

int64_t ReadInt(Napi::Env env, const Napi::Object& o, const char* key, int64_t lo, int64_t hi) {
  Napi::Value v = o.Get(key);
  if (!v.IsNumber()) ThrowInvalid(env, std::string(key) + " must be a number");
  const double d = v.As<Napi::Number>().DoubleValue();
  if (!std::isfinite(d) || std::floor(d) != d || d < static_cast<double>(lo) || d > static_cast<double>(hi))
    ThrowInvalid(env, std::string(key) + " must be an integer in [" + std::to_string(lo) + ", " + std::to_string(hi) + "]");
  return static_cast<int64_t>(d);
}

std::string ReadString(Napi::Env env, const Napi::Object& o, const char* key) {
  Napi::Value v = o.Get(key);
  if (!v.IsString()) ThrowInvalid(env, std::string(key) + " must be a string");
  return v.As<Napi::String>().Utf8Value();
}

bool ReadBool(Napi::Env env, const Napi::Object& o, const char* key, bool fallback) {
  Napi::Value v = o.Get(key);
  if (v.IsUndefined()) return fallback;
  if (!v.IsBoolean()) ThrowInvalid(env, std::string(key) + " must be a boolean");
  return v.As<Napi::Boolean>().Value();
}

template <class T, napi_typedarray_type kType>
const T* TypedData(Napi::Env env, const Napi::Value& v, const char* what, size_t* length) {
  if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != kType)
    ThrowInvalid(env, std::string(what) + " has the wrong array type");
  Napi::TypedArrayOf<T> a = v.As<Napi::TypedArrayOf<T>>();
  *length = a.ElementLength();
  return a.Data();
}

template <class T, napi_typedarray_type kType>
std::vector<T> CopyArray(Napi::Env env, const Napi::Object& o, const char* key, bool required) {
  Napi::Value v = o.Get(key);
  if (v.IsUndefined() || v.IsNull()) {
    if (required) ThrowInvalid(env, std::string(key) + " is required");
    return {};
  }
  size_t n = 0;
  const T* data = TypedData<T, kType>(env, v, key, &n);
  return std::vector<T>(data, data + n);
}

}  // namespace

ModelConfig ReadModelConfig(Napi::Env env, const Napi::Value& value) {
  Napi::Object o = AsObject(env, value, "config");
  ModelConfig c;
  const std::string arch = ReadString(env, o, "architecture");
  if (!ParseArchitecture(arch, &c.architecture)) ThrowInvalid(env, "unknown architecture " + arch);
  c.family = FamilyOf(c.architecture);
  const int64_t big = int64_t{1} << 31;
  c.vocab_size = ReadInt(env, o, "vocab_size", 1, big);
  c.hidden_size = ReadInt(env, o, "hidden_size", 1, big);
  c.num_hidden_layers = ReadInt(env, o, "num_hidden_layers", 1, big);
  c.num_attention_heads = ReadInt(env, o, "num_attention_heads", 1, big);
  c.intermediate_size = ReadInt(env, o, "intermediate_size", 1, big);
  c.max_position_embeddings = ReadInt(env, o, "max_position_embeddings", 1, big);
  c.type_vocab_size = ReadInt(env, o, "type_vocab_size", 1, big);
  c.num_labels = ReadInt(env, o, "num_labels", 0, big);
  Napi::Value eps = o.Get("layer_norm_eps");
  if (!eps.IsNumber()) ThrowInvalid(env, "layer_norm_eps must be a number");
  c.layer_norm_eps = eps.As<Napi::Number>().DoubleValue();
  const std::string act = ReadString(env, o, "hidden_act");
  if (!ParseActivation(act, &c.hidden_act)) ThrowInvalid(env, "unsupported hidden_act " + act);
  c.pooler.present = ReadBool(env, o, "has_pooler", true);
  c.tie_word_embeddings = ReadBool(env, o, "tie_word_embeddings", true);
  // The family's structure (src-ts/model/families.ts); absent = BERT's.
  auto optional_int = [&](const char* key, int64_t def, int64_t lo, int64_t hi) {
    return o.Get(key).IsUndefined() ? def : ReadInt(env, o, key, lo, hi);
  };
  auto optional_act = [&](const char* key, Activation def) {
    if (o.Get(key).IsUndefined()) return def;
    const std::string name = ReadString(env, o, key);
    Activation a = def;
    if (name == "tanh") a = Activation::kTanh;
    else if (!ParseActivation(name, &a)) ThrowInvalid(env, std::string("unsupported ") + key + " " + name);
    return a;
  };
  c.embeddings.token_type_embeddings = ReadBool(env, o, "token_type_embeddings", true);
  c.embeddings.padding_idx = optional_int("padding_idx", -1, -1, big);
  c.embeddings.embedding_size = optional_int("embedding_size", 0, 0, big);
  c.sharing.num_hidden_groups = optional_int("num_hidden_groups", 0, 0, big);
  c.sharing.inner_group_num = optional_int("inner_group_num", 1, 1, big);
  c.own_dense = ReadBool(env, o, "own_dense", false);
  c.own_dense_act = optional_act("own_dense_act", Activation::kTanh);
  c.own_dense_input_dropout = ReadBool(env, o, "own_dense_input_dropout", false);
  if (!o.Get("transform_act").IsUndefined()) {
    c.transform_act_is_hidden_act = false;
    c.transform_act = optional_act("transform_act", Activation::kGelu);
  }
  Status s = c.Validate();
  if (!s.ok()) ThrowStatus(env, s);
  return c;
}

EngineOptions ReadEngineOptions(Napi::Env env, const Napi::Value& value) {
  EngineOptions opts;
  if (value.IsUndefined()) return opts;
  Napi::Object o = AsObject(env, value, "options");
  if (!o.Get("device").IsUndefined()) {
    const std::string device = ReadString(env, o, "device");
    if (device == "cpu") opts.device = Device::kCpu;
    else if (device == "cuda") opts.device = Device::kCuda;
    else ThrowInvalid(env, "device must be cpu or cuda, got " + device);
  }
  if (!o.Get("threads").IsUndefined()) opts.threads = static_cast<int>(ReadInt(env, o, "threads", 0, 1024));
  if (!o.Get("share_key").IsUndefined()) opts.share_key = ReadString(env, o, "share_key");
  if (!o.Get("dtype").IsUndefined()) {
    const std::string dtype = ReadString(env, o, "dtype");
    if (!ParseComputeDType(dtype, &opts.dtype)) ThrowInvalid(env, "dtype must be float32, bfloat16 or int8, got " + dtype);
  }
  return opts;
}

std::vector<TensorView> ReadTensors(Napi::Env env, const Napi::Value& value, KeepAlive* keep) {
  if (!value.IsArray()) ThrowInvalid(env, "tensors must be an array");
  Napi::Array arr = value.As<Napi::Array>();
  std::vector<TensorView> out;
  out.reserve(arr.Length());
  for (uint32_t i = 0; i < arr.Length(); ++i) {
    Napi::Object t = AsObject(env, arr.Get(i), "tensor");
    TensorView v;
    v.name = ReadString(env, t, "name");
    const std::string dtype = ReadString(env, t, "dtype");
    if (!ParseDType(dtype, &v.dtype)) ThrowInvalid(env, v.name + ": unsupported dtype " + dtype);
    Napi::Value dims = t.Get("dims");
    if (!dims.IsArray()) ThrowInvalid(env, v.name + ": dims must be an array");
    Napi::Array d = dims.As<Napi::Array>();
    if (d.Length() > 8) ThrowInvalid(env, v.name + ": too many dims");
    for (uint32_t k = 0; k < d.Length(); ++k) {
      Napi::Value dv = d.Get(k);
      const double x = dv.IsNumber() ? dv.As<Napi::Number>().DoubleValue() : -1;
      if (!(x >= 0 && x <= static_cast<double>(int64_t{1} << 40) && std::floor(x) == x))
        ThrowInvalid(env, v.name + ": dims must be non-negative integers");
      v.dims.push_back(static_cast<int64_t>(x));
    }
    Napi::Value data = t.Get("data");
    if (data.IsUndefined()) {
      // Still in its file: the engine reads it (see TensorView).
      v.file = ReadString(env, t, "file");
      v.offset = static_cast<uint64_t>(ReadInt(env, t, "offset", 0, int64_t{1} << 52));
      v.nbytes = static_cast<size_t>(ReadInt(env, t, "nbytes", 0, int64_t{1} << 52));
    } else {
      size_t n = 0;
      v.data = TypedData<uint8_t, napi_uint8_array>(env, data, "tensor data", &n);
      v.nbytes = n;
      keep->Hold(data);
    }
    out.push_back(std::move(v));
  }
  return out;
}

BatchInput OwnedBatch::View() const {
  BatchInput in;
  in.input_ids = input_ids.data();
  in.num_tokens = static_cast<int64_t>(input_ids.size());
  in.cu_seqlens = cu_seqlens.data();
  in.num_sequences = static_cast<int64_t>(cu_seqlens.size()) - 1;
  in.token_type_ids = token_type_ids.empty() ? nullptr : token_type_ids.data();
  in.position_ids = position_ids.empty() ? nullptr : position_ids.data();
  in.attention_mask = attention_mask.empty() ? nullptr : attention_mask.data();
  if (has_logits_tokens) {
    // An empty selection is valid (no logits at all): point at something non-null.
    static const int32_t kNone = 0;
    in.logits_tokens = logits_tokens.empty() ? &kNone : logits_tokens.data();
    in.num_logits_tokens = static_cast<int64_t>(logits_tokens.size());
  }
  return in;
}

OwnedBatch ReadBatch(Napi::Env env, const Napi::Value& value) {
  Napi::Object o = AsObject(env, value, "input");
  OwnedBatch b;
  b.input_ids = CopyArray<int32_t, napi_int32_array>(env, o, "input_ids", true);
  b.cu_seqlens = CopyArray<int32_t, napi_int32_array>(env, o, "cu_seqlens", true);
  b.token_type_ids = CopyArray<int32_t, napi_int32_array>(env, o, "token_type_ids", false);
  b.position_ids = CopyArray<int32_t, napi_int32_array>(env, o, "position_ids", false);
  b.attention_mask = CopyArray<uint8_t, napi_uint8_array>(env, o, "attention_mask", false);
  Napi::Value lt = o.Get("logits_tokens");
  if (!lt.IsUndefined() && !lt.IsNull()) {
    b.logits_tokens = CopyArray<int32_t, napi_int32_array>(env, o, "logits_tokens", true);
    b.has_logits_tokens = true;
  }
  if (b.cu_seqlens.size() < 2) ThrowInvalid(env, "cu_seqlens needs at least 2 entries (one sequence)");
  const size_t t = b.input_ids.size();
  auto same = [&](const auto& v, const char* key) {
    if (!v.empty() && v.size() != t) ThrowInvalid(env, std::string(key) + " must have one entry per token (" + std::to_string(t) + ")");
  };
  same(b.token_type_ids, "token_type_ids");
  same(b.position_ids, "position_ids");
  same(b.attention_mask, "attention_mask");
  return b;
}

ForwardOutputs ReadOutputs(Napi::Env env, const Napi::Value& value, KeepAlive* keep) {
  Napi::Object o = AsObject(env, value, "outputs");
  ForwardOutputs out;
  auto read = [&](const char* key, OutputBuffer* buf) {
    Napi::Value v = o.Get(key);
    if (v.IsUndefined() || v.IsNull()) return;
    size_t n = 0;
    // Writable view of a JS-owned Float32Array: the engine writes results in place.
    buf->data = const_cast<float*>(TypedData<float, napi_float32_array>(env, v, key, &n));
    buf->size = static_cast<int64_t>(n);
    keep->Hold(v);
  };
  read("last_hidden_state", &out.last_hidden_state);
  read("pooler_output", &out.pooler_output);
  read("logits", &out.logits);
  read("prediction_logits", &out.prediction_logits);
  read("seq_relationship_logits", &out.seq_relationship_logits);
  read("start_logits", &out.start_logits);
  read("end_logits", &out.end_logits);
  read("hidden_states", &out.hidden_states);
  read("attentions", &out.attentions);
  return out;
}

Napi::Object ModelInfoToJs(Napi::Env env, const ModelInfo& mi) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("backend", mi.backend);
  o.Set("isa", mi.isa);
  o.Set("threads", mi.threads);
  o.Set("dtype", mi.dtype);
  o.Set("dtype_fallback", mi.dtype_fallback);
  o.Set("gemm", mi.gemm);
  o.Set("gemm_reason", mi.gemm_reason);
  o.Set("weight_bytes", static_cast<double>(mi.weight_bytes));
  o.Set("weights_shared", mi.weights_shared);
  o.Set("workspace_bytes", static_cast<double>(mi.workspace_bytes));
  return o;
}

}  // namespace bertkit::napi
