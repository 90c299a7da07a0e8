/* private.h -- the binding's shared statics (after luv's private.h).
 *
 * The binding is one translation unit: binding.c includes random.c, tensor.c,
 * particle.c, es.c, data.c, vmap.c, dist.c, save.c and embed.c, so every helper
 * stays static.  This header declares, in one place, each static that one of
 * those files defines and another uses, grouped by the file that defines it,
 * so that no file forward-declares another's functions and the order of the
 * includes is no longer a contract.  Errors are made in one place:
 * nyto_error and nyto_argerror (binding.c); every message starts "nyto: ". */
#ifndef NYTO_LUA_PRIVATE_H
#define NYTO_LUA_PRIVATE_H

#include <lauxlib.h>
#include <lua.h>
#include <stdint.h>

#include "nt.h"

typedef struct LTensor LTensor; /* tensor.c: a nyto.Tensor userdata */
typedef struct LBuffer LBuffer; /* particle.c: a nyto.Buffer (flat particle buffer) */
typedef struct LSegs LSegs;     /* particle.c: a nyto.Segments (operational ranges) */
typedef struct LGen LGen;       /* random.c: a nyto.Generator */

/* ---- binding.c: errors and GC pacing ---- */
/* Raise a message that starts with "nyto: " (cut at 400 characters); never returns. */
static int nyto_error(lua_State *L, const char *fmt, ...);
/* Raise "nyto: bad argument #arg to 'fname' (msg)". */
static int nyto_argerror(lua_State *L, int arg, const char *fname, const char *msg);
/* Count bytes of new tensor memory; collect when they pass the budget. */
static void nyto_gc_pace(lua_State *L, int64_t bytes);
/* The same, before a particle buffer of that size is taken. */
static void nyto_gc_pace_before(lua_State *L, int64_t bytes);
/* The number of deferred particle buffers (particle.c keeps the list). */
static int lazy_n;

/* ---- random.c: generators (and gen_global, the global one: an object of a
 * type completed there, so random.c comes first among the includes) ---- */
static uint64_t gen_take(LGen *g, int64_t n);
static LGen *gen_check(lua_State *L, int idx, const char *fname);
static LGen *gen_from_opts(lua_State *L, int opts, const char *fname);
static void gen_fill_tensor(LGen *g, nt_tensor *t, int kind);
static void random_open(lua_State *L);

/* ---- tensor.c: the Tensor userdata ---- */
static LTensor *tensor_newud(lua_State *L);
static void tensor_own(lua_State *L, LTensor *u, nt_tensor *t);
static LTensor *tensor_ud(lua_State *L, int i);
static nt_tensor *tensor_check(lua_State *L, int i, const char *fname);
static int tensor_fail(lua_State *L, const char *fname);
static const char *push_shape(lua_State *L, const nt_tensor *t);
static int read_sizes(lua_State *L, int first, int last, int64_t *sizes, const char *fname);
/* (and dtype_names[], the dtype names by NT_ code: an array whose size tensor.c gives) */
static int check_dtype(lua_State *L, int idx, const char *fname);
static void tensor_open(lua_State *L);

/* ---- particle.c: flat buffers and deferred passes ---- */
/* Before a tensor op writes t (NULL: tensors it cannot name), compute the
 * deferred buffers that read its storage. */
static void lazy_before_write(lua_State *L, const nt_tensor *t);
/* The same for a storage id (es.c: before its passes write their outputs). */
static void lazy_force(lua_State *L, const void *id);
static lua_Integer nyto_checkint(lua_State *L, int i, const char *fname);
static void particle_open(lua_State *L);

/* ---- es.c: the strategies' passes ---- */
static void es_open(lua_State *L);

/* ---- data.c, vmap.c, dist.c, save.c: their tables of core.* functions ---- */
static void data_open(lua_State *L);
static void vmap_open(lua_State *L);
static void dist_open(lua_State *L);
static void save_open(lua_State *L);

#endif
