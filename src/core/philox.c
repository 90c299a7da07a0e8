/* philox.c -- nyto's counter-based random numbers: Philox4x32-10 (Salmon et
 * al. 2011, as cuRAND, JAX and PyTorch's CUDA generator) and a table normal
 * transform.  Element j of a draw is a function of (seed, stream, counter)
 * alone, counter = the draw's offset + j, so a fill gives the same bits for
 * any chunking and any thread count.  docs/design.md, "Counter-based
 * randomness". */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "nyto_core.h"

#if defined(__x86_64__) && defined(__GNUC__) && !defined(NYTO_NO_CLONES)
#define PX_HAVE_AVX2 1
#endif

#define PHILOX_M0 0xD2511F53u
#define PHILOX_M1 0xCD9E8D57u
#define PHILOX_W0 0x9E3779B9u
#define PHILOX_W1 0xBB67AE85u

void nyto_philox4x32_10(const uint32_t ctr[4], const uint32_t key[2], uint32_t out[4]) {
  uint32_t c0 = ctr[0], c1 = ctr[1], c2 = ctr[2], c3 = ctr[3], k0 = key[0], k1 = key[1];
  for (int r = 0; r < 10; r++) {
    uint64_t p0 = (uint64_t)PHILOX_M0 * c0, p1 = (uint64_t)PHILOX_M1 * c2;
    uint32_t n0 = (uint32_t)(p1 >> 32) ^ c1 ^ k0, n2 = (uint32_t)(p0 >> 32) ^ c3 ^ k1;
    c1 = (uint32_t)p1;
    c3 = (uint32_t)p0;
    c0 = n0;
    c2 = n2;
    k0 += PHILOX_W0;
    k1 += PHILOX_W1;
  }
  out[0] = c0, out[1] = c1, out[2] = c2, out[3] = c3;
}

/* ---- the normal transform: a table of the half-normal's quantile ----
 * A 32-bit word r gives the sign (bit 31) and w = (r & 0x7fffffff) | 1, an
 * odd integer in [1, 2^31): |x| = Q(w / 2^31) with Q(u) = sqrt(2) erfcinv(u),
 * the value whose two-sided tail has probability u.  (float)w is looked up by
 * its exponent and top 6 mantissa bits (64 bins per octave, so the bins are
 * finest in the tail, where Q is steep) and interpolated linearly on the
 * remaining 17 mantissa bits.  2 KiB entries of (value, slope): in L1. */
#define NT_BINS 6
#define NT_SIZE (31 * (1 << NT_BINS) + 2)
static float tab_v[NT_SIZE], tab_d[NT_SIZE];
static int tab_ready;

static double q_tail(double u) { /* x >= 0 with erfc(x / sqrt 2) = u, by bisection */
  double lo = 0, hi = 40;
  for (int i = 0; i < 200 && hi - lo > 1e-15; i++) {
    double mid = 0.5 * (lo + hi);
    if (erfc(mid / M_SQRT2) > u) lo = mid;
    else hi = mid;
  }
  return 0.5 * (lo + hi);
}

#ifdef PX_HAVE_AVX2
static int px_avx2;
#endif

static void table_init(void) {
  if (tab_ready) return;
#ifdef PX_HAVE_AVX2
  __builtin_cpu_init();
  px_avx2 = __builtin_cpu_supports("avx2") && !getenv("NYTO_NO_AVX2");
#endif
  double v[NT_SIZE + 1];
  for (int i = 0; i <= NT_SIZE; i++) {
    int e = i >> NT_BINS, m = i & ((1 << NT_BINS) - 1);
    double w = ldexp(1.0 + m / (double)(1 << NT_BINS), e); /* (float)w at the bin start */
    double u = w / 2147483648.0;
    v[i] = u >= 1 ? 0 : q_tail(u);
  }
  for (int i = 0; i < NT_SIZE; i++) {
    tab_v[i] = (float)v[i];
    tab_d[i] = (float)(v[i + 1] - v[i]);
  }
  tab_ready = 1;
}

