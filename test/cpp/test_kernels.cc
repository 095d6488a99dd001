// Every fast CPU kernel against its scalar reference (native/cpu/ref) on random, odd-sized
// inputs, with 1 and several threads. The ISA under test is whatever BERTKIT_ISA selects (CTest
// runs this binary once per ISA; an ISA the machine lacks falls back to the best it has).
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <map>
#include <new>
#include <random>
#include <string>
#include <vector>

#include "bertkit/engine.h"
#include "core/batch_plan.h"
#include "core/bert_weights.h"
#include "core/convert.h"
#include "cpu/cpu_features.h"
#include "cpu/gemm.h"
#include "cpu/kernels.h"
#include "cpu/ref/reference.h"
#include "cpu/simd.h"
#include "cpu/thread_pool.h"
#include "check.h"

#if defined(__linux__)
#include <sched.h>
#endif

using namespace bertkit;
using namespace bertkit::cpu;

namespace {

using ::bertkit::testing::g_checks;
using ::bertkit::testing::g_failures;

std::mt19937 rng(1234);

std::vector<float> Random(int64_t n, float lo = -1.f, float hi = 1.f) { return testing::RandomFloats(rng, n, lo, hi); }

// GEMM: float32 accumulation over k terms errs by about sqrt(k) * 2^-24 * sum|x_i w_i| for
// random signs (k * 2^-24 * ... in the worst case); 1e-6 * sqrt(k) * scale covers it with room,
// while a wrong index or a dropped tail term errs by ~scale / k or more.
void TestLinear(ThreadPool* pool, Isa isa) {
  const int64_t ms[] = {1, 2, 5, 7, 13, 37, 130};
  const int64_t ns[] = {1, 3, 17, 33, 65, 100};
  const int64_t ks[] = {1, 7, 64, 129};
  const Epilogue eps[] = {Epilogue::kNone, Epilogue::kGelu, Epilogue::kGeluTanh, Epilogue::kRelu, Epilogue::kTanh};
  int combo = 0;
  for (int64_t m : ms)
    for (int64_t n : ns)
      for (int64_t k : ks) {
        const Epilogue e = eps[combo % 5];
        const bool with_residual = combo % 3 == 0;
        const bool with_bias = combo % 4 != 1;
        ++combo;
        auto x = Random(m * k), w = Random(n * k), b = Random(n), r = Random(m * n);
        PackedWeight pw;
        CHECK(PackWeight(w.data(), n, k, isa, &pw), "pack");
        std::vector<float> y(m * n, 7.f), yref(m * n);
        LinearArgs a;
        a.x = x.data();
        a.ldx = k;
        a.m = m;
        a.w = &pw;
        a.bias = with_bias ? b.data() : nullptr;
        a.residual = with_residual ? r.data() : nullptr;
        a.ldr = n;
        a.epilogue = e;
        a.y = y.data();
        a.ldy = n;
        Linear(a, pool);
        ref::LinearRef(x.data(), m, k, w.data(), n, a.bias, a.residual, e, yref.data());
        double worst = 0;
        for (int64_t i = 0; i < m; ++i)
          for (int64_t j = 0; j < n; ++j) {
            double scale = with_bias ? std::fabs(b[j]) : 0.0;
            for (int64_t c = 0; c < k; ++c) scale += std::fabs(x[i * k + c] * w[j * k + c]);
            const double err = std::fabs(y[i * n + j] - yref[i * n + j]);
            worst = std::max(worst, err / (1e-6 * std::sqrt(static_cast<double>(k)) * (scale + 1.0)));
          }
        CHECK(worst <= 1.0, "Linear m=%lld n=%lld k=%lld epilogue=%d: error %.3g x tolerance", (long long)m, (long long)n,
              (long long)k, (int)e, worst);
      }
}

// bf16 and int8 GEMMs against references that quantize the same way (rounding to bf16; per
// channel / per row int8). bf16 products are exact in fp32, so the only error is the fp32
// accumulation, bounded as for the float32 GEMM. int8 dot products are exact integers; the
// dequantization adds a few ulp: 1e-6 relative to the magnitude of the terms.
// Packing from a row source (rows read on demand, a panel per call, from several threads) gives
// the same bytes as packing from memory, in every format; a failing source makes PackWeight fail.
void TestPackFromSource(ThreadPool* pool, Isa isa) {
  std::vector<WeightFormat> formats = {WeightFormat::kF32};
  if (isa == Isa::kAvx512 && SupportsFormat(WeightFormat::kBF16)) formats.push_back(WeightFormat::kBF16);
  if (isa == Isa::kAvx512 && SupportsFormat(WeightFormat::kInt8)) formats.push_back(WeightFormat::kInt8);
  for (WeightFormat f : formats)
    for (int64_t n : {1, 63, 64, 65, 200})
      for (int64_t k : {1, 7, 129}) {
        const auto w = Random(n * k);
        PackedWeight a, b;
        CHECK(PackWeight(w.data(), n, k, isa, &a, pool, f), "pack from memory");
        std::atomic<int64_t> rows_read{0};
        const RowSource source = [&](int64_t row0, int64_t count, float* dst) {
          std::memcpy(dst, w.data() + row0 * k, static_cast<size_t>(count * k) * sizeof(float));
          rows_read += count;
          return true;
        };
        CHECK(PackWeight(source, n, k, isa, &b, pool, f), "pack from a source");
        CHECK(rows_read.load() == n, "every row read once (n=%lld: %lld)", (long long)n, (long long)rows_read.load());
        bool same = a.bytes() == b.bytes() && a.kpad == b.kpad;
        const int64_t panels = (n + a.nr - 1) / a.nr;
        if (same && f == WeightFormat::kF32) same = std::memcmp(a.f32.data(), b.f32.data(), panels * a.kpad * a.nr * 4) == 0;
        if (same && f == WeightFormat::kBF16) same = std::memcmp(a.bf16.data(), b.bf16.data(), panels * a.kpad * a.nr * 2) == 0;
        if (same && f == WeightFormat::kInt8) {
          same = std::memcmp(a.int8.data(), b.int8.data(), panels * a.kpad * a.nr) == 0 &&
                 std::memcmp(a.scale.data(), b.scale.data(), panels * a.nr * 4) == 0 &&
                 std::memcmp(a.colsum.data(), b.colsum.data(), panels * a.nr * 4) == 0;
        }
        CHECK(same, "PackWeight from a source == from memory (%s, n=%lld, k=%lld)", WeightFormatName(f), (long long)n, (long long)k);
        PackedWeight c;
        const RowSource failing = [&](int64_t row0, int64_t, float*) { return row0 == 0; };
        CHECK(n <= a.nr || !PackWeight(failing, n, k, isa, &c, pool, f), "a failing source fails the packing");
      }
}

void TestLinearQuantized(ThreadPool* pool) {
  const int64_t ms[] = {1, 5, 13, 37};
  const int64_t ns[] = {1, 17, 65, 130};
  const int64_t ks[] = {1, 3, 7, 64, 129};
  for (WeightFormat f : {WeightFormat::kBF16, WeightFormat::kInt8}) {
    if (!SupportsFormat(f)) {
      std::printf("%s GEMM not tested: this CPU (or BERTKIT_ISA) lacks the instructions\n", WeightFormatName(f));
      continue;
    }
    int combo = 0;
    for (int64_t m : ms)
      for (int64_t n : ns)
        for (int64_t k : ks) {
          const Epilogue e = combo % 2 ? Epilogue::kGelu : Epilogue::kNone;
          const bool with_residual = combo % 3 == 0;
          ++combo;
          auto x = Random(m * k, -2.f, 3.f), w = Random(n * k), b = Random(n), r = Random(m * n);
          PackedWeight pw;
          CHECK(PackWeight(w.data(), n, k, Isa::kAvx512, &pw, pool, f), "pack");
          std::vector<uint8_t> scratch(LinearScratchBytes(m, pw) + 64);
          std::vector<float> y(m * n, 7.f), yref(m * n);
          LinearArgs a;
          a.x = x.data();
          a.ldx = k;
          a.m = m;
          a.w = &pw;
          a.bias = b.data();
          a.residual = with_residual ? r.data() : nullptr;
          a.ldr = n;
          a.epilogue = e;
          a.y = y.data();
          a.ldy = n;
          a.scratch = reinterpret_cast<void*>((reinterpret_cast<uintptr_t>(scratch.data()) + 63) / 64 * 64);
          Linear(a, pool);
          if (f == WeightFormat::kBF16) {
            ref::LinearBf16Ref(x.data(), m, k, w.data(), n, b.data(), a.residual, e, yref.data());
          } else {
            ref::LinearInt8Ref(x.data(), m, k, w.data(), n, b.data(), a.residual, e, yref.data());
          }
          double worst = 0;
          for (int64_t i = 0; i < m; ++i)
            for (int64_t j = 0; j < n; ++j) {
              double scale = std::fabs(b[j]) + 1.0;
              for (int64_t c = 0; c < k; ++c) scale += std::fabs(x[i * k + c] * w[j * k + c]);
              worst = std::max(worst, std::fabs(y[i * n + j] - yref[i * n + j]) / (1e-6 * std::sqrt(static_cast<double>(k)) * scale));
            }
          CHECK(worst <= 1.0, "%s Linear m=%lld n=%lld k=%lld: error %.3g x tolerance", WeightFormatName(f), (long long)m,
                (long long)n, (long long)k, worst);
        }
  }
  // The packer's int8 quantization is the reference's, value for value.
  if (SupportsFormat(WeightFormat::kInt8)) {
    const int64_t n = 70, k = 37;
    auto w = Random(n * k);
    PackedWeight pw;
    PackWeight(w.data(), n, k, Isa::kAvx512, &pw, nullptr, WeightFormat::kInt8);
    std::vector<int8_t> q(n * k);
    std::vector<float> s(n);
    ref::QuantizeWeightsRef(w.data(), n, k, q.data(), s.data());
    int bad = 0;
    for (int64_t j = 0; j < n; ++j) {
      bad += pw.scale.data()[j] != s[j];
      for (int64_t c = 0; c < k; ++c) {
        const int64_t p = j / pw.nr, jj = j % pw.nr;
        bad += pw.int8.data()[p * pw.kpad * pw.nr + ((c / 4) * pw.nr + jj) * 4 + c % 4] != q[j * k + c];
      }
    }
    CHECK(bad == 0, "int8 packing differs from the reference quantization in %d values", bad);
    auto x = Random(k, -3.f, 1.f);
    std::vector<uint8_t> qa(k + 3), qb(k);
    float sa, sb;
    int32_t za, zb;
    RowQuant rq = QuantizeRow(x.data(), k, k + 3, qa.data());
    ref::QuantizeRowRef(x.data(), k, qb.data(), &sb, &zb);
    sa = rq.scale;
    za = rq.zero_point;
    CHECK(sa == sb && za == zb && std::equal(qb.begin(), qb.end(), qa.begin()), "row quantization differs from the reference");
  }
}

// The vectorized math against std:: in double on a dense grid. Bounds: exp 3e-7 relative (the
// polynomial is ~1.5 ulp); GELU/tanh 2e-7 absolute + 2e-7 relative (float32 rounding of the
// inputs dominates); the erf/tanh GELU variants differ by up to 5e-4, far above these bounds.
void TestMath() {
  using V = simd::f32x4;
  double worst_exp = 0, worst_gelu = 0, worst_gelu_tanh = 0, worst_tanh = 0;
  for (float x = -20.f; x <= 20.f; x += 0.00731f) {
    V v = simd::Splat<V>(x);
    const double e = std::exp(static_cast<double>(x));
    if (x > -80.f) worst_exp = std::max(worst_exp, std::fabs(simd::Exp<V>(v)[0] - e) / e);
    worst_gelu = std::max(worst_gelu, std::fabs(simd::GeluErf<V>(v)[0] - ref::Activate(x, Epilogue::kGelu)) /
                                          (2e-7 + 2e-7 * std::fabs(x)));
    worst_gelu_tanh = std::max(worst_gelu_tanh, std::fabs(simd::GeluTanh<V>(v)[0] - ref::Activate(x, Epilogue::kGeluTanh)) /
                                                    (2e-7 + 2e-7 * std::fabs(x)));
    worst_tanh = std::max(worst_tanh, std::fabs(simd::Tanh<V>(v)[0] - std::tanh(static_cast<double>(x))) /
                                          (2e-7 + 2e-7 * std::fabs(std::tanh(static_cast<double>(x)))));
  }
  CHECK(worst_exp <= 3e-7, "Exp relative error %.3g", worst_exp);
  CHECK(worst_gelu <= 1.0, "GeluErf error %.3g x bound", worst_gelu);
  CHECK(worst_gelu_tanh <= 1.0, "GeluTanh error %.3g x bound", worst_gelu_tanh);
  CHECK(worst_tanh <= 1.0, "Tanh error %.3g x bound", worst_tanh);
  // Saturation, not inf/nan, at the extremes.
  CHECK(std::isfinite(simd::Exp<V>(simd::Splat<V>(1000.f))[0]), "Exp(1000) finite");
  CHECK(simd::Exp<V>(simd::Splat<V>(-1000.f))[0] < 1e-37f, "Exp(-1000) ~ 0");
  CHECK(simd::GeluErf<V>(simd::Splat<V>(-1000.f))[0] == 0.f || std::fabs(simd::GeluErf<V>(simd::Splat<V>(-1000.f))[0]) < 1e-30f,
        "GeluErf(-1000) ~ 0");
  CHECK(simd::GeluErf<V>(simd::Splat<V>(1000.f))[0] == 1000.f, "GeluErf(1000) = 1000");
}

// LayerNorm in float32: relative error of the normalized value ~ sqrt(n) ulp; 2e-6 absolute on
// outputs of magnitude ~2 leaves room, while an eps of 1e-5 instead of 1e-12 moves them ~1e-5
// for these unit-variance rows... so also check a case with tiny variance where eps dominates.
void TestLayerNorm(ThreadPool* pool) {
  for (int64_t h : {1, 7, 64, 100, 768}) {
    const int64_t rows = 19;
    auto x = Random(rows * h, -3.f, 5.f), g = Random(h, 0.5f, 1.5f), b = Random(h);
    std::vector<float> ref_out(rows * h), y = x;
    LayerNormRows(y.data(), rows, h, h, g.data(), b.data(), 1e-12f, pool);
    ref::LayerNormRef(x.data(), rows, h, g.data(), b.data(), 1e-12, ref_out.data());
    double worst = 0;
    for (int64_t i = 0; i < rows * h; ++i) worst = std::max(worst, static_cast<double>(std::fabs(y[i] - ref_out[i])));
    CHECK(worst <= (h == 1 ? 1e-6 : 2e-6), "LayerNorm h=%lld error %.3g", (long long)h, worst);
  }
}

void TestEmbeddings(ThreadPool* pool) {
  const int64_t V = 53, P = 40, TV = 3, H = 37, T = 71;
  auto word = Random(V * H), pos = Random(P * H), type = Random(TV * H), g = Random(H, 0.5f, 1.5f), b = Random(H);
  std::vector<int32_t> ids(T), types(T), positions(T);
  for (int64_t t = 0; t < T; ++t) {
    ids[t] = static_cast<int32_t>(rng() % V);
    types[t] = static_cast<int32_t>(rng() % TV);
    positions[t] = static_cast<int32_t>(rng() % P);
  }
  std::vector<float> out(T * H), ref_out(T * H);
  EmbeddingsArgs a{ids.data(), types.data(), positions.data(), T, H, word.data(), nullptr, pos.data(), type.data(), g.data(), b.data(), 1e-12f, out.data()};
  Embeddings(a, pool);
  a.out = ref_out.data();
  ref::EmbeddingsRef(a);
  double worst = 0;
  for (int64_t i = 0; i < T * H; ++i) worst = std::max(worst, static_cast<double>(std::fabs(out[i] - ref_out[i])));
  CHECK(worst <= 2e-6, "Embeddings error %.3g", worst);
  // Gathering the word rows from the packed (tied decoder) layout gives the same bits.
  PackedWeight packed;
  CHECK(PackWeight(word.data(), V, H, DetectIsa(), &packed), "pack");
  std::vector<float> from_packed(T * H);
  EmbeddingsArgs gathered = a;
  gathered.word_embeddings = nullptr;
  gathered.word_packed = &packed;
  gathered.out = from_packed.data();
  Embeddings(gathered, pool);
  CHECK(from_packed == out, "Embeddings from the packed table differ");
}

// Attention: scores are dot products of length head_dim (float32 error ~1e-7 relative), the
// softmax and weighted sum add a few ulp; 2e-6 absolute on outputs of magnitude ~1. A dropped
// mask or a wrong scale errs by ~1e-1.
void TestAttention(ThreadPool* pool, Isa isa) {
  struct Case {
    std::vector<int32_t> lengths;
    int heads, head_dim;
    bool mask;
  };
  const Case cases[] = {
      {{1}, 1, 16, false},       {{5, 17, 1, 64}, 3, 16, true}, {{33, 2}, 4, 12, true},
      {{130}, 2, 64, true},      {{9, 9, 9}, 5, 7, false},      {{200, 3}, 1, 32, true},
  };
  for (const Case& c : cases) {
    std::vector<int32_t> cu = {0};
    for (int32_t n : c.lengths) cu.push_back(cu.back() + n);
    const int64_t T = cu.back(), B = c.lengths.size(), H = c.heads * c.head_dim;
    auto qkv = Random(T * 3 * H, -2.f, 2.f);
    std::vector<uint8_t> mask(T, 1);
    if (c.mask) {
      for (int64_t t = 0; t < T; ++t) mask[t] = (rng() % 4) != 0;
      // One sequence with no key at all: uniform attention.
      if (B > 1) for (int32_t t = cu[B - 1]; t < cu[B]; ++t) mask[t] = 0;
    }
    int64_t max_len = 0, probs_total = 0;
    std::vector<int64_t> offsets;
    for (int32_t n : c.lengths) {
      max_len = std::max<int64_t>(max_len, n);
      offsets.push_back(probs_total);
      probs_total += static_cast<int64_t>(c.heads) * n * n;
    }
    std::vector<float> ctx(T * H, 9.f), ctx_ref(T * H), probs(probs_total, 9.f), probs_ref(probs_total);
    std::vector<float> scratch(pool->size() * AttentionScratchFloats(max_len, c.head_dim));
    AttentionArgs a{qkv.data(), T, cu.data(), B, c.mask ? mask.data() : nullptr, c.heads, c.head_dim,
                    1.0f / std::sqrt(static_cast<float>(c.head_dim)), ctx.data(), probs.data(), offsets.data(), scratch.data(), max_len};
    Attention(a, isa, pool);
    a.context = ctx_ref.data();
    a.probs = probs_ref.data();
    ref::AttentionRef(a);
    double worst = 0, worst_p = 0;
    for (int64_t i = 0; i < T * H; ++i) worst = std::max(worst, static_cast<double>(std::fabs(ctx[i] - ctx_ref[i])));
    for (int64_t i = 0; i < probs_total; ++i) worst_p = std::max(worst_p, static_cast<double>(std::fabs(probs[i] - probs_ref[i])));
    CHECK(worst <= 2e-6, "Attention context error %.3g (heads %d, dim %d)", worst, c.heads, c.head_dim);
    CHECK(worst_p <= 1e-6, "Attention probs error %.3g", worst_p);
  }
}

void TestThreadPool() {
  for (int threads : {1, 2, 3, 8}) {
    ThreadPool pool(threads);
    for (int64_t n : {1, 2, 7, 1000}) {
      std::vector<int> hits(n, 0);
      pool.ParallelFor(n, [&](int64_t t, int thread) {
        hits[t] += 1;
        if (thread < 0 || thread >= pool.size()) hits[t] += 100;
      });
      bool ok = true;
      for (int h : hits) ok &= h == 1;
      CHECK(ok, "ThreadPool threads=%d n=%lld: each task exactly once", threads, (long long)n);
    }
    // A throwing task (on whichever thread) reaches the caller after the job, as an exception of
    // the caller's thread; the other tasks still run and the pool keeps working.
    std::vector<int> hits(100, 0);
    bool caught = false;
    try {
      pool.ParallelFor(100, [&](int64_t t, int) {
        if (t % 7 == 3) throw std::bad_alloc();
        hits[t] += 1;
      });
    } catch (const std::bad_alloc&) {
      caught = true;
    }
    int ran = 0;
    for (int h : hits) ran += h;
    CHECK(caught && ran == 100 - 14, "ThreadPool threads=%d: exception rethrown on the caller (%d), others ran (%d)", threads, caught, ran);
    std::atomic<int> after{0};
    pool.ParallelFor(50, [&](int64_t, int) { after += 1; });
    CHECK(after.load() == 50, "ThreadPool threads=%d: usable after an exception", threads);
  }
}

#if defined(__linux__)
// A worker that finds itself on the caller's CPU moves away (ThreadPool::Spread) and keeps the
// affinity mask it had: the pool never pins. Forced here: the caller is pinned to one CPU and
// every worker is moved onto it; the next job must run its worker tasks elsewhere, and every
// thread must end with the mask it started with.
void TestThreadPoolSpreads() {
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
  // A test of the scheduler's placement, not of memory or races: under a sanitizer's slowdown
  // the load balancer may move the worker back before the job ends. The plain build runs it.
  std::printf("skip: ThreadPool spread under a sanitizer\n");
  return;
#endif
  cpu_set_t all;
  if (sched_getaffinity(0, sizeof all, &all) != 0 || CPU_COUNT(&all) < 2) {
    std::printf("skip: ThreadPool spread needs 2 CPUs\n");
    return;
  }
  int c = 0;
  while (!CPU_ISSET(c, &all)) ++c;
  cpu_set_t one;
  CPU_ZERO(&one);
  CPU_SET(c, &one);
  ThreadPool pool(2);
  auto spin = [] {
    const auto until = std::chrono::steady_clock::now() + std::chrono::microseconds(200);
    while (std::chrono::steady_clock::now() < until) {
    }
  };
  CHECK(sched_setaffinity(0, sizeof one, &one) == 0, "pin the caller");
  // Job 1: workers go to the caller's CPU (narrow, then restore: they stay there).
  pool.ParallelFor(64, [&](int64_t, int thread) {
    if (thread != 0 && sched_getcpu() != c) {
      sched_setaffinity(0, sizeof one, &one);
      sched_setaffinity(0, sizeof all, &all);
    }
    spin();
  });
  std::vector<int> cpu(64, -1), who(64, -1), mask_ok(64, 1);
  pool.ParallelFor(64, [&](int64_t t, int thread) {
    who[t] = thread;
    cpu[t] = sched_getcpu();
    cpu_set_t now;
    mask_ok[t] = sched_getaffinity(0, sizeof now, &now) == 0 && (thread == 0 || CPU_EQUAL(&now, &all));
    spin();
  });
  CHECK(sched_setaffinity(0, sizeof all, &all) == 0, "unpin the caller");
  int worker_tasks = 0, moved = 0, masks = 0;
  for (int t = 0; t < 64; ++t) {
    masks += mask_ok[t];
    if (who[t] == 0) continue;
    ++worker_tasks;
    moved += cpu[t] != c;
  }
  CHECK(worker_tasks > 0 && moved == worker_tasks, "ThreadPool: worker left the caller's CPU (%d of %d tasks)", moved,
        worker_tasks);
  CHECK(masks == 64, "ThreadPool: every thread keeps its affinity mask");
}
#else
void TestThreadPoolSpreads() {}
#endif

void TestConvert() {
  // Exhaustive: every half converts to the float with the same value (checked via the formula).
  int bad = 0;
  for (uint32_t h = 0; h < 65536; ++h) {
    const float f = F16ToF32(static_cast<uint16_t>(h));
    const int exp = (h >> 10) & 31, mant = h & 1023;
    const double sign = (h & 0x8000) ? -1.0 : 1.0;
    if (exp == 31) {
      bad += mant == 0 ? !(std::isinf(f) && (f < 0) == (sign < 0)) : !std::isnan(f);
      continue;
    }
    const double want = exp == 0 ? sign * std::ldexp(mant, -24) : sign * std::ldexp(1024 + mant, exp - 25);
    bad += static_cast<double>(f) != want;
  }
  CHECK(bad == 0, "F16ToF32: %d wrong values", bad);
  CHECK(Bf16ToF32(0x3f80) == 1.0f && Bf16ToF32(0xc000) == -2.0f, "Bf16ToF32");
}

void TestValidation() {
  // A tiny model with random weights: every bad batch gets a status, never a crash.
  ModelConfig c;
  c.architecture = Architecture::kBertForQuestionAnswering;
  c.vocab_size = 11;
  c.hidden_size = 8;
  c.num_hidden_layers = 1;
  c.num_attention_heads = 2;
  c.intermediate_size = 5;
  c.max_position_embeddings = 6;
  c.type_vocab_size = 2;
  std::vector<std::vector<float>> storage;
  std::vector<TensorView> views;
  for (const auto& [name, dims] : ExpectedTensors(c)) {
    int64_t n = 1;
    for (int64_t d : dims) n *= d;
    storage.push_back(Random(n));
    views.push_back({name, DType::kF32, dims, storage.back().data(), static_cast<size_t>(n) * 4});
  }
  std::unique_ptr<Model> model;
  Status s = CreateCpuModel(c, views, EngineOptions{2}, &model);
  CHECK(s.ok(), "CreateCpuModel: %s", s.message().c_str());
  if (!model) return;
  std::vector<int32_t> ids = {1, 2, 3, 4}, cu = {0, 3, 4};
  std::vector<float> start(4), end(4);
  BatchInput in;
  in.input_ids = ids.data();
  in.num_tokens = 4;
  in.cu_seqlens = cu.data();
  in.num_sequences = 2;
  ForwardOutputs out;
  out.start_logits = {start.data(), 4};
  out.end_logits = {end.data(), 4};
  CHECK(model->Forward(in, out).ok(), "good batch");
  ids[2] = 11;
  CHECK(model->Forward(in, out).code() == StatusCode::kOutOfRange, "id >= vocab");
  ids[2] = -1;
  CHECK(model->Forward(in, out).code() == StatusCode::kOutOfRange, "negative id");
  ids[2] = 3;
  cu = {0, 4, 4};
  CHECK(model->Forward(in, out).code() == StatusCode::kInvalidArgument, "empty sequence");
  cu = {0, 3, 5};
  CHECK(model->Forward(in, out).code() == StatusCode::kInvalidArgument, "cu_seqlens beyond tokens");
  cu = {0, 3, 4};
  out.start_logits.size = 3;
  CHECK(model->Forward(in, out).code() == StatusCode::kInvalidArgument, "output buffer too small");
  out.start_logits.size = 4;
  std::vector<int32_t> long_ids(7, 1), long_cu = {0, 7};
  BatchInput too_long = in;
  too_long.input_ids = long_ids.data();
  too_long.num_tokens = 7;
  too_long.cu_seqlens = long_cu.data();
  too_long.num_sequences = 1;
  std::vector<float> s7(7), e7(7);
  ForwardOutputs out7;
  out7.start_logits = {s7.data(), 7};
  CHECK(model->Forward(too_long, out7).code() == StatusCode::kOutOfRange, "longer than max_position_embeddings");
  // Wrong shape at load.
  views[0].dims = {11, 9};
  std::unique_ptr<Model> bad;
  CHECK(CreateCpuModel(c, views, EngineOptions{1}, &bad).code() == StatusCode::kInvalidArgument, "wrong shape at load");
}

// The model description: the parameter list every backend loads (names and order are API: the
// trainer's parameters() lists them so), the batch plan, and what the description can say that
// the engine does not run yet.
void TestDescription() {
  ModelConfig c;
  c.architecture = Architecture::kBertForPreTraining;
  c.vocab_size = 13;
  c.hidden_size = 8;
  c.num_hidden_layers = 2;
  c.num_attention_heads = 2;
  c.intermediate_size = 5;
  c.max_position_embeddings = 10;
  c.type_vocab_size = 2;
  c.tie_word_embeddings = false;
  CHECK(c.Validate().ok(), "valid config");
  const auto t = ExpectedTensors(c);
  std::vector<std::string> names;
  for (const auto& [n, d] : t) names.push_back(n);
  const std::vector<std::string> head = {"embeddings.word_embeddings.weight", "embeddings.position_embeddings.weight",
                                         "embeddings.token_type_embeddings.weight", "embeddings.LayerNorm.weight",
                                         "embeddings.LayerNorm.bias", "encoder.layer.0.attention.self.query.weight",
                                         "encoder.layer.0.attention.self.query.bias", "encoder.layer.0.attention.self.key.weight"};
  const std::vector<std::string> tail = {"pooler.dense.weight", "pooler.dense.bias", "cls.predictions.transform.dense.weight",
                                         "cls.predictions.transform.dense.bias", "cls.predictions.transform.LayerNorm.weight",
                                         "cls.predictions.transform.LayerNorm.bias", "cls.predictions.bias",
                                         "cls.predictions.decoder.weight", "cls.seq_relationship.weight", "cls.seq_relationship.bias"};
  CHECK(names.size() == 5 + 2 * 16 + tail.size(), "PreTraining tensor count %zu", names.size());
  CHECK(std::equal(head.begin(), head.end(), names.begin()), "tensor order: embeddings, then query weight, query bias, ...");
  CHECK(std::equal(tail.begin(), tail.end(), names.end() - tail.size()), "tensor order: pooler, MLM head, seq_relationship");
  CHECK(t[5].second == std::vector<int64_t>({8, 8}) && t.back().second == std::vector<int64_t>({2}), "shapes");
  c.architecture = Architecture::kBertForMultipleChoice;
  CHECK(ExpectedTensors(c).back().first == "classifier.bias" && ExpectedTensors(c).back().second == std::vector<int64_t>({1}),
        "multiple choice: classifier [1, H]");
  CHECK(c.Validate().ok() && SpecOf(c).pooler && SpecOf(c).linear != nullptr, "multiple choice head");

  // Batch plan: default positions 0..n-1 per sequence; offsets of each sequence's probabilities.
  c.architecture = Architecture::kBertForMaskedLM;
  std::vector<int32_t> ids = {1, 1, 1, 1, 0, 11, 12, 2, 3, 1, 4}, cu = {0, 8, 11};
  BatchInput in;
  in.input_ids = ids.data();
  in.num_tokens = 11;
  in.cu_seqlens = cu.data();
  in.num_sequences = 2;
  BatchPlan plan;
  PlanBatch(c, in, &plan);
  const std::vector<int32_t> bert_pos = {0, 1, 2, 3, 4, 5, 6, 7, 0, 1, 2};
  CHECK(std::equal(bert_pos.begin(), bert_pos.end(), plan.position_ids), "BERT positions");
  CHECK(plan.max_len == 8 && plan.probs_offsets[1] == 2 * 64 && plan.probs_per_layer == 2 * (64 + 9), "probs offsets");
  CHECK(plan.R() == 11 && plan.mlm_every_token, "MLM rows: every token");
  // RoBERTa's positions from the ids (padding_idx 1): transformers' create_position_ids_from_input_ids,
  // the example of shared/fixtures/variants/README.md (left padding: ids 1 1 1 1 0 ... -> 1 1 1 1 2 3 4 5).
  c.embeddings.padding_idx = 1;
  CHECK(c.Validate().ok() && c.MaxSequenceLength() == 8, "padding_idx positions are implemented");
  PlanBatch(c, in, &plan);
  const std::vector<int32_t> roberta_pos = {1, 1, 1, 1, 2, 3, 4, 5, 2, 1, 3};
  CHECK(std::equal(roberta_pos.begin(), roberta_pos.end(), plan.position_ids), "RoBERTa positions");
  // Given positions win; labelled MLM rows; logits_tokens win over labels.
  std::vector<int32_t> given(11, 0), labels(11, -100), picked = {7, 2};
  labels[3] = 5;
  labels[9] = 0;
  in.position_ids = given.data();
  PlanBatch(c, in, &plan);
  CHECK(plan.position_ids == given.data(), "given positions");
  PlanMlmRows(c, in, labels.data(), -100, false, &plan);
  CHECK(plan.R() == 2 && plan.mlm_rows[0] == 3 && plan.mlm_rows[1] == 9 && !plan.mlm_every_token, "labelled MLM rows");
  in.logits_tokens = picked.data();
  in.num_logits_tokens = 2;
  PlanMlmRows(c, in, labels.data(), -100, false, &plan);
  CHECK(plan.R() == 2 && plan.mlm_rows[0] == 7 && plan.mlm_rows[1] == 2, "logits_tokens rows, in order");
  in.logits_tokens = nullptr;
  in.num_logits_tokens = 0;
  in.position_ids = nullptr;
  // The rows the last layer must keep: first tokens for a pooled head, none for a per-token head.
  c.embeddings.padding_idx = -1;
  c.architecture = Architecture::kBertForSequenceClassification;
  c.num_labels = 3;
  std::vector<int64_t> rows;
  PlanBatch(c, in, &plan);
  PlanHeadRows(c, in, plan, &rows);
  CHECK(rows == std::vector<int64_t>({0, 8}), "pooled head rows");
  c.architecture = Architecture::kBertForTokenClassification;
  PlanHeadRows(c, in, plan, &rows);
  CHECK(rows.empty(), "token head reads every row");

  // The CPU engine runs every family's description; the backends with BERT's graph only (the
  // CUDA backend, the trainer) refuse the other parts by name.
  CHECK(RequireBertGraph(c, "x").ok(), "BERT's description is BERT's graph");
  ModelConfig d = c;
  d.embeddings.token_type_embeddings = false;
  Status s = d.Validate();
  CHECK(s.ok(), "no token types is valid: %s", s.message().c_str());
  s = RequireBertGraph(d, "the CUDA backend");
  CHECK(s.code() == StatusCode::kUnavailable && s.message().find("token types") != std::string::npos, "no token types: %s",
        s.message().c_str());
  d = c;
  d.embeddings.embedding_size = 4;
  CHECK(d.Validate().ok() && !RequireBertGraph(d, "x").ok(), "embeddings projection: valid, not BERT's graph");
  d = c;
  d.sharing.num_hidden_groups = 3;
  CHECK(!d.Validate().ok(), "more groups than layers");
  d.sharing.num_hidden_groups = 1;
  CHECK(d.Validate().ok() && !RequireBertGraph(d, "x").ok(), "shared layers: valid, not BERT's graph");
  d = c;
  d.architecture = Architecture::kBertForSequenceClassification;
  d.own_dense = true;
  CHECK(d.Validate().ok() && !RequireBertGraph(d, "x").ok(), "own classification dense");
  d.architecture = Architecture::kBertForTokenClassification;
  CHECK(!d.Validate().ok(), "own dense on a token head is refused");

  // ALBERT's sharing: transformers' AlbertTransformer runs group int(i / (layers / groups)) at
  // layer i, each group's inner layers in turn; hidden states are reported per application.
  d = c;
  d.num_hidden_layers = 6;
  d.sharing.num_hidden_groups = 4;
  d.sharing.inner_group_num = 2;
  CHECK(d.Validate().ok() && NumLayerApplications(d) == 12 && NumLayerWeights(d) == 8, "ALBERT applications / weight sets");
  // groups at layers 0..5: int(i / 1.5) = 0 0 1 2 2 3
  const std::vector<int64_t> weight_sets = {0, 1, 0, 1, 2, 3, 4, 5, 4, 5, 6, 7};
  bool same = true;
  for (int64_t j = 0; j < 12; ++j) same = same && LayerWeightIndex(d, j) == weight_sets[j];
  CHECK(same, "ALBERT layer -> weight set");
  // The factorized embeddings: tables [V, E], LayerNorm E, a projection E -> H; the MLM transform H -> E.
  d = c;
  d.architecture = Architecture::kAlbertForMaskedLM;
  d.family = Family::kAlbert;
  d.embeddings.embedding_size = 4;
  d.tie_word_embeddings = true;
  const auto albert = ExpectedTensors(d);
  auto shape = [&](const std::string& n) {
    for (const auto& [name, dims] : albert)
      if (name == n) return dims;
    return std::vector<int64_t>{};
  };
  CHECK(shape("embeddings.word_embeddings.weight") == std::vector<int64_t>({13, 4}) &&
            shape("embeddings.LayerNorm.weight") == std::vector<int64_t>({4}) &&
            shape("embeddings_project.weight") == std::vector<int64_t>({8, 4}) &&
            shape("cls.predictions.transform.dense.weight") == std::vector<int64_t>({4, 8}) &&
            shape("cls.predictions.transform.LayerNorm.weight") == std::vector<int64_t>({4}) &&
            shape("cls.predictions.decoder.weight").empty(),
        "factorized embeddings and the E-sized MLM transform, decoder tied");
  // ELECTRA's discriminator: its own dense then a [1, H] linear on every token, logits [T].
  d = c;
  d.architecture = Architecture::kElectraForPreTraining;
  CHECK(!d.Validate().ok(), "the discriminator needs its own dense");
  d.own_dense = true;
  d.own_dense_act = d.hidden_act;
  CHECK(d.Validate().ok() && SpecOf(d).per_token && HeadLinearWidth(d) == 1 && !UsesPooler(d), "discriminator head");
  CHECK(ExpectedTensors(d).back().first == "classifier.bias" && ExpectedTensors(d).back().second == std::vector<int64_t>({1}),
        "discriminator: classifier [1, H] after classifier.dense");
}

// A padding_idx model runs on the CPU engine with the positions the plan makes: the same outputs
// as the same batch with those positions given.
void TestPaddingIdxPositions() {
  ModelConfig c;
  c.architecture = Architecture::kBertModel;
  c.vocab_size = 11;
  c.hidden_size = 8;
  c.num_hidden_layers = 1;
  c.num_attention_heads = 2;
  c.intermediate_size = 5;
  c.max_position_embeddings = 9;
  c.type_vocab_size = 1;
  c.embeddings.padding_idx = 1;
  std::vector<std::vector<float>> storage;
  std::vector<TensorView> views;
  for (const auto& [name, dims] : ExpectedTensors(c)) {
    int64_t n = 1;
    for (int64_t d : dims) n *= d;
    storage.push_back(Random(n));
    views.push_back({name, DType::kF32, dims, storage.back().data(), static_cast<size_t>(n) * 4});
  }
  std::unique_ptr<Model> model;
  Status s = CreateCpuModel(c, views, EngineOptions{2}, &model);
  CHECK(s.ok(), "CreateCpuModel (padding_idx): %s", s.message().c_str());
  if (!model) return;
  std::vector<int32_t> ids = {1, 0, 5, 7, 2, 0, 9}, cu = {0, 5, 7}, pos = {1, 2, 3, 4, 5, 2, 3};
  BatchInput in;
  in.input_ids = ids.data();
  in.num_tokens = 7;
  in.cu_seqlens = cu.data();
  in.num_sequences = 2;
  std::vector<float> a(7 * 8), b(7 * 8);
  ForwardOutputs out;
  out.last_hidden_state = {a.data(), 7 * 8};
  CHECK(model->Forward(in, out).ok(), "forward with derived positions");
  in.position_ids = pos.data();
  out.last_hidden_state = {b.data(), 7 * 8};
  CHECK(model->Forward(in, out).ok(), "forward with given positions");
  CHECK(a == b, "derived RoBERTa positions = given ones");
  // 9 positions - (padding_idx + 1) = 7 tokens at most.
  std::vector<int32_t> long_ids(8, 3), long_cu = {0, 8};
  BatchInput too_long;
  too_long.input_ids = long_ids.data();
  too_long.num_tokens = 8;
  too_long.cu_seqlens = long_cu.data();
  too_long.num_sequences = 1;
  std::vector<float> c8(8 * 8);
  ForwardOutputs out8;
  out8.last_hidden_state = {c8.data(), 8 * 8};
  CHECK(model->Forward(too_long, out8).code() == StatusCode::kOutOfRange, "longer than the positions after padding_idx");
}

// The families' structure against BERT's graph on the same numbers: ALBERT's shared layers are
// BERT with the shared weights repeated (hidden states per application), and a model without
// token types is BERT with a zero token type table.
void TestFamilyStructure() {
  ModelConfig shared;
  shared.architecture = Architecture::kAlbertModel;
  shared.family = Family::kAlbert;
  shared.vocab_size = 11;
  shared.hidden_size = 8;
  shared.num_hidden_layers = 2;
  shared.num_attention_heads = 2;
  shared.intermediate_size = 5;
  shared.max_position_embeddings = 9;
  shared.type_vocab_size = 2;
  shared.sharing.num_hidden_groups = 1;
  shared.sharing.inner_group_num = 2;
  ModelConfig plain = shared;
  plain.architecture = Architecture::kBertModel;
  plain.family = Family::kBert;
  plain.sharing = LayerSharing{};
  plain.num_hidden_layers = 4;  // 2 layers x 2 inner applications
  std::map<std::string, std::vector<float>> values;
  auto views_for = [&](const ModelConfig& c) {
    std::vector<TensorView> views;
    for (const auto& [name, dims] : ExpectedTensors(c)) {
      int64_t n = 1;
      for (int64_t d : dims) n *= d;
      // encoder.layer.{2,3} of the plain model are the shared set's layers {0,1} again.
      std::string key = name;
      if (key.rfind("encoder.layer.", 0) == 0) {
        const int64_t layer = std::stoll(key.substr(14));
        key = "encoder.layer." + std::to_string(layer % 2) + key.substr(key.find('.', 14));
      }
      auto& v = values[key];
      if (v.empty()) v = Random(n);
      views.push_back({name, DType::kF32, dims, v.data(), static_cast<size_t>(n) * 4});
    }
    return views;
  };
  std::unique_ptr<Model> a, b;
  Status s = CreateCpuModel(shared, views_for(shared), EngineOptions{2}, &a);
  CHECK(s.ok(), "shared-layer model: %s", s.message().c_str());
  s = CreateCpuModel(plain, views_for(plain), EngineOptions{2}, &b);
  CHECK(s.ok(), "plain model: %s", s.message().c_str());
  if (!a || !b) return;
  std::vector<int32_t> ids = {2, 5, 7, 3, 1, 9, 4}, cu = {0, 4, 7};
  BatchInput in;
  in.input_ids = ids.data();
  in.num_tokens = 7;
  in.cu_seqlens = cu.data();
  in.num_sequences = 2;
  const OutputSizes sizes = a->Sizes(in);
  CHECK(sizes.hidden_states == 5 * 7 * 8, "hidden states per application: %lld", static_cast<long long>(sizes.hidden_states));
  std::vector<float> ha(sizes.hidden_states), hb(sizes.hidden_states);
  ForwardOutputs oa, ob;
  oa.hidden_states = {ha.data(), sizes.hidden_states};
  ob.hidden_states = {hb.data(), sizes.hidden_states};
  CHECK(a->Forward(in, oa).ok() && b->Forward(in, ob).ok(), "forwards");
  CHECK(ha == hb, "shared layers = BERT with the weights repeated");

  // No token types = a zero token type table (and given token types are ignored).
  ModelConfig none = plain;
  none.num_hidden_layers = 1;
  none.type_vocab_size = 1;
  none.embeddings.token_type_embeddings = false;
  ModelConfig zero = none;
  zero.embeddings.token_type_embeddings = true;
  values.clear();
  std::unique_ptr<Model> c, z;
  CHECK(CreateCpuModel(none, views_for(none), EngineOptions{1}, &c).ok(), "model without token types");
  std::vector<TensorView> zv = views_for(zero);
  std::vector<float> zeros(8, 0.f);
  for (auto& v : zv)
    if (v.name == "embeddings.token_type_embeddings.weight") v.data = zeros.data();
  CHECK(CreateCpuModel(zero, zv, EngineOptions{1}, &z).ok(), "model with a zero token type table");
  if (!c || !z) return;
  std::vector<int32_t> types(7, 5);  // out of range for a table, ignored without one
  in.token_type_ids = types.data();
  std::vector<float> lc(7 * 8), lz(7 * 8);
  ForwardOutputs outc, outz;
  outc.last_hidden_state = {lc.data(), 7 * 8};
  outz.last_hidden_state = {lz.data(), 7 * 8};
  CHECK(c->Forward(in, outc).ok(), "token types ignored without a table");
  in.token_type_ids = nullptr;
  CHECK(z->Forward(in, outz).ok(), "zero table forward");
  CHECK(lc == lz, "no token types = zero token type table");
}

}  // namespace

int main() {
  const Isa isa = DetectIsa();
  std::printf("kernels under test: %s (cpu: %s)\n", IsaName(isa), CpuFeatureString().c_str());
  TestMath();
  TestConvert();
  TestThreadPool();
  TestThreadPoolSpreads();
  for (int threads : {1, 3}) {
    ThreadPool pool(threads);
    TestLinear(&pool, isa);
    TestLinearQuantized(&pool);
    TestPackFromSource(&pool, isa);
    TestLayerNorm(&pool);
    TestEmbeddings(&pool);
    TestAttention(&pool, isa);
  }
  TestValidation();
  TestDescription();
  TestPaddingIdxPositions();
  TestFamilyStructure();
  std::printf("%lld checks, %d failures\n", static_cast<long long>(g_checks), g_failures);
  return g_failures == 0 ? 0 : 1;
}
