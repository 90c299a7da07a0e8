-- Products, custom operators and parameter configs: the "Products" and
-- "Parameter configs" sections of API.md.  Every value is checked against
-- plain tensor arithmetic on detached copies of the operands.
local nyto = require "nyto"

-- small test classes ------------------------------------------------------------
local Lin = require("helpers").Lin("PLin")

-- two dtypes, so every operation runs over two flat buffers
local Net = nyto.class("PNet")
function Net:init()
  self.scale = nyto.Parameter(nyto.rand(2):double() + 0.5)
  self.fc1 = Lin(3, 4)
  self.fc2 = Lin(4, 2)
  self:register_buffer("running", nyto.zeros(2))
  self.label = "plain"
end
function Net:forward(x) return self.fc2(self.fc1(x)) end

local PNAMES = {"scale", "fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias"}

-- helpers ------------------------------------------------------------------------
local H = require "helpers"
local values, map = H.values, H.map
local function pvalues(p) return values(p:module()) end
local function assert_close(got, expected, what) H.assert_values(got, expected, PNAMES, what) end
local function assert_equal_values(got, expected, what) H.assert_values(got, expected, PNAMES, what, true) end

local raises = require("helpers").raises

-- a snapshot of every config of a particle, by dotted parameter name
local function configs(net)
  local out = {}
  for name, p in net:named_parameters() do
    local c = {}
    for k, v in pairs(net:param_config(p)) do c[k] = v end
    out[name] = c
  end
  return out
end

-- a particle with positive values (for ^)
local function positive_net()
  local net = Net()
  return net:rand() + 0.5
end

