-- bench/train: one epoch of the reference CNN on Fashion-MNIST (batch 64,
-- SGD lr 0.05 momentum 0.9) in nyto.  bench/train.sh runs the same loop in
-- PyTorch from Python on the same libtorch and thread count, and prints the ratio.
--   lua5.4 bench/train.lua [threads] [batches]
package.path = "./lua/?.lua;./lua/?/init.lua;./bench/?.lua;" .. package.path
package.cpath = "./build/lib/?.so;" .. package.cpath
local nyto = require "nyto"
local F = nyto.F
local threads = tonumber(arg[1]) or 2
local limit = tonumber(arg[2]) or math.huge
nyto.num_threads(threads)
nyto.manual_seed(0)

local CNN = dofile("examples/reference_cnn.lua")(nyto) -- run from the repository root

local X, Y = nyto.data.fashion_mnist("train")
local net = CNN()
local opt = nyto.optim.SGD(net:parameters(), {lr = 0.05, momentum = 0.9})
local loader = nyto.data.DataLoader(X, Y, {batch_size = 64, shuffle = true, seed = 1})
local function wall()
  local p = io.popen("date +%s.%N")
  local t = tonumber(p:read("l"))
  p:close()
  return t
end
local t0 = wall()
local n, last = 0, 0
for x, y in loader:iter() do
  opt:zero_grad()
  local loss = F.cross_entropy(net(x), y)
  loss:backward()
  opt:step()
  n = n + 1
  if n >= limit then last = loss:item() break end
  last = loss
end
if type(last) ~= "number" then last = last:item() end
local dt = wall() - t0
print(("nyto train batches=%d seconds=%.3f ms_per_batch=%.3f last_loss=%.4f threads=%d"):format(n, dt, dt / n * 1000, last, threads))
