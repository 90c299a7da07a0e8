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

/* ---- Tensors over host memory, and a host's protected calls (issue 17) ----
 *
 * What a game or simulation host needs to run nyto once per frame or
 * generation (examples/cartpole.c does all three):
 *
 *   float obs[N][4];                      // the host's own memory
 *   int64_t sizes[2] = {N, 4};
 *   nyto_push_tensor(L, obs, NYTO_FLOAT32, 2, sizes, NULL, NULL);  // a Tensor viewing obs
 *   ...
 *   lua_getglobal(L, "policy"); lua_pushvalue(L, -2);
 *   if (nyto_pcall(L, 1, 1) != LUA_OK) { puts(lua_tostring(L, -1)); lua_pop(L, 1); }
 *   nyto_tensor_view act;
 *   if (nyto_tensor_data(L, -1, NYTO_INT64, &act) == LUA_OK) use((int64_t *)act.data, act.numel);
 *   lua_pop(L, 1);
 *
 * Each function never raises (not even on memory errors), lets no C++
 * exception out, and returns LUA_OK or an error status with one message
 * that starts with "nyto: " pushed (nyto_pcall: the function's error and
 * its traceback); the one exception is LUA_ERRMEM with nothing pushed when
 * the stack itself cannot grow (lua_checkstack fails).  They must be called from C with L's stack usable (in a
 * lua_CFunction, or between calls), from the thread that uses L. */

/* dtypes: the same codes as nyto's "float32", "float64", "int64", "bool" */
enum nyto_dtype { NYTO_FLOAT32 = 0, NYTO_FLOAT64 = 1, NYTO_INT64 = 2, NYTO_BOOL = 3 };
#define NYTO_MAXDIM 16

/* Push a Tensor whose storage IS the host's memory `data` (no copy): a
 * contiguous CPU tensor of `ndim` (0..16) sizes (each >= 0, at most 2^40
 * elements) and dtype (bool: one byte each, 0 or 1).  Writes through either
 * side are seen by the other at once.  It does not require grad and cannot
 * be resized (nyto raises for an op that would reallocate it).
 *
 * Lifetime: the host keeps `data` alive, and does not move it, while nyto
 * may use it: as long as the Tensor or any view of it (t[1], t:view(...),
 * a table holding it) is reachable, or not yet collected.  `release` (may be
 * NULL) tells the host when: it is called with `ctx` exactly once, when the
 * last tensor on that memory is freed (by the collector, t:free() on every
 * handle, or lua_close), or before nyto_push_tensor returns an error.  A
 * host without a release callback keeps the memory until lua_close.
 * `data` may be NULL only when the tensor has no element.
 * Returns LUA_OK with the Tensor pushed, or an error status with the
 * message pushed (bad dtype, ndim, size or data; out of memory). */
int nyto_push_tensor(struct lua_State *L, void *data, int dtype, int ndim, const int64_t *sizes,
                     void (*release)(void *ctx), void *ctx);

/* What nyto_tensor_data reads: `data` is the first element of a contiguous
 * row-major array of `numel` elements of `dtype` (bool: unsigned char 0/1),
 * `sizes[0..ndim-1]` its shape. */
typedef struct nyto_tensor_view {
  void *data;
  int dtype;
  int ndim;
  int64_t sizes[NYTO_MAXDIM];
  int64_t numel;
} nyto_tensor_view;

/* Read the Tensor at stack index idx without copying it.  `dtype` is the
 * dtype the host expects (NYTO_FLOAT32 ...), or -1 for any (then read
 * view->dtype).  The tensor must be contiguous (t:contiguous() makes a
 * copy that is) and of that dtype; its pending deferred particle
 * operations are computed first, so the host may also write through the
 * pointer (a write is seen by every view of that storage; it records no
 * autograd history).  The pointer is valid while that tensor is alive and
 * is not written by a resizing op; keep it on the stack (or referenced)
 * while you use it.  Returns LUA_OK with *view filled and the stack
 * unchanged, or an error status with the message pushed (not a Tensor, a
 * freed Tensor, not contiguous, another dtype, an invalid stack index) and
 * *view zeroed. */
int nyto_tensor_data(struct lua_State *L, int idx, int dtype, nyto_tensor_view *view);

/* lua_pcall(L, nargs, nresults, <traceback handler>): calls the function
 * below the nargs arguments on the stack under the guarantees of nyto_open:
 * it never raises, and returns LUA_OK with the nresults results pushed (the
 * function and arguments popped), or an error status with one message
 * pushed: the error (a nyto error keeps its "nyto: " prefix at the start;
 * a non-string error is described) followed by "\nstack traceback:\n...".
 * Too few values on the stack: LUA_ERRRUN with a message pushed and nothing
 * popped.  A yield out of the function is an error, as in lua_pcall. */
int nyto_pcall(struct lua_State *L, int nargs, int nresults);

#ifdef __cplusplus
}
#endif
#endif
