// Host wrappers around single kernels (see testing.h).
#include "cuda/testing.h"

#include <cmath>
#include <vector>

#include "cuda/common.cuh"
#include "cuda/gemm_dispatch.h"
#include "cuda/kernels/kernels.cuh"

namespace bertkit::cuda::testing {

namespace {

// A device allocation freed on scope exit.
struct Mem {
  void* p = nullptr;
  ~Mem() {
    if (p != nullptr) cudaFree(p);
  }
  Status Alloc(size_t bytes) {
    BK_CUDA_RETURN(cudaMalloc(&p, bytes < 16 ? 16 : bytes));
    return Status::Ok();
  }
};

// float32 host values as precision p on the device.
Status Upload(Precision p, const float* src, int64_t n, Mem* m) {
  BK_RETURN_IF_ERROR(m->Alloc(n * PrecisionBytes(p)));
  if (n == 0) return Status::Ok();
  if (p == Precision::kFloat32) {
    BK_CUDA_RETURN(cudaMemcpy(m->p, src, n * 4, cudaMemcpyHostToDevice));
    return Status::Ok();
  }
  std::vector<uint16_t> h(n);
  for (int64_t i = 0; i < n; ++i) {
    if (p == Precision::kFloat16) {
      __half v = __float2half_rn(src[i]);
      h[i] = *reinterpret_cast<uint16_t*>(&v);
    } else {
      __nv_bfloat16 v = __float2bfloat16_rn(src[i]);
      h[i] = *reinterpret_cast<uint16_t*>(&v);
    }
  }
  BK_CUDA_RETURN(cudaMemcpy(m->p, h.data(), n * 2, cudaMemcpyHostToDevice));
  return Status::Ok();
}

template <class T>
Status UploadRaw(const T* src, int64_t n, Mem* m) {
  BK_RETURN_IF_ERROR(m->Alloc(n * sizeof(T)));
  if (n > 0 && src != nullptr) BK_CUDA_RETURN(cudaMemcpy(m->p, src, n * sizeof(T), cudaMemcpyHostToDevice));
  return Status::Ok();
}

// Precision p values on the device back to float32 on the host.
Status Download(Precision p, const void* src, int64_t n, float* dst) {
  if (p == Precision::kFloat32) {
    BK_CUDA_RETURN(cudaMemcpy(dst, src, n * 4, cudaMemcpyDeviceToHost));
    return Status::Ok();
  }
  std::vector<uint16_t> h(n);
  BK_CUDA_RETURN(cudaMemcpy(h.data(), src, n * 2, cudaMemcpyDeviceToHost));
  for (int64_t i = 0; i < n; ++i) {
    if (p == Precision::kFloat16) dst[i] = __half2float(*reinterpret_cast<__half*>(&h[i]));
    else dst[i] = __bfloat162float(*reinterpret_cast<__nv_bfloat16*>(&h[i]));
  }
  return Status::Ok();
}

Status Prepared() {
  static Status s = PrepareKernels();
  return s;
}

}  // namespace

float RoundTo(Precision p, float x) {
  switch (p) {
    case Precision::kFloat32: return x;
    case Precision::kFloat16: return __half2float(__float2half_rn(x));
    case Precision::kBFloat16: return __bfloat162float(__float2bfloat16_rn(x));
  }
  return x;
}

int Multiprocessors() {
  int dev = 0, sms = 0;
  if (cudaGetDevice(&dev) != cudaSuccess || cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, dev) != cudaSuccess) {
    cudaGetLastError();
    return 0;
  }
  return sms;
}

int WgmmaState() {
  if (!Prepared().ok()) return 0;
  return bertkit::cuda::WgmmaState();
}

