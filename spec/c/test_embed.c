/* test_embed.c -- include/nyto.h's host API (nyto_push_tensor, nyto_tensor_data,
 * nyto_pcall) in a host program's own Lua state.  Built as build/test_embed;
 * spec/embed_spec.lua runs it.  Prints "ok N - what" or "not ok N - what: why"
 * per check and "N passed, N failed"; exits 1 when a check failed.  Values are
 * checked against plain C arithmetic over the same host memory. */
#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "nyto.h"

static int n_ok, n_fail;

static void check(int cond, const char *what, const char *why) {
  if (cond) printf("ok %d - %s\n", n_ok + n_fail + 1, what), n_ok++;
  else printf("not ok %d - %s: %s\n", n_ok + n_fail + 1, what, why ? why : "false"), n_fail++;
}

/* run a chunk that returns one value; leaves it on the stack (or the error) */
static int run(lua_State *L, const char *code) {
  if (luaL_loadstring(L, code) != LUA_OK) return LUA_ERRSYNTAX;
  return nyto_pcall(L, 0, 1);
}

static double num(lua_State *L, const char *code) {
  int st = run(L, code);
  double v = st == LUA_OK ? lua_tonumber(L, -1) : NAN;
  if (st != LUA_OK) printf("# %s -> %s\n", code, lua_tostring(L, -1));
  lua_pop(L, 1);
  return v;
}

static int released[4];
static void on_release(void *ctx) { released[(intptr_t)ctx]++; }

static void full_gc(lua_State *L) {
  lua_gc(L, LUA_GCCOLLECT);
  lua_gc(L, LUA_GCCOLLECT);
}

/* a C function the host gives Lua: sum of a float64 tensor's data, read without a copy */
static int l_host_sum(lua_State *L) {
  nyto_tensor_view v;
  if (nyto_tensor_data(L, 1, NYTO_FLOAT64, &v) != LUA_OK) return lua_error(L);
  double s = 0;
  for (int64_t i = 0; i < v.numel; i++) s += ((double *)v.data)[i];
  lua_pushnumber(L, s);
  return 1;
}

static void test_push(lua_State *L) {
  float obs[3][4];
  double sum = 0;
  for (int i = 0; i < 3; i++)
    for (int j = 0; j < 4; j++) obs[i][j] = (float)(i * 10 + j) * 0.5f, sum += obs[i][j];
  int64_t sizes[2] = {3, 4};
  int top = lua_gettop(L);
  int st = nyto_push_tensor(L, obs, NYTO_FLOAT32, 2, sizes, on_release, (void *)0);
  check(st == LUA_OK && lua_gettop(L) == top + 1, "nyto_push_tensor pushes one Tensor", lua_tostring(L, -1));
  lua_setglobal(L, "obs");
  check(num(L, "return obs:sum():item()") == sum, "the tensor's sum is the host array's sum", NULL);
  check(num(L, "return obs:size(1) * 100 + obs:size(2)") == 304, "its shape is [3, 4]", NULL);
  check(num(L, "return obs:is_contiguous() and obs:dtype() == 'float32' and not obs:requires_grad() and 1 or 0") == 1,
        "it is contiguous float32 and does not require grad", NULL);
  run(L, "return obs:data_ptr()");
  check(lua_touserdata(L, -1) == (void *)obs, "its data pointer is the host's memory (no copy)", NULL);
  lua_pop(L, 1);
  obs[2][3] = 42.0f; /* the host writes: Lua sees it */
  check(num(L, "return obs[3][4]:item()") == 42.0, "a host write is seen by Lua", NULL);
  run(L, "obs:mul_(2); return 0");
  lua_pop(L, 1);
  check(obs[1][2] == (float)(12) * 0.5f * 2.0f && obs[2][3] == 84.0f, "a Lua in-place op writes the host's memory", NULL);
  /* lifetime: a view keeps the memory in use; release runs once, after the last one */
  run(L, "row = obs[2]; obs = nil; return 0");
  lua_pop(L, 1);
  full_gc(L);
  check(released[0] == 0, "a view keeps the host memory in use (no release yet)", NULL);
  check(num(L, "return row[1]:item()") == obs[1][0], "the view still reads the host's memory", NULL);
  run(L, "row = nil; return 0");
  lua_pop(L, 1);
  full_gc(L);
  check(released[0] == 1, "release runs once when the last view is collected", NULL);

  /* the other dtypes, a 0-d tensor and an empty one */
  double d[2] = {1.5, -2.25};
  int64_t l[3] = {7, -8, 1LL << 40};
  unsigned char b[4] = {1, 0, 1, 1};
  int64_t s2 = 2, s3 = 3, s4 = 4, s0 = 0;
  nyto_push_tensor(L, d, NYTO_FLOAT64, 1, &s2, NULL, NULL);
  lua_setglobal(L, "d");
  nyto_push_tensor(L, l, NYTO_INT64, 1, &s3, NULL, NULL);
  lua_setglobal(L, "l");
  nyto_push_tensor(L, b, NYTO_BOOL, 1, &s4, on_release, (void *)1);
  lua_setglobal(L, "b");
  nyto_push_tensor(L, d, NYTO_FLOAT64, 0, NULL, NULL, NULL);
  lua_setglobal(L, "scalar");
  nyto_push_tensor(L, NULL, NYTO_FLOAT32, 1, &s0, NULL, NULL);
  lua_setglobal(L, "empty");
  check(num(L, "return d:sum():item()") == -0.75, "float64 host memory", NULL);
  check(num(L, "return l[3]:item()") == (double)(1LL << 40) && num(L, "return l:sum():item()") == (double)((1LL << 40) - 1),
        "int64 host memory, exact", NULL);
  check(num(L, "return b:sum():item()") == 3 && num(L, "return b:dtype() == 'bool' and 1 or 0") == 1, "bool host memory", NULL);
  check(num(L, "return scalar:dim() * 10 + scalar:item()") == 1.5, "a 0-d tensor", NULL);
  check(num(L, "return empty:numel() + empty:dim()") == 1, "an empty tensor (data may be NULL)", NULL);
  run(L, "b:free(); return 0");
  lua_pop(L, 1);
  check(released[1] == 1, "t:free() on the only handle releases at once", NULL);
}

