// Linear layers: y[m, n] = act(x[m, :] . W[n, :] + bias[n]) (+ residual[m, n]), the weight in
// PyTorch's [out_features, in_features] layout, pre-packed once at load into column panels the
// micro-kernel streams. The reference is cpu/ref/reference.h (LinearRef).
#pragma once

#include <cstdint>
#include <memory>

#include "cpu/cpu_features.h"
#include "cpu/thread_pool.h"

namespace bertkit::cpu {

// 64-byte aligned float storage (one cache line, one AVX-512 vector).
struct AlignedFloats {
  struct Free {
    void operator()(float* p) const;
  };
  std::unique_ptr<float, Free> ptr;
  int64_t size = 0;
  float* data() const { return ptr.get(); }
  // Returns false when the allocation fails.
  bool Allocate(int64_t n);
};

enum class Epilogue : int {
  kNone = 0,
  kGelu,      // exact erf GELU
  kGeluTanh,  // tanh approximation
  kRelu,
  kTanh,      // the pooler
};

// W [n, k] packed into ceil(n / nr) panels of k x nr floats (zero-padded columns), nr chosen for
// the ISA that will run it.
struct PackedWeight {
  AlignedFloats data;
  int64_t n = 0;
  int64_t k = 0;
  int nr = 0;
  Isa isa = Isa::kGeneric;
  int64_t bytes() const { return data.size * static_cast<int64_t>(sizeof(float)); }
};

// Packs W [n, k] given as n row pointers (row j = output feature j), panels split over the pool's
// threads. Returns false when memory runs out.
bool PackWeight(const float* const* rows, int64_t n, int64_t k, Isa isa, PackedWeight* out, ThreadPool* pool = nullptr);
// The same for a contiguous row-major W.
bool PackWeight(const float* w, int64_t n, int64_t k, Isa isa, PackedWeight* out, ThreadPool* pool = nullptr);

// Row `row` of a packed W (k floats, stride nr apart): lets a tied embedding table be stored
// once, packed for the MLM decoder, and still be gathered from.
inline const float* PackedRow(const PackedWeight& w, int64_t row) {
  return w.data.data() + (row / w.nr) * w.k * w.nr + row % w.nr;
}

struct LinearArgs {
  const float* x = nullptr;        // [m, k], row stride ldx
  int64_t ldx = 0;
  int64_t m = 0;
  const PackedWeight* w = nullptr;
  const float* bias = nullptr;     // [n] or null
  const float* residual = nullptr; // [m, n] row stride ldr, added after the activation; or null
  int64_t ldr = 0;
  Epilogue epilogue = Epilogue::kNone;
  float* y = nullptr;              // [m, n], row stride ldy
  int64_t ldy = 0;
};

void Linear(const LinearArgs& args, ThreadPool* pool);

}  // namespace bertkit::cpu
