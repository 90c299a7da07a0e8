-- nyto.particle_module: ParticleModule and PMProduct
-- (../shared/reference/ParticleModule.rst).  A ParticleModule wraps a root
-- module and clears the modules' references to their kernel; a class may
-- extend it, and the result of an operation on an instance is an instance of
-- the same class, whose init(self, root) runs for every new instance.
return function(nyto, core)
  local Module = nyto.Module
  local Product = nyto.Product
  local is_module, is_product = nyto.is_module, nyto.is_product

  local function err(fmt, ...) error("nyto: " .. string.format(fmt, ...), 0) end
  -- Prompt release: an operation on a ParticleModule first runs a full
  -- collection, so the particles a loop dropped are released before the new
  -- one is made (their buffers serve it from the pool).  This is what
  -- ParticleModule is for; plain modules and products pace the collector by
  -- a byte budget instead (docs/memory.md).
  local collect = core.collect

  local PM = {__classname = "ParticleModule"}
  local function lookup(cls, k)
    while cls do
      local v = rawget(cls, k)
      if v ~= nil then return v end
      cls = rawget(cls, "__parent")
    end
  end

  -- the root's introspection, forwarded
  local FORWARD = {"parameters", "named_parameters", "modules", "named_modules", "children", "named_children",
                   "buffers", "named_buffers", "state_dict", "load_state_dict", "zero_grad", "get_param_id",
                   "set_param_config", "apply_param_config", "param_config", "kernel", "touch"}

  local function set_kernel_refs(root, k)
    local kk = rawget(root, "_kk")
    kk.kref = k -- modules a lazy particle builds later get the same reference
    if kk.lazy then rawset(root, "_k", k) return end
    for _, m in ipairs(root:modules()) do rawset(m, "_k", k) end
  end


  local function make_pm_mt(cls, parent)
    local mt = {__name = "nyto.ParticleModule", __class = cls, __nyto_pm = true}
    mt.__index = function(self, key) return lookup(cls, key) end
    mt.__call = function(self, ...) return rawget(self, "root_module"):forward(...) end
    mt.__tostring = function(self)
      local inner = tostring(rawget(self, "root_module")):gsub("\n", "\n  ")
      return cls.__classname .. "(\n  (root_module): " .. inner .. "\n)"
    end
    local function root_of(x)
      if type(x) == "table" and getmetatable(x) and getmetatable(x).__nyto_pm then return rawget(x, "root_module") end
      return x
    end
    for _, op in ipairs {"add", "sub", "mul", "div", "pow"} do
      local f = Module["__" .. op] or Module.__imt["__" .. op]
      mt["__" .. op] = function(a, b)
        if type(b) == "table" and not (getmetatable(b) and getmetatable(b).__nyto_pm) and type(a) ~= "number" then
          err("bad argument #2 to '__%s' (number or ParticleModule expected, got %s)", op, nyto.type(b) or type(b))
        end
        collect()
        local r = Module.__imt["__" .. op](root_of(a), root_of(b))
        return cls(r)
      end
    end
    mt.__unm = function(a) collect() return cls(Module.__imt.__unm(rawget(a, "root_module"))) end
    -- class-level metamethods (__gc ...) of ancestors
    local c = parent
    while c do
      local pm = rawget(c, "__imt")
      if pm then for key, v in pairs(pm) do if mt[key] == nil then mt[key] = v end end end
      c = rawget(c, "__parent")
    end
    return mt
  end
  PM.__make_imt = make_pm_mt

  function PM.__construct(cls, root)
    if not is_module(root) then
      err("bad argument #1 to 'ParticleModule' (module expected, got %s)", nyto.type(root) or type(root))
    end
    local k = rawget(root, "_kk")
    if not k then err("bad argument #1 to 'ParticleModule' (module is not a particle)") end
    if rawget(root, "_id") ~= 1 then err("bad argument #1 to 'ParticleModule' (not a root module)") end
    local self = setmetatable({root_module = root, particle_kernel = k}, cls.__imt)
    set_kernel_refs(root, nil)
    local init = lookup(cls, "init")
    if init then init(self, root) end
    return self
  end

  PM.__imt = make_pm_mt(PM, nil)
  setmetatable(PM, {__call = function(c, ...) return c.__construct(c, ...) end,
                    __tostring = function() return "class ParticleModule" end,
                    __newindex = function(c, k, v)
                      rawset(c, k, v)
                      if type(k) == "string" and k:sub(1, 2) == "__" then rawset(c.__imt, k, v) end
                    end})
  nyto.ParticleModule = PM

  function PM:forward(...) return rawget(self, "root_module"):forward(...) end
  function PM:clear_kernel_ref() set_kernel_refs(rawget(self, "root_module"), nil) return self end
  function PM:restore_kernel_ref() set_kernel_refs(rawget(self, "root_module"), rawget(self, "particle_kernel")) return self end
  for _, name in ipairs(FORWARD) do
    PM[name] = function(self, ...) return Module[name](rawget(self, "root_module"), ...) end
  end
  function PM:train(mode) rawget(self, "root_module"):train(mode) return self end
  function PM:eval() rawget(self, "root_module"):eval() return self end
  function PM:class() return getmetatable(self).__class end
  local function wrap(self, r) return getmetatable(self).__class(r) end
  for _, op in ipairs {"add", "sub", "mul", "div", "pow"} do
    PM[op] = function(self, x) return getmetatable(self)["__" .. op](self, x) end
    PM[op .. "_"] = function(self, x)
      if type(x) == "table" and getmetatable(x) and getmetatable(x).__nyto_pm then x = rawget(x, "root_module") end
      Module[op .. "_"](rawget(self, "root_module"), x)
      return self
    end
  end
  function PM:neg() return -self end
  function PM:clone() collect() return wrap(self, rawget(self, "root_module"):clone()) end
  function PM:randn() collect() return wrap(self, rawget(self, "root_module"):randn()) end
  function PM:rand() collect() return wrap(self, rawget(self, "root_module"):rand()) end
  function PM:detach() return wrap(self, rawget(self, "root_module"):detach()) end
  function PM:same_species(o)
    if type(o) == "table" and getmetatable(o) and getmetatable(o).__nyto_pm then o = rawget(o, "root_module") end
    return rawget(self, "root_module"):same_species(o)
  end
  function PM:clone_from(src)
    if type(src) == "table" and getmetatable(src) and getmetatable(src).__nyto_pm then src = rawget(src, "root_module") end
    rawget(self, "root_module"):clone_from(src)
    return self
  end
  function PM:product()
    return nyto.PMProduct.__wrap(rawget(self, "root_module"):product(), getmetatable(self).__class)
  end
  function PM:product_(p)
    if type(p) == "table" and rawget(p, "product") then p = rawget(p, "product") end
    rawget(self, "root_module"):product_(p)
    return self
  end
  function PM:free()
    -- release the particle's buffers now; later use raises
    local k = rawget(self, "particle_kernel")
    rawset(self, "root_module", nil)
    rawset(self, "particle_kernel", nil)
    return k
  end

  -- PMProduct: a Product whose module() returns a ParticleModule (of the class it came from)
  local PMP = {__name = "nyto.PMProduct", __nyto_product = true}
  PMP.__index = PMP
  nyto.PMProduct = PMP
  function PMP.__wrap(product, pmclass)
    return setmetatable({product = product, pmclass = pmclass or PM}, PMP)
  end
  local function inner(x) return type(x) == "table" and getmetatable(x) == PMP and x.product or x end
  local function wrapped(self, r) return PMP.__wrap(r, self.pmclass) end
  for _, op in ipairs {"add", "sub", "mul", "div", "pow"} do
    PMP["__" .. op] = function(a, b)
      local ref = getmetatable(a) == PMP and a or b
      return wrapped(ref, Product["__" .. op](inner(a), inner(b)))
    end
    PMP[op] = PMP["__" .. op]
    PMP[op .. "_"] = function(self, x) Product[op .. "_"](self.product, inner(x)) return self end
  end
  PMP.__unm = function(a) return wrapped(a, -a.product) end
  function PMP:clone() return wrapped(self, self.product:clone()) end
  function PMP:randn() return wrapped(self, self.product:randn()) end
  function PMP:rand() return wrapped(self, self.product:rand()) end
  function PMP:unary_operator(fn) return wrapped(self, self.product:unary_operator(fn)) end
  function PMP:binary_operator(q, fn) return wrapped(self, self.product:binary_operator(inner(q), fn)) end
  function PMP:module() return self.pmclass(self.product:module()) end
  PMP.particle = PMP.module
  PMP.__tostring = function(self) return "nyto.PMProduct(" .. tostring(self.product) .. ")" end
end