/* push_tensor's bad input: status, the exact message, one value pushed, release called once */
static void bad_push(lua_State *L, void *data, int dtype, int ndim, const int64_t *sizes, const char *want) {
  released[2] = 0;
  int top = lua_gettop(L);
  int st = nyto_push_tensor(L, data, dtype, ndim, sizes, on_release, (void *)2);
  const char *msg = lua_tostring(L, -1);
  char what[300];
  snprintf(what, sizeof what, "nyto_push_tensor refuses: %s", want);
  check(st == LUA_ERRRUN && lua_gettop(L) == top + 1 && msg && strcmp(msg, want) == 0 && released[2] == 1, what, msg);
  lua_settop(L, top);
}

static void test_push_errors(lua_State *L) {
  float f[4];
  int64_t ok2[2] = {2, 2}, neg[2] = {2, -1}, huge[2] = {1LL << 30, 1LL << 30};
  bad_push(L, f, 7, 2, ok2, "nyto: nyto_push_tensor: dtype must be NYTO_FLOAT32, NYTO_FLOAT64, NYTO_INT64 or NYTO_BOOL, got 7");
  bad_push(L, f, NYTO_FLOAT32, 17, ok2, "nyto: nyto_push_tensor: ndim must be in [0, 16], got 17");
  bad_push(L, f, NYTO_FLOAT32, -1, ok2, "nyto: nyto_push_tensor: ndim must be in [0, 16], got -1");
  bad_push(L, f, NYTO_FLOAT32, 2, NULL, "nyto: nyto_push_tensor: sizes is NULL but ndim is 2");
  bad_push(L, f, NYTO_FLOAT32, 2, neg, "nyto: nyto_push_tensor: size 2 must be non-negative, got -1");
  bad_push(L, f, NYTO_FLOAT32, 2, huge, "nyto: nyto_push_tensor: sizes give more than 2^40 elements");
  bad_push(L, NULL, NYTO_FLOAT32, 2, ok2, "nyto: nyto_push_tensor: data is NULL for 4 elements");
  bad_push(L, (char *)f + 1, NYTO_FLOAT32, 2, ok2, "nyto: nyto_push_tensor: data must be aligned to 4 bytes for float32");
}

/* tensor_data's bad input: status, exact message, one value pushed, view zeroed */
static void bad_data(lua_State *L, const char *code, int idx, int dtype, const char *want) {
  if (code) {
    run(L, code);
  }
  int top = lua_gettop(L);
  nyto_tensor_view v;
  memset(&v, 0xab, sizeof v);
  int st = nyto_tensor_data(L, idx, dtype, &v);
  const char *msg = lua_tostring(L, -1);
  char what[300];
  snprintf(what, sizeof what, "nyto_tensor_data refuses: %s", want);
  check(st == LUA_ERRRUN && lua_gettop(L) == top + 1 && msg && strcmp(msg, want) == 0 && v.data == NULL && v.ndim == 0,
        what, msg);
  lua_settop(L, code ? top - 1 : top);
}

