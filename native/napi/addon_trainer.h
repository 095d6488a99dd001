// AddonTrainer: the JS object over one train::TrainableModel (src-ts/native/types.ts declares its
// surface under the same names). Every slow operation is its own AsyncWorker on a libuv pool
// thread (create, forward, computeGradients, step, tensor export / import), holding the model
// (shared_ptr) and the JS arrays it reads or writes (references) while in flight; results are
// written into JavaScript-allocated typed arrays. dispose() drops the JS side's share: an
// in-flight operation keeps the model until it ends.
#pragma once

#include <napi.h>

#include <memory>

#include "train/trainable_model.h"

namespace bertkit::napi {

class AddonTrainer : public Napi::ObjectWrap<AddonTrainer> {
 public:
  static Napi::Function Define(Napi::Env env);
  // createTrainableModel(config, tensors, options) -> Promise<AddonTrainer>
  static Napi::Value Create(const Napi::CallbackInfo& info, Napi::FunctionReference* ctor);
  static Napi::Object NewInstance(Napi::Env env, Napi::FunctionReference& ctor, std::shared_ptr<train::TrainableModel> model);
  AddonTrainer(const Napi::CallbackInfo& info);

 private:
  Napi::Value Forward(const Napi::CallbackInfo& info);
  Napi::Value ComputeGradients(const Napi::CallbackInfo& info);
  Napi::Value Step(const Napi::CallbackInfo& info);
  Napi::Value ZeroGradients(const Napi::CallbackInfo& info);
  Napi::Value Parameters(const Napi::CallbackInfo& info);
  Napi::Value ReadParameters(const Napi::CallbackInfo& info);
  Napi::Value WriteParameters(const Napi::CallbackInfo& info);
  Napi::Value ReadGradients(const Napi::CallbackInfo& info);
  Napi::Value ReadOptimizerState(const Napi::CallbackInfo& info);
  Napi::Value WriteOptimizerState(const Napi::CallbackInfo& info);
  Napi::Value SetDropout(const Napi::CallbackInfo& info);
  Napi::Value SetRngState(const Napi::CallbackInfo& info);
  Napi::Value GetRngState(const Napi::CallbackInfo& info);
  Napi::Value Info(const Napi::CallbackInfo& info);
  Napi::Value TrainingInfo(const Napi::CallbackInfo& info);
  Napi::Value Dispose(const Napi::CallbackInfo& info);
  Napi::Value GetDisposed(const Napi::CallbackInfo& info);

  train::TrainableModel& Live(Napi::Env env);
  std::shared_ptr<train::TrainableModel> model_;
};

}  // namespace bertkit::napi
