/* tensor.c -- nyto.Tensor: the userdata, its metamethods, and one generic
 * function per row of ops.def.  Included by binding.c. */

#define TENSOR_MT "nyto.Tensor"

typedef struct LTensor {
  nt_tensor *t; /* NULL: empty (being built) or freed */
  int freed;
  int is_param; /* made by nyto.Parameter */
} LTensor;

/* The metatable is also kept in the registry under this address: a lookup by
 * pointer is cheaper than by name (luaL_testudata), and every op pays it. */
static const char tensor_mt_key = 0;

/* Create an empty tensor userdata with its metatable (safe to fail after). */
static LTensor *tensor_newud(lua_State *L) {
  LTensor *u = lua_newuserdatauv(L, sizeof *u, 0);
  u->t = NULL;
  u->freed = 0;
  u->is_param = 0;
  lua_rawgetp(L, LUA_REGISTRYINDEX, &tensor_mt_key);
  lua_setmetatable(L, -2);
  return u;
}

/* Give an already-created empty userdata its handle. */
static void tensor_own(lua_State *L, LTensor *u, nt_tensor *t) {
  u->t = t;
  nyto_gc_pace(L, nyto_track(t) + NYTO_HANDLE_BYTES);
}

/* The Tensor at stack index i, or NULL (a freed Tensor has a NULL handle). */
static LTensor *tensor_ud(lua_State *L, int i) {
  if (lua_type(L, i) != LUA_TUSERDATA || !lua_getmetatable(L, i)) return NULL;
  lua_rawgetp(L, LUA_REGISTRYINDEX, &tensor_mt_key);
  int ok = lua_rawequal(L, -1, -2);
  lua_pop(L, 2);
  return ok ? (LTensor *)lua_touserdata(L, i) : NULL;
}

static nt_tensor *tensor_check(lua_State *L, int i, const char *fname) {
  LTensor *u = tensor_ud(L, i);
  if (!u) {
    const char *tn = lua_typename(L, lua_type(L, i));
    if (lua_type(L, i) == LUA_TTABLE || lua_type(L, i) == LUA_TUSERDATA) {
      if (luaL_getmetafield(L, i, "__name") == LUA_TSTRING) tn = lua_tostring(L, -1);
    }
    nyto_argerror(L, i, fname, lua_pushfstring(L, "Tensor expected, got %s", tn));
  }
  if (!u->t) nyto_error(L, "nyto: attempt to use a freed Tensor");
  return u->t;
}

static void tensor_release(LTensor *u) {
  if (u->t) {
    nyto_untrack(u->t);
    nt_free(u->t);
    u->t = NULL;
  }
}

static int t_gc(lua_State *L) {
  LTensor *u = tensor_ud(L, 1);
  if (!u) return nyto_argerror(L, 1, "__gc", lua_pushfstring(L, "Tensor expected, got %s", luaL_typename(L, 1)));
  tensor_release(u);
  return 0;
}

static void check_max_args(lua_State *L, int max, const char *fname);

static int t_free(lua_State *L) {
  LTensor *u = tensor_ud(L, 1);
  if (!u) return nyto_argerror(L, 1, "free", lua_pushfstring(L, "Tensor expected, got %s", luaL_typename(L, 1)));
  check_max_args(L, 1, "free");
  tensor_release(u);
  u->freed = 1;
  return 0;
}

/* Raise the pending nt error as a nyto error of argument #arg of fname. */
static int tensor_fail_arg(lua_State *L, int arg, const char *fname) {
  return nyto_argerror(L, arg, fname, lua_pushstring(L, nt_error()));
}
static int tensor_fail(lua_State *L, const char *fname) { return tensor_fail_arg(L, 1, fname); }

/* Raise unless arguments max+1.. are all absent or nil (wrong arity). */
static void check_max_args(lua_State *L, int max, const char *fname) {
  int top = lua_gettop(L);
  for (int i = top; i > max; i--)
    if (!lua_isnil(L, i))
      nyto_argerror(L, i, fname, lua_pushfstring(L, "no value expected: at most %d argument%s, got %d", max,
                                                 max == 1 ? "" : "s", top));
}

/* Push a shape as "[2, 3]". */
static const char *push_shape(lua_State *L, const nt_tensor *t) {
  luaL_Buffer b;
  luaL_buffinit(L, &b);
  luaL_addchar(&b, '[');
  int nd = nt_dim(t);
  for (int d = 0; d < nd; d++) {
    if (d) luaL_addstring(&b, ", ");
    lua_pushfstring(L, "%I", (lua_Integer)nt_size(t, d));
    luaL_addvalue(&b);
  }
  luaL_addchar(&b, ']');
  luaL_pushresult(&b);
  return lua_tostring(L, -1);
}

/* ---- sizes ---- */

/* The most elements one tensor may have (2^40): a size past it is a bug in
 * the caller, and failing early keeps a huge allocation from being tried. */
#define NYTO_MAX_NUMEL ((int64_t)1 << 40)

/* Read sizes from args first..last (integers) or one table at first.
 * neg1: 0 no -1 allowed, 1 one -1 (view, reshape: inferred), 2 any -1 (expand: kept). */
static int read_sizes_x(lua_State *L, int first, int last, int64_t *sizes, const char *fname, int neg1) {
  int n = 0;
  int64_t total = 1;
  if (lua_type(L, first) == LUA_TTABLE) {
    int len = (int)luaL_len(L, first);
    if (len > NT_MAXDIM) return nyto_argerror(L, first, fname, "too many dimensions");
    for (int i = 1; i <= len; i++) {
      lua_geti(L, first, i);
      int isint;
      lua_Integer v = lua_tointegerx(L, -1, &isint);
      if (!isint || lua_type(L, -1) != LUA_TNUMBER)
        return nyto_argerror(L, first, fname, lua_pushfstring(L, "size %d must be an integer, got %s", i, luaL_typename(L, -1)));
      lua_pop(L, 1);
      sizes[n++] = (int64_t)v;
    }
  } else {
    for (int i = first; i <= last; i++) {
      if (n >= NT_MAXDIM) return nyto_argerror(L, i, fname, "too many dimensions");
      int isint;
      lua_Integer v = lua_tointegerx(L, i, &isint);
      if (!isint || lua_type(L, i) != LUA_TNUMBER)
        return nyto_argerror(L, i, fname, lua_type(L, i) == LUA_TNUMBER
                                              ? lua_pushfstring(L, "integer size expected, got %f", lua_tonumber(L, i))
                                              : lua_pushfstring(L, "integer size expected, got %s", luaL_typename(L, i)));
      sizes[n++] = (int64_t)v;
    }
  }
  int nneg1 = 0;
  for (int i = 0; i < n; i++) {
    int argi = lua_type(L, first) == LUA_TTABLE ? first : first + i;
    if (sizes[i] == -1 && neg1 && (neg1 == 2 || nneg1++ == 0)) continue;
    if (sizes[i] == -1 && neg1 == 1)
      return nyto_argerror(L, argi, fname, "only one size can be -1");
    if (sizes[i] < 0)
      return nyto_argerror(L, argi, fname, lua_pushfstring(L, "size must be non-negative, got %I", (lua_Integer)sizes[i]));
    if (sizes[i] > 0 && total > NYTO_MAX_NUMEL / sizes[i])
      return nyto_argerror(L, argi, fname, lua_pushfstring(L, "size too large: more than 2^40 elements"));
    total *= sizes[i];
  }
  return n;
}
static int read_sizes(lua_State *L, int first, int last, int64_t *sizes, const char *fname) {
  return read_sizes_x(L, first, last, sizes, fname, 0);
}

static const char *const dtype_names[] = {"float32", "float64", "int64", "bool", NULL};

static int check_dtype_at(lua_State *L, int idx, const char *fname, int argn);
static int check_dtype(lua_State *L, int idx, const char *fname) { return check_dtype_at(L, idx, fname, idx); }

/* The dtype at stack index idx, given as (part of) argument #argn of fname. */
static int check_dtype_at(lua_State *L, int idx, const char *fname, int argn) {
  if (lua_isnoneornil(L, idx)) return NT_FLOAT32;
  if (lua_type(L, idx) == LUA_TSTRING) {
    const char *s = lua_tostring(L, idx);
    for (int i = 0; dtype_names[i]; i++)
      if (strcmp(s, dtype_names[i]) == 0) return i;
    if (strcmp(s, "float") == 0) return NT_FLOAT32;
    if (strcmp(s, "double") == 0) return NT_FLOAT64;
    if (strcmp(s, "long") == 0) return NT_INT64;
  }
  return nyto_error(L, "nyto: bad argument #%d to '%s' (dtype must be \"float32\", \"float64\", \"int64\" or \"bool\", got %s)", argn,
                    fname, lua_type(L, idx) == LUA_TSTRING ? lua_pushfstring(L, "\"%s\"", lua_tostring(L, idx)) : luaL_typename(L, idx));
}

