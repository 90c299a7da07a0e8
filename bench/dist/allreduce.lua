-- bench/distributed.sh's nyto rank: all_reduce (sum) of the MLP 784-1024-1024-10
-- particle (one flat float32 buffer, 7.45 MB), median of ROUNDS rounds of REPS.
local dist, nn = nyto.distributed, nyto.nn
dist.init{timeout = 120}
local function wall()
  local f = io.open("/proc/uptime")
  local t = tonumber(f:read("a"):match("^(%S+)"))
  f:close()
  return t
end
local net = nn.Sequential(nn.Linear(784, 1024), nn.ReLU(), nn.Linear(1024, 1024), nn.ReLU(), nn.Linear(1024, 10))
net = net * 1e-3 -- keep the sums finite
local reps, rounds = tonumber(arg[1] or 20), tonumber(arg[2] or 5)
for _ = 1, 3 do dist.all_reduce(net) end
local ms = {}
for i = 1, rounds do
  dist.barrier()
  local t0 = wall()
  for _ = 1, reps do dist.all_reduce(net) end
  ms[i] = (wall() - t0) * 1000 / reps
end
table.sort(ms)
local n = 0
for _, p in ipairs(net:parameters()) do n = n + p:numel() end
if dist.rank() == 0 then print(("nyto all_reduce_ms=%.3f bytes=%d"):format(ms[(rounds + 1) // 2], n * 4)) end
dist.destroy()
