/* evo.c -- the fused generations of the population strategies PSO, GA and DE
 * (issue 17; lua/nyto/strategy/pso.lua, ga.lua, de.lua): one pass over the
 * [n, D] arenas each, the uniforms and normals made from the counter-based
 * generator (philox.c) in L1-sized chunks inside the pass instead of whole
 * arenas of draws written and read back.
 *
 * Draws: the element (r, j) of a stream of draws based at counter c is the
 * draw nyto_random_fill gives at c + r D + j, which is what nyto.rand({n, D})
 * / nyto.randn({n, D}) return from the same generator state: a pass gives the
 * same bits whatever its chunking and thread count, and the specs regenerate
 * the draws with the generator to check a pass against plain tensor
 * arithmetic.  Every element is computed with one rounding per operation in
 * the order the comment of each pass gives (-ffp-contract=off), the order of
 * the tensor arithmetic it replaced.
 *
 * Segments (segs, within a row of D): the elements a pass updates; outside
 * them PSO leaves x and v alone and GA and DE copy the row they start from
 * (the gaps a swarm operation copies).  docs/design.md, "Strategy cost
 * against its bandwidth floor". */
#include <string.h>

#include "core_private.h"

/* elements per chunk of draws: 4 or 8 KiB per stream, so the draws of a
 * chunk stay in L1 until the pass has used them */
#ifndef EVO_CH
#define EVO_CH 1024
#endif
/* parallel grain (elements), as philox.c's fills */
#define EVO_GRAIN 65536

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && !defined(NYTO_NO_CLONES)
#define EVO_CLONES __attribute__((target_clones("avx2", "default")))
#else
#define EVO_CLONES
#endif

typedef struct {
  int dtype, which; /* 0 PSO, 1 GA, 2 DE */
  int64_t n, D;
  const nyto_seg *segs;
  int nseg;
  uint64_t seed, stream, ca, cb; /* the two streams' base counters (PSO r1, r2; GA u, z; DE u) */
  /* PSO */
  char *x, *v;
  const char *p, *g;
  double w, c1, c2;
  /* GA and DE: out's rows from X's rows */
  char *out;
  const char *X;
  const int64_t *ia, *ib, *ic, *jr; /* 0-based rows of X (DE: r1, r2, r3) and columns (DE: jrand) */
  const unsigned char *cross;       /* GA: 1 where row r is a crossover */
  const double *mut;                /* GA: row r's mutation std (0: none) */
  double F, CR;
  int fast; /* float32 on AVX-512: the row segments made by nyto_random_{pso,ga,de}_f32 (philox.c), the draws in registers */
} evo_job;

/* ---- the chunk loops (m elements; the draws of the chunk in u, z) ---- */
/* PSO: a = ((p - x) r1) c1; b = ((g - x) r2) c2; v = ((w v) + a) + b; x = x + v */
#define PSO_LOOP(T)                                                     \
  for (int64_t i = 0; i < m; i++) {                                     \
    T xi = x[i];                                                        \
    T a = ((p[i] - xi) * r1[i]) * c1, b = ((g[i] - xi) * r2[i]) * c2;   \
    T vi = ((w * v[i]) + a) + b;                                        \
    v[i] = vi;                                                          \
    x[i] = xi + vi;                                                     \
  }
EVO_CLONES static void pso_f32(float *restrict x, float *restrict v, const float *restrict p, const float *restrict g,
                               const float *restrict r1, const float *restrict r2, int64_t m, float w, float c1,
                               float c2) {
  PSO_LOOP(float)
}
EVO_CLONES static void pso_f64(double *restrict x, double *restrict v, const double *restrict p,
                               const double *restrict g, const double *restrict r1, const double *restrict r2,
                               int64_t m, double w, double c1, double c2) {
  PSO_LOOP(double)
}

