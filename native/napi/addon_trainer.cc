#include "napi/addon_trainer.h"

#include <cmath>
#include <limits>
#include <string>
#include <utility>
#include <vector>

#include "napi/js_convert.h"
#include "napi/workers.h"

namespace bertkit::napi {

namespace {

Napi::Object Obj(Napi::Env env, const Napi::Value& v, const char* what) {
  if (!v.IsObject() || v.IsArray()) ThrowInvalid(env, std::string(what) + " must be an object");
  return v.As<Napi::Object>();
}

double Number(Napi::Env env, const Napi::Object& o, const char* key, double fallback, bool required = false) {
  Napi::Value v = o.Get(key);
  if (v.IsUndefined()) {
    if (required) ThrowInvalid(env, std::string(key) + " is required");
    return fallback;
  }
  if (!v.IsNumber()) ThrowInvalid(env, std::string(key) + " must be a number");
  return v.As<Napi::Number>().DoubleValue();
}

// A non-negative integer that JavaScript represents exactly (seeds, counters).
uint64_t SafeUint(Napi::Env env, const Napi::Value& v, const char* what) {
  const double d = v.IsNumber() ? v.As<Napi::Number>().DoubleValue() : -1;
  if (!(d >= 0 && d <= 9007199254740991.0 && std::floor(d) == d)) ThrowInvalid(env, std::string(what) + " must be a safe non-negative integer");
  return static_cast<uint64_t>(d);
}

template <class T, napi_typedarray_type kType>
std::vector<T> CopyTyped(Napi::Env env, const Napi::Object& o, const char* key) {
  Napi::Value v = o.Get(key);
  if (v.IsUndefined() || v.IsNull()) return {};
  if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != kType)
    ThrowInvalid(env, std::string(key) + " has the wrong array type");
  Napi::TypedArrayOf<T> a = v.As<Napi::TypedArrayOf<T>>();
  return std::vector<T>(a.Data(), a.Data() + a.ElementLength());
}

// A writable view of a JS Float32Array, kept alive by `keep`.
float* FloatView(Napi::Env env, const Napi::Value& v, const std::string& what, int64_t* n, KeepAlive* keep) {
  if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != napi_float32_array)
    ThrowInvalid(env, what + " must be a Float32Array");
  Napi::Float32Array a = v.As<Napi::Float32Array>();
  *n = static_cast<int64_t>(a.ElementLength());
  keep->Hold(v);
  return a.Data();
}

struct OwnedLabels {
  std::vector<int32_t> labels, start, end, nsp;
  std::vector<float> float_labels;
  train::ProblemType problem_type = train::ProblemType::kSingleLabel;
  int64_t num_choices = 0;
  train::TrainLabels View() const {
    train::TrainLabels l;
    l.labels = labels.empty() ? nullptr : labels.data();
    l.labels_size = static_cast<int64_t>(labels.size());
    l.float_labels = float_labels.empty() ? nullptr : float_labels.data();
    l.float_labels_size = static_cast<int64_t>(float_labels.size());
    l.start_positions = start.empty() ? nullptr : start.data();
    l.end_positions = end.empty() ? nullptr : end.data();
    l.positions_size = static_cast<int64_t>(start.size());
    l.next_sentence_label = nsp.empty() ? nullptr : nsp.data();
    l.next_sentence_label_size = static_cast<int64_t>(nsp.size());
    l.problem_type = problem_type;
    l.num_choices = num_choices;
    return l;
  }
};

OwnedLabels ReadLabels(Napi::Env env, const Napi::Value& value) {
  Napi::Object o = Obj(env, value, "labels");
  OwnedLabels l;
  l.labels = CopyTyped<int32_t, napi_int32_array>(env, o, "labels");
  l.float_labels = CopyTyped<float, napi_float32_array>(env, o, "float_labels");
  l.start = CopyTyped<int32_t, napi_int32_array>(env, o, "start_positions");
  l.end = CopyTyped<int32_t, napi_int32_array>(env, o, "end_positions");
  l.nsp = CopyTyped<int32_t, napi_int32_array>(env, o, "next_sentence_label");
  if (l.start.size() != l.end.size()) ThrowInvalid(env, "start_positions and end_positions must have the same length");
  Napi::Value pt = o.Get("problem_type");
  if (!pt.IsUndefined() && !pt.IsNull()) {
    if (!pt.IsString() || !train::ParseProblemType(pt.As<Napi::String>().Utf8Value(), &l.problem_type))
      ThrowInvalid(env, "problem_type must be single_label_classification, regression or multi_label_classification");
  }
  const double nc = Number(env, o, "num_choices", 0);
  if (!(nc >= 0 && nc < 1e9 && std::floor(nc) == nc)) ThrowInvalid(env, "num_choices must be a non-negative integer");
  l.num_choices = static_cast<int64_t>(nc);
  return l;
}

