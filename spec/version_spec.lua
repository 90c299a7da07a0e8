-- Species versions: the "Versions" section of API.md.  A structural change
-- (add/remove a parameter, buffer or submodule) in one particle makes a new
-- version; the other particles of the species follow on touch().
local nyto = require "nyto"

local Lin = require("helpers").Lin("VLin")

local Net = nyto.class("VNet")
function Net:init()
  self.fc1 = Lin(3, 4)
  self.scale = nyto.Parameter(nyto.rand(1) + 0.5)
  self.fc2 = Lin(4, 2)
  self:register_buffer("running", nyto.zeros(2))
end
function Net:forward(x) return self.fc2(self.fc1(x) * self.scale) end

local PNAMES = {"scale", "fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias"}

-- helpers ------------------------------------------------------------------------
local names_of = require("helpers").names_of

local function named_values(net)
  local out = {}
  for n, p in net:named_parameters() do out[n] = p:detach():clone() end
  return out
end

local function assert_named(net, expected, f)
  local n = 0
  for name, p in net:named_parameters() do
    n = n + 1
    local e = expected[name]
    assert.is_not_nil(e, "unexpected parameter " .. name)
    if f then e = f(e, name) end
    assert.is_true(p:detach():allclose(e, 1e-5, 1e-6), ("%s: got %s, expected %s"):format(name, tostring(p), tostring(e)))
  end
  local m = 0
  for _ in pairs(expected) do m = m + 1 end
  assert.are.equal(m, n)
end

local function one_storage(net)
  local sid
  for name, p in net:named_parameters() do
    sid = sid or p:storage_id()
    assert.are.equal(sid, p:storage_id(), name .. " is not in the flat storage")
  end
  return sid
end

local raises = require("helpers").raises

local function version_of(net) return net:kernel():version() end

-- a particle op consistency check: (net + 0) has net's own values
local function assert_consistent(net)
  assert_named(net + 0, named_values(net))
  one_storage(net)
end

