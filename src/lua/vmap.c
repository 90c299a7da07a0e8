/* vmap.c -- core.vmap_call: run a Lua function once for n members under a
 * functorch vmap layer (src/torch/vmap.cpp).  Included by binding.c.
 *
 *   results, nfallback, msg = core.vmap_call(n, stacks, fn)
 *
 * stacks: an array of tensors whose dim 1 has size n; fn receives the array
 * of their batched views (each looks like one member's tensor) and returns
 * an array; every Tensor in it is unwrapped (the plain tensor, its member
 * dim moved to dim 1; a result that does not depend on the members is
 * expanded there).  The layer is pushed here and popped here on every path:
 * the forward runs under lua_pcall, and its error is re-raised, the very same
 * value, only after the pop.  nfallback counts the ops that ran through
 * functorch's per-op loop (no batching rule), msg is the first one's warning. */

int nt_vmap_push(int64_t n, int64_t *level);
void nt_vmap_pop(int *nfallback, char *msg, size_t msglen);
int nt_vmap_wrap(const nt_tensor *t, int64_t bdim, int64_t level, nt_tensor **out);
int nt_vmap_unwrap(const nt_tensor *t, int64_t level, int64_t n, int64_t out_dim, nt_tensor **out);
int nt_vmap_is_batched(const nt_tensor *t);

int nt_vmap_linear(const nt_tensor *x, const nt_tensor *w, const nt_tensor *b, int64_t level,
                   int (*small)(const nt_blinear *), int relu, const nt_tensor *w2, const nt_tensor *b2,
                   nt_tensor **out);
int nt_vmap_conv_pool(const nt_tensor *x, const nt_tensor *w, const nt_tensor *b, const int64_t *stride,
                      const int64_t *padding, int64_t level, int mode, int (*direct)(const nt_bconv *),
                      void (*pool)(const float *, float *, int64_t, int64_t, int64_t), nt_tensor **out);

static int vmap_depth; /* nested calls are refused: one layer at a time */
static int64_t vmap_level; /* the level of the running call */

/* body(n, level, stacks, fn): wraps, calls, unwraps; runs under lua_pcall */
static int vmap_body(lua_State *L) {
  int64_t n = (int64_t)lua_tointeger(L, 1);
  int64_t level = (int64_t)lua_tointeger(L, 2);
  lua_Integer ns = luaL_len(L, 3);
  lua_createtable(L, (int)ns, 0); /* 5: the batched views */
  for (lua_Integer i = 1; i <= ns; i++) {
    lua_rawgeti(L, 3, i);
    nt_tensor *s = tensor_check(L, -1, "batched_forward");
    LTensor *u = tensor_newud(L);
    nt_tensor *w = NULL;
    if (nt_vmap_wrap(s, 0, level, &w) != 0)
      return nyto_error(L, "nyto: batched_forward: cannot batch stack %d (%s)", (int)i, nt_error());
    tensor_own(L, u, w);
    lua_rawseti(L, 5, i);
    lua_pop(L, 1);
  }
  lua_pushvalue(L, 4);
  lua_pushvalue(L, 5);
  lua_call(L, 1, 1); /* errors propagate to vmap_call's pcall */
  if (!lua_istable(L, -1)) return nyto_error(L, "nyto: batched_forward: internal error (results are not a table)");
  int r = lua_gettop(L);
  lua_Integer nr = luaL_len(L, r);
  for (lua_Integer i = 1; i <= nr; i++) {
    lua_rawgeti(L, r, i);
    LTensor *src = tensor_ud(L, -1);
    if (src && src->t) {
      LTensor *u = tensor_newud(L);
      nt_tensor *o = NULL;
      if (nt_vmap_unwrap(src->t, level, n, 0, &o) != 0)
        return nyto_error(L, "nyto: batched_forward: cannot unwrap result %d (%s)", (int)i, nt_error());
      tensor_own(L, u, o);
      lua_rawseti(L, r, i);
    }
    lua_pop(L, 1);
  }
  return 1;
}

