// Matrix-vector products with bfloat16 weights and float32 vectors, accumulated in float32:
// the generation step's products in mixed precision. A token's step at batch 1 reads every
// weight once and does two flops per weight, so it is bound by memory bandwidth, not by the
// multiply units: weights kept in bfloat16 halve the bytes read, which float32 GEMV cannot
// do, and need no bfloat16 arithmetic instructions (a bfloat16 is the top half of a float32,
// widened with a shift), so this wins on any CPU, AMX or not.
#pragma once

#include <ATen/Parallel.h>

#include <cstdint>
#include <cstring>

namespace rnnkit {

inline float bf16_bits_to_float(uint16_t bits) {
  const uint32_t wide = static_cast<uint32_t>(bits) << 16;
  float out;
  std::memcpy(&out, &wide, sizeof(out));
  return out;
}

// Row-major y (m,n) = x (m,k) W^T + beta y, W (n,k) in bfloat16 bits; rows of W split over
// threads when the product is large enough to pay for waking them.
inline void gemv_bf16(int64_t m, int64_t n, int64_t k, const float* x, const uint16_t* W,
                      float beta, float* y) {
  const int64_t grain = std::max<int64_t>(1, 65536 / std::max<int64_t>(k, 1));
  at::parallel_for(0, n, grain, [&](int64_t lo, int64_t hi) {
    for (int64_t j = lo; j < hi; ++j) {
      const uint16_t* w = W + j * k;
      for (int64_t i = 0; i < m; ++i) {
        const float* xi = x + i * k;
        float acc = 0.0f;
#pragma omp simd reduction(+ : acc)
        for (int64_t p = 0; p < k; ++p) acc += bf16_bits_to_float(w[p]) * xi[p];
        float& out = y[i * n + j];
        out = beta == 0.0f ? acc : beta * out + acc;
      }
    }
  });
}

}  // namespace rnnkit
