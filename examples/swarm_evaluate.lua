-- examples/swarm_evaluate.lua: evaluate a population of networks with one
-- batched forward (nyto.batched_forward), against the per-member loop.
-- The population here is n particles whose parameters are stacked with
-- nyto.stack (a nyto.Swarm's param_stacks() gives the same tables, as views
-- of its arena).  Run: build/nyto examples/swarm_evaluate.lua [n]
local nyto = require "nyto"
local nn, F = nyto.nn, nyto.F
nyto.manual_seed(0)
local n = tonumber(arg and arg[1]) or 64

local Net = nyto.class("Net")
function Net:init() self.fc1 = nn.Linear(4, 16); self.fc2 = nn.Linear(16, 3) end
function Net:forward(x) return self.fc2(self.fc1(x):relu()) end

-- a toy task: three classes by the sign pattern of two coordinates
local x = nyto.randn(512, 4)
local labels = (x:select(2, 1):gt(0):long() + x:select(2, 2):gt(0):long() + 1)

local template = Net()
local members = {}
for i = 1, n do members[i] = template + template:randn() * 0.5 end

-- stacks: parameter id -> [n, <shape>] (row i = member i's parameter)
local stacks = {}
for pid in pairs(template:kernel():params()) do
  local rows = {}
  for i = 1, n do rows[i] = members[i]:kernel():params()[pid] end
  stacks[pid] = nyto.stack(rows, 1):detach()
end

local logits = nyto.no_grad(nyto.batched_forward, template, stacks, x) -- [n, 512, 3]
local acc = logits:argmax(3):eq(labels:unsqueeze(1)):float():mean(2) -- [n]
local maxdiff = 0
for i = 1, n do
  local y = nyto.no_grad(function() return members[i](x) end)
  maxdiff = math.max(maxdiff, (y - logits[i]):abs():max():item())
end

-- timing: 10 forwards of the whole population each way (CPU time)
local function time10(f)
  local t0 = os.clock()
  for _ = 1, 10 do nyto.no_grad(f) end
  return (os.clock() - t0) / 10
end
local t_batched = time10(function() return nyto.batched_forward(template, stacks, x) end)
local t_loop = time10(function() for i = 1, n do members[i](x) end end)

local best, bi = acc:max(1)
print(("%d members: best accuracy %.3f (member %d), mean %.3f"):format(n, best:item(), bi:item(), acc:mean():item()))
print(("batched forward %.2f ms, per-member loop %.2f ms; max |difference| %.2g")
  :format(t_batched * 1e3, t_loop * 1e3, maxdiff))

-- gradients: one backward through the batched output trains every member
for pid, s in pairs(stacks) do stacks[pid] = nyto.Parameter(s) end
local out = nyto.batched_forward(template, stacks, x)
local all_labels = {}
for i = 1, n do all_labels[i] = labels end
local loss = F.cross_entropy(out:reshape(n * 512, 3), nyto.cat(all_labels, 1))
loss:backward()
print(("one backward filled every member's gradients: stack 1 grad shape [%s]")
  :format(table.concat(stacks[1].grad:size(), ", ")))