void nyto_random_init(void) { table_init(); }

/* ---- the fill loops ----
 * A chunk is 16 Philox blocks (64 words) computed lane by lane in arrays, so
 * the compiler vectorises the rounds (vpmuludq) and the table lookup
 * (gathers); the loader picks the AVX-512, AVX2 or baseline clone. */
#define CHUNK 64
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && !defined(NYTO_NO_CLONES)
#define PX_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define PX_CLONES
#endif

static inline void philox_chunk(uint64_t block, uint64_t seed, uint64_t stream, uint32_t *restrict w) {
  uint32_t c0[16], c1[16], c2[16], c3[16];
  for (int l = 0; l < 16; l++) {
    uint64_t b = block + (uint64_t)l;
    c0[l] = (uint32_t)b;
    c1[l] = (uint32_t)(b >> 32);
    c2[l] = (uint32_t)stream;
    c3[l] = (uint32_t)(stream >> 32);
  }
  uint32_t k0 = (uint32_t)seed, k1 = (uint32_t)(seed >> 32);
  for (int r = 0; r < 10; r++) {
    for (int l = 0; l < 16; l++) {
      uint64_t p0 = (uint64_t)PHILOX_M0 * c0[l], p1 = (uint64_t)PHILOX_M1 * c2[l];
      uint32_t n0 = (uint32_t)(p1 >> 32) ^ c1[l] ^ k0, n2 = (uint32_t)(p0 >> 32) ^ c3[l] ^ k1;
      c1[l] = (uint32_t)p1;
      c3[l] = (uint32_t)p0;
      c0[l] = n0;
      c2[l] = n2;
    }
    k0 += PHILOX_W0;
    k1 += PHILOX_W1;
  }
  for (int l = 0; l < 16; l++) {
    w[4 * l] = c0[l];
    w[4 * l + 1] = c1[l];
    w[4 * l + 2] = c2[l];
    w[4 * l + 3] = c3[l];
  }
}

static inline float bits_f(uint32_t u) {
  float f;
  memcpy(&f, &u, 4);
  return f;
}
static inline uint32_t f_bits(float f) {
  uint32_t u;
  memcpy(&u, &f, 4);
  return u;
}

/* words -> normals (kind 0) or uniforms on [0, 1) (kind 1) */
static inline void transform(int kind, const uint32_t *restrict w, float *restrict out) {
  if (kind == 0) {
    for (int l = 0; l < CHUNK; l++) {
      uint32_t r = w[l];
      float wf = (float)(int32_t)((r & 0x7fffffffu) | 1u);
      uint32_t b = f_bits(wf);
      uint32_t idx = (b >> (23 - NT_BINS)) - (127u << NT_BINS);
      float t = (float)(b & ((1u << (23 - NT_BINS)) - 1)) * (1.0f / (float)(1u << (23 - NT_BINS)));
      float x = tab_v[idx] + t * tab_d[idx];
      out[l] = bits_f(f_bits(x) ^ (r & 0x80000000u));
    }
  } else {
    for (int l = 0; l < CHUNK; l++) out[l] = (float)(w[l] >> 8) * (1.0f / 16777216.0f);
  }
}


/* ---- the AVX2 path: 8 blocks per register, the same IEEE operations as
 * transform() (multiply then add, -ffp-contract=off), so its bits equal the
 * scalar path's ---- */
#ifdef PX_HAVE_AVX2
#include <immintrin.h>
__attribute__((target("avx2"))) static inline __m256i mulhilo(__m256i a, __m256i m, __m256i *lo) {
  __m256i pe = _mm256_mul_epu32(a, m), po = _mm256_mul_epu32(_mm256_srli_epi64(a, 32), m);
  *lo = _mm256_blend_epi32(pe, _mm256_slli_epi64(po, 32), 0xAA);
  return _mm256_blend_epi32(_mm256_srli_epi64(pe, 32), po, 0xAA);
}

