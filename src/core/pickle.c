/* pickle.c -- torch.save files read without running them: the zip directory
 * and a pickle machine for the accepted subset (see nyto_pickle.h).  Every
 * read is checked against the end of its buffer; every allocation grows
 * with what was read (one node per opcode at most, memo keys below the
 * pickle's length). */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "nyto_core.h"
#include "nyto_pickle.h"

static uint16_t rd16(const unsigned char *p) { return (uint16_t)(p[0] | p[1] << 8); }
static uint32_t rd32(const unsigned char *p) {
  return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static uint64_t rd64(const unsigned char *p) { return (uint64_t)rd32(p) | (uint64_t)rd32(p + 4) << 32; }

static int fail(char *err, size_t errlen, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(err, errlen, fmt, ap);
  va_end(ap);
  return -1;
}

/* ---------------------------------------------------------------- zip ---- */

static int name_cmp(const char *a, size_t al, const char *b, size_t bl) {
  int c = memcmp(a, b, al < bl ? al : bl);
  return c ? c : al < bl ? -1 : al > bl ? 1 : 0;
}
static int entry_cmp(const void *x, const void *y) {
  const nyto_zip_entry *a = x, *b = y;
  return name_cmp(a->name, a->nlen, b->name, b->nlen);
}

const nyto_zip_entry *nyto_zip_find(const nyto_zip_entry *es, size_t n, const char *name, size_t nlen) {
  size_t lo = 0, hi = n;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    int c = name_cmp(es[mid].name, es[mid].nlen, name, nlen);
    if (c == 0) return &es[mid];
    if (c < 0) lo = mid + 1;
    else hi = mid;
  }
  return NULL;
}

int nyto_zip_parse(const unsigned char *buf, size_t len, nyto_zip_entry **entries, size_t *n, char *err,
                   size_t errlen) {
  *entries = NULL;
  *n = 0;
  if (len < 22) return fail(err, errlen, "not a zip file (%zu bytes, too short)", len);
  /* the end of central directory record: within the last 22 + 65535 bytes */
  size_t eocd = (size_t)-1;
  size_t lowest = len - 22 > 65535 ? len - 22 - 65535 : 0;
  for (size_t at = len - 22 + 1; at-- > lowest;) {
    if (rd32(buf + at) == 0x06054b50 && at + 22 + rd16(buf + at + 20) == len) {
      eocd = at;
      break;
    }
  }
  if (eocd == (size_t)-1) return fail(err, errlen, "not a zip file (no end of central directory)");
  const unsigned char *e = buf + eocd;
  uint64_t count = rd16(e + 10), cdsize = rd32(e + 12), cdoff = rd32(e + 16);
  if (rd16(e + 4) != 0 && rd16(e + 4) != 0xffff) return fail(err, errlen, "a zip of several disks");
  if (count == 0xffff || cdsize == 0xffffffffu || cdoff == 0xffffffffu) {
    /* zip64: the locator sits just before the record */
    if (eocd < 20 || rd32(buf + eocd - 20) != 0x07064b50) return fail(err, errlen, "zip64 locator missing");
    uint64_t z = rd64(buf + eocd - 20 + 8);
    if (z > eocd - 20 || eocd - 20 - z < 56 || rd32(buf + z) != 0x06064b50)
      return fail(err, errlen, "zip64 end of central directory out of place");
    count = rd64(buf + z + 32);
    cdsize = rd64(buf + z + 40);
    cdoff = rd64(buf + z + 48);
    eocd = (size_t)z;
  }
  if (cdoff > eocd || cdsize > eocd - cdoff) return fail(err, errlen, "central directory runs past its end");
  if (count > cdsize / 46) return fail(err, errlen, "central directory too small for %llu entries", (unsigned long long)count);
  nyto_zip_entry *es = calloc(count ? count : 1, sizeof *es);
  if (!es) return fail(err, errlen, "out of memory");
  const unsigned char *p = buf + cdoff, *end = buf + cdoff + cdsize;
  for (uint64_t k = 0; k < count; k++) {
    if (end - p < 46 || rd32(p) != 0x02014b50) {
      free(es);
      return fail(err, errlen, "central directory entry %llu is damaged", (unsigned long long)k + 1);
    }
    uint16_t flags = rd16(p + 8), method = rd16(p + 10);
    uint32_t crc = rd32(p + 16);
    uint64_t csize = rd32(p + 20), usize = rd32(p + 24), loff = rd32(p + 42);
    size_t nl = rd16(p + 28), xl = rd16(p + 30), cl = rd16(p + 32);
    if ((size_t)(end - p) - 46 < nl + xl + cl) {
      free(es);
      return fail(err, errlen, "central directory entry %llu runs past its end", (unsigned long long)k + 1);
    }
    const char *name = (const char *)p + 46;
    /* zip64 extra: the 8-byte values of the fields that read 0xffffffff */
    const unsigned char *x = p + 46 + nl, *xend = x + xl;
    while (xend - x >= 4) {
      uint16_t id = rd16(x), sz = rd16(x + 2);
      if ((size_t)(xend - x) - 4 < sz) break;
      if (id == 1) {
        const unsigned char *q = x + 4, *qend = x + 4 + sz;
        if (usize == 0xffffffffu) { if (qend - q < 8) break; usize = rd64(q); q += 8; }
        if (csize == 0xffffffffu) { if (qend - q < 8) break; csize = rd64(q); q += 8; }
        if (loff == 0xffffffffu) { if (qend - q < 8) break; loff = rd64(q); q += 8; }
      }
      x += 4 + sz;
    }
    if (flags & 1) {
      free(es);
      return fail(err, errlen, "record %.*s is encrypted", (int)(nl > 200 ? 200 : nl), name);
    }
    if (method != 0 || csize != usize) {
      free(es);
      return fail(err, errlen, "record %.*s is compressed (torch.save stores its records)", (int)(nl > 200 ? 200 : nl), name);
    }
    if (loff > len || len - loff < 30 || rd32(buf + loff) != 0x04034b50) {
      free(es);
      return fail(err, errlen, "record %.*s: local header out of place", (int)(nl > 200 ? 200 : nl), name);
    }
    uint64_t data = loff + 30 + (uint64_t)rd16(buf + loff + 26) + rd16(buf + loff + 28);
    if (data > len || usize > len - data) {
      free(es);
      return fail(err, errlen, "record %.*s runs past the end of the file", (int)(nl > 200 ? 200 : nl), name);
    }
    es[k].name = name;
    es[k].nlen = nl;
    es[k].off = data;
    es[k].size = usize;
    es[k].crc = crc;
    p += 46 + nl + xl + cl;
  }
  qsort(es, (size_t)count, sizeof *es, entry_cmp);
  for (uint64_t k = 1; k < count; k++)
    if (entry_cmp(&es[k - 1], &es[k]) == 0) {
      int l = (int)(es[k].nlen > 200 ? 200 : es[k].nlen);
      char nm[201];
      memcpy(nm, es[k].name, (size_t)l);
      nm[l] = '\0';
      free(es);
      return fail(err, errlen, "two records named %s", nm);
    }
  *entries = es;
  *n = (size_t)count;
  return 0;
}

