/* es.c -- the passes of the distribution strategies (issue 17: CEM, OpenES,
 * SNES, PGPE, sep-CMA-ES; lua/nyto/strategy/).  Each is one pass over an
 * [rows, P] arena:
 *   nyto_es_sample   ask: rows x_k = c + s z_k (antithetic pairs c +- s z_k),
 *                    z_k the Philox normals made in L1 chunks inside the pass,
 *                    written once (and z_k too when the strategy keeps it);
 *   nyto_es_moments  tell: sum_k w_k z_k and sum_k w'_k z_k^2 in one read of z;
 *   nyto_es_elite    tell (CEM): the mean and deviation of chosen rows.
 * One rounding per operation (-ffp-contract=off): the samples in float32
 * when the arena and the distribution are float32 (what X:copy_(z):mul_(s):add_(c)
 * computes), in float64 when either is float64; the sums always in float64,
 * rounded once to the output's dtype.  So each pass equals the tensor
 * arithmetic it replaces, bit for bit.  Work is split on libtorch's pool by columns (or, for a reduction
 * along a row, into fixed chunks summed in order afterwards), so the bits do
 * not depend on the thread count.  docs/design.md, "Strategy passes". */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core_private.h"

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && !defined(NYTO_NO_CLONES)
#define ES_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define ES_CLONES
#endif

/* normals made per call of the generator: 4 KiB of float32, in L1 */
#define ES_DRAW 1024
/* blocks of ES_DRAW columns a row takes in one go on the AVX-512 path: 64 or
 * 128 KiB of c and s, read from L2 by every row */
#define ES_SUPER 8
/* columns of one block of the reductions: 2 x 16 KiB of float64 sums in L1 */
#define ES_COLS 2048
/* elements below which a pass runs on the calling thread */
#define ES_SERIAL 131072

/* ---- streaming stores ----
 * An arena the pass writes is not read again soon (the fitness reads it, or
 * the next tell): written through the cache, each line is first read for
 * ownership; streamed, a [64, 1.86M] float32 arena is written in 28 ms
 * instead of 75 (one thread; bench/strategy.sh's machine).  Whole aligned
 * lines are streamed, the partial lines at either end stored plainly; the
 * caller fences (core_stream_fence) before its part of the pass returns. */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(NYTO_NO_CLONES)
#include <immintrin.h>
#define ES_STREAM 1
static int es_isa = -1; /* 2 AVX-512, 1 AVX2, 0 neither */
void core_stream_init(void) {
  if (es_isa >= 0) return;
  __builtin_cpu_init();
  es_isa = __builtin_cpu_supports("avx512f") && !getenv("NYTO_NO_AVX512") ? 2 : __builtin_cpu_supports("avx2") ? 1 : 0;
}
__attribute__((target("avx512f"))) static void stream512(char *d, const char *s, int64_t n) {
  for (int64_t i = 0; i < n; i += 64) _mm512_stream_si512((void *)(d + i), _mm512_loadu_si512((const void *)(s + i)));
}
__attribute__((target("avx2"))) static void stream256(char *d, const char *s, int64_t n) {
  for (int64_t i = 0; i < n; i += 32) _mm256_stream_si256((__m256i *)(d + i), _mm256_loadu_si256((const __m256i *)(s + i)));
}
void core_stream_fence(void) { _mm_sfence(); }
/* the low and high eight float32 of a register, widened to float64 */
#define EL16_LO(v) _mm512_cvtps_pd(_mm512_castps512_ps256(v))
#define EL16_HI(v) _mm512_cvtps_pd(_mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(v), 1)))
#else
void core_stream_init(void) {}
void core_stream_fence(void) {}
#endif

/* copy n bytes of the L1 block s to d, the whole lines of d streamed */
void core_stream_store(char *d, const char *s, int64_t n) {
#ifdef ES_STREAM
  if (es_isa > 0 && n >= 128) {
    int64_t head = (int64_t)((64 - ((uintptr_t)d & 63)) & 63);
    int64_t body = (n - head) & ~(int64_t)63;
    memcpy(d, s, (size_t)head);
    if (es_isa == 2) stream512(d + head, s + head, body);
    else stream256(d + head, s + head, body);
    memcpy(d + head + body, s + head + body, (size_t)(n - head - body));
    return;
  }
#endif
  memcpy(d, s, (size_t)n);
}

/* ---- ask ---- */
/* One block of ES_DRAW columns of one sample row: out1 = c + s z, out2 = c - s z
 * (pairs), zo = z; acc[l] += r_j z_j^2 (r NULL: z_j^2) for the columns
 * j = l mod 8 (eight lanes in a fixed order: vectorised, and the same bits on
 * any path) */
