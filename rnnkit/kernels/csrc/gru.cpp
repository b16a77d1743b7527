// GRU (torch.nn's variant). Per step: the GEMM h_{t-1} W^T into a (B, 3H) buffer, then one
// pass that adds b_hh and gx, activates r, z, n and blends the new state.
#include "common.h"

namespace rnnkit {

template <typename T, bool SAVE>
static void gru_forward_loop(const T* gx, const T* w, const T* bh, T* h, T* y, T* gates, T* ghn,
                             T* gh, const std::vector<int64_t>& rows, int64_t B, int64_t H,
                             bool reverse) {
  const int64_t steps = static_cast<int64_t>(rows.size()), G = 3 * H;
  const RecurrentWeight<T> W(w, G, H, B, true);
  for (int64_t s = 0; s < steps; ++s) {
    const int64_t t = reverse ? steps - 1 - s : s;
    const int64_t b = rows[t];
    W.mul(b, h, T(0), gh);  // (b, 3H): h_{t-1} W^T
    for_rows(b, G, [&](int64_t i) {
      const int64_t row = t * B + i;
      const T* x = gx + row * G;
      const T* p = gh + i * G;
      T* hr = h + i * H;
      T* yr = y + row * H;
      T* g = SAVE ? gates + row * G : nullptr;
      T* n_pre = SAVE ? ghn + row * H : nullptr;
#pragma omp simd
      for (int64_t j = 0; j < H; ++j) {
        const T r = sigmoid(x[j] + p[j] + bh[j]);
        const T z = sigmoid(x[H + j] + p[H + j] + bh[H + j]);
        const T hn = p[2 * H + j] + bh[2 * H + j];
        const T n = tanh_(x[2 * H + j] + r * hn);
        const T hv = n + z * (hr[j] - n);
        hr[j] = hv;
        yr[j] = hv;
        if (SAVE) {
          g[j] = r;
          g[H + j] = z;
          g[2 * H + j] = n;
          n_pre[j] = hn;
        }
      }
    });
  }
}

std::tuple<Tensor, Tensor, Tensor, Tensor> gru_forward(const Tensor& gx, const Tensor& w_hh,
                                                       const OptTensor& b_hh, const Tensor& h0,
                                                       const OptTensor& batch_sizes,
                                                       bool reverse, bool save) {
  const Tensor bias = b_hh.has_value() && b_hh->defined()
                          ? b_hh->contiguous()
                          : at::zeros({w_hh.size(0)}, gx.options());  // (3H,)
  check_inputs({&gx, &w_hh, &bias, &h0});
  const int64_t T = gx.size(0), B = gx.size(1), H = h0.size(1);
  const auto rows = active_rows(batch_sizes, T, B);
  const bool packed = is_packed(batch_sizes);
  const auto opts = gx.options();
  Tensor y = new_buffer({T, B, H}, opts, packed);                            // (T, B, H)
  Tensor h = h0.clone();                                                     // (B, H)
  Tensor gates = save ? new_buffer({T, B, 3 * H}, opts, packed) : Tensor();  // (T, B, 3H)
  Tensor ghn = save ? new_buffer({T, B, H}, opts, packed) : Tensor();        // (T, B, H)
  Tensor gh = at::empty({B, 3 * H}, opts);                                   // (B, 3H)
  AT_DISPATCH_FLOATING_TYPES(gx.scalar_type(), "gru_forward", [&] {
    using S = scalar_t;
    auto ptr = [](const Tensor& x) { return x.defined() ? x.data_ptr<S>() : nullptr; };
    auto run = save ? gru_forward_loop<S, true> : gru_forward_loop<S, false>;
    run(ptr(gx), ptr(w_hh), ptr(bias), ptr(h), ptr(y), ptr(gates), ptr(ghn), ptr(gh), rows, B,
        H, reverse);
  });
  return {y, h, gates, ghn};
}

template <typename T>
static void gru_backward_loop(const T* dy, const T* y, const T* h0, const T* gates, const T* ghn,
                              const T* w, T* dh, T* dgx, T* dgh, const std::vector<int64_t>& rows,
                              int64_t B, int64_t H, bool reverse) {
  const int64_t steps = static_cast<int64_t>(rows.size()), G = 3 * H;
  const RecurrentWeight<T> W(w, H, G, B, false);
  for (int64_t s = 0; s < steps; ++s) {
    const int64_t t = reverse ? s : steps - 1 - s;
    const int64_t b = rows[t];
    T* dght = dgh + t * B * G;
    for_rows(b, G, [&](int64_t i) {
      const int64_t row = t * B + i;
      const T* g = gates + row * G;
      const T* hn = ghn + row * H;
      const T* hp = prev_row(y, h0, rows, t, i, reverse, B, H);
      const T* dyr = dy + row * H;
      T* dhr = dh + i * H;
      T* dx = dgx + row * G;
      T* dhh = dght + i * G;
#pragma omp simd
      for (int64_t j = 0; j < H; ++j) {
        const T r = g[j], z = g[H + j], n = g[2 * H + j];
        const T d = dhr[j] + dyr[j];
        const T dz = d * (hp[j] - n) * z * (T(1) - z);
        const T dn = d * (T(1) - z) * (T(1) - n * n);
        const T dr = dn * hn[j] * r * (T(1) - r);
        dx[j] = dr;
        dx[H + j] = dz;
        dx[2 * H + j] = dn;
        dhh[j] = dr;
        dhh[H + j] = dz;
        dhh[2 * H + j] = dn * r;
        dhr[j] = d * z;  // the direct path; the GEMM below adds W^T dgh
      }
    });
    W.mul(b, dght, T(1), dh);  // (b, H): += dgh_t W
  }
}

std::tuple<Tensor, Tensor, Tensor> gru_backward(const Tensor& dy, const Tensor& dhT,
                                                const Tensor& y, const Tensor& h0,
                                                const Tensor& gates, const Tensor& ghn,
                                                const Tensor& w_hh, const OptTensor& batch_sizes,
                                                bool reverse) {
  check_inputs({&dy, &dhT, &y, &h0, &gates, &ghn, &w_hh});
  const int64_t T = gates.size(0), B = gates.size(1), H = h0.size(1);
  const auto rows = active_rows(batch_sizes, T, B);
  const bool packed = is_packed(batch_sizes);
  Tensor dgx = new_buffer({T, B, 3 * H}, gates.options(), packed);  // (T, B, 3H)
  Tensor dgh = new_buffer({T, B, 3 * H}, gates.options(), packed);  // (T, B, 3H)
  Tensor dh = dhT.clone();                                          // (B, H)
  AT_DISPATCH_FLOATING_TYPES(gates.scalar_type(), "gru_backward", [&] {
    using S = scalar_t;
    gru_backward_loop<S>(dy.data_ptr<S>(), y.data_ptr<S>(), h0.data_ptr<S>(),
                         gates.data_ptr<S>(), ghn.data_ptr<S>(), w_hh.data_ptr<S>(),
                         dh.data_ptr<S>(), dgx.data_ptr<S>(), dgh.data_ptr<S>(), rows, B, H,
                         reverse);
  });
  return {dgx, dgh, dh};
}

}  // namespace rnnkit
