/* particle.c -- nyto.Buffer (one particle's flat parameter storage of one
 * dtype) and nyto.Segments (the operational ranges of a species version),
 * with the particle-operation loops of src/core.  Included by binding.c. */

#define BUFFER_MT "nyto.Buffer"
#define SEGS_MT "nyto.Segments"

typedef struct LSegs {
  int nseg;
  int64_t total; /* elements covered */
  nyto_seg segs[];
} LSegs;

/* A Buffer is either computed (t, data) or deferred: its values are
 * op(src, v) on segs and src's values elsewhere, not yet computed.  Only a
 * particle operation with a number is deferred, and only for one step:
 * the next operation that reads the buffer either fuses the op into its own
 * pass (a scalar or binary particle operation: `0.5*net + 10` is one pass)
 * or computes it first (everything else).  docs/design.md, "Deferred
 * particle operations". */
typedef struct LBuffer {
  nt_tensor *t; /* 1-d, contiguous; NULL when freed or deferred */
  void *data;
  int64_t n;
  int dtype;
  /* deferred: src is a second handle on the operand's storage (the pool
   * never hands out a storage that has one), segs lives in user value 1 */
  nt_tensor *src;
  const void *src_data;
  const void *src_id; /* its storage (nt_storage_id) */
  const LSegs *segs;
  double v;
  int op;
  int lidx; /* index in the deferred list */
  int slice; /* a view of another buffer's range (a swarm member's row): t is
                a handle on that storage, freed (never pooled) with the slice */
} LBuffer;

/* Every deferred Buffer, so that a write to memory a deferred one reads
 * (an in-place tensor op, an in-place particle op) can compute it first. */
static LBuffer **lazy_v;
static int lazy_cap;

static void lazy_unlist(LBuffer *b) {
  LBuffer *last = lazy_v[--lazy_n];
  lazy_v[b->lidx] = last;
  last->lidx = b->lidx;
}

/* Forget a deferred buffer's operand (after computing it, or when it dies). */
static void lazy_drop(LBuffer *b) {
  lazy_unlist(b);
  nyto_untrack(b->src);
  nt_free(b->src);
  b->src = NULL;
  b->src_data = NULL;
  b->src_id = NULL;
}

static int64_t buffer_bytes(const LBuffer *b) { return b->n * (b->dtype == NT_FLOAT64 ? 8 : 4); }

static void copy_gaps_from(LBuffer *dst, const void *src, const LSegs *s);

/* Give b (n and dtype set) its memory, from the pool or libtorch, with no
 * collection on the way; raises with b unchanged when there is none. */
static void buffer_take(lua_State *L, LBuffer *b) {
  nt_tensor *t;
  if (nyto_buffer_acquire(b->dtype, b->n, &t) != 0) nyto_error(L, "nyto: cannot allocate a particle buffer: %s", nt_error());
  b->t = t;
  b->data = nt_data(t);
  nyto_track(t);
}

/* Compute deferred b into a new buffer, with no collection on the way. */
static void lazy_compute_now(lua_State *L, LBuffer *b) {
  buffer_take(L, b);
  copy_gaps_from(b, b->src_data, b->segs);
  nyto_stats_pass();
  nyto_pass_scalar(b->dtype, b->data, b->src_data, b->v, b->op, b->segs->segs, b->segs->nseg);
  lazy_drop(b);
}

/* Compute deferred b, which the caller keeps reachable.  Allocation
 * failure raises and leaves it deferred. */
static void lazy_compute(lua_State *L, LBuffer *b) {
  nyto_gc_pace_before(L, buffer_bytes(b) + NYTO_HANDLE_BYTES);
  lazy_compute_now(L, b);
}

/* The last deferred buffer that reads storage id (any, when id is NULL), or -1. */
static int lazy_find(const void *id) {
  int i = lazy_n - 1;
  while (i >= 0 && id && lazy_v[i]->src_id != id) i--;
  return i;
}

/* Compute the deferred buffers that read storage id (all of them, when id
 * is NULL) before it is written.  The list holds no references: the pacing
 * collection may finalise dead ones, which unlists them, so each round
 * looks again after it. */
static void lazy_force(lua_State *L, const void *id) {
  for (int i; (i = lazy_find(id)) >= 0;) {
    nyto_gc_pace_before(L, buffer_bytes(lazy_v[i]) + NYTO_HANDLE_BYTES);
    if ((i = lazy_find(id)) < 0) return;
    lazy_compute_now(L, lazy_v[i]);
  }
}

/* Before a tensor op writes t (or, t NULL, tensors it cannot name): t may be
 * a parameter view of a deferred buffer's operand. */
