-- nyto-dev-1.rockspec -- `luarocks make` in a clone builds nyto with CMake and
-- installs nyto/core.so and nyto/*.lua into the rock tree (luarocks' LIBDIR and
-- LUADIR), the nyto program into its bin/.  Needs the Debian packages of
-- scripts/bootstrap (libtorch-dev, liblua5.4-dev, zlib1g-dev, cmake, pkg-config).
rockspec_format = "3.0"
package = "nyto"
version = "dev-1"
source = {
  -- luarocks make builds the clone it runs in; this URL is only for `luarocks build`
  url = "git+file://./",
}
description = {
  summary = "A Lua 5.4 particle engine on libtorch: a neural network is a particle",
  detailed = [[
    nyto treats a neural network as a particle: `net = 0.5*net + 10` is arithmetic on
    every parameter at once.  A C11 core over libtorch (CPU), bound to Lua 5.4.
  ]],
}
dependencies = {
  "lua >= 5.4, < 5.5",
}
build = {
  type = "cmake",
  variables = {
    CMAKE_BUILD_TYPE = "RelWithDebInfo",
    CMAKE_INSTALL_PREFIX = "$(PREFIX)",
    NYTO_INSTALL_LUADIR = "$(LUADIR)",
    NYTO_INSTALL_CMODDIR = "$(LIBDIR)",
  },
}
