/* blinear.c -- one small linear per member of a population, for the
 * batched forward (nyto.batched_forward's F.linear, src/torch/vmap.cpp).
 * libtorch 1.13's baddbmm runs a BLAS gemm per member (a select and an addmm
 * each, ~4.5 us apiece for an MLP's 64x8 by 8x32), so for small layers the
 * population costs its member count in call overheads.  Here each member is
 * register-blocked loops over the transposed weight: 4 rows by one vector
 * width of outputs kept in registers while k runs, the bias as the start.
 * Summation order is k ascending (a gemm may block k differently: the values
 * differ from the loop's by rounding, ~1e-7 relative per term). */
#include <stdlib.h>
#include <string.h>

#include "nyto_core.h"

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && !defined(NYTO_NO_CLONES)
#define BL_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define BL_CLONES
#endif

/* GCC vector types (the width of an AVX-512 register; the AVX2 and baseline
 * clones split them): wt's rows are 64-byte aligned, x and y are read and
 * read by scalars and written by unaligned stores. */
typedef float bl_vf __attribute__((vector_size(64)));
typedef double bl_vd __attribute__((vector_size(64)));
typedef float bl_vfu __attribute__((vector_size(64), aligned(4)));
typedef double bl_vdu __attribute__((vector_size(64), aligned(8)));

/* y[0 .. no) = the first no lanes of v (a full block as one unaligned store) */
#define BL_STORE(T, U, NB, y, v, no)                                       \
  do {                                                                     \
    if ((no) == (NB)) *(U *)(y) = (v);                                     \
    else for (int64_t j_ = 0; j_ < (no); j_++) (y)[j_] = (v)[j_];          \
  } while (0)

/* member loop body for element type T, its vector type V of NB lanes (one
 * output block), RB rows per block */
#define BL_MEMBER(T, V, U, NB, RB)                                                               \
  do {                                                                                        \
    const T *w = (const T *)p->w + i * p->w_stride;                                          \
    const T *x = (const T *)p->x + i * p->x_stride;                                          \
    const T *b = p->b ? (const T *)p->b + i * p->b_stride : NULL;                            \
    T *y = (T *)p->y + i * p->y_stride;                                                      \
    T *wt = (T *)scratch; /* [fin][ldw], zero-padded columns */                              \
    for (int64_t k = 0; k < fin; k++) {                                                       \
      for (int64_t o = 0; o < fout; o++) wt[k * ldw + o] = w[o * fin + k];                   \
      for (int64_t o = fout; o < ldw; o++) wt[k * ldw + o] = 0;                               \
    }                                                                                         \
    for (int64_t o0 = 0; o0 < ldw; o0 += NB) {                                                \
      int64_t no = fout - o0 < NB ? fout - o0 : NB;                                           \
      V bias = {0};                                                                           \
      if (b)                                                                                  \
        for (int64_t j = 0; j < no; j++) bias[j] = b[o0 + j];                                 \
      int64_t m = 0;                                                                          \
      for (; m + RB <= rows; m += RB) {                                                       \
        V acc[RB];                                                                            \
        for (int r = 0; r < RB; r++) acc[r] = bias;                                           \
        const T *xm = x + m * fin;                                                            \
        for (int64_t k = 0; k < fin; k++) {                                                   \
          V wk = *(const V *)(wt + k * ldw + o0);                                             \
          for (int r = 0; r < RB; r++) acc[r] += xm[r * fin + k] * wk;                        \
        }                                                                                     \
        for (int r = 0; r < RB; r++) BL_STORE(T, U, NB, y + (m + r) * fout + o0, acc[r], no);          \
      }                                                                                       \
      for (; m < rows; m++) {                                                                 \
        V acc = bias;                                                                         \
        for (int64_t k = 0; k < fin; k++) acc += x[m * fin + k] * *(const V *)(wt + k * ldw + o0); \
        BL_STORE(T, U, NB, y + m * fout + o0, acc, no);                                       \
      }                                                                                       \
    }                                                                                         \
  } while (0)

typedef struct {
  const nt_blinear *p;
  int failed;
} bl_job;

BL_CLONES static void bl_part(void *ctx, int64_t i0, int64_t i1) {
  bl_job *j = ctx;
  const nt_blinear *p = j->p;
  const int64_t rows = p->rows, fin = p->fin, fout = p->fout;
  if (p->dtype == NT_FLOAT64) {
    const int64_t ldw = (fout + 7) / 8 * 8;
    void *scratch = aligned_alloc(64, (size_t)(fin * ldw) * sizeof(double));
    if (!scratch) { j->failed = 1; return; }
    for (int64_t i = i0; i < i1; i++) BL_MEMBER(double, bl_vd, bl_vdu, 8, 4);
    free(scratch);
  } else {
    const int64_t ldw = (fout + 15) / 16 * 16;
    void *scratch = aligned_alloc(64, (size_t)(fin * ldw) * sizeof(float));
    if (!scratch) { j->failed = 1; return; }
    for (int64_t i = i0; i < i1; i++) BL_MEMBER(float, bl_vf, bl_vfu, 16, 4);
    free(scratch);
  }
}

int nyto_batched_linear(const nt_blinear *p) {
  if (p->n <= 0) return 0;
  bl_job j = {p, 0};
  /* a chunk of members is at least ~256k multiply-adds */
  int64_t work = p->rows * p->fin * p->fout;
  int64_t grain = work > 0 ? (262144 + work - 1) / work : p->n;
  if (p->n < 2 * grain || nt_parallel_for(p->n, grain, bl_part, &j) != 0) bl_part(&j, 0, p->n);
  return j.failed ? -1 : 0;
}