static void lazy_before_write(lua_State *L, const nt_tensor *t) {
  if (lazy_n == 0) return;
  const void *id = t ? nt_storage_id(t) : NULL;
  if (!t || id) lazy_force(L, id);
}

/* The Buffer at i, computed (fname names the caller in errors). */
static LBuffer *buffer_check(lua_State *L, int i, const char *fname) {
  LBuffer *b = luaL_testudata(L, i, BUFFER_MT);
  if (!b) nyto_argerror(L, i, fname, lua_pushfstring(L, "Buffer expected, got %s", luaL_typename(L, i)));
  if (b->src) lazy_compute(L, b);
  if (!b->t) nyto_error(L, "nyto: attempt to use a freed particle");
  return b;
}

/* The Buffer at i as it is, deferred or computed. */
static LBuffer *buffer_peek(lua_State *L, int i, const char *fname) {
  LBuffer *b = luaL_testudata(L, i, BUFFER_MT);
  if (!b) nyto_argerror(L, i, fname, lua_pushfstring(L, "Buffer expected, got %s", luaL_typename(L, i)));
  if (!b->t && !b->src) nyto_error(L, "nyto: attempt to use a freed particle");
  return b;
}

/* An integer argument, or a nyto error naming it, never luaL's (scripts reach nyto.core):
 * for the core entries here and the public functions of binding.c alike. */
static lua_Integer nyto_checkint(lua_State *L, int i, const char *fname) {
  int isint;
  lua_Integer v = lua_tointegerx(L, i, &isint);
  if (!isint || lua_type(L, i) != LUA_TNUMBER)
    nyto_argerror(L, i, fname, lua_pushfstring(L, "integer expected, got %s",
                                               lua_type(L, i) == LUA_TNUMBER ? "a non-integral number" : luaL_typename(L, i)));
  return v;
}

static double p_checknum(lua_State *L, int i, const char *fname) {
  if (lua_type(L, i) != LUA_TNUMBER)
    nyto_argerror(L, i, fname, lua_pushfstring(L, "number expected, got %s", luaL_typename(L, i)));
  return lua_tonumber(L, i);
}

static LBuffer *buffer_newud(lua_State *L) {
  LBuffer *b = lua_newuserdatauv(L, sizeof *b, 1);
  memset(b, 0, sizeof *b);
  luaL_setmetatable(L, BUFFER_MT);
  return b;
}

static void buffer_fill(lua_State *L, LBuffer *b, int dtype, int64_t n) {
  b->n = n;
  b->dtype = dtype;
  nyto_gc_pace_before(L, buffer_bytes(b) + NYTO_HANDLE_BYTES);
  buffer_take(L, b);
}

/* __gc, __close and buf:free().  Freeing the operand of a deferred buffer
 * is safe: the deferred one's handle keeps the storage out of the pool. */
static int b_gc(lua_State *L) {
  LBuffer *b = luaL_testudata(L, 1, BUFFER_MT);
  if (!b) return nyto_error(L, "nyto: bad self to 'free' (Buffer expected, got %s)", luaL_typename(L, 1));
  if (b->src) lazy_drop(b);
  if (b->t) {
    nyto_untrack(b->t);
    if (b->slice) nt_free(b->t);
    else nyto_buffer_release(b->t);
    b->t = NULL;
    b->data = NULL;
  }
  return 0;
}

/* core.buffer(dtype, n) */
static int l_buffer(lua_State *L) {
  int dtype = check_dtype(L, 1, "buffer");
  lua_Integer n = nyto_checkint(L, 2, "buffer");
  if (dtype != NT_FLOAT32 && dtype != NT_FLOAT64) return nyto_argerror(L, 1, "buffer", "particle buffers are float32 or float64");
  if (n < 0 || n > NYTO_MAX_NUMEL) return nyto_argerror(L, 2, "buffer", "size must be between 0 and 2^40");
  LBuffer *b = buffer_newud(L);
  buffer_fill(L, b, dtype, n);
  if (n > 0) memset(b->data, 0, (size_t)n * (dtype == NT_FLOAT64 ? 8 : 4));
  return 1;
}

static int b_numel(lua_State *L) {
  lua_pushinteger(L, buffer_peek(L, 1, "numel")->n);
  return 1;
}

static int b_dtype(lua_State *L) {
  lua_pushstring(L, dtype_names[buffer_peek(L, 1, "dtype")->dtype]);
  return 1;
}