/* GA: o = a + (b - a) u (crossover rows; else o = a), then o + (s z) (s != 0) */
#define GA_X_LOOP(T) for (int64_t i = 0; i < m; i++) o[i] = a[i] + (b[i] - a[i]) * u[i];
#define GA_XM_LOOP(T) for (int64_t i = 0; i < m; i++) o[i] = (a[i] + (b[i] - a[i]) * u[i]) + s * z[i];
#define GA_M_LOOP(T) for (int64_t i = 0; i < m; i++) o[i] = a[i] + s * z[i];
EVO_CLONES static void ga_f32(float *restrict o, const float *restrict a, const float *restrict b,
                              const float *restrict u, const float *restrict z, int64_t m, float s) {
  if (u && z) GA_XM_LOOP(float)
  else if (u) GA_X_LOOP(float)
  else GA_M_LOOP(float)
}
EVO_CLONES static void ga_f64(double *restrict o, const double *restrict a, const double *restrict b,
                              const double *restrict u, const double *restrict z, int64_t m, double s) {
  if (u && z) GA_XM_LOOP(double)
  else if (u) GA_X_LOOP(double)
  else GA_M_LOOP(double)
}

/* DE: o = (u <= CR or column == jr) ? a + (b - c) F : x; jc = jr - the chunk's
 * first column (out of [0, m) when jrand is not in the chunk) */
#define DE_LOOP(T)                                                   \
  for (int64_t i = 0; i < m; i++) {                                  \
    T t = a[i] + (b[i] - c[i]) * F, xi = x[i];                       \
    o[i] = u[i] <= CR ? t : xi;                                      \
  }                                                                  \
  if (jc >= 0 && jc < m) o[jc] = a[jc] + (b[jc] - c[jc]) * F;
/* no-trapping-math: the select may be if-converted (vectorised); the values
 * are the same (it only drops the assumption that a compare may trap) */
#define EVO_SELECT __attribute__((optimize("no-trapping-math")))
EVO_SELECT EVO_CLONES static void de_f32(float *restrict o, const float *restrict x, const float *restrict a,
                              const float *restrict b, const float *restrict c, const float *restrict u, int64_t m,
                              int64_t jc, float F, float CR) {
  DE_LOOP(float)
}
EVO_SELECT EVO_CLONES static void de_f64(double *restrict o, const double *restrict x, const double *restrict a,
                              const double *restrict b, const double *restrict c, const double *restrict u,
                              int64_t m, int64_t jc, double F, double CR) {
  DE_LOOP(double)
}

/* row r, columns [j0, j1) inside a segment: the pass, chunk by chunk (chunks
 * end on counter multiples of EVO_CH, so only a row's first is partial) */
