// LSTM (optionally with projection). Per step: the GEMMs x_t U^T and h_{t-1} W^T accumulated
// straight into the saved gate buffer, then one pass that adds the bias, activates the four
// gates in place, updates c and emits h; with a projection, one more GEMM (o tanh c) W_hr^T.
// The input projection runs inside the loop, not as one (T*B, 4H) product before it: a
// per-step product with the packed weight is as fast as the big one, and the (T, B, 4H) input
// pre-activations are never allocated, written to memory and read back (6-9% off the forward
// pass at H = 256; level at (T,B,I,H) = (500,16,64,128)). The backward keeps dx = dg U as one
// product after the loop, which measured 3% faster than a per-step one.
#include "bf16.h"
#include "common.h"

namespace rnnkit {

// One row of the gate pass. pre (4H) holds x U^T + h W^T on entry and, with SAVE, the
// activated gates on exit; bias (4H) is b_ih + b_hh; c (H) is updated in place; m (H)
// receives o * tanh(c).
template <typename T, bool SAVE>
RNNKIT_INLINE void lstm_row(const T* bias, T* pre, T* c, T* c_saved, T* m, int64_t H) {
#pragma omp simd
  for (int64_t j = 0; j < H; ++j) {
    const T ig = sigmoid(bias[j] + pre[j]);
    const T fg = sigmoid(bias[H + j] + pre[H + j]);
    const T gg = tanh_(bias[2 * H + j] + pre[2 * H + j]);
    const T og = sigmoid(bias[3 * H + j] + pre[3 * H + j]);
    const T cn = fg * c[j] + ig * gg;
    c[j] = cn;
    m[j] = og * tanh_(cn);
    if (SAVE) {
      pre[j] = ig;
      pre[H + j] = fg;
      pre[2 * H + j] = gg;
      pre[3 * H + j] = og;
      c_saved[j] = cn;
    }
  }
}

// The forward time loop over the batch rows of `blk`; pointers address the whole batch.
template <typename T, bool SAVE>
static void lstm_forward_loop(const T* x, const RecurrentWeight<T>* U, const RecurrentWeight<T>& W,
                              const RecurrentWeight<T>* R, const T* bias, T* h, T* c, T* y,
                              T* gates, T* cs, T* scratch, T* m, const std::vector<int64_t>& rows,
                              RowBlock blk, int64_t B, int64_t I, int64_t H, int64_t P,
                              bool reverse) {
  const int64_t steps = static_cast<int64_t>(rows.size()), G = 4 * H, lo = blk.lo;
  h += lo * P;
  c += lo * H;
  if (m) m += lo * H;
  for (int64_t s = 0; s < steps; ++s) {
    const int64_t t = reverse ? steps - 1 - s : s;
    const int64_t b = blk.active(rows[t]);
    T* pre = SAVE ? gates + (t * B + lo) * G : scratch + lo * G;
    T* yt = y + (t * B + lo) * P;
    if (U) U->mul(b, x + (t * B + lo) * I, T(0), pre);  // (b, 4H): x_t U^T
    W.mul(b, h, U ? T(1) : T(0), pre);                  //        + h_{t-1} W^T
    for_rows(b, G, [&](int64_t i) {
      T* out = R ? m + i * H : yt + i * P;
      T* c_saved = SAVE ? cs + (t * B + lo + i) * H : nullptr;
      lstm_row<T, SAVE>(bias, pre + i * G, c + i * H, c_saved, out, H);
    });
    if (R) R->mul(b, m, T(0), yt);  // (b, P): m W_hr^T
    std::copy(yt, yt + b * P, h);
  }
}

std::tuple<Tensor, Tensor, Tensor, Tensor, Tensor> lstm_forward(
    const Tensor& x, const Tensor& w_ih, const Tensor& w_hh, const OptTensor& bias,
    const OptTensor& w_hr, const Tensor& h0, const Tensor& c0, const OptTensor& batch_sizes,
    bool reverse, bool save, int64_t low) {
  const Tensor whr = w_hr.value_or(Tensor());
  const int64_t T = x.size(0), B = x.size(1), I = x.size(2), H = c0.size(1), P = h0.size(1);
  const auto opts = x.options();
  const Tensor b = bias_or_zeros(bias, 4 * H, opts);  // (4H,)
  check_inputs({&x, &w_ih, &w_hh, &b, &whr, &h0, &c0});
  const auto rows = active_rows(batch_sizes, T, B);
  const bool packed = is_packed(batch_sizes);
  Tensor y = new_buffer({T, B, P}, opts, packed);                             // (T, B, P)
  Tensor h = h0.clone(), c = c0.clone();                                      // (B, P), (B, H)
  Tensor gates = save ? new_buffer({T, B, 4 * H}, opts, packed) : Tensor();   // (T, B, 4H)
  Tensor cs = save ? new_buffer({T, B, H}, opts, packed) : Tensor();          // (T, B, H)
  Tensor scratch = save ? Tensor() : at::empty({B, 4 * H}, opts);             // (B, 4H)
  Tensor m = whr.defined() ? at::empty({B, H}, opts) : Tensor();              // (B, H)
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "lstm_forward", [&] {
    using S = scalar_t;
    auto ptr = [](const Tensor& a) { return a.defined() ? a.data_ptr<S>() : nullptr; };
    std::optional<RecurrentWeight<S>> U, R;  // packed once, shared by every row block
    if (I > 0) U.emplace(ptr(w_ih), 4 * H, I, B, true, low);
    const RecurrentWeight<S> W(ptr(w_hh), 4 * H, P, B, true, low);
    if (whr.defined()) R.emplace(ptr(whr), P, H, B, true, low);
    auto run = save ? lstm_forward_loop<S, true> : lstm_forward_loop<S, false>;
    const double step_flops = 2.0 * B * (4 * H * (I + P) + (whr.defined() ? P * H : 0));
    over_batch(B, step_flops, [&](RowBlock blk) {
      run(ptr(x), U ? &*U : nullptr, W, R ? &*R : nullptr, ptr(b), ptr(h), ptr(c), ptr(y),
          ptr(gates), ptr(cs), ptr(scratch), ptr(m), rows, blk, B, I, H, P, reverse);
    });
  });
  return {y, h, c, gates, cs};
}

