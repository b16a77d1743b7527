// Matrix products in bfloat16 or float16 on ATen (oneDNN): the "lowp" path of the mixed-
// precision dispatch (rnnkit/kernels/products.py). The operands are rounded to the 16-bit dtype
// (exact for the weights and layer inputs, which arrive already holding 16-bit values; the
// carried state and the gradients are rounded here), oneDNN multiplies them on the CPU's
// bfloat16/float16 units (AMX tiles, AVX-512 BF16) accumulating in float32, and rounds the
// result once to the 16-bit dtype, as torch.nn's layers under autocast do; the gate math that
// reads it is float32. ATen, not a BLAS call: ATen's 16-bit GEMM has no float32 output on CPU
// (aten::mm.dtype is CUDA-only in torch 2.13), and MKL's cblas_gemm_bf16bf16f32 measured no
// faster than float32 sgemm on an AVX-512 BF16 CPU, where oneDNN ran 2-3x faster.
#pragma once

#include <ATen/ATen.h>

namespace rnnkit {

// The product dtype a kernel argument names: 0 float32 (the operands' own values), 1 bfloat16,
// 2 float16 (the codes rnnkit/kernels/cpu.py passes).
inline at::ScalarType low_dtype(int64_t code) {
  TORCH_CHECK(code >= 0 && code <= 2, "rnnkit cpu kernel: product dtype code must be 0, 1 or 2");
  return code == 1 ? at::kBFloat16 : code == 2 ? at::kHalf : at::kFloat;
}

// C[i] = beta C[i] + float(o[i]) for i < len: a 16-bit product widened into float32.
template <typename L>
inline void widen_into(const L* o, int64_t len, float beta, float* C) {
  if (beta == 0.0f) {
#pragma omp simd
    for (int64_t i = 0; i < len; ++i) C[i] = static_cast<float>(o[i]);
  } else {
#pragma omp simd
    for (int64_t i = 0; i < len; ++i) C[i] = beta * C[i] + static_cast<float>(o[i]);
  }
}

// Row-major C (m,n) = A (m,k) opW + beta C, opW (k,n) a 16-bit tensor (possibly a transposed
// view), A and C float32 and contiguous.
inline void low_mul(const at::Tensor& opW, int64_t m, const float* A, float beta, float* C) {
  if (m == 0) return;
  const int64_t k = opW.size(0), n = opW.size(1);
  const at::Tensor a =
      at::from_blob(const_cast<float*>(A), {m, k}, at::kFloat).to(opW.scalar_type());  // (m, k)
  const at::Tensor out = at::mm(a, opW);                                                 // (m, n)
  if (out.scalar_type() == at::kBFloat16) {
    widen_into(out.data_ptr<at::BFloat16>(), m * n, beta, C);
  } else {
    widen_into(out.data_ptr<at::Half>(), m * n, beta, C);
  }
}

}  // namespace rnnkit
