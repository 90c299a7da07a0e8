-- The release trace of ParticleModule.rst, in nyto: a ParticleModule class
-- that counts creations and releases around ten `net = 0.5*net + 10`.
-- Run: build/nyto examples/particle_release.lua
local nyto = nyto or require "nyto"

local CNN = nyto.class("CNN")
function CNN:init()
  -- the reference CNN: conv 1->16 5x5, ReLU, maxpool 2, conv 16->32 5x5, ReLU, maxpool 2, linear 1568->10
  self.w1 = nyto.Parameter(nyto.randn(16, 1, 5, 5) * 0.1)
  self.b1 = nyto.Parameter(nyto.zeros(16))
  self.w2 = nyto.Parameter(nyto.randn(32, 16, 5, 5) * 0.05)
  self.b2 = nyto.Parameter(nyto.zeros(32))
  self.w3 = nyto.Parameter(nyto.randn(10, 32 * 7 * 7) * 0.02)
  self.b3 = nyto.Parameter(nyto.zeros(10))
end
function CNN:forward(x)
  x = nyto.max_pool2d(nyto.conv2d(x, self.w1, self.b1, 1, 2):relu(), 2)
  x = nyto.max_pool2d(nyto.conv2d(x, self.w2, self.b2, 1, 2):relu(), 2)
  return nyto.linear(x:flatten(2), self.w3, self.b3)
end

local counter, alive, trace = 0, 0, {}
local MyParticleModule = nyto.class("MyParticleModule", nyto.ParticleModule)
function MyParticleModule:init(root)
  counter = counter + 1
  alive = alive + 1
  self.module_id = counter
  trace[#trace + 1] = ("init cnn=%d"):format(counter)
end
function MyParticleModule:__gc()
  alive = alive - 1
  trace[#trace + 1] = ("delete cnn=%d"):format(self.module_id)
end

local alive_after = {}
local function particle_operation_loop10()
  local net = MyParticleModule(CNN())
  for i = 1, 10 do
    net = 0.5 * net + 10
    alive_after[i] = alive
  end
end

particle_operation_loop10()
collectgarbage()
collectgarbage()
if ... ~= "quiet" then
  for _, line in ipairs(trace) do print(line) end
  print(("alive after each iteration: %s"):format(table.concat(alive_after, " ")))
end
return {trace = trace, alive_after = alive_after, alive = alive}