// The backward time loop over the batch rows of `blk`; pointers address the whole batch.
template <typename T>
static void lstm_backward_loop(const T* dy, const T* gates, const T* cs, const T* c0,
                               const RecurrentWeight<T>& W, const RecurrentWeight<T>* R, T* dh,
                               T* dc, T* dg, T* dr, T* dm, const std::vector<int64_t>& rows,
                               RowBlock blk, int64_t B, int64_t H, int64_t P, bool reverse) {
  const int64_t steps = static_cast<int64_t>(rows.size()), G = 4 * H, lo = blk.lo;
  dh += lo * P;
  dc += lo * H;
  if (dm) dm += lo * H;
  for (int64_t s = 0; s < steps; ++s) {
    const int64_t t = reverse ? s : steps - 1 - s;
    const int64_t b = blk.active(rows[t]);
    T* dgt = dg + (t * B + lo) * G;
    if (R) {  // dr_t = dh_t in full; dm = dr_t W_hr
      T* drt = dr + (t * B + lo) * P;
      const T* dyt = dy + (t * B + lo) * P;
      for (int64_t k = 0; k < b * P; ++k) drt[k] = dh[k] + dyt[k];
      R->mul(b, drt, T(0), dm);  // (b, H)
    }
    for_rows(b, G, [&](int64_t i) {
      const int64_t row = t * B + lo + i;
      const T* g = gates + row * G;
      const T* cr = cs + row * H;
      const T* cp = prev_row(cs, c0, rows, t, lo + i, reverse, B, H);
      const T* dhr = R ? dm + i * H : dh + i * P;
      const T* dyr = R ? nullptr : dy + row * P;
      T* dcr = dc + i * H;
      T* d = dgt + i * G;
#pragma omp simd
      for (int64_t j = 0; j < H; ++j) {
        const T ig = g[j], fg = g[H + j], gg = g[2 * H + j], og = g[3 * H + j];
        const T tc = tanh_(cr[j]);
        const T dmj = R ? dhr[j] : dhr[j] + dyr[j];
        const T dct = dcr[j] + dmj * og * (T(1) - tc * tc);
        d[j] = dct * gg * ig * (T(1) - ig);
        d[H + j] = dct * cp[j] * fg * (T(1) - fg);
        d[2 * H + j] = dct * ig * (T(1) - gg * gg);
        d[3 * H + j] = dmj * tc * og * (T(1) - og);
        dcr[j] = dct * fg;
      }
    });
    W.mul(b, dgt, T(0), dh);  // (b, P): dg_t W
  }
}

std::tuple<Tensor, Tensor, Tensor, Tensor> lstm_backward(
    const Tensor& dy, const Tensor& dhT, const Tensor& dcT, const Tensor& gates, const Tensor& c,
    const Tensor& c0, const Tensor& w_hh, const OptTensor& w_hr, const OptTensor& batch_sizes,
    bool reverse, int64_t low) {
  const Tensor whr = w_hr.value_or(Tensor());
  check_inputs({&dy, &dhT, &dcT, &gates, &c, &c0, &w_hh, &whr});
  const int64_t T = gates.size(0), B = gates.size(1), H = c0.size(1), P = dhT.size(1);
  const auto rows = active_rows(batch_sizes, T, B);
  const bool packed = is_packed(batch_sizes);
  const auto opts = gates.options();
  Tensor dg = new_buffer({T, B, 4 * H}, opts, packed);                      // (T, B, 4H)
  Tensor dr = whr.defined() ? new_buffer({T, B, P}, opts, packed) : Tensor();  // (T, B, P)
  Tensor dm = whr.defined() ? at::empty({B, H}, opts) : Tensor();          // (B, H)
  Tensor dh = dhT.clone(), dc = dcT.clone();                                // (B, P), (B, H)
  AT_DISPATCH_FLOATING_TYPES(gates.scalar_type(), "lstm_backward", [&] {
    using S = scalar_t;
    auto ptr = [](const Tensor& x) { return x.defined() ? x.data_ptr<S>() : nullptr; };
    const RecurrentWeight<S> W(ptr(w_hh), P, 4 * H, B, false, low);
    std::optional<RecurrentWeight<S>> R;
    if (whr.defined()) R.emplace(ptr(whr), H, P, B, false, low);
    const double step_flops = 2.0 * B * (4 * H * P + (whr.defined() ? P * H : 0));
    over_batch(B, step_flops, [&](RowBlock blk) {
      lstm_backward_loop<S>(ptr(dy), ptr(gates), ptr(c), ptr(c0), W, R ? &*R : nullptr,
                            ptr(dh), ptr(dc), ptr(dg), ptr(dr), ptr(dm), rows, blk, B, H, P,
                            reverse);
    });
  });
  return {dg, dh, dc, dr};
}

