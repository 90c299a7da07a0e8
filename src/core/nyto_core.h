/* nyto_core.h -- the C11 core: flat particle storage, the particle-operation
 * loops, the buffer pool and memory statistics.  No Lua here: a host can test
 * and drive it without a lua_State. */
#ifndef NYTO_CORE_H
#define NYTO_CORE_H

#include <stddef.h>
#include <stdint.h>

#include "nt.h"

/* ---- memory statistics: each storage is counted once ---- */
typedef struct nyto_stats {
  int64_t buffers;          /* live flat particle buffers (products' too) */
  int64_t tensors;          /* live tensor handles owned by the binding */
  int64_t tensor_bytes;     /* bytes of the distinct storages those handles reach */
  int64_t peak_tensor_bytes;
  int64_t pool_buffers;     /* released buffers kept for reuse */
  int64_t pool_bytes;
  int64_t pool_hits;
  int64_t pool_misses;
  int64_t passes;           /* C passes of the particle loops over a buffer (a fused pair is one) */
} nyto_stats;

void nyto_stats_get(nyto_stats *s);
void nyto_stats_reset_peak(void);
/* Count one pass of the particle loops (the binding calls it once per pass it runs). */
void nyto_stats_pass(void);
/* Account a handle: returns the number of bytes newly reached (0 for a view of
 * a storage already counted). */
int64_t nyto_track(const nt_tensor *t);
void nyto_untrack(const nt_tensor *t);

/* ---- flat storage ----
 * A particle's parameters of one dtype live in one contiguous buffer; a
 * segment list names the operational ranges [off, off+len) in elements. */
typedef struct nyto_seg {
  int64_t off, len;
} nyto_seg;

/* Take a buffer of n elements of dtype from the pool or libtorch. */
int nyto_buffer_acquire(int dtype, int64_t n, nt_tensor **out);
/* Give a buffer back: pooled when nothing else shares its storage. */
void nyto_buffer_release(nt_tensor *buf);
void nyto_pool_set_limit(int64_t max_buffers, int64_t max_bytes);
void nyto_pool_clear(void);

/* The particle-operation kernels: one pass over the operational segments.
 * dst may equal a or b (in place).  Elements outside the segments are copied
 * from a when copy_rest is set (dst != a). */
enum nyto_binop { NYTO_ADD, NYTO_SUB, NYTO_MUL, NYTO_DIV, NYTO_POW, NYTO_RSUB, NYTO_RDIV, NYTO_RPOW };
/* dst = op(a, s) with a number s (NYTO_R* : op(s, a)) */
void nyto_pass_scalar(int dtype, void *dst, const void *a, double s, int op, const nyto_seg *segs, int nseg);
/* dst = a * x + y  (one fused pass: the affine step of a chain) */
void nyto_pass_affine(int dtype, void *dst, const void *a, double mul, double add, const nyto_seg *segs, int nseg);
/* dst = op(a, b) elementwise */
void nyto_pass_binary(int dtype, void *dst, const void *a, const void *b, int op, const nyto_seg *segs, int nseg);
/* dst = op2(op1(a, s1), s2): two scalar ops in one pass */
void nyto_pass_scalar2(int dtype, void *dst, const void *a, double s1, int op1, double s2, int op2,
                         const nyto_seg *segs, int nseg);
/* dst = op(f(a), g(b)), f = opa with va (none when opa < 0), g likewise: one
 * pass.  dst may be a when opa < 0; it is never b. */
void nyto_pass_binary_pre(int dtype, void *dst, const void *a, int opa, double va, const void *b, int opb,
                            double vb, int op, const nyto_seg *segs, int nseg);
/* copy len elements at off */
void nyto_pass_copy(int dtype, void *dst, const void *src, int64_t off, int64_t len);

