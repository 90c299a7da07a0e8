/* binding.c -- the Lua binding of nyto's C core: one translation unit (after
 * luv), so every helper stays static.  tensor.c binds nyto.Tensor and the op
 * table of ops.def; particle.c binds flat particle buffers and their loops.
 *
 * Rules (ARCHITECTURE.md): the binding creates a userdata empty, with its
 * metatable, before the resource it will own exists; it raises only after
 * every C resource of the call is released or owned by a userdata. */
#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "nt.h"
#include "nyto.h"
#include "nyto_core.h"
#include "private.h" /* the statics the included files share */

#ifndef NYTO_VERSION
#define NYTO_VERSION "0.0.0"
#endif

/* Raise a message that starts with "nyto: " (API.md): like luaL_error, but
 * without the position prefix, so the message is exactly what it says. */
static int nyto_error(lua_State *L, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  const char *msg = lua_pushvfstring(L, fmt, ap);
  va_end(ap);
  size_t len = strlen(msg);
  if (len > 400) { /* user strings are not echoed in full */
    lua_pushlstring(L, msg, 380);
    lua_pushliteral(L, "... (message cut)");
    lua_concat(L, 2);
  }
  return lua_error(L);
}

/* Raise "nyto: bad argument #i to 'fn' (msg)". */
static int nyto_argerror(lua_State *L, int arg, const char *fname, const char *msg) {
  return nyto_error(L, "nyto: bad argument #%d to '%s' (%s)", arg, fname, msg);
}

/* GC pacing (ARCHITECTURE invariant 6).  Tensor bytes are invisible to
 * Lua's allocator, so the binding counts the bytes every new handle or
 * particle buffer reaches and runs a full collection once the count since
 * the last one passes a budget:
 *     budget = max(1 MiB, live tensor bytes / 4, 2 x the Lua heap)
 * Garbage tensors so stay within a quarter of the live tensor set (or 1 MiB),
 * and the cost of collecting stays proportional to the allocation, as with
 * Lua's own pause of 200% (a cycle costs about one pass over the Lua heap).
 * A full collection finishes a cycle in incremental and generational mode
 * alike (a LUA_GCSTEP debt frees nothing young in generational mode), so
 * nyto leaves the host's GC mode alone.  Measured: docs/memory.md. */
#define NYTO_GC_MIN ((int64_t)1 << 20)
/* The pacing weight of one tensor handle besides its storage bytes.  A
 * handle costs a TensorImpl, a StorageImpl, the nt handle and a userdata
 * (several hundred bytes of malloc); with weight 0, 10^5 dead 16-byte
 * tensors waited for 1 MiB of storage and malloc paid for the long free
 * lists (4.2 us per add of 4-element tensors); 512: 1.5 us; 2048: 1.25 us;
 * 8192: 1.4 us (a collection every few handles costs more than it saves). */
#ifndef NYTO_HANDLE_BYTES
#define NYTO_HANDLE_BYTES 2048
#endif
static int64_t gc_since;
static int64_t gc_collections, gc_young;
/* The state's collector mode (LUA_GCINC or LUA_GCGEN), read once when nyto
 * loads; nyto.set_gc_mode keeps it in step. */
static int gc_mode = LUA_GCINC;
static int gc_young_run; /* young collections since the last full one */
static int gc_full_next;      /* the next collection due is a full one */
static int64_t gc_live_full;  /* tensor bytes after the last full collection */

static int nyto_gc_due(lua_State *L, int64_t *heap_out) {
  if (gc_since < NYTO_GC_MIN) return 0;
  nyto_stats s;
  nyto_stats_get(&s);
  int64_t budget = s.tensor_bytes / 4;
  int64_t heap = (int64_t)lua_gc(L, LUA_GCCOUNT) * 1024;
  if (heap_out) *heap_out = heap;
  if (2 * heap > budget) budget = 2 * heap;
  return gc_since >= budget;
}

static void nyto_gc_collect(lua_State *L) {
  gc_since = 0;
  gc_young_run = 0;
  gc_collections++;
  lua_gc(L, LUA_GCCOLLECT);
  nyto_stats s;
  nyto_stats_get(&s);
  gc_live_full = s.tensor_bytes;
  gc_full_next = 0;
}

/* In generational mode most dead tensors and particles are young, and a
 * young collection finds them for the cost of the young objects alone (a
 * full one costs a pass over the whole Lua heap).  An object that survives
 * two collections turns old and waits for a full collection, so the next
 * collection due is a full one when a young one stops paying: when it
 * released no tensor and no particle buffer, or when tensor bytes stay above
 * twice the live set the last full collection left (plus the 1 MiB minimum).
 * Until then a loop whose intermediates die young (a population forward, a
 * training step) runs no full collection at all; before, a
 * full one ran every 8th budget and for every allocation as large as the Lua
 * heap, 3 per stacked forward of 256 MLPs (bench/gc_pacing.sh).  A particle
 * buffer as large as the Lua heap still gets a full one (nyto_gc_pace_before). */
