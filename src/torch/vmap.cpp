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

// The small-layer path of the population-aware linear: when nothing needs a
// gradient (no_grad, or no operand requires one), the operands are float32 or
// float64 on the CPU and the layer is small (fin * fout <= NT_BLINEAR_MAX: its
// transposed weight fits in L2), `small` (the core's nyto_batched_linear,
// handed in by the binding: this layer does not call the core) computes every
// member straight into a fresh [n, M, out]; baddbmm would run one BLAS gemm per
// member through libtorch's dispatcher.  Returns the result or undefined.
#define NT_BLINEAR_MAX 16384
// A layer's weight [n, out, in] and bias [n, out] (or undefined), batched at level.
struct vm_layer {
  at::Tensor W, B;
  bool bb = false;  // the bias is batched (else one bias for every member)
};

// the small path's checks of one layer (dtype st, CPU, no gradient, small)
static bool vm_small_ok(const vm_layer &L, at::ScalarType st) {
  const at::Tensor &W = L.W, &B = L.B;
  if (W.scalar_type() != st || !W.device().is_cpu() || (B.defined() && (B.scalar_type() != st || !B.device().is_cpu())))
    return false;
  if (at::GradMode::is_enabled() && (W.requires_grad() || (B.defined() && B.requires_grad()))) return false;
  int64_t fo = W.size(1), fi = W.size(2);
  return fi * fo <= NT_BLINEAR_MAX && fi > 0 && fo > 0;
}

// the bias as the kernel reads it: [n, out], or one [out] for every member
static at::Tensor vm_bias(const vm_layer &L) {
  return L.B.defined() ? (L.bb ? L.B.contiguous() : L.B.select(0, 0).contiguous()) : at::Tensor();
}

// the kernel's view of a layer (x, rows, y: the caller's)
static nt_blinear vm_blinear(const vm_layer &L, const at::Tensor &Wc, const at::Tensor &Bc, int relu) {
  nt_blinear p = {};
  p.dtype = L.W.scalar_type() == at::kDouble ? NT_FLOAT64 : NT_FLOAT32;
  p.n = L.W.size(0), p.fout = L.W.size(1), p.fin = L.W.size(2);
  p.w = Wc.data_ptr(), p.b = Bc.defined() ? Bc.data_ptr() : nullptr;
  p.w_stride = p.fout * p.fin, p.b_stride = L.bb ? p.fout : 0;
  p.relu = relu;
  return p;
}

// L2 (may be NULL): a second layer after this one and its ReLU, on each
// member's result while in cache (Linear -> ReLU -> Linear): the result is
// then L2's, and the first layer's is never written
static at::Tensor vm_linear_small(const at::Tensor &X, bool xb, const vm_layer &L, int (*small)(const nt_blinear *),
                                  int relu, const vm_layer *L2) {
  if (!small) return at::Tensor();
  auto st = L.W.scalar_type();
  if ((st != at::kFloat && st != at::kDouble) || X.scalar_type() != st || !X.device().is_cpu()) return at::Tensor();
  if (at::GradMode::is_enabled() && X.requires_grad()) return at::Tensor();
  if (!vm_small_ok(L, st) || (L2 && (!vm_small_ok(*L2, st) || L2->W.size(2) != L.W.size(1)))) return at::Tensor();
  int64_t n = L.W.size(0), fo = L.W.size(1), fi = L.W.size(2);
  at::Tensor Wc = L.W.contiguous();
  at::Tensor Xc = xb ? X.reshape({n, -1, fi}).contiguous() : X.reshape({-1, fi}).contiguous();
  int64_t rows = xb ? Xc.size(1) : Xc.size(0);
  at::Tensor Bc = vm_bias(L);
  nt_blinear p = vm_blinear(L, Wc, Bc, relu), q;
  p.rows = rows, p.x = Xc.data_ptr(), p.x_stride = xb ? rows * fi : 0;
  at::Tensor W2c, B2c, Y;
  if (L2) {
    W2c = L2->W.contiguous();
    B2c = vm_bias(*L2);
    q = vm_blinear(*L2, W2c, B2c, 0);
    Y = at::empty({n, rows, q.fout}, L.W.options());
    q.y = Y.data_ptr(), q.y_stride = rows * q.fout;
    p.next = &q;
  } else {
    Y = at::empty({n, rows, fo}, L.W.options());
    p.y = Y.data_ptr(), p.y_stride = rows * fo;
  }
  if (small(&p) != 0) throw std::bad_alloc();
  return Y;
}

