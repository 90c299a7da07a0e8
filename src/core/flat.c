/* flat.c -- flat particle buffers, their pool, the particle-operation loops,
 * and the accounting behind nyto.stats(). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "nyto_core.h"

/* ---- storage accounting: an open-addressing map storage -> (handles, bytes) ---- */
typedef struct {
  const void *key;
  int64_t refs, bytes;
} slot_t;

static slot_t *map;
static size_t map_cap, map_used;
static nyto_stats st;

static size_t hash_ptr(const void *p) {
  uint64_t x = (uint64_t)(uintptr_t)p;
  x ^= x >> 33;
  x *= 0xff51afd7ed558ccdULL;
  x ^= x >> 33;
  return (size_t)x;
}

static slot_t *map_find(const void *key, int insert) {
  if (insert && (map_used + 1) * 2 > map_cap) {
    size_t ncap = map_cap ? map_cap * 2 : 1024;
    slot_t *nm = calloc(ncap, sizeof *nm);
    if (!nm) return NULL;
    for (size_t i = 0; i < map_cap; i++) {
      if (!map[i].key) continue;
      size_t j = hash_ptr(map[i].key) & (ncap - 1);
      while (nm[j].key) j = (j + 1) & (ncap - 1);
      nm[j] = map[i];
    }
    free(map);
    map = nm;
    map_cap = ncap;
  }
  if (!map_cap) return NULL;
  size_t j = hash_ptr(key) & (map_cap - 1);
  while (map[j].key) {
    if (map[j].key == key) return &map[j];
    j = (j + 1) & (map_cap - 1);
  }
  if (!insert) return NULL;
  map[j].key = key;
  map[j].refs = 0;
  map[j].bytes = 0;
  map_used++;
  return &map[j];
}

static void map_erase(slot_t *s) {
  /* backward-shift deletion keeps probe chains intact */
  size_t i = (size_t)(s - map);
  for (;;) {
    map[i].key = NULL;
    size_t j = i;
    for (;;) {
      j = (j + 1) & (map_cap - 1);
      if (!map[j].key) {
        map_used--;
        return;
      }
      size_t h = hash_ptr(map[j].key) & (map_cap - 1);
      if ((j > i && (h <= i || h > j)) || (j < i && (h <= i && h > j))) break;
    }
    map[i] = map[j];
    i = j;
  }
}

int64_t nyto_track(const nt_tensor *t) {
  st.tensors++;
  const void *id = nt_storage_id(t);
  if (!id) return 0;
  slot_t *s = map_find(id, 1);
  if (!s) return 0;
  int64_t added = 0;
  if (s->refs++ == 0) {
    s->bytes = (int64_t)nt_storage_bytes(t);
    added = s->bytes;
    st.tensor_bytes += added;
    if (st.tensor_bytes > st.peak_tensor_bytes) st.peak_tensor_bytes = st.tensor_bytes;
  }
  return added;
}

void nyto_untrack(const nt_tensor *t) {
  st.tensors--;
  const void *id = nt_storage_id(t);
  if (!id) return;
  slot_t *s = map_find(id, 0);
  if (!s) return;
  if (--s->refs == 0) {
    st.tensor_bytes -= s->bytes;
    map_erase(s);
  }
}

void nyto_stats_get(nyto_stats *out) { *out = st; }
void nyto_stats_reset_peak(void) { st.peak_tensor_bytes = st.tensor_bytes; }
void nyto_stats_pass(void) { st.passes++; }

/* ---- the buffer pool ----
 * Fresh large buffers cost page faults on first touch; a released particle's
 * buffer serves the next particle of the same size.  Entries whose storage is
 * still shared (a parameter view kept alive by a script) are skipped and aged out. */
#define POOL_MAX 64
static nt_tensor *pool[POOL_MAX];
static int pool_n;
static int64_t pool_limit_buffers = 16, pool_limit_bytes = (int64_t)256 << 20;

static int64_t elem_size(int dtype) { return dtype == NT_FLOAT64 || dtype == NT_INT64 ? 8 : dtype == NT_BOOL ? 1 : 4; }

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
      st.particles++;
      *out = b;
      return 0;
    }
  }
  st.pool_misses++;
  int64_t sz[1] = {n};
  if (nt_new(NT_EMPTY, sz, 1, dtype, 0, out) != 0) return -1;
  st.particles++;
  return 0;
}

