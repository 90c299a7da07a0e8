-- ParticleModule and PMProduct: the "ParticleModule" section of API.md and
-- ../shared/reference/ParticleModule.rst (prompt release).  Values are
-- checked against plain tensor arithmetic on detached copies.
local nyto = require "nyto"

-- small test classes ------------------------------------------------------------
local Lin = require("helpers").Lin("PMLin")

local Net = nyto.class("PMNet")
function Net:init()
  self.fc1 = Lin(3, 4)
  self.fc2 = Lin(4, 2)
  self:register_buffer("running", nyto.zeros(2))
  self.label = "plain"
end
function Net:forward(x) return self.fc2(self.fc1(x):tanh()) end

local PNAMES = {"fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias"}

-- helpers ------------------------------------------------------------------------
local H = require "helpers"
local values, map = H.values, H.map
local function assert_close(got, expected, what) H.assert_values(got, expected, PNAMES, what) end
local function assert_equal_values(got, expected, what) H.assert_values(got, expected, PNAMES, what, true) end

local raises = require("helpers").raises

local names_of = require("helpers").names_of

-- every module of a tree has no kernel reference (or, with k, exactly k)
local function assert_refs(root, k)
  for _, m in ipairs(root:modules()) do
    if k == nil then assert.is_nil(m:kernel()) else assert.is_true(rawequal(k, m:kernel())) end
  end
end

