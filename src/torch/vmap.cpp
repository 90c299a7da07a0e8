// vmap.cpp -- functorch's vmap machinery of libtorch 1.13 behind a C ABI
// (nt_vmap_*), for nyto.batched_forward.  The dynamic layer is pushed and
// popped by these entry points only; the Lua binding calls push, runs the
// forward under lua_pcall, then unwraps and pops, also on error, and raises
// only after pop (src/lua/vmap.c).  No exception crosses this boundary.
#include <ATen/ATen.h>
#include <ATen/functorch/BatchedTensorImpl.h>
#include <ATen/functorch/DynamicLayer.h>
#include <c10/util/Exception.h>

#include <cstdio>
#include <cstring>
#include <string>

#include "nt.h"

struct nt_tensor {
  at::Tensor t;
};

namespace {
void vm_error(const char *what) {
  size_t n = std::strcspn(what, "\n");
  std::string s(what, n);
  nt_set_error(s.c_str());
}

// Counts the warnings of functorch's per-op loop fallback during a call.
struct FallbackCounter : public c10::WarningHandler {
  c10::WarningHandler *prev;
  int count = 0;
  std::string first;
  explicit FallbackCounter(c10::WarningHandler *p) : prev(p) {}
  void process(const c10::SourceLocation &loc, const std::string &m, const bool verbatim) override {
    if (m.find("performance drop") != std::string::npos || m.find("batching rule") != std::string::npos) {
      if (count++ == 0) first = m.substr(0, m.find('\n'));
    } else if (prev) {
      prev->process(loc, m, verbatim);
    }
  }
};
thread_local FallbackCounter *counter = nullptr;
thread_local bool prev_fallback_warn = false;
}  // namespace

#define VM_TRY(body)                                    \
  try {                                                 \
    body;                                               \
    return 0;                                           \
  } catch (const c10::Error &e) {                       \
    vm_error(e.what_without_backtrace());               \
  } catch (const std::exception &e) {                   \
    vm_error(e.what());                                 \
  } catch (...) {                                       \
    nt_set_error("unknown C++ exception");              \
  }                                                     \
  return -1;

extern "C" int nt_vmap_push(int64_t n, int64_t *level) {
  VM_TRY({
    int64_t lv = at::functorch::initAndPushDynamicLayer(at::functorch::TransformType::Vmap, n,
                                                        at::functorch::RandomnessType::Error);
    try {
      prev_fallback_warn = at::globalContext().areVmapFallbackWarningsEnabled();
      at::globalContext().setDisplayVmapFallbackWarnings(true);
      counter = new FallbackCounter(c10::Warning::get_warning_handler());
      c10::Warning::set_warning_handler(counter);
    } catch (...) {
      at::functorch::popDynamicLayerAndDeleteMetadata();
      throw;
    }
    *level = lv;
  })
}

// Pops the layer pushed by nt_vmap_push (never fails); *nfallback: how many
// ops ran through functorch's per-op loop fallback, their first message in msg.
extern "C" void nt_vmap_pop(int *nfallback, char *msg, size_t msglen) {
  try {
    at::functorch::popDynamicLayerAndDeleteMetadata();
  } catch (...) {
  }
  if (counter) {
    c10::Warning::set_warning_handler(counter->prev);
    if (nfallback) *nfallback = counter->count;
    if (msg && msglen) std::snprintf(msg, msglen, "%s", counter->first.c_str());
    delete counter;
    counter = nullptr;
  }
  try {
    at::globalContext().setDisplayVmapFallbackWarnings(prev_fallback_warn);
  } catch (...) {
  }
}

// A batched view of t at `level`, its dim `bdim` (0-based) the batch.
extern "C" int nt_vmap_wrap(const nt_tensor *t, int64_t bdim, int64_t level, nt_tensor **out) {
  VM_TRY(*out = new nt_tensor{at::functorch::addBatchDim(t->t, bdim, level)})
}

