-- Deferred particle operations (docs/design.md): a particle operation with a
-- number is computed when its result is next read, so that `0.5*net + 10`
-- is one pass.  Every value here is checked against the same arithmetic on
-- detached tensor copies, op by op; and every way of writing the operand in
-- the meantime (particle and tensor ops in place, optimizers, free, copies)
-- must leave the deferred result as it was when it was made.
local nyto = require "nyto"
local H = require "helpers"

local Lin = H.Lin("DLin")

-- two dtypes, so every operation runs over two flat buffers
local Net = nyto.class("DNet")
function Net:init()
  self.scale = nyto.Parameter(nyto.rand(3):double() + 0.5)
  self.fc1 = Lin(3, 4)
  self.fc2 = Lin(4, 2)
end
function Net:forward(x) return self.fc2(self.fc1(x)) * self.scale[1]:float() end

local PNAMES = {"scale", "fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias"}

local values, map = H.values, H.map
local function assert_same(got, expected, what) H.assert_values(got, expected, PNAMES, what, true) end
local function assert_close(got, expected, what) H.assert_values(got, expected, PNAMES, what) end

local function positive_net() return Net():rand() + 0.5 end

-- the scalar operations: the five with a fused loop, then those run block by block
local OPS = {
  {"x + 1.5", function(x) return x + 1.5 end},
  {"x - 0.25", function(x) return x - 0.25 end},
  {"x * 0.3", function(x) return x * 0.3 end},
  {"x / 7", function(x) return x / 7 end},
  {"2 - x", function(x) return 2 - x end},
  {"3 / x", function(x) return 3 / x end},
  {"x ^ 2", function(x) return x ^ 2 end},
  {"1.5 ^ x", function(x) return 1.5 ^ x end},
}

