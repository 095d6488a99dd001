// Lab utilities for the C++ tests and benchmarks of the CUDA backend, so that they run without
// Node.js: a small JSON reader, Hugging Face model folders (config.json + model.safetensors,
// names canonicalised as the TypeScript loader does for safetensors checkpoints), the fixtures'
// golden files, and seeded random BERT weights.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "bertkit/engine.h"

namespace bertkit::dev {

struct Json {
  enum Type { kNull, kBool, kNumber, kString, kArray, kObject };
  Type type = kNull;
  bool boolean = false;
  double number = 0;
  std::string string;
  std::vector<Json> array;
  std::vector<std::pair<std::string, Json>> object;

  const Json* Get(const std::string& key) const;  // null when absent or not an object
  double NumberOr(const std::string& key, double fallback) const;
  std::string StringOr(const std::string& key, const std::string& fallback) const;
  static bool Parse(const std::string& text, Json* out, std::string* error);
};

bool ReadFile(const std::string& path, std::string* out);

// One tensor of a safetensors file, `offset` from the start of the file.
struct SafetensorsEntry {
  std::string name;
  std::string dtype;  // "F32", "F16", "BF16", "F64", "I64", ...
  std::vector<int64_t> dims;
  uint64_t offset = 0;
  uint64_t nbytes = 0;
};
Status ReadSafetensors(const std::string& file, std::vector<SafetensorsEntry>* out);
// F64 / F32 / I64 tensor values as doubles.
Status ReadValues(const std::string& file, const SafetensorsEntry& e, std::vector<double>* out);

// A model folder: config.json (transformers' defaults for absent keys) and model.safetensors,
// tensors left in the file. `architecture` empty = config.architectures[0].
struct ModelFolder {
  ModelConfig config;
  std::vector<TensorView> tensors;
  std::vector<std::string> ignored;  // checkpoint tensors the architecture does not use
};
Status LoadModelFolder(const std::string& dir, const std::string& architecture, ModelFolder* out);

// Seeded random weights for `config` (uniform with transformers' init std 0.02; LayerNorm 1 and
// 0), float32, held in `storage`.
void RandomWeights(const ModelConfig& config, uint64_t seed, std::vector<TensorView>* tensors,
                   std::vector<std::vector<float>>* storage);

// A BERT config by shape (gelu, eps 1e-12, vocab 30522, 512 positions, 2 token types).
ModelConfig BertShape(Architecture arch, int64_t layers, int64_t hidden, int64_t heads, int64_t intermediate);

}  // namespace bertkit::dev