/* ------------------------------------------------------------- pickle ---- */

enum { G_ODICT, G_TENSOR, G_PARAM, G_TYPETAG, G_LIST, G_STORAGE_F32, G_STORAGE_F64, G_STORAGE_I64, G_STORAGE_B8 };
static const struct {
  const char *module, *name;
  int id;
} allowed[] = {
    {"collections", "OrderedDict", G_ODICT},
    {"torch._utils", "_rebuild_tensor_v2", G_TENSOR},
    {"torch._utils", "_rebuild_parameter", G_PARAM},
    /* libtorch's pickler (nyto's own .pt files): functions that return their argument */
    {"torch.jit._pickle", "restore_type_tag", G_TYPETAG},
    {"torch.jit._pickle", "build_intlist", G_LIST},
    {"torch.jit._pickle", "build_doublelist", G_LIST},
    {"torch.jit._pickle", "build_boollist", G_LIST},
    {"torch.jit._pickle", "build_tensorlist", G_LIST},
    {"torch", "FloatStorage", G_STORAGE_F32},
    {"torch", "DoubleStorage", G_STORAGE_F64},
    {"torch", "LongStorage", G_STORAGE_I64},
    {"torch", "BoolStorage", G_STORAGE_B8},
};
static const int elsize[] = {4, 8, 8, 1};

typedef struct vm {
  const unsigned char *start, *p, *end;
  nyto_pickle *out;
  uint32_t *stack;
  size_t sp, scap;
  size_t *marks;
  size_t nmarks, mcap;
  uint32_t *memo;
  size_t memocap, nmemo; /* nmemo: keys set (MEMOIZE's next key, as Python's len(memo)) */
  nyto_pk_record_fn record;
  void *ctx;
  char *err;
  size_t errlen;
  size_t op_at; /* byte offset of the opcode being run */
} vm;

#define VFAIL(...) return vm_fail(m, __VA_ARGS__)
static int vm_fail(vm *m, const char *fmt, ...) {
  char msg[400];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  snprintf(m->err, m->errlen, "pickle: %s (byte %zu)", msg, m->op_at);
  return -1;
}

static int grow(void **p, size_t *cap, size_t need, size_t elem) {
  if (need <= *cap) return 0;
  size_t nc = *cap ? *cap : 16;
  while (nc < need) {
    if (nc > SIZE_MAX / 2 / elem) return -1;
    nc *= 2;
  }
  void *q = realloc(*p, nc * elem);
  if (!q) return -1;
  *p = q;
  *cap = nc;
  return 0;
}

/* a new node; its index, or -1 */
static int64_t node_new(vm *m, int kind) {
  nyto_pickle *o = m->out;
  if (o->nnodes >= UINT32_MAX - 1) return -1;
  if (grow((void **)&o->nodes, &o->capnodes, o->nnodes + 1, sizeof *o->nodes)) return -1;
  nyto_pk_node *n = &o->nodes[o->nnodes];
  memset(n, 0, sizeof *n);
  n->kind = kind;
  return (int64_t)o->nnodes++;
}

static int push(vm *m, uint32_t v) {
  if (grow((void **)&m->stack, &m->scap, m->sp + 1, sizeof *m->stack)) VFAIL("out of memory");
  m->stack[m->sp++] = v;
  return 0;
}

static int push_new(vm *m, int kind, nyto_pk_node **out) {
  int64_t k = node_new(m, kind);
  if (k < 0) VFAIL("out of memory");
  if (push(m, (uint32_t)k)) return -1;
  if (out) *out = &m->out->nodes[k];
  return 0;
}

static nyto_pk_node *N(vm *m, uint32_t k) { return &m->out->nodes[k]; }

static int need(vm *m, size_t n) {
  if ((size_t)(m->end - m->p) < n) VFAIL("truncated: %zu bytes needed, %zu left", n, (size_t)(m->end - m->p));
  return 0;
}

/* the index of the innermost mark in the stack */
static int pop_mark(vm *m, size_t *at) {
  if (m->nmarks == 0) VFAIL("no mark on the stack");
  *at = m->marks[--m->nmarks];
  if (*at > m->sp) VFAIL("the mark is above the stack");
  return 0;
}

static int item_add(vm *m, uint32_t container, uint32_t v) {
  nyto_pk_node *c = N(m, container);
  size_t cap = c->cap;
  if (c->n >= UINT32_MAX / 2 - 1) VFAIL("a container too large");
  if (grow((void **)&c->items, &cap, (size_t)c->n + 1, sizeof *c->items)) VFAIL("out of memory");
  c->cap = (uint32_t)cap;
  c->items[c->n++] = v;
  return 0;
}

static const char *kind_name(int k) {
  static const char *const names[] = {"None", "a bool", "an int", "a float", "a string", "bytes", "a list",
                                      "a tuple", "a dict", "a tensor", "a global", "a storage"};
  return k >= 0 && k <= NYTO_PK_STORAGE ? names[k] : "?";
}

static int memo_put(vm *m, uint64_t key) {
  if (m->sp == 0) VFAIL("memo put on an empty stack");
  if (key > (uint64_t)(m->end - m->start)) VFAIL("memo key %llu larger than the pickle", (unsigned long long)key);
  size_t old = m->memocap;
  if (grow((void **)&m->memo, &m->memocap, (size_t)key + 1, sizeof *m->memo)) VFAIL("out of memory");
  for (size_t k = old; k < m->memocap; k++) m->memo[k] = UINT32_MAX;
  if (m->memo[key] == UINT32_MAX) m->nmemo++;
  m->memo[key] = m->stack[m->sp - 1];
  return 0;
}

static int memo_get(vm *m, uint64_t key) {
  if (key >= m->memocap || m->memo[key] == UINT32_MAX) VFAIL("memo key %llu was never put", (unsigned long long)key);
  return push(m, m->memo[key]);
}

/* a line of protocol-0 text (without its newline) */
static int text_line(vm *m, const char **s, size_t *n) {
  const unsigned char *nl = memchr(m->p, '\n', (size_t)(m->end - m->p));
  if (!nl) VFAIL("truncated: a line without its newline");
  *s = (const char *)m->p;
  *n = (size_t)(nl - m->p);
  m->p = nl + 1;
  return 0;
}

static int text_int(vm *m, int64_t *v) {
  const char *s = NULL;
  size_t n = 0;
  if (text_line(m, &s, &n)) return -1;
  if (n > 0 && s[n - 1] == 'L') n--; /* LONG's suffix */
  char buf[32];
  if (n == 0 || n >= sizeof buf) VFAIL("a text integer of %zu characters", n);
  memcpy(buf, s, n);
  buf[n] = '\0';
  char *e;
  long long x = strtoll(buf, &e, 10);
  if (*e) VFAIL("a text integer that is not one");
  *v = (int64_t)x;
  return 0;
}

