-- bench/batched_conv: the two conv blocks of the reference CNN (examples/reference_cnn.lua)
-- alone, 32 members on a batch of 64, one thread, under no_grad: nyto.batched_forward of
-- nn.Sequential(Conv2d, ReLU, MaxPool2d(2)) with the block forced to the direct kernel
-- (core.bconv_force(1); on each vector path the CPU has, core.bconv_isa), to oneDNN per member
-- (2), and without the fused blocks ({fused = false}: functorch's rules); plus the per-member
-- loop.  Rounds time the candidates in turn (interleaved); medians; ratios to the loop.
--   build/nyto bench/batched_conv.lua [iters] [rounds]
package.path = "./lua/?.lua;./lua/?/init.lua;./bench/?.lua;" .. package.path
package.cpath = "./build/lib/?.so;" .. package.cpath
local nyto = require "nyto"
local core = require "nyto.core"
local nn = nyto.nn
nyto.num_threads(1)
nyto.manual_seed(1)
local iters, reps = tonumber(arg[1] or 2), tonumber(arg[2] or 5)
local models = require "models"
local median = models.median
local n = 32
local top = core.bconv_isa(-1)
for _, spec in ipairs {{"conv1 1->16 5x5 pad 2 on 28x28", 1, 16, 28}, {"conv2 16->32 5x5 pad 2 on 14x14", 16, 32, 14}} do
  local net = nn.Sequential(nn.Conv2d(spec[2], spec[3], 5, 1, 2), nn.ReLU(), nn.MaxPool2d(2))
  local members, stacks = models.population(net, n)
  local x = nyto.randn(64, spec[2], spec[4], spec[4])
  local function batched(mode, isa, opts)
    return function()
      local om, oi = core.bconv_force(mode), core.bconv_isa(isa)
      nyto.no_grad(function() for _ = 1, iters do nyto.batched_forward(net, stacks, x, opts) end end)
      core.bconv_force(om); core.bconv_isa(oi)
    end
  end
  local fns, order = {}, {}
  local function add(name, f) fns[name] = f; order[#order + 1] = name end
  for lv = top, 0, -1 do
    core.bconv_isa(lv)
    local _, path = core.bconv_isa(-1)
    core.bconv_isa(top)
    if path == lv then add("direct_" .. ({[0] = "base", "avx2", "avx512"})[lv], batched(1, lv)) end
  end
  add("per_member", batched(2, top))
  add("unfused", batched(0, top, {fused = false}))
  add("loop", function()
    nyto.no_grad(function()
      for _ = 1, iters do
        local o = {}
        for i = 1, n do o[i] = members[i](x) end
        nyto.stack(o, 1)
      end
    end)
  end)
  for _, f in ipairs(order) do fns[f]() end -- warm up
  local ts = {}
  for _, f in ipairs(order) do ts[f] = {} end
  for r = 1, reps do
    for _, f in ipairs(order) do
      collectgarbage()
      local t0 = os.clock()
      fns[f]()
      ts[f][r] = (os.clock() - t0) / iters * 1e3
    end
  end
  local parts = {}
  local loop = median(ts.loop)
  for _, f in ipairs(order) do
    local m = median(ts[f])
    parts[#parts + 1] = ("%s=%.1fms(%.2fx)"):format(f, m, loop / m)
  end
  print(spec[1] .. ": " .. table.concat(parts, " "))
end