class CreateTrainerWorker : public Napi::AsyncWorker {
 public:
  CreateTrainerWorker(Napi::Env env, Napi::FunctionReference* ctor, ModelConfig config, std::vector<TensorView> tensors,
                      train::TrainOptions options, KeepAlive keep)
      : Napi::AsyncWorker(env, "bertkit:createTrainableModel"),
        deferred_(Napi::Promise::Deferred::New(env)),
        ctor_(ctor),
        config_(config),
        tensors_(std::move(tensors)),
        options_(options),
        keep_(std::move(keep)) {}
  Napi::Promise Promise() { return deferred_.Promise(); }

 protected:
  void Execute() override { status_ = train::CreateTrainableModel(config_, tensors_, options_, &model_); }
  void OnOK() override {
    Napi::Env env = Env();
    if (!status_.ok()) return deferred_.Reject(StatusToError(env, status_).Value());
    deferred_.Resolve(AddonTrainer::NewInstance(env, *ctor_, std::shared_ptr<train::TrainableModel>(std::move(model_))));
  }
  void OnError(const Napi::Error& e) override { deferred_.Reject(e.Value()); }

 private:
  Napi::Promise::Deferred deferred_;
  Napi::FunctionReference* ctor_;
  ModelConfig config_;
  std::vector<TensorView> tensors_;
  train::TrainOptions options_;
  KeepAlive keep_;
  Status status_;
  std::unique_ptr<train::TrainableModel> model_;
};

class GradientsWorker : public Napi::AsyncWorker {
 public:
  GradientsWorker(Napi::Env env, std::shared_ptr<train::TrainableModel> model, OwnedBatch batch, OwnedLabels labels,
                  train::GradientOptions options, train::TrainOutputs outputs, KeepAlive keep)
      : Napi::AsyncWorker(env, "bertkit:computeGradients"),
        deferred_(Napi::Promise::Deferred::New(env)),
        model_(std::move(model)),
        batch_(std::move(batch)),
        labels_(std::move(labels)),
        options_(options),
        outputs_(outputs),
        keep_(std::move(keep)) {}
  Napi::Promise Promise() { return deferred_.Promise(); }

 protected:
  void Execute() override { status_ = model_->ComputeGradients(batch_.View(), labels_.View(), options_, outputs_, &loss_); }
  void OnOK() override {
    Napi::Env env = Env();
    if (!status_.ok()) return deferred_.Reject(StatusToError(env, status_).Value());
    Napi::Object o = Napi::Object::New(env);
    o.Set("loss", loss_.loss);
    o.Set("mlm_loss", loss_.mlm_loss);
    o.Set("nsp_loss", loss_.nsp_loss);
    deferred_.Resolve(o);
  }
  void OnError(const Napi::Error& e) override { deferred_.Reject(e.Value()); }

 private:
  Napi::Promise::Deferred deferred_;
  std::shared_ptr<train::TrainableModel> model_;
  OwnedBatch batch_;
  OwnedLabels labels_;
  train::GradientOptions options_;
  train::TrainOutputs outputs_;
  KeepAlive keep_;
  Status status_;
  train::LossParts loss_;
};

class StepWorker : public Napi::AsyncWorker {
 public:
  StepWorker(Napi::Env env, std::shared_ptr<train::TrainableModel> model, train::OptimizerStep step, std::vector<uint8_t> no_decay)
      : Napi::AsyncWorker(env, "bertkit:step"),
        deferred_(Napi::Promise::Deferred::New(env)),
        model_(std::move(model)),
        step_(step),
        no_decay_(std::move(no_decay)) {}
  Napi::Promise Promise() { return deferred_.Promise(); }

