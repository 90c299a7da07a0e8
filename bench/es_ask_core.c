/* bench/es_ask_core.c -- what bounds the ask of CEM, SNES and sep-CMA-ES: the
 * line pass of src/core/philox.c (nyto_random_sample_f32's float32 form, as
 * es.c's sample_part calls it: blocks of 8192 columns over every row) on the
 * bench's [64, 1,863,690] float32 arena, one thread, no Lua, no libtorch.
 * Built twice by bench/es_ask_core.sh: as the library builds it (the arena's
 * lines streamed to memory), and with -DL1_SINK, where every streamed store
 * goes to one 16 KB block instead (the same instructions on data in L1: the
 * pass's compute alone).  If the first costs no more than the second, the
 * memory traffic hides under the compute and the pass is bound by the
 * compute: the draws and the arithmetic around them.  The normals alone (a
 * fill of 1024 at a time into L1) and a streamed write of the arena alone
 * (the W of bench/strategy.sh's floor) are timed in the same run.
 *   prints: pass=NAME ms=M  (wall ms of one pass over the arena)
 */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <time.h>
#ifdef L1_SINK
#include <immintrin.h>
static float *sink;
static inline float *sink_at(float *p) { return sink + (((uintptr_t)p >> 2) & 4095); }
#define _mm512_stream_ps(p, v) _mm512_store_ps(sink_at(p), v)
#endif
#include "philox.c"

int nt_parallel_for(int64_t n, int64_t grain, void (*fn)(void *, int64_t, int64_t), void *ctx) {
  (void)grain;
  fn(ctx, 0, n);
  return 0;
}
int nt_get_num_threads(void) { return 1; }

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec + t.tv_nsec * 1e-9;
}

#define ROWS 64
#define COLS 1863690
#define BLK 8192

typedef void (*line_fn)(const float *, const float *, float *, float *, int64_t, uint64_t, uint64_t, uint64_t,
                        double *);

/* one ask's pass: row k of X (and of Z) from counter k * COLS, as es.c does */
static double ask_pass(line_fn fn, const float *c, const float *s, float *X, float *Z, double *part) {
  const int64_t nb = (COLS + 1023) / 1024;
  double t0 = now();
  for (int64_t i = 0; i < COLS; i += BLK) {
    int64_t m = COLS - i < BLK ? COLS - i : BLK;
    for (int64_t k = 0; k < ROWS; k++)
      fn(c + i, s + i, X + k * COLS + i, Z ? Z + k * COLS + i : NULL, m, 1, 2, (uint64_t)(k * COLS + i),
         part ? part + k * nb + i / 1024 : NULL);
  }
  return (now() - t0) * 1e3;
}

__attribute__((target("avx512f"))) static double write_pass(float *X) {
  double t0 = now();
  const __m512 v = _mm512_set1_ps(1.0f);
  for (int64_t i = 0; i + 16 <= (int64_t)ROWS * COLS; i += 16) _mm512_stream_ps(X + i, v);
  _mm_sfence();
  return (now() - t0) * 1e3;
}

int main(void) {
  table_init();
  if (nyto_random_isa(-1) < 2) {
    printf("es_ask_core: no AVX-512 here (the line pass is AVX-512 only)\n");
    return 0;
  }
  /* both arenas share their line offset, so the line form's z is on X's grid */
  float *X = aligned_alloc(64, (size_t)ROWS * COLS * 4 + 64), *Z = aligned_alloc(64, (size_t)ROWS * COLS * 4 + 64);
  float *c = aligned_alloc(64, (size_t)COLS * 4 + 64), *s = aligned_alloc(64, (size_t)COLS * 4 + 64);
  double *part = calloc((size_t)ROWS * ((COLS + 1023) / 1024), sizeof *part);
  static float fillbuf[1024] __attribute__((aligned(64)));
#ifdef L1_SINK
  sink = aligned_alloc(64, 4096 * 4);
#endif
  for (int64_t i = 0; i < COLS; i++) c[i] = 0.01f * (float)(i % 100), s[i] = 0.5f;
  memset(X, 0, (size_t)ROWS * COLS * 4); /* the pages faulted in before any timing */
  memset(Z, 0, (size_t)ROWS * COLS * 4);
  (void)ask_pass(lines_011, c, s, X, Z, part); /* warm-up */
  printf("pass=X ms=%.2f\n", ask_pass(lines_000, c, s, X, NULL, NULL));
  printf("pass=X+z ms=%.2f\n", ask_pass(lines_010, c, s, X, Z, NULL));
  printf("pass=X+z+norms ms=%.2f\n", ask_pass(lines_011, c, s, X, Z, part));
#ifndef L1_SINK
  double t0 = now();
  for (int64_t k = 0; k < ROWS; k++)
    for (int64_t i = 0; i + 1024 <= COLS; i += 1024) fill_avx512(0, fillbuf, 1024, 1, 2, (uint64_t)(k * COLS + i));
  printf("pass=normals ms=%.2f\n", (now() - t0) * 1e3);
  printf("pass=write ms=%.2f\n", write_pass(X));
#endif
  return fillbuf[7] > 1e30f;
}
