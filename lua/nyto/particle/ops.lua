-- nyto.particle.ops: particle operations.
--
-- An operation on particles is one pass of a C loop (core.pscalar/pbinary)
-- per dtype over the operational segments of the flat buffers, into new
-- buffers (or in place), never a loop of tensor calls; the result is a lazy
-- particle (particle/lazy.lua) or a product (lua/nyto/product.lua).
--
-- operand(x) is the one operand coercion (LPeg's getpatt): it says what any
-- value is as an operand, for every particle kind: Module, ParticleModule,
-- Product (and PMProduct), Swarm; each family of operations phrases its own
-- errors from it.
local _s, _p, _m, _b, _f, _id, _k, _kk = require("nyto.particle.records").field_keys()
local core = require "nyto.core"
local E = require "nyto.errors"
local C = require "nyto.class"
local S = require "nyto.particle.species"
local Z = require "nyto.particle.lazy"
local K = require "nyto.particle.kernel"
local R = require "nyto.particle.records"

local O = {}
local PM_ROOT = R.pm_keys()
local err, typename = E.err, E.typename
local pscalar, pbinary = core.pscalar, core.pbinary
local kind = C.kind
local segs_of, particle_from, module_at, kernel_of = S.segs_of, Z.particle_from, Z.module_at, K.kernel_of

O.OP = {add = core.OP_ADD, sub = core.OP_SUB, mul = core.OP_MUL, div = core.OP_DIV, pow = core.OP_POW,
        rsub = core.OP_RSUB, rdiv = core.OP_RDIV, rpow = core.OP_RPOW}
-- the code of `x op particle` (the particle on the right)
O.ROP = {sub = "rsub", div = "rdiv", pow = "rpow", add = "add", mul = "mul"}
local OP, ROP = O.OP, O.ROP

-- the ParticleModule freed-object metatable (particle_module.lua registers it)
O.FREED_PM = nil

-- operand(x) -> what, carrier:
--   "number", x         a number
--   "module", kernel    a Module (kernel nil: not a particle)
--   "pm", kernel        a live ParticleModule: its root's kernel
--   "freed_pm"          a freed ParticleModule
--   "product", product  a Product, or a PMProduct's product
--   "swarm", x          a Swarm
--   "tensor", x         a Tensor
--   nil                 anything else
function O.operand(x)
  if type(x) == "number" then return "number", x end
  local t = kind(x)
  if t == "Module" then return "module", rawget(x, _kk) end
  if t == "ParticleModule" then
    if getmetatable(x) == O.FREED_PM then return "freed_pm" end
    local root = rawget(x, PM_ROOT)
    return "pm", root and rawget(root, _kk)
  end
  if t == "Product" then return "product", x end
  if t == "PMProduct" then return "product", rawget(x, "product") end
  if t == "Swarm" then return "swarm", x end
  if t == "Tensor" then return "tensor", x end
  return nil
end
local operand = O.operand

-- the operands of a binary operation on modules -> (kernel, kernel|number, swapped)
function O.module_operands(a, b, fname)
  local ta = operand(a)
  if ta == "number" then
    if type(b) ~= "table" then err("bad argument #1 to '%s' (number or particle expected)", fname) end
    return kernel_of(b, fname, 2), a, true
  end
  if type(a) ~= "table" then
    -- `"10" + net`, `true * net`: Lua calls the particle's metamethod
    err("bad argument #1 to '%s' (number or particle expected, got %s)", fname, typename(a))
  end
  local ka = kernel_of(a, fname, 1)
  local tb, kb = operand(b)
  if tb == "number" then return ka, b, false end
  if tb ~= "module" or not kb or kb.freed then
    err("bad argument #2 to '%s' (number or particle expected, got %s)", fname, typename(b))
  end
  kb = kernel_of(b, fname, 2)
  if ka.species ~= kb.species then
    err("bad argument #2 to '%s' (particles are of different species; use clone_from to copy values between species)", fname)
  end
  return ka, kb, false
end

-- buffers of op(ka, x) (ka: a kernel or a product; x: a number, kernel or
-- product); dst: in-place target bufs
function O.op_bufs(ka, x, opname, swapped, dst)
  local segs = segs_of(ka)
  local out = {}
  if type(x) == "number" then
    local code = OP[swapped and ROP[opname] or opname]
    for dt, buf in pairs(ka.bufs) do out[dt] = pscalar(buf, x, code, segs[dt], dst and dst[dt]) end
  else
    local code = OP[opname]
    for dt, buf in pairs(ka.bufs) do out[dt] = pbinary(buf, x.bufs[dt], code, segs[dt], dst and dst[dt]) end
  end
  return out
end
local op_bufs = O.op_bufs

-- copies of a particle's or product's buffers
function O.clone_bufs(bufs)
  local out = {}
  for dt, b in pairs(bufs) do out[dt] = core.pclone(b) end
  return out
end
-- random draws (kind 0: normal, 1: uniform) on the operational segments of
-- kernel k; dtypes in a fixed order, so a draw's counters are the same in
-- every process (docs/design.md, "Counter-based randomness")
function O.random_bufs(bufs, rkind, k, gen)
  local segs, out, dts = segs_of(k), {}, {}
  for dt in pairs(bufs) do dts[#dts + 1] = dt end
  table.sort(dts)
  for _, dt in ipairs(dts) do out[dt] = core.prandom(bufs[dt], rkind, segs[dt], gen) end
  return out
end
-- the generator of p:randn{generator = g} (nil: the global one)
function O.generator_opt(opts, fname)
  if opts == nil then return nil end
  if type(opts) ~= "table" then
    err("bad argument #1 to '%s' (options table expected, got %s)", fname, typename(opts))
  end
  local g = opts.generator
  if g ~= nil and kind(g) ~= "Generator" then
    err("bad argument #1 to '%s' (option 'generator' must be a Generator, got %s)", fname, typename(g))
  end
  return g
end

-- clone_from(src): a NEW particle of the receiver's species (the receiver's
-- module of that id, as clone()) holding src's parameter values; the
-- receiver and src are unchanged.  src: a particle (or ParticleModule) whose
-- subtree has the receiver's structure.  check -> src, src's parameters
function O.clone_from_check(self, src)
  local ts = operand(src)
  if ts ~= "module" and ts ~= "pm" and not (type(src) == "table" and src.root_module) then
    err("bad argument #1 to 'clone_from' (particle expected, got %s)", typename(src))
  end
  if ts ~= "module" then src = src.root_module end
  kernel_of(self, "clone_from")
  kernel_of(src, "clone_from")
  local _, na, va = self:named_parameters_table()
  local _, nb, vb = src:named_parameters_table()
  for i = 1, math.max(#na, #nb) do
    if na[i] ~= nb[i] then
      err("bad argument #1 to 'clone_from' (structures differ at parameter '%s': '%s' in the source)", tostring(na[i]), tostring(nb[i]))
    end
    if va[i]:shape_string() ~= vb[i]:shape_string() or va[i]:dtype() ~= vb[i]:dtype() then
      err("bad argument #1 to 'clone_from' (parameter '%s' is %s %s here and %s %s in the source)", na[i],
          va[i]:dtype(), va[i]:shape_string(), vb[i]:dtype(), vb[i]:shape_string())
    end
  end
  return src, vb
end
-- copy the values vb (src's parameters) into the new particle's module r
function O.clone_from_copy(r, vb)
  local k = rawget(r, _kk)
  local configs = k.species.configs
  R.each_named(r, "", function(m, prefix, s)
    for _, pn in ipairs(s.po) do
      local c = configs[s.pid[pn]]
      -- a parameter shared by reference (clone=false) is another particle's
      -- tensor: the new particle gets its own, viewing its own buffer
      if not c.operational and not c.clone then rawget(m, _p)[pn] = nil end
    end
  end)
  local _, _, va = r:named_parameters_table()
  require("nyto").no_grad(function() for i = 1, #va do va[i]:copy_(vb[i]) end end)
  return r
end

-- the particle operations of Module: metamethods on its instance metatable
-- imt, methods on the class
function O.install_module(Module, imt)
  local module_operands = O.module_operands
  local function particle_binop(opname)
    local fname = "__" .. opname
    return function(a, b)
      local ka, x, swapped
      -- the common case first, `0.5 * net` and `net + 10` on a live particle whose
      -- kernel is up to date: what module_operands would return, without its calls
      -- (operand, kind, kernel_of: a tenth of the operation's Lua time)
      local ta, tb = type(a), type(b)
      if ta == "number" and tb == "table" then
        local k = rawget(b, _kk)
        if k and not k.freed and k.ver == k.species.ver then ka, x, swapped = k, a, true end
      elseif tb == "number" and ta == "table" then
        local k = rawget(a, _kk)
        if k and not k.freed and k.ver == k.species.ver then ka, x, swapped = k, b, false end
      end
      if not ka then ka, x, swapped = module_operands(a, b, fname) end
      local k = particle_from(ka, op_bufs(ka, x, opname, swapped))
      -- the operand's module id; the root's is 1 (one lookup under a private key less)
      local m = swapped and b or a
      return module_at(k, rawequal(m, ka.root) and 1 or rawget(m, _id))
    end
  end
  imt.__add = particle_binop("add")
  imt.__sub = particle_binop("sub")
  imt.__mul = particle_binop("mul")
  imt.__div = particle_binop("div")
  imt.__pow = particle_binop("pow")
  imt.__unm = function(a)
    local ka = kernel_of(a, "__unm", 1)
    return module_at(particle_from(ka, op_bufs(ka, -1, "mul", false)), rawget(a, _id))
  end
  imt.__eq = nil

  local function inplace(opname)
    return function(self, x)
      local fname = opname .. "_"
      local tx = operand(x)
      if tx ~= "number" and tx ~= "module" then
        err("bad argument #1 to '%s' (number or particle expected, got %s)", fname, typename(x))
      end
      local ka, kx = O.module_operands(self, x, fname)
      op_bufs(ka, kx, opname, false, ka.bufs)
      return self
    end
  end
  for _, opname in ipairs {"add", "sub", "mul", "div", "pow"} do
    Module[opname .. "_"] = inplace(opname)
    -- named forms, returning new particles
    Module[opname] = imt["__" .. opname]
  end
  Module.neg = imt.__unm

  function Module:clone()
    local k = kernel_of(self, "clone", 1)
    return module_at(particle_from(k, O.clone_bufs(k.bufs)), rawget(self, _id))
  end
  local function random_particle(rkind, fname)
    return function(self, opts)
      local k = kernel_of(self, fname, 1)
      local g = O.generator_opt(opts, fname)
      return module_at(particle_from(k, O.random_bufs(k.bufs, rkind, k, g)), rawget(self, _id))
    end
  end
  Module.randn = random_particle(0, "randn")
  Module.rand = random_particle(1, "rand")

  function Module:same_species(other)
    local t, b = operand(other)
    if t ~= "module" then return false end
    local a = rawget(self, _kk)
    return a ~= nil and b ~= nil and a.species == b.species
  end

  Module.detach = K.detach

  function Module:clone_from(src)
    local _, vb = O.clone_from_check(self, src)
    return O.clone_from_copy(self:clone(), vb)
  end
end

return O
