-- Custom operators on products, with per-parameter configs.
-- Marks weights and biases with a user field, randomises only the weights and
-- zeroes the biases with one unary operator, then applies a binary operator (a - b).
--   build/nyto examples/custom_operator.lua
local nyto = nyto or require "nyto"
nyto.manual_seed(7)

local Net = nyto.class("Net")
function Net:init()
  self.hidden = nyto.nn.Linear(3, 4)
  self.out = nyto.nn.Linear(4, 2)
end
function Net:forward(x) return self.out(self.hidden(x):relu()) end

local net = Net()
-- a user field in each parameter's config: "weight" or "bias"
for name in net:named_parameters() do
  net:set_param_config{name = name, role = name:match("bias$") and "bias" or "weight"}
end

local p = net:product()
local q = p:unary_operator(function(param, config)
  if config.role == "weight" then return nyto.randn_like(param) end
  return nyto.zeros_like(param)
end)
local d = q:binary_operator(p, function(a, b, config) return a - b end)

local function show(title, particle)
  print(title)
  for name, t in particle:named_parameters() do print(("  %-14s %s"):format(name, tostring(t):gsub("\n", "\n" .. string.rep(" ", 17)))) end
end
show("net", net)
show("q = randomised weights, zeroed biases", q:module())
show("q - p (binary operator)", d:module())
