// Reading JavaScript values into the engine's C++ structs, and engine statuses into JS errors.
// Everything that crosses from JavaScript is type-checked here; values (ids, offsets, sizes) are
// then checked by the engine itself (Model::ValidateInput), off the JS thread.
#pragma once

#include <napi.h>

#include <string>
#include <vector>

#include "bertkit/engine.h"

namespace bertkit::napi {

// Throws a JS Error (with `code`) for a failed status.
[[noreturn]] void ThrowStatus(Napi::Env env, const Status& status);
Napi::Error StatusToError(Napi::Env env, const Status& status);
[[noreturn]] void ThrowInvalid(Napi::Env env, const std::string& message);

ModelConfig ReadModelConfig(Napi::Env env, const Napi::Value& value);
EngineOptions ReadEngineOptions(Napi::Env env, const Napi::Value& value);

// Typed-array views whose JS objects are kept alive by `refs` while native code uses them.
struct KeepAlive {
  std::vector<Napi::Reference<Napi::Value>> refs;
  void Hold(const Napi::Value& v) { refs.push_back(Napi::Persistent(v)); }
};

std::vector<TensorView> ReadTensors(Napi::Env env, const Napi::Value& value, KeepAlive* keep);

// The batch is copied (callers may reuse their arrays as soon as forward() returns).
struct OwnedBatch {
  std::vector<int32_t> input_ids, cu_seqlens, token_type_ids, position_ids, logits_tokens;
  bool has_logits_tokens = false;
  std::vector<uint8_t> attention_mask;
  BatchInput View() const;
};
OwnedBatch ReadBatch(Napi::Env env, const Napi::Value& value);

ForwardOutputs ReadOutputs(Napi::Env env, const Napi::Value& value, KeepAlive* keep);

// ModelInfo as the `info()` object of src-ts/native/types.ts.
Napi::Object ModelInfoToJs(Napi::Env env, const ModelInfo& mi);

}  // namespace bertkit::napi
