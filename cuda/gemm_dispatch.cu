// The Linear layers of one model through cuBLASLt (see cublaslt.h for the loading and the plan of
// one product, gemm_dispatch.h for the interface).
//
// Fusion kept: bias, ReLU and the tanh GELU ("gelu_new") run in cuBLASLt's epilogue; the
// residual is its C matrix (beta 1) into the float32 D; the erf GELU of "gelu" (which cuBLASLt's
// epilogue only approximates with tanh) and the pooler's tanh run in one elementwise pass over D
// right after, on D as stored (P), as transformers applies them to its fp16 Linear output.
// Products cuBLASLt cannot take in one call (two outputs, a residual into P) run the own kernels.
#include "cuda/gemm_dispatch.h"

#include <string>

#include "cuda/common.cuh"
#include "cuda/kernels/kernels.cuh"

namespace bertkit::cuda {

namespace {

constexpr size_t kWorkspaceBytes = size_t{32} << 20;  // what cuBLAS asks for on Hopper

// Rows of any stride: one grid row per matrix row (no division per element).
template <class T>
__global__ void ActInPlaceKernel(T* y, int64_t m, int64_t n, int64_t ld, Act act) {
  for (int64_t r = blockIdx.y; r < m; r += gridDim.y) {
    T* row = y + r * ld;
    for (int64_t c = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; c < n; c += static_cast<int64_t>(gridDim.x) * blockDim.x)
      row[c] = FromF<T>(Activate(ToF(row[c]), act));
  }
}

// A contiguous, 16-byte aligned matrix: 16 bytes per thread and step (it is memory-bound).
template <class T>
__global__ void ActInPlaceVecKernel(uint4* y, int64_t vecs, Act act) {
  constexpr int kPer = 16 / sizeof(T);
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < vecs; i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    uint4 v = y[i];
    T* e = reinterpret_cast<T*>(&v);
#pragma unroll
    for (int j = 0; j < kPer; ++j) e[j] = FromF<T>(Activate(ToF(e[j]), act));
    y[i] = v;
  }
}

template <class T>
void LaunchAct(T* y, int64_t m, int64_t n, int64_t ld, Act act, cudaStream_t stream) {
  constexpr int64_t kPer = 16 / sizeof(T);
  if (ld == n && (m * n) % kPer == 0 && (reinterpret_cast<uintptr_t>(y) & 15) == 0) {
    const int64_t vecs = m * n / kPer, blocks = CeilDiv(vecs, 256);
    ActInPlaceVecKernel<T><<<static_cast<unsigned>(blocks < 65536 ? blocks : 65536), 256, 0, stream>>>(reinterpret_cast<uint4*>(y), vecs, act);
    return;
  }
  const int64_t bx = CeilDiv(n, 256);
  const dim3 grid(static_cast<unsigned>(bx < 64 ? bx : 64), static_cast<unsigned>(m < 65535 ? m : 65535));
  ActInPlaceKernel<T><<<grid, 256, 0, stream>>>(y, m, n, ld, act);
}

std::string LtError(const char* what, lt::LtStatus s) { return std::string(what) + " failed (cuBLAS status " + std::to_string(s) + ")"; }

}  // namespace

Status LaunchActInPlace(Precision p, bool is_f32, void* y, int64_t m, int64_t n, int64_t ld, Act act, cudaStream_t stream) {
  if (act == Act::kNone || m <= 0 || n <= 0) return Status::Ok();
  if (is_f32 || p == Precision::kFloat32) LaunchAct(static_cast<float*>(y), m, n, ld, act, stream);
  else if (p == Precision::kFloat16) LaunchAct(static_cast<__half*>(y), m, n, ld, act, stream);
  else LaunchAct(static_cast<__nv_bfloat16*>(y), m, n, ld, act, stream);
  BK_CUDA_LAUNCHED("activation");
  return Status::Ok();
}

GemmDispatch::~GemmDispatch() {
  if (lib_ != nullptr && lib_->ok) {
    const lt::Api& a = lib_->api;
    for (auto& [_, e] : entries_) lt::Release(a, &e.d);
    if (handle_ != nullptr) a.Destroy(handle_);
  }
  for (auto& [_, p] : bias_p_) cudaFree(p);
  if (workspace_ != nullptr) cudaFree(workspace_);
}

Status GemmDispatch::Init(Precision p, const CudaOptions& options, int sms, cudaStream_t stream) {
  p_ = p;
  tensor_cores_ = options.tensor_cores;
  tf32_ = options.tf32;
  sms_ = sms;
  stream_ = stream;
  const lt::Library& lib = lt::Get();
  choice_ = lt::Choose(p, tensor_cores_, lib, WgmmaState());
  if (choice_.gemm != "cublasLt") return Status::Ok();
  // From here a failure to start cuBLASLt is reported as the reason for the own kernels.
  auto fall_back = [&](std::string why) {
    cudaGetLastError();
    choice_ = lt::Choose(p, tensor_cores_, lt::Library{false, lib.path, lib.version, why, {}}, WgmmaState());
    return Status::Ok();
  };
  const lt::LtStatus s = lib.api.Create(&handle_);
  if (s != lt::kSuccess) {
    handle_ = nullptr;
    return fall_back(lib.path + ": " + LtError("cublasLtCreate", s) + ": bertkit's own GEMM kernels");
  }
  lib_ = &lib;
  if (cudaMalloc(&workspace_, kWorkspaceBytes) != cudaSuccess) {
    workspace_ = nullptr;
    lib.api.Destroy(handle_);
    handle_ = nullptr;
    lib_ = nullptr;
    return fall_back("no GPU memory for cuBLASLt's 32 MiB workspace: bertkit's own GEMM kernels");
  }
  workspace_bytes_ = kWorkspaceBytes;
  return Status::Ok();
}