 protected:
  void Execute() override {
    step_.no_decay = no_decay_.empty() ? nullptr : no_decay_.data();
    step_.no_decay_size = static_cast<int64_t>(no_decay_.size());
    status_ = model_->Step(step_, &result_);
  }
  void OnOK() override {
    Napi::Env env = Env();
    if (!status_.ok()) return deferred_.Reject(StatusToError(env, status_).Value());
    Napi::Object o = Napi::Object::New(env);
    o.Set("grad_norm", result_.grad_norm);
    o.Set("clip_coef", result_.clip_coef);
    o.Set("step", static_cast<double>(result_.step));
    o.Set("applied", result_.applied);
    deferred_.Resolve(o);
  }
  void OnError(const Napi::Error& e) override { deferred_.Reject(e.Value()); }

 private:
  Napi::Promise::Deferred deferred_;
  std::shared_ptr<train::TrainableModel> model_;
  train::OptimizerStep step_;
  std::vector<uint8_t> no_decay_;
  Status status_;
  train::StepResult result_;
};

// Copies between the model and JS-allocated Float32Arrays, one parameter at a time.
enum class TensorIo { kReadParameters, kWriteParameters, kReadGradients, kReadOptimizer, kWriteOptimizer };
struct TensorSlot {
  int64_t index;
  float* a;
  float* b;  // second moment (optimizer state)
  int64_t n;
};

class TensorIoWorker : public Napi::AsyncWorker {
 public:
  TensorIoWorker(Napi::Env env, std::shared_ptr<train::TrainableModel> model, TensorIo mode, std::vector<TensorSlot> slots,
                 KeepAlive keep, int64_t steps)
      : Napi::AsyncWorker(env, "bertkit:tensors"),
        deferred_(Napi::Promise::Deferred::New(env)),
        model_(std::move(model)),
        mode_(mode),
        slots_(std::move(slots)),
        keep_(std::move(keep)),
        steps_(steps) {}
  Napi::Promise Promise() { return deferred_.Promise(); }

 protected:
  void Execute() override {
    for (const TensorSlot& s : slots_) {
      switch (mode_) {
        case TensorIo::kReadParameters: status_ = model_->ReadParameter(s.index, s.a, s.n); break;
        case TensorIo::kWriteParameters: status_ = model_->WriteParameter(s.index, s.a, s.n); break;
        case TensorIo::kReadGradients: status_ = model_->ReadGradient(s.index, s.a, s.n); break;
        case TensorIo::kReadOptimizer: status_ = model_->ReadOptimizerState(s.index, s.a, s.b, s.n); break;
        case TensorIo::kWriteOptimizer: status_ = model_->WriteOptimizerState(s.index, s.a, s.b, s.n); break;
      }
      if (!status_.ok()) return;
    }
    if (mode_ == TensorIo::kWriteOptimizer) model_->SetOptimizerSteps(steps_);
    steps_ = model_->OptimizerSteps();
  }
  void OnOK() override {
    Napi::Env env = Env();
    if (!status_.ok()) return deferred_.Reject(StatusToError(env, status_).Value());
    deferred_.Resolve(Napi::Number::New(env, static_cast<double>(steps_)));
  }
  void OnError(const Napi::Error& e) override { deferred_.Reject(e.Value()); }

 private:
  Napi::Promise::Deferred deferred_;
  std::shared_ptr<train::TrainableModel> model_;
  TensorIo mode_;
  std::vector<TensorSlot> slots_;
  KeepAlive keep_;
  Status status_;
  int64_t steps_;
};

// { [canonical name]: Float32Array } (and a second map for the optimizer's second moments),
// every array checked against the parameter's size here, on the JS thread.
std::vector<TensorSlot> ReadSlots(Napi::Env env, train::TrainableModel& model, const Napi::Value& first, const Napi::Value* second,
                                  KeepAlive* keep) {
  Napi::Object a = Obj(env, first, "tensors");
  Napi::Object b = second ? Obj(env, *second, "tensors") : Napi::Object();
  std::vector<TensorSlot> slots;
  Napi::Array names = a.GetPropertyNames();
  for (uint32_t i = 0; i < names.Length(); ++i) {
    const std::string name = names.Get(i).As<Napi::String>().Utf8Value();
    const int64_t index = model.FindParameter(name);
    if (index < 0) ThrowInvalid(env, "the model has no parameter " + name);
    const int64_t want = model.Parameter(index).numel;
    TensorSlot s{index, nullptr, nullptr, 0};
    s.a = FloatView(env, a.Get(name), name, &s.n, keep);
    if (s.n != want) ThrowInvalid(env, name + " has " + std::to_string(want) + " values, the array " + std::to_string(s.n));
    if (second) {
      int64_t n2 = 0;
      s.b = FloatView(env, b.Get(name), name + " (exp_avg_sq)", &n2, keep);
      if (n2 != want) ThrowInvalid(env, name + " (exp_avg_sq) has " + std::to_string(want) + " values, the array " + std::to_string(n2));
    }
    slots.push_back(s);
  }
  return slots;
}

}  // namespace

