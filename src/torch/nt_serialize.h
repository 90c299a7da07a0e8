/* nt_serialize.h -- the C ABI of src/torch/serialize.cpp: PyTorch's torch.save
 * format (a zip with a pickle) written through libtorch's torch::pickle_save
 * (src/core/pickle.c reads it), strided views, and the CPU generator's state.  Same rules as nt.h:
 * 0 on success, -1 with the reason in nt_error(), no exception escapes. */
#ifndef NYTO_NT_SERIALIZE_H
#define NYTO_NT_SERIALIZE_H

#include <stddef.h>
#include <stdint.h>

#include "nt.h"

#ifdef __cplusplus
extern "C" {
#endif

enum nt_vkind { NT_V_NONE, NT_V_BOOL, NT_V_INT, NT_V_FLOAT, NT_V_STRING, NT_V_TENSOR,
                NT_V_LIST, NT_V_TUPLE, NT_V_DICT };

/* A plain value to save: a tree of these.  LIST/TUPLE hold n items; DICT holds n
 * pairs as 2n items (key, value, key, value, ...). */
typedef struct nt_value {
  int kind;
  int b;
  int64_t i;
  double f;
  char *s;
  size_t slen;
  nt_tensor *t;
  struct nt_value *items;
  size_t n;
} nt_value;

/* Pickle v (tensors borrowed) in torch.save's zip format; *out is malloc'd. */
int nt_pickle_save(const nt_value *v, char **out, size_t *len);
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
