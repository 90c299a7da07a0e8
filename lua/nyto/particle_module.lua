-- nyto.particle_module: ParticleModule and PMProduct
-- (../shared/reference/ParticleModule.rst).  A ParticleModule wraps a root
-- module and clears the modules' references to their kernel; a class may
-- extend it, and the result of an operation on an instance is an instance of
-- the same class, whose init(self, root) runs for every new instance.
return function(nyto, core)
  local Module = nyto.Module
  local Product = nyto.Product
  local is_module = nyto.is_module

  local E = require "nyto.errors"
  local C = require "nyto.class"
  local O = require "nyto.particle.ops"
  local err = E.err
  -- Prompt release: an operation on a ParticleModule first runs a full
  -- collection, so the particles a loop dropped are released before the new
  -- one is made (their buffers serve it from the pool).  This is what
  -- ParticleModule is for; plain modules and products pace the collector by
  -- a byte budget instead (docs/memory.md).
  local collect = core.collect

  local PM = {__classname = "ParticleModule"}
  local lookup = C.lookup

  -- A freed ParticleModule gets this metatable: any use raises, free() and
  -- __close do nothing, and there is no __gc left to run (a class's __gc ran
  -- when it was freed: once per object).
  local function freed() err("attempt to use a freed ParticleModule") end
  local FREED = {__name = "nyto.ParticleModule"}
  O.FREED_PM = FREED -- operand(x) tells a freed one
  FREED.__index = function(self, key)
    if key == "free" then return function() end end
    freed()
  end
  FREED.__newindex = function() freed() end
  for _, mm in ipairs {"__call", "__add", "__sub", "__mul", "__div", "__pow", "__unm", "__len"} do FREED[mm] = freed end
  FREED.__close = function() end
  FREED.__tostring = function() return "ParticleModule (freed)" end

  local function is_pm(x) return O.operand(x) == "pm" end
  local function is_freed_pm(x) return O.operand(x) == "freed_pm" end
  nyto.is_particle_module = is_pm

  -- x, or the root module of a ParticleModule x (a freed one raises)
  local function root_of(x)
    if is_pm(x) then return rawget(x, "root_module") end
    if is_freed_pm(x) then freed() end
    return x
  end

  -- the root's introspection, forwarded (a method returning the root returns the ParticleModule)
  local FORWARD = {"parameters", "named_parameters", "named_parameters_table", "param_ids_table", "modules",
                   "named_modules", "children", "named_children", "buffers", "named_buffers", "state_dict",
                   "load_state_dict", "zero_grad", "get_param_id", "set_param_config", "apply_param_config",
                   "param_config", "kernel", "touch", "module_id", "is_root"}

  local function set_kernel_refs(root, k)
    local kk = rawget(root, "_kk")
    kk.kref = k -- modules a lazy particle builds later get the same reference
    if kk.lazy then rawset(root, "_k", k) return end
    for _, m in ipairs(root:modules()) do rawset(m, "_k", k) end
  end

  -- the class-level metamethods (__gc ...) of parent's chain that mt lacks;
  -- a base class made by make_imt: callable, printable, and its metamethods
  -- defined later (PM.__gc = ...) reach its instances (lua/nyto/class.lua)
  local inherit_metamethods, base_class = C.inherit_metamethods, C.base_class

  local function make_pm_mt(cls, parent)
    local mt = {__name = "nyto.ParticleModule", __class = cls}
    mt.__index = function(self, key)
      local v = lookup(cls, key)
      if v == nil and key == "training" then return rawget(self, "root_module").training end
      return v
    end
    mt.__call = function(self, ...) return rawget(self, "root_module")(...) end
    -- a module or Parameter assigned to the wrapper would become a plain field that pm(x)
    -- never uses: raise and say where the structure lives
    mt.__newindex = function(self, key, v)
      if type(key) ~= "string" and type(key) ~= "number" then
        err("bad argument to '__newindex' (field names are strings or integers, got %s)", type(key))
      end
      if is_module(v) or (nyto.is_tensor(v) and v:is_parameter()) then
        err("cannot assign a %s to '%s' of a ParticleModule: change the structure through the root module (pm:restore_kernel_ref(), then pm.root_module.%s = ...)",
          is_module(v) and "module" or "Parameter", tostring(key), tostring(key))
      end
      rawset(self, key, v)
    end
    mt.__close = function(self) self:free() end
    mt.__tostring = function(self)
      local inner = tostring(rawget(self, "root_module")):gsub("\n", "\n  ")
      return cls.__classname .. "(\n  (root_module): " .. inner .. "\n)"
    end
    for _, op in ipairs {"add", "sub", "mul", "div", "pow"} do
      local f = Module.__imt["__" .. op]
      local fname = "__" .. op
      mt[fname] = function(a, b)
        -- a or b is this class's instance; the other: a number or a ParticleModule
        for i, x in ipairs {a, b} do
          if is_freed_pm(x) then freed() end
          if type(x) ~= "number" and not is_pm(x) then
            err("bad argument #%d to '%s' (number or ParticleModule expected, got %s)", i, fname, nyto.type(x) or type(x))
          end
        end
        collect()
        return cls(f(root_of(a), root_of(b)))
      end
    end
    mt.__unm = function(a) collect() return cls(Module.__imt.__unm(rawget(a, "root_module"))) end
    return inherit_metamethods(mt, parent)
  end

  function PM.__construct(cls, root)
    if not is_module(root) then
      err("bad argument #1 to 'ParticleModule' (module expected, got %s)", nyto.type(root) or type(root))
    end
    local k = rawget(root, "_kk")
    if not k then err("bad argument #1 to 'ParticleModule' (module is not a particle)") end
    if k.freed then err("bad argument #1 to 'ParticleModule' (attempt to use a freed Module)") end
    if rawget(root, "_id") ~= 1 then err("bad argument #1 to 'ParticleModule' (not a root module: wrap the particle's root)") end
    local self = setmetatable({root_module = root, particle_kernel = k}, cls.__imt)
    set_kernel_refs(root, nil)
    local init = lookup(cls, "init")
    if init then init(self, root) end
    return self
  end

  base_class(PM, make_pm_mt)
  nyto.ParticleModule = PM

  function PM:forward(...) return rawget(self, "root_module")(...) end
  function PM:clear_kernel_ref() set_kernel_refs(rawget(self, "root_module"), nil) return self end
  function PM:restore_kernel_ref() set_kernel_refs(rawget(self, "root_module"), rawget(self, "particle_kernel")) return self end
  for _, name in ipairs(FORWARD) do
    local f = Module[name]
    PM[name] = function(self, ...)
      local root = rawget(self, "root_module")
      local r = table.pack(f(root, ...))
      if rawequal(r[1], root) then r[1] = self end
      return table.unpack(r, 1, r.n)
    end
  end
  function PM:train(mode) rawget(self, "root_module"):train(mode) return self end
  function PM:eval() rawget(self, "root_module"):eval() return self end
  function PM:class() return getmetatable(self).__class end
  local function wrap(self, r) return getmetatable(self).__class(r) end
  for _, op in ipairs {"add", "sub", "mul", "div", "pow"} do
    PM[op] = function(self, x) return getmetatable(self)["__" .. op](self, x) end
    PM[op .. "_"] = function(self, x)
      Module[op .. "_"](rawget(self, "root_module"), root_of(x))
      return self
    end
  end
  function PM:neg() return -self end
  function PM:clone() collect() return wrap(self, rawget(self, "root_module"):clone()) end
  function PM:randn(opts) collect() return wrap(self, rawget(self, "root_module"):randn(opts)) end
  function PM:rand(opts) collect() return wrap(self, rawget(self, "root_module"):rand(opts)) end
  function PM:detach() return wrap(self, rawget(self, "root_module"):detach()) end
  function PM:same_species(o)
    return rawget(self, "root_module"):same_species(root_of(o))
  end
  -- a new ParticleModule of self's class (as clone()) holding src's values; self unchanged
  function PM:clone_from(src)
    local _, vb = O.clone_from_check(rawget(self, "root_module"), root_of(src))
    local r = self:clone()
    O.clone_from_copy(rawget(r, "root_module"), vb)
    return r
  end
  function PM:product()
    return nyto.PMProduct.__wrap(rawget(self, "root_module"):product(), getmetatable(self).__class)
  end
  function PM:product_(p)
    rawget(self, "root_module"):product_(p) -- a PMProduct is unwrapped there
    return self
  end
  -- pm:free() (and `local pm <close> = ...`): run the class's __gc (once: a
  -- freed object has none left), release the particle's buffers now; any
  -- later use raises
  function PM:free()
    local mt = getmetatable(self)
    local root = rawget(self, "root_module")
    local gc = mt.__gc
    rawset(self, "root_module", nil)
    rawset(self, "particle_kernel", nil)
    setmetatable(self, FREED)
    local ok, e = true, nil
    if gc then
      -- the object as the class knows it, for the duration of the call
      setmetatable(self, {__index = mt.__index, __name = mt.__name})
      rawset(self, "root_module", root)
      ok, e = pcall(gc, self)
      rawset(self, "root_module", nil)
      setmetatable(self, FREED)
    end
    Module.free(root)
    if not ok then error(e, 0) end
  end

  -- PMProduct: a decorator of a Product (its .product) whose module() returns
  -- a ParticleModule of the class it came from (.pmclass).  A class may extend
  -- it (nyto.class("MyPMProduct", nyto.PMProduct)): operations on an instance
  -- return instances of the same class, and init(self, product) runs for each.
  local PMP = {__classname = "PMProduct"}
  nyto.PMProduct = PMP
  local function is_pmp(x) return C.kind(x) == "PMProduct" end
  local function unwrap(x)
    if is_pmp(x) then return rawget(x, "product") end
    return x
  end
  local function new_pmp(cls, product, pmclass)
    local self = setmetatable({product = product, pmclass = pmclass or PM}, cls.__imt)
    local init = lookup(cls, "init")
    if init then init(self, product) end
    return self
  end
  -- the result r (a Product) of an operation on self, as self's class
  local function wrapped(self, r) return new_pmp(getmetatable(self).__class, r, self.pmclass) end

  local function make_pmp_mt(cls, parent)
    local mt = {__name = "nyto.PMProduct", __class = cls}
    mt.__index = function(self, key) return lookup(cls, key) end
    for _, op in ipairs {"add", "sub", "mul", "div", "pow"} do
      mt["__" .. op] = function(a, b)
        local ref = is_pmp(a) and a or b
        return wrapped(ref, Product["__" .. op](unwrap(a), unwrap(b)))
      end
    end
    mt.__unm = function(a) return wrapped(a, -a.product) end
    mt.__close = function(self) self.product:free() end
    mt.__tostring = function(self) return "nyto." .. cls.__classname .. "(" .. tostring(self.product) .. ")" end
    return inherit_metamethods(mt, parent)
  end

  -- MyPMProduct(x): x a ParticleModule (its product), a Product or a PMProduct
  function PMP.__construct(cls, x)
    if is_pm(x) then return new_pmp(cls, rawget(x, "root_module"):product(), getmetatable(x).__class) end
    if is_pmp(x) then return new_pmp(cls, x.product, x.pmclass) end
    if is_freed_pm(x) then freed() end
    if nyto.is_product(x) then return new_pmp(cls, x, PM) end
    err("bad argument #1 to '%s' (ParticleModule or Product expected, got %s)", cls.__classname, nyto.type(x) or type(x))
  end
  function PMP.__wrap(product, pmclass) return new_pmp(PMP, product, pmclass) end

  base_class(PMP, make_pmp_mt)

  for _, op in ipairs {"add", "sub", "mul", "div", "pow"} do
    PMP[op] = function(a, b) return getmetatable(a)["__" .. op](a, b) end
    PMP[op .. "_"] = function(self, x) Product[op .. "_"](self.product, unwrap(x)) return self end
  end
  function PMP:neg() return -self end
  function PMP:class() return getmetatable(self).__class end
  function PMP:clone() return wrapped(self, self.product:clone()) end
  function PMP:randn(opts) return wrapped(self, self.product:randn(opts)) end
  function PMP:rand(opts) return wrapped(self, self.product:rand(opts)) end
  function PMP:unary_operator(fn) return wrapped(self, self.product:unary_operator(fn)) end
  function PMP:binary_operator(q, fn) return wrapped(self, self.product:binary_operator(unwrap(q), fn)) end
  function PMP:module() return self.pmclass(self.product:module()) end
  -- p:particle() is p:module(), also when a class overrides module()
  function PMP:particle() return self:module() end
  function PMP:same_species(o) return self.product:same_species(unwrap(o)) end
  function PMP:free() self.product:free() end
end
