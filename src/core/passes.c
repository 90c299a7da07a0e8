/* passes.c -- the particle passes: one loop over the operational segments of
 * flat buffers per particle operation (GCC function multiversioning picks the
 * AVX2 or the baseline build of each), and the fused pairs of deferred
 * operations (docs/design.md). */
#include <math.h>
#include <string.h>

#include "core_private.h"

/* ---- the particle-operation loops ----
 * Plain loops over restrict pointers: the compiler vectorises them, and one
 * pass over the buffer is all a particle operation costs. */
#define SEG_LOOP(T, BODY)                                 \
  for (int k = 0; k < nseg; k++) {                        \
    int64_t o = segs[k].off, e = o + segs[k].len;         \
    for (int64_t i = o; i < e; i++) BODY;                 \
  }

#define SCALAR_CASES(T, POWF)                                                 \
  {                                                                           \
    T *restrict d = dst;                                                      \
    const T *restrict x = a;                                                  \
    const T v = (T)s;                                                         \
    if (d == x) { /* in place: the same pointer, so no restrict */            \
      T *p = dst;                                                             \
      switch (op) {                                                           \
        case NYTO_ADD: SEG_LOOP(T, p[i] += v) return;                        \
        case NYTO_SUB: SEG_LOOP(T, p[i] -= v) return;                        \
        case NYTO_MUL: SEG_LOOP(T, p[i] *= v) return;                        \
        case NYTO_DIV: SEG_LOOP(T, p[i] /= v) return;                        \
        case NYTO_POW: SEG_LOOP(T, p[i] = POWF(p[i], v)) return;             \
        case NYTO_RSUB: SEG_LOOP(T, p[i] = v - p[i]) return;                 \
        case NYTO_RDIV: SEG_LOOP(T, p[i] = v / p[i]) return;                 \
        case NYTO_RPOW: SEG_LOOP(T, p[i] = POWF(v, p[i])) return;            \
      }                                                                       \
      return;                                                                 \
    }                                                                         \
    switch (op) {                                                             \
      case NYTO_ADD: SEG_LOOP(T, d[i] = x[i] + v) return;                    \
      case NYTO_SUB: SEG_LOOP(T, d[i] = x[i] - v) return;                    \
      case NYTO_MUL: SEG_LOOP(T, d[i] = x[i] * v) return;                    \
      case NYTO_DIV: SEG_LOOP(T, d[i] = x[i] / v) return;                    \
      case NYTO_POW: SEG_LOOP(T, d[i] = POWF(x[i], v)) return;               \
      case NYTO_RSUB: SEG_LOOP(T, d[i] = v - x[i]) return;                   \
      case NYTO_RDIV: SEG_LOOP(T, d[i] = v / x[i]) return;                   \
      case NYTO_RPOW: SEG_LOOP(T, d[i] = POWF(v, x[i])) return;              \
    }                                                                         \
  }

/* The loops are compiled twice, for AVX2 and for the x86-64 baseline, and
 * the loader picks one for the CPU (GCC function multiversioning). */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && !defined(NYTO_NO_CLONES)
#define NYTO_CLONES __attribute__((target_clones("avx2", "default")))
#else
#define NYTO_CLONES
#endif

NYTO_CLONES void nyto_pass_scalar(int dtype, void *dst, const void *a, double s, int op, const nyto_seg *segs, int nseg) {
  if (dtype == NT_FLOAT64)
    SCALAR_CASES(double, pow)
  else
    SCALAR_CASES(float, powf)
}

NYTO_CLONES void nyto_pass_affine(int dtype, void *dst, const void *a, double mul, double add, const nyto_seg *segs, int nseg) {
  if (dtype == NT_FLOAT64) {
    double *d = dst;
    const double *x = a;
    SEG_LOOP(double, d[i] = x[i] * mul + add)
  } else {
    float *d = dst;
    const float *x = a;
    const float m = (float)mul, c = (float)add;
    SEG_LOOP(float, d[i] = x[i] * m + c)
  }
}

#define BINARY_CASES(T, POWF)                                        \
  {                                                                  \
    T *d = dst;                                                      \
    const T *x = a, *y = b;                                          \
    switch (op) {                                                    \
      case NYTO_ADD: SEG_LOOP(T, d[i] = x[i] + y[i]) return;        \
      case NYTO_SUB: SEG_LOOP(T, d[i] = x[i] - y[i]) return;        \
      case NYTO_MUL: SEG_LOOP(T, d[i] = x[i] * y[i]) return;        \
      case NYTO_DIV: SEG_LOOP(T, d[i] = x[i] / y[i]) return;        \
      case NYTO_POW: SEG_LOOP(T, d[i] = POWF(x[i], y[i])) return;   \
      case NYTO_RSUB: SEG_LOOP(T, d[i] = y[i] - x[i]) return;       \
      case NYTO_RDIV: SEG_LOOP(T, d[i] = y[i] / x[i]) return;       \
      case NYTO_RPOW: SEG_LOOP(T, d[i] = POWF(y[i], x[i])) return;  \
    }                                                                \
  }

NYTO_CLONES void nyto_pass_binary(int dtype, void *dst, const void *a, const void *b, int op, const nyto_seg *segs, int nseg) {
  if (dtype == NT_FLOAT64)
    BINARY_CASES(double, pow)
  else
    BINARY_CASES(float, powf)
}

