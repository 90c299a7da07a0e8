-- Species versions through a ParticleModule's root (issue: versions).
local nyto = require "nyto"

local Net = nyto.class("VPMNet")
function Net:init()
  self.fc = nyto.nn.Linear(3, 2)
end
function Net:forward(x) return self.fc(x) end

describe("versions through a ParticleModule", function()
  it("a change made through the restored root reaches the other particles", function()
    local pm = nyto.ParticleModule(Net())
    local other = pm:clone()
    local v0 = pm.root_module:kernel()
    assert.is_nil(v0) -- cleared by the ParticleModule
    pm:restore_kernel_ref()
    local extra = nyto.Parameter(nyto.tensor{1, 2, 3})
    pm.root_module.fc.extra = extra
    assert.is_true(rawequal(pm.root_module.fc.extra, extra))
    pm:clear_kernel_ref()
    -- the other particle follows before an operation
    local sum = other + 1
    local names = {}
    for n in sum:named_parameters() do names[#names + 1] = n end
    assert.same({"fc.weight", "fc.bias", "fc.extra"}, names)
    -- the added parameter reaches it as a clone: equal values + 1, a distinct tensor
    assert.is_true(sum.root_module.fc.extra:allclose(nyto.tensor{2, 3, 4}))
    other:touch()
    assert.is_false(rawequal(other.root_module.fc.extra, extra))
    assert.is_true(other.root_module.fc.extra:allclose(extra:detach()))
  end)

  it("a structural change of a cleared root raises and changes nothing", function()
    local pm = nyto.ParticleModule(Net())
    local ver = pm.particle_kernel:version()
    local ok, e = pcall(function() pm.root_module.fc.extra = nyto.Parameter(nyto.zeros(2)) end)
    assert.is_false(ok)
    assert.matches("^nyto: .*restore_kernel_ref", e)
    assert.equal(ver, pm.particle_kernel:version())
    local n = 0
    for _ in pm:named_parameters() do n = n + 1 end
    assert.equal(2, n)
  end)

  it("a particle three versions behind replays the changes in order", function()
    local pm = nyto.ParticleModule(Net())
    local behind = pm:clone()
    pm:restore_kernel_ref()
    local root = pm.root_module
    root.a = nyto.Parameter(nyto.ones(2))
    root:register_buffer("stat", nyto.zeros(1))
    root.a = nil
    pm:clear_kernel_ref()
    behind:touch()
    local names = {}
    for n in behind:named_parameters() do names[#names + 1] = n end
    assert.same({"fc.weight", "fc.bias"}, names)
    local bufs = {}
    for n, b in behind:named_buffers() do bufs[#bufs + 1] = n end
    assert.same({"stat"}, bufs)
    -- an added buffer reaches the others as the same tensor
    assert.is_true(rawequal(behind.root_module.stat, root.stat))
    assert.equal(pm.particle_kernel:version(), behind.particle_kernel:version())
  end)
end)
