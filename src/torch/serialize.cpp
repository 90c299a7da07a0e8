// serialize.cpp -- for nyto.save / nyto.load (src/core/pickle.c reads and
// writes torch.save's format itself): strided views for the tensors read,
// and the CPU generator's state, behind the C ABI of nt_serialize.h.
#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>

#include <cstdlib>
#include <cstring>
#include <exception>
#include <stdexcept>
#include <string>

#include "nt_serialize.h"

struct nt_tensor {
  at::Tensor t;
};


#define NT_STRY(body)                                         \
  try {                                                       \
    body;                                                     \
    return 0;                                                 \
  } catch (const c10::Error &e) {                             \
    nt_set_error_line(e.what_without_backtrace());            \
  } catch (const std::exception &e) {                         \
    nt_set_error_line(e.what());                              \
  } catch (...) {                                             \
    nt_set_error("unknown C++ exception");                    \
  }                                                           \
  return -1;

extern "C" int nt_as_strided(const nt_tensor *base, const int64_t *sizes, const int64_t *strides, int ndim,
                             int64_t offset, nt_tensor **out) {
  *out = nullptr;
  NT_STRY({
    at::Tensor v = base->t.as_strided(at::IntArrayRef(sizes, (size_t)ndim), at::IntArrayRef(strides, (size_t)ndim),
                                      offset);
    *out = new nt_tensor{v};
  })
}

extern "C" int nt_rng_get_state(unsigned char *buf, size_t cap, size_t *len) {
  NT_STRY({
    auto gen = at::detail::getDefaultCPUGenerator();
    std::lock_guard<std::mutex> lock(gen.mutex());
    at::Tensor s = gen.get_state();
    size_t n = (size_t)s.numel();
    *len = n;
    if (n > cap) throw std::runtime_error("generator state larger than the buffer");
    std::memcpy(buf, s.data_ptr(), n);
  })
}

extern "C" int nt_rng_set_state(const unsigned char *buf, size_t len) {
  NT_STRY({
    at::Tensor s = at::empty({(int64_t)len}, at::kByte);
    std::memcpy(s.data_ptr(), buf, len);
    auto gen = at::detail::getDefaultCPUGenerator();
    std::lock_guard<std::mutex> lock(gen.mutex());
    gen.set_state(s);
  })
}
