/* nt_blob.h -- the C ABI of src/torch/blob.cpp: a tensor over memory that
 * someone else owns (libtorch's from_blob), for include/nyto.h's
 * nyto_push_tensor.  Same rules as nt.h: 0 on success, -1 with the reason in
 * nt_error(), no exception escapes. */
#ifndef NYTO_NT_BLOB_H
#define NYTO_NT_BLOB_H

#include <stdint.h>

#include "nt.h"

#ifdef __cplusplus
extern "C" {
#endif

/* *out = a contiguous CPU tensor of `sizes` and `dtype` whose storage is the
 * caller's `data` (no copy, not resizable, not requiring grad).  release
 * (may be NULL) is called with ctx exactly once, when the storage is freed:
 * when the last handle and view of it is gone, or before a failing call
 * returns. */
int nt_from_blob(void *data, const int64_t *sizes, int ndim, int dtype, void (*release)(void *), void *ctx,
                 nt_tensor **out);

#ifdef __cplusplus
}
#endif
#endif
