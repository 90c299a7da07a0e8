// nt.cpp -- the only C++ in nyto: a C ABI over libtorch (after tch-rs's
// torch_api.cpp).  Every entry point runs its body inside NT_TRY, which turns
// any exception into a status and a message in a thread-local buffer.
#include <ATen/ATen.h>
#include <torch/torch.h>

#include <dlfcn.h>

#include <cstdio>
#include <cstring>
#include <exception>
#include <new>

#include "nt.h"

struct nt_tensor {
  at::Tensor t;
};

static thread_local char nt_errbuf[1024];

extern "C" const char *nt_error(void) { return nt_errbuf; }

extern "C" void nt_set_error(const char *msg) {
  std::snprintf(nt_errbuf, sizeof nt_errbuf, "%s", msg ? msg : "");
}

// libtorch messages carry a C++ backtrace after the first line; keep the first
// line (the reason) only.
extern "C" void nt_set_error_line(const char *what) {
  size_t n = std::strcspn(what, "\n");
  if (n >= sizeof nt_errbuf) n = sizeof nt_errbuf - 1;
  std::memcpy(nt_errbuf, what, n);
  nt_errbuf[n] = '\0';
}

#define NT_TRY(body)                                       \
  try {                                                    \
    body;                                                  \
    return 0;                                              \
  } catch (const c10::Error &e) {                          \
    nt_set_error_line(e.what_without_backtrace());           \
  } catch (const std::exception &e) {                      \
    nt_set_error_line(e.what());                             \
  } catch (...) {                                          \
    nt_set_error("unknown C++ exception");                 \
  }                                                        \
  return -1;

static at::ScalarType nt_scalar_type(int dtype) {
  switch (dtype) {
    case NT_FLOAT64: return at::kDouble;
    case NT_INT64: return at::kLong;
    case NT_BOOL: return at::kBool;
    default: return at::kFloat;
  }
}

/* Handles are recycled through a small per-thread free list: a tensor op
 * makes and drops one per result, and malloc's slow paths showed up in the
 * per-op profile once the collector freed handles in batches. */
namespace {
struct HandleCache {
  nt_tensor *items[256];
  int n = 0;
  ~HandleCache() {
    while (n > 0) ::operator delete(items[--n]);
  }
};
thread_local HandleCache handle_cache;
}  // namespace

static nt_tensor *nt_wrap(at::Tensor t) {
  HandleCache &c = handle_cache;
  void *mem = c.n > 0 ? c.items[--c.n] : ::operator new(sizeof(nt_tensor));
  return new (mem) nt_tensor{std::move(t)};
}

extern "C" void nt_free(nt_tensor *t) {
  if (!t) return;
  t->~nt_tensor();
  HandleCache &c = handle_cache;
  if (c.n < 256) c.items[c.n++] = t;
  else ::operator delete(t);
}

extern "C" int nt_new(int kind, const int64_t *sizes, int ndim, int dtype, double v, nt_tensor **out) {
  NT_TRY({
    auto opts = at::TensorOptions().dtype(nt_scalar_type(dtype));
    at::IntArrayRef sz(sizes, ndim);
    at::Tensor r;
    switch (kind) {
      case NT_ZEROS: r = at::zeros(sz, opts); break;
      case NT_ONES: r = at::ones(sz, opts); break;
      case NT_FULL: r = at::full(sz, v, opts); break;
      case NT_RANDN: r = at::randn(sz, opts); break;
      case NT_RAND: r = at::rand(sz, opts); break;
      default: r = at::empty(sz, opts); break;
    }
    *out = nt_wrap(std::move(r));
  })
}

extern "C" int nt_like(int kind, const nt_tensor *t, double v, nt_tensor **out) {
  NT_TRY({
    const at::Tensor &s = t->t;
    at::Tensor r;
    switch (kind) {
      case NT_ZEROS: r = at::zeros_like(s); break;
      case NT_ONES: r = at::ones_like(s); break;
      case NT_FULL: r = at::full_like(s, v); break;
      case NT_RANDN: r = at::randn_like(s); break;
      case NT_RAND: r = at::rand_like(s); break;
      default: r = at::empty_like(s); break;
    }
    *out = nt_wrap(std::move(r));
  })
}