#define SAMPLE_BODY(T, S, A)                                                                      \
  {                                                                                              \
    const S *restrict cc = c;                                                                    \
    const S *restrict ss = s;                                                                    \
    T *restrict o1 = out1;                                                                       \
    T *restrict o2 = out2;                                                                       \
    T *restrict zz = zo;                                                                         \
    if (o2)                                                                                      \
      for (int64_t i = 0; i < m; i++) {                                                          \
        A t = (A)ss[i] * (A)z[i];                                                                \
        o1[i] = (T)((A)cc[i] + t);                                                               \
        o2[i] = (T)((A)cc[i] - t);                                                               \
      }                                                                                          \
    else                                                                                         \
      for (int64_t i = 0; i < m; i++) o1[i] = (T)((A)cc[i] + (A)ss[i] * (A)z[i]);                \
    if (zz)                                                                                      \
      for (int64_t i = 0; i < m; i++) zz[i] = (T)z[i];                                           \
    if (acc && r) {                                                                              \
      int64_t i = 0;                                                                             \
      for (; i + 8 <= m; i += 8)                                                                 \
        for (int l = 0; l < 8; l++) acc[l] += r[i + l] * ((double)z[i + l] * (double)z[i + l]);  \
      for (int l = 0; i < m; i++, l++) acc[l] += r[i] * ((double)z[i] * (double)z[i]);           \
    } else if (acc) {                                                                            \
      int64_t i = 0;                                                                             \
      for (; i + 8 <= m; i += 8)                                                                 \
        for (int l = 0; l < 8; l++) acc[l] += (double)z[i + l] * (double)z[i + l];               \
      for (int l = 0; i < m; i++, l++) acc[l] += (double)z[i] * (double)z[i];                    \
    }                                                                                            \
  }

#define SAMPLE_ARGS                                                                                       \
  void *out1, void *out2, void *zo, const void *c, const void *s, const float *restrict z,                \
      const double *restrict r, double *restrict acc, int64_t m
ES_CLONES static void sample_ff(SAMPLE_ARGS) SAMPLE_BODY(float, float, float)
ES_CLONES static void sample_fd(SAMPLE_ARGS) SAMPLE_BODY(float, double, double)
ES_CLONES static void sample_df(SAMPLE_ARGS) SAMPLE_BODY(double, float, double)
ES_CLONES static void sample_dd(SAMPLE_ARGS) SAMPLE_BODY(double, double, double)

typedef struct {
  int xd, sd, pairs;
  char *X, *z;
  const char *c, *s;
  const double *r;
  double *part; /* rows x nblk partial row sums (norms given) */
  int64_t rows, P, nblk;
  uint64_t seed, stream, counter;
  int fast; /* nyto_random_sample_f32 makes the rows */
} sample_job;

/* blocks [b, e) of ES_DRAW columns, each over every row: the block's c and s
 * stay in L1 while the rows are written (row by row they would be read from
 * memory once per row: 8 or 16 bytes read per element written) */
static void sample_part(void *ctx, int64_t b, int64_t e) {
  sample_job *j = ctx;
  int64_t xe = elem_size(j->xd), se = elem_size(j->sd);
  void (*fn)(SAMPLE_ARGS) =
      j->xd == NT_FLOAT32 ? (j->sd == NT_FLOAT32 ? sample_ff : sample_fd) : (j->sd == NT_FLOAT32 ? sample_df : sample_dd);
  if (j->fast) { /* the normals in registers (philox.c), ES_SUPER blocks at a time */
    int done = 1;
    for (int64_t q0 = b; q0 < e && done; q0 += ES_SUPER) {
      int64_t q1 = q0 + ES_SUPER < e ? q0 + ES_SUPER : e;
      int64_t i = q0 * ES_DRAW, m = (q1 * ES_DRAW < j->P ? q1 * ES_DRAW : j->P) - i;
      for (int64_t k = 0; k < j->rows && done; k++) {
        float *o1 = (float *)j->X + (j->pairs ? 2 * k : k) * j->P + i;
        done = nyto_random_sample_f32(j->sd, j->c + i * se, j->s + i * se, o1, j->pairs ? o1 + j->P : NULL,
                                      j->z ? (float *)j->z + k * j->P + i : NULL, m, j->seed, j->stream,
                                      j->counter + (uint64_t)(k * j->P + i), j->part ? j->part + k * j->nblk + q0 : NULL);
      }
    }
    if (done) return; /* else the first call refused (an output not 4-byte aligned): the same path for all */
  }
  _Alignas(64) float zb[ES_DRAW];
  /* the block's results, streamed to the arena from here */
  _Alignas(64) double t1[ES_DRAW], t2[ES_DRAW], tz[ES_DRAW];
  for (int64_t q = b; q < e; q++) {
    int64_t i = q * ES_DRAW, m = j->P - i < ES_DRAW ? j->P - i : ES_DRAW;
    for (int64_t k = 0; k < j->rows; k++) {
      double acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
      /* the normals of counters [c, c + m), exactly: the generator takes any
       * start (one inside a step of 16 counters costs a lane seeding, not
       * extra draws: philox.c, fill_range) */
      uint64_t c = j->counter + (uint64_t)(k * j->P + i);
      nyto_random_fill(NT_FLOAT32, 0, zb, m, j->seed, j->stream, c);
      const float *z = zb;
      fn(t1, j->pairs ? t2 : NULL, j->z ? tz : NULL, j->c + i * se, j->s + i * se, z, j->r ? j->r + i : NULL,
         j->part ? acc : NULL, m);
      char *o1 = j->X + ((j->pairs ? 2 * k : k) * j->P + i) * xe;
      core_stream_store(o1, (const char *)t1, m * xe);
      if (j->pairs) core_stream_store(o1 + j->P * xe, (const char *)t2, m * xe);
      if (j->z) core_stream_store(j->z + (k * j->P + i) * xe, (const char *)tz, m * xe);
      if (j->part) j->part[k * j->nblk + q] = ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
    }
  }
  core_stream_fence();
}