void nyto_buffer_release(nt_tensor *buf) {
  if (!buf) return;
  st.particles--;
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

/* ---- the particle-operation loops ----
 * Plain loops over restrict pointers: the compiler vectorises them, and one
 * pass over the buffer is all a particle operation costs. */
#define SEG_LOOP(T, BODY)                                 \
  for (int k = 0; k < nseg; k++) {                        \
    int64_t o = segs[k].off, e = o + segs[k].len;         \
    for (int64_t i = o; i < e; i++) BODY;                 \
  }

#define SCALAR_CASES(T, POWF)                                                 \
  {                                                                           \
    T *restrict d = dst;                                                      \
    const T *restrict x = a;                                                  \
    const T v = (T)s;                                                         \
    if (d == x) { /* in place: the same pointer, so no restrict */            \
      T *p = dst;                                                             \
      switch (op) {                                                           \
        case NYTO_ADD: SEG_LOOP(T, p[i] += v) return;                        \
        case NYTO_SUB: SEG_LOOP(T, p[i] -= v) return;                        \
        case NYTO_MUL: SEG_LOOP(T, p[i] *= v) return;                        \
        case NYTO_DIV: SEG_LOOP(T, p[i] /= v) return;                        \
        case NYTO_POW: SEG_LOOP(T, p[i] = POWF(p[i], v)) return;             \
        case NYTO_RSUB: SEG_LOOP(T, p[i] = v - p[i]) return;                 \
        case NYTO_RDIV: SEG_LOOP(T, p[i] = v / p[i]) return;                 \
        case NYTO_RPOW: SEG_LOOP(T, p[i] = POWF(v, p[i])) return;            \
      }                                                                       \
      return;                                                                 \
    }                                                                         \
    switch (op) {                                                             \
      case NYTO_ADD: SEG_LOOP(T, d[i] = x[i] + v) return;                    \
      case NYTO_SUB: SEG_LOOP(T, d[i] = x[i] - v) return;                    \
      case NYTO_MUL: SEG_LOOP(T, d[i] = x[i] * v) return;                    \
      case NYTO_DIV: SEG_LOOP(T, d[i] = x[i] / v) return;                    \
      case NYTO_POW: SEG_LOOP(T, d[i] = POWF(x[i], v)) return;               \
      case NYTO_RSUB: SEG_LOOP(T, d[i] = v - x[i]) return;                   \
      case NYTO_RDIV: SEG_LOOP(T, d[i] = v / x[i]) return;                   \
      case NYTO_RPOW: SEG_LOOP(T, d[i] = POWF(v, x[i])) return;              \
    }                                                                         \
  }

/* The loops are compiled twice, for AVX2 and for the x86-64 baseline, and
 * the loader picks one for the CPU (GCC function multiversioning). */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && !defined(NYTO_NO_CLONES)
#define NYTO_CLONES __attribute__((target_clones("avx2", "default")))
#else
#define NYTO_CLONES
#endif

NYTO_CLONES void nyto_kernel_scalar(int dtype, void *dst, const void *a, double s, int op, const nyto_seg *segs, int nseg) {
  if (dtype == NT_FLOAT64)
    SCALAR_CASES(double, pow)
  else
    SCALAR_CASES(float, powf)
}

NYTO_CLONES void nyto_kernel_affine(int dtype, void *dst, const void *a, double mul, double add, const nyto_seg *segs, int nseg) {
  if (dtype == NT_FLOAT64) {
    double *d = dst;
    const double *x = a;
    SEG_LOOP(double, d[i] = x[i] * mul + add)
  } else {
    float *d = dst;
    const float *x = a;
    const float m = (float)mul, c = (float)add;
    SEG_LOOP(float, d[i] = x[i] * m + c)
  }
}

#define BINARY_CASES(T, POWF)                                        \
  {                                                                  \
    T *d = dst;                                                      \
    const T *x = a, *y = b;                                          \
    switch (op) {                                                    \
      case NYTO_ADD: SEG_LOOP(T, d[i] = x[i] + y[i]) return;        \
      case NYTO_SUB: SEG_LOOP(T, d[i] = x[i] - y[i]) return;        \
      case NYTO_MUL: SEG_LOOP(T, d[i] = x[i] * y[i]) return;        \
      case NYTO_DIV: SEG_LOOP(T, d[i] = x[i] / y[i]) return;        \
      case NYTO_POW: SEG_LOOP(T, d[i] = POWF(x[i], y[i])) return;   \
      case NYTO_RSUB: SEG_LOOP(T, d[i] = y[i] - x[i]) return;       \
      case NYTO_RDIV: SEG_LOOP(T, d[i] = y[i] / x[i]) return;       \
      case NYTO_RPOW: SEG_LOOP(T, d[i] = POWF(y[i], x[i])) return;  \
    }                                                                \
  }

NYTO_CLONES void nyto_kernel_binary(int dtype, void *dst, const void *a, const void *b, int op, const nyto_seg *segs, int nseg) {
  if (dtype == NT_FLOAT64)
    BINARY_CASES(double, pow)
  else
    BINARY_CASES(float, powf)
}

void nyto_kernel_copy(int dtype, void *dst, const void *src, int64_t off, int64_t len) {
  int64_t es = elem_size(dtype);
  memcpy((char *)dst + off * es, (const char *)src + off * es, (size_t)(len * es));
}

/* ---- fused passes (deferred particle operations, docs/design.md) ----
 * Each op still rounds to the buffer's dtype in turn, so the result equals
 * running them one after the other; the block of the first op's result is
 * still in L1/L2 when the next op reads it, so memory sees one pass. */
#define NYTO_BLOCK 8192

/* 2048 elements (8 or 16 KiB, in L1): the blocks of the op pairs without a
 * fused loop, and of g(b) on the stack */
#define NYTO_TMP_BLOCK 2048

static int64_t block_len(int64_t o, int64_t e, int64_t blk) { return e - o < blk ? e - o : blk; }

/* One loop for each pair of the five cheap ops (+ - * / and v - x): each
 * element is read and written once. */
#define E_ADD(x, v) ((x) + (v))
#define E_SUB(x, v) ((x) - (v))
#define E_MUL(x, v) ((x) * (v))
#define E_DIV(x, v) ((x) / (v))
#define E_RSUB(x, v) ((v) - (x))
#define FUSE_INNER(T, E1)                                                          \
  switch (op2) {                                                                   \
    case NYTO_ADD: SEG_LOOP(T, d[i] = E_ADD((T)E1(x[i], v1), v2)) return 1;       \
    case NYTO_SUB: SEG_LOOP(T, d[i] = E_SUB((T)E1(x[i], v1), v2)) return 1;       \
    case NYTO_MUL: SEG_LOOP(T, d[i] = E_MUL((T)E1(x[i], v1), v2)) return 1;       \
    case NYTO_DIV: SEG_LOOP(T, d[i] = E_DIV((T)E1(x[i], v1), v2)) return 1;       \
    case NYTO_RSUB: SEG_LOOP(T, d[i] = E_RSUB((T)E1(x[i], v1), v2)) return 1;     \
  }                                                                                \
  return 0;
#define FUSE_CASES(T)                                 \
  {                                                   \
    T *restrict d = dst;                              \
    const T *restrict x = a;                          \
    const T v1 = (T)s1, v2 = (T)s2;                   \
    switch (op1) {                                    \
      case NYTO_ADD: FUSE_INNER(T, E_ADD)             \
      case NYTO_SUB: FUSE_INNER(T, E_SUB)             \
      case NYTO_MUL: FUSE_INNER(T, E_MUL)             \
      case NYTO_DIV: FUSE_INNER(T, E_DIV)             \
      case NYTO_RSUB: FUSE_INNER(T, E_RSUB)           \
    }                                                 \
    return 0;                                         \
  }

/* 1 when the pair has a fused loop (and ran), 0 otherwise */
NYTO_CLONES static int scalar2_fused(int dtype, void *dst, const void *a, double s1, int op1, double s2, int op2,
                                     const nyto_seg *segs, int nseg) {
  if (dtype == NT_FLOAT64)
    FUSE_CASES(double)
  else
    FUSE_CASES(float)
}

void nyto_kernel_scalar2(int dtype, void *dst, const void *a, double s1, int op1, double s2, int op2,
                         const nyto_seg *segs, int nseg) {
  if (dst != a && scalar2_fused(dtype, dst, a, s1, op1, s2, op2, segs, nseg)) return;
  /* pow and the other reversed ops: block by block, the second op on a
   * block the first just wrote (still in L1) */
  for (int k = 0; k < nseg; k++)
    for (int64_t o = segs[k].off, e = o + segs[k].len; o < e; o += NYTO_TMP_BLOCK) {
      nyto_seg b = {o, block_len(o, e, NYTO_TMP_BLOCK)};
      nyto_kernel_scalar(dtype, dst, a, s1, op1, &b, 1);
      nyto_kernel_scalar(dtype, dst, dst, s2, op2, &b, 1);
    }
}

void nyto_kernel_binary_pre(int dtype, void *dst, const void *a, int opa, double va, const void *b, int opb,
                            double vb, int op, const nyto_seg *segs, int nseg) {
  int64_t es = elem_size(dtype);
  double tmp[NYTO_TMP_BLOCK]; /* g(b) of a block: 16 KiB of stack */
  int64_t step = opb >= 0 ? NYTO_TMP_BLOCK : NYTO_BLOCK;
  for (int k = 0; k < nseg; k++)
    for (int64_t o = segs[k].off, e = o + segs[k].len; o < e; o += step) {
      nyto_seg blk = {o, block_len(o, e, step)};
      if (opb >= 0) { /* tmp = g(b); dst = f(a) or a; dst = dst op tmp */
        nyto_seg t0 = {0, blk.len};
        char *d = (char *)dst + o * es;
        nyto_kernel_scalar(dtype, tmp, (const char *)b + o * es, vb, opb, &t0, 1);
        if (opa >= 0) nyto_kernel_scalar(dtype, dst, a, va, opa, &blk, 1);
        nyto_kernel_binary(dtype, d, opa >= 0 ? d : (const char *)a + o * es, tmp, op, &t0, 1);
      } else { /* dst = f(a); dst = dst op b */
        nyto_kernel_scalar(dtype, dst, a, va, opa, &blk, 1);
        nyto_kernel_binary(dtype, dst, dst, b, op, &blk, 1);
      }
    }
}
