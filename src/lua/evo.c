/* evo.c -- the binding of the fused PSO, GA and DE generations (src/core/evo.c;
 * docs/core.md, "Strategy passes").  Tensors, not Buffers: the strategies
 * hold [n, D] tensors (a swarm's arena viewed by s:flat(), or a tensor
 * population).  Every argument is checked before anything is drawn or
 * written, so bad input raises and changes nothing. */

typedef struct {
  int dtype;
  int64_t rows, cols;
  char *p;
  const void *id;
} evo_mat;

/* a contiguous CPU float tensor: [rows, cols] (dim 2), or of cols elements
 * (dim 1: rows = 1) when vec */
static evo_mat evo_mat_check(lua_State *L, int i, const char *fn, int vec) {
  nt_tensor *t = tensor_check(L, i, fn);
  evo_mat m = {nt_dtype(t), 1, 0, nt_data(t), nt_storage_id(t)};
  if (!m.p || !nt_is_contiguous(t)) nyto_argerror(L, i, fn, "a contiguous CPU tensor expected");
  if (m.dtype != NT_FLOAT32 && m.dtype != NT_FLOAT64) nyto_argerror(L, i, fn, "float32 or float64 expected");
  if (nt_dim(t) != (vec ? 1 : 2)) nyto_argerror(L, i, fn, vec ? "a 1-D tensor expected" : "a 2-D tensor expected");
  if (vec) m.cols = nt_size(t, 0);
  else m.rows = nt_size(t, 0), m.cols = nt_size(t, 1);
  lazy_force(L, m.id);
  return m;
}

static void evo_like(lua_State *L, int i, const char *fn, const evo_mat *m, const evo_mat *ref, const char *what) {
  if (m->dtype != ref->dtype) nyto_argerror(L, i, fn, lua_pushfstring(L, "%s of another dtype", what));
  if (m->rows != ref->rows || m->cols != ref->cols) nyto_argerror(L, i, fn, lua_pushfstring(L, "%s of another shape", what));
}

static void evo_distinct(lua_State *L, int i, const char *fn, const evo_mat *a, const evo_mat *b) {
  if (a->id == b->id) nyto_argerror(L, i, fn, "shares its storage with another operand");
}

static double evo_num(lua_State *L, int i, const char *fn, const char *what) {
  if (lua_type(L, i) != LUA_TNUMBER) nyto_argerror(L, i, fn, lua_pushfstring(L, "%s: number expected, got %s", what, luaL_typename(L, i)));
  double v = lua_tonumber(L, i);
  if (!isfinite(v)) nyto_argerror(L, i, fn, lua_pushfstring(L, "%s must be finite", what));
  return v;
}

/* a Lua table of n integers in [1, hi] as 0-based int64 (a userdata pushed:
 * kept alive on the stack until the call returns) */
static int64_t *evo_index(lua_State *L, int i, const char *fn, int64_t n, int64_t hi, const char *what) {
  if (lua_type(L, i) != LUA_TTABLE) nyto_argerror(L, i, fn, lua_pushfstring(L, "%s: table expected, got %s", what, luaL_typename(L, i)));
  if ((int64_t)lua_rawlen(L, i) != n) nyto_argerror(L, i, fn, lua_pushfstring(L, "%s: %d indices expected", what, (int)n));
  int64_t *v = lua_newuserdatauv(L, sizeof(int64_t) * (size_t)(n > 0 ? n : 1), 0);
  for (int64_t r = 0; r < n; r++) {
    lua_rawgeti(L, i, r + 1);
    int ok;
    lua_Integer k = lua_tointegerx(L, -1, &ok);
    lua_pop(L, 1);
    if (!ok || k < 1 || k > hi)
      nyto_argerror(L, i, fn, lua_pushfstring(L, "%s: index %d must be an integer in [1, %d]", what, (int)(r + 1), (int)hi));
    v[r] = (int64_t)k - 1;
  }
  return v;
}

/* the optional mask at i: nil (every column) or a bool tensor of D elements,
 * as the segments of its true runs (a userdata pushed) */