void nyto_es_sample(int xdtype, void *X, int sdtype, const void *c, const void *s, void *z, int64_t rows, int64_t P,
                    int pairs, const double *r, double *norms, uint64_t seed, uint64_t stream, uint64_t counter) {
  if (rows <= 0 || P <= 0) return;
  int64_t nblk = (P + ES_DRAW - 1) / ES_DRAW;
  double *part = NULL;
  if (norms) part = calloc((size_t)(rows * nblk), sizeof *part); /* no memory: norms become 0 */
  sample_job j = {xdtype, sdtype, pairs, X, z, c, s, r, part, rows, P, nblk, seed, stream, counter, 0};
  j.fast = xdtype == NT_FLOAT32 && !r && (sdtype == NT_FLOAT32 || sdtype == NT_FLOAT64) && nyto_random_isa(-1) >= 2;
  nyto_random_init(); /* the generator's tables, before the threads read them */
  core_stream_init();
  /* small arenas on the calling thread (the pool's start-up would cost more) */
  if (rows * P < ES_SERIAL || nblk < 2 || nt_parallel_for(nblk, 1, sample_part, &j) != 0) sample_part(&j, 0, nblk);
  if (norms) {
    for (int64_t k = 0; k < rows; k++) {
      double acc = 0;
      for (int64_t q = 0; part && q < nblk; q++) acc += part[k * nblk + q];
      norms[k] = acc;
    }
    free(part);
  }
}

/* ---- tell: weighted sums over the rows ----
 * prefetch_note: the rows a sweep reads next are prefetched a line at a time,
 * one prefetch per line summed, not as a burst of a block's lines before the
 * sweep: a burst of 128-512 prefetches waits for the core's 16 line-fill
 * buffers and stalls the sweep behind it (es_moments on [64, 1.86M] float32:
 * 92 ms with the burst, 74 with no prefetch, 62 spread; es_elite of 13 rows 36,
 * 39, 27 ms; one thread, medians of 3 in one run). */
/* a1 += w1_k z_k, a2 += w2_k z_k^2 over m columns of four rows z_k (k = 0..3),
 * added in the row order: the sums of one row at a time, with a quarter of
 * the loads and stores of a1 and a2 (a2 NULL: a1 alone) */
#define MOMENT_BODY(T)                                                                                \
  {                                                                                                   \
    const T *restrict z0 = zr[0], *restrict z1 = zr[1], *restrict z2 = zr[2], *restrict z3 = zr[3];  \
    double p0 = w1[0], p1 = w1[1], p2 = w1[2], p3 = w1[3];                                            \
    double q0 = a2 ? w2[0] : 0, q1 = a2 ? w2[1] : 0, q2 = a2 ? w2[2] : 0, q3 = a2 ? w2[3] : 0;        \
    enum { L = 64 / sizeof(T) }; /* elements per line */                                              \
    for (int64_t i0 = 0; i0 < m; i0 += L) {                                                           \
      int64_t i1 = i0 + L < m ? i0 + L : m;                                                           \
      if (pf)                                                                                         \
        for (int q = 0; q < 4; q++) __builtin_prefetch((const T *)pf[q] + i0, 0);                     \
      if (a2)                                                                                         \
        for (int64_t i = i0; i < i1; i++) {                                                           \
          double v0 = (double)z0[i], v1 = (double)z1[i], v2 = (double)z2[i], v3 = (double)z3[i];      \
          a1[i] = (((a1[i] + p0 * v0) + p1 * v1) + p2 * v2) + p3 * v3;                                \
          a2[i] = (((a2[i] + q0 * (v0 * v0)) + q1 * (v1 * v1)) + q2 * (v2 * v2)) + q3 * (v3 * v3);    \
        }                                                                                             \
      else                                                                                            \
        for (int64_t i = i0; i < i1; i++)                                                             \
          a1[i] = (((a1[i] + p0 * (double)z0[i]) + p1 * (double)z1[i]) + p2 * (double)z2[i]) + p3 * (double)z3[i]; \
    }                                                                                                 \
  }
#define MOMENT1_BODY(T)                                                                               \
  {                                                                                                   \
    const T *restrict z0 = zr;                                                                        \
    if (a2)                                                                                           \
      for (int64_t i = 0; i < m; i++) {                                                               \
        double v = (double)z0[i];                                                                     \
        a1[i] += w1 * v;                                                                              \
        a2[i] += w2 * (v * v);                                                                        \
      }                                                                                               \
    else                                                                                              \
      for (int64_t i = 0; i < m; i++) a1[i] += w1 * (double)z0[i];                                    \
  }
