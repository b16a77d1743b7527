// Element-wise activations that the compiler can vectorise inside `#pragma omp simd` loops.
//
// float: exp by Cody-Waite range reduction and a degree-5 polynomial (Cephes expf, about
// 1 ulp); tanh by Cephes' odd polynomial below |x| = 0.625 and 1 - 2 / (e^{2x} + 1) above, so
// small arguments keep full relative precision. Both are plain arithmetic plus one select,
// which GCC turns into AVX2 / AVX-512 code; libm's scalar calls would stop vectorisation.
// double: the gradient-check dtype, where accuracy matters more than speed: libm.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>

namespace rnnkit {

#define RNNKIT_INLINE inline __attribute__((always_inline))

RNNKIT_INLINE float exp_f(float x) {
  x = x < -87.3f ? -87.3f : (x > 88.3f ? 88.3f : x);  // keeps 2^n a normal float
  const float n = std::floor(x * 1.44269504088896341f + 0.5f);
  const float r = x - n * 0.693359375f + n * 2.12194440e-4f;  // x - n ln2, in two parts
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  const float e = p * r * r + r + 1.0f;  // e^r
  const uint32_t bits = static_cast<uint32_t>(static_cast<int32_t>(n) + 127) << 23;
  float scale;
  std::memcpy(&scale, &bits, sizeof scale);  // 2^n
  return e * scale;
}

RNNKIT_INLINE float sigmoid(float x) { return 1.0f / (1.0f + exp_f(-x)); }

RNNKIT_INLINE float tanh_(float x) {
  const float z = x * x;
  float p = -5.70498872745e-3f;
  p = p * z + 2.06390887954e-2f;
  p = p * z - 5.37397155531e-2f;
  p = p * z + 1.33314422036e-1f;
  p = p * z - 3.33332819422e-1f;
  const float small = p * z * x + x;
  const float large = 1.0f - 2.0f / (exp_f(2.0f * x) + 1.0f);
  return std::fabs(x) < 0.625f ? small : large;
}

RNNKIT_INLINE double sigmoid(double x) { return 1.0 / (1.0 + std::exp(-x)); }

RNNKIT_INLINE double tanh_(double x) { return std::tanh(x); }

}  // namespace rnnkit
