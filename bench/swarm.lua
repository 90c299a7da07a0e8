-- bench/swarm: the APSO step W_i = 0.5 W_i + 0.5 W_best + 0.1 randn over 32
-- members of the MLP 784-1024-1024-10, one thread: nyto.Swarm arithmetic vs
-- the per-particle loop vs a C pass over the same bytes (no noise: the
-- memory-bandwidth floor).  Median ms per step over rounds timed in turn:
-- CPU time on one thread (robust to the other jobs of a shared machine), wall
-- time on more (CPU time would add the threads up).
--   THREADS=n lua5.4 bench/swarm.lua [reps]
package.path = "./lua/?.lua;./lua/?/init.lua;./bench/?.lua;" .. package.path
package.cpath = "./build/lib/?.so;" .. package.cpath
local nyto = require "nyto"
local models = require "models"
local core = nyto.core
nyto.num_threads(tonumber(os.getenv("THREADS") or "1"))
local reps = tonumber(arg[1] or "7")
local n = 32
local clock = nyto.num_threads() == 1 and os.clock or core.wall_clock

local net = models.MLP()
local P = models.nparams(net)
local best = net:clone()
local s = nyto.Swarm(net, n, "randn")
local noise = s:clone()
local loop = {}
for i = 1, n do loop[i] = net:randn() end
local g = nyto.Generator(1)
local arena = core.buffer("float32", n * P)
local full = core.segments {0, n * P}
local row = core.buffer("float32", P)
local row_segs = core.segments {0, P}

local fns = {
  swarm = function()
    -- in place: one draw into a kept noise swarm, one scaling pass, one
    -- broadcast-add pass, one add with the 0.1 fused (no arena allocated)
    -- (<close>: a deferred temporary left to the collector would be computed
    -- when its operand is next written, a wasted pass)
    noise:randn_ {generator = g}
    local b <close> = best * 0.5
    local z <close> = noise * 0.1
    s:mul_(0.5):add_(b):add_(z)
  end,
  axpby = function()
    -- the whole step as one pass: s:axpby_randn_ (read s and best, write s)
    s:axpby_randn_(0.5, best, 0.5, 0.1, {generator = g})
  end,
  swarm_fused = function()
    -- the noise made inside the add pass (s:add_randn_): three passes
    local b <close> = best * 0.5
    s:mul_(0.5):add_(b):add_randn_(0.1, {generator = g})
  end,
  swarm_alloc = function()
    -- the same with a new noise swarm per step (a fresh arena-sized buffer)
    s:mul_(0.5):add_(best * 0.5):add_(s:randn {generator = g} * 0.1)
  end,
  randn_only = function() noise:randn_ {generator = g} end,
  loop = function()
    for i = 1, n do loop[i] = loop[i] * 0.5 + best * 0.5 + loop[i]:randn {generator = g} * 0.1 end
  end,
  -- the C passes: the arena alone (s = 0.5 s + 0.1), and the step's own
  -- bytes (read s and a broadcast row of P, write s: s = s + best)
  c_pass = function() core.paffine(arena, 0.5, 0.1, full, arena) end,
  c_pass_best = function() core.prows(arena, P, row, core.OP_ADD, row_segs, false, arena) end,
}
local order = {"axpby", "swarm", "swarm_fused", "swarm_alloc", "randn_only", "loop", "c_pass", "c_pass_best"}
local ts = {}
for _, k in ipairs(order) do ts[k] = {} end
for r = 1, reps do
  for _, k in ipairs(order) do
    collectgarbage()
    local t0 = clock()
    fns[k]()
    ts[k][r] = (clock() - t0) * 1e3
  end
end
local out = {}
for _, k in ipairs(order) do out[#out + 1] = ("%s_ms=%.2f"):format(k, models.median(ts[k])) end
print(("nyto apso n=%d P=%d threads=%d clock=%s %s"):format(n, P, nyto.num_threads(),
                                                            clock == os.clock and "cpu" or "wall", table.concat(out, " ")))
