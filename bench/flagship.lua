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

local function now() return nyto.core.clock and nyto.core.clock() or os.clock() end
local clock = require("nyto.timeit") and nil
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
local T = {pool = {}, swarm = {}, pool_eval = {}, swarm_eval = {}}
pool_batch(); swarm_batch(); pool_eval(); swarm_eval() -- warm up
for _ = 1, rounds do
  local t0 = wall(); for _ = 1, per do pool_batch() end; T.pool[#T.pool + 1] = (wall() - t0) / per
  t0 = wall(); for _ = 1, per do swarm_batch() end; T.swarm[#T.swarm + 1] = (wall() - t0) / per
  t0 = wall(); pool_eval(); T.pool_eval[#T.pool_eval + 1] = (wall() - t0) / 2
  t0 = wall(); swarm_eval(); T.swarm_eval[#T.swarm_eval + 1] = (wall() - t0) / 2
end
local a, b, c, d = median(T.pool), median(T.swarm), median(T.pool_eval), median(T.swarm_eval)
print(("training batch of %d members: pool of ParticleModules %.1f ms, Swarm (batched) %.1f ms: %.2fx"):format(n, a * 1e3, b * 1e3, a / b))
print(("evaluation of %d members on 1000 images: per-member loop %.1f ms, one batched forward %.1f ms: %.2fx"):format(n, c * 1e3, d * 1e3, c / d))