/* buf:tensor(): a 1-d Tensor sharing the buffer */
static int b_tensor(lua_State *L) {
  LBuffer *b = buffer_check(L, 1, "tensor");
  LTensor *u = tensor_newud(L);
  nt_tensor *t;
  int64_t sz[1] = {b->n};
  if (nt_view_of(b->t, 0, sz, 1, 0, &t) != 0) return tensor_fail(L, "tensor");
  tensor_own(L, u, t);
  return 1;
}

/* core.segments{off1, len1, off2, len2, ...} (0-based element ranges) */
static int l_segments(lua_State *L) {
  if (lua_type(L, 1) != LUA_TTABLE)
    return nyto_argerror(L, 1, "segments", lua_pushfstring(L, "table expected, got %s", luaL_typename(L, 1)));
  lua_Unsigned rn = lua_rawlen(L, 1);
  if (rn > (lua_Unsigned)1 << 24) return nyto_argerror(L, 1, "segments", "too many ranges");
  int n = (int)rn;
  if (n % 2) return nyto_argerror(L, 1, "segments", "pairs of offset and length expected");
  LSegs *s = lua_newuserdatauv(L, sizeof(LSegs) + sizeof(nyto_seg) * (size_t)(n / 2), 0);
  s->nseg = 0;
  s->total = 0;
  luaL_setmetatable(L, SEGS_MT);
  int64_t prev_end = 0;
  for (int i = 0; i < n / 2; i++) {
    lua_rawgeti(L, 1, 2 * i + 1);
    lua_rawgeti(L, 1, 2 * i + 2);
    int isint_o, isint_l;
    int64_t off = lua_tointegerx(L, -2, &isint_o), len = lua_tointegerx(L, -1, &isint_l);
    if (!isint_o || !isint_l || lua_type(L, -2) != LUA_TNUMBER || lua_type(L, -1) != LUA_TNUMBER)
      return nyto_argerror(L, 1, "segments", "offsets and lengths must be integers");
    lua_pop(L, 2);
    /* overflow-safe: off + len must stay within NYTO_MAX_NUMEL */
    if (off < 0 || len < 0 || off > NYTO_MAX_NUMEL || len > NYTO_MAX_NUMEL - off)
      return nyto_argerror(L, 1, "segments", "offsets and lengths must be non-negative and at most 2^40");
    if (off < prev_end) return nyto_argerror(L, 1, "segments", "ranges must be sorted and disjoint");
    if (len == 0) continue;
    /* merge adjacent ranges: fewer, longer loops */
    if (s->nseg > 0 && off == prev_end) s->segs[s->nseg - 1].len += len;
    else s->segs[s->nseg++] = (nyto_seg){off, len};
    s->total += len;
    prev_end = off + len;
  }
  return 1;
}

static LSegs *segs_check(lua_State *L, int i, LBuffer *b, const char *fname) {
  LSegs *s = luaL_testudata(L, i, SEGS_MT);
  if (!s) nyto_argerror(L, i, fname, lua_pushfstring(L, "Segments expected, got %s", luaL_typename(L, i)));
  if (s->nseg > 0) {
    nyto_seg last = s->segs[s->nseg - 1];
    /* l_segments keeps off and len within NYTO_MAX_NUMEL: no overflow */
    if (last.off > b->n || last.len > b->n - last.off) nyto_argerror(L, i, fname, "segments exceed the buffer");
  }
  return s;
}

static int segs_count(lua_State *L) {
  LSegs *s = luaL_testudata(L, 1, SEGS_MT);
  if (!s) return nyto_argerror(L, 1, "segments", "Segments expected");
  lua_pushinteger(L, s->nseg);
  lua_pushinteger(L, s->total);
  return 2;
}

/* Copy what lies outside the segments from src (data of dst's layout) to dst. */
static void copy_gaps_from(LBuffer *dst, const void *src, const LSegs *s) {
  int64_t pos = 0;
  for (int k = 0; k < s->nseg; k++) {
    if (s->segs[k].off > pos) nyto_pass_copy(dst->dtype, dst->data, src, pos, s->segs[k].off - pos);
    pos = s->segs[k].off + s->segs[k].len;
  }
  if (pos < dst->n) nyto_pass_copy(dst->dtype, dst->data, src, pos, dst->n - pos);
}

/* The in-place target at arg i: computed, of src's layout, and with every
 * deferred buffer that reads it computed first. */
static LBuffer *dest_check(lua_State *L, int i, const LBuffer *src, const char *fname) {
  LBuffer *d = buffer_check(L, i, fname);
  if (d->n != src->n || d->dtype != src->dtype) nyto_argerror(L, i, fname, "buffer of another layout");
  lazy_force(L, nt_storage_id(d->t));
  return d;
}

