-- bench/batched_forward: nyto.batched_forward (one forward for a whole
-- population, functorch's vmap layer) vs the per-member loop, in one run.
--   (a) 256 members of an MLP 8-32-4 (nn.Linear, ReLU) on a batch of 64
--   (b) 32 reference CNNs (examples/reference_cnn.lua) on a batch of 64
-- Forward only, under no_grad, and forward + backward of the sum with the
-- stacks requiring grad.  One thread (os.clock is CPU time).  Medians over
-- rounds; each round times the candidates in turn.  bench/batched_forward.sh
-- adds hand-written batched PyTorch (bench/batched_forward.py).
--   lua5.4 bench/batched_forward.lua [mlp_iters] [cnn_iters] [rounds]
package.path = "./lua/?.lua;./lua/?/init.lua;./bench/?.lua;" .. package.path
package.cpath = "./build/lib/?.so;" .. package.cpath
local nyto = require "nyto"
local nn = nyto.nn
nyto.num_threads(1)
nyto.manual_seed(1)
local clock = os.clock
local mlp_iters, cnn_iters, reps = tonumber(arg[1] or 200), tonumber(arg[2] or 5), tonumber(arg[3] or 7)

local models = require "models"
local median, population = models.median, models.population

local core = require "nyto.core"
local function bench(name, net, n, x, iters, unfused)
  local members, stacks = population(net, n, false)
  local _, gstacks = population(net, n, true)
  local fns = {
    batched = function(k) nyto.no_grad(function() for _ = 1, k do nyto.batched_forward(net, stacks, x) end end) end,
    loop = function(k)
      nyto.no_grad(function()
        for _ = 1, k do
          local o = {}
          for i = 1, n do o[i] = members[i](x) end
          nyto.stack(o, 1)
        end
      end)
    end,
    batched_fwbw = function(k)
      for _ = 1, k do nyto.batched_forward(net, gstacks, x):sum():backward() end
    end,
    loop_fwbw = function(k)
      for _ = 1, k do
        local o = {}
        for i = 1, n do o[i] = members[i](x) end
        nyto.stack(o, 1):sum():backward()
      end
    end,
  }
  local order = {"batched", "loop", "batched_fwbw", "loop_fwbw"}
  if unfused then
    -- the same batched forward without the fused blocks (opts.fused = false: functorch's own
    -- rules for conv2d, relu, max_pool2d, linear): what the conv block buys, side by side
    fns.unfused = function(k)
      nyto.no_grad(function() for _ = 1, k do nyto.batched_forward(net, stacks, x, {fused = false}) end end)
    end
    table.insert(order, 2, "unfused")
  end
  for _, f in ipairs(order) do fns[f](1) end -- warm up
  local ts = {}
  for _, f in ipairs(order) do ts[f] = {} end
  for r = 1, reps do
    for _, f in ipairs(order) do
      collectgarbage()
      local t0 = clock()
      fns[f](iters)
      ts[f][r] = (clock() - t0) / iters * 1e3
    end
  end
  local med = {}
  for _, f in ipairs(order) do med[f] = median(ts[f]) end
  -- which conv-block paths one batched forward took (core.bconv_count: direct-kernel calls,
  -- per-member oneDNN convolutions), so the line says whether the block was measured
  local d0, m0 = core.bconv_count()
  nyto.no_grad(function() nyto.batched_forward(net, stacks, x) end)
  local d1, m1 = core.bconv_count()
  local extra = unfused and (" unfused_ms=%.3f block_speedup=%.2f"):format(med.unfused, med.unfused / med.batched) or ""
  print(("%s n=%d batched_ms=%.3f loop_ms=%.3f speedup=%.2f batched_fwbw_ms=%.3f loop_fwbw_ms=%.3f fwbw_speedup=%.2f block_direct=%d block_per_member=%d%s")
    :format(name, n, med.batched, med.loop, med.loop / med.batched, med.batched_fwbw, med.loop_fwbw,
            med.loop_fwbw / med.batched_fwbw, d1 - d0, m1 - m0, extra))
end

-- 0 iterations skips a model
if mlp_iters > 0 then
  bench("mlp", nn.Sequential(nn.Linear(8, 32), nn.ReLU(), nn.Linear(32, 4)), 256, nyto.randn(64, 8), mlp_iters)
end
-- The reference CNN of examples/reference_cnn.lua: its conv1 and conv2 are nn.Sequential(Conv2d,
-- ReLU, MaxPool2d(2)), so the batched forward runs each as the conv block (conv1: 25 taps, the
-- direct kernel; conv2: 400 taps, oneDNN per member + nyto_relu_pool2).  (bench/models.lua's
-- F-level BenchCNN, used by other benches, would not take the block.)
if cnn_iters > 0 then
  local CNN = dofile("examples/reference_cnn.lua")(nyto)
  bench("cnn", CNN(), 32, nyto.randn(64, 1, 28, 28), cnn_iters, true)
end
