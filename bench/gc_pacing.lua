-- bench/gc_pacing: the stacked-weights forward of 256 small MLPs (8-32-4 on a
-- batch of 64, parameters as [256, ...] tensors; nyto.bmm + add + relu), one
-- thread.  Prints time per forward (median of rounds) and the full and young
-- collections the pacing ran per forward in the steady state (nyto.stats()),
-- with the peak tensor bytes against the live set.
--   lua5.4 bench/gc_pacing.lua [build_lib_dir] [forwards] [rounds]
local lib = arg[1] or "./build/lib"
package.path = "./lua/?.lua;./lua/?/init.lua;./bench/?.lua;" .. package.path
package.cpath = lib .. "/?.so;" .. package.cpath
local nyto = require "nyto"
nyto.num_threads(1)
local n, B, I, H, O = 256, 64, 8, 32, 4
local iters, reps = tonumber(arg[2]) or 500, tonumber(arg[3]) or 7
nyto.manual_seed(0)
local w1, b1 = nyto.randn(n, I, H), nyto.randn(n, 1, H)
local w2, b2 = nyto.randn(n, H, O), nyto.randn(n, 1, O)
local x = nyto.randn(n, B, I)
local function forward()
  local h = (nyto.bmm(x, w1) + b1):relu()
  return nyto.bmm(h, w2) + b2
end
for _ = 1, 200 do forward() end -- warm up: the steady state
local live = nyto.stats().tensor_bytes
nyto.reset_peak()
local ts, full, young = {}, 0, 0
for r = 1, reps do
  local s0 = nyto.stats()
  local t0 = os.clock()
  for _ = 1, iters do forward() end
  ts[r] = (os.clock() - t0) / iters
  local s1 = nyto.stats()
  full = full + s1.gc_collections - s0.gc_collections
  young = young + s1.gc_young_collections - s0.gc_young_collections
end
table.sort(ts)
local s = nyto.stats()
print(("%s: %.1f us per forward, %.3f full and %.3f young collections per forward, peak/live tensor bytes %.2f")
  :format(lib, ts[(reps + 1) // 2] * 1e6, full / (iters * reps), young / (iters * reps),
    s.peak_tensor_bytes / live))
