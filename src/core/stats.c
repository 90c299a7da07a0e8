/* stats.c -- the accounting behind nyto.stats(): live tensor handles, the
 * bytes of the distinct storages they reach (an open-addressing map storage
 * -> handles, bytes), and the counters of buffers and passes. */
#include <stdlib.h>
#include <string.h>

#include "core_private.h"

/* ---- storage accounting: an open-addressing map storage -> (handles, bytes) ---- */
typedef struct {
  const void *key;
  int64_t refs, bytes;
} slot_t;

static slot_t *map;
static size_t map_cap, map_used;
nyto_stats nyto_st; /* core_private.h: the pool counts into it too */
#define st nyto_st

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