// w (and b) as a layer batched at level: false when it is not one
static bool vm_layer_of(const nt_tensor *w, const nt_tensor *b, int64_t level, vm_layer &L) {
  namespace ft = at::functorch;
  auto *wb = ft::maybeGetBatchedImpl(w->t);
  if (!wb || wb->level() != level) return false;
  L.W = at::movedim(wb->value(), wb->bdim(), 0);  // [n, out, in]
  if (L.W.dim() != 3) return false;
  int64_t n = L.W.size(0), fo = L.W.size(1);
  if (b && b->t.defined()) {
    auto *bb = ft::maybeGetBatchedImpl(b->t);
    if (bb && bb->level() != level) return false;
    L.bb = bb != nullptr;
    L.B = bb ? at::movedim(bb->value(), bb->bdim(), 0) : b->t.unsqueeze(0).expand({n, fo});
    if (L.B.dim() != 2 || L.B.size(1) != fo || L.B.size(0) != n) return false;
  }
  return true;
}

// The population-aware linear used under a vmap layer (a fused batching rule):
// y = x W^T + b with W batched at `level`: small layers without autograd through
// vm_linear_small, else one baddbmm [n, M, in] @ [n, in, out] + b (the bias in
// the same pass), over x's rows expanded to every member when x is not batched;
// the result [n, ..., out] is batched at dim 0.  *out = NULL (and 0) when the
// case is not one of these: the caller then runs at::linear under functorch's rule.
// relu: the linear of a Linear -> ReLU pair, the ReLU in the kernel: only the
// small path applies (else *out stays NULL and the caller runs both layers).
// w2 (b2): a Linear -> ReLU -> Linear (relu set), the small path only.
static void vm_linear(const nt_tensor *x, const nt_tensor *w, const nt_tensor *b, int64_t level,
                      int (*small)(const nt_blinear *), int relu, const nt_tensor *w2, const nt_tensor *b2,
                      nt_tensor **out) {
  {
    namespace ft = at::functorch;
    vm_layer L, L2;
    if (!vm_layer_of(w, b, level, L) || (w2 && (!relu || !vm_layer_of(w2, b2, level, L2)))) return;
    if (w2 && L2.W.size(0) != L.W.size(0)) return;
    const vm_layer *pl2 = w2 ? &L2 : nullptr;
    const at::Tensor &W = L.W, &B = L.B;
    int64_t n = W.size(0), fo = w2 ? L2.W.size(1) : W.size(1), fi = W.size(2);
    auto *xb = ft::maybeGetBatchedImpl(x->t);
    at::Tensor y;
    if (!xb) {
      const at::Tensor &X = x->t;
      if (X.dim() < 1 || X.size(-1) != fi || ft::isBatchedTensor(X)) return;
      auto sz = X.sizes().vec();
      sz.back() = fo;
      sz.insert(sz.begin(), n);
      at::Tensor y3 = vm_linear_small(X, false, L, small, relu, pl2);
      if (!y3.defined()) {
        if (relu) return;
        // measured (bench/batched_forward): one baddbmm over the expanded input
        // beats one addmm over every member's rows, whose [.., n, out] result
        // makes the next layer's batched matmul read strided rows
        at::Tensor X2 = X.reshape({-1, fi});
        at::Tensor X3 = X2.unsqueeze(0).expand({n, X2.size(0), fi});
        y3 = B.defined() ? at::baddbmm(B.unsqueeze(1), X3, W.transpose(1, 2)) : at::bmm(X3, W.transpose(1, 2));
      }
      y = ft::addBatchDim(y3.view(sz), 0, level);
    } else {
      if (xb->level() != level) return;
      at::Tensor X = at::movedim(xb->value(), xb->bdim(), 0);  // [n, ..., in]
      if (X.dim() < 2 || X.size(-1) != fi || X.size(0) != n) return;
      auto sz = X.sizes().vec();
      sz.back() = fo;
      at::Tensor y3 = vm_linear_small(X, true, L, small, relu, pl2);
      if (!y3.defined()) {
        if (relu) return;
        at::Tensor X3 = X.reshape({n, -1, fi});
        y3 = B.defined() ? at::baddbmm(B.unsqueeze(1), X3, W.transpose(1, 2)) : at::bmm(X3, W.transpose(1, 2));
      }
      y = ft::addBatchDim(y3.view(sz), 0, level);
    }
    *out = new nt_tensor{std::move(y)};
  }
}

