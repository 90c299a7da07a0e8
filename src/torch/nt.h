/* nt.h -- the C ABI over libtorch.  Plain C; the only C++ lives in nt.cpp.
 *
 * Every function returns 0 on success and -1 on failure.  On failure the
 * reason is left in a thread-local buffer read by nt_error(); nothing is
 * allocated for it and nothing throws across this boundary. */
#ifndef NYTO_NT_H
#define NYTO_NT_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct nt_tensor nt_tensor; /* opaque: owns one at::Tensor handle */

enum nt_dtype { NT_FLOAT32 = 0, NT_FLOAT64 = 1, NT_INT64 = 2, NT_BOOL = 3, NT_NDTYPES };

#define NT_MAXDIM 16

/* The last error message of this thread ("" if none). */
const char *nt_error(void);
void nt_set_error(const char *msg);
/* nt_set_error with the first line of what only (libtorch's messages carry a
 * C++ backtrace after it): every C++ file's catch clauses use it */
void nt_set_error_line(const char *what);

void nt_free(nt_tensor *t); /* NULL-safe, never fails */

/* Creation.  kind: 0 empty, 1 zeros, 2 ones, 3 full(v), 4 randn, 5 rand */
enum nt_fill { NT_EMPTY, NT_ZEROS, NT_ONES, NT_FULL, NT_RANDN, NT_RAND };
int nt_new(int kind, const int64_t *sizes, int ndim, int dtype, double v, nt_tensor **out);
int nt_from_doubles(const double *data, const int64_t *sizes, int ndim, int dtype, nt_tensor **out);
int nt_from_int64s(const int64_t *data, const int64_t *sizes, int ndim, nt_tensor **out); /* int64, exact */
int nt_arange(double a, double b, double step, int dtype, nt_tensor **out);
int nt_eye(int64_t n, int64_t m, int dtype, nt_tensor **out);
int nt_like(int kind, const nt_tensor *t, double v, nt_tensor **out);
/* cat (stack=0) or stack (stack=1) n tensors along dim (0-based) */
int nt_cat(const nt_tensor *const *ts, int n, int dim, int stack, nt_tensor **out);
int nt_shallow(const nt_tensor *t, nt_tensor **out); /* a second handle to the same tensor */
/* A tensor of `sizes` viewing `numel` elements of flat buffer `base` from `offset`
 * (elements), as an autograd leaf that shares the storage. */
int nt_view_of(const nt_tensor *base, int64_t offset, const int64_t *sizes, int ndim,
               int requires_grad, nt_tensor **out);
/* Point `t` at a slice of `base` (Torch7's set): t keeps its identity and grad
 * flag; its values become those of the slice. */
int nt_set_to_view(nt_tensor *t, const nt_tensor *base, int64_t offset);

/* Information (never fail on a valid handle). */
int nt_dim(const nt_tensor *t);
int64_t nt_size(const nt_tensor *t, int d); /* -1 when d is not a dim of t */
int64_t nt_numel(const nt_tensor *t);
int nt_dtype(const nt_tensor *t);
int nt_is_contiguous(const nt_tensor *t);
void *nt_data(const nt_tensor *t);        /* NULL unless CPU and defined */
int nt_requires_grad(const nt_tensor *t);
int nt_is_leaf(const nt_tensor *t);
/* The name of the autograd node that made t ("MulBackward0"), NULL for none.
 * The string lives in a thread-local buffer until the next call. */
const char *nt_grad_fn_name(const nt_tensor *t);
size_t nt_storage_bytes(const nt_tensor *t);
const void *nt_storage_id(const nt_tensor *t);
int nt_same(const nt_tensor *a, const nt_tensor *b); /* same TensorImpl */
/* 1 when this handle is the only reference to its tensor and its storage */
int nt_storage_unique(const nt_tensor *t);

