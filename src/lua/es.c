/* es.c -- the binding of the distribution strategies' passes (src/core/es.c):
 * core.es_sample, core.es_moments, core.es_elite (docs/core.md, "Strategy
 * passes").  Scripts reach nyto.core, so every argument is checked: tensors
 * contiguous, float, of the sizes the pass reads and writes, and an output
 * never sharing storage with another argument. */

typedef struct {
  nt_tensor *t;
  int dtype;
  int64_t n;
  void *p;
  const void *id;
} es_arg;

/* the float tensor at i (contiguous, CPU), or nil when opt */
static es_arg es_tensor(lua_State *L, int i, const char *fn, int opt) {
  es_arg a = {NULL, 0, 0, NULL, NULL};
  if (opt && lua_isnoneornil(L, i)) return a;
  a.t = tensor_check(L, i, fn);
  a.dtype = nt_dtype(a.t);
  a.n = nt_numel(a.t);
  if (a.dtype != NT_FLOAT32 && a.dtype != NT_FLOAT64) nyto_argerror(L, i, fn, "float32 or float64 tensor expected");
  if (!nt_is_contiguous(a.t) || (a.n > 0 && !nt_data(a.t))) nyto_argerror(L, i, fn, "a contiguous CPU tensor expected");
  a.id = nt_storage_id(a.t);
  return a;
}

/* outputs (written) must not share storage with any other argument */
static void es_distinct(lua_State *L, const char *fn, es_arg *a, const int *pos, int n, int nout) {
  for (int i = 0; i < nout; i++)
    for (int k = 0; k < n; k++)
      if (k != i && a[i].t && a[k].t && a[i].id == a[k].id)
        nyto_argerror(L, pos[i], fn, lua_pushfstring(L, "shares its storage with argument #%d", pos[k]));
}

/* the finite number at i */
static double es_number(lua_State *L, int i, const char *fn) {
  int isnum = 0;
  double v = lua_tonumberx(L, i, &isnum);
  if (!isnum || !isfinite(v)) nyto_argerror(L, i, fn, "a finite number expected");
  return v;
}

/* a Lua table of exactly n finite numbers at i, into w (float64) */
static void es_weights(lua_State *L, int i, const char *fn, int64_t n, double *w) {
  for (int64_t k = 0; k < n; k++) {
    lua_rawgeti(L, i, (lua_Integer)k + 1);
    int isnum = 0;
    double v = lua_tonumberx(L, -1, &isnum);
    lua_pop(L, 1);
    if (!isnum || !isfinite(v)) nyto_argerror(L, i, fn, lua_pushfstring(L, "weight %d is not a finite number", (int)k + 1));
    w[k] = v;
  }
}

static int64_t es_len(lua_State *L, int i, const char *fn, const char *what) {
  if (!lua_istable(L, i)) nyto_argerror(L, i, fn, lua_pushfstring(L, "%s: table expected, got %s", what, luaL_typename(L, i)));
  lua_Integer n = (lua_Integer)lua_rawlen(L, i);
  if (n < 1) nyto_argerror(L, i, fn, lua_pushfstring(L, "%s must not be empty", what));
  return n;
}

/* core.es_sample(X, c, s, pairs [, z [, gen [, r, norms]]]) -> X.  X: [n, P]
 * (any shape of n P elements); c, s: P elements of one dtype; z: rows P of X's
 * dtype (rows = n, or n / 2 with pairs); r: P float64 (or nil: ones), norms:
 * rows float64 (norms[k] = sum_j r_j z_kj^2).
 * The draws are nyto.randn({rows, P}, {generator = gen})'s (counters taken
 * for rows P elements). */
