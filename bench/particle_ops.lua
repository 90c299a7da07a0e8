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

local function time_per(fn, iters, reps)
  local ts = {}
  for r = 1, reps do
    local t0 = clock()
    fn(iters)
    ts[r] = (clock() - t0) / iters
  end
  return models.median(ts)
end

local function run(name, net, iters)
  local n = models.nparams(net)
  -- one iteration is two particle operations, * and +; the first is
  -- deferred and the second fuses it, so the iteration is one pass y = a*x + b
  -- (docs/design.md), the very arithmetic of the limit below
  local it = time_per(function(k) for _ = 1, k do net = 0.5 * net + 10 end end, iters, 7)
  -- products: no module tree at all
  local p = net:product()
  local pit = time_per(function(k) for _ = 1, k do p = 0.5 * p + 10 end end, iters, 7)
  -- the limit: one C pass y = a*x + b into a reused buffer of the same size
  local x, y = core.buffer("float32", n), core.buffer("float32", n)
  local segs = core.segments({0, n})
  local lim = time_per(function(k) for _ = 1, k do core.paffine(x, 0.5, 10, segs, y) end end, iters, 7)
  -- the same pass, reading and writing in turn three buffers: no buffer stays hot
  local z = core.buffer("float32", n)
  local ring = {x, y, z}
  local lim3 = time_per(function(k)
    for i = 1, k do core.paffine(ring[i % 3 + 1], 0.5, 10, segs, ring[(i + 1) % 3 + 1]) end
  end, iters, 7)
  print(("%s params=%d iteration_us=%.3f particle_op_us=%.3f product_iteration_us=%.3f product_op_us=%.3f limit_us=%.3f limit3_us=%.3f iteration_vs_limit=%.2f product_iteration_vs_limit=%.2f")
    :format(name, n, it * 1e6, it / 2 * 1e6, pit * 1e6, pit / 2 * 1e6, lim * 1e6, lim3 * 1e6, lim / it, lim / pit))
end

run("cnn", models.CNN(), tonumber(arg and arg[1]) or 5000)
run("mlp", models.MLP(), tonumber(arg and arg[2]) or 200)