ES_CLONES static void moment4_f(double *restrict a1, double *restrict a2, const void *const *zr, const double *w1,
                                const double *w2, int64_t m, const void *const *pf) MOMENT_BODY(float)
ES_CLONES static void moment4_d(double *restrict a1, double *restrict a2, const void *const *zr, const double *w1,
                                const double *w2, int64_t m, const void *const *pf) MOMENT_BODY(double)
ES_CLONES static void moment1_f(double *restrict a1, double *restrict a2, const void *zr, double w1, double w2,
                                int64_t m) MOMENT1_BODY(float)
ES_CLONES static void moment1_d(double *restrict a1, double *restrict a2, const void *zr, double w1, double w2,
                                int64_t m) MOMENT1_BODY(double)

#ifdef ES_STREAM
/* The AVX-512 form of moment4_f over eight float32 rows (the same operations
 * per element in the same order, so the same bits), 16 columns a step: each
 * pair of sums is loaded and stored once per eight rows instead of four, and
 * the line of each of the next eight rows at the same columns is prefetched
 * (the rows' blocks are 7.45 MB apart: no hardware stream runs across them).
 * Columns past the last whole 16: moment4_f (the return value: the columns
 * done). */
__attribute__((target("avx512f"))) static inline int64_t moment8_body(double *restrict a1, double *restrict a2,
                                                                      const float *const *zr, const double *w1,
                                                                      const double *w2, int64_t m,
                                                                      const float *const *pf, const int two) {
  __m512d p[8], q[8];
  for (int r = 0; r < 8; r++) p[r] = _mm512_set1_pd(w1[r]), q[r] = _mm512_set1_pd(two ? w2[r] : 0);
  int64_t i = 0;
  for (; i + 16 <= m; i += 16) {
    __m512d x0 = _mm512_loadu_pd(a1 + i), x1 = _mm512_loadu_pd(a1 + i + 8), y0 = x0, y1 = x1;
    if (two) y0 = _mm512_loadu_pd(a2 + i), y1 = _mm512_loadu_pd(a2 + i + 8);
    for (int r = 0; r < 8; r++) {
      if (pf) _mm_prefetch((const char *)(pf[r] + i), _MM_HINT_T0);
      __m512 v = _mm512_loadu_ps(zr[r] + i);
      __m512d lo = EL16_LO(v), hi = EL16_HI(v);
      x0 = _mm512_add_pd(x0, _mm512_mul_pd(p[r], lo));
      x1 = _mm512_add_pd(x1, _mm512_mul_pd(p[r], hi));
      if (two) {
        y0 = _mm512_add_pd(y0, _mm512_mul_pd(q[r], _mm512_mul_pd(lo, lo)));
        y1 = _mm512_add_pd(y1, _mm512_mul_pd(q[r], _mm512_mul_pd(hi, hi)));
      }
    }
    _mm512_storeu_pd(a1 + i, x0), _mm512_storeu_pd(a1 + i + 8, x1);
    if (two) _mm512_storeu_pd(a2 + i, y0), _mm512_storeu_pd(a2 + i + 8, y1);
  }
  return i;
}
__attribute__((target("avx512f"))) static int64_t moment8_f512(double *a1, double *a2, const float *const *zr,
                                                               const double *w1, const double *w2, int64_t m,
                                                               const float *const *pf) {
  return a2 ? moment8_body(a1, a2, zr, w1, w2, m, pf, 1) : moment8_body(a1, a2, zr, w1, w2, m, pf, 0);
}
#endif

typedef struct {
  int zd, od, fast;
  const char *Z;
  const double *w1, *w2;
  double sub2;
  char *o1, *o2;
  int64_t rows, P;
} moment_job;

static void store(int od, char *o, int64_t off, const double *a, int64_t m) {
  if (od == NT_FLOAT64) memcpy(o + off * 8, a, (size_t)m * 8);
  else
    for (int64_t i = 0; i < m; i++) ((float *)o)[off + i] = (float)a[i];
}