static void test_data(lua_State *L) {
  /* Lua computes, the host reads the result in place */
  double x[6] = {1, -2, 3.5, 4, 0.25, -6};
  int64_t s[2] = {2, 3};
  nyto_push_tensor(L, x, NYTO_FLOAT64, 2, s, NULL, NULL);
  lua_setglobal(L, "x");
  int top = lua_gettop(L);
  run(L, "return x * 2 + 1");
  nyto_tensor_view v;
  int st = nyto_tensor_data(L, -1, NYTO_FLOAT64, &v);
  check(st == LUA_OK && lua_gettop(L) == top + 1, "nyto_tensor_data reads a Lua result and leaves the stack as it was", NULL);
  int good = v.ndim == 2 && v.sizes[0] == 2 && v.sizes[1] == 3 && v.numel == 6 && v.dtype == NYTO_FLOAT64;
  for (int i = 0; i < 6 && good; i++) good = ((double *)v.data)[i] == x[i] * 2 + 1;
  check(good, "its pointer, shape and values are x * 2 + 1 computed in C", NULL);
  lua_pop(L, 1);
  run(L, "return x:argmax(2)");
  st = nyto_tensor_data(L, -1, -1, &v);
  check(st == LUA_OK && v.dtype == NYTO_INT64 && v.numel == 2 && ((int64_t *)v.data)[0] == 3 && ((int64_t *)v.data)[1] == 1,
        "dtype -1 reads any dtype (int64 argmax: nyto's 1-based indices 3, 1)", NULL);
  lua_pop(L, 1);
  run(L, "return x");
  st = nyto_tensor_data(L, -1, NYTO_FLOAT64, &v);
  check(st == LUA_OK && v.data == (void *)x, "a host tensor reads back as the host's own pointer", NULL);
  lua_pop(L, 1);

  /* a C function of the host, called from Lua, reads its argument; its error reaches Lua */
  lua_pushcfunction(L, l_host_sum);
  lua_setglobal(L, "host_sum");
  check(num(L, "return host_sum(x * 3)") == 3 * (1 - 2 + 3.5 + 4 + 0.25 - 6), "a host lua_CFunction sums a tensor in place",
        NULL);
  run(L, "local ok, e = pcall(host_sum, x:float()); return e");
  check(strcmp(lua_tostring(L, -1), "nyto: nyto_tensor_data: the Tensor at index 1 is float32, float64 expected") == 0,
        "its error is a nyto error in Lua", lua_tostring(L, -1));
  lua_pop(L, 1);

  /* writing through the pointer: a deferred particle operation that reads that
   * memory is computed first, so it keeps the values it was made from */
  run(L, "net = nyto.nn.Linear(2, 2); nyto.no_grad(function() net.weight:fill_(1); net.bias:fill_(0) end);"
         " doubled = net * 2; return net.weight");
  st = nyto_tensor_data(L, -1, NYTO_FLOAT32, &v);
  if (st == LUA_OK)
    for (int i = 0; i < 4; i++) ((float *)v.data)[i] = 5.0f;
  lua_pop(L, 1);
  check(st == LUA_OK && num(L, "return doubled.weight:sum():item()") == 8.0 && num(L, "return net.weight:sum():item()") == 20.0,
        "a host write through the pointer leaves a deferred particle with its old values", NULL);

  bad_data(L, "return 5", -1, -1, "nyto: nyto_tensor_data: the value at index -1 is a number, not a Tensor");
  bad_data(L, "return nyto.nn.Linear(1, 1)", -1, -1, "nyto: nyto_tensor_data: the value at index -1 is a nyto.Module, not a Tensor");
  bad_data(L, "return x:t()", -1, NYTO_FLOAT64,
           "nyto: nyto_tensor_data: the Tensor at index -1 (shape [3, 2]) is not contiguous: t:contiguous() is");
  bad_data(L, "return x:long()", -1, NYTO_FLOAT32, "nyto: nyto_tensor_data: the Tensor at index -1 is int64, float32 expected");
  bad_data(L, "local t = nyto.zeros(2); t:free(); return t", -1, -1, "nyto: nyto_tensor_data: the Tensor at index -1 is freed");
  bad_data(L, "return x", -1, 9,
           "nyto: nyto_tensor_data: dtype must be -1 or NYTO_FLOAT32, NYTO_FLOAT64, NYTO_INT64 or NYTO_BOOL, got 9");
  lua_settop(L, 0);
  bad_data(L, NULL, 1, -1, "nyto: nyto_tensor_data: index 1 is not a stack slot (the stack holds 0 values)");
  bad_data(L, NULL, LUA_REGISTRYINDEX, -1, "nyto: nyto_tensor_data: index -1001000 is not a stack slot (the stack holds 0 values)");
  check(nyto_tensor_data(L, 1, -1, NULL) == LUA_ERRRUN, "a NULL view is allowed", NULL);
  lua_settop(L, 0);
}