Napi::Function AddonTrainer::Define(Napi::Env env) {
  return DefineClass(env, "AddonTrainer",
                     {
                         InstanceMethod<&AddonTrainer::Forward>("forward"),
                         InstanceMethod<&AddonTrainer::ComputeGradients>("computeGradients"),
                         InstanceMethod<&AddonTrainer::Step>("step"),
                         InstanceMethod<&AddonTrainer::Parameters>("parameters"),
                         InstanceMethod<&AddonTrainer::ReadParameters>("readParameters"),
                         InstanceMethod<&AddonTrainer::WriteParameters>("writeParameters"),
                         InstanceMethod<&AddonTrainer::ReadGradients>("readGradients"),
                         InstanceMethod<&AddonTrainer::ReadOptimizerState>("readOptimizerState"),
                         InstanceMethod<&AddonTrainer::WriteOptimizerState>("writeOptimizerState"),
                         InstanceMethod<&AddonTrainer::SetDropout>("setDropout"),
                         InstanceMethod<&AddonTrainer::SetRngState>("setRngState"),
                         InstanceMethod<&AddonTrainer::GetRngState>("getRngState"),
                         InstanceMethod<&AddonTrainer::Info>("info"),
                         InstanceMethod<&AddonTrainer::TrainingInfo>("trainingInfo"),
                         InstanceMethod<&AddonTrainer::Dispose>("dispose"),
                         InstanceAccessor<&AddonTrainer::GetDisposed>("disposed"),
                     });
}

Napi::Value AddonTrainer::Create(const Napi::CallbackInfo& info, Napi::FunctionReference* ctor) {
  Napi::Env env = info.Env();
  ModelConfig config = ReadModelConfig(env, info[0]);
  KeepAlive keep;
  std::vector<TensorView> tensors = ReadTensors(env, info[1], &keep);
  train::TrainOptions options;
  if (!info[2].IsUndefined()) {
    Napi::Object o = Obj(env, info[2], "options");
    const double threads = Number(env, o, "threads", 0);
    if (!(threads >= 0 && threads <= 1024 && std::floor(threads) == threads)) ThrowInvalid(env, "threads must be an integer in [0, 1024]");
    options.threads = static_cast<int>(threads);
    const double pad = Number(env, o, "pad_token_id", -1);
    if (!(pad >= -1 && pad < 1e9 && std::floor(pad) == pad)) ThrowInvalid(env, "pad_token_id must be an integer >= -1");
    options.pad_token_id = static_cast<int64_t>(pad);
    options.hidden_dropout_prob = static_cast<float>(Number(env, o, "hidden_dropout_prob", 0));
    options.attention_probs_dropout_prob = static_cast<float>(Number(env, o, "attention_probs_dropout_prob", 0));
    options.classifier_dropout_prob = static_cast<float>(Number(env, o, "classifier_dropout_prob", 0));
    if (!o.Get("seed").IsUndefined()) options.seed = SafeUint(env, o.Get("seed"), "seed");
  }
  auto* worker = new CreateTrainerWorker(env, ctor, config, std::move(tensors), options, std::move(keep));
  Napi::Promise promise = worker->Promise();
  worker->Queue();
  return promise;
}

AddonTrainer::AddonTrainer(const Napi::CallbackInfo& info) : Napi::ObjectWrap<AddonTrainer>(info) {
  if (info.Length() != 1 || !info[0].IsExternal()) {
    ThrowInvalid(info.Env(), "AddonTrainer cannot be constructed directly; use createTrainableModel()");
  }
  auto* holder = info[0].As<Napi::External<std::shared_ptr<train::TrainableModel>>>().Data();
  model_ = std::move(*holder);
}

Napi::Object AddonTrainer::NewInstance(Napi::Env env, Napi::FunctionReference& ctor, std::shared_ptr<train::TrainableModel> model) {
  std::shared_ptr<train::TrainableModel> holder = std::move(model);
  return ctor.New({Napi::External<std::shared_ptr<train::TrainableModel>>::New(env, &holder)});
}

