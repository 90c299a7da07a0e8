/* data.c -- the one C helper of nyto.data (lua/nyto/data.lua): bytes of a
 * Lua string to a tensor in one pass, so loading Fashion-MNIST's 47 million
 * pixels never walks a Lua table.  Included by binding.c. */

/* core.tensor_from_bytes(str, offset, count, dtype) -> Tensor
 * A 1-d tensor of `count` elements, each one unsigned byte of `str` starting
 * after `offset` bytes (offset is 0-based: the number of bytes skipped).
 * dtype: "float32" (default) or "int64"; values are the bytes as they are
 * (0..255), unscaled. */
static int l_tensor_from_bytes(lua_State *L) {
  static const char *fname = "tensor_from_bytes";
  size_t len;
  if (lua_type(L, 1) != LUA_TSTRING)
    return nyto_argerror(L, 1, fname, lua_pushfstring(L, "string expected, got %s", luaL_typename(L, 1)));
  const unsigned char *s = (const unsigned char *)lua_tolstring(L, 1, &len);
  if (!lua_isinteger(L, 2)) return nyto_argerror(L, 2, fname, "integer offset expected");
  if (!lua_isinteger(L, 3)) return nyto_argerror(L, 3, fname, "integer count expected");
  lua_Integer off = lua_tointeger(L, 2), count = lua_tointeger(L, 3);
  if (off < 0) return nyto_argerror(L, 2, fname, "offset must not be negative");
  if (count < 0) return nyto_argerror(L, 3, fname, "count must not be negative");
  if ((lua_Unsigned)off > len || (lua_Unsigned)count > len - (size_t)off)
    return nyto_argerror(L, 3, fname,
                         lua_pushfstring(L, "%I bytes from offset %I run past the end of a string of %I bytes",
                                         count, off, (lua_Integer)len));
  int dtype = NT_FLOAT32;
  if (!lua_isnoneornil(L, 4)) {
    const char *d = lua_type(L, 4) == LUA_TSTRING ? lua_tostring(L, 4) : NULL;
    if (d && strcmp(d, "float32") == 0) dtype = NT_FLOAT32;
    else if (d && strcmp(d, "int64") == 0) dtype = NT_INT64;
    else return nyto_argerror(L, 4, fname, "\"float32\" or \"int64\" expected");
  }
  LTensor *u = tensor_newud(L);
  nt_tensor *t;
  int64_t size = (int64_t)count;
  if (nt_new(NT_EMPTY, &size, 1, dtype, 0.0, &t) != 0) return tensor_fail(L, fname);
  tensor_own(L, u, t);
  const unsigned char *src = s + off;
  if (count > 0) {
    void *p = nt_data(t);
    if (!p) return nyto_error(L, "nyto: %s: the new tensor has no CPU data", fname);
    if (dtype == NT_FLOAT32) {
      float *dst = p;
      for (lua_Integer i = 0; i < count; i++) dst[i] = (float)src[i];
    } else {
      int64_t *dst = p;
      for (lua_Integer i = 0; i < count; i++) dst[i] = (int64_t)src[i];
    }
  }
  return 1;
}

static void data_open(lua_State *L) {
  /* core table at -1 */
  lua_pushcfunction(L, l_tensor_from_bytes);
  lua_setfield(L, -2, "tensor_from_bytes");
}
