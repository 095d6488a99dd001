// The device probe: is there a driver, a device of compute capability 8.0 or newer, and does a
// kernel of this build run on it? Uses only the CUDA runtime's error returns (the runtime is
// linked statically and loads libcuda.so.1 itself on first use), so a machine without a driver
// or without a GPU gets reasons, never a crash.
#include <cstdlib>
#include <mutex>
#include <string>

#include "cuda/backend.h"
#include "cuda/common.cuh"

namespace bertkit::cuda {

namespace {

__global__ void ProbeKernel(int* out) {
  if (out != nullptr && threadIdx.x == 0) *out = 1;
}

std::string Version(int v) { return std::to_string(v / 1000) + "." + std::to_string((v % 1000) / 10); }

ProbeResult ProbeOnce() {
  ProbeResult r;
  cudaRuntimeGetVersion(&r.runtime_version);
  const std::string runtime = Version(r.runtime_version);
  if (cudaDriverGetVersion(&r.driver_version) != cudaSuccess || r.driver_version == 0) {
    cudaGetLastError();
    r.driver_version = 0;
    r.reasons.push_back("no NVIDIA driver was found (libcuda.so.1 could not be loaded): install the NVIDIA driver "
                        "(one supporting CUDA " + runtime + " or newer)");
    return r;
  }
  int count = 0;
  cudaError_t e = cudaGetDeviceCount(&count);
  if (e != cudaSuccess) {
    cudaGetLastError();
    if (e == cudaErrorInsufficientDriver) {
      r.reasons.push_back("the NVIDIA driver supports CUDA " + Version(r.driver_version) + ", older than this build's CUDA runtime (" +
                          runtime + "): update the driver, or build the addon with an older CUDA toolkit");
    } else if (e == cudaErrorNoDevice) {
      r.reasons.push_back("no CUDA device is visible (no NVIDIA GPU, or CUDA_VISIBLE_DEVICES hides them)");
    } else {
      r.reasons.push_back(std::string("CUDA could not list the devices: ") + cudaGetErrorName(e) + " (" + cudaGetErrorString(e) + ")");
    }
    return r;
  }
  if (count == 0) {
    r.reasons.push_back("no CUDA device is visible (no NVIDIA GPU, or CUDA_VISIBLE_DEVICES hides them)");
    return r;
  }
  for (int i = 0; i < count; ++i) {
    DeviceInfo d;
    d.ordinal = i;
    cudaDeviceProp prop;
    e = cudaGetDeviceProperties(&prop, i);
    if (e != cudaSuccess) {
      cudaGetLastError();
      d.unsupported_reason = std::string("its properties could not be read: ") + cudaGetErrorString(e);
      r.devices.push_back(d);
      continue;
    }
    d.name = prop.name;
    d.compute_capability = prop.major * 10 + prop.minor;
    d.memory_bytes = static_cast<int64_t>(prop.totalGlobalMem);
    d.multiprocessors = prop.multiProcessorCount;
    cudaDeviceGetAttribute(&d.clock_khz, cudaDevAttrClockRate, i);
    cudaGetLastError();
    d.supported = d.compute_capability >= kMinComputeCapability;
    if (!d.supported) {
      d.unsupported_reason = "compute capability " + std::to_string(prop.major) + "." + std::to_string(prop.minor) +
                             " is below 8.0: bertkit's CUDA kernels need the tensor-core instructions of Ampere (sm_80) or newer";
    }
    r.devices.push_back(d);
  }
  int chosen = -1;
  if (const char* env = std::getenv("BERTKIT_CUDA_DEVICE"); env != nullptr && *env != '\0') {
    char* end = nullptr;
    const long v = std::strtol(env, &end, 10);
    if (*end != '\0' || v < 0 || v >= count) {
      r.reasons.push_back(std::string("BERTKIT_CUDA_DEVICE=") + env + " is not a device ordinal in [0, " + std::to_string(count) + ")");
      return r;
    }
    chosen = static_cast<int>(v);
    if (!r.devices[chosen].supported) {
      r.reasons.push_back("device " + std::to_string(chosen) + " (" + r.devices[chosen].name + ", BERTKIT_CUDA_DEVICE): " +
                          r.devices[chosen].unsupported_reason);
      return r;
    }
  } else {
    for (const DeviceInfo& d : r.devices) {
      if (d.supported) {
        chosen = d.ordinal;
        break;
      }
    }
    if (chosen < 0) {
      for (const DeviceInfo& d : r.devices)
        r.reasons.push_back("device " + std::to_string(d.ordinal) + " (" + d.name + "): " + d.unsupported_reason);
      return r;
    }
  }
  // Context creation, module load (PTX compiled by the driver on chips newer than this build's
  // machine code) and a launch: what every model will need.
  const std::string which = "device " + std::to_string(chosen) + " (" + r.devices[chosen].name + ")";
  int* flag = nullptr;
  e = cudaSetDevice(chosen);
  if (e == cudaSuccess) e = cudaMalloc(&flag, sizeof(int));
  if (e == cudaSuccess) {
    ProbeKernel<<<1, 32>>>(flag);
    e = cudaGetLastError();
  }
  if (e == cudaSuccess) e = cudaDeviceSynchronize();
  int one = 0;
  if (e == cudaSuccess) e = cudaMemcpy(&one, flag, sizeof(int), cudaMemcpyDeviceToHost);
  if (flag != nullptr) cudaFree(flag);
  if (e != cudaSuccess || one != 1) {
    cudaGetLastError();
    r.reasons.push_back(which + " did not run a test kernel: " +
                        (e != cudaSuccess ? std::string(cudaGetErrorName(e)) + " (" + cudaGetErrorString(e) + ")" : "wrong result") +
                        (e == cudaErrorNoKernelImageForDevice || e == cudaErrorUnsupportedPtxVersion
                             ? "; this build has no code the driver can run on it: update the driver or rebuild with its architecture"
                             : ""));
    return r;
  }
  r.device = chosen;
  r.available = true;
  return r;
}

}  // namespace

ProbeResult Probe() {
  static std::once_flag once;
  static ProbeResult result;
  std::call_once(once, [] { result = ProbeOnce(); });
  return result;
}

}  // namespace bertkit::cuda