/* ---- counter-based randomness (philox.c) ----
 * Element j of a fill is the word of counter + j: xoshiro128++ lanes keyed
 * by Philox4x32-10 (key = seed, low word first; Philox counter = (block,
 * stream)): counter c is lane c % 16 of chunk c / 1024 after (c % 1024) / 16
 * steps, the chunk's lanes seeded by Philox blocks 16 (c / 1024) .. + 15.  A
 * function of (seed, stream, counter + j) alone, for any chunking and thread
 * count.  kind 0: N(0, 1), kind 1: U[0, 1). */
void nyto_philox4x32_10(const uint32_t ctr[4], const uint32_t key[2], uint32_t out[4]);
void nyto_random_init(void);
void nyto_random_fill(int dtype, int kind, void *dst, int64_t n, uint64_t seed, uint64_t stream, uint64_t counter);
/* the segments of a flat buffer: element i has counter (counter + i) */
void nyto_random_segs(int dtype, int kind, void *dst, uint64_t seed, uint64_t stream, uint64_t counter,
                      const nyto_seg *segs, int nseg);
/* s[i] = ((a s[i]) + (b x[i])) + sigma z_i for i in [0, n), z_i the normal
 * nyto_random_fill gives at counter + i (x NULL: a s[i] + sigma z_i): one
 * pass, the noise made in L1 chunks inside it, its chunks shared by libtorch's
 * pool's threads. */
void nyto_random_axpby(int dtype, void *s, double a, const void *x, double b, double sigma, int64_t n, uint64_t seed,
                       uint64_t stream, uint64_t counter);
/* nyto_random_axpby on rows of an arena in one call: row r (P elements at
 * s + r P) on each segment, x's row at x + r xstride (xstride 0: x is one row
 * broadcast to every row; x NULL: no x), element r P + i at counter
 * counter + r P + i.  One parallel region for the whole arena. */
void nyto_random_axpby_rows(int dtype, void *s, int64_t P, int64_t rows, double a, const void *x, int64_t xstride,
                            double b, double sigma, const nyto_seg *segs, int nseg, uint64_t seed, uint64_t stream,
                            uint64_t counter);
/* ---- the distribution strategies' passes (es.c) ----
 * float64 arithmetic, one rounding per operation, then one to the output's
 * dtype; split over libtorch's pool with the same bits on any thread count.
 * nyto_es_sample: z_k (k < rows) the float32 normals nyto_random_fill gives at
 * counter + k P; row k of X (xdtype, rows x P) becomes c + s z_k, or with pairs
 * rows 2k, 2k+1 become c + s z_k and c - s z_k (c, s: P elements of sdtype);
 * z (xdtype, rows x P, or NULL) receives z_k; with norms (float64),
 * norms[k] = sum_j r_j z_kj^2 (r: P float64, or NULL for ones). */
void nyto_es_sample(int xdtype, void *X, int sdtype, const void *c, const void *s, void *z, int64_t rows, int64_t P,
                    int pairs, const double *r, double *norms, uint64_t seed, uint64_t stream, uint64_t counter);
/* nyto_es_sample's row block on AVX-512 (philox.c): for columns j < m,
 * z_j = the float32 normal at counter + j, o1[j] = c + s z_j, o2[j] = c - s z_j
 * (o2 NULL: none), zo[j] = z_j (NULL: none), in float32 (sdtype float32) or
 * in float64 rounded once (float64 c, s); part (NULL: none) gets per
 * 1024-column block sum_j z_j^2 in es.c's eight lanes.  Returns 1 when done,
 * 0 (nothing done) when the AVX-512 path is off (the CPU, or
 * nyto_random_isa(-1) < 2: callers ask that first) or o1, o2, zo are not
 * 4-byte aligned, which a float arena is. */
/* nyto_evo_ga's row segment on AVX-512 (philox.c), float32: o[j] = a[j] +
 * (b[j] - a[j]) u_j (use_u; else a[j]), then + s z_j (use_z), u_j the uniform
 * at counter cu + j, z_j the normal at cz + j; the return as
 * nyto_random_sample_f32 (0 also when neither use_u nor use_z) */
