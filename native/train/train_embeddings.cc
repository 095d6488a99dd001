// Training kernels: the embeddings' sum of lookups, and its backward scattered into the tables
// row by row in token order.
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

void EmbeddingsSum(const int32_t* ids, const int32_t* types, const int32_t* positions, int64_t tokens, int64_t h,
                   const float* word, const float* position, const float* type, float* out, cpu::ThreadPool* pool) {
  const int64_t block = 16;
  pool->ParallelFor((tokens + block - 1) / block, [&](int64_t task, int) {
    const int64_t t1 = std::min(tokens, (task + 1) * block);
    for (int64_t t = task * block; t < t1; ++t) {
      const float* w = word + static_cast<int64_t>(ids[t]) * h;
      const float* p = position + static_cast<int64_t>(positions[t]) * h;
      float* o = out + t * h;
      if (type == nullptr) {  // a family without token types (DistilBERT)
        for (int64_t c = 0; c < h; ++c) o[c] = w[c] + p[c];
        continue;
      }
      const float* tt = type + (types ? static_cast<int64_t>(types[t]) : 0) * h;
      for (int64_t c = 0; c < h; ++c) o[c] = (w[c] + tt[c]) + p[c];
    }
  });
}

namespace {
// Adds d[t] into table row key(t) for every token, grouping tokens by row (sorted by row, then
// token) so that each row is one task and sums its tokens in token order.
template <class Key>
void ScatterRows(const float* d, int64_t tokens, int64_t h, float* table, Key key, cpu::ThreadPool* pool) {
  std::vector<std::pair<int64_t, int64_t>> order;
  order.reserve(tokens);
  for (int64_t t = 0; t < tokens; ++t) {
    const int64_t r = key(t);
    if (r >= 0) order.push_back({r, t});
  }
  std::sort(order.begin(), order.end());
  std::vector<int64_t> starts;
  for (size_t i = 0; i < order.size(); ++i)
    if (i == 0 || order[i].first != order[i - 1].first) starts.push_back(static_cast<int64_t>(i));
  starts.push_back(static_cast<int64_t>(order.size()));
  pool->ParallelFor(static_cast<int64_t>(starts.size()) - 1, [&](int64_t g, int) {
    float* row = table + order[starts[g]].first * h;
    for (int64_t i = starts[g]; i < starts[g + 1]; ++i) {
      const float* src = d + order[i].second * h;
      for (int64_t c = 0; c < h; ++c) row[c] += src[c];
    }
  });
}
}  // namespace

void EmbeddingsBackward(const float* d, const int32_t* ids, const int32_t* types, const int32_t* positions, int64_t tokens,
                        int64_t h, int64_t padding_idx, float* dword, float* dposition, float* dtype, cpu::ThreadPool* pool) {
  ScatterRows(d, tokens, h, dword, [&](int64_t t) -> int64_t { return ids[t] == padding_idx ? -1 : ids[t]; }, pool);
  ScatterRows(d, tokens, h, dposition, [&](int64_t t) -> int64_t { return positions[t]; }, pool);
  if (dtype != nullptr) ScatterRows(d, tokens, h, dtype, [&](int64_t t) -> int64_t { return types ? types[t] : 0; }, pool);
}

}  // namespace bertkit::train
