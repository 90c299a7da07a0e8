// serialize.cpp -- torch.save's format written by libtorch's own pickler
// (read by src/core/pickle.c, which runs nothing), strided views for the
// tensors read, and the CPU generator's state, behind the C ABI of
// nt_serialize.h.
#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <torch/serialize.h>
#include <torch/torch.h>

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
    std::string m = e.what_without_backtrace();               \
    nt_set_error(m.substr(0, m.find('\n')).c_str());          \
  } catch (const std::exception &e) {                         \
    std::string m = e.what();                                 \
    nt_set_error(m.substr(0, m.find('\n')).c_str());          \
  } catch (...) {                                             \
    nt_set_error("unknown C++ exception");                    \
  }                                                           \
  return -1;

static c10::IValue to_ivalue(const nt_value *v, int depth) {
  if (depth > 200) throw std::runtime_error("value nested too deeply");
  switch (v->kind) {
    case NT_V_NONE: return c10::IValue();
    case NT_V_BOOL: return c10::IValue((bool)v->b);
    case NT_V_INT: return c10::IValue(v->i);
    case NT_V_FLOAT: return c10::IValue(v->f);
    case NT_V_STRING: return c10::IValue(std::string(v->s, v->slen));
    case NT_V_TENSOR: return c10::IValue(v->t->t.detach());
    case NT_V_LIST:
    case NT_V_TUPLE: {
      std::vector<c10::IValue> xs;
      xs.reserve(v->n);
      for (size_t k = 0; k < v->n; k++) xs.push_back(to_ivalue(&v->items[k], depth + 1));
      if (v->kind == NT_V_TUPLE) return c10::ivalue::Tuple::create(std::move(xs));
      c10::impl::GenericList l(c10::AnyType::get());
      for (auto &x : xs) l.push_back(std::move(x));
      return c10::IValue(l);
    }
    case NT_V_DICT: {
      c10::impl::GenericDict d(c10::AnyType::get(), c10::AnyType::get());
      for (size_t k = 0; k < v->n; k++)
        d.insert_or_assign(to_ivalue(&v->items[2 * k], depth + 1), to_ivalue(&v->items[2 * k + 1], depth + 1));
      return c10::IValue(d);
    }
  }
  throw std::runtime_error("unknown value kind");
}

extern "C" int nt_pickle_save(const nt_value *v, char **out, size_t *len) {
  *out = nullptr;
  *len = 0;
  NT_STRY({
    std::vector<char> bytes = torch::pickle_save(to_ivalue(v, 0));
    char *p = (char *)std::malloc(bytes.size() ? bytes.size() : 1);
    if (!p) throw std::bad_alloc();
    std::memcpy(p, bytes.data(), bytes.size());
    *out = p;
    *len = bytes.size();
  })
}

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