static void moment_part(void *ctx, int64_t b, int64_t e) {
  moment_job *j = ctx;
  int64_t ze = elem_size(j->zd);
  double a1[ES_COLS], a2[ES_COLS];
  for (int64_t blk = b; blk < e; blk++) {
    int64_t j0 = blk * ES_COLS, m = j->P - j0 < ES_COLS ? j->P - j0 : ES_COLS;
    for (int64_t i = 0; i < m; i++) a1[i] = 0, a2[i] = 0;
    int64_t k = 0;
#ifdef ES_STREAM
    for (; j->fast && k + 8 <= j->rows; k += 8) {
      const float *zr[8], *pf[8];
      for (int q = 0; q < 8; q++) zr[q] = (const float *)j->Z + (k + q) * j->P + j0;
      /* the next eight rows' lines, or the next block's first eight */
      int64_t nk = k + 16 <= j->rows ? k + 8 : 0, nj = nk ? j0 : j0 + ES_COLS;
      int ok = nj + m <= j->P;
      for (int q = 0; q < 8; q++) pf[q] = (const float *)j->Z + (nk + q) * j->P + nj;
      int64_t done = moment8_f512(a1, j->o2 ? a2 : NULL, zr, j->w1 + k, j->w2 ? j->w2 + k : NULL, m, ok ? pf : NULL);
      if (done < m)
        for (int h = 0; h < 8; h += 4) {
          const void *zt[4];
          for (int q = 0; q < 4; q++) zt[q] = zr[h + q] + done;
          moment4_f(a1 + done, j->o2 ? a2 + done : NULL, zt, j->w1 + k + h, j->w2 ? j->w2 + k + h : NULL, m - done, NULL);
        }
    }
#endif
    for (; k + 4 <= j->rows; k += 4) {
      const void *zr[4];
      for (int q = 0; q < 4; q++) zr[q] = j->Z + ((k + q) * j->P + j0) * ze;
      /* the next four rows' blocks, a line of each per line summed (prefetch_note) */
      const void *pf[4];
      for (int q = 0; q < 4; q++) pf[q] = (const char *)zr[q] + 4 * j->P * ze;
      (j->zd == NT_FLOAT32 ? moment4_f : moment4_d)(a1, j->o2 ? a2 : NULL, zr, j->w1 + k, j->w2 ? j->w2 + k : NULL, m,
                                                    k + 8 <= j->rows ? pf : NULL);
    }
    for (; k < j->rows; k++)
      (j->zd == NT_FLOAT32 ? moment1_f : moment1_d)(a1, j->o2 ? a2 : NULL, j->Z + (k * j->P + j0) * ze, j->w1[k],
                                                    j->w2 ? j->w2[k] : 0.0, m);
    store(j->od, j->o1, j0, a1, m);
    if (j->o2) {
      for (int64_t i = 0; i < m; i++) a2[i] -= j->sub2;
      store(j->od, j->o2, j0, a2, m);
    }
  }
}

void nyto_es_moments(int zdtype, const void *Z, int64_t rows, int64_t P, const double *w1, const double *w2,
                     double sub2, int odtype, void *o1, void *o2) {
  if (P <= 0) return;
  if (!w2) o2 = NULL;
  moment_job j = {zdtype, odtype, zdtype == NT_FLOAT32 && nyto_random_isa(-1) >= 2, Z, w1, w2, sub2, o1, o2, rows, P};
  int64_t nblk = (P + ES_COLS - 1) / ES_COLS;
  if (rows * P < ES_SERIAL || nblk < 2 || nt_parallel_for(nblk, 1, moment_part, &j) != 0) moment_part(&j, 0, nblk);
}

/* ---- tell (CEM): the mean and the deviation of chosen rows ----
 * 64 columns of every chosen row at a time: the rows' streams side by side
 * (each prefetched 4 KB ahead), their sum in row order, the mean, then the
 * squared deviations from the same lines while they are in L1.  A sweep per
 * row over 2048-column blocks (the previous version: per element the same
 * operations in the same order, so the same bits) ran at a third of a plain
 * read's speed: 13 rows of [64, 1.86M] took 33 ms against 10-11 for a sum of
 * the same bytes. */
#define ELITE_W 64
/* eight elements as float64 (GCC vector types: one 512-bit register on
 * AVX-512, split by the AVX2 and baseline clones) */
typedef double es_v8d __attribute__((vector_size(64)));
typedef double es_v8du __attribute__((vector_size(64), aligned(8)));
typedef float es_v8fu __attribute__((vector_size(32), aligned(4)));
#define ES_LOAD8_float(p) __builtin_convertvector(*(const es_v8fu *)(p), es_v8d)
#define ES_LOAD8_double(p) (*(const es_v8du *)(p))
/* the two sweeps over the full ELITE_W columns in vector registers (GCC left
 * the deviations' loop scalar when written over arrays), then a partial width
 * in scalars; per element the same operations in the same order either way */
