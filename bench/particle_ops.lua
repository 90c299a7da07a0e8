-- bench/particle_ops: `net = 0.5*net + 10` on (a) the reference CNN and (b) an
-- MLP 784-1024-1024-10, single-threaded, against the memory-bandwidth limit
-- (a C pass y = a*x + b over a buffer of the same size, timed in this run).
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
  -- the particle operation (each iteration is two operations: * and +)
  local op = time_per(function(k) for _ = 1, k do net = 0.5 * net + 10 end end, iters, 7) / 2
  -- products: no module tree at all
  local p = net:product()
  local pop = time_per(function(k) for _ = 1, k do p = 0.5 * p + 10 end end, iters, 7) / 2
  -- the limit: one C pass y = a*x + b into a reused buffer of the same size
  local x, y = core.buffer("float32", n), core.buffer("float32", n)
  local segs = core.segments({0, n})
  local lim = time_per(function(k) for _ = 1, k do core.paffine(x, 0.5, 10, segs, y) end end, iters, 7)
  -- the same pass, reading and writing in turn three buffers, as the loop's
  -- particles do (net, the intermediate and the result): no buffer stays hot
  local z = core.buffer("float32", n)
  local ring = {x, y, z}
  local lim3 = time_per(function(k)
    for i = 1, k do core.paffine(ring[i % 3 + 1], 0.5, 10, segs, ring[(i + 1) % 3 + 1]) end
  end, iters, 7)
  print(("%s params=%d particle_op_us=%.3f product_op_us=%.3f limit_us=%.3f limit3_us=%.3f particle_vs_limit=%.2f product_vs_limit=%.2f particle_vs_limit3=%.2f")
    :format(name, n, op * 1e6, pop * 1e6, lim * 1e6, lim3 * 1e6, lim / op, lim / pop, lim3 / op))
end

run("cnn", models.CNN(), tonumber(arg and arg[1]) or 5000)
run("mlp", models.MLP(), tonumber(arg and arg[2]) or 200)
