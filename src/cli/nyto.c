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

static const char *progname = "nyto";

/* Drop nyto's own frames from a traceback (frames of lua/nyto/ files, or of
 * share/lua/5.4/nyto/ where the build tree and an install keep them, and C
 * functions of the binding) unless NYTO_TRACEBACK=full. */
static void push_filtered(lua_State *L, const char *tb) {
  const char *full = getenv("NYTO_TRACEBACK");
  if (full && strcmp(full, "full") == 0) {
    lua_pushstring(L, tb);
    return;
  }
  luaL_Buffer b;
  luaL_buffinit(L, &b);
  const char *p = tb;
  int in_tb = 0;
  while (*p) {
    const char *e = strchr(p, '\n');
    size_t n = e ? (size_t)(e - p) : strlen(p);
    int drop = 0;
    if (in_tb) {
      char line[512];
      size_t m = n < sizeof line - 1 ? n : sizeof line - 1;
      memcpy(line, p, m);
      line[m] = '\0';
      if (strstr(line, "lua/nyto/") || strstr(line, "/lua/5.4/nyto/") || strstr(line, "[C]: in ?") ||
          strstr(line, "[C]: in function 'nyto.") || strstr(line, "[C]: in method ") ||
          strstr(line, "[C]: in function 'xpcall'") || strstr(line, "(...tail calls...)"))
        drop = 1;
    }
    if (!drop) {
      if (p != tb) luaL_addchar(&b, '\n');
      luaL_addlstring(&b, p, n);
    }
    if (!in_tb && n == 16 && strncmp(p, "stack traceback:", 16) == 0) in_tb = 1;
    if (!e) break;
    p = e + 1;
  }
  luaL_pushresult(&b);
}

