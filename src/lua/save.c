/* save.c -- the C half of nyto.save / nyto.load (lua/nyto/serialize.lua):
 * safetensors through core/save.c, .pt through src/torch/serialize.cpp, JSON
 * through libcjson.  Included by binding.c.  Every C resource of a call is
 * owned by a box userdata (freed by its __gc) before anything may raise. */
#include <cjson/cJSON.h>

#include "nt_serialize.h"
#include "nyto_pickle.h"
#include "nyto_save.h"

#define SAVEBOX_MT "nyto.SaveBox"

typedef struct SaveBox {
  int kind; /* 1 map, 5 malloc, 6 cJSON, 7 map and pickle, 8 pickle writer */
  const unsigned char *map;
  size_t maplen;
  nyto_st_entry *es;
  size_t ne;
  char **meta;
  size_t nm;
  void *p;
  nyto_pickle pk;
  nyto_pkw w;
} SaveBox;

static void savebox_release(SaveBox *b) {
  if (b->map) nyto_unmap_file(b->map, b->maplen);
  b->map = NULL;
  if (b->es || b->meta) nyto_st_free(b->es, b->ne, b->meta, b->nm);
  b->es = NULL;
  b->meta = NULL;
  nyto_pickle_free(&b->pk);
  nyto_pkw_free(&b->w);
  if (b->p) {
    if (b->kind == 6) cJSON_Delete(b->p);
    else free(b->p);
  }
  b->p = NULL;
}

static int savebox_gc(lua_State *L) {
  savebox_release(luaL_checkudata(L, 1, SAVEBOX_MT));
  return 0;
}

static SaveBox *savebox_new(lua_State *L, int kind) {
  SaveBox *b = lua_newuserdatauv(L, sizeof *b, 0);
  memset(b, 0, sizeof *b);
  b->kind = kind;
  luaL_setmetatable(L, SAVEBOX_MT);
  return b;
}

static int path_fail(lua_State *L, const char *path, const char *what) {
  luaL_pushfail(L);
  lua_pushfstring(L, "nyto: %s: %s", path, what);
  return 2;
}

static int st_dtype_of(int nt) {
  return nt == NT_FLOAT64 ? NYTO_ST_F64 : nt == NT_INT64 ? NYTO_ST_I64 : nt == NT_BOOL ? NYTO_ST_BOOL : NYTO_ST_F32;
}
static int nt_dtype_of(int st) {
  return st == NYTO_ST_F64 ? NT_FLOAT64 : st == NYTO_ST_I64 ? NT_INT64 : st == NYTO_ST_BOOL ? NT_BOOL : NT_FLOAT32;
}
static size_t nt_elsize(int dt) { return dt == NT_FLOAT32 ? 4 : dt == NT_BOOL ? 1 : 8; }

/* core.st_save(path, names, tensors, meta) -> true | nil, message
 * names/tensors: arrays of n; tensors contiguous; meta: array key, value, ... */
