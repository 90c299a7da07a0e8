-- bench/strategy: one generation (ask + tell with random fitness: the fitness itself excluded) of
-- every nyto.strategy on a swarm of 64 MLP 784-1024-1024-10 particles, one thread, and in the
-- same run a C pass over the same bytes (core.paffine in place over a [64, P] arena: one read and
-- one write, the memory-bandwidth limit), a read alone and a streamed write alone of the arena
-- (core.mem_read, core.mem_write), and one draw of an arena of N(0, 1) and of U[0, 1)
-- numbers (s:randn_, s:rand_).  Median CPU ms over rounds after two warm-up generations.
--   build/nyto bench/strategy.lua [reps] [names...]    (bench/strategy.sh prints the ratios)
package.path = "./lua/?.lua;./lua/?/init.lua;./bench/?.lua;" .. package.path
package.cpath = "./build/lib/?.so;" .. package.cpath
local nyto = require "nyto"
local models = require "models"
local core = nyto.core
nyto.num_threads(tonumber(os.getenv("THREADS") or "1"))
local reps = tonumber(arg[1] or "5")
local names = {table.unpack(arg, 2)}
if #names == 0 then names = {"PSO", "APSO", "GA", "DE", "CEM", "OpenES", "SNES", "PGPE", "CMAES"} end
local n = 64
local clock = os.clock

local net = models.MLP()
local P = models.nparams(net)

local function median_ms(fn)
  local ts = {}
  for r = 1, reps do
    collectgarbage()
    local t0 = clock()
    fn()
    ts[r] = (clock() - t0) * 1e3
  end
  return models.median(ts)
end

-- the bandwidth limit: one read and one write of the arena's bytes in one pass (in place),
-- and, for the passes that only write or only read, a streamed write of the arena and a read
-- of it alone (core.mem_write, core.mem_read: the fastest forms measured, src/core/es.c)
local arena = core.buffer("float32", n * P)
local full = core.segments {0, n * P}
core.paffine(arena, 0.5, 0.1, full, arena)
local c_pass = median_ms(function() core.paffine(arena, 0.5, 0.1, full, arena) end)
arena, full = nil, nil
collectgarbage()
local X = nyto.empty({n, P})
core.mem_write(X, 1)
local write_pass = median_ms(function() core.mem_write(X, 1) end)
local read_pass = median_ms(function() core.mem_read(X) end)
X = nil
collectgarbage()
-- the draws: one arena of N(0, 1) and one of U[0, 1) numbers from a nyto.Generator, in place
local s = nyto.Swarm(net, n)
local g = nyto.Generator(2)
s:randn_ {generator = g}
local randn = median_ms(function() s:randn_ {generator = g} end)
local rand = median_ms(function() s:rand_ {generator = g} end)
s:free()
s = nil
collectgarbage()
print(("nyto n=%d P=%d threads=%d c_pass_ms=%.2f read_ms=%.2f write_ms=%.2f randn_ms=%.2f rand_ms=%.2f"):format(n, P,
  nyto.num_threads(), c_pass, read_pass, write_pass, randn, rand))

local fit_g = nyto.Generator(99)
for _, name in ipairs(names) do
  local ctor = nyto.strategy[name]
  if not ctor then
    print(("nyto strategy=%s missing"):format(name))
  else
    local opts = {popsize = n, generator = nyto.Generator(1)}
    if name == "CMAES" then opts.diagonal = true end
    local es = ctor(net, opts)
    local fits = {}
    for r = 1, reps + 2 do fits[r] = nyto.randn({n}, {generator = fit_g, dtype = "float64"}):totable() end
    local k, ask_t, tell_t = 0, {}, {}
    local function generation()
      k = k + 1
      local t0 = clock()
      es:ask()
      local t1 = clock()
      es:tell(fits[k])
      ask_t[#ask_t + 1], tell_t[#tell_t + 1] = (t1 - t0) * 1e3, (clock() - t1) * 1e3
    end
    generation()
    generation()
    ask_t, tell_t = {}, {}
    local ms = median_ms(generation)
    print(("nyto strategy=%s ms=%.2f ask_ms=%.2f tell_ms=%.2f"):format(name, ms, models.median(ask_t), models.median(tell_t)))
    io.stdout:flush()
    es = nil
    collectgarbage()
    collectgarbage()
  end
end