static int global_of(vm *m, const char *mod, size_t ml, const char *name, size_t nl) {
  for (size_t k = 0; k < sizeof allowed / sizeof allowed[0]; k++)
    if (strlen(allowed[k].module) == ml && memcmp(allowed[k].module, mod, ml) == 0 &&
        strlen(allowed[k].name) == nl && memcmp(allowed[k].name, name, nl) == 0) {
      nyto_pk_node *g;
      if (push_new(m, NYTO_PK_GLOBAL, &g)) return -1;
      g->sub = allowed[k].id;
      return 0;
    }
  int a = (int)(ml > 80 ? 80 : ml), b = (int)(nl > 80 ? 80 : nl);
  for (int k = 0; k < a; k++)
    if (mod[k] < 32 || mod[k] > 126) a = k;
  for (int k = 0; k < b; k++)
    if (name[k] < 32 || name[k] > 126) b = k;
  if (ml == 5 && memcmp(mod, "torch", 5) == 0 && nl > 7 && memcmp(name + nl - 7, "Storage", 7) == 0)
    VFAIL("a tensor of storage type torch.%.*s (float32, float64, int64 and bool tensors load)", b, name);
  VFAIL("refused global %.*s.%.*s (only tensors, dicts, lists, tuples, numbers, strings, booleans and None load)",
        a, mod, b, name);
}

static int is_int(const nyto_pk_node *n) { return n->kind == NYTO_PK_INT || n->kind == NYTO_PK_BOOL; }

/* the persistent id ('storage', <class>, key, location, numel) */
static int persid(vm *m) {
  if (m->sp == 0) VFAIL("BINPERSID on an empty stack");
  uint32_t t = m->stack[--m->sp];
  nyto_pk_node *n = N(m, t);
  if (n->kind != NYTO_PK_TUPLE || n->n != 5) VFAIL("a persistent id that is not a 5-tuple");
  nyto_pk_node *tag = N(m, n->items[0]), *cls = N(m, n->items[1]), *key = N(m, n->items[2]),
               *loc = N(m, n->items[3]), *cnt = N(m, n->items[4]);
  if (tag->kind != NYTO_PK_STR || tag->slen != 7 || memcmp(tag->s, "storage", 7) != 0)
    VFAIL("a persistent id that is not a storage");
  if (cls->kind != NYTO_PK_GLOBAL || cls->sub < G_STORAGE_F32) VFAIL("a storage whose type is not a storage class");
  if (key->kind != NYTO_PK_STR || loc->kind != NYTO_PK_STR || !is_int(cnt) || cnt->i < 0)
    VFAIL("a storage with a bad key, location or size");
  int dt = cls->sub - G_STORAGE_F32;
  uint64_t numel = (uint64_t)cnt->i;
  if (numel > (uint64_t)INT64_MAX / 8) VFAIL("a storage of %llu elements", (unsigned long long)numel);
  size_t rlen = 0;
  const unsigned char *data = NULL;
  uint32_t crc = 0;
  int found = m->record(m->ctx, key->s, key->slen, &data, &rlen, &crc);
  int kl = (int)(key->slen > 40 ? 40 : key->slen);
  for (int k = 0; k < kl; k++)
    if (key->s[k] < 32 || key->s[k] > 126) kl = k;
  if (found == 1) VFAIL("storage %.*s: no record data/%.*s", kl, key->s, kl, key->s);
  if (found != 0 && found != 3) VFAIL("storage %.*s: its record is damaged (its CRC-32 does not match)", kl, key->s);
  if ((uint64_t)rlen != numel * (uint64_t)elsize[dt])
    VFAIL("storage %.*s: %zu bytes, %llu elements of %d bytes need %llu", kl, key->s, rlen, (unsigned long long)numel,
          elsize[dt], (unsigned long long)(numel * (uint64_t)elsize[dt]));
  nyto_pickle *o = m->out;
  if (grow((void **)&o->storages, &o->capstorages, o->nstorages + 1, sizeof *o->storages)) VFAIL("out of memory");
  nyto_pk_storage *s = &o->storages[o->nstorages];
  s->dtype = dt;
  s->numel = numel;
  s->data = data;
  s->key = key->s;
  s->keylen = key->slen;
  s->crc = crc;
  s->crc_pending = found == 3;
  nyto_pk_node *sn;
  if (push_new(m, NYTO_PK_STORAGE, &sn)) return -1;
  sn->sub = dt;
  sn->i = (int64_t)o->nstorages++;
  return 0;
}

static int int_tuple(vm *m, const nyto_pk_node *t, int64_t *out, int *nd, const char *what) {
  if (t->kind != NYTO_PK_TUPLE) VFAIL("a tensor's %s is %s, not a tuple", what, kind_name(t->kind));
  if (t->n > NYTO_PK_MAXDIM) VFAIL("a tensor of %u dimensions (at most %d)", t->n, NYTO_PK_MAXDIM);
  for (uint32_t k = 0; k < t->n; k++) {
    const nyto_pk_node *x = N(m, t->items[k]);
    if (x->kind != NYTO_PK_INT || x->i < 0) VFAIL("a tensor's %s holds something not a non-negative int", what);
    out[k] = x->i;
  }
  *nd = (int)t->n;
  return 0;
}

/* _rebuild_tensor_v2(storage, offset, size, stride, requires_grad, hooks[, metadata]) */
static int rebuild_tensor(vm *m, const nyto_pk_node *args) {
  if (args->n != 6 && args->n != 7) VFAIL("_rebuild_tensor_v2 with %u arguments", args->n);
  const nyto_pk_node *st = N(m, args->items[0]), *off = N(m, args->items[1]), *rg = N(m, args->items[4]),
                     *hooks = N(m, args->items[5]);
  if (st->kind != NYTO_PK_STORAGE) VFAIL("_rebuild_tensor_v2 over %s, not a storage", kind_name(st->kind));
  if (off->kind != NYTO_PK_INT || off->i < 0) VFAIL("a tensor's storage offset is not a non-negative int");
  if (rg->kind != NYTO_PK_BOOL) VFAIL("a tensor's requires_grad is not a bool");
  if (hooks->kind != NYTO_PK_DICT && hooks->kind != NYTO_PK_NONE) VFAIL("a tensor's hooks are not a dict");
  if (args->n == 7 && N(m, args->items[6])->kind != NYTO_PK_DICT && N(m, args->items[6])->kind != NYTO_PK_NONE)
    VFAIL("a tensor's metadata is not a dict");
  nyto_pk_tensor t;
  memset(&t, 0, sizeof t);
  int nd, nd2;
  if (int_tuple(m, N(m, args->items[2]), t.sizes, &nd, "size")) return -1;
  if (int_tuple(m, N(m, args->items[3]), t.strides, &nd2, "stride")) return -1;
  if (nd != nd2) VFAIL("a tensor of %d sizes and %d strides", nd, nd2);
  const nyto_pk_storage *s = &m->out->storages[st->i];
  /* the last element it reaches: offset + sum (size - 1) * stride < numel */
  uint64_t numel = 1, last = (uint64_t)off->i;
  int empty = 0;
  for (int k = 0; k < nd; k++) {
    uint64_t sz = (uint64_t)t.sizes[k];
    if (sz == 0) empty = 1;
    else if (numel > (uint64_t)INT64_MAX / sz) VFAIL("a tensor whose size's product overflows");
    else numel *= sz;
  }
  if (!empty) {
    for (int k = 0; k < nd; k++) {
      uint64_t sz = (uint64_t)t.sizes[k], sd = (uint64_t)t.strides[k];
      if (sd != 0 && sz - 1 > ((uint64_t)INT64_MAX - last) / sd) VFAIL("a tensor whose extent overflows");
      last += (sz - 1) * sd;
    }
    if (last >= s->numel)
      VFAIL("a tensor reaching element %llu of a storage of %llu", (unsigned long long)last,
            (unsigned long long)s->numel);
  } else if ((uint64_t)off->i > s->numel) {
    VFAIL("a tensor's storage offset %lld is past its storage of %llu", (long long)off->i,
          (unsigned long long)s->numel);
  }
  t.storage = (uint32_t)st->i;
  t.ndim = nd;
  t.offset = off->i;
  t.requires_grad = (int)rg->i;
  nyto_pickle *o = m->out;
  if (grow((void **)&o->tensors, &o->captensors, o->ntensors + 1, sizeof *o->tensors)) VFAIL("out of memory");
  o->tensors[o->ntensors] = t;
  nyto_pk_node *tn;
  if (push_new(m, NYTO_PK_TENSOR, &tn)) return -1;
  tn->i = (int64_t)o->ntensors++;
  return 0;
}

