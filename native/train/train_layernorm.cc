// Training kernels: LayerNorm forward (xhat and rstd kept) and backward, and the column sums of
// bias gradients, which share its fixed-chunk reduction (deterministic for any thread count).
#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <numeric>
#include <utility>
#include <vector>

#include "train/train_kernels_internal.h"

namespace bertkit::train {

using namespace kernels;

int64_t ColumnChunks(int64_t rows) { return std::max<int64_t>(1, std::min<int64_t>(32, (rows + 31) / 32)); }
int64_t ColumnScratchFloats(int64_t rows, int64_t cols) { return ColumnChunks(rows) * cols; }

namespace {
// Reduces partials [chunks][cols] into out (+=), in chunk order.
void ReducePartials(const float* partials, int64_t chunks, int64_t cols, float* out, cpu::ThreadPool* pool) {
  const int64_t block = 256;
  pool->ParallelFor((cols + block - 1) / block, [&](int64_t task, int) {
    const int64_t c1 = std::min(cols, (task + 1) * block);
    for (int64_t c = task * block; c < c1; ++c) {
      float s = 0.f;
      for (int64_t k = 0; k < chunks; ++k) s += partials[k * cols + c];
      out[c] += s;
    }
  });
}
}  // namespace

void ColumnSumAccumulate(const float* x, int64_t rows, int64_t cols, int64_t ld, float* out, cpu::ThreadPool* pool,
                         float* partials) {
  if (rows <= 0) return;
  const int64_t chunks = ColumnChunks(rows);
  const int64_t per = (rows + chunks - 1) / chunks;
  pool->ParallelFor(chunks, [&](int64_t c, int) {
    float* acc = partials + c * cols;
    std::fill(acc, acc + cols, 0.f);
    const int64_t r1 = std::min(rows, (c + 1) * per);
    for (int64_t r = c * per; r < r1; ++r) {
      const float* row = x + r * ld;
      for (int64_t j = 0; j < cols; ++j) acc[j] += row[j];
    }
  });
  ReducePartials(partials, chunks, cols, out, pool);
}

void LayerNormForward(const float* x, int64_t rows, int64_t h, const float* gamma, const float* beta, float eps, float* y,
                      float* xhat, float* rstd, cpu::ThreadPool* pool) {
  const int64_t block = 16;
  pool->ParallelFor((rows + block - 1) / block, [&](int64_t task, int) {
    const int64_t r1 = std::min(rows, (task + 1) * block);
    for (int64_t r = task * block; r < r1; ++r) {
      const float* xr = x + r * h;
      const RowStats st = MeanRstd(xr, h, eps);  // as the inference kernel
      const float mean = st.mean, inv = st.rstd;
      rstd[r] = inv;
      float* xh = xhat + r * h;
      float* yr = y + r * h;
      for (int64_t i = 0; i < h; ++i) {
        const float v = (xr[i] - mean) * inv;
        xh[i] = v;
        yr[i] = v * gamma[i] + beta[i];
      }
    }
  });
}

void LayerNormBackward(const float* dy, const float* xhat, const float* rstd, const float* gamma, int64_t rows, int64_t h,
                       float* dx, float* dgamma, float* dbeta, cpu::ThreadPool* pool, float* partials) {
  if (rows <= 0) return;
  const int64_t chunks = ColumnChunks(rows);
  const int64_t per = (rows + chunks - 1) / chunks;
  pool->ParallelFor(chunks, [&](int64_t c, int) {
    float* pg = partials + c * 2 * h;
    float* pb = pg + h;
    std::fill(pg, pg + 2 * h, 0.f);
    const int64_t r1 = std::min(rows, (c + 1) * per);
    for (int64_t r = c * per; r < r1; ++r) {
      const float* dyr = dy + r * h;
      const float* xh = xhat + r * h;
      for (int64_t i = 0; i < h; ++i) {
        pg[i] += dyr[i] * xh[i];
        pb[i] += dyr[i];
      }
      // The two row sums with 8-wide partial sums (see LayerNormForward).
      using V = f32x8;
      constexpr int L = 8;
      V a1 = V{}, a2 = V{};
      int64_t i = 0;
      for (; i + L <= h; i += L) {
        const V g = Load<V>(dyr + i) * Load<V>(gamma + i);
        a1 += g;
        a2 += g * Load<V>(xh + i);
      }
      float s1 = ReduceAdd(a1), s2 = ReduceAdd(a2);
      for (; i < h; ++i) {
        const float g = dyr[i] * gamma[i];
        s1 += g;
        s2 += g * xh[i];
      }
      const float m1 = s1 / static_cast<float>(h), m2 = s2 / static_cast<float>(h);
      const float inv = rstd[r];
      float* dxr = dx + r * h;
      for (int64_t i = 0; i < h; ++i) dxr[i] = inv * (dyr[i] * gamma[i] - m1 - xh[i] * m2);
    }
  });
  // partials rows are [dgamma | dbeta] of 2h columns.
  std::vector<float> both(2 * h, 0.f);
  ReducePartials(partials, chunks, 2 * h, both.data(), pool);
  for (int64_t i = 0; i < h; ++i) {
    dgamma[i] += both[i];
    dbeta[i] += both[h + i];
  }
}

}  // namespace bertkit::train
