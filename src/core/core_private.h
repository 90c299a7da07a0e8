/* core_private.h -- what the files of src/core share and nothing else sees:
 * the counters behind nyto.stats() (stats.c; pool.c counts buffers into
 * them) and the size of a dtype's element. */
#ifndef NYTO_CORE_PRIVATE_H
#define NYTO_CORE_PRIVATE_H

#include "nyto_core.h"

extern nyto_stats nyto_st;

static inline int64_t elem_size(int dtype) { return dtype == NT_FLOAT64 || dtype == NT_INT64 ? 8 : dtype == NT_BOOL ? 1 : 4; }

/* streaming stores (es.c): core_stream_store copies n bytes of an L1 block s
 * to d, the whole 64-byte lines of d with non-temporal stores (no read for
 * ownership; the lines are not left in the cache) and the partial lines at
 * either end plainly.  core_stream_init once before (the CPU's vector level);
 * core_stream_fence before the writes are handed to another thread or caller. */
void core_stream_init(void);
void core_stream_store(char *d, const char *s, int64_t n);
void core_stream_fence(void);

#endif