extern "C" int nt_from_doubles(const double *data, const int64_t *sizes, int ndim, int dtype, nt_tensor **out) {
  NT_TRY({
    at::IntArrayRef sz(sizes, ndim);
    auto src = at::from_blob(const_cast<double *>(data), sz, at::kDouble);
    *out = nt_wrap(src.to(nt_scalar_type(dtype), false, /*copy=*/true));
  })
}

extern "C" int nt_from_int64s(const int64_t *data, const int64_t *sizes, int ndim, nt_tensor **out) {
  NT_TRY({
    at::IntArrayRef sz(sizes, ndim);
    auto src = at::from_blob(const_cast<int64_t *>(data), sz, at::kLong);
    *out = nt_wrap(src.clone());
  })
}

extern "C" int nt_arange(double a, double b, double step, int dtype, nt_tensor **out) {
  NT_TRY(*out = nt_wrap(at::arange(a, b, step, at::TensorOptions().dtype(nt_scalar_type(dtype)))))
}

extern "C" int nt_eye(int64_t n, int64_t m, int dtype, nt_tensor **out) {
  NT_TRY(*out = nt_wrap(at::eye(n, m, at::TensorOptions().dtype(nt_scalar_type(dtype)))))
}

extern "C" int nt_cat(const nt_tensor *const *ts, int n, int dim, int stack, nt_tensor **out) {
  NT_TRY({
    std::vector<at::Tensor> v;
    v.reserve(n);
    for (int i = 0; i < n; i++) v.push_back(ts[i]->t);
    *out = nt_wrap(stack ? at::stack(v, dim) : at::cat(v, dim));
  })
}

extern "C" int nt_shallow(const nt_tensor *t, nt_tensor **out) { NT_TRY(*out = nt_wrap(t->t)) }

static std::vector<int64_t> nt_contiguous_strides(at::IntArrayRef sizes) {
  std::vector<int64_t> st(sizes.size());
  int64_t s = 1;
  for (int i = (int)sizes.size() - 1; i >= 0; i--) {
    st[i] = s;
    s *= sizes[i];
  }
  return st;
}

extern "C" int nt_view_of(const nt_tensor *base, int64_t offset, const int64_t *sizes, int ndim,
                          int requires_grad, nt_tensor **out) {
  NT_TRY({
    at::NoGradGuard ng;
    at::IntArrayRef sz(sizes, ndim);
    auto st = nt_contiguous_strides(sz);
    at::Tensor r = at::empty({0}, base->t.options());
    r.set_(base->t.storage(), base->t.storage_offset() + offset, sz, st);
    if (requires_grad) r.requires_grad_(true);
    *out = nt_wrap(std::move(r));
  })
}

extern "C" int nt_set_to_view(nt_tensor *t, const nt_tensor *base, int64_t offset) {
  NT_TRY({
    at::NoGradGuard ng;
    at::Tensor &x = t->t;
    if (x.scalar_type() != base->t.scalar_type()) throw std::runtime_error("dtype differs from the buffer");
    auto sz = x.sizes().vec();
    auto st = nt_contiguous_strides(sz);
    at::Tensor slot = at::empty({0}, base->t.options());
    slot.set_(base->t.storage(), base->t.storage_offset() + offset, sz, st);
    slot.copy_(x);
    x.set_(base->t.storage(), base->t.storage_offset() + offset, sz, st);
  })
}

