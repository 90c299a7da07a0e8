-- bindcov and docscov for src/torch/ops.def (as luv checks its bindings and
-- docs): every row of the table is bound as nyto.<name> and as a Tensor
-- method, and docs/ops.md is exactly what scripts/gen-ops-doc makes of it.
local nyto = require "nyto"
local core = require "nyto.core"

local H = require "helpers"
local read = H.read

-- the rows docs/ops.md lists: name -> signature, and their order
local function doc_rows(text)
  local rows, order = {}, {}
  for name, sig in text:gmatch("\n| `([%w_]+)` | [^\n]- | `([%a>%d]*)` |") do
    assert(rows[name] == nil, "docs/ops.md lists " .. name .. " twice")
    rows[name] = sig
    order[#order + 1] = name
  end
  return rows, order
end

describe("src/torch/ops.def", function()
  it("is documented by docs/ops.md as scripts/gen-ops-doc makes it", function()
    local p = assert(io.popen("lua5.4 scripts/gen-ops-doc 2>&1"))
    local fresh = p:read("a")
    assert(p:close(), fresh)
    assert.equal(fresh, read("docs/ops.md"),
      "docs/ops.md is out of date: run scripts/gen-ops-doc > docs/ops.md")
  end)

  it("has every compiled row, with its signature, in docs/ops.md, and no other", function()
    local rows, order = doc_rows(read("docs/ops.md"))
    local n = 0
    for name, sig in pairs(core.op_signatures) do
      n = n + 1
      assert(rows[name], "ops.def row '" .. name .. "' is missing from docs/ops.md")
      assert.equal(sig, rows[name], "the signature of " .. name .. " in docs/ops.md")
    end
    assert.equal(n, #order, "docs/ops.md lists a row the binding does not have")
    assert.is_true(n > 100)
  end)

  it("is bound: every row is nyto.<name> and a Tensor method that runs the op", function()
    local t = nyto.zeros(1)
    for name in pairs(core.op_signatures) do
      assert.equal("function", type(nyto[name]), "nyto." .. name .. " is not bound")
      assert.equal("function", type(t[name]), "Tensor method " .. name .. " is not bound")
    end
    -- the names reach the op of their row (not merely some function)
    local x = nyto.tensor{-1, 4}
    assert.same({1, 2}, nyto.abs(x):sqrt():totable())
    assert.same({1, 4}, x:abs():totable())
    assert.same({-1, 4}, x:totable())
    assert.equal(x, x:abs_())
    assert.same({1, 4}, x:totable())
  end)

  it("gen-ops-doc fails on a signature letter the key does not define", function()
    local path = os.tmpname()
    local f = assert(io.open(path, "w"))
    f:write('/* header */\n/* a section */\nNT_OP(bad, "TQ", OUT(T(0)))\n')
    f:close()
    local p = assert(io.popen("lua5.4 scripts/gen-ops-doc " .. path .. " 2>&1"))
    local out = p:read("a")
    local ok = p:close()
    os.remove(path)
    assert.is_falsy(ok)
    assert.matches("gen-ops-doc: unknown signature letter 'Q'", out, 1, true)
  end)
end)