/* Options table {dtype=, requires_grad=} at idx (if it is a table with those keys). */
static int is_options(lua_State *L, int idx) {
  if (lua_type(L, idx) != LUA_TTABLE) return 0;
  if (lua_rawlen(L, idx) > 0) return 0;
  return 1;
}

static void read_options(lua_State *L, int idx, const char *fname, int *dtype, int *rg) {
  *dtype = NT_FLOAT32;
  *rg = 0;
  if (idx == 0) return;
  lua_getfield(L, idx, "dtype");
  *dtype = check_dtype_at(L, -1, fname, idx);
  lua_pop(L, 1);
  lua_getfield(L, idx, "requires_grad");
  *rg = lua_toboolean(L, -1);
  lua_pop(L, 1);
}

/* zeros/ones/empty/randn/rand(sizes... [, opts]); full(sizes, v [, opts]) */
static int tensor_create(lua_State *L, int kind, const char *fname) {
  int top = lua_gettop(L);
  int opts = 0;
  double v = 0;
  if (top >= 1 && is_options(L, top) && !(top == 1 && kind != NT_FULL)) opts = top--;
  else if (top == 1 && is_options(L, 1) && lua_rawlen(L, 1) == 0) {
    /* zeros({}) is a 0-d tensor; zeros{dtype=...} alone is also that */
    lua_getfield(L, 1, "dtype");
    int has = !lua_isnil(L, -1);
    lua_pop(L, 1);
    if (has) opts = top--;
  }
  if (kind == NT_FULL) {
    if (top < 2) return nyto_argerror(L, top + 1, fname, "fill value expected");
    if (lua_type(L, top) != LUA_TNUMBER && lua_type(L, top) != LUA_TBOOLEAN)
      return nyto_argerror(L, top, fname, lua_pushfstring(L, "number expected, got %s", luaL_typename(L, top)));
    v = lua_type(L, top) == LUA_TBOOLEAN ? lua_toboolean(L, top) : lua_tonumber(L, top);
    top--;
  }
  int64_t sizes[NT_MAXDIM];
  int nd = top >= 1 ? read_sizes(L, 1, top, sizes, fname) : 0;
  int dtype, rg;
  read_options(L, opts, fname, &dtype, &rg);
  if ((kind == NT_RANDN || kind == NT_RAND) && (dtype == NT_INT64 || dtype == NT_BOOL))
    return nyto_argerror(L, opts, fname, lua_pushfstring(L, "%s needs a floating dtype, got %s", fname, dtype_names[dtype]));
  if (rg && (dtype == NT_INT64 || dtype == NT_BOOL))
    return nyto_argerror(L, opts, fname, lua_pushfstring(L, "only floating tensors can require grad, got %s", dtype_names[dtype]));
  /* {generator = g}: nyto's counter-based generator (random.c) */
  LGen *gen = (kind == NT_RANDN || kind == NT_RAND) && opts ? gen_from_opts(L, opts, fname) : NULL;
  if (gen == &gen_global) gen = NULL;
  LTensor *u = tensor_newud(L);
  nt_tensor *t;
  if (nt_new(gen ? NT_EMPTY : kind, sizes, nd, dtype, v, &t) != 0) return tensor_fail(L, fname);
  tensor_own(L, u, t);
  if (gen) gen_fill_tensor(gen, t, kind == NT_RANDN ? 0 : 1);
  if (rg) nt_set_requires_grad(t, 1);
  return 1;
}

static int l_zeros(lua_State *L) { return tensor_create(L, NT_ZEROS, "zeros"); }
static int l_ones(lua_State *L) { return tensor_create(L, NT_ONES, "ones"); }
static int l_empty(lua_State *L) { return tensor_create(L, NT_EMPTY, "empty"); }
static int l_full(lua_State *L) { return tensor_create(L, NT_FULL, "full"); }
static int l_randn(lua_State *L) { return tensor_create(L, NT_RANDN, "randn"); }
static int l_rand(lua_State *L) { return tensor_create(L, NT_RAND, "rand"); }

static int tensor_like(lua_State *L, int kind, const char *fname) {
  nt_tensor *s = tensor_check(L, 1, fname);
  double v = 0;
  check_max_args(L, kind == NT_FULL ? 2 : 1, fname);
  if (kind == NT_FULL) {
    if (lua_type(L, 2) != LUA_TNUMBER && lua_type(L, 2) != LUA_TBOOLEAN)
      return nyto_argerror(L, 2, fname, lua_pushfstring(L, "number expected, got %s", luaL_typename(L, 2)));
    v = lua_type(L, 2) == LUA_TBOOLEAN ? lua_toboolean(L, 2) : lua_tonumber(L, 2);
  }
  if ((kind == NT_RANDN || kind == NT_RAND) && (nt_dtype(s) == NT_INT64 || nt_dtype(s) == NT_BOOL))
    return nyto_argerror(L, 1, fname, lua_pushfstring(L, "%s needs a floating tensor, got %s", fname, dtype_names[nt_dtype(s)]));
  LTensor *u = tensor_newud(L);
  nt_tensor *t;
  if (nt_like(kind, s, v, &t) != 0) return tensor_fail(L, fname);
  tensor_own(L, u, t);
  return 1;
}
static int l_zeros_like(lua_State *L) { return tensor_like(L, NT_ZEROS, "zeros_like"); }
static int l_ones_like(lua_State *L) { return tensor_like(L, NT_ONES, "ones_like"); }
static int l_full_like(lua_State *L) { return tensor_like(L, NT_FULL, "full_like"); }
static int l_randn_like(lua_State *L) { return tensor_like(L, NT_RANDN, "randn_like"); }
static int l_rand_like(lua_State *L) { return tensor_like(L, NT_RAND, "rand_like"); }
static int l_empty_like(lua_State *L) { return tensor_like(L, NT_EMPTY, "empty_like"); }

/* nyto.tensor(number | nested table [, opts]) */
typedef struct {
  double *p; /* the element buffer (int64 values when the target is int64) */
} dbox;
static int dbox_gc(lua_State *L) {
  dbox *b = lua_touserdata(L, 1);
  free(b->p);
  b->p = NULL;
  return 0;
}

typedef struct {
  int64_t sizes[NT_MAXDIM];
  int nd;
  dbox *box; /* owns the buffer, so a raise during the walk frees it */
  int64_t n, cap;
  int ints; /* collect exact int64 values (the target dtype is int64) */
  int all_bool, any_bool;
} tdata;

static void td_push(lua_State *L, tdata *d, double v, int64_t iv) {
  if (d->n == d->cap) {
    int64_t ncap = d->cap ? d->cap * 2 : 64;
    double *nb = realloc(d->box->p, (size_t)ncap * sizeof(double));
    if (!nb) nyto_error(L, "nyto: out of memory");
    d->box->p = nb;
    d->cap = ncap;
  }
  if (d->ints) ((int64_t *)d->box->p)[d->n++] = iv;
  else d->box->p[d->n++] = v;
}

static void td_walk(lua_State *L, int idx, int depth, tdata *d) {
  int t = lua_type(L, idx);
  if (t == LUA_TNUMBER || t == LUA_TBOOLEAN) {
    if (depth != d->nd) nyto_error(L, "nyto: bad argument #1 to 'tensor' (ragged nested table: a number at depth %d, expected depth %d)", depth + 1, d->nd + 1);
    if (t == LUA_TBOOLEAN) {
      d->any_bool = 1;
      td_push(L, d, lua_toboolean(L, idx), lua_toboolean(L, idx));
      return;
    }
    d->all_bool = 0;
    int64_t iv = 0;
    if (d->ints) {
      if (lua_isinteger(L, idx)) iv = (int64_t)lua_tointeger(L, idx);
      else {
        double x = lua_tonumber(L, idx);
        /* int64 truncates toward zero, as torch.tensor(1.5, dtype=int64) does */
        if (!(x > -9223372036854775808.0 && x < 9223372036854775808.0))
          nyto_error(L, "nyto: bad argument #1 to 'tensor' (%f is out of the range of int64)", x);
        iv = (int64_t)x;
      }
    }
    td_push(L, d, lua_tonumber(L, idx), iv);
    return;
  }
  if (t != LUA_TTABLE)
    nyto_error(L, "nyto: bad argument #1 to 'tensor' (numbers or booleans expected, got %s)", luaL_typename(L, idx));
  lua_Integer len = (lua_Integer)lua_rawlen(L, idx);
  if (depth >= d->nd) nyto_error(L, "nyto: bad argument #1 to 'tensor' (ragged nested table: a table at depth %d)", depth + 1);
  if (len != d->sizes[depth])
    nyto_error(L, "nyto: bad argument #1 to 'tensor' (ragged nested table: length %I at depth %d, expected %I)", len, depth + 1,
               (lua_Integer)d->sizes[depth]);
  luaL_checkstack(L, 4, "nested too deep");
  for (lua_Integer i = 1; i <= len; i++) {
    lua_rawgeti(L, idx, i);
    td_walk(L, lua_gettop(L), depth + 1, d);
    lua_pop(L, 1);
  }
}

