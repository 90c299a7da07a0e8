/* embed.c -- nyto inside a host program's own Lua state (what a game or a
 * simulation engine does).  Built as build/embed_example; spec/cli_spec.lua
 * runs it.
 *
 *   build/embed_example 'return (0.5 * nyto.nn.Linear(2, 2) + 1):kernel() ~= nil'
 */
#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>
#include <stdio.h>

#include "nyto.h"

int main(int argc, char **argv) {
  lua_State *L = luaL_newstate();
  if (!L) return 2;
  luaL_openlibs(L);
  if (nyto_open(L) != LUA_OK) { /* never raises: the error is on the stack */
    fprintf(stderr, "embed: %s\n", lua_tostring(L, -1));
    lua_close(L);
    return 1;
  }
  lua_setglobal(L, "nyto");
  int status = 0;
  for (int i = 1; i < argc; i++) {
    /* each argument is a chunk; its first result is printed */
    if (luaL_loadstring(L, argv[i]) != LUA_OK || lua_pcall(L, 0, 1, 0) != LUA_OK) {
      printf("error: %s\n", lua_tostring(L, -1));
      status = 1;
    } else {
      printf("ok: %s\n", luaL_tolstring(L, -1, NULL));
      lua_pop(L, 1);
    }
    lua_pop(L, 1);
  }
  printf("tensor bytes at exit: %lld\n", (long long)nyto_tensor_bytes());
  lua_close(L); /* finalizers release every tensor and particle */
  printf("after lua_close: %lld\n", (long long)nyto_tensor_bytes());
  return status;
}
