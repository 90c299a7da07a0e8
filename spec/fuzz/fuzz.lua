-- spec/fuzz/fuzz.lua -- nyto's API fuzzer: one chunk of seeded random calls (issue 13).
--
--   lua5.4 spec/fuzz/fuzz.lua SEED CHUNK CALLS [VERBOSE_FROM]
--
-- Makes CALLS random calls over the public API with hostile arguments, drawn from
-- math.randomseed(SEED, CHUNK), so (seed, chunk, call) reproduces a finding.  Before each
-- call it writes "@ i area.name" to stderr (unbuffered): after a crash the last such line
-- names the call.  For every call that fails it checks
--   * the message is a string starting with "nyto: ", or is the very value a failing user
--     callback raised (the SENTINEL), and
--   * every operand (tensor, module, product) has the values and structure it had before.
-- It ends with one line: "fuzz: seed S chunk C calls N failed F nonnyto X changed Y"
-- (scripts/fuzz-api sums them), after one "finding: ..." line per finding.
--
-- Areas register their generators in spec/fuzz/areas.lua (one table per API area):
-- a generator is function(G) -> fn, args (a table, may hold nils: give args.n).
package.path = "./lua/?.lua;./lua/?/init.lua;./spec/?.lua;./spec/fuzz/?.lua;" .. package.path
package.cpath = "./build/lib/?.so;" .. package.cpath

local seed, chunk, ncalls = tonumber(arg[1]) or 1, tonumber(arg[2]) or 0, tonumber(arg[3]) or 1000
local verbose_from = tonumber(arg[4])
local nyto = require "nyto"
math.randomseed(seed, chunk)
nyto.manual_seed(seed * 7919 + chunk)
nyto.on_warning(function() end) -- warnings are not findings

