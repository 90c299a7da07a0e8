/* luadir.c -- where nyto's Lua files are, found at run time (its own
 * translation unit: dladdr needs _GNU_SOURCE before any system header).  Nothing about the source tree is compiled
 * in: the directory is looked up next to the object that holds this code
 * (the nyto program, a host program linking the static libraries, or
 * nyto/core.so), in the layouts that `cmake --install` and the build tree
 * make:
 *
 *   <dir of object>/share/lua/5.4          build tree: build/nyto, build/share -> lua/
 *   <dir of object>/../share/lua/5.4       installed: P/bin/nyto
 *   <dir of object>/../../share/lua/5.4    build tree: build/lib/nyto/core.so
 *   <dir of object>/../../../../share/lua/5.4  installed: P/lib/lua/5.4/nyto/core.so
 *
 * (then the same next to the running program, /proc/self/exe).
 * NYTO_LUA_PATH, when set, wins.  When nothing is found the result is NULL
 * and package.path is left as it is (the default prefix /usr/local is on
 * lua5.4's own path). */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dlfcn.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char luadir_buf[PATH_MAX];

/* the directory that holds nyto/init.lua, or NULL; the result lives until
 * the next call */
const char *l_lua_dir(void) {
  const char *env = getenv("NYTO_LUA_PATH");
  if (env && *env) return env;
  /* the object that holds this code; then the running program itself
   * (dladdr names the main program as it was started, which may be a bare
   * name found on PATH) */
  char objs[2][PATH_MAX];
  int nobj = 0;
  Dl_info info;
  if (dladdr((void *)l_lua_dir, &info) && info.dli_fname && realpath(info.dli_fname, objs[nobj])) nobj++;
  ssize_t n = readlink("/proc/self/exe", objs[nobj], PATH_MAX - 1);
  if (n > 0) objs[nobj++][n] = '\0';
  static const char *const rel[] = {"/share/lua/5.4", "/../share/lua/5.4", "/../../share/lua/5.4",
                                    "/../../../../share/lua/5.4"};
  for (int o = 0; o < nobj; o++) {
    char *slash = strrchr(objs[o], '/');
    if (!slash) continue;
    *slash = '\0';
    for (size_t i = 0; i < sizeof rel / sizeof rel[0]; i++) {
      char probe[PATH_MAX];
      if (snprintf(probe, sizeof probe, "%s%s/nyto/init.lua", objs[o], rel[i]) >= (int)sizeof probe) continue;
      if (access(probe, R_OK) != 0) continue;
      snprintf(probe, sizeof probe, "%s%s", objs[o], rel[i]);
      if (realpath(probe, luadir_buf)) return luadir_buf;
    }
  }
  return NULL;
}