static nyto_seg *evo_mask(lua_State *L, int i, const char *fn, int64_t D, int *nseg) {
  if (lua_isnoneornil(L, i)) {
    nyto_seg *s = lua_newuserdatauv(L, sizeof *s, 0);
    s->off = 0, s->len = D;
    *nseg = 1;
    return s;
  }
  nt_tensor *t = tensor_check(L, i, fn);
  const unsigned char *b = nt_data(t);
  if (!b || nt_dtype(t) != NT_BOOL || !nt_is_contiguous(t) || nt_numel(t) != D)
    nyto_argerror(L, i, fn, "mask: a contiguous bool tensor of one row's elements expected");
  int k = 0;
  for (int64_t j = 0; j < D; j++)
    if (b[j] && (j == 0 || !b[j - 1])) k++;
  if (k > (1 << 24)) nyto_argerror(L, i, fn, "mask: more than 2^24 runs");
  nyto_seg *s = lua_newuserdatauv(L, sizeof *s * (size_t)(k > 0 ? k : 1), 0);
  k = 0;
  for (int64_t j = 0; j < D; j++) {
    if (!b[j]) continue;
    if (j == 0 || !b[j - 1]) s[k].off = j, s[k].len = 0, k++;
    s[k - 1].len++;
  }
  *nseg = k;
  return s;
}

/* core.evo_pso_(X, V, Pb, g, w, c1, c2 [, mask [, gen]]) -> X: the PSO step in
 * place on X and V ([n, D]; Pb [n, D], g [D]; one dtype), r1 and r2 the
 * draws of nyto.rand({n, D}) twice from gen */
static int l_evo_pso_(lua_State *L) {
  const char *fn = "evo_pso_";
  evo_mat x = evo_mat_check(L, 1, fn, 0), v = evo_mat_check(L, 2, fn, 0), p = evo_mat_check(L, 3, fn, 0),
          g = evo_mat_check(L, 4, fn, 1);
  evo_like(L, 2, fn, &v, &x, "velocities");
  evo_like(L, 3, fn, &p, &x, "personal bests");
  if (g.dtype != x.dtype || g.cols != x.cols) nyto_argerror(L, 4, fn, "global best of another layout");
  evo_distinct(L, 2, fn, &v, &x);
  evo_distinct(L, 3, fn, &p, &x);
  evo_distinct(L, 3, fn, &p, &v);
  evo_distinct(L, 4, fn, &g, &x);
  evo_distinct(L, 4, fn, &g, &v);
  double w = evo_num(L, 5, fn, "w"), c1 = evo_num(L, 6, fn, "c1"), c2 = evo_num(L, 7, fn, "c2");
  int nseg;
  nyto_seg *segs = evo_mask(L, 8, fn, x.cols, &nseg);
  LGen *gen = lua_isnoneornil(L, 9) ? &gen_global : gen_check(L, 9, fn);
  int64_t N = x.rows * x.cols;
  uint64_t k1 = gen_take(gen, N), k2 = gen_take(gen, N);
  nyto_stats_pass();
  nyto_evo_pso(x.dtype, x.p, v.p, p.p, g.p, x.rows, x.cols, w, c1, c2, segs, nseg, gen->seed, gen->stream, k1, k2);
  lua_settop(L, 1);
  return 1;
}

/* core.evo_ga(out, X, ia, ib, cross, mut [, mask [, gen]]) -> out: the GA's
 * children; row r of out from rows ia[r], ib[r] of X (1-based), cross a table
 * of booleans, mut of numbers >= 0; u and z the draws of nyto.rand({n, D})
 * then nyto.randn({n, D}) from gen */
