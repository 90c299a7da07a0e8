// serialize.cpp -- torch.save's format through libtorch's own pickler, and
// the CPU generator's state, behind the C ABI of nt_serialize.h.
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

static void value_clear(nt_value *v) {
  if (!v) return;
  if (v->kind == NT_V_STRING) std::free(v->s);
  if (v->kind == NT_V_TENSOR && v->t) nt_free(v->t);
  if (v->items) {
    size_t m = v->kind == NT_V_DICT ? 2 * v->n : v->n;
    for (size_t k = 0; k < m; k++) value_clear(&v->items[k]);
    std::free(v->items);
  }
  std::memset(v, 0, sizeof *v);
}

extern "C" void nt_value_free(nt_value *v) {
  if (!v) return;
  value_clear(v);
  std::free(v);
}

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

static void from_ivalue(const c10::IValue &iv, nt_value *out, int depth) {
  if (depth > 200) throw std::runtime_error("value nested too deeply");
  std::memset(out, 0, sizeof *out);
  if (iv.isNone()) {
    out->kind = NT_V_NONE;
  } else if (iv.isBool()) {
    out->kind = NT_V_BOOL;
    out->b = iv.toBool();
  } else if (iv.isInt()) {
    out->kind = NT_V_INT;
    out->i = iv.toInt();
  } else if (iv.isDouble()) {
    out->kind = NT_V_FLOAT;
    out->f = iv.toDouble();
  } else if (iv.isString()) {
    const std::string &s = iv.toStringRef();
    out->s = (char *)std::malloc(s.size() + 1);
    if (!out->s) throw std::bad_alloc();
    std::memcpy(out->s, s.data(), s.size());
    out->s[s.size()] = '\0';
    out->slen = s.size();
    out->kind = NT_V_STRING;
  } else if (iv.isTensor()) {
    at::Tensor t = iv.toTensor();
    if (t.device().type() != c10::kCPU) throw std::runtime_error("a tensor not on the CPU");
    at::ScalarType st = t.scalar_type();
    if (st != at::kFloat && st != at::kDouble && st != at::kLong && st != at::kBool)
      throw std::runtime_error(std::string("a tensor of unsupported dtype ") + c10::toString(st));
    out->t = new nt_tensor{t.detach()};
    out->kind = NT_V_TENSOR;
  } else if (iv.isList() || iv.isTuple()) {
    std::vector<c10::IValue> xs;
    if (iv.isList()) {
      for (const c10::IValue &x : iv.toListRef()) xs.push_back(x);
    } else {
      for (const c10::IValue &x : iv.toTupleRef().elements()) xs.push_back(x);
    }
    out->kind = iv.isList() ? NT_V_LIST : NT_V_TUPLE;
    out->items = (nt_value *)std::calloc(xs.size() + 1, sizeof(nt_value));
    if (!out->items) throw std::bad_alloc();
    for (size_t k = 0; k < xs.size(); k++) {
      from_ivalue(xs[k], &out->items[k], depth + 1);
      out->n = k + 1;
    }
  } else if (iv.isGenericDict()) {
    auto d = iv.toGenericDict();
    out->kind = NT_V_DICT;
    out->items = (nt_value *)std::calloc(2 * d.size() + 1, sizeof(nt_value));
    if (!out->items) throw std::bad_alloc();
    size_t k = 0;
    for (const auto &e : d) {
      from_ivalue(e.key(), &out->items[2 * k], depth + 1);
      out->n = k + 1;  // a half-filled pair is freed whole (zeroed value)
      from_ivalue(e.value(), &out->items[2 * k + 1], depth + 1);
      k++;
    }
  } else {
    throw std::runtime_error(std::string("refused a value of type ") + iv.tagKind() +
                             " (only tensors, dicts, lists, tuples, numbers, strings and booleans load)");
  }
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

extern "C" int nt_pickle_load(const char *data, size_t len, nt_value **out) {
  *out = nullptr;
  nt_value *v = (nt_value *)std::calloc(1, sizeof(nt_value));
  if (!v) {
    nt_set_error("out of memory");
    return -1;
  }
  try {
    std::vector<char> bytes(data, data + len);
    c10::IValue iv = torch::pickle_load(bytes);
    from_ivalue(iv, v, 0);
    *out = v;
    return 0;
  } catch (const c10::Error &e) {
    std::string m = e.what_without_backtrace();
    nt_set_error(m.substr(0, m.find('\n')).c_str());
  } catch (const std::exception &e) {
    std::string m = e.what();
    nt_set_error(m.substr(0, m.find('\n')).c_str());
  } catch (...) {
    nt_set_error("unknown C++ exception");
  }
  nt_value_free(v);
  return -1;
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