static int l_vmap_call(lua_State *L) {
  lua_Integer n = luaL_checkinteger(L, 1);
  luaL_checktype(L, 2, LUA_TTABLE);
  luaL_checktype(L, 3, LUA_TFUNCTION);
  if (n < 1) return nyto_error(L, "nyto: batched_forward: n must be >= 1");
  if (vmap_depth > 0) return nyto_error(L, "nyto: batched_forward: nested batched forwards are not supported");
  lua_settop(L, 3);
  lua_pushcfunction(L, vmap_body);
  lua_pushinteger(L, n);
  int64_t level = 0;
  if (nt_vmap_push((int64_t)n, &level) != 0) return nyto_error(L, "nyto: batched_forward: %s", nt_error());
  vmap_depth++;
  vmap_level = level;
  lua_pushinteger(L, (lua_Integer)level);
  lua_pushvalue(L, 2);
  lua_pushvalue(L, 3);
  int st = lua_pcall(L, 4, 1, 0);
  int nfb = 0;
  char msg[256];
  msg[0] = '\0';
  nt_vmap_pop(&nfb, msg, sizeof msg);
  vmap_depth--;
  if (st != LUA_OK) return lua_error(L); /* the very same error value, after the pop */
  lua_pushinteger(L, nfb);
  lua_pushstring(L, msg);
  return 3;
}

/* core.vmap_linear(x, w [, b [, relu [, w2 [, b2]]]]): the fused linear of
 * nt_vmap_linear inside a vmap_call, or nil when it does not apply (or outside
 * a call): the caller then runs F.linear itself, with its checks and messages.
 * relu true: max(linear, 0), only by the core's small kernel (nil otherwise);
 * with w2 (and b2 or nil) too: a Linear -> ReLU -> Linear, the second layer on
 * each member's hidden rows while in cache (the small kernel only). */
static lua_Integer blin_one, blin_two; /* the small kernel's calls: one layer, two layers */
static int blin_counted(const nt_blinear *p) {
  if (p->next) blin_two++;
  else blin_one++;
  return nyto_batched_linear(p);
}
/* core.blinear_count(): the small-linear kernel's calls since the start, of
 * one layer and of two (Linear -> ReLU -> Linear): specs tell which ran */
static int l_blinear_count(lua_State *L) {
  lua_pushinteger(L, blin_one);
  lua_pushinteger(L, blin_two);
  return 2;
}

static int l_vmap_linear(lua_State *L) {
  if (vmap_depth == 0) return 0;
  LTensor *x = tensor_ud(L, 1), *w = tensor_ud(L, 2), *b = lua_isnoneornil(L, 3) ? NULL : tensor_ud(L, 3);
  if (!x || !x->t || !w || !w->t || (!lua_isnoneornil(L, 3) && (!b || !b->t))) return 0;
  const int relu = lua_toboolean(L, 4); /* before the new userdata takes index 4 when absent */
  LTensor *w2 = lua_isnoneornil(L, 5) ? NULL : tensor_ud(L, 5), *b2 = lua_isnoneornil(L, 6) ? NULL : tensor_ud(L, 6);
  if ((!lua_isnoneornil(L, 5) && (!w2 || !w2->t)) || (!lua_isnoneornil(L, 6) && (!b2 || !b2->t || !w2))) return 0;
  lua_settop(L, 6);
  LTensor *u = tensor_newud(L);
  nt_tensor *o = NULL;
  if (nt_vmap_linear(x->t, w->t, b ? b->t : NULL, vmap_level, blin_counted, relu, w2 ? w2->t : NULL,
                     b2 ? b2->t : NULL, &o) != 0 ||
      !o) {
    lua_pushnil(L);
    return 1;
  }
  tensor_own(L, u, o);
  return 1;
}

/* The conv block's internal controls (specs, bench): a forced path (0 the
 * block chooses, 1 the direct kernel, 2 a libtorch convolution per member),
 * used when a call passes no mode of its own, and counts of the block's runs
 * by path, so a spec can tell the block ran and which path ran. */
static int bconv_forced_mode;
static lua_Integer bconv_ndirect, bconv_nmember;
static int bconv_count_direct(const nt_bconv *p) {
  bconv_ndirect++;
  return nyto_conv_relu_pool(p);
}
static void bconv_count_pool(const float *x, float *y, int64_t planes, int64_t h, int64_t w) {
  bconv_nmember++;
  nyto_relu_pool2(x, y, planes, h, w);
}