describe("versions: the six events", function()
  local a, b, va, vb, bv
  before_each(function()
    nyto.manual_seed(3)
    a = Net()
    b = a * 2 -- lazily viewed parameters
    va, vb = named_values(a), named_values(b)
    bv = version_of(b)
  end)

  local function changed(fn)
    local v0 = version_of(a)
    assert.are.equal(v0, bv)
    fn()
    -- the changer is at the new version at once, the other particle is not
    local v1 = version_of(a)
    assert.are.equal("Version", nyto.type(v1))
    assert.are_not.equal(v0, v1)
    assert.are.equal(v0:number() + 1, v1:number())
    assert.are.equal(v0, version_of(b))
    assert.is_true(rawequal(b, b:touch()))
    assert.are.equal(v1, version_of(b))
    return v1
  end

  it("adding a parameter: the changer keeps the tensor, others get clones", function()
    local extra = nyto.Parameter(nyto.randn(3))
    changed(function() a.extra = extra end)
    assert.is_true(rawequal(extra, a.extra))
    assert.is_not_nil(b.extra)
    assert.is_false(rawequal(extra, b.extra))
    assert.is_true(nyto.equal(extra:detach(), b.extra:detach()))
    assert.is_true(b.extra:requires_grad())
    assert.is_true(b.extra:is_leaf())
    nyto.no_grad(function() b.extra:add_(1) end)
    assert.is_true(nyto.equal(extra:detach() + 1, b.extra:detach()))
    assert.is_true(nyto.equal(extra:detach(), a.extra:detach()))
    local names = {"scale", "extra", "fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias"}
    assert.are.same(names, names_of(a:named_parameters()))
    assert.are.same(names, names_of(b:named_parameters()))
    vb.extra = extra:detach() + 1
    va.extra = extra:detach()
    assert_named(b, vb)
    assert_named(a, va)
    assert.are_not.equal(one_storage(a), one_storage(b))
    assert.are.equal(a:get_param_id(a.extra), b:get_param_id(b.extra))
    assert_consistent(a)
    assert_consistent(b)
  end)

  it("removing a parameter", function()
    local held = a.scale
    local held_v = va.scale
    changed(function() a.scale = nil end)
    assert.is_nil(a.scale)
    assert.is_nil(b.scale)
    va.scale, vb.scale = nil, nil
    assert_named(a, va)
    assert_named(b, vb)
    -- a script holding the removed parameter keeps a valid tensor
    assert.is_true(held:detach():allclose(held_v))
    nyto.no_grad(function() held:fill_(9) end) -- writes nowhere into a's storage
    assert_named(a, {["fc1.weight"] = va["fc1.weight"], ["fc1.bias"] = va["fc1.bias"],
                     ["fc2.weight"] = va["fc2.weight"], ["fc2.bias"] = va["fc2.bias"]})
    assert.are.same({"fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias"}, names_of(b:named_parameters()))
    assert_consistent(a)
    assert_consistent(b)
  end)

  it("adding a buffer: every particle gets the same tensor", function()
    local t = nyto.randn(2)
    changed(function() a:register_buffer("extra_buf", t) end)
    assert.is_true(rawequal(t, a.extra_buf))
    assert.is_true(rawequal(t, b.extra_buf))
    assert.are.same({"running", "extra_buf"}, names_of(b:named_buffers()))
    assert_named(b, vb)
  end)

  it("removing a buffer", function()
    changed(function() a.running = nil end)
    assert.is_nil(a.running)
    assert.is_nil(b.running)
    assert.are.same({}, b:buffers())
    assert_named(b, vb)
  end)

  it("adding a submodule: the changer keeps the module, others get clones", function()
    local sub = Lin(2, 2)
    local sv = named_values(sub)
    changed(function() a.fc3 = sub end)
    assert.is_true(rawequal(sub, a.fc3))
    assert.are.equal(a:kernel(), sub:kernel())
    assert.is_false(sub:is_root())
    assert.is_not_nil(b.fc3)
    assert.is_false(rawequal(sub, b.fc3))
    assert.are.equal(Lin, b.fc3:class())
    assert.are.equal(b:kernel(), b.fc3:kernel())
    assert.are.equal(a.fc3:module_id(), b.fc3:module_id())
    assert.are.equal(sub, a:kernel():modules()[sub:module_id()])
    assert.are.equal(b.fc3, b:kernel():modules()[sub:module_id()])
    assert.is_false(rawequal(sub.weight, b.fc3.weight))
    assert.is_true(nyto.equal(sv.weight, b.fc3.weight:detach()))
    assert.is_true(nyto.equal(sv.bias, b.fc3.bias:detach()))
    assert.is_true(nyto.equal(sv.weight, a.fc3.weight:detach()))
    vb["fc3.weight"], vb["fc3.bias"] = sv.weight, sv.bias
    assert_named(b, vb)
    assert.are.same({"", "fc1", "fc2", "fc3"}, names_of(b:named_modules()))
    assert_consistent(a)
    assert_consistent(b)
    -- a's tensor and b's are independent
    b:add_(1)
    assert.is_true(nyto.equal(sv.weight, a.fc3.weight:detach()))
  end)

  it("removing a submodule", function()
    local held = a.fc1
    changed(function() a.fc1 = nil end)
    assert.is_nil(a.fc1)
    assert.is_nil(b.fc1)
    for _, n in ipairs {"fc1.weight", "fc1.bias"} do va[n], vb[n] = nil, nil end
    assert_named(a, va)
    assert_named(b, vb)
    assert.are.same({"", "fc2"}, names_of(b:named_modules()))
    -- the removed module left the particle with valid tensors
    assert.is_nil(held:kernel())
    assert.is_true(held.weight:allclose(held.weight:detach():clone()))
    assert_consistent(a)
    assert_consistent(b)
  end)
end)

