-- The flagship demo (until the Fashion-MNIST hybrid swarm lands): tensors,
-- autograd, and particles.  Run: build/nyto examples/demo.lua
local nyto = nyto or require "nyto"
nyto.manual_seed(0)

local a = nyto.tensor{{1, 2}, {3, 4}}
print("a =", a)
print("a * a + 1 =", a * a + 1)
local w = nyto.Parameter(nyto.randn(2, 2))
local loss = (a:matmul(w) - 1):pow(2):mean()
loss:backward()
print("loss =", loss:item(), "grad =", w.grad)

-- a network is a particle: arithmetic on every parameter at once
local Net = nyto.class("Net")
function Net:init() self.w = nyto.Parameter(nyto.randn(3, 2)); self.b = nyto.Parameter(nyto.zeros(3)) end
function Net:forward(x) return x:matmul(self.w:t()) + self.b end
local net = Net()
local other = Net():clone_from(net) -- another species holding net's values
local avg = 0.5 * net + 0.5 * net:randn()
print(net)
print("0.5*net + 0.5*net:randn(), weight =", avg.w)
print("same species:", avg:same_species(net), "other species:", net:same_species(other))
local swarm = {}
for i = 1, 4 do swarm[i] = net:randn() end
local best = swarm[1]
for i = 2, 4 do swarm[i] = 0.9 * swarm[i] + 0.1 * best end
print("swarm step done; particles alive:", nyto.stats().particles)