static int l_tensor(lua_State *L) {
  int dtype = -1, rg = 0;
  check_max_args(L, 2, "tensor");
  if (lua_type(L, 2) == LUA_TTABLE) {
    lua_getfield(L, 2, "dtype");
    if (!lua_isnil(L, -1)) dtype = check_dtype_at(L, -1, "tensor", 2);
    lua_pop(L, 1);
    lua_getfield(L, 2, "requires_grad");
    rg = lua_toboolean(L, -1);
    lua_pop(L, 1);
  } else if (!lua_isnoneornil(L, 2)) {
    return nyto_argerror(L, 2, "tensor", lua_pushfstring(L, "options table expected, got %s", luaL_typename(L, 2)));
  }
  if (rg && (dtype == NT_INT64 || dtype == NT_BOOL))
    return nyto_argerror(L, 2, "tensor", lua_pushfstring(L, "only floating tensors can require grad, got %s", dtype_names[dtype]));
  tdata d;
  memset(&d, 0, sizeof d);
  d.all_bool = 1;
  d.ints = dtype == NT_INT64;
  /* shape from the first elements */
  int t1 = lua_type(L, 1);
  if (t1 != LUA_TTABLE && t1 != LUA_TNUMBER && t1 != LUA_TBOOLEAN)
    return nyto_argerror(L, 1, "tensor", lua_pushfstring(L, "number or table expected, got %s", luaL_typename(L, 1)));
  lua_pushvalue(L, 1);
  int64_t total = 1;
  while (lua_type(L, -1) == LUA_TTABLE) {
    if (d.nd >= NT_MAXDIM) return nyto_argerror(L, 1, "tensor", "too many dimensions");
    int64_t len = (int64_t)lua_rawlen(L, -1);
    d.sizes[d.nd++] = len;
    if (len == 0) break;
    if (total > NYTO_MAX_NUMEL / len) return nyto_argerror(L, 1, "tensor", "ragged nested table");
    total *= len;
    lua_rawgeti(L, -1, 1);
    lua_remove(L, -2);
  }
  lua_pop(L, 1);
  /* own the data buffer through a box whose __gc frees it, so a raise in the walk does not leak */
  d.box = lua_newuserdatauv(L, sizeof *d.box, 0);
  d.box->p = NULL;
  luaL_setmetatable(L, "nyto.tmpbuf");
  d.cap = total > 0 && total < (1 << 20) ? total : (1 << 20);
  d.box->p = malloc((size_t)d.cap * sizeof(double));
  if (!d.box->p) return nyto_error(L, "nyto: out of memory");
  td_walk(L, 1, 0, &d);
  if (d.any_bool && !d.all_bool) return nyto_argerror(L, 1, "tensor", "mixes booleans and numbers");
  if (dtype < 0) dtype = (d.any_bool && d.n > 0) ? NT_BOOL : NT_FLOAT32;
  if (rg && dtype == NT_BOOL)
    return nyto_argerror(L, 2, "tensor", "only floating tensors can require grad, got bool");
  LTensor *u = tensor_newud(L);
  nt_tensor *t;
  int rc = d.ints ? nt_from_int64s((const int64_t *)d.box->p, d.sizes, d.nd, &t)
                  : nt_from_doubles(d.box->p, d.sizes, d.nd, dtype, &t);
  if (rc != 0) return tensor_fail(L, "tensor");
  tensor_own(L, u, t);
  free(d.box->p);
  d.box->p = NULL;
  if (rg && nt_set_requires_grad(t, 1) != 0) return tensor_fail(L, "tensor");
  return 1;
}

/* A number argument: never a string (no coercion). */
static double check_num(lua_State *L, int i, const char *fname) {
  if (lua_type(L, i) != LUA_TNUMBER)
    nyto_argerror(L, i, fname, lua_pushfstring(L, "number expected, got %s", luaL_typename(L, i)));
  return lua_tonumber(L, i);
}

/* An integer argument: never a string, never a non-integral number. */
static lua_Integer check_int(lua_State *L, int i, const char *fname) {
  int isint;
  lua_Integer v = lua_tointegerx(L, i, &isint);
  if (lua_type(L, i) != LUA_TNUMBER)
    nyto_argerror(L, i, fname, lua_pushfstring(L, "integer expected, got %s", luaL_typename(L, i)));
  if (!isint) nyto_argerror(L, i, fname, lua_pushfstring(L, "integer expected, got %f", lua_tonumber(L, i)));
  return v;
}

/* Apply {requires_grad=true} of a creation call to its fresh result t. */
static void creation_grad(lua_State *L, nt_tensor *t, int rg, int opts, const char *fname) {
  if (!rg) return;
  if (nt_dtype(t) == NT_INT64 || nt_dtype(t) == NT_BOOL)
    nyto_argerror(L, opts, fname, lua_pushfstring(L, "only floating tensors can require grad, got %s", dtype_names[nt_dtype(t)]));
  if (nt_set_requires_grad(t, 1) != 0) tensor_fail_arg(L, opts, fname);
}

/* nyto.arange(n | a, b [, step] [, opts]): integers give int64, as in PyTorch */
static int l_arange(lua_State *L) {
  int top = lua_gettop(L);
  int opts = (top >= 1 && lua_type(L, top) == LUA_TTABLE) ? top-- : 0;
  if (top == 0) return nyto_argerror(L, 1, "arange", "number expected, got no value");
  if (top > 3) return nyto_argerror(L, 4, "arange", lua_pushfstring(L, "no value expected: at most 3 numbers and an options table, got %d arguments", lua_gettop(L)));
  for (int i = 1; i <= top; i++) check_num(L, i, "arange");
  double a = 0, b, step = 1;
  if (top == 1) b = lua_tonumber(L, 1);
  else {
    a = lua_tonumber(L, 1);
    b = lua_tonumber(L, 2);
    if (top >= 3) step = lua_tonumber(L, 3);
  }
  if (!isfinite(a) || !isfinite(b)) return nyto_argerror(L, top == 1 ? 1 : (isfinite(a) ? 2 : 1), "arange", "bounds must be finite");
  if (step == 0 || !isfinite(step)) return nyto_argerror(L, 3, "arange", "step must be finite and nonzero");
  if ((b - a) / step < 0)
    return nyto_argerror(L, top >= 3 ? 3 : 2, "arange", lua_pushfstring(L, "the step %f does not lead from %f to %f", step, a, b));
  if (ceil((b - a) / step) > (double)NYTO_MAX_NUMEL) return nyto_argerror(L, 1, "arange", "size too large: more than 2^40 elements");
  int dtype, rg;
  read_options(L, opts, "arange", &dtype, &rg);
  int dtype_given = 0;
  if (opts) {
    lua_getfield(L, opts, "dtype");
    dtype_given = !lua_isnil(L, -1);
    lua_pop(L, 1);
  }
  if (!dtype_given) {
    int allint = 1;
    for (int i = 1; i <= top; i++) allint &= lua_isinteger(L, i);
    dtype = allint ? NT_INT64 : NT_FLOAT32;
  }
  LTensor *u = tensor_newud(L);
  nt_tensor *t;
  if (nt_arange(a, b, step, dtype, &t) != 0) return tensor_fail(L, "arange");
  tensor_own(L, u, t);
  creation_grad(L, t, rg, opts, "arange");
  return 1;
}

