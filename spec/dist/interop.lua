-- Rank 0 in a group with a Python torch.distributed (gloo) rank (spec/dist/interop.py).
local dist = nyto.distributed
dist.init{timeout = 10, check_shapes = false}
assert(dist.rank() == 0 and dist.world_size() == 2)
local x = nyto.tensor{1, 2, 3}
dist.all_reduce(x)                           -- python adds {10, 20, 30}
assert(nyto.equal(x, nyto.tensor{11, 22, 33}), tostring(x))
local b = nyto.zeros(2, 2):double()
dist.broadcast(b, 1)                         -- python broadcasts [[1, 2], [3, 4]]
assert(nyto.equal(b, nyto.tensor({{1, 2}, {3, 4}}, {dtype = "float64"})), tostring(b))
dist.send(nyto.arange(5):long(), 1)
local g = dist.all_gather(nyto.tensor{7})
assert(#g == 2 and g[1]:item() == 7 and g[2]:item() == 8)
dist.barrier()
dist.destroy()
print("PASS nyto")
