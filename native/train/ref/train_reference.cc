#include "train/ref/train_reference.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace bertkit::train::ref {

void GemmRef(const GemmArgs& g) {
  for (int64_t i = 0; i < g.m; ++i)
    for (int64_t j = 0; j < g.n; ++j) {
      double s = 0;
      for (int64_t p = 0; p < g.k; ++p) s += static_cast<double>(g.a[i * g.rsa + p * g.csa]) * g.b[p * g.rsb + j * g.csb];
      s *= g.alpha;
      float& c = g.c[i * g.ldc + j];
      if (g.accumulate) c = static_cast<float>(c + s);
      else c = static_cast<float>(s + (g.bias ? g.bias[j] : 0.0));
    }
}

void LayerNormForwardRef(const float* x, int64_t rows, int64_t h, const float* gamma, const float* beta, double eps, float* y) {
  for (int64_t r = 0; r < rows; ++r) {
    double mean = 0, var = 0;
    for (int64_t i = 0; i < h; ++i) mean += x[r * h + i];
    mean /= h;
    for (int64_t i = 0; i < h; ++i) var += (x[r * h + i] - mean) * (x[r * h + i] - mean);
    var /= h;
    const double inv = 1 / std::sqrt(var + eps);
    for (int64_t i = 0; i < h; ++i) y[r * h + i] = static_cast<float>((x[r * h + i] - mean) * inv * gamma[i] + beta[i]);
  }
}

void LayerNormBackwardRef(const float* dy, const float* x, const float* gamma, int64_t rows, int64_t h, double eps, float* dx,
                          float* dgamma, float* dbeta) {
  std::vector<double> dg(h, 0), db(h, 0);
  for (int64_t r = 0; r < rows; ++r) {
    double mean = 0, var = 0;
    for (int64_t i = 0; i < h; ++i) mean += x[r * h + i];
    mean /= h;
    for (int64_t i = 0; i < h; ++i) var += (x[r * h + i] - mean) * (x[r * h + i] - mean);
    var /= h;
    const double inv = 1 / std::sqrt(var + eps);
    // y_i = xhat_i g_i + b_i; d xhat_i = dy_i g_i; dx = inv (dxhat - mean(dxhat) - xhat mean(dxhat xhat))
    double m1 = 0, m2 = 0;
    for (int64_t i = 0; i < h; ++i) {
      const double xh = (x[r * h + i] - mean) * inv;
      const double dxh = static_cast<double>(dy[r * h + i]) * gamma[i];
      m1 += dxh;
      m2 += dxh * xh;
      dg[i] += static_cast<double>(dy[r * h + i]) * xh;
      db[i] += dy[r * h + i];
    }
    m1 /= h;
    m2 /= h;
    for (int64_t i = 0; i < h; ++i) {
      const double xh = (x[r * h + i] - mean) * inv;
      dx[r * h + i] = static_cast<float>(inv * (static_cast<double>(dy[r * h + i]) * gamma[i] - m1 - xh * m2));
    }
  }
  for (int64_t i = 0; i < h; ++i) {
    dgamma[i] = static_cast<float>(dgamma[i] + dg[i]);
    dbeta[i] = static_cast<float>(dbeta[i] + db[i]);
  }
}

double ActivationRef(double x, Activation act) {
  switch (act) {
    case Activation::kGelu: return 0.5 * x * std::erfc(-x / std::sqrt(2.0));
    case Activation::kGeluTanh: return 0.5 * x * (1 + std::tanh(std::sqrt(2 / M_PI) * (x + 0.044715 * x * x * x)));
    case Activation::kRelu: return x > 0 ? x : 0;
    case Activation::kTanh: return std::tanh(x);
  }
  return x;
}

double ActivationGradRef(double x, Activation act) {
  switch (act) {
    case Activation::kGelu: return 0.5 * std::erfc(-x / std::sqrt(2.0)) + x * std::exp(-0.5 * x * x) / std::sqrt(2 * M_PI);
    case Activation::kGeluTanh: {
      const double c = std::sqrt(2 / M_PI);
      const double t = std::tanh(c * (x + 0.044715 * x * x * x));
      return 0.5 * (1 + t) + 0.5 * x * (1 - t * t) * c * (1 + 3 * 0.044715 * x * x);
    }
    case Activation::kRelu: return x > 0 ? 1 : 0;
    case Activation::kTanh: return 1 - std::tanh(x) * std::tanh(x);
  }
  return 1;
}