/* A new, computed buffer of src's layout, pushed. */
static LBuffer *dest_new(lua_State *L, const LBuffer *src) {
  LBuffer *d = buffer_newud(L);
  buffer_fill(L, d, src->dtype, src->n);
  return d;
}

/* A new deferred buffer: op(a, v) on segs (at stack index si). */
static int push_deferred(lua_State *L, LBuffer *a, double v, int op, LSegs *s, int si) {
  if (lazy_n == lazy_cap) {
    int cap = lazy_cap ? 2 * lazy_cap : 64;
    LBuffer **nv = realloc(lazy_v, sizeof *nv * (size_t)cap);
    if (!nv) return 0;
    lazy_v = nv;
    lazy_cap = cap;
  }
  LBuffer *d = buffer_newud(L);
  nt_tensor *h;
  if (nt_shallow(a->t, &h) != 0) return tensor_fail(L, "particle operation");
  nyto_track(h);
  d->n = a->n;
  d->dtype = a->dtype;
  d->src = h;
  d->src_data = a->data;
  d->src_id = nt_storage_id(a->t);
  d->segs = s;
  d->v = v;
  d->op = op;
  d->lidx = lazy_n;
  lazy_v[lazy_n++] = d;
  lua_pushvalue(L, si);
  lua_setiuservalue(L, -2, 1);
  return 1;
}

/* core.pscalar(src, s, op, segs [, dst]) -> dst.  Without dst the result
 * is deferred; on a deferred src with the same segments, both ops run in
 * one pass. */
static int check_op(lua_State *L, int i) {
  lua_Integer op = nyto_checkint(L, i, "particle operation");
  if (op < NYTO_ADD || op > NYTO_RPOW) nyto_argerror(L, i, "particle operation", "unknown operation");
  return (int)op;
}

static int l_pscalar(lua_State *L) {
  double v = p_checknum(L, 2, "particle operation");
  int op = check_op(L, 3);
  if (!lua_isnoneornil(L, 5)) {
    LBuffer *a = buffer_check(L, 1, "particle operation");
    LSegs *s = segs_check(L, 4, a, "particle operation");
    LBuffer *d = dest_check(L, 5, a, "particle operation");
    nyto_stats_pass();
    nyto_pass_scalar(a->dtype, d->data, a->data, v, op, s->segs, s->nseg);
    lua_settop(L, 5);
    return 1;
  }
  LBuffer *a = buffer_peek(L, 1, "particle operation");
  LSegs *s = segs_check(L, 4, a, "particle operation");
  if (a->src && a->segs == s) {
    LBuffer *d = dest_new(L, a);
    copy_gaps_from(d, a->src_data, s);
    nyto_stats_pass();
    nyto_pass_scalar2(a->dtype, d->data, a->src_data, a->v, a->op, v, op, s->segs, s->nseg);
    return 1;
  }
  if (a->src) a = buffer_check(L, 1, "particle operation");
  if (a->n > 0 && push_deferred(L, a, v, op, s, 4)) return 1;
  LBuffer *d = dest_new(L, a);
  copy_gaps_from(d, a->data, s);
  nyto_stats_pass();
  nyto_pass_scalar(a->dtype, d->data, a->data, v, op, s->segs, s->nseg);
  return 1;
}

/* core.paffine(src, mul, add, segs [, dst]) -> dst = src*mul + add */
static int l_paffine(lua_State *L) {
  LBuffer *a = buffer_check(L, 1, "particle operation");
  double m = p_checknum(L, 2, "particle operation"), c = p_checknum(L, 3, "particle operation");
  LSegs *s = segs_check(L, 4, a, "particle operation");
  LBuffer *d;
  if (!lua_isnoneornil(L, 5)) {
    d = dest_check(L, 5, a, "particle operation");
    lua_settop(L, 5);
  } else {
    d = dest_new(L, a);
    copy_gaps_from(d, a->data, s);
  }
  nyto_stats_pass();
  nyto_pass_affine(a->dtype, d->data, a->data, m, c, s->segs, s->nseg);
  return 1;
}

/* One operand of a fused binary pass: its data and, when it is deferred
 * with the pass's segments, its pending op (-1: none). */
static const void *operand_of(lua_State *L, int i, LSegs *s, int *op, double *v) {
  LBuffer *b = buffer_peek(L, i, "particle operation");
  if (b->src && b->segs == s) {
    *op = b->op;
    *v = b->v;
    return b->src_data;
  }
  *op = -1;
  *v = 0;
  return buffer_check(L, i, "particle operation")->data;
}

