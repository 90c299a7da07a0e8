/* test_core.c -- C tests of src/core, no Lua: the particle-operation loops
 * against a plain reference loop, segment gaps, the pool and the accounting.
 * Prints TAP-like lines and "N passed, N failed". */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "nyto_core.h"

static int passed, failed;
#define CHECK(cond, name)                                   \
  do {                                                      \
    if (cond) {                                             \
      passed++;                                             \
      printf("ok %d - %s\n", passed + failed, name);        \
    } else {                                                \
      failed++;                                             \
      printf("not ok %d - %s\n", passed + failed, name);    \
    }                                                       \
  } while (0)

/* the generator's word of counter c, written from its definition (docs/design.md,
 * "The words"): lane c % 16 of chunk c / 1024 starts from Philox4x32-10 words
 * 64 (c / 1024) + 16 k + lane (k = 0..3, word m is word m % 4 of block m / 4)
 * and the word is its output after (c % 1024) / 16 steps of xoshiro128++
 * (Blackman and Vigna's reference next()) */
static uint32_t t_rotl(uint32_t x, int k) { return (x << k) | (x >> (32 - k)); }
static uint32_t ref_word(uint64_t seed, uint64_t stream, uint64_t c) {
  uint64_t K = c / 1024;
  int j = (int)(c % 1024), q = j / 16, l = j % 16;
  uint32_t s[4], key[2] = {(uint32_t)seed, (uint32_t)(seed >> 32)};
  for (int k = 0; k < 4; k++) {
    uint64_t m = 64 * K + 16 * (uint64_t)k + (uint64_t)l, blk = m / 4;
    uint32_t ctr[4] = {(uint32_t)blk, (uint32_t)(blk >> 32), (uint32_t)stream, (uint32_t)(stream >> 32)}, out[4];
    nyto_philox4x32_10(ctr, key, out);
    s[k] = out[m % 4];
  }
  if (!(s[0] | s[1] | s[2] | s[3])) s[0] = 1;
  uint32_t r = 0;
  for (int i = 0; i <= q; i++) {
    r = t_rotl(s[0] + s[3], 7) + s[0];
    uint32_t t = s[1] << 9;
    s[2] ^= s[0], s[3] ^= s[1], s[1] ^= s[2], s[0] ^= s[3], s[2] ^= t, s[3] = t_rotl(s[3], 11);
  }
  return r;
}