describe("versions: following", function()
  local a, b
  before_each(function()
    nyto.manual_seed(4)
    a = Net()
    b = a:randn()
  end)

  it("particle operations touch their operands first", function()
    local before = named_values(b)
    a.extra = nyto.Parameter(nyto.ones(2))
    local r = b + 1
    assert.are.equal(version_of(a), version_of(r))
    assert.are.equal(version_of(a), version_of(b))
    assert.is_true(nyto.equal(r.extra:detach(), nyto.full({2}, 2)))
    before.extra = nyto.ones(2)
    assert_named(r, before, function(t) return t + 1 end)
    -- a binary operation with a particle behind
    local c = a:clone()
    a.fc2 = nil
    local s = c * a
    assert.is_nil(s.fc2)
    assert.are.same(names_of(a:named_parameters()), names_of(s:named_parameters()))
    local cv, av = named_values(c), named_values(a)
    assert_named(s, cv, function(t, n) return t * av[n] end)
    -- in place too
    local d = a:clone()
    a:register_buffer("z", nyto.zeros(1))
    assert.are.equal(b, b:mul_(2))
    assert.is_not_nil(b.z)
    d:add_(b)
    assert.are.equal(version_of(a), version_of(d))
  end)

  it("a change deep in a submodule reaches the same submodule of the others", function()
    local p = nyto.Parameter(nyto.randn(4))
    a.fc1.extra = p
    local _, _p = require("nyto.particle.records").field_keys() -- the raw parameter table
    assert.is_nil(rawget(b.fc1, _p).extra)
    b:touch()
    assert.is_not_nil(b.fc1.extra)
    assert.is_true(nyto.equal(p:detach(), b.fc1.extra:detach()))
    assert.are.same({"scale", "fc1.weight", "fc1.bias", "fc1.extra", "fc2.weight", "fc2.bias"},
      names_of(b:named_parameters()))
    -- a change in a submodule added by an earlier version
    a.fc3 = Lin(1, 1)
    a.fc3.deep = Lin(1, 2)
    a.fc3.deep:register_buffer("m", nyto.ones(1))
    a.fc3.deep.bias = nil
    b:touch()
    assert.are.same(names_of(a:named_parameters()), names_of(b:named_parameters()))
    assert.are.same(names_of(a:named_buffers()), names_of(b:named_buffers()))
    assert.is_true(rawequal(a.fc3.deep.m, b.fc3.deep.m))
    assert.is_nil(b.fc3.deep.bias)
    assert.is_true(nyto.equal(a.fc3.deep.weight:detach(), b.fc3.deep.weight:detach()))
    assert_consistent(b)
  end)

  it("detach()ed particles do not follow and stay consistent", function()
    local d = a:detach()
    local dv = named_values(d)
    a.extra = nyto.Parameter(nyto.ones(1))
    a.fc2 = nil
    assert.is_true(rawequal(d, d:touch()))
    assert.is_nil(d.extra)
    assert.is_not_nil(d.fc2)
    assert.are.same(PNAMES, names_of(d:named_parameters()))
    assert.are_not.equal(version_of(a), version_of(d))
    assert_named(d, dv)
    assert_consistent(d)
    -- they no longer share storage: a change to one does not reach the other
    a:add_(1)
    assert_named(d, dv)
    assert_consistent(d)
    d:mul_(2)
    assert_named(d, dv, function(t) return t * 2 end)
    assert_consistent(a)
    assert_consistent(d)
    -- and a structural change of the detached one does not reach its origin
    local a_names = names_of(a:named_parameters())
    d.other = nyto.Parameter(nyto.zeros(1))
    a:touch()
    assert.are.same(a_names, names_of(a:named_parameters()))
    assert.is_nil(a.other)
  end)

  it("a structural change of the detached particle keeps the origin's tensors", function()
    local w = a.fc1.weight
    local d = a:detach()
    d.extra = nyto.Parameter(nyto.zeros(1))
    assert.is_true(rawequal(w, a.fc1.weight))
    assert.is_false(rawequal(w, d.fc1.weight))
    assert.is_true(nyto.equal(w:detach(), d.fc1.weight:detach()))
    assert_consistent(a)
    assert_consistent(d)
    a:add_(1)
    assert.is_true((w:detach() - 1):allclose(d.fc1.weight:detach(), 1e-5, 1e-6))
  end)

  it("a submodule a script holds leaves the particle when a replayed change removes it", function()
    local held = b.fc1
    local hv = named_values(held)
    a.fc1 = nil
    b:touch()
    assert.is_nil(b.fc1)
    assert.is_nil(held:kernel())
    assert_named(held, hv)
    -- changing it is no change of the species
    local v = version_of(a)
    held.more = nyto.Parameter(nyto.zeros(1))
    assert.are.equal(v, version_of(a))
    -- the same when the change comes before the touch
    local c = a:clone()
    local held2 = c.fc2
    a.fc2 = nil
    held2.more = nyto.Parameter(nyto.zeros(1))
    assert.are.equal(version_of(a), version_of(c))
    assert.is_nil(c.fc2)
    assert.is_nil(held2:kernel())
    assert.are.same({"weight", "bias", "more"}, names_of(held2:named_parameters()))
    assert.are.same({"scale"}, names_of(c:named_parameters()))
    assert_consistent(c)
  end)

  it("a particle created after a change is born at the newest version", function()
    local v0 = version_of(a)
    a.extra = nyto.Parameter(nyto.zeros(1))
    for _, c in ipairs {a:clone(), a + 1, a:randn(), a:rand(), -a, b + 1} do
      assert.are.equal(version_of(a), version_of(c))
      assert.is_not_nil(c.extra)
    end
    assert.are_not.equal(v0, version_of(a))
  end)

  it("a particle three versions behind replays all changes in order", function()
    local bv = named_values(b)
    local pid_w2 = b:get_param_id(b.fc2.weight)
    local mid_fc2 = b.fc2:module_id()
    local p1 = nyto.Parameter(nyto.randn(2))
    local v0 = version_of(a)
    a.p1 = p1                       -- v1
    a.fc1.p2 = nyto.Parameter(nyto.randn(1)) -- v2
    a.scale = nil                   -- v3
    a.p1 = nil                      -- v4
    a.p1 = nyto.Parameter(nyto.randn(5)) -- v5: the same name, another shape
    assert.are.equal(v0:number() + 5, version_of(a):number())
    assert.are.equal(v0, version_of(b))
    b:touch()
    assert.are.equal(version_of(a), version_of(b))
    assert.are.same({"p1", "fc1.weight", "fc1.bias", "fc1.p2", "fc2.weight", "fc2.bias"}, names_of(b:named_parameters()))
    assert.are.same({5}, b.p1:size())
    assert.is_true(nyto.equal(a.p1:detach(), b.p1:detach()))
    assert.is_true(nyto.equal(a.fc1.p2:detach(), b.fc1.p2:detach()))
    bv.scale = nil
    bv.p1, bv["fc1.p2"] = a.p1:detach(), a.fc1.p2:detach()
    assert_named(b, bv)
    -- ids of untouched parameters and modules are stable
    assert.are.equal(pid_w2, b:get_param_id(b.fc2.weight))
    assert.are.equal(pid_w2, a:get_param_id(a.fc2.weight))
    assert.are.equal(mid_fc2, b.fc2:module_id())
    for pid, p in pairs(b:kernel():params()) do assert.are.equal(pid, b:get_param_id(p)) end
    assert.are.equal(a:get_param_id(a.p1), b:get_param_id(b.p1))
    assert_consistent(b)
  end)

  it("the flat storage is rebuilt with values kept and tensor identity kept", function()
    local held = {}
    for n, p in a:named_parameters() do held[n] = p end
    local av = named_values(a)
    local old_sid = one_storage(a)
    a.extra = nyto.Parameter(nyto.randn(3))
    local sid = one_storage(a)
    assert.are_not.equal(old_sid, sid)
    for n, p in a:named_parameters() do
      if held[n] then assert.is_true(rawequal(held[n], p), n) end
    end
    av.extra = a.extra:detach()
    assert_named(a, av)
    -- the tensors are in the new storage: in-place tensor writes reach particle operations
    nyto.no_grad(function() a.scale:fill_(3) end)
    assert.are.equal(3, (a + 0).scale:item())
    -- and training still works
    local x = nyto.randn(4, 3)
    local l = a(x):sum()
    l:backward()
    assert.is_not_nil(a.fc1.weight.grad)
    assert.is_not_nil(a.scale.grad)
  end)
end)