/* core.pbinary(a, b, op, segs [, dst]) -> dst.  Deferred operands with the
 * same segments run their op inside this pass. */
static int l_pbinary(lua_State *L) {
  LBuffer *a = buffer_peek(L, 1, "particle operation");
  LBuffer *b = buffer_peek(L, 2, "particle operation");
  int op = check_op(L, 3);
  if (a->n != b->n || a->dtype != b->dtype) return nyto_argerror(L, 2, "particle operation", "particles of different layouts");
  LSegs *s = segs_check(L, 4, a, "particle operation");
  int opa, opb;
  double va, vb;
  if (!lua_isnoneornil(L, 5)) {
    /* in place: the target first (computing the deferred buffers that read
     * it), then b, which may still be deferred on another storage */
    a = buffer_check(L, 1, "particle operation");
    LBuffer *d = dest_check(L, 5, a, "particle operation");
    const void *xb = operand_of(L, 2, s, &opb, &vb);
    nyto_stats_pass();
    if (opb < 0) nyto_pass_binary(a->dtype, d->data, a->data, xb, op, s->segs, s->nseg);
    else nyto_pass_binary_pre(a->dtype, d->data, a->data, -1, 0, xb, opb, vb, op, s->segs, s->nseg);
    lua_settop(L, 5);
    return 1;
  }
  const void *xa = operand_of(L, 1, s, &opa, &va);
  const void *xb = operand_of(L, 2, s, &opb, &vb);
  LBuffer *d = dest_new(L, a);
  copy_gaps_from(d, xa, s);
  nyto_stats_pass();
  if (opa < 0 && opb < 0) nyto_pass_binary(a->dtype, d->data, xa, xb, op, s->segs, s->nseg);
  else nyto_pass_binary_pre(a->dtype, d->data, xa, opa, va, xb, opb, vb, op, s->segs, s->nseg);
  return 1;
}

/* core.pclone(src) -> a copy */
static int l_pclone(lua_State *L) {
  LBuffer *a = buffer_check(L, 1, "clone");
  LBuffer *d = buffer_newud(L);
  buffer_fill(L, d, a->dtype, a->n);
  nyto_stats_pass();
  if (a->n) nyto_pass_copy(a->dtype, d->data, a->data, 0, a->n);
  return 1;
}

/* core.pshare(src, segs) -> a copy of src that is deferred: x*1 on segs,
 * reading src's storage until either of them is written (the barriers of
 * every deferred buffer) or the copy is read.  A product taken from a
 * particle costs no pass, and its values are provably the particle's while
 * core.pshares says so.  src is computed first. */
static int l_pshare(lua_State *L) {
  LBuffer *a = buffer_check(L, 1, "product");
  LSegs *s = segs_check(L, 2, a, "product");
  if (a->n > 0 && push_deferred(L, a, 1.0, NYTO_MUL, s, 2)) return 1;
  LBuffer *d = dest_new(L, a);
  nyto_stats_pass();
  if (a->n) nyto_pass_copy(a->dtype, d->data, a->data, 0, a->n);
  return 1;
}

/* core.pshares(b, src) -> true when b is a deferred x*1 of src's storage as
 * it is now: b's values are src's, element for element. */
static int l_pshares(lua_State *L) {
  LBuffer *b = buffer_peek(L, 1, "product");
  LBuffer *a = luaL_testudata(L, 2, BUFFER_MT);
  lua_pushboolean(L, b->src && b->op == NYTO_MUL && b->v == 1.0 && a && a->t && !a->src && a->n == b->n &&
                         a->dtype == b->dtype && b->src_data == a->data && b->src_id == nt_storage_id(a->t));
  return 1;
}

/* core.pcopy(dst, src, segs): copy src's segments into dst */
static int l_pcopy(lua_State *L) {
  LBuffer *d = buffer_check(L, 1, "copy");
  LBuffer *a = buffer_check(L, 2, "copy");
  if (a->n != d->n || a->dtype != d->dtype) return nyto_argerror(L, 2, "copy", "particles of different layouts");
  LSegs *s = segs_check(L, 3, a, "copy");
  lazy_force(L, nt_storage_id(d->t));
  nyto_stats_pass();
  for (int k = 0; k < s->nseg; k++) nyto_pass_copy(a->dtype, d->data, a->data, s->segs[k].off, s->segs[k].len);
  lua_settop(L, 1);
  return 1;
}

/* core.prandom(src, kind, segs [, gen]) -> new buffer: segments drawn from
 * N(0,1) (kind 0) or U[0,1) (kind 1) by the generator (the global one when
 * nil), the rest copied.  Element i of the buffer has counter offset + i
 * (random.c, docs/design.md "Counter-based randomness"). */
