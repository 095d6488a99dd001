#include "cuda/dev/model_files.h"

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

namespace bertkit::dev {

// ---- JSON (enough for config.json, golden.json and safetensors headers) ----

const Json* Json::Get(const std::string& key) const {
  if (type != kObject) return nullptr;
  for (const auto& [k, v] : object)
    if (k == key) return &v;
  return nullptr;
}

double Json::NumberOr(const std::string& key, double fallback) const {
  const Json* v = Get(key);
  return v != nullptr && v->type == kNumber ? v->number : fallback;
}

std::string Json::StringOr(const std::string& key, const std::string& fallback) const {
  const Json* v = Get(key);
  return v != nullptr && v->type == kString ? v->string : fallback;
}

namespace {

struct Parser {
  const std::string& s;
  size_t i = 0;
  std::string error;

  void Skip() {
    while (i < s.size() && (s[i] == ' ' || s[i] == '\n' || s[i] == '\r' || s[i] == '\t')) ++i;
  }
  bool Fail(const std::string& what) {
    if (error.empty()) error = what + " at offset " + std::to_string(i);
    return false;
  }
  bool Literal(const char* word) {
    const size_t n = std::strlen(word);
    if (s.compare(i, n, word) != 0) return Fail(std::string("expected ") + word);
    i += n;
    return true;
  }
  bool String(std::string* out) {
    if (i >= s.size() || s[i] != '"') return Fail("expected a string");
    ++i;
    while (i < s.size() && s[i] != '"') {
      char c = s[i++];
      if (c == '\\') {
        if (i >= s.size()) return Fail("bad escape");
        const char e = s[i++];
        switch (e) {
          case 'n': c = '\n'; break;
          case 't': c = '\t'; break;
          case 'r': c = '\r'; break;
          case 'b': c = '\b'; break;
          case 'f': c = '\f'; break;
          case 'u': {
            if (i + 4 > s.size()) return Fail("bad \\u escape");
            const unsigned cp = static_cast<unsigned>(std::strtoul(s.substr(i, 4).c_str(), nullptr, 16));
            i += 4;
            // UTF-8 (surrogate pairs are kept as two 3-byte sequences: fine for names and labels)
            if (cp < 0x80) {
              out->push_back(static_cast<char>(cp));
            } else if (cp < 0x800) {
              out->push_back(static_cast<char>(0xC0 | (cp >> 6)));
              out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
            } else {
              out->push_back(static_cast<char>(0xE0 | (cp >> 12)));
              out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
              out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
            }
            continue;
          }
          default: c = e;
        }
      }
      out->push_back(c);
    }
    if (i >= s.size()) return Fail("unterminated string");
    ++i;
    return true;
  }
  bool Value(Json* v, int depth) {
    if (depth > 64) return Fail("nested too deep");
    Skip();
    if (i >= s.size()) return Fail("unexpected end");
    const char c = s[i];
    if (c == '{') {
      v->type = Json::kObject;
      ++i;
      Skip();
      if (i < s.size() && s[i] == '}') {
        ++i;
        return true;
      }
      while (true) {
        Skip();
        std::string key;
        if (!String(&key)) return false;
        Skip();
        if (i >= s.size() || s[i] != ':') return Fail("expected ':'");
        ++i;
        Json child;
        if (!Value(&child, depth + 1)) return false;
        v->object.emplace_back(std::move(key), std::move(child));
        Skip();
        if (i < s.size() && s[i] == ',') {
          ++i;
          continue;
        }
        if (i < s.size() && s[i] == '}') {
          ++i;
          return true;
        }
        return Fail("expected ',' or '}'");
      }
    }
    if (c == '[') {
      v->type = Json::kArray;
      ++i;
      Skip();
      if (i < s.size() && s[i] == ']') {
        ++i;
        return true;
      }
      while (true) {
        Json child;
        if (!Value(&child, depth + 1)) return false;
        v->array.push_back(std::move(child));
        Skip();
        if (i < s.size() && s[i] == ',') {
          ++i;
          continue;
        }
        if (i < s.size() && s[i] == ']') {
          ++i;
          return true;
        }
        return Fail("expected ',' or ']'");
      }
    }
    if (c == '"') {
      v->type = Json::kString;
      return String(&v->string);
    }
    if (c == 't') {
      v->type = Json::kBool;
      v->boolean = true;
      return Literal("true");
    }
    if (c == 'f') {
      v->type = Json::kBool;
      return Literal("false");
    }
    if (c == 'n') return Literal("null");
    // Numbers (also NaN / Infinity, which Python's json writes).
    if (s.compare(i, 3, "NaN") == 0) {
      i += 3;
      v->type = Json::kNumber;
      v->number = NAN;
      return true;
    }
    const char* start = s.c_str() + i;
    char* end = nullptr;
    v->number = std::strtod(start, &end);
    if (end == start) return Fail("unexpected character");
    v->type = Json::kNumber;
    i += static_cast<size_t>(end - start);
    return true;
  }
};

}  // namespace

bool Json::Parse(const std::string& text, Json* out, std::string* error) {
  Parser p{text};
  *out = Json();
  if (!p.Value(out, 0)) {
    if (error) *error = p.error;
    return false;
  }
  return true;
}

bool ReadFile(const std::string& path, std::string* out) {
  std::ifstream f(path, std::ios::binary);
  if (!f) return false;
  std::ostringstream ss;
  ss << f.rdbuf();
  *out = ss.str();
  return true;
}

// ---- safetensors ----

Status ReadSafetensors(const std::string& file, std::vector<SafetensorsEntry>* out) {
  std::FILE* f = std::fopen(file.c_str(), "rb");
  if (f == nullptr) return InvalidArgument("cannot open " + file);
  uint8_t len8[8];
  if (std::fread(len8, 1, 8, f) != 8) {
    std::fclose(f);
    return InvalidArgument(file + ": truncated");
  }
  uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | len8[i];
  if (n > (uint64_t{1} << 30)) {
    std::fclose(f);
    return InvalidArgument(file + ": header too large");
  }
  std::string header(n, '\0');
  const bool ok = std::fread(header.data(), 1, n, f) == n;
  std::fclose(f);
  if (!ok) return InvalidArgument(file + ": truncated header");
  Json j;
  std::string err;
  if (!Json::Parse(header, &j, &err) || j.type != Json::kObject) return InvalidArgument(file + ": bad header: " + err);
  out->clear();
  for (const auto& [name, t] : j.object) {
    if (name == "__metadata__") continue;
    SafetensorsEntry e;
    e.name = name;
    e.dtype = t.StringOr("dtype", "");
    const Json* shape = t.Get("shape");
    const Json* offs = t.Get("data_offsets");
    if (shape == nullptr || offs == nullptr || offs->array.size() != 2) return InvalidArgument(file + ": bad entry " + name);
    for (const Json& d : shape->array) e.dims.push_back(static_cast<int64_t>(d.number));
    e.offset = 8 + n + static_cast<uint64_t>(offs->array[0].number);
    e.nbytes = static_cast<uint64_t>(offs->array[1].number - offs->array[0].number);
    out->push_back(std::move(e));
  }
  return Status::Ok();
}

Status ReadValues(const std::string& file, const SafetensorsEntry& e, std::vector<double>* out) {
  std::FILE* f = std::fopen(file.c_str(), "rb");
  if (f == nullptr) return InvalidArgument("cannot open " + file);
  std::vector<uint8_t> bytes(e.nbytes);
  const bool ok = fseeko(f, static_cast<off_t>(e.offset), SEEK_SET) == 0 && std::fread(bytes.data(), 1, e.nbytes, f) == e.nbytes;
  std::fclose(f);
  if (!ok) return InvalidArgument(file + ": cannot read " + e.name);
  out->clear();
  if (e.dtype == "F64") {
    out->resize(e.nbytes / 8);
    std::memcpy(out->data(), bytes.data(), e.nbytes);
  } else if (e.dtype == "F32") {
    out->resize(e.nbytes / 4);
    for (size_t i = 0; i < out->size(); ++i) {
      float v;
      std::memcpy(&v, bytes.data() + 4 * i, 4);
      (*out)[i] = v;
    }
  } else if (e.dtype == "I64") {
    out->resize(e.nbytes / 8);
    for (size_t i = 0; i < out->size(); ++i) {
      int64_t v;
      std::memcpy(&v, bytes.data() + 8 * i, 8);
      (*out)[i] = static_cast<double>(v);
    }
  } else {
    return InvalidArgument(file + ": " + e.name + " has dtype " + e.dtype + " (F64, F32 or I64 expected)");
  }
  return Status::Ok();
}

// ---- model folders ----

Status LoadModelFolder(const std::string& dir, const std::string& architecture, ModelFolder* out) {
  std::string text;
  if (!ReadFile(dir + "/config.json", &text)) return InvalidArgument("cannot read " + dir + "/config.json");
  Json j;
  std::string err;
  if (!Json::Parse(text, &j, &err)) return InvalidArgument(dir + "/config.json: " + err);
  ModelConfig c;
  std::string arch = architecture;
  if (arch.empty()) {
    const Json* a = j.Get("architectures");
    arch = a != nullptr && !a->array.empty() ? a->array[0].string : "BertModel";
  }
  if (!ParseArchitecture(arch, &c.architecture)) return InvalidArgument("unsupported architecture " + arch);
  c.vocab_size = static_cast<int64_t>(j.NumberOr("vocab_size", 30522));
  c.hidden_size = static_cast<int64_t>(j.NumberOr("hidden_size", 768));
  c.num_hidden_layers = static_cast<int64_t>(j.NumberOr("num_hidden_layers", 12));
  c.num_attention_heads = static_cast<int64_t>(j.NumberOr("num_attention_heads", 12));
  c.intermediate_size = static_cast<int64_t>(j.NumberOr("intermediate_size", 3072));
  c.max_position_embeddings = static_cast<int64_t>(j.NumberOr("max_position_embeddings", 512));
  c.type_vocab_size = static_cast<int64_t>(j.NumberOr("type_vocab_size", 2));
  c.layer_norm_eps = j.NumberOr("layer_norm_eps", 1e-12);
  const Json* id2label = j.Get("id2label");
  c.num_labels = id2label != nullptr && id2label->type == Json::kObject ? static_cast<int64_t>(id2label->object.size())
                                                                           : static_cast<int64_t>(j.NumberOr("num_labels", 2));
  if (c.architecture == Architecture::kBertForMultipleChoice) c.num_labels = 1;
  if (!ParseActivation(j.StringOr("hidden_act", "gelu"), &c.hidden_act))
    return InvalidArgument("unsupported hidden_act " + j.StringOr("hidden_act", ""));
  const Json* tie = j.Get("tie_word_embeddings");
  c.tie_word_embeddings = tie == nullptr || tie->type != Json::kBool || tie->boolean;

  const std::string file = dir + "/model.safetensors";
  std::vector<SafetensorsEntry> entries;
  BK_RETURN_IF_ERROR(ReadSafetensors(file, &entries));
  // Canonical names: no "bert." prefix, LayerNorm gamma/beta as weight/bias.
  std::map<std::string, const SafetensorsEntry*> by_name;
  for (const auto& e : entries) {
    std::string n = e.name;
    if (n.rfind("bert.", 0) == 0) n = n.substr(5);
    auto ends = [&](const std::string& suffix) { return n.size() >= suffix.size() && n.compare(n.size() - suffix.size(), suffix.size(), suffix) == 0; };
    if (ends("LayerNorm.gamma")) n = n.substr(0, n.size() - 5) + "weight";
    else if (ends("LayerNorm.beta")) n = n.substr(0, n.size() - 4) + "bias";
    by_name[n] = &e;
  }
  c.pooler.present = c.architecture != Architecture::kBertModel || by_name.count("pooler.dense.weight") != 0;
  BK_RETURN_IF_ERROR(c.Validate());
  const auto expected = ExpectedTensors(c);
  std::set<std::string> wanted;
  out->tensors.clear();
  for (const auto& [name, dims] : expected) {
    wanted.insert(name);
    auto it = by_name.find(name);
    if (it == by_name.end()) return InvalidArgument(dir + ": missing tensor " + name);
    const SafetensorsEntry& e = *it->second;
    TensorView v;
    v.name = name;
    if (!ParseDType(e.dtype, &v.dtype)) return InvalidArgument(dir + ": " + e.name + " has dtype " + e.dtype);
    v.dims = e.dims;
    v.file = file;
    v.offset = e.offset;
    v.nbytes = e.nbytes;
    out->tensors.push_back(std::move(v));
  }
  out->ignored.clear();
  for (const auto& [name, _] : by_name)
    if (!wanted.count(name)) out->ignored.push_back(name);
  out->config = c;
  return Status::Ok();
}

ModelConfig BertShape(Architecture arch, int64_t layers, int64_t hidden, int64_t heads, int64_t intermediate) {
  ModelConfig c;
  c.architecture = arch;
  c.vocab_size = 30522;
  c.hidden_size = hidden;
  c.num_hidden_layers = layers;
  c.num_attention_heads = heads;
  c.intermediate_size = intermediate;
  c.max_position_embeddings = 512;
  c.type_vocab_size = 2;
  c.num_labels = arch == Architecture::kBertForMultipleChoice ? 1 : 2;
  c.layer_norm_eps = 1e-12;
  c.hidden_act = Activation::kGelu;
  c.pooler.present = true;
  c.tie_word_embeddings = true;
  return c;
}

void RandomWeights(const ModelConfig& config, uint64_t seed, std::vector<TensorView>* tensors,
                   std::vector<std::vector<float>>* storage) {
  const auto expected = ExpectedTensors(config);
  tensors->clear();
  storage->clear();
  storage->reserve(expected.size());
  uint64_t state = seed * 0x9E3779B97F4A7C15ull + 1;
  const float half_width = 0.02f * std::sqrt(3.0f);  // uniform with standard deviation 0.02
  for (const auto& [name, dims] : expected) {
    int64_t n = 1;
    for (int64_t d : dims) n *= d;
    std::vector<float> v(n);
    const bool norm_weight = name.find("LayerNorm.weight") != std::string::npos;
    const bool norm_bias = name.find("LayerNorm.bias") != std::string::npos;
    for (int64_t i = 0; i < n; ++i) {
      if (norm_weight) {
        v[i] = 1.f;
      } else if (norm_bias) {
        v[i] = 0.f;
      } else {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        const float u = static_cast<float>((state >> 11) * (1.0 / 9007199254740992.0));  // [0, 1)
        v[i] = (2.f * u - 1.f) * half_width;
      }
    }
    storage->push_back(std::move(v));
    TensorView t;
    t.name = name;
    t.dtype = DType::kF32;
    t.dims = dims;
    t.data = storage->back().data();
    t.nbytes = static_cast<size_t>(n) * 4;
    tensors->push_back(std::move(t));
  }
}

}  // namespace bertkit::dev