/* nyto_evo_pso's and nyto_evo_de's row segments on AVX-512 (philox.c),
 * float32, the draws in registers at counters ca + j, cb + j (PSO's r1, r2)
 * and cu + j (DE's u); jc the segment's column of jrand (outside [0, m): none) */
int nyto_random_pso_f32(float *x, float *v, const float *p, const float *g, int64_t m, float w, float c1, float c2,
                        uint64_t seed, uint64_t stream, uint64_t ca, uint64_t cb);
int nyto_random_de_f32(float *o, const float *x, const float *a, const float *b, const float *c, int64_t m, int64_t jc,
                       float F, float CR, uint64_t seed, uint64_t stream, uint64_t cu);
int nyto_random_ga_f32(float *o, const float *a, const float *b, int64_t m, int use_u, int use_z, float s,
                       uint64_t seed, uint64_t stream, uint64_t cu, uint64_t cz);
int nyto_random_sample_f32(int sdtype, const void *c, const void *s, float *o1, float *o2, float *zo, int64_t m,
                           uint64_t seed, uint64_t stream, uint64_t counter, double *part);
/* o1 = sum_k w1_k Z_k, o2 = sum_k w2_k Z_k^2 - sub2 over the rows Z_k of Z
 * (zdtype, rows x P; w2 NULL: no o2); o1, o2 P elements of odtype */
void nyto_es_moments(int zdtype, const void *Z, int64_t rows, int64_t P, const double *w1, const double *w2,
                     double sub2, int odtype, void *o1, void *o2);
/* mean = the mean of the rows idx[0..m) (0-based) of X (xdtype, P columns),
 * std = sqrt(mean (x - mean)^2); P elements of odtype each */
void nyto_es_elite(int xdtype, const void *X, int64_t P, const int64_t *idx, int64_t m, int odtype, void *mean,
                   void *std);
/* the bandwidth floor's passes, one thread (bench/strategy.sh): a read of the
 * n elements of x (their sum returned, so the read happens) and a write of v
 * into them (float32: whole lines streamed) */
double nyto_mem_read(int dtype, const void *x, int64_t n);
void nyto_mem_write(int dtype, void *x, int64_t n, double v);
/* sep-CMA-ES's tell over its float64 D-vectors (P elements each), two passes:
 * mean: y = zw D into zw, mean += am y, ps = ks ps + as (y / D), *norm2 =
 * ||ps||^2 (fixed order); -1 when out of memory, nothing changed then.
 * cov: pc = kc pc + ac y, C = max(keep C + c1 pc^2 + cmu (rk D) D, tiny),
 * D = sqrt(C). */
int nyto_es_sepcma_mean(int64_t P, double *zw, const double *Dv, double *mean, double *ps, double am, double ks,
                        double as, double *norm2);
void nyto_es_sepcma_cov(int64_t P, const double *y, const double *rk, double *Dv, double *pc, double *C, double kc,
                        double ac, double keep, double c1, double cmu, double tiny);
/* ---- the fused generations of PSO, GA and DE (evo.c) ----
 * [n, D] contiguous arenas of dtype; segs (within a row of D) are the elements
 * updated.  The draws of a stream based at counter c: element (r, j) is the
 * one nyto_random_fill gives at c + r D + j (U[0, 1) for u, r1, r2; N(0, 1)
 * for z).  One pass each, the draws made in L1 chunks inside it, split on
 * libtorch's pool with the same bits for any thread count.
 * PSO, in place on x and v (p the personal bests, g a D-vector):
 *   v = ((w v) + ((p - x) r1) c1) + ((g - x) r2) c2;  x = x + v. */
void nyto_evo_pso(int dtype, void *x, void *v, const void *p, const void *g, int64_t n, int64_t D, double w,
                  double c1, double c2, const nyto_seg *segs, int nseg, uint64_t seed, uint64_t stream,
                  uint64_t ctr1, uint64_t ctr2);
