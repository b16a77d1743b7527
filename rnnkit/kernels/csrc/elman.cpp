// Elman: h_t = f(gx_t + h_{t-1} W^T), f = tanh or ReLU. Per step: one GEMM, one fused pass.
#include "common.h"

namespace rnnkit {

// The forward time loop over the batch rows of `blk`; pointers address the whole batch.
template <typename T, bool RELU>
static void elman_forward_loop(const T* gx, const RecurrentWeight<T>& W, T* h, T* y,
                               const std::vector<int64_t>& rows, RowBlock blk, int64_t B,
                               int64_t H, bool reverse) {
  const int64_t steps = static_cast<int64_t>(rows.size()), lo = blk.lo;
  h += lo * H;
  for (int64_t s = 0; s < steps; ++s) {
    const int64_t t = reverse ? steps - 1 - s : s;
    const int64_t b = blk.active(rows[t]);
    T* yt = y + (t * B + lo) * H;
    W.mul(b, h, T(0), yt);  // (b, H): h_{t-1} W^T
    const T* gxt = gx + (t * B + lo) * H;
    for_rows(b, H, [&](int64_t i) {
      T* yr = yt + i * H;
      T* hr = h + i * H;
      const T* gr = gxt + i * H;
#pragma omp simd
      for (int64_t j = 0; j < H; ++j) {
        const T a = gr[j] + yr[j];
        const T v = RELU ? (a > T(0) ? a : T(0)) : tanh_(a);
        yr[j] = v;
        hr[j] = v;
      }
    });
  }
}

std::tuple<Tensor, Tensor> elman_forward(const Tensor& gx, const Tensor& w_hh, const Tensor& h0,
                                         const OptTensor& batch_sizes, bool reverse, bool relu,
                                         bool /*save*/, int64_t low) {
  check_inputs({&gx, &w_hh, &h0});
  const int64_t T = gx.size(0), B = gx.size(1), H = gx.size(2);
  const auto rows = active_rows(batch_sizes, T, B);
  Tensor y = new_buffer({T, B, H}, gx.options(), is_packed(batch_sizes));  // (T, B, H)
  Tensor h = h0.clone();                                                 // (B, H)
  AT_DISPATCH_FLOATING_TYPES(gx.scalar_type(), "elman_forward", [&] {
    using S = scalar_t;
    const RecurrentWeight<S> W(w_hh.data_ptr<S>(), H, H, B, true, low);
    auto run = relu ? elman_forward_loop<S, true> : elman_forward_loop<S, false>;
    over_batch(B, 2.0 * B * H * H, [&](RowBlock blk) {
      run(gx.data_ptr<S>(), W, h.data_ptr<S>(), y.data_ptr<S>(), rows, blk, B, H, reverse);
    });
  });
  return {y, h};
}

// The backward time loop over the batch rows of `blk`; pointers address the whole batch.
template <typename T, bool RELU>
static void elman_backward_loop(const T* dy, const T* y, const RecurrentWeight<T>& W, T* dh,
                                T* dg, const std::vector<int64_t>& rows, RowBlock blk, int64_t B,
                                int64_t H, bool reverse) {
  const int64_t steps = static_cast<int64_t>(rows.size()), lo = blk.lo;
  dh += lo * H;
  for (int64_t s = 0; s < steps; ++s) {
    const int64_t t = reverse ? s : steps - 1 - s;
    const int64_t b = blk.active(rows[t]);
    T* dgt = dg + (t * B + lo) * H;
    for_rows(b, H, [&](int64_t i) {
      const int64_t row = (t * B + lo + i) * H;
      const T* yr = y + row;
      const T* dyr = dy + row;
      const T* dhr = dh + i * H;
      T* dgr = dgt + i * H;
#pragma omp simd
      for (int64_t j = 0; j < H; ++j) {
        const T d = dhr[j] + dyr[j];
        dgr[j] = RELU ? (yr[j] > T(0) ? d : T(0)) : d * (T(1) - yr[j] * yr[j]);
      }
    });
    W.mul(b, dgt, T(0), dh);  // (b, H): dg_t W
  }
}

std::tuple<Tensor, Tensor> elman_backward(const Tensor& dy, const Tensor& dhT, const Tensor& y,
                                          const Tensor& h0, const Tensor& w_hh,
                                          const OptTensor& batch_sizes, bool reverse,
                                          bool relu, int64_t low) {
  check_inputs({&dy, &dhT, &y, &h0, &w_hh});
  const int64_t T = y.size(0), B = y.size(1), H = y.size(2);
  const auto rows = active_rows(batch_sizes, T, B);
  Tensor dg = new_buffer({T, B, H}, y.options(), is_packed(batch_sizes));  // (T, B, H)
  Tensor dh = dhT.clone();                                                  // (B, H)
  AT_DISPATCH_FLOATING_TYPES(y.scalar_type(), "elman_backward", [&] {
    using S = scalar_t;
    const RecurrentWeight<S> W(w_hh.data_ptr<S>(), H, H, B, false, low);
    auto run = relu ? elman_backward_loop<S, true> : elman_backward_loop<S, false>;
    over_batch(B, 2.0 * B * H * H, [&](RowBlock blk) {
      run(dy.data_ptr<S>(), y.data_ptr<S>(), W, dh.data_ptr<S>(), dg.data_ptr<S>(), rows, blk,
          B, H, reverse);
    });
  });
  return {dg, dh};
}

}  // namespace rnnkit
