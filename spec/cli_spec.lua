-- The nyto program (script runner and REPL) and embedding nyto in a host's
-- own Lua state (examples/embed.c).  Runs the built programs in build/.
local function run(cmd)
  local p = assert(io.popen(cmd .. " 2>&1"))
  local out = p:read("a")
  local _, _, code = p:close()
  return out, code
end

local function script(text)
  local path = os.tmpname()
  local f = assert(io.open(path, "w"))
  f:write(text)
  f:close()
  return path
end

describe("the nyto program", function()
  it("runs a script with arg set as lua5.4 does, nyto preloaded", function()
    local path = script([[
      print(arg[0] == ... and "no" or "args", select("#", ...), arg[1], arg[2], #arg)
      print(nyto.type(nyto.zeros(1)), (nyto.tensor{1, 2} * 2):sum():item())
    ]])
    local out, code = run("build/nyto " .. path .. " a 'b c'")
    os.remove(path)
    assert.equal(0, code)
    assert.matches("args\t2\ta\tb c\t2", out, 1, true)
    assert.matches("Tensor\t6.0", out, 1, true)
  end)

  it("reports an error with its message and exits 1", function()
    local path = script("local x = nyto.zeros(2) + 'x'")
    local out, code = run("build/nyto " .. path)
    os.remove(path)
    assert.equal(1, code)
    assert.matches("nyto: bad argument #2 to '__add' (number or Tensor expected, got string)", out, 1, true)
    assert.is_nil(out:find("nyto: nyto:", 1, true))
  end)

  it("is a REPL that prints the values of expressions (here on a pipe)", function()
    local out, code = run("printf 'x = nyto.tensor{1, 2, 3}\\nx:sum():item() * 7\\nfor i = 1, 2 do\\nprint(i)\\nend\\n' | build/nyto")
    assert.equal(0, code)
    assert.matches("42", out, 1, true)
    assert.matches("1\n2\n", out, 1, true)
  end)

  it("prints nothing for a statement", function()
    local out, code = run("printf 'x = 1\n' | build/nyto")
    assert.equal(0, code)
    assert.is_nil(out:find("userdata", 1, true))
    assert.is_nil(out:match("\n1%s"))
  end)

  it("keeps running after an error in the REPL", function()
    local out, code = run("printf 'nyto.zeros(-1)\\n1 + 1\\n' | build/nyto")
    assert.equal(0, code)
    assert.matches("nyto: bad argument #1 to 'zeros'", out, 1, true)
    assert.matches("\n2\n", out, 1, true)
  end)
end)

describe("embedding (include/nyto.h)", function()
  it("nyto_open loads nyto into the host's state; errors stay Lua errors; lua_close releases every tensor", function()
    local out, code = run("build/embed_example 'return (0.5 * nyto.nn.Linear(2, 2) + 1):kernel() ~= nil' "
      .. "'return nyto.zeros(2) + \"x\"' 'return nyto.randn(100, 100):numel()'")
    assert.equal(1, code) -- the second chunk failed, and the host went on
    assert.matches("ok: true", out, 1, true)
    assert.matches("error: nyto: bad argument #2 to '__add'", out, 1, true)
    assert.matches("ok: 10000", out, 1, true)
    assert.matches("after lua_close: 0", out, 1, true)
  end)
end)