/* GA: row r of out from rows a = X[ia[r]], b = X[ib[r]] (0-based):
 *   o = cross[r] ? a + (b - a) u : a;  o = mut[r] != 0 ? o + (mut[r] z) : o;
 * the gaps copied from a.  out must not overlap X. */
void nyto_evo_ga(int dtype, void *out, const void *X, int64_t n, int64_t D, const int64_t *ia, const int64_t *ib,
                 const unsigned char *cross, const double *mut, const nyto_seg *segs, int nseg, uint64_t seed,
                 uint64_t stream, uint64_t ctr_u, uint64_t ctr_z);
/* DE/rand/1/bin: row r of out from the rows of X (0-based):
 *   t = X[r1] + (X[r2] - X[r3]) F;  o_j = (u_j <= CR or j == jr[r]) ? t_j : X[r]_j,
 * CR and F in the dtype; the gaps copied from X[r].  out must not overlap X. */
void nyto_evo_de(int dtype, void *out, const void *X, int64_t n, int64_t D, const int64_t *r1, const int64_t *r2,
                 const int64_t *r3, const int64_t *jr, double F, double CR, const nyto_seg *segs, int nseg,
                 uint64_t seed, uint64_t stream, uint64_t ctr_u);
/* tests: cap the vector paths (0 scalar, 1 AVX2, 2 AVX-512; < 0 only
 * queries); returns the level in force before.  A path the CPU lacks stays off. */
int nyto_random_isa(int level);
/* The batched forward's small linear layers: every member's y_i = x_i W_i^T + b_i
 * (src/core/blinear.c); -1 when out of memory (nothing else can fail). */
int nyto_batched_linear(const nt_blinear *p);
/* tests: cap its vector paths (0 baseline, 1 AVX2, 2 AVX-512; < 0 only
 * queries); returns the level in force before. */
int nyto_blinear_isa(int level);
/* The batched forward's Conv2d + ReLU + MaxPool2d(2) (src/core/bconv.c): a
 * direct convolution, every member's output channels in the vector lanes, the
 * 2x2 pool and the ReLU applied in registers; -1 when out of memory. */
int nyto_conv_relu_pool(const nt_bconv *p);
/* tests: cap its vector paths (0 baseline, 1 AVX2, 2 AVX-512; < 0 only
 * queries); returns the cap in force before. */
int nyto_bconv_isa(int level);
/* the path nyto_conv_relu_pool takes now: the cap and the CPU (0, 1, 2). */
int nyto_bconv_path(void);
/* y[p][i][j] = max(0, the max of x[p][2i..2i+1][2j..2j+1]) over `planes`
 * planes of h x w (float32, contiguous) into planes of (h/2) x (w/2). */
void nyto_relu_pool2(const float *x, float *y, int64_t planes, int64_t h, int64_t w);
/* BLAS threads (OpenBLAS's own pool, found at run time; 0 when absent) */
int nyto_blas_set_threads(int n);
int nyto_blas_get_threads(void);

/* ---- CRC-32 (src/core/crc32.c) ---- */
/* zlib's crc32(crc, data, n) (start from 0), by PCLMULQDQ where the CPU has it */
uint32_t nyto_crc32(uint32_t crc, const void *data, size_t n);

/* ---- gzip ---- */
/* Read a whole file, gunzipping when it is gzip.  Returns a malloc'd buffer
 * (caller frees) and its length, or NULL with a message in err. */
unsigned char *nyto_read_file(const char *path, size_t *len, char *err, size_t errlen);
/* lower the read cap (bytes, at most 2 GiB); returns the previous one */
size_t nyto_read_set_limit(size_t max_bytes);
/* Gunzip in[0, inlen): gzip members back to back (as gzip -d reads them);
 * any other byte after a member is an error, as is more than limit bytes
 * of output.  A malloc'd buffer, or NULL with err (which names `name`). */
unsigned char *nyto_gunzip(const unsigned char *in, size_t inlen, size_t limit, size_t *outlen, const char *name,
                           char *err, size_t errlen);

#endif