static void run_seg(const evo_job *j, int64_t r, int64_t j0, int64_t j1) {
  int64_t es = elem_size(j->dtype), D = j->D;
  int f64 = j->dtype == NT_FLOAT64;
  double ubuf[EVO_CH], zbuf[EVO_CH]; /* the chunk's draws (float32 uses the first half) */
  _Alignas(64) double obuf[EVO_CH];  /* GA, DE: the chunk's output, streamed to out from here */
  const char *ra = NULL, *rb = NULL, *rc = NULL, *rx = NULL;
  char *ro = NULL;
  int need_u = 1, need_z = 0;
  double s = 0;
  if (j->which == 1) {
    ra = j->X + (size_t)(j->ia[r] * D) * es;
    rb = j->X + (size_t)(j->ib[r] * D) * es;
    ro = j->out + (size_t)(r * D) * es;
    need_u = j->cross[r] != 0;
    s = j->mut[r];
    need_z = s != 0;
    if (j->fast && (need_u || need_z) &&
        nyto_random_ga_f32((float *)ro + j0, (const float *)ra + j0, (const float *)rb + j0, j1 - j0, need_u, need_z,
                           (float)s, j->seed, j->stream, j->ca + (uint64_t)(r * D + j0),
                           j->cb + (uint64_t)(r * D + j0)))
      return;
  } else if (j->which == 2) {
    ra = j->X + (size_t)(j->ia[r] * D) * es;
    rb = j->X + (size_t)(j->ib[r] * D) * es;
    rc = j->X + (size_t)(j->ic[r] * D) * es;
    rx = j->X + (size_t)(r * D) * es;
    ro = j->out + (size_t)(r * D) * es;
  }
  if (j->fast && j->which == 0) { /* the whole segment, the draws in registers (philox.c) */
    size_t q = (size_t)(r * D + j0) * 4;
    nyto_random_pso_f32((float *)(j->x + q), (float *)(j->v + q), (const float *)(j->p + q),
                        (const float *)j->g + j0, j1 - j0, (float)j->w, (float)j->c1, (float)j->c2, j->seed,
                        j->stream, j->ca + (uint64_t)(r * D + j0), j->cb + (uint64_t)(r * D + j0));
    return;
  }
  if (j->fast && j->which == 2 &&
      nyto_random_de_f32((float *)ro + j0, (const float *)rx + j0, (const float *)ra + j0, (const float *)rb + j0,
                         (const float *)rc + j0, j1 - j0, j->jr[r] - j0, (float)j->F, (float)j->CR, j->seed,
                         j->stream, j->ca + (uint64_t)(r * D + j0)))
    return;
  for (int64_t c = j0, m; c < j1; c += m) {
    uint64_t e = (uint64_t)(r * D + c); /* the element's offset in the streams */
    m = EVO_CH - (int64_t)((j->ca + e) & (EVO_CH - 1));
    if (m > j1 - c) m = j1 - c;
    void *u = ubuf, *z = zbuf;
    if (j->which == 0) {
      size_t o = (size_t)(r * D) * es;
      nyto_random_fill(j->dtype, 1, u, m, j->seed, j->stream, j->ca + e);
      nyto_random_fill(j->dtype, 1, z, m, j->seed, j->stream, j->cb + e);
      size_t q = o + (size_t)(c * es);
      if (f64)
        pso_f64((double *)(j->x + q), (double *)(j->v + q), (const double *)(j->p + q),
                (const double *)(j->g + c * es), u, z, m, j->w, j->c1, j->c2);
      else
        pso_f32((float *)(j->x + q), (float *)(j->v + q), (const float *)(j->p + q), (const float *)(j->g + c * es),
                u, z, m, (float)j->w, (float)j->c1, (float)j->c2);
    } else if (j->which == 1) {
      if (need_u) nyto_random_fill(j->dtype, 1, u, m, j->seed, j->stream, j->ca + e);
      if (need_z) nyto_random_fill(j->dtype, 0, z, m, j->seed, j->stream, j->cb + e);
      size_t q = (size_t)(c * es);
      if (!need_u && !need_z) { /* a copy of the row a */
        core_stream_store(ro + q, ra + q, m * es);
        continue;
      }
      if (f64)
        ga_f64(obuf, (const double *)(ra + q), (const double *)(rb + q), need_u ? u : NULL, need_z ? z : NULL, m, s);
      else
        ga_f32((float *)obuf, (const float *)(ra + q), (const float *)(rb + q), need_u ? u : NULL,
               need_z ? z : NULL, m, (float)s);
      core_stream_store(ro + q, (const char *)obuf, m * es);
    } else {
      nyto_random_fill(j->dtype, 1, u, m, j->seed, j->stream, j->ca + e);
      size_t q = (size_t)(c * es);
      int64_t jc = j->jr[r] - c;
      if (f64)
        de_f64(obuf, (const double *)(rx + q), (const double *)(ra + q), (const double *)(rb + q),
               (const double *)(rc + q), u, m, jc, j->F, j->CR);
      else
        de_f32((float *)obuf, (const float *)(rx + q), (const float *)(ra + q), (const float *)(rb + q),
               (const float *)(rc + q), u, m, jc, (float)j->F, (float)j->CR);
      core_stream_store(ro + q, (const char *)obuf, m * es);
    }
  }
}

/* row r, columns [j0, j1) outside the segments: GA and DE copy the row they
 * start from (a, the target x); PSO leaves them */
