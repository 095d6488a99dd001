// AddonModel: the JS object over one engine model (src-ts/native/types.ts declares its surface).
// The engine model is shared with in-flight workers, so dispose() while a forward runs frees the
// weights when that forward ends, never under it.
#pragma once

#include <napi.h>

#include <memory>

#include "bertkit/engine.h"

namespace bertkit::napi {

class AddonModel : public Napi::ObjectWrap<AddonModel> {
 public:
  static Napi::Function Define(Napi::Env env);
  AddonModel(const Napi::CallbackInfo& info);

  // Only called from CreateModelWorker, through an External passed to the constructor.
  static Napi::Object NewInstance(Napi::Env env, Napi::FunctionReference& ctor, std::shared_ptr<Model> model);

 private:
  Napi::Value Forward(const Napi::CallbackInfo& info);
  Napi::Value Dispose(const Napi::CallbackInfo& info);
  Napi::Value Info(const Napi::CallbackInfo& info);
  Napi::Value GetDisposed(const Napi::CallbackInfo& info);

  std::shared_ptr<Model> model_;
};

}  // namespace bertkit::napi