static int l_st_save(lua_State *L) {
  const char *path = luaL_checkstring(L, 1);
  luaL_checktype(L, 2, LUA_TTABLE);
  luaL_checktype(L, 3, LUA_TTABLE);
  luaL_checktype(L, 4, LUA_TTABLE);
  size_t n = (size_t)lua_rawlen(L, 2), nm = (size_t)lua_rawlen(L, 4) / 2;
  /* one block: names, dtypes, ndims, sizes pointers, sizes, bytes, chunks, meta */
  size_t need = n * (sizeof(char *) + sizeof(int) * 2 + sizeof(int64_t *) + sizeof(int64_t) * NT_MAXDIM +
                     sizeof(uint64_t) + sizeof(nyto_chunk)) +
                sizeof(nyto_chunk) + 2 * nm * sizeof(char *) + 64;
  SaveBox *box = savebox_new(L, 5);
  box->p = calloc(1, need);
  if (!box->p) return nyto_error(L, "nyto: %s: out of memory", path);
  char *at = box->p;
  const char **names = (const char **)at; at += n * sizeof(char *);
  int64_t **sizes = (int64_t **)at; at += n * sizeof(int64_t *);
  int64_t *sz = (int64_t *)at; at += n * NT_MAXDIM * sizeof(int64_t);
  uint64_t *bytes = (uint64_t *)at; at += n * sizeof(uint64_t);
  nyto_chunk *chunks = (nyto_chunk *)at; at += (n + 1) * sizeof(nyto_chunk);
  const char **meta = (const char **)at; at += 2 * nm * sizeof(char *);
  int *dtypes = (int *)at; at += n * sizeof(int);
  int *ndims = (int *)at;
  for (size_t k = 0; k < n; k++) {
    lua_rawgeti(L, 2, (lua_Integer)k + 1);
    names[k] = lua_tostring(L, -1); /* anchored by the names table */
    lua_pop(L, 1);
    lua_rawgeti(L, 3, (lua_Integer)k + 1);
    nt_tensor *t = tensor_check(L, lua_gettop(L), "save");
    lua_pop(L, 1); /* anchored by the tensors table */
    if (!names[k]) return nyto_error(L, "nyto: %s: tensor name %d is not a string", path, (int)k + 1);
    if (!nt_is_contiguous(t)) return nyto_error(L, "nyto: %s: tensor %d is not contiguous", path, (int)k + 1);
    dtypes[k] = st_dtype_of(nt_dtype(t));
    ndims[k] = nt_dim(t);
    sizes[k] = sz + k * NT_MAXDIM;
    for (int d = 0; d < ndims[k]; d++) sizes[k][d] = nt_size(t, d);
    bytes[k] = (uint64_t)nt_numel(t) * nt_elsize(nt_dtype(t));
    chunks[k + 1].data = nt_data(t);
    chunks[k + 1].len = (size_t)bytes[k];
  }
  for (size_t k = 0; k < 2 * nm; k++) {
    lua_rawgeti(L, 4, (lua_Integer)k + 1);
    meta[k] = lua_tostring(L, -1);
    lua_pop(L, 1);
    if (!meta[k]) return nyto_error(L, "nyto: %s: metadata entry %d is not a string", path, (int)k + 1);
  }
  char err[512];
  size_t hl;
  unsigned char *hdr = nyto_st_header(names, dtypes, ndims, (const int64_t *const *)sizes, bytes, n, meta, nm, &hl,
                                      err, sizeof err);
  if (!hdr) return nyto_error(L, "nyto: %s: %s", path, err);
  chunks[0].data = hdr;
  chunks[0].len = hl;
  int rc = nyto_write_atomic(path, chunks, (int)n + 1, err, sizeof err);
  free(hdr);
  if (rc != 0) return path_fail(L, path, err);
  lua_pushboolean(L, 1);
  return 1;
}