static const char *starts(const char *s, const char *prefix) { return s && strncmp(s, prefix, strlen(prefix)) == 0 ? s : NULL; }

static void test_pcall(lua_State *L) {
  luaL_loadstring(L, "local a, b = ...; return a + b, a * b");
  lua_pushinteger(L, 3);
  lua_pushinteger(L, 4);
  int st = nyto_pcall(L, 2, 2);
  check(st == LUA_OK && lua_gettop(L) == 2 && lua_tointeger(L, 1) == 7 && lua_tointeger(L, 2) == 12,
        "nyto_pcall returns the function's results", NULL);
  lua_settop(L, 0);
  luaL_loadstring(L, "return 1, 2, 3");
  st = nyto_pcall(L, 0, LUA_MULTRET);
  check(st == LUA_OK && lua_gettop(L) == 3, "LUA_MULTRET keeps every result", NULL);
  lua_settop(L, 0);

  luaL_loadstring(L, "local function inner() return nyto.zeros(2) + 'x' end\nreturn inner()");
  st = nyto_pcall(L, 0, 1);
  const char *msg = lua_tostring(L, -1);
  check(st == LUA_ERRRUN && lua_gettop(L) == 1 && starts(msg, "nyto: bad argument #2 to '__add'") &&
            strstr(msg, "\nstack traceback:\n") && strstr(msg, "inner"),
        "a nyto error keeps its prefix and gains a traceback", msg);
  lua_settop(L, 0);
  luaL_loadstring(L, "error(setmetatable({}, {__tostring = function() return 'custom' end}))");
  st = nyto_pcall(L, 0, 0);
  check(st == LUA_ERRRUN && starts(lua_tostring(L, -1), "custom\nstack traceback:"), "an error object is shown by __tostring",
        lua_tostring(L, -1));
  lua_settop(L, 0);
  luaL_loadstring(L, "error({})");
  st = nyto_pcall(L, 0, 0);
  check(st == LUA_ERRRUN && starts(lua_tostring(L, -1), "(error object is a table value)"), "a table error is described",
        lua_tostring(L, -1));
  lua_settop(L, 0);
  lua_pushinteger(L, 5);
  st = nyto_pcall(L, 0, 0);
  check(st == LUA_ERRRUN && starts(lua_tostring(L, -1), "attempt to call a number value"), "calling a number is an error", NULL);
  lua_settop(L, 0);
  luaL_loadstring(L, "coroutine.yield(1)");
  st = nyto_pcall(L, 0, 0);
  check(st == LUA_ERRRUN && strstr(lua_tostring(L, -1), "outside a coroutine"), "a yield out of it is an error",
        lua_tostring(L, -1));
  lua_settop(L, 0);
  lua_pushinteger(L, 1);
  st = nyto_pcall(L, 1, 0);
  check(st == LUA_ERRRUN && lua_gettop(L) == 2 &&
            strcmp(lua_tostring(L, -1), "nyto: nyto_pcall: a function and 1 argument expected on the stack, which holds 1 value") == 0,
        "too few values on the stack: an error, nothing popped", lua_tostring(L, -1));
  lua_settop(L, 0);
  luaL_loadstring(L, "return 1");
  st = nyto_pcall(L, 0, -5);
  check(st == LUA_ERRRUN && lua_gettop(L) == 2, "a bad nresults is an error", lua_tostring(L, -1));
  lua_settop(L, 0);
  /* the state is still usable after all of them */
  check(num(L, "return nyto.ones(3):sum():item()") == 3, "the state works after every error", NULL);
}

int main(void) {
  lua_State *L = luaL_newstate();
  if (!L) return 2;
  luaL_openlibs(L);
  if (nyto_open(L) != LUA_OK) {
    printf("not ok 1 - nyto_open: %s\n", lua_tostring(L, -1));
    printf("0 passed, 1 failed\n");
    return 1;
  }
  lua_setglobal(L, "nyto");
  test_push(L);
  test_push_errors(L);
  test_data(L);
  test_pcall(L);
  lua_close(L);
  check(nyto_tensor_bytes() == 0, "lua_close releases every tensor (host ones included)", NULL);
  printf("%d passed, %d failed\n", n_ok, n_fail);
  return n_fail ? 1 : 0;
}
