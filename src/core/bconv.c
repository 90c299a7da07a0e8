/* bconv.c -- Conv2d + ReLU + MaxPool2d(2) for every member of a population,
 * for the batched forward (nyto.batched_forward's fused conv block,
 * src/torch/vmap.cpp).  A shallow convolution (the reference CNN's first
 * layer: 1 input channel, 5x5) does 25 multiply-adds per output and writes
 * [batch, members * 16, 28, 28]: 100 MB for 32 members on a batch of 64,
 * which the ReLU and the pool then read and write again -- memory-bound in
 * libtorch.  Here the output channels of one member are the 16 lanes of a
 * vector: for 4 pooled columns at a time, the 2 x 8 conv outputs under them
 * are 16 accumulators held in registers while the taps run (one weight
 * vector load per 16 FMAs, the input a broadcast), then the 2x2 max and the
 * ReLU (they commute) are taken in registers and only the pooled value is
 * stored: the full-size activation never exists.  Summation order: the bias,
 * then the taps in (cin, kh, kw) order, with FMA (this file is compiled with
 * -ffp-contract=fast): values differ from oneDNN's by rounding.  NaN
 * propagates through the max and the ReLU as in PyTorch. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "nyto_core.h"

/* The kernel (src/core/bconv_part.h) is instantiated once per instruction
 * set, each with its native vector width (GCC lowers comparisons of wider
 * generic vectors to scalars, and target_clones does so even at the native
 * width in GCC 12): AVX-512 16 lanes, AVX2 + FMA 8, the baseline (SSE2) 4. */
typedef struct {
  const nt_bconv *p;
  int failed;
} cv_job;

static size_t cv_round64(size_t n) { return (n + 63) / 64 * 64; }

#define CV_MAX(a, b) ((CV_T)(((CV_IT)(a) & ~(((b) > (a)) | ((b) != (b)))) | ((CV_IT)(b) & (((b) > (a)) | ((b) != (b))))))
#define CV_RELU(a) ((CV_T)((CV_IT)(a) & ~((a) < (CV_T){0})))

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && !defined(NYTO_NO_CLONES)
#define CV_X86 1
#pragma GCC push_options
#pragma GCC target("avx512f")
typedef float cv_v16 __attribute__((vector_size(64)));
typedef int cv_i16 __attribute__((vector_size(64)));
#define CV_NAME cv_part_avx512
#define CV_T cv_v16
#define CV_IT cv_i16
#define CV_L 16
#define CV_NQ 4
#include "bconv_part.h"
#pragma GCC pop_options

#pragma GCC push_options
#pragma GCC target("avx2,fma")
typedef float cv_v8 __attribute__((vector_size(32)));
typedef int cv_i8 __attribute__((vector_size(32)));
#define CV_NAME cv_part_avx2
#define CV_T cv_v8
#define CV_IT cv_i8
#define CV_L 8
#define CV_NQ 2
#include "bconv_part.h"
#pragma GCC pop_options
#endif

typedef float cv_v4 __attribute__((vector_size(16)));
typedef int cv_i4 __attribute__((vector_size(16)));
#define CV_NAME cv_part_base
#define CV_T cv_v4
#define CV_IT cv_i4
#define CV_L 4
#define CV_NQ 2
#include "bconv_part.h"

static int cv_isa_cap = 2;
int nyto_bconv_isa(int level) {
  int old = cv_isa_cap;
  if (level >= 0) cv_isa_cap = level;
  return old;
}

int nyto_bconv_path(void) {
#ifdef CV_X86
  if (cv_isa_cap >= 2 && __builtin_cpu_supports("avx512f")) return 2;
  if (cv_isa_cap >= 1 && __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return 1;
#endif
  return 0;
}

int nyto_conv_relu_pool(const nt_bconv *p) {
  const int64_t units = p->n * p->batch;
  if (units <= 0 || p->cout <= 0 || p->oh <= 0 || p->ow <= 0) return 0;
  cv_job j = {p, 0};
  void (*part)(void *, int64_t, int64_t) = cv_part_base;
#ifdef CV_X86
  int path = nyto_bconv_path();
  if (path == 2) part = cv_part_avx512;
  else if (path == 1) part = cv_part_avx2;
#endif
  /* a chunk is at least ~256k multiply-adds */
  int64_t work = 4 * p->oh * p->ow * p->cin * p->kh * p->kw * p->cout;
  int64_t grain = work > 0 ? (262144 + work - 1) / work : units;
  if (units < 2 * grain || nt_parallel_for(units, grain, part, &j) != 0) part(&j, 0, units);
  return j.failed ? -1 : 0;
}

void nyto_relu_pool2(const float *x, float *y, int64_t planes, int64_t h, int64_t w) {
  const int64_t oh = h / 2, ow = w / 2;
  for (int64_t p = 0; p < planes; p++)
    for (int64_t i = 0; i < oh; i++) {
      const float *a = x + (p * h + 2 * i) * w, *b = a + w;
      float *o = y + (p * oh + i) * ow;
      for (int64_t q = 0; q < ow; q++) {
        float m = a[2 * q], v = a[2 * q + 1];
        m = (v > m || v != v) ? v : m;
        v = b[2 * q];
        m = (v > m || v != v) ? v : m;
        v = b[2 * q + 1];
        m = (v > m || v != v) ? v : m;
        o[q] = m < 0 ? 0.0f : m;
      }
    }
}