extern "C" int nt_dim(const nt_tensor *t) { return (int)t->t.dim(); }
extern "C" int64_t nt_size(const nt_tensor *t, int d) {
  // never throws: callers check d, and an unchecked d must not abort the process
  if (!t->t.defined() || d < 0 || d >= (int)t->t.dim()) return -1;
  return t->t.sizes()[d];
}
extern "C" int64_t nt_numel(const nt_tensor *t) { return t->t.numel(); }
extern "C" int nt_is_contiguous(const nt_tensor *t) { return t->t.is_contiguous(); }
extern "C" int nt_requires_grad(const nt_tensor *t) { return t->t.requires_grad(); }
extern "C" int nt_is_leaf(const nt_tensor *t) { return t->t.is_leaf(); }

extern "C" const char *nt_grad_fn_name(const nt_tensor *t) {
  static thread_local char buf[128];
  try {
    const auto &fn = t->t.grad_fn();
    if (!fn) return nullptr;
    std::string name = fn->name();
    auto pos = name.rfind("::");  // "torch::autograd::AccumulateGrad" prints as AccumulateGrad
    if (pos != std::string::npos) name = name.substr(pos + 2);
    std::snprintf(buf, sizeof buf, "%s", name.c_str());
    return buf;
  } catch (...) {
    return nullptr;
  }
}
extern "C" int nt_same(const nt_tensor *a, const nt_tensor *b) {
  return a->t.unsafeGetTensorImpl() == b->t.unsafeGetTensorImpl();
}

extern "C" int nt_storage_unique(const nt_tensor *t) {
  return t->t.defined() && t->t.use_count() == 1 && t->t.storage().use_count() == 1;
}

extern "C" int nt_dtype(const nt_tensor *t) {
  switch (t->t.scalar_type()) {
    case at::kDouble: return NT_FLOAT64;
    case at::kLong: return NT_INT64;
    case at::kBool: return NT_BOOL;
    default: return NT_FLOAT32;
  }
}

extern "C" void *nt_data(const nt_tensor *t) {
  try {
    return t->t.defined() ? t->t.data_ptr() : nullptr;
  } catch (...) {
    return nullptr;
  }
}

extern "C" size_t nt_storage_bytes(const nt_tensor *t) {
  return t->t.defined() && t->t.has_storage() ? t->t.storage().nbytes() : 0;
}

extern "C" const void *nt_storage_id(const nt_tensor *t) {
  return t->t.defined() && t->t.has_storage() ? (const void *)t->t.storage().unsafeGetStorageImpl() : nullptr;
}

extern "C" int nt_to_doubles(const nt_tensor *t, double *buf, int64_t n) {
  NT_TRY({
    at::Tensor d = t->t.detach().to(at::kDouble).contiguous();
    if (d.numel() != n) throw std::runtime_error("size mismatch");
    if (n > 0) std::memcpy(buf, d.data_ptr<double>(), sizeof(double) * (size_t)n);
  })
}

extern "C" int nt_to_int64s(const nt_tensor *t, int64_t *buf, int64_t n) {
  NT_TRY({
    at::Tensor d = t->t.detach().to(at::kLong).contiguous();
    if (d.numel() != n) throw std::runtime_error("size mismatch");
    if (n > 0) std::memcpy(buf, d.data_ptr<int64_t>(), sizeof(int64_t) * (size_t)n);
  })
}

extern "C" int nt_item(const nt_tensor *t, double *v) {
  NT_TRY({
    if (t->t.numel() != 1)
      throw std::runtime_error("a Tensor with " + std::to_string(t->t.numel()) +
                               " elements cannot be converted to a number");
    *v = t->t.item<double>();
  })
}

// Index tensors between Lua (1-based) and the op bodies (0-based): the binding
// converts, in one place (src/lua/tensor.c, the 'X' and 'c' letters and the
// ">ni" results of ops.def), with these two.
extern "C" int nt_index_shift(const nt_tensor *t, int64_t delta, nt_tensor **out) {
  NT_TRY(*out = nt_wrap(t->t.to(at::kLong) + delta))
}

extern "C" int nt_int_range(const nt_tensor *t, int64_t *lo, int64_t *hi) {
  NT_TRY({
    *lo = t->t.min().item<int64_t>();
    *hi = t->t.max().item<int64_t>();
  })
}