namespace {
double Keep(const AttentionTrainArgs& a, int64_t index) {
  if (!(a.dropout > 0)) return 1;
  if (a.dropout >= 1) return 0;
  return DropoutUniform(a.dropout_key, index) >= a.dropout ? 1.0 / (1.0 - a.dropout) : 0.0;
}
}  // namespace

void AttentionForwardRef(const AttentionTrainArgs& a, std::vector<double>* probs_out, float* context) {
  const int64_t d = a.head_dim, H = a.heads * d, ld = 3 * H;
  for (int64_t s = 0; s < a.sequences; ++s) {
    const int64_t st = a.cu_seqlens[s], n = a.cu_seqlens[s + 1] - st;
    bool any = false;
    for (int64_t j = 0; j < n; ++j) any |= a.key_mask == nullptr || a.key_mask[st + j] != 0;
    for (int h = 0; h < a.heads; ++h) {
      const int64_t base = a.probs_offsets[s] + static_cast<int64_t>(h) * n * n;
      for (int64_t i = 0; i < n; ++i) {
        std::vector<double> sc(n);
        double mx = -INFINITY;
        for (int64_t j = 0; j < n; ++j) {
          double dot = 0;
          for (int64_t c = 0; c < d; ++c) dot += static_cast<double>(a.qkv[(st + i) * ld + h * d + c]) * a.qkv[(st + j) * ld + H + h * d + c];
          sc[j] = dot * a.scale;
          if (!any || a.key_mask == nullptr || a.key_mask[st + j]) mx = std::max(mx, sc[j]);
        }
        double sum = 0;
        std::vector<double> pr(n);
        for (int64_t j = 0; j < n; ++j) {
          const bool key = !any || a.key_mask == nullptr || a.key_mask[st + j];
          pr[j] = !any ? 1.0 : key ? std::exp(sc[j] - mx) : 0.0;
          sum += pr[j];
        }
        for (int64_t j = 0; j < n; ++j) {
          pr[j] /= sum;
          if (probs_out) (*probs_out)[base + i * n + j] = pr[j];
        }
        for (int64_t c = 0; c < d; ++c) {
          double acc = 0;
          for (int64_t j = 0; j < n; ++j) acc += pr[j] * Keep(a, base + i * n + j) * a.qkv[(st + j) * ld + 2 * H + h * d + c];
          context[(st + i) * H + h * d + c] = static_cast<float>(acc);
        }
      }
    }
  }
}

void AttentionBackwardRef(const AttentionTrainArgs& a, float* dqkv) {
  const int64_t d = a.head_dim, H = a.heads * d, ld = 3 * H;
  int64_t total = 0;
  for (int64_t s = 0; s < a.sequences; ++s) {
    const int64_t n = a.cu_seqlens[s + 1] - a.cu_seqlens[s];
    total = std::max(total, a.probs_offsets[s] + a.heads * n * n);
  }
  std::vector<double> P(total);
  std::vector<float> ctx(a.tokens * H);
  AttentionForwardRef(a, &P, ctx.data());
  for (int64_t s = 0; s < a.sequences; ++s) {
    const int64_t st = a.cu_seqlens[s], n = a.cu_seqlens[s + 1] - st;
    for (int h = 0; h < a.heads; ++h) {
      const int64_t base = a.probs_offsets[s] + static_cast<int64_t>(h) * n * n;
      auto q = [&](int64_t i, int64_t c) { return static_cast<double>(a.qkv[(st + i) * ld + h * d + c]); };
      auto k = [&](int64_t i, int64_t c) { return static_cast<double>(a.qkv[(st + i) * ld + H + h * d + c]); };
      auto v = [&](int64_t i, int64_t c) { return static_cast<double>(a.qkv[(st + i) * ld + 2 * H + h * d + c]); };
      auto dc = [&](int64_t i, int64_t c) { return static_cast<double>(a.dcontext[(st + i) * H + h * d + c]); };
      // ctx_i = sum_j P_ij keep_ij v_j
      std::vector<double> dS(n * n);
      for (int64_t i = 0; i < n; ++i) {
        std::vector<double> dP(n);
        for (int64_t j = 0; j < n; ++j) {
          double s2 = 0;
          for (int64_t c = 0; c < d; ++c) s2 += dc(i, c) * v(j, c);
          dP[j] = s2 * Keep(a, base + i * n + j);
        }
        double dot = 0;
        for (int64_t j = 0; j < n; ++j) dot += dP[j] * P[base + i * n + j];
        for (int64_t j = 0; j < n; ++j) dS[i * n + j] = P[base + i * n + j] * (dP[j] - dot) * a.scale;
      }
      for (int64_t j = 0; j < n; ++j)
        for (int64_t c = 0; c < d; ++c) {
          double dv = 0, dq = 0, dk = 0;
          for (int64_t i = 0; i < n; ++i) {
            dv += P[base + i * n + j] * Keep(a, base + i * n + j) * dc(i, c);
            dq += dS[j * n + i] * k(i, c);
            dk += dS[i * n + j] * q(i, c);
          }
          dqkv[(st + j) * ld + h * d + c] = static_cast<float>(dq);
          dqkv[(st + j) * ld + H + h * d + c] = static_cast<float>(dk);
          dqkv[(st + j) * ld + 2 * H + h * d + c] = static_cast<float>(dv);
        }
    }
  }
}

