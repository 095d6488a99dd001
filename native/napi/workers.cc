#include "napi/workers.h"

#include "napi/addon_model.h"

namespace bertkit::napi {

namespace {

// The one place the addon picks a backend. The CUDA addon (cmake-js, BERTKIT_WITH_CUDA) has both;
// the CPU addon answers kUnavailable for device cuda.
Status CreateModelOn(const ModelConfig& config, const std::vector<TensorView>& tensors, const EngineOptions& options,
                     std::unique_ptr<Model>* out) {
  if (options.device == Device::kCuda) {
#ifdef BERTKIT_WITH_CUDA
    return CreateCudaModel(config, tensors, options, out);
#else
    return Status(StatusCode::kUnavailable, "this addon was built without CUDA: load the CUDA addon (npm run build:cuda)");
#endif
  }
  return CreateCpuModel(config, tensors, options, out);
}

}  // namespace

CreateModelWorker::CreateModelWorker(Napi::Env env, Napi::FunctionReference* ctor, ModelConfig config,
                                     std::vector<TensorView> tensors, EngineOptions options, KeepAlive keep)
    : Napi::AsyncWorker(env, "bertkit:createModel"),
      deferred_(Napi::Promise::Deferred::New(env)),
      ctor_(ctor),
      config_(config),
      tensors_(std::move(tensors)),
      options_(options),
      keep_(std::move(keep)) {}

void CreateModelWorker::Execute() { status_ = CreateModelOn(config_, tensors_, options_, &model_); }

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
