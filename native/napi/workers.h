// One AsyncWorker per slow operation: it runs on a libuv pool thread (never on the JS thread),
// keeps alive everything the native side reads or writes, and settles a Promise.
#pragma once

#include <napi.h>

#include <memory>
#include <vector>

#include "bertkit/engine.h"
#include "napi/js_convert.h"

namespace bertkit::napi {

class CreateModelWorker : public Napi::AsyncWorker {
 public:
  CreateModelWorker(Napi::Env env, Napi::FunctionReference* ctor, ModelConfig config, std::vector<TensorView> tensors,
                    EngineOptions options, KeepAlive keep);
  Napi::Promise Promise() { return deferred_.Promise(); }

 protected:
  void Execute() override;
  void OnOK() override;
  void OnError(const Napi::Error& e) override;

 private:
  Napi::Promise::Deferred deferred_;
  Napi::FunctionReference* ctor_;
  ModelConfig config_;
  std::vector<TensorView> tensors_;
  EngineOptions options_;
  KeepAlive keep_;
  Status status_;
  std::unique_ptr<Model> model_;
};

class ForwardWorker : public Napi::AsyncWorker {
 public:
  ForwardWorker(Napi::Env env, std::shared_ptr<Model> model, OwnedBatch batch, ForwardOutputs outputs, KeepAlive keep);
  Napi::Promise Promise() { return deferred_.Promise(); }

 protected:
  void Execute() override;
  void OnOK() override;
  void OnError(const Napi::Error& e) override;

 private:
  Napi::Promise::Deferred deferred_;
  std::shared_ptr<Model> model_;
  OwnedBatch batch_;
  ForwardOutputs outputs_;
  KeepAlive keep_;
  Status status_;
};

}  // namespace bertkit::napi