describe("versions: bad input", function()
  local a, b
  before_each(function()
    a = Net()
    b = a:clone()
  end)

  local function unchanged(fn)
    local v = version_of(a)
    local names = names_of(a:named_parameters())
    local mods = names_of(a:named_modules())
    local bufs = names_of(a:named_buffers())
    local av = named_values(a)
    fn()
    assert.are.equal(v, version_of(a))
    assert.are.same(names, names_of(a:named_parameters()))
    assert.are.same(mods, names_of(a:named_modules()))
    assert.are.same(bufs, names_of(a:named_buffers()))
    assert_named(a, av)
    assert_consistent(a)
    b:touch()
    assert.are.equal(v, version_of(b))
    assert_consistent(b)
  end

  it("removing a field that does not exist makes no version", function()
    unchanged(function()
      a.nothing = nil
      a.fc1.nothing = nil
      assert.is_nil(a.nothing)
    end)
  end)

  it("adding a parameter under the name of an existing submodule raises", function()
    unchanged(function()
      raises("^nyto: .*'fc1'.*submodule", function() a.fc1 = nyto.Parameter(nyto.zeros(1)) end)
      raises("^nyto: .*'scale'.*parameter", function() a.scale = Lin(1, 1) end)
      raises("^nyto: .*'running'.*buffer", function() a.running = nyto.Parameter(nyto.zeros(2)) end)
      raises("^nyto: bad argument #1 to 'register_buffer'", a.register_buffer, a, "fc2", nyto.zeros(1))
      raises("^nyto: bad argument #1 to 'register_buffer'", a.register_buffer, a, "scale", nyto.zeros(1))
      raises("^nyto: .*'weight'", function() a.fc1.weight = 3 end)
    end)
  end)

  it("a particle operation between a species and one detached from it raises", function()
    local d = a:detach()
    local e = raises("^nyto: bad argument #2 to '.*' %(particles are of different species", function() return a + d end)
    assert.is_truthy(e:find("clone_from", 1, true))
    raises("particles are of different species", function() return d - a end)
    raises("particles are of different species", a.add_, a, d)
    -- clone_from is the way between them
    a:add_(1)
    local dd = d:detach()
    local r = dd:clone_from(a)
    assert.is_true(r:same_species(dd))
    assert_named(r, named_values(a))
  end)

  it("an error half-way through leaves no particle at a half-applied version", function()
    local broken = Lin(2, 2)
    broken.bias:free()
    unchanged(function()
      raises("^nyto: .*freed", function() a.extra_mod = broken end)
      assert.is_nil(a.extra_mod)
    end)
    -- a module holding a freed parameter inside a submodule
    local Outer = nyto.class("VOuter")
    function Outer:init() self.inner = Lin(1, 1) end
    function Outer:forward(x) return x end
    local o = Outer()
    o.inner.weight:free()
    unchanged(function()
      raises("^nyto: .*freed", function() a.fc1.o = o end)
    end)
    -- the species still works after the failed changes
    a.ok = nyto.Parameter(nyto.ones(1))
    b:touch()
    assert.is_not_nil(b.ok)
    assert_consistent(a)
    assert_consistent(b)
  end)
end)

