/* blinear.c -- one small linear per member of a population, for the
 * batched forward (nyto.batched_forward's F.linear, src/torch/vmap.cpp).
 * libtorch 1.13's baddbmm runs a BLAS gemm per member (a select and an addmm
 * each, ~4.5 us apiece for an MLP's 64x8 by 8x32), so for small layers the
 * population costs its member count in call overheads.  Here each member is
 * register-blocked loops over the transposed weight: 4 rows by one vector
 * width of outputs kept in registers while k runs, the bias as the start;
 * narrow layers (few outputs) put rows in the lanes instead (BL_NARROW).  An
 * optional ReLU on each member's output (a Linear -> ReLU pair).  Explicit
 * AVX-512, AVX2+FMA and baseline parts (nyto_blinear_isa caps them, tests);
 * no FMA contraction (ISO C), so every path gives the same bits.
 * Summation order is k ascending (a gemm may block k differently: the values
 * differ from the loop's by rounding, ~1e-7 relative per term). */
#include <stdlib.h>
#include <string.h>

#include "nyto_core.h"

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && !defined(NYTO_NO_CLONES)
#define BL_X86 1
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

/* a narrow layer (fout <= NB / 2: the output block above would leave half its
 * lanes or more idle): the vector lanes are NB rows of the batch instead.  The
 * rows' x is transposed into the scratch ([fin][NB], zero past the last row),
 * and 4 outputs at a time are held in registers while k runs, each a broadcast
 * weight times the column of x; the same bias start and k order as above. */
#define BL_NARROW(T, V, NB)                                                                   \
  do {                                                                                        \
    const T *w = (const T *)p->w + i * p->w_stride;                                          \
    const T *x = (const T *)p->x + i * p->x_stride;                                          \
    const T *b = p->b ? (const T *)p->b + i * p->b_stride : NULL;                            \
    T *y = (T *)p->y + i * p->y_stride;                                                      \
    T *xt = (T *)scratch;                                                                     \
    for (int64_t m0 = 0; m0 < rows; m0 += NB) {                                               \
      const int64_t nr = rows - m0 < NB ? rows - m0 : NB;                                     \
      if (i == i0 || xfresh || p->x_stride != 0 || rows > NB) { /* a shared x of <= NB rows: once */ \
        for (int64_t l = 0; l < nr; l++)                                                      \
          for (int64_t k = 0; k < fin; k++) xt[k * NB + l] = x[(m0 + l) * fin + k];           \
        for (int64_t l = nr; l < NB; l++)                                                     \
          for (int64_t k = 0; k < fin; k++) xt[k * NB + l] = 0;                               \
      }                                                                                       \
      for (int64_t o0 = 0; o0 < fout; o0 += 4) {                                              \
        const int64_t no = fout - o0 < 4 ? fout - o0 : 4;                                     \
        const T *w0 = w + o0 * fin;                                                           \
        const T *w1 = no > 1 ? w0 + fin : w0, *w2 = no > 2 ? w0 + 2 * fin : w0;               \
        const T *w3 = no > 3 ? w0 + 3 * fin : w0;                                             \
        V a0 = (V){0} + (b ? b[o0] : 0), a1 = (V){0} + (b && no > 1 ? b[o0 + 1] : 0);           \
        V a2 = (V){0} + (b && no > 2 ? b[o0 + 2] : 0), a3 = (V){0} + (b && no > 3 ? b[o0 + 3] : 0); \
        for (int64_t k = 0; k < fin; k++) {                                                   \
          V xk = *(const V *)(xt + k * NB);                                                   \
          a0 += xk * w0[k], a1 += xk * w1[k], a2 += xk * w2[k], a3 += xk * w3[k];             \
        }                                                                                     \
        V a[4] = {a0, a1, a2, a3}; /* registers while k runs, the store from memory */         \
        for (int64_t l = 0; l < nr; l++)                                                      \
          for (int64_t j = 0; j < no; j++) y[(m0 + l) * fout + o0 + j] = a[j][l];             \
      }                                                                                       \
    }                                                                                         \
  } while (0)

typedef struct {
  const nt_blinear *p;
  int failed;
} bl_job;

/* the ReLU of a Linear -> ReLU pair, on the member's output while in L1 (the
 * separate pass over a fresh activation cost more than the layer); NaN stays */
#define BL_RELU(T)                                                                            \
  do {                                                                                        \
    T *y_ = (T *)p->y + i * p->y_stride;                                                     \
    for (int64_t e_ = 0; e_ < rows * fout; e_++) y_[e_] = y_[e_] < 0 ? 0 : y_[e_];           \
  } while (0)

