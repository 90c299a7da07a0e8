-- Run by spec/distributed_spec.lua under torchrun with 2 ranks: data-parallel
-- SGD, each rank on half of the batch, gradients averaged by all_reduce_grads.
-- Checks that both ranks end bit-identical, and equal (1e-5) to one process
-- training on the whole batch; prints "PASS <rank>".
local dist, F = nyto.distributed, nyto.F
dist.init{timeout = 10}
local r = dist.rank()
nyto.manual_seed(7)
local X, Y = nyto.randn(8, 5), nyto.randn(8, 2)
local net = nyto.nn.Sequential(nyto.nn.Linear(5, 6), nyto.nn.Tanh(), nyto.nn.Linear(6, 2))
local ref = net:clone()
local function train(model, x, y, sync)
  local opt = nyto.optim.SGD(model:parameters(), {lr = 0.1})
  for _ = 1, 5 do
    opt:zero_grad()
    F.mse_loss(model(x), y):backward()
    if sync then dist.all_reduce_grads(model) end
    opt:step()
  end
end
train(net, X:narrow(1, 4 * r + 1, 4), Y:narrow(1, 4 * r + 1, 4), true)
train(ref, X, Y, false)
local all = dist.all_gather(net)
local a, b, mine, want = all[1]:parameters(), all[2]:parameters(), net:parameters(), ref:parameters()
for i = 1, #a do
  if not nyto.equal(a[i], b[i]) then error("parameter " .. i .. " differs between the ranks") end
  if not mine[i]:allclose(want[i], 0, 1e-5) then error("parameter " .. i .. " differs from the single-process run") end
  if nyto.equal(mine[i], (net * 0):parameters()[i]) then error("degenerate") end
end
dist.destroy()
print("PASS " .. r)
