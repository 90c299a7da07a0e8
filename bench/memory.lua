-- bench/memory: `for i = 1, N do net = 0.5*net + 10 end` on the MLP
-- 784-1024-1024-10, no collectgarbage() in the loop.  Prints time per
-- iteration, peak tensor bytes (in particles), peak RSS and minor page faults
-- per iteration.  bench/memory.sh runs it with the pool on and off, for
-- ParticleModules and plain modules, and the same loop in PyTorch.
--   lua5.4 bench/memory.lua [pm|plain] [iterations] [pool on|off]
package.path = "./lua/?.lua;./lua/?/init.lua;./bench/?.lua;" .. package.path
package.cpath = "./build/lib/?.so;" .. package.cpath
local nyto = require "nyto"
local models = require "models"
nyto.num_threads(1)
local mode, iters, pool = arg[1] or "pm", tonumber(arg[2]) or 10000, arg[3] or "on"
if pool == "off" then nyto.pool_limit(0) end

local function proc()
  local f = io.open("/proc/self/stat")
  local stat = f:read("a")
  f:close()
  local fields = {}
  for x in stat:gsub("^.*%) ", ""):gmatch("%S+") do fields[#fields + 1] = x end
  local minflt = tonumber(fields[8])
  f = io.open("/proc/self/status")
  local hwm = tonumber(f:read("a"):match("VmHWM:%s+(%d+)"))
  f:close()
  return minflt, hwm * 1024
end
local function wall()
  local f = io.open("/proc/uptime")
  local t = tonumber(f:read("a"):match("^(%S+)"))
  f:close()
  return t
end

local net = models.MLP()
local pbytes = models.nparams(net) * 4
if mode == "pm" then net = nyto.ParticleModule(net) end
collectgarbage()
nyto.reset_peak()
local flt0 = proc()
local c0, w0 = os.clock(), wall()
for _ = 1, iters do net = 0.5 * net + 10 end
local cpu, wt = os.clock() - c0, wall() - w0
local flt1, hwm = proc()
local s = nyto.stats()
print(("nyto %s pool=%s iterations=%d ms_per_iter=%.3f cpu_ms_per_iter=%.3f peak_particles=%.2f peak_rss_mib=%.1f faults_per_iter=%.1f collections=%d")
  :format(mode, pool, iters, wt / iters * 1000, cpu / iters * 1000, s.peak_tensor_bytes / pbytes, hwm / 2 ^ 20,
          (flt1 - flt0) / iters, s.gc_collections))