/* one layer of member i (p, rows, fin, fout, scratch, i0 and xfresh in scope) */
#define BL_LAYER(T, V, U, NB, NARROW)                                                         \
  do {                                                                                        \
    const int64_t ldw = (fout + NB - 1) / NB * NB;                                            \
    if (fout <= NARROW) BL_NARROW(T, V, NB);                                                  \
    else BL_MEMBER(T, V, U, NB, 4);                                                           \
    if (p->relu) BL_RELU(T);                                                                  \
  } while (0)

/* a layer's scratch, in elements: the transposed weight, or NB rows of x */
static int64_t bl_scratch(int64_t fin, int64_t fout, int64_t nb) {
  int64_t ldw = (fout + nb - 1) / nb * nb;
  return fin * (ldw > nb ? ldw : nb);
}

/* one part of the members, every vector path compiles the same source (the
 * 64-byte vector types split in two or four by the narrower ISAs); with a
 * second layer, member i's first result goes to a buffer of its own and the
 * second layer reads it from there while it is in cache */
#define BL_TYPED(T, V, U, NB, NARROW)                                                         \
  do {                                                                                        \
    const nt_blinear *p1 = j->p, *p2 = p1->next;                                              \
    int64_t ns = bl_scratch(p1->fin, p1->fout, NB), nh = 0;                                   \
    if (p2) {                                                                                 \
      int64_t n2 = bl_scratch(p1->fout, p2->fout, NB);                                        \
      if (n2 > ns) ns = n2;                                                                   \
      nh = (p1->rows * p1->fout + NB - 1) / NB * NB;                                          \
    }                                                                                         \
    T *scratch = aligned_alloc(64, (size_t)(ns + nh) * sizeof(T));                            \
    if (!scratch) { j->failed = 1; return; }                                                  \
    nt_blinear a = *p1, c = {0};                                                              \
    if (p2) {                                                                                 \
      a.y = scratch + ns, a.y_stride = 0; /* one member's hidden rows */                     \
      c = *p2, c.x = a.y, c.x_stride = 0, c.rows = a.rows, c.fin = a.fout, c.next = NULL;     \
    }                                                                                         \
    for (int64_t i = i0; i < i1; i++) {                                                      \
      {                                                                                       \
        const nt_blinear *p = &a;                                                             \
        const int64_t rows = p->rows, fin = p->fin, fout = p->fout;                           \
        const int xfresh = p2 != NULL; /* the scratch is the second layer's too */            \
        BL_LAYER(T, V, U, NB, NARROW);                                                        \
      }                                                                                       \
      if (p2) {                                                                               \
        const nt_blinear *p = &c;                                                             \
        const int64_t rows = p->rows, fin = p->fin, fout = p->fout;                           \
        const int xfresh = 1; /* the hidden rows are new for every member */                  \
        BL_LAYER(T, V, U, NB, NARROW);                                                        \
      }                                                                                       \
    }                                                                                         \
    free(scratch);                                                                            \
  } while (0)

#define BL_PART(NAME)                                                                         \
  static void NAME(void *ctx, int64_t i0, int64_t i1) {                                       \
    bl_job *j = ctx;                                                                          \
    if (j->p->dtype == NT_FLOAT64) BL_TYPED(double, bl_vd, bl_vdu, 8, 4);                     \
    else BL_TYPED(float, bl_vf, bl_vfu, 16, 8);                                               \
  }

#ifdef BL_X86
#pragma GCC push_options
#pragma GCC target("avx512f")
BL_PART(bl_part_avx512)
#pragma GCC pop_options
#pragma GCC push_options
#pragma GCC target("avx2,fma")
BL_PART(bl_part_avx2)
#pragma GCC pop_options
#endif
BL_PART(bl_part_base)

static int bl_isa_cap = 2;
int nyto_blinear_isa(int level) {
  int old = bl_isa_cap;
  if (level >= 0) bl_isa_cap = level;
  return old;
}

int nyto_batched_linear(const nt_blinear *p) {
  if (p->n <= 0) return 0;
  bl_job j = {p, 0};
  /* a chunk of members is at least ~256k multiply-adds */
  int64_t work = p->rows * p->fin * p->fout + (p->next ? p->rows * p->fout * p->next->fout : 0);
  int64_t grain = work > 0 ? (262144 + work - 1) / work : p->n;
  void (*part)(void *, int64_t, int64_t) = bl_part_base;
#ifdef BL_X86
  if (bl_isa_cap >= 2 && __builtin_cpu_supports("avx512f")) part = bl_part_avx512;
  else if (bl_isa_cap >= 1 && __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) part = bl_part_avx2;
#endif
  if (p->n < 2 * grain || nt_parallel_for(p->n, grain, part, &j) != 0) part(&j, 0, p->n);
  return j.failed ? -1 : 0;
}