/* nyto.eye(n [, m] [, opts]) */
static int l_eye(lua_State *L) {
  int top = lua_gettop(L);
  int opts = (top >= 1 && lua_type(L, top) == LUA_TTABLE) ? top-- : 0;
  if (top == 0) return nyto_argerror(L, 1, "eye", "integer expected, got no value");
  if (top > 2) return nyto_argerror(L, 3, "eye", lua_pushfstring(L, "no value expected: at most 2 sizes and an options table, got %d arguments", lua_gettop(L)));
  lua_Integer n = check_int(L, 1, "eye");
  lua_Integer m = top >= 2 ? check_int(L, 2, "eye") : n;
  if (n < 0 || m < 0) return nyto_argerror(L, n < 0 ? 1 : 2, "eye", lua_pushfstring(L, "size must be non-negative, got %I", n < 0 ? n : m));
  if (m > 0 && n > NYTO_MAX_NUMEL / m) return nyto_argerror(L, 1, "eye", "size too large: more than 2^40 elements");
  int dtype, rg;
  read_options(L, opts, "eye", &dtype, &rg);
  LTensor *u = tensor_newud(L);
  nt_tensor *t;
  if (nt_eye(n, m, dtype, &t) != 0) return tensor_fail(L, "eye");
  tensor_own(L, u, t);
  creation_grad(L, t, rg, opts, "eye");
  return 1;
}

/* ---- information ---- */

static int dim_arg(lua_State *L, int i, int nd, int extra, const char *fname) {
  int isint;
  lua_Integer d = lua_tointegerx(L, i, &isint);
  if (!isint || lua_type(L, i) != LUA_TNUMBER)
    return nyto_argerror(L, i, fname, lua_pushfstring(L, "dimension must be an integer, got %s", luaL_typename(L, i)));
  int lim = nd + extra;
  if (d == 0 || d > lim || d < -lim)
    return nyto_argerror(L, i, fname, lua_pushfstring(L, "dimension %I out of range for a %d-d tensor", d, nd));
  return d > 0 ? (int)d - 1 : (int)(d + lim);
}

static int l_size(lua_State *L) {
  nt_tensor *t = tensor_check(L, 1, "size");
  check_max_args(L, 2, "size");
  int nd = nt_dim(t);
  if (!lua_isnoneornil(L, 2)) {
    int d = dim_arg(L, 2, nd, 0, "size");
    lua_pushinteger(L, nt_size(t, d));
    return 1;
  }
  lua_createtable(L, nd, 0);
  for (int d = 0; d < nd; d++) {
    lua_pushinteger(L, nt_size(t, d));
    lua_rawseti(L, -2, d + 1);
  }
  return 1;
}

static int l_dim(lua_State *L) {
  check_max_args(L, 1, "dim");
  lua_pushinteger(L, nt_dim(tensor_check(L, 1, "dim")));
  return 1;
}

static int l_numel(lua_State *L) {
  check_max_args(L, 1, "numel");
  lua_pushinteger(L, nt_numel(tensor_check(L, 1, "numel")));
  return 1;
}

static int t_len(lua_State *L) {
  nt_tensor *t = tensor_check(L, 1, "__len");
  if (nt_dim(t) == 0) return nyto_argerror(L, 1, "__len", "a 0-d tensor has no length");
  lua_pushinteger(L, nt_size(t, 0));
  return 1;
}

static int l_dtype(lua_State *L) {
  check_max_args(L, 1, "dtype");
  lua_pushstring(L, dtype_names[nt_dtype(tensor_check(L, 1, "dtype"))]);
  return 1;
}

static int l_is_contiguous(lua_State *L) {
  lua_pushboolean(L, nt_is_contiguous(tensor_check(L, 1, "is_contiguous")));
  return 1;
}

static int l_shape_string(lua_State *L) {
  push_shape(L, tensor_check(L, 1, "shape_string"));
  return 1;
}

static void push_number_of(lua_State *L, int dtype, double v) {
  if (dtype == NT_BOOL) lua_pushboolean(L, v != 0);
  else if (dtype == NT_INT64) lua_pushinteger(L, (lua_Integer)v);
  else lua_pushnumber(L, v);
}

static int l_item(lua_State *L) {
  nt_tensor *t = tensor_check(L, 1, "item");
  check_max_args(L, 1, "item");
  if (nt_numel(t) != 1)
    return nyto_argerror(L, 1, "item", lua_pushfstring(L, "a Tensor of shape %s (%I elements) cannot be converted to a number", push_shape(L, t), (lua_Integer)nt_numel(t)));
  if (nt_dtype(t) == NT_INT64) {
    int64_t v;
    if (nt_to_int64s(t, &v, 1) != 0) return tensor_fail(L, "item");
    lua_pushinteger(L, (lua_Integer)v);
    return 1;
  }
  double v;
  if (nt_item(t, &v) != 0) return tensor_fail(L, "item");
  push_number_of(L, nt_dtype(t), v);
  return 1;
}

/* t:totable(): nested tables of numbers (integers for int64, booleans for bool) */
#define TOTABLE_MAX_TABLES ((int64_t)1 << 24)
static int l_totable(lua_State *L) {
  nt_tensor *t = tensor_check(L, 1, "totable");
  check_max_args(L, 1, "totable");
  int64_t n = nt_numel(t);
  int nd = nt_dim(t), dtype = nt_dtype(t);
  dbox *box = lua_newuserdatauv(L, sizeof *box, 0);
  box->p = NULL;
  luaL_setmetatable(L, "nyto.tmpbuf");
  box->p = malloc((size_t)(n > 0 ? n : 1) * sizeof(double));
  if (!box->p) return nyto_error(L, "nyto: out of memory");
  /* int64 values travel as int64 (exact past 2^53), the rest as doubles */
  int rc = dtype == NT_INT64 ? nt_to_int64s(t, (int64_t *)box->p, n) : nt_to_doubles(t, box->p, n);
  if (rc != 0) return tensor_fail(L, "totable");
#define TOTABLE_PUSH(k) \
  (dtype == NT_INT64 ? lua_pushinteger(L, (lua_Integer)((int64_t *)box->p)[k]) : push_number_of(L, dtype, box->p[k]))
  if (nd == 0) {
    TOTABLE_PUSH(0);
    return 1;
  }
  int64_t sizes[NT_MAXDIM], idx[NT_MAXDIM] = {0};
  for (int d = 0; d < nd; d++) sizes[d] = nt_size(t, d);
  /* one table per row of every level: a tensor with no elements can still have 2^40 rows,
     which would build empty tables until Lua runs out of memory (an unprefixed "not enough
     memory", or the machine's memory): refuse more tables than Lua can hold */
  int64_t rows = 1, ntab = 1;
  for (int d = 0; d < nd - 1; d++) {
    if (sizes[d] > TOTABLE_MAX_TABLES) { ntab = TOTABLE_MAX_TABLES + 1; break; }
    rows *= sizes[d];
    if (rows > TOTABLE_MAX_TABLES) { ntab = TOTABLE_MAX_TABLES + 1; break; }
    ntab += rows;
  }
  if (ntab > TOTABLE_MAX_TABLES || sizes[nd - 1] > INT_MAX) {
    return nyto_error(L, "nyto: not enough memory for 'totable' (a tensor of shape %s makes more than %d tables)",
                      push_shape(L, t), (int)TOTABLE_MAX_TABLES);
  }
  luaL_checkstack(L, nd + 4, "too many dimensions");
  /* iterative nesting: keep one open table per dim on the stack */
  int64_t k = 0;
  lua_createtable(L, (int)sizes[0], 0);
  int depth = 1;
  for (;;) {
    if (depth < nd) {
      if (idx[depth - 1] < sizes[depth - 1]) {
        lua_createtable(L, (int)sizes[depth], 0);
        depth++;
        continue;
      }
    } else {
      for (int64_t i = 0; i < sizes[nd - 1]; i++) {
        TOTABLE_PUSH(k);
        k++;
        lua_rawseti(L, -2, (lua_Integer)i + 1);
      }
      idx[nd - 1] = sizes[nd - 1];
    }
    /* close this level */
    if (depth == 1) break;
    idx[depth - 1] = 0;
    depth--;
    lua_rawseti(L, -2, (lua_Integer)++idx[depth - 1]);
    if (sizes[depth - 1] == 0) break;
  }
  return 1;
}

#undef TOTABLE_PUSH

static int l_data_ptr(lua_State *L) {
  lua_pushlightuserdata(L, nt_data(tensor_check(L, 1, "data_ptr")));
  return 1;
}

static int l_same(lua_State *L) {
  nt_tensor *a = tensor_check(L, 1, "is_same"), *b = tensor_check(L, 2, "is_same");
  lua_pushboolean(L, nt_same(a, b));
  return 1;
}

static int l_storage_id(lua_State *L) {
  lua_pushlightuserdata(L, (void *)nt_storage_id(tensor_check(L, 1, "storage_id")));
  return 1;
}

/* ---- autograd ---- */