train::TrainableModel& AddonTrainer::Live(Napi::Env env) {
  if (!model_) ThrowStatus(env, Status(StatusCode::kDisposed, "the model was disposed"));
  return *model_;
}

Napi::Value AddonTrainer::Forward(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Live(env);
  if (info.Length() < 2) ThrowInvalid(env, "forward(input, outputs) takes two arguments");
  OwnedBatch batch = ReadBatch(env, info[0]);
  KeepAlive keep;
  ForwardOutputs outputs = ReadOutputs(env, info[1], &keep);
  auto* worker = new ForwardWorker(env, std::shared_ptr<Model>(model_), std::move(batch), outputs, std::move(keep));
  Napi::Promise promise = worker->Promise();
  worker->Queue();
  return promise;
}

// computeGradients(input, labels, options, outputs) -> Promise<{ loss, mlm_loss, nsp_loss }>
Napi::Value AddonTrainer::ComputeGradients(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Live(env);
  OwnedBatch batch = ReadBatch(env, info[0]);
  OwnedLabels labels = ReadLabels(env, info[1]);
  train::GradientOptions options;
  if (!info[2].IsUndefined()) {
    Napi::Object o = Obj(env, info[2], "options");
    options.loss_scale = static_cast<float>(Number(env, o, "loss_scale", 1));
    if (!o.Get("accumulate").IsUndefined()) options.accumulate = o.Get("accumulate").ToBoolean().Value();
    if (!o.Get("training").IsUndefined()) options.training = o.Get("training").ToBoolean().Value();
    if (!o.Get("backward").IsUndefined()) options.backward = o.Get("backward").ToBoolean().Value();
  }
  KeepAlive keep;
  train::TrainOutputs outputs;
  if (!info[3].IsUndefined()) {
    Napi::Object o = Obj(env, info[3], "outputs");
    auto read = [&](const char* key, OutputBuffer* buf) {
      Napi::Value v = o.Get(key);
      if (v.IsUndefined() || v.IsNull()) return;
      buf->data = FloatView(env, v, key, &buf->size, &keep);
    };
    read("logits", &outputs.logits);
    read("prediction_logits", &outputs.prediction_logits);
    read("seq_relationship_logits", &outputs.seq_relationship_logits);
    read("start_logits", &outputs.start_logits);
    read("end_logits", &outputs.end_logits);
  }
  auto* worker = new GradientsWorker(env, model_, std::move(batch), std::move(labels), options, outputs, std::move(keep));
  Napi::Promise promise = worker->Promise();
  worker->Queue();
  return promise;
}

// step({ lr, beta1, beta2, eps, weight_decay, no_decay?, max_grad_norm }) -> Promise<StepResult>
Napi::Value AddonTrainer::Step(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Live(env);
  Napi::Object o = Obj(env, info[0], "step");
  train::OptimizerStep s;
  s.lr = Number(env, o, "lr", 0, true);
  s.beta1 = Number(env, o, "beta1", 0.9);
  s.beta2 = Number(env, o, "beta2", 0.999);
  s.eps = Number(env, o, "eps", 1e-8);
  s.weight_decay = Number(env, o, "weight_decay", 0);
  s.max_grad_norm = Number(env, o, "max_grad_norm", 0);
  std::vector<uint8_t> no_decay = CopyTyped<uint8_t, napi_uint8_array>(env, o, "no_decay");
  auto* worker = new StepWorker(env, model_, s, std::move(no_decay));
  Napi::Promise promise = worker->Promise();
  worker->Queue();
  return promise;
}

// parameters() -> [{ name, dims }] in the engine's order (canonical names).
Napi::Value AddonTrainer::Parameters(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  train::TrainableModel& m = Live(env);
  Napi::Array out = Napi::Array::New(env, m.NumParameters());
  for (int64_t i = 0; i < m.NumParameters(); ++i) {
    const train::ParameterInfo& p = m.Parameter(i);
    Napi::Object o = Napi::Object::New(env);
    o.Set("name", p.name);
    Napi::Array dims = Napi::Array::New(env, p.dims.size());
    for (size_t k = 0; k < p.dims.size(); ++k) dims.Set(static_cast<uint32_t>(k), Napi::Number::New(env, static_cast<double>(p.dims[k])));
    o.Set("dims", dims);
    out.Set(static_cast<uint32_t>(i), o);
  }
  return out;
}