static void nyto_gc_run(lua_State *L, int64_t bytes, int64_t heap) {
  (void)bytes;
  (void)heap;
  if (gc_mode == LUA_GCGEN && !gc_full_next) {
    nyto_stats s0, s1;
    nyto_stats_get(&s0);
    gc_since = 0;
    gc_young_run++;
    gc_young++;
    lua_gc(L, LUA_GCSTEP, 0);
    nyto_stats_get(&s1);
    gc_full_next = (s1.tensors >= s0.tensors && s1.buffers >= s0.buffers) ||
                   s1.tensor_bytes > 2 * gc_live_full + NYTO_GC_MIN;
  } else {
    nyto_gc_collect(L);
  }
}

/* Count bytes just allocated; collect when the budget is passed. */
static void nyto_gc_pace(lua_State *L, int64_t bytes) {
  int64_t heap = 0;
  if (bytes <= 0) return;
  gc_since += bytes;
  if (nyto_gc_due(L, &heap)) nyto_gc_run(L, bytes, heap);
}

/* Count bytes about to be allocated; collect first when the budget is
 * passed, so the dead particles' buffers go back to the pool in time to
 * serve this allocation. */
static void nyto_gc_pace_before(lua_State *L, int64_t bytes) {
  int64_t heap = 0;
  int fresh = gc_since == 0; /* nothing allocated since the last collection: nothing to find */
  gc_since += bytes;
  if (!fresh && nyto_gc_due(L, &heap)) {
    /* a particle buffer as large as the Lua heap is worth a full pass: the
     * plain-module loop of bench/memory.lua keeps 2.0 particles at its peak
     * (3.0 with young collections alone) */
    if (bytes >= heap) nyto_gc_collect(L);
    else nyto_gc_run(L, bytes, heap);
    gc_since = bytes; /* the allocation this precedes */
  }
}

/* core.set_gc_mode("incremental" | "generational"): switch and remember. */
static int l_set_gc_mode(lua_State *L) {
  static const char *const modes[] = {"incremental", "generational", NULL};
  const char *name = lua_type(L, 1) == LUA_TSTRING ? lua_tostring(L, 1) : NULL;
  int m = -1;
  for (int i = 0; name && modes[i]; i++)
    if (strcmp(name, modes[i]) == 0) m = i;
  if (m < 0) return nyto_error(L, "nyto: bad argument #1 to 'set_gc_mode' (\"incremental\" or \"generational\" expected)");
  if (m == 0) lua_gc(L, LUA_GCINC, 0, 0, 0);
  else lua_gc(L, LUA_GCGEN, 0, 0);
  gc_mode = m == 0 ? LUA_GCINC : LUA_GCGEN;
  return 0;
}

static int l_gc_mode(lua_State *L) {
  lua_pushstring(L, gc_mode == LUA_GCGEN ? "generational" : "incremental");
  return 1;
}

/* core.collect(): a full collection now (ParticleModule's prompt release). */
static int l_collect(lua_State *L) {
  nyto_gc_collect(L);
  return 0;
}

/* After a major collection that freed little (a heap that grew, as while a
 * program loads), Lua 5.4 answers every step with a full collection that
 * makes each survivor old ("stepgenfull"), and an old particle is found dead
 * only by a full collection: the release trace of
 * examples/particle_release.lua lost lines at its first iterations.
 * Re-entering generational mode clears that state (luaC_changemode; in it,
 * one full collection now instead of one per step) and tells the mode the
 * host really runs: one switched to incremental behind nyto's back stays so. */
static void nyto_gc_settle(lua_State *L) {
  if (gc_mode == LUA_GCGEN && lua_gc(L, LUA_GCGEN, 0, 0) == LUA_GCINC) {
    lua_gc(L, LUA_GCINC, 0, 0, 0);
    gc_mode = LUA_GCINC;
  }
}

/* core.gc_settle(): as above, before a ParticleModule is made */
static int l_gc_settle(lua_State *L) {
  nyto_gc_settle(L);
  return 0;
}

/* core.collect_young() -> full_due: a young collection in generational
 * mode, a full one in incremental mode (ParticleModule's prompt release,
 * lua/nyto/particle_module.lua: the particles a loop drops die young, and a
 * young collection finds them for the cost of the young objects alone).
 * full_due: tensor bytes stay above twice what the last full collection
 * left, plus 1 MiB (garbage that turned old: the pacing's rule). */