static int l_requires_grad(lua_State *L) {
  check_max_args(L, 1, "requires_grad");
  lua_pushboolean(L, nt_requires_grad(tensor_check(L, 1, "requires_grad")));
  return 1;
}

/* t:grad_fn(): the name of the autograd node that made t ("MulBackward0"), or nil */
static int l_grad_fn(lua_State *L) {
  nt_tensor *t = tensor_check(L, 1, "grad_fn");
  check_max_args(L, 1, "grad_fn");
  const char *name = nt_grad_fn_name(t);
  if (name) lua_pushstring(L, name);
  else lua_pushnil(L);
  return 1;
}

static int l_requires_grad_(lua_State *L) {
  nt_tensor *t = tensor_check(L, 1, "requires_grad_");
  check_max_args(L, 2, "requires_grad_");
  int flag = lua_isnoneornil(L, 2) ? 1 : lua_toboolean(L, 2);
  if (!lua_isnoneornil(L, 2) && lua_type(L, 2) != LUA_TBOOLEAN)
    return nyto_argerror(L, 2, "requires_grad_", lua_pushfstring(L, "boolean expected, got %s", luaL_typename(L, 2)));
  if (flag && (nt_dtype(t) == NT_INT64 || nt_dtype(t) == NT_BOOL))
    return nyto_argerror(L, 1, "requires_grad_", lua_pushfstring(L, "only floating tensors can require grad, got %s", dtype_names[nt_dtype(t)]));
  if (nt_set_requires_grad(t, flag) != 0) return tensor_fail(L, "requires_grad_");
  lua_settop(L, 1);
  return 1;
}

static int l_is_leaf(lua_State *L) {
  lua_pushboolean(L, nt_is_leaf(tensor_check(L, 1, "is_leaf")));
  return 1;
}

static int l_backward(lua_State *L) {
  lazy_before_write(L, NULL); /* it accumulates into .grad tensors, which may be any views */
  nt_tensor *t = tensor_check(L, 1, "backward");
  check_max_args(L, 2, "backward");
  nt_tensor *g = lua_isnoneornil(L, 2) ? NULL : tensor_check(L, 2, "backward");
  if (!nt_requires_grad(t))
    return nyto_argerror(L, 1, "backward", "tensor does not require grad and has no grad history");
  if (!g && nt_numel(t) != 1)
    return nyto_argerror(L, 1, "backward", lua_pushfstring(L, "backward of a non-scalar tensor of shape %s needs a gradient argument", push_shape(L, t)));
  if (g) {
    int same = nt_dim(g) == nt_dim(t);
    for (int d = 0; same && d < nt_dim(t); d++) same = nt_size(g, d) == nt_size(t, d);
    if (!same)
      return nyto_argerror(L, 2, "backward", lua_pushfstring(L, "gradient of shape %s for a tensor of shape %s", push_shape(L, g), push_shape(L, t)));
  }
  if (nt_backward(t, g) != 0) return tensor_fail(L, "backward");
  return 0;
}

static int push_grad(lua_State *L, nt_tensor *t) {
  LTensor *u = tensor_newud(L);
  nt_tensor *g;
  if (nt_grad(t, &g) != 0) return tensor_fail(L, "grad");
  if (!g) {
    lua_pushnil(L);
    return 1;
  }
  tensor_own(L, u, g);
  return 1;
}



static int l_zero_grad_(lua_State *L) {
  nt_tensor *t = tensor_check(L, 1, "zero_grad_");
  check_max_args(L, 1, "zero_grad_");
  if (nt_set_grad(t, NULL) != 0) return tensor_fail(L, "zero_grad_");
  lua_settop(L, 1);
  return 1;
}

static int l_set_grad(lua_State *L) {
  nt_tensor *t = tensor_check(L, 1, "set_grad");
  nt_tensor *g = lua_isnoneornil(L, 2) ? NULL : tensor_check(L, 2, "set_grad");
  if (nt_set_grad(t, g) != 0) return tensor_fail_arg(L, 2, "set_grad");
  return 0;
}

/* nyto.Parameter(t [, requires_grad]): a leaf sharing t's data */
static int l_parameter(lua_State *L) {
  nt_tensor *s = tensor_check(L, 1, "Parameter");
  check_max_args(L, 2, "Parameter");
  if (!lua_isnoneornil(L, 2) && lua_type(L, 2) != LUA_TBOOLEAN)
    return nyto_argerror(L, 2, "Parameter", lua_pushfstring(L, "boolean expected, got %s", luaL_typename(L, 2)));
  int rg = lua_isnoneornil(L, 2) ? 1 : lua_toboolean(L, 2);
  if (rg && nt_dtype(s) != NT_FLOAT32 && nt_dtype(s) != NT_FLOAT64)
    return nyto_argerror(L, 1, "Parameter", lua_pushfstring(L, "only floating tensors can be parameters, got %s", dtype_names[nt_dtype(s)]));
  LTensor *u = tensor_newud(L);
  nt_arg a = {NT_A_TENSOR, s, 0, {0}, 0};
  nt_tensor *out[4];
  int n;
  if (nt_call(NT_OP_detach, &a, 1, out, &n) != 0) return tensor_fail(L, "Parameter");
  tensor_own(L, u, out[0]);
  if (rg && nt_set_requires_grad(out[0], 1) != 0) return tensor_fail(L, "Parameter");
  u->is_param = 1;
  return 1;
}

static int l_is_parameter(lua_State *L) {
  LTensor *u = tensor_ud(L, 1);
  lua_pushboolean(L, u && u->t && u->is_param);
  return 1;
}

/* A second handle to the same tensor (same TensorImpl). */
static int l_alias(lua_State *L) {
  nt_tensor *s = tensor_check(L, 1, "alias");
  LTensor *u = tensor_newud(L);
  nt_tensor *t;
  if (nt_shallow(s, &t) != 0) return tensor_fail(L, "alias");
  tensor_own(L, u, t);
  u->is_param = tensor_ud(L, 1)->is_param;
  return 1;
}

/* ---- the generic op: one C function serves every row of ops.def ---- */

/* What a row declares beyond its arguments (ops.def): the number of results
 * (">2" after the letters) and which arguments it writes ('W', 'w'). */
static int sig_results(const char *sig) {
  const char *r = strchr(sig, '>');
  return r ? r[1] - '0' : 1;
}

/* The result (0-based) a row declares as indices ("iK" after ">n"), or -1. */
static int sig_index_result(const char *sig) {
  const char *r = strchr(sig, '>');
  const char *q = r ? strchr(r, 'i') : NULL;
  return q ? q[1] - '1' : -1;
}

/* Read one argument per the signature letter (ops.def) into a.  first is the
 * tensor of argument 1; prev the argument before this one; prevdim the last
 * dim read (0-based). */