static int reduce(vm *m) {
  if (m->sp < 2) VFAIL("REDUCE on a stack of %zu", m->sp);
  uint32_t a = m->stack[--m->sp], f = m->stack[--m->sp];
  nyto_pk_node *fn = N(m, f), *args = N(m, a);
  if (fn->kind != NYTO_PK_GLOBAL) VFAIL("REDUCE of %s (only the accepted globals are called)", kind_name(fn->kind));
  if (args->kind != NYTO_PK_TUPLE) VFAIL("REDUCE with %s, not a tuple, as arguments", kind_name(args->kind));
  switch (fn->sub) {
    case G_ODICT: {
      if (args->n != 0) VFAIL("OrderedDict called with arguments");
      nyto_pk_node *d;
      if (push_new(m, NYTO_PK_DICT, &d)) return -1;
      d->sub = 1;
      return 0;
    }
    case G_TENSOR: return rebuild_tensor(m, args);
    case G_PARAM: {
      /* _rebuild_parameter(data, requires_grad, hooks): the tensor itself */
      if (args->n != 3 || N(m, args->items[0])->kind != NYTO_PK_TENSOR || N(m, args->items[1])->kind != NYTO_PK_BOOL)
        VFAIL("_rebuild_parameter with bad arguments");
      nyto_pk_node *t = N(m, args->items[0]);
      m->out->tensors[t->i].requires_grad = (int)N(m, args->items[1])->i;
      return push(m, args->items[0]);
    }
    case G_TYPETAG: { /* restore_type_tag(value, "Dict[...]"): value */
      if (args->n != 2 || N(m, args->items[1])->kind != NYTO_PK_STR ||
          (N(m, args->items[0])->kind != NYTO_PK_DICT && N(m, args->items[0])->kind != NYTO_PK_LIST))
        VFAIL("restore_type_tag with bad arguments");
      return push(m, args->items[0]);
    }
    case G_LIST: /* build_intlist(list) and its kin: list */
      if (args->n != 1 || N(m, args->items[0])->kind != NYTO_PK_LIST) VFAIL("build_*list with bad arguments");
      return push(m, args->items[0]);
    default: VFAIL("REDUCE of a storage class");
  }
}