/* core.st_load(path) -> names, tensors, meta(table) | nil, message (missing) */
static int l_st_load(lua_State *L) {
  const char *path = luaL_checkstring(L, 1);
  char err[512];
  SaveBox *box = savebox_new(L, 1);
  int rc = nyto_map_file(path, &box->map, &box->maplen, err, sizeof err);
  if (rc == 1) return path_fail(L, path, err);
  if (rc != 0) return nyto_error(L, "nyto: %s: %s", path, err);
  if (nyto_st_parse(box->map, box->maplen, &box->es, &box->ne, &box->meta, &box->nm, err, sizeof err) != 0)
    return nyto_error(L, "nyto: %s: %s", path, err);
  lua_createtable(L, (int)box->ne, 0);
  lua_createtable(L, (int)box->ne, 0);
  for (size_t k = 0; k < box->ne; k++) {
    nyto_st_entry *e = &box->es[k];
    lua_pushstring(L, e->name);
    lua_rawseti(L, -3, (lua_Integer)k + 1);
    LTensor *u = tensor_newud(L);
    nt_tensor *t;
    if (nt_new(NT_EMPTY, e->sizes, e->ndim, nt_dtype_of(e->dtype), 0.0, &t) != 0)
      return nyto_error(L, "nyto: %s: tensor \"%s\": %s", path, e->name, nt_error());
    tensor_own(L, u, t);
    if (e->end > e->begin) {
      void *p = nt_data(t);
      if (!p) return nyto_error(L, "nyto: %s: tensor \"%s\" has no CPU data", path, e->name);
      if (e->dtype == NYTO_ST_BOOL) {
        unsigned char *q = p;
        for (uint64_t i = e->begin; i < e->end; i++) *q++ = box->map[i] != 0;
      } else {
        memcpy(p, box->map + e->begin, (size_t)(e->end - e->begin));
      }
    }
    lua_rawseti(L, -2, (lua_Integer)k + 1);
  }
  lua_createtable(L, 0, (int)box->nm);
  for (size_t k = 0; k < box->nm; k++) {
    lua_pushstring(L, box->meta[2 * k + 1]);
    lua_setfield(L, -2, box->meta[2 * k]);
  }
  savebox_release(box); /* unmaps now rather than at a later collection */
  return 3;
}

/* ---- .pt ---- */
/* Pickle the Lua value at idx into w (serialize.lua made it plain: tensors
 * contiguous, keys strings or integers, no cycle).  Sequences are lists,
 * other tables dicts. */
static void lua_to_pickle(lua_State *L, int idx, nyto_pkw *w, int depth, const char *path) {
  idx = lua_absindex(L, idx);
  if (depth > 100) nyto_error(L, "nyto: %s: value nested too deeply", path);
  switch (lua_type(L, idx)) {
    case LUA_TBOOLEAN: nyto_pkw_bool(w, lua_toboolean(L, idx)); return;
    case LUA_TNUMBER:
      if (lua_isinteger(L, idx)) nyto_pkw_int(w, (int64_t)lua_tointeger(L, idx));
      else nyto_pkw_float(w, (double)lua_tonumber(L, idx));
      return;
    case LUA_TSTRING: {
      size_t len;
      const char *s = lua_tolstring(L, idx, &len);
      nyto_pkw_string(w, s, len);
      return;
    }
    case LUA_TUSERDATA: {
      nt_tensor *t = tensor_check(L, idx, "save"); /* anchored by the value */
      if (!nt_is_contiguous(t)) nyto_error(L, "nyto: %s: a tensor is not contiguous", path);
      int64_t sizes[NT_MAXDIM];
      int nd = nt_dim(t);
      for (int d = 0; d < nd; d++) sizes[d] = nt_size(t, d);
      int dt = nt_dtype(t);
      nyto_pkw_tensor_(w, dt == NT_FLOAT64 ? NYTO_PK_F64 : dt == NT_INT64 ? NYTO_PK_I64 : dt == NT_BOOL ? NYTO_PK_B8
                                                                                                    : NYTO_PK_F32,
                       nd, sizes, nt_data(t));
      return;
    }
    case LUA_TTABLE: {
      luaL_checkstack(L, 6, "nyto.save");
      size_t n = (size_t)lua_rawlen(L, idx), count = 0;
      lua_pushnil(L);
      while (lua_next(L, idx)) { count++; lua_pop(L, 1); }
      if (n > 0 && count == n) {
        nyto_pkw_list_begin(w);
        for (size_t k = 0; k < n; k++) {
          lua_rawgeti(L, idx, (lua_Integer)k + 1);
          lua_to_pickle(L, -1, w, depth + 1, path);
          lua_pop(L, 1);
        }
        nyto_pkw_list_end(w);
      } else {
        nyto_pkw_dict_begin(w);
        lua_pushnil(L);
        while (lua_next(L, idx)) {
          lua_to_pickle(L, -2, w, depth + 1, path);
          lua_to_pickle(L, -1, w, depth + 1, path);
          lua_pop(L, 1);
        }
        nyto_pkw_dict_end(w);
      }
      return;
    }
    default:
      nyto_error(L, "nyto: %s: cannot save a %s", path, luaL_typename(L, idx));
  }
}

