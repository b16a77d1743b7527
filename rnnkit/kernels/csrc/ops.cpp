// Inference entry points registered with the dispatcher (TORCH_LIBRARY), apart from the
// Python bindings: a torch.compile graph calls them straight into C++, where the rnnkit::
// operators of rnnkit/cells take a trip through Python (the dispatcher's Python kernel, the
// op's implementation, the kernel lookup) on every call, which made small compiled layers
// slower than eager ones (issue 34). Inference only: no autograd kernel, padded input only;
// rnnkit/cells/_ops.py (`compiled_inference`) says when a compiled layer may call them and
// registers their fake (shape) implementations.
//
//   elman_infer(x (T,B,I), w_ih (H,I), w_hh (H,H), b_ih (H)?, b_hh (H)?, h0 (B,H)?, reverse,
//               relu) -> y (T,B,H), hT (B,H)          h0 absent: zeros
//   lstm_step_infer(x (B,I), w_ih (4H,I), w_hh (4H,P), b_ih (4H)?, b_hh (4H)?, w_hr (P,H)?,
//                   h (B,P), c (B,H)) -> h' (B,P), c' (B,H)
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
// for branch, so that a compiled call rounds as the eager one does.
Tensor input_projection(const Tensor& x, const Tensor& w, const OptTensor& bias) {
  const int64_t T = x.size(0), B = x.size(1), I = x.size(2), G = w.size(0);
  const Tensor x2 = x.reshape({T * B, I});  // (T*B, I)
  Tensor out;
  if (!bias.has_value()) {
    out = at::mm(x2, w.t());
  } else if (4 * (I + 1) <= G) {  // narrow inputs: [x 1] @ [W b]^T
    Tensor xa = at::empty({T * B, I + 1}, x.options());  // (T*B, I+1)
    xa.narrow(1, 0, I).copy_(x2);
    xa.select(1, I).fill_(1);
    out = at::mm(xa, at::cat({w, bias->unsqueeze(1)}, 1).t());
  } else {
    out = at::addmm(*bias, x2, w.t());
  }
  return out.view({T, B, G});  // (T, B, G)
}

std::tuple<Tensor, Tensor> elman_infer(const Tensor& x, const Tensor& w_ih, const Tensor& w_hh,
                                       const OptTensor& b_ih, const OptTensor& b_hh,
                                       const OptTensor& h0, bool reverse, bool relu) {
  const Tensor xc = x.contiguous();
  const int64_t B = xc.size(1), H = w_hh.size(0);
  const Tensor gx = input_projection(xc, w_ih, joint_bias(b_ih, b_hh));  // (T, B, H)
  const Tensor h = h0.has_value() ? h0->contiguous() : at::zeros({B, H}, xc.options());
  return elman_forward(gx, w_hh.contiguous(), h, std::nullopt, reverse, relu, false, 0);
}

std::tuple<Tensor, Tensor> lstm_step_infer(const Tensor& x, const Tensor& w_ih,
                                           const Tensor& w_hh, const OptTensor& b_ih,
                                           const OptTensor& b_hh, const OptTensor& w_hr,
                                           const Tensor& h, const Tensor& c) {
  OptTensor whr = w_hr.has_value() ? OptTensor(w_hr->contiguous()) : std::nullopt;
  return lstm_step(x.contiguous(), w_ih.contiguous(), w_hh.contiguous(), joint_bias(b_ih, b_hh),
                   whr, h.contiguous(), c.contiguous());
}

}  // namespace

TORCH_LIBRARY_FRAGMENT(rnnkit, m) {
  m.def(
      "elman_infer(Tensor x, Tensor w_ih, Tensor w_hh, Tensor? b_ih, Tensor? b_hh, Tensor? h0, "
      "bool reverse, bool relu) -> (Tensor, Tensor)");
  m.def(
      "lstm_step_infer(Tensor x, Tensor w_ih, Tensor w_hh, Tensor? b_ih, Tensor? b_hh, "
      "Tensor? w_hr, Tensor h, Tensor c) -> (Tensor, Tensor)");
}

TORCH_LIBRARY_IMPL(rnnkit, CPU, m) {
  m.impl("elman_infer", &elman_infer);
  m.impl("lstm_step_infer", &lstm_step_infer);
}

}  // namespace rnnkit
