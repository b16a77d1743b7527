// The buffer cache behind new_buffer (common.h). A fresh (T, B, G) buffer of a few MB or more
// is mmap'ed by glibc's malloc and returned to the system when freed, so every training step
// page-faults its gate activations and their gradients in again: about 5 ms of an 18 ms LSTM
// forward at (T,B,I,H) = (500,16,64,128). The cache keeps such buffers and hands one out again
// once nothing else holds it: no other tensor shares its storage (the caller dropped every
// view, autograd released what it saved). A request takes the smallest free buffer with room
// for it, up to twice its size, so batches of varying length reuse the longer ones' buffers.
#include <mutex>

#include "common.h"

namespace rnnkit {
namespace {

constexpr size_t kMaxBuffers = 32;         // distinct buffers kept at once
constexpr int64_t kMinBytes = 256 * 1024;  // below this malloc reuses memory without faults

struct Cache {
  std::mutex lock;
  std::vector<Tensor> flat;             // 1-D, oldest first; hand-outs are views of these
  int64_t limit = int64_t{2} << 30;     // bytes the cache may hold (set_buffer_cache_limit)
  int64_t held() const {
    int64_t bytes = 0;
    for (const Tensor& t : flat) bytes += t.nbytes();
    return bytes;
  }
};

Cache& cache() {
  static Cache* instance = new Cache();  // never destroyed: tensors must not outlive libtorch
  return *instance;
}

// Free: only the cache's own tensor refers to it and to its storage.
bool is_free(const Tensor& t) { return t.use_count() == 1 && t.storage().use_count() == 1; }

// Evicts free buffers, oldest first, until `bytes` more fit in the limit and one more slot is
// open; false if that cannot be done.
bool make_room(Cache& c, int64_t bytes) {
  int64_t held = c.held();
  for (auto it = c.flat.begin(); it != c.flat.end();) {
    if (held + bytes <= c.limit && c.flat.size() < kMaxBuffers) break;
    if (is_free(*it)) {
      held -= it->nbytes();
      it = c.flat.erase(it);
    } else {
      ++it;
    }
  }
  return held + bytes <= c.limit && c.flat.size() < kMaxBuffers;
}

}  // namespace

Tensor new_buffer(at::IntArrayRef shape, const at::TensorOptions& opts, bool zeroed) {
  const int64_t numel = c10::multiply_integers(shape);
  const int64_t bytes =
      numel * static_cast<int64_t>(c10::elementSize(c10::typeMetaToScalarType(opts.dtype())));
  if (bytes < kMinBytes || !opts.device().is_cpu()) {
    return zeroed ? at::zeros(shape, opts) : at::empty(shape, opts);
  }
  Tensor found;
  {
    Cache& c = cache();
    std::lock_guard<std::mutex> guard(c.lock);
    for (const Tensor& t : c.flat) {
      const bool fits = t.numel() >= numel && t.numel() <= 2 * numel;
      if (fits && t.dtype() == opts.dtype() && is_free(t) &&
          (!found.defined() || t.numel() < found.numel())) {
        found = t;
      }
    }
    if (!found.defined()) {
      found = at::empty({numel}, opts);
      if (make_room(c, bytes)) c.flat.push_back(found);
    }
  }
  Tensor out = found.narrow(0, 0, numel).view(shape);
  if (zeroed) out.zero_();
  return out;
}

int64_t release_buffers() {
  Cache& c = cache();
  std::lock_guard<std::mutex> guard(c.lock);
  const int64_t before = c.held();
  c.flat.erase(std::remove_if(c.flat.begin(), c.flat.end(), is_free), c.flat.end());
  return before - c.held();
}

int64_t set_buffer_cache_limit(int64_t bytes) {
  Cache& c = cache();
  std::lock_guard<std::mutex> guard(c.lock);
  const int64_t previous = c.limit;
  c.limit = std::max<int64_t>(bytes, 0);
  make_room(c, 0);
  return previous;
}

}  // namespace rnnkit