void nyto_pass_copy(int dtype, void *dst, const void *src, int64_t off, int64_t len) {
  int64_t es = elem_size(dtype);
  memcpy((char *)dst + off * es, (const char *)src + off * es, (size_t)(len * es));
}

/* ---- fused passes (deferred particle operations, docs/design.md) ----
 * Each op still rounds to the buffer's dtype in turn, so the result equals
 * running them one after the other; the block of the first op's result is
 * still in L1/L2 when the next op reads it, so memory sees one pass. */
#define NYTO_BLOCK 8192

/* 2048 elements (8 or 16 KiB, in L1): the blocks of the op pairs without a
 * fused loop, and of g(b) on the stack */
#define NYTO_TMP_BLOCK 2048

static int64_t block_len(int64_t o, int64_t e, int64_t blk) { return e - o < blk ? e - o : blk; }

/* One loop for each pair of the five cheap ops (+ - * / and v - x): each
 * element is read and written once. */
#define E_ADD(x, v) ((x) + (v))
#define E_SUB(x, v) ((x) - (v))
#define E_MUL(x, v) ((x) * (v))
#define E_DIV(x, v) ((x) / (v))
#define E_RSUB(x, v) ((v) - (x))
#define FUSE_INNER(T, E1)                                                          \
  switch (op2) {                                                                   \
    case NYTO_ADD: SEG_LOOP(T, d[i] = E_ADD((T)E1(x[i], v1), v2)) return 1;       \
    case NYTO_SUB: SEG_LOOP(T, d[i] = E_SUB((T)E1(x[i], v1), v2)) return 1;       \
    case NYTO_MUL: SEG_LOOP(T, d[i] = E_MUL((T)E1(x[i], v1), v2)) return 1;       \
    case NYTO_DIV: SEG_LOOP(T, d[i] = E_DIV((T)E1(x[i], v1), v2)) return 1;       \
    case NYTO_RSUB: SEG_LOOP(T, d[i] = E_RSUB((T)E1(x[i], v1), v2)) return 1;     \
  }                                                                                \
  return 0;
#define FUSE_CASES(T)                                 \
  {                                                   \
    T *restrict d = dst;                              \
    const T *restrict x = a;                          \
    const T v1 = (T)s1, v2 = (T)s2;                   \
    switch (op1) {                                    \
      case NYTO_ADD: FUSE_INNER(T, E_ADD)             \
      case NYTO_SUB: FUSE_INNER(T, E_SUB)             \
      case NYTO_MUL: FUSE_INNER(T, E_MUL)             \
      case NYTO_DIV: FUSE_INNER(T, E_DIV)             \
      case NYTO_RSUB: FUSE_INNER(T, E_RSUB)           \
    }                                                 \
    return 0;                                         \
  }

/* 1 when the pair has a fused loop (and ran), 0 otherwise */
NYTO_CLONES static int scalar2_fused(int dtype, void *dst, const void *a, double s1, int op1, double s2, int op2,
                                     const nyto_seg *segs, int nseg) {
  if (dtype == NT_FLOAT64)
    FUSE_CASES(double)
  else
    FUSE_CASES(float)
}

void nyto_pass_scalar2(int dtype, void *dst, const void *a, double s1, int op1, double s2, int op2,
                         const nyto_seg *segs, int nseg) {
  if (dst != a && scalar2_fused(dtype, dst, a, s1, op1, s2, op2, segs, nseg)) return;
  /* pow and the other reversed ops: block by block, the second op on a
   * block the first just wrote (still in L1) */
  for (int k = 0; k < nseg; k++)
    for (int64_t o = segs[k].off, e = o + segs[k].len; o < e; o += NYTO_TMP_BLOCK) {
      nyto_seg b = {o, block_len(o, e, NYTO_TMP_BLOCK)};
      nyto_pass_scalar(dtype, dst, a, s1, op1, &b, 1);
      nyto_pass_scalar(dtype, dst, dst, s2, op2, &b, 1);
    }
}

void nyto_pass_binary_pre(int dtype, void *dst, const void *a, int opa, double va, const void *b, int opb,
                            double vb, int op, const nyto_seg *segs, int nseg) {
  int64_t es = elem_size(dtype);
  double tmp[NYTO_TMP_BLOCK]; /* g(b) of a block: 16 KiB of stack */
  int64_t step = opb >= 0 ? NYTO_TMP_BLOCK : NYTO_BLOCK;
  for (int k = 0; k < nseg; k++)
    for (int64_t o = segs[k].off, e = o + segs[k].len; o < e; o += step) {
      nyto_seg blk = {o, block_len(o, e, step)};
      if (opb >= 0) { /* tmp = g(b); dst = f(a) or a; dst = dst op tmp */
        nyto_seg t0 = {0, blk.len};
        char *d = (char *)dst + o * es;
        nyto_pass_scalar(dtype, tmp, (const char *)b + o * es, vb, opb, &t0, 1);
        if (opa >= 0) nyto_pass_scalar(dtype, dst, a, va, opa, &blk, 1);
        nyto_pass_binary(dtype, d, opa >= 0 ? d : (const char *)a + o * es, tmp, op, &t0, 1);
      } else { /* dst = f(a); dst = dst op b */
        nyto_pass_scalar(dtype, dst, a, va, opa, &blk, 1);
        nyto_pass_binary(dtype, dst, dst, b, op, &blk, 1);
      }
    }
}
