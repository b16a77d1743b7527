// Entry points registered with the dispatcher (TORCH_LIBRARY), apart from the
// Python bindings: a torch.compile graph calls them straight into C++, where the rnnkit::
// operators of rnnkit/cells take a trip through Python (the dispatcher's Python kernel, the
// op's implementation, the kernel lookup) on every call, which made small compiled layers
// slower than eager ones (issue 34). No autograd kernel: inference, and the backward of a
// compiled Elman training step (autograd is AOTAutograd's there, around these operators);
// rnnkit/cells/_ops.py (`registered_cpu_ops`) says when a compiled layer may call them and
// registers their fake (shape) implementations. x is time-major; batch_sizes (T,) int64 as in
// the kernel contract (rnnkit/kernels/__init__.py), absent for padded input.
//
//   elman_infer(x (T,B,I), w_ih (H,I), w_hh (H,H), b_ih (H)?, b_hh (H)?, h0 (B,H)?,
//               batch_sizes?, reverse, relu) -> y (T,B,H), hT (B,H)        h0 absent: zeros
//   lstm_infer(x (T,B,I), w_ih (4H,I), w_hh (4H,P), b_ih (4H)?, b_hh (4H)?, w_hr (P,H)?,
//              h0 (B,P), c0 (B,H), batch_sizes?, reverse) -> y (T,B,P), hT (B,P), cT (B,H)
//   gru_infer(x (T,B,I), w_ih (3H,I), w_hh (3H,H), b_ih (3H)?, b_hh (3H)?, h0 (B,H),
//             batch_sizes?, reverse) -> y (T,B,H), hT (B,H)
//   lstm_step_infer(x (B,I), w_ih (4H,I), w_hh (4H,P), b_ih (4H)?, b_hh (4H)?, w_hr (P,H)?,
//                   h (B,P), c (B,H)) -> h' (B,P), c' (B,H)
//
// and, for training a padded Elman layer (elman_infer is its forward: the backward reads
// only x, the weights, h0 and y), the backward with its products:
//
//   elman_train_backward(dy (T,B,H), dhT (B,H), x (T,B,I), w_ih (H,I), w_hh (H,H), h0 (B,H),
//                        y (T,B,H), reverse, relu, need_x, need_w_ih, need_w_hh, need_b)
//       -> dx (T,B,I), dw_ih (H,I), dw_hh (H,H), db (H), dh0 (B,H)
//   each of the first four a 0-element tensor where not needed (rnnkit/cells/_ops.py: absent)
#include <torch/library.h>

#include "common.h"