/* core.pt_save(path, value) -> true | nil, message */
static int l_pt_save(lua_State *L) {
  const char *path = luaL_checkstring(L, 1);
  lua_settop(L, 2);
  SaveBox *box = savebox_new(L, 8);
  nyto_pkw_init(&box->w);
  lua_to_pickle(L, 2, &box->w, 0, path);
  char err[512];
  int rc = nyto_pkw_write(&box->w, path, err, sizeof err);
  nyto_pkw_free(&box->w);
  if (rc != 0) return path_fail(L, path, err);
  lua_pushboolean(L, 1);
  return 1;
}

/* The value of pickle node k.  ci: a table node + 1 -> value (a node met
 * twice gives one value: shared and cyclic containers stay so); si: a table
 * "<key>/<dtype>" -> the storage's tensor (copied once from the map).
 * nyto_pickle_run checked the graph (no class in it, scalar keys, nesting
 * of at most NYTO_PK_MAXDEPTH in this order). */
static void pk_push(lua_State *L, SaveBox *box, uint32_t k, int ci, int si, const char *path) {
  const nyto_pickle *P = &box->pk;
  const nyto_pk_node *n = &P->nodes[k];
  luaL_checkstack(L, 8, "nyto.load");
  switch (n->kind) {
    case NYTO_PK_NONE: lua_pushnil(L); return;
    case NYTO_PK_BOOL: lua_pushboolean(L, n->i != 0); return;
    case NYTO_PK_INT: lua_pushinteger(L, (lua_Integer)n->i); return;
    case NYTO_PK_FLOAT: lua_pushnumber(L, (lua_Number)n->f); return;
    case NYTO_PK_STR:
    case NYTO_PK_BYTES: lua_pushlstring(L, n->s, n->slen); return;
    default: break;
  }
  if (lua_rawgeti(L, ci, (lua_Integer)k + 1) != LUA_TNIL) return;
  lua_pop(L, 1);
  if (n->kind == NYTO_PK_TENSOR) {
    const nyto_pk_tensor *t = &P->tensors[n->i];
    const nyto_pk_storage *s = &P->storages[t->storage];
    lua_pushlstring(L, s->key, s->keylen);
    lua_pushfstring(L, "/%d", s->dtype);
    lua_concat(L, 2);
    if (lua_rawget(L, si) == LUA_TNIL) {
      lua_pop(L, 1);
      int64_t numel = (int64_t)s->numel;
      LTensor *u = tensor_newud(L);
      nt_tensor *st;
      if (nt_new(NT_EMPTY, &numel, 1, s->dtype, 0.0, &st) != 0) nyto_error(L, "nyto: %s: %s", path, nt_error());
      tensor_own(L, u, st);
      unsigned char *q = nt_data(st);
      if (numel > 0 && !q) nyto_error(L, "nyto: %s: a storage without CPU data", path);
      /* copied in chunks that are still in cache when their CRC-32 is taken
       * (the record's bytes, as in the file, before bools are made 0 or 1) */
      size_t nbytes = (size_t)numel * (s->dtype == NYTO_PK_F32 ? 4 : s->dtype == NYTO_PK_B8 ? 1 : 8);
      uint32_t crc = 0;
      for (size_t at = 0; at < nbytes; at += (size_t)1 << 16) {
        size_t w = nbytes - at < ((size_t)1 << 16) ? nbytes - at : ((size_t)1 << 16);
        memcpy(q + at, s->data + at, w);
        if (s->crc_pending) crc = nyto_crc32(crc, q + at, w);
      }
      if (s->crc_pending && crc != s->crc) {
        lua_pushlstring(L, s->key, s->keylen > 40 ? 40 : s->keylen);
        nyto_error(L, "nyto: %s: storage %s: its record is damaged (its CRC-32 does not match)", path,
                   lua_tostring(L, -1));
      }
      if (s->dtype == NYTO_PK_B8)
        for (int64_t i = 0; i < numel; i++) q[i] = q[i] != 0;
      lua_pushlstring(L, s->key, s->keylen);
      lua_pushfstring(L, "/%d", s->dtype);
      lua_concat(L, 2);
      lua_pushvalue(L, -2);
      lua_rawset(L, si);
    }
    nt_tensor *base = tensor_check(L, -1, "load"), *v;
    LTensor *u = tensor_newud(L);
    if (nt_as_strided(base, t->sizes, t->strides, t->ndim, t->offset, &v) != 0)
      nyto_error(L, "nyto: %s: %s", path, nt_error());
    tensor_own(L, u, v);
    lua_remove(L, -2);
    lua_pushvalue(L, -1);
    lua_rawseti(L, ci, (lua_Integer)k + 1);
    return;
  }
  int dict = n->kind == NYTO_PK_DICT;
  lua_createtable(L, dict ? 0 : (int)n->n, dict ? (int)(n->n / 2) : 0);
  lua_pushvalue(L, -1);
  lua_rawseti(L, ci, (lua_Integer)k + 1);
  for (uint32_t j = 0; j < n->n; j++) {
    if (!dict) {
      pk_push(L, box, n->items[j], ci, si, path);
      lua_rawseti(L, -2, (lua_Integer)j + 1);
    } else if (j % 2 == 0) {
      pk_push(L, box, n->items[j], ci, si, path);
      if (lua_isnil(L, -1)) { /* a None key: dropped */
        lua_pop(L, 1);
        j++;
        continue;
      }
      pk_push(L, box, n->items[j + 1], ci, si, path);
      lua_rawset(L, -3);
    }
  }
}