/* Conversions and autograd. */
int nt_to_doubles(const nt_tensor *t, double *buf, int64_t n); /* contiguous copy as doubles */
int nt_to_int64s(const nt_tensor *t, int64_t *buf, int64_t n); /* contiguous copy as int64 (exact) */
int nt_item(const nt_tensor *t, double *v);
int nt_set_requires_grad(nt_tensor *t, int flag);
/* index tensors: *out = t as int64 plus delta (Lua's 1-based <-> the ops' 0-based) */
int nt_index_shift(const nt_tensor *t, int64_t delta, nt_tensor **out);
int nt_int_range(const nt_tensor *t, int64_t *lo, int64_t *hi); /* min and max of a non-empty tensor */
int nt_backward(nt_tensor *t, const nt_tensor *grad /* or NULL */);
int nt_grad(const nt_tensor *t, nt_tensor **out); /* *out = NULL when undefined */
int nt_set_grad(nt_tensor *t, const nt_tensor *g /* NULL clears */);
int nt_grad_enabled(void);
void nt_set_grad_enabled(int on);
void nt_manual_seed(uint64_t seed);
void nt_set_num_threads(int n);
int nt_get_num_threads(void);
/* fn(ctx, begin, end) over [0, n) in chunks of at least grain, on libtorch's
 * pool (at::parallel_for); fn must not fail.  -1 (nothing run) on error. */
int nt_parallel_for(int64_t n, int64_t grain, void (*fn)(void *, int64_t, int64_t), void *ctx);

/* The generic op call.  The ops are listed once, in ops.def, as
 *   NT_OP(name, "signature", body)
 * The signature tells the binding how to read Lua arguments (see ops.def);
 * the body is C++ used only by nt.cpp. */
enum nt_argkind { NT_A_NONE = 0, NT_A_TENSOR, NT_A_NUM, NT_A_LIST };
typedef struct nt_arg {
  int kind;              /* nt_argkind */
  const nt_tensor *t;
  double n;
  int64_t list[NT_MAXDIM];
  int nlist;
} nt_arg;

#define NT_OP(name, sig, ...) NT_OP_##name,
enum nt_opcode {
#include "ops.def"
  NT_NOPS
};
#undef NT_OP

extern const char *const nt_op_names[];
extern const char *const nt_op_sigs[];

/* One linear per member of a population, y_i = x_i W_i^T + b_i, on raw
 * contiguous memory (row-major; the member strides are in elements, 0 for an
 * operand shared by every member; b may be NULL).  The torch side fills it
 * (src/torch/vmap.cpp) and the core computes it (nyto_batched_linear). */
typedef struct nt_blinear {
  int dtype; /* NT_FLOAT32 or NT_FLOAT64 */
  int64_t n, rows, fin, fout;
  const void *x, *w, *b;
  void *y;
  int64_t x_stride, w_stride, b_stride, y_stride;
  int relu; /* 1: y_i = max(x_i W_i^T + b_i, 0) (a Linear then a ReLU) */
  /* a second layer on each member's result while it is in cache (Linear ->
   * ReLU -> Linear): NULL, or the layer whose w, b, fout, strides and y are
   * used (its x, rows and fin are this layer's y, rows and fout); this
   * layer's y is then not written (a per-thread buffer holds one member's) */
  const struct nt_blinear *next;
} nt_blinear;

/* A convolution per member of a population followed by ReLU and a 2x2,
 * stride-2 max pool (floor mode), float32, on raw contiguous NCHW memory:
 * y[i] = relu(maxpool2(conv(x_i, w_i, stride, zero padding) + b_i)).
 * x: [batch, cin, ih, iw] per member (x_stride elements apart, 0 when shared),
 * w: [cout, cin, kh, kw] per member, b: [cout] per member or NULL,
 * y: [batch, cout, oh, ow] per member (oh, ow: the pooled sizes).  The
 * torch side fills it (src/torch/vmap.cpp), the core computes it
 * (nyto_conv_relu_pool, src/core/bconv.c). */
typedef struct nt_bconv {
  int64_t n, batch, cin, ih, iw, cout, kh, kw, sh, sw, ph, pw, oh, ow;
  const float *x, *w, *b;
  float *y;
  int64_t x_stride, w_stride, b_stride, y_stride;
} nt_bconv;

/* Run op on args; writes up to 4 results to outs, their count to *nout. */
int nt_call(int op, const nt_arg *args, int nargs, nt_tensor **outs, int *nout);

#ifdef __cplusplus
}
#endif
#endif
