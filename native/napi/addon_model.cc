#include "napi/addon_model.h"

#include "napi/js_convert.h"
#include "napi/workers.h"

namespace bertkit::napi {

Napi::Function AddonModel::Define(Napi::Env env) {
  return DefineClass(env, "AddonModel",
                     {
                         InstanceMethod<&AddonModel::Forward>("forward"),
                         InstanceMethod<&AddonModel::Dispose>("dispose"),
                         InstanceMethod<&AddonModel::Info>("info"),
                         InstanceAccessor<&AddonModel::GetDisposed>("disposed"),
                     });
}

AddonModel::AddonModel(const Napi::CallbackInfo& info) : Napi::ObjectWrap<AddonModel>(info) {
  if (info.Length() != 1 || !info[0].IsExternal()) {
    ThrowInvalid(info.Env(), "AddonModel cannot be constructed directly; use createModel()");
  }
  auto* holder = info[0].As<Napi::External<std::shared_ptr<Model>>>().Data();
  model_ = std::move(*holder);
}

Napi::Object AddonModel::NewInstance(Napi::Env env, Napi::FunctionReference& ctor, std::shared_ptr<Model> model) {
  // The External lives only for this call; the constructor moves the model out of it.
  std::shared_ptr<Model> holder = std::move(model);
  return ctor.New({Napi::External<std::shared_ptr<Model>>::New(env, &holder)});
}

Napi::Value AddonModel::Forward(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!model_) ThrowStatus(env, Status(StatusCode::kDisposed, "the model was disposed"));
  if (info.Length() < 2) ThrowInvalid(env, "forward(input, outputs) takes two arguments");
  OwnedBatch batch = ReadBatch(env, info[0]);
  KeepAlive keep;
  ForwardOutputs outputs = ReadOutputs(env, info[1], &keep);
  auto* worker = new ForwardWorker(env, model_, std::move(batch), outputs, std::move(keep));
  Napi::Promise promise = worker->Promise();
  worker->Queue();
  return promise;
}

Napi::Value AddonModel::Dispose(const Napi::CallbackInfo& info) {
  // Drop our share; an in-flight forward keeps the model until it ends. Safe to repeat.
  model_.reset();
  return info.Env().Undefined();
}

Napi::Value AddonModel::GetDisposed(const Napi::CallbackInfo& info) {
  return Napi::Boolean::New(info.Env(), !model_);
}

Napi::Value AddonModel::Info(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!model_) ThrowStatus(env, Status(StatusCode::kDisposed, "the model was disposed"));
  const ModelInfo mi = model_->Info();
  return ModelInfoToJs(env, mi);
}

}  // namespace bertkit::napi
