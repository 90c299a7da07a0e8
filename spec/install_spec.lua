-- `cmake --install build` (issue 12): installs into a temporary DESTDIR with the
-- default prefix /usr/local, then runs the installed nyto program, plain lua5.4
-- and examples/embed.c built against the installed nyto.pc, each with env -i
-- (only the installed paths) and its working directory inside the temporary
-- tree, so nothing can come from the source tree.
local H = require "helpers"
local run = H.run

local function q(s) return "'" .. s:gsub("'", "'\\''") .. "'" end

local function write(path, text)
  local f = assert(io.open(path, "w"))
  f:write(text)
  f:close()
end

local function exists(path)
  local f = io.open(path, "rb")
  if f then f:close() end
  return f ~= nil
end

describe("cmake --install", function()
  local src = assert(io.popen("pwd")):read("l")
  local D, P -- the DESTDIR, and the installed prefix inside it

  setup(function()
    D = assert(io.popen("mktemp -d")):read("l")
    P = D .. "/usr/local"
    local out, code = run("DESTDIR=" .. q(D) .. " cmake --install build --prefix /usr/local")
    assert(code == 0, out)
  end)

  teardown(function()
    if D and D:match("^/tmp/") then os.execute("rm -rf " .. q(D)) end
  end)

  it("puts every piece where the issue names it", function()
    for _, f in ipairs{
      "lib/lua/5.4/nyto/core.so", "share/lua/5.4/nyto/init.lua", "share/lua/5.4/nyto/module.lua",
      "share/lua/5.4/nyto/meta.lua",
      "include/nyto.h", "lib/pkgconfig/nyto.pc", "lib/cmake/nyto/nytoConfig.cmake",
      "lib/cmake/nyto/nytoConfigVersion.cmake", "bin/nyto", "lib/libnyto_lua.a",
      "lib/libnyto_core.a", "lib/libnyto_torch.a",
    } do
      assert(exists(P .. "/" .. f), "not installed: " .. f)
    end
  end)

  it("installs nothing that names the source tree (debug information aside)", function()
    -- text files as they are; binaries without their debug sections (DWARF keeps the
    -- compile directory, which a debugger, not nyto, reads)
    local cmd = ([[cd %s && for f in $(find . -type f); do
      case "$(head -c 4 "$f" | od -An -c | tr -d ' ')" in
        *ELF*|'!<ar') objcopy --strip-debug "$f" "$f.nodebug" 2>/dev/null && grep -lF %s "$f.nodebug" && echo "$f"; rm -f "$f.nodebug";;
        *) grep -lF %s "$f";;
      esac
    done; true]]):format(q(P), q(src), q(src))
    local out = run(cmd)
    assert.equal("", out)
  end)

  it("lets plain lua5.4 require nyto through its own default path under the prefix", function()
    local path = run("env -i lua5.4 -e 'io.write(package.path)'")
    local cpath = run("env -i lua5.4 -e 'io.write(package.cpath)'")
    assert.matches("/usr/local/share/lua/5.4/?/init.lua", path, 1, true)
    assert.matches("/usr/local/lib/lua/5.4/?.so", cpath, 1, true)
    -- lua5.4's own default entries for /usr/local, moved into DESTDIR; nothing else
    local function under(p)
      local t = {}
      for e in p:gmatch("[^;]+") do
        if e:find("/usr/local/", 1, true) == 1 then t[#t + 1] = D .. e end
      end
      return table.concat(t, ";")
    end
    local out, code = run(("cd %s && env -i LUA_PATH=%s LUA_CPATH=%s lua5.4 -e %s"):format(
      q(D), q(under(path)), q(under(cpath)), q([[
        local nyto = require "nyto"
        print(package.searchpath("nyto", package.path))
        print(package.searchpath("nyto.core", package.cpath))
        print((0.5 * nyto.nn.Linear(2, 3) + 1):parameters()[2]:size()[1])]])))
    assert.equal(0, code, out)
    assert.equal(P .. "/share/lua/5.4/nyto/init.lua\n" .. P .. "/lib/lua/5.4/nyto/core.so\n3\n", out)
  end)

  it("runs a script with the installed nyto program, which finds the installed Lua files", function()
    write(D .. "/script.lua", [[
      print(package.searchpath("nyto.module", package.path))
      print(nyto.core.lua_dir)
      print((nyto.tensor{1, 2} * 2):sum():item())
    ]])
    local out, code = run(("cd %s && env -i %s/bin/nyto script.lua"):format(q(D), q(P)))
    assert.equal(0, code, out)
    assert.equal(P .. "/share/lua/5.4/nyto/module.lua\n" .. P .. "/share/lua/5.4\n6.0\n", out)
    -- started by a bare name found on PATH, as a user types it
    out, code = run(("cd %s && env -i PATH=%s/bin nyto script.lua"):format(q(D), q(P)))
    assert.equal(0, code, out)
    assert.equal(P .. "/share/lua/5.4/nyto/module.lua\n" .. P .. "/share/lua/5.4\n6.0\n", out)
  end)

  it("builds examples/embed.c against the installed nyto.pc, and the host runs nyto", function()
    assert(os.execute("cp examples/embed.c " .. q(D .. "/embed.c")))
    local out, code = run(("cd %s && env -i PATH=/usr/bin:/bin PKG_CONFIG_PATH=%s/lib/pkgconfig "
      .. "sh -c 'cc -o embed embed.c $(pkg-config --cflags --libs nyto)'"):format(q(D), q(P)))
    assert.equal(0, code, out)
    out, code = run(("cd %s && env -i NYTO_LUA_PATH=%s/share/lua/5.4 ./embed %s"):format(
      q(D), q(P), q([[return package.searchpath("nyto", package.path) .. " " .. (nyto.tensor{2, 3} * 2):sum():item()]])))
    assert.equal(0, code, out)
    assert.matches("ok: " .. P .. "/share/lua/5.4/nyto/init.lua 10.0\n", out, 1, true)
    assert.matches("after lua_close: 0\n", out, 1, true)
  end)
end)