namespace rnnkit {
namespace {

OptTensor joint_bias(const OptTensor& a, const OptTensor& b) {
  if (a.has_value() && b.has_value()) return (*a + *b).contiguous();
  if (a.has_value()) return a->contiguous();
  if (b.has_value()) return b->contiguous();
  return std::nullopt;
}

// x (T,B,I) @ w^T (I,G) + bias -> (T,B,G): rnnkit/cells/_common.py's input_projection, branch
// for branch, so that a compiled call rounds as the eager one does. The product and [x 1] come
// from the buffer cache: a fresh (T*B, G) output page-faults in at every call (2% of an Elman
// inference at (T,B,I,H) = (500,16,64,128)).
Tensor input_projection(const Tensor& x, const Tensor& w, const OptTensor& bias) {
  const int64_t T = x.size(0), B = x.size(1), I = x.size(2), G = w.size(0);
  const Tensor x2 = x.reshape({T * B, I});                  // (T*B, I)
  Tensor out = new_buffer({T * B, G}, x.options(), false);  // (T*B, G)
  if (!bias.has_value()) {
    at::mm_out(out, x2, w.t());
  } else if (4 * (I + 1) <= G) {  // narrow inputs: [x 1] @ [W b]^T
    Tensor xa = new_buffer({T * B, I + 1}, x.options(), false);  // (T*B, I+1)
    xa.narrow(1, 0, I).copy_(x2);
    xa.select(1, I).fill_(1);
    at::mm_out(out, xa, at::cat({w, bias->unsqueeze(1)}, 1).t());
  } else {
    at::addmm_out(out, *bias, x2, w.t());
  }
  return out.view({T, B, G});  // (T, B, G)
}

// A packed batch's first step must fit in x's B rows (the kernels index by it).
void check_rows(const Tensor& x, const OptTensor& batch_sizes) {
  if (!batch_sizes.has_value() || batch_sizes->numel() == 0) return;
  const int64_t first = batch_sizes->select(0, 0).item<int64_t>();
  TORCH_CHECK(first <= x.size(1), "batch_sizes[0] is ", first, " but the batch has ", x.size(1),
              " sequences");
}

OptTensor contiguous(const OptTensor& t) {
  return t.has_value() ? OptTensor(t->contiguous()) : std::nullopt;
}

std::tuple<Tensor, Tensor> elman_infer(const Tensor& x, const Tensor& w_ih, const Tensor& w_hh,
                                       const OptTensor& b_ih, const OptTensor& b_hh,
                                       const OptTensor& h0, const OptTensor& batch_sizes,
                                       bool reverse, bool relu) {
  const Tensor xc = x.contiguous();
  check_rows(xc, batch_sizes);
  const int64_t B = xc.size(1), H = w_hh.size(0);
  const Tensor gx = input_projection(xc, w_ih, joint_bias(b_ih, b_hh));  // (T, B, H)
  const Tensor h = h0.has_value() ? h0->contiguous() : at::zeros({B, H}, xc.options());
  return elman_forward(gx, w_hh.contiguous(), h, batch_sizes, reverse, relu, false, 0);
}

std::tuple<Tensor, Tensor, Tensor> lstm_infer(const Tensor& x, const Tensor& w_ih,
                                              const Tensor& w_hh, const OptTensor& b_ih,
                                              const OptTensor& b_hh, const OptTensor& w_hr,
                                              const Tensor& h0, const Tensor& c0,
                                              const OptTensor& batch_sizes, bool reverse) {
  const Tensor xc = x.contiguous();
  check_rows(xc, batch_sizes);
  auto [y, hT, cT, gates, c] =
      lstm_forward(xc, w_ih.contiguous(), w_hh.contiguous(), joint_bias(b_ih, b_hh),
                   contiguous(w_hr), h0.contiguous(), c0.contiguous(), batch_sizes, reverse,
                   false, 0);
  return {y, hT, cT};
}

std::tuple<Tensor, Tensor> gru_infer(const Tensor& x, const Tensor& w_ih, const Tensor& w_hh,
                                     const OptTensor& b_ih, const OptTensor& b_hh,
                                     const Tensor& h0, const OptTensor& batch_sizes,
                                     bool reverse) {
  const Tensor xc = x.contiguous();
  check_rows(xc, batch_sizes);
  auto [y, hT, gates, ghn] =
      gru_forward(xc, w_ih.contiguous(), contiguous(b_ih), w_hh.contiguous(), contiguous(b_hh),
                  h0.contiguous(), batch_sizes, reverse, false, 0);
  return {y, hT};
}

// rnnkit/cells/elman.py's elman_backward_op for padded input: the kernel's time loop, then
// dx, [dw_ih dw_hh] and db as one product each (rnnkit/cells/_common.py: product_grads,
// weight_grads, bias_grad).
std::tuple<Tensor, Tensor, Tensor, Tensor, Tensor> elman_train_backward(
    const Tensor& dy, const Tensor& dhT, const Tensor& x, const Tensor& w_ih, const Tensor& w_hh,
    const Tensor& h0, const Tensor& y, bool reverse, bool relu, bool need_x, bool need_w_ih,
    bool need_w_hh, bool need_b) {
  const Tensor xc = x.contiguous(), yc = y.contiguous(), h0c = h0.contiguous();
  auto [dg, dh0] = elman_backward(dy.contiguous(), dhT.contiguous(), yc, h0c,
                                  w_hh.contiguous(), std::nullopt, reverse, relu, 0);
  const int64_t T = xc.size(0), B = xc.size(1), I = xc.size(2), H = yc.size(2);
  const Tensor dg2 = dg.view({T * B, H});  // (T*B, H)
  auto absent = [&] { return at::empty({0}, xc.options()); };  // one each: outputs never alias
  // The large buffers from the kernels' cache, as the Python path takes them (kern.empty):
  // fresh ones of a few MB page-fault in on every step (buffers.cpp)
  Tensor dx = absent();
  if (need_x) {
    dx = new_buffer({T, B, I}, xc.options(), false);  // (T, B, I)
    Tensor dx2 = dx.view({T * B, I});  // (T*B, I)
    at::mm_out(dx2, dg2, w_ih.contiguous());
  }
  Tensor dw_ih = absent(), dw_hh = absent();
  if (need_w_ih || need_w_hh) {
    Tensor xh = new_buffer({T, B, I + H}, xc.options(), false);  // (T, B, I+H): [x_t, h_{t-1}]
    Tensor prev = xh.narrow(2, I, H);                     // (T, B, H)
    if (!reverse) {
      prev.select(0, 0).copy_(h0c);
      if (T > 1) prev.narrow(0, 1, T - 1).copy_(yc.narrow(0, 0, T - 1));
    } else {
      prev.select(0, T - 1).copy_(h0c);
      if (T > 1) prev.narrow(0, 0, T - 1).copy_(yc.narrow(0, 1, T - 1));
    }
    xh.narrow(2, 0, I).copy_(xc);
    const Tensor dw = at::mm(dg2.t(), xh.view({T * B, I + H}));  // (H, I+H)
    if (need_w_ih) dw_ih = dw.narrow(1, 0, I).contiguous();
    if (need_w_hh) dw_hh = dw.narrow(1, I, H).contiguous();
  }
  Tensor db = need_b ? at::mv(dg2.t(), at::ones({T * B}, xc.options())) : absent();
  return {dx, dw_ih, dw_hh, db, dh0};
}

std::tuple<Tensor, Tensor> lstm_step_infer(const Tensor& x, const Tensor& w_ih,
                                           const Tensor& w_hh, const OptTensor& b_ih,
                                           const OptTensor& b_hh, const OptTensor& w_hr,
                                           const Tensor& h, const Tensor& c) {
  return lstm_step(x.contiguous(), w_ih.contiguous(), w_hh.contiguous(), joint_bias(b_ih, b_hh),
                   contiguous(w_hr), h.contiguous(), c.contiguous());
}

}  // namespace

TORCH_LIBRARY_FRAGMENT(rnnkit, m) {
  m.def(
      "elman_infer(Tensor x, Tensor w_ih, Tensor w_hh, Tensor? b_ih, Tensor? b_hh, Tensor? h0, "
      "Tensor? batch_sizes, bool reverse, bool relu) -> (Tensor, Tensor)");
  m.def(
      "lstm_infer(Tensor x, Tensor w_ih, Tensor w_hh, Tensor? b_ih, Tensor? b_hh, Tensor? w_hr, "
      "Tensor h0, Tensor c0, Tensor? batch_sizes, bool reverse) -> (Tensor, Tensor, Tensor)");
  m.def(
      "gru_infer(Tensor x, Tensor w_ih, Tensor w_hh, Tensor? b_ih, Tensor? b_hh, Tensor h0, "
      "Tensor? batch_sizes, bool reverse) -> (Tensor, Tensor)");
  m.def(
      "lstm_step_infer(Tensor x, Tensor w_ih, Tensor w_hh, Tensor? b_ih, Tensor? b_hh, "
      "Tensor? w_hr, Tensor h, Tensor c) -> (Tensor, Tensor)");
  m.def(
      "elman_train_backward(Tensor dy, Tensor dhT, Tensor x, Tensor w_ih, Tensor w_hh, "
      "Tensor h0, Tensor y, bool reverse, bool relu, bool need_x, bool need_w_ih, "
      "bool need_w_hh, bool need_b) -> (Tensor, Tensor, Tensor, Tensor, Tensor)");
}

TORCH_LIBRARY_IMPL(rnnkit, CPU, m) {
  m.impl("elman_infer", &elman_infer);
  m.impl("lstm_infer", &lstm_infer);
  m.impl("gru_infer", &gru_infer);
  m.impl("lstm_step_infer", &lstm_step_infer);
  m.impl("elman_train_backward", &elman_train_backward);
}

}  // namespace rnnkit