static int run(vm *m) {
  for (;;) {
    m->op_at = (size_t)(m->p - m->start);
    if (m->p >= m->end) VFAIL("truncated: no STOP");
    unsigned char op = *m->p++;
    switch (op) {
      case 0x80: /* PROTO */
        if (need(m, 1)) return -1;
        if (*m->p > 5) VFAIL("protocol %d", *m->p);
        m->p++;
        break;
      case 0x95: /* FRAME: a length, then the frame's opcodes */
        if (need(m, 8)) return -1;
        m->p += 8;
        break;
      case '.': /* STOP */
        if (m->sp == 0) VFAIL("STOP on an empty stack");
        m->out->root = m->stack[m->sp - 1];
        return 0;
      case '(': /* MARK */
        if (grow((void **)&m->marks, &m->mcap, m->nmarks + 1, sizeof *m->marks)) VFAIL("out of memory");
        m->marks[m->nmarks++] = m->sp;
        break;
      case '0': /* POP */
        if (m->sp == 0) VFAIL("POP on an empty stack");
        m->sp--;
        break;
      case '1': { /* POP_MARK */
        size_t at = 0;
        if (pop_mark(m, &at)) return -1;
        m->sp = at;
        break;
      }
      case '2': /* DUP */
        if (m->sp == 0) VFAIL("DUP on an empty stack");
        if (push(m, m->stack[m->sp - 1])) return -1;
        break;
      case 'N':
        if (push_new(m, NYTO_PK_NONE, NULL)) return -1;
        break;
      case 0x88: case 0x89: { /* NEWTRUE, NEWFALSE */
        nyto_pk_node *n;
        if (push_new(m, NYTO_PK_BOOL, &n)) return -1;
        n->i = op == 0x88;
        break;
      }
      case 'K': case 'M': case 'J': { /* BININT1, BININT2, BININT */
        size_t w = op == 'K' ? 1 : op == 'M' ? 2 : 4;
        if (need(m, w)) return -1;
        nyto_pk_node *n;
        if (push_new(m, NYTO_PK_INT, &n)) return -1;
        n->i = op == 'K' ? m->p[0] : op == 'M' ? rd16(m->p) : (int64_t)(int32_t)rd32(m->p);
        m->p += w;
        break;
      }
      case 0x8a: case 0x8b: { /* LONG1, LONG4: little-endian two's complement */
        size_t w = op == 0x8a ? 1 : 4;
        if (need(m, w)) return -1;
        uint64_t nb = op == 0x8a ? m->p[0] : rd32(m->p);
        m->p += w;
        if (nb > 8) VFAIL("an integer of %llu bytes (at most 8 load)", (unsigned long long)nb);
        if (need(m, (size_t)nb)) return -1;
        uint64_t v = 0;
        for (size_t k = 0; k < nb; k++) v |= (uint64_t)m->p[k] << (8 * k);
        if (nb > 0 && nb < 8 && (m->p[nb - 1] & 0x80)) v |= ~(uint64_t)0 << (8 * nb);
        m->p += nb;
        nyto_pk_node *n;
        if (push_new(m, NYTO_PK_INT, &n)) return -1;
        memcpy(&n->i, &v, sizeof v);
        break;
      }
      case 'I': case 'L': { /* INT, LONG (text); "I01" and "I00" are booleans */
        int64_t v = 0;
        if (op == 'I' && m->end - m->p >= 3 && m->p[0] == '0' && (m->p[1] == '0' || m->p[1] == '1') && m->p[2] == '\n') {
          nyto_pk_node *n;
          if (push_new(m, NYTO_PK_BOOL, &n)) return -1;
          n->i = m->p[1] == '1';
          m->p += 3;
          break;
        }
        if (text_int(m, &v)) return -1;
        nyto_pk_node *n;
        if (push_new(m, NYTO_PK_INT, &n)) return -1;
        n->i = v;
        break;
      }
      case 'G': { /* BINFLOAT, big-endian */
        if (need(m, 8)) return -1;
        uint64_t b = 0;
        for (int k = 0; k < 8; k++) b = b << 8 | m->p[k];
        m->p += 8;
        nyto_pk_node *n;
        if (push_new(m, NYTO_PK_FLOAT, &n)) return -1;
        memcpy(&n->f, &b, sizeof b);
        break;
      }
      case 'F': { /* FLOAT (text) */
        const char *s = NULL;
        size_t l = 0;
        if (text_line(m, &s, &l)) return -1;
        char buf[64];
        if (l == 0 || l >= sizeof buf) VFAIL("a text float of %zu characters", l);
        memcpy(buf, s, l);
        buf[l] = '\0';
        char *e;
        double v = strtod(buf, &e);
        if (*e) VFAIL("a text float that is not one");
        nyto_pk_node *n;
        if (push_new(m, NYTO_PK_FLOAT, &n)) return -1;
        n->f = v;
        break;
      }
      case 'X': case 0x8c: case 0x8d: /* BINUNICODE, SHORT_BINUNICODE, BINUNICODE8 */
      case 'T': case 'U':             /* BINSTRING, SHORT_BINSTRING */
      case 'B': case 'C': case 0x8e: { /* BINBYTES, SHORT_BINBYTES, BINBYTES8 */
        size_t w = (op == 0x8c || op == 'U' || op == 'C') ? 1 : (op == 0x8d || op == 0x8e) ? 8 : 4;
        if (need(m, w)) return -1;
        uint64_t l = w == 1 ? m->p[0] : w == 4 ? rd32(m->p) : rd64(m->p);
        if (op == 'T' && l > 0x7fffffff) VFAIL("BINSTRING of a negative length");
        m->p += w;
        if (l > (uint64_t)(m->end - m->p)) VFAIL("truncated: a string of %llu bytes", (unsigned long long)l);
        nyto_pk_node *n;
        int bytes = op == 'B' || op == 'C' || op == 0x8e;
        if (push_new(m, bytes ? NYTO_PK_BYTES : NYTO_PK_STR, &n)) return -1;
        n->s = (const char *)m->p;
        n->slen = (size_t)l;
        m->p += l;
        break;
      }
      case ')':
        if (push_new(m, NYTO_PK_TUPLE, NULL)) return -1;
        break;
      case ']':
        if (push_new(m, NYTO_PK_LIST, NULL)) return -1;
        break;
      case '}':
        if (push_new(m, NYTO_PK_DICT, NULL)) return -1;
        break;
      case 0x85: case 0x86: case 0x87: { /* TUPLE1, TUPLE2, TUPLE3 */
        size_t k = (size_t)(op - 0x84);
        if (m->sp < k) VFAIL("TUPLE%zu on a stack of %zu", k, m->sp);
        int64_t t = node_new(m, NYTO_PK_TUPLE);
        if (t < 0) VFAIL("out of memory");
        for (size_t j = m->sp - k; j < m->sp; j++)
          if (item_add(m, (uint32_t)t, m->stack[j])) return -1;
        m->sp -= k;
        if (push(m, (uint32_t)t)) return -1;
        break;
      }
      case 't': case 'l': case 'd': { /* TUPLE, LIST, DICT: the items since the mark */
        size_t at = 0;
        if (pop_mark(m, &at)) return -1;
        if (op == 'd' && (m->sp - at) % 2) VFAIL("DICT of an odd number of items");
        int64_t t = node_new(m, op == 't' ? NYTO_PK_TUPLE : op == 'l' ? NYTO_PK_LIST : NYTO_PK_DICT);
        if (t < 0) VFAIL("out of memory");
        for (size_t j = at; j < m->sp; j++)
          if (item_add(m, (uint32_t)t, m->stack[j])) return -1;
        m->sp = at;
        if (push(m, (uint32_t)t)) return -1;
        break;
      }
      case 'a': case 'e': { /* APPEND, APPENDS */
        size_t at = 0;
        if (op == 'a') {
          if (m->sp < 2) VFAIL("APPEND on a stack of %zu", m->sp);
          at = m->sp - 1;
        } else if (pop_mark(m, &at)) {
          return -1;
        }
        if (at == 0) VFAIL("APPENDS with nothing to append to");
        uint32_t l = m->stack[at - 1];
        if (N(m, l)->kind != NYTO_PK_LIST) VFAIL("APPEND to %s", kind_name(N(m, l)->kind));
        for (size_t j = at; j < m->sp; j++)
          if (item_add(m, l, m->stack[j])) return -1;
        m->sp = at;
        break;
      }
      case 's': case 'u': { /* SETITEM, SETITEMS */
        size_t at = 0;
        if (op == 's') {
          if (m->sp < 3) VFAIL("SETITEM on a stack of %zu", m->sp);
          at = m->sp - 2;
        } else if (pop_mark(m, &at)) {
          return -1;
        }
        if (at == 0) VFAIL("SETITEMS with no dict");
        if ((m->sp - at) % 2) VFAIL("SETITEMS of an odd number of items");
        uint32_t d = m->stack[at - 1];
        if (N(m, d)->kind != NYTO_PK_DICT) VFAIL("SETITEM on %s", kind_name(N(m, d)->kind));
        for (size_t j = at; j < m->sp; j += 2) {
          int kk = N(m, m->stack[j])->kind;
          if (kk >= NYTO_PK_LIST && kk != NYTO_PK_TUPLE) VFAIL("a dict key that is %s", kind_name(kk));
          if (item_add(m, d, m->stack[j]) || item_add(m, d, m->stack[j + 1])) return -1;
        }
        m->sp = at;
        break;
      }
      case 'q': case 'r': case 'p': case 0x94: { /* BINPUT, LONG_BINPUT, PUT, MEMOIZE */
        uint64_t key;
        if (op == 'q') {
          if (need(m, 1)) return -1;
          key = *m->p++;
        } else if (op == 'r') {
          if (need(m, 4)) return -1;
          key = rd32(m->p);
          m->p += 4;
        } else if (op == 'p') {
          int64_t v;
          if (text_int(m, &v)) return -1;
          if (v < 0) VFAIL("a negative memo key");
          key = (uint64_t)v;
        } else {
          key = m->nmemo;
        }
        if (memo_put(m, key)) return -1;
        break;
      }
      case 'h': case 'j': case 'g': { /* BINGET, LONG_BINGET, GET */
        uint64_t key;
        if (op == 'h') {
          if (need(m, 1)) return -1;
          key = *m->p++;
        } else if (op == 'j') {
          if (need(m, 4)) return -1;
          key = rd32(m->p);
          m->p += 4;
        } else {
          int64_t v;
          if (text_int(m, &v)) return -1;
          if (v < 0) VFAIL("a negative memo key");
          key = (uint64_t)v;
        }
        if (memo_get(m, key)) return -1;
        break;
      }
      case 'c': { /* GLOBAL "module\nname\n" */
        const char *mod = NULL, *name = NULL;
        size_t ml = 0, nl = 0;
        if (text_line(m, &mod, &ml) || text_line(m, &name, &nl)) return -1;
        if (global_of(m, mod, ml, name, nl)) return -1;
        break;
      }
      case 0x93: { /* STACK_GLOBAL */
        if (m->sp < 2) VFAIL("STACK_GLOBAL on a stack of %zu", m->sp);
        nyto_pk_node *name = N(m, m->stack[m->sp - 1]), *mod = N(m, m->stack[m->sp - 2]);
        if (name->kind != NYTO_PK_STR || mod->kind != NYTO_PK_STR) VFAIL("STACK_GLOBAL of non-strings");
        m->sp -= 2;
        if (global_of(m, mod->s, mod->slen, name->s, name->slen)) return -1;
        break;
      }
      case 'Q':
        if (persid(m)) return -1;
        break;
      case 'R':
        if (reduce(m)) return -1;
        break;
      case 'b': { /* BUILD: only an OrderedDict's attributes (a state dict's _metadata), dropped */
        if (m->sp < 2) VFAIL("BUILD on a stack of %zu", m->sp);
        nyto_pk_node *obj = N(m, m->stack[m->sp - 2]);
        if (obj->kind != NYTO_PK_DICT || obj->sub != 1) VFAIL("BUILD of %s (objects are refused)", kind_name(obj->kind));
        m->sp--;
        break;
      }
      case 'i': VFAIL("INST refused (objects are refused)");
      case 'o': VFAIL("OBJ refused (objects are refused)");
      case 0x81: VFAIL("NEWOBJ refused (objects are refused)");
      case 0x92: VFAIL("NEWOBJ_EX refused (objects are refused)");
      case 'P': VFAIL("PERSID refused (only binary storage ids load)");
      case 0x82: case 0x83: case 0x84: VFAIL("EXT refused (the extension registry is not used)");
      default: VFAIL("opcode 0x%02x is not supported", op);
    }
  }
}

