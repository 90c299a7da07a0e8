/* bench/rng_words.c -- nyto's random words (src/core/philox.c: xoshiro128++
 * lanes keyed by Philox4x32-10) in counter order, raw 32-bit little-endian on
 * stdout, for statistical test batteries: scripts/rng-quality pipes it into
 * dieharder.  Words of (seed, stream) from counter 0 on, by the scalar path
 * (x_words), which spec/c/test_core.c holds equal to the vector paths.
 *   rng_words [seed [stream]]  */
#define _GNU_SOURCE
#include <stdio.h>

#include "philox.c"

int nt_parallel_for(int64_t n, int64_t grain, void (*fn)(void *, int64_t, int64_t), void *ctx) {
  (void)grain;
  fn(ctx, 0, n);
  return 0;
}
int nt_get_num_threads(void) { return 1; }

int main(int argc, char **argv) {
  uint64_t seed = argc > 1 ? strtoull(argv[1], NULL, 0) : 1, stream = argc > 2 ? strtoull(argv[2], NULL, 0) : 0;
  table_init();
  enum { N = 1 << 16 };
  static uint32_t w[N];
  for (uint64_t c = 0;; c += N) {
    for (int64_t i = 0; i < N; i += XCH) x_words((c + (uint64_t)i) / XCH, seed, stream, 0, XSTEPS, w + i);
    if (fwrite(w, sizeof w, 1, stdout) != 1) return 0; /* the reader is done */
  }
}
