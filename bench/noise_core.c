/* bench/noise_core.c -- the noise kernels of src/core/philox.c alone, no Lua
 * and no libtorch (compiled with the file included, one thread), side by side
 * in one run: a normal fill of 1.86 M floats on each vector path; the APSO
 * step over 32 rows of P = 1,863,690 floats as the fused pass
 * (nyto_random_axpby), as fill + pass, and as the shared noise table of
 * Salimans et al. 2017 (one table of 2^25 normals made once, each row reading
 * a window at an offset drawn per row); and the C pass over the same bytes
 * with no noise (the bandwidth floor).  CPU-time medians.  bench/noise_core.sh
 * builds and runs it. */
#define _GNU_SOURCE
#include <stdio.h>
#include <time.h>

#include "philox.c"

int nt_parallel_for(int64_t n, int64_t grain, void (*fn)(void *, int64_t, int64_t), void *ctx) {
  (void)grain;
  fn(ctx, 0, n);
  return 0;
}
int nt_get_num_threads(void) { return 1; } /* one thread: the kernels alone */

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
  return t.tv_sec + t.tv_nsec * 1e-9;
}

static int cmp(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}
#define REPS 7
static double median(double *t) {
  qsort(t, REPS, sizeof *t, cmp);
  return t[REPS / 2];
}

/* the bandwidth floor: read and write every element once, no noise */
static void c_pass(float *restrict s, const float *restrict x, int64_t n) {
  for (int64_t i = 0; i < n; i++) s[i] = 0.5f * s[i] + 0.5f * x[i];
}

/* the shared table: s = a s + b x + sigma T[o + i] */
static void table_pass(float *restrict s, const float *restrict x, const float *restrict t, int64_t n) {
  for (int64_t i = 0; i < n; i++) s[i] = (0.5f * s[i] + 0.5f * x[i]) + 0.1f * t[i];
}

int main(int argc, char **argv) {
  int quick = argc > 1 && strcmp(argv[1], "--fill-only") == 0;
  const int64_t P = 1863690, R = 32, TN = (int64_t)1 << 25;
  float *f = aligned_alloc(64, (size_t)P * 4);
  table_init();
#ifdef NOISE_OLD /* a philox.c from before nyto_random_isa: its own path, fills only */
#define nyto_random_isa(l) 0
  quick = 1;
#endif
  int top = nyto_random_isa(-1);
  static const char *names[3] = {"scalar", "avx2", "avx512"};
  printf("fill ns/element (1.86 M floats, normal / uniform):");
  for (int lv = top; lv >= 0; lv--) {
#ifdef NOISE_OLD
    lv = -1; /* one run, the path the old code picks */
#endif
    nyto_random_isa(lv);
    double tn[REPS], tu[REPS];
    int it = lv == 0 ? 2 : 20;
    if (lv < 0) it = 20;
    for (int r = 0; r < REPS; r++) {
      double t0 = now();
      for (int i = 0; i < it; i++) nyto_random_fill(NT_FLOAT32, 0, f, P, 1, 0, (uint64_t)i * P);
      tn[r] = (now() - t0) / it / P * 1e9;
      t0 = now();
      for (int i = 0; i < it; i++) nyto_random_fill(NT_FLOAT32, 1, f, P, 1, 0, (uint64_t)i * P);
      tu[r] = (now() - t0) / it / P * 1e9;
    }
    const char *nm = lv < 0 ? "best" : names[lv];
    printf(" %s_normal=%.3f %s_uniform=%.3f", nm, median(tn), nm, median(tu));
  }
  printf("\n");
  nyto_random_isa(top);
  if (quick) return 0;
#ifndef NOISE_OLD

  float *s = aligned_alloc(64, (size_t)(P * R) * 4), *best = aligned_alloc(64, (size_t)P * 4);
  float *tab = aligned_alloc(64, (size_t)TN * 4);
  for (int64_t i = 0; i < P * R; i++) s[i] = 0.001f * (float)(i % 1000);
  for (int64_t i = 0; i < P; i++) best[i] = 1;
  double t0 = now();
  nyto_random_fill(NT_FLOAT32, 0, tab, TN, 1, 7, 0); /* once, from the seed */
  double t_table = now() - t0;
  double tf[REPS], ts[REPS], tt[REPS], tc[REPS];
  for (int r = 0; r < REPS; r++) {
    uint64_t c = (uint64_t)r * (uint64_t)(P * R);
    t0 = now();
    for (int64_t k = 0; k < R; k++)
      nyto_random_axpby(NT_FLOAT32, s + k * P, 0.5, best, 0.5, 0.1, P, 1, 0, c + (uint64_t)(k * P));
    tf[r] = (now() - t0) * 1e3;
    t0 = now(); /* the noise as a fill of a noise arena, then a pass reading it */
    nyto_random_fill(NT_FLOAT32, 0, tab, P * R < TN ? P * R : TN, 1, 0, c);
    for (int64_t k = 0; k < R; k++) table_pass(s + k * P, best, tab + (k * P) % (TN - P), P);
    ts[r] = (now() - t0) * 1e3;
    t0 = now(); /* the shared table: per-row offsets drawn by Philox, then one pass */
    {
      uint32_t off[32];
      nyto_random_fill(NT_FLOAT32, 1, (float *)off, R, 2, 0, (uint64_t)r * 32); /* any bits will do */
      for (int64_t k = 0; k < R; k++) {
        uint32_t u;
        memcpy(&u, &off[k], 4);
        table_pass(s + k * P, best, tab + (u % (uint32_t)(TN - P)), P);
      }
    }
    tt[r] = (now() - t0) * 1e3;
    t0 = now();
    for (int64_t k = 0; k < R; k++) c_pass(s + k * P, best, P);
    tc[r] = (now() - t0) * 1e3;
  }
  double mf = median(tf), ms = median(ts), mt = median(tt), mc = median(tc);
  printf("apso step ms (32 x %lld floats): fused=%.1f fill_then_pass=%.1f shared_table=%.1f c_pass=%.1f "
         "(table of 2^25 normals made once in %.0f ms)\n",
         (long long)P, mf, ms, mt, mc, t_table * 1e3);
  printf("ratios: fused %.2fx the C pass, shared table %.2fx, fill then pass %.2fx\n", mf / mc, mt / mc, ms / mc);
#endif
  return 0;
}