// The plain tensor under a result of the forward, its batch dim moved to
// out_dim (0-based); a result not batched at `level` (it does not depend on
// the members) is expanded to size n there, as functorch's _remove_batch_dim.
extern "C" int nt_vmap_unwrap(const nt_tensor *t, int64_t level, int64_t n, int64_t out_dim, nt_tensor **out) {
  VM_TRY({
    const at::Tensor &x = t->t;
    auto *b = at::functorch::maybeGetBatchedImpl(x);
    at::Tensor r;
    if (!b || b->level() != level) {
      if (b) throw std::runtime_error("a result of the forward is batched at another level");
      auto sz = x.sizes().vec();
      sz.insert(sz.begin() + out_dim, n);
      r = x.unsqueeze(out_dim).expand(sz);
    } else {
      r = at::movedim(b->value(), b->bdim(), out_dim);
    }
    *out = new nt_tensor{std::move(r)};
  })
}

// 1 when t is a batched tensor (of any level).
extern "C" int nt_vmap_is_batched(const nt_tensor *t) {
  return t->t.defined() && at::functorch::isBatchedTensor(t->t);
}

// The population-aware linear used under a vmap layer (a fused batching rule):
// y = x W^T + b with W batched at `level`: one baddbmm [n, M, in] @ [n, in, out]
// + b (the bias in the same pass), over x's rows expanded to every member when x
// is not batched; the result [n, ..., out] is batched at dim 0.  *out = NULL (and 0) when the case is
// not one of these: the caller then runs at::linear under functorch's rule.
static void vm_linear(const nt_tensor *x, const nt_tensor *w, const nt_tensor *b, int64_t level, nt_tensor **out) {
  {
    namespace ft = at::functorch;
    auto *wb = ft::maybeGetBatchedImpl(w->t);
    if (!wb || wb->level() != level) return;
    at::Tensor W = at::movedim(wb->value(), wb->bdim(), 0);  // [n, out, in]
    if (W.dim() != 3) return;
    int64_t n = W.size(0), fo = W.size(1), fi = W.size(2);
    at::Tensor B;  // [n, out] or undefined
    if (b && b->t.defined()) {
      auto *bb = ft::maybeGetBatchedImpl(b->t);
      if (bb && bb->level() != level) return;
      B = bb ? at::movedim(bb->value(), bb->bdim(), 0) : b->t.unsqueeze(0).expand({n, fo});
      if (B.dim() != 2 || B.size(1) != fo) return;
    }
    auto *xb = ft::maybeGetBatchedImpl(x->t);
    at::Tensor y;
    if (!xb) {
      const at::Tensor &X = x->t;
      if (X.dim() < 1 || X.size(-1) != fi || ft::isBatchedTensor(X)) return;
      // measured (bench/batched_forward): one baddbmm over the expanded input
      // beats one addmm over every member's rows, whose [.., n, out] result
      // makes the next layer's batched matmul read strided rows
      at::Tensor X2 = X.reshape({-1, fi});
      at::Tensor X3 = X2.unsqueeze(0).expand({n, X2.size(0), fi});
      at::Tensor y3 = B.defined() ? at::baddbmm(B.unsqueeze(1), X3, W.transpose(1, 2)) : at::bmm(X3, W.transpose(1, 2));
      auto sz = X.sizes().vec();
      sz.back() = fo;
      sz.insert(sz.begin(), n);
      y = ft::addBatchDim(y3.view(sz), 0, level);
    } else {
      if (xb->level() != level) return;
      at::Tensor X = at::movedim(xb->value(), xb->bdim(), 0);  // [n, ..., in]
      if (X.dim() < 2 || X.size(-1) != fi || X.size(0) != n) return;
      at::Tensor X3 = X.reshape({n, -1, fi});
      at::Tensor y3 = B.defined() ? at::baddbmm(B.unsqueeze(1), X3, W.transpose(1, 2)) : at::bmm(X3, W.transpose(1, 2));
      auto sz = X.sizes().vec();
      sz.back() = fo;
      y = ft::addBatchDim(y3.view(sz), 0, level);
    }
    *out = new nt_tensor{std::move(y)};
  }
}

extern "C" int nt_vmap_linear(const nt_tensor *x, const nt_tensor *w, const nt_tensor *b, int64_t level,
                              nt_tensor **out) {
  *out = nullptr;
  VM_TRY(vm_linear(x, w, b, level, out))
}