void EmbeddingsBackwardRef(const float* d, const int32_t* ids, const int32_t* types, const int32_t* positions, int64_t tokens,
                           int64_t h, int64_t padding_idx, float* dword, float* dposition, float* dtype) {
  for (int64_t t = 0; t < tokens; ++t)
    for (int64_t c = 0; c < h; ++c) {
      if (ids[t] != padding_idx) dword[ids[t] * h + c] += d[t * h + c];
      dposition[positions[t] * h + c] += d[t * h + c];
      dtype[(types ? types[t] : 0) * h + c] += d[t * h + c];
    }
}

double CrossEntropyRef(const float* logits, int64_t rows, int64_t classes, const int32_t* labels, int32_t ignore_index, double scale,
                       std::vector<double>* dlogits) {
  int64_t count = 0;
  for (int64_t r = 0; r < rows; ++r) count += labels[r] != ignore_index;
  dlogits->assign(rows * classes, 0);
  double total = 0;
  for (int64_t r = 0; r < rows; ++r) {
    if (labels[r] == ignore_index) continue;
    double mx = -INFINITY;
    for (int64_t c = 0; c < classes; ++c) mx = std::max<double>(mx, logits[r * classes + c]);
    double z = 0;
    for (int64_t c = 0; c < classes; ++c) z += std::exp(logits[r * classes + c] - mx);
    total += mx + std::log(z) - logits[r * classes + labels[r]];
    for (int64_t c = 0; c < classes; ++c)
      (*dlogits)[r * classes + c] = (std::exp(logits[r * classes + c] - mx) / z - (c == labels[r])) * scale / count;
  }
  return count ? total / count : std::numeric_limits<double>::quiet_NaN();
}

double MseRef(const float* x, const float* y, int64_t n, double scale, std::vector<double>* dx) {
  dx->assign(n, 0);
  double total = 0;
  for (int64_t i = 0; i < n; ++i) {
    const double d = static_cast<double>(x[i]) - y[i];
    total += d * d;
    (*dx)[i] = 2 * d * scale / n;
  }
  return total / n;
}

double BceRef(const float* z, const float* y, int64_t n, double scale, std::vector<double>* dz) {
  dz->assign(n, 0);
  double total = 0;
  for (int64_t i = 0; i < n; ++i) {
    const double sig = 1 / (1 + std::exp(-static_cast<double>(z[i])));
    total += -(y[i] * std::log(sig) + (1 - y[i]) * std::log(1 - sig));
    (*dz)[i] = (sig - y[i]) * scale / n;
  }
  return total / n;
}