describe("deferred particle operations", function()
  it("two scalar operations in a row equal the tensor arithmetic op by op", function()
    local net = positive_net()
    local before = values(net)
    for i, f in ipairs(OPS) do
      for j, g in ipairs(OPS) do
        local got = values(g[2](f[2](net)))
        local expected = map(before, function(t) return g[2](f[2](t)) end)
        local what = g[1]:gsub("x", "(" .. f[1] .. ")")
        if i <= 5 and j <= 5 then assert_same(got, expected, what) else assert_close(got, expected, what) end
      end
    end
    assert_same(values(net), before, "the operand")
  end)

  it("binary operations read deferred operands as their values", function()
    local a = positive_net()
    local b = a:rand() + 0.5
    local va, vb = values(a), values(b)
    local cases = {
      {"0.5*a + b", function(x, y) return 0.5 * x + y end},
      {"a - b*3", function(x, y) return x - y * 3 end},
      {"(a/2) * (b+1)", function(x, y) return (x / 2) * (y + 1) end},
      {"(2 - a) / (b*4)", function(x, y) return (2 - x) / (y * 4) end},
      {"(a+1) ^ (0.5*b)", function(x, y) return (x + 1) ^ (0.5 * y) end},
      {"a*0.9 + b*0.1", function(x, y) return x * 0.9 + y * 0.1 end},
    }
    for _, c in ipairs(cases) do
      local got = values(c[2](a, b))
      local expected = map(va, function(t, i) return c[2](t, vb[i]) end)
      if c[1]:find("%^") then assert_close(got, expected, c[1]) else assert_same(got, expected, c[1]) end
    end
    local t = a * 2
    assert_same(values(t + t), map(va, function(x) return x * 2 + x * 2 end), "t + t")
    assert_same(values(a), va, "a")
    assert_same(values(b), vb, "b")
  end)

  it("a deferred result keeps its values when the operand changes afterwards", function()
    local writes = {
      {"in-place particle op", function(net) net:add_(1) end},
      {"in-place particle op with a particle", function(net, other) net:mul_(other) end},
      {"in-place tensor op on a parameter", function(net)
        nyto.no_grad(function() net.fc1.weight:add_(1) end)
      end},
      {"tensor fill_ and zero_", function(net)
        nyto.no_grad(function() net.fc2.bias:fill_(3); net.scale:zero_() end)
      end},
      {"t[i] = v on a parameter", function(net)
        nyto.no_grad(function() net.fc1.weight[1] = 7 end)
      end},
      {"copy_ into a parameter view", function(net)
        nyto.no_grad(function() net.fc1.bias:copy_(nyto.ones(4)) end)
      end},
      {"an optimizer step", function(net)
        local opt = nyto.optim.SGD(net:parameters(), {lr = 0.5})
        net(nyto.randn(5, 3)):sum():backward()
        opt:step()
      end},
      {"product_", function(net, other) net:product_(other:product()) end},
      {"load_state_dict", function(net, other) net:load_state_dict(other:state_dict()) end},
    }
    for _, w in ipairs(writes) do
      local net = Net()
      local other = net:randn()
      local before = values(net)
      local t = 0.5 * net
      local u = 10 - net -- a second deferred result of the same operand
      w[2](net, other)
      local changed = false
      for i, v in ipairs(values(net)) do changed = changed or not nyto.equal(v, before[i]) end
      assert.is_true(changed, w[1] .. " changed nothing")
      assert_same(values(t), map(before, function(x) return 0.5 * x end), w[1])
      assert_same(values(u), map(before, function(x) return 10 - x end), w[1])
    end
  end)

  it("an in-place operation may take a deferred result of its own receiver", function()
    local net = Net()
    local before = values(net)
    local t = 0.5 * net
    net:add_(t)
    assert_same(values(net), map(before, function(x) return x + 0.5 * x end), "net")
    assert_same(values(t), map(before, function(x) return 0.5 * x end), "t")
    local other = net:randn()
    local vo = values(other)
    local mid = values(net)
    net:add_(0.5 * other)
    mid = map(mid, function(x, i) return x + 0.5 * vo[i] end)
    assert_same(values(net), mid, "net:add_(0.5 * other)")
    net:div_(2 - other)
    mid = map(mid, function(x, i) return x / (2 - vo[i]) end)
    assert_same(values(net), mid, "net:div_(2 - other)")
    assert_same(values(other), vo, "other")
    local p = net:product()
    local q = p - 1
    p:mul_(q)
    local now = values(net)
    assert_same(values(p:module()), map(now, function(x) return x * (x - 1) end), "p")
  end)

  it("a deferred result survives its operand being freed and its buffer wanted again", function()
    local net = Net()
    local before = values(net)
    local t = net * 3
    local p = (net + 1):product()
    local q = p / 4 -- a deferred product
    net:free()
    p:free()
    -- new particles of the same species take every buffer the pool will give
    local others = {}
    for i = 1, 40 do others[i] = Net():rand() end
    collectgarbage()
    collectgarbage()
    assert_same(values(t), map(before, function(x) return x * 3 end), "t")
    assert_same(values(q:module()), map(before, function(x) return (x + 1) / 4 end), "q")
  end)

  it("products defer too: p = 0.5*p + 10 in a loop equals the tensor loop", function()
    local net = Net()
    local expected = values(net)
    local p = net:product()
    for _ = 1, 25 do
      p = 0.5 * p + 10
      expected = map(expected, function(x) return 0.5 * x + 10 end)
    end
    assert_same(values(p:module()), expected, "p")
    local q = p * 2
    p:add_(1)
    assert_same(values(q:module()), map(expected, function(x) return x * 2 end), "q after p:add_")
  end)

  it("non-operational parameters keep the first operand's values; a config change in between is honoured", function()
    local net = Net()
    local before = values(net)
    net:set_param_config{name = "fc2", operational = false}
    local r = 0.5 * net + 10
    assert_same(values(r), {0.5 * before[1] + 10, 0.5 * before[2] + 10, 0.5 * before[3] + 10, before[4], before[5]}, "r")
    local t = 0.5 * net
    net:set_param_config{name = "fc1", operational = false}
    local u = t + 10
    local half = map(before, function(x, i) return i >= 4 and x or 0.5 * x end)
    assert_same(values(t), half, "t")
    assert_same(values(u), {half[1] + 10, half[2], half[3], half[4], half[5]}, "u")
    net:set_param_config{name = "fc1", operational = true}
    net:set_param_config{name = "fc2", operational = true}
  end)

  it("a fused result trains like any particle", function()
    local net = Net()
    local r = 0.5 * net + 0.1
    -- the same values made by tensor arithmetic in a particle of its own
    local r2 = net:clone()
    nyto.no_grad(function()
      for i, p in ipairs(r2:parameters()) do p:copy_(0.5 * net:parameters()[i] + 0.1) end
    end)
    local x, y = nyto.randn(8, 3), nyto.randn(8, 2)
    local function train(m)
      local opt = nyto.optim.SGD(m:parameters(), {lr = 0.01, momentum = 0.9})
      local first = nyto.F.mse_loss(m(x), y):item()
      for _ = 1, 20 do
        opt:zero_grad()
        nyto.F.mse_loss(m(x), y):backward()
        opt:step()
      end
      return first, nyto.F.mse_loss(m(x), y):item()
    end
    local f1, l1 = train(r)
    local f2, l2 = train(r2)
    assert.are.equal(f2, f1)
    assert.are.equal(l2, l1)
    assert.is_true(l1 < f1)
    assert_same(values(r), values(r2), "trained")
  end)

  it("a long loop of net = 0.5*net + 10 holds a bounded number of buffers and equals the tensor loop", function()
    local net = Net()
    local expected = values(net)
    collectgarbage()
    local base = nyto.stats()
    for _ = 1, 300 do
      net = 0.5 * net + 10
      expected = map(expected, function(x) return 0.5 * x + 10 end)
    end
    assert_same(values(net), expected, "net")
    collectgarbage()
    collectgarbage()
    local s = nyto.stats()
    assert.is_true(s.particle_buffers - base.particle_buffers <= 2, "particle buffers " .. s.particle_buffers)
    assert.is_true(s.tensors - base.tensors <= 16, "tensor handles " .. s.tensors - base.tensors)
  end)

  it("dead deferred results release their hold on the operand", function()
    local net = Net()
    collectgarbage()
    collectgarbage()
    local base = nyto.stats()
    for _ = 1, 500 do local _ = 0.5 * net end
    collectgarbage()
    collectgarbage()
    local s = nyto.stats()
    assert.are.equal(base.tensors, s.tensors)
    assert.are.equal(base.tensor_bytes, s.tensor_bytes)
  end)

  it("bad operands raise as before and leave the deferred operand usable", function()
    local net = Net()
    local before = values(net)
    local t = 0.5 * net
    H.raises("^nyto: bad argument #2 to '__add'", function() return t + "x" end)
    H.raises("^nyto: bad argument", function() return t + {} end)
    H.raises("different species", function() return t + Lin(3, 4) end)
    assert_same(values(t), map(before, function(x) return 0.5 * x end), "t")
    assert_same(values(net), before, "net")
  end)

  it("random programs of particle, product and tensor operations equal their tensor shadow", function()
    math.randomseed(7)
    nyto.manual_seed(7)
    local first = Net()
    local live = {{net = first, shadow = values(first)}}
    local NUM = {
      function(x) return x * 0.9 end, function(x) return x + 0.5 end, function(x) return x - 0.25 end,
      function(x) return x / 1.1 end, function(x) return 1 - x end, function(x) return 0.5 * x end,
    }
    local BIN = {
      function(x, y) return x + y end, function(x, y) return x - y end, function(x, y) return x * y end,
    }
    local function pick() return live[math.random(#live)] end
    local function add(net, shadow)
      live[#live + 1] = {net = net, shadow = shadow}
      if #live > 6 then table.remove(live, 1) end
    end
    local function check(e, step)
      assert_same(values(e.net), e.shadow, "step " .. step)
    end
    for step = 1, 400 do
      local r = math.random(10)
      local e = pick()
      if r <= 3 then -- a new particle from an operation with a number
        local f = NUM[math.random(#NUM)]
        add(f(e.net), map(e.shadow, f))
      elseif r == 4 then -- two in a row (fused)
        local f, g = NUM[math.random(#NUM)], NUM[math.random(#NUM)]
        add(g(f(e.net)), map(e.shadow, function(x) return g(f(x)) end))
      elseif r == 5 then -- binary, operands possibly deferred
        local o = pick()
        local f, g, b = NUM[math.random(#NUM)], NUM[math.random(#NUM)], BIN[math.random(#BIN)]
        add(b(f(e.net), g(o.net)), map(e.shadow, function(x, i) return b(f(x), g(o.shadow[i])) end))
      elseif r == 6 then -- in place, with a number or a particle
        if math.random(2) == 1 then
          e.net:mul_(0.75)
          e.shadow = map(e.shadow, function(x) return x * 0.75 end)
        else
          local o = pick()
          local ov = o.shadow
          if math.random(2) == 1 then
            e.net:add_(o.net)
            e.shadow = map(e.shadow, function(x, i) return x + ov[i] end)
          else
            e.net:sub_(0.5 * o.net)
            e.shadow = map(e.shadow, function(x, i) return x - 0.5 * ov[i] end)
          end
        end
      elseif r == 7 then -- a tensor op through a parameter view
        local i = math.random(#PNAMES)
        nyto.no_grad(function() e.net:parameters()[i]:add_(2) end)
        e.shadow[i] = e.shadow[i] + 2
      elseif r == 8 then -- through a product
        local q = 0.5 * e.net:product() - 1
        add(q:module(), map(e.shadow, function(x) return 0.5 * x - 1 end))
      elseif r == 9 and #live > 2 then -- drop or free one
        local k = math.random(#live)
        if math.random(2) == 1 then live[k].net:free() end
        table.remove(live, k)
      else
        check(e, step)
      end
      if step % 50 == 0 then collectgarbage() end
    end
    for _, e in ipairs(live) do check(e, "end") end
  end)

  it("a module with no parameters stays a valid particle", function()
    local E = nyto.class("DEmpty")
    function E:forward(x) return x end
    local e = E()
    local r = 0.5 * e + 10
    assert.are.equal(0, #r:parameters())
    assert.are.equal(3, r(3))
  end)
end)

-- Issue 12: fusion could silently stop (two ops fuse only when Lua hands the C
-- core the same Segments): count the passes and the buffers through nyto.stats().
describe("one pass into one new buffer", function()
  local function counts()
    local s = nyto.stats()
    return s.passes, s.pool_hits + s.pool_misses
  end
  local function delta(fn)
    local p0, b0 = counts()
    local r = fn()
    local p1, b1 = counts()
    return r, p1 - p0, b1 - b0
  end

  it("0.5*net + 10 is one pass per dtype into one new buffer per dtype", function()
    local net = Net() -- two dtypes: two flat buffers
    local v = values(net)
    local r, passes, bufs = delta(function() return 0.5 * net + 10 end)
    assert.are.equal(2, passes)
    assert.are.equal(2, bufs)
    -- reading the result costs nothing more
    local got, more_passes, more_bufs = delta(function() return values(r) end)
    assert.are.equal(0, more_passes)
    assert.are.equal(0, more_bufs)
    assert_close(got, map(v, function(t) return t * 0.5 + 10 end), "0.5*net + 10")
  end)

  it("one float32 model: one pass, one buffer; a lone scalar op waits for its reader", function()
    local net = Lin(5, 3)
    local v = values(net)
    local r, passes, bufs = delta(function() return 0.5 * net + 10 end)
    assert.are.same({1, 1}, {passes, bufs})
    local rv, rp0, rb0 = delta(function() return values(r) end)
    assert.are.same({0, 0}, {rp0, rb0}) -- computed already
    local h, hp, hb = delta(function() return net * 3 end)
    assert.are.same({0, 0}, {hp, hb}) -- deferred
    local hv, rp, rb = delta(function() return values(h) end)
    assert.are.same({1, 1}, {rp, rb}) -- computed when read
    H.assert_values(rv, map(v, function(t) return t * 0.5 + 10 end), {"weight", "bias"}, "0.5*net + 10")
    H.assert_values(hv, map(v, function(t) return t * 3 end), {"weight", "bias"}, "net * 3")
  end)

  it("products: 0.5*p + 10 costs two passes in all, one of them module()'s copy", function()
    local net = Lin(5, 3)
    local v = values(net)
    local p = net:product() -- a deferred copy (x*1): no pass yet
    -- x*1 and *0.5 fuse into one pass; + 10 waits for its reader
    local q, passes, bufs = delta(function() return 0.5 * p + 10 end)
    assert.are.same({1, 1}, {passes, bufs})
    -- module(): + 10 is computed (one pass), then copied into the particle (one pass)
    local qv, qp, qb = delta(function() return values(q:module()) end)
    assert.are.same({2, 2}, {qp, qb})
    H.assert_values(qv, map(v, function(t) return t * 0.5 + 10 end), {"weight", "bias"}, "0.5*p + 10")
  end)
end)

-- ops.def declares the arguments an op writes ('W', 'w'); batch_norm's running
-- statistics are one: a parameter passed as running_mean is written in place
describe("written arguments declared by ops.def", function()
  it("batch_norm's running statistics: a deferred result of their particle keeps its values", function()
    local net = Lin(3, 2)
    local v = values(net)
    local r = net * 3 -- deferred: reads net's buffer when next read
    nyto.no_grad(function()
      nyto.batch_norm(nyto.randn(4, 2), net.bias, nyto.ones(2), nil, nil, true) -- updates net.bias in place
    end)
    assert.is_false(nyto.equal(v[2], net.bias:detach()))
    H.assert_values(values(r), map(v, function(t) return t * 3 end), {"weight", "bias"}, "net * 3", true)
  end)
end)