/* core.vmap_conv_pool(x, w, b|nil, sh, sw, ph, pw [, mode]): the fused
 * Conv2d + ReLU + MaxPool2d(2) of nt_vmap_conv_pool inside a vmap_call, or
 * nil when it does not apply (or outside a call): the caller then runs the
 * layers themselves.  Arguments of the wrong type are a nyto: error.  mode
 * (internal, for the specs and bench): 0 or absent uses core.bconv_force's
 * (itself 0: the block chooses), 1 the direct kernel, 2 a libtorch
 * convolution per member. */
static int l_vmap_conv_pool(lua_State *L) {
  static const char *fn = "vmap_conv_pool";
  int nargs = lua_gettop(L);
  if (nargs < 7 || nargs > 8)
    return nyto_error(L, "nyto: %s: 7 or 8 arguments expected (x, w, b|nil, sh, sw, ph, pw [, mode]), got %d", fn, nargs);
  nt_tensor *xt = tensor_check(L, 1, fn), *wt = tensor_check(L, 2, fn), *bt = NULL;
  if (!lua_isnil(L, 3)) bt = tensor_check(L, 3, fn);
  int64_t st[2], pd[2];
  for (int i = 0; i < 4; i++) {
    lua_Integer v = check_int(L, 4 + i, fn);
    if (i < 2) st[i] = (int64_t)v; else pd[i - 2] = (int64_t)v;
  }
  int mode = 0;
  if (!lua_isnoneornil(L, 8)) {
    lua_Integer m = check_int(L, 8, fn);
    if (m < 0 || m > 2) nyto_argerror(L, 8, fn, lua_pushfstring(L, "mode 0, 1 or 2 expected, got %I", m));
    mode = (int)m;
  }
  if (mode == 0) mode = bconv_forced_mode;
  if (vmap_depth == 0) {
    lua_pushnil(L);
    return 1;
  }
  LTensor *u = tensor_newud(L);
  nt_tensor *o = NULL;
  if (nt_vmap_conv_pool(xt, wt, bt, st, pd, vmap_level, mode, bconv_count_direct, bconv_count_pool, &o) != 0 || !o) {
    lua_pushnil(L);
    return 1;
  }
  tensor_own(L, u, o);
  return 1;
}

/* core.bconv_force(mode) -> the previous mode (see above). */
static int l_bconv_force(lua_State *L) {
  lua_Integer m = check_int(L, 1, "bconv_force");
  if (m < 0 || m > 2) nyto_argerror(L, 1, "bconv_force", lua_pushfstring(L, "mode 0, 1 or 2 expected, got %I", m));
  lua_pushinteger(L, bconv_forced_mode);
  bconv_forced_mode = (int)m;
  return 1;
}

/* core.bconv_count() -> direct-kernel calls, per-member convolutions so far. */
static int l_bconv_count(lua_State *L) {
  lua_pushinteger(L, bconv_ndirect);
  lua_pushinteger(L, bconv_nmember);
  return 2;
}

/* core.bconv_isa(level) -> the previous cap, the path now in force: caps the
 * direct kernel's vector path (0 baseline, 1 AVX2 + FMA, 2 AVX-512; < 0 only
 * queries); a path the CPU lacks stays off (the second result says so). */
static int l_bconv_isa(lua_State *L) {
  lua_Integer lv = check_int(L, 1, "bconv_isa");
  if (lv > 2) nyto_argerror(L, 1, "bconv_isa", lua_pushfstring(L, "level -1 to 2 expected, got %I", lv));
  int old = nyto_bconv_isa(lv < 0 ? -1 : (int)lv);
  lua_pushinteger(L, old);
  lua_pushinteger(L, nyto_bconv_path());
  return 2;
}

static void vmap_open(lua_State *L) {
  static const luaL_Reg fns[] = {{"bconv_force", l_bconv_force},     {"bconv_count", l_bconv_count},
                                 {"bconv_isa", l_bconv_isa},         {"vmap_conv_pool", l_vmap_conv_pool},
                                 {"vmap_linear", l_vmap_linear},     {"blinear_count", l_blinear_count},
                                 {"vmap_call", l_vmap_call},         {NULL, NULL}};
  luaL_setfuncs(L, fns, 0);
}