static void run_gap(const evo_job *j, int64_t r, int64_t j0, int64_t j1) {
  if (j->which == 0 || j1 <= j0) return;
  int64_t es = elem_size(j->dtype), D = j->D;
  const char *src = j->X + (size_t)((j->which == 1 ? j->ia[r] : r) * D) * es;
  core_stream_store(j->out + (size_t)(r * D + j0) * es, src + j0 * es, (j1 - j0) * es);
}

/* elements [lo, hi) of the n x D: row by row, segments and gaps */
static void evo_part(void *ctx, int64_t lo, int64_t hi) {
  const evo_job *j = ctx;
  int64_t D = j->D;
  for (int64_t r = lo / D; r < j->n && r * D < hi; r++) {
    int64_t b = lo > r * D ? lo - r * D : 0, e = hi < (r + 1) * D ? hi - r * D : D; /* columns [b, e) */
    int64_t pos = b;
    for (int k = 0; k < j->nseg && pos < e; k++) {
      int64_t so = j->segs[k].off, se = so + j->segs[k].len;
      if (se <= pos) continue;
      if (so >= e) break;
      if (so > pos) run_gap(j, r, pos, so);
      int64_t a = so > pos ? so : pos, z = se < e ? se : e;
      run_seg(j, r, a, z);
      pos = z;
    }
    if (pos < e) run_gap(j, r, pos, e);
  }
  if (j->which != 0) core_stream_fence();
}

static void evo_run(evo_job *j) {
  nyto_random_init(); /* the tables, before any thread reads them */
  core_stream_init();
  int64_t N = j->n * j->D;
  if (N <= 0) return;
  j->fast = j->dtype == NT_FLOAT32 && nyto_random_isa(-1) >= 2; /* the passes below in philox.c */
  if (N < 2 * EVO_GRAIN || nt_parallel_for(N, EVO_GRAIN, evo_part, j) != 0) evo_part(j, 0, N);
}

void nyto_evo_pso(int dtype, void *x, void *v, const void *p, const void *g, int64_t n, int64_t D, double w,
                  double c1, double c2, const nyto_seg *segs, int nseg, uint64_t seed, uint64_t stream,
                  uint64_t ctr1, uint64_t ctr2) {
  evo_job j = {.dtype = dtype, .which = 0, .n = n, .D = D, .segs = segs, .nseg = nseg, .seed = seed,
               .stream = stream, .ca = ctr1, .cb = ctr2, .x = x, .v = v, .p = p, .g = g, .w = w, .c1 = c1,
               .c2 = c2};
  evo_run(&j);
}

void nyto_evo_ga(int dtype, void *out, const void *X, int64_t n, int64_t D, const int64_t *ia, const int64_t *ib,
                 const unsigned char *cross, const double *mut, const nyto_seg *segs, int nseg, uint64_t seed,
                 uint64_t stream, uint64_t ctr_u, uint64_t ctr_z) {
  evo_job j = {.dtype = dtype, .which = 1, .n = n, .D = D, .segs = segs, .nseg = nseg, .seed = seed,
               .stream = stream, .ca = ctr_u, .cb = ctr_z, .out = out, .X = X, .ia = ia, .ib = ib,
               .cross = cross, .mut = mut};
  evo_run(&j);
}

void nyto_evo_de(int dtype, void *out, const void *X, int64_t n, int64_t D, const int64_t *r1, const int64_t *r2,
                 const int64_t *r3, const int64_t *jr, double F, double CR, const nyto_seg *segs, int nseg,
                 uint64_t seed, uint64_t stream, uint64_t ctr_u) {
  evo_job j = {.dtype = dtype, .which = 2, .n = n, .D = D, .segs = segs, .nseg = nseg, .seed = seed,
               .stream = stream, .ca = ctr_u, .out = out, .X = X, .ia = r1, .ib = r2, .ic = r3, .jr = jr,
               .F = F, .CR = CR};
  evo_run(&j);
}