extern "C" int nt_set_requires_grad(nt_tensor *t, int flag) { NT_TRY(t->t.requires_grad_(flag != 0)) }

extern "C" int nt_backward(nt_tensor *t, const nt_tensor *grad) {
  NT_TRY({
    if (!grad && t->t.numel() != 1)
      throw std::runtime_error("backward on a tensor of " + std::to_string(t->t.numel()) +
                               " elements needs a gradient argument (grad can be implicitly created only for scalar outputs)");
    if (grad)
      t->t.backward(grad->t);
    else
      t->t.backward();
  })
}

extern "C" int nt_grad(const nt_tensor *t, nt_tensor **out) {
  NT_TRY({
    const at::Tensor &g = t->t.grad();
    *out = g.defined() ? nt_wrap(g) : nullptr;
  })
}

extern "C" int nt_set_grad(nt_tensor *t, const nt_tensor *g) {
  NT_TRY({
    // as PyTorch's t.grad = g: the same shape and dtype as t
    if (g && !g->t.sizes().equals(t->t.sizes()))
      throw std::runtime_error("assigned grad has shape " + c10::str(g->t.sizes()) + ", the tensor has shape " +
                               c10::str(t->t.sizes()));
    if (g && g->t.scalar_type() != t->t.scalar_type())
      throw std::runtime_error(std::string("assigned grad has dtype ") + c10::toString(g->t.scalar_type()) +
                               ", the tensor has dtype " + c10::toString(t->t.scalar_type()));
    t->t.mutable_grad() = g ? g->t : at::Tensor();
  })
}

extern "C" int nt_grad_enabled(void) { return at::GradMode::is_enabled(); }
extern "C" void nt_set_grad_enabled(int on) { at::GradMode::set_enabled(on != 0); }
extern "C" void nt_manual_seed(uint64_t seed) { torch::manual_seed(seed); }
extern "C" void nt_set_num_threads(int n) {
  try { at::set_num_threads(n); } catch (...) {}
}
extern "C" int nt_get_num_threads(void) { return at::get_num_threads(); }
extern "C" int nt_parallel_for(int64_t n, int64_t grain, void (*fn)(void *, int64_t, int64_t), void *ctx) {
  try {
    at::parallel_for(0, n, grain, [&](int64_t b, int64_t e) { fn(ctx, b, e); });
    return 0;
  } catch (const std::exception &e) {
    nt_set_error(e.what());
  } catch (...) {
    nt_set_error("unknown error in parallel_for");
  }
  return -1;
}

/* ---- the generic op table ---- */

#define NT_OP(name, sig, ...) #name,
extern "C" const char *const nt_op_names[] = {
#include "ops.def"
    nullptr};
#undef NT_OP
#define NT_OP(name, sig, ...) sig,
extern "C" const char *const nt_op_sigs[] = {
#include "ops.def"
    nullptr};
#undef NT_OP

namespace {
struct Args {
  const nt_arg *a;
  int n;
  bool has(int i) const { return i < n && a[i].kind != NT_A_NONE; }
  bool has_t(int i) const { return i < n && a[i].kind == NT_A_TENSOR; }
  const at::Tensor &t(int i) const {
    if (!has_t(i)) throw std::runtime_error("missing tensor argument");
    return a[i].t->t;
  }
  at::Tensor &mt(int i) const { return const_cast<nt_tensor *>(a[i].t)->t; }
  double num(int i) const { return a[i].n; }
  int64_t integer(int i) const { return (int64_t)a[i].n; }
  bool boolean(int i, bool dflt) const { return has(i) ? a[i].n != 0 : dflt; }
  at::IntArrayRef list(int i) const { return at::IntArrayRef(a[i].list, a[i].nlist); }
  at::Tensor floating(int i) const {
    const at::Tensor &x = t(i);
    return x.is_floating_point() ? x : x.to(at::kFloat);
  }
  at::Tensor as_t(int i, int other) const {
    if (has_t(i)) return t(i);
    // a number takes the dtype of the other operand, or float32 when both are numbers
    return at::scalar_tensor(a[i].n, has_t(other) ? t(other).options().requires_grad(false)
                                                  : at::TensorOptions().dtype(at::kFloat));
  }
  c10::optional<at::Tensor> opt_t(int i) const {
    if (has_t(i)) return t(i);
    return c10::nullopt;
  }
  c10::optional<at::Scalar> opt_sc(int i) const {
    if (has(i)) return at::Scalar(a[i].n);
    return c10::nullopt;
  }
  at::Scalar sc(int i) const {
    double v = a[i].n;
    // an integral value keeps an integer tensor integral, as in PyTorch
    if (v == (double)(int64_t)v && v >= -9.0e18 && v <= 9.0e18) return at::Scalar((int64_t)v);
    return at::Scalar(v);
  }
  int64_t reduction(int i) const { return has(i) ? integer(i) : at::Reduction::Mean; }
};
}  // namespace

