// The training engine against its scalar references (native/train/ref): every fast kernel on
// random, odd-sized inputs with 1 and 3 threads, then the whole model: its loss against the
// float64 reference model and each parameter's gradient against central differences of that
// float64 loss, for every head, with and without dropout. The ISA under test is whatever
// BERTKIT_ISA selects (CTest runs this binary once per ISA).
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "bertkit/engine.h"
#include "cpu/cpu_features.h"
#include "cpu/gemm.h"
#include "cpu/thread_pool.h"
#include "train/ref/train_reference.h"
#include "train/train_gemm.h"
#include "train/train_kernels.h"
#include "train/trainable_model.h"
#include "check.h"

using namespace bertkit;
using namespace bertkit::train;

namespace {

using ::bertkit::testing::g_checks;
using ::bertkit::testing::g_failures;

std::mt19937 rng(4321);

std::vector<float> Random(int64_t n, float lo = -1.f, float hi = 1.f) { return testing::RandomFloats(rng, n, lo, hi); }

struct Scratch {
  cpu::AlignedFloats mem;
  float* Get(int64_t n) {
    if (mem.size < n) mem.Allocate(n);
    return mem.data();
  }
};

// max |a - b| and max |b| over n values.
template <class A, class B>
void Diff(const A* a, const B* b, int64_t n, double* worst, double* scale) {
  *worst = 0;
  *scale = 0;
  for (int64_t i = 0; i < n; ++i) {
    const double d = std::fabs(static_cast<double>(a[i]) - static_cast<double>(b[i]));
    if (!(d <= *worst)) *worst = d;  // NaN counts
    *scale = std::max(*scale, std::fabs(static_cast<double>(b[i])));
  }
}

// ---- GEMM ----
// float32 accumulation over k terms errs by about sqrt(k) * 2^-24 * sum|a b| for random signs;
// 2e-6 * sqrt(k + 1) * k * |a| |b| bounds that with room; a wrong index or a dropped panel errs
// by O(|a| |b|).
void TestGemm(cpu::ThreadPool* pool, cpu::Isa isa) {
  Scratch scratch;
  const int64_t ms[] = {1, 5, 7, 37, 97, 130};
  const int64_t ns[] = {1, 3, 17, 65, 257};
  const int64_t ks[] = {1, 7, 64, 300};
  int combo = 0;
  for (int64_t m : ms)
    for (int64_t n : ns)
      for (int64_t k : ks) {
        ++combo;
        const int orient = combo % 4;  // NT, NN, TN, strided
        auto a = Random(m * k * 2), b = Random(n * k * 2), bias = Random(n);
        std::vector<float> c = Random(m * n), cref = c;
        GemmArgs g;
        g.m = m; g.n = n; g.k = k;
        g.a = a.data(); g.b = b.data();
        g.c = c.data(); g.ldc = n;
        switch (orient) {
          case 0: g.rsa = k; g.csa = 1; g.rsb = 1; g.csb = k; break;          // X . W^T
          case 1: g.rsa = k; g.csa = 1; g.rsb = n; g.csb = 1; break;          // dY . W
          case 2: g.rsa = 1; g.csa = m; g.rsb = n; g.csb = 1; break;          // dY^T . X
          default: g.rsa = 2 * k; g.csa = 1; g.rsb = 1; g.csb = 2 * k; break;  // strided (qkv columns)
        }
        g.accumulate = combo % 3 == 0;
        g.bias = (!g.accumulate && combo % 2 == 0) ? bias.data() : nullptr;
        g.alpha = combo % 5 == 0 ? 0.37f : 1.f;
        GemmArgs gr = g;
        gr.c = cref.data();
        ref::GemmRef(gr);
        if (combo % 2) {
          Gemm(g, isa, pool, scratch.Get(pool->size() * GemmScratchFloats()));
        } else {
          GemmSerial(g, isa, scratch.Get(GemmScratchFloats()));
        }
        double worst, sc;
        Diff(c.data(), cref.data(), m * n, &worst, &sc);
        const double tol = 2e-6 * std::sqrt(static_cast<double>(k) + 1) * (k + 1) + 1e-6;
        CHECK(worst <= tol, "gemm m=%ld n=%ld k=%ld orient=%d acc=%d: max err %g > %g", (long)m, (long)n, (long)k, orient,
              (int)g.accumulate, worst, tol);
      }
}

// The activation epilogues against the separate elementwise kernels (themselves checked against
// the reference) on the same GEMM: the same function on the same float32 values, so they agree
// to rounding (1e-6 relative); 1100 spans two k blocks (forward k, backward n) and two column
// blocks, and m and n leave edge tiles.
void TestGemmActivation(cpu::ThreadPool* pool, cpu::Isa isa) {
  Scratch scratch;
  const Activation acts[] = {Activation::kGelu, Activation::kGeluTanh, Activation::kRelu, Activation::kTanh};
  int combo = 0;
  for (int64_t m : {1, 7, 37})
    for (int64_t n : {5, 65, 1100})
      for (int64_t k : {3, 64, 1100}) {
        const Activation act = acts[combo++ % 4];
        auto x = Random(m * k, -1.f, 1.f), w = Random(n * k, -0.2f, 0.2f), bias = Random(n), u = Random(m * n, -3.f, 3.f);
        float* sc = scratch.Get(pool->size() * GemmScratchFloats());
        // forward: y = x w^T + b, a = act(y)
        std::vector<float> y(m * n), a(m * n), y2(m * n), a2(m * n);
        LinearForward(x.data(), m, k, w.data(), n, bias.data(), y.data(), isa, pool, sc, {act, a.data(), nullptr});
        LinearForward(x.data(), m, k, w.data(), n, bias.data(), y2.data(), isa, pool, sc);
        ActivationForward(y2.data(), m * n, act, a2.data(), isa, pool);
        double worst, scale;
        Diff(y.data(), y2.data(), m * n, &worst, &scale);
        CHECK(worst == 0, "gemm act forward m=%ld n=%ld k=%ld: pre-activation differs by %g", (long)m, (long)n, (long)k, worst);
        Diff(a.data(), a2.data(), m * n, &worst, &scale);
        CHECK(worst <= 1e-6 * (scale + 1), "gemm act forward m=%ld n=%ld k=%ld act=%d: %g", (long)m, (long)n, (long)k, (int)act, worst);
        // input gradient: dx = (dy w) * act'(u), dy [m, n], w [n, k] viewed as the next layer's
        std::vector<float> dx(m * k, 5.f), dx2(m * k);
        auto dy = Random(m * n), uk = Random(m * k, -3.f, 3.f);
        LinearBackwardInput(dy.data(), m, n, w.data(), k, dx.data(), false, isa, pool, sc, {act, nullptr, uk.data()});
        LinearBackwardInput(dy.data(), m, n, w.data(), k, dx2.data(), false, isa, pool, sc);
        ActivationBackward(uk.data(), dx2.data(), m * k, act, dx2.data(), isa, pool);
        Diff(dx.data(), dx2.data(), m * k, &worst, &scale);
        CHECK(worst <= 1e-6 * (scale + 1) && scale > 0, "gemm act backward m=%ld n=%ld k=%ld act=%d: %g", (long)m, (long)n, (long)k,
              (int)act, worst);
      }
}

// ---- LayerNorm ----
// Forward: float32 two-pass statistics vs float64; errors ~1e-6 relative. Backward: a few
// float32 reductions over h, ~1e-5 of the gradient scale; a wrong term (e.g. dropping the
// xhat * mean(g xhat) correction) errs by O(1).
void TestLayerNorm(cpu::ThreadPool* pool) {
  Scratch scratch;
  for (int64_t rows : {1, 3, 33, 130})
    for (int64_t h : {1, 7, 64, 97}) {
      auto x = Random(rows * h, -2.f, 3.f), gamma = Random(h, 0.5f, 1.5f), beta = Random(h), dy = Random(rows * h);
      std::vector<float> y(rows * h), xhat(rows * h), rstd(rows), yref(rows * h);
      LayerNormForward(x.data(), rows, h, gamma.data(), beta.data(), 1e-5f, y.data(), xhat.data(), rstd.data(), pool);
      ref::LayerNormForwardRef(x.data(), rows, h, gamma.data(), beta.data(), 1e-5, yref.data());
      double worst, sc;
      Diff(y.data(), yref.data(), rows * h, &worst, &sc);
      CHECK(worst <= 1e-5 * (sc + 1), "layernorm fwd rows=%ld h=%ld: %g", (long)rows, (long)h, worst);
      std::vector<float> dx(rows * h), dg(h, 0.5f), db(h, -0.25f), dxr(rows * h), dgr(h, 0.5f), dbr(h, -0.25f);
      LayerNormBackward(dy.data(), xhat.data(), rstd.data(), gamma.data(), rows, h, dx.data(), dg.data(), db.data(), pool,
                        scratch.Get(ColumnScratchFloats(rows, 2 * h)));
      ref::LayerNormBackwardRef(dy.data(), x.data(), gamma.data(), rows, h, 1e-5, dxr.data(), dgr.data(), dbr.data());
      Diff(dx.data(), dxr.data(), rows * h, &worst, &sc);
      CHECK(worst <= 1e-4 * (sc + 1e-3), "layernorm dx rows=%ld h=%ld: %g (scale %g)", (long)rows, (long)h, worst, sc);
      Diff(dg.data(), dgr.data(), h, &worst, &sc);
      CHECK(worst <= 1e-5 * (sc + 1) * std::sqrt(rows), "layernorm dgamma: %g", worst);
      Diff(db.data(), dbr.data(), h, &worst, &sc);
      CHECK(worst <= 1e-5 * (sc + 1) * std::sqrt(rows), "layernorm dbeta: %g", worst);
    }
  // Column sums (bias gradients).
  for (int64_t rows : {1, 31, 1000})
    for (int64_t cols : {1, 5, 300}) {
      auto x = Random(rows * cols);
      std::vector<float> out(cols, 1.f);
      std::vector<double> want(cols, 1.0);
      for (int64_t r = 0; r < rows; ++r)
        for (int64_t c = 0; c < cols; ++c) want[c] += x[r * cols + c];
      ColumnSumAccumulate(x.data(), rows, cols, cols, out.data(), pool, scratch.Get(ColumnScratchFloats(rows, cols)));
      double worst, sc;
      Diff(out.data(), want.data(), cols, &worst, &sc);
      CHECK(worst <= 1e-6 * rows, "column sums rows=%ld cols=%ld: %g", (long)rows, (long)cols, worst);
    }
}

// ---- activations ----
// simd.h's erf / tanh / exp are accurate to ~2e-7 relative; derivatives combine a few of them.
void TestActivations(cpu::ThreadPool* pool, cpu::Isa isa) {
  for (Activation act : {Activation::kGelu, Activation::kGeluTanh, Activation::kRelu, Activation::kTanh}) {
    const int64_t n = 10007;
    auto u = Random(n, -9.f, 9.f), dy = Random(n);
    u[0] = 0.f;
    u[1] = -1e-4f;
    std::vector<float> y(n), du(n);
    ActivationForward(u.data(), n, act, y.data(), isa, pool);
    ActivationBackward(u.data(), dy.data(), n, act, du.data(), isa, pool);
    double wf = 0, wb = 0;
    for (int64_t i = 0; i < n; ++i) {
      const double yr = ref::ActivationRef(u[i], act);
      const double gr = dy[i] * ref::ActivationGradRef(u[i], act);
      wf = std::max(wf, std::fabs(y[i] - yr) / (std::fabs(yr) + 1));
      wb = std::max(wb, std::fabs(du[i] - gr) / (std::fabs(dy[i]) + 1e-6));
    }
    // The tanh form computes 1 + tanh(inner) in float32 as transformers does: near x = -5 that
    // cancels to ~1e-4 with an absolute error of ~6e-8, so errors are measured against |y| + 1.
    CHECK(wf <= 2e-6, "activation %d forward err %g", (int)act, wf);
    CHECK(wb <= 1e-5, "activation %d backward err %g", (int)act, wb);
  }
  auto x = Random(37, -5.f, 5.f);
  auto y = x;
  TanhForward(y.data(), 37, isa);
  double w = 0;
  for (int i = 0; i < 37; ++i) w = std::max(w, std::fabs(y[i] - std::tanh(static_cast<double>(x[i]))));
  CHECK(w <= 1e-6, "tanh err %g", w);
}

// ---- dropout ----
void TestDropout() {
  cpu::ThreadPool one(1), three(3);
  const int64_t n = 200003;
  for (float p : {0.1f, 0.5f}) {
    std::vector<float> a(n, 1.f), b(n, 1.f);
    Dropout(a.data(), n, p, DropoutKey(7, 3, 11), 0, &one);
    Dropout(b.data(), n, p, DropoutKey(7, 3, 11), 0, &three);
    CHECK(std::memcmp(a.data(), b.data(), n * 4) == 0, "dropout depends on the thread count");
    int64_t kept = 0;
    for (float v : a) kept += v != 0.f;
    const double rate = 1.0 - static_cast<double>(kept) / n;
    // binomial sd = sqrt(p (1 - p) / n) < 1.2e-3: 5 sd
    CHECK(std::fabs(rate - p) < 6e-3, "dropout rate %g for p %g", rate, p);
    CHECK(std::fabs(a[0] - 1.f / (1.f - p)) < 1e-6 || a[0] == 0.f, "dropout scale");
    std::vector<float> c(n, 1.f);
    Dropout(c.data(), n, p, DropoutKey(7, 4, 11), 0, &one);
    CHECK(std::memcmp(a.data(), c.data(), n * 4) != 0, "dropout mask does not change with the step");
  }
}

// ---- attention ----

// A packed batch of sequences for the attention kernels: offsets, key mask, probabilities layout.
struct AttentionCase {
  std::vector<int32_t> lens;
  int heads, head_dim;
  bool mask;
  float dropout;
};
struct PackedAttention {
  std::vector<int32_t> cu = {0};
  std::vector<uint8_t> mask;
  std::vector<int64_t> offs;
  int64_t T = 0, B = 0, H = 0, total = 0, maxlen = 0;
  explicit PackedAttention(const AttentionCase& cs) {
    for (int32_t l : cs.lens) cu.push_back(cu.back() + l);
    T = cu.back();
    B = static_cast<int64_t>(cs.lens.size());
    H = static_cast<int64_t>(cs.heads) * cs.head_dim;
    mask.assign(T, 1);
    if (cs.mask) {
      for (int64_t t = 0; t < T; ++t) mask[t] = (t % 4) != 3;  // query-only tokens
      for (int64_t t = cu[1]; t < cu[2]; ++t) mask[t] = 0;      // a sequence without keys: uniform
    }
    for (int64_t s = 0; s < B; ++s) {
      offs.push_back(total);
      total += static_cast<int64_t>(cs.heads) * cs.lens[s] * cs.lens[s];
      maxlen = std::max<int64_t>(maxlen, cs.lens[s]);
    }
  }
  AttentionShape Shape(const AttentionCase& cs, float* scratch) const {
    AttentionShape a;
    a.cu_seqlens = cu.data();
    a.sequences = B;
    a.key_mask = cs.mask ? mask.data() : nullptr;
    a.heads = cs.heads;
    a.head_dim = cs.head_dim;
    a.scale = 1.f / std::sqrt(static_cast<float>(cs.head_dim));
    a.probs_offsets = offs.data();
    a.dropout = cs.dropout;
    a.dropout_key = DropoutKey(1, 2, 3);
    a.scratch = scratch;
    a.max_seq_len = maxlen;
    return a;
  }
};

// Per head a float32 GEMM of k = head_dim then one of k = n: errors ~1e-6 of the value scale.
void TestAttention(cpu::ThreadPool* pool, cpu::Isa isa) {
  Scratch scratch;
  const AttentionCase cases[] = {
      {{1}, 1, 1, false, 0.f},
      {{5, 17, 3}, 3, 7, true, 0.f},
      {{33, 9}, 2, 16, true, 0.3f},
      {{70, 4, 1}, 4, 8, false, 0.1f},
  };
  for (const AttentionCase& cs : cases) {
    const PackedAttention pk(cs);
    const int64_t T = pk.T, H = pk.H, total = pk.total;
    auto qkv = Random(T * 3 * H, -2.f, 2.f), dctx = Random(T * H);
    std::vector<float> probs(total), ctx(T * H), dqkv(T * 3 * H, 9.f), ctxr(T * H), dqkvr(T * 3 * H);
    std::vector<double> probsr(total);
    AttentionTrainArgs a;
    static_cast<AttentionShape&>(a) = pk.Shape(cs, scratch.Get(pool->size() * AttentionScratchFloats(pk.maxlen)));
    a.qkv = qkv.data();
    a.tokens = T;
    a.probs = probs.data();
    a.context = ctx.data();
    a.dcontext = dctx.data();
    a.dqkv = dqkv.data();
    AttentionForward(a, isa, pool);
    AttentionBackward(a, isa, pool);
    ref::AttentionForwardRef(a, &probsr, ctxr.data());
    ref::AttentionBackwardRef(a, dqkvr.data());
    double worst, sc;
    Diff(probs.data(), probsr.data(), total, &worst, &sc);
    CHECK(worst <= 2e-6, "attention probs: %g", worst);
    Diff(ctx.data(), ctxr.data(), T * H, &worst, &sc);
    CHECK(worst <= 1e-5 * (sc + 1), "attention context: %g", worst);
    Diff(dqkv.data(), dqkvr.data(), T * 3 * H, &worst, &sc);
    CHECK(worst <= 2e-5 * (sc + 1), "attention dqkv: %g (scale %g)", worst, sc);
  }
}

// Attention for selected query rows against the full kernel (itself checked against the
// reference above) on the same inputs: its rows of probs and context, and with dcontext nonzero
// on the selected rows only, the full backward's dq on those rows and its dk, dv everywhere.
// Both sum the same terms in other orders: the attention tolerances above apply.
void TestAttentionRows(cpu::ThreadPool* pool, cpu::Isa isa) {
  Scratch scratch, scratch2;
  const std::pair<AttentionCase, std::vector<int64_t>> cases[] = {  // and the selected rows
      {{{1}, 1, 1, false, 0.f}, {0}},
      {{{5, 17, 3}, 3, 7, true, 0.f}, {0, 5, 9, 21}},
      {{{33, 9, 6}, 2, 19, true, 0.3f}, {0, 2, 3, 32, 33, 41}},
      {{{70, 4, 1}, 4, 16, false, 0.1f}, {0, 70, 74}},
  };
  for (const auto& [cs, rows] : cases) {
    const PackedAttention pk(cs);
    const int64_t T = pk.T, H = pk.H, K = static_cast<int64_t>(rows.size()), total = pk.total, maxlen = pk.maxlen;
    const std::vector<int32_t>& cu = pk.cu;
    const std::vector<int64_t>& offs = pk.offs;
    auto qkv = Random(T * 3 * H, -2.f, 2.f);
    auto dsel = Random(K * H);
    std::vector<float> dctx(T * H, 0.f);
    for (int64_t r = 0; r < K; ++r) std::copy(dsel.begin() + r * H, dsel.begin() + (r + 1) * H, dctx.begin() + rows[r] * H);
    std::vector<float> probs(total), ctx(T * H), dqkv(T * 3 * H);
    AttentionTrainArgs a;
    static_cast<AttentionShape&>(a) = pk.Shape(cs, scratch.Get(pool->size() * AttentionScratchFloats(pk.maxlen)));
    a.qkv = qkv.data();
    a.tokens = T;
    a.probs = probs.data();
    a.context = ctx.data();
    a.dcontext = dctx.data();
    a.dqkv = dqkv.data();
    AttentionForward(a, isa, pool);
    AttentionBackward(a, isa, pool);

    std::vector<float> q(K * H), kv(T * 2 * H);
    for (int64_t r = 0; r < K; ++r) std::copy_n(qkv.begin() + rows[r] * 3 * H, H, q.begin() + r * H);
    for (int64_t t = 0; t < T; ++t) std::copy_n(qkv.begin() + t * 3 * H + H, 2 * H, kv.begin() + t * 2 * H);
    std::vector<float> rprobs(K * cs.heads * maxlen, 7.f), rctx(K * H, 7.f), rdq(K * H, 7.f), rdkv(T * 2 * H, 7.f);
    AttentionRowsArgs ra;
    static_cast<AttentionShape&>(ra) = pk.Shape(cs, scratch2.Get(pool->size() * AttentionRowsScratchFloats(maxlen)));
    ra.q = q.data();
    ra.kv = kv.data();
    ra.rows = rows.data();
    ra.num_rows = K;
    ra.probs = rprobs.data();
    ra.context = rctx.data();
    ra.dcontext = dsel.data();
    ra.dq = rdq.data();
    ra.dkv = rdkv.data();
    AttentionRowsForward(ra, isa, pool);
    AttentionRowsBackward(ra, isa, pool);

    std::vector<float> wprobs, wctx, wdq, wdkv, gprobs, gctx, gdq, gdkv;
    for (int64_t r = 0; r < K; ++r) {
      const int64_t t = rows[r];
      const int64_t s = std::upper_bound(cu.begin() + 1, cu.end(), t) - (cu.begin() + 1);
      const int64_t n = cs.lens[s], i = t - cu[s];
      for (int h = 0; h < cs.heads; ++h)
        for (int64_t j = 0; j < n; ++j) {
          wprobs.push_back(probs[offs[s] + (h * n + i) * n + j]);
          gprobs.push_back(rprobs[(r * cs.heads + h) * maxlen + j]);
        }
      for (int64_t c = 0; c < H; ++c) {
        wctx.push_back(ctx[t * H + c]);
        gctx.push_back(rctx[r * H + c]);
        wdq.push_back(dqkv[t * 3 * H + c]);
        gdq.push_back(rdq[r * H + c]);
      }
    }
    for (int64_t t = 0; t < T; ++t)
      for (int64_t c = 0; c < 2 * H; ++c) {
        wdkv.push_back(dqkv[t * 3 * H + H + c]);
        gdkv.push_back(rdkv[t * 2 * H + c]);
      }
    double worst, sc;
    Diff(gprobs.data(), wprobs.data(), wprobs.size(), &worst, &sc);
    CHECK(worst <= 2e-6, "attention rows probs: %g", worst);
    Diff(gctx.data(), wctx.data(), wctx.size(), &worst, &sc);
    CHECK(worst <= 1e-5 * (sc + 1), "attention rows context: %g", worst);
    Diff(gdq.data(), wdq.data(), wdq.size(), &worst, &sc);
    CHECK(worst <= 2e-5 * (sc + 1), "attention rows dq: %g (scale %g)", worst, sc);
    Diff(gdkv.data(), wdkv.data(), wdkv.size(), &worst, &sc);
    CHECK(worst <= 2e-5 * (sc + 1) && sc > 0, "attention rows dkv: %g (scale %g)", worst, sc);
  }
}

// ---- embeddings ----
void TestEmbeddings(cpu::ThreadPool* pool) {
  const int64_t T = 301, H = 13, V = 50, P = 40, TV = 3;
  std::vector<int32_t> ids(T), types(T), pos(T);
  std::uniform_int_distribution<int> vid(0, V - 1), tid(0, TV - 1), pid(0, P - 1);
  for (int64_t t = 0; t < T; ++t) {
    ids[t] = t % 7 == 0 ? 0 : vid(rng);
    types[t] = tid(rng);
    pos[t] = pid(rng);
  }
  auto d = Random(T * H);
  std::vector<float> dw(V * H, 0.f), dp(P * H, 0.f), dt(TV * H, 0.f), dwr = dw, dpr = dp, dtr = dt;
  EmbeddingsBackward(d.data(), ids.data(), types.data(), pos.data(), T, H, 0, dw.data(), dp.data(), dt.data(), pool);
  ref::EmbeddingsBackwardRef(d.data(), ids.data(), types.data(), pos.data(), T, H, 0, dwr.data(), dpr.data(), dtr.data());
  double worst, sc;
  Diff(dw.data(), dwr.data(), V * H, &worst, &sc);
  CHECK(worst <= 1e-5, "embeddings dword: %g", worst);
  bool pad_zero = true;
  for (int64_t c = 0; c < H; ++c) pad_zero &= dw[c] == 0.f;
  CHECK(pad_zero, "the padding_idx row got a gradient");
  Diff(dp.data(), dpr.data(), P * H, &worst, &sc);
  CHECK(worst <= 1e-5, "embeddings dposition: %g", worst);
  Diff(dt.data(), dtr.data(), TV * H, &worst, &sc);
  CHECK(worst <= 1e-4, "embeddings dtype: %g", worst);
}

// ---- losses ----
void TestLosses(cpu::ThreadPool* pool) {
  for (int64_t classes : {1, 2, 7, 1001}) {
    const int64_t rows = 13;
    auto z = Random(rows * classes, -8.f, 8.f);
    std::vector<int32_t> labels(rows);
    std::uniform_int_distribution<int> cl(0, static_cast<int>(classes) - 1);
    for (int64_t r = 0; r < rows; ++r) labels[r] = r % 4 == 1 ? -100 : cl(rng);
    std::vector<float> dz(rows * classes, 5.f);
    std::vector<double> dzr;
    const double l = CrossEntropy(z.data(), rows, classes, classes, labels.data(), -100, 0.5f, dz.data(), classes, pool, cpu::DetectIsa());
    const double lr = ref::CrossEntropyRef(z.data(), rows, classes, labels.data(), -100, 0.5, &dzr);
    // exp in float32 (~2e-7 relative), sums in float64.
    CHECK(std::fabs(l - lr) <= 1e-6 * (1 + std::fabs(lr)), "cross-entropy loss %g vs %g", l, lr);
    double worst, sc;
    Diff(dz.data(), dzr.data(), rows * classes, &worst, &sc);
    CHECK(worst <= 1e-7, "cross-entropy grad %g", worst);
  }
  {
    std::vector<int32_t> all(4, -100);
    auto z = Random(8);
    std::vector<float> dz(8);
    CHECK(std::isnan(CrossEntropy(z.data(), 4, 2, 2, all.data(), -100, 1.f, dz.data(), 2, pool, cpu::DetectIsa())), "all ignored must be NaN");
  }
  const int64_t n = 21;
  auto x = Random(n, -6.f, 6.f), y = Random(n, 0.f, 1.f);
  std::vector<float> dx(n);
  std::vector<double> dxr;
  double l = MseLoss(x.data(), y.data(), n, 1.f, dx.data());
  double lr = ref::MseRef(x.data(), y.data(), n, 1.0, &dxr);
  double worst, sc;
  Diff(dx.data(), dxr.data(), n, &worst, &sc);
  CHECK(std::fabs(l - lr) < 1e-9 && worst < 1e-7, "mse %g vs %g, grad %g", l, lr, worst);
  for (auto& v : y) v = v < 0.5f ? 0.f : 1.f;
  l = BceWithLogits(x.data(), y.data(), n, 1.f, dx.data());
  lr = ref::BceRef(x.data(), y.data(), n, 1.0, &dxr);
  Diff(dx.data(), dxr.data(), n, &worst, &sc);
  CHECK(std::fabs(l - lr) < 1e-9 && worst < 1e-7, "bce %g vs %g, grad %g", l, lr, worst);
}

// ---- optimizer ----
void TestOptimizer(cpu::ThreadPool* pool, cpu::Isa isa) {
  const int64_t n = 1037;
  auto p = Random(n), g = Random(n, -1e-3f, 1e-3f);
  std::vector<float> m(n, 0.f), v(n, 0.f);
  std::vector<double> pr(p.begin(), p.end()), gr(g.begin(), g.end()), mr(n, 0), vr(n, 0);
  AdamWArgs a;
  a.lr = 1e-3f;
  a.weight_decay = 0.01f;
  for (int step = 1; step <= 5; ++step) {
    a.step = step;
    a.grad_scale = step == 3 ? 0.37f : 1.f;  // a clipped step
    AdamW(p.data(), g.data(), m.data(), v.data(), n, a, isa, pool);
    ref::AdamWRef(&pr, gr, &mr, &vr, a);
  }
  double worst, sc;
  Diff(p.data(), pr.data(), n, &worst, &sc);
  CHECK(worst <= 1e-6, "adamw params %g", worst);
  const double ss = SumSquares(g.data(), n, pool);
  double want = 0;
  for (double x : gr) want += x * x;
  CHECK(std::fabs(ss - want) <= 1e-6 * want, "sum of squares %g vs %g", ss, want);
}

// ---- the whole model ----

struct RandomModel {
  ModelConfig config;
  std::map<std::string, std::vector<float>> tensors;
  std::vector<TensorView> Views() const {
    std::vector<TensorView> v;
    for (const auto& [name, data] : tensors) {
      TensorView t;
      t.name = name;
      t.dtype = DType::kF32;
      for (const auto& [n, d] : ExpectedTensors(config))
        if (n == name) t.dims = d;
      t.data = data.data();
      t.nbytes = data.size() * 4;
      v.push_back(t);
    }
    return v;
  }
};

RandomModel MakeModel(Architecture arch, Activation act, bool tie, int layers) {
  RandomModel m;
  ModelConfig& c = m.config;
  c.architecture = arch;
  c.vocab_size = 23;
  c.hidden_size = 12;
  c.num_hidden_layers = layers;
  c.num_attention_heads = 3;
  c.intermediate_size = 17;
  c.max_position_embeddings = 16;
  c.type_vocab_size = 2;
  c.num_labels = 3;
  c.layer_norm_eps = 1e-12;
  c.hidden_act = act;
  c.tie_word_embeddings = tie;
  for (const auto& [name, dims] : ExpectedTensors(c)) {
    int64_t n = 1;
    for (int64_t d : dims) n *= d;
    const bool ln_weight = name.find("LayerNorm.weight") != std::string::npos;
    m.tensors[name] = ln_weight ? Random(n, 0.7f, 1.3f) : Random(n, -0.5f, 0.5f);
  }
  return m;
}

struct Batch {
  std::vector<int32_t> ids, types, cu;
  std::vector<uint8_t> mask;
  std::vector<int32_t> labels, start, end, nsp;
  std::vector<float> float_labels;
  BatchInput View() const {
    BatchInput in;
    in.input_ids = ids.data();
    in.num_tokens = static_cast<int64_t>(ids.size());
    in.cu_seqlens = cu.data();
    in.num_sequences = static_cast<int64_t>(cu.size()) - 1;
    in.token_type_ids = types.data();
    in.attention_mask = mask.empty() ? nullptr : mask.data();
    return in;
  }
};

void CheckModel(Architecture arch, Activation act, bool tie, ProblemType problem, float dropout, const char* what, int layers = 2) {
  RandomModel rm = MakeModel(arch, act, tie, layers);
  const ModelConfig& c = rm.config;
  TrainOptions opts;
  opts.threads = 3;
  opts.pad_token_id = 0;
  opts.hidden_dropout_prob = dropout;
  opts.attention_probs_dropout_prob = dropout;
  opts.classifier_dropout_prob = dropout;
  opts.seed = 99;
  std::unique_ptr<TrainableModel> model;
  Status s = CreateTrainableModel(c, rm.Views(), opts, &model);
  CHECK(s.ok(), "%s: create: %s", what, s.message().c_str());
  if (!s.ok()) return;

  Batch b;
  const std::vector<int32_t> lens = arch == Architecture::kBertForMultipleChoice ? std::vector<int32_t>{5, 7, 3, 6} : std::vector<int32_t>{7, 3, 9};
  b.cu = {0};
  std::uniform_int_distribution<int> vid(1, static_cast<int>(c.vocab_size) - 1);
  for (int32_t l : lens) {
    for (int32_t j = 0; j < l; ++j) {
      b.ids.push_back(j == l - 1 && l > 4 ? 0 : vid(rng));  // a [PAD] token as query-only padding
      b.types.push_back(j > l / 2);
      b.mask.push_back(j == l - 1 && l > 4 ? 0 : 1);
    }
    b.cu.push_back(b.cu.back() + l);
  }
  const int64_t T = b.ids.size(), B = lens.size();
  std::uniform_int_distribution<int> cls(0, 2), vocab(0, static_cast<int>(c.vocab_size) - 1);
  TrainLabels lb;
  lb.problem_type = problem;
  switch (arch) {
    case Architecture::kBertForSequenceClassification:
      if (problem == ProblemType::kSingleLabel) {
        for (int64_t s = 0; s < B; ++s) b.labels.push_back(cls(rng));
      } else {
        for (int64_t i = 0; i < B * c.num_labels; ++i) b.float_labels.push_back(problem == ProblemType::kMultiLabel ? (i % 3 == 0) : Random(1)[0]);
      }
      break;
    case Architecture::kBertForMultipleChoice: b.labels = {1, 0}; lb.num_choices = 2; break;
    case Architecture::kBertForNextSentencePrediction: for (int64_t s = 0; s < B; ++s) b.labels.push_back(s % 2); break;
    case Architecture::kBertForTokenClassification: for (int64_t t = 0; t < T; ++t) b.labels.push_back(t % 3 == 0 ? -100 : cls(rng)); break;
    case Architecture::kBertForMaskedLM:
    case Architecture::kBertForPreTraining:
      for (int64_t t = 0; t < T; ++t) b.labels.push_back(t % 3 == 1 ? vocab(rng) : -100);
      b.nsp = {1, 0, 1};
      break;
    case Architecture::kBertForQuestionAnswering: b.start = {2, 0, 40}; b.end = {5, -3, 8}; break;
    default: break;
  }
  lb.labels = b.labels.empty() ? nullptr : b.labels.data();
  lb.labels_size = b.labels.size();
  lb.float_labels = b.float_labels.empty() ? nullptr : b.float_labels.data();
  lb.float_labels_size = b.float_labels.size();
  lb.start_positions = b.start.empty() ? nullptr : b.start.data();
  lb.end_positions = b.end.empty() ? nullptr : b.end.data();
  lb.positions_size = b.start.size();
  lb.next_sentence_label = b.nsp.empty() ? nullptr : b.nsp.data();
  lb.next_sentence_label_size = b.nsp.size();

  uint64_t seed, counter;
  model->GetRngState(&seed, &counter);
  LossParts loss;
  const BatchInput in = b.View();
  s = model->ComputeGradients(in, lb, GradientOptions{}, TrainOutputs{}, &loss);
  CHECK(s.ok(), "%s: gradients: %s", what, s.message().c_str());
  if (!s.ok()) return;

  std::map<std::string, std::vector<double>> params;
  for (const auto& [name, data] : rm.tensors) params[name] = std::vector<double>(data.begin(), data.end());
  ref::RefDropout rd;
  rd.hidden = rd.attention = rd.classifier = dropout;
  rd.seed = seed;
  rd.counter = counter;
  const double want = ref::ModelLossRef(c, params, in, lb, 0, rd);
  // float32 forward vs float64: relative ~1e-6; a wrong op is O(1).
  CHECK(std::fabs(loss.loss - want) <= 2e-5 * (1 + std::fabs(want)), "%s: loss %.9g vs reference %.9g", what, loss.loss, want);

  // Central differences of the float64 loss (eps 1e-6: truncation ~eps^2, rounding ~1e-16/eps,
  // both < 1e-9) on 3 entries of every tensor (its largest |g| and two random). The float32
  // gradient errs by ~1e-6 of the largest gradient G (the fixtures' float32-vs-float64 figures),
  // so |g - fd| <= 2e-4 * G + 1e-4 * |fd| separates rounding from any wrong term.
  double G = 0;
  std::map<std::string, std::vector<float>> grads;
  for (int64_t i = 0; i < model->NumParameters(); ++i) {
    const ParameterInfo& p = model->Parameter(i);
    std::vector<float> g(p.numel);
    (void)model->ReadGradient(i, g.data(), p.numel);
    for (float x : g) G = std::max<double>(G, std::fabs(x));
    grads[p.name] = std::move(g);
  }
  CHECK(G > 0, "%s: all gradients are zero", what);
  int bad = 0;
  for (auto& [name, g] : grads) {
    std::vector<int64_t> picks;
    picks.push_back(std::max_element(g.begin(), g.end(), [](float a, float b2) { return std::fabs(a) < std::fabs(b2); }) - g.begin());
    std::uniform_int_distribution<int64_t> any(0, static_cast<int64_t>(g.size()) - 1);
    picks.push_back(any(rng));
    picks.push_back(any(rng));
    if (name == "embeddings.word_embeddings.weight") picks.push_back(3);  // row 0 ([PAD]): padding_idx
    for (int64_t idx : picks) {
      if (name == "embeddings.word_embeddings.weight" && idx < c.hidden_size && !(arch == Architecture::kBertForMaskedLM || arch == Architecture::kBertForPreTraining)) {
        // padding_idx: the lookup gives row 0 no gradient even though [PAD] tokens are used.
        CHECK(g[idx] == 0.f, "%s: padding row got gradient %g", what, g[idx]);
        continue;
      }
      auto& v = params[name][idx];
      const double orig = v;
      const double eps = 1e-6;
      v = orig + eps;
      const double lp = ref::ModelLossRef(c, params, in, lb, 0, rd);
      v = orig - eps;
      const double lm = ref::ModelLossRef(c, params, in, lb, 0, rd);
      v = orig;
      double fd = (lp - lm) / (2 * eps);
      if (name == "embeddings.word_embeddings.weight" && idx < c.hidden_size) {
        // The [PAD] row: the float64 loss sees the lookup too; only the decoder part is a gradient.
        continue;
      }
      const double err = std::fabs(g[idx] - fd);
      if (!(err <= 2e-4 * G + 1e-4 * std::fabs(fd)) && bad++ < 5) {
        CHECK(false, "%s: d loss / d %s[%ld] = %.8g, finite difference %.8g (G %g)", what, name.c_str(), (long)idx, g[idx], fd, G);
      } else {
        ++g_checks;
      }
    }
  }

  // The same batch with the last layer on every row: the same gradients up to float32 rounding
  // (the kept rows are summed in other orders; a wrong or missing term would differ by O(G)).
  {
    std::unique_ptr<TrainableModel> full;
    s = CreateTrainableModel(c, rm.Views(), opts, &full);
    GradientOptions every_row;
    every_row.last_layer_head_rows = false;
    LossParts full_loss;
    if (s.ok()) s = full->ComputeGradients(in, lb, every_row, TrainOutputs{}, &full_loss);
    CHECK(s.ok(), "%s: every row: %s", what, s.message().c_str());
    double worst = 0;
    for (int64_t i = 0; i < full->NumParameters() && s.ok(); ++i) {
      const ParameterInfo& p = full->Parameter(i);
      std::vector<float> g(p.numel);
      (void)full->ReadGradient(i, g.data(), p.numel);
      for (int64_t j = 0; j < p.numel; ++j) worst = std::max<double>(worst, std::fabs(g[j] - grads[p.name][j]));
    }
    CHECK(worst <= 1e-5 * G && std::fabs(full_loss.loss - loss.loss) <= 1e-6 * (1 + std::fabs(loss.loss)),
          "%s: last layer on every row vs kept rows: gradients differ by %g (G %g), loss %.9g vs %.9g", what, worst, G,
          full_loss.loss, loss.loss);
  }

  // The same batch with 1 thread: bit-identical gradients.
  std::unique_ptr<TrainableModel> single;
  TrainOptions o1 = opts;
  o1.threads = 1;
  s = CreateTrainableModel(c, rm.Views(), o1, &single);
  if (s.ok()) s = single->ComputeGradients(in, lb, GradientOptions{}, TrainOutputs{}, &loss);
  CHECK(s.ok(), "%s: single thread: %s", what, s.message().c_str());
  bool same = true;
  for (int64_t i = 0; i < single->NumParameters() && s.ok(); ++i) {
    const ParameterInfo& p = single->Parameter(i);
    std::vector<float> g(p.numel);
    (void)single->ReadGradient(i, g.data(), p.numel);
    same &= std::memcmp(g.data(), grads[p.name].data(), p.numel * 4) == 0;
  }
  CHECK(same, "%s: gradients differ between 1 and 3 threads", what);
}

void TestModel() {
  CheckModel(Architecture::kBertForSequenceClassification, Activation::kGelu, true, ProblemType::kSingleLabel, 0.f, "seqcls single");
  CheckModel(Architecture::kBertForSequenceClassification, Activation::kGeluTanh, true, ProblemType::kRegression, 0.f, "seqcls regression");
  CheckModel(Architecture::kBertForSequenceClassification, Activation::kRelu, true, ProblemType::kMultiLabel, 0.f, "seqcls multi-label");
  CheckModel(Architecture::kBertForSequenceClassification, Activation::kGelu, true, ProblemType::kSingleLabel, 0.2f, "seqcls dropout");
  // One layer: the last layer (run on the pooled rows) is also the first, fed by the embeddings.
  CheckModel(Architecture::kBertForSequenceClassification, Activation::kGelu, true, ProblemType::kSingleLabel, 0.2f, "seqcls 1 layer", 1);
  CheckModel(Architecture::kBertForTokenClassification, Activation::kGelu, true, ProblemType::kSingleLabel, 0.f, "tokcls");
  CheckModel(Architecture::kBertForTokenClassification, Activation::kGelu, true, ProblemType::kSingleLabel, 0.15f, "tokcls dropout");
  CheckModel(Architecture::kBertForQuestionAnswering, Activation::kGelu, true, ProblemType::kSingleLabel, 0.f, "qa");
  CheckModel(Architecture::kBertForMaskedLM, Activation::kGelu, true, ProblemType::kSingleLabel, 0.f, "mlm tied");
  CheckModel(Architecture::kBertForMaskedLM, Activation::kGeluTanh, false, ProblemType::kSingleLabel, 0.f, "mlm untied");
  CheckModel(Architecture::kBertForNextSentencePrediction, Activation::kGelu, true, ProblemType::kSingleLabel, 0.f, "nsp");
  CheckModel(Architecture::kBertForPreTraining, Activation::kGelu, true, ProblemType::kSingleLabel, 0.f, "pretraining");
  CheckModel(Architecture::kBertForPreTraining, Activation::kGelu, true, ProblemType::kSingleLabel, 0.1f, "pretraining dropout");
  CheckModel(Architecture::kBertForMultipleChoice, Activation::kGelu, true, ProblemType::kSingleLabel, 0.f, "multiple choice");

}

}  // namespace

int main() {
  const cpu::Isa isa = cpu::DetectIsa();
  std::printf("test_train: isa %s\n", cpu::IsaName(isa));
  cpu::ThreadPool one(1), three(3);
  for (cpu::ThreadPool* pool : {&one, &three}) {
    TestGemm(pool, isa);
    TestGemmActivation(pool, isa);
    TestLayerNorm(pool);
    TestActivations(pool, isa);
    TestAttention(pool, isa);
    TestAttentionRows(pool, isa);
    TestEmbeddings(pool);
    TestLosses(pool);
    TestOptimizer(pool, isa);
  }
  TestDropout();
  TestModel();
  std::printf("test_train: %lld checks, %d failures\n", static_cast<long long>(g_checks), g_failures);
  return g_failures == 0 ? 0 : 1;
}
