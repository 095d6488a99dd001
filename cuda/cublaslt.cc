// cuBLASLt loaded at run time, and the plain-C++ side of using it: which GEMM a model runs and
// how a Linear layer maps onto one cublasLtMatmul. See cublaslt.h.
#include "cuda/cublaslt.h"

#include <cstdlib>
#include <cstring>
#include <mutex>

#if !defined(_WIN32)
#include <dlfcn.h>
#endif

namespace bertkit::cuda::lt {

namespace {

bool Disabled(const char* env) {
  return std::strcmp(env, "0") == 0 || std::strcmp(env, "off") == 0 || std::strcmp(env, "none") == 0 ||
         std::strcmp(env, "false") == 0;
}

#if defined(__aarch64__)
constexpr const char* kTargets = "targets/sbsa-linux/lib/";
#else
constexpr const char* kTargets = "targets/x86_64-linux/lib/";
#endif

}  // namespace

std::vector<std::string> Candidates(const char* env, const char* cuda_home, const char* cuda_path) {
  if (env != nullptr && *env != '\0') {
    if (Disabled(env)) return {};
    return {env};
  }
  const char* sonames[] = {"libcublasLt.so.13", "libcublasLt.so.12"};
  std::vector<std::string> out(std::begin(sonames), std::end(sonames));
  std::vector<std::string> roots;
  for (const char* r : {cuda_home, cuda_path, "/usr/local/cuda"}) {
    if (r == nullptr || *r == '\0') continue;
    std::string root = r;
    if (root.back() != '/') root += '/';
    bool seen = false;
    for (const auto& x : roots) seen = seen || x == root;
    if (!seen) roots.push_back(root);
  }
  for (const auto& root : roots)
    for (const char* sub : {"lib64/", kTargets})
      for (const char* so : sonames) out.push_back(root + sub + so);
  return out;
}

Library Load(const std::vector<std::string>& candidates, const char* env) {
  Library lib;
  if (candidates.empty()) {
    lib.reason = std::string("cuBLASLt is disabled (BERTKIT_CUBLASLT=") + (env ? env : "") + "): bertkit's own GEMM kernels";
    return lib;
  }
#if defined(_WIN32)
  (void)env;
  lib.reason = "loading cuBLASLt is implemented on Linux only: bertkit's own GEMM kernels";
  return lib;
#else
  std::string first_error;
  for (const std::string& path : candidates) {
    void* h = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (h == nullptr) {
      const char* e = dlerror();
      if (first_error.empty()) first_error = e != nullptr ? e : path + ": cannot be opened";
      continue;
    }
    Api a;
    std::string missing;
    auto sym = [&](auto* fn, const char* name) {
      void* s = dlsym(h, name);
      if (s == nullptr && missing.empty()) missing = name;
      std::memcpy(fn, &s, sizeof(s));
    };
    sym(&a.Create, "cublasLtCreate");
    sym(&a.Destroy, "cublasLtDestroy");
    sym(&a.GetVersion, "cublasLtGetVersion");
    sym(&a.MatmulDescCreate, "cublasLtMatmulDescCreate");
    sym(&a.MatmulDescDestroy, "cublasLtMatmulDescDestroy");
    sym(&a.MatmulDescSetAttribute, "cublasLtMatmulDescSetAttribute");
    sym(&a.MatrixLayoutCreate, "cublasLtMatrixLayoutCreate");
    sym(&a.MatrixLayoutDestroy, "cublasLtMatrixLayoutDestroy");
    sym(&a.MatmulPreferenceCreate, "cublasLtMatmulPreferenceCreate");
    sym(&a.MatmulPreferenceDestroy, "cublasLtMatmulPreferenceDestroy");
    sym(&a.MatmulPreferenceSetAttribute, "cublasLtMatmulPreferenceSetAttribute");
    sym(&a.MatmulAlgoGetHeuristic, "cublasLtMatmulAlgoGetHeuristic");
    sym(&a.Matmul, "cublasLtMatmul");
    if (!missing.empty()) {
      dlclose(h);
      if (first_error.empty()) first_error = path + " is not cuBLASLt (no " + missing + ")";
      continue;
    }
    const size_t version = a.GetVersion();
    if (version < 110000) {
      dlclose(h);
      if (first_error.empty()) first_error = path + " is cuBLASLt " + std::to_string(version) + ", older than 11.0";
      continue;
    }
    // Kept open for the life of the process (models may run until exit).
    lib.ok = true;
    lib.path = path;
    lib.version = version;
    lib.api = a;
    return lib;
  }
  if (env != nullptr && *env != '\0') {
    lib.path = env;
    lib.reason = std::string("BERTKIT_CUBLASLT=") + env + " cannot be used (" + first_error + "): bertkit's own GEMM kernels";
  } else {
    lib.reason = "cuBLASLt not found (libcublasLt.so.13 or .so.12, by soname and under CUDA_HOME, CUDA_PATH, /usr/local/cuda; " +
                 first_error + "): bertkit's own GEMM kernels; install the CUDA toolkit's cuBLAS or set BERTKIT_CUBLASLT to its path";
  }
  return lib;
#endif
}

const Library& Get() {
  static std::once_flag once;
  static Library lib;
  std::call_once(once, [] {
    const char* env = std::getenv("BERTKIT_CUBLASLT");
    lib = Load(Candidates(env, std::getenv("CUDA_HOME"), std::getenv("CUDA_PATH")), env);
  });
  return lib;
}

Choice Choose(Precision p, bool tensor_cores, const Library& lib, int wgmma_state) {
  Choice c;
  if (!tensor_cores) {
    c.gemm = "simt";
    c.reason = "tensor cores are off (the checking mode): bertkit's SIMT kernels";
    return c;
  }
  if (lib.ok) {
    c.gemm = "cublasLt";
    return c;
  }
  c.gemm = p == Precision::kFloat32 ? "simt" : wgmma_state == 1 ? "wgmma" : "mma";
  c.reason = lib.reason;
  return c;
}

Plan PlanFor(Precision p, const GemmParams& g, bool tf32) {
  Plan plan;
  auto no = [&](const char* why) {
    plan.ok = false;
    plan.reason = why;
    return plan;
  };
  if (g.m <= 0 || g.n <= 0 || g.k <= 0) return no("a GEMM with an empty dimension");
  if (g.x == nullptr || g.w == nullptr) return no("a GEMM without its input or weight");
  if ((g.y_f == nullptr) == (g.y_p == nullptr)) return no("one output, float32 or P, per cuBLASLt call (the pooler writes both)");
  if (g.ldx < g.k) return no("ldx < k");
  const int64_t ldy = g.y_f != nullptr ? g.ldy_f : g.ldy_p;
  if (ldy < g.n) return no("ldy < n");
  if (g.residual != nullptr) {
    if (g.y_f == nullptr) return no("a float32 residual into a P output");
    if (g.act != Act::kNone) return no("an activation before the residual");
    if (g.ldr < g.n) return no("ldr < n");
  }
  const int pt = p == Precision::kFloat32 ? kR32F : p == Precision::kFloat16 ? kR16F : kR16BF;
  plan.ab_type = pt;
  plan.d_is_y_f = g.y_f != nullptr;
  plan.d_type = plan.d_is_y_f ? kR32F : pt;
  plan.compute = p == Precision::kFloat32 && tf32 ? kCompute32FFastTF32 : kCompute32F;
  plan.residual = g.residual != nullptr;
  const bool bias = g.bias != nullptr;
  plan.bias_in_p = bias && plan.d_type != kR32F;
  switch (g.act) {
    case Act::kNone: plan.epilogue = bias ? kEpiBias : kEpiDefault; break;
    case Act::kRelu: plan.epilogue = bias ? kEpiReluBias : kEpiRelu; break;
    case Act::kGeluTanh: plan.epilogue = bias ? kEpiGeluBias : kEpiGelu; break;
    case Act::kGelu:  // the epilogue's GELU is the tanh form: erf after it, as transformers computes
    case Act::kTanh:
      plan.epilogue = bias ? kEpiBias : kEpiDefault;
      plan.post = g.act;
      break;
  }
  plan.ok = true;
  return plan;
}

uint32_t Alignment(const void* ptr, int64_t ld, size_t elem) {
  uint32_t a = 256;
  const uintptr_t addr = reinterpret_cast<uintptr_t>(ptr);
  const uint64_t row = static_cast<uint64_t>(ld) * elem;
  while (a > 1 && ((addr % a) != 0 || (row % a) != 0)) a /= 2;
  return a;
}

const char* Describe(const Api& a, const Plan& plan, const GemmParams& g, const void* bias, const uint32_t (&align)[4],
                     uint64_t workspace_bytes, Descriptors* out) {
  // Column-major: D[n, m] = op(A)[n, k] . B[k, m] with A = W stored [n, k] row-major, i.e. a
  // column-major k x n matrix used transposed, and B = X^T (X row-major [m, k], ld ldx).
  if (a.MatmulDescCreate(&out->desc, plan.compute, kR32F) != kSuccess) return "cublasLtMatmulDescCreate";
  const int32_t ta = kOpT, tb = kOpN;
  const uint32_t epi = plan.epilogue;
  if (a.MatmulDescSetAttribute(out->desc, kDescTransA, &ta, sizeof(ta)) != kSuccess) return "TRANSA";
  if (a.MatmulDescSetAttribute(out->desc, kDescTransB, &tb, sizeof(tb)) != kSuccess) return "TRANSB";
  if (a.MatmulDescSetAttribute(out->desc, kDescEpilogue, &epi, sizeof(epi)) != kSuccess) return "EPILOGUE";
  if (bias != nullptr && a.MatmulDescSetAttribute(out->desc, kDescBiasPointer, &bias, sizeof(bias)) != kSuccess) return "BIAS_POINTER";
  const int64_t ldy = plan.d_is_y_f ? g.ldy_f : g.ldy_p;
  const uint64_t m = static_cast<uint64_t>(g.m), n = static_cast<uint64_t>(g.n), k = static_cast<uint64_t>(g.k);
  if (a.MatrixLayoutCreate(&out->a, plan.ab_type, k, n, g.k) != kSuccess) return "cublasLtMatrixLayoutCreate(A)";
  if (a.MatrixLayoutCreate(&out->b, plan.ab_type, k, m, g.ldx) != kSuccess) return "cublasLtMatrixLayoutCreate(B)";
  if (a.MatrixLayoutCreate(&out->c, plan.d_type, n, m, plan.residual ? g.ldr : ldy) != kSuccess) return "cublasLtMatrixLayoutCreate(C)";
  if (a.MatrixLayoutCreate(&out->d, plan.d_type, n, m, ldy) != kSuccess) return "cublasLtMatrixLayoutCreate(D)";
  if (a.MatmulPreferenceCreate(&out->pref) != kSuccess) return "cublasLtMatmulPreferenceCreate";
  if (a.MatmulPreferenceSetAttribute(out->pref, kPrefMaxWorkspaceBytes, &workspace_bytes, sizeof(workspace_bytes)) != kSuccess)
    return "MAX_WORKSPACE_BYTES";
  const int which[4] = {kPrefMinAlignmentA, kPrefMinAlignmentB, kPrefMinAlignmentC, kPrefMinAlignmentD};
  for (int i = 0; i < 4; ++i)
    if (a.MatmulPreferenceSetAttribute(out->pref, which[i], &align[i], sizeof(align[i])) != kSuccess) return "MIN_ALIGNMENT";
  return nullptr;
}

void Release(const Api& a, Descriptors* d) {
  for (MatrixLayout* l : {&d->a, &d->b, &d->c, &d->d}) {
    if (*l != nullptr) a.MatrixLayoutDestroy(*l);
    *l = nullptr;
  }
  if (d->desc != nullptr) a.MatmulDescDestroy(d->desc);
  if (d->pref != nullptr) a.MatmulPreferenceDestroy(d->pref);
  d->desc = nullptr;
  d->pref = nullptr;
}

}  // namespace bertkit::cuda::lt