namespace {
// LAPACK on OpenBLAS splits its work over OpenBLAS's own pool, and the bits of
// the result depend on the pool's size (eigh on a 30 x 30 matrix differs on 1
// and 2 threads).  An op whose result must be the same on any thread count
// (eigh: CMA-ES's seeded runs) holds a BlasSerial while it runs: the pool is
// set to 1 thread and restored after.  Looked up at run time, as src/core/blas.c.
struct BlasSerial {
  int (*get)(void) = nullptr;
  void (*set)(int) = nullptr;
  int old = 0;
  BlasSerial() {
    get = reinterpret_cast<int (*)(void)>(dlsym(RTLD_DEFAULT, "openblas_get_num_threads"));
    set = reinterpret_cast<void (*)(int)>(dlsym(RTLD_DEFAULT, "openblas_set_num_threads"));
    if (get && set) {
      old = get();
      if (old > 1) set(1);
    }
  }
  ~BlasSerial() {
    if (get && set && old > 1) set(old);
  }
};
}  // namespace

extern "C" int nt_call(int op, const nt_arg *args, int nargs, nt_tensor **outs, int *nout) {
  at::Tensor o[4];
  Args A{args, nargs};
#define T(i) A.mt(i)
#define HAS(i) A.has(i)
#define HAS_T(i) A.has_t(i)
#define N(i) A.num(i)
#define I(i) A.integer(i)
#define B(i, d) A.boolean(i, d)
#define L(i) A.list(i)
#define LD(i, d) (HAS(i) ? A.list(i) : at::IntArrayRef(std::vector<int64_t>(1, d)))
#define SC(i) A.sc(i)
#define OPT_SC(i) A.opt_sc(i)
#define OPT_T(i) A.opt_t(i)
#define AS_T(i, other) A.as_t(i, other)
#define FLOATING(i) A.floating(i)
#define RED(i) A.reduction(i)
#define O(k) o[k]
#define OUT(e) (o[0] = (e))
  try {
    for (int i = 0; i < nargs; i++)
      if (args[i].kind == NT_A_TENSOR && !args[i].t->t.defined()) throw std::runtime_error("undefined tensor");
    switch (op) {
#define NT_OP(name, sig, ...) \
  case NT_OP_##name: {        \
    __VA_ARGS__;              \
  } break;
#include "ops.def"
#undef NT_OP
      default: throw std::runtime_error("unknown op");
    }
    int n = 0;
    while (n < 4 && o[n].defined()) n++;
    for (int i = 0; i < n; i++) outs[i] = nullptr;
    for (int i = 0; i < n; i++) outs[i] = nt_wrap(std::move(o[i]));
    *nout = n;
    return 0;
  } catch (const c10::Error &e) {
    nt_set_error_line(e.what_without_backtrace());
  } catch (const std::exception &e) {
    nt_set_error_line(e.what());
  } catch (...) {
    nt_set_error("unknown C++ exception");
  }
  *nout = 0;
  return -1;
}