static void read_arg(lua_State *L, int i, char c, nt_arg *a, const char *fname, const nt_tensor *first, int prevdim,
                     const nt_arg *prev) {
  int t = lua_type(L, i);
  a->kind = NT_A_NONE;
  switch (c) {
    case 'T':
    case 'W': /* written (in place): the caller computes deferred buffers first */
      a->t = tensor_check(L, i, fname);
      a->kind = NT_A_TENSOR;
      return;
    case 't':
    case 'w':
      if (t == LUA_TNIL || t == LUA_TNONE) return;
      a->t = tensor_check(L, i, fname);
      a->kind = NT_A_TENSOR;
      return;
    case 'S':
      if (t == LUA_TNUMBER) {
        a->n = lua_tonumber(L, i);
        a->kind = NT_A_NUM;
        return;
      }
      if (t == LUA_TBOOLEAN) {
        a->n = lua_toboolean(L, i);
        a->kind = NT_A_NUM;
        return;
      }
      if (!tensor_ud(L, i))
        nyto_argerror(L, i, fname, lua_pushfstring(L, "number or Tensor expected, got %s", luaL_typename(L, i)));
      a->t = tensor_check(L, i, fname);
      a->kind = NT_A_TENSOR;
      return;
    case 'n': case 'N':
      if (t == LUA_TNUMBER) {
        a->n = lua_tonumber(L, i);
        a->kind = NT_A_NUM;
        return;
      }
      if (c == 'N' && (t == LUA_TNIL || t == LUA_TNONE)) return;
      nyto_argerror(L, i, fname, lua_pushfstring(L, "number expected, got %s", luaL_typename(L, i)));
      return;
    case 'i': case 'I': case 'l': {
      if (c == 'I' && (t == LUA_TNIL || t == LUA_TNONE)) return;
      int isint;
      lua_Integer v = lua_tointegerx(L, i, &isint);
      if (!isint || t != LUA_TNUMBER)
        nyto_argerror(L, i, fname, lua_pushfstring(L, "integer expected, got %s", t == LUA_TNUMBER ? "a non-integral number" : luaL_typename(L, i)));
      if (c == 'l') {
        /* a length along prevdim, from the start index read just before */
        int64_t size = nt_size(first, prevdim), start = (int64_t)prev->n;
        if (v < 0 || v > size - start)
          nyto_argerror(L, i, fname, lua_pushfstring(L, "length %I out of range: %I elements are left in dimension %d of size %I from index %I",
                                                     v, (lua_Integer)(size - start), prevdim + 1, (lua_Integer)size, (lua_Integer)start + 1));
      }
      a->n = (double)v;
      a->kind = NT_A_NUM;
      return;
    }
    case 'b':
      if (t == LUA_TNIL || t == LUA_TNONE) return;
      if (t != LUA_TBOOLEAN) nyto_argerror(L, i, fname, lua_pushfstring(L, "boolean expected, got %s", luaL_typename(L, i)));
      a->n = lua_toboolean(L, i);
      a->kind = NT_A_NUM;
      return;
    case 'd': case 'D': case 'u':
      if (c == 'D' && (t == LUA_TNIL || t == LUA_TNONE)) return;
      a->n = dim_arg(L, i, nt_dim(first), c == 'u' ? 1 : (nt_dim(first) == 0 ? 1 : 0), fname);
      a->kind = NT_A_NUM;
      return;
    case 'x': {
      int isint;
      lua_Integer v = lua_tointegerx(L, i, &isint);
      if (!isint || t != LUA_TNUMBER)
        nyto_argerror(L, i, fname, lua_pushfstring(L, "integer index expected, got %s", t == LUA_TNUMBER ? "a non-integral number" : luaL_typename(L, i)));
      if (nt_dim(first) == 0) nyto_argerror(L, 1, fname, "a 0-d tensor has no dimension to index");
      int64_t size = nt_size(first, prevdim);
      if (v == 0 || v > size || v < -size)
        nyto_argerror(L, i, fname, lua_pushfstring(L, "index %I out of range for dimension %d of size %I", v, prevdim + 1, (lua_Integer)size));
      a->n = (double)(v > 0 ? v - 1 : size + v);
      a->kind = NT_A_NUM;
      return;
    }
    case 'X':
      /* 1-based indices: l_op hands the body their 0-based copy */
      a->t = tensor_check(L, i, fname);
      a->kind = NT_A_TENSOR;
      return;
    case 'c': {
      /* class labels 1..C for argument 1 (C: its size 2, or size 1 when 1-d); the
       * messages name both shapes, as a failed op's do */
      const nt_tensor *y = tensor_check(L, i, fname);
      int dt = nt_dtype(y);
      if (dt != NT_INT64)
        nyto_argerror(L, i, fname, lua_pushfstring(L, "class labels must be an int64 tensor, got %s; shapes %s and %s",
                                                   dtype_names[dt], push_shape(L, first), push_shape(L, y)));
      int64_t ncls = nt_dim(first) >= 2 ? nt_size(first, 1) : nt_size(first, 0), lo, hi;
      if (ncls >= 0 && nt_numel(y) > 0) {
        if (nt_int_range(y, &lo, &hi) != 0) tensor_fail_arg(L, i, fname);
        if (lo < 1 || hi > ncls)
          nyto_argerror(L, i, fname, lua_pushfstring(L, "class label %I out of range 1..%I; shapes %s and %s",
                                                     (lua_Integer)(lo < 1 ? lo : hi), (lua_Integer)ncls,
                                                     push_shape(L, first), push_shape(L, y)));
      }
      a->t = y;
      a->kind = NT_A_TENSOR;
      return;
    }
    case 'r':
      if (t == LUA_TNIL || t == LUA_TNONE) return;
      if (t == LUA_TSTRING) {
        const char *s = lua_tostring(L, i);
        a->kind = NT_A_NUM;
        if (strcmp(s, "none") == 0) { a->n = 0; return; }
        if (strcmp(s, "mean") == 0) { a->n = 1; return; }
        if (strcmp(s, "sum") == 0) { a->n = 2; return; }
      }
      nyto_argerror(L, i, fname, "reduction must be \"mean\", \"sum\" or \"none\"");
      return;
    case 'k': case 'p':
      if (t == LUA_TNIL || t == LUA_TNONE) {
        if (c == 'p') nyto_argerror(L, i, fname, "table of dims expected, got no value");
        return;
      }
      a->kind = NT_A_LIST;
      a->nlist = 0;
      if (t == LUA_TNUMBER && c == 'k') {
        int isint;
        lua_Integer v = lua_tointegerx(L, i, &isint);
        if (!isint) nyto_argerror(L, i, fname, "integer expected, got a non-integral number");
        a->list[0] = a->list[1] = v;
        a->nlist = 2;
        return;
      }
      if (t != LUA_TTABLE) nyto_argerror(L, i, fname, lua_pushfstring(L, "table of integers expected, got %s", luaL_typename(L, i)));
      {
        int len = (int)lua_rawlen(L, i), nd = nt_dim(first);
        if (len > NT_MAXDIM) nyto_argerror(L, i, fname, "too many entries");
        if (c == 'p' && len != nd)
          nyto_argerror(L, i, fname, lua_pushfstring(L, "%d dims expected for a %d-d tensor, got %d", nd, nd, len));
        for (int k = 1; k <= len; k++) {
          lua_rawgeti(L, i, k);
          int isint;
          lua_Integer v = lua_tointegerx(L, -1, &isint);
          if (!isint || lua_type(L, -1) != LUA_TNUMBER)
            nyto_argerror(L, i, fname, lua_pushfstring(L, "entry %d must be an integer, got %s", k, luaL_typename(L, -1)));
          lua_pop(L, 1);
          if (c == 'p') {
            if (v == 0 || v > nd || v < -nd)
              nyto_argerror(L, i, fname, lua_pushfstring(L, "dimension %I out of range for a %d-d tensor", v, nd));
            v = v > 0 ? v - 1 : v + nd;
            for (int j = 0; j < k - 1; j++)
              if (a->list[j] == v) nyto_argerror(L, i, fname, lua_pushfstring(L, "dimension %I repeated", v + 1));
          }
          a->list[k - 1] = v;
        }
        a->nlist = len;
      }
      return;
  }
}