/* The value reached from the root: no global or storage in it, dict keys
 * scalars (not NaN), containers nested at most NYTO_PK_MAXDEPTH deep, each
 * container walked once (the order and depth of a conversion that keeps
 * one value per node, cycles included). */
static int check(vm *m, unsigned char *seen, uint32_t k, int depth) {
  nyto_pk_node *n = N(m, k);
  if (n->kind == NYTO_PK_GLOBAL) VFAIL("a class or function as a value (only what it builds loads)");
  if (n->kind == NYTO_PK_STORAGE) VFAIL("a bare storage as a value (only tensors over one load)");
  if (n->kind < NYTO_PK_LIST || n->kind == NYTO_PK_TENSOR || seen[k]) return 0;
  seen[k] = 1;
  if (depth >= NYTO_PK_MAXDEPTH) VFAIL("values nested more than %d deep", NYTO_PK_MAXDEPTH);
  for (uint32_t j = 0; j < n->n; j++) {
    uint32_t c = n->items[j];
    if (n->kind == NYTO_PK_DICT && j % 2 == 0) {
      nyto_pk_node *key = N(m, c);
      if (key->kind > NYTO_PK_BYTES) VFAIL("a dict key that is %s", kind_name(key->kind));
      if (key->kind == NYTO_PK_FLOAT && key->f != key->f) VFAIL("a dict key that is NaN");
    }
    if (check(m, seen, c, depth + 1)) return -1;
  }
  return 0;
}

void nyto_pickle_free(nyto_pickle *p) {
  if (!p) return;
  for (size_t k = 0; k < p->nnodes; k++) free(p->nodes[k].items);
  free(p->nodes);
  free(p->storages);
  free(p->tensors);
  memset(p, 0, sizeof *p);
}

int nyto_pickle_run(const unsigned char *pk, size_t len, nyto_pk_record_fn record, void *ctx, nyto_pickle *out,
                    char *err, size_t errlen) {
  memset(out, 0, sizeof *out);
  vm m;
  memset(&m, 0, sizeof m);
  m.start = m.p = pk;
  m.end = pk + len;
  m.out = out;
  m.record = record;
  m.ctx = ctx;
  m.err = err;
  m.errlen = errlen;
  int rc = run(&m);
  if (rc == 0) {
    unsigned char *seen = calloc(out->nnodes, 1);
    rc = seen ? check(&m, seen, out->root, 0) : vm_fail(&m, "out of memory");
    free(seen);
  }
  free(m.stack);
  free(m.marks);
  free(m.memo);
  if (rc != 0) nyto_pickle_free(out);
  return rc;
}

/* ------------------------------------------------------- torch.save ---- */

typedef struct pt_ctx {
  const unsigned char *buf;
  const nyto_zip_entry *es;
  size_t n;
  const char *prefix;
  size_t plen;
  unsigned char *checked; /* one flag per entry: its CRC is checked */
  int crc, defer;
} pt_ctx;

static int crc_ok(pt_ctx *c, const nyto_zip_entry *e) {
  size_t k = (size_t)(e - c->es);
  if (!c->crc || c->checked[k]) return 1;
  if (nyto_crc32(0, c->buf + e->off, (size_t)e->size) != e->crc) return 0;
  c->checked[k] = 1;
  return 1;
}

static int pt_record(void *ctx, const char *key, size_t keylen, const unsigned char **data, size_t *len,
                     uint32_t *crc) {
  pt_ctx *c = ctx;
  char name[512];
  if (c->plen + 6 + keylen >= sizeof name) return 1;
  memcpy(name, c->prefix, c->plen);
  memcpy(name + c->plen, "/data/", 6);
  memcpy(name + c->plen + 6, key, keylen);
  const nyto_zip_entry *e = nyto_zip_find(c->es, c->n, name, c->plen + 6 + keylen);
  if (!e) return 1;
  *data = c->buf + e->off;
  *len = (size_t)e->size;
  if (c->crc && c->defer) {
    *crc = e->crc;
    return 3;
  }
  if (!crc_ok(c, e)) return 2;
  return 0;
}

