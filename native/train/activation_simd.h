// The hidden activations and their derivatives on SIMD vectors (cpu/simd.h types), shared by
// the elementwise kernels (train_activations.cc) and the GEMM epilogues that fuse them into the
// intermediate layer's forward and its input gradient (train_gemm.cc), so both compute the
// same values.
#pragma once

#include "bertkit/engine.h"
#include "cpu/simd.h"

namespace bertkit::train {

using namespace cpu::simd;

template <class V>
BK_INLINE V Phi(V x) {  // standard normal CDF
  V ax = x < 0.f ? -x : x;
  V e = HalfErfcNonNeg<V>(ax * 0.70710678118654752f);
  return x < 0.f ? e : 1.f - e;
}

template <class V>
BK_INLINE V ActForward(V u, Activation act) {
  switch (act) {
    case Activation::kGelu: return GeluErf<V>(u);
    case Activation::kGeluTanh: return GeluTanh<V>(u);
    case Activation::kRelu: return Relu<V>(u);
    case Activation::kTanh: return Tanh<V>(u);
  }
  return u;
}

template <class V>
BK_INLINE V ActGrad(V u, Activation act) {
  switch (act) {
    case Activation::kGelu: {
      // d/du u Phi(u) = Phi(u) + u phi(u)
      const V pdf = Exp<V>(-0.5f * u * u) * 0.39894228040143268f;
      return Phi<V>(u) + u * pdf;
    }
    case Activation::kGeluTanh: {
      const V inner = 0.79788456080286536f * (u + 0.044715f * u * u * u);
      const V t = Tanh<V>(inner);
      return 0.5f * (1.f + t) + 0.5f * u * (1.f - t * t) * (0.79788456080286536f * (1.f + 3.f * 0.044715f * u * u));
    }
    case Activation::kRelu: return u > 0.f ? Splat<V>(1.f) : V{};
    case Activation::kTanh: {
      const V t = Tanh<V>(u);
      return 1.f - t * t;
    }
  }
  return Splat<V>(1.f);
}

}  // namespace bertkit::train
