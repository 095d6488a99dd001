// The CPU addon's entry point. Context-aware: all state is per environment (instance data), so
// the addon loads in the main thread, in any number of worker threads, and in Electron.
#include <napi.h>

#include "bertkit/engine.h"
#include "cpu/cpu_features.h"
#include "napi/addon_model.h"
#include "napi/addon_trainer.h"
#include "napi/js_convert.h"
#include "napi/workers.h"
#ifdef BERTKIT_WITH_CUDA
#include "cuda/backend.h"
#endif

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
                             InstanceMethod<&BertkitAddon::CudaProbe>("cudaProbe"),
#ifdef BERTKIT_WITH_CUDA
                             InstanceValue("withCuda", Napi::Boolean::New(env, true)),
#else
                             InstanceValue("withCuda", Napi::Boolean::New(env, false)),
#endif
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

  // cudaProbe() -> { available, reasons, devices, device, driverVersion, runtimeVersion }. Never
  // throws: a machine without a driver or a GPU gets reasons.
  Napi::Value CudaProbe(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    Napi::Object o = Napi::Object::New(env);
    Napi::Array reasons = Napi::Array::New(env);
    Napi::Array devices = Napi::Array::New(env);
#ifdef BERTKIT_WITH_CUDA
    const cuda::ProbeResult r = cuda::Probe();
    o.Set("available", r.available);
    for (size_t i = 0; i < r.reasons.size(); ++i) reasons.Set(static_cast<uint32_t>(i), r.reasons[i]);
    for (size_t i = 0; i < r.devices.size(); ++i) {
      const cuda::DeviceInfo& d = r.devices[i];
      Napi::Object dev = Napi::Object::New(env);
      dev.Set("ordinal", d.ordinal);
      dev.Set("name", d.name);
      dev.Set("computeCapability", std::to_string(d.compute_capability / 10) + "." + std::to_string(d.compute_capability % 10));
      dev.Set("memoryBytes", static_cast<double>(d.memory_bytes));
      dev.Set("multiprocessors", d.multiprocessors);
      dev.Set("supported", d.supported);
      if (!d.supported) dev.Set("unsupportedReason", d.unsupported_reason);
      devices.Set(static_cast<uint32_t>(i), dev);
    }
    o.Set("device", r.device);
    o.Set("driverVersion", r.driver_version);
    o.Set("runtimeVersion", r.runtime_version);
#else
    o.Set("available", false);
    reasons.Set(0u, "this addon was built without CUDA (the CUDA addon is built by npm run build:cuda)");
    o.Set("device", -1);
    o.Set("driverVersion", 0);
    o.Set("runtimeVersion", 0);
#endif
    o.Set("reasons", reasons);
    o.Set("devices", devices);
    return o;
  }

  Napi::FunctionReference model_ctor_;
  Napi::FunctionReference trainer_ctor_;
};

}  // namespace bertkit::napi

// The macro pastes the class name into identifiers, so it needs an unqualified name.
using BertkitAddon = bertkit::napi::BertkitAddon;
NODE_API_ADDON(BertkitAddon)