void AdamWRef(std::vector<double>* p, const std::vector<double>& g, std::vector<double>* m, std::vector<double>* v,
              const AdamWArgs& a) {
  const double bc1 = 1 - std::pow(static_cast<double>(a.beta1), static_cast<double>(a.step));
  const double bc2 = 1 - std::pow(static_cast<double>(a.beta2), static_cast<double>(a.step));
  for (size_t i = 0; i < p->size(); ++i) {
    const double gi = g[i] * a.grad_scale;
    (*p)[i] *= 1 - static_cast<double>(a.lr) * a.weight_decay;
    (*m)[i] = a.beta1 * (*m)[i] + (1 - static_cast<double>(a.beta1)) * gi;
    (*v)[i] = a.beta2 * (*v)[i] + (1 - static_cast<double>(a.beta2)) * gi * gi;
    (*p)[i] -= (a.lr / bc1) * (*m)[i] / (std::sqrt((*v)[i]) / std::sqrt(bc2) + a.eps);
  }
}

// ---------------------------------------------------------------------------------------------
// The whole model, float64.

namespace {

using Mat = std::vector<double>;  // row-major

struct Ctx {
  const ModelConfig& c;
  const std::map<std::string, std::vector<double>>& p;
  const RefDropout& drop;
  const std::vector<double>& P(const std::string& n) const { return p.at(n); }
  // x [m, in] -> [m, out]
  Mat Linear(const Mat& x, int64_t m, const std::string& name, int64_t out, int64_t in) const {
    const auto& w = P(name + ".weight");
    const auto& b = P(name + ".bias");
    Mat y(m * out);
    for (int64_t i = 0; i < m; ++i)
      for (int64_t o = 0; o < out; ++o) {
        double s = b[o];
        for (int64_t k = 0; k < in; ++k) s += x[i * in + k] * w[o * in + k];
        y[i * out + o] = s;
      }
    return y;
  }
  void Norm(Mat* x, int64_t m, const std::string& name) const {
    const int64_t h = c.hidden_size;
    const auto& g = P(name + ".weight");
    const auto& b = P(name + ".bias");
    for (int64_t r = 0; r < m; ++r) {
      double mean = 0, var = 0;
      for (int64_t i = 0; i < h; ++i) mean += (*x)[r * h + i];
      mean /= h;
      for (int64_t i = 0; i < h; ++i) var += ((*x)[r * h + i] - mean) * ((*x)[r * h + i] - mean);
      var /= h;
      const double inv = 1 / std::sqrt(var + c.layer_norm_eps);
      for (int64_t i = 0; i < h; ++i) (*x)[r * h + i] = ((*x)[r * h + i] - mean) * inv * g[i] + b[i];
    }
  }
  void Drop(Mat* x, double p, uint64_t site) const {
    if (!(p > 0)) return;
    const uint64_t key = DropoutKey(drop.seed, drop.counter, site);
    for (size_t i = 0; i < x->size(); ++i)
      (*x)[i] = p >= 1 ? 0 : DropoutUniform(key, i) >= static_cast<float>(p) ? (*x)[i] / (1 - p) : 0;
  }
};

double CeRows(const Mat& z, int64_t rows, int64_t classes, const int32_t* labels) {
  double total = 0;
  int64_t count = 0;
  for (int64_t r = 0; r < rows; ++r) {
    if (labels[r] == -100) continue;
    double mx = -INFINITY;
    for (int64_t c = 0; c < classes; ++c) mx = std::max(mx, z[r * classes + c]);
    double s = 0;
    for (int64_t c = 0; c < classes; ++c) s += std::exp(z[r * classes + c] - mx);
    total += mx + std::log(s) - z[r * classes + labels[r]];
    ++count;
  }
  return count ? total / count : std::numeric_limits<double>::quiet_NaN();
}

}  // namespace