static int l_collect_young(lua_State *L) {
  nyto_gc_settle(L);
  if (gc_mode != LUA_GCGEN) {
    nyto_gc_collect(L);
    lua_pushboolean(L, 0);
    return 1;
  }
  gc_since = 0;
  gc_young_run++;
  gc_young++;
  lua_gc(L, LUA_GCSTEP, 0);
  nyto_stats s;
  nyto_stats_get(&s);
  lua_pushboolean(L, s.tensor_bytes > 2 * gc_live_full + NYTO_GC_MIN);
  return 1;
}

/* core.gc_count() -> full, young: the collections nyto ran */
static int l_gc_count(lua_State *L) {
  lua_pushinteger(L, (lua_Integer)gc_collections);
  lua_pushinteger(L, (lua_Integer)gc_young);
  return 2;
}

/* particle.c's deferred buffers (lazy_n, lazy_before_write: private.h): a
 * tensor op that writes a tensor computes the ones that read its storage
 * first (it may be a parameter view). */

#include "random.c"
#include "tensor.c"
#include "particle.c"
#include "es.c"
#include "evo.c"
#include "data.c"
#include "vmap.c"

const char *l_lua_dir(void); /* luadir.c */
#include "dist.c"
#include "save.c"
#include "embed.c"

static int l_stats(lua_State *L) {
  nyto_stats s;
  nyto_stats_get(&s);
  lua_createtable(L, 0, 8);
#define F(name) (lua_pushinteger(L, s.name), lua_setfield(L, -2, #name))
  /* the core's live buffers; gc.lua renames them particle_buffers and counts
     particle kernels as `particles` (API.md) */
  lua_pushinteger(L, s.buffers);
  lua_setfield(L, -2, "particles");
  F(tensors);
  F(tensor_bytes);
  F(peak_tensor_bytes);
  F(pool_buffers);
  F(pool_bytes);
  F(pool_hits);
  F(pool_misses);
  F(passes);
#undef F
  lua_pushinteger(L, gc_collections);
  lua_setfield(L, -2, "gc_collections");
  lua_pushinteger(L, gc_young);
  lua_setfield(L, -2, "gc_young_collections");
  return 1;
}

static int l_reset_peak(lua_State *L) {
  nyto_stats_reset_peak();
  return 0;
}

/* nyto_checkint: particle.c */

static int l_pool_limit(lua_State *L) {
  lua_Integer n = nyto_checkint(L, 1, "pool_limit");
  lua_Integer bytes = lua_isnoneornil(L, 2) ? (lua_Integer)256 << 20 : nyto_checkint(L, 2, "pool_limit");
  if (n < 0) return nyto_argerror(L, 1, "pool_limit", "must be non-negative");
  if (bytes < 0) return nyto_argerror(L, 2, "pool_limit", "must be non-negative");
  nyto_pool_set_limit(n, bytes);
  return 0;
}

static int l_manual_seed(lua_State *L) {
  if (!lua_isinteger(L, 1)) {
    if (lua_type(L, 1) != LUA_TNUMBER) return nyto_argerror(L, 1, "manual_seed", "integer expected");
    return nyto_argerror(L, 1, "manual_seed", "seed must be an integer");
  }
  nt_manual_seed((uint64_t)lua_tointeger(L, 1));
  gen_global.seed = (uint64_t)lua_tointeger(L, 1), gen_global.stream = 0, gen_global.offset = 0;
  return 0;
}

static int l_grad_enabled(lua_State *L) {
  lua_pushboolean(L, nt_grad_enabled());
  return 1;
}

static int l_set_grad_enabled(lua_State *L) {
  nt_set_grad_enabled(lua_toboolean(L, 1));
  return 0;
}

static int l_num_threads(lua_State *L) {
  if (!lua_isnoneornil(L, 1)) {
    lua_Integer n = nyto_checkint(L, 1, "num_threads");
    if (n < 1 || n > 1024) return nyto_argerror(L, 1, "num_threads", "must be between 1 and 1024");
    nt_set_num_threads((int)n);
    nyto_blas_set_threads((int)n);
  }
  lua_pushinteger(L, nt_get_num_threads());
  return 1;
}

/* core.read_limit(bytes) -> previous cap: lower the read cap (specs) */
static int l_read_limit(lua_State *L) {
  lua_Integer n = nyto_checkint(L, 1, "read_limit");
  if (n < 1 || n > ((lua_Integer)1 << 31)) return nyto_argerror(L, 1, "read_limit", "must be between 1 and 2^31");
  lua_pushinteger(L, (lua_Integer)nyto_read_set_limit((size_t)n));
  return 1;
}

/* core.read_file(path) -> string | nil, message  (gunzips gzip files) */
static int read_box_gc(lua_State *L) {
  unsigned char **box = lua_touserdata(L, 1);
  if (box && *box) {
    free(*box);
    *box = NULL;
  }
  return 0;
}