#define ELITE_COLS(T)                                                                        \
  {                                                                                          \
    const T *base = (const T *)X + j0;                                                       \
    for (int64_t i0 = 0; i0 < m; i0 += ELITE_W) {                                            \
      const int64_t w = m - i0 < ELITE_W ? m - i0 : ELITE_W;                                 \
      if (w == ELITE_W) {                                                                    \
        const int pf = i0 + ELITE_W + 4096 / (int64_t)sizeof(T) <= m;                        \
        es_v8d S[ELITE_W / 8], Q[ELITE_W / 8];                                               \
        for (int g = 0; g < ELITE_W / 8; g++) S[g] = (es_v8d){0}, Q[g] = (es_v8d){0};        \
        for (int64_t k = 0; k < K; k++) {                                                    \
          const T *x = base + idx[k] * P + i0;                                               \
          if (pf)                                                                            \
            for (int64_t l = 0; l < ELITE_W * (int64_t)sizeof(T); l += 64)                   \
              __builtin_prefetch((const char *)x + 4096 + l, 0);                             \
          for (int g = 0; g < ELITE_W / 8; g++) S[g] += ES_LOAD8_##T(x + 8 * g);             \
        }                                                                                    \
        for (int g = 0; g < ELITE_W / 8; g++) S[g] /= (double)K;                             \
        for (int64_t k = 0; k < K; k++) {                                                    \
          const T *x = base + idx[k] * P + i0;                                               \
          for (int g = 0; g < ELITE_W / 8; g++) {                                            \
            es_v8d d = ES_LOAD8_##T(x + 8 * g) - S[g];                                       \
            Q[g] += d * d;                                                                   \
          }                                                                                  \
        }                                                                                    \
        for (int g = 0; g < ELITE_W / 8; g++)                                                \
          for (int l = 0; l < 8; l++) mu[i0 + 8 * g + l] = S[g][l], sd[i0 + 8 * g + l] = sqrt(Q[g][l] / (double)K); \
        continue;                                                                            \
      }                                                                                      \
      double s[ELITE_W], q[ELITE_W];                                                         \
      for (int64_t i = 0; i < w; i++) s[i] = 0, q[i] = 0;                                    \
      for (int64_t k = 0; k < K; k++)                                                        \
        for (int64_t i = 0; i < w; i++) s[i] += (double)base[idx[k] * P + i0 + i];           \
      for (int64_t i = 0; i < w; i++) s[i] /= (double)K;                                     \
      for (int64_t k = 0; k < K; k++)                                                        \
        for (int64_t i = 0; i < w; i++) {                                                    \
          double d = (double)base[idx[k] * P + i0 + i] - s[i];                               \
          q[i] += d * d;                                                                     \
        }                                                                                    \
      for (int64_t i = 0; i < w; i++) mu[i0 + i] = s[i], sd[i0 + i] = sqrt(q[i] / (double)K); \
    }                                                                                        \
  }
/* columns [j0, j0 + m) of the K rows idx[k] of X (P columns a row) */
ES_CLONES static void elite_f(const void *X, const int64_t *idx, int64_t K, int64_t P, int64_t j0, int64_t m,
                              double *restrict mu, double *restrict sd) ELITE_COLS(float)
ES_CLONES static void elite_d(const void *X, const int64_t *idx, int64_t K, int64_t P, int64_t j0, int64_t m,
                              double *restrict mu, double *restrict sd) ELITE_COLS(double)

#ifdef ES_STREAM
/* The AVX-512 form of elite_f (float32 rows; the same operations per element
 * in the same order, so the same bits): 16 columns of every chosen row at a
 * time, the rows interleaved a vector each.  Walking each row 64 columns at a
 * time before the next (elite_f) leaves the hardware prefetcher a few lines
 * per row to work with and spends the core on a scalar tail: 13 rows of the
 * [64, 1.86M] bench arena took 24 ms; this 15 ms, against 6 ms for a bare
 * read of the same bytes in the same order (the divisions and square roots
 * are the rest: four vdivpd and two vsqrtpd per 16 columns).  No software
 * prefetch: with it 16-19 ms. */
__attribute__((target("avx512f"))) static int64_t elite_f512(const float *X, const int64_t *idx, int64_t K,
                                                             int64_t P, int64_t j0, int64_t m, double *mu,
                                                             double *sd) {
  const __m512d kd = _mm512_set1_pd((double)K);
  const float *base = X + j0;
  int64_t i = 0;
  for (; i + 16 <= m; i += 16) {
    __m512d s0 = _mm512_setzero_pd(), s1 = s0, q0 = s0, q1 = s0;
    for (int64_t k = 0; k < K; k++) {
      __m512 v = _mm512_loadu_ps(base + idx[k] * P + i);
      s0 = _mm512_add_pd(s0, EL16_LO(v));
      s1 = _mm512_add_pd(s1, EL16_HI(v));
    }
    s0 = _mm512_div_pd(s0, kd), s1 = _mm512_div_pd(s1, kd);
    for (int64_t k = 0; k < K; k++) {
      __m512 v = _mm512_loadu_ps(base + idx[k] * P + i);
      __m512d d0 = _mm512_sub_pd(EL16_LO(v), s0), d1 = _mm512_sub_pd(EL16_HI(v), s1);
      q0 = _mm512_add_pd(q0, _mm512_mul_pd(d0, d0));
      q1 = _mm512_add_pd(q1, _mm512_mul_pd(d1, d1));
    }
    _mm512_storeu_pd(mu + i, s0), _mm512_storeu_pd(mu + i + 8, s1);
    _mm512_storeu_pd(sd + i, _mm512_sqrt_pd(_mm512_div_pd(q0, kd)));
    _mm512_storeu_pd(sd + i + 8, _mm512_sqrt_pd(_mm512_div_pd(q1, kd)));
  }
  return i; /* the columns done; elite_f does the rest */
}
#endif

typedef struct {
  int xd, od, fast;
  const char *X;
  const int64_t *idx;
  int64_t m, P;
  char *mean, *std;
} elite_job;

