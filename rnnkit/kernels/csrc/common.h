// What every fused time loop shares: BLAS calls on raw pointers, the packed-batch bookkeeping,
// and the row-parallel loop for the element-wise gate pass. The contract (shapes, meaning of
// every argument and result) is the docstring of rnnkit/kernels/__init__.py.
#pragma once

#include <ATen/ATen.h>
#include <ATen/Parallel.h>

#include <algorithm>
#include <optional>
#include <tuple>
#include <vector>

#include "fastmath.h"
#include "lowp.h"

// BLAS from the MKL (or OpenBLAS) that libtorch_cpu carries: calling it on raw pointers skips
// the dispatcher and the tensor views a per-step at::mm would build.
extern "C" {
void sgemm_(const char* ta, const char* tb, const int* m, const int* n, const int* k,
            const float* alpha, const float* a, const int* lda, const float* b, const int* ldb,
            const float* beta, float* c, const int* ldc);
void dgemm_(const char* ta, const char* tb, const int* m, const int* n, const int* k,
            const double* alpha, const double* a, const int* lda, const double* b,
            const int* ldb, const double* beta, double* c, const int* ldc);
// MKL's packed GEMM: the weight is reordered once per sequence instead of once per step.
size_t sgemm_pack_get_size(const char* identifier, const int* m, const int* n, const int* k);
void sgemm_pack(const char* identifier, const char* trans, const int* m, const int* n,
                const int* k, const float* alpha, const float* src, const int* ld, float* dest);
void sgemm_compute(const char* ta, const char* tb, const int* m, const int* n, const int* k,
                   const float* a, const int* lda, const float* b, const int* ldb,
                   const float* beta, float* c, const int* ldc);
}

namespace rnnkit {

using at::Tensor;
using OptTensor = std::optional<Tensor>;

inline void blas(char ta, char tb, int m, int n, int k, float beta, const float* a, int lda,
                 const float* b, int ldb, float* c, int ldc) {
  const float one = 1.0f;
  sgemm_(&ta, &tb, &m, &n, &k, &one, a, &lda, b, &ldb, &beta, c, &ldc);
}

inline void blas(char ta, char tb, int m, int n, int k, double beta, const double* a, int lda,
                 const double* b, int ldb, double* c, int ldc) {
  const double one = 1.0;
  dgemm_(&ta, &tb, &m, &n, &k, &one, a, &lda, b, &ldb, &beta, c, &ldc);
}

// Row-major C (m,n) = A (m,k) W^T + beta C, with W (n,k): C^T = W A^T in BLAS's column order.
template <typename T>
inline void mm_wt(int64_t m, int64_t n, int64_t k, const T* A, const T* W, T beta, T* C) {
  if (m == 0) return;
  blas('T', 'N', n, m, k, beta, W, k, A, k, C, n);
}

// Row-major C (m,n) = A (m,k) W + beta C, with W (k,n).
template <typename T>
inline void mm_w(int64_t m, int64_t n, int64_t k, const T* A, const T* W, T beta, T* C) {
  if (m == 0) return;
  blas('N', 'N', n, m, k, beta, W, n, A, k, C, n);
}

// The recurrent weight of a time loop, multiplied from the right at every step:
// C (m,n) = A (m,k) op(W) + beta C with op(W) = W^T for W (n,k) (transposed = true, forward)
// or W for W (k,n) (backward). float32 packs W once (MKL's packed GEMM), so the per-step
// product skips the reordering that dominates small-batch GEMMs; float64 calls dgemm. With
// `low` (a product dtype code, lowp.h) a float32 weight is rounded to bfloat16/float16 once and
// every product runs on ATen/oneDNN in that dtype instead (float32 only).
template <typename T>
class RecurrentWeight {
 public:
  RecurrentWeight(const T* w, int64_t n, int64_t k, int64_t max_m, bool transposed,
                  int64_t low = 0)
      : w_(w), n_(n), k_(k), transposed_(transposed) {
    TORCH_CHECK(low == 0, "rnnkit cpu kernel: 16-bit products need float32 tensors");
  }
  void mul(int64_t m, const T* A, T beta, T* C) const {
    if (transposed_) {
      mm_wt<T>(m, n_, k_, A, w_, beta, C);
    } else {
      mm_w<T>(m, n_, k_, A, w_, beta, C);
    }
  }