static int msghandler(lua_State *L) {
  const char *msg = lua_tostring(L, 1);
  if (msg == NULL) {
    if (luaL_callmeta(L, 1, "__tostring") && lua_type(L, -1) == LUA_TSTRING) return 1;
    msg = lua_pushfstring(L, "(error object is a %s value)", luaL_typename(L, 1));
  }
  luaL_traceback(L, L, msg, 1);
  push_filtered(L, lua_tostring(L, -1));
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

/* An error message: "nyto: " first, as lua5.4 puts its program name, unless the
 * message already starts with it; none in the REPL (progname NULL), as lua5.4. */
static int report(lua_State *L, int status) {
  if (status != LUA_OK) {
    const char *msg = lua_tostring(L, -1);
    if (!msg) msg = "(error object is not a string)";
    if (progname && strncmp(msg, "nyto: ", 6) != 0) fprintf(stderr, "%s: ", progname);
    fprintf(stderr, "%s\n", msg);
    fflush(stderr);
    lua_pop(L, 1);
  }
  return status;
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

/* The REPL's Lua side: lua/nyto/repl.lua (loaded only here), kept in the registry. */
static int repl_ref = LUA_NOREF;

#ifdef NYTO_READLINE
static lua_State *complete_L;

static int complete_k(lua_State *L) {
  const char *text = lua_touserdata(L, 1);
  lua_rawgeti(L, LUA_REGISTRYINDEX, repl_ref);
  lua_getfield(L, -1, "complete");
  lua_pushstring(L, text);
  lua_call(L, 1, 1);
  return 1;
}

/* readline's hook: inside a string, readline's own file-name completion;
 * elsewhere the words repl.complete lists.  Never raises. */
static char **nyto_completion(const char *text, int start, int end) {
  (void)start;
  (void)end;
  if (rl_completion_quote_character) return NULL;
  rl_attempted_completion_over = 1;
  lua_State *L = complete_L;
  int top = lua_gettop(L);
  lua_pushcfunction(L, complete_k);
  lua_pushlightuserdata(L, (void *)text);
  char **m = NULL;
  if (lua_pcall(L, 1, 1, 0) == LUA_OK && lua_istable(L, -1)) {
    lua_Integer n = luaL_len(L, -1);
    if (n > 0 && n < 100000) {
      m = calloc((size_t)n + 2, sizeof *m);
      size_t common = 0;
      for (lua_Integer i = 1; m && i <= n; i++) {
        lua_rawgeti(L, -1, i);
        const char *w = lua_tostring(L, -1);
        m[i] = strdup(w ? w : "");
        lua_pop(L, 1);
        if (i == 1) common = strlen(m[1]);
        else {
          size_t c = 0;
          while (c < common && m[1][c] == m[i][c]) c++;
          common = c;
        }
      }
      if (m) {
        if (n == 1) {
          m[0] = m[1];
          m[1] = NULL;
        } else {
          m[0] = strndup(m[1], common);
        }
      }
    }
  }
  lua_settop(L, top);
  rl_completion_append_character = '\0';
  return m;
}
#endif

static int l_traceback(lua_State *L) { return msghandler(L); }

static void repl(lua_State *L) {
  progname = NULL; /* errors as lua5.4's REPL shows them */
  lua_getglobal(L, "require");
  lua_pushstring(L, "nyto.repl");
  if (docall(L, 1, 1) != LUA_OK) {
    report(L, 1);
    return;
  }
  lua_pushcfunction(L, l_traceback);
  lua_setfield(L, -2, "traceback");
  repl_ref = luaL_ref(L, LUA_REGISTRYINDEX);
  if (isatty(0)) printf("nyto %s (Lua 5.4, libtorch) -- `nyto` is loaded; help() for help; Ctrl-D exits\n", nyto_version());
#ifdef NYTO_READLINE
  complete_L = L;
  rl_readline_name = "nyto";
  rl_attempted_completion_function = nyto_completion;
  rl_basic_word_break_characters = " \t\n\"\\'`@$><=;|&{(,+-*%^~#[]}";
  rl_completer_quote_characters = "\"'";
  const char *home = getenv("HOME");
  char hist[1024] = "";
  if (home) {
    snprintf(hist, sizeof hist, "%s/.nyto_history", home);
    read_history(hist);
  }
#endif
  char *line;
  lua_settop(L, 0);
  const char *prompt = "> ";
  lua_pushliteral(L, ""); /* the chunk so far */
  while ((line = read_line(prompt)) != NULL) {
    if (lua_rawlen(L, 1) > 0) lua_pushfstring(L, "%s\n%s", lua_tostring(L, 1), line);
    else lua_pushstring(L, line);
    free(line);
    lua_replace(L, 1);
    lua_rawgeti(L, LUA_REGISTRYINDEX, repl_ref);
    lua_getfield(L, -1, "eval");
    lua_remove(L, -2);
    lua_pushvalue(L, 1);
    int status = lua_pcall(L, 1, 1, 0);
    int more = status == LUA_OK && lua_isstring(L, -1) && strcmp(lua_tostring(L, -1), "more") == 0;
    if (status != LUA_OK) report(L, status);
    lua_settop(L, 1);
    if (more) prompt = ">> ";
    else {
      prompt = "> ";
      lua_pushliteral(L, "");
      lua_replace(L, 1);
    }
  }
  if (isatty(0)) putchar('\n');
#ifdef NYTO_READLINE
  if (hist[0]) write_history(hist);
#endif
  lua_settop(L, 0);
  progname = "nyto";
}

static void print_usage(FILE *f) {
  fprintf(f,
          "usage: nyto [options] [script [args]]\n"
          "Available options are:\n"
          "  -e stat   execute string 'stat'\n"
          "  -i        enter the REPL after executing 'script'\n"
          "  -l mod    require library 'mod' into global 'mod'\n"
          "  -l g=mod  require library 'mod' into global 'g'\n"
          "  -v        show version information\n"
          "  --help    show this help\n"
          "  --version show version information\n"
          "  --        stop handling options\n"
          "  -         stop handling options and execute stdin\n"
          "With no script and no -e or -v: the REPL (`nyto` is a global; help() for help).\n"
          "NYTO_TRACEBACK=full keeps nyto's own frames in tracebacks.\n");
}

static void print_version(void) {
  printf("nyto %s (%s, libtorch)\n", nyto_version(), LUA_RELEASE);
  fflush(stdout);
}

enum { HAS_ERROR = 1, HAS_I = 2, HAS_V = 4, HAS_E = 8, HAS_HELP = 16 };

/* lua.c's collectargs: the index of the script in argv (argc if none) and the flags */
static int collectargs(char **argv, int *first) {
  int args = 0;
  int i;
  for (i = 1; argv[i] != NULL; i++) {
    *first = i;
    if (argv[i][0] != '-') return args; /* the script */
    if (strcmp(argv[i], "--help") == 0) return args | HAS_HELP;
    if (strcmp(argv[i], "--version") == 0) {
      args |= HAS_V;
      continue;
    }
    switch (argv[i][1]) {
    case '-':
      if (argv[i][2] != '\0') return HAS_ERROR;
      *first = i + 1;
      return args;
    case '\0': return args; /* '-': stdin as the script */
    case 'i':
      if (argv[i][2] != '\0') return HAS_ERROR;
      args |= HAS_I | HAS_V;
      break;
    case 'v':
      if (argv[i][2] != '\0') return HAS_ERROR;
      args |= HAS_V;
      break;
    case 'e':
      args |= HAS_E;
      /* fallthrough */
    case 'l':
      if (argv[i][2] == '\0') {
        i++;
        if (argv[i] == NULL || argv[i][0] == '-') return HAS_ERROR;
      }
      break;
    default: return HAS_ERROR;
    }
  }
  *first = i;
  return args;
}

static int dochunk(lua_State *L, int status) {
  if (status == LUA_OK) status = docall(L, 0, 0);
  return report(L, status);
}

static int dolibrary(lua_State *L, char *globname) {
  char *suffix;
  char *modname = strchr(globname, '=');
  if (modname == NULL) {
    modname = globname;
    suffix = strchr(modname, '-'); /* as lua5.4: a-b loads a-b into global a */
  } else {
    *modname = '\0';
    modname++;
    suffix = NULL;
  }
  lua_getglobal(L, "require");
  lua_pushstring(L, modname);
  int status = docall(L, 1, 1);
  if (status == LUA_OK) {
    if (suffix != NULL) *suffix = '\0';
    lua_setglobal(L, globname);
  }
  return report(L, status);
}

/* -e and -l, in order */
static int runargs(lua_State *L, char **argv, int n) {
  for (int i = 1; i < n; i++) {
    int option = argv[i][1];
    if (option == 'e' || option == 'l') {
      char *extra = argv[i] + 2;
      if (*extra == '\0') extra = argv[++i];
      int status = option == 'e' ? dochunk(L, luaL_loadbuffer(L, extra, strlen(extra), "=(command line)"))
                                 : dolibrary(L, extra);
      if (status != LUA_OK) return 0;
    }
  }
  return 1;
}

static int pmain(lua_State *L) {
  int argc = (int)lua_tointeger(L, 1);
  char **argv = lua_touserdata(L, 2);
  int script = 0;
  int args = collectargs(argv, &script);
  if (args == HAS_ERROR) {
    const char *opt = argv[script];
    if (opt[1] == 'e' || opt[1] == 'l') fprintf(stderr, "nyto: '%s' needs argument\n", opt);
    else fprintf(stderr, "nyto: unrecognized option '%s'\n", opt);
    print_usage(stderr);
    return 0;
  }
  if (args & HAS_HELP) {
    print_usage(stdout);
    lua_pushboolean(L, 1);
    return 1;
  }
  if (args & HAS_V) print_version();
  luaL_openlibs(L);
  if (getenv("NYTO_GC_STRESS")) /* scripts/check-memory: collect all the time */
    lua_gc(L, LUA_GCINC, 10, 400, 0);
  else
    lua_gc(L, LUA_GCGEN, 0, 0); /* as lua5.4 does: generational collection */
  if (nyto_open(L) != LUA_OK) return lua_error(L);
  lua_setglobal(L, "nyto");
  /* arg table as lua5.4 builds it: arg[0] the script, arg[1..] its arguments,
   * the program and its options at negative indices */
  int s = script == argc ? 0 : script;
  lua_createtable(L, argc - s, s + 1);
  for (int i = 0; i < argc; i++) {
    lua_pushstring(L, argv[i]);
    lua_rawseti(L, -2, i - s);
  }
  lua_setglobal(L, "arg");
  if (!runargs(L, argv, script)) return 0;
  if (script < argc) {
    const char *fname = argv[script];
    if (strcmp(fname, "-") == 0 && strcmp(argv[script - 1], "--") != 0) fname = NULL;
    int status = luaL_loadfile(L, fname);
    if (status == LUA_OK) {
      int n = argc - script - 1;
      luaL_checkstack(L, n + 3, "too many arguments");
      for (int i = script + 1; i < argc; i++) lua_pushstring(L, argv[i]);
      status = docall(L, n, 0);
    }
    if (report(L, status) != LUA_OK) return 0;
  }
  if (args & HAS_I) repl(L);
  else if (script == argc && !(args & (HAS_E | HAS_V))) repl(L);
  lua_pushboolean(L, 1);
  return 1;
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
  int status = lua_pcall(L, 2, 1, 0);
  int ok = status == LUA_OK && lua_toboolean(L, -1);
  report(L, status);
  lua_close(L);
  return ok ? 0 : 1;
}
