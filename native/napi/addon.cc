// The CPU addon's entry point. Context-aware: all state is per environment (instance data), so
// the addon loads in the main thread, in any number of worker threads, and in Electron.
#include <napi.h>

#include "bertkit/engine.h"
#include "cpu/cpu_features.h"
#include "napi/addon_model.h"
#include "napi/addon_trainer.h"
#include "napi/js_convert.h"
#include "napi/workers.h"

namespace bertkit::napi {

class BertkitAddon : public Napi::Addon<BertkitAddon> {
 public:
  BertkitAddon(Napi::Env env, Napi::Object exports) {
    model_ctor_ = Napi::Persistent(AddonModel::Define(env));
    trainer_ctor_ = Napi::Persistent(AddonTrainer::Define(env));
    DefineAddon(exports, {
                             InstanceMethod<&BertkitAddon::CreateModel>("createModel"),
                             InstanceMethod<&BertkitAddon::CreateTrainableModel>("createTrainableModel"),
                             InstanceMethod<&BertkitAddon::CpuInfo>("cpuInfo"),
                             InstanceValue("engineVersion", Napi::String::New(env, EngineVersion())),
                         });
  }

 private:
  // createModel(config, tensors, options) -> Promise<AddonModel>
  Napi::Value CreateModel(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    ModelConfig config = ReadModelConfig(env, info[0]);
    KeepAlive keep;
    std::vector<TensorView> tensors = ReadTensors(env, info[1], &keep);
    EngineOptions options = ReadEngineOptions(env, info[2]);
    auto* worker = new CreateModelWorker(env, &model_ctor_, config, std::move(tensors), options, std::move(keep));
    Napi::Promise promise = worker->Promise();
    worker->Queue();
    return promise;
  }

  // createTrainableModel(config, tensors, options) -> Promise<AddonTrainer> (native/train)
  Napi::Value CreateTrainableModel(const Napi::CallbackInfo& info) { return AddonTrainer::Create(info, &trainer_ctor_); }

  Napi::Value CpuInfo(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    Napi::Object o = Napi::Object::New(env);
    o.Set("isa", cpu::IsaName(cpu::DetectIsa()));
    o.Set("features", cpu::CpuFeatureString());
    o.Set("cores", cpu::AvailableCores());
    return o;
  }

  Napi::FunctionReference model_ctor_;
  Napi::FunctionReference trainer_ctor_;
};

}  // namespace bertkit::napi

// The macro pastes the class name into identifiers, so it needs an unqualified name.
using BertkitAddon = bertkit::napi::BertkitAddon;
NODE_API_ADDON(BertkitAddon)
