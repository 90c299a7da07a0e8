-- learning_curve.lua -- the learning curve of a training run, drawn with nyto.plot: an MLP
-- 784-128-10 trained with SGD on Fashion-MNIST, the mean training loss of each epoch and the
-- loss and accuracy on held-out test images after it.
--
--   build/nyto examples/learning_curve.lua [out.png] [train images] [epochs]
--   (defaults: learning_curve.png, 10000, 8; about 10 s on one core)
local nyto = nyto or require "nyto"
local nn, F = nyto.nn, nyto.F

local out = arg and arg[1] or "learning_curve.png"
local ntrain = tonumber(arg and arg[2]) or 10000
local epochs = tonumber(arg and arg[3]) or 8
nyto.manual_seed(7)

local train_x, train_y = nyto.data.fashion_mnist("train")
local test_x, test_y = nyto.data.fashion_mnist("test")
if not train_x then io.stderr:write(train_y, "\n") os.exit(1) end
if not test_x then io.stderr:write(test_y, "\n") os.exit(1) end
train_x, train_y = train_x:narrow(1, 1, ntrain), train_y:narrow(1, 1, ntrain)
test_x, test_y = test_x:narrow(1, 1, 2000), test_y:narrow(1, 1, 2000)
local norm = {0.2860, 0.3530}

local net = nn.Sequential(nn.Flatten(), nn.Linear(784, 128), nn.ReLU(), nn.Linear(128, 10))
local opt = nyto.optim.SGD(net:parameters(), {lr = 0.05, momentum = 0.9})
local loader = nyto.data.DataLoader(train_x, train_y, {batch_size = 64, shuffle = true, seed = 1, normalize = norm})
local test = nyto.data.DataLoader(test_x, test_y, {batch_size = 500, normalize = norm})

local train_loss, test_loss, test_acc = {}, {}, {}
for epoch = 1, epochs do
  local sum, batches = 0, 0
  for x, y in loader:iter() do
    opt:zero_grad()
    local loss = F.cross_entropy(net(x), y)
    loss:backward()
    opt:step()
    sum, batches = sum + loss:item(), batches + 1
  end
  train_loss[epoch] = sum / batches
  local tl, correct = 0, 0
  nyto.no_grad(function()
    for x, y in test:iter() do
      local logits = net(x)
      tl = tl + F.cross_entropy(logits, y, {reduction = "sum"}):item()
      correct = correct + logits:argmax(2):eq(y):sum():item()
    end
  end)
  test_loss[epoch], test_acc[epoch] = tl / test_x:size(1), correct / test_x:size(1)
  print(("epoch %d  train loss %.4f  test loss %.4f  test accuracy %.2f%%"):format(epoch, train_loss[epoch],
    test_loss[epoch], 100 * test_acc[epoch]))
end

local ok, msg = nyto.plot {path = out, title = ("MLP on Fashion-MNIST (%d images), SGD"):format(ntrain),
                           xlabel = "epoch", ylabel = "cross-entropy loss",
                           series = {{name = "train (epoch mean)", y = train_loss}, {name = "test", y = test_loss}}}
print(ok and ("learning curve: " .. out) or ("no plot: " .. msg))
