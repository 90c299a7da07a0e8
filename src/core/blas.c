/* blas.c -- the BLAS's own thread pool follows nyto.num_threads.
 * libtorch calls libblas.so.3; with Debian's OpenBLAS in that place, the
 * BLAS runs its own pthread pool sized by the cores, not by libtorch's
 * setting.  openblas_set_num_threads is looked up at run time, so the
 * reference BLAS (which has no pool) works as before. */
#define _GNU_SOURCE
#include <dlfcn.h>

#include "nyto_core.h"

int nyto_blas_set_threads(int n) {
  void (*set)(int) = (void (*)(int))dlsym(RTLD_DEFAULT, "openblas_set_num_threads");
  if (!set) return 0;
  set(n);
  return 1;
}

/* the BLAS pool's size, or 0 when the BLAS has none */
int nyto_blas_get_threads(void) {
  int (*get)(void) = (int (*)(void))dlsym(RTLD_DEFAULT, "openblas_get_num_threads");
  return get ? get() : 0;
}
