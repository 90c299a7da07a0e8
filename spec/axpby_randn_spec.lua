-- Swarm:axpby_randn_(a, x, b, sigma [, {generator=}]): s = a s + b x + sigma N(0,1)
-- in one pass with the noise made inside it.  Checked against plain tensor
-- arithmetic on the arena (s:flat()) with the noise of nyto.randn from the same
-- generator state, against the same step as separate swarm operations (bit for
-- bit: the same float operations in the same order), across thread counts,
-- and for bad input (each message pinned, the swarm unchanged).
local nyto = require "nyto"
local nn = nyto.nn

local function mlp() return nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 2)) end

local function raises(msg, fn)
  local ok, e = pcall(fn)
  assert.is_false(ok)
  assert.are.equal(msg, e)
end

-- exactly equal tensors (same shape, same values)
local function same(a, b)
  assert.are.same(b:size(), a:size())
  assert.is_true(nyto.equal(a, b), "tensors differ")
end

describe("Swarm:axpby_randn_", function()
  local net, s, P
  before_each(function()
    nyto.manual_seed(11)
    net = mlp()
    s = nyto.Swarm(net, 5, "randn")
    P = s:flat():size()[2]
  end)

  it("is a s + b best + sigma z, z = nyto.randn over the arena from the same generator state", function()
    local best = net:randn()
    local w0 = s:flat():clone()
    local bflat = nyto.Swarm.of({best}):flat() -- best's values in the arena's layout
    local z = nyto.randn(5 * P, {generator = nyto.Generator(3)}):reshape {5, P}
    local g = nyto.Generator(3)
    assert.are.equal(s, s:axpby_randn_(0.5, best, 0.25, 0.1, {generator = g}))
    -- plain tensor arithmetic, in the same float32 operations
    same(s:flat(), (w0 * 0.5 + bflat * 0.25) + z * 0.1)
    -- the generator moved past the arena, as a draw over it does
    assert.are.equal(5 * P + (4 - (5 * P) % 4) % 4, g:get_state().offset)
    -- the noise is really there: the residual has the normal's moments
    local r = (s:flat() - (w0 * 0.5 + bflat * 0.25)) / 0.1
    assert.is_true(math.abs(r:mean():item()) < 0.2)
    assert.is_true(math.abs(r:std():item() - 1) < 0.2)
  end)

  it("equals the step as separate swarm operations, bit for bit", function()
    local best = net:randn()
    local s2 = s:clone()
    s:axpby_randn_(0.5, best, 0.5, 0.1, {generator = nyto.Generator(8, 2)})
    local b <close> = best * 0.5
    local z <close> = s2:randn {generator = nyto.Generator(8, 2)} * 0.1
    s2:mul_(0.5):add_(b):add_(z)
    same(s:flat(), s2:flat())
    -- the global generator when no generator is given, reproducible by manual_seed
    nyto.manual_seed(5)
    local t = s:clone():axpby_randn_(0.9, best, 0.1, 0.3)
    nyto.manual_seed(5)
    local z2 = s:randn()
    same(t:flat(), (s:flat() * 0.9 + nyto.Swarm.of({best}):flat() * 0.1) + z2:flat() * 0.3)
  end)

  it("takes a swarm of the same size row by row, and s itself or one of its members", function()
    local o = nyto.Swarm(net, 5, "randn")
    local w0, o0 = s:flat():clone(), o:flat():clone()
    local z = nyto.randn(5 * P, {generator = nyto.Generator(4)}):reshape {5, P}
    s:axpby_randn_(0.7, o, -0.2, 0.05, {generator = nyto.Generator(4)})
    same(s:flat(), (w0 * 0.7 + o0 * -0.2) + z * 0.05)
    same(o:flat(), o0) -- x is only read
    -- x = s: every row reads its own old values
    w0 = s:flat():clone()
    s:axpby_randn_(0.5, s, 0.5, 0.1, {generator = nyto.Generator(4)})
    same(s:flat(), (w0 * 0.5 + w0 * 0.5) + z * 0.1)
    -- x = member 2 of s: every row, row 2 too, reads member 2 as it was
    w0 = s:flat():clone()
    s:axpby_randn_(0.5, s[2], 0.5, 0.1, {generator = nyto.Generator(4)})
    same(s:flat(), (w0 * 0.5 + w0[2]:reshape {1, P} * 0.5) + z * 0.1)
  end)

  it("leaves non-operational parameters as they are; the others keep their arena counters", function()
    local lin = nn.Linear(3, 2) -- weight (6) then bias (2): the bias is not operational
    lin:set_param_config{name = "bias", operational = false}
    local ls = nyto.Swarm(lin, 3, "randn")
    local w0 = ls:flat():clone()
    local z = nyto.randn(3 * 8, {generator = nyto.Generator(2)}):reshape {3, 8}
    ls:axpby_randn_(0.5, lin, 0.25, 0.1, {generator = nyto.Generator(2)})
    local want = (w0 * 0.5 + nyto.Swarm.of({lin}):flat() * 0.25) + z * 0.1
    same(ls:flat():narrow(2, 1, 6), want:narrow(2, 1, 6))
    same(ls:flat():narrow(2, 7, 2), w0:narrow(2, 7, 2))
  end)

  it("works on a ParticleModule's swarm, with the ParticleModule broadcast", function()
    local pm = nyto.ParticleModule(mlp())
    local ps = nyto.Swarm(pm, 3, "randn")
    local w0 = ps:flat():clone()
    local z = nyto.randn(3 * P, {generator = nyto.Generator(1)}):reshape {3, P}
    ps:axpby_randn_(0.5, pm, 0.5, 0.1, {generator = nyto.Generator(1)})
    same(ps:flat(), (w0 * 0.5 + nyto.Swarm.of({pm}):flat() * 0.5) + z * 0.1)
  end)

  it("draws float32 then float64, each dtype's arena in one pass", function()
    local C = nyto.class("AxpbySpecMixed")
    function C:init() self.a = nyto.Parameter(nyto.randn(3)); self.b = nyto.Parameter(nyto.randn({2}, {dtype = "float64"})) end
    local m = C()
    local ms = nyto.Swarm(m, 3, "randn")
    local w32, w64 = ms:flat("float32"):clone(), ms:flat("float64"):clone()
    local m1 = nyto.Swarm.of {m}
    local g = nyto.Generator(6)
    local z32 = nyto.randn(9, {generator = g}):reshape {3, 3}
    local z64 = nyto.randn(6, {generator = g, dtype = "float64"}):reshape {3, 2}
    ms:axpby_randn_(0.5, m, 0.25, 0.1, {generator = nyto.Generator(6)})
    same(ms:flat("float32"), (w32 * 0.5 + m1:flat("float32") * 0.25) + z32 * 0.1)
    same(ms:flat("float64"), (w64 * 0.5 + m1:flat("float64") * 0.25) + z64 * 0.1)
  end)

  it("gives the same bits on one thread and two", function()
    local big = nn.Linear(400, 400) -- 160,400 parameters a row: the pass is split on the pool
    local a = nyto.Swarm(big, 3, "randn")
    local b = a:clone()
    local w0 = a:flat():clone()
    local best = big:randn()
    local th = nyto.num_threads()
    nyto.num_threads(1)
    a:axpby_randn_(0.5, best, 0.5, 0.1, {generator = nyto.Generator(21)})
    nyto.num_threads(2)
    b:axpby_randn_(0.5, best, 0.5, 0.1, {generator = nyto.Generator(21)})
    nyto.num_threads(th)
    same(a:flat(), b:flat())
    -- and the noise is nyto.randn's over the whole arena
    local z = nyto.randn(3 * 160400, {generator = nyto.Generator(21)}):reshape {3, 160400}
    same(a:flat(), (w0 * 0.5 + nyto.Swarm.of({best}):flat() * 0.5) + z * 0.1)
    a:free(); b:free()
  end)

  it("with a swarm as x and for add_randn_, two threads give one thread's bits and the arena arithmetic", function()
    -- 5 rows of 160,400: a call's chunks are shared by the threads across rows
    local big = nn.Linear(400, 400)
    local a = nyto.Swarm(big, 5, "randn")
    local x = nyto.Swarm(big, 5, "randn")
    local b, c, d = a:clone(), a:clone(), a:clone()
    local w0 = a:flat():clone()
    local th = nyto.num_threads()
    nyto.num_threads(1)
    a:axpby_randn_(0.25, x, 0.75, 0.5, {generator = nyto.Generator(5, 2)})
    c:add_randn_(0.3, {generator = nyto.Generator(8)})
    nyto.num_threads(2)
    b:axpby_randn_(0.25, x, 0.75, 0.5, {generator = nyto.Generator(5, 2)})
    d:add_randn_(0.3, {generator = nyto.Generator(8)})
    nyto.num_threads(th)
    same(a:flat(), b:flat())
    same(c:flat(), d:flat())
    local z = nyto.randn(5 * 160400, {generator = nyto.Generator(5, 2)}):reshape {5, 160400}
    same(b:flat(), (w0 * 0.25 + x:flat() * 0.75) + z * 0.5)
    local z2 = nyto.randn(5 * 160400, {generator = nyto.Generator(8)}):reshape {5, 160400}
    same(d:flat(), w0 + z2 * 0.3)
    for _, m in ipairs {a, b, c, d, x} do m:free() end
  end)

  it("rejects bad input with a nyto error and leaves the swarm unchanged", function()
    local best = net:randn()
    local w0 = s:flat():clone()
    raises("nyto: bad argument #1 to 'axpby_randn_' (a: number expected, got string)",
           function() s:axpby_randn_("x", best, 0.5, 0.1) end)
    raises("nyto: bad argument #3 to 'axpby_randn_' (b: number expected, got nil)",
           function() s:axpby_randn_(0.5, best) end)
    raises("nyto: bad argument #4 to 'axpby_randn_' (sigma: number expected, got table)",
           function() s:axpby_randn_(0.5, best, 0.5, {}) end)
    raises("nyto: bad argument #2 to 'axpby_randn_' (particle or swarm expected, got number)",
           function() s:axpby_randn_(0.5, 1, 0.5, 0.1) end)
    raises("nyto: bad argument #2 to 'axpby_randn_' (particle of another species)",
           function() s:axpby_randn_(0.5, nn.Linear(3, 4), 0.5, 0.1) end)
    raises("nyto: bad argument #2 to 'axpby_randn_' (swarm of 3 members, expected 5)",
           function() s:axpby_randn_(0.5, nyto.Swarm(net, 3), 0.5, 0.1) end)
    raises("nyto: bad argument #2 to 'axpby_randn_' (swarm of another species)",
           function() s:axpby_randn_(0.5, nyto.Swarm(nn.Linear(3, 4), 5), 0.5, 0.1) end)
    raises("nyto: bad argument #5 to 'axpby_randn_' (options table expected, got number)",
           function() s:axpby_randn_(0.5, best, 0.5, 0.1, 3) end)
    raises("nyto: bad argument #5 to 'axpby_randn_' (option 'generator' must be a Generator, got string)",
           function() s:axpby_randn_(0.5, best, 0.5, 0.1, {generator = "g"}) end)
    local g = nyto.Generator(1)
    raises("nyto: bad argument #3 to 'axpby_randn_' (b: number expected, got nil)",
           function() s:axpby_randn_(0.5, best, nil, 0.1, {generator = g}) end)
    assert.are.equal(0, g:get_state().offset) -- a rejected call draws nothing
    same(s:flat(), w0)
    local f = nyto.Swarm(net, 5)
    f:free()
    raises("nyto: bad argument #1 to 'axpby_randn_' (attempt to use a freed Swarm)",
           function() f:axpby_randn_(0.5, best, 0.5, 0.1) end)
    raises("nyto: bad argument #2 to 'axpby_randn_' (attempt to use a freed Swarm)",
           function() s:axpby_randn_(0.5, f, 0.5, 0.1) end)
    same(s:flat(), w0)
  end)
end)