 private:
  const T* w_;
  int64_t n_, k_;
  bool transposed_;
};

template <>
class RecurrentWeight<float> {
 public:
  RecurrentWeight(const float* w, int64_t n, int64_t k, int64_t max_m, bool transposed,
                  int64_t low = 0)
      : n_(static_cast<int>(n)), k_(static_cast<int>(k)) {
    if (low != 0) {  // op(W) (k, n) in the 16-bit dtype: W^T as a view of W (n, k), or W
      const Tensor wide = transposed ? at::from_blob(const_cast<float*>(w), {n, k}, at::kFloat)
                                     : at::from_blob(const_cast<float*>(w), {k, n}, at::kFloat);
      const Tensor narrow = wide.to(low_dtype(low));
      low_ = transposed ? narrow.t() : narrow;
      return;
    }
    const int m = static_cast<int>(std::max<int64_t>(max_m, 1));
    const char id = 'A', trans = transposed ? 'T' : 'N';
    const int ld = transposed ? k_ : n_;
    const float one = 1.0f;
    const size_t bytes = sgemm_pack_get_size(&id, &n_, &m, &k_);
    packed_ = at::empty({static_cast<int64_t>(bytes)}, at::kByte);
    sgemm_pack(&id, &trans, &n_, &m, &k_, &one, w, &ld, data());
  }
  // In BLAS's column order: C^T (n,m) = op(W) (n,k) A^T (k,m), op(W) packed.
  void mul(int64_t m, const float* A, float beta, float* C) const {
    if (low_.defined()) {
      low_mul(low_, m, A, beta, C);
      return;
    }
    if (m == 0) return;
    const int mm = static_cast<int>(m);
    const char packed = 'P', none = 'N';
    sgemm_compute(&packed, &none, &n_, &mm, &k_, data(), &n_, A, &k_, &beta, C, &n_);
  }