/* 32 words (8 blocks from `block`) in element order into out[0..3] */
__attribute__((target("avx2"))) static inline void philox8(uint64_t block, uint64_t seed, uint64_t stream,
                                                           __m256i out[4]) {
  const __m256i M0 = _mm256_set1_epi32((int)PHILOX_M0), M1 = _mm256_set1_epi32((int)PHILOX_M1);
  __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
  uint32_t blo = (uint32_t)block, bhi = (uint32_t)(block >> 32);
  __m256i c0 = _mm256_add_epi32(_mm256_set1_epi32((int)blo), lane);
  /* carry into the high word where blo + lane wrapped */
  __m256i wrapped = _mm256_cmpgt_epi32(_mm256_xor_si256(_mm256_set1_epi32((int)blo), _mm256_set1_epi32((int)0x80000000)),
                                       _mm256_xor_si256(c0, _mm256_set1_epi32((int)0x80000000)));
  __m256i c1 = _mm256_sub_epi32(_mm256_set1_epi32((int)bhi), wrapped);
  __m256i c2 = _mm256_set1_epi32((int)(uint32_t)stream), c3 = _mm256_set1_epi32((int)(uint32_t)(stream >> 32));
  uint32_t k0 = (uint32_t)seed, k1 = (uint32_t)(seed >> 32);
  for (int r = 0; r < 10; r++) {
    __m256i lo0, lo1;
    __m256i hi0 = mulhilo(c0, M0, &lo0), hi1 = mulhilo(c2, M1, &lo1);
    c0 = _mm256_xor_si256(_mm256_xor_si256(hi1, c1), _mm256_set1_epi32((int)k0));
    c2 = _mm256_xor_si256(_mm256_xor_si256(hi0, c3), _mm256_set1_epi32((int)k1));
    c1 = lo1;
    c3 = lo0;
    k0 += PHILOX_W0;
    k1 += PHILOX_W1;
  }
  __m256i t0 = _mm256_unpacklo_epi32(c0, c1), t1 = _mm256_unpackhi_epi32(c0, c1);
  __m256i t2 = _mm256_unpacklo_epi32(c2, c3), t3 = _mm256_unpackhi_epi32(c2, c3);
  __m256i u0 = _mm256_unpacklo_epi64(t0, t2), u1 = _mm256_unpackhi_epi64(t0, t2);
  __m256i u2 = _mm256_unpacklo_epi64(t1, t3), u3 = _mm256_unpackhi_epi64(t1, t3);
  out[0] = _mm256_permute2x128_si256(u0, u1, 0x20);
  out[1] = _mm256_permute2x128_si256(u2, u3, 0x20);
  out[2] = _mm256_permute2x128_si256(u0, u1, 0x31);
  out[3] = _mm256_permute2x128_si256(u2, u3, 0x31);
}

__attribute__((target("avx2"))) static inline __m256 normal8(__m256i r) {
  __m256i m = _mm256_or_si256(_mm256_and_si256(r, _mm256_set1_epi32(0x7fffffff)), _mm256_set1_epi32(1));
  __m256i b = _mm256_castps_si256(_mm256_cvtepi32_ps(m));
  __m256i idx = _mm256_sub_epi32(_mm256_srli_epi32(b, 23 - NT_BINS), _mm256_set1_epi32(127 << NT_BINS));
  __m256 t = _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_and_si256(b, _mm256_set1_epi32((1 << (23 - NT_BINS)) - 1))),
                           _mm256_set1_ps(1.0f / (float)(1u << (23 - NT_BINS))));
  __m256 v = _mm256_i32gather_ps(tab_v, idx, 4), d = _mm256_i32gather_ps(tab_d, idx, 4);
  __m256 x = _mm256_add_ps(v, _mm256_mul_ps(t, d));
  return _mm256_xor_ps(x, _mm256_castsi256_ps(_mm256_and_si256(r, _mm256_set1_epi32((int)0x80000000))));
}