int nyto_pt_parse(const unsigned char *buf, size_t len, int flags, nyto_pickle *out, char *err, size_t errlen) {
  memset(out, 0, sizeof *out);
  if (len >= 2 && buf[0] == 0x80 && buf[1] <= 5)
    return fail(err, errlen, "torch.save's legacy format (before PyTorch 1.6) is not read; save it again with a newer PyTorch");
  if (len < 4 || rd32(buf) != 0x04034b50) return fail(err, errlen, "not a torch.save file (not a zip)");
  nyto_zip_entry *es;
  size_t n;
  if (nyto_zip_parse(buf, len, &es, &n, err, errlen) != 0) return -1;
  pt_ctx c = {buf, es, n, NULL, 0, NULL, !(flags & NYTO_PT_NOCRC), (flags & NYTO_PT_DEFERCRC) != 0};
  /* the archive's folder: the one X with X/data.pkl */
  const nyto_zip_entry *pkl = NULL;
  for (size_t k = 0; k < n; k++) {
    const char *slash = memchr(es[k].name, '/', es[k].nlen);
    if (slash && (size_t)(es[k].name + es[k].nlen - slash) == 9 && memcmp(slash, "/data.pkl", 9) == 0) {
      if (pkl) {
        free(es);
        return fail(err, errlen, "two data.pkl records");
      }
      pkl = &es[k];
      c.prefix = es[k].name;
      c.plen = (size_t)(slash - es[k].name);
    }
  }
  if (!pkl) {
    free(es);
    return fail(err, errlen, "no data.pkl record (not a torch.save file)");
  }
  c.checked = calloc(n ? n : 1, 1);
  if (!c.checked) {
    free(es);
    return fail(err, errlen, "out of memory");
  }
  int rc = -1;
  char name[512];
  if (c.plen + 10 < sizeof name) {
    memcpy(name, c.prefix, c.plen);
    memcpy(name + c.plen, "/byteorder", 10);
    const nyto_zip_entry *bo = nyto_zip_find(es, n, name, c.plen + 10);
    if (bo && !(bo->size == 6 && memcmp(buf + bo->off, "little", 6) == 0)) {
      fail(err, errlen, "a big-endian file (byteorder is not \"little\")");
      goto done;
    }
  }
  if (!crc_ok(&c, pkl)) {
    fail(err, errlen, "data.pkl is damaged (its CRC-32 does not match)");
    goto done;
  }
  rc = nyto_pickle_run(buf + pkl->off, (size_t)pkl->size, pt_record, &c, out, err, errlen);
done:
  free(c.checked);
  free(es);
  return rc;
}

/* ----------------------------------------------------- writing .pt ---- */
#include "nyto_save.h"

static void put(nyto_pkw *w, const void *p, size_t n);

void nyto_pkw_init(nyto_pkw *w) {
  memset(w, 0, sizeof *w);
  put(w, "\x80\x02", 2); /* PROTO 2 (3 when there are bytes: set at the end) */
}

void nyto_pkw_free(nyto_pkw *w) {
  free(w->buf);
  free(w->tensors);
  memset(w, 0, sizeof *w);
}

static void put(nyto_pkw *w, const void *p, size_t n) {
  if (w->oom) return;
  if (w->len + n > w->cap) {
    size_t nc = w->cap ? w->cap : 256;
    while (nc < w->len + n) {
      if (nc > SIZE_MAX / 2) { w->oom = 1; return; }
      nc *= 2;
    }
    unsigned char *q = realloc(w->buf, nc);
    if (!q) { w->oom = 1; return; }
    w->buf = q;
    w->cap = nc;
  }
  memcpy(w->buf + w->len, p, n);
  w->len += n;
}
static void put1(nyto_pkw *w, unsigned char c) { put(w, &c, 1); }
static void put32(nyto_pkw *w, uint32_t v) {
  unsigned char b[4] = {(unsigned char)v, (unsigned char)(v >> 8), (unsigned char)(v >> 16), (unsigned char)(v >> 24)};
  put(w, b, 4);
}
static void put_text(nyto_pkw *w, const char *s) { put(w, s, strlen(s)); }

void nyto_pkw_none(nyto_pkw *w) { put1(w, 'N'); }
void nyto_pkw_bool(nyto_pkw *w, int b) { put1(w, b ? 0x88 : 0x89); }

void nyto_pkw_int(nyto_pkw *w, int64_t v) {
  if (v >= 0 && v < 256) {
    put1(w, 'K');
    put1(w, (unsigned char)v);
  } else if (v >= 0 && v < 65536) {
    unsigned char b[3] = {'M', (unsigned char)v, (unsigned char)(v >> 8)};
    put(w, b, 3);
  } else if (v >= INT32_MIN && v <= INT32_MAX) {
    put1(w, 'J');
    put32(w, (uint32_t)(int32_t)v);
  } else { /* LONG1 of 8 bytes, two's complement */
    unsigned char b[10] = {0x8a, 8};
    uint64_t u;
    memcpy(&u, &v, sizeof u);
    for (int k = 0; k < 8; k++) b[2 + k] = (unsigned char)(u >> (8 * k));
    put(w, b, 10);
  }
}

void nyto_pkw_float(nyto_pkw *w, double v) {
  uint64_t u;
  memcpy(&u, &v, sizeof u);
  unsigned char b[9] = {'G'};
  for (int k = 0; k < 8; k++) b[1 + k] = (unsigned char)(u >> (8 * (7 - k)));
  put(w, b, 9);
}

/* strict UTF-8, as Python decodes a pickle's str: no overlong forms, no
 * surrogates, nothing past U+10FFFF */
static int utf8_ok(const unsigned char *s, size_t n) {
  size_t i = 0;
  while (i < n) {
    unsigned c = s[i];
    if (c < 0x80) { i++; continue; }
    size_t len = c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : c >= 0xc2 ? 2 : 0;
    if (len == 0 || c > 0xf4 || n - i < len) return 0;
    uint32_t cp = c & (0xff >> (len + 1));
    for (size_t k = 1; k < len; k++) {
      if ((s[i + k] & 0xc0) != 0x80) return 0;
      cp = cp << 6 | (s[i + k] & 0x3f);
    }
    if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10ffff)) || (cp >= 0xd800 && cp <= 0xdfff))
      return 0;
    i += len;
  }
  return 1;
}

void nyto_pkw_string(nyto_pkw *w, const char *s, size_t len) {
  if (len > UINT32_MAX) { w->oom = 1; return; }
  if (utf8_ok((const unsigned char *)s, len)) {
    put1(w, 'X');
  } else {
    put1(w, 'B'); /* BINBYTES: protocol 3 */
    w->binary = 1;
  }
  put32(w, (uint32_t)len);
  put(w, s, len);
}

void nyto_pkw_list_begin(nyto_pkw *w) { put(w, "](", 2); }
void nyto_pkw_list_end(nyto_pkw *w) { put1(w, 'e'); }
void nyto_pkw_dict_begin(nyto_pkw *w) { put(w, "}(", 2); }
void nyto_pkw_dict_end(nyto_pkw *w) { put1(w, 'u'); }

static const char *const storage_names[] = {"FloatStorage", "DoubleStorage", "LongStorage", "BoolStorage"};