Status RunGemm(Precision p, GemmVersion v, const float* x, int64_t m, int64_t k, const float* w, int64_t n,
               const float* bias, Act act, const float* residual, float* y_f, float* y_p, GemmVersion* used) {
  BK_RETURN_IF_ERROR(Prepared());
  Mem dx, dw, db, dr, dyf, dyp;
  BK_RETURN_IF_ERROR(Upload(p, x, m * k, &dx));
  BK_RETURN_IF_ERROR(Upload(p, w, n * k, &dw));
  if (bias) BK_RETURN_IF_ERROR(UploadRaw(bias, n, &db));
  if (residual) BK_RETURN_IF_ERROR(UploadRaw(residual, m * n, &dr));
  BK_RETURN_IF_ERROR(dyf.Alloc(m * n * 4));
  if (y_p) BK_RETURN_IF_ERROR(dyp.Alloc(m * n * PrecisionBytes(p)));
  GemmParams g;
  g.x = dx.p;
  g.ldx = k;
  g.w = dw.p;
  g.m = m;
  g.n = n;
  g.k = k;
  g.bias = static_cast<const float*>(db.p);
  g.act = act;
  g.residual = static_cast<const float*>(dr.p);
  g.ldr = n;
  g.y_f = static_cast<float*>(dyf.p);
  g.ldy_f = n;
  g.y_p = dyp.p;
  g.ldy_p = n;
  const int sms = Multiprocessors();
  if (used) *used = v == GemmVersion::kAuto ? ChooseGemm(p, g, sms) : v;
  BK_RETURN_IF_ERROR(LaunchGemm(p, g, v, sms, nullptr));
  BK_CUDA_RETURN(cudaDeviceSynchronize());
  BK_RETURN_IF_ERROR(Download(Precision::kFloat32, dyf.p, m * n, y_f));
  if (y_p) BK_RETURN_IF_ERROR(Download(p, dyp.p, m * n, y_p));
  return Status::Ok();
}

Status RunGemmDispatch(Precision p, const float* x, int64_t m, int64_t k, const float* w, int64_t n, const float* bias, Act act,
                       const float* residual, float* y_f, float* y_p, std::string* gemm) {
  if (y_f == nullptr && y_p == nullptr) return InvalidArgument("RunGemmDispatch: no output asked for");
  BK_RETURN_IF_ERROR(Prepared());
  Mem dx, dw, db, dr, dyf, dyp;
  BK_RETURN_IF_ERROR(Upload(p, x, m * k, &dx));
  BK_RETURN_IF_ERROR(Upload(p, w, n * k, &dw));
  if (bias) BK_RETURN_IF_ERROR(UploadRaw(bias, n, &db));
  if (residual) BK_RETURN_IF_ERROR(UploadRaw(residual, m * n, &dr));
  if (y_f) BK_RETURN_IF_ERROR(dyf.Alloc(m * n * 4));
  if (y_p) BK_RETURN_IF_ERROR(dyp.Alloc(m * n * PrecisionBytes(p)));
  GemmParams g;
  g.x = dx.p;
  g.ldx = k;
  g.w = dw.p;
  g.m = m;
  g.n = n;
  g.k = k;
  g.bias = static_cast<const float*>(db.p);
  g.act = act;
  g.residual = static_cast<const float*>(dr.p);
  g.ldr = n;
  g.y_f = static_cast<float*>(dyf.p);
  g.ldy_f = n;
  g.y_p = dyp.p;
  g.ldy_p = n;
  {
    CudaOptions o;
    o.precision = p;
    GemmDispatch d;  // on the legacy default stream, ordered with the plain copies here
    BK_RETURN_IF_ERROR(d.Init(p, o, Multiprocessors(), nullptr));
    if (gemm) *gemm = d.choice().gemm;
    BK_RETURN_IF_ERROR(d.Run(g));
    BK_CUDA_RETURN(cudaDeviceSynchronize());
  }
  if (y_f) BK_RETURN_IF_ERROR(Download(Precision::kFloat32, dyf.p, m * n, y_f));
  if (y_p) BK_RETURN_IF_ERROR(Download(p, dyp.p, m * n, y_p));
  return Status::Ok();
}

