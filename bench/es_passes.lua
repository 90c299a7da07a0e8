-- bench/es_passes: the pieces of a distribution strategy's generation on one [64, P] float32
-- arena (P = 1,863,690: bench/strategy's swarm), one thread, side by side in one run, median CPU
-- ms of 7: the draws alone (an arena of normals made into a 256 KB buffer, in L2: pure
-- compute), es_sample writing X alone and X + z (the ask), es_moments reading z (the tell), a
-- plain read of the arena (X:sum()) and the C pass (core.paffine in place: a read and a write).
-- It is what docs/design.md ("Strategy cost against its bandwidth floor") weighs keeping z
-- against drawing it again in the tell with.
--   build/nyto bench/es_passes.lua
package.path = "./lua/?.lua;./lua/?/init.lua;./bench/?.lua;" .. package.path
local nyto = require "nyto"
local core = nyto.core
nyto.num_threads(1)
local n, P = 64, 1863690
local g = nyto.Generator(3)
local B = 65536
local buf, segs = core.buffer("float32", B), core.segments {0, B}
local reps = math.floor(n * P / B)
local X, Z = nyto.empty({n, P}), nyto.empty({n, P})
local c, s = nyto.zeros(P), nyto.ones(P)
local w1, w2 = {}, {}
for i = 1, n do w1[i], w2[i] = i / n, 1 - i / n end
local o1, o2 = nyto.empty(P, {dtype = "float64"}), nyto.empty(P, {dtype = "float64"})
local A = core.buffer("float32", n * P)
local full = core.segments {0, n * P}
local function med(f)
  f()
  local ts = {}
  for r = 1, 7 do
    local t0 = os.clock()
    f()
    ts[r] = (os.clock() - t0) * 1e3
  end
  table.sort(ts)
  return ts[4]
end
print(("draws only (an arena of normals into L2) %.1f ms"):format(med(function()
  for _ = 1, reps do core.prandom_(buf, 0, segs, g) end
end)))
print(("es_sample X only %.1f ms"):format(med(function() core.es_sample(X, c, s, false, nil, g) end)))
print(("es_sample X + z %.1f ms"):format(med(function() core.es_sample(X, c, s, false, Z, g) end)))
print(("es_moments over z (w1, w2) %.1f ms"):format(med(function() core.es_moments(Z, w1, o1, w2, 0, o2) end)))
print(("X:sum() (a read) %.1f ms"):format(med(function() X:sum() end)))
print(("C pass (a read and a write) %.1f ms"):format(med(function() core.paffine(A, 0.5, 0.1, full, A) end)))
