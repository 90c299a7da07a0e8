/* core_private.h -- what the files of src/core share and nothing else sees:
 * the counters behind nyto.stats() (stats.c; pool.c counts buffers into
 * them) and the size of a dtype's element. */
#ifndef NYTO_CORE_PRIVATE_H
#define NYTO_CORE_PRIVATE_H

#include "nyto_core.h"

extern nyto_stats nyto_st;

static inline int64_t elem_size(int dtype) { return dtype == NT_FLOAT64 || dtype == NT_INT64 ? 8 : dtype == NT_BOOL ? 1 : 4; }

#endif
