-- The reference CNN of ParticleModule.rst (28,938 parameters):
-- conv 1->16 5x5 pad 2, ReLU, maxpool 2, conv 16->32 5x5 pad 2, ReLU, maxpool 2,
-- linear 1568->10.  Shared by examples/hybrid_swarm.lua and bench/train.lua:
--   local CNN = dofile("examples/reference_cnn.lua")(nyto)
return function(nyto)
  local nn = nyto.nn
  local CNN = nyto.class("CNN")
  function CNN:init()
    self.conv1 = nn.Sequential(nn.Conv2d(1, 16, 5, 1, 2), nn.ReLU(), nn.MaxPool2d(2))
    self.conv2 = nn.Sequential(nn.Conv2d(16, 32, 5, 1, 2), nn.ReLU(), nn.MaxPool2d(2))
    self.output_layer = nn.Linear(32 * 7 * 7, 10)
  end
  function CNN:forward(x)
    x = self.conv2(self.conv1(x))
    return self.output_layer(x:view(x:size(1), -1))
  end
  return CNN
end
