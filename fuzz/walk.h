/* walk.h -- what the fuzz harnesses check of a pickle that loaded: the
 * checks nyto's Lua conversion (src/lua/save.c, pk_push) relies on. */
#ifndef NYTO_FUZZ_WALK_H
#define NYTO_FUZZ_WALK_H
#include <stdlib.h>

#include "nyto_pickle.h"

static volatile unsigned walk_sum;
static const int walk_elsize[] = {4, 8, 8, 1};

/* as pk_push: each container once, depth as it recurses */
static void walk_node(const nyto_pickle *p, unsigned char *seen, uint32_t k, int depth) {
  if (k >= p->nnodes) abort();
  const nyto_pk_node *n = &p->nodes[k];
  switch (n->kind) {
    case NYTO_PK_NONE: case NYTO_PK_BOOL: case NYTO_PK_INT: case NYTO_PK_FLOAT: return;
    case NYTO_PK_STR: case NYTO_PK_BYTES:
      for (size_t i = 0; i < n->slen; i++) walk_sum += (unsigned char)n->s[i];
      return;
    case NYTO_PK_TENSOR: {
      if (n->i < 0 || (size_t)n->i >= p->ntensors) abort();
      const nyto_pk_tensor *t = &p->tensors[n->i];
      if (t->storage >= p->nstorages || t->ndim < 0 || t->ndim > NYTO_PK_MAXDIM || t->offset < 0) abort();
      const nyto_pk_storage *s = &p->storages[t->storage];
      uint64_t last = (uint64_t)t->offset;
      int empty = 0;
      for (int d = 0; d < t->ndim; d++) {
        if (t->sizes[d] < 0 || t->strides[d] < 0) abort();
        if (t->sizes[d] == 0) empty = 1;
      }
      if (!empty) {
        for (int d = 0; d < t->ndim; d++) last += (uint64_t)(t->sizes[d] - 1) * (uint64_t)t->strides[d];
        if (last >= s->numel) abort();
        walk_sum += s->data[last * (uint64_t)walk_elsize[s->dtype] + (uint64_t)walk_elsize[s->dtype] - 1];
      }
      return;
    }
    case NYTO_PK_LIST: case NYTO_PK_TUPLE: case NYTO_PK_DICT:
      if (seen[k]) return;
      seen[k] = 1;
      if (depth >= NYTO_PK_MAXDEPTH) abort();
      if (n->kind == NYTO_PK_DICT && n->n % 2) abort();
      for (uint32_t j = 0; j < n->n; j++) {
        if (n->kind == NYTO_PK_DICT && j % 2 == 0 && n->items[j] < p->nnodes && p->nodes[n->items[j]].kind > NYTO_PK_BYTES)
          abort();
        walk_node(p, seen, n->items[j], depth + 1);
      }
      return;
    default: abort(); /* a global or a storage as a value */
  }
}

static void walk_check(const nyto_pickle *p) {
  for (size_t k = 0; k < p->nstorages; k++) {
    const nyto_pk_storage *s = &p->storages[k];
    if (s->dtype < 0 || s->dtype > 3) abort();
    size_t nb = (size_t)s->numel * (size_t)walk_elsize[s->dtype];
    for (size_t i = 0; i < nb; i++) walk_sum += s->data[i];
  }
  unsigned char *seen = calloc(p->nnodes + 1, 1);
  if (!seen) abort();
  walk_node(p, seen, p->root, 0);
  free(seen);
}
#endif
