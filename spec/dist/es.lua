-- Run from spec/dist/collectives.lua (the same torchrun launch, 2 ranks): the
-- seeds-only strategies with {distributed = true}.  Each rank evaluates only
-- its own members; after every generation the centers are bit-identical on
-- both ranks and equal, bit for bit, to the same strategy run whole in one
-- process (each rank runs that too, as the independent computation).
local dist = nyto.distributed
local r, W = dist.rank(), dist.world_size()

local function fail(fmt, ...) error(("rank %d: " .. fmt):format(r, ...), 2) end
local function f_of(X) return ((X - 0.5) ^ 2):sum(2) end -- rows -> fitness
local function rows_of(pop) return nyto.type(pop) == "Swarm" and pop:flat() or pop end
local function flat_of(c)
  if nyto.is_tensor(c) then return c end
  local s = nyto.Swarm(c, 1)
  return s:flat():view {-1}:clone()
end

local function check_strategy(name, center, popsize)
  local opts = {popsize = popsize, generator = nyto.Generator(11, 2)}
  local whole = nyto.strategy[name](center, opts)
  local dopts = {popsize = popsize, generator = nyto.Generator(11, 2), distributed = true}
  -- a rank with another center and seed still starts from rank 0's
  local split = nyto.strategy[name](r == 0 and center or center * 3, r == 0 and dopts or
    {popsize = popsize, generator = nyto.Generator(99), distributed = true})
  local lo, hi = popsize * r // W + 1, popsize * (r + 1) // W
  for gen = 1, 4 do
    local all, mine = whole:ask(), split:ask()
    local A, M = rows_of(all), rows_of(mine)
    if M:size(1) ~= hi - lo + 1 then fail("%s: %d members handed out, want %d", name, M:size(1), hi - lo + 1) end
    if not nyto.equal(M, A:narrow(1, lo, hi - lo + 1)) then fail("%s gen %d: members %d..%d differ from the whole run's", name, gen, lo, hi) end
    whole:tell(f_of(A))
    split:tell(f_of(M))                          -- this rank's members only
    local c = flat_of(split:center())
    if not nyto.equal(c, flat_of(whole:center())) then fail("%s gen %d: center differs from the whole run's", name, gen) end
    local g = dist.all_gather(c)
    if not nyto.equal(g[1], g[2]) then fail("%s gen %d: centers differ across ranks", name, gen) end
  end
  return split
end

local es = check_strategy("OpenES", nyto.randn(20, {generator = nyto.Generator(5)}), 8)
check_strategy("SNES", nyto.randn(20, {generator = nyto.Generator(6)}):double(), 7)   -- blocks of 3 and 4
nyto.manual_seed(3)
check_strategy("PGPE", nyto.nn.Linear(4, 3), 6)                                     -- a particle center: Swarms

-- a bad fitness on one rank: that rank's own error, the other's names it; nothing changes on either
local before = es:center():clone()
local pop = es:ask()
local ok, e = pcall(es.tell, es, r == 1 and {1, 0 / 0, 2, 3} or f_of(pop))
if ok then fail("a NaN fitness on rank 1 was accepted") end
local want = r == 1 and "^nyto: bad argument #1 to 'tell' %(fitness 2 is NaN%)" or
  "^nyto: tell: rank 1's fitness was refused %(its error says why%); nothing changed"
if not tostring(e):find(want) then fail("got %s, want %s", tostring(e), want) end
if not nyto.equal(es:center(), before) then fail("a refused tell changed the center") end
ok, e = pcall(es.tell, es, {1, 2, 3})
if ok or not tostring(e):find("fitness has 3 values, expected 4", 1, true) then fail("short fitness: %s", tostring(e)) end
if not tostring(e):find("(this rank's members)", 1, true) then fail("short fitness: %s", tostring(e)) end
es:tell(f_of(pop)) -- the same population, answered properly, on both ranks

ok, e = pcall(nyto.strategy.CEM, nyto.zeros(3), {distributed = true})
if ok or not tostring(e):find("option 'distributed' is for the seeds-only strategies OpenES, SNES and PGPE, not CEM", 1, true) then
  fail("CEM distributed: %s", tostring(e))
end
ok, e = pcall(nyto.strategy.OpenES, nyto.zeros(3), {distributed = "yes"})
if ok or not tostring(e):find("option 'distributed' must be a boolean", 1, true) then fail("distributed = 'yes': %s", tostring(e)) end