void nyto_pkw_tensor_(nyto_pkw *w, int dtype, int ndim, const int64_t *sizes, const void *data) {
  if (w->oom) return;
  if (grow((void **)&w->tensors, &w->captensors, w->ntensors + 1, sizeof *w->tensors)) { w->oom = 1; return; }
  uint64_t numel = 1;
  for (int d = 0; d < ndim; d++) numel *= (uint64_t)sizes[d];
  char key[24];
  snprintf(key, sizeof key, "%zu", w->ntensors);
  w->tensors[w->ntensors].data = data;
  w->tensors[w->ntensors].nbytes = numel * (uint64_t)elsize[dtype];
  w->ntensors++;
  put_text(w, "ctorch._utils\n_rebuild_tensor_v2\n((");
  nyto_pkw_string(w, "storage", 7);
  put_text(w, "ctorch\n");
  put_text(w, storage_names[dtype]);
  put1(w, '\n');
  nyto_pkw_string(w, key, strlen(key));
  nyto_pkw_string(w, "cpu", 3);
  nyto_pkw_int(w, (int64_t)numel);
  put(w, "tQ", 2);
  nyto_pkw_int(w, 0);
  put1(w, '(');
  for (int d = 0; d < ndim; d++) nyto_pkw_int(w, sizes[d]);
  put(w, "t(", 2);
  int64_t stride = 1, strides[NYTO_PK_MAXDIM];
  for (int d = ndim - 1; d >= 0; d--) {
    strides[d] = stride;
    stride *= sizes[d] > 0 ? sizes[d] : 1;
  }
  for (int d = 0; d < ndim; d++) nyto_pkw_int(w, strides[d]);
  put_text(w, "t\x89" "ccollections\nOrderedDict\n)RtR");
}

static void le16(unsigned char *p, uint32_t v) { p[0] = (unsigned char)v; p[1] = (unsigned char)(v >> 8); }
static void le32(unsigned char *p, uint32_t v) { le16(p, v); le16(p + 2, v >> 16); }

static uint32_t crc_of(const void *data, uint64_t n) { return nyto_crc32(0, data, (size_t)n); }

int nyto_pkw_write(nyto_pkw *w, const char *path, char *err, size_t errlen) {
  put1(w, '.');
  if (w->oom) return fail(err, errlen, "out of memory");
  if (w->binary) w->buf[1] = 3;
  size_t nrec = w->ntensors + 3;
  /* record k: name, data, size */
  char (*names)[40] = calloc(nrec, sizeof *names);
  const void **datas = calloc(nrec, sizeof *datas);
  uint64_t *sizes = calloc(nrec, sizeof *sizes), *offs = calloc(nrec, sizeof *offs);
  uint32_t *crcs = calloc(nrec, sizeof *crcs);
  size_t *hlen = calloc(nrec, sizeof *hlen);
  nyto_chunk *chunks = calloc(2 * nrec + 1, sizeof *chunks);
  unsigned char *meta = NULL;
  int rc = -1;
  if (!names || !datas || !sizes || !offs || !crcs || !hlen || !chunks) {
    fail(err, errlen, "out of memory");
    goto done;
  }
  snprintf(names[0], sizeof names[0], "archive/data.pkl");
  datas[0] = w->buf;
  sizes[0] = w->len;
  snprintf(names[1], sizeof names[1], "archive/byteorder");
  datas[1] = "little";
  sizes[1] = 6;
  for (size_t k = 0; k < w->ntensors; k++) {
    snprintf(names[2 + k], sizeof names[2 + k], "archive/data/%zu", k);
    datas[2 + k] = w->tensors[k].data;
    sizes[2 + k] = w->tensors[k].nbytes;
  }
  snprintf(names[nrec - 1], sizeof names[nrec - 1], "archive/version");
  datas[nrec - 1] = "3\n";
  sizes[nrec - 1] = 2;
  /* the layout: each local header padded (an "FB" extra field, as PyTorch)
   * so that its data starts on 64 bytes */
  uint64_t at = 0, metalen = 0;
  for (size_t k = 0; k < nrec; k++) {
    size_t nl = strlen(names[k]);
    uint64_t base = at + 30 + nl + 4;
    hlen[k] = 30 + nl + 4 + (size_t)((64 - base % 64) % 64);
    offs[k] = at;
    at += hlen[k] + sizes[k];
    metalen += hlen[k] + 46 + nl;
  }
  uint64_t cdoff = at;
  metalen += 22;
  if (at + metalen > 0xffffffffu || nrec > 0xffff) {
    fail(err, errlen, "a .pt file of 4 GiB or more (zip64) is not written; use .safetensors");
    goto done;
  }
  meta = malloc((size_t)metalen);
  if (!meta) {
    fail(err, errlen, "out of memory");
    goto done;
  }
  for (size_t k = 0; k < nrec; k++) crcs[k] = sizes[k] ? crc_of(datas[k], sizes[k]) : 0;
  unsigned char *p = meta;
  int nc = 0;
  for (size_t k = 0; k < nrec; k++) {
    size_t nl = strlen(names[k]);
    memset(p, 0, hlen[k]);
    le32(p, 0x04034b50);
    le16(p + 4, 20);
    le16(p + 12, 0x21); /* 1980-01-01 */
    le32(p + 14, crcs[k]);
    le32(p + 18, (uint32_t)sizes[k]);
    le32(p + 22, (uint32_t)sizes[k]);
    le16(p + 26, (uint32_t)nl);
    le16(p + 28, (uint32_t)(hlen[k] - 30 - nl));
    memcpy(p + 30, names[k], nl);
    le16(p + 30 + nl, 0x4246);
    le16(p + 32 + nl, (uint32_t)(hlen[k] - 34 - nl));
    memset(p + 34 + nl, 'Z', hlen[k] - 34 - nl);
    chunks[nc].data = p;
    chunks[nc++].len = hlen[k];
    chunks[nc].data = datas[k];
    chunks[nc++].len = (size_t)sizes[k];
    p += hlen[k];
  }
  unsigned char *cd = p;
  for (size_t k = 0; k < nrec; k++) {
    size_t nl = strlen(names[k]);
    memset(p, 0, 46);
    le32(p, 0x02014b50);
    le16(p + 4, 20);
    le16(p + 6, 20);
    le16(p + 14, 0x21);
    le32(p + 16, crcs[k]);
    le32(p + 20, (uint32_t)sizes[k]);
    le32(p + 24, (uint32_t)sizes[k]);
    le16(p + 28, (uint32_t)nl);
    le32(p + 42, (uint32_t)offs[k]);
    memcpy(p + 46, names[k], nl);
    p += 46 + nl;
  }
  uint64_t cdsize = (uint64_t)(p - cd);
  memset(p, 0, 22);
  le32(p, 0x06054b50);
  le16(p + 8, (uint32_t)nrec);
  le16(p + 10, (uint32_t)nrec);
  le32(p + 12, (uint32_t)cdsize);
  le32(p + 16, (uint32_t)cdoff);
  p += 22;
  chunks[nc].data = cd;
  chunks[nc++].len = (size_t)(p - cd);
  rc = nyto_write_atomic(path, chunks, nc, err, errlen);
done:
  free(names);
  free(datas);
  free(sizes);
  free(offs);
  free(crcs);
  free(hlen);
  free(chunks);
  free(meta);
  return rc;
}