extern "C" int nt_vmap_linear(const nt_tensor *x, const nt_tensor *w, const nt_tensor *b, int64_t level,
                              int (*small)(const nt_blinear *), int relu, const nt_tensor *w2, const nt_tensor *b2,
                              nt_tensor **out) {
  *out = nullptr;
  VM_TRY(vm_linear(x, w, b, level, small, relu, w2, b2, out))
}

// The population-aware Conv2d + ReLU + MaxPool2d(2) block of the batched
// forward (lua/nyto/batched.lua finds the three layers in a Sequential):
// float32 on the CPU, nothing needing a gradient, groups 1, dilation 1, the
// weight batched at `level`, the input shared ([B, C, H, W], not batched) or
// batched there.  Into a fresh [n, B, O, OH, OW] (batched at dim 0), by
//  - `direct` (the core's nyto_conv_relu_pool: the convolution, the pool and
//    the ReLU in registers, no full-size activation) for shallow convolutions
//    (C * kh * kw <= NT_BCONV_DIRECT_TAPS: oneDNN is memory-bound there), or
//  - one at::conv2d per member (oneDNN: near the machine's peak for deep
//    convolutions, unlike functorch's grouped convolution), its output still
//    in cache when `pool` (nyto_relu_pool2) takes the ReLU and the max.
// mode: 0 chooses, 1 direct, 2 per member (specs test both).  *out = NULL when
// the case is not one of these: the caller then runs the three layers.
#define NT_BCONV_DIRECT_TAPS 64
static void vm_conv_pool(const nt_tensor *x, const nt_tensor *w, const nt_tensor *b, const int64_t *st,
                         const int64_t *pd, int64_t level, int mode, int (*direct)(const nt_bconv *),
                         void (*pool)(const float *, float *, int64_t, int64_t, int64_t), nt_tensor **out) {
  namespace ft = at::functorch;
  auto *wb = ft::maybeGetBatchedImpl(w->t);
  if (!wb || wb->level() != level || !direct || !pool) return;
  at::Tensor W = at::movedim(wb->value(), wb->bdim(), 0);  // [n, O, C, kh, kw]
  if (W.dim() != 5 || W.scalar_type() != at::kFloat || !W.device().is_cpu()) return;
  const int64_t n = W.size(0), O = W.size(1), C = W.size(2), KH = W.size(3), KW = W.size(4);
  if (st[0] < 1 || st[1] < 1 || pd[0] < 0 || pd[1] < 0 || n < 1 || O < 1 || C < 1 || KH < 1 || KW < 1) return;
  at::Tensor B;  // [n, O] or undefined
  bool bbat = false;
  if (b && b->t.defined()) {
    auto *bb = ft::maybeGetBatchedImpl(b->t);
    if (bb && bb->level() != level) return;
    bbat = bb != nullptr;
    B = bb ? at::movedim(bb->value(), bb->bdim(), 0) : b->t;
    if (B.scalar_type() != at::kFloat || !B.device().is_cpu() || (ft::isBatchedTensor(B))) return;
    if (bbat ? (B.dim() != 2 || B.size(0) != n || B.size(1) != O) : (B.dim() != 1 || B.size(0) != O)) return;
  }
  auto *xb = ft::maybeGetBatchedImpl(x->t);
  at::Tensor X;  // [n, B, C, H, W] when batched, else [B, C, H, W]
  if (xb) {
    if (xb->level() != level) return;
    X = at::movedim(xb->value(), xb->bdim(), 0);
    if (X.dim() != 5 || X.size(0) != n) return;
  } else {
    X = x->t;
    if (X.dim() != 4 || ft::isBatchedTensor(X)) return;
  }
  if (X.scalar_type() != at::kFloat || !X.device().is_cpu()) return;
  if (at::GradMode::is_enabled() && (W.requires_grad() || X.requires_grad() || (B.defined() && B.requires_grad())))
    return;
  const int64_t Bn = X.size(-4), H = X.size(-2), Wd = X.size(-1);
  if (X.size(-3) != C || Bn < 1 || H + 2 * pd[0] < KH || Wd + 2 * pd[1] < KW) return;
  const int64_t CH = (H + 2 * pd[0] - KH) / st[0] + 1, CW = (Wd + 2 * pd[1] - KW) / st[1] + 1;
  const int64_t OH = CH / 2, OW = CW / 2;
  if (OH < 1 || OW < 1) return;
  at::Tensor Y = at::empty({n, Bn, O, OH, OW}, W.options());
  bool use_direct = mode == 1 || (mode == 0 && C * KH * KW <= NT_BCONV_DIRECT_TAPS);
  if (use_direct) {
    at::Tensor Wc = W.contiguous(), Xc = X.contiguous(), Bc = B.defined() ? B.contiguous() : at::Tensor();
    nt_bconv p;
    p.n = n, p.batch = Bn, p.cin = C, p.ih = H, p.iw = Wd, p.cout = O, p.kh = KH, p.kw = KW;
    p.sh = st[0], p.sw = st[1], p.ph = pd[0], p.pw = pd[1], p.oh = OH, p.ow = OW;
    p.x = Xc.data_ptr<float>(), p.w = Wc.data_ptr<float>(), p.b = Bc.defined() ? Bc.data_ptr<float>() : nullptr;
    p.y = Y.data_ptr<float>();
    p.x_stride = xb ? Bn * C * H * Wd : 0, p.w_stride = O * C * KH * KW, p.b_stride = bbat ? O : 0;
    p.y_stride = Bn * O * OH * OW;
    if (direct(&p) != 0) throw std::bad_alloc();
  } else {
    float *y = Y.data_ptr<float>();
    for (int64_t m = 0; m < n; m++) {
      at::Tensor Bm = B.defined() ? (bbat ? B.select(0, m) : B) : at::Tensor();
      at::Tensor Cm = at::conv2d(xb ? X.select(0, m) : X, W.select(0, m), Bm, {st[0], st[1]}, {pd[0], pd[1]}).contiguous();
      pool(Cm.data_ptr<float>(), y + m * Bn * O * OH * OW, Bn * O, CH, CW);
    }
  }
  *out = new nt_tensor{ft::addBatchDim(Y, 0, level)};
}

extern "C" int nt_vmap_conv_pool(const nt_tensor *x, const nt_tensor *w, const nt_tensor *b, const int64_t *stride,
                                 const int64_t *padding, int64_t level, int mode, int (*direct)(const nt_bconv *),
                                 void (*pool)(const float *, float *, int64_t, int64_t, int64_t), nt_tensor **out) {
  *out = nullptr;
  VM_TRY(vm_conv_pool(x, w, b, stride, padding, level, mode, direct, pool, out))
}