static int l_read_file(lua_State *L) {
  if (lua_type(L, 1) != LUA_TSTRING)
    return nyto_argerror(L, 1, "read_file", lua_pushfstring(L, "string expected, got %s", luaL_typename(L, 1)));
  const char *path = lua_tostring(L, 1);
  char err[512];
  size_t n = 0;
  unsigned char *buf = nyto_read_file(path, &n, err, sizeof err);
  if (!buf) {
    luaL_pushfail(L);
    lua_pushstring(L, err);
    return 2;
  }
  /* lua_pushlstring may raise on memory: hand the buffer to a box first */
  unsigned char **box = lua_newuserdatauv(L, sizeof *box, 0);
  *box = buf;
  if (luaL_newmetatable(L, "nyto.ReadBox")) { /* frees buf when pushlstring raises */
    lua_pushcfunction(L, read_box_gc);
    lua_setfield(L, -2, "__gc");
  }
  lua_setmetatable(L, -2);
  lua_pushlstring(L, (const char *)buf, n);
  free(buf);
  *box = NULL;
  return 1;
}

/* wall-clock seconds (monotonic) for nyto.timeit */
static int l_clock(lua_State *L) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  lua_pushnumber(L, (lua_Number)ts.tv_sec + (lua_Number)ts.tv_nsec * 1e-9);
  return 1;
}

static const luaL_Reg core_funcs[] = {
    {"stats", l_stats},
    {"reset_peak", l_reset_peak},
    {"pool_limit", l_pool_limit},
    {"manual_seed", l_manual_seed},
    {"grad_enabled", l_grad_enabled},
    {"set_grad_enabled", l_set_grad_enabled},
    {"num_threads", l_num_threads},
    {"read_file", l_read_file},
    {"read_limit", l_read_limit},
    {"collect", l_collect},
    {"collect_young", l_collect_young},
    {"gc_settle", l_gc_settle},
    {"gc_count", l_gc_count},
    {"set_gc_mode", l_set_gc_mode},
    {"gc_mode", l_gc_mode},
    {"clock", l_clock},
    {NULL, NULL}};

int luaopen_nyto_core(lua_State *L) {
  luaL_checkversion(L);
  /* learn the collector's mode: switching returns the previous one (a
   * switch to generational runs one full collection, once, here) */
  gc_mode = lua_gc(L, LUA_GCGEN, 0, 0);
  if (gc_mode == LUA_GCINC) lua_gc(L, LUA_GCINC, 0, 0, 0);
  lua_newtable(L);
  luaL_setfuncs(L, core_funcs, 0);
  tensor_open(L);
  particle_open(L);
  es_open(L);
  evo_open(L);
  random_open(L);
  nyto_blas_set_threads(nt_get_num_threads());
  data_open(L);
  vmap_open(L);
  dist_open(L);
  save_open(L);
  lua_pushstring(L, NYTO_VERSION);
  lua_setfield(L, -2, "_VERSION");
  lua_pushstring(L, l_lua_dir()); /* nil when not found (luadir.c) */
  lua_setfield(L, -2, "lua_dir");
  return 1;
}

const char *nyto_version(void) { return NYTO_VERSION; }

int64_t nyto_tensor_bytes(void) {
  nyto_stats s;
  nyto_stats_get(&s);
  return s.tensor_bytes;
}

int64_t nyto_peak_tensor_bytes(void) {
  nyto_stats s;
  nyto_stats_get(&s);
  return s.peak_tensor_bytes;
}

/* Embedding: preload the core, extend package.path with nyto's Lua files
 * (NYTO_LUA_PATH, or the directory luadir.c finds), require "nyto". */
static int nyto_open_k(lua_State *L) {
  luaL_getsubtable(L, LUA_REGISTRYINDEX, LUA_PRELOAD_TABLE);
  lua_pushcfunction(L, luaopen_nyto_core);
  lua_setfield(L, -2, "nyto.core");
  lua_pop(L, 1);
  lua_getglobal(L, "package");
  if (lua_istable(L, -1)) {
    const char *dir = l_lua_dir();
    if (dir) {
      lua_getfield(L, -1, "path");
      lua_pushfstring(L, "%s/?.lua;%s/?/init.lua;%s", dir, dir, lua_tostring(L, -1) ? lua_tostring(L, -1) : "");
      lua_setfield(L, -3, "path");
      lua_pop(L, 1);
    }
  }
  lua_pop(L, 1);
  lua_getglobal(L, "require");
  lua_pushstring(L, "nyto");
  lua_call(L, 1, 1);
  return 1;
}

int nyto_open(lua_State *L) {
  lua_pushcfunction(L, nyto_open_k);
  return lua_pcall(L, 0, 1, 0);
}