static void elite_part(void *ctx, int64_t b, int64_t e) {
  elite_job *j = ctx;
  double mu[ES_COLS], a[ES_COLS];
  for (int64_t blk = b; blk < e; blk++) {
    int64_t j0 = blk * ES_COLS, m = j->P - j0 < ES_COLS ? j->P - j0 : ES_COLS;
    int64_t done = 0;
#ifdef ES_STREAM
    if (j->fast) done = elite_f512((const float *)j->X, j->idx, j->m, j->P, j0, m, mu, a);
#endif
    if (done < m) (j->xd == NT_FLOAT32 ? elite_f : elite_d)(j->X, j->idx, j->m, j->P, j0 + done, m - done, mu + done, a + done);
    store(j->od, j->mean, j0, mu, m);
    store(j->od, j->std, j0, a, m);
  }
}

void nyto_es_elite(int xdtype, const void *X, int64_t P, const int64_t *idx, int64_t m, int odtype, void *mean,
                   void *std) {
  if (P <= 0 || m <= 0) return;
  elite_job j = {xdtype, odtype, xdtype == NT_FLOAT32 && nyto_random_isa(-1) >= 2, X, idx, m, P, mean, std};
  int64_t nblk = (P + ES_COLS - 1) / ES_COLS;
  if (m * P < ES_SERIAL || nblk < 2 || nt_parallel_for(nblk, 1, elite_part, &j) != 0) elite_part(&j, 0, nblk);
}

/* ---- tell (sep-CMA-ES): the D-vector updates in two passes ----
 * Pass 1 (nyto_es_sepcma_mean), column by column:
 *   y = zw D (<y>_w, written over zw), m += a_m y, p_s = k_s p_s + a_s (y / D),
 * and ||p_s||^2 summed in eight fixed lanes per ES_COLS block, the blocks in
 * order (the bits do not depend on the threads).  h_sigma needs that norm, so
 * pass 2 (nyto_es_sepcma_cov) follows:
 *   p_c = k_c p_c + a_c y, C = max(keep C + c_1 p_c^2 + c_mu (r D) D, tiny),
 *   D = sqrt(C)
 * (r the rank-mu sums of w°_i z_i^2).  Each operation rounded once, in the
 * order cmaes.lua's tensor arithmetic wrote them. */
typedef struct {
  double *zw, *Dv, *mean, *ps, *pc, *C, *part;
  const double *rk;
  double am, ks, as, kc, ac, keep, c1, cmu, tiny;
  int64_t P;
} sepcma_job;

ES_CLONES static void sepcma1(double *restrict zw, const double *restrict Dv, double *restrict mean,
                              double *restrict ps, int64_t m, double am, double ks, double as, double *part) {
  double acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  int64_t i = 0;
  for (; i + 8 <= m; i += 8)
    for (int l = 0; l < 8; l++) {
      double y = zw[i + l] * Dv[i + l];
      zw[i + l] = y;
      mean[i + l] = mean[i + l] + am * y;
      double p = ps[i + l] * ks + as * (y / Dv[i + l]);
      ps[i + l] = p;
      acc[l] += p * p;
    }
  for (int l = 0; i < m; i++, l++) {
    double y = zw[i] * Dv[i];
    zw[i] = y;
    mean[i] = mean[i] + am * y;
    double p = ps[i] * ks + as * (y / Dv[i]);
    ps[i] = p;
    acc[l] += p * p;
  }
  *part = ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
}

ES_CLONES static void sepcma2(const double *restrict y, const double *restrict rk, double *restrict Dv,
                              double *restrict pc, double *restrict C, int64_t m, double kc, double ac, double keep,
                              double c1, double cmu, double tiny) {
  for (int64_t i = 0; i < m; i++) {
    double p = pc[i] * kc + ac * y[i];
    pc[i] = p;
    double c = ((C[i] * keep + c1 * (p * p)) + cmu * ((rk[i] * Dv[i]) * Dv[i]));
    c = c < tiny ? tiny : c; /* NaN stays NaN, as clamp_ */
    C[i] = c;
    Dv[i] = sqrt(c);
  }
}

static void sepcma1_part(void *ctx, int64_t b, int64_t e) {
  sepcma_job *j = ctx;
  for (int64_t blk = b; blk < e; blk++) {
    int64_t j0 = blk * ES_COLS, m = j->P - j0 < ES_COLS ? j->P - j0 : ES_COLS;
    sepcma1(j->zw + j0, j->Dv + j0, j->mean + j0, j->ps + j0, m, j->am, j->ks, j->as, j->part + blk);
  }
}

static void sepcma2_part(void *ctx, int64_t b, int64_t e) {
  sepcma_job *j = ctx;
  for (int64_t blk = b; blk < e; blk++) {
    int64_t j0 = blk * ES_COLS, m = j->P - j0 < ES_COLS ? j->P - j0 : ES_COLS;
    sepcma2(j->zw + j0, j->rk + j0, j->Dv + j0, j->pc + j0, j->C + j0, m, j->kc, j->ac, j->keep, j->c1, j->cmu,
            j->tiny);
  }
}

