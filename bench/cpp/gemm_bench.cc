// bertkit's Linear against OpenBLAS sgemm on BERT-base's GEMM shapes, same inputs, same threads,
// alternating, medians. OpenBLAS is loaded at run time (dlopen), so nothing links against it:
// install it (Debian: libopenblas0-pthread) to get the comparison. Note the environment variable
// OPENBLAS_CORETYPE: Haswell forces OpenBLAS's AVX2 kernels (unset it to let it pick AVX-512).
//   gemm_bench [threads] [repeats] [m] [shape]   -> one JSON line per shape (m, shape: only those)
// NO_BLAS=1 skips OpenBLAS (bertkit alone, e.g. to study the thread pool).
#include <dlfcn.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "cpu/cpu_features.h"
#include "cpu/gemm.h"

using namespace bertkit::cpu;

namespace {

using SgemmFn = void (*)(int, int, int, int, int, int, float, const float*, int, const float*, int, float, float*, int);
using SetThreadsFn = void (*)(int);
constexpr int kRowMajor = 101, kNoTrans = 111, kTrans = 112;

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  const int threads = argc > 1 ? std::atoi(argv[1]) : AvailableCores();
  const int repeats = argc > 2 ? std::atoi(argv[2]) : 7;
  void* blas = std::getenv("NO_BLAS") ? nullptr : dlopen("libopenblas.so.0", RTLD_NOW | RTLD_LOCAL);
  SgemmFn sgemm = blas ? reinterpret_cast<SgemmFn>(dlsym(blas, "cblas_sgemm")) : nullptr;
  auto set_threads = blas ? reinterpret_cast<SetThreadsFn>(dlsym(blas, "openblas_set_num_threads")) : nullptr;
  if (set_threads) set_threads(threads);
  const int64_t only_m = argc > 3 ? std::atoll(argv[3]) : 0;
  const std::string only_shape = argc > 4 ? argv[4] : "";
  const char* core = std::getenv("OPENBLAS_CORETYPE");
  ThreadPool pool(threads);

  struct Shape {
    const char* name;
    int64_t n, k;
  } shapes[] = {{"qkv", 2304, 768}, {"attn_out", 768, 768}, {"ffn_up", 3072, 768}, {"ffn_down", 768, 3072}};
  std::mt19937 rng(7);
  std::uniform_real_distribution<float> d(-1, 1);
  for (int64_t m : {128, 1024, 4096}) {
    if (only_m && m != only_m) continue;
    for (const Shape& s : shapes) {
      if (!only_shape.empty() && only_shape != s.name) continue;
      std::vector<float> x(m * s.k), w(s.n * s.k), bias(s.n, 0.f), y(m * s.n), yb(m * s.n);
      for (auto& v : x) v = d(rng);
      for (auto& v : w) v = d(rng);
      PackedWeight pw;
      PackWeight(w.data(), s.n, s.k, DetectIsa(), &pw, &pool);
      LinearArgs a;
      a.x = x.data();
      a.ldx = s.k;
      a.m = m;
      a.w = &pw;
      a.bias = bias.data();
      a.y = y.data();
      a.ldy = s.n;
      auto run_ours = [&] { Linear(a, &pool); };
      auto run_blas = [&] {
        sgemm(kRowMajor, kNoTrans, kTrans, static_cast<int>(m), static_cast<int>(s.n), static_cast<int>(s.k), 1.f, x.data(),
              static_cast<int>(s.k), w.data(), static_cast<int>(s.k), 0.f, yb.data(), static_cast<int>(s.n));
      };
      // Each timed call follows an untimed one of the same library, as inside a forward pass where
      // kernels run back to back: both libraries' worker threads are awake, and what is measured
      // is the GEMM, not how fast a sleeping vCPU wakes up.
      auto time = [](auto&& f) {
        f();
        auto t0 = std::chrono::steady_clock::now();
        f();
        return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      };
      run_ours();
      if (sgemm) run_blas();
      std::vector<double> ours, theirs;
      // Alternate, so drift hits both alike; pause between the two, because each library's idle
      // threads spin for a while after a call (OpenBLAS: 2^28 cycles, ~100 ms) and would take the
      // core the other one needs.
      auto settle = [] { std::this_thread::sleep_for(std::chrono::milliseconds(300)); };
      for (int r = 0; r < repeats; ++r) {
        settle();
        ours.push_back(time(run_ours));
        if (sgemm) {
          settle();
          theirs.push_back(time(run_blas));
        }
      }
      const double flops = 2.0 * m * s.n * s.k;
      const double g_ours = flops / Median(ours) / 1e9;
      if (sgemm) {
        const double g_blas = flops / Median(theirs) / 1e9;
        std::printf("{\"m\": %lld, \"shape\": \"%s\", \"n\": %lld, \"k\": %lld, \"bertkit_gflops\": %.1f, \"openblas_gflops\": %.1f, \"ratio\": %.2f, \"openblas_coretype\": \"%s\"}\n",
                    (long long)m, s.name, (long long)s.n, (long long)s.k, g_ours, g_blas, g_ours / g_blas, core ? core : "auto");
      } else {
        std::printf("{\"m\": %lld, \"shape\": \"%s\", \"n\": %lld, \"k\": %lld, \"bertkit_gflops\": %.1f, \"openblas\": \"not installed\"}\n",
                    (long long)m, s.name, (long long)s.n, (long long)s.k, g_ours);
      }
      std::fflush(stdout);
    }
  }
  return 0;
}