int main(void) {
  enum { N = 1000 };
  float a[N], b[N], d[N], ref[N];
  for (int i = 0; i < N; i++) {
    a[i] = (float)(i % 17) * 0.25f - 1.0f;
    b[i] = (float)(i % 13) * 0.5f + 0.5f;
  }
  nyto_seg segs[2] = {{10, 100}, {500, 400}};
  /* scalar ops over segments; outside the segments dst is untouched */
  int ops[] = {NYTO_ADD, NYTO_SUB, NYTO_MUL, NYTO_DIV, NYTO_RSUB, NYTO_RDIV};
  for (size_t k = 0; k < sizeof ops / sizeof ops[0]; k++) {
    for (int i = 0; i < N; i++) d[i] = ref[i] = -7.0f;
    nyto_pass_scalar(NT_FLOAT32, d, a, 3.0, ops[k], segs, 2);
    for (int s = 0; s < 2; s++)
      for (int64_t i = segs[s].off; i < segs[s].off + segs[s].len; i++) {
        float x = a[i];
        switch (ops[k]) {
          case NYTO_ADD: ref[i] = x + 3; break;
          case NYTO_SUB: ref[i] = x - 3; break;
          case NYTO_MUL: ref[i] = x * 3; break;
          case NYTO_DIV: ref[i] = x / 3; break;
          case NYTO_RSUB: ref[i] = 3 - x; break;
          case NYTO_RDIV: ref[i] = 3 / x; break;
        }
      }
    CHECK(memcmp(d, ref, sizeof d) == 0, "scalar kernel matches the reference loop");
  }
  /* in place */
  memcpy(d, a, sizeof d);
  nyto_pass_scalar(NT_FLOAT32, d, d, 2.0, NYTO_MUL, segs, 2);
  int okip = 1;
  for (int i = 0; i < N; i++) {
    int in = (i >= 10 && i < 110) || (i >= 500 && i < 900);
    if (d[i] != (in ? a[i] * 2 : a[i])) okip = 0;
  }
  CHECK(okip, "in-place scalar kernel touches only the segments");
  /* binary */
  nyto_pass_binary(NT_FLOAT32, d, a, b, NYTO_SUB, segs, 2);
  int okb = 1;
  for (int64_t i = 10; i < 110; i++) okb &= d[i] == a[i] - b[i];
  CHECK(okb, "binary kernel a - b");
  /* affine, double */
  double x[4] = {1, 2, 3, 4}, y[4];
  nyto_seg all = {0, 4};
  nyto_pass_affine(NT_FLOAT64, y, x, 0.5, 10, &all, 1);
  CHECK(y[0] == 10.5 && y[3] == 12.0, "affine kernel 0.5*x + 10");
  /* pool: a released buffer serves the next request of the same size */
  nt_tensor *t1, *t2;
  nyto_stats s0, s1;
  nyto_stats_get(&s0);
  CHECK(nyto_buffer_acquire(NT_FLOAT32, 4096, &t1) == 0, "acquire a buffer");
  void *p1 = nt_data(t1);
  nyto_buffer_release(t1);
  CHECK(nyto_buffer_acquire(NT_FLOAT32, 4096, &t2) == 0, "acquire again");
  nyto_stats_get(&s1);
  CHECK(nt_data(t2) == p1 && s1.pool_hits == s0.pool_hits + 1, "the pool reuses a released buffer");
  /* accounting: a view of a counted storage costs nothing */
  int64_t added = nyto_track(t2);
  nt_tensor *v;
  int64_t sz[1] = {16};
  nt_view_of(t2, 8, sz, 1, 0, &v);
  int64_t added2 = nyto_track(v);
  CHECK(added == 4096 * 4 && added2 == 0, "tensor_bytes counts each storage once");
  nyto_untrack(v);
  nyto_untrack(t2);
  nyto_stats_get(&s1);
  CHECK(s1.tensor_bytes == s0.tensor_bytes, "untracking returns the bytes");
  /* a buffer whose storage is still shared by a view is not reused */
  nyto_buffer_release(t2);
  nt_tensor *t3;
  nyto_buffer_acquire(NT_FLOAT32, 4096, &t3);
  CHECK(nt_data(t3) != p1, "a buffer still viewed by a tensor is not handed out again");
  nt_free(v);
  nyto_buffer_release(t3);
  nyto_pool_clear();
  /* gzip reading: a missing file is an error with the path */
  char err[256];
  size_t len;
  CHECK(nyto_read_file("/nonexistent/x.gz", &len, err, sizeof err) == NULL && strstr(err, "/nonexistent/x.gz"),
        "a missing file names its path");

  /* CRC-32 (the PCLMULQDQ folding) against zlib's crc32, every length to 600 and longer ones, any start */
  {
    unsigned char *b = malloc(70000);
    uint32_t x = 12345;
    for (int i = 0; i < 70000; i++) b[i] = (unsigned char)((x = x * 1103515245u + 12345u) >> 16);
    int ok = 1;
    for (size_t n = 0; n < 600; n++) ok &= nyto_crc32(0, b + n % 7, n) == (uint32_t)crc32(0, b + n % 7, (uInt)n);
    for (size_t n = 600; n < 69000; n += 997) ok &= nyto_crc32(0x1234u, b + n % 13, n) == (uint32_t)crc32(0x1234u, b + n % 13, (uInt)n);
    free(b);
    CHECK(ok, "nyto_crc32 equals zlib's crc32 (lengths 0-599 and to 69,000, unaligned starts, a running crc)");
  }

  /* Philox4x32-10 against the known-answer vectors of Random123 */
  {
    static const uint32_t kat[3][10] = {
        {0, 0, 0, 0, 0, 0, 0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8},
        {0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff, 0x408f276d, 0x41c83b0e,
         0xa20bc7c6, 0x6d5451fd},
        {0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344, 0xa4093822, 0x299f31d0, 0xd16cfe09, 0x94fdcceb,
         0x5001e420, 0x24126ea1}};
    int ok = 1;
    for (int v = 0; v < 3; v++) {
      uint32_t out[4];
      nyto_philox4x32_10(kat[v], kat[v] + 4, out);
      for (int i = 0; i < 4; i++) ok &= out[i] == kat[v][6 + i];
    }
    CHECK(ok, "philox4x32-10 matches the Random123 known answers");
    /* the fill's word of counter c is ref_word's (Philox-keyed xoshiro128++), any start, any length */
    float u[300], w[300];
    nyto_random_fill(NT_FLOAT32, 1, u, 300, 7, 3, 5);
    int okf = 1;
    for (int i = 0; i < 300; i++) okf &= u[i] == (float)(ref_word(7, 3, 5 + (uint64_t)i) >> 8) * (1.0f / 16777216.0f);
    CHECK(okf, "uniform fill: element i is the top 24 bits of ref_word(c + i)");
    nyto_random_fill(NT_FLOAT32, 0, u, 300, 11, 0, 0);
    nyto_random_fill(NT_FLOAT32, 0, w, 123, 11, 0, 0);
    nyto_random_fill(NT_FLOAT32, 0, w + 123, 177, 11, 0, 123);
    CHECK(memcmp(u, w, sizeof u) == 0, "normal fill: two chunks equal one fill");
    for (int i = 0; i < 300; i++) nyto_random_fill(NT_FLOAT32, 0, w + i, 1, 11, 0, (uint64_t)i); /* scalar path */
    CHECK(memcmp(u, w, sizeof u) == 0, "normal fill: the vector path equals the scalar path bit for bit");
  }
  /* the vector paths precompute the Philox counter's constant part (the
   * block number's high word and the stream) once per fill: chunks on both
   * sides of a high-word change (counter 2^38), a chunk boundary inside the
   * run, a high word other than 0, and seeds and streams with every bit used,
   * each path against ref_word */
  {
    enum { M = 1000 };
    static float u[M];
    static const uint64_t starts[4] = {((uint64_t)1 << 38) - 500, 1024 * 77 - 300,
                                       ((uint64_t)5 << 36) + 128, 4 * (((uint64_t)3 << 32) - 37) + 1};
    static const uint64_t seeds[2] = {7, 0x9e3779b97f4a7c15u}, streams[2] = {3, 0xdeadbeefcafef00du};
    int top = nyto_random_isa(-1), ok = 1;
    for (int lv = 0; lv <= top; lv++) {
      nyto_random_isa(lv);
      for (int si = 0; si < 4; si++)
        for (int k = 0; k < 2; k++) {
          uint64_t c0 = starts[si], seed = seeds[k], stream = streams[k];
          nyto_random_fill(NT_FLOAT32, 1, u, M, seed, stream, c0);
          for (int i = 0; i < M; i++)
            ok &= u[i] == (float)(ref_word(seed, stream, c0 + (uint64_t)i) >> 8) * (1.0f / 16777216.0f);
        }
    }
    nyto_random_isa(top);
    CHECK(ok, "uniform fill across a Philox high-word change, chunk boundaries and high counters equals ref_word on every path");
  }
  /* the AVX-512, AVX2 and scalar paths give the same bits, at any start */
  {
    enum { M = 5000 };
    static float f0[M], f1[M];
    static double g0[M], g1[M];
    int top = nyto_random_isa(-1), same = 1;
    for (int kind = 0; kind < 2; kind++) {
      nyto_random_isa(0);
      nyto_random_fill(NT_FLOAT32, kind, f0, M, 9, 2, 13);
      nyto_random_fill(NT_FLOAT64, kind, g0, M, 9, 2, 13);
      for (int lv = 1; lv <= top; lv++) {
        nyto_random_isa(lv);
        nyto_random_fill(NT_FLOAT32, kind, f1, M, 9, 2, 13);
        nyto_random_fill(NT_FLOAT64, kind, g1, M, 9, 2, 13);
        same &= memcmp(f0, f1, sizeof f0) == 0 && memcmp(g0, g1, sizeof g0) == 0;
      }
    }
    nyto_random_isa(top);
    printf("# vector level %d (2 AVX-512, 1 AVX2, 0 scalar)\n", top);
    CHECK(same, "fills: every vector path equals the scalar path bit for bit (float32, float64, normal, uniform)");

    /* the normal transform against the exact quantile: |x| = Q(w / 2^31),
     * w = (r & 0x7fffffff) | 1, sign = bit 31; Q by bisection on erfc */
    nyto_random_fill(NT_FLOAT32, 0, f0, M, 3, 0, 0);
    double worst = 0;
    int signs = 1;
    for (int i = 0; i < M; i++) {
      uint32_t r = ref_word(3, 0, (uint64_t)i);
      double u = (double)((r & 0x7fffffffu) | 1u) / 2147483648.0, lo = 0, hi = 10;
      for (int k = 0; k < 100; k++) {
        double mid = 0.5 * (lo + hi);
        if (erfc(mid / sqrt(2.0)) > u) lo = mid;
        else hi = mid;
      }
      double e = fabs(fabs((double)f0[i]) - 0.5 * (lo + hi));
      if (e > worst) worst = e;
      signs &= (signbit(f0[i]) != 0) == ((r >> 31) != 0);
    }
    printf("# largest |x| error against the exact quantile: %.3g\n", worst);
    CHECK(worst < 1e-5 && signs, "normal transform: |x| within 1e-5 of sqrt(2) erfcinv(w / 2^31), the sign is bit 31");
  }

  /* a fill of >= 64 MB writes with streaming stores: the same values as fills
   * below that size (two halves), normal and uniform */
  {
    const int64_t M = (int64_t)17 << 20; /* 68 MB of float32 */
    float *a = malloc((size_t)M * 4), *b = malloc((size_t)M * 4);
    int ok = a && b;
    for (int kind = 0; ok && kind < 2; kind++) {
      nyto_random_fill(NT_FLOAT32, kind, a, M, 21, 4, 7);
      nyto_random_fill(NT_FLOAT32, kind, b, M / 2, 21, 4, 7);
      nyto_random_fill(NT_FLOAT32, kind, b + M / 2, M - M / 2, 21, 4, 7 + (uint64_t)(M / 2));
      ok &= memcmp(a, b, (size_t)M * 4) == 0;
    }
    free(a), free(b);
    CHECK(ok, "a 68 MB fill (streaming stores) equals two fills of half the size");
  }
  /* the fused pass: ((a s) + (b x)) + (sigma z), z the fill's normals */
  {
    enum { M = 5000 };
    static float s0[M], x[M], z[M], want[M], s1[M], s2[M];
    static double d0[M], dx[M], dz[M], dwant[M], d1[M];
    for (int i = 0; i < M; i++) {
      s0[i] = (float)(i % 101) * 0.03f - 1.5f, x[i] = (float)(i % 7) * 0.7f;
      d0[i] = s0[i] * 1.1, dx[i] = x[i] * 0.9;
    }
    int top = nyto_random_isa(-1), ok = 1, okn = 1, okc = 1, okd = 1;
    /* a misaligned and an aligned start, and a run across a Philox high-word change */
    static const uint64_t c0s[3] = {13, 64, ((uint64_t)1 << 38) - 600};
    for (int ci = 0; ci < 3; ci++) {
      uint64_t c0 = c0s[ci];
      nyto_random_fill(NT_FLOAT32, 0, z, M, 5, 1, c0);
      nyto_random_fill(NT_FLOAT64, 0, dz, M, 5, 1, c0);
      for (int i = 0; i < M; i++) {
        volatile float p = 0.5f * s0[i], q = 0.25f * x[i], t = p + q, r = 0.1f * z[i];
        want[i] = t + r;
        volatile double dp = 0.5 * d0[i], dq = 0.25 * dx[i], dt = dp + dq, dr = 0.1 * dz[i];
        dwant[i] = dt + dr;
      }
      for (int lv = 0; lv <= top; lv++) {
        nyto_random_isa(lv);
        memcpy(s1, s0, sizeof s0);
        nyto_random_axpby(NT_FLOAT32, s1, 0.5, x, 0.25, 0.1, M, 5, 1, c0);
        ok &= memcmp(s1, want, sizeof want) == 0;
        memcpy(s2, s0, sizeof s0); /* two parts of one pass */
        nyto_random_axpby(NT_FLOAT32, s2, 0.5, x, 0.25, 0.1, 1999, 5, 1, c0);
        nyto_random_axpby(NT_FLOAT32, s2 + 1999, 0.5, x + 1999, 0.25, 0.1, M - 1999, 5, 1, c0 + 1999);
        okc &= memcmp(s2, want, sizeof want) == 0;
        memcpy(s2, s0, sizeof s0); /* no x */
        nyto_random_axpby(NT_FLOAT32, s2, 0.5, NULL, 0, 0.1, M, 5, 1, c0);
        for (int i = 0; i < M; i++) {
          volatile float p = 0.5f * s0[i], r = 0.1f * z[i];
          okn &= s2[i] == p + r;
        }
        memcpy(d1, d0, sizeof d0);
        nyto_random_axpby(NT_FLOAT64, d1, 0.5, dx, 0.25, 0.1, M, 5, 1, c0);
        okd &= memcmp(d1, dwant, sizeof dwant) == 0;
      }
    }
    nyto_random_isa(top);
    CHECK(ok, "fused pass: s = (0.5 s + 0.25 x) + 0.1 z bit for bit with z the fill's normals, every vector path");
    CHECK(okc, "fused pass: two parts with their own counters equal one pass");
    CHECK(okn, "fused pass without x: s = 0.5 s + 0.1 z");
    CHECK(okd, "fused pass, float64: s = (0.5 s + 0.25 x) + 0.1 z");
  }
  {
    /* the batched forward's small linear (blinear.c) against a double loop:
     * partial row and output blocks, shared and per-member x, no bias, float64,
     * the output-lane kernel (FO 19, 9) and the row-lane one for narrow layers
     * (FO 1..8: float32 up to 8 outputs, float64 up to 4), rows 7 and 37 (a
     * partial row block, one over two full ones), every vector path */
    enum { NM = 3, RMAX = 37, FI = 5, FOMAX = 19 };
    static float x[NM * RMAX * FI], w[NM * FOMAX * FI], b[NM * FOMAX], y[NM * RMAX * FOMAX];
    static double xd[NM * RMAX * FI], wd[NM * FOMAX * FI], bd[NM * FOMAX], yd[NM * RMAX * FOMAX];
    for (int i = 0; i < NM * RMAX * FI; i++) xd[i] = x[i] = (float)((i * 7919) % 23) / 11.0f - 1.0f;
    for (int i = 0; i < NM * FOMAX * FI; i++) wd[i] = w[i] = (float)((i * 104729) % 31) / 15.0f - 1.0f;
    for (int i = 0; i < NM * FOMAX; i++) bd[i] = b[i] = (float)(i % 5) - 2.0f;
    const int fos[] = {19, 9, 1, 2, 3, 4, 5, 7, 8}, rs[] = {7, 37};
    int okl = 1, okd = 1, okx = 1, top = nyto_blinear_isa(-1);
    for (int isa = top; isa >= 0; isa--) {
      nyto_blinear_isa(isa);
      for (int fi_ = 0; fi_ < (int)(sizeof fos / sizeof *fos); fi_++)
        for (int ri = 0; ri < 2; ri++)
          for (int shared = 0; shared < 2; shared++)
            for (int hasb = 0; hasb < 2; hasb++) {
              const int FO = fos[fi_], R = rs[ri];
              for (int i = 0; i < NM * R * FO; i++) y[i] = NAN, yd[i] = NAN;
              nt_blinear p = {NT_FLOAT32, NM, R, FI, FO, x, w, hasb ? b : NULL, y, shared ? 0 : R * FI, FO * FI, FO, R * FO};
              okl &= nyto_batched_linear(&p) == 0;
              nt_blinear q = p;
              q.dtype = NT_FLOAT64, q.x = xd, q.w = wd, q.b = hasb ? bd : NULL, q.y = yd;
              okd &= nyto_batched_linear(&q) == 0;
              for (int i = 0; i < NM; i++)
                for (int m = 0; m < R; m++)
                  for (int o = 0; o < FO; o++) {
                    double ref = hasb ? bd[i * FO + o] : 0;
                    for (int k = 0; k < FI; k++) ref += xd[(shared ? 0 : i * R * FI) + m * FI + k] * wd[i * FO * FI + o * FI + k];
                    okl &= fabs(y[i * R * FO + m * FO + o] - ref) <= 1e-5 * (1 + fabs(ref));
                    okd &= fabs(yd[i * R * FO + m * FO + o] - ref) <= 1e-12 * (1 + fabs(ref));
                  }
              /* without FMA contraction, the same k order: a plain float loop gives the same bits */
              for (int i = 0; i < NM; i++)
                for (int m = 0; m < R; m++)
                  for (int o = 0; o < FO; o++) {
                    float acc = hasb ? b[i * FO + o] : 0.0f;
                    for (int k = 0; k < FI; k++) {
                      float t = x[(shared ? 0 : i * R * FI) + m * FI + k] * w[i * FO * FI + o * FI + k];
                      acc += t;
                    }
                    okx &= y[i * R * FO + m * FO + o] == acc;
                  }
            }
    }
    nyto_blinear_isa(top);
    CHECK(okl, "batched linear, float32: every member's x W^T + b within 1e-5 of a double loop (narrow and wide layers, partial blocks, shared x, no bias, every vector path)");
    CHECK(okd, "batched linear, float64: within 1e-12 of the loop");
    CHECK(okx, "batched linear, float32: bit for bit a float loop in k order (bias first), every path");
  }
  /* es_sample: the AVX-512 pass (the normals in registers, the lines of X
   * and z streamed from two groups of 16 columns, nyto_random_sample_f32)
   * equals the AVX2 and scalar passes (normals from fills, es.c's loops) bit
   * for bit: rows off the line grid (P odd), several 8-block runs of a row, a
   * last partial group, blocks of one and two groups, starts inside a step and
   * across a generator chunk, pairs, z, the norms, float32 and float64 c, s */
  {
    static const int64_t Ps[5] = {8192 * 2 + 1000 + 3, 5, 20, 1024, 1024 * 2 + 1}; /* the last: a block of one column */
    /* with X one float off its line grid (u = 15), 1024 * 3 + 1 puts row 0's
     * counter on the line grid: the line form without its permute (ROT 0) */
    static const uint64_t c0s[3] = {13, 1024 * 5 - 3, 1024 * 3 + 1};
    int top = nyto_random_isa(-1), same = 1, cases = 0;
    for (int pi = 0; pi < 5; pi++)
      for (int ci = 0; ci < 3; ci++)
        for (int sd = 0; sd < 2; sd++)
          for (int fl = 0; fl < 8; fl++) {
            int64_t P = Ps[pi], n = 6, pairs = fl & 1, rows = pairs ? n / 2 : n;
            int sdt = sd ? NT_FLOAT64 : NT_FLOAT32, keep = fl & 2;
            int64_t es = sd ? 8 : 4;
            char *c = malloc((size_t)(P * es)), *sc = malloc((size_t)(P * es));
            float *X[2] = {calloc((size_t)(n * P + 1), 4), calloc((size_t)(n * P + 1), 4)};
            float *Z[2] = {calloc((size_t)(rows * P + 1), 4), calloc((size_t)(rows * P + 1), 4)};
            double nr[2][6];
            if (!c || !sc || !X[0] || !X[1] || !Z[0] || !Z[1]) return 1;
            nyto_random_fill(sdt, 0, c, P, 1, 1, 0);
            nyto_random_fill(sdt, 1, sc, P, 2, 1, 0);
            for (int v = 0; v < 2; v++) {
              nyto_random_isa(v ? top : 0);
              /* X one float off its allocation's alignment: other line offsets */
              nyto_es_sample(NT_FLOAT32, X[v] + 1, sdt, c, sc, keep ? Z[v] + 1 : NULL, rows, P, (int)pairs, NULL,
                             pairs || (fl & 4) ? NULL : nr[v], 7, 3, c0s[ci]);
            }
            same &= memcmp(X[0], X[1], (size_t)(n * P + 1) * 4) == 0 && memcmp(Z[0], Z[1], (size_t)(rows * P + 1) * 4) == 0;
            if (!pairs && !(fl & 4)) same &= memcmp(nr[0], nr[1], sizeof(double) * (size_t)rows) == 0;
            cases++;
            free(c), free(sc), free(X[0]), free(X[1]), free(Z[0]), free(Z[1]);
          }
    nyto_random_isa(top);
    printf("# es_sample: %d cases at vector level %d against the scalar path\n", cases, top);
    CHECK(same, "es_sample: the AVX-512 pass (normals in registers) equals the scalar pass bit for bit (X, z, norms)");
  }
  /* the AVX-512 tell passes (es.c: es_elite's 16-column steps over the chosen
   * rows, es_moments' eight-row sweeps with the next rows' lines prefetched)
   * equal the other path bit for bit: widths off the 16-column grid, one and
   * several 2048-column blocks, row counts around 8 and 16 (the 4-row and
   * 1-row sweeps after the 8-row ones), with and without the squares */
  {
    static const int64_t Ps[4] = {2048 * 2 + 37, 5, 16, 2048 + 16 * 3 + 7};
    static const int64_t Rs[5] = {3, 8, 13, 16, 21};
    int top = nyto_random_isa(-1), same_e = 1, same_m = 1, cases = 0;
    for (int pi = 0; pi < 4; pi++)
      for (int ri = 0; ri < 5; ri++) {
        int64_t P = Ps[pi], rows = Rs[ri], K = rows > 3 ? rows - 2 : rows;
        float *Z = malloc((size_t)(rows * P) * 4);
        double *o[2][4], w1[21], w2[21];
        int64_t idx[21];
        for (int v = 0; v < 2; v++)
          for (int q = 0; q < 4; q++) o[v][q] = malloc((size_t)P * 8);
        if (!Z || !o[0][0] || !o[0][1] || !o[0][2] || !o[0][3] || !o[1][0] || !o[1][1] || !o[1][2] || !o[1][3]) return 1;
        nyto_random_fill(NT_FLOAT32, 0, Z, rows * P, 9, 2, 0);
        for (int64_t k = 0; k < rows; k++) w1[k] = 0.1 * (double)(k + 1) - 0.7, w2[k] = 1.0 / (double)(k + 2);
        for (int64_t k = 0; k < K; k++) idx[k] = (k * 7) % rows; /* rows in another order, as CEM's ranks */
        for (int v = 0; v < 2; v++) {
          nyto_random_isa(v ? top : 0);
          nyto_es_elite(NT_FLOAT32, Z, P, idx, K, NT_FLOAT64, o[v][0], o[v][1]);
          nyto_es_moments(NT_FLOAT32, Z, rows, P, w1, w2, 0.25, NT_FLOAT64, o[v][2], o[v][3]);
          /* the first sum alone goes through the other form of the 8-row sweep */
          if (ri & 1) nyto_es_moments(NT_FLOAT32, Z, rows, P, w2, NULL, 0, NT_FLOAT64, o[v][3], NULL);
        }
        same_e &= memcmp(o[0][0], o[1][0], (size_t)P * 8) == 0 && memcmp(o[0][1], o[1][1], (size_t)P * 8) == 0;
        same_m &= memcmp(o[0][2], o[1][2], (size_t)P * 8) == 0 && memcmp(o[0][3], o[1][3], (size_t)P * 8) == 0;
        cases++;
        free(Z);
        for (int v = 0; v < 2; v++)
          for (int q = 0; q < 4; q++) free(o[v][q]);
      }
    nyto_random_isa(top);
    printf("# es_elite, es_moments: %d cases at vector level %d against the other path\n", cases, top);
    CHECK(same_e, "es_elite: the AVX-512 pass equals the other path bit for bit (mean, deviation)");
    CHECK(same_m, "es_moments: the AVX-512 eight-row sweeps equal the four-row path bit for bit (both sums)");
  }
  printf("%d passed, %d failed\n", passed, failed);
  return failed != 0;
}
