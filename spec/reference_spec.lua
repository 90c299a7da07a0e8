-- Reference semantics that ported code relies on (issue 11): a class without
-- forward, clone_from returning a new particle, any module acting for its
-- particle, get_param_id raising outside the particle, custom operators
-- receiving the parameters themselves.  Each bad input pins its message and
-- checks that the operands are unchanged.
local nyto = require "nyto"
local H = require "helpers"
local raises, values, map = H.raises, H.values, H.map

local function same_values(got, expected, what)
  assert.are.equal(#expected, #got, what)
  for i = 1, #expected do assert.is_true(nyto.equal(got[i], expected[i]), (what or "") .. " " .. i) end
end

-- a root with a parameter of its own and a submodule with two
local Sub = nyto.class("RSub")
function Sub:init() self.w = nyto.Parameter(nyto.randn(2, 3)); self.b = nyto.Parameter(nyto.randn(2)) end
function Sub:forward(x) return x:matmul(self.w:t()) + self.b end
local Root = nyto.class("RRoot") -- no forward: a container
function Root:init() self.p = nyto.Parameter(nyto.randn(3)); self.sub = Sub() end

describe("a class without forward", function()
  it("constructs; calling it, or its ParticleModule, raises naming the class", function()
    local r = Root()
    assert.are.equal(3, #r:parameters())
    local v = values(r)
    local msg = "^nyto: RRoot has no forward method %(define function RRoot:forward%(...%) to call it%)$"
    raises(msg, function() return r(nyto.randn(1, 3)) end)
    raises(msg, function() return r:forward(nyto.randn(1, 3)) end)
    local pm = nyto.ParticleModule(r:clone())
    raises(msg, function() return pm(nyto.randn(1, 3)) end)
    same_values(values(r), v, "unchanged")
    -- particle operations work on it; its submodule with a forward still runs
    local s = 2 * r + 1
    same_values(values(s), map(v, function(t) return 2 * t + 1 end), "2*r + 1")
    assert.are.same({1, 2}, r.sub(nyto.randn(1, 3)):size())
  end)
end)

describe("clone_from", function()
  local Other = nyto.class("ROther")
  function Other:init() self.p = nyto.Parameter(nyto.randn(3)); self.sub = Sub() end

  it("returns a new particle of the receiver's species with the source's values", function()
    local a, b = Root(), Other()
    local va, vb = values(a), values(b)
    local held = a:parameters()
    local r = a:clone_from(b)
    assert.is_false(rawequal(r, a))
    assert.is_true(r:same_species(a))
    assert.is_false(r:same_species(b))
    assert.are.equal(Root, r:class())
    same_values(values(r), vb, "result")
    same_values(values(a), va, "receiver")
    same_values(values(b), vb, "source")
    for i, t in ipairs(a:parameters()) do assert.is_true(rawequal(held[i], t)) end
    same_values(values(a + a:clone_from(b)), map(va, function(t, i) return t + vb[i] end), "a + a:clone_from(b)")
  end)

  it("from a submodule: the new particle's module of that id, the source's values in its subtree", function()
    local a = Root()
    local va = values(a)
    local src = Sub()
    local vs = values(src)
    local r = a.sub:clone_from(src)
    assert.are.equal(a.sub:module_id(), r:module_id())
    local root = r:kernel():modules()[1]
    same_values(values(root), {va[1], vs[1], vs[2]}, "new particle")
    same_values(values(a), va, "receiver")
  end)

  it("a different structure raises naming the first parameter that differs; nothing changes", function()
    local a = Root()
    local va = values(a)
    local Diff = nyto.class("RDiff")
    function Diff:init() self.p = nyto.Parameter(nyto.randn(3)); self.sub = nyto.nn.Linear(3, 2) end
    local d = Diff()
    local vd = values(d)
    -- Linear names its parameters weight, bias: 'sub.w' is the first to differ
    raises("^nyto: bad argument #1 to 'clone_from' %(structures differ at parameter 'sub%.w': 'sub%.weight' in the source%)$",
           a.clone_from, a, d)
    local Shape = nyto.class("RShape")
    function Shape:init() self.p = nyto.Parameter(nyto.randn(4)); self.sub = Sub() end
    raises("^nyto: bad argument #1 to 'clone_from' %(parameter 'p' is float32 %[3%] here and float32 %[4%] in the source%)$",
           a.clone_from, a, Shape())
    raises("^nyto: bad argument #1 to 'clone_from' %(particle expected, got number%)$", a.clone_from, a, 3)
    local pa = nyto.ParticleModule(a:clone())
    local vpa = values(pa)
    raises("^nyto: bad argument #1 to 'clone_from' %(structures differ at parameter 'sub%.w'", pa.clone_from, pa, nyto.ParticleModule(d:clone()))
    same_values(values(a), va, "receiver")
    same_values(values(d), vd, "source")
    same_values(values(pa), vpa, "ParticleModule receiver")
  end)
end)

describe("any module of a particle acts for the whole particle", function()
  it("clone, rand, randn, detach and arithmetic return the new particle's module of that id", function()
    local r = Root()
    local v = values(r)
    local sub = r.sub
    for name, f in pairs {clone = sub.clone, rand = sub.rand, randn = sub.randn, detach = sub.detach,
                          add = function(m) return m + 1 end, rsub = function(m) return 1 - m end, neg = function(m) return -m end} do
      local n = f(sub)
      assert.are.equal(sub:module_id(), n:module_id(), name)
      assert.is_false(n:is_root(), name)
      assert.are.equal(Sub, n:class(), name)
      local root = n:kernel():modules()[1]
      assert.are.equal(n, root.sub, name)
      assert.are.equal(3, #root:parameters(), name)
      assert.are.equal(name ~= "detach", n:same_species(r), name)
      assert.is_false(rawequal(root, r), name)
    end
    same_values(values(sub:clone():kernel():modules()[1]), v, "clone")
    same_values(values((sub + 1):kernel():modules()[1]), map(v, function(t) return t + 1 end), "sub + 1")
    -- detach shares the very tensors of the whole particle
    local d = sub:detach()
    assert.is_true(rawequal(d:kernel():modules()[1].p, r.p))
    same_values(values(r), v, "operand")
  end)

  it("product: the whole particle's; module() is the module of that id", function()
    local r = Root()
    local v = values(r)
    local p = r.sub:product()
    local m = (2 * p + 1):module()
    assert.are.equal(r.sub:module_id(), m:module_id())
    same_values(values(m:kernel():modules()[1]), map(v, function(t) return 2 * t + 1 end), "2p + 1")
    assert.are.equal(r.sub:module_id(), p:clone():randn():module():module_id())
    same_values(values(r), v, "operand")
  end)

  it("get_param_id answers for every parameter of the particle", function()
    local r = Root()
    for _, t in ipairs(r:parameters()) do
      assert.are.equal(r:get_param_id(t), r.sub:get_param_id(t))
    end
    assert.are.equal(r:get_param_id(r.p), r.sub:get_param_id(r.p))
  end)
end)

describe("get_param_id of a parameter outside the particle", function()
  local msg = "^nyto: bad argument #1 to 'get_param_id' %(the tensor is not a parameter of this particle%)$"
  it("raises: another particle's parameter, a plain tensor, a replaced parameter", function()
    local r = Root()
    local other = r:clone()
    raises(msg, r.get_param_id, r, other.p)
    raises(msg, r.get_param_id, r, nyto.randn(3))
    raises(msg, r.sub.get_param_id, r.sub, other.sub.w)
    local old = r.p
    local pid = r:get_param_id(old)
    r.p = nyto.Parameter(nyto.randn(3)) -- same shape: takes over the slot
    raises(msg, r.get_param_id, r, old)
    assert.are.equal(pid, r:get_param_id(r.p))
    r.p = nyto.Parameter(nyto.randn(5)) -- another shape: a new version
    raises(msg, r.get_param_id, r, old)
    raises("^nyto: bad argument #1 to 'get_param_id' %(Tensor expected, got string%)$", r.get_param_id, r, "p")
    local pm = nyto.ParticleModule(Root())
    raises(msg, pm.get_param_id, pm, r.p)
  end)
end)

describe("nyto.progress at the end of an epoch", function()
  local function sink()
    local s = {buf = {}}
    function s:write(...) for _, v in ipairs {...} do self.buf[#self.buf + 1] = v end return self end
    function s:flush() return self end
    return s
  end
  -- the loop of examples/hybrid_swarm.lua: 938 batches, an update every
  -- batch, the stats only every 100 batches, then finish()
  for _, tty in ipairs {false, true} do
    it(("ends on 938/938 100%% (tty=%s), with the last stats"):format(tostring(tty)), function()
      local out, t = sink(), 0
      local bar = nyto.progress(938, {out = out, tty = tty, clock = function() return t end, width = 120})
      for batch = 1, 938 do
        t = batch * 0.053
        bar:update(batch, batch % 100 == 0 and {loss = batch / 1000} or nil)
      end
      bar:finish()
      local text = table.concat(out.buf)
      local last = text:match("([^\r\n]+)\n$")
      assert.is_truthy(last, text)
      assert.is_truthy(last:find("938/938", 1, true), last)
      assert.is_truthy(last:find("100%", 1, true), last)
      assert.is_truthy(last:find("loss 0.9000", 1, true), last)
      assert.is_truthy(last:find("in 00:50", 1, true), last)
      assert.is_nil(text:find("900/938[^\n]*in ", 1))
    end)
  end
end)

describe("custom operators receive the parameter tensors themselves", function()
  it("the very objects of kernel:params(), config.pid naming them; results as before", function()
    local net = Root()
    local v = values(net)
    local params = net:kernel():params()
    local p = net:product()
    local seen = 0
    local q = p:unary_operator(function(param, config)
      seen = seen + 1
      assert.is_true(rawequal(param, net:kernel():params()[config.pid]))
      assert.is_true(rawequal(param, params[config.pid]))
      return param * 2 + 1
    end)
    assert.are.equal(3, seen)
    local pv = values(net)
    same_values(values(q:module()), map(v, function(t) return t * 2 + 1 end), "unary")
    local other = net:randn()
    local vo = values(other)
    local r = p:binary_operator(other:product(), function(a, b, config)
      assert.is_true(rawequal(a, params[config.pid]))
      assert.is_true(rawequal(b, other:kernel():params()[config.pid]))
      return a - b
    end)
    same_values(values(r:module()), map(v, function(t, i) return t - vo[i] end), "binary")
    same_values(values(net), v, "net")
    same_values(values(other), vo, "other")
    -- a ParticleModule's product too (its kernel is pm.particle_kernel)
    local pm = nyto.ParticleModule(net:clone())
    local pk = pm.particle_kernel
    pm:product():unary_operator(function(param, config)
      assert.is_true(rawequal(param, pk:params()[config.pid]))
      return param
    end)
    assert.are.same({operational = true, clone = true}, net:param_config(net.p))
    assert.are.equal(net:get_param_id(net.p), net:param_config(net.p).pid)
  end)

  it("a product is a snapshot: once it or its particle is written, the callback gets its own values", function()
    for _, write in ipairs {
      function(net) net:add_(1) end,
      function(net) nyto.no_grad(function() net.sub.w:mul_(3) end) end,
      function(net) local opt = nyto.optim.SGD(net:parameters(), {lr = 0.5}); net.sub(nyto.randn(4, 3)):sum():backward(); opt:step() end,
      function(net) net.p = nyto.Parameter(nyto.randn(3)) end,
      function(net) net:product_(net:randn():product()) end,
      function(net) net:load_state_dict(net:randn():state_dict()) end,
      function(net) net.sub:mul_(0) end,
    } do
      local net = Root()
      local v = values(net)
      local p = net:product()
      write(net)
      local params = net:kernel():params()
      local q = p:unary_operator(function(param, config)
        assert.is_false(rawequal(param, params[config.pid]))
        return param + 0
      end)
      same_values(values(q:module()), v, "the values at product()")
    end
    -- the product written: its own values, the particle's untouched
    local net = Root()
    local v = values(net)
    local p = net:product()
    p:mul_(2)
    local params = net:kernel():params()
    local q = p:unary_operator(function(param, config)
      assert.is_false(rawequal(param, params[config.pid]))
      return param + 1
    end)
    same_values(values(q:module()), map(v, function(t) return t * 2 + 1 end), "p written")
    same_values(values(net), v, "net")
  end)

  it("a product outlives its freed particle with its values, the pool reusing buffers meanwhile", function()
    local net = Root()
    local v = values(net)
    local p = net:product()
    net:free()
    local others = {}
    for i = 1, 40 do others[i] = Root():rand() end
    collectgarbage(); collectgarbage()
    local q = p:unary_operator(function(param) return param * 1 end)
    same_values(values(q:module()), v, "q")
    same_values(values(p:module()), v, "p")
  end)

  it("non-operational parameters keep their values; a deferred particle is computed first", function()
    local net = 0.5 * Root() + 10 -- a deferred result
    net:set_param_config{name = "p", operational = false}
    local v = values(net)
    local params = net:kernel():params()
    local calls = 0
    local q = net:product():unary_operator(function(param, config)
      calls = calls + 1
      assert.is_true(rawequal(param, params[config.pid]))
      return param * 0
    end)
    assert.are.equal(2, calls)
    same_values(values(q:module()), {v[1], v[2] * 0, v[3] * 0}, "q")
    same_values(values(net), v, "net")
  end)
end)