static int l_es_sample(lua_State *L) {
  const char *fn = "es_sample";
  es_arg a[6];
  static const int pos[6] = {1, 5, 8, 2, 3, 7};
  a[0] = es_tensor(L, 1, fn, 0);
  a[3] = es_tensor(L, 2, fn, 0);
  a[4] = es_tensor(L, 3, fn, 0);
  if (!lua_isboolean(L, 4)) nyto_argerror(L, 4, fn, lua_pushfstring(L, "boolean expected, got %s", luaL_typename(L, 4)));
  int pairs = lua_toboolean(L, 4);
  a[1] = es_tensor(L, 5, fn, 1);
  LGen *g = lua_isnoneornil(L, 6) ? &gen_global : gen_check(L, 6, fn);
  a[5] = es_tensor(L, 7, fn, 1);
  a[2] = es_tensor(L, 8, fn, 1);
  int64_t P = a[3].n;
  if (P <= 0 || a[0].n % P) return nyto_argerror(L, 2, fn, "center's size does not divide X's");
  int64_t n = a[0].n / P;
  if (pairs && n % 2) return nyto_argerror(L, 4, fn, "pairs need an even number of rows");
  int64_t rows = pairs ? n / 2 : n;
  if (a[4].dtype != a[3].dtype || a[4].n != P) return nyto_argerror(L, 3, fn, "scale of another dtype or size than the center");
  if (a[1].t && (a[1].dtype != a[0].dtype || a[1].n != rows * P)) return nyto_argerror(L, 5, fn, "noise of another dtype or size");
  if (a[5].t && !a[2].t) return nyto_argerror(L, 7, fn, "r without norms");
  if (a[5].t && (a[5].dtype != NT_FLOAT64 || a[5].n != P)) return nyto_argerror(L, 7, fn, "r must be P float64 elements");
  if (a[2].t && (a[2].dtype != NT_FLOAT64 || a[2].n != rows)) return nyto_argerror(L, 8, fn, "norms must be one float64 per row");
  es_distinct(L, fn, a, pos, 6, 3);
  for (int i = 0; i < 3; i++)
    if (a[i].t) lazy_force(L, a[i].id);
  uint64_t c0 = gen_take(g, rows * P);
  nyto_stats_pass();
  nyto_es_sample(a[0].dtype, nt_data(a[0].t), a[3].dtype, nt_data(a[3].t), nt_data(a[4].t), a[1].t ? nt_data(a[1].t) : NULL,
                 rows, P, pairs, a[5].t ? nt_data(a[5].t) : NULL, a[2].t ? nt_data(a[2].t) : NULL, g->seed, g->stream, c0);
  lua_settop(L, 1);
  return 1;
}

/* core.es_moments(Z, w1, o1 [, w2, sub2, o2]) -> o1 [, o2].  Z: rows x P
 * (rows = #w1); o1, o2: P elements of one float dtype; w1, w2: tables of rows
 * finite numbers; sub2 a finite number. */
static int l_es_moments(lua_State *L) {
  const char *fn = "es_moments";
  es_arg a[3];
  static const int pos[3] = {3, 6, 1};
  a[2] = es_tensor(L, 1, fn, 0);
  int64_t rows = es_len(L, 2, fn, "weights");
  a[0] = es_tensor(L, 3, fn, 0);
  int two = !lua_isnoneornil(L, 4);
  double sub2 = 0;
  a[1].t = NULL;
  if (two) {
    if (es_len(L, 4, fn, "weights") != rows) return nyto_argerror(L, 4, fn, "as many weights as w1 expected");
    sub2 = es_number(L, 5, fn);
    a[1] = es_tensor(L, 6, fn, 0);
  }
  int64_t P = a[0].n;
  if (P <= 0 || a[2].n != rows * P) return nyto_argerror(L, 1, fn, "Z must have #w1 rows of the output's size");
  if (two && (a[1].dtype != a[0].dtype || a[1].n != P)) return nyto_argerror(L, 6, fn, "o2 of another dtype or size than o1");
  es_distinct(L, fn, a, pos, 3, two ? 2 : 1);
  double *w = lua_newuserdatauv(L, (size_t)(two ? 2 : 1) * (size_t)rows * sizeof(double), 0);
  es_weights(L, 2, fn, rows, w);
  if (two) es_weights(L, 4, fn, rows, w + rows);
  for (int i = 0; i < 2; i++)
    if (a[i].t) lazy_force(L, a[i].id);
  nyto_stats_pass();
  nyto_es_moments(a[2].dtype, nt_data(a[2].t), rows, P, w, two ? w + rows : NULL, sub2, a[0].dtype, nt_data(a[0].t),
                  two ? nt_data(a[1].t) : NULL);
  lua_pushvalue(L, 3);
  if (!two) return 1;
  lua_pushvalue(L, 6);
  return 2;
}

/* core.es_elite(X, idx, mean, std) -> mean, std.  X: n x P; idx: a table of
 * 1-based row indices in [1, n] (repeats allowed); mean, std: P elements of
 * one float dtype. */
static int l_es_elite(lua_State *L) {
  const char *fn = "es_elite";
  es_arg a[3];
  static const int pos[3] = {3, 4, 1};
  a[2] = es_tensor(L, 1, fn, 0);
  int64_t m = es_len(L, 2, fn, "idx");
  a[0] = es_tensor(L, 3, fn, 0);
  a[1] = es_tensor(L, 4, fn, 0);
  int64_t P = a[0].n;
  if (P <= 0 || a[2].n % P) return nyto_argerror(L, 3, fn, "mean's size does not divide X's");
  if (a[1].dtype != a[0].dtype || a[1].n != P) return nyto_argerror(L, 4, fn, "std of another dtype or size than mean");
  int64_t n = a[2].n / P;
  es_distinct(L, fn, a, pos, 3, 2);
  int64_t *idx = lua_newuserdatauv(L, (size_t)m * sizeof(int64_t), 0);
  for (int64_t k = 0; k < m; k++) {
    lua_rawgeti(L, 2, (lua_Integer)k + 1);
    int isint = 0;
    lua_Integer v = lua_tointegerx(L, -1, &isint);
    lua_pop(L, 1);
    if (!isint || v < 1 || v > n)
      return nyto_argerror(L, 2, fn, lua_pushfstring(L, "index %d is not a row of X (1..%d)", (int)k + 1, (int)n));
    idx[k] = v - 1;
  }
  for (int i = 0; i < 2; i++) lazy_force(L, a[i].id);
  nyto_stats_pass();
  nyto_es_elite(a[2].dtype, nt_data(a[2].t), P, idx, m, a[0].dtype, nt_data(a[0].t), nt_data(a[1].t));
  lua_pushvalue(L, 3);
  lua_pushvalue(L, 4);
  return 2;
}