/* The generic op: upvalue 1 is the opcode. */
static int l_op(lua_State *L) {
  int op = (int)lua_tointeger(L, lua_upvalueindex(1));
  const char *fname = nt_op_names[op];
  const char *sig = nt_op_sigs[op];
  nt_arg args[12];
  int nargs = 0, top = lua_gettop(L), sizes_arg = 0;
  const nt_tensor *first = NULL;
  int prevdim = 0;
  for (const char *c = sig; *c && *c != '>'; c++, nargs++) {
    int i = nargs + 1;
    nt_arg *a = &args[nargs];
    a->kind = NT_A_NONE;
    a->t = NULL;
    a->n = 0;
    a->nlist = 0;
    if (*c == 'z' || *c == 'v' || *c == 'e') {
      /* sizes: the remaining arguments, or one table */
      int64_t sizes[NT_MAXDIM];
      int n = read_sizes_x(L, i, top, sizes, fname, *c == 'v' ? 1 : *c == 'e' ? 2 : 0);
      a->kind = NT_A_LIST;
      memcpy(a->list, sizes, sizeof(int64_t) * (size_t)n);
      a->nlist = n;
      sizes_arg = i;
      nargs++;
      break;
    }
    read_arg(L, i, *c, a, fname, first, prevdim, nargs > 0 ? &args[nargs - 1] : NULL);
    if (nargs == 0 && a->kind == NT_A_TENSOR) first = a->t;
    if (*c == 'd' || *c == 'D') prevdim = (int)a->n;
  }
  if (!sizes_arg) check_max_args(L, nargs, fname);
  else if (lua_type(L, sizes_arg) == LUA_TTABLE) check_max_args(L, sizes_arg, fname);
  /* indices and class labels ('X', 'c'): the body's are 0-based, Lua's 1-based; the
   * 0-based copies are userdata below the results, so an error frees them */
  for (int k = 0; k < nargs && sig[k] && sig[k] != '>'; k++)
    if ((sig[k] == 'X' || sig[k] == 'c') && args[k].kind == NT_A_TENSOR) {
      LTensor *u = tensor_newud(L);
      nt_tensor *z;
      if (nt_index_shift(args[k].t, -1, &z) != 0) return tensor_fail_arg(L, k + 1, fname);
      tensor_own(L, u, z);
      args[k].t = z;
    }
  /* an in-place op ('W' first) returns its first argument */
  int inplace = sig[0] == 'W';
  /* the arguments a row writes ('W', 'w') first compute deferred buffers reading them */
  for (int k = 0; k < nargs && sig[k] && sig[k] != '>'; k++)
    if ((sig[k] == 'W' || sig[k] == 'w') && args[k].kind == NT_A_TENSOR) lazy_before_write(L, args[k].t);
  LTensor *u0 = inplace ? NULL : tensor_newud(L);
  LTensor *u1 = sig_results(sig) > 1 ? tensor_newud(L) : NULL;
  nt_tensor *outs[4] = {0};
  int nout = 0;
  if (nt_call(op, args, nargs, outs, &nout) != 0) {
    if (nargs >= 2 && args[0].kind == NT_A_TENSOR && args[1].kind == NT_A_TENSOR) {
      const char *msg = lua_pushstring(L, nt_error());
      const char *s1 = push_shape(L, args[0].t);
      const char *s2 = push_shape(L, args[1].t);
      return nyto_error(L, "nyto: bad argument #2 to '%s' (%s; shapes %s and %s)", fname, msg, s1, s2);
    }
    if (sizes_arg) {
      const char *msg = lua_pushstring(L, nt_error());
      return nyto_error(L, "nyto: bad argument #%d to '%s' (%s; input shape %s)", sizes_arg, fname, msg, push_shape(L, args[0].t));
    }
    return tensor_fail(L, fname);
  }
  if (inplace) {
    for (int k = 0; k < nout; k++) nt_free(outs[k]);
    lua_settop(L, 1);
    return 1;
  }
  int ix = sig_index_result(sig);
  if (ix >= 0 && ix < nout) {
    /* indices the body returned 0-based, for Lua 1-based */
    nt_tensor *z;
    if (nt_index_shift(outs[ix], 1, &z) != 0) {
      for (int k = 0; k < nout; k++) nt_free(outs[k]);
      return tensor_fail(L, fname);
    }
    nt_free(outs[ix]);
    outs[ix] = z;
  }
  tensor_own(L, u0, outs[0]);
  if (u1 && nout > 1) {
    tensor_own(L, u1, outs[1]);
    lua_pushvalue(L, -2);
    lua_pushvalue(L, -2);
    return 2;
  }
  for (int k = 1; k < nout; k++) nt_free(outs[k]);
  if (u1) lua_pop(L, 1);
  return 1;
}

/* ---- metamethods ---- */

/* Run op on args and push its first result; a failure blames argument #blame of fname. */
static int push_op(lua_State *L, int op, const nt_arg *args, int nargs, const char *fname, int blame) {
  LTensor *u = tensor_newud(L);
  nt_tensor *outs[4] = {0};
  int n = 0;
  if (nt_call(op, args, nargs, outs, &n) != 0) {
    if (nargs >= 2 && args[0].kind == NT_A_TENSOR && args[1].kind == NT_A_TENSOR) {
      const char *msg = lua_pushstring(L, nt_error());
      const char *s1 = push_shape(L, args[0].t);
      const char *s2 = push_shape(L, args[1].t);
      return nyto_error(L, "nyto: bad argument #2 to '%s' (%s; shapes %s and %s)", fname, msg, s1, s2);
    }
    return tensor_fail_arg(L, blame, fname);
  }
  tensor_own(L, u, outs[0]);
  for (int k = 1; k < n; k++) nt_free(outs[k]);
  return 1;
}

/* a (op) b with a tensor on either side; rop serves number (op) tensor
 * (-1: op is commutative).  Strings are never coerced. */
static int arith(lua_State *L, int op, int rop, const char *fname) {
  LTensor *ua = tensor_ud(L, 1), *ub = tensor_ud(L, 2);
  nt_arg args[2];
  int blame = 1; /* the tensor operand */
  args[0].nlist = args[1].nlist = 0;
  if ((ua && !ua->t) || (ub && !ub->t)) return nyto_error(L, "nyto: attempt to use a freed Tensor");
  if (ua && ub) {
    args[0].kind = args[1].kind = NT_A_TENSOR;
    args[0].t = ua->t;
    args[1].t = ub->t;
  } else if (ua && lua_type(L, 2) == LUA_TNUMBER) {
    args[0].kind = NT_A_TENSOR;
    args[0].t = ua->t;
    args[1].kind = NT_A_NUM;
    args[1].n = lua_tonumber(L, 2);
  } else if (ub && lua_type(L, 1) == LUA_TNUMBER) {
    args[0].kind = NT_A_TENSOR;
    args[0].t = ub->t;
    args[1].kind = NT_A_NUM;
    args[1].n = lua_tonumber(L, 1);
    blame = 2;
    if (rop >= 0) op = rop;
  } else {
    int bad = ua ? 2 : 1;
    if (luaL_getmetafield(L, bad, "__nyto_rhs") != LUA_TNIL) {
      /* an operand that takes tensors itself (a Swarm: `w * s`): its metamethod */
      lua_pop(L, 1);
      if (luaL_getmetafield(L, bad, fname) != LUA_TNIL) {
        lua_pushvalue(L, 1);
        lua_pushvalue(L, 2);
        lua_call(L, 2, 1);
        return 1;
      }
    }
    const char *tn = luaL_typename(L, bad);
    if (luaL_getmetafield(L, bad, "__name") == LUA_TSTRING) tn = lua_tostring(L, -1);
    return nyto_argerror(L, bad, fname, lua_pushfstring(L, "number or Tensor expected, got %s", tn));
  }
  return push_op(L, op, args, 2, fname, blame);
}

static int t_add(lua_State *L) { return arith(L, NT_OP_add, -1, "__add"); }
static int t_sub(lua_State *L) { return arith(L, NT_OP_sub, NT_OP_rsub, "__sub"); }
static int t_mul(lua_State *L) { return arith(L, NT_OP_mul, -1, "__mul"); }
static int t_div(lua_State *L) { return arith(L, NT_OP_div, NT_OP_rdiv, "__div"); }
static int t_pow(lua_State *L) { return arith(L, NT_OP_pow, NT_OP_rpow, "__pow"); }

static int t_unm(lua_State *L) {
  nt_arg a;
  memset(&a, 0, sizeof a);
  a.kind = NT_A_TENSOR;
  a.t = tensor_check(L, 1, "__unm");
  return push_op(L, NT_OP_neg, &a, 1, "__unm", 1);
}

/* t[i]: a view of row i (1-based, negative from the end); t.name: methods, t.grad */
static int t_index(lua_State *L) {
  if (lua_type(L, 2) == LUA_TNUMBER) {
    nt_tensor *t = tensor_check(L, 1, "__index");
    if (nt_dim(t) == 0) return nyto_argerror(L, 1, "__index", "a 0-d tensor cannot be indexed");
    int isint;
    lua_Integer i = lua_tointegerx(L, 2, &isint);
    if (!isint) return nyto_argerror(L, 2, "__index", lua_pushfstring(L, "integer index expected, got %f", lua_tonumber(L, 2)));
    int64_t size = nt_size(t, 0);
    if (i == 0 || i > size || i < -size)
      return nyto_argerror(L, 2, "__index", lua_pushfstring(L, "index %I out of range for dimension 1 of size %I", i, (lua_Integer)size));
    nt_arg args[3];
    memset(args, 0, sizeof args);
    args[0].kind = NT_A_TENSOR;
    args[0].t = t;
    args[1].kind = NT_A_NUM;
    args[1].n = 0;
    args[2].kind = NT_A_NUM;
    args[2].n = (double)(i > 0 ? i - 1 : size + i);
    LTensor *u = tensor_newud(L);
    nt_tensor *out[4];
    int n;
    if (nt_call(NT_OP_select, args, 3, out, &n) != 0) return tensor_fail(L, "__index");
    tensor_own(L, u, out[0]);
    return 1;
  }
  if (lua_type(L, 2) == LUA_TSTRING) {
    const char *k = lua_tostring(L, 2);
    if (strcmp(k, "grad") == 0) return push_grad(L, tensor_check(L, 1, "grad"));
  }
  lua_pushvalue(L, 2);
  lua_rawget(L, lua_upvalueindex(1));
  return 1;
}

