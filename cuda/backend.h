// The CUDA backend's own C++ API, beyond engine.h's CreateCudaModel: the device probe, and the
// precision and other CUDA-only options.
// A plain C++ header (no CUDA headers): the N-API addon, the C++ tests and benchmarks include it.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "bertkit/engine.h"

namespace bertkit::cuda {

// What the encoder computes in on the GPU. Activations and weights are stored in this type; every
// product is accumulated in float32; LayerNorm statistics, softmax and the residual stream are
// float32 in every mode. kFloat32 runs SIMT kernels (no tensor cores): the mode for checking.
enum class Precision : int { kFloat32 = 0, kFloat16, kBFloat16 };
const char* PrecisionName(Precision p);  // "float32", "float16", "bfloat16"
bool ParsePrecision(std::string_view name, Precision* out);

// Compute capabilities this build carries code for: 8.0, 8.6, 8.9 and 9.0 as machine code, and
// PTX for 9.0 that the driver compiles for newer chips.
constexpr int kMinComputeCapability = 80;

struct DeviceInfo {
  int ordinal = -1;
  std::string name;
  int compute_capability = 0;  // major * 10 + minor
  int64_t memory_bytes = 0;
  int multiprocessors = 0;
  int clock_khz = 0;  // peak SM clock
  bool supported = false;
  std::string unsupported_reason;  // when !supported
};

struct ProbeResult {
  bool available = false;            // a supported device answered (a context and a kernel ran)
  std::vector<std::string> reasons;  // why not, each with a fix where there is one
  std::vector<DeviceInfo> devices;
  int device = -1;          // the ordinal models use (BERTKIT_CUDA_DEVICE, else the first supported)
  int driver_version = 0;   // 0: no driver could be loaded
  int runtime_version = 0;  // the CUDA runtime linked into this build
};

// Never aborts and never throws, with or without a driver or a device. The first call creates a
// context on the chosen device (a fraction of a second) and launches one empty kernel; the
// result is cached for the process.
ProbeResult Probe();

struct CudaOptions {
  Precision precision = Precision::kFloat32;
  int device = -1;          // -1: ProbeResult::device
  bool graphs = true;       // replay CUDA graphs for shapes seen before (BERTKIT_CUDA_GRAPHS=0: off)
  bool tensor_cores = true; // false: SIMT GEMM and attention in every precision (for checking)
  bool tf32 = false;        // float32 products on TF32 tensor cores (BERTKIT_CUDA_TF32=1); exact otherwise
};

// The options EngineOptions maps to: dtype float32 -> kFloat32, bfloat16 -> kBFloat16, int8 ->
// kFloat16 (with `fallback` saying so); BERTKIT_CUDA_DTYPE=float16|bfloat16|float32 overrides.
CudaOptions OptionsFor(const EngineOptions& options, std::string* fallback);

Status CreateModel(const ModelConfig& config, const std::vector<TensorView>& tensors, const EngineOptions& options,
                   const CudaOptions& cuda_options, std::unique_ptr<Model>* out);

// The weights as the device holds them, read back as float32, one entry per checkpoint tensor in
// upload order (for tests: they must equal the file's values rounded to `stored`, bit for bit).
struct DeviceTensor {
  std::string name;
  Precision stored = Precision::kFloat32;
  std::vector<float> values;
};
Status ReadBackWeights(Model& model, std::vector<DeviceTensor>* out);

}  // namespace bertkit::cuda