/* core.pt_load(path) -> value | nil, message (missing) */
static int l_pt_load(lua_State *L) {
  const char *path = luaL_checkstring(L, 1);
  char err[512];
  SaveBox *box = savebox_new(L, 7);
  int rc = nyto_map_file(path, &box->map, &box->maplen, err, sizeof err);
  if (rc == 1) return path_fail(L, path, err);
  if (rc != 0) return nyto_error(L, "nyto: %s: %s", path, err);
  if (nyto_pt_parse(box->map, box->maplen, NYTO_PT_DEFERCRC, &box->pk, err, sizeof err) != 0)
    return nyto_error(L, "nyto: %s: %s", path, err);
  lua_newtable(L);
  int ci = lua_gettop(L);
  lua_newtable(L);
  int si = lua_gettop(L);
  pk_push(L, box, box->pk.root, ci, si, path);
  savebox_release(box); /* unmaps now rather than at a later collection */
  return 1;
}

/* ---- JSON (libcjson), for the structure kept in __metadata__ ---- */
static void json_to_lua(lua_State *L, const cJSON *j, int depth) {
  luaL_checkstack(L, 4, "json");
  if (depth > 200) nyto_error(L, "nyto: JSON nested too deeply");
  if (cJSON_IsString(j)) lua_pushstring(L, j->valuestring);
  else if (cJSON_IsTrue(j)) lua_pushboolean(L, 1);
  else if (cJSON_IsFalse(j)) lua_pushboolean(L, 0);
  else if (cJSON_IsNumber(j)) lua_pushnumber(L, j->valuedouble);
  else if (cJSON_IsArray(j)) {
    lua_newtable(L);
    lua_Integer k = 1;
    for (const cJSON *c = j->child; c; c = c->next) {
      json_to_lua(L, c, depth + 1);
      lua_rawseti(L, -2, k++);
    }
  } else if (cJSON_IsObject(j)) {
    lua_newtable(L);
    for (const cJSON *c = j->child; c; c = c->next) {
      json_to_lua(L, c, depth + 1);
      lua_setfield(L, -2, c->string);
    }
  } else lua_pushnil(L);
}

