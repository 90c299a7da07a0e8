/* random.c -- nyto.Generator: a (seed, stream, offset) triple over the
 * counter-based generator of src/core/philox.c (xoshiro128++ lanes keyed by
 * Philox4x32-10).  A draw of n elements takes the counters [offset, offset +
 * n) and advances offset by n rounded up to a multiple of 4.  The
 * global generator serves draws without {generator = g}; nyto.manual_seed
 * resets it to (seed, stream 0, offset 0).  Included by binding.c. */

#include <time.h>

#define GEN_MT "nyto.Generator"
#define GEN_KIND "xoshiro128++/philox4x32-10"
#define GEN_DEFAULT_SEED 67280421310721ULL /* libtorch's default seed */

typedef struct LGen {
  uint64_t seed, stream, offset;
} LGen;

static LGen gen_global = {GEN_DEFAULT_SEED, 0, 0};

static uint64_t gen_take(LGen *g, int64_t n) {
  uint64_t c = g->offset;
  g->offset += ((uint64_t)n + 3) & ~(uint64_t)3;
  return c;
}

static LGen *gen_push(lua_State *L, uint64_t seed, uint64_t stream) {
  LGen *g = lua_newuserdatauv(L, sizeof *g, 0);
  g->seed = seed, g->stream = stream, g->offset = 0;
  luaL_setmetatable(L, GEN_MT);
  return g;
}

static LGen *gen_check(lua_State *L, int idx, const char *fname) {
  LGen *g = luaL_testudata(L, idx, GEN_MT);
  if (!g) {
    lua_getglobal(L, "type"); /* a short name for the message */
    const char *tn = luaL_typename(L, idx);
    lua_pop(L, 1);
    nyto_argerror(L, idx, fname, lua_pushfstring(L, "Generator expected, got %s", tn));
  }
  return g;
}

/* The generator of an options table's `generator` field (the global one
 * when absent). */
static LGen *gen_from_opts(lua_State *L, int opts, const char *fname) {
  if (opts == 0 || lua_type(L, opts) != LUA_TTABLE) return &gen_global;
  lua_getfield(L, opts, "generator");
  if (lua_isnil(L, -1)) {
    lua_pop(L, 1);
    return &gen_global;
  }
  LGen *g = luaL_testudata(L, -1, GEN_MT);
  if (!g)
    nyto_argerror(L, opts, fname,
                  lua_pushfstring(L, "option 'generator' must be a Generator, got %s", luaL_typename(L, -1)));
  lua_pop(L, 1);
  return g;
}

static uint64_t gen_checkuint(lua_State *L, int idx, const char *fname, const char *what) {
  if (!lua_isinteger(L, idx)) {
    if (lua_type(L, idx) == LUA_TNUMBER)
      nyto_argerror(L, idx, fname, lua_pushfstring(L, "%s must be an integer", what));
    nyto_argerror(L, idx, fname, lua_pushfstring(L, "%s: integer expected, got %s", what, luaL_typename(L, idx)));
  }
  lua_Integer v = lua_tointeger(L, idx);
  if (v < 0) nyto_argerror(L, idx, fname, lua_pushfstring(L, "%s must be >= 0", what));
  return (uint64_t)v;
}

/* nyto.Generator(seed [, stream]) */
static int l_generator(lua_State *L) {
  uint64_t seed = gen_checkuint(L, 1, "Generator", "seed");
  uint64_t stream = lua_isnoneornil(L, 2) ? 0 : gen_checkuint(L, 2, "Generator", "stream");
  gen_push(L, seed, stream);
  return 1;
}

/* g:stream(k): the same seed on stream k, from its start */
static int g_stream(lua_State *L) {
  LGen *g = gen_check(L, 1, "stream");
  uint64_t k = gen_checkuint(L, 2, "stream", "stream");
  gen_push(L, g->seed, k);
  return 1;
}

static int g_get_state(lua_State *L) {
  LGen *g = gen_check(L, 1, "get_state");
  lua_createtable(L, 0, 4);
  lua_pushstring(L, GEN_KIND);
  lua_setfield(L, -2, "generator");
  lua_pushinteger(L, (lua_Integer)g->seed);
  lua_setfield(L, -2, "seed");
  lua_pushinteger(L, (lua_Integer)g->stream);
  lua_setfield(L, -2, "stream");
  lua_pushinteger(L, (lua_Integer)g->offset);
  lua_setfield(L, -2, "offset");
  return 1;
}

