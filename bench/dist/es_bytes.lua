-- bench/distributed.sh's seeds-only rank program: bytes sent per generation by
-- OpenES{distributed = true} on the MLP 784-1024-1024-10 particle (D = 1.86 M),
-- against broadcasting the parameters each generation (the population, and
-- the center alone).  Bytes are read from the loopback interface's counters
-- (/proc/net/dev, "lo" transmit bytes: TCP payload and headers of every rank,
-- divided by the world size), the least of a few repetitions (other processes
-- on the machine may use the loopback too), next to the payload nyto hands to
-- Gloo.  Run: torchrun ... build/nyto bench/dist/es_bytes.lua [popsize] [generations]
local dist, nn = nyto.distributed, nyto.nn
dist.init {timeout = 300}
local rank, world = dist.rank(), dist.world_size()
local n, G = tonumber(arg[1] or 16), tonumber(arg[2] or 2)
nyto.manual_seed(1)
local net = nn.Sequential(nn.Linear(784, 1024), nn.ReLU(), nn.Linear(1024, 1024), nn.ReLU(), nn.Linear(1024, 10))
local D = 0
for _, p in ipairs(net:parameters()) do D = D + p:numel() end

local function lo_tx()
  local f = assert(io.open("/proc/net/dev"))
  local t = f:read("a")
  f:close()
  return assert(tonumber(t:match("\n%s*lo:%s*%d+%s+%d+%s+%d+%s+%d+%s+%d+%s+%d+%s+%d+%s+%d+%s+(%d+)")))
end
-- bytes on lo per rank per generation while fn runs G times (least of 3)
local function measure(fn)
  local best = math.huge
  for _ = 1, 3 do
    dist.barrier()
    local a = lo_tx()
    for _ = 1, G do fn() end
    dist.barrier()
    local b = lo_tx()
    best = math.min(best, (b - a) / world / G)
  end
  return best
end

local es = nyto.strategy.OpenES(net, {popsize = n, distributed = true, generator = nyto.Generator(7)})
local function es_generation()
  local pop = es:ask() -- this rank's members
  es:tell(nyto.no_grad(function() return pop:flat():pow(2):sum(2) end))
end
es_generation() -- warm up
local es_bytes = measure(es_generation)
local m = (n + world - 1) // world
local payload = (world - 1) * ((m + 1) * 8 + 18 * 8) -- the fitness all_gather and its shape header

local pop = nyto.Swarm(net, n)
local pop_bytes = measure(function() dist.broadcast(pop, 0) end)
local center_bytes = measure(function() dist.broadcast(net, 0) end)

-- every rank's center after the generations above: bit-identical
local c = es:center()
local all = dist.all_gather(c)
local same = true
for r = 2, #all do
  for i, p in ipairs(all[r]:parameters()) do
    if not nyto.equal(p, all[1]:parameters()[i]) then same = false end
  end
end
if rank == 0 then
  print(("seeds-only OpenES popsize=%d D=%d ranks=%d: %.0f bytes per rank per generation on lo (payload %d), centers bit-identical: %s")
    :format(n, D, world, es_bytes, payload, tostring(same)))
  print(("broadcasting the population each generation: %.0f bytes per rank (%.0fx); the center alone: %.0f bytes (%.0fx)")
    :format(pop_bytes, pop_bytes / es_bytes, center_bytes, center_bytes / es_bytes))
end
dist.destroy()
