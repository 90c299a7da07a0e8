-- nyto.strategy.dist: seeds-only distributed strategies (issue 16; Salimans et al.
-- 2017, section 2.1).  An internal module of nyto.strategy.base.  With
-- {distributed = true}, OpenES, SNES and PGPE split the population over the
-- ranks of nyto.distributed: rank r evaluates members lo..hi (contiguous
-- blocks, sizes differing by at most one).  Every rank draws the whole
-- generation's noise from the same generator stream (the layout of
-- lua/nyto/strategy/es_util.lua), so the only numbers exchanged per
-- generation are the fitness values: one all_gather of ceil(n/W) + 1 float64
-- per rank.  Every rank then runs the same update on the same numbers, and
-- ends the generation with a bit-identical center.  At construction rank 0's
-- center and generator state are broadcast (once), so the ranks start equal.
local nyto = require "nyto"
local B = require "nyto.strategy.base"

local D = {}

-- members of rank r of w, for n members: lo, hi (1-based, inclusive)
function D.block(n, r, w)
  return n * r // w + 1, n * (r + 1) // w
end

local SEEDS_ONLY = {OpenES = true, SNES = true, PGPE = true}

function D.setup(es, fname)
  if not SEEDS_ONLY[es.name] then
    B.argerr(2, fname, "option 'distributed' is for the seeds-only strategies OpenES, SNES and PGPE, not %s", es.name)
  end
  local dist = nyto.distributed
  if not dist.is_initialized() then
    B.argerr(2, fname, "option 'distributed' needs a process group (call nyto.distributed.init first)")
  end
  local r, w = dist.rank(), dist.world_size()
  if es.n < w then
    B.argerr(2, fname, "option 'distributed': popsize %d is smaller than the world size %d", es.n, w)
  end
  local lo, hi = D.block(es.n, r, w)
  es.dist = {rank = r, world = w, lo = lo, hi = hi, cap = -(-es.n // w)}
  -- rank 0's center and generator, once
  nyto.no_grad(function() dist.broadcast(es.state.mean, 0) end)
  local st = es.g:get_state()
  local t = nyto.tensor({st.seed, st.stream, st.offset}, {dtype = "int64"})
  dist.broadcast(t, 0)
  local v = t:totable()
  es.g:set_state {generator = st.generator, seed = v[1], stream = v[2], offset = v[3]}
end

-- this rank's members of the full population pop
function D.mine(es, pop)
  local idx = {}
  for i = es.dist.lo, es.dist.hi do idx[#idx + 1] = i end
  return B.select(es, pop, idx)
end

-- the n fitness values of every rank from this rank's m values (a table or a
-- 1-D tensor).  Each rank sends [status, f_lo..f_hi, NaN padding]; a rank whose
-- values are bad raises its own error and every other rank raises too.
function D.gather(es, f)
  local d = es.dist
  local m = d.hi - d.lo + 1
  local msg
  local ok, vals = pcall(B.fitness_of, es, f, m, true, "this rank's members") -- the sign is folded in later, once
  if not ok then msg = vals end
  local buf = {ok and 0 or 1}
  for j = 1, d.cap do buf[j + 1] = ok and vals[j] or 0 / 0 end
  for j = m + 1, d.cap do buf[j + 1] = 0 / 0 end
  local got = nyto.distributed.all_gather(nyto.tensor(buf, {dtype = "float64"}))
  if msg then error(msg, 0) end
  local full = {}
  for r = 1, d.world do
    local row = got[r]:totable()
    if row[1] ~= 0 then B.err("tell: rank %d's fitness was refused (its error says why); nothing changed", r - 1) end
    local lo, hi = D.block(es.n, r - 1, d.world)
    for i = lo, hi do full[i] = row[i - lo + 2] end
  end
  return full
end

return D