static int l_prandom(lua_State *L) {
  LBuffer *a = buffer_check(L, 1, "randn");
  lua_Integer kind = nyto_checkint(L, 2, "randn");
  if (kind != 0 && kind != 1) return nyto_argerror(L, 2, "randn", "kind must be 0 or 1");
  LSegs *s = segs_check(L, 3, a, "randn");
  LGen *g = lua_isnoneornil(L, 4) ? &gen_global : gen_check(L, 4, "randn");
  LBuffer *d = buffer_newud(L);
  buffer_fill(L, d, a->dtype, a->n);
  copy_gaps_from(d, a->data, s);
  nyto_stats_pass();
  nyto_random_segs(a->dtype, kind, d->data, g->seed, g->stream, gen_take(g, a->n), s->segs, s->nseg);
  return 1;
}

/* core.prandom_(buf, kind, segs [, gen]) -> buf: the segments drawn in place */
static int l_prandom_(lua_State *L) {
  LBuffer *a = buffer_check(L, 1, "randn_");
  int kind = (int)luaL_checkinteger(L, 2);
  LSegs *s = segs_check(L, 3, a, "randn_");
  LGen *g = lua_isnoneornil(L, 4) ? &gen_global : gen_check(L, 4, "randn_");
  lazy_force(L, nt_storage_id(a->t));
  nyto_stats_pass();
  nyto_random_segs(a->dtype, kind, a->data, g->seed, g->stream, gen_take(g, a->n), s->segs, s->nseg);
  lua_settop(L, 1);
  return 1;
}

/* core.view(buf, offset, shape, requires_grad) -> Tensor viewing the buffer */
static int l_view(lua_State *L) {
  LBuffer *b = buffer_check(L, 1, "view");
  lua_Integer off = nyto_checkint(L, 2, "view");
  int64_t sizes[NT_MAXDIM];
  int nd = read_sizes(L, 3, 3, sizes, "view"); /* numel <= NYTO_MAX_NUMEL */
  int64_t numel = 1;
  for (int i = 0; i < nd; i++) numel *= sizes[i];
  if (off < 0 || off > b->n || numel > b->n - off) return nyto_argerror(L, 2, "view", "range outside the buffer");
  int rg = lua_toboolean(L, 4);
  LTensor *u = tensor_newud(L);
  nt_tensor *t;
  if (nt_view_of(b->t, off, sizes, nd, rg, &t) != 0) return tensor_fail(L, "view");
  tensor_own(L, u, t);
  u->is_param = lua_toboolean(L, 5);
  return 1;
}

/* core.set_to_view(tensor, buf, offset): re-point tensor at the buffer (values kept) */
static int l_set_to_view(lua_State *L) {
  LTensor *u = luaL_testudata(L, 1, TENSOR_MT);
  if (!u) return nyto_argerror(L, 1, "set_to_view", lua_pushfstring(L, "Tensor expected, got %s", luaL_typename(L, 1)));
  if (!u->t) return nyto_error(L, "nyto: attempt to use a freed Tensor");
  LBuffer *b = buffer_check(L, 2, "set_to_view");
  lua_Integer off = nyto_checkint(L, 3, "set_to_view");
  if (off < 0 || off > b->n || nt_numel(u->t) > b->n - off) return nyto_argerror(L, 3, "set_to_view", "range outside the buffer");
  lazy_force(L, nt_storage_id(b->t));
  nyto_untrack(u->t);
  int rc = nt_set_to_view(u->t, b->t, off);
  nyto_track(u->t);
  if (rc != 0) return tensor_fail(L, "set_to_view");
  return 0;
}

/* core.buffer_slice(buf, off, n) -> a Buffer viewing elements [off, off+n)
 * of buf: no copy (a swarm member's row of the arena).  The slice keeps its
 * own handle on the storage, so the storage outlives the arena's Buffer. */
static int l_buffer_slice(lua_State *L) {
  LBuffer *a = buffer_check(L, 1, "buffer_slice");
  lua_Integer off = luaL_checkinteger(L, 2), n = luaL_checkinteger(L, 3);
  if (off < 0 || n < 0 || off + n > a->n) return nyto_argerror(L, 2, "buffer_slice", "range outside the buffer");
  LBuffer *d = buffer_newud(L);
  nt_tensor *t;
  int64_t sz[1] = {n};
  if (nt_view_of(a->t, off, sz, 1, 0, &t) != 0) return tensor_fail(L, "buffer_slice");
  d->t = t;
  d->data = nt_data(t);
  d->n = n;
  d->dtype = a->dtype;
  d->slice = 1;
  nyto_track(t);
  return 1;
}