// One step of generation, x (B,I) -> (h, c): both products and the gate pass in one call, so
// a token costs two matrix-vector products and no Python-side tensor traffic.
std::tuple<Tensor, Tensor> lstm_step(const Tensor& x, const Tensor& w_ih, const Tensor& w_hh,
                                     const OptTensor& bias, const OptTensor& w_hr,
                                     const Tensor& h, const Tensor& c) {
  const Tensor whr = w_hr.value_or(Tensor());
  const int64_t B = x.size(0), I = x.size(1), H = c.size(1), P = h.size(1);
  const auto opts = x.options();
  const Tensor b = bias_or_zeros(bias, 4 * H, opts);                // (4H,)
  check_inputs({&x, &w_ih, &w_hh, &b, &whr, &h, &c});
  Tensor pre = at::empty({B, 4 * H}, opts);                         // (B, 4H)
  Tensor c_new = c.clone();                                         // (B, H)
  Tensor m = at::empty({B, H}, opts);                               // (B, H)
  Tensor h_new = whr.defined() ? at::empty({B, P}, opts) : m;       // (B, P)
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "lstm_step", [&] {
    using S = scalar_t;
    S* p = pre.data_ptr<S>();
    mm_wt<S>(B, 4 * H, I, x.data_ptr<S>(), w_ih.data_ptr<S>(), S(0), p);
    mm_wt<S>(B, 4 * H, P, h.data_ptr<S>(), w_hh.data_ptr<S>(), S(1), p);
    for (int64_t i = 0; i < B; ++i) {
      lstm_row<S, false>(b.data_ptr<S>(), p + i * 4 * H, c_new.data_ptr<S>() + i * H,
                         nullptr, m.data_ptr<S>() + i * H, H);
    }
    if (whr.defined()) mm_wt<S>(B, P, H, m.data_ptr<S>(), whr.data_ptr<S>(), S(0),
                                h_new.data_ptr<S>());
  });
  return {h_new, c_new};
}

// The same step with bfloat16 weights (w_ih (4H,I), w_hh (4H,P), w_hr (P,H)) and float32
// x, h, c, bias: the products read 16-bit weights and accumulate in float32 (bf16.h); the
// gates and the cell state are float32, as in every mixed-precision path.
std::tuple<Tensor, Tensor> lstm_step_bf16(const Tensor& x, const Tensor& w_ih,
                                          const Tensor& w_hh, const OptTensor& bias,
                                          const OptTensor& w_hr, const Tensor& h,
                                          const Tensor& c) {
  const Tensor whr = w_hr.value_or(Tensor());
  const int64_t B = x.size(0), I = x.size(1), H = c.size(1), P = h.size(1);
  const auto opts = x.options();
  const Tensor b = bias_or_zeros(bias, 4 * H, opts);                // (4H,)
  check_inputs({&x, &b, &h, &c});
  check_inputs({&w_ih, &w_hh, &whr});
  TORCH_CHECK(x.scalar_type() == at::kFloat && w_ih.scalar_type() == at::kBFloat16,
              "rnnkit lstm_step_bf16: float32 x, h, c and bias with bfloat16 weights");
  auto bits = [](const Tensor& w) { return reinterpret_cast<const uint16_t*>(w.data_ptr()); };
  Tensor pre = at::empty({B, 4 * H}, opts);                         // (B, 4H)
  Tensor c_new = c.clone();                                         // (B, H)
  Tensor m = at::empty({B, H}, opts);                               // (B, H)
  Tensor h_new = whr.defined() ? at::empty({B, P}, opts) : m;       // (B, P)
  float* p = pre.data_ptr<float>();
  gemv_bf16(B, 4 * H, I, x.data_ptr<float>(), bits(w_ih), 0.0f, p);
  gemv_bf16(B, 4 * H, P, h.data_ptr<float>(), bits(w_hh), 1.0f, p);
  for (int64_t i = 0; i < B; ++i) {
    lstm_row<float, false>(b.data_ptr<float>(), p + i * 4 * H, c_new.data_ptr<float>() + i * H,
                           nullptr, m.data_ptr<float>() + i * H, H);
  }
  if (whr.defined()) gemv_bf16(B, P, H, m.data_ptr<float>(), bits(whr), 0.0f,
                               h_new.data_ptr<float>());
  return {h_new, c_new};
}

}  // namespace rnnkit