 private:
  float* data() const { return reinterpret_cast<float*>(packed_.data_ptr()); }
  int n_, k_;
  at::Tensor packed_;
  at::Tensor low_;  // op(W) in bfloat16/float16 on the low-precision path; else undefined
};

// Active rows at each step: batch_sizes, or B everywhere.
inline std::vector<int64_t> active_rows(const OptTensor& batch_sizes, int64_t T, int64_t B) {
  std::vector<int64_t> rows(T, B);
  if (batch_sizes.has_value() && batch_sizes->defined()) {
    const auto sizes = batch_sizes->to(at::kLong).contiguous();
    const int64_t* p = sizes.data_ptr<int64_t>();
    std::copy(p, p + T, rows.begin());
  }
  return rows;
}

inline bool is_packed(const OptTensor& batch_sizes) {
  return batch_sizes.has_value() && batch_sizes->defined();
}

// A (T, B, ·) buffer a kernel returns or keeps between passes, from a cache of buffers no
// other tensor holds any more (buffers.cpp). Packed outputs are zero in inactive rows (and the
// weight products read them), so they start zeroed; dense ones are fully written by the loop.
Tensor new_buffer(at::IntArrayRef shape, const at::TensorOptions& opts, bool zeroed);
// Drops the cached buffers nothing holds; returns the bytes released.
int64_t release_buffers();
// Caps the bytes the cache holds (0: cache nothing), evicting free buffers to fit; returns the
// previous cap.
int64_t set_buffer_cache_limit(int64_t bytes);

// Row i of the state that step t started from, given the states after each step (seq, (T,B,X))
// and the initial state (init, (B,X)). Forward: step t-1, or init at t = 0. Reverse: step t+1,
// unless the row was not yet active there (a packed row's last element), then init.
template <typename T>
inline const T* prev_row(const T* seq, const T* init, const std::vector<int64_t>& rows,
                         int64_t t, int64_t i, bool reverse, int64_t B, int64_t X) {
  const int64_t steps = static_cast<int64_t>(rows.size());
  if (!reverse) return t == 0 ? init + i * X : seq + ((t - 1) * B + i) * X;
  return (t == steps - 1 || i >= rows[t + 1]) ? init + i * X : seq + ((t + 1) * B + i) * X;
}

// f(i) for every row i < b, split over threads only when a step has enough elements to pay
// for waking them (about 32k element-wise gate evaluations per thread).
template <typename F>
inline void for_rows(int64_t b, int64_t width, const F& f) {
  const int64_t grain = std::max<int64_t>(1, 4096 / std::max<int64_t>(width, 1));
  at::parallel_for(0, b, grain, [&](int64_t lo, int64_t hi) {
    for (int64_t i = lo; i < hi; ++i) f(i);
  });
}

// Rows [lo, lo + n) of the batch: the slice one call of a time loop works on.
struct RowBlock {
  int64_t lo, n;
  // Active rows of the slice at a step where the whole batch has `active` rows.
  int64_t active(int64_t all_active) const {
    return std::clamp<int64_t>(all_active - lo, 0, n);
  }
};

// Below this many FLOPs per step, threads cost more to wake at every product and gate pass
// than they save, and the batch is split instead (see over_batch). Measured on the LSTM:
// splitting wins at 3-8 MFLOP per step (forward 26 vs 35 ms at (T,B,I,H) = (500,16,64,128)),
// loses at 12.6 (8 rows per thread) and at 25 and above.
constexpr double kSplitStepFlops = 1e7;

// Runs loop(block) over the batch. A step with enough work runs once over the whole batch,
// with the threads inside it (MKL's products, for_rows). A small step instead gives each
// thread its own slice of the batch for the whole sequence: rows are independent through
// time, so the slices never wait for each other, and the products inside run on one thread.
template <typename F>
inline void over_batch(int64_t B, double step_flops, const F& loop) {
  const int64_t threads = at::get_num_threads();
  const bool split = threads > 1 && B >= 2 * threads && step_flops < kSplitStepFlops &&
                     !at::in_parallel_region();
  if (!split) {
    loop(RowBlock{0, B});
    return;
  }
  const int64_t per = (B + threads - 1) / threads;
  at::parallel_for(0, threads, 1, [&](int64_t lo, int64_t hi) {
    for (int64_t k = lo; k < hi; ++k) {
      const int64_t first = k * per;
      if (first < B) loop(RowBlock{first, std::min(per, B - first)});
    }
  });
}

// An optional bias as a contiguous (n,) tensor; zeros when absent, so the gate passes add it
// unconditionally instead of branching per element.
inline Tensor bias_or_zeros(const OptTensor& bias, int64_t n, const at::TensorOptions& opts) {
  return bias.has_value() && bias->defined() ? bias->contiguous() : at::zeros({n}, opts);
}

inline void check_inputs(std::initializer_list<const Tensor*> tensors) {
  const Tensor& first = **tensors.begin();
  for (const Tensor* t : tensors) {
    if (t == nullptr || !t->defined()) continue;
    TORCH_CHECK(t->device().is_cpu(), "rnnkit cpu kernel: tensors must be on the CPU");
    TORCH_CHECK(t->is_contiguous(), "rnnkit cpu kernel: tensors must be contiguous");
    TORCH_CHECK(t->scalar_type() == first.scalar_type(),
                "rnnkit cpu kernel: tensors must share one dtype");
  }
}

// The kernels, one per contract function (see rnnkit/kernels/__init__.py).
std::tuple<Tensor, Tensor> elman_forward(const Tensor& gx, const Tensor& w_hh, const Tensor& h0,
                                         const OptTensor& batch_sizes, bool reverse, bool relu,
                                         bool save, int64_t low);
std::tuple<Tensor, Tensor> elman_backward(const Tensor& dy, const Tensor& dhT, const Tensor& y,
                                          const Tensor& h0, const Tensor& w_hh,
                                          const OptTensor& batch_sizes, bool reverse, bool relu,
                                          int64_t low);
std::tuple<Tensor, Tensor, Tensor, Tensor, Tensor> lstm_forward(
    const Tensor& x, const Tensor& w_ih, const Tensor& w_hh, const OptTensor& bias,
    const OptTensor& w_hr, const Tensor& h0, const Tensor& c0, const OptTensor& batch_sizes,
    bool reverse, bool save, int64_t low);
std::tuple<Tensor, Tensor, Tensor, Tensor> lstm_backward(
    const Tensor& dy, const Tensor& dhT, const Tensor& dcT, const Tensor& gates, const Tensor& c,
    const Tensor& c0, const Tensor& w_hh, const OptTensor& w_hr, const OptTensor& batch_sizes,
    bool reverse, int64_t low);
std::tuple<Tensor, Tensor> lstm_step(const Tensor& x, const Tensor& w_ih, const Tensor& w_hh,
                                     const OptTensor& bias, const OptTensor& w_hr,
                                     const Tensor& h, const Tensor& c);
std::tuple<Tensor, Tensor> lstm_step_bf16(const Tensor& x, const Tensor& w_ih,
                                          const Tensor& w_hh, const OptTensor& bias,
                                          const OptTensor& w_hr, const Tensor& h,
                                          const Tensor& c);
std::tuple<Tensor, Tensor, Tensor, Tensor> gru_forward(const Tensor& x, const Tensor& w_ih,
                                                       const OptTensor& b_ih, const Tensor& w_hh,
                                                       const OptTensor& b_hh, const Tensor& h0,
                                                       const OptTensor& batch_sizes,
                                                       bool reverse, bool save, int64_t low);
std::tuple<Tensor, Tensor, Tensor> gru_backward(const Tensor& dy, const Tensor& dhT,
                                                const Tensor& y, const Tensor& h0,
                                                const Tensor& gates, const Tensor& ghn,
                                                const Tensor& w_hh, const OptTensor& batch_sizes,
                                                bool reverse, int64_t low);

}  // namespace rnnkit