/* core.json_decode(s) -> value | nil */
static int l_json_decode(lua_State *L) {
  size_t len;
  const char *s = luaL_checklstring(L, 1, &len);
  SaveBox *box = savebox_new(L, 6);
  box->p = cJSON_ParseWithLength(s, len);
  if (!box->p) return 0;
  json_to_lua(L, box->p, 0);
  return 1;
}

/* core.json_string_array(t) -> a JSON array of t's strings and booleans
 * (the structure nodes of serialize.lua are flat arrays of those) */
static int l_json_array(lua_State *L) {
  luaL_checktype(L, 1, LUA_TTABLE);
  SaveBox *box = savebox_new(L, 6);
  box->p = cJSON_CreateArray();
  if (!box->p) return nyto_error(L, "nyto: out of memory");
  lua_Integer n = (lua_Integer)lua_rawlen(L, 1);
  for (lua_Integer k = 1; k <= n; k++) {
    lua_rawgeti(L, 1, k);
    cJSON *item;
    if (lua_type(L, -1) == LUA_TSTRING) item = cJSON_CreateString(lua_tostring(L, -1));
    else if (lua_type(L, -1) == LUA_TBOOLEAN) item = cJSON_CreateBool(lua_toboolean(L, -1));
    else if (lua_type(L, -1) == LUA_TNUMBER) item = cJSON_CreateNumber(lua_tonumber(L, -1));
    else return nyto_error(L, "nyto: json_array: item %d is a %s", (int)k, luaL_typename(L, -1));
    lua_pop(L, 1);
    if (!item || !cJSON_AddItemToArray(box->p, item)) return nyto_error(L, "nyto: out of memory");
  }
  char *text = cJSON_PrintUnformatted(box->p);
  if (!text) return nyto_error(L, "nyto: out of memory");
  cJSON_Delete(box->p);
  box->p = text;
  box->kind = 5;
  lua_pushstring(L, text);
  return 1;
}

/* core.rng_state() -> string; core.set_rng_state(s) */
static int l_rng_state(lua_State *L) {
  unsigned char buf[16384];
  size_t len;
  if (nt_rng_get_state(buf, sizeof buf, &len) != 0) return nyto_error(L, "nyto: rng_state: %s", nt_error());
  lua_pushlstring(L, (const char *)buf, len);
  return 1;
}

static int l_set_rng_state(lua_State *L) {
  size_t len;
  if (lua_type(L, 1) != LUA_TSTRING) return nyto_argerror(L, 1, "set_rng_state", "string expected");
  const char *s = lua_tolstring(L, 1, &len);
  if (nt_rng_set_state((const unsigned char *)s, len) != 0)
    return nyto_argerror(L, 1, "set_rng_state", nt_error());
  return 0;
}

/* core.save_sync(on) -> the previous setting (bench/save_load.sh only) */
static int l_save_sync(lua_State *L) {
  luaL_checktype(L, 1, LUA_TBOOLEAN);
  lua_pushboolean(L, nyto_save_set_sync(lua_toboolean(L, 1)));
  return 1;
}

static void save_open(lua_State *L) {
  /* core table at -1 */
  luaL_newmetatable(L, SAVEBOX_MT);
  lua_pushcfunction(L, savebox_gc);
  lua_setfield(L, -2, "__gc");
  lua_pop(L, 1);
  static const luaL_Reg fs[] = {{"st_save", l_st_save}, {"st_load", l_st_load}, {"pt_save", l_pt_save},
                                {"pt_load", l_pt_load}, {"json_decode", l_json_decode},
                                {"json_array", l_json_array}, {"rng_state", l_rng_state},
                                {"set_rng_state", l_set_rng_state}, {"save_sync", l_save_sync}, {NULL, NULL}};
  luaL_setfuncs(L, fs, 0);
}
