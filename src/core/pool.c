/* pool.c -- flat particle buffers: taken from a pool of released ones of the
 * same dtype and size, or from libtorch. */
#include <string.h>

#include "core_private.h"

#define st nyto_st
/* ---- the buffer pool ----
 * Fresh large buffers cost page faults on first touch; a released particle's
 * buffer serves the next particle of the same size.  Entries whose storage is
 * still shared (a parameter view kept alive by a script) are skipped and aged out. */
#define POOL_MAX 64
static nt_tensor *pool[POOL_MAX];
static int pool_n;
static int64_t pool_limit_buffers = 16, pool_limit_bytes = (int64_t)256 << 20;

static void pool_drop(int i) {
  st.pool_bytes -= nt_numel(pool[i]) * elem_size(nt_dtype(pool[i]));
  st.pool_buffers--;
  nt_free(pool[i]);
  memmove(&pool[i], &pool[i + 1], sizeof pool[0] * (size_t)(pool_n - i - 1));
  pool_n--;
}

int nyto_buffer_acquire(int dtype, int64_t n, nt_tensor **out) {
  for (int i = pool_n - 1; i >= 0; i--) {
    nt_tensor *b = pool[i];
    if (nt_dtype(b) == dtype && nt_numel(b) == n && nt_storage_unique(b)) {
      st.pool_bytes -= n * elem_size(dtype);
      st.pool_buffers--;
      memmove(&pool[i], &pool[i + 1], sizeof pool[0] * (size_t)(pool_n - i - 1));
      pool_n--;
      st.pool_hits++;
      st.buffers++;
      *out = b;
      return 0;
    }
  }
  st.pool_misses++;
  int64_t sz[1] = {n};
  if (nt_new(NT_EMPTY, sz, 1, dtype, 0, out) != 0) return -1;
  st.buffers++;
  return 0;
}

void nyto_buffer_release(nt_tensor *buf) {
  if (!buf) return;
  st.buffers--;
  int64_t bytes = nt_numel(buf) * elem_size(nt_dtype(buf));
  if (pool_limit_buffers <= 0 || bytes > pool_limit_bytes) {
    nt_free(buf);
    return;
  }
  while (pool_n > 0 && (pool_n >= pool_limit_buffers || pool_n >= POOL_MAX ||
                        st.pool_bytes + bytes > pool_limit_bytes))
    pool_drop(0);
  pool[pool_n++] = buf;
  st.pool_buffers++;
  st.pool_bytes += bytes;
}

void nyto_pool_set_limit(int64_t max_buffers, int64_t max_bytes) {
  pool_limit_buffers = max_buffers > POOL_MAX ? POOL_MAX : max_buffers;
  pool_limit_bytes = max_bytes;
  while (pool_n > 0 && (pool_n > pool_limit_buffers || st.pool_bytes > pool_limit_bytes)) pool_drop(0);
}

void nyto_pool_clear(void) {
  while (pool_n > 0) pool_drop(pool_n - 1);
}
