-- bench/tensor_overhead: the per-operation overhead of a nyto tensor op.
-- 10^5 adds `c = a + b` of two 4-element float32 tensors, one thread, timed 5
-- times; prints the median in ns per add.  bench/tensor_overhead.sh runs this
-- and bench/tensor_overhead.py (the same loop in PyTorch) and prints the ratio.
-- Time is process CPU time (os.clock; Python's time.process_time), which with
-- one thread is the loop's own time and is not inflated by other processes.
-- Run from the repository root: lua5.4 bench/tensor_overhead.lua
package.path = "./lua/?.lua;./lua/?/init.lua;" .. package.path
package.cpath = "./build/lib/?.so;" .. package.cpath
local nyto = require "nyto"
nyto.num_threads(1)
local clock = os.clock

local N, REPS = 100000, 5

local function median(xs)
  table.sort(xs)
  return xs[(#xs + 1) // 2]
end

local a, b = nyto.rand(4), nyto.rand(4)

-- the measured loop: results are left to the collector, as a script would
local function plain(n)
  local c
  for _ = 1, n do c = a + b end
  return c
end

-- the same, each result freed at once by <close> (no garbage for the collector)
local function closed(n)
  for _ = 1, n do local c <close> = a + b end
end

local function time(fn)
  fn(N // 10) -- warm up
  local ts = {}
  for r = 1, REPS do
    collectgarbage()
    local t0 = clock()
    fn(N)
    ts[r] = (clock() - t0) / N * 1e9
  end
  return median(ts), ts
end

-- check the loop computes what it should before timing it
assert(nyto.equal(plain(3), a + b))

local m, ts = time(plain)
local mc = time(closed)
local function list(xs)
  local s = {}
  for i, v in ipairs(xs) do s[i] = ("%.0f"):format(v) end
  return table.concat(s, " ")
end
print(("nyto    a + b, 4 floats: median %.0f ns/op  (runs: %s ns)"):format(m, list(ts)))
print(("nyto    a + b, result freed by <close>: median %.0f ns/op"):format(mc))
print(("NYTO_NS %.1f"):format(m))