Status RunAttention(Precision p, AttentionVersion v, const float* qkv, int64_t tokens, const int32_t* cu_seqlens,
                    int64_t sequences, const uint8_t* key_mask, int heads, int head_dim, float* context, float* probs,
                    AttentionVersion* used) {
  BK_RETURN_IF_ERROR(Prepared());
  const int64_t H = static_cast<int64_t>(heads) * head_dim;
  std::vector<uint8_t> uniform(sequences);
  std::vector<int64_t> offsets(sequences);
  int64_t max_len = 0, total = 0;
  for (int64_t s = 0; s < sequences; ++s) {
    const int64_t n = cu_seqlens[s + 1] - cu_seqlens[s];
    max_len = n > max_len ? n : max_len;
    offsets[s] = total;
    total += heads * n * n;
    bool any = key_mask == nullptr;
    for (int64_t t = cu_seqlens[s]; !any && t < cu_seqlens[s + 1]; ++t) any = key_mask[t] != 0;
    uniform[s] = any ? 0 : 1;
  }
  Mem dqkv, dctx, dcu, dmask, duni, dprobs, doff;
  BK_RETURN_IF_ERROR(Upload(p, qkv, tokens * 3 * H, &dqkv));
  BK_RETURN_IF_ERROR(dctx.Alloc(tokens * H * PrecisionBytes(p)));
  BK_RETURN_IF_ERROR(UploadRaw(cu_seqlens, sequences + 1, &dcu));
  if (key_mask) BK_RETURN_IF_ERROR(UploadRaw(key_mask, tokens, &dmask));
  BK_RETURN_IF_ERROR(UploadRaw(uniform.data(), sequences, &duni));
  if (probs) {
    BK_RETURN_IF_ERROR(dprobs.Alloc(total * 4));
    BK_RETURN_IF_ERROR(UploadRaw(offsets.data(), sequences, &doff));
  }
  AttentionParams a;
  a.qkv = dqkv.p;
  a.context = dctx.p;
  a.cu_seqlens = static_cast<const int32_t*>(dcu.p);
  a.key_mask = static_cast<const uint8_t*>(dmask.p);
  a.uniform = static_cast<const uint8_t*>(duni.p);
  a.probs = static_cast<float*>(dprobs.p);
  a.probs_offsets = static_cast<const int64_t*>(doff.p);
  a.tokens = tokens;
  a.sequences = sequences;
  a.heads = heads;
  a.head_dim = head_dim;
  a.max_seqlen = max_len;
  a.scale = 1.0f / std::sqrt(static_cast<float>(head_dim));
  if (used) *used = v == AttentionVersion::kAuto ? ChooseAttention(p, a) : v;
  BK_RETURN_IF_ERROR(LaunchAttention(p, a, v, nullptr));
  BK_CUDA_RETURN(cudaDeviceSynchronize());
  BK_RETURN_IF_ERROR(Download(p, dctx.p, tokens * H, context));
  if (probs) BK_RETURN_IF_ERROR(Download(Precision::kFloat32, dprobs.p, total, probs));
  return Status::Ok();
}

