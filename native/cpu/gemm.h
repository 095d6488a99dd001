// Linear layers: y[m, n] = act(x[m, :] . W[n, :] + bias[n]) (+ residual[m, n]), the weight in
// PyTorch's [out_features, in_features] layout, pre-packed once at load into column panels the
// micro-kernel streams. Weights may be packed as float32, bfloat16 (AVX512-BF16 dot products,
// activations rounded to bf16, fp32 accumulation) or int8 (per-output-channel scales; activations
// quantized per row to uint8 at run time; AVX512-VNNI dot products, int32 accumulation).
// References: cpu/ref/reference.h (LinearRef, LinearBf16Ref, LinearInt8Ref).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include "cpu/cpu_features.h"
#include "cpu/thread_pool.h"

namespace bertkit::cpu {

// 64-byte aligned storage (one cache line, one AVX-512 vector).
void* AlignedAlloc(size_t bytes);
void AlignedFree(void* p);
template <class T>
struct AlignedArray {
  struct Free {
    void operator()(T* p) const { AlignedFree(p); }
  };
  std::unique_ptr<T, Free> ptr;
  int64_t size = 0;
  T* data() const { return ptr.get(); }
  // Returns false when the allocation fails.
  bool Allocate(int64_t n) {
    T* p = static_cast<T*>(AlignedAlloc(static_cast<size_t>(n > 0 ? n : 1) * sizeof(T)));
    if (p == nullptr) return false;
    ptr.reset(p);
    size = n;
    return true;
  }
};
using AlignedFloats = AlignedArray<float>;

enum class Epilogue : int {
  kNone = 0,
  kGelu,      // exact erf GELU
  kGeluTanh,  // tanh approximation
  kRelu,
  kTanh,      // the pooler
};

enum class WeightFormat : int { kF32 = 0, kBF16, kInt8 };
const char* WeightFormatName(WeightFormat f);
// Whether this CPU (with the ISA cap of BERTKIT_ISA) has the instructions a format needs.
bool SupportsFormat(WeightFormat f);

// W [n, k] packed into ceil(n / nr) panels of k x nr values (zero-padded columns; k padded to
// kpad, a multiple of the values one 32-bit lane holds: 1 float, 2 bf16, 4 int8).
struct PackedWeight {
  WeightFormat format = WeightFormat::kF32;
  AlignedArray<float> f32;      // [panels][k][nr]
  AlignedArray<uint16_t> bf16;  // [panels][kpad / 2][nr][2]
  AlignedArray<int8_t> int8;    // [panels][kpad / 4][nr][4]
  AlignedArray<float> scale;    // int8: per column, padded to panels * nr
  AlignedArray<int32_t> colsum; // int8: sum over k of the quantized column (zero-point correction)
  int64_t n = 0;
  int64_t k = 0;
  int64_t kpad = 0;
  int nr = 0;
  Isa isa = Isa::kGeneric;
  int64_t bytes() const;
};

// Packs a row-major W [n, k] (row j = output feature j), panels split over the pool's threads.
// The format must be supported (SupportsFormat). Returns false when memory runs out.
bool PackWeight(const float* w, int64_t n, int64_t k, Isa isa, PackedWeight* out, ThreadPool* pool = nullptr,
                WeightFormat format = WeightFormat::kF32);
// The same with W's rows read on demand: source(row0, count, dst) writes rows [row0, row0 + count)
// (count x k floats, row-major) into dst, and may be called from several threads at once. Each
// packing thread reads the rows of its own panel, so reading (from a file) runs in parallel and the
// rows are packed while they are in cache; no unpacked copy of W is ever made. Returns false
// when memory runs out or the source returns false.
using RowSource = std::function<bool(int64_t row0, int64_t count, float* dst)>;
bool PackWeight(const RowSource& source, int64_t n, int64_t k, Isa isa, PackedWeight* out, ThreadPool* pool,
                WeightFormat format = WeightFormat::kF32);

// Row `row` of a float32 packed W (k floats, stride nr apart): lets a tied embedding table be
// stored once, packed for the MLM decoder, and still be gathered from.
inline const float* PackedRow(const PackedWeight& w, int64_t row) {
  return w.f32.data() + (row / w.nr) * w.k * w.nr + row % w.nr;
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
  // bf16 / int8 weights: room for the converted activations, LinearScratchBytes(m, *w) bytes,
  // 64-byte aligned.
  void* scratch = nullptr;
};

int64_t LinearScratchBytes(int64_t m, const PackedWeight& w);
void Linear(const LinearArgs& args, ThreadPool* pool);

// Activation conversions shared by the kernels and their references (definitions, not speed).
inline uint16_t RoundToBf16(float f) {
  uint32_t bits;
  __builtin_memcpy(&bits, &f, 4);
  bits += 0x7fffu + ((bits >> 16) & 1u);  // round to nearest even (inputs are finite)
  return static_cast<uint16_t>(bits >> 16);
}

// Per-row asymmetric uint8 quantization: the range is widened to include 0 so that 0 is exact.
struct RowQuant {
  float scale;
  int32_t zero_point;
};
RowQuant QuantizeRow(const float* x, int64_t k, int64_t kpad, uint8_t* q);

}  // namespace bertkit::cpu
