/* embed.c -- include/nyto.h's host API: tensors over host memory
 * (nyto_push_tensor), a tensor's data without a copy (nyto_tensor_data) and
 * a protected call with a traceback (nyto_pcall).  Included by binding.c,
 * after tensor.c and particle.c.  Each entry does its work in a C function
 * run by lua_pcall, so that a nyto error, a memory error or a collection's
 * finaliser becomes a status and a message: the host's C frames are never
 * jumped over. */
#include "nt_blob.h"

_Static_assert((int)NYTO_FLOAT32 == (int)NT_FLOAT32 && (int)NYTO_FLOAT64 == (int)NT_FLOAT64 &&
                   (int)NYTO_INT64 == (int)NT_INT64 && (int)NYTO_BOOL == (int)NT_BOOL && NYTO_MAXDIM == NT_MAXDIM,
               "nyto.h's dtype codes are nt.h's");

static const int embed_elem_size[] = {4, 8, 8, 1};

typedef struct {
  void *data;
  int dtype, ndim;
  const int64_t *sizes;
  void (*release)(void *);
  void *ctx;
  int handed; /* nt_from_blob owns release from the moment it is called */
} embed_push_args;

static int embed_push_k(lua_State *L) {
  embed_push_args *a = lua_touserdata(L, 1);
  if (a->dtype < 0 || a->dtype >= NT_NDTYPES)
    return nyto_error(L, "nyto: nyto_push_tensor: dtype must be NYTO_FLOAT32, NYTO_FLOAT64, NYTO_INT64 or NYTO_BOOL, got %d",
                      a->dtype);
  if (a->ndim < 0 || a->ndim > NT_MAXDIM)
    return nyto_error(L, "nyto: nyto_push_tensor: ndim must be in [0, %d], got %d", NT_MAXDIM, a->ndim);
  if (a->ndim > 0 && !a->sizes) return nyto_error(L, "nyto: nyto_push_tensor: sizes is NULL but ndim is %d", a->ndim);
  int64_t numel = 1;
  for (int d = 0; d < a->ndim; d++) {
    int64_t s = a->sizes[d];
    if (s < 0) return nyto_error(L, "nyto: nyto_push_tensor: size %d must be non-negative, got %I", d + 1, (lua_Integer)s);
    if (s > 0 && numel > NYTO_MAX_NUMEL / s)
      return nyto_error(L, "nyto: nyto_push_tensor: sizes give more than 2^40 elements");
    numel *= s;
  }
  if (numel > 0 && !a->data) return nyto_error(L, "nyto: nyto_push_tensor: data is NULL for %I elements", (lua_Integer)numel);
  int es = embed_elem_size[a->dtype];
  if ((uintptr_t)a->data % (uintptr_t)es != 0)
    return nyto_error(L, "nyto: nyto_push_tensor: data must be aligned to %d bytes for %s", es, dtype_names[a->dtype]);
  LTensor *u = tensor_newud(L); /* before the resource it will own */
  nt_tensor *t;
  a->handed = 1;
  if (nt_from_blob(a->data, a->sizes, a->ndim, a->dtype, a->release, a->ctx, &t) != 0)
    return nyto_error(L, "nyto: nyto_push_tensor: %s", nt_error());
  tensor_own(L, u, t);
  return 1;
}

int nyto_push_tensor(lua_State *L, void *data, int dtype, int ndim, const int64_t *sizes, void (*release)(void *ctx),
                     void *ctx) {
  embed_push_args a = {data, dtype, ndim, sizes, release, ctx, 0};
  if (!lua_checkstack(L, 3)) {
    if (release) release(ctx);
    return LUA_ERRMEM;
  }
  lua_pushcfunction(L, embed_push_k);
  lua_pushlightuserdata(L, &a);
  int st = lua_pcall(L, 1, 1, 0);
  if (st != LUA_OK && !a.handed && release) release(ctx);
  return st;
}

typedef struct {
  int idx, dtype;
  nyto_tensor_view *view;
} embed_data_args;