describe("nyto.ParticleModule", function()
  it("wraps a root module: pm(x) is root(x), pm.root_module, nyto.type", function()
    nyto.manual_seed(41)
    local net = Net()
    local pm = nyto.ParticleModule(net)
    assert.are.equal("ParticleModule", nyto.type(pm))
    assert.is_true(rawequal(net, pm.root_module))
    assert.are.equal(nyto.ParticleModule, pm:class())
    local x = nyto.randn(5, 3)
    local y = pm(x)
    local expected = net(x)
    assert.is_true(y:allclose(expected))
    -- and against plain arithmetic
    local w1, b1 = net.fc1.weight:detach(), net.fc1.bias:detach()
    local w2, b2 = net.fc2.weight:detach(), net.fc2.bias:detach()
    local plain = (x:matmul(w1:t()) + b1):tanh():matmul(w2:t()) + b2
    assert.is_true(y:detach():allclose(plain, 1e-5, 1e-6))
    assert.is_true(y:requires_grad())
    assert.is_true(pm:forward(x):allclose(expected))
    assert.are.equal("ParticleModule(\n  (root_module): PMNet(\n    (fc1): PMLin()\n    (fc2): PMLin()\n  )\n)", tostring(pm))
  end)

  it("raises for a non-root, a non-module and a freed module", function()
    local net = Net()
    raises("^nyto: bad argument #1 to 'ParticleModule' %(not a root module", function() return nyto.ParticleModule(net.fc1) end)
    raises("^nyto: bad argument #1 to 'ParticleModule' %(module expected, got number", function() return nyto.ParticleModule(3) end)
    raises("^nyto: bad argument #1 to 'ParticleModule' %(module expected, got table", function() return nyto.ParticleModule({}) end)
    raises("^nyto: bad argument #1 to 'ParticleModule' %(module expected, got Tensor", function() return nyto.ParticleModule(nyto.zeros(1)) end)
    raises("^nyto: bad argument #1 to 'ParticleModule' %(module expected, got Product", function() return nyto.ParticleModule(net:product()) end)
    raises("^nyto: bad argument #1 to 'ParticleModule' %(module expected, got nil", function() return nyto.ParticleModule() end)
    raises("^nyto: bad argument #1 to 'ParticleModule' %(module expected, got ParticleModule", function()
      return nyto.ParticleModule(nyto.ParticleModule(Net()))
    end)
    local gone = Net()
    gone:free()
    raises("^nyto: .*freed", function() return nyto.ParticleModule(gone) end)
    -- nothing was changed by the failures
    assert.is_not_nil(net:kernel())
    assert.is_not_nil(net.fc1:kernel())
  end)

  it("forwards the root's introspection", function()
    local net = Net()
    local pm = nyto.ParticleModule(net)
    local ps, rs = pm:parameters(), net:parameters()
    assert.are.equal(4, #ps)
    for i = 1, 4 do assert.is_true(rawequal(ps[i], rs[i])) end
    assert.are.same(PNAMES, names_of(pm:named_parameters()))
    local sd = pm:state_dict()
    assert.is_true(rawequal(net.fc1.weight, sd["fc1.weight"]))
    assert.is_true(rawequal(net.running, sd.running))
    assert.are.same({"", "fc1", "fc2"}, names_of(pm:named_modules()))
    assert.are.equal(3, #pm:modules())
    assert.are.same({"running"}, names_of(pm:named_buffers()))
    assert.are.equal(2, #pm:children())
    assert.is_true(pm.training)
    assert.is_true(rawequal(pm, pm:eval()))
    assert.is_false(net.training)
    assert.is_false(net.fc2.training)
    assert.is_false(pm.training)
    assert.is_true(rawequal(pm, pm:train()))
    assert.is_true(net.fc1.training)
    -- methods that return their receiver return the ParticleModule
    assert.is_true(rawequal(pm, pm:touch()))
    assert.is_true(rawequal(pm, pm:set_param_config{name = "fc1", tag = 1}))
    assert.is_true(rawequal(pm, pm:apply_param_config(function() end)))
    assert.is_true(rawequal(pm, pm:zero_grad()))
    assert.is_true(rawequal(pm, pm:load_state_dict(pm:state_dict())))
    assert.are.equal(1, pm:param_config("fc1.weight").tag)
    assert.are.equal(net:get_param_id(net.fc2.bias), pm:get_param_id(net.fc2.bias))
    assert.are.equal(1, pm:module_id())
    assert.is_true(pm:is_root())
  end)

  it("clears the kernel references; restore_kernel_ref and clear_kernel_ref toggle them", function()
    local net = Net()
    local k = net:kernel()
    assert.is_not_nil(k)
    local pm = nyto.ParticleModule(net)
    assert_refs(net, nil)
    assert.is_nil(pm:kernel())
    assert.is_true(rawequal(pm, pm:restore_kernel_ref()))
    assert_refs(net, k)
    assert.is_true(rawequal(k, pm:kernel()))
    assert.is_true(rawequal(pm, pm:clear_kernel_ref()))
    assert_refs(net, nil)
    -- a ParticleModule made by an operation: its tree is built on first use, without references
    local r = pm + 1
    assert.is_nil(r.root_module:kernel())
    assert_refs(r.root_module, nil)
    r:restore_kernel_ref()
    local rk = r.root_module:kernel()
    assert.is_not_nil(rk)
    assert.is_false(rawequal(rk, k))
    assert_refs(r.root_module, rk)
    r:clear_kernel_ref()
    assert_refs(r.root_module, nil)
    -- restored before the tree is built
    local s = pm * 2
    s:restore_kernel_ref()
    assert.is_not_nil(s.root_module:kernel())
    assert_refs(s.root_module, s.root_module:kernel())
  end)

  it("changing the structure of a module whose reference is cleared raises; restore first", function()
    local net = Net()
    local pm = nyto.ParticleModule(net)
    local before = names_of(pm:named_parameters())
    local function changes()
      return {
        function() net.extra = nyto.Parameter(nyto.ones(2)) end,
        function() net.fc1.extra = nyto.Parameter(nyto.ones(2)) end,
        function() net.head = Lin(2, 1) end,
        function() net.fc2 = nil end,
        function() net.fc1.bias = nil end,
        function() net:register_buffer("count", nyto.zeros(1)) end,
        function() net.running = nil end,
      }
    end
    for i, f in ipairs(changes()) do
      raises("^nyto: cannot .*restore_kernel_ref", f)
      assert.are.same(before, names_of(pm:named_parameters()), "change " .. i)
    end
    assert.are.same({"running"}, names_of(pm:named_buffers()))
    -- plain fields are not structure
    net.note = "ok"
    assert.are.equal("ok", net.note)
    -- the same on a ParticleModule made by an operation
    local r = pm + 1
    raises("^nyto: cannot .*restore_kernel_ref", function() r.root_module.fc1.extra = nyto.Parameter(nyto.ones(1)) end)
    -- restored: the change works, and reaches the other particles of the species
    pm:restore_kernel_ref()
    net.extra = nyto.Parameter(nyto.ones(2))
    assert.are.same({"extra", "fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias"}, names_of(pm:named_parameters()))
    pm:clear_kernel_ref()
    raises("^nyto: cannot .*restore_kernel_ref", function() net.extra = nil end)
    local r2 = r * 2 -- r follows the new version
    assert.are.same({2, 2}, r2.root_module.extra:detach():totable())
    assert.are.same({"extra", "fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias"}, names_of(r:named_parameters()))
  end)

  it("a ParticleModule following a structural change keeps its references cleared", function()
    local net = Net()
    local pm = nyto.ParticleModule(net:clone())
    net.head = Lin(2, 2)
    local r = pm + 0
    assert.is_not_nil(pm.root_module.head)
    assert_refs(pm.root_module, nil)
    assert_refs(r.root_module, nil)
    raises("^nyto: cannot .*restore_kernel_ref", function() pm.root_module.head.extra = nyto.Parameter(nyto.ones(1)) end)
  end)
end)

describe("particle operations on a ParticleModule", function()
  local MyPM = nyto.class("MyPM", nyto.ParticleModule)
  local inits = 0
  function MyPM:init(root)
    inits = inits + 1
    assert.is_true(rawequal(root, self.root_module))
    self.serial = inits
  end

  local pm, v, q, w
  before_each(function()
    nyto.manual_seed(51)
    pm = MyPM(Net():rand() + 0.5)
    v = values(pm)
    q = MyPM((pm.root_module:rand() + 0.5))
    w = values(q)
  end)

  local function check(r, expected, what)
    assert.are.equal(MyPM, r:class(), what)
    assert.are.equal("ParticleModule", nyto.type(r), what)
    assert.is_true(r:same_species(pm), what)
    assert.is_nil(r.root_module:kernel(), what)
    assert_close(values(r), expected, what)
  end

  it("with numbers, both sides", function()
    check(pm + 2, map(v, function(t) return t + 2 end), "pm+n")
    check(2 + pm, map(v, function(t) return t + 2 end), "n+pm")
    check(pm - 2, map(v, function(t) return t - 2 end), "pm-n")
    check(2 - pm, map(v, function(t) return 2 - t end), "n-pm")
    check(pm * 3, map(v, function(t) return t * 3 end), "pm*n")
    check(3 * pm, map(v, function(t) return t * 3 end), "n*pm")
    check(pm / 4, map(v, function(t) return t / 4 end), "pm/n")
    check(4 / pm, map(v, function(t) return 4 / t end), "n/pm")
    check(pm ^ 2, map(v, function(t) return t ^ 2 end), "pm^n")
    check(2 ^ pm, map(v, function(t) return nyto.full(t:size(), 2) ^ t end), "n^pm")
    check(-pm, map(v, function(t) return -t end), "-pm")
    check(pm:neg(), map(v, function(t) return -t end), "neg")
    check(pm:mul(0.5):add(10), map(v, function(t) return t * 0.5 + 10 end), "named")
  end)

  it("between ParticleModules of one species", function()
    check(pm + q, map(v, function(t, i) return t + w[i] end), "pm+q")
    check(pm - q, map(v, function(t, i) return t - w[i] end), "pm-q")
    check(pm * q, map(v, function(t, i) return t * w[i] end), "pm*q")
    check(pm / q, map(v, function(t, i) return t / w[i] end), "pm/q")
    check(pm ^ q, map(v, function(t, i) return t ^ w[i] end), "pm^q")
    check(0.5 * pm + q * 2, map(v, function(t, i) return t * 0.5 + w[i] * 2 end), "chain")
    assert_equal_values(values(pm), v, "operand")
    assert_equal_values(values(q), w, "operand")
  end)

  it("in place forms change the receiver and return it", function()
    local r = pm:clone()
    assert.is_true(rawequal(r, r:add_(1)))
    assert.is_true(rawequal(r, r:mul_(q)))
    assert.is_true(rawequal(r, r:sub_(0.5)))
    assert.is_true(rawequal(r, r:div_(q)))
    assert.is_true(rawequal(r, r:pow_(2)))
    check(r, map(v, function(t, i) return (((t + 1) * w[i] - 0.5) / w[i]) ^ 2 end), "in place")
    assert_equal_values(values(pm), v)
    raises("^nyto: bad argument #1 to 'add_'", function() r:add_(q:product()) end)
    raises("^nyto: bad argument #1 to 'add_'", function() r:add_("1") end)
  end)

  it("clone, randn, rand, detach and clone_from", function()
    local c = pm:clone()
    check(c, v, "clone")
    c:mul_(0)
    assert_equal_values(values(pm), v)
    local n = pm:randn()
    assert.are.equal(MyPM, n:class())
    assert.is_true(n:same_species(pm))
    assert.is_false(nyto.equal(values(n)[1], v[1]))
    local u = pm:rand()
    assert.are.equal(MyPM, u:class())
    for _, t in ipairs(values(u)) do assert.is_true(t:ge(0):all():item() and t:lt(1):all():item()) end
    local d = pm:detach()
    assert.are.equal(MyPM, d:class())
    assert.is_false(d:same_species(pm))
    -- clone_from: values from another species of the same structure
    local other = nyto.ParticleModule(Net())
    local ov = values(other)
    local r = other:clone_from(pm)
    -- a new ParticleModule of other's species and class with pm's values; both unchanged
    assert.is_false(rawequal(other, r))
    assert.are.equal(nyto.ParticleModule, r:class())
    assert_equal_values(values(r), v)
    assert_equal_values(values(other), ov)
    assert_equal_values(values(pm), v)
    assert.is_true(r:same_species(other))
    assert.is_false(r:same_species(pm))
    local z = other:clone_from(Net():mul_(0))
    for _, t in ipairs(values(z)) do assert.are.equal(0, t:abs():sum():item()) end
    assert_equal_values(values(other), ov)
    -- an instance of a class stays of its class; the PMProduct path sees both operands
    local mc = pm:clone_from(other)
    assert.are.equal(MyPM, mc:class())
    assert_equal_values(values(mc), ov)
    assert_equal_values(values(pm), v)
    local s = (pm:product() + pm:clone_from(other):product()):module()
    check(s, map(v, function(t, i) return t + ov[i] end), "pm + pm:clone_from(other)")
    local Small = nyto.class("PMSmall")
    function Small:init() self.fc1 = Lin(3, 4) end
    function Small:forward(x) return x end
    raises("^nyto: bad argument #1 to 'clone_from' %(structures differ", function() other:clone_from(nyto.ParticleModule(Small())) end)
  end)

  it("init(self, root) runs for every new instance", function()
    local n0 = inits
    local r = 0.5 * pm + 10
    assert.are.equal(n0 + 2, inits)
    assert.are.equal(n0 + 2, r.serial)
    local _ = pm:clone(); _ = pm:randn(); _ = -pm; _ = pm:product():module(); _ = (pm:product() * 2):particle()
    assert.are.equal(n0 + 7, inits)
    -- operations on plain modules never run a ParticleModule's init
    local _m = pm.root_module * 2
    assert.are.equal(n0 + 7, inits)
  end)

  it("bad operands raise", function()
    local other = MyPM(Net())
    raises("^nyto: bad argument #2 to '__add' %(particles are of different species", function() return pm + other end)
    raises("^nyto: bad argument #2 to '__add' %(number or ParticleModule expected, got Module", function() return pm + pm.root_module end)
    raises("^nyto: bad argument #2 to '__mul' %(number or ParticleModule expected, got Product", function() return pm * pm:product().product end)
    raises("^nyto: bad argument #2 to '__sub' %(number or ParticleModule expected, got string", function() return pm - "1" end)
    raises("^nyto: bad argument #1 to '__sub' %(number or ParticleModule expected, got string", function() return "1" - pm end)
    raises("^nyto: bad argument", function() return pm.root_module + pm end)
    raises("^nyto: bad argument", function() return pm + {} end)
  end)
end)

describe("PMProduct", function()
  local MyPM = nyto.class("MyPM2", nyto.ParticleModule)
  local made = 0
  function MyPM:init() made = made + 1 end

  it("pm:product() is a PMProduct with the product API; module() is a ParticleModule of the class", function()
    nyto.manual_seed(61)
    local pm = MyPM(Net():rand() + 0.5)
    local v = values(pm)
    local p = pm:product()
    assert.are.equal("PMProduct", nyto.type(p))
    assert.are.equal("Product", nyto.type(p.product))
    local function back(x, what)
      assert.are.equal("PMProduct", nyto.type(x), what)
      local m = x:module()
      assert.are.equal(MyPM, m:class(), what)
      assert.is_nil(m.root_module:kernel(), what)
      assert.is_true(m:same_species(pm), what)
      return values(m)
    end
    assert_equal_values(back(p, "product"), v)
    local p2 = p + 1
    local p3 = 2 * p2
    local p4 = p3:unary_operator(function(t, c) return t * 2 + 10 end)
    local p5 = p4:binary_operator(p3, function(a, b, c) return a + b end)
    assert_close(back(p2, "p2"), map(v, function(t) return t + 1 end))
    assert_close(back(p3, "p3"), map(v, function(t) return (t + 1) * 2 end))
    assert_close(back(p4, "p4"), map(v, function(t) return (t + 1) * 4 + 10 end))
    assert_close(back(p5, "p5"), map(v, function(t) return (t + 1) * 6 + 10 end))
    for _, x in ipairs {p - p2, p2 / p, p ^ 2, 2 ^ p, 3 - p, -p, p:neg(), p:clone(), p:randn(), p:rand(), p:mul(2)} do
      back(x, "op")
    end
    assert_close(back(p - p2 * p, "mixed"), map(v, function(t) return t - (t + 1) * t end))
    -- in place
    local c = p:clone()
    assert.is_true(rawequal(c, c:add_(p2)))
    assert.is_true(rawequal(c, c:mul_(2)))
    assert_close(back(c, "in place"), map(v, function(t) return (t + t + 1) * 2 end))
    -- module() and particle() run init
    local n0 = made
    local m = p:particle()
    assert.are.equal(n0 + 1, made)
    assert.are.equal(MyPM, m:class())
    -- plain products and PMProducts of one species mix
    local plain = pm.root_module:product()
    assert_close(back(p + plain, "pmp+p"), map(v, function(t) return t * 2 end))
    local r = plain + p
    assert.are.equal("Product", nyto.type(r))
    assert_close(values(r:module()), map(v, function(t) return t * 2 end), "p+pmp")
    assert.is_true(p:same_species(plain))
    assert.is_true(plain:same_species(p))
    local bp = plain:binary_operator(p, function(a, b) return a * 2 - b end)
    assert.are.equal("Product", nyto.type(bp))
    assert_close(back(p + bp, "binary with a PMProduct"), map(v, function(t) return t * 2 end))
    -- pm:product_(pmp) and net:product_(pmp)
    local target = pm:clone()
    assert.is_true(rawequal(target, target:product_(p5)))
    assert_close(values(target), map(v, function(t) return (t + 1) * 6 + 10 end))
    pm.root_module:clone():product_(p2)
    -- other species raise
    local stranger = MyPM(Net()):product()
    raises("^nyto: .*different species", function() return p + stranger end)
    raises("^nyto: .*different species", function() return target:product_(stranger) end)
    assert.is_false(p:same_species(stranger))
  end)

  it("free() and <close> release a PMProduct", function()
    local pm = MyPM(Net())
    local held
    do
      local p <close> = pm:product()
      held = p
      assert.are.equal("PMProduct", nyto.type(p * 2))
    end
    raises("^nyto: attempt to use a freed Product", function() return held + 1 end)
    raises("^nyto: attempt to use a freed Product", function() return held:module() end)
    raises("^nyto: attempt to use a freed Product", function() return pm:product_(held) end)
    local q = pm:product()
    q:free()
    q:free()
    raises("^nyto: attempt to use a freed Product", function() return q:clone() end)
  end)

  it("a class may extend PMProduct: operations keep the class, and the pair of classes of the reference works", function()
    -- the reference document's MyPMProduct / MyParticleModule pair
    local MyP = nyto.class("MyPMProduct", nyto.PMProduct)
    local Pair = nyto.class("PairPM", nyto.ParticleModule)
    local inits = 0
    function MyP:init(product)
      inits = inits + 1
      assert.are.equal("Product", nyto.type(product))
    end
    function MyP:module() return Pair(self.product:module()) end
    function MyP:double() return self * 2 end
    function Pair:product() return MyP(self) end
    nyto.manual_seed(62)
    local pm = Pair(Net())
    local v = values(pm)
    local p = pm:product()
    assert.are.equal(MyP, p:class())
    assert.are.equal("PMProduct", nyto.type(p))
    assert.are.equal(1, inits)
    for what, x in pairs {add = p + 1, radd = 1 + p, mul = p:mul(3), unm = -p, clone = p:clone(), randn = p:randn(),
                          pp = p - p, mixed = p + pm.root_module:product(), unary = p:unary_operator(function(t) return t end),
                          double = p:double()} do
      assert.are.equal(MyP, x:class(), what)
    end
    local m = (0.5 * p + 10):particle()
    assert.are.equal(Pair, m:class())
    assert_close(values(m), map(v, function(t) return 0.5 * t + 10 end))
    assert_close(values(p:double():module()), map(v, function(t) return t * 2 end))
    -- the loop of the reference document, on the pair
    local net = Pair(Net())
    for _ = 1, 10 do net = (0.5 * net:product() + 10):module() end
    assert.are.equal(Pair, net:class())
    -- constructing from a Product or a PMProduct; bad input
    assert.are.equal(nyto.ParticleModule, nyto.PMProduct(pm.root_module:product()):module():class())
    assert.are.equal(Pair, nyto.PMProduct(pm):module():class())
    assert.are.equal(MyP, MyP(nyto.PMProduct(pm) + 1):class())
    raises("^nyto: bad argument #1 to 'MyPMProduct' %(ParticleModule or Product expected, got number%)", MyP, 3)
    raises("^nyto: bad argument #1 to 'MyPMProduct' %(ParticleModule or Product expected, got Module%)", MyP, Net())
    assert.are.equal("class MyPMProduct", tostring(MyP))
  end)

  it("a PMProduct made before a structural change raises when used", function()
    local net = Net()
    local pm = nyto.ParticleModule(net:clone())
    local p = pm:product()
    net.extra = nyto.Parameter(nyto.ones(1))
    raises("^nyto: .*older version", function() return p + 1 end)
    raises("^nyto: .*older version", function() return p:module() end)
    local fresh = pm:product() + 1
    assert.are.same({2}, fresh:module().root_module.extra:detach():totable())
  end)
end)

describe("release", function()
  it("a class's __gc runs exactly once per released object", function()
    local Tracked = nyto.class("TrackedPM", nyto.ParticleModule)
    local serial, deleted = 0, {}
    function Tracked:init() serial = serial + 1; self.id = serial end
    function Tracked:__gc() deleted[self.id] = (deleted[self.id] or 0) + 1 end
    local Sub = nyto.class("TrackedSub", Tracked) -- inherits init and __gc
    do
      local pm = Tracked(Net())
      for _ = 1, 5 do pm = 0.5 * pm + 10 end
      local s = Sub(Net())
      s = s * 2
      assert.are.equal(Sub, s:class())
    end
    collectgarbage(); collectgarbage(); collectgarbage()
    assert.are.equal(13, serial) -- 1 + 5 * 2 + 1 + 1
    for id = 1, serial do assert.are.equal(1, deleted[id], "object " .. id) end
    -- freed objects ran it at free(); the collector does not run it again
    local f = Tracked(Net())
    local fid = f.id
    f:free()
    assert.are.equal(1, deleted[fid])
    f:free()
    f = nil
    collectgarbage(); collectgarbage()
    assert.are.equal(1, deleted[fid])
  end)

  it("examples/particle_release.lua: the reference document's trace, three alive at most", function()
    local run = assert(loadfile("examples/particle_release.lua"))
    local r = run("quiet")
    assert.are.equal(10, #r.alive_after)
    for i, n in ipairs(r.alive_after) do assert.is_true(n <= 3, ("iteration %d: %d alive"):format(i, n)) end
    local expected = {"init cnn=1", "init cnn=2", "init cnn=3", "delete cnn=2", "delete cnn=1"}
    for i = 4, 20, 2 do
      expected[#expected + 1] = ("init cnn=%d"):format(i)
      expected[#expected + 1] = ("init cnn=%d"):format(i + 1)
      expected[#expected + 1] = ("delete cnn=%d"):format(i)
      expected[#expected + 1] = ("delete cnn=%d"):format(i - 1)
    end
    -- the reference's last lines: init cnn=20, init cnn=21, delete cnn=20, delete cnn=19, then 21 at the end
    for i = 1, #expected - 2 do assert.are.equal(expected[i], r.trace[i], "trace line " .. i) end
    assert.are.equal(42, #r.trace)
    local tail = {}
    for i = #r.trace - 2, #r.trace do tail[#tail + 1] = r.trace[i] end
    table.sort(tail)
    assert.are.same({"delete cnn=19", "delete cnn=20", "delete cnn=21"}, tail)
    assert.are.equal(0, r.alive)
  end)

  it("`local pm <close>` and pm:free() release at once; later use raises", function()
    local closed = 0
    local Closing = nyto.class("ClosingPM", nyto.ParticleModule)
    function Closing:__gc() closed = closed + 1 end
    collectgarbage(); collectgarbage()
    local p0 = nyto.stats().particles
    local outside
    do
      local pm <close> = Closing(Net())
      local r <close> = pm * 2
      outside = r
      assert.are.equal(p0 + 2, nyto.stats().particles)
    end
    assert.are.equal(p0, nyto.stats().particles)
    assert.are.equal(2, closed)
    local msg = "^nyto: attempt to use a freed ParticleModule"
    raises(msg, function() return outside + 1 end)
    raises(msg, function() return 1 + outside end)
    raises(msg, function() return -outside end)
    raises(msg, function() return outside(nyto.zeros(1, 3)) end)
    raises(msg, function() return outside:parameters() end)
    raises(msg, function() return outside:product() end)
    raises(msg, function() return outside.root_module end)
    local live = nyto.ParticleModule(Net())
    raises(msg, function() return live + outside end)
    raises(msg, function() return live:clone_from(outside) end)
    assert.are.equal("ParticleModule", nyto.type(outside))
    -- free()
    local pm = nyto.ParticleModule(Net())
    local held = pm.root_module.fc1.weight
    pm:free()
    pm:free() -- once
    raises(msg, function() return pm * 2 end)
    raises("^nyto: attempt to use a freed", function() return held:sum() end)
    collectgarbage(); collectgarbage()
    assert.are.equal(p0 + 1, nyto.stats().particles) -- `live`
    assert.are.equal(2, closed)
  end)

  -- The loops run in a fresh Lua state: the pacing budget grows with every
  -- live tensor of the process (docs/memory.md), and the other spec files of
  -- a busted run keep theirs (spec/data_spec.lua: 30 MiB).
  describe("memory stays bounded without collectgarbage()", function()
    local CHILD = [=[
      collectgarbage(...)
      package.path = "./lua/?.lua;./lua/?/init.lua;" .. package.path
      package.cpath = "./build/lib/?.so;" .. package.cpath
      local nyto = require "nyto"
      nyto.set_gc_mode(...) -- the nyto program may have loaded nyto before this chunk ran
      local Big = nyto.class("PMBig")
      function Big:init()
        self.w = nyto.Parameter(nyto.randn(1024, 1024) * 0.01)
        self.b = nyto.Parameter(nyto.zeros(1024))
      end
      function Big:forward(x) return x:matmul(self.w:t()) + self.b end
      local PBYTES = (1024 * 1024 + 1024) * 4
      local out = {nyto.gc_mode()}
      for _, kind in ipairs {"pm", "plain"} do
        collectgarbage(); collectgarbage()
        local base = nyto.stats().tensor_bytes
        local net = Big()
        if kind == "pm" then net = nyto.ParticleModule(net) end
        local b0 = net:parameters()[2]:detach():clone()
        collectgarbage(); collectgarbage() -- the constructor's temporaries
        nyto.reset_peak()
        for _ = 1, 200 do net = 0.5 * net + 10 end
        local peak = (nyto.stats().peak_tensor_bytes - base) / PBYTES
        -- b -> 20 + (b0 - 20) / 2^200
        local ok = net:parameters()[2]:detach():allclose(nyto.full({1024}, 20) + (b0 - 20) * 0.5 ^ 200)
        out[#out + 1] = ("%s %.3f %s %d"):format(kind, peak, tostring(ok), PBYTES)
      end
      print(table.concat(out, ";"))
    ]=]

    local function run_child(mode)
      local path = os.tmpname()
      local f = assert(io.open(path, "w"))
      f:write(CHILD)
      f:close()
      -- the interpreter running the specs (lua5.4, or the nyto program of check-memory)
      local lua = arg and arg[-1] or "lua5.4"
      if not (lua:match("5%.4") or lua:match("nyto")) then lua = "lua5.4" end
      local pipe = assert(io.popen(("%s %s %s 2>&1"):format(lua, path, mode)))
      local text = pipe:read("a")
      pipe:close()
      os.remove(path)
      local res = {}
      local parts = {}
      for part in text:gmatch("[^;\n]+") do parts[#parts + 1] = part end
      res.mode = parts[1]
      for i = 2, #parts do
        local kind, peak, ok, pbytes = parts[i]:match("^(%a+) ([%d.]+) (%a+) (%d+)$")
        assert.is_not_nil(kind, "child output: " .. text)
        res[kind] = {peak = tonumber(peak), ok = ok == "true", pbytes = tonumber(pbytes)}
      end
      assert.is_not_nil(res.pm, "child output: " .. text)
      assert.is_not_nil(res.plain, "child output: " .. text)
      return res
    end

    for _, mode in ipairs {"generational", "incremental"} do
      it(("for ParticleModules and plain modules of 1M parameters (%s mode)"):format(mode), function()
        local r = run_child(mode)
        assert.are.equal(mode, r.mode)
        for _, kind in ipairs {"pm", "plain"} do
          assert.is_true(r[kind].pbytes >= 4e6)
          assert.is_true(r[kind].ok, kind .. ": wrong values")
          assert.is_true(r[kind].peak <= 4, ("%s: peak %.2f particles"):format(kind, r[kind].peak))
          assert.is_true(r[kind].peak >= 2, ("%s: peak %.2f particles (not measured?)"):format(kind, r[kind].peak))
        end
      end)
    end
  end)
end)
