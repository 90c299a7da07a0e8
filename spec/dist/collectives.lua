-- Run by spec/distributed_spec.lua under torchrun with 2 ranks: every collective
-- on tensors and particles, each result checked; prints "PASS <rank>" at the end.
local dist = nyto.distributed
dist.init{timeout = 10}
local r, n = dist.rank(), dist.world_size()
assert(n == 2, "world_size")
assert(dist.is_initialized())

local function same(t, want, what)
  local got = t:totable()
  for i, v in ipairs(want) do
    if math.abs(got[i] - v) > 1e-6 then error(("%s: rank %d got %s at %d, want %s"):format(what, r, got[i], i, v)) end
  end
end

local function t3(r1, r2) return nyto.tensor(r == 0 and r1 or r2) end
local cases = {sum = {4, 7, 9}, avg = {2, 3.5, 4.5}, min = {1, 2, 3}, max = {3, 5, 6}, product = {3, 10, 18}}
for _, op in ipairs{"sum", "avg", "min", "max", "product"} do -- the same order on every rank
  local want = cases[op]
  local x = t3({1, 2, 3}, {3, 5, 6})
  assert(dist.all_reduce(x, op) == x)
  same(x, want, op)
end
local x = t3({1, 2, 3}, {3, 5, 6}); dist.all_reduce(x); same(x, {4, 7, 9}, "default sum")
local xi = nyto.tensor({1, 2}, {dtype = "int64"}) * (r + 1); dist.all_reduce(xi); same(xi, {3, 6}, "int64 sum")

local b = t3({7, 8, 9}, {0, 0, 0}); dist.broadcast(b, 0); same(b, {7, 8, 9}, "broadcast from 0")
b = t3({0, 0, 0}, {4, 5, 6}); dist.broadcast(b, 1); same(b, {4, 5, 6}, "broadcast from 1")

local g = dist.all_gather(t3({1, 2, 3}, {4, 5, 6}))
assert(#g == 2); same(g[1], {1, 2, 3}, "all_gather 1"); same(g[2], {4, 5, 6}, "all_gather 2")

if r == 0 then dist.send(nyto.tensor{11, 12}, 1) else
  local y = nyto.zeros(2); assert(dist.recv(y, 0) == y); same(y, {11, 12}, "recv") end
if r == 1 then dist.send(nyto.tensor{13}, 0) else
  local y = nyto.zeros(1); dist.recv(y, 1); same(y, {13}, "recv back") end
dist.barrier()

-- particles: the same net on both ranks, then rank-dependent values
nyto.manual_seed(1)
local net = nyto.nn.Sequential(nyto.nn.Linear(3, 4), nyto.nn.Linear(4, 2))
local base = net:clone()
local mine = net * (r + 1)             -- rank 0: base, rank 1: 2*base
dist.all_reduce(mine)                  -- 3*base
local function close(p, q, what)
  local pp, qq = p:parameters(), q:parameters()
  for i = 1, #pp do
    if not pp[i]:allclose(qq[i], 1e-6, 1e-6) then error(what .. ": parameter " .. i .. " differs on rank " .. r) end
  end
end
close(mine, base * 3, "particle all_reduce")
local m2 = net * (r + 1); dist.all_reduce(m2, "max")
for i, q in ipairs(base:parameters()) do -- max(b, 2b) = b + relu(b)
  if not m2:parameters()[i]:allclose(q + q:relu(), 1e-6, 1e-6) then error("particle max: parameter " .. i) end
end
local bp = r == 0 and base:clone() or base * 0; dist.broadcast(bp, 0); close(bp, base, "particle broadcast")
local gp = dist.all_gather(net * (r + 1)); assert(#gp == 2)
close(gp[1], base, "particle all_gather 1"); close(gp[2], base * 2, "particle all_gather 2")
if r == 0 then dist.send(base * 5, 1) else
  local q = base * 0; dist.recv(q, 0); close(q, base * 5, "particle recv") end

-- bad input, raised on both ranks alike (nothing sent)
local function raises(pat, f)
  local ok, e = pcall(f)
  if ok or not tostring(e):find(pat) then error(("expected %q, got %s"):format(pat, tostring(e))) end
end
raises("^nyto: bad argument #2 to 'broadcast' %(src 2 out of range: ranks are 0%.%.1%)", function() dist.broadcast(nyto.zeros(1), 2) end)
raises("^nyto: bad argument #2 to 'send' %(dst %-1 out of range", function() dist.send(nyto.zeros(1), -1) end)
raises("^nyto: bad argument #2 to 'recv' %(src 5 out of range", function() dist.recv(nyto.zeros(1), 5) end)
raises("^nyto: bad argument #2 to 'all_reduce' %(\"sum\"", function() dist.all_reduce(nyto.zeros(1), "mean") end)
raises("^nyto: bad argument #1 to 'all_reduce' %(Tensor or particle expected, got number", function() dist.all_reduce(3) end)
raises("^nyto: init: already initialized", function() dist.init{timeout = 10} end)
-- mismatched shapes and dtypes across ranks: detected on every rank, nothing written
local m = r == 0 and nyto.ones(3) or nyto.ones(4)
raises("^nyto: all_reduce: rank %d has a Float%[%d%] tensor, rank %d a Float%[%d%] one %(shapes and dtypes must match%)", function() dist.all_reduce(m) end)
same(m, r == 0 and {1, 1, 1} or {1, 1, 1, 1}, "unchanged after mismatch")
local d = r == 0 and nyto.ones(2) or nyto.ones(2):double()
raises("^nyto: broadcast: rank %d has a %a+%[2%] tensor", function() dist.broadcast(d, 0) end)
if r == 0 then
  raises("^nyto: recv: rank 1 sent a Float%[5%] tensor into a Float%[2%] one", function() dist.recv(nyto.zeros(2), 1) end)
else
  dist.send(nyto.ones(5), 0)  -- the receiver drains it, then raises
end
dist.barrier()
dist.destroy()
assert(not dist.is_initialized())
raises("^nyto: all_reduce: not initialized %(call dist.init first%)", function() dist.all_reduce(nyto.zeros(1)) end)
print("PASS " .. r)
