/* module.c -- the loadable Lua module nyto/core.so: `require "nyto.core"`. */
#include "nyto.h"

/* luaopen_nyto_core lives in binding.c; referencing it here pulls the binding
 * into the shared object. */
void *nyto_module_anchor = (void *)luaopen_nyto_core;