local G = {seed = seed, chunk = chunk}
G.SENTINEL = setmetatable({}, {__tostring = function() return "fuzz sentinel" end, __name = "fuzz.sentinel"})
G.pool = {tensors = {}, modules = {}, products = {}, pms = {}} -- live objects the calls made
local R = math.random
G.R = R
function G.pick(list) return list[R(#list)] end
function G.chance(p) return R() < p end

-- hostile values: anything a script could pass
local long = ("x"):rep(10000)
local hostile = {
  function() return nil end, function() return true end, function() return "nope" end,
  function() return long end, function() return {} end, function() return {1, "a", {}} end,
  function() return 0 / 0 end, function() return math.huge end, function() return -math.huge end,
  function() return -1 end, function() return 0 end, function() return 1 << 40 end,
  function() return math.maxinteger end, function() return math.mininteger end, function() return 1.5 end,
  function() return io.stdout end, function() return G.SENTINEL end,
  function() return function() error(G.SENTINEL, 0) end end,
  function() return function(...) return ... end end,
  function() return G.freed_tensor() end, function() return G.freed_module() end,
  function() return G.tensor() end, function() return G.module() end, function() return G.product() end,
  function() return nyto.nn end, function() return nyto.Module end,
}
function G.hostile() return G.pick(hostile)() end
-- v, or (with probability p, default 0.25) a hostile value
function G.maybe(v, p)
  if R() < (p or 0.25) then return G.hostile() end
  return v
end

local shapes = {{}, {3}, {2, 3}, {3, 2}, {2, 2, 2}, {1, 3}, {0}, {4, 1}}
function G.shape() return G.pick(shapes) end
function G.new_tensor()
  local sh = G.shape()
  local t = R() < 0.8 and nyto.randn(sh) or nyto.zeros(sh, {dtype = G.pick {"float64", "int64", "bool"}})
  if R() < 0.2 and t:dtype() == "float32" then t:requires_grad_(true) end
  return t
end
function G.tensor()
  local p = G.pool.tensors
  if #p > 0 and R() < 0.6 then return p[R(#p)] end
  local t = G.new_tensor()
  if #p < 40 then p[#p + 1] = t else p[R(#p)] = t end
  return t
end
function G.freed_tensor()
  local t = nyto.zeros(2)
  t:free()
  return t
end

local function new_module()
  local nn = nyto.nn
  local k = R(6)
  if k == 1 then return nn.Linear(3, 2) end
  if k == 2 then return nn.Sequential(nn.Linear(3, 3), nn.ReLU(), nn.Linear(3, 2)) end
  if k == 3 then return nn.LayerNorm(3) end
  if k == 4 then return nn.Embedding(5, 3) end
  if k == 5 then return nn.BatchNorm1d(3) end
  return nn.Linear(2, 3, false)
end
G.new_module = new_module
function G.module()
  local p = G.pool.modules
  if #p > 0 and R() < 0.7 then return p[R(#p)] end
  local m = new_module()
  if #p < 20 then p[#p + 1] = m else p[R(#p)] = m end
  return m
end
function G.freed_module()
  local m = nyto.nn.Linear(2, 2)
  m:free()
  return m
end
function G.product()
  local p = G.pool.products
  if #p > 0 and R() < 0.6 then return p[R(#p)] end
  local ok, pr = pcall(function() return G.module():product() end)
  if not ok then return nyto.nn.Linear(3, 2):product() end
  if #p < 10 then p[#p + 1] = pr else p[R(#p)] = pr end
  return pr
end
function G.pm()
  local p = G.pool.pms
  if #p > 0 and R() < 0.6 then return p[R(#p)] end
  local pm = nyto.ParticleModule(new_module())
  if #p < 8 then p[#p + 1] = pm else p[R(#p)] = pm end
  return pm
end
-- a result worth keeping for later calls
function G.keep(v)
  local ty = nyto.type(v)
  if ty == "Tensor" then
    local p = G.pool.tensors
    if #p < 40 then p[#p + 1] = v elseif R() < 0.3 then p[R(#p)] = v end
  elseif nyto.is_module(v) and not nyto.is_particle_module(v) then
    local ok, root = pcall(function() return v:is_root() end)
    if ok and root then
      local p = G.pool.modules
      if #p < 20 then p[#p + 1] = v elseif R() < 0.3 then p[R(#p)] = v end
    end
  end
end

-- ---- snapshots: values and structure of an operand, as a string ----
local function tensor_snap(t)
  local ok, s = pcall(function()
    if t:numel() > 4096 then return "big " .. t:shape_string() .. " " .. t:dtype() .. " " .. t:storage_id() end
    local parts = {t:dtype(), t:shape_string(), tostring(t:requires_grad())}
    local flat = t:detach():double():reshape(-1):totable()
    for i = 1, #flat do parts[#parts + 1] = string.format("%a", flat[i]) end
    return table.concat(parts, " ")
  end)
  return ok and s or "freed"
end

local function module_snap(m)
  local ok, s = pcall(function()
    local parts = {}
    for _, np in ipairs(m:named_parameters()) do parts[#parts + 1] = np[1] .. "=" .. tensor_snap(np[2]) end
    for _, nb in ipairs(m:named_buffers()) do parts[#parts + 1] = nb[1] .. ":" .. tensor_snap(nb[2]) end
    for _, nc in ipairs(m:named_modules()) do parts[#parts + 1] = "m " .. nc[1] end
    return table.concat(parts, "\n")
  end)
  return ok and s or ("unreadable: " .. tostring(s):sub(1, 60))
end

-- a strategy: its state_dict (state, generator, best, pending population), keys sorted
local function value_snap(v, out, prefix)
  if nyto.type(v) == "Tensor" then out[#out + 1] = prefix .. "=" .. tensor_snap(v)
  elseif type(v) == "table" then
    local keys = {}
    for k in pairs(v) do keys[#keys + 1] = tostring(k) end
    table.sort(keys)
    for _, k in ipairs(keys) do value_snap(v[k] == nil and v[tonumber(k)] or v[k], out, prefix .. "." .. k) end
  else out[#out + 1] = prefix .. "=" .. tostring(v) end
end

function G.snap(v)
  if type(v) ~= "table" and type(v) ~= "userdata" then return nil end
  local ty = nyto.type(v)
  if ty == "Tensor" then return tensor_snap(v) end
  if ty == "Strategy" then
    local ok, s = pcall(function()
      local out = {"generation=" .. tostring(v.generation)}
      value_snap(v:state_dict(), out, "sd")
      return table.concat(out, "\n")
    end)
    return ok and s or ("strategy unreadable: " .. tostring(s):sub(1, 60))
  end
  if nyto.is_module(v) then return module_snap(v) end
  if nyto.is_product(v) then
    local ok, s = pcall(function()
      local m = v:module()
      local r = module_snap(m)
      m:free()
      return r
    end)
    return ok and s or "product unreadable"
  end
  return nil
end

-- ---- the run ----
local areas = require "areas"
local gens = {}
for _, area in ipairs(areas.order) do
  for _, g in ipairs(areas[area]) do
    gens[#gens + 1] = {area = area, name = g[1], gen = g[2], weight = g[3] or 1, mutates_on_error = g.mutates_on_error}
  end
end
local total_w = 0
for _, g in ipairs(gens) do total_w = total_w + g.weight end
local function pick_gen()
  local x = R() * total_w
  for _, g in ipairs(gens) do
    x = x - g.weight
    if x <= 0 then return g end
  end
  return gens[#gens]
end

local failed, nonnyto, changed = 0, 0, 0
local function finding(kind, i, g, msg)
  io.stdout:write(("finding: %s seed %d chunk %d call %d %s.%s: %s\n"):format(kind, seed, chunk, i, g.area, g.name,
    tostring(msg):gsub("\n", " | "):sub(1, 300)))
end

local function unpackn(t) return table.unpack(t, 1, t.n or #t) end

for i = 1, ncalls do
  local g = pick_gen()
  io.stderr:write("@ ", i, " ", g.area, ".", g.name, "\n")
  local ok0, fn, args = pcall(g.gen, G)
  if ok0 and fn then
    args = args or {n = 0}
    local n = args.n or #args
    local before = {}
    for j = 1, n do before[j] = G.snap(args[j]) end
    local rets = table.pack(pcall(fn, unpackn(args)))
    if verbose_from and i >= verbose_from then
      io.stdout:write(("call %d %s.%s -> %s %s\n"):format(i, g.area, g.name, tostring(rets[1]), tostring(rets[2]):sub(1, 200)))
    end
    if rets[1] then
      for j = 2, rets.n do G.keep(rets[j]) end
    else
      failed = failed + 1
      local e = rets[2]
      if not (rawequal(e, G.SENTINEL) or (type(e) == "string" and e:sub(1, 6) == "nyto: ")) then
        nonnyto = nonnyto + 1
        finding("nonnyto", i, g, e)
      elseif type(e) == "string" and #e > 2000 then
        nonnyto = nonnyto + 1
        finding("long-message", i, g, e)
      end
      if not g.mutates_on_error then
        for j = 1, n do
          if before[j] ~= nil then
            local after = G.snap(args[j])
            if after ~= before[j] then
              changed = changed + 1
              finding("changed", i, g, ("operand %d: %s"):format(j, tostring(e)))
              break
            end
          end
        end
      end
    end
  elseif not ok0 then
    -- a generator that fails is the fuzzer's own bug, unless it is a nyto error of a setup call,
    -- or the sentinel of a user callback an earlier call installed (a config's operator, say)
    -- passing through a setup call unchanged, as it must
    if not (rawequal(fn, G.SENTINEL) or (type(fn) == "string" and fn:sub(1, 6) == "nyto: ")) then
      nonnyto = nonnyto + 1
      finding("generator", i, g, fn)
    end
  end
  if not nyto.is_grad_enabled() then
    finding("grad-mode", i, g, "gradient recording left off")
    nonnyto = nonnyto + 1
    nyto.set_grad_enabled(true)
  end
  if i % 50 == 0 then collectgarbage() end
end
io.stdout:write(("fuzz: seed %d chunk %d calls %d failed %d nonnyto %d changed %d\n"):format(seed, chunk, ncalls, failed,
  nonnyto, changed))
io.stdout:flush()
os.exit(0, true) -- close the state: every __gc runs too
