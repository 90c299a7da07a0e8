-- The flagship: a hybrid of gradient descent and a particle swarm on
-- Fashion-MNIST.  A nyto.Swarm of the reference CNN (ParticleModule.rst) keeps
-- every member in one [n, P] arena: each member s[i] trains with its own SGD
-- optimizer on its own shuffle of the data (its parameters are views of the
-- arena; --batched: all members in one batched forward and backward per batch,
-- s(x, {per_member = true})); every `every` batches a
-- swarm step moves randomly chosen members toward the best (by recent training
-- loss), W_i = (1-a) W_i + a W_best, as one pass of whole-swarm arithmetic.
-- The test accuracy of all members comes from one batched forward s(x) per
-- test batch.  After each epoch it writes a checkpoint (members, optimizers,
-- swarm state, epoch, generator states) with nyto.save; --resume continues it,
-- bit for bit as the uninterrupted run.
--
--   build/nyto examples/hybrid_swarm.lua [options]
--     --members N    members of the swarm (4)        --epochs E   epochs (2)
--     --every B      batches between swarm steps (100) --a A      pull toward the best (0.3)
--     --seed S       seed (2024)                     --batches N  batches per epoch (all)
--     --test N       test images (all 10,000)        --batched    train all members in one batched forward
--     --checkpoint PATH  (hybrid_swarm.ckpt.safetensors; "" for none)   --resume
--     --plot PATH    learning curve as a PNG (with nyto.plot; hybrid_swarm.png)
--     --islands      one swarm per rank under torchrun, dist.migrate between epochs
--     --migrate K    members sent to the next rank after each epoch (1)
--   torchrun --no_python --nproc_per_node=2 --redirects 2 --tee 2 build/nyto examples/hybrid_swarm.lua --islands
local nyto = nyto or require "nyto"
local F = nyto.F

-- options -----------------------------------------------------------------------------
local opt = {members = 4, epochs = 2, every = 100, a = 0.3, seed = 2024, batches = math.maxinteger, test = 10000,
             checkpoint = "hybrid_swarm.ckpt.safetensors", plot = "hybrid_swarm.png", migrate = 1}
local flags = {resume = true, islands = true, batched = true}
local ints = {members = true, epochs = true, every = true, seed = true, batches = true, test = true, migrate = true}
local function usage(msg)
  io.stderr:write("hybrid_swarm: ", msg, "\n(see the options at the top of examples/hybrid_swarm.lua)\n")
  os.exit(2)
end
do
  local args, i, positional = arg or {}, 1, {"members", "epochs", "every", "a"}
  while args[i] do
    local name = args[i]:match("^%-%-(.+)$")
    if name and flags[name] then
      opt[name] = true
      i = i + 1
    elseif name and opt[name] ~= nil then
      local v = args[i + 1]
      if v == nil then usage("--" .. name .. " needs a value") end
      if type(opt[name]) == "number" then
        v = ints[name] and math.tointeger(tonumber(v)) or tonumber(v)
        if v == nil then usage("--" .. name .. " needs a" .. (ints[name] and "n integer" or " number")) end
      end
      opt[name] = v
      i = i + 2
    elseif not name and #positional > 0 and tonumber(args[i]) then -- the old spelling: [members] [epochs] [every] [a]
      local p = table.remove(positional, 1)
      opt[p] = ints[p] and math.tointeger(tonumber(args[i])) or tonumber(args[i])
      i = i + 1
    else
      usage("unknown argument " .. args[i])
    end
  end
  if opt.members < 1 or opt.epochs < 1 or opt.every < 1 or opt.batches < 1 or opt.test < 1 then
    usage("members, epochs, every, batches and test must be positive")
  end
end