static int embed_data_k(lua_State *L) {
  embed_data_args *a = lua_touserdata(L, 2);
  LTensor *u = tensor_ud(L, 1);
  if (!u) {
    const char *tn = luaL_typename(L, 1);
    if (luaL_getmetafield(L, 1, "__name") == LUA_TSTRING) tn = lua_tostring(L, -1);
    return nyto_error(L, "nyto: nyto_tensor_data: the value at index %d is a %s, not a Tensor", a->idx, tn);
  }
  if (!u->t) return nyto_error(L, "nyto: nyto_tensor_data: the Tensor at index %d is freed", a->idx);
  if (a->dtype < -1 || a->dtype >= NT_NDTYPES)
    return nyto_error(L, "nyto: nyto_tensor_data: dtype must be -1 or NYTO_FLOAT32, NYTO_FLOAT64, NYTO_INT64 or NYTO_BOOL, got %d",
                      a->dtype);
  nt_tensor *t = u->t;
  int dt = nt_dtype(t);
  if (a->dtype >= 0 && dt != a->dtype)
    return nyto_error(L, "nyto: nyto_tensor_data: the Tensor at index %d is %s, %s expected", a->idx, dtype_names[dt],
                      dtype_names[a->dtype]);
  if (!nt_is_contiguous(t))
    return nyto_error(L, "nyto: nyto_tensor_data: the Tensor at index %d (shape %s) is not contiguous: t:contiguous() is",
                      a->idx, push_shape(L, t));
  void *data = nt_data(t);
  if (!data && nt_numel(t) > 0) return nyto_error(L, "nyto: nyto_tensor_data: the Tensor at index %d has no CPU data", a->idx);
  lazy_before_write(L, t); /* a deferred particle that reads this storage is computed first */
  nyto_tensor_view *v = a->view;
  v->data = data;
  v->dtype = dt;
  v->ndim = nt_dim(t);
  for (int d = 0; d < v->ndim; d++) v->sizes[d] = nt_size(t, d);
  v->numel = nt_numel(t);
  return 0;
}

int nyto_tensor_data(lua_State *L, int idx, int dtype, nyto_tensor_view *view) {
  nyto_tensor_view dummy;
  if (!view) view = &dummy;
  memset(view, 0, sizeof *view);
  if (!lua_checkstack(L, 4)) return LUA_ERRMEM;
  int top = lua_gettop(L);
  int abs = idx < 0 && idx > LUA_REGISTRYINDEX ? top + idx + 1 : idx;
  if (abs < 1 || abs > top) {
    lua_pushfstring(L, "nyto: nyto_tensor_data: index %d is not a stack slot (the stack holds %d values)", idx, top);
    return LUA_ERRRUN;
  }
  embed_data_args a = {idx, dtype, view};
  lua_pushcfunction(L, embed_data_k);
  lua_pushvalue(L, abs);
  lua_pushlightuserdata(L, &a);
  int st = lua_pcall(L, 2, 0, 0);
  if (st != LUA_OK) memset(view, 0, sizeof *view);
  return st;
}

/* the message handler of nyto_pcall (lua.c's): the error, then a traceback */
static int embed_msgh(lua_State *L) {
  const char *msg = lua_tostring(L, 1);
  if (!msg) {
    if (luaL_callmeta(L, 1, "__tostring") && lua_type(L, -1) == LUA_TSTRING) msg = lua_tostring(L, -1);
    else msg = lua_pushfstring(L, "(error object is a %s value)", luaL_typename(L, 1));
  }
  luaL_traceback(L, L, msg, 1);
  return 1;
}

int nyto_pcall(lua_State *L, int nargs, int nresults) {
  if (!lua_checkstack(L, 2)) return LUA_ERRMEM;
  int top = lua_gettop(L);
  if (nargs < 0 || top < nargs + 1) {
    lua_pushfstring(L, "nyto: nyto_pcall: a function and %d argument%s expected on the stack, which holds %d value%s", nargs,
                    nargs == 1 ? "" : "s", top, top == 1 ? "" : "s");
    return LUA_ERRRUN;
  }
  if (nresults < LUA_MULTRET) {
    lua_pushfstring(L, "nyto: nyto_pcall: nresults must be >= 0 or LUA_MULTRET, got %d", nresults);
    return LUA_ERRRUN;
  }
  int base = top - nargs; /* the function's slot */
  lua_pushcfunction(L, embed_msgh);
  lua_insert(L, base);
  int st = lua_pcall(L, nargs, nresults, base);
  lua_remove(L, base);
  return st;
}