/* core.prows(arena, P, x, op, segs, swapped [, dst]) -> dst: one pass over
 * the rows of arena ([n, P] as a flat buffer), row r combined with x by op on
 * segs (the species' segments, within P): x is a Buffer of P elements (a
 * particle broadcast to every row; swapped: x op row) or a table of n numbers
 * (row r with x[r]; the caller passes the reversed op for swapped).  Without
 * dst, a new buffer whose gaps are the arena's. */
static int l_prows(lua_State *L) {
  LBuffer *a = buffer_check(L, 1, "swarm operation");
  lua_Integer P = luaL_checkinteger(L, 2);
  int op = (int)luaL_checkinteger(L, 4);
  LSegs *s = luaL_checkudata(L, 5, SEGS_MT);
  int swapped = lua_toboolean(L, 6);
  if (P <= 0 || a->n % P) return nyto_argerror(L, 2, "swarm operation", "row size does not divide the arena");
  int64_t n = a->n / P;
  if (s->nseg > 0 && s->segs[s->nseg - 1].off + s->segs[s->nseg - 1].len > P)
    return nyto_argerror(L, 5, "swarm operation", "segments exceed the row");
  LBuffer *x = NULL;
  double *w = NULL;
  if (lua_type(L, 3) == LUA_TTABLE) {
    if ((int64_t)lua_rawlen(L, 3) != n) return nyto_argerror(L, 3, "swarm operation", "one number per row expected");
    w = lua_newuserdatauv(L, sizeof(double) * (size_t)n, 0);
    for (int64_t r = 0; r < n; r++) {
      lua_rawgeti(L, 3, r + 1);
      w[r] = lua_tonumber(L, -1);
      lua_pop(L, 1);
    }
    lua_replace(L, 3); /* keep the array alive */
  } else {
    x = buffer_check(L, 3, "swarm operation");
    if (x->n != P || x->dtype != a->dtype) return nyto_argerror(L, 3, "swarm operation", "particle of another layout");
  }
  LBuffer *d;
  int fresh = lua_isnoneornil(L, 7);
  if (!fresh) {
    d = dest_check(L, 7, a, "swarm operation");
    lua_settop(L, 7);
  } else {
    lua_settop(L, 6);
    d = dest_new(L, a);
  }
  size_t es = a->dtype == NT_FLOAT64 ? 8 : 4;
  nyto_stats_pass(); /* one pass over the arena, row by row */
  for (int64_t r = 0; r < n; r++) {
    char *dr = (char *)d->data + (size_t)(r * P) * es;
    const char *ar = (const char *)a->data + (size_t)(r * P) * es;
    if (fresh) {
      int64_t pos = 0;
      for (int k = 0; k < s->nseg; k++) {
        if (s->segs[k].off > pos) nyto_pass_copy(a->dtype, dr, ar, pos, s->segs[k].off - pos);
        pos = s->segs[k].off + s->segs[k].len;
      }
      if (pos < P) nyto_pass_copy(a->dtype, dr, ar, pos, P - pos);
    }
    if (w) nyto_pass_scalar(a->dtype, dr, ar, w[r], op, s->segs, s->nseg);
    else if (swapped) nyto_pass_binary(a->dtype, dr, x->data, ar, op, s->segs, s->nseg);
    else nyto_pass_binary(a->dtype, dr, ar, x->data, op, s->segs, s->nseg);
  }
  return 1;
}

/* core.prandom_add_(buf, sigma, segs [, gen]) -> buf: buf += sigma * N(0,1)
 * on the segments, one pass: the draws are core.prandom's for the same
 * generator state (element i at counter offset + i), made inside the pass
 * (nyto_random_axpby with a = 1, exact), so no buffer of noise is written and
 * read back. */
static int l_prandom_add_(lua_State *L) {
  LBuffer *a = buffer_check(L, 1, "add_randn_");
  double sigma = luaL_checknumber(L, 2);
  LSegs *s = segs_check(L, 3, a, "add_randn_");
  LGen *g = lua_isnoneornil(L, 4) ? &gen_global : gen_check(L, 4, "add_randn_");
  lazy_force(L, nt_storage_id(a->t));
  uint64_t c0 = gen_take(g, a->n);
  nyto_stats_pass();
  nyto_random_axpby_rows(a->dtype, a->data, a->n, 1, 1.0, NULL, 0, 0.0, sigma, s->segs, s->nseg, g->seed, g->stream,
                         c0);
  lua_settop(L, 1);
  return 1;
}

