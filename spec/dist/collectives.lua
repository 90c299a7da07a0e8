-- Run by spec/distributed_spec.lua under torchrun with 2 ranks: every collective
-- on tensors, particles and swarms, migrate on the ring, each result checked; prints "PASS <rank>" at the end.
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

-- swarms: one collective per arena dtype, in place on the arena
local S = nyto.Swarm(net, 3, function(i, m) m:mul_(i) end) -- member i: i * base
local function member_is(sw, i, want, what)
  close(sw[i], want, what .. ": member " .. i)
end
local mine_s = S * (r + 1)                 -- rank 0: i*base, rank 1: 2i*base
assert(dist.all_reduce(mine_s) == mine_s)  -- 3i*base
for i = 1, 3 do member_is(mine_s, i, base * (3 * i), "swarm all_reduce") end
local ms = S * (r + 1); dist.all_reduce(ms, "min")
for i = 1, 3 do -- min(ib, 2ib) = ib - relu(-ib)
  for j, q in ipairs(base:parameters()) do
    local want = q * i - (q * -i):relu()
    if not ms[i]:parameters()[j]:allclose(want, 1e-6, 1e-6) then error("swarm min: member " .. i .. " parameter " .. j) end
  end
end
local bs = r == 1 and S * 7 or S * 0; dist.broadcast(bs, 1)
for i = 1, 3 do member_is(bs, i, base * (7 * i), "swarm broadcast") end
local gs = dist.all_gather(S + r)
assert(#gs == 2 and nyto.type(gs[1]) == "Swarm" and #gs[1] == 3, "swarm all_gather: two swarms of 3")
for i = 1, 3 do member_is(gs[1], i, base * i, "swarm all_gather 1"); member_is(gs[2], i, base * i + 1, "swarm all_gather 2") end
if r == 0 then dist.send(S * -1, 1) else
  local q = S * 0; assert(dist.recv(q, 0) == q)
  for i = 1, 3 do member_is(q, i, base * -i, "swarm recv") end
end
-- a swarm of two dtypes: one collective per arena
local two = nyto.Module()
two.w = nyto.Parameter(nyto.ones(2, 3))
two.d = nyto.Parameter(nyto.ones(4, {dtype = "float64"}))
local S2 = nyto.Swarm(two, 2) * (r + 1)
dist.all_reduce(S2)
if not (S2:flat("float32"):eq(3):all():item() and S2:flat("float64"):eq(3):all():item()) then error("two-dtype swarm all_reduce") end

-- migrate on the ring (2 ranks: 0 -> 1 -> 0).  Member i of rank r: (10r + i) * base
local function island()
  return nyto.Swarm(net, 4, function(i, m) m:mul_(10 * r + i) end)
end
local other = 1 - r
-- without fitness: the first k go, the last k are replaced (the first incoming replaces the last)
local isl = island()
assert(dist.migrate(isl, 2) == isl)
member_is(isl, 1, base * (10 * r + 1), "migrate kept 1"); member_is(isl, 2, base * (10 * r + 2), "migrate kept 2")
member_is(isl, 4, base * (10 * other + 1), "migrate 4 <- peer's 1"); member_is(isl, 3, base * (10 * other + 2), "migrate 3 <- peer's 2")
-- with fitness (lower is better, NaN worst): rank r's best is member 3, then 1; its worst NaN (2), then 4
isl = island()
dist.migrate(isl, 2, {1.5, 0 / 0, -2, 7})
member_is(isl, 1, base * (10 * r + 1), "fitness migrate kept 1"); member_is(isl, 3, base * (10 * r + 3), "fitness migrate kept 3")
member_is(isl, 2, base * (10 * other + 3), "fitness migrate 2 <- peer's best 3")
member_is(isl, 4, base * (10 * other + 1), "fitness migrate 4 <- peer's second 1")
isl = island()
dist.migrate(isl, 1, nyto.tensor {4, 3, 2, 1})   -- a tensor of fitness
member_is(isl, 1, base * (10 * other + 4), "tensor fitness: worst 1 <- peer's best 4")
member_is(isl, 4, base * (10 * r + 4), "tensor fitness: kept 4")
isl = island(); dist.migrate(isl, 0)
for i = 1, 4 do member_is(isl, i, base * (10 * r + i), "migrate 0") end

-- bad input, raised on both ranks alike (nothing sent)
local function raises(pat, f)
  local ok, e = pcall(f)
  if ok or not tostring(e):find(pat) then error(("expected %q, got %s"):format(pat, tostring(e))) end
end
raises("^nyto: bad argument #2 to 'broadcast' %(src 2 out of range: ranks are 0%.%.1%)", function() dist.broadcast(nyto.zeros(1), 2) end)
raises("^nyto: bad argument #2 to 'send' %(dst %-1 out of range", function() dist.send(nyto.zeros(1), -1) end)
raises("^nyto: bad argument #2 to 'recv' %(src 5 out of range", function() dist.recv(nyto.zeros(1), 5) end)
raises("^nyto: bad argument #2 to 'all_reduce' %(\"sum\"", function() dist.all_reduce(nyto.zeros(1), "mean") end)
raises("^nyto: bad argument #1 to 'all_reduce' %(Tensor, particle or Swarm expected, got number", function() dist.all_reduce(3) end)
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
-- swarm and migrate bad input: nothing changes
local snap = isl:flat():clone()
raises("^nyto: bad argument #1 to 'migrate' %(Swarm expected, got Module%)", function() dist.migrate(net, 1) end)
raises("^nyto: bad argument #2 to 'migrate' %(k must be in 0%.%.4, the swarm's members, got 5%)", function() dist.migrate(isl, 5) end)
raises("^nyto: bad argument #2 to 'migrate' %(integer expected, got float%)", function() dist.migrate(isl, 1.5) end)
raises("^nyto: bad argument #3 to 'migrate' %(4 fitness values expected %(one per member%), got 3%)", function() dist.migrate(isl, 1, {1, 2, 3}) end)
raises("^nyto: bad argument #3 to 'migrate' %(fitness 2 is not a number%)", function() dist.migrate(isl, 1, {1, "x", 3, 4}) end)
raises("^nyto: bad argument #3 to 'migrate' %(fitness must have 4 elements %(one per member%), got shape %[5%]%)",
       function() dist.migrate(isl, 1, nyto.zeros(5)) end)
-- k differing across ranks: raised on both, nothing exchanged
raises("^nyto: migrate: rank %d migrates %d members, rank %d %d %(k must match%)", function() dist.migrate(isl, r + 1) end)
-- swarms of different sizes across ranks: the arena's shape check
local sz = nyto.Swarm(net, 2 + r)
raises("^nyto: all_reduce: rank %d has a Float%[%d+x%d+%] tensor, rank %d a Float%[%d+x%d+%] one", function() dist.all_reduce(sz) end)
if not isl:flat():equal(snap) then error("bad migrate input changed the swarm") end
local fr = nyto.Swarm(net, 2); fr:free()
raises("^nyto: bad argument #1 to 'all_reduce' %(attempt to use a freed Swarm%)", function() dist.all_reduce(fr) end)
raises("^nyto: bad argument #1 to 'migrate' %(attempt to use a freed Swarm%)", function() dist.migrate(fr, 1) end)
dofile("spec/dist/es.lua") -- seeds-only strategies, in the same launch
dist.barrier()
dist.destroy()
assert(not dist.is_initialized())
raises("^nyto: all_reduce: not initialized %(call dist.init first%)", function() dist.all_reduce(nyto.zeros(1)) end)
print("PASS " .. r)
