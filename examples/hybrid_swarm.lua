-- The flagship: a hybrid of gradient descent and a particle swarm on
-- Fashion-MNIST.  A pool of ParticleModules of the reference CNN
-- (ParticleModule.rst) trains with SGD; every `every` batches a swarm step
-- moves randomly chosen members toward the best, W_i = (1-a) W_i + a W_best,
-- with products.  Prints each member's accuracy as it goes.
--
--   build/nyto examples/hybrid_swarm.lua [members] [epochs] [every] [a]
local nyto = nyto or require "nyto"
local F = nyto.F

local members = tonumber(arg and arg[1]) or 4
local epochs = tonumber(arg and arg[2]) or 2
local every = tonumber(arg and arg[3]) or 100
local a = tonumber(arg and arg[4]) or 0.3
local threads = tonumber(os.getenv("NYTO_THREADS") or "") or 2
nyto.num_threads(threads)
nyto.manual_seed(2024)
math.randomseed(2024)

-- the reference CNN, from the file beside this one
local here = (arg and arg[0] or ""):match("^(.*)/[^/]*$") or "."
local CNN = dofile(here .. "/reference_cnn.lua")(nyto)

local train_x, train_y = nyto.data.fashion_mnist("train")
local test_x, test_y = nyto.data.fashion_mnist("test")
if not train_x then io.stderr:write(train_y, "\n") os.exit(1) end
if not test_x then io.stderr:write(test_y, "\n") os.exit(1) end
local norm = {0.2860, 0.3530}

-- the pool: members of one species (clones of a founder with fresh values)
local founder = CNN()
local pool = {}
for i = 1, members do
  local root = i == 1 and founder or founder:clone()
  if i > 1 then
    -- fresh initialisation per member, same species
    for _, m in ipairs(root:modules()) do if m.reset_parameters then m:reset_parameters() end end
  end
  local pm = nyto.ParticleModule(root)
  pool[i] = {pm = pm, opt = nyto.optim.SGD(pm:parameters(), {lr = 0.05, momentum = 0.9}),
             loader = nyto.data.DataLoader(train_x, train_y, {batch_size = 64, shuffle = true, seed = i, normalize = norm}),
             loss = 0, n = 0}
end

local function accuracy(pm)
  pm:eval()
  local correct = 0
  nyto.no_grad(function()
    local loader = nyto.data.DataLoader(test_x, test_y, {batch_size = 1000, shuffle = false, normalize = norm})
    for x, y in loader:iter() do
      correct = correct + pm(x):argmax(2):eq(y):sum():item()
    end
  end)
  pm:train()
  return correct / test_x:size(1)
end

local function report(tag)
  local parts = {}
  for i, m in ipairs(pool) do parts[i] = ("m%d %.2f%%"):format(i, 100 * accuracy(m.pm)) end
  print(("%-12s %s"):format(tag, table.concat(parts, "  ")))
end

local t0 = os.time()
local swarm_steps = 0
for epoch = 1, epochs do
  local iters = {}
  for i, m in ipairs(pool) do iters[i] = m.loader:iter() end
  local batch = 0
  local progress = nyto.progress(#pool[1].loader, {title = ("epoch %d"):format(epoch)})
  while true do
    local done = false
    for i, m in ipairs(pool) do
      local x, y = iters[i]()
      if not x then done = true break end
      m.opt:zero_grad()
      local loss = F.cross_entropy(m.pm(x), y)
      loss:backward()
      m.opt:step()
      m.loss, m.n = m.loss + loss:item(), m.n + 1
    end
    if done then break end
    batch = batch + 1
    local stats
    if batch % every == 0 then
      -- swarm step: the best by recent training loss pulls randomly chosen members
      local best = pool[1]
      for _, m in ipairs(pool) do if m.loss / m.n < best.loss / best.n then best = m end end
      local bp = best.pm:product()
      for _, m in ipairs(pool) do
        if m ~= best and math.random() < 0.5 then
          m.pm:product_((1 - a) * m.pm:product() + a * bp)
          swarm_steps = swarm_steps + 1
        end
      end
      stats = {loss = best.loss / best.n}
      for _, m in ipairs(pool) do m.loss, m.n = 0, 0 end
    end
    -- every batch (the bar draws at most ~10 times a second), so the epoch ends on 938/938 100%
    progress:update(batch, stats)
  end
  progress:finish()
  report(("epoch %d"):format(epoch))
end

local best_acc, best_i = 0, 0
for i, m in ipairs(pool) do
  local acc = accuracy(m.pm)
  if acc > best_acc then best_acc, best_i = acc, i end
end
print(("best member m%d: %.2f%% test accuracy on %d images; %d swarm moves; %d s"):format(
  best_i, 100 * best_acc, test_x:size(1), swarm_steps, os.time() - t0))
return best_acc