/* core.paxpby_randn_(arena, P, a, x, b, sigma, segs [, gen]) -> arena: row r
 * of the arena ([n, P] as a flat buffer) becomes a row + b x_r + sigma N(0,1)
 * on segs (the species' segments, within P), one pass: x is a Buffer of P
 * elements (broadcast to every row) or of n P (row r of it).  The draws are
 * core.prandom's over the arena for the same generator state (element i at
 * counter offset + i). */
static int l_paxpby_randn_(lua_State *L) {
  const char *fn = "axpby_randn_";
  LBuffer *d = buffer_check(L, 1, fn);
  lua_Integer P = luaL_checkinteger(L, 2);
  double ca = luaL_checknumber(L, 3);
  LBuffer *x = buffer_check(L, 4, fn);
  double cb = luaL_checknumber(L, 5), sigma = luaL_checknumber(L, 6);
  LSegs *s = luaL_checkudata(L, 7, SEGS_MT);
  LGen *g = lua_isnoneornil(L, 8) ? &gen_global : gen_check(L, 8, fn);
  if (P <= 0 || d->n % P) return nyto_argerror(L, 2, fn, "row size does not divide the arena");
  if (x->dtype != d->dtype || (x->n != P && x->n != d->n)) return nyto_argerror(L, 4, fn, "particle of another layout");
  if (s->nseg > 0 && s->segs[s->nseg - 1].off + s->segs[s->nseg - 1].len > P)
    return nyto_argerror(L, 7, fn, "segments exceed the row");
  lazy_force(L, nt_storage_id(d->t));
  int64_t n = d->n / P;
  int bcast = x->n == P && n > 1;
  uint64_t c0 = gen_take(g, d->n);
  nyto_stats_pass(); /* one pass over the arena, one parallel region */
  nyto_random_axpby_rows(d->dtype, d->data, P, n, ca, x->data, bcast ? 0 : P, cb, sigma, s->segs, s->nseg, g->seed,
                         g->stream, c0);
  lua_settop(L, 1);
  return 1;
}

static void particle_open(lua_State *L) {
  static const luaL_Reg bmeth[] = {{"numel", b_numel}, {"dtype", b_dtype}, {"tensor", b_tensor},
                                   {"free", b_gc}, {NULL, NULL}};
  luaL_newmetatable(L, BUFFER_MT);
  lua_newtable(L);
  luaL_setfuncs(L, bmeth, 0);
  lua_setfield(L, -2, "__index");
  lua_pushcfunction(L, b_gc);
  lua_setfield(L, -2, "__gc");
  lua_pushcfunction(L, b_gc);
  lua_setfield(L, -2, "__close");
  lua_pop(L, 1);
  luaL_newmetatable(L, SEGS_MT);
  lua_pushcfunction(L, segs_count);
  lua_setfield(L, -2, "__call");
  lua_pop(L, 1);
  static const luaL_Reg funcs[] = {{"buffer", l_buffer}, {"segments", l_segments}, {"pscalar", l_pscalar},
                                   {"paffine", l_paffine}, {"pbinary", l_pbinary}, {"pclone", l_pclone},
                                   {"pcopy", l_pcopy}, {"prandom", l_prandom}, {"prandom_", l_prandom_}, {"view", l_view},
                                   {"set_to_view", l_set_to_view},
                                   {"pshare", l_pshare}, {"pshares", l_pshares},
                                   {"buffer_slice", l_buffer_slice}, {"prows", l_prows},
                                   {"prandom_add_", l_prandom_add_}, {"paxpby_randn_", l_paxpby_randn_},
                                   {NULL, NULL}};
  luaL_setfuncs(L, funcs, 0);
  lua_pushinteger(L, NYTO_ADD); lua_setfield(L, -2, "OP_ADD");
  lua_pushinteger(L, NYTO_SUB); lua_setfield(L, -2, "OP_SUB");
  lua_pushinteger(L, NYTO_MUL); lua_setfield(L, -2, "OP_MUL");
  lua_pushinteger(L, NYTO_DIV); lua_setfield(L, -2, "OP_DIV");
  lua_pushinteger(L, NYTO_POW); lua_setfield(L, -2, "OP_POW");
  lua_pushinteger(L, NYTO_RSUB); lua_setfield(L, -2, "OP_RSUB");
  lua_pushinteger(L, NYTO_RDIV); lua_setfield(L, -2, "OP_RDIV");
  lua_pushinteger(L, NYTO_RPOW); lua_setfield(L, -2, "OP_RPOW");
}
