-- Modules and particles: the "Modules" and "Particles" sections of API.md.
-- Every value a particle operation produces is checked against plain tensor
-- arithmetic on detached copies of the operands.
local nyto = require "nyto"

-- small test classes ------------------------------------------------------------
local Lin = require("helpers").Lin("Lin")

local Net = nyto.class("Net")
function Net:init()
  self.fc1 = Lin(3, 4)
  self.scale = nyto.Parameter(nyto.rand(1) + 0.5)
  self.fc2 = Lin(4, 2)
  self:register_buffer("running", nyto.zeros(2))
  self.label = "plain"
end
function Net:forward(x) return self.fc2(self.fc1(x) * self.scale) end

local Empty = nyto.class("Empty")
function Empty:init() self.k = 3 end
function Empty:forward(x) return x end

local PNAMES = {"scale", "fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias"}

-- helpers ------------------------------------------------------------------------
local values, map = require("helpers").values, require("helpers").map

local function assert_values(net, expected, tol)
  local ps = net:parameters()
  assert.are.equal(#expected, #ps)
  for i, p in ipairs(ps) do
    assert.is_true(p:detach():allclose(expected[i], tol or 1e-5, tol or 1e-6),
      ("parameter %d: got %s, expected %s"):format(i, tostring(p), tostring(expected[i])))
  end
end

local names_of = require("helpers").names_of

local raises = require("helpers").raises

local function with_warnings(fn)
  local got = {}
  nyto.on_warning(function(msg) got[#got + 1] = msg end)
  local ok, e = pcall(fn)
  nyto.on_warning(nil)
  if not ok then error(e, 0) end
  return got
end

describe("nyto.class", function()
  it("builds with init, runs forward through a call, answers class() and nyto.type", function()
    nyto.manual_seed(1)
    local net = Net()
    assert.are.equal("Module", nyto.type(net))
    assert.are.equal(Net, net:class())
    assert.are.equal(Lin, net.fc1:class())
    assert.is_true(nyto.is_class(Net))
    local x = nyto.randn(5, 3)
    local y = net(x)
    local w1, b1 = net.fc1.weight:detach(), net.fc1.bias:detach()
    local w2, b2 = net.fc2.weight:detach(), net.fc2.bias:detach()
    local h = (x:matmul(w1:t()) + b1) * net.scale:detach()
    local expected = h:matmul(w2:t()) + b2
    assert.are.same({5, 2}, y:size())
    assert.is_true(y:detach():allclose(expected, 1e-5, 1e-6))
    assert.is_true(y:requires_grad())
    assert.are.equal(net:forward(x):sum():item(), y:sum():item())
  end)

  it("passes constructor arguments to init and supports subclasses", function()
    local Wide = nyto.class("Wide", Lin)
    function Wide:init(i, o) Lin.init(self, i, o * 2) end
    local w = Wide(2, 3)
    assert.are.same({6, 2}, w.weight:size())
    assert.are.equal(Wide, w:class())
    local x = nyto.randn(1, 2)
    assert.is_true(w(x):detach():allclose(x:matmul(w.weight:detach():t()) + w.bias:detach()))
  end)

  it("a class without forward constructs; calling its instance raises", function()
    local NoFwd = nyto.class("NoFwd")
    function NoFwd:init() self.w = nyto.Parameter(nyto.zeros(1)) end
    local m = NoFwd()
    assert.are.equal(1, #m:parameters())
    raises("^nyto: NoFwd has no forward method", function() return m(nyto.zeros(1)) end)
  end)

  it("propagates an error of the user's init and leaves nothing half-built", function()
    collectgarbage(); collectgarbage()
    local before = nyto.stats().particles
    local Bad = nyto.class("Bad")
    local marker = {}
    function Bad:init()
      self.fc = Lin(2, 2)
      self.w = nyto.Parameter(nyto.zeros(3))
      error(marker)
    end
    function Bad:forward(x) return x end
    local ok, e = pcall(Bad)
    assert.is_false(ok)
    assert.are.equal(marker, e)
    local ok2, e2 = pcall(function()
      local B2 = nyto.class("B2")
      function B2:init() error("boom in init") end
      function B2:forward(x) return x end
      return B2()
    end)
    assert.is_false(ok2)
    assert.is_truthy(e2:find("boom in init", 1, true))
    assert.are.equal(before, nyto.stats().particles)
    -- the machinery still works afterwards
    local net = Net()
    assert.are.equal(5, #net:parameters())
  end)

  it("prints a PyTorch-like module tree", function()
    local net = Net()
    assert.are.equal("Net(\n  (fc1): Lin()\n  (fc2): Lin()\n)", tostring(net))
    local Outer = nyto.class("Outer")
    function Outer:init() self.inner = Net(); self.head = Lin(2, 1) end
    function Outer:forward(x) return self.head(self.inner(x)) end
    assert.are.equal("Outer(\n  (inner): Net(\n    (fc1): Lin()\n    (fc2): Lin()\n  )\n  (head): Lin()\n)",
      tostring(Outer()))
    assert.are.equal("Lin()", tostring(Lin(1, 1)))
  end)
end)

describe("module registration", function()
  it("lists parameters in registration order with dotted names", function()
    local net = Net()
    assert.are.same(PNAMES, names_of(net:named_parameters()))
    local ps = net:parameters()
    assert.are.equal(5, #ps)
    assert.is_true(rawequal(ps[1], net.scale))
    assert.is_true(rawequal(ps[2], net.fc1.weight))
    assert.is_true(rawequal(ps[5], net.fc2.bias))
    for name, p in net:named_parameters() do
      assert.is_true(p:requires_grad(), name)
      assert.is_true(p:is_leaf(), name)
    end
  end)

  it("lists modules, children and buffers", function()
    local net = Net()
    local mods = net:modules()
    assert.are.equal(3, #mods)
    assert.is_true(rawequal(mods[1], net))
    assert.is_true(rawequal(mods[2], net.fc1))
    assert.is_true(rawequal(mods[3], net.fc2))
    assert.are.same({"", "fc1", "fc2"}, names_of(net:named_modules()))
    assert.are.same({"fc1", "fc2"}, names_of(net:named_children()))
    local ch = net:children()
    assert.are.equal(2, #ch)
    assert.is_true(rawequal(ch[2], net.fc2))
    assert.are.same({"running"}, names_of(net:named_buffers()))
    assert.is_true(rawequal(net:buffers()[1], net.running))
    assert.are.same({0, 0}, net.running:totable())
    assert.are.equal("plain", net.label)
  end)

  it("registers nested buffers with dotted names", function()
    local Outer = nyto.class("OuterB")
    function Outer:init() self.net = Net(); self:register_buffer("count", nyto.ones(1)) end
    function Outer:forward(x) return self.net(x) end
    local o = Outer()
    assert.are.same({"count", "net.running"}, names_of(o:named_buffers()))
    assert.are.same({"net.scale", "net.fc1.weight", "net.fc1.bias", "net.fc2.weight", "net.fc2.bias"},
      names_of(o:named_parameters()))
    assert.are.same({"", "net", "net.fc1", "net.fc2"}, names_of(o:named_modules()))
  end)

  it("returns the very object assigned, also after the particle is built", function()
    local w = nyto.Parameter(nyto.randn(2, 2))
    local sub = Lin(1, 1)
    local buf = nyto.ones(3)
    local Holder = nyto.class("Holder")
    function Holder:init() self.w = w; self.sub = sub; self:register_buffer("buf", buf) end
    function Holder:forward(x) return x end
    local h = Holder()
    assert.is_true(rawequal(w, h.w))
    assert.is_true(rawequal(sub, h.sub))
    assert.is_true(rawequal(buf, h.buf))
    -- after construction: new fields on the particle
    local w2 = nyto.Parameter(nyto.randn(3))
    h.w2 = w2
    assert.is_true(rawequal(w2, h.w2))
    local sub2 = Lin(2, 2)
    h.sub2 = sub2
    assert.is_true(rawequal(sub2, h.sub2))
    -- a replacement Parameter of the same shape is the field's new value
    local w3 = nyto.Parameter(nyto.full({2, 2}, 7))
    h.w = w3
    assert.is_true(rawequal(w3, h.w))
    assert.are.same({{7, 7}, {7, 7}}, h.w:totable())
    -- and it lives in the particle's flat storage
    assert.are.equal(h.w2:storage_id(), h.w:storage_id())
    assert.is_true(rawequal(w3, h:parameters()[1]))
  end)

  it("replacing a parameter inside init keeps one registration", function()
    local R = nyto.class("R")
    function R:init()
      self.w = nyto.Parameter(nyto.zeros(2))
      self.w = nyto.Parameter(nyto.ones(2))
      self.v = nyto.Parameter(nyto.zeros(1))
      self.v = nil
    end
    function R:forward(x) return x end
    local r = R()
    assert.are.same({"w"}, names_of(r:named_parameters()))
    assert.are.same({1, 1}, r.w:totable())
    assert.is_nil(r.v)
    local B = nyto.class("B")
    function B:init() self.w = nyto.Parameter(nyto.zeros(2)); self:register_buffer("w", nyto.zeros(2)) end
    function B:forward(x) return x end
    raises("^nyto: bad argument #1 to 'register_buffer' %('w' is already a parameter", B)
  end)

  it("removes parameters, submodules, buffers and plain fields on nil", function()
    local net = Net()
    net.scale = nil
    assert.is_nil(net.scale)
    assert.are.same({"fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias"}, names_of(net:named_parameters()))
    net.fc1 = nil
    assert.is_nil(net.fc1)
    assert.are.same({"fc2.weight", "fc2.bias"}, names_of(net:named_parameters()))
    assert.are.same({"fc2"}, names_of(net:named_children()))
    net.running = nil
    assert.is_nil(net.running)
    assert.are.same({}, net:buffers())
    net.label = nil
    assert.is_nil(net.label)
  end)

  it("a plain tensor assigned to a buffer's name replaces the buffer", function()
    local net = Net()
    local t = nyto.full({2}, 5)
    net.running = t
    assert.is_true(rawequal(t, net.running))
    assert.is_true(rawequal(t, net:buffers()[1]))
    assert.is_true(rawequal(t, net:state_dict().running))
  end)

  it("rejects a non-Parameter on a parameter's name and conflicting kinds", function()
    local net = Net()
    raises("^nyto: .*scale", function() net.scale = nyto.zeros(1) end)
    raises("^nyto: .*fc1", function() net.fc1 = 3 end)
    raises("^nyto: .*fc1", function() net.fc1 = nyto.Parameter(nyto.zeros(1)) end)
    raises("^nyto: .*scale", function() net.scale = Lin(1, 1) end)
    raises("^nyto: .*running", function() net.running = nyto.Parameter(nyto.zeros(2)) end)
    raises("^nyto: .*reserved", net.register_buffer, net, "_b", nyto.zeros(1))
    raises("^nyto: bad argument #2 to 'register_buffer'", function() net:register_buffer("b", 3) end)
    -- nothing changed
    assert.are.same(PNAMES, names_of(net:named_parameters()))
  end)

  it("state_dict and load_state_dict round-trip; bad keys and shapes raise", function()
    local a, b = Net(), Net()
    local sd = a:state_dict()
    local keys = {}
    for k in pairs(sd) do keys[#keys + 1] = k end
    table.sort(keys)
    assert.are.same({"fc1.bias", "fc1.weight", "fc2.bias", "fc2.weight", "running", "scale"}, keys)
    assert.is_true(rawequal(sd["fc1.weight"], a.fc1.weight))
    local ref = values(a)
    assert.are.equal(b, b:load_state_dict(sd))
    assert_values(b, ref)
    assert.is_false(rawequal(b.fc1.weight, a.fc1.weight))
    -- missing / unexpected / wrong shape / not a tensor
    local before = values(b)
    local miss = a:state_dict(); miss["fc2.bias"] = nil
    raises("^nyto: bad argument #1 to 'load_state_dict' %(missing key 'fc2.bias'%)", b.load_state_dict, b, miss)
    local extra = a:state_dict(); extra["nope"] = nyto.zeros(1)
    raises("unexpected key 'nope'", b.load_state_dict, b, extra)
    local shape = a:state_dict(); shape["fc1.weight"] = nyto.zeros(3, 4)
    raises("shape of 'fc1.weight' is %[3, 4%], expected %[4, 3%]", b.load_state_dict, b, shape)
    local nt = a:state_dict(); nt.scale = 1
    raises("'scale' is not a Tensor", b.load_state_dict, b, nt)
    raises("^nyto: bad argument #1 to 'load_state_dict'", b.load_state_dict, b, "x")
    assert_values(b, before)
  end)

  it("train, eval and training reach every submodule", function()
    local net = Net()
    assert.is_true(net.training)
    assert.are.equal(net, net:eval())
    for _, m in ipairs(net:modules()) do assert.is_false(m.training) end
    net:train()
    for _, m in ipairs(net:modules()) do assert.is_true(m.training) end
    net:train(false)
    assert.is_false(net.fc2.training)
    local c = net + 1
    assert.is_false(c.training)
    assert.is_false(c.fc1.training)
  end)
end)

describe("particle operations", function()
  local net, other, a, o
  before_each(function()
    nyto.manual_seed(7)
    net = Net()
    other = net:rand() + 0.5 -- positive, so that x / other and net ^ other are defined
    a, o = values(net), values(other)
  end)

  local function pos(n) return n:rand() + 0.5 end

  it("net + number and number + net", function()
    assert_values(net + 10, map(a, function(t) return t + 10 end))
    assert_values(10 + net, map(a, function(t) return t + 10 end))
    assert_values(net:add(2.5), map(a, function(t) return t + 2.5 end))
  end)

  it("net - x and x - net", function()
    assert_values(net - 3, map(a, function(t) return t - 3 end))
    assert_values(3 - net, map(a, function(t) return 3 - t end))
    assert_values(net - other, map(a, function(t, i) return t - o[i] end))
    assert_values(other - net, map(a, function(t, i) return o[i] - t end))
  end)

  it("net * x and x * net", function()
    assert_values(net * 2, map(a, function(t) return t * 2 end))
    assert_values(0.5 * net, map(a, function(t) return t * 0.5 end))
    assert_values(net * other, map(a, function(t, i) return t * o[i] end))
  end)

  it("net / x and x / net", function()
    assert_values(net / 4, map(a, function(t) return t / 4 end))
    assert_values(4 / other, map(o, function(t) return 4 / t end))
    assert_values(net / other, map(a, function(t, i) return t / o[i] end))
    assert_values(other / (other + 1), map(o, function(t) return t / (t + 1) end))
  end)

  it("net ^ x and x ^ net", function()
    local p = pos(net)
    local pv = values(p)
    assert_values(p ^ 2, map(pv, function(t) return t ^ 2 end))
    assert_values(2 ^ net, map(a, function(t) return 2 ^ t end))
    assert_values(p ^ other, map(pv, function(t, i) return t ^ o[i] end), 1e-4)
  end)

  it("-net", function()
    assert_values(-net, map(a, function(t) return -t end))
    assert_values(net:neg(), map(a, function(t) return -t end))
  end)

  it("chains of operations between particles of one species", function()
    local r = 0.5 * net + other * 2 - net / other
    assert_values(r, map(a, function(t, i) return t * 0.5 + o[i] * 2 - t / o[i] end), 1e-4)
  end)

  it("leaves the operands unchanged and returns a new particle of the same species", function()
    local r = net + other
    assert_values(net, a)
    assert_values(other, o)
    assert.are_not.equal(net, r)
    assert.is_true(r:same_species(net))
    assert.are.equal(Net, r:class())
    assert.are.same(PNAMES, names_of(r:named_parameters()))
    assert.are.same({"", "fc1", "fc2"}, names_of(r:named_modules()))
    -- buffers and plain fields come along
    assert.is_true(rawequal(net.running, r.running))
    assert.are.equal("plain", r.label)
    -- every parameter tensor is new
    for i, p in ipairs(r:parameters()) do assert.is_false(rawequal(p, net:parameters()[i])) end
    assert.are_not.equal(net.scale:storage_id(), r.scale:storage_id())
  end)

  it("records no autograd history and keeps requires_grad", function()
    net.fc2.bias:requires_grad_(false)
    local r = (net * 2 + other) ^ 1
    for name, p in r:named_parameters() do
      assert.is_true(p:is_leaf(), name)
      assert.is_nil(p:grad_fn(), name)
      assert.are.equal(name ~= "fc2.bias", p:requires_grad(), name)
    end
    local c = net:clone()
    assert.is_false(c.fc2.bias:requires_grad())
    assert.is_true(c.fc1.bias:requires_grad())
    -- an operation under grad mode does not record either
    local s = net + 1
    assert.is_nil(s.scale:grad_fn())
  end)

  it("in place forms change the receiver and return it", function()
    local ids = map(net:parameters(), function(p) return p end)
    assert.are.equal(net, net:add_(1))
    assert_values(net, map(a, function(t) return t + 1 end))
    assert.are.equal(net, net:sub_(other))
    assert_values(net, map(a, function(t, i) return t + 1 - o[i] end))
    assert.are.equal(net, net:mul_(2))
    assert.are.equal(net, net:div_(other))
    local exp = map(a, function(t, i) return (t + 1 - o[i]) * 2 / o[i] end)
    assert_values(net, exp, 1e-4)
    local q = pos(net)
    local qv = values(q)
    assert.are.equal(q, q:pow_(2))
    assert_values(q, map(qv, function(t) return t ^ 2 end))
    assert_values(other, o)
    -- the same tensor objects, still leaves
    for i, p in ipairs(net:parameters()) do
      assert.is_true(rawequal(ids[i], p))
      assert.is_true(p:is_leaf())
      assert.is_true(p:requires_grad())
    end
  end)

  it("clone, randn and rand stay in the species", function()
    local c = net:clone()
    assert_values(c, a)
    assert.is_true(c:same_species(net))
    assert.are_not.equal(net.scale:storage_id(), c.scale:storage_id())
    c:add_(1)
    assert_values(net, a)
    local rn, rr = net:randn(), net:rand()
    assert.is_true(rn:same_species(net))
    assert.is_true(rr:same_species(net))
    for _, p in ipairs(rr:parameters()) do
      assert.is_true(p:ge(0):all():item())
      assert.is_true(p:lt(1):all():item())
    end
    local n = 0
    for i, p in ipairs(rn:parameters()) do
      assert.are.same(a[i]:size(), p:size())
      if p:lt(0):any():item() then n = n + 1 end
    end
    assert.is_true(n > 0)
    assert.is_false(nyto.equal(rn.fc1.weight:detach(), net.fc1.weight:detach()))
  end)

  it("detach founds a new species sharing the same tensors", function()
    local d = net:detach()
    assert.is_false(d:same_species(net))
    assert.is_true(d:same_species(d:clone()))
    for i, p in ipairs(d:parameters()) do assert.is_true(rawequal(p, net:parameters()[i])) end
    assert.are_not.equal(net:kernel(), d:kernel())
    net:add_(1)
    assert_values(d, map(a, function(t) return t + 1 end))
    assert_values(d * 2, map(a, function(t) return (t + 1) * 2 end))
    raises("particles are of different species", function() return d + net end)
  end)

  it("clone_from copies values between species of one structure", function()
    local src = Net()
    local sv = values(src)
    assert.is_false(src:same_species(net))
    local nv = values(net)
    local r = net:clone_from(src)
    -- a new particle of the receiver's species with src's values; both operands unchanged
    assert.is_false(rawequal(net, r))
    assert.is_true(r:same_species(net))
    assert.is_false(r:same_species(src))
    assert_values(r, sv)
    assert_values(net, nv)
    assert_values(src, sv)
    assert.is_false(rawequal(r.scale, src.scale))
    assert.is_false(rawequal(r.scale, net.scale))
    -- m1 + m1:clone_from(m2) is m1 + m2
    assert_values(net + net:clone_from(src), map(nv, function(t, i) return t + sv[i] end))
    local Other = nyto.class("Other")
    function Other:init()
      self.fc1 = Lin(3, 4); self.scale = nyto.Parameter(nyto.zeros(1)); self.fc3 = Lin(4, 2)
    end
    function Other:forward(x) return x end
    local e = raises("^nyto: bad argument #1 to 'clone_from'", net.clone_from, net, Other())
    assert.is_truthy(e:find("fc2.weight", 1, true))
    local Shape = nyto.class("Shape")
    function Shape:init() self.fc1 = Lin(3, 5); self.scale = nyto.Parameter(nyto.zeros(1)); self.fc2 = Lin(5, 2) end
    function Shape:forward(x) return x end
    e = raises("clone_from", net.clone_from, net, Shape())
    assert.is_truthy(e:find("fc1.weight", 1, true))
    raises("^nyto: bad argument #1 to 'clone_from'", net.clone_from, net, 3)
    assert_values(net, nv)
  end)

  it("same_species", function()
    assert.is_true(net:same_species(net))
    assert.is_true(net:same_species(net + 1))
    assert.is_false(net:same_species(Net()))
    assert.is_false(net:same_species(3))
  end)

  it("kernel, modules, params, version, module ids", function()
    local k = net:kernel()
    assert.are.equal("Kernel", nyto.type(k))
    assert.are.equal(k, net:kernel())
    assert.are.equal(k, net.fc1:kernel())
    local mods = k:modules()
    assert.are.equal(nyto.ROOT_MODULE_ID, 1)
    assert.are.equal(net, mods[nyto.ROOT_MODULE_ID])
    local n = 0
    for id, m in pairs(mods) do
      n = n + 1
      assert.are.equal(id, m:module_id())
    end
    assert.are.equal(3, n)
    assert.is_true(net:is_root())
    assert.is_false(net.fc1:is_root())
    assert.are.equal(1, net:module_id())
    assert.are.equal(net.fc1, mods[net.fc1:module_id()])
    local params = k:params()
    local np = 0
    for pid, p in pairs(params) do
      np = np + 1
      assert.are.equal(pid, net:get_param_id(p))
      assert.is_true(rawequal(p, params[pid]))
    end
    assert.are.equal(5, np)
    assert.is_true(rawequal(params[net:get_param_id(net.fc2.bias)], net.fc2.bias))
    raises("^nyto: bad argument #1 to 'get_param_id' %(the tensor is not a parameter of this particle%)$",
           net.get_param_id, net, nyto.zeros(1))
    -- ids are positions of the species: the same in every particle
    local c = net * 3
    assert.are.equal(net:get_param_id(net.fc1.bias), c:get_param_id(c.fc1.bias))
    assert.are.equal(net.fc2:module_id(), c.fc2:module_id())
    -- the version object is shared by every particle at that version
    local v = k:version()
    assert.are.equal("Version", nyto.type(v))
    assert.are.equal(v, k:version())
    assert.are.equal(v, c:kernel():version())
    assert.are.equal(v, other:kernel():version())
    assert.are_not.equal(v, Net():kernel():version())
  end)

  it("flat storage: every parameter of a particle shares one storage", function()
    for _, m in ipairs {net, other, net + other, net:clone(), net:randn()} do
      local sid = m.scale:storage_id()
      for name, p in m:named_parameters() do assert.are.equal(sid, p:storage_id(), name) end
    end
    assert.are_not.equal(net.scale:storage_id(), other.scale:storage_id())
  end)

  it("a particle made by operations trains with a hand-written SGD step", function()
    local r = 0.5 * net + 0.5 * other
    local x, y = nyto.randn(8, 3), nyto.randn(8, 2)
    local function loss_of(m) return ((m(x) - y) ^ 2):mean() end
    local l0 = loss_of(r)
    l0:backward()
    for name, p in r:named_parameters() do
      assert.is_not_nil(p.grad, name)
      assert.are.same(p:size(), p.grad:size())
    end
    -- check one gradient against plain autograd on copies
    local w2 = nyto.Parameter(r.fc2.bias:detach():clone())
    local h = (x:matmul(r.fc1.weight:detach():t()) + r.fc1.bias:detach()) * r.scale:detach()
    local l2 = ((h:matmul(r.fc2.weight:detach():t()) + w2 - y) ^ 2):mean()
    l2:backward()
    assert.is_true(r.fc2.bias.grad:allclose(w2.grad, 1e-4, 1e-6))
    local before = l0:item()
    nyto.no_grad(function()
      for _, p in ipairs(r:parameters()) do p:sub_(p.grad * 0.1) end
    end)
    local l1 = loss_of(r):item()
    assert.is_true(l1 < before, ("loss %g -> %g"):format(before, l1))
    -- the step went into the flat storage: particle operations see it
    local st = values(r)
    assert_values(r + 0, st)
    assert.are.equal(r.scale:storage_id(), r.fc2.bias:storage_id())
  end)

  it("a module without parameters is a valid particle", function()
    local e = Empty()
    assert.is_not_nil(e:kernel())
    assert.are.same({}, e:parameters())
    for _, r in ipairs {e + 1, 1 + e, e * e, -e, e:clone(), e:randn(), e:rand(), e ^ 2, e / e} do
      assert.are.same({}, r:parameters())
      assert.is_true(r:same_species(e))
      assert.are.equal(3, r.k)
    end
    assert.are.equal(e, e:add_(1))
    assert.are.equal(e, e:mul_(e))
  end)
end)

describe("particle operations: bad input", function()
  local net
  before_each(function() net = Net() end)

  it("mixing species raises with the clone_from hint", function()
    local x = Net()
    local e = raises("^nyto: bad argument #2 to '.*' %(particles are of different species", function() return net + x end)
    assert.is_truthy(e:find("clone_from", 1, true))
    raises("particles are of different species", function() return net * x end)
    raises("particles are of different species", net.add_, net, x)
    raises("particles are of different species", net.sub_, net, x)
  end)

  it("strings, tables, nil and booleans are not operands", function()
    local before = values(net)
    for _, bad in ipairs {"10", {}, true, false} do
      raises("^nyto: bad argument", function() return net + bad end)
      raises("^nyto: bad argument", function() return bad + net end)
      raises("^nyto: bad argument", function() return net * bad end)
      raises("^nyto: bad argument", function() return bad - net end)
      raises("^nyto: bad argument", function() return net ^ bad end)
      raises("^nyto: bad argument", function() return bad / net end)
      raises("^nyto: bad argument #1 to 'add_'", net.add_, net, bad)
      raises("^nyto: bad argument #1 to 'pow_'", net.pow_, net, bad)
    end
    raises("^nyto: bad argument", function() return net + nil end)
    raises("^nyto: bad argument", function() return nil * net end)
    raises("^nyto: bad argument #1 to 'mul_'", net.mul_, net, nil)
    raises("^nyto: bad argument", function() return net + nyto.zeros(1) end)
    assert_values(net, before)
  end)
end)

describe("risky structures", function()
  it("warn when a submodule refers back to the root", function()
    local net = Net()
    local got = with_warnings(function() net.fc1.back = net end)
    assert.are.equal(1, #got)
    assert.is_truthy(got[1]:find("^nyto: "))
    assert.is_truthy(got[1]:find("back", 1, true))
    assert.is_true(rawequal(net, net.fc1.back))
    -- the module tree stays usable: each module listed once, operations work
    assert.are.equal(3, #net:modules())
    assert.are.equal(5, #net:parameters())
    local a = values(net)
    assert_values(net + 1, map(a, function(t) return t + 1 end))
    assert.is_string(tostring(net))
    -- inside a constructor too
    local Cyc = nyto.class("Cyc")
    function Cyc:init() self.fc = Lin(1, 1); self.fc.up = self end
    function Cyc:forward(x) return x end
    local c
    got = with_warnings(function() c = Cyc() end)
    assert.are.equal(1, #got)
    assert.are.equal(2, #c:parameters())
    assert.is_true(rawequal(c, c.fc.up))
  end)

  it("warn when one module is placed in two particles", function()
    local n1, n2 = Net(), Net()
    local a1 = values(n1)
    local got = with_warnings(function() n2.shared = n1.fc1 end)
    assert.are.equal(1, #got)
    assert.is_truthy(got[1]:find("shared", 1, true))
    assert.is_true(rawequal(n1.fc1, n2.shared))
    -- the first particle keeps its module and values
    assert.are.equal(n1:kernel(), n1.fc1:kernel())
    assert.are.same(PNAMES, names_of(n1:named_parameters()))
    assert_values(n1 + 1, map(a1, function(t) return t + 1 end))
    local sid = n1.scale:storage_id()
    for _, p in ipairs(n1:parameters()) do assert.are.equal(sid, p:storage_id()) end
    -- the second particle stays consistent
    local a2 = values(n2)
    assert_values(n2 * 2, map(a2, function(t) return t * 2 end))
  end)

  it("warn when one module is placed twice in one particle", function()
    local net = Net()
    local got = with_warnings(function() net.again = net.fc1 end)
    assert.are.equal(1, #got)
    assert.is_truthy(got[1]:find("again", 1, true))
    assert.is_true(rawequal(net.fc1, net.again))
    assert.are.same(PNAMES, names_of(net:named_parameters()))
    assert.are.equal(3, #net:modules())
    -- inside a constructor: the same module assigned twice, and shared by two children
    local Twice = nyto.class("Twice")
    function Twice:init() self.a = Lin(1, 1); self.b = self.a end
    function Twice:forward(x) return x end
    local t
    got = with_warnings(function() t = Twice() end)
    assert.are.equal(1, #got)
    assert.are.same({"a.weight", "a.bias"}, names_of(t:named_parameters()))
    assert.is_true(rawequal(t.a, t.b))
    local Wrap = nyto.class("Wrap")
    function Wrap:init(l) self.l = l end
    function Wrap:forward(x) return self.l(x) end
    local Shared = nyto.class("Shared")
    function Shared:init() local l = Lin(2, 2); self.x = Wrap(l); self.y = Wrap(l) end
    function Shared:forward(x) return self.y(self.x(x)) end
    local sh
    got = with_warnings(function() sh = Shared() end)
    assert.are.equal(1, #got)
    assert.are.same({"x.l.weight", "x.l.bias"}, names_of(sh:named_parameters()))
    assert.is_true(rawequal(sh.x.l, sh.y.l))
    local v = values(sh)
    assert_values(sh * 3, map(v, function(q) return q * 3 end))
    local x = nyto.randn(1, 2)
    local l = sh.x.l
    local h = x:matmul(l.weight:detach():t()) + l.bias:detach()
    assert.is_true(sh(x):detach():allclose(h:matmul(l.weight:detach():t()) + l.bias:detach(), 1e-5, 1e-6))
  end)

  it("a particle root assigned in a constructor joins the new particle", function()
    local l = Lin(2, 2)
    local lv = values(l)
    local Wrap = nyto.class("Wrap2")
    function Wrap:init() self.l = l end
    function Wrap:forward(x) return self.l(x) end
    local w
    local got = with_warnings(function() w = Wrap() end)
    assert.are.same({}, got)
    assert.is_true(rawequal(l, w.l))
    assert.are.equal(w:kernel(), l:kernel())
    assert.is_false(l:is_root())
    assert_values(w + 1, map(lv, function(t) return t + 1 end))
    assert.are.equal(w.l.weight:storage_id(), w.l.bias:storage_id())
  end)

  it("adding a freshly constructed module does not warn", function()
    local net = Net()
    local got = with_warnings(function() net.fc3 = Lin(2, 2) end)
    assert.are.same({}, got)
  end)

  it("on_warning(nil) restores warn", function()
    local seen = {}
    local old_warn = warn
    nyto.on_warning(function(m) seen[#seen + 1] = m end)
    nyto.on_warning(nil)
    local via_warn = {}
    _G.warn = function(...) via_warn[#via_warn + 1] = table.concat({...}) end
    local ok, e = pcall(function() local n = Net(); n.fc1.back = n end)
    _G.warn = old_warn
    assert.is_true(ok, e)
    assert.are.same({}, seen)
    local found = false
    for _, m in ipairs(via_warn) do if m:find("^nyto: ") then found = true end end
    assert.is_true(found)
    raises("^nyto: bad argument #1 to 'on_warning'", nyto.on_warning, 3)
  end)
end)