static int l_evo_ga(lua_State *L) {
  const char *fn = "evo_ga";
  evo_mat o = evo_mat_check(L, 1, fn, 0), X = evo_mat_check(L, 2, fn, 0);
  if (X.dtype != o.dtype || X.cols != o.cols) nyto_argerror(L, 2, fn, "parents of another layout");
  evo_distinct(L, 2, fn, &X, &o);
  int64_t n = o.rows;
  int64_t *ia = evo_index(L, 3, fn, n, X.rows, "ia"), *ib = evo_index(L, 4, fn, n, X.rows, "ib");
  if (lua_type(L, 5) != LUA_TTABLE || (int64_t)lua_rawlen(L, 5) != n)
    nyto_argerror(L, 5, fn, lua_pushfstring(L, "cross: a table of %d booleans expected", (int)n));
  if (lua_type(L, 6) != LUA_TTABLE || (int64_t)lua_rawlen(L, 6) != n)
    nyto_argerror(L, 6, fn, lua_pushfstring(L, "mut: a table of %d numbers expected", (int)n));
  unsigned char *cross = lua_newuserdatauv(L, (size_t)(n > 0 ? n : 1), 0);
  double *mut = lua_newuserdatauv(L, sizeof(double) * (size_t)(n > 0 ? n : 1), 0);
  for (int64_t r = 0; r < n; r++) {
    lua_rawgeti(L, 5, r + 1);
    if (!lua_isboolean(L, -1)) nyto_argerror(L, 5, fn, "cross: booleans expected");
    cross[r] = (unsigned char)lua_toboolean(L, -1);
    lua_rawgeti(L, 6, r + 1);
    double m = lua_tonumber(L, -1);
    if (lua_type(L, -1) != LUA_TNUMBER || !isfinite(m) || m < 0)
      nyto_argerror(L, 6, fn, "mut: finite numbers >= 0 expected");
    mut[r] = m;
    lua_pop(L, 2);
  }
  int nseg;
  nyto_seg *segs = evo_mask(L, 7, fn, o.cols, &nseg);
  LGen *gen = lua_isnoneornil(L, 8) ? &gen_global : gen_check(L, 8, fn);
  int64_t N = n * o.cols;
  uint64_t ku = gen_take(gen, N), kz = gen_take(gen, N);
  nyto_stats_pass();
  nyto_evo_ga(o.dtype, o.p, X.p, n, o.cols, ia, ib, cross, mut, segs, nseg, gen->seed, gen->stream, ku, kz);
  lua_settop(L, 1);
  return 1;
}

/* core.evo_de(out, X, r1, r2, r3, jr, F, CR [, mask [, gen]]) -> out: the DE
 * trial vectors; X and out [n, D]; r1, r2, r3 rows of X and jr columns
 * (1-based); u the draws of nyto.rand({n, D}) from gen */
static int l_evo_de(lua_State *L) {
  const char *fn = "evo_de";
  evo_mat o = evo_mat_check(L, 1, fn, 0), X = evo_mat_check(L, 2, fn, 0);
  evo_like(L, 2, fn, &X, &o, "population");
  evo_distinct(L, 2, fn, &X, &o);
  int64_t n = o.rows, D = o.cols;
  int64_t *r1 = evo_index(L, 3, fn, n, n, "r1"), *r2 = evo_index(L, 4, fn, n, n, "r2"),
          *r3 = evo_index(L, 5, fn, n, n, "r3"), *jr = evo_index(L, 6, fn, n, D, "jr");
  double F = evo_num(L, 7, fn, "F"), CR = evo_num(L, 8, fn, "CR");
  int nseg;
  nyto_seg *segs = evo_mask(L, 9, fn, D, &nseg);
  LGen *gen = lua_isnoneornil(L, 10) ? &gen_global : gen_check(L, 10, fn);
  uint64_t ku = gen_take(gen, n * D);
  nyto_stats_pass();
  nyto_evo_de(o.dtype, o.p, X.p, n, D, r1, r2, r3, jr, F, CR, segs, nseg, gen->seed, gen->stream, ku);
  lua_settop(L, 1);
  return 1;
}

static void evo_open(lua_State *L) {
  static const luaL_Reg funcs[] = {{"evo_pso_", l_evo_pso_}, {"evo_ga", l_evo_ga}, {"evo_de", l_evo_de}, {NULL, NULL}};
  luaL_setfuncs(L, funcs, 0);
}