/* t[i] = v: fill (number) or copy (tensor) row i */
static int t_newindex(lua_State *L) {
  nt_tensor *t = tensor_check(L, 1, "__newindex");
  lazy_before_write(L, t);
  if (lua_type(L, 2) != LUA_TNUMBER) {
    if (lua_type(L, 2) == LUA_TSTRING && strcmp(lua_tostring(L, 2), "grad") == 0) {
      nt_tensor *g = lua_isnil(L, 3) ? NULL : tensor_check(L, 3, "__newindex");
      if (nt_set_grad(t, g) != 0) return tensor_fail_arg(L, 3, "__newindex");
      return 0;
    }
    if (lua_type(L, 2) == LUA_TSTRING)
      return nyto_argerror(L, 2, "__newindex", lua_pushfstring(L, "cannot set field '%s' of a Tensor", lua_tostring(L, 2)));
    return nyto_argerror(L, 2, "__newindex", lua_pushfstring(L, "integer index expected, got %s", luaL_typename(L, 2)));
  }
  if (lua_type(L, 3) != LUA_TNUMBER && lua_type(L, 3) != LUA_TBOOLEAN && !tensor_ud(L, 3))
    return nyto_argerror(L, 3, "__newindex", lua_pushfstring(L, "number or Tensor expected, got %s", luaL_typename(L, 3)));
  lua_pushcfunction(L, t_index);
  lua_pushvalue(L, 1);
  lua_pushvalue(L, 2);
  lua_call(L, 2, 1); /* the row view */
  int row = lua_gettop(L);
  nt_tensor *r = tensor_check(L, row, "__newindex");
  nt_arg args[2];
  memset(args, 0, sizeof args);
  args[0].kind = NT_A_TENSOR;
  args[0].t = r;
  int op;
  if (lua_type(L, 3) == LUA_TNUMBER || lua_type(L, 3) == LUA_TBOOLEAN) {
    args[1].kind = NT_A_NUM;
    args[1].n = lua_type(L, 3) == LUA_TBOOLEAN ? lua_toboolean(L, 3) : lua_tonumber(L, 3);
    op = NT_OP_fill_;
  } else {
    args[1].kind = NT_A_TENSOR;
    args[1].t = tensor_check(L, 3, "__newindex");
    op = NT_OP_copy_;
  }
  nt_tensor *out[4];
  int n;
  if (nt_call(op, args, 2, out, &n) != 0) {
    const char *msg = lua_pushstring(L, nt_error());
    if (op == NT_OP_copy_) {
      const char *s1 = push_shape(L, r), *s2 = push_shape(L, args[1].t);
      return nyto_error(L, "nyto: bad argument #3 to '__newindex' (%s; shapes %s and %s)", msg, s1, s2);
    }
    return nyto_argerror(L, 3, "__newindex", msg);
  }
  for (int k = 0; k < n; k++) nt_free(out[k]);
  return 0;
}

/* nyto.cat(list, dim) / nyto.stack(list, dim) */
static int cat_or_stack(lua_State *L, int stack, const char *fname) {
  if (lua_type(L, 1) != LUA_TTABLE)
    return nyto_argerror(L, 1, fname, lua_pushfstring(L, "table of Tensors expected, got %s", luaL_typename(L, 1)));
  check_max_args(L, 2, fname);
  lua_settop(L, 2); /* the list of handles below goes at 3 */
  int n = (int)lua_rawlen(L, 1);
  if (n == 0) return nyto_argerror(L, 1, fname, "non-empty list of tensors expected");
  const nt_tensor **ts = lua_newuserdatauv(L, sizeof(nt_tensor *) * (size_t)n, 0);
  for (int i = 1; i <= n; i++) {
    lua_rawgeti(L, 1, i);
    LTensor *u = tensor_ud(L, -1);
    if (!u) return nyto_argerror(L, 1, fname, lua_pushfstring(L, "element %d is a %s, not a Tensor", i, luaL_typename(L, -1)));
    if (i > 1 && !stack && u->t && nt_dim(u->t) != nt_dim(ts[0]))
      return nyto_argerror(L, 1, fname, lua_pushfstring(L, "element %d has %d dims, element 1 has %d", i, nt_dim(u->t), nt_dim(ts[0])));
    if (!u->t) return nyto_error(L, "nyto: attempt to use a freed Tensor");
    ts[i - 1] = u->t;
    lua_pop(L, 1);
  }
  int nd = nt_dim(ts[0]);
  int d = lua_isnoneornil(L, 2) ? 0 : dim_arg(L, 2, nd, stack ? 1 : 0, fname);
  LTensor *u = tensor_newud(L);
  nt_tensor *t;
  if (nt_cat((const nt_tensor *const *)ts, n, d, stack, &t) != 0) return tensor_fail(L, fname);  /* sizes differ */
  tensor_own(L, u, t);
  return 1;
}
static int l_cat(lua_State *L) { return cat_or_stack(L, 0, "cat"); }
static int l_stack(lua_State *L) { return cat_or_stack(L, 1, "stack"); }

static const luaL_Reg tensor_methods[] = {
    {"size", l_size}, {"dim", l_dim}, {"nDimension", l_dim}, {"numel", l_numel}, {"dtype", l_dtype},
    {"is_contiguous", l_is_contiguous}, {"shape_string", l_shape_string}, {"item", l_item},
    {"totable", l_totable}, {"data_ptr", l_data_ptr}, {"is_same", l_same}, {"storage_id", l_storage_id},
    {"requires_grad", l_requires_grad}, {"requires_grad_", l_requires_grad_}, {"is_leaf", l_is_leaf},
    {"grad_fn", l_grad_fn},
    {"backward", l_backward}, {"zero_grad_", l_zero_grad_}, {"set_grad", l_set_grad},
    {"is_parameter", l_is_parameter}, {"alias", l_alias}, {"free", t_free},
    {"zeros_like", l_zeros_like}, {"ones_like", l_ones_like}, {"full_like", l_full_like},
    {"randn_like", l_randn_like}, {"rand_like", l_rand_like}, {"empty_like", l_empty_like},
    {NULL, NULL}};

static const luaL_Reg tensor_funcs[] = {
    {"tensor", l_tensor}, {"zeros", l_zeros}, {"ones", l_ones}, {"empty", l_empty}, {"full", l_full},
    {"randn", l_randn}, {"rand", l_rand}, {"arange", l_arange}, {"eye", l_eye},
    {"zeros_like", l_zeros_like}, {"ones_like", l_ones_like}, {"full_like", l_full_like},
    {"randn_like", l_randn_like}, {"rand_like", l_rand_like}, {"empty_like", l_empty_like},
    {"Parameter", l_parameter}, {"is_parameter", l_is_parameter}, {"cat", l_cat}, {"stack", l_stack},
    {NULL, NULL}};

static void tensor_open(lua_State *L) {
  /* core table at -1 */
  luaL_newmetatable(L, "nyto.tmpbuf");
  lua_pushcfunction(L, dbox_gc);
  lua_setfield(L, -2, "__gc");
  lua_pop(L, 1);

  luaL_setfuncs(L, tensor_funcs, 0);
  lua_newtable(L); /* methods */
  luaL_setfuncs(L, tensor_methods, 0);
  /* ops: core.ops[name] and methods */
  lua_newtable(L);
  for (int op = 0; op < NT_NOPS; op++) {
    lua_pushinteger(L, op);
    lua_pushcclosure(L, l_op, 1);
    lua_pushvalue(L, -1);
    lua_setfield(L, -3, nt_op_names[op]);
    lua_setfield(L, -3, nt_op_names[op]);
  }
  lua_setfield(L, -3, "ops");
  /* the op signatures, for documentation and the completeness spec */
  lua_newtable(L);
  for (int op = 0; op < NT_NOPS; op++) {
    lua_pushstring(L, nt_op_sigs[op]);
    lua_setfield(L, -2, nt_op_names[op]);
  }
  lua_setfield(L, -3, "op_signatures");
  int methods = lua_gettop(L);

  luaL_newmetatable(L, TENSOR_MT);
  int mt = lua_gettop(L);
  lua_pushvalue(L, mt);
  lua_rawsetp(L, LUA_REGISTRYINDEX, &tensor_mt_key);
  lua_pushvalue(L, methods);
  lua_pushcclosure(L, t_index, 1);
  lua_setfield(L, mt, "__index");
  lua_pushcfunction(L, t_newindex);
  lua_setfield(L, mt, "__newindex");
  static const luaL_Reg mm[] = {{"__gc", t_gc}, {"__close", t_gc}, {"__len", t_len}, {"__add", t_add},
                                {"__sub", t_sub}, {"__mul", t_mul}, {"__div", t_div}, {"__pow", t_pow},
                                {"__unm", t_unm}, {NULL, NULL}};
  luaL_setfuncs(L, mm, 0);
  lua_setfield(L, -3, "Tensor_mt");
  lua_setfield(L, -2, "Tensor_methods");
}
