-- bench/particle_ops: `net = 0.5*net + 10` on (a) the reference CNN and (b) an
-- MLP 784-1024-1024-10, single-threaded, against the memory-bandwidth limit
-- (a C pass y = a*x + b over a buffer of the same size, timed in this run).
-- Per iteration (one fused pass) and per particle operation (half of it).
-- Prints one line per measurement; bench/particle_ops.sh adds PyTorch.
package.path = "./lua/?.lua;./lua/?/init.lua;./bench/?.lua;" .. package.path
package.cpath = "./build/lib/?.so;" .. package.cpath
local nyto = require "nyto"
local models = require "models"
local core = nyto.core
nyto.num_threads(1)
local clock = os.clock

-- The machine's speed drifts over seconds, so the candidates are timed in
-- turn within each of `reps` rounds, and each figure is the median over the
-- rounds of its time (and each ratio the median of the rounds' ratios).
local function rounds(fns, iters, reps)
  local ts = {}
  for name in pairs(fns) do ts[name] = {} end
  for r = 1, reps do
    for name, fn in pairs(fns) do
      local t0 = clock()
      fn(iters)
      ts[name][r] = (clock() - t0) / iters
    end
  end
  return ts
end

local function median_ratio(a, b)
  local q = {}
  for r = 1, #a do q[r] = a[r] / b[r] end
  return models.median(q)
end

local function run(name, net, iters, pm_net)
  local n = models.nparams(net)
  -- prompt release (docs/memory.md): a young collection per iteration in
  -- generational mode (lua5.4's), a full one in incremental mode
  local pm = nyto.ParticleModule(pm_net)
  local p = net:product()
  local x, y, z = core.buffer("float32", n), core.buffer("float32", n), core.buffer("float32", n)
  local segs = core.segments({0, n})
  local ring = {x, y, z}
  local ts = rounds({
    -- one iteration is two particle operations, * and +; the first is
    -- deferred and the second fuses it, so the iteration is one pass
    -- y = a*x + b (docs/design.md), the very arithmetic of the limit
    particle = function(k) for _ = 1, k do net = 0.5 * net + 10 end end,
    -- the same iteration on a ParticleModule of the same net
    pm = function(k) for _ = 1, k do pm = 0.5 * pm + 10 end end,
    -- products: no module tree at all
    product = function(k) for _ = 1, k do p = 0.5 * p + 10 end end,
    -- the limit: one C pass y = a*x + b into a reused buffer of the same size
    limit = function(k) for _ = 1, k do core.paffine(x, 0.5, 10, segs, y) end end,
    -- the same pass, reading and writing in turn three buffers: none stays hot
    limit3 = function(k)
      for i = 1, k do core.paffine(ring[i % 3 + 1], 0.5, 10, segs, ring[(i + 1) % 3 + 1]) end
    end,
  }, iters, 9)
  local it, pit = models.median(ts.particle), models.median(ts.product)
  local lim, lim3 = models.median(ts.limit), models.median(ts.limit3)
  print(("%s params=%d iteration_us=%.3f particle_op_us=%.3f product_iteration_us=%.3f product_op_us=%.3f limit_us=%.3f limit3_us=%.3f iteration_vs_limit=%.2f product_iteration_vs_limit=%.2f")
    :format(name, n, it * 1e6, it / 2 * 1e6, pit * 1e6, pit / 2 * 1e6, lim * 1e6, lim3 * 1e6,
            median_ratio(ts.limit, ts.particle), median_ratio(ts.limit, ts.product)))
  print(("%s particle_module_iteration_us=%.3f particle_module_vs_particle=%.2f")
    :format(name, models.median(ts.pm) * 1e6, median_ratio(ts.pm, ts.particle)))
  -- the same two loops in the other GC mode, side by side
  local mode = nyto.gc_mode()
  local other = mode == "generational" and "incremental" or "generational"
  nyto.set_gc_mode(other)
  local ts2 = rounds({
    particle = function(k) for _ = 1, k do net = 0.5 * net + 10 end end,
    pm = function(k) for _ = 1, k do pm = 0.5 * pm + 10 end end,
  }, iters, 9)
  nyto.set_gc_mode(mode)
  print(("%s other_mode=%s other_iteration_us=%.3f other_particle_module_iteration_us=%.3f other_particle_module_vs_particle=%.2f")
    :format(name, other, models.median(ts2.particle) * 1e6, models.median(ts2.pm) * 1e6, median_ratio(ts2.pm, ts2.particle)))
  -- a ParticleModule class with __gc (the reference's release trace counts
  -- deletions so; Lua resurrects a dead object for its finalizer), in its own
  -- rounds against the plain module's loop, both modes; then the most
  -- particles alive after an iteration of its loop (nyto.stats(), the live
  -- one included), untimed
  local GcPM = nyto.class("BenchGcPM", nyto.ParticleModule)
  local finalized = 0
  function GcPM:__gc() finalized = finalized + 1 end
  local base = nyto.stats().particles
  local pmgc = GcPM(pm_net:clone())
  local function gc_class(m)
    nyto.set_gc_mode(m)
    local t = rounds({
      particle = function(k) for _ = 1, k do net = 0.5 * net + 10 end end,
      pmgc = function(k) for _ = 1, k do pmgc = 0.5 * pmgc + 10 end end,
    }, iters, 9)
    local most = 0
    for _ = 1, iters do
      pmgc = 0.5 * pmgc + 10
      most = math.max(most, nyto.stats().particles - base)
    end
    nyto.set_gc_mode(mode)
    return models.median(t.pmgc) * 1e6, median_ratio(t.pmgc, t.particle), most
  end
  local g_us, g_r, g_most = gc_class(mode)
  local o_us, o_r, o_most = gc_class(other)
  print(("%s gc_class_iteration_us=%.3f gc_class_vs_particle=%.2f gc_class_most_alive=%d other_gc_class_iteration_us=%.3f other_gc_class_vs_particle=%.2f other_gc_class_most_alive=%d finalized=%d")
    :format(name, g_us, g_r, g_most, o_us, o_r, o_most, finalized))
  pmgc = nil
end

print("gc_mode " .. nyto.gc_mode())
run("cnn", models.CNN(), tonumber(arg and arg[1]) or 5000, models.CNN())
run("mlp", models.MLP(), tonumber(arg and arg[2]) or 200, models.MLP())
