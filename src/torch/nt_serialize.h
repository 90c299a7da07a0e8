/* nt_serialize.h -- the C ABI of src/torch/serialize.cpp: strided views (for
 * the tensors of a torch.save file, which src/core/pickle.c reads and
 * writes) and the CPU generator's state.  Same rules as nt.h:
 * 0 on success, -1 with the reason in nt_error(), no exception escapes. */
#ifndef NYTO_NT_SERIALIZE_H
#define NYTO_NT_SERIALIZE_H

#include <stddef.h>
#include <stdint.h>

#include "nt.h"

#ifdef __cplusplus
extern "C" {
#endif

/* A view of base (its storage) with the given sizes, strides and offset
 * (elements); the caller has checked that it stays inside the storage. */
int nt_as_strided(const nt_tensor *base, const int64_t *sizes, const int64_t *strides, int ndim, int64_t offset,
                  nt_tensor **out);

/* The default CPU generator's state (bytes, at most cap; *len gets the size). */
int nt_rng_get_state(unsigned char *buf, size_t cap, size_t *len);
int nt_rng_set_state(const unsigned char *buf, size_t len);

#ifdef __cplusplus
}
#endif
#endif
