-- nyto.Swarm: n members of one species in one [n, P] arena per dtype,
-- checked against per-member particle arithmetic and plain tensor math.
local nyto = require "nyto"
local H = require "helpers"
local nn = nyto.nn

local function mlp() return nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 2)) end

-- member i's values as one flat float32 tensor (row i of the arena, by hand)
local function flat_of(p)
  local l = {}
  for _, t in p:named_parameters() do l[#l + 1] = t:detach():reshape {-1} end
  return nyto.cat(l, 1)
end

local function rows(s)
  local r = {}
  for i = 1, #s do r[i] = flat_of(s[i]):clone() end
  return r
end

local function assert_unchanged(s, before)
  for i = 1, #s do assert.is_true(nyto.equal(flat_of(s[i]), before[i])) end
end

local function raises(msg, fn)
  local ok, e = pcall(fn)
  assert.is_false(ok)
  assert.are.equal(msg, e)
end

describe("nyto.Swarm", function()
  local net, s
  before_each(function()
    nyto.manual_seed(7)
    net = mlp()
    s = nyto.Swarm(net, 4, function(i, m) m:mul_(i) end)
  end)

  it("makes n members of the species in one arena, row i = member i", function()
    assert.are.equal("Swarm", nyto.type(s))
    assert.are.equal(4, #s)
    local P = flat_of(net):numel()
    local A = s:flat()
    assert.are.same({4, P}, A:size())
    assert.is_false(A:requires_grad())
    for i = 1, 4 do
      H.assert_close(flat_of(s[i]), flat_of(net) * i, 1e-6)
      H.assert_close(A[i], flat_of(s[i]), 0)
      assert.is_true(s[i]:same_species(net))
    end
    assert.are.equal(s[4], s[-1])
    assert.are.equal(s[2], s[2])
    assert.is_nil(s[0])
    assert.is_nil(s[5])
    assert.is_nil(s[-5])
    local n = 0
    for _ in ipairs(s) do n = n + 1 end
    assert.are.equal(4, n)
  end)

  it("members are zero-copy views of their rows", function()
    local m = s[2]
    nyto.no_grad(function() m[1].weight:fill_(3) end)
    assert.are.equal(3, s:flat()[2][1]:item())
    s:mul_(2)
    assert.are.equal(6, m[1].weight[1][1]:item())
    m:add_(1) -- a particle op on the member writes the row
    assert.are.equal(7, s:flat()[2][1]:item())
    -- an optimizer on a member updates its row
    local opt = nyto.optim.SGD(s[3]:parameters(), {lr = 0.1})
    local before = s:flat()[3]:clone()
    local loss = s[3](nyto.ones {5, 3}):sum()
    loss:backward()
    opt:step()
    assert.is_false(nyto.equal(s:flat()[3], before))
    H.assert_close(flat_of(s[3]), s:flat()[3], 0)
  end)

  it("init randn / rand / clone and Swarm.of", function()
    local r = nyto.Swarm(net, 3, "randn")
    assert.is_false(nyto.equal(flat_of(r[1]), flat_of(r[2])))
    local u = nyto.Swarm(net, 3, "rand")
    assert.is_true(u:flat():min():item() >= 0 and u:flat():max():item() < 1)
    local c = nyto.Swarm(net, 2)
    H.assert_close(flat_of(c[2]), flat_of(net), 0)
    local o = nyto.Swarm.of {net, net * 2, net * 3}
    assert.are.equal(3, #o)
    H.assert_close(flat_of(o[3]), flat_of(net) * 3, 1e-6)
  end)

  it("s[i] = particle copies values into row i, member stays the same object", function()
    local m = s[1]
    s[1] = net * 10
    assert.are.equal(m, s[1])
    H.assert_close(flat_of(s[1]), flat_of(net) * 10, 1e-5)
  end)

  it("arithmetic with numbers, particles, swarms, coefficient tensors equals per-member math", function()
    local before = rows(s)
    local best = net * 0.5
    local w = nyto.tensor {1, 2, 3, 4}
    local cases = {
      {s * 0.5 + 10, function(i) return before[i] * 0.5 + 10 end},
      {2 - s, function(i) return 2 - before[i] end},
      {s - best, function(i) return before[i] - flat_of(best) end},
      {best - s, function(i) return flat_of(best) - before[i] end},
      {s * s, function(i) return before[i] * before[i] end},
      {s / (s + 100), function(i) return before[i] / (before[i] + 100) end},
      {w * s, function(i) return before[i] * i end},
      {s * w, function(i) return before[i] * i end},
      {s - w, function(i) return before[i] - i end},
      {w - s, function(i) return i - before[i] end},
      {w / (s * s + 1), function(i) return i / (before[i] * before[i] + 1) end},
      {(s * s) ^ 0.5, function(i) return (before[i] * before[i]) ^ 0.5 end},
      {-s, function(i) return -before[i] end},
    }
    for c, case in ipairs(cases) do
      local r = case[1]
      assert.are.equal("Swarm", nyto.type(r))
      assert.are.equal(4, #r)
      for i = 1, 4 do H.assert_close(flat_of(r[i]), case[2](i), 1e-5) end
      assert.is_false(r:flat():requires_grad(), "case " .. c)
    end
    assert_unchanged(s, before)
  end)

  it("in place add_ sub_ mul_ div_ pow_", function()
    local before = rows(s)
    local best = s[1]
    local b1 = before[1]:clone()
    s:sub_(best) -- a member of the swarm itself: all rows see the old values
    for i = 1, 4 do H.assert_close(flat_of(s[i]), before[i] - b1, 1e-6) end
    s:add_(nyto.tensor {1, 2, 3, 4}):mul_(2):div_(s:clone() + 1000):pow_(1)
    for i = 1, 4 do
      local v = (before[i] - b1 + i) * 2
      H.assert_close(flat_of(s[i]), v / (v + 1000), 1e-5)
    end
  end)

  it("APSO step equals the per-particle loop", function()
    local best = net:clone()
    local g1, g2 = nyto.Generator(3), nyto.Generator(3)
    local before = rows(s)
    local step = s * 0.5 + best * 0.5 + s:randn {generator = g1} * 0.1
    local noise = s:randn {generator = g2}
    for i = 1, 4 do
      H.assert_close(flat_of(step[i]), before[i] * 0.5 + flat_of(best) * 0.5 + flat_of(noise[i]) * 0.1, 1e-5)
    end
    -- draws are counter-based: a swarm draw with the same generator repeats
    H.assert_close(s:randn {generator = nyto.Generator(5)}:flat(), s:randn {generator = nyto.Generator(5)}:flat(), 0)
    local r = s:clone():randn_ {generator = nyto.Generator(5)}
    H.assert_close(r:flat(), s:randn {generator = nyto.Generator(5)}:flat(), 0)
    -- add_randn_: the same draws, added inside one pass
    local a = s:clone():add_randn_(0.1, {generator = nyto.Generator(9)})
    H.assert_close(a:flat(), (s + s:randn {generator = nyto.Generator(9)} * 0.1):flat(), 1e-6)
    local before2 = rows(s)
    raises("nyto: bad argument #1 to 'add_randn_' (number expected, got string)", function() s:add_randn_("x") end)
    assert_unchanged(s, before2)
    local big = s:randn():flat()
    assert.is_true(math.abs(big:mean():item()) < 0.5)
  end)

  it("mean, select, scatter_, clone", function()
    local before = rows(s)
    H.assert_close(flat_of(s:mean()), (before[1] + before[2] + before[3] + before[4]) / 4, 1e-5)
    H.assert_close(flat_of(s:mean {1, 0, 0, 3}), (before[1] + before[4] * 3) / 4, 1e-5)
    H.assert_close(flat_of(s:mean(nyto.tensor({0, 2, 2, 0}, {dtype = "float64"}))), (before[2] + before[3]) / 2, 1e-5)
    local sel = s:select {4, 4, 1}
    assert.are.equal(3, #sel)
    H.assert_close(flat_of(sel[1]), before[4], 0)
    H.assert_close(flat_of(sel[2]), before[4], 0)
    H.assert_close(flat_of(sel[3]), before[1], 0)
    local sel2 = s:select(nyto.tensor({2, -1}, {dtype = "int64"}))
    H.assert_close(flat_of(sel2[2]), before[4], 0)
    local c = s:clone()
    c:scatter_({1, 3}, sel2)
    H.assert_close(flat_of(c[1]), before[2], 0)
    H.assert_close(flat_of(c[3]), before[4], 0)
    H.assert_close(flat_of(c[2]), before[2], 0)
    assert_unchanged(s, before)
  end)

  it("s(x) is every member's forward, with gradients reaching each member", function()
    local x = nyto.randn {5, 3}
    local y = s(x)
    assert.are.same({4, 5, 2}, y:size())
    for i = 1, 4 do H.assert_close(y[i], s[i](x), 1e-5) end
    local loss = (y * y):sum()
    loss:backward()
    for i = 1, 4 do
      local ref = s[i]:clone()
      local l2 = (ref(x) * ref(x)):sum()
      l2:backward()
      H.assert_close(s[i][1].weight.grad, ref[1].weight.grad, 1e-4)
      H.assert_close(s[i][3].bias.grad, ref[3].bias.grad, 1e-4)
    end
    -- per_member input: member i gets x[i]
    local xp = nyto.randn {4, 5, 3}
    local yp = s(xp, {per_member = true})
    for i = 1, 4 do H.assert_close(yp[i], s[i](xp[i]), 1e-5) end
    -- param_stacks without grad: views of the arena
    nyto.no_grad(function()
      local st = s:param_stacks()
      for pid, t in pairs(net:kernel():params()) do assert.are.same(t:size(), {table.unpack(st[pid]:size(), 2)}) end
    end)
  end)

  it("holds one arena per dtype", function()
    local C = nyto.class("SwarmSpecMixed")
    function C:init() self.a = nyto.Parameter(nyto.randn(3)); self.b = nyto.Parameter(nyto.randn({2}, {dtype = "float64"})) end
    local m = C()
    local ms = nyto.Swarm(m, 3, "randn")
    assert.are.same({3, 3}, ms:flat():size())
    assert.are.same({3, 2}, ms:flat("float64"):size())
    local r = 2 * ms - m + nyto.tensor {1, 2, 3}
    for i = 1, 3 do
      H.assert_close(r[i].a, 2 * ms[i].a - m.a + i, 1e-6)
      H.assert_close(r[i].b, 2 * ms[i].b - m.b + i, 1e-12)
    end
    assert.are.equal("float64", ms:mean().b:dtype())
    raises("nyto: bad argument #1 to 'flat' (the species has no int64 parameters)", function() ms:flat("int64") end)
  end)

  it("counts the arena once in nyto.stats", function()
    collectgarbage()
    collectgarbage()
    local b0 = nyto.stats().tensor_bytes
    local big = nyto.Swarm(net, 1000)
    local P = flat_of(net):numel()
    local m = {}
    for i = 1, 1000 do m[i] = big[i] end -- members add no bytes
    local used = nyto.stats().tensor_bytes - b0
    assert.is_true(used >= 1000 * P * 4 and used < 1000 * P * 4 * 1.2, tostring(used))
    big:free()
  end)

  it("free and <close>", function()
    do
      local c <close> = s:clone()
      assert.are.equal(4, #c)
    end
    s:free()
    raises("nyto: bad argument #1 to '__len' (attempt to use a freed Swarm)", function() return #s end)
    raises("nyto: bad argument #1 to 'mul_' (attempt to use a freed Swarm)", function() s:mul_(2) end)
    raises("nyto: bad argument #1 to '__add' (attempt to use a freed Swarm)", function() return s + 1 end)
  end)

  describe("bad input changes nothing", function()
    it("n < 1, not a particle, ParticleModule, bad init", function()
      raises("nyto: bad argument #2 to 'Swarm' (a swarm has at least 1 member, got 0)", function() nyto.Swarm(net, 0) end)
      raises("nyto: bad argument #1 to 'Swarm' (particle expected, got number)", function() nyto.Swarm(3, 2) end)
      local freed = nyto.ParticleModule(mlp())
      freed:free()
      raises("nyto: bad argument #1 to 'Swarm' (attempt to use a freed ParticleModule)",
             function() nyto.Swarm(freed, 2) end)
      raises("nyto: bad argument #1 to 'Swarm.of' (attempt to use a freed ParticleModule)",
             function() nyto.Swarm.of {freed} end)
      raises('nyto: bad argument #3 to \'Swarm\' (init must be "clone", "randn", "rand" or a function, got "zeros")',
             function() nyto.Swarm(net, 2, "zeros") end)
    end)

    it("mixed species", function()
      local before = rows(s)
      local other = nn.Linear(3, 2)
      raises("nyto: bad argument #1 to 'Swarm.of' (element 2: particle of another species)",
             function() nyto.Swarm.of {net, other} end)
      raises("nyto: bad argument #2 to '__sub' (particle of another species)", function() return s - other end)
      raises("nyto: bad argument #1 to 'add_' (particle of another species)", function() s:add_(other) end)
      raises("nyto: bad argument #3 to 'Swarm.__newindex' (particle of another species)", function() s[1] = other end)
      local os = nyto.Swarm(other, 4)
      raises("nyto: bad argument #2 to '__add' (swarm of another species)", function() return s + os end)
      raises("nyto: bad argument #2 to '__add' (swarm of 3 members, expected 4)", function() return s + nyto.Swarm(net, 3) end)
      assert_unchanged(s, before)
    end)

    it("index out of range", function()
      local before = rows(s)
      raises("nyto: bad argument #2 to 'Swarm.__newindex' (index 5 out of range for a swarm of 4 members)",
             function() s[5] = net end)
      raises("nyto: bad argument #2 to 'Swarm.__newindex' (index 0 out of range for a swarm of 4 members)",
             function() s[0] = net end)
      raises("nyto: bad argument #1 to 'select' (index 7 out of range for a swarm of 4 members)", function() s:select {1, 7} end)
      raises("nyto: bad argument #1 to 'scatter_' (index -9 out of range for a swarm of 4 members)",
             function() s:scatter_({1, -9}, s:select {1, 2}) end)
      raises("nyto: bad argument #2 to 'scatter_' (swarm of 1 members for 2 indices)", function() s:scatter_({1, 2}, s:select {1}) end)
      assert_unchanged(s, before)
    end)

    it("coefficient tensor of the wrong length or dtype", function()
      local before = rows(s)
      raises("nyto: bad argument #1 to '__mul' (coefficient tensor must have 4 elements (one per member), got shape [3])",
             function() return nyto.tensor {1, 2, 3} * s end)
      raises("nyto: bad argument #1 to 'mul_' (coefficient tensor must be float32 or float64, got int64)",
             function() s:mul_(nyto.tensor({1, 2, 3, 4}, {dtype = "int64"})) end)
      raises("nyto: bad argument #1 to 'mean' (4 weights expected (one per member), got 2)", function() s:mean {1, 2} end)
      raises("nyto: bad argument #1 to 'mean' (the weights sum to zero)", function() s:mean {1, -1, 0, 0} end)
      assert_unchanged(s, before)
    end)

    it("per_member input whose dim 1 is not n", function()
      local before = rows(s)
      raises("nyto: bad argument #2 to 'forward' (per_member input's dim 1 must be the number of members 4, got shape [3, 5, 3])",
             function() return s(nyto.randn {3, 5, 3}, {per_member = true}) end)
      assert_unchanged(s, before)
    end)
  end)
end)

-- A ParticleModule's swarm (API.md "Swarms"): members and mean are
-- ParticleModules of the class it was made of, wrapping member particles
-- whose parameters are views of the arena.
describe("nyto.Swarm of a ParticleModule", function()
  local made, released = 0, 0
  local MyPM = nyto.class("SwarmPM", nyto.ParticleModule)
  function MyPM:init() made = made + 1 end
  function MyPM:__gc() released = released + 1 end

  it("hands out ParticleModules of its class, the same object on every access, views of row i", function()
    nyto.manual_seed(11)
    local pm = MyPM(mlp())
    local s = nyto.Swarm(pm, 3, function(i, m)
      assert.are.equal("ParticleModule", nyto.type(m))
      m:mul_(i)
    end)
    local base = flat_of(pm)
    for i = 1, 3 do
      local m = s[i]
      assert.are.equal("ParticleModule", nyto.type(m))
      assert.are.equal(MyPM, m:class())
      assert.is_true(rawequal(m, s[i]))
      assert.is_nil(m.root_module:kernel()) -- a ParticleModule: the kernel reference cleared
      H.assert_close(flat_of(m), base * i)
    end
    assert.is_true(rawequal(s[-1], s[3]))
    -- row i is member i: a write through the swarm shows in the member, and back
    s:add_(1)
    H.assert_close(flat_of(s[2]), base * 2 + 1)
    nyto.no_grad(function() s[1]:parameters()[1]:fill_(0) end)
    assert.are.equal(0, s:flat()[1][1]:item())
    -- a member's forward is its particle's
    local x = nyto.randn(5, 3)
    H.assert_close(s[3](x), s[3].root_module(x))
    -- operations on a member are ParticleModule operations: a ParticleModule of the class
    local r = s[2] * 2
    assert.are.equal(MyPM, r:class())
    H.assert_close(flat_of(r), (base * 2 + 1) * 2)
    H.assert_close(flat_of(pm), base) -- the ParticleModule it was made of is unchanged
    s:free()
  end)

  it("whole-swarm arithmetic keeps the class; mean is a ParticleModule; a ParticleModule broadcasts", function()
    nyto.manual_seed(12)
    local pm = MyPM(mlp())
    local s = nyto.Swarm(pm, 4, "randn")
    local before = rows(s)
    local t = 0.5 * s + 1
    assert.are.equal("Swarm", nyto.type(t))
    assert.are.equal(MyPM, t[4]:class())
    for i = 1, 4 do H.assert_close(flat_of(t[i]), before[i] * 0.5 + 1) end
    -- a ParticleModule on either side: broadcast to every row
    local d = pm - s
    local e = s - pm
    for i = 1, 4 do
      H.assert_close(flat_of(d[i]), flat_of(pm) - before[i])
      H.assert_close(flat_of(e[i]), before[i] - flat_of(pm))
    end
    s:add_(pm)
    for i = 1, 4 do H.assert_close(flat_of(s[i]), before[i] + flat_of(pm)) end
    local m = s:mean()
    assert.are.equal("ParticleModule", nyto.type(m))
    assert.are.equal(MyPM, m:class())
    local sum = flat_of(s[1]) + flat_of(s[2]) + flat_of(s[3]) + flat_of(s[4])
    H.assert_close(flat_of(m), sum / 4, 1e-5)
    H.assert_close(flat_of(s:mean {0, 1, 1, 0}), (flat_of(s[2]) + flat_of(s[3])) / 2, 1e-5)
    -- select and clone keep the class
    assert.are.equal(MyPM, s:select {2, 2}[1]:class())
    assert.are.equal(MyPM, s:clone()[1]:class())
    -- s[i] = pm copies values into row i; the member stays the same object
    local m2 = s[2]
    s[2] = pm
    assert.is_true(rawequal(m2, s[2]))
    H.assert_close(flat_of(s[2]), flat_of(pm))
    -- a batched forward: every member's
    local x = nyto.randn(5, 3)
    local y = s(x)
    for i = 1, 4 do H.assert_close(y:select(1, i), s[i](x), 1e-5) end
    for _, sw in ipairs {s, t, d, e} do sw:free() end
  end)

  it("Swarm.of takes ParticleModules (the first one's class) and plain particles of the species", function()
    nyto.manual_seed(13)
    local a = MyPM(mlp())
    local b = a:randn() -- the same species
    local c = mlp()
    local s = nyto.Swarm.of {a, b}
    assert.are.equal(MyPM, s[1]:class())
    H.assert_close(flat_of(s[1]), flat_of(a))
    H.assert_close(flat_of(s[2]), flat_of(b))
    raises("nyto: bad argument #1 to 'Swarm.of' (element 2: particle of another species)", function() nyto.Swarm.of {a, c} end)
    local o = nyto.Swarm(b.root_module, 2)
    assert.are.equal("Module", nyto.type(o[1]))
    raises("nyto: bad argument #3 to 'Swarm.__newindex' (particle of another species)", function() s[1] = MyPM(mlp()) end)
    H.assert_close(flat_of(s[1]), flat_of(a))
    s:free()
    o:free()
  end)

  it("free() releases the members once (their class's __gc), and later use raises", function()
    local pm = MyPM(mlp())
    local s = nyto.Swarm(pm, 3)
    local m1, m3 = s[1], s[3]
    local r0 = released
    s:free()
    assert.are.equal(r0 + 2, released)
    raises("nyto: attempt to use a freed ParticleModule", function() return m1 * 2 end)
    raises("nyto: bad argument #1 to 'Swarm.__index' (attempt to use a freed Swarm)", function() return s[1] end)
    m3:free() -- once
    assert.are.equal(r0 + 2, released)
    assert.is_true(made > 0)
  end)
end)
