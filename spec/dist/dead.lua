-- Rank 1 dies after init; rank 0's next collective raises a nyto: error within the timeout.
local dist = nyto.distributed
dist.init{timeout = 3}
if dist.rank() == 1 then os.exit(3) end
local t0 = os.time()
local ok, e = pcall(dist.all_reduce, nyto.ones(4))
assert(not ok, "all_reduce succeeded with a dead peer")
print("ERROR " .. tostring(e):gsub("\n", " "))
print("SECONDS " .. os.time() - t0)