Status GemmDispatch::Run(const GemmParams& g) {
  if (handle_ != nullptr) {
    const lt::Plan plan = lt::PlanFor(p_, g, tf32_);
    if (plan.ok) {
      bool done = false;
      BK_RETURN_IF_ERROR(RunLt(g, plan, &done));
      if (done) return Status::Ok();
    }
  }
  return LaunchGemm(p_, g, tensor_cores_ ? GemmVersion::kAuto : GemmVersion::kSimt, sms_, stream_);
}

const void* GemmDispatch::BiasInP(const float* bias, int64_t n, bool* missing) {
  *missing = false;
  auto it = bias_p_.find(bias);
  if (it != bias_p_.end()) return it->second;
  // No allocation while a graph is being captured: the first (direct) run of every shape
  // converts the biases it uses, so this only happens for a layer never run directly.
  cudaStreamCaptureStatus capturing = cudaStreamCaptureStatusNone;
  if (cudaStreamIsCapturing(stream_, &capturing) != cudaSuccess || capturing != cudaStreamCaptureStatusNone) {
    *missing = true;
    return nullptr;
  }
  void* p = nullptr;
  if (cudaMalloc(&p, static_cast<size_t>(n) * PrecisionBytes(p_)) != cudaSuccess || !LaunchConvert(p_, bias, p, n, stream_).ok()) {
    cudaGetLastError();
    if (p != nullptr) cudaFree(p);
    *missing = true;
    return nullptr;
  }
  bias_p_[bias] = p;
  return p;
}

GemmDispatch::Entry& GemmDispatch::Find(const GemmParams& g, const lt::Plan& plan, const void* y, const void* bias) {
  const size_t ab = PrecisionBytes(p_), db = plan.d_type == lt::kR32F ? 4 : ab;
  const int64_t ldy = plan.d_is_y_f ? g.ldy_f : g.ldy_p;
  uint32_t align[4];
  align[0] = lt::Alignment(g.w, g.k, ab);
  align[1] = lt::Alignment(g.x, g.ldx, ab);
  align[3] = lt::Alignment(y, ldy, db);
  align[2] = plan.residual ? lt::Alignment(g.residual, g.ldr, 4) : align[3];
  const uint32_t align_bias = bias != nullptr ? lt::Alignment(bias, 0, 1) : 0;
  const std::array<int64_t, 16> key{g.m, g.n, g.k, g.ldx, ldy, plan.residual ? g.ldr : 0, plan.ab_type, plan.d_type, plan.compute,
                                    plan.epilogue, plan.residual, align[0], align[1], align[2], align[3], align_bias};
  auto it = entries_.find(key);
  if (it != entries_.end()) return it->second;
  Entry& e = entries_[key];
  const lt::Api& a = lib_->api;
  // The bias pointer set here only tells the heuristic its alignment; RunLt sets each call's.
  bool ok = lt::Describe(a, plan, g, bias, align, workspace_bytes_, &e.d) == nullptr;
  lt::HeuristicResult result{};
  int returned = 0;
  ok = ok && a.MatmulAlgoGetHeuristic(handle_, e.d.desc, e.d.a, e.d.b, e.d.c, e.d.d, e.d.pref, 1, &result, &returned) == lt::kSuccess &&
       returned > 0 && result.state == lt::kSuccess && result.workspace_size <= workspace_bytes_;
  e.ok = ok;
  if (ok) {
    e.algo = result.algo;
    e.workspace = result.workspace_size;
  }
  return e;
}

Status GemmDispatch::RunLt(const GemmParams& g, const lt::Plan& plan, bool* done) {
  *done = false;
  const void* bias = g.bias;
  if (plan.bias_in_p) {
    bool missing = false;
    bias = BiasInP(g.bias, g.n, &missing);
    if (missing) return Status::Ok();
  }
  void* y = plan.d_is_y_f ? static_cast<void*>(g.y_f) : g.y_p;
  Entry& e = Find(g, plan, y, bias);
  if (!e.ok) return Status::Ok();  // no algorithm for this shape: the own kernel
  const lt::Api& a = lib_->api;
  if (bias != nullptr && a.MatmulDescSetAttribute(e.d.desc, lt::kDescBiasPointer, &bias, sizeof(bias)) != lt::kSuccess)
    return Status::Ok();
  const float alpha = 1.0f, beta = plan.residual ? 1.0f : 0.0f;
  const void* c = plan.residual ? static_cast<const void*>(g.residual) : y;
  const lt::LtStatus s = a.Matmul(handle_, e.d.desc, &alpha, g.w, e.d.a, g.x, e.d.b, &beta, c, e.d.c, y, e.d.d, &e.algo, workspace_,
                                  workspace_bytes_, stream_);
  if (s != lt::kSuccess) {
    // Never again for this shape; the own kernel answers, and the model says so.
    e.ok = false;
    std::lock_guard<std::mutex> lock(mu_);
    if (choice_.reason.empty())
      choice_.reason = LtError("cublasLtMatmul", s) + " for a [" + std::to_string(g.m) + ", " + std::to_string(g.n) + ", " +
                       std::to_string(g.k) + "] product: such products run bertkit's own kernels";
    return Status::Ok();
  }
  *done = true;
  if (plan.post != Act::kNone) {
    const int64_t ldy = plan.d_is_y_f ? g.ldy_f : g.ldy_p;
    BK_RETURN_IF_ERROR(LaunchActInPlace(p_, plan.d_is_y_f, y, g.m, g.n, ldy, plan.post, stream_));
  }
  return Status::Ok();
}

}  // namespace bertkit::cuda
