// Element-wise activations that the compiler can vectorise inside `#pragma omp simd` loops.
//
// float: tanh as x P(x^2) / Q(x^2), P and Q of degree 4 with P(0) = Q(0) = 1, fitted on
// [-9, 9] (beyond 9, tanh rounds to +-1 in float32) by tools/fit_tanh.py; sigmoid from it,
// as 1/2 + tanh(x/2) / 2. Both are plain arithmetic with one division and no exponential,
// which GCC turns into AVX2 / AVX-512 code; libm's scalar calls would stop vectorisation.
// Accuracy (tests/test_kernels_cpu.py holds them to 3.5e-7, 2.5e-7 and 2e-7): tanh within
// 2.85e-7 of the true value, and to 2.1e-7 relative for |x| < 1; sigmoid within 1.61e-7. The
// sigmoid's bound is absolute: far below zero, where sigmoid(x) is tiny, its relative error
// grows (0.4% at x = -12, where sigmoid is 6e-6; 17% at x = -15, where it is 3e-7).
// Against the exp-based forms these replaced (Cephes expf, about 1 ulp), an LSTM forward pass
// runs 4-10% faster at (T, B, I, H) = (100, 32, 128, 256) and (500, 16, 64, 128), 1-3% at
// (100, 64, 512, 512), where the products dominate; a GRU forward pass 3-8% at inference.
// double: the gradient-check dtype, where accuracy matters more than speed: libm.
#pragma once

#include <cmath>

namespace rnnkit {

#define RNNKIT_INLINE inline __attribute__((always_inline))

RNNKIT_INLINE float tanh_(float x) {
  x = x < -9.0f ? -9.0f : (x > 9.0f ? 9.0f : x);  // NaN passes through
  const float z = x * x;
  float p = 1.341854006e-08f;
  p = p * z + 2.066042180e-05f;
  p = p * z + 3.498949576e-03f;
  p = p * z + 1.338394284e-01f;
  p = p * z + 1.0f;
  float q = 7.804227948e-07f;
  q = q * z + 3.290958994e-04f;
  q = q * z + 2.589003555e-02f;
  q = q * z + 4.671726525e-01f;
  q = q * z + 1.0f;
  return x * p / q;
}

RNNKIT_INLINE float sigmoid(float x) { return 0.5f + 0.5f * tanh_(0.5f * x); }

RNNKIT_INLINE double sigmoid(double x) { return 1.0 / (1.0 + std::exp(-x)); }

RNNKIT_INLINE double tanh_(double x) { return std::tanh(x); }

}  // namespace rnnkit
