-- bench/es_sample_dtypes: what sep-CMA-ES's float64 ask costs over the float32 one.  core.es_sample
-- on bench/strategy's [64, 1.86M] float32 arena writing X and z, with c and s float32 or float64,
-- the per-row norms sum_j z_kj^2 or not; one thread, the four interleaved, median CPU ms of 9.
-- docs/design.md ("Strategy cost against its bandwidth floor", the float64 ask).
--   build/nyto bench/es_sample_dtypes.lua
package.path = "./lua/?.lua;./lua/?/init.lua;./bench/?.lua;" .. package.path
local nyto = require "nyto"
local core = nyto.core
nyto.num_threads(1)
local n, P = 64, 1863690
local g = nyto.Generator(3)
local X, Z = nyto.empty({n, P}), nyto.empty({n, P})
local c32, s32 = nyto.zeros(P), nyto.ones(P)
local c64, s64 = nyto.zeros(P, {dtype="float64"}), nyto.ones(P, {dtype="float64"})
local norms = nyto.zeros(n, {dtype="float64"})
local cases = {
  {"f32 X+z", function() core.es_sample(X, c32, s32, false, Z, g) end},
  {"f32 X+z+norms", function() core.es_sample(X, c32, s32, false, Z, g, nil, norms) end},
  {"f64 X+z", function() core.es_sample(X, c64, s64, false, Z, g) end},
  {"f64 X+z+norms", function() core.es_sample(X, c64, s64, false, Z, g, nil, norms) end},
}
local ts = {}
for _, cs in ipairs(cases) do cs[2](); ts[cs[1]] = {} end
for r = 1, 9 do
  for _, cs in ipairs(cases) do
    local t0 = os.clock(); cs[2](); table.insert(ts[cs[1]], (os.clock() - t0) * 1e3)
  end
end
for _, cs in ipairs(cases) do table.sort(ts[cs[1]]); print(("%-16s median %.1f ms (min %.1f)"):format(cs[1], ts[cs[1]][5], ts[cs[1]][1])) end
