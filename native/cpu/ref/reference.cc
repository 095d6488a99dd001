#include "cpu/ref/reference.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

namespace bertkit::cpu::ref {

double Activate(double x, Epilogue e) {
  switch (e) {
    case Epilogue::kNone: return x;
    case Epilogue::kGelu: return 0.5 * x * (1.0 + std::erf(x / std::sqrt(2.0)));
    case Epilogue::kGeluTanh:
      return 0.5 * x * (1.0 + std::tanh(std::sqrt(2.0 / M_PI) * (x + 0.044715 * x * x * x)));
    case Epilogue::kRelu: return x > 0 ? x : 0.0;
    case Epilogue::kTanh: return std::tanh(x);
  }
  return x;
}

void LinearRef(const float* x, int64_t m, int64_t k, const float* w, int64_t n, const float* bias,
               const float* residual, Epilogue e, float* y) {
  for (int64_t i = 0; i < m; ++i) {
    for (int64_t j = 0; j < n; ++j) {
      double acc = bias ? bias[j] : 0.0;
      for (int64_t c = 0; c < k; ++c) acc += static_cast<double>(x[i * k + c]) * w[j * k + c];
      double v = Activate(acc, e);
      if (residual) v += residual[i * n + j];
      y[i * n + j] = static_cast<float>(v);
    }
  }
}

namespace {
float Bf16Value(float f) {
  // Round to nearest even at 16 bits, written out rather than shared with the kernels.
  uint32_t bits;
  std::memcpy(&bits, &f, 4);
  const uint32_t lsb = (bits >> 16) & 1u;
  bits = ((bits + 0x7fffu + lsb) >> 16) << 16;
  float r;
  std::memcpy(&r, &bits, 4);
  return r;
}
}  // namespace

void LinearBf16Ref(const float* x, int64_t m, int64_t k, const float* w, int64_t n, const float* bias,
                   const float* residual, Epilogue e, float* y) {
  for (int64_t i = 0; i < m; ++i) {
    for (int64_t j = 0; j < n; ++j) {
      double acc = 0;
      for (int64_t c = 0; c < k; ++c) acc += static_cast<double>(Bf16Value(x[i * k + c])) * Bf16Value(w[j * k + c]);
      double v = Activate(acc + (bias ? bias[j] : 0.0), e);
      if (residual) v += residual[i * n + j];
      y[i * n + j] = static_cast<float>(v);
    }
  }
}

void QuantizeWeightsRef(const float* w, int64_t n, int64_t k, int8_t* q, float* scale) {
  for (int64_t j = 0; j < n; ++j) {
    float amax = 0;
    for (int64_t c = 0; c < k; ++c) amax = std::max(amax, std::fabs(w[j * k + c]));
    scale[j] = amax > 0 ? amax / 127.f : 1.f;
    for (int64_t c = 0; c < k; ++c) {
      float v = std::nearbyint(w[j * k + c] / scale[j]);
      q[j * k + c] = static_cast<int8_t>(v < -127 ? -127 : v > 127 ? 127 : v);
    }
  }
}

void QuantizeRowRef(const float* x, int64_t k, uint8_t* q, float* scale, int32_t* zero_point) {
  float lo = 0, hi = 0;
  for (int64_t c = 0; c < k; ++c) {
    lo = std::min(lo, x[c]);
    hi = std::max(hi, x[c]);
  }
  *scale = hi > lo ? (hi - lo) / 255.f : 1.f;
  const float inv = 1.f / *scale;
  *zero_point = static_cast<int32_t>(std::nearbyint(-lo * inv));
  for (int64_t c = 0; c < k; ++c) {
    float v = std::nearbyint(x[c] * inv) + static_cast<float>(*zero_point);
    q[c] = static_cast<uint8_t>(v < 0 ? 0 : v > 255 ? 255 : v);
  }
}

void LinearInt8Ref(const float* x, int64_t m, int64_t k, const float* w, int64_t n, const float* bias,
                   const float* residual, Epilogue e, float* y) {
  std::vector<int8_t> wq(n * k);
  std::vector<float> ws(n);
  QuantizeWeightsRef(w, n, k, wq.data(), ws.data());
  std::vector<uint8_t> xq(k);
  for (int64_t i = 0; i < m; ++i) {
    float xs;
    int32_t zp;
    QuantizeRowRef(x + i * k, k, xq.data(), &xs, &zp);
    for (int64_t j = 0; j < n; ++j) {
      int64_t acc = 0;
      for (int64_t c = 0; c < k; ++c) acc += (static_cast<int64_t>(xq[c]) - zp) * wq[j * k + c];
      double v = Activate(static_cast<double>(acc) * xs * ws[j] + (bias ? bias[j] : 0.0), e);
      if (residual) v += residual[i * n + j];
      y[i * n + j] = static_cast<float>(v);
    }
  }
}

void LayerNormRef(const float* x, int64_t rows, int64_t hidden, const float* gamma, const float* beta, double eps,
                  float* out) {
  for (int64_t r = 0; r < rows; ++r) {
    const float* xr = x + r * hidden;
    double mean = 0;
    for (int64_t c = 0; c < hidden; ++c) mean += xr[c];
    mean /= hidden;
    double var = 0;
    for (int64_t c = 0; c < hidden; ++c) var += (xr[c] - mean) * (xr[c] - mean);
    var /= hidden;
    for (int64_t c = 0; c < hidden; ++c)
      out[r * hidden + c] = static_cast<float>((xr[c] - mean) / std::sqrt(var + eps) * gamma[c] + beta[c]);
  }
}

void EmbeddingsRef(const EmbeddingsArgs& a) {
  std::vector<float> sum(a.hidden);
  for (int64_t t = 0; t < a.tokens; ++t) {
    const int64_t tt = a.token_type_ids ? a.token_type_ids[t] : 0;
    for (int64_t c = 0; c < a.hidden; ++c) {
      sum[c] = static_cast<float>(static_cast<double>(a.word_embeddings[a.input_ids[t] * a.hidden + c]) +
                                  a.token_type_embeddings[tt * a.hidden + c] +
                                  a.position_embeddings[a.position_ids[t] * a.hidden + c]);
    }
    LayerNormRef(sum.data(), 1, a.hidden, a.gamma, a.beta, a.eps, a.out + t * a.hidden);
  }
}

void AttentionRef(const AttentionArgs& a) {
  const int64_t d = a.head_dim;
  const int64_t hidden = a.heads * d;
  const int64_t ld = 3 * hidden;
  for (int64_t s = 0; s < a.sequences; ++s) {
    const int64_t start = a.cu_seqlens[s];
    const int64_t n = a.cu_seqlens[s + 1] - start;
    for (int h = 0; h < a.heads; ++h) {
      for (int64_t i = 0; i < n; ++i) {
        // transformers: scores + (1 - mask) * finfo.min, then softmax. With every key masked all
        // scores collapse to finfo.min and the softmax is uniform; emulate that exactly.
        std::vector<double> p(n);
        bool any = false;
        for (int64_t j = 0; j < n; ++j) any |= a.key_mask == nullptr || a.key_mask[start + j] != 0;
        double mx = -std::numeric_limits<double>::infinity();
        for (int64_t j = 0; j < n; ++j) {
          const bool key = a.key_mask == nullptr || a.key_mask[start + j] != 0;
          if (!any) {
            p[j] = 0;
            continue;
          }
          if (!key) {
            p[j] = -std::numeric_limits<double>::infinity();
            continue;
          }
          double acc = 0;
          for (int64_t c = 0; c < d; ++c)
            acc += static_cast<double>(a.qkv[(start + i) * ld + h * d + c]) * a.qkv[(start + j) * ld + hidden + h * d + c];
          p[j] = acc * a.scale;
          mx = std::max(mx, p[j]);
        }
        double sum = 0;
        for (int64_t j = 0; j < n; ++j) {
          p[j] = any ? (std::isinf(p[j]) ? 0.0 : std::exp(p[j] - mx)) : 1.0;
          sum += p[j];
        }
        for (int64_t j = 0; j < n; ++j) p[j] /= sum;
        for (int64_t c = 0; c < d; ++c) {
          double acc = 0;
          for (int64_t j = 0; j < n; ++j) acc += p[j] * a.qkv[(start + j) * ld + 2 * hidden + h * d + c];
          a.context[(start + i) * hidden + h * d + c] = static_cast<float>(acc);
        }
        if (a.probs != nullptr) {
          for (int64_t j = 0; j < n; ++j) a.probs[a.probs_offsets[s] + (h * n + i) * n + j] = static_cast<float>(p[j]);
        }
      }
    }
  }
}

}  // namespace bertkit::cpu::ref
