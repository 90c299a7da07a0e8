-- docs/meta.lua (LuaLS annotations) covers the public API: every public name of
-- the nyto table, nyto.F, nn, optim, data, and every method of Tensor, Module,
-- Kernel, Version, Product, ParticleModule, PMProduct, optimizers and progress
-- bars is annotated there; its block of ops is what scripts/gen-ops-doc --meta prints.
local nyto = require "nyto"
local core = require "nyto.core"

local H = require "helpers"
local read = H.read

local META = read("docs/meta.lua")

-- annotated[owner][name]: "function owner.name", "function owner:name", and the
-- "---@field name" lines of "---@class owner"
local annotated = setmetatable({}, {__index = function(t, k) local v = {}; rawset(t, k, v); return v end})
for owner, name in META:gmatch("\nfunction ([%w_]+)[.:]([%w_]+)%(") do annotated[owner][name] = true end
local class
for line in META:gmatch("[^\n]*") do
  if line:match("^%-%-%-@class ") then class = line:match("^%-%-%-@class ([%w_.]+)")
  elseif class and line:match("^%-%-%-@field [%w_]") then annotated[class][line:match("^%-%-%-@field ([%w_]+)")] = true
  elseif not line:match("^%-%-%-") then class = nil end
end

local function public_functions(t, want_tables)
  local out = {}
  for k, v in pairs(t) do
    if type(k) == "string" and k:sub(1, 1) ~= "_" and (type(v) == "function" or want_tables) then
      out[#out + 1] = k
    end
  end
  table.sort(out)
  return out
end

local function missing(names, ...)
  local owners, out = {...}, {}
  for _, n in ipairs(names) do
    local found = false
    for _, o in ipairs(owners) do found = found or annotated[o][n] ~= nil end
    if not found then out[#out + 1] = owners[1] .. "." .. n end
  end
  return table.concat(out, " ")
end

describe("docs/meta.lua", function()
  it("starts with ---@meta and parses as Lua", function()
    assert.equal("---@meta nyto\n", META:sub(1, 14))
    assert(load(META, "=docs/meta.lua"))
  end)

  it("annotates every public name of nyto, nyto.F, nyto.nn, nyto.optim and nyto.data", function()
    local _ = nyto.F, nyto.nn, nyto.optim, nyto.data, nyto.progress -- load the lazy parts
    assert.equal("", missing(public_functions(nyto, true), "nyto"))
    assert.equal("", missing(public_functions(nyto.F), "F"))
    assert.equal("", missing(public_functions(nyto.nn, true), "nyto.nn"))
    assert.equal("", missing(public_functions(nyto.optim, true), "optim", "nyto.optim"))
    assert.equal("", missing(public_functions(nyto.data, true), "data", "nyto.data"))
    local _ = nyto.distributed, nyto.timeit, nyto.plot -- lazy too
    assert.equal("", missing(public_functions(nyto.distributed, true), "dist"))
    assert.equal("", missing({"distributed", "timeit", "plot"}, "nyto"))
    local S = nyto.strategy
    for _, name in ipairs {"PSO", "APSO", "GA", "DE", "CEM", "OpenES", "SNES", "PGPE", "CMAES"} do local _ = S[name] end -- loaded on first use
    assert.equal("", missing(public_functions(S, true), "strategy"))
    assert.equal("", missing({"strategy"}, "nyto"))
    assert.equal("", missing({"ask", "tell", "best", "center", "state_dict", "load_state_dict", "generation"}, "Strategy"))
  end)

  it("annotates every method of Tensor and of the particle classes", function()
    assert.equal("", missing(public_functions(core.Tensor_methods), "Tensor"))
    assert.equal("", missing(public_functions(nyto.Module), "Module"))
    assert.equal("", missing(public_functions(nyto.Product.__index), "Product"))
    assert.equal("", missing(public_functions(nyto.ParticleModule), "ParticleModule", "Module"))
    assert.equal("", missing(public_functions(nyto.PMProduct), "PMProduct", "Product"))
    local k = nyto.nn.Linear(1, 1):kernel()
    assert.equal("", missing(public_functions(getmetatable(k).__index), "Kernel"))
    assert.equal("", missing(public_functions(getmetatable(k:version()).__index), "Version"))
    local opt = nyto.optim.SGD(nyto.nn.Linear(1, 1):parameters(), {lr = 0.1})
    assert.equal("", missing(public_functions(nyto.optim.Optimizer), "Optimizer"))
    assert.is_table(opt)
    assert.equal("", missing(public_functions(nyto.Progress_mt.__index), "Progress"))
  end)

  it("holds the ops block that scripts/gen-ops-doc --meta prints", function()
    local p = assert(io.popen("lua5.4 scripts/gen-ops-doc --meta 2>&1"))
    local fresh = p:read("a")
    assert(p:close(), fresh)
    local block = META:match("\n(%-%- BEGIN ops.-\n%-%- END ops\n)")
    assert(block, "docs/meta.lua has no BEGIN ops / END ops block")
    assert.equal(fresh, block, "docs/meta.lua's ops block is out of date")
  end)
end)