static int not_state(lua_State *L, const char *why) {
  return nyto_argerror(L, 2, "set_state", lua_pushfstring(L, "not a Generator state: %s", why));
}

/* g:set_state(s): every field is checked before g changes */
static int g_set_state(lua_State *L) {
  LGen *g = gen_check(L, 1, "set_state");
  if (lua_type(L, 2) != LUA_TTABLE) return not_state(L, lua_pushfstring(L, "table expected, got %s", luaL_typename(L, 2)));
  lua_getfield(L, 2, "generator");
  const char *kind = lua_tostring(L, -1);
  if (lua_type(L, -1) != LUA_TSTRING || strcmp(kind, GEN_KIND) != 0)
    return not_state(L, "field 'generator' is not \"" GEN_KIND "\"");
  lua_pop(L, 1);
  uint64_t v[3];
  static const char *const fields[3] = {"seed", "stream", "offset"};
  for (int i = 0; i < 3; i++) {
    lua_getfield(L, 2, fields[i]);
    if (!lua_isinteger(L, -1) || lua_tointeger(L, -1) < 0)
      return not_state(L, lua_pushfstring(L, "field '%s' must be an integer >= 0", fields[i]));
    v[i] = (uint64_t)lua_tointeger(L, -1);
    lua_pop(L, 1);
  }
  g->seed = v[0], g->stream = v[1], g->offset = v[2];
  lua_settop(L, 1);
  return 1;
}

static int g_tostring(lua_State *L) {
  LGen *g = gen_check(L, 1, "tostring");
  lua_pushfstring(L, "nyto.Generator(seed %I, stream %I, offset %I)", (lua_Integer)g->seed, (lua_Integer)g->stream,
                  (lua_Integer)g->offset);
  return 1;
}

/* Fill a fresh contiguous tensor from a generator (kind 0 normal, 1 uniform). */
static void gen_fill_tensor(LGen *g, nt_tensor *t, int kind) {
  int64_t n = nt_numel(t);
  nyto_random_fill(nt_dtype(t), kind, nt_data(t), n, g->seed, g->stream, gen_take(g, n));
}

/* core.wall_clock(): seconds on a monotonic clock (benchmarks of threaded code) */
static int l_wall_clock(lua_State *L) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  lua_pushnumber(L, (double)ts.tv_sec + ts.tv_nsec * 1e-9);
  return 1;
}

/* core.blas_threads([n]): OpenBLAS's pool size, nil when the BLAS has no pool;
 * with n (an integer >= 1), sets the pool's size first and returns the old one
 * (the strategies run BLAS calls whose bits follow the pool's size on one
 * thread: lua/nyto/strategy/es_util.lua).  nyto.num_threads sets both pools. */
static int l_blas_threads(lua_State *L) {
  int n = nyto_blas_get_threads();
  if (!lua_isnoneornil(L, 1)) {
    if (!lua_isinteger(L, 1))
      return luaL_error(L, "nyto: bad argument #1 to 'blas_threads' (integer expected, got %s)", luaL_typename(L, 1));
    lua_Integer k = lua_tointeger(L, 1);
    if (k < 1 || k > 1024) return luaL_error(L, "nyto: bad argument #1 to 'blas_threads' (1 to 1024 threads, got %I)", k);
    if (n > 0) nyto_blas_set_threads((int)k);
  }
  if (n <= 0) lua_pushnil(L);
  else lua_pushinteger(L, n);
  return 1;
}

static void random_open(lua_State *L) {
  static const luaL_Reg meth[] = {{"stream", g_stream}, {"get_state", g_get_state}, {"set_state", g_set_state},
                                  {NULL, NULL}};
  luaL_newmetatable(L, GEN_MT);
  lua_newtable(L);
  luaL_setfuncs(L, meth, 0);
  lua_setfield(L, -2, "__index");
  lua_pushcfunction(L, g_tostring);
  lua_setfield(L, -2, "__tostring");
  lua_pop(L, 1);
  lua_pushcfunction(L, l_generator);
  lua_setfield(L, -2, "Generator");
  lua_pushcfunction(L, l_wall_clock);
  lua_setfield(L, -2, "wall_clock");
  lua_pushcfunction(L, l_blas_threads);
  lua_setfield(L, -2, "blas_threads");
  nyto_random_init();
}
