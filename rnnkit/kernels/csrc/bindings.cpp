// Python bindings of the fused kernels; rnnkit/kernels/cpu.py builds and wraps this module.
#include <torch/extension.h>

#include "common.h"

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
  m.def("elman_forward", &rnnkit::elman_forward);
  m.def("elman_backward", &rnnkit::elman_backward);
  m.def("lstm_forward", &rnnkit::lstm_forward);
  m.def("lstm_backward", &rnnkit::lstm_backward);
  m.def("lstm_step", &rnnkit::lstm_step);
  m.def("lstm_step_bf16", &rnnkit::lstm_step_bf16);
  m.def("gru_forward", &rnnkit::gru_forward);
  m.def("gru_backward", &rnnkit::gru_backward);
  m.def("empty", [](std::vector<int64_t> shape, const at::Tensor& like) {
    return rnnkit::new_buffer(shape, like.options(), false);
  });
  m.def("release_buffers", &rnnkit::release_buffers);
  m.def("set_buffer_cache_limit", &rnnkit::set_buffer_cache_limit);
}
