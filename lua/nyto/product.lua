-- nyto.product: products (nyto.Product) and parameter configs.
--
-- A product is a particle without its module tree: the flat buffers of one
-- species version.  Arithmetic on products is the C pass alone, so a chain
-- such as 2*p + 5 builds no module; p:module() builds one tree at the end.
local _s, _p, _m, _b, _f, _id, _k, _kk = require("nyto.particle.records").field_keys()
return function(nyto, core)
  local Module = nyto.Module
  local S = require "nyto.particle.species"
  local Z = require "nyto.particle.lazy"
  local K = require "nyto.particle.kernel"
  local O = require "nyto.particle.ops"
  local particle_from, op_bufs, segs_of = Z.particle_from, O.op_bufs, S.segs_of
  local clone_bufs, random_bufs = O.clone_bufs, O.random_bufs
  local operand = O.operand
  local Tmt = core.Tensor_mt

  local E = require "nyto.errors"
  local C = require "nyto.class"
  local err = E.err

  local Product = {__name = "nyto.Product"}
  Product.__index = Product
  nyto.Product = Product

  -- a product carries species, version and buffers as a kernel does, so the
  -- particle-operation code takes it as an operand directly
  -- product -> the particle it was taken from (weak: a product never pins it)
  local sources = setmetatable({}, {__mode = "kv"})

  local function new_product(k, bufs, cls)
    return setmetatable({k = k, species = k.species, ver = k.ver, bufs = bufs, freed = false}, cls or Product)
  end

  -- a Product or a PMProduct (particle_module.lua), which decorates one
  local function is_product(x) return operand(x) == "product" end
  nyto.is_product = is_product

  local function current(p)
    local k = p.k
    if p.freed then err("attempt to use a freed Product") end
    if p.ver ~= p.species.ver then
      err("this product was made at an older version of its species; make a new product after a structural change")
    end
    return k
  end

  -- a PMProduct (particle_module.lua) decorates a product: its .product
  local function unwrap(x)
    if C.kind(x) == "PMProduct" then return rawget(x, "product") end
    return x
  end

  local function pkernel(x, i, fname)
    if not is_product(x) then
      err("bad argument #%d to '%s' (number or Product expected, got %s)", i, fname, nyto.type(x) or type(x))
    end
    return current(x)
  end

  -- operands: products of one species, or a product and a number
  local function operands(a, b, fname)
    a, b = unwrap(a), unwrap(b)
    if type(a) == "number" then
      if not is_product(b) then err("bad argument #1 to '%s' (number or Product expected)", fname) end
      return pkernel(b, 2, fname), b, a, true
    end
    local ka = pkernel(a, 1, fname)
    if type(b) == "number" then return ka, a, b, false end
    local kb = pkernel(b, 2, fname)
    if ka.species ~= kb.species then
      err("bad argument #2 to '%s' (products are of different species)", fname)
    end
    return ka, a, b, false
  end

  -- op_bufs works on kernels' buffers; a product lends its buffers through a view kernel

  local function product_binop(opname)
    local fname = "__" .. opname
    return function(a, b)
      -- the common case first: a live, current product and a number, either side
      local p, x, swapped
      if type(b) == "number" and getmetatable(a) == Product then p, x, swapped = a, b, false
      elseif type(a) == "number" and getmetatable(b) == Product then p, x, swapped = b, a, true end
      if p and not p.freed and p.ver == p.species.ver then
        return new_product(p.k, op_bufs(p, x, opname, swapped), Product)
      end
      local k
      k, p, x, swapped = operands(a, b, fname)
      return new_product(k, op_bufs(p, x, opname, swapped), Product)
    end
  end
  for _, opname in ipairs {"add", "sub", "mul", "div", "pow"} do
    Product["__" .. opname] = product_binop(opname)
    Product[opname] = Product["__" .. opname]
    Product[opname .. "_"] = function(self, x)
      local _, p, y = operands(self, x, opname .. "_")
      op_bufs(p, y, opname, false, p.bufs)
      return self
    end
  end
  Product.__unm = function(a)
    local k = pkernel(a, 1, "__unm")
    return new_product(k, op_bufs(a, -1, "mul", false), Product)
  end
  Product.neg = Product.__unm

  function Product:clone()
    current(self)
    return new_product(self.k, clone_bufs(self.bufs), getmetatable(self))
  end
  local function random(kind, fname)
    return function(self, opts)
      local k = pkernel(self, 1, fname)
      local g = O.generator_opt(opts, fname)
      return new_product(k, random_bufs(self.bufs, kind, k, g), getmetatable(self))
    end
  end
  Product.randn = random(0, "randn")
  Product.rand = random(1, "rand")

  -- p:module() / p:particle(): a particle of the species with the product's values
  function Product:module()
    local k = current(self)
    -- the tree is built from the template taken when the product was made
    -- (fields, buffers, classes, requires_grad), not from the particle itself;
    -- a product of a submodule gives the new particle's module of that id
    return Z.module_at(particle_from(k, clone_bufs(self.bufs)), k.mid or 1)
  end
  Product.particle = Product.module
  -- p:free() (and `local p <close> = ...`): release the product's buffers now; later use raises
  function Product:free()
    if self.freed then return end
    self.freed = true
    for _, b in pairs(self.bufs) do b:free() end
    self.bufs = {}
  end
  Product.__close = function(self) self:free() end
  function Product:same_species(other)
    other = unwrap(other)
    return is_product(other) and other.species == self.species
  end
  Product.__tostring = function(self) return ("nyto.Product(%d parameters)"):format(self.k.ver.layout.nparams) end

  -- net:product()
  local kernel_of = K.kernel_of
  function Module:product()
    local k = kernel_of(self, "product")
    -- any module's product is the whole particle's; module() returns the module of this id
    local tk = Z.template_kernel(k)
    tk.mid = rawget(self, _id)
    -- no copy yet: deferred copies of the particle's buffers (core.pshare),
    -- computed when either side is written or the product is read
    local segs, bufs = segs_of(k), {}
    for dt, b in pairs(k.bufs) do bufs[dt] = core.pshare(b, segs[dt]) end
    local p = new_product(tk, bufs)
    sources[p] = k
    return p
  end
  -- net:product_(p): copy the product's (operational) values into net
  function Module:product_(p)
    local k = kernel_of(self, "product_")
    p = unwrap(p)
    if not is_product(p) then err("bad argument #1 to 'product_' (Product expected, got %s)", nyto.type(p) or type(p)) end
    local pk = current(p)
    if pk.species ~= k.species then err("bad argument #1 to 'product_' (the product is of a different species)") end
    local segs = segs_of(k)
    for dt, b in pairs(k.bufs) do core.pcopy(b, p.bufs[dt], segs[dt]) end
    return self
  end

  -- custom operators ------------------------------------------------------------
  -- A product taken from a particle whose buffer of a dtype it still shares
  -- (neither written since: core.pshares) hands the callback the particle's
  -- very parameter tensors of that dtype; otherwise views of its own values.
  -- -> {dtype -> true}, the particle's params table (or nil)
  local function shared_with_source(p)
    local src = sources[p]
    if not src or src.freed or src.ver ~= p.ver then return nil end
    local dts
    for dt, b in pairs(p.bufs) do
      local sb = src.bufs[dt]
      if sb and core.pshares(b, sb) then dts = dts or {}; dts[dt] = true end
    end
    if not dts then return nil end
    return dts, src:params(), src
  end

  -- the parameters of a product, in layout order: pid, info, config, tensor
  local function each_param(k, p, fn)
    local L = k.ver.layout
    local dts, params = shared_with_source(p)
    for _, pid in ipairs(L.order) do
      local P = L.params[pid]
      local t = dts and dts[P.dtype] and params[pid] or core.view(p.bufs[P.dtype], P.off, P.shape, false)
      fn(pid, P, k.species.configs[pid], t)
    end
  end

  local function param_name(k, P)
    local path = k.ver.layout.mods[P.mid].path
    return path == "" and P.name or path .. "." .. P.name
  end

  local function check_result(k, P, r, fname)
    if getmetatable(r) ~= Tmt then
      err("%s: the callback returned %s for parameter '%s' (a Tensor of shape %s expected)", fname,
          r == nil and "nil" or (nyto.type(r) or type(r)), param_name(k, P), "[" .. table.concat(P.shape, ", ") .. "]")
    end
    if r:dtype() ~= P.dtype then
      err("%s: the callback returned a %s tensor for parameter '%s' (%s expected)", fname, r:dtype(), param_name(k, P), P.dtype)
    end
    local s = r:size()
    local same = #s == #P.shape
    for i = 1, #s do if s[i] ~= P.shape[i] then same = false end end
    if not same then
      err("%s: the callback returned shape %s for parameter '%s' (shape [%s] expected)", fname, r:shape_string(), param_name(k, P), table.concat(P.shape, ", "))
    end
  end

  local function run_operator(self, other, fn, fname)
    local k = current(self)
    -- the result starts as a copy (non-operational parameters keep their
    -- values): of the source particle's buffer while the product shares it
    local dts, _, src = shared_with_source(self)
    local bufs = {}
    for dt, b in pairs(self.bufs) do bufs[dt] = core.pclone(dts and dts[dt] and src.bufs[dt] or b) end
    local was = core.grad_enabled()
    core.set_grad_enabled(false)
    local ok, e = E.pcall_noyield(function()
      local others = {}
      if other then each_param(k, other, function(pid, P, c, t) others[pid] = t end) end
      each_param(k, self, function(pid, P, c, t)
        if c.operational then
          local r
          if other then r = fn(t, others[pid], c) else r = fn(t, c) end
          check_result(k, P, r, fname)
          core.view(bufs[P.dtype], P.off, P.shape, false):copy_(r)
        end
      end)
    end)
    core.set_grad_enabled(was)
    if not ok then error(e, 0) end -- the callback's own error value, unchanged
    return new_product(k, bufs, getmetatable(self))
  end

  function Product:unary_operator(fn)
    if type(fn) ~= "function" then err("bad argument #1 to 'unary_operator' (function expected, got %s)", type(fn)) end
    return run_operator(self, nil, fn, "unary_operator")
  end
  function Product:binary_operator(q, fn)
    q = unwrap(q)
    if not is_product(q) then err("bad argument #1 to 'binary_operator' (Product expected, got %s)", nyto.type(q) or type(q)) end
    if type(fn) ~= "function" then err("bad argument #2 to 'binary_operator' (function expected, got %s)", type(fn)) end
    local k, kq = current(self), current(q)
    if k.species ~= kq.species then err("bad argument #1 to 'binary_operator' (products are of different species)") end
    return run_operator(self, q, fn, "binary_operator")
  end

end
