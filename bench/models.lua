-- The two benchmark models of bench/particle_ops and bench/memory, built from
-- raw parameters so the benchmarks do not depend on nyto.nn.
local nyto = require "nyto"
local M = {}

local CNN = nyto.class("BenchCNN")
function CNN:init()
  self.conv1 = nyto.Parameter(nyto.randn(16, 1, 5, 5) * 0.1)
  self.conv1_b = nyto.Parameter(nyto.zeros(16))
  self.conv2 = nyto.Parameter(nyto.randn(32, 16, 5, 5) * 0.05)
  self.conv2_b = nyto.Parameter(nyto.zeros(32))
  self.out = nyto.Parameter(nyto.randn(10, 1568) * 0.02)
  self.out_b = nyto.Parameter(nyto.zeros(10))
end
function CNN:forward(x)
  x = nyto.max_pool2d(nyto.conv2d(x, self.conv1, self.conv1_b, 1, 2):relu(), 2)
  x = nyto.max_pool2d(nyto.conv2d(x, self.conv2, self.conv2_b, 1, 2):relu(), 2)
  return nyto.linear(x:flatten(2), self.out, self.out_b)
end
-- the module tree of the reference CNN (conv1 = Sequential(conv, relu, pool) ...),
-- so that a particle operation builds as many modules as the real one
local Leaf = nyto.class("Leaf")
function Leaf:forward(x) return x end
local Conv = nyto.class("Conv")
function Conv:init(i, o) self.weight = nyto.Parameter(nyto.randn(o, i, 5, 5) * 0.1); self.bias = nyto.Parameter(nyto.zeros(o)) end
function Conv:forward(x) return nyto.conv2d(x, self.weight, self.bias, 1, 2) end
local Seq = nyto.class("Seq")
function Seq:init(i, o) self["1"] = Conv(i, o); self["2"] = Leaf(); self["3"] = Leaf() end
function Seq:forward(x) return nyto.max_pool2d(self["1"](x):relu(), 2) end
local Lin = nyto.class("Lin")
function Lin:init(i, o) self.weight = nyto.Parameter(nyto.randn(o, i) * 0.02); self.bias = nyto.Parameter(nyto.zeros(o)) end
function Lin:forward(x) return nyto.linear(x, self.weight, self.bias) end
local RefCNN = nyto.class("RefCNN")
function RefCNN:init() self.conv1 = Seq(1, 16); self.conv2 = Seq(16, 32); self.output_layer = Lin(1568, 10) end
function RefCNN:forward(x) return self.output_layer(self.conv2(self.conv1(x)):flatten(2)) end
M.CNN = RefCNN

local MLP = nyto.class("BenchMLP")
function MLP:init() self.l1 = Lin(784, 1024); self.l2 = Lin(1024, 1024); self.l3 = Lin(1024, 10) end
function MLP:forward(x) return self.l3(self.l2(self.l1(x):relu()):relu()) end
M.MLP = MLP

function M.nparams(net)
  local n = 0
  for _, p in ipairs(net:parameters()) do n = n + p:numel() end
  return n
end

-- the median of a list of numbers (the mean of the middle two for an even count); t is left as it is
function M.median(t)
  local s = {}
  for i, v in ipairs(t) do s[i] = v end
  table.sort(s)
  local k = #s
  return k % 2 == 1 and s[(k + 1) // 2] or 0.5 * (s[k // 2] + s[k // 2 + 1])
end

-- n members of net's species (net plus small noise) and their parameters stacked by pid, as
-- nyto.batched_forward takes them (Parameters when rg: leaves for autograd); the specs have the
-- same helper (spec/helpers.lua), which needs busted's luassert
function M.population(net, n, rg)
  local members, stacks = {}, {}
  for i = 1, n do members[i] = net + net:randn() * 0.05 end
  for pid in pairs(net:kernel():params()) do
    local l = {}
    for i = 1, n do l[i] = members[i]:kernel():params()[pid] end
    local st = nyto.stack(l, 1):detach()
    stacks[pid] = rg and nyto.Parameter(st) or st
  end
  return members, stacks
end

return M