describe("products", function()
  it("net:product(), p:module() and p:particle()", function()
    nyto.manual_seed(11)
    local net = Net()
    local p = net:product()
    assert.are.equal("Product", nyto.type(p))
    assert.are.equal(nyto.Product, getmetatable(p))
    local m = p:module()
    assert.are.equal("Module", nyto.type(m))
    assert.are.equal(Net, m:class())
    assert.are.equal(Lin, m.fc1:class())
    assert.is_true(m:same_species(net))
    assert.is_true(m:is_root())
    assert.are.same(PNAMES, (function()
      local n = {} for name in m:named_parameters() do n[#n + 1] = name end return n end)())
    assert_equal_values(values(m), values(net))
    assert.are.equal("plain", m.label)
    assert.are.same({0, 0}, m.running:totable())
    local m2 = p:particle()
    assert_equal_values(values(m2), values(net))
    assert.is_false(rawequal(m, m2))
    -- every module() is a new particle with storage of its own
    m.fc1.weight:detach():add_(1)
    assert_equal_values(values(m2), values(net))
    assert.is_false(m:parameters()[2]:is_same(m2:parameters()[2]))
    -- requires_grad is kept
    for _, t in ipairs(m:parameters()) do assert.is_true(t:requires_grad()) end
    -- the product is independent of the particle it was made from
    local before = values(net)
    net.fc2.bias:detach():fill_(7)
    assert_equal_values(pvalues(p), before)
    assert.are.equal("nyto.Product(5 parameters)", tostring(p))
  end)

  it("a submodule's product is the whole particle's; its module() is the module of that id", function()
    local net = Net()
    local v = values(net)
    local p = net.fc1:product()
    assert.are.equal("nyto.Product(5 parameters)", tostring(p))
    assert_equal_values(values(p:module():kernel():modules()[1]), v)
    local m = (p * 2):module()
    assert.are.equal(net.fc1:module_id(), m:module_id())
    assert.is_false(m:is_root())
    assert.is_true(m:same_species(net))
    -- the whole new particle holds the values
    local root = m:kernel():modules()[1]
    assert_close(values(root), map(v, function(t) return t * 2 end))
    assert.are.equal(m, root.fc1)
    assert_equal_values(values(net), v)
  end)

  it("net:product_(p) copies the values into net; its parameters keep their identity", function()
    nyto.manual_seed(12)
    local net = Net()
    local held = net:parameters()
    local src = net:randn()
    local p = src:product()
    assert.is_true(rawequal(net, net:product_(p)))
    assert_equal_values(values(net), values(src))
    local now = net:parameters()
    for i = 1, #held do
      assert.is_true(rawequal(held[i], now[i]), PNAMES[i])
      assert.is_true(nyto.equal(held[i]:detach(), values(src)[i]))
    end
    assert.is_true(rawequal(held[2], net.fc1.weight))
    -- the product is unchanged and independent of net
    net.fc1.weight:detach():fill_(0)
    assert_equal_values(pvalues(p), values(src))
    -- bad operands
    raises("^nyto: bad argument #1 to 'product_' %(Product expected", function() net:product_(src) end)
    raises("^nyto: bad argument #1 to 'product_' %(Product expected", function() net:product_(3) end)
    raises("^nyto: .*different species", function() net:product_(Net():product()) end)
    -- a submodule copies the product into its whole particle, and returns itself
    assert.is_true(rawequal(net.fc1, net.fc1:product_(p * 0)))
    for _, t in ipairs(values(net)) do assert.are.equal(0, t:abs():sum():item()) end
  end)

  describe("arithmetic", function()
    local net, p, v, q, w
    before_each(function()
      nyto.manual_seed(13)
      net = positive_net()
      p = net:product()
      v = values(net)
      q = (net:rand() + 0.5):product()
      w = pvalues(q)
    end)

    it("p + n, n + p, p - n, n - p", function()
      assert_close(pvalues(p + 2.5), map(v, function(t) return t + 2.5 end), "p+n")
      assert_close(pvalues(2.5 + p), map(v, function(t) return 2.5 + t end), "n+p")
      assert_close(pvalues(p - 3), map(v, function(t) return t - 3 end), "p-n")
      assert_close(pvalues(3 - p), map(v, function(t) return 3 - t end), "n-p")
    end)

    it("p * n, n * p, p / n, n / p", function()
      assert_close(pvalues(p * 1.5), map(v, function(t) return t * 1.5 end), "p*n")
      assert_close(pvalues(-2 * p), map(v, function(t) return t * -2 end), "n*p")
      assert_close(pvalues(p / 4), map(v, function(t) return t / 4 end), "p/n")
      assert_close(pvalues(4 / p), map(v, function(t) return 4 / t end), "n/p")
    end)

    it("p ^ n, n ^ p, -p", function()
      assert_close(pvalues(p ^ 2), map(v, function(t) return t ^ 2 end), "p^n")
      assert_close(pvalues(p ^ 0.5), map(v, function(t) return t:sqrt() end), "p^0.5")
      assert_close(pvalues(2 ^ p), map(v, function(t) return nyto.full(t:size(), 2, {dtype = t:dtype()}) ^ t end), "n^p")
      assert_close(pvalues(-p), map(v, function(t) return -t end), "-p")
      assert_close(pvalues(p:neg()), map(v, function(t) return -t end), "p:neg()")
    end)

    it("p + q, p - q, p * q, p / q, p ^ q and the named forms", function()
      assert_close(pvalues(p + q), map(v, function(t, i) return t + w[i] end), "p+q")
      assert_close(pvalues(p - q), map(v, function(t, i) return t - w[i] end), "p-q")
      assert_close(pvalues(p * q), map(v, function(t, i) return t * w[i] end), "p*q")
      assert_close(pvalues(p / q), map(v, function(t, i) return t / w[i] end), "p/q")
      assert_close(pvalues(p ^ q), map(v, function(t, i) return t ^ w[i] end), "p^q")
      assert_close(pvalues(p:add(q)), map(v, function(t, i) return t + w[i] end), "p:add(q)")
      assert_close(pvalues(p:mul(3)), map(v, function(t) return t * 3 end), "p:mul(3)")
      -- a chain mixing both
      assert_close(pvalues((p * 2 - q) / (q + 1)),
        map(v, function(t, i) return (t * 2 - w[i]) / (w[i] + 1) end), "chain")
    end)

    it("leaves the operands unchanged and returns new products", function()
      local r = p + q
      assert.are.equal("Product", nyto.type(r))
      assert.is_false(rawequal(r, p))
      assert_equal_values(pvalues(p), v)
      assert_equal_values(pvalues(q), w)
      assert_equal_values(values(net), v)
    end)

    it("in place forms change the receiver and return it", function()
      local r = p:clone()
      assert.is_true(rawequal(r, r:add_(2)))
      assert_close(pvalues(r), map(v, function(t) return t + 2 end), "add_")
      assert.is_true(rawequal(r, r:sub_(q)))
      assert_close(pvalues(r), map(v, function(t, i) return t + 2 - w[i] end), "sub_")
      assert.is_true(rawequal(r, r:mul_(3)))
      assert.is_true(rawequal(r, r:div_(q)))
      assert_close(pvalues(r), map(v, function(t, i) return (t + 2 - w[i]) * 3 / w[i] end), "mul_ div_")
      local s = p:clone()
      assert.is_true(rawequal(s, s:pow_(2)))
      assert_close(pvalues(s), map(v, function(t) return t ^ 2 end), "pow_")
      assert.is_true(rawequal(s, s:pow_(q)))
      assert_close(pvalues(s), map(v, function(t, i) return (t ^ 2) ^ w[i] end), "pow_ q")
      -- p itself was not touched
      assert_equal_values(pvalues(p), v)
      raises("^nyto: bad argument", function() s:add_("1") end)
      raises("^nyto: bad argument", function() s:add_(net) end)
    end)

    it("clone is independent; randn and rand draw fresh values", function()
      local c = p:clone()
      assert.are.equal("Product", nyto.type(c))
      assert_equal_values(pvalues(c), v)
      c:mul_(0)
      assert_equal_values(pvalues(p), v)
      nyto.manual_seed(5)
      local r = p:randn()
      local rv = pvalues(r)
      assert_equal_values(pvalues(p), v)
      for i = 1, #v do assert.is_false(nyto.equal(rv[i], v[i]), PNAMES[i]) end
      nyto.manual_seed(5)
      assert_equal_values(pvalues(p:randn()), rv, "seeded randn")
      local u = pvalues(p:rand())
      for i = 1, #u do
        assert.is_true(u[i]:ge(0):all():item() and u[i]:lt(1):all():item(), PNAMES[i])
        assert.is_false(nyto.equal(u[i], v[i]), PNAMES[i])
      end
    end)
  end)

  it("randn and rand leave non-operational parameters untouched", function()
    local net = Net()
    net:set_param_config{name = "fc2", operational = false}
    local p = net:product()
    local v = values(net)
    for _, r in ipairs {p:randn(), p:rand()} do
      local rv = pvalues(r)
      assert.is_true(nyto.equal(rv[4], v[4]))
      assert.is_true(nyto.equal(rv[5], v[5]))
      for i = 1, 3 do assert.is_false(nyto.equal(rv[i], v[i]), PNAMES[i]) end
    end
  end)

  it("a chain of product operations builds no module", function()
    local net = Net()
    local p = net:product()
    collectgarbage(); collectgarbage()
    local before = nyto.stats().particles
    local q = 2 * p + 5
    q = (q - p) / 3
    q:mul_(2)
    collectgarbage(); collectgarbage()
    assert.are.equal(before, nyto.stats().particles)
    local m = q:module()
    assert.are.equal(before + 1, nyto.stats().particles)
    assert.are.equal("Module", nyto.type(m))
  end)

  it("mixing species, modules, strings and products raises", function()
    local net = Net()
    local p = net:product()
    local other = Net():product()
    for _, f in ipairs {
      function() return p + other end, function() return other * p end,
      function() return p:add_(other) end, function() return p:binary_operator(other, function(a) return a end) end,
    } do raises("^nyto: .*different species", f) end
    raises("^nyto: bad argument #2 to '__add'", function() return p + net end)
    raises("^nyto: bad argument #2 to '__add'", function() return p + "10" end)
    raises("^nyto: bad argument #1 to '__mul'", function() return "2" * p end)
    raises("^nyto: bad argument", function() return p + {} end)
    raises("^nyto: bad argument", function() return p + true end)
    raises("^nyto: bad argument", function() return net + p end)
  end)

  it("a product is not a valid operand of a particle's in-place operations", function()
    local net = Net()
    local p = net:product()
    local v = values(net)
    for _, op in ipairs {"add_", "sub_", "mul_", "div_", "pow_"} do
      raises("^nyto: bad argument #1 to '" .. op .. "'", function() net[op](net, p) end)
    end
    assert_equal_values(values(net), v)
  end)

  it("a product made before a structural change of its species raises when used", function()
    local net = Net()
    local p = net:product()
    local sibling = net:clone()
    local q = sibling:product()
    net.extra = nyto.Parameter(nyto.ones(3))
    for _, f in ipairs {
      function() return p + 1 end, function() return p:module() end, function() return p:clone() end,
      function() return p:randn() end, function() return -p end, function() return p:add_(1) end,
      function() return p:unary_operator(function(t) return t end) end,
      function() return q * 2 end, function() return net:product_(p) end,
      function() return sibling:product_(q) end,
    } do raises("^nyto: .*older version of its species", f) end
    -- a new product works, and carries the new parameter
    local m = (net:product() + 1):module()
    assert.are.same({2, 2, 2}, m.extra:detach():totable())
    local s = (sibling:product() * 2):module()
    assert.are.same({2, 2, 2}, s.extra:detach():totable())
  end)

  it("products of a freed particle cannot be made", function()
    local net = Net()
    net:free()
    raises("^nyto: attempt to use a freed Module", function() return net:product() end)
    raises("^nyto: attempt to use a freed Module", function() return net:product_(Net():product()) end)
  end)

  it("p:free() and `local p <close>` release a product; later use raises", function()
    local net = Net()
    collectgarbage(); collectgarbage()
    local bytes = nyto.stats().tensor_bytes
    local held
    do
      local p <close> = net:product()
      held = p
      -- it shares net's storage until one of them is written
      assert.are.equal(bytes, nyto.stats().tensor_bytes)
      p:add_(1)
      assert.is_true(nyto.stats().tensor_bytes > bytes)
    end
    assert.are.equal(bytes, nyto.stats().tensor_bytes)
    local msg = "^nyto: attempt to use a freed Product"
    for _, f in ipairs {
      function() return held + 1 end, function() return 2 * held end, function() return held:module() end,
      function() return held:clone() end, function() return held:add_(1) end,
      function() return held:unary_operator(function(t) return t end) end, function() return net:product_(held) end,
    } do raises(msg, f) end
    held:free() -- once
    local q = net:product()
    q:free()
    raises(msg, function() return q:randn() end)
  end)

  it("a product of a freed particle keeps its values and builds its particle (it does not pin the source)", function()
    local net = Net()
    local v = values(net)
    local p = net:product() + 1
    net:free()
    local q = p * 2 -- the values are the product's own
    local m = q:module()
    local got = values(m)
    for name, t in pairs(v) do
      assert.is_true(got[name]:allclose((t + 1) * 2), name)
    end
  end)

  it("product_ into a particle made by operations; requires_grad is kept", function()
    nyto.manual_seed(14)
    local net = Net()
    net.fc1.bias:requires_grad_(false)
    local lazy = net * 3
    local src = net:randn()
    lazy:product_(src:product())
    assert_equal_values(values(lazy), values(src))
    local m = (net:product() * 2):module()
    assert.is_false(m.fc1.bias:requires_grad())
    assert.is_true(m.fc1.weight:requires_grad())
    assert.is_true(m.fc1.weight:is_leaf())
    assert.is_false(lazy.fc1.bias:requires_grad())
  end)
end)

describe("custom operators", function()
  local net, p, v
  before_each(function()
    nyto.manual_seed(21)
    net = Net()
    p = net:product()
    v = values(net)
  end)

  it("unary_operator runs fn(param, config) under no-grad on every parameter", function()
    local seen, grad = {}, {}
    local r = p:unary_operator(function(t, c)
      grad[#grad + 1] = nyto.is_grad_enabled()
      seen[#seen + 1] = {t = t, c = c}
      return t * 2 + 10
    end)
    assert.is_true(nyto.is_grad_enabled())
    assert.are.equal("Product", nyto.type(r))
    assert.are.equal(5, #seen)
    for i = 1, 5 do
      assert.is_false(grad[i])
      assert.are.equal("Tensor", nyto.type(seen[i].t))
      -- the callback gets the parameter tensors (their values) and their configs
      assert.is_true(nyto.equal(seen[i].t, v[i]), PNAMES[i])
      assert.is_true(rawequal(seen[i].c, net:param_config(net:parameters()[i])), PNAMES[i])
      assert.is_true(seen[i].c.operational)
    end
    assert_close(pvalues(r), map(v, function(t) return t * 2 + 10 end), "unary")
    assert_equal_values(pvalues(p), v, "receiver")
  end)

  it("binary_operator runs fn(a, b, config) under no-grad", function()
    local q = net:randn():product()
    local w = pvalues(q)
    local calls = 0
    local r = q:binary_operator(p, function(a, b, c)
      calls = calls + 1
      assert.is_false(nyto.is_grad_enabled())
      assert.are.equal("table", type(c))
      return a * 3 - b
    end)
    assert.are.equal(5, calls)
    assert.is_true(nyto.is_grad_enabled())
    assert_close(pvalues(r), map(v, function(t, i) return w[i] * 3 - t end), "binary")
    assert_equal_values(pvalues(p), v)
    assert_equal_values(pvalues(q), w)
  end)

  it("keeps no-grad off after the call when it was off before", function()
    nyto.no_grad(function()
      p:unary_operator(function(t) return t end)
      assert.is_false(nyto.is_grad_enabled())
    end)
    assert.is_true(nyto.is_grad_enabled())
  end)

  it("skips non-operational parameters, which keep their values", function()
    net:set_param_config{name = "fc1", operational = false}
    local calls = 0
    local r = net:product():unary_operator(function(t) calls = calls + 1 return t + 1 end)
    assert.are.equal(3, calls)
    local rv = pvalues(r)
    assert_close({rv[1], rv[4], rv[5]}, {v[1] + 1, v[4] + 1, v[5] + 1})
    assert.is_true(nyto.equal(rv[2], v[2]))
    assert.is_true(nyto.equal(rv[3], v[3]))
  end)

  it("a bad result raises a nyto error naming the parameter", function()
    net:set_param_config{name = "fc1.weight", bad = true}
    local p2 = net:product()
    local cases = {
      {function() return nil end, "nil"},
      {function() return 3 end, "number"},
      {function(t) return nyto.zeros(1, 1) end, "shape"},
      {function(t) return t:double() end, "float64"},
      {function(t) return "x" end, "string"},
    }
    for _, case in ipairs(cases) do
      local bad = case[1]
      local function fn(t, c) if c.bad then return bad(t) end return t end
      local e = raises("^nyto: ", function() return p2:unary_operator(fn) end)
      assert.is_truthy(e:find("'fc1.weight'", 1, true), e)
      assert.is_truthy(e:find("unary_operator", 1, true), e)
      assert.is_truthy(e:find(case[2], 1, true), e)
      assert.is_true(nyto.is_grad_enabled())
      local e2 = raises("^nyto: ", function()
        return p2:binary_operator(p2, function(a, b, c) return fn(a, c) end)
      end)
      assert.is_truthy(e2:find("'fc1.weight'", 1, true), e2)
      assert.is_truthy(e2:find("binary_operator", 1, true), e2)
      assert.is_true(nyto.is_grad_enabled())
    end
    -- a shape that only matches in numel is still wrong
    local e = raises("^nyto: ", function()
      return p2:unary_operator(function(t, c) if c.bad then return t:flatten() end return t end)
    end)
    assert.is_truthy(e:find("[4, 3]", 1, true), e)
  end)

  it("an error raised by the callback reaches the caller as the very same value", function()
    local marker = setmetatable({}, {__tostring = function() return "marker" end})
    local ok, e = pcall(p.unary_operator, p, function() error(marker) end)
    assert.is_false(ok)
    assert.is_true(rawequal(marker, e))
    assert.is_true(nyto.is_grad_enabled())
    ok, e = pcall(p.binary_operator, p, p, function() error(marker) end)
    assert.is_false(ok)
    assert.is_true(rawequal(marker, e))
    assert.is_true(nyto.is_grad_enabled())
    ok, e = pcall(p.unary_operator, p, function() error("plain message", 0) end)
    assert.are.equal("plain message", e)
    ok, e = pcall(p.unary_operator, p, function() error(42) end)
    assert.are.equal(42, e)
    assert.is_true(nyto.is_grad_enabled())
  end)

  it("leaves no half-built product behind", function()
    collectgarbage(); collectgarbage()
    local s0 = nyto.stats()
    for _ = 1, 3 do
      local n = 0
      pcall(p.unary_operator, p, function(t) n = n + 1 if n == 3 then error("stop") end return t + 1 end)
      pcall(p.unary_operator, p, function(t) return nil end)
    end
    collectgarbage(); collectgarbage()
    local s1 = nyto.stats()
    assert.are.equal(s0.particles, s1.particles)
    assert.are.equal(s0.tensor_bytes, s1.tensor_bytes)
    -- the receiver is untouched and still usable
    assert_equal_values(pvalues(p), v)
    assert_close(pvalues(p:unary_operator(function(t) return t - 1 end)), map(v, function(t) return t - 1 end))
  end)

  it("bad arguments raise", function()
    raises("^nyto: bad argument #1 to 'unary_operator' %(function expected", function() p:unary_operator(3) end)
    raises("^nyto: bad argument #1 to 'binary_operator' %(Product expected", function() p:binary_operator(net, function() end) end)
    raises("^nyto: bad argument #2 to 'binary_operator' %(function expected", function() p:binary_operator(p) end)
  end)
end)

describe("parameter configs", function()
  it("defaults: operational = true, clone = true", function()
    local net = Net()
    for name, c in pairs(configs(net)) do
      assert.are.same({operational = true, clone = true}, c, name)
    end
  end)

  it("non-operational parameters are left out of particle operations", function()
    nyto.manual_seed(31)
    local net = Net()
    local v = values(net)
    assert.is_true(rawequal(net, net:set_param_config{name = "fc2", operational = false}))
    local r = net + 10
    local rv = values(r)
    assert_close({rv[1], rv[2], rv[3]}, {v[1] + 10, v[2] + 10, v[3] + 10})
    assert.is_true(nyto.equal(rv[4], v[4]))
    assert.is_true(nyto.equal(rv[5], v[5]))
    -- clone = true (default): a clone, not the same tensor
    assert.is_false(rawequal(r.fc2.weight, net.fc2.weight))
    assert.is_false(r.fc2.weight:is_same(net.fc2.weight))
    r.fc2.weight:detach():fill_(0)
    assert.is_true(nyto.equal(net.fc2.weight:detach(), v[4]))
    -- also between particles and in place, and through products
    local r2 = values(net * net)
    assert.is_true(nyto.equal(r2[4], v[4]))
    assert_close({r2[2]}, {v[2] * v[2]})
    local c = net:clone()
    c:mul_(0)
    local cv = values(c)
    assert.is_true(nyto.equal(cv[5], v[5]))
    assert.is_true(nyto.equal(cv[3], v[3] * 0))
    local pv = pvalues(net:product() * 0 - 1)
    assert.is_true(nyto.equal(pv[4], v[4]))
    assert.is_true(nyto.equal(pv[1], v[1] * 0 - 1))
  end)

  it("clone = false: the result refers to the very same tensor", function()
    local net = Net()
    net:set_param_config{name = "fc1.bias", operational = false, clone = false}
    local held = net.fc1.bias
    local r = net * 3
    assert.is_true(rawequal(held, r.fc1.bias))
    local r2 = 1 - (r + 2)
    assert.is_true(rawequal(held, r2.fc1.bias))
    assert.is_true(rawequal(held, net:clone().fc1.bias))
    assert.is_true(rawequal(held, (net:product() + 1):module().fc1.bias))
    -- the other parameters are operated on as usual
    assert.is_true(r.fc1.weight:detach():allclose(net.fc1.weight:detach() * 3))
    -- a change through one sharer is seen by all
    held:detach():fill_(5)
    assert.are.same({5, 5, 5, 5}, r2.fc1.bias:detach():totable())
    -- switching back: a clone again
    net:set_param_config{name = "fc1.bias", clone = true}
    local r3 = net * 3
    assert.is_false(rawequal(held, r3.fc1.bias))
    assert.is_true(nyto.equal(r3.fc1.bias:detach(), held:detach()))
    -- the particles that shared it now have their own, with the values it had
    for _, x in ipairs {r, r2} do
      assert.are.same({5, 5, 5, 5}, (x + 1).fc1.bias:detach():totable())
      assert.are.same({5, 5, 5, 5}, x:product():module().fc1.bias:detach():totable())
    end
    held:detach():fill_(6)
    assert.are.same({5, 5, 5, 5}, r.fc1.bias:detach():totable())
    assert.is_true(rawequal(held, net.fc1.bias))
    -- operational again (clone = false is only for non-operational parameters)
    net:set_param_config{name = "fc1.bias", clone = false}
    local r4 = net + 0
    assert.is_true(rawequal(held, r4.fc1.bias))
    net:set_param_config{name = "fc1.bias", operational = true}
    assert.are.same({7, 7, 7, 7}, (r4 + 1).fc1.bias:detach():totable())
    r4:add_(1)
    assert.are.same({7, 7, 7, 7}, r4.fc1.bias:detach():totable())
    assert.are.same({6, 6, 6, 6}, held:detach():totable())
  end)

  it("user fields persist and are shared by every particle of the species", function()
    local net = Net()
    local other = net + 1
    local p = net:product()
    net:set_param_config{name = "fc1", lr = 0.25}
    assert.are.equal(0.25, other:param_config("fc1.weight").lr)
    assert.are.equal(0.25, other:param_config("fc1.bias").lr)
    assert.is_nil(other:param_config("fc2.weight").lr)
    other:set_param_config{name = "fc2.weight", tag = "head"}
    assert.are.equal("head", net:param_config("fc2.weight").tag)
    -- particles made later, and through products, see them too
    local later = (p * 2):module()
    assert.are.equal("head", later:param_config("fc2.weight").tag)
    assert.are.equal(0.25, (later - 1):param_config("fc1.bias").lr)
    assert.is_true(rawequal(net:param_config("scale"), later:param_config("scale")))
    -- setting again keeps the other fields
    net:set_param_config{name = "fc1.weight", operational = false}
    assert.are.equal(0.25, net:param_config("fc1.weight").lr)
    -- another species has its own configs
    assert.is_nil(Net():param_config("fc1.weight").lr)
    -- a detached particle founds a species with copies of the configs
    local d = net:detach()
    assert.are.equal(0.25, d:param_config("fc1.weight").lr)
    d:set_param_config{name = "fc1.weight", lr = 1}
    assert.are.equal(0.25, net:param_config("fc1.weight").lr)
  end)

  it("set_param_config names a submodule, a parameter, or (omitted) the whole receiver", function()
    local net = Net()
    net:set_param_config{name = "fc1.bias", a = 1}
    net:set_param_config{name = "fc2", b = 2}
    net.fc1:set_param_config{c = 3}
    net.fc2:set_param_config{name = "weight", d = 4}
    net:set_param_config{e = 5}
    local c = configs(net)
    assert.are.same({operational = true, clone = true, e = 5}, c.scale)
    assert.are.same({operational = true, clone = true, c = 3, e = 5}, c["fc1.weight"])
    assert.are.same({operational = true, clone = true, a = 1, c = 3, e = 5}, c["fc1.bias"])
    assert.are.same({operational = true, clone = true, b = 2, d = 4, e = 5}, c["fc2.weight"])
    assert.are.same({operational = true, clone = true, b = 2, e = 5}, c["fc2.bias"])
    -- a nested model: dotted submodule names at any depth
    local Outer = nyto.class("POuter")
    function Outer:init() self.net = Net(); self.head = Lin(2, 1) end
    function Outer:forward(x) return self.head(self.net(x)) end
    local o = Outer()
    o:set_param_config{name = "net.fc1", operational = false}
    assert.is_false(o:param_config("net.fc1.weight").operational)
    assert.is_false(o:param_config("net.fc1.bias").operational)
    assert.is_true(o:param_config("net.fc2.weight").operational)
    assert.is_true(o:param_config("net.scale").operational)
    assert.is_true(o:param_config("head.weight").operational)
    -- "net.fc" is a prefix of a name, not a submodule
    raises("^nyto: .*no submodule or parameter named 'net.fc'", function() o:set_param_config{name = "net.fc", x = 1} end)
  end)

  it("apply_param_config(fn [, name]) calls fn(pid, config); get_param_id", function()
    local net = Net()
    local ids = {}
    for name, t in net:named_parameters() do
      local pid = net:get_param_id(t)
      assert.are.equal("integer", math.type(pid), name)
      assert.is_nil(ids[pid])
      ids[pid] = name
    end
    -- the same ids on every particle of the species, and from submodules
    local other = net * 2
    for name, t in other:named_parameters() do assert.are.equal(name, ids[other:get_param_id(t)]) end
    assert.are.equal(net:get_param_id(net.fc1.weight), net.fc1:get_param_id(net.fc1.weight))
    raises("^nyto: bad argument #1 to 'get_param_id' %(the tensor is not a parameter of this particle%)$",
           net.get_param_id, net, nyto.zeros(2))
    -- any module answers for every parameter of its particle
    assert.are.equal(net:get_param_id(net.fc2.weight), net.fc1:get_param_id(net.fc2.weight))
    raises("^nyto: bad argument #1 to 'get_param_id'", function() net:get_param_id("fc1.weight") end)
    -- the whole receiver
    local seen = {}
    assert.is_true(rawequal(net, net:apply_param_config(function(pid, c)
      seen[#seen + 1] = pid
      c.id_copy = pid
    end)))
    assert.are.equal(5, #seen)
    for name, t in net:named_parameters() do
      local pid = net:get_param_id(t)
      assert.are.equal(pid, net:param_config(t).id_copy, name)
      assert.are.equal(pid, other:param_config(name).id_copy, name)
    end
    -- a name
    seen = {}
    net:apply_param_config(function(pid, c) seen[#seen + 1] = ids[pid]; c.operational = false end, "fc2")
    table.sort(seen)
    assert.are.same({"fc2.bias", "fc2.weight"}, seen)
    assert.is_false(other:param_config("fc2.weight").operational)
    assert.is_true(other:param_config("fc1.weight").operational)
    -- a parameter name
    seen = {}
    net:apply_param_config(function(pid) seen[#seen + 1] = ids[pid] end, "fc1.bias")
    assert.are.same({"fc1.bias"}, seen)
    -- the operations follow
    local v = values(net)
    local rv = values(net + 1)
    assert.is_true(nyto.equal(rv[4], v[4]))
    assert.is_true(rv[2]:allclose(v[2] + 1))
  end)

  it("switching some parameters to non-operational keeps every value right", function()
    nyto.manual_seed(33)
    local net = Net()
    local p0 = net:product()
    local v = values(net)
    local function check(op, which)
      local r = net * 2 + 1
      local rv = values(r)
      for i = 1, #v do
        if which[i] then
          assert.is_true(rv[i]:allclose(v[i] * 2 + 1, 1e-5, 1e-6), op .. " " .. PNAMES[i])
        else
          assert.is_true(nyto.equal(rv[i], v[i]), op .. " " .. PNAMES[i])
        end
      end
      local pv = pvalues(p0 * 2 + 1)
      for i = 1, #v do
        if which[i] then
          assert.is_true(pv[i]:allclose(v[i] * 2 + 1, 1e-5, 1e-6), op .. " (product) " .. PNAMES[i])
        else
          assert.is_true(nyto.equal(pv[i], v[i]), op .. " (product) " .. PNAMES[i])
        end
      end
    end
    check("all", {true, true, true, true, true})
    net:set_param_config{name = "fc1.weight", operational = false}
    check("fc1.weight off", {true, false, true, true, true})
    net:set_param_config{name = "scale", operational = false}
    check("scale off", {false, false, true, true, true})
    net:set_param_config{name = "fc2.bias", operational = false, clone = false}
    check("fc2.bias shared", {false, false, true, true, false})
    net:set_param_config{operational = true}
    check("all back", {true, true, true, true, true})
    net:set_param_config{operational = false}
    check("none", {false, false, false, false, false})
  end)

  describe("bad input", function()
    local net, before
    before_each(function()
      net = Net()
      net:set_param_config{name = "fc1", tag = "t"}
      before = configs(net)
    end)
    after_each(function() assert.are.same(before, configs(net)) end)

    it("an unknown name lists the valid names nearby", function()
      local e = raises("^nyto: bad argument .*'set_param_config'.*fc1%.wieght", function()
        net:set_param_config{name = "fc1.wieght", operational = false}
      end)
      assert.is_truthy(e:find("'fc1.weight'", 1, true), e)
      e = raises("^nyto: bad argument .*'apply_param_config'.*'fc3'", function()
        net:apply_param_config(function(_, c) c.operational = false end, "fc3")
      end)
      assert.is_truthy(e:find("'fc1'", 1, true) or e:find("'fc2'", 1, true), e)
      raises("^nyto: .*'weight'", function() net:set_param_config{name = "weight", x = 1} end)
      raises("^nyto: bad argument #1 to 'set_param_config' %(name must be a string", function()
        net:set_param_config{name = 3, x = 1}
      end)
    end)

    it("operational and clone must be booleans", function()
      raises("^nyto: bad argument #1 to 'set_param_config' %(operational must be a boolean, got \"yes\"", function()
        net:set_param_config{operational = "yes"}
      end)
      raises("^nyto: bad argument #1 to 'set_param_config' %(clone must be a boolean, got number", function()
        net:set_param_config{name = "fc2", clone = 1}
      end)
      raises("^nyto: bad argument #1 to 'set_param_config' %(table expected", function() net:set_param_config("fc1") end)
    end)

    it("apply_param_config: a non-boolean operational, or an error in fn, changes nothing", function()
      local n = 0
      raises("^nyto: .*apply_param_config.*operational", function()
        net:apply_param_config(function(pid, c)
          n = n + 1
          c.mark = true
          if n == 3 then c.operational = "no" else c.operational = false end
        end)
      end)
      raises("^nyto: .*apply_param_config.*clone", function()
        net:apply_param_config(function(pid, c) c.clone = nil end)
      end)
      local marker = {}
      local ok, e = pcall(net.apply_param_config, net, function(pid, c) c.operational = false; error(marker) end)
      assert.is_false(ok)
      assert.is_true(rawequal(marker, e))
      raises("^nyto: bad argument #1 to 'apply_param_config' %(function expected", function()
        net:apply_param_config({})
      end)
      raises("^nyto: bad argument #2 to 'apply_param_config' %(string expected", function()
        net:apply_param_config(function() end, 5)
      end)
    end)

    it("param_config, set_param_config and apply_param_config name the argument and the reason", function()
      raises("^nyto: bad argument #1 to 'param_config' %(no submodule or parameter named 'nope'; valid names nearby: '",
        function() return net:param_config("nope") end)
      for _, x in ipairs {{}, true, 1.5, print} do
        raises("^nyto: bad argument #1 to 'param_config' %(parameter id, name or Parameter expected, got " .. type(x) .. "%)$",
          function() return net:param_config(x) end)
      end
      raises("^nyto: bad argument #1 to 'param_config' %(parameter id, name or Parameter expected, got nil%)$",
        function() return net:param_config() end)
      raises("^nyto: bad argument #1 to 'param_config' %(the tensor is not a parameter of this particle%)$",
        function() return net:param_config(nyto.zeros(2)) end)
      raises("^nyto: bad argument #1 to 'param_config' %(no parameter 999%)$", function() return net:param_config(999) end)
      raises("^nyto: bad argument #1 to 'set_param_config' %(option names are strings, got table%)$",
        function() net:set_param_config{[{}] = false} end)
      raises("^nyto: bad argument #1 to 'set_param_config' %(option names are strings, got number%)$",
        function() net:set_param_config{false} end)
      raises("^nyto: bad argument #1 to 'set_param_config' %(option 'name': no submodule or parameter named 'nope'; valid names nearby: '",
        function() net:set_param_config{name = "nope", operational = false} end)
      raises("^nyto: bad argument #2 to 'apply_param_config' %(no submodule or parameter named 'nope'; valid names nearby: '",
        function() net:apply_param_config(function() end, "nope") end)
      raises("^nyto: apply_param_config: config field names are strings %(parameter id %d+, got table%)$",
        function() net:apply_param_config(function(_, c) c[{}] = 1 end) end)
      -- the configs still answer
      assert.is_true(net:param_config("fc1.weight").operational)
    end)

    it("the operations are unaffected by rejected configs", function()
      pcall(net.set_param_config, net, {operational = "yes"})
      pcall(net.set_param_config, net, {name = "nope", operational = false})
      local v = values(net)
      assert_close(values(net + 1), map(v, function(t) return t + 1 end))
    end)
  end)
end)
