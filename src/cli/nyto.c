/* nyto.c -- the nyto program: `nyto script.lua args...` runs a script with
 * `arg` set as lua5.4 does; `nyto` alone is a REPL (line editing and history
 * with readline) that prints the values of expressions.  nyto is preloaded as
 * the global `nyto`. */
#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif

#include "nyto.h"

#ifdef NYTO_READLINE
#include <readline/history.h>
#include <readline/readline.h>
#endif

static int msghandler(lua_State *L) {
  const char *msg = lua_tostring(L, 1);
  if (msg == NULL) {
    if (luaL_callmeta(L, 1, "__tostring") && lua_type(L, -1) == LUA_TSTRING) return 1;
    msg = lua_pushfstring(L, "(error object is a %s value)", luaL_typename(L, 1));
  }
  luaL_traceback(L, L, msg, 1);
  return 1;
}

static int docall(lua_State *L, int narg, int nres) {
  int base = lua_gettop(L) - narg;
  lua_pushcfunction(L, msghandler);
  lua_insert(L, base);
  int status = lua_pcall(L, narg, nres, base);
  lua_remove(L, base);
  return status;
}

static int report(lua_State *L, int status) {
  if (status != LUA_OK) {
    const char *msg = lua_tostring(L, -1);
    if (!msg) msg = "(error object is not a string)";
    /* program name first, as lua5.4 does, unless the message already starts with it */
    fprintf(stderr, strncmp(msg, "nyto: ", 6) == 0 ? "%s\n" : "nyto: %s\n", msg);
    fflush(stderr);
    lua_pop(L, 1);
  }
  return status;
}

static void print_results(lua_State *L) {
  int n = lua_gettop(L);
  if (n == 0) return;
  luaL_checkstack(L, LUA_MINSTACK, "too many results to print");
  lua_getglobal(L, "print");
  lua_insert(L, 1);
  if (lua_pcall(L, n, 0, 0) != LUA_OK)
    fprintf(stderr, "nyto: error calling 'print' (%s)\n", lua_tostring(L, -1));
  lua_settop(L, 0);
}

static char *read_line(const char *prompt) {
#ifdef NYTO_READLINE
  if (isatty(0)) {
    char *l = readline(prompt);
    if (l && *l) add_history(l);
    return l;
  }
#endif
  static char buf[8192];
  if (isatty(0)) {
    fputs(prompt, stdout);
    fflush(stdout);
  }
  if (!fgets(buf, sizeof buf, stdin)) return NULL;
  size_t n = strlen(buf);
  if (n && buf[n - 1] == '\n') buf[n - 1] = '\0';
  char *r = malloc(strlen(buf) + 1);
  if (r) strcpy(r, buf);
  return r;
}

/* Compile a chunk: first as "return <line>" (to print its value), then as a statement,
 * asking for more lines while the chunk is incomplete. */
static int load_chunk(lua_State *L, const char *line) {
  const char *ret = lua_pushfstring(L, "return %s", line);
  int status = luaL_loadbuffer(L, ret, strlen(ret), "=stdin");
  lua_remove(L, -2);
  if (status == LUA_OK) return LUA_OK;
  lua_pop(L, 1);
  lua_pushstring(L, line);
  for (;;) {
    size_t len;
    const char *code = lua_tolstring(L, -1, &len);
    status = luaL_loadbuffer(L, code, len, "=stdin");
    if (status != LUA_ERRSYNTAX) break;
    const char *msg = lua_tostring(L, -1);
    size_t ml = strlen(msg);
    if (!(ml >= 5 && strcmp(msg + ml - 5, "<eof>") == 0)) break;
    lua_pop(L, 1);
    char *more = read_line(">> ");
    if (!more) {
      lua_pushstring(L, "unfinished chunk");
      status = LUA_ERRSYNTAX;
      break;
    }
    lua_pushfstring(L, "%s\n%s", code, more);
    free(more);
    lua_remove(L, -2);
  }
  lua_remove(L, -2);
  return status;
}

static void repl(lua_State *L) {
  if (isatty(0)) printf("nyto %s (Lua 5.4, libtorch) -- `nyto` is loaded; Ctrl-D exits\n", nyto_version());
#ifdef NYTO_READLINE
  const char *home = getenv("HOME");
  char hist[1024] = "";
  if (home) {
    snprintf(hist, sizeof hist, "%s/.nyto_history", home);
    read_history(hist);
  }
#endif
  char *line;
  lua_settop(L, 0); /* pmain's own arguments are not results to print */
  while ((line = read_line("> ")) != NULL) {
    int status = load_chunk(L, line);
    free(line);
    if (status == LUA_OK) status = docall(L, 0, LUA_MULTRET);
    if (status == LUA_OK) print_results(L);
    else report(L, status);
    lua_settop(L, 0);
  }
  if (isatty(0)) putchar('\n');
#ifdef NYTO_READLINE
  if (hist[0]) write_history(hist);
#endif
}

static int pmain(lua_State *L) {
  int argc = (int)lua_tointeger(L, 1);
  char **argv = lua_touserdata(L, 2);
  luaL_openlibs(L);
  if (getenv("NYTO_GC_STRESS")) /* scripts/check-memory: collect all the time */
    lua_gc(L, LUA_GCINC, 10, 400, 0);
  else
    lua_gc(L, LUA_GCGEN, 0, 0); /* as lua5.4 does: generational collection */
  if (nyto_open(L) != LUA_OK) return lua_error(L);
  lua_setglobal(L, "nyto");
  /* arg table as lua5.4 builds it: arg[0] the script, arg[1..] its arguments */
  int script = argc > 1 ? 1 : 0;
  lua_createtable(L, argc, 1);
  for (int i = 0; i < argc; i++) {
    lua_pushstring(L, argv[i]);
    lua_rawseti(L, -2, i - script);
  }
  lua_setglobal(L, "arg");
  if (!script) {
    repl(L);
    return 0;
  }
  const char *fname = strcmp(argv[1], "-") == 0 ? NULL : argv[1];
  if (luaL_loadfile(L, fname) != LUA_OK) return lua_error(L);
  int n = argc - 2;
  luaL_checkstack(L, n + 3, "too many arguments");
  for (int i = 2; i < argc; i++) lua_pushstring(L, argv[i]);
  if (docall(L, n, 0) != LUA_OK) return lua_error(L);
  return 0;
}

/* Training frees and allocates tensors by the megabyte.  glibc returns such
 * memory to the kernel (munmap, trim) and the next batch faults it back in;
 * the nyto program keeps it (bench/train.sh: 25-30% less time per batch on
 * 2 threads).  The library leaves a host's malloc alone, and a
 * GLIBC_TUNABLES setting wins. */
static void tune_malloc(void) {
#ifdef __GLIBC__
  if (getenv("GLIBC_TUNABLES")) return;
  mallopt(M_MMAP_THRESHOLD, 256 << 20);
  mallopt(M_TRIM_THRESHOLD, 1 << 30);
#endif
}

int main(int argc, char **argv) {
  tune_malloc();
  lua_State *L = luaL_newstate();
  if (!L) {
    fprintf(stderr, "nyto: cannot create Lua state: not enough memory\n");
    return 1;
  }
  lua_pushcfunction(L, pmain);
  lua_pushinteger(L, argc);
  lua_pushlightuserdata(L, argv);
  int status = lua_pcall(L, 2, 0, 0);
  report(L, status);
  lua_close(L);
  return status == LUA_OK ? 0 : 1;
}
