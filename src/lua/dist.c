/* dist.c -- core.dist_*: the binding of nyto.distributed (lua/nyto/distributed.lua)
 * over nt_dist.h.  Included by binding.c.  Every error is raised here, after the
 * C++ call has returned (no Lua error over C++ frames). */
#include "nt_dist.h"

static int dist_fail(lua_State *L, const char *fname) {
  return nyto_error(L, "nyto: %s: %s", fname, nt_error());
}

/* core.dist_init(rank, world, addr, port, timeout_s) */
static int l_dist_init(lua_State *L) {
  int rank = (int)luaL_checkinteger(L, 1), world = (int)luaL_checkinteger(L, 2);
  const char *addr = luaL_checkstring(L, 3);
  int port = (int)luaL_checkinteger(L, 4);
  double timeout = luaL_checknumber(L, 5);
  if (nt_dist_init(rank, world, addr, port, timeout) != 0) return dist_fail(L, "init");
  return 0;
}

static int l_dist_destroy(lua_State *L) {
  if (nt_dist_destroy() != 0) return dist_fail(L, "destroy");
  return 0;
}

static int l_dist_initialized(lua_State *L) {
  lua_pushboolean(L, nt_dist_initialized());
  return 1;
}

static int l_dist_rank(lua_State *L) {
  lua_pushinteger(L, nt_dist_rank());
  return 1;
}

static int l_dist_world_size(lua_State *L) {
  lua_pushinteger(L, nt_dist_world_size());
  return 1;
}

static int l_dist_barrier(lua_State *L) {
  if (nt_dist_barrier() != 0) return dist_fail(L, "barrier");
  return 0;
}

/* core.dist_all_reduce(t, op, check) */
static int l_dist_all_reduce(lua_State *L) {
  nt_tensor *t = tensor_check(L, 1, "all_reduce");
  lazy_before_write(L, t); /* a deferred particle may read this memory */
  if (nt_dist_all_reduce(t, (int)luaL_checkinteger(L, 2), lua_toboolean(L, 3)) != 0)
    return dist_fail(L, "all_reduce");
  return 0;
}

/* core.dist_broadcast(t, src, check) */
static int l_dist_broadcast(lua_State *L) {
  nt_tensor *t = tensor_check(L, 1, "broadcast");
  lazy_before_write(L, t); /* a deferred particle may read this memory */
  if (nt_dist_broadcast(t, (int)luaL_checkinteger(L, 2), lua_toboolean(L, 3)) != 0)
    return dist_fail(L, "broadcast");
  return 0;
}

/* core.dist_send(t, dst, check), core.dist_recv(t, src, check) */
static int l_dist_send(lua_State *L) {
  nt_tensor *t = tensor_check(L, 1, "send");
  if (nt_dist_send(t, (int)luaL_checkinteger(L, 2), lua_toboolean(L, 3)) != 0) return dist_fail(L, "send");
  return 0;
}

static int l_dist_recv(lua_State *L) {
  nt_tensor *t = tensor_check(L, 1, "recv");
  lazy_before_write(L, t); /* a deferred particle may read this memory */
  if (nt_dist_recv(t, (int)luaL_checkinteger(L, 2), lua_toboolean(L, 3)) != 0) return dist_fail(L, "recv");
  return 0;
}

/* core.dist_all_gather(t, check) -> {t_rank0, t_rank1, ...} */
static int l_dist_all_gather(lua_State *L) {
  nt_tensor *t = tensor_check(L, 1, "all_gather");
  int check = lua_toboolean(L, 2);
  int n = nt_dist_world_size();
  if (n < 1) n = 1;
  /* the userdata first (a Lua allocation failure cannot leak C++ handles) */
  LTensor **us = lua_newuserdatauv(L, sizeof *us * (size_t)n, 0);
  int box = lua_gettop(L);
  lua_createtable(L, n, 0);
  for (int r = 0; r < n; r++) {
    us[r] = tensor_newud(L);
    lua_rawseti(L, -2, r + 1);
  }
  nt_tensor **out = lua_newuserdatauv(L, sizeof *out * (size_t)n, 0);
  if (nt_dist_all_gather(t, out, check) != 0) return dist_fail(L, "all_gather");
  lua_pop(L, 1);
  for (int r = 0; r < n; r++) {
    lua_rawgeti(L, -1, r + 1);
    tensor_own(L, us[r], out[r]);
    lua_pop(L, 1);
  }
  lua_remove(L, box);
  return 1;
}

static void dist_open(lua_State *L) {
  static const luaL_Reg funcs[] = {{"dist_init", l_dist_init}, {"dist_destroy", l_dist_destroy},
                                   {"dist_initialized", l_dist_initialized}, {"dist_rank", l_dist_rank},
                                   {"dist_world_size", l_dist_world_size}, {"dist_barrier", l_dist_barrier},
                                   {"dist_all_reduce", l_dist_all_reduce}, {"dist_broadcast", l_dist_broadcast},
                                   {"dist_all_gather", l_dist_all_gather}, {"dist_send", l_dist_send},
                                   {"dist_recv", l_dist_recv}, {NULL, NULL}};
  luaL_setfuncs(L, funcs, 0);
}