__attribute__((target("avx2"))) static inline __m256 uniform8(__m256i r) {
  return _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_srli_epi32(r, 8)), _mm256_set1_ps(1.0f / 16777216.0f));
}

/* float32 elements [c, c + n) with c % 32 == 0 and n % 32 == 0 */
__attribute__((target("avx2"))) static void fill_avx2(int kind, float *dst, int64_t n, uint64_t seed, uint64_t stream,
                                                      uint64_t c) {
  for (int64_t i = 0; i < n; i += 32) {
    __m256i w[4];
    philox8((c + (uint64_t)i) >> 2, seed, stream, w);
    for (int q = 0; q < 4; q++) _mm256_storeu_ps(dst + i + 8 * q, kind == 0 ? normal8(w[q]) : uniform8(w[q]));
  }
}
#endif

/* Elements [c, c + n) of the stream: counter c's word is word c % 4 of
 * block c / 4. */
static void fill_range(int dtype, int kind, void *dst, int64_t n, uint64_t seed, uint64_t stream,
                                 uint64_t c) {
  uint32_t w[CHUNK];
  float f[CHUNK];
  int64_t done = 0;
  while (done < n) {
#ifdef PX_HAVE_AVX2
    if (dtype == NT_FLOAT32 && px_avx2 && ((c + (uint64_t)done) & 31) == 0 && n - done >= 32) {
      int64_t m = (n - done) & ~(int64_t)31;
      fill_avx2(kind, (float *)dst + done, m, seed, stream, c + (uint64_t)done);
      done += m;
      continue;
    }
#endif
    uint64_t cc = c + (uint64_t)done, base = cc & ~(uint64_t)(CHUNK - 1);
    int skip = (int)(cc - base);
    int64_t take = CHUNK - skip;
    if (take > n - done) take = n - done;
    philox_chunk(base >> 2, seed, stream, w);
    if (dtype == NT_FLOAT64 && kind == 1) {
      double *d = (double *)dst + done;
      for (int64_t l = 0; l < take; l++) d[l] = (double)w[skip + l] * (1.0 / 4294967296.0);
    } else {
      transform(kind, w, f);
      if (dtype == NT_FLOAT64) {
        double *d = (double *)dst + done;
        for (int64_t l = 0; l < take; l++) d[l] = f[skip + l];
      } else if (skip == 0 && take == CHUNK) {
        memcpy((float *)dst + done, f, sizeof f);
      } else {
        memcpy((float *)dst + done, f + skip, (size_t)take * sizeof(float));
      }
    }
    done += take;
  }
}

typedef struct {
  int dtype, kind;
  char *dst;
  uint64_t seed, stream, c;
} fill_job;

static void fill_part(void *ctx, int64_t b, int64_t e) {
  fill_job *j = ctx;
  int64_t es = j->dtype == NT_FLOAT64 ? 8 : 4;
  fill_range(j->dtype, j->kind, j->dst + b * es, e - b, j->seed, j->stream, j->c + (uint64_t)b);
}

#define PAR_GRAIN 65536

void nyto_random_fill(int dtype, int kind, void *dst, int64_t n, uint64_t seed, uint64_t stream, uint64_t counter) {
  table_init();
  if (n <= 0) return;
  fill_job j = {dtype, kind, dst, seed, stream, counter};
  if (n < 2 * PAR_GRAIN || nt_parallel_for(n, PAR_GRAIN, fill_part, &j) != 0) fill_part(&j, 0, n);
}

void nyto_random_segs(int dtype, int kind, void *dst, uint64_t seed, uint64_t stream, uint64_t counter,
                      const nyto_seg *segs, int nseg) {
  int64_t es = dtype == NT_FLOAT64 ? 8 : 4;
  for (int k = 0; k < nseg; k++)
    nyto_random_fill(dtype, kind, (char *)dst + segs[k].off * es, segs[k].len, seed, stream,
                     counter + (uint64_t)segs[k].off);
}
