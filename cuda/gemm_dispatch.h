// One model's Linear layers: cuBLASLt where it was loaded (cublaslt.h) and the product maps onto
// it, bertkit's own kernels (kernels/gemm.cu) otherwise and for what cuBLASLt cannot fuse.
#pragma once

#include <cuda_runtime.h>

#include <array>
#include <map>
#include <mutex>

#include "bertkit/status.h"
#include "cuda/backend.h"
#include "cuda/cublaslt.h"
#include "cuda/kernels/params.h"

namespace bertkit::cuda {

class GemmDispatch {
 public:
  GemmDispatch() = default;
  GemmDispatch(const GemmDispatch&) = delete;
  GemmDispatch& operator=(const GemmDispatch&) = delete;
  ~GemmDispatch();  // the device must be current

  // With the model's device current and PrepareKernels() done. A cuBLASLt that loads but cannot
  // start here (no handle, no workspace) is a reason, not an error: the own kernels run.
  Status Init(Precision p, const CudaOptions& options, int sms, cudaStream_t stream);
  // y = act(x . w^T + bias) + residual on the model's stream.
  Status Run(const GemmParams& g);
  // A copy: Model::Info() may ask while a forward (which may add a reason) runs.
  lt::Choice choice() const {
    std::lock_guard<std::mutex> lock(mu_);
    return choice_;
  }

 private:
  struct Entry {
    bool ok = false;
    lt::Descriptors d;
    lt::Algo algo{};
    size_t workspace = 0;
  };
  // Runs g through cuBLASLt; *done false: it could not (the caller runs the own kernel).
  Status RunLt(const GemmParams& g, const lt::Plan& plan, bool* done);
  Entry& Find(const GemmParams& g, const lt::Plan& plan, const void* y, const void* bias);
  // The bias in P for an epilogue writing P (converted once per bias, outside graph capture).
  const void* BiasInP(const float* bias, int64_t n, bool* missing);

  Precision p_ = Precision::kFloat32;
  bool tensor_cores_ = true;
  bool tf32_ = false;
  int sms_ = 0;
  cudaStream_t stream_ = nullptr;
  mutable std::mutex mu_;  // guards choice_
  lt::Choice choice_;
  const lt::Library* lib_ = nullptr;
  lt::Handle handle_ = nullptr;
  void* workspace_ = nullptr;
  size_t workspace_bytes_ = 0;
  std::map<std::array<int64_t, 16>, Entry> entries_;
  std::map<const float*, void*> bias_p_;
};

// y = act(y) in place over an [m, n] matrix (row stride ld) of float32 or P: the activations a
// cuBLASLt epilogue has no exact form of.
Status LaunchActInPlace(Precision p, bool is_f32, void* y, int64_t m, int64_t n, int64_t ld, Act act, cudaStream_t stream);

}  // namespace bertkit::cuda