double ModelLossRef(const ModelConfig& c, const std::map<std::string, std::vector<double>>& params, const BatchInput& in,
                    const TrainLabels& lb, int64_t pad_token_id, const RefDropout& drop) {
  (void)pad_token_id;  // padding_idx changes gradients only, never the forward
  Ctx x{c, params, drop};
  const int64_t T = in.num_tokens, B = in.num_sequences, H = c.hidden_size, I = c.intermediate_size;
  const int64_t heads = c.num_attention_heads, d = H / heads;
  std::vector<int32_t> pos(T);
  for (int64_t s = 0; s < B; ++s)
    for (int32_t t = in.cu_seqlens[s]; t < in.cu_seqlens[s + 1]; ++t) pos[t] = in.position_ids ? in.position_ids[t] : t - in.cu_seqlens[s];
  Mat h(T * H);
  const auto& we = x.P("embeddings.word_embeddings.weight");
  const auto& pe = x.P("embeddings.position_embeddings.weight");
  const auto& te = x.P("embeddings.token_type_embeddings.weight");
  for (int64_t t = 0; t < T; ++t)
    for (int64_t i = 0; i < H; ++i)
      h[t * H + i] = we[in.input_ids[t] * H + i] + te[(in.token_type_ids ? in.token_type_ids[t] : 0) * H + i] + pe[pos[t] * H + i];
  x.Norm(&h, T, "embeddings.LayerNorm");
  x.Drop(&h, drop.hidden, 0);
  std::vector<int64_t> offsets(B);
  int64_t per_layer = 0;
  for (int64_t s = 0; s < B; ++s) {
    offsets[s] = per_layer;
    const int64_t n = in.cu_seqlens[s + 1] - in.cu_seqlens[s];
    per_layer += heads * n * n;
  }
  for (int64_t l = 0; l < c.num_hidden_layers; ++l) {
    const std::string p = "encoder.layer." + std::to_string(l) + ".";
    Mat q = x.Linear(h, T, p + "attention.self.query", H, H);
    Mat k = x.Linear(h, T, p + "attention.self.key", H, H);
    Mat v = x.Linear(h, T, p + "attention.self.value", H, H);
    Mat ctx(T * H, 0);
    const uint64_t akey = DropoutKey(drop.seed, drop.counter, 1 + 3 * l);
    for (int64_t s = 0; s < B; ++s) {
      const int64_t st = in.cu_seqlens[s], n = in.cu_seqlens[s + 1] - st;
      bool any = false;
      for (int64_t j = 0; j < n; ++j) any |= in.attention_mask == nullptr || in.attention_mask[st + j] != 0;
      for (int64_t hh = 0; hh < heads; ++hh)
        for (int64_t i = 0; i < n; ++i) {
          // transformers: scores / sqrt(d) + (1 - mask) * finfo.min, softmax, dropout, @ V
          std::vector<double> sc(n);
          double mx = -INFINITY;
          for (int64_t j = 0; j < n; ++j) {
            double dot = 0;
            for (int64_t cc = 0; cc < d; ++cc) dot += q[(st + i) * H + hh * d + cc] * k[(st + j) * H + hh * d + cc];
            sc[j] = dot / std::sqrt(static_cast<double>(d));
            if (!any || in.attention_mask == nullptr || in.attention_mask[st + j]) mx = std::max(mx, sc[j]);
          }
          double sum = 0;
          for (int64_t j = 0; j < n; ++j) {
            const bool key = !any || in.attention_mask == nullptr || in.attention_mask[st + j];
            sc[j] = !any ? 1 : key ? std::exp(sc[j] - mx) : 0;
            sum += sc[j];
          }
          for (int64_t j = 0; j < n; ++j) {
            double pr = sc[j] / sum;
            if (drop.attention > 0) {
              const int64_t idx = offsets[s] + (hh * n + i) * n + j;
              pr = drop.attention >= 1 ? 0 : DropoutUniform(akey, idx) >= static_cast<float>(drop.attention) ? pr / (1 - drop.attention) : 0;
            }
            for (int64_t cc = 0; cc < d; ++cc) ctx[(st + i) * H + hh * d + cc] += pr * v[(st + j) * H + hh * d + cc];
          }
        }
    }
    Mat ao = x.Linear(ctx, T, p + "attention.output.dense", H, H);
    x.Drop(&ao, drop.hidden, 2 + 3 * l);
    for (int64_t i = 0; i < T * H; ++i) ao[i] += h[i];
    x.Norm(&ao, T, p + "attention.output.LayerNorm");
    Mat u = x.Linear(ao, T, p + "intermediate.dense", I, H);
    for (auto& e : u) e = ActivationRef(e, c.hidden_act);
    Mat o = x.Linear(u, T, p + "output.dense", H, I);
    x.Drop(&o, drop.hidden, 3 + 3 * l);
    for (int64_t i = 0; i < T * H; ++i) o[i] += ao[i];
    x.Norm(&o, T, p + "output.LayerNorm");
    h = o;
  }
  auto pooled = [&]() {
    Mat first(B * H);
    for (int64_t s = 0; s < B; ++s)
      for (int64_t i = 0; i < H; ++i) first[s * H + i] = h[in.cu_seqlens[s] * H + i];
    Mat y = x.Linear(first, B, "pooler.dense", H, H);
    for (auto& e : y) e = std::tanh(e);
    return y;
  };
  const uint64_t kCls = 1u << 20;
  switch (c.architecture) {
    case Architecture::kBertForSequenceClassification: {
      Mat pz = pooled();
      x.Drop(&pz, drop.classifier, kCls);
      Mat z = x.Linear(pz, B, "classifier", c.num_labels, H);
      const int64_t n = B * c.num_labels;
      if (lb.problem_type == ProblemType::kSingleLabel) return CeRows(z, B, c.num_labels, lb.labels);
      double total = 0;
      for (int64_t i = 0; i < n; ++i) {
        if (lb.problem_type == ProblemType::kRegression) {
          total += (z[i] - lb.float_labels[i]) * (z[i] - lb.float_labels[i]);
        } else {
          const double sig = 1 / (1 + std::exp(-z[i]));
          total += -(lb.float_labels[i] * std::log(sig) + (1 - lb.float_labels[i]) * std::log(1 - sig));
        }
      }
      return total / n;
    }
    case Architecture::kBertForMultipleChoice: {
      Mat pz = pooled();
      x.Drop(&pz, drop.classifier, kCls);
      Mat z = x.Linear(pz, B, "classifier", 1, H);
      return CeRows(z, B / lb.num_choices, lb.num_choices, lb.labels);
    }
    case Architecture::kBertForNextSentencePrediction: return CeRows(x.Linear(pooled(), B, "cls.seq_relationship", 2, H), B, 2, lb.labels);
    case Architecture::kBertForTokenClassification: {
      Mat hz = h;
      x.Drop(&hz, drop.classifier, kCls);
      return CeRows(x.Linear(hz, T, "classifier", c.num_labels, H), T, c.num_labels, lb.labels);
    }
    case Architecture::kBertForQuestionAnswering: {
      Mat z = x.Linear(h, T, "qa_outputs", 2, H);
      double sum[2] = {0, 0};
      int64_t count[2] = {0, 0};
      for (int64_t s = 0; s < B; ++s) {
        const int64_t st = in.cu_seqlens[s], n = in.cu_seqlens[s + 1] - st;
        const int32_t raw[2] = {lb.start_positions[s], lb.end_positions[s]};
        for (int k = 0; k < 2; ++k) {
          const int64_t tgt = std::min<int64_t>(std::max<int64_t>(raw[k], 0), n);
          if (tgt == n) continue;
          double mx = -INFINITY, se = 0;
          for (int64_t j = 0; j < n; ++j) mx = std::max(mx, z[(st + j) * 2 + k]);
          for (int64_t j = 0; j < n; ++j) se += std::exp(z[(st + j) * 2 + k] - mx);
          sum[k] += mx + std::log(se) - z[(st + tgt) * 2 + k];
          ++count[k];
        }
      }
      return (sum[0] / count[0] + sum[1] / count[1]) / 2;
    }
    case Architecture::kBertForMaskedLM:
    case Architecture::kBertForPreTraining: {
      Mat t = x.Linear(h, T, "cls.predictions.transform.dense", H, H);
      for (auto& e : t) e = ActivationRef(e, c.hidden_act);
      x.Norm(&t, T, "cls.predictions.transform.LayerNorm");
      const auto& dw = c.tie_word_embeddings ? x.P("embeddings.word_embeddings.weight") : x.P("cls.predictions.decoder.weight");
      const auto& db = x.P("cls.predictions.bias");
      const int64_t V = c.vocab_size;
      Mat z(T * V);
      for (int64_t r = 0; r < T; ++r)
        for (int64_t o = 0; o < V; ++o) {
          double s = db[o];
          for (int64_t i = 0; i < H; ++i) s += t[r * H + i] * dw[o * H + i];
          z[r * V + o] = s;
        }
      double loss = CeRows(z, T, V, lb.labels);
      if (c.architecture == Architecture::kBertForPreTraining)
        loss += CeRows(x.Linear(pooled(), B, "cls.seq_relationship", 2, H), B, 2, lb.next_sentence_label);
      return loss;
    }
    case Architecture::kBertModel: break;
  }
  return std::numeric_limits<double>::quiet_NaN();
}

}  // namespace bertkit::train::ref
