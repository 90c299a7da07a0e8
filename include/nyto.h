/* nyto.h -- embedding nyto in a host program's Lua 5.4 state.
 *
 *   lua_State *L = luaL_newstate();
 *   luaL_openlibs(L);
 *   if (nyto_open(L) != LUA_OK) { fprintf(stderr, "%s\n", lua_tostring(L, -1)); }
 *   lua_setglobal(L, "nyto");          // nyto_open leaves the nyto table (or an error) on the stack
 *
 * After nyto_open, `require "nyto"` in the state returns the same table.
 *
 * Threads: nyto keeps process-wide state (the particle-buffer pool, the
 * collector's byte counts, the list of deferred particle operations), so
 * several lua_States may use it, but from one thread at a time.  Host C code
 * that writes a parameter's memory directly, not through nyto, must first
 * read any parameter of a particle made by an operation with a number (which
 * computes it: docs/design.md, "Deferred particle operations"). */
#ifndef NYTO_H
#define NYTO_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

struct lua_State;

/* Loads nyto into L (like require "nyto"): registers the C core as the
 * preloaded module "nyto.core", makes nyto's Lua files findable, runs
 * require "nyto" and pushes its table.  Returns LUA_OK, or an error status
 * with the message pushed instead.  Never raises. */
int nyto_open(struct lua_State *L);

/* The C core as a Lua module (what require "nyto.core" calls). */
int luaopen_nyto_core(struct lua_State *L);

/* "0.1.0" */
const char *nyto_version(void);

/* Bytes of tensor storage currently reachable from nyto handles, and the peak. */
int64_t nyto_tensor_bytes(void);
int64_t nyto_peak_tensor_bytes(void);

#ifdef __cplusplus
}
#endif
#endif