-- issue 13, points 4 and 5: a structural change decides on the newest
-- structure, and checks everything before it changes anything
describe("versions: hardening", function()
  local function mod_names(net) return names_of(net:named_modules()) end

  it("two particles of one species add a submodule under one name: the second replaces the first's", function()
    local a = Net()
    local b = a * 2 -- behind after a's change
    a.extra = Lin(4, 4)
    b.extra = Lin(4, 3) -- b first follows a's version, then replaces its 'extra'
    local want = {"", "fc1", "fc2", "extra"}
    assert.are.same(want, mod_names(b))
    assert.are.same({3, 4}, b.extra.weight:size())
    a:touch()
    assert.are.same(want, mod_names(a))
    assert.are.same({3, 4}, a.extra.weight:size())
    -- the kernel is consistent: operations, wrappers and printing work
    assert.are.same(want, mod_names(-1.5 / a))
    assert.equal(4, #(-1.5 / a):modules())
    local pm = nyto.ParticleModule(a)
    assert.equal(1, select(2, tostring(pm):gsub("%(extra%)", "")))
    pm:restore_kernel_ref()
    assert_consistent(b)
  end)

  it("a behind particle that removes a submodule another added: it is gone everywhere", function()
    local a = Net()
    local b = a:clone()
    a.extra = Lin(4, 4)
    b.extra = nil
    assert.are.same({"", "fc1", "fc2"}, mod_names(b))
    a:touch()
    assert.are.same({"", "fc1", "fc2"}, mod_names(a))
  end)

  it("assigning a module with a freed parameter over a submodule keeps the old one", function()
    local a = Net()
    local w = a.fc1.weight:detach():clone()
    local broken = Lin(3, 4)
    broken.weight:free()
    local v = version_of(a)
    raises("^nyto: bad argument to '__newindex' %(parameter 'fc1%.weight' is a freed Tensor%)",
      function() a.fc1 = broken end)
    assert.equal(v, version_of(a))
    assert.are.same({"", "fc1", "fc2"}, mod_names(a))
    assert.is_true(nyto.equal(w, a.fc1.weight))
    assert_consistent(a)
  end)

  it("a particle holding a freed parameter refuses every structural change, changing nothing", function()
    local a = Net()
    local b = a:clone()
    a.fc1.weight:free()
    local v = version_of(a)
    local msg = "^nyto: cannot change the structure of this particle: its parameter 'fc1%.weight' is a freed Tensor$"
    raises(msg, function() a.extra = Lin(2, 2) end)
    raises(msg, function() a.p = nyto.Parameter(nyto.zeros(2)) end)
    raises(msg, function() a.fc2.bias = nil end)
    raises(msg, function() a.fc2 = nil end)
    raises(msg, a.register_buffer, a, "bb", nyto.zeros(2))
    raises(msg, function() a.running = nil end)
    assert.equal(v, version_of(a))
    assert.are.same({"", "fc1", "fc2"}, mod_names(a))
    assert.are.same(PNAMES, names_of(a:named_parameters()))
    assert.are.same({"running"}, names_of(a:named_buffers()))
    -- the other particle of the species is untouched
    b:touch()
    assert.equal(v, version_of(b))
    assert_consistent(b)
    -- removing the freed parameter itself (or its module) is a change that works
    a.fc1 = nil
    assert.are.same({"", "fc2"}, mod_names(a))
    b:touch()
    assert.are.same({"", "fc2"}, mod_names(b))
    assert_consistent(b)
  end)
end)