namespace {
Napi::Value QueueIo(Napi::Env env, std::shared_ptr<train::TrainableModel> model, TensorIo mode, std::vector<TensorSlot> slots,
                    KeepAlive keep, int64_t steps = 0) {
  auto* worker = new TensorIoWorker(env, std::move(model), mode, std::move(slots), std::move(keep), steps);
  Napi::Promise promise = worker->Promise();
  worker->Queue();
  return promise;
}
}  // namespace

Napi::Value AddonTrainer::ReadParameters(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  KeepAlive keep;
  auto slots = ReadSlots(env, Live(env), info[0], nullptr, &keep);
  return QueueIo(env, model_, TensorIo::kReadParameters, std::move(slots), std::move(keep));
}

Napi::Value AddonTrainer::WriteParameters(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  KeepAlive keep;
  auto slots = ReadSlots(env, Live(env), info[0], nullptr, &keep);
  return QueueIo(env, model_, TensorIo::kWriteParameters, std::move(slots), std::move(keep));
}

Napi::Value AddonTrainer::ReadGradients(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  KeepAlive keep;
  auto slots = ReadSlots(env, Live(env), info[0], nullptr, &keep);
  return QueueIo(env, model_, TensorIo::kReadGradients, std::move(slots), std::move(keep));
}

// readOptimizerState(expAvg, expAvgSq) -> Promise<steps>
Napi::Value AddonTrainer::ReadOptimizerState(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  KeepAlive keep;
  Napi::Value second = info[1];
  auto slots = ReadSlots(env, Live(env), info[0], &second, &keep);
  return QueueIo(env, model_, TensorIo::kReadOptimizer, std::move(slots), std::move(keep));
}

// writeOptimizerState(expAvg, expAvgSq, steps) -> Promise<steps>
Napi::Value AddonTrainer::WriteOptimizerState(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  KeepAlive keep;
  Napi::Value second = info[1];
  auto slots = ReadSlots(env, Live(env), info[0], &second, &keep);
  const int64_t steps = static_cast<int64_t>(SafeUint(env, info[2], "steps"));
  return QueueIo(env, model_, TensorIo::kWriteOptimizer, std::move(slots), std::move(keep), steps);
}

Napi::Value AddonTrainer::SetDropout(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  train::TrainableModel& m = Live(env);
  float p[3];
  for (int i = 0; i < 3; ++i) {
    const double v = info[i].IsNumber() ? info[i].As<Napi::Number>().DoubleValue() : -1;
    if (!(v >= 0 && v <= 1)) ThrowInvalid(env, "dropout probabilities must be numbers in [0, 1]");
    p[i] = static_cast<float>(v);
  }
  m.SetDropout(p[0], p[1], p[2]);
  return env.Undefined();
}

Napi::Value AddonTrainer::SetRngState(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  train::TrainableModel& m = Live(env);
  m.SetRngState(SafeUint(env, info[0], "seed"), SafeUint(env, info[1], "counter"));
  return env.Undefined();
}

Napi::Value AddonTrainer::GetRngState(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  uint64_t seed = 0, counter = 0;
  Live(env).GetRngState(&seed, &counter);
  Napi::Object o = Napi::Object::New(env);
  o.Set("seed", static_cast<double>(seed));
  o.Set("counter", static_cast<double>(counter));
  return o;
}

Napi::Value AddonTrainer::Info(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const ModelInfo mi = Live(env).Info();
  return ModelInfoToJs(env, mi);
}

Napi::Value AddonTrainer::TrainingInfo(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const train::TrainInfo t = Live(env).TrainingInfo();
  Napi::Object o = Napi::Object::New(env);
  o.Set("isa", t.isa);
  o.Set("threads", t.threads);
  o.Set("parameters", static_cast<double>(t.parameters));
  o.Set("weight_bytes", static_cast<double>(t.weight_bytes));
  o.Set("gradient_bytes", static_cast<double>(t.gradient_bytes));
  o.Set("optimizer_bytes", static_cast<double>(t.optimizer_bytes));
  o.Set("activation_bytes", static_cast<double>(t.activation_bytes));
  return o;
}

Napi::Value AddonTrainer::Dispose(const Napi::CallbackInfo& info) {
  model_.reset();
  return info.Env().Undefined();
}

Napi::Value AddonTrainer::GetDisposed(const Napi::CallbackInfo& info) { return Napi::Boolean::New(info.Env(), !model_); }

}  // namespace bertkit::napi
