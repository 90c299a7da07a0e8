-- bench/particle_loop: the loop bench/lua_ab_callgrind.sh counts: `net = 0.5*net + 10`
-- on the reference CNN (a ParticleModule of it, or a product of it), run inside one
-- coroutine so that callgrind counts that loop alone (--toggle-collect=lua_resume); it prints
-- the loop's time per iteration too.
--   lua5.4 bench/particle_loop.lua [iterations [particle|product|pm [generational|incremental]]]
package.path = "./lua/?.lua;./lua/?/init.lua;./bench/?.lua;" .. package.path
package.cpath = "./build/lib/?.so;" .. package.cpath
local nyto = require "nyto"
local models = require "models"
nyto.num_threads(1)
local n = tonumber(arg[1]) or 3000
local which = arg[2] or "particle"
if arg[3] then nyto.set_gc_mode(arg[3]) end
local net = models.CNN()
if which == "pm" then net = nyto.ParticleModule(net) elseif which == "product" then net = net:product() end
for _ = 1, 200 do net = 0.5 * net + 10 end -- warm up: the kernels and the pool
collectgarbage()
local t0 = os.clock()
coroutine.wrap(function() for _ = 1, n do net = 0.5 * net + 10 end end)()
-- the loop's time too (meaningless under callgrind): compare two trees side by side by
-- running them in turn, as bench/lua_ab.sh does
print(("%s iteration_us=%.3f"):format(which, (os.clock() - t0) / n * 1e6))
