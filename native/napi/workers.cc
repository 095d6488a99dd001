#include "napi/workers.h"

#include "napi/addon_model.h"

namespace bertkit::napi {

CreateModelWorker::CreateModelWorker(Napi::Env env, Napi::FunctionReference* ctor, ModelConfig config,
                                     std::vector<TensorView> tensors, EngineOptions options, KeepAlive keep)
    : Napi::AsyncWorker(env, "bertkit:createModel"),
      deferred_(Napi::Promise::Deferred::New(env)),
      ctor_(ctor),
      config_(config),
      tensors_(std::move(tensors)),
      options_(options),
      keep_(std::move(keep)) {}

void CreateModelWorker::Execute() { status_ = CreateCpuModel(config_, tensors_, options_, &model_); }

void CreateModelWorker::OnOK() {
  Napi::Env env = Env();
  if (!status_.ok()) {
    deferred_.Reject(StatusToError(env, status_).Value());
    return;
  }
  deferred_.Resolve(AddonModel::NewInstance(env, *ctor_, std::shared_ptr<Model>(std::move(model_))));
}

void CreateModelWorker::OnError(const Napi::Error& e) { deferred_.Reject(e.Value()); }

ForwardWorker::ForwardWorker(Napi::Env env, std::shared_ptr<Model> model, OwnedBatch batch, ForwardOutputs outputs,
                             KeepAlive keep)
    : Napi::AsyncWorker(env, "bertkit:forward"),
      deferred_(Napi::Promise::Deferred::New(env)),
      model_(std::move(model)),
      batch_(std::move(batch)),
      outputs_(outputs),
      keep_(std::move(keep)) {}

void ForwardWorker::Execute() { status_ = model_->Forward(batch_.View(), outputs_); }

void ForwardWorker::OnOK() {
  Napi::Env env = Env();
  if (!status_.ok()) {
    deferred_.Reject(StatusToError(env, status_).Value());
    return;
  }
  deferred_.Resolve(env.Undefined());
}

void ForwardWorker::OnError(const Napi::Error& e) { deferred_.Reject(e.Value()); }

}  // namespace bertkit::napi