int nyto_es_sepcma_mean(int64_t P, double *zw, const double *Dv, double *mean, double *ps, double am, double ks,
                        double as, double *norm2) {
  *norm2 = 0;
  if (P <= 0) return 0;
  int64_t nblk = (P + ES_COLS - 1) / ES_COLS;
  double *part = malloc((size_t)nblk * sizeof(double));
  if (!part) return -1;
  sepcma_job j = {zw, (double *)Dv, mean, ps, NULL, NULL, part, NULL, am, ks, as, 0, 0, 0, 0, 0, 0, P};
  if (P < ES_SERIAL || nblk < 2 || nt_parallel_for(nblk, 1, sepcma1_part, &j) != 0) sepcma1_part(&j, 0, nblk);
  double s = 0;
  for (int64_t b = 0; b < nblk; b++) s += part[b];
  free(part);
  *norm2 = s;
  return 0;
}

void nyto_es_sepcma_cov(int64_t P, const double *y, const double *rk, double *Dv, double *pc, double *C, double kc,
                        double ac, double keep, double c1, double cmu, double tiny) {
  if (P <= 0) return;
  int64_t nblk = (P + ES_COLS - 1) / ES_COLS;
  sepcma_job j = {(double *)y, Dv, NULL, NULL, pc, C, NULL, rk, 0, 0, 0, kc, ac, keep, c1, cmu, tiny, P};
  if (P < ES_SERIAL || nblk < 2 || nt_parallel_for(nblk, 1, sepcma2_part, &j) != 0) sepcma2_part(&j, 0, nblk);
}

/* ---- the bandwidth floor's passes (bench/strategy.sh) ----
 * What one thread can move: a read of n elements and a streamed write of n
 * elements, each the fastest of the forms measured on the bench's [64, 1.86M]
 * float32 arena (one thread, medians, one run): a read as eight streams side
 * by side (the n elements cut in eight stretches, a vector of each in turn,
 * each line prefetched 4 KB ahead) took 33 ms where one sequential stream took
 * 42-47 ms and the read + write of core.paffine in place 42-50 ms; a write as
 * whole-line streaming stores took 30-33 ms (through the cache, which reads
 * each line for ownership first: 75 ms).  A one-directional pass (an ask that
 * only writes, a tell that only reads) cannot borrow the other direction's
 * time as an in-place pass does. */
#ifdef ES_STREAM
__attribute__((target("avx512f"))) static double read8_f512(const float *x, int64_t n) {
  int64_t L = n / 8 & ~(int64_t)15; /* each stretch a whole number of vectors */
  __m512 acc[8];
  for (int s = 0; s < 8; s++) acc[s] = _mm512_setzero_ps();
  for (int64_t i = 0; i < L; i += 16)
    for (int s = 0; s < 8; s++) {
      const float *p = x + (int64_t)s * L + i;
      _mm_prefetch((const char *)p + 4096, _MM_HINT_T0);
      acc[s] = _mm512_add_ps(acc[s], _mm512_loadu_ps(p));
    }
  double sum = 0;
  for (int s = 0; s < 8; s++) sum += _mm512_reduce_add_ps(acc[s]);
  for (int64_t i = 8 * L; i < n; i++) sum += x[i];
  return sum;
}
__attribute__((target("avx512f"))) static void fill_f512(float *x, int64_t n, float v) {
  int64_t head = (int64_t)(((64 - ((uintptr_t)x & 63)) & 63) / 4), i = 0;
  if (head > n || ((uintptr_t)x & 3)) head = n;
  for (; i < head; i++) x[i] = v;
  __m512 vv = _mm512_set1_ps(v);
  for (; i + 16 <= n; i += 16) _mm512_stream_ps(x + i, vv);
  _mm_sfence();
  for (; i < n; i++) x[i] = v;
}
#endif

double nyto_mem_read(int dtype, const void *x, int64_t n) {
  if (dtype == NT_FLOAT64) n *= 2; /* the bytes are what counts: read as float32 */
#ifdef ES_STREAM
  core_stream_init();
  if (es_isa == 2) return read8_f512(x, n);
#endif
  const float *f = x;
  float acc[16] = {0};
  int64_t i = 0;
  for (; i + 16 <= n; i += 16)
    for (int l = 0; l < 16; l++) acc[l] += f[i + l];
  double sum = 0;
  for (int l = 0; l < 16; l++) sum += acc[l];
  for (; i < n; i++) sum += f[i];
  return sum;
}

void nyto_mem_write(int dtype, void *x, int64_t n, double v) {
  if (dtype == NT_FLOAT64) {
    double *d = x;
    for (int64_t i = 0; i < n; i++) d[i] = v;
    return;
  }
#ifdef ES_STREAM
  core_stream_init();
  if (es_isa == 2) {
    fill_f512(x, n, (float)v);
    return;
  }
#endif
  float *f = x;
  for (int64_t i = 0; i < n; i++) f[i] = (float)v;
}
