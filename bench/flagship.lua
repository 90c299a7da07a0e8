-- bench/flagship: the flagship's training step and evaluation, as it was
-- (a pool of 4 ParticleModules of the reference CNN, one forward, backward
-- and SGD step per member) and as it is (a nyto.Swarm: one batched forward
-- and backward of every member, s(x, {per_member = true}); the evaluation one
-- batched forward s(x) per test batch), interleaved round by round in one
-- process so that both see the same machine.  Prints medians and the ratio.
--   build/nyto bench/flagship.lua [threads] [rounds] [batches per round]
local nyto = require "nyto"
local F = nyto.F
local threads, rounds, per = tonumber(arg[1]) or 2, tonumber(arg[2]) or 5, tonumber(arg[3]) or 10
nyto.num_threads(threads)
nyto.manual_seed(1)
local CNN = dofile("examples/reference_cnn.lua")(nyto)
local n = 4
local train_x, train_y = nyto.data.fashion_mnist("train")
local test_x, test_y = nyto.data.fashion_mnist("test")
assert(train_x and test_x, "Fashion-MNIST (apt-get install dataset-fashion-mnist)")
local norm = {0.2860, 0.3530}
local function loader(i) return nyto.data.DataLoader(train_x, train_y, {batch_size = 64, seed = i, normalize = norm}):iter() end

-- before: the pool of ParticleModules
local pool = {}
for i = 1, n do
  local pm = nyto.ParticleModule(CNN())
  pool[i] = {pm = pm, opt = nyto.optim.SGD(pm:parameters(), {lr = 0.05, momentum = 0.9}), it = loader(i)}
end
-- after: the swarm
local s = nyto.Swarm(CNN(), n, function(i, m) m:load_state_dict(CNN():state_dict()) end)
local sopt, sit = {}, {}
for i = 1, n do sopt[i] = nyto.optim.SGD(s[i]:parameters(), {lr = 0.05, momentum = 0.9}); sit[i] = loader(i) end

local function wall()
  local f = io.open("/proc/uptime"); local v = f:read("n"); f:close(); return v
end

local function pool_batch()
  for _, m in ipairs(pool) do
    local x, y = m.it()
    m.opt:zero_grad()
    F.cross_entropy(m.pm(x), y):backward()
    m.opt:step()
  end
end
local function swarm_batch()
  local xs, ys = {}, {}
  for i = 1, n do xs[i], ys[i] = sit[i]() end
  for i = 1, n do sopt[i]:zero_grad() end
  local out = s(nyto.stack(xs, 1), {per_member = true})
  local b = out:size(2)
  F.cross_entropy(out:reshape(n * b, 10), nyto.cat(ys, 1), {reduction = "none"}):view(n, b):mean(2):sum():backward()
  for i = 1, n do sopt[i]:step() end
end
local function swarm_loop_batch()
  for i = 1, n do
    local x, y = sit[i]()
    sopt[i]:zero_grad()
    F.cross_entropy(s[i](x), y):backward()
    sopt[i]:step()
  end
end
local tx = test_x:narrow(1, 1, 2000)
local function pool_eval()
  nyto.no_grad(function()
    for _, m in ipairs(pool) do
      for x in nyto.data.DataLoader(tx, nil, {batch_size = 1000, shuffle = false, normalize = norm}):iter() do m.pm(x):argmax(2) end
    end
  end)
end
local function swarm_eval()
  nyto.no_grad(function()
    for x in nyto.data.DataLoader(tx, nil, {batch_size = 1000, shuffle = false, normalize = norm}):iter() do s(x):argmax(3) end
  end)
end

local function median(t) table.sort(t); return t[(#t + 1) // 2] end
-- (CPU time is every thread's: with 2 threads it counts both)
local T, C = {}, {} -- wall and CPU seconds per batch / per 1000 images
local cases = {{"pool", pool_batch, per}, {"swarm", swarm_batch, per}, {"swarm_loop", swarm_loop_batch, per},
               {"pool_eval", pool_eval, 0.5}, {"swarm_eval", swarm_eval, 0.5}}
for _, c in ipairs(cases) do T[c[1]], C[c[1]] = {}, {}; c[2]() end -- warm up
for _ = 1, rounds do
  for _, c in ipairs(cases) do
    local reps = c[3] >= 1 and c[3] or 1
    local t0, c0 = wall(), os.clock()
    for _ = 1, reps do c[2]() end
    T[c[1]][#T[c[1]] + 1] = (wall() - t0) / (c[3] >= 1 and reps or 2)
    C[c[1]][#C[c[1]] + 1] = (os.clock() - c0) / (c[3] >= 1 and reps or 2)
  end
end
for _, X in ipairs {{T, "wall"}, {C, "CPU"}} do
  local M = {}
  for k, v in pairs(X[1]) do M[k] = median(v) * 1e3 end
  print(("%s: training batch of %d members: pool of ParticleModules %.1f ms, Swarm batched %.1f ms (%.2fx), Swarm members one by one %.1f ms (%.2fx)")
    :format(X[2], n, M.pool, M.swarm, M.pool / M.swarm, M.swarm_loop, M.pool / M.swarm_loop))
  print(("%s: evaluation of %d members, per 1000 images: per-member loop %.1f ms, one batched forward %.1f ms (%.2fx)")
    :format(X[2], n, M.pool_eval, M.swarm_eval, M.pool_eval / M.swarm_eval))
end
