-- Momentum as particle operations:
--   net1, net0 = train(net1) + beta * (net1 - net0), net1
-- on a small problem (two interleaved spirals), printing accuracy.
--   build/nyto examples/momentum.lua [steps] [beta]
local nyto = nyto or require "nyto"
local nn, F = nyto.nn, nyto.F
local steps = tonumber(arg and arg[1]) or 300
local beta = tonumber(arg and arg[2]) or 0.9
nyto.manual_seed(1)

-- data: two spirals, 200 points each
local n = 200
local xs, ys = {}, {}
for c = 0, 1 do
  for i = 1, n do
    local r = i / n * 4
    local t = i / n * 3 * math.pi + c * math.pi
    xs[#xs + 1] = {r * math.cos(t) + (math.random() - 0.5) * 0.2, r * math.sin(t) + (math.random() - 0.5) * 0.2}
    ys[#ys + 1] = c + 1
  end
end
local X, Y = nyto.tensor(xs), nyto.tensor(ys, {dtype = "int64"})

local MLP = nyto.class("MLP")
function MLP:init()
  self.l1 = nn.Linear(2, 32)
  self.l2 = nn.Linear(32, 32)
  self.l3 = nn.Linear(32, 2)
end
function MLP:forward(x) return self.l3(self.l2(self.l1(x):tanh()):tanh()) end

local lr = 0.05
-- one plain gradient step, returned as a new particle (the old one is untouched)
local function train(net)
  net:zero_grad()
  local loss = F.cross_entropy(net(X), Y)
  loss:backward()
  local step = net:clone()
  local grads = {}
  for i, p in ipairs(net:parameters()) do grads[i] = p.grad end
  nyto.no_grad(function()
    for i, p in ipairs(step:parameters()) do p:sub_(grads[i] * lr) end
  end)
  return step, loss:item()
end

local function accuracy(net)
  return nyto.no_grad(function() return net(X):argmax(2):eq(Y):float():mean():item() end)
end

local net1 = MLP()
local net0 = net1:clone()
local plain = net1:clone()
for s = 1, steps do
  local stepped, loss = train(net1)
  net1, net0 = stepped + beta * (net1 - net0), net1
  plain = train(plain)
  if s % (steps // 5) == 0 then
    print(("step %4d  loss %.4f  accuracy with momentum %.1f%%  plain gradient descent %.1f%%"):format(
      s, loss, 100 * accuracy(net1), 100 * accuracy(plain)))
  end
end