-- threads: NYTO_THREADS, else 2 shared by the ranks on this machine (torchrun's LOCAL_WORLD_SIZE)
local local_ranks = opt.islands and math.tointeger(tonumber(os.getenv("LOCAL_WORLD_SIZE") or "")) or 1
local threads = tonumber(os.getenv("NYTO_THREADS") or "") or math.max(1, 2 // math.max(1, local_ranks))
nyto.num_threads(threads)

-- islands: one swarm per rank, each its own seed
local dist, rank, world = nil, 0, 1
if opt.islands then
  dist = nyto.distributed
  dist.init {timeout = 600}
  rank, world = dist.rank(), dist.world_size()
end
local say_prefix = opt.islands and ("[rank %d] "):format(rank) or ""
local function say(fmt, ...) print(say_prefix .. fmt:format(...)) end
local seed = opt.seed + 1000 * rank
nyto.manual_seed(seed)

-- the reference CNN, from the file beside this one
local here = (arg and arg[0] or ""):match("^(.*)/[^/]*$") or "."
local CNN = dofile(here .. "/reference_cnn.lua")(nyto)

local train_x, train_y = nyto.data.fashion_mnist("train")
local test_x, test_y = nyto.data.fashion_mnist("test")
if not train_x then io.stderr:write(train_y, "\n") os.exit(1) end
if not test_x then io.stderr:write(test_y, "\n") os.exit(1) end
if opt.test < test_x:size(1) then test_x, test_y = test_x:narrow(1, 1, opt.test), test_y:narrow(1, 1, opt.test) end
local norm = {0.2860, 0.3530}
local n = opt.members

-- the swarm: n members of one species, each freshly initialised
local founder = CNN()
local s = nyto.Swarm(founder, n, function(i, m)
  if i > 1 then
    local fresh = CNN() -- the same species, new values
    m:load_state_dict(fresh:state_dict())
  end
end)
local opts = {}
for i = 1, n do opts[i] = nyto.optim.SGD(s[i]:parameters(), {lr = 0.05, momentum = 0.9}) end
local g = nyto.Generator(seed, 1)      -- the swarm step's draws
local losses = nyto.zeros(n, {dtype = "float64"}) -- training loss summed since the last swarm step
local counted = 0                      -- batches in it
local start_epoch, swarm_steps = 1, 0
local curve = {}                       -- per swarm step: {batch =, loss = {n numbers}}
local accs = {}                        -- per epoch: {n accuracies}

-- checkpoints: one file per rank with islands
local ckpath = opt.checkpoint
if ckpath ~= "" and opt.islands then ckpath = ckpath:gsub("(%.[^./]+)$", ("-rank%d%%1"):format(rank), 1) end

local function save_checkpoint(epoch)
  if ckpath == "" then return end
  local optstates = {}
  for i = 1, n do optstates[i] = opts[i]:state_dict() end
  local ok, e = nyto.save({
    epoch = epoch, members = n, swarm = s:flat(), optimizers = optstates, swarm_steps = swarm_steps,
    losses = losses, counted = counted, generator = g:get_state(), rng = nyto.rng_state(),
    curve = curve, accs = accs,
  }, ckpath)
  if not ok then io.stderr:write(e, "\n") os.exit(1) end
end

if opt.resume then
  local ck, e = nyto.load(ckpath)
  if not ck then io.stderr:write(e, "\n") os.exit(1) end
  if ck.members ~= n then usage(("the checkpoint has %d members, not %d"):format(ck.members, n)) end
  nyto.no_grad(function() s:flat():copy_(ck.swarm) end)
  for i = 1, n do opts[i]:load_state_dict(ck.optimizers[i]) end
  g:set_state(ck.generator)
  nyto.set_rng_state(ck.rng)
  losses:copy_(ck.losses)
  counted, swarm_steps, curve, accs = ck.counted, ck.swarm_steps, ck.curve, ck.accs
  start_epoch = ck.epoch + 1
  say("resumed %s after epoch %d", ckpath, ck.epoch)
end

-- the test accuracy of every member: one batched forward per test batch
local function accuracies()
  local correct = nyto.zeros(n, {dtype = "int64"})
  nyto.no_grad(function()
    -- batches of 250: the batched activations of 4 members stay smaller (faster than 1000 here)
    local loader = nyto.data.DataLoader(test_x, test_y, {batch_size = 250, shuffle = false, normalize = norm})
    for x, y in loader:iter() do
      local out = s(x)                                   -- [n, batch, 10]
      correct = correct + out:argmax(3):eq(y:view(1, -1)):sum(2)
    end
  end)
  local t = correct:double():div(test_x:size(1)):totable()
  return t
end

local function show(tag, acc)
  local parts = {}
  for i = 1, n do parts[i] = ("m%d %.2f%%"):format(i, 100 * acc[i]) end
  say("%-12s %s", tag, table.concat(parts, "  "))
end

local nbatches = math.min(opt.batches, (train_x:size(1) + 63) // 64)
local function wall() -- seconds, 10 ms resolution (os.clock is CPU time of every thread)
  local f = io.open("/proc/uptime")
  local v = f and f:read("n")
  if f then f:close() end
  return v or os.time()
end
local t0 = wall()
for epoch = start_epoch, opt.epochs do
  -- each member its own shuffle, a function of (seed, epoch, member) alone
  local iters = {}
  for i = 1, n do
    iters[i] = nyto.data.DataLoader(train_x, train_y, {batch_size = 64, shuffle = true, normalize = norm,
                                                       seed = seed * 1000003 + epoch * 1009 + i}):iter()
  end
  local progress = (rank == 0) and nyto.progress(nbatches, {title = ("epoch %d"):format(epoch)}) or nil
  for batch = 1, nbatches do
    local xs, ys = {}, {}
    for i = 1, n do xs[i], ys[i] = iters[i]() end
    for i = 1, n do opts[i]:zero_grad() end
    local batch_losses
    if not opt.batched then
      batch_losses = {}
      for i = 1, n do
        local loss = F.cross_entropy(s[i](xs[i]), ys[i])
        loss:backward()
        batch_losses[i] = loss:item()
      end
      batch_losses = nyto.tensor(batch_losses, {dtype = "float64"})
    else
      -- every member's forward and backward at once: member i sees its own batch x[i]
      local out = s(nyto.stack(xs, 1), {per_member = true})          -- [n, batch, 10]
      local b = out:size(2)
      local per = F.cross_entropy(out:reshape(n * b, 10), nyto.cat(ys, 1), {reduction = "none"})
      per = per:view(n, b):mean(2)                                   -- each member's mean loss
      per:sum():backward()                                           -- member i's gradient is its own
      batch_losses = per:detach():double()
    end
    for i = 1, n do opts[i]:step() end
    losses:add_(batch_losses)
    counted = counted + 1
    local stats
    if batch % opt.every == 0 then
      -- the swarm step: the best by recent training loss pulls randomly chosen members
      local mean_loss = losses:div(counted)
      local best = mean_loss:argmin():item() -- 1-based
      local pull = nyto.rand({n}, {generator = g}):lt(0.5):double():mul(opt.a)
      pull[best] = 0
      swarm_steps = swarm_steps + pull:gt(0):sum():item()
      nyto.no_grad(function() s:add_((s[best] - s) * pull:float()) end) -- W_i += a_i (W_best - W_i)
      curve[#curve + 1] = {batch = (epoch - 1) * nbatches + batch, loss = mean_loss:totable()}
      stats = {loss = mean_loss[best]:item()}
      losses:zero_()
      counted = 0
    end
    if progress then progress:update(batch, stats) end
  end
  if progress then progress:finish() end
  local acc = accuracies()
  accs[epoch] = acc
  show(("epoch %d"):format(epoch), acc)
  if opt.islands and epoch < opt.epochs and world > 1 and opt.migrate > 0 then
    local fitness = {}
    for i = 1, n do fitness[i] = -acc[i] end              -- lower is better
    dist.migrate(s, math.min(opt.migrate, n), fitness)    -- the best go to rank + 1, replacing its worst
    show("migrated", accuracies())                       -- the newcomers keep their accuracy
  end
  save_checkpoint(epoch)
end

local acc = accs[opt.epochs] or accuracies()
local best_acc, best_i = 0, 0
for i = 1, n do if acc[i] > best_acc then best_acc, best_i = acc[i], i end end
local elapsed = wall() - t0
say("best member m%d: %.2f%% test accuracy on %d images; %d swarm moves; %d s", best_i, 100 * best_acc,
    test_x:size(1), swarm_steps, math.floor(elapsed + 0.5))
if opt.islands then
  local all = dist.all_gather(nyto.tensor({best_acc}, {dtype = "float64"}))
  if rank == 0 then
    local line = {}
    for r = 1, #all do line[r] = ("rank %d %.2f%%"):format(r - 1, 100 * all[r]:item()) end
    print("islands: " .. table.concat(line, "  "))
  end
  dist.destroy()
end

-- the learning curve: each member's training loss at every swarm step
if nyto.plot and opt.plot ~= "" and rank == 0 and #curve > 0 then
  local series = {}
  for i = 1, n do
    local x, y = {}, {}
    for j, c in ipairs(curve) do x[j], y[j] = c.batch, c.loss[i] end
    series[i] = {name = ("member %d"):format(i), x = x, y = y}
  end
  local ok, e = pcall(nyto.plot, {path = opt.plot, series = series, title = "hybrid_swarm: training loss",
                                  xlabel = "batch", ylabel = "mean cross-entropy since the last swarm step"})
  if ok then say("learning curve: %s", opt.plot) else io.stderr:write(tostring(e), "\n") end
end
return best_acc