/* n float64 tensors at the stack indices pos[0..n) of one size P; the first
 * nout are written, so none of them may share storage with another of them */
static int64_t es_vectors(lua_State *L, const char *fn, es_arg *a, const int *pos, int n, int nout) {
  for (int i = 0; i < n; i++) {
    a[i] = es_tensor(L, pos[i], fn, 0);
    if (a[i].dtype != NT_FLOAT64) nyto_argerror(L, pos[i], fn, "float64 tensor expected");
    if (a[i].n != a[0].n) nyto_argerror(L, pos[i], fn, lua_pushfstring(L, "a vector of the size of argument #%d expected", pos[0]));
  }
  if (a[0].n <= 0) nyto_argerror(L, pos[0], fn, "empty vector");
  es_distinct(L, fn, a, pos, n, n);
  for (int i = 0; i < nout; i++) lazy_force(L, a[i].id);
  return a[0].n;
}

/* core.es_sepcma_mean(zw, D, m, ps, am, ks, as) -> ||ps||^2.  sep-CMA-ES's tell,
 * first pass: zw <- zw D (<y>_w), m <- m + am zw, ps <- ks ps + as (zw / D);
 * float64 vectors of one size, none sharing storage */
static int l_es_sepcma_mean(lua_State *L) {
  const char *fn = "es_sepcma_mean";
  es_arg a[4];
  double am = es_number(L, 5, fn), ks = es_number(L, 6, fn), as = es_number(L, 7, fn);
  static const int pos[4] = {1, 3, 4, 2};
  int64_t P = es_vectors(L, fn, a, pos, 4, 3);
  nyto_stats_pass();
  double n2 = 0;
  if (nyto_es_sepcma_mean(P, nt_data(a[0].t), nt_data(a[3].t), nt_data(a[1].t), nt_data(a[2].t), am, ks, as, &n2))
    return nyto_error(L, "nyto: es_sepcma_mean: out of memory");
  lua_pushnumber(L, n2);
  return 1;
}

/* core.es_sepcma_cov(y, r, D, pc, C, kc, ac, keep, c1, cmu) -> nil.  Second
 * pass: pc <- kc pc + ac y, C <- max(keep C + c1 pc^2 + cmu (r D) D, 1e-300),
 * D <- sqrt(C) */
static int l_es_sepcma_cov(lua_State *L) {
  const char *fn = "es_sepcma_cov";
  es_arg a[5];
  double k[5];
  for (int i = 0; i < 5; i++) k[i] = es_number(L, 6 + i, fn);
  static const int pos[5] = {3, 4, 5, 1, 2}; /* the written ones first (D, pc, C), then y, r */
  int64_t P = es_vectors(L, fn, a, pos, 5, 3);
  nyto_stats_pass();
  nyto_es_sepcma_cov(P, nt_data(a[3].t), nt_data(a[4].t), nt_data(a[0].t), nt_data(a[1].t), nt_data(a[2].t), k[0], k[1],
                     k[2], k[3], k[4], 1e-300);
  return 0;
}

/* core.mem_read(X) -> the sum of X's elements, read as the bandwidth floor's
 * read pass; core.mem_write(X, v) -> X, every element v (streamed) */
static int l_mem_read(lua_State *L) {
  es_arg x = es_tensor(L, 1, "mem_read", 0);
  lua_pushnumber(L, nyto_mem_read(x.dtype, nt_data(x.t), x.n));
  return 1;
}
static int l_mem_write(lua_State *L) {
  es_arg x = es_tensor(L, 1, "mem_write", 0);
  double v = es_number(L, 2, "mem_write");
  lazy_force(L, x.id); /* a deferred particle operation reading X runs first */
  nyto_mem_write(x.dtype, nt_data(x.t), x.n, v);
  lua_settop(L, 1);
  return 1;
}

static void es_open(lua_State *L) {
  static const luaL_Reg funcs[] = {
      {"es_sample", l_es_sample}, {"es_moments", l_es_moments}, {"es_elite", l_es_elite},
      {"es_sepcma_mean", l_es_sepcma_mean}, {"es_sepcma_cov", l_es_sepcma_cov}, {"mem_read", l_mem_read},
      {"mem_write", l_mem_write}, {NULL, NULL}};
  luaL_setfuncs(L, funcs, 0);
}