Status RunEmbeddings(Precision p, const int32_t* input_ids, const int32_t* token_type_ids, const int32_t* position_ids,
                     int64_t tokens, int64_t hidden, const float* word, int64_t vocab, const float* position,
                     int64_t max_positions, const float* token_type, int64_t type_vocab, const float* gamma,
                     const float* beta, float eps, float* out_f, float* out_p) {
  BK_RETURN_IF_ERROR(Prepared());
  Mem dids, dtt, dpos, dword, dposition, dtype, dg, db, df, dp;
  BK_RETURN_IF_ERROR(UploadRaw(input_ids, tokens, &dids));
  if (token_type_ids) BK_RETURN_IF_ERROR(UploadRaw(token_type_ids, tokens, &dtt));
  BK_RETURN_IF_ERROR(UploadRaw(position_ids, tokens, &dpos));
  BK_RETURN_IF_ERROR(Upload(p, word, vocab * hidden, &dword));
  BK_RETURN_IF_ERROR(Upload(p, position, max_positions * hidden, &dposition));
  BK_RETURN_IF_ERROR(Upload(p, token_type, type_vocab * hidden, &dtype));
  BK_RETURN_IF_ERROR(UploadRaw(gamma, hidden, &dg));
  BK_RETURN_IF_ERROR(UploadRaw(beta, hidden, &db));
  BK_RETURN_IF_ERROR(df.Alloc(tokens * hidden * 4));
  if (out_p) BK_RETURN_IF_ERROR(dp.Alloc(tokens * hidden * PrecisionBytes(p)));
  EmbeddingsParams e;
  e.input_ids = static_cast<const int32_t*>(dids.p);
  e.token_type_ids = static_cast<const int32_t*>(dtt.p);
  e.position_ids = static_cast<const int32_t*>(dpos.p);
  e.tokens = tokens;
  e.hidden = hidden;
  e.word = dword.p;
  e.position = dposition.p;
  e.token_type = dtype.p;
  e.gamma = static_cast<const float*>(dg.p);
  e.beta = static_cast<const float*>(db.p);
  e.eps = eps;
  e.out_f = static_cast<float*>(df.p);
  e.out_p = dp.p;
  BK_RETURN_IF_ERROR(LaunchEmbeddings(p, e, nullptr));
  BK_CUDA_RETURN(cudaDeviceSynchronize());
  BK_RETURN_IF_ERROR(Download(Precision::kFloat32, df.p, tokens * hidden, out_f));
  if (out_p) BK_RETURN_IF_ERROR(Download(p, dp.p, tokens * hidden, out_p));
  return Status::Ok();
}

Status RunLayerNorm(Precision p, const float* x, int64_t rows, int64_t hidden, const float* gamma, const float* beta,
                    float eps, float* out_f, float* out_p) {
  BK_RETURN_IF_ERROR(Prepared());
  Mem dx, dg, db, dp;
  BK_RETURN_IF_ERROR(UploadRaw(x, rows * hidden, &dx));
  BK_RETURN_IF_ERROR(UploadRaw(gamma, hidden, &dg));
  BK_RETURN_IF_ERROR(UploadRaw(beta, hidden, &db));
  if (out_p) BK_RETURN_IF_ERROR(dp.Alloc(rows * hidden * PrecisionBytes(p)));
  LayerNormParams l;
  l.x = static_cast<float*>(dx.p);
  l.out_p = dp.p;
  l.rows = rows;
  l.hidden = hidden;
  l.gamma = static_cast<const float*>(dg.p);
  l.beta = static_cast<const float*>(db.p);
  l.eps = eps;
  BK_RETURN_IF_ERROR(LaunchLayerNorm(p, l, nullptr));
  BK_CUDA_RETURN(cudaDeviceSynchronize());
  BK_RETURN_IF_ERROR(Download(Precision::kFloat32, dx.p, rows * hidden, out_f));
  if (out_p) BK_RETURN_IF_ERROR(Download(p, dp.p, rows * hidden, out_p));
  return Status::Ok();
}

Status RunGather(Precision p, const float* src, int64_t src_rows, int64_t width, const int32_t* rows, int64_t count,
                 float* dst) {
  BK_RETURN_IF_ERROR(Prepared());
  Mem ds, dr, dd;
  BK_RETURN_IF_ERROR(Upload(p, src, src_rows * width, &ds));
  BK_RETURN_IF_ERROR(UploadRaw(rows, count, &dr));
  BK_RETURN_IF_ERROR(dd.Alloc(count * width * PrecisionBytes(p)));
  GatherParams g;
  g.src = ds.p;
  g.dst = dd.p;
  g.rows = static_cast<const int32_t*>(dr.p);
  g.count = count;
  g.width = width;
  BK_RETURN_IF_ERROR(LaunchGather(p, g, nullptr));
  BK_CUDA_RETURN(cudaDeviceSynchronize());
  return Download(p, dd.p, count * width, dst);
}

}  // namespace bertkit::cuda::testing
