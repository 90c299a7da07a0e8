-- bench/randn: a normal fill of 1.86 M floats (the MLP 784-1024-1024-10's
-- parameter count) with nyto's Philox generator vs torch.randn on the same
-- libtorch, one thread and two.  Medians of rounds taken in turn.
-- Prints one line per thread count; bench/randn.sh adds PyTorch.
package.path = "./lua/?.lua;./lua/?/init.lua;./bench/?.lua;" .. package.path
package.cpath = "./build/lib/?.so;" .. package.cpath
local nyto = require "nyto"
local models = require "models"
local core = nyto.core
-- CPU time on one thread (robust to the other jobs of a shared machine), wall
-- time on two (CPU time would add the threads up)
local function clock_for(th) return th == 1 and os.clock or core.wall_clock end
local iters = tonumber(arg and arg[1]) or 50

local net = models.MLP()
local n = models.nparams(net)
local p = net:product()
local buf = core.buffer("float32", n)
local segs = core.segments({0, n})
local g = nyto.Generator(1)

local fns = {
  -- in place into one buffer: the generator itself
  philox_fill = function(k) for _ = 1, k do core.prandom_(buf, 0, segs, g) end end,
  -- a product draw (a new particle buffer from the pool)
  product_randn = function(k) for _ = 1, k do p = p:randn {generator = g} end end,
  -- a new tensor: nyto.randn(n, {generator = g})
  tensor_philox = function(k) for _ = 1, k do local _ = nyto.randn(n, {generator = g}) end end,
  -- a new tensor from libtorch's generator (torch.randn)
  tensor_torch = function(k) for _ = 1, k do local _ = nyto.randn(n) end end,
  -- in place with libtorch's normal_ (torch.randn's transform)
  torch_normal_ = function(k) local t = buf:tensor() for _ = 1, k do t:normal_() end end,
}
for _, th in ipairs {1, 2} do
  nyto.num_threads(th)
  local clock = clock_for(th)
  local ts = {}
  for name in pairs(fns) do ts[name] = {} end
  for r = 1, 9 do
    for name, fn in pairs(fns) do
      local t0 = clock()
      fn(iters)
      ts[name][r] = (clock() - t0) / iters / n * 1e9
    end
  end
  local line = {("threads=%d numel=%d clock=%s"):format(th, n, th == 1 and "cpu" or "wall")}
  for _, name in ipairs {"philox_fill", "product_randn", "tensor_philox", "tensor_torch", "torch_normal_"} do
    line[#line + 1] = ("%s_ns=%.3f"):format(name, models.median(ts[name]))
  end
  print(table.concat(line, " "))
end
