-- nyto.module: nyto.Module, the module protocol (PyTorch's nn.Module):
-- fields (parameters, submodules, buffers and plain fields through
-- __index/__newindex), registration, named_*, state_dict, train/eval and
-- printing.  A module is a Lua table of raw fields (lua/nyto/particle/records.lua);
-- what makes it a particle lives in lua/nyto/particle/: species and layouts
-- (species.lua), the kernel and its flat buffers (kernel.lua), structural
-- changes and their replay (versions.lua), lazy trees (lazy.lua), particle
-- operations (ops.lua) and parameter configs (config.lua).  Classes:
-- lua/nyto/class.lua.
local _s, _p, _m, _b, _f, _id, _k, _kk = require("nyto.particle.records").field_keys()
return function(nyto, core)
  local E = require "nyto.errors"
  local C = require "nyto.class"
  local R = require "nyto.particle.records"
  local K = require "nyto.particle.kernel"
  local V = require "nyto.particle.versions"
  local O = require "nyto.particle.ops"
  local G = require "nyto.particle.config"
  local err = E.err
  local is_param = core.is_parameter
  local Tmt = core.Tensor_mt
  local lookup = C.lookup
  local RESERVED = R.RESERVED
  local materialize, structural_change, replace_param, registrable = K.materialize, V.structural_change, V.replace_param, V.registrable

  nyto.on_warning = E.on_warning

  local Module = {__classname = "Module"}
  local MODULE_MT_NAME = "nyto.Module"
  local building = 0         -- depth of running constructors (defers finalisation)

  local function is_module(x) return C.kind(x) == "Module" end
  nyto.is_module = is_module

  -- instance metatables ---------------------------------------------------------------
  local function make_instance_mt(cls, parent)
    local mt = {__name = MODULE_MT_NAME, __class = cls}
    mt.__index = function(self, k)
      local v = rawget(self, _p)[k]
      if v ~= nil then return v end
      local s = rawget(self, _s)
      if s.pid[k] then return materialize(self, k) end
      v = rawget(self, _m)[k]
      if v ~= nil then return v end
      v = rawget(self, _b)[k]
      if v ~= nil then return v end
      v = rawget(self, _f)[k]
      if v ~= nil then return v end
      if type(k) == "number" then
        v = rawget(self, _m)[tostring(k)]
        if v ~= nil then return v end
      end
      return lookup(cls, k)
    end
    mt.__newindex = function(self, k, v)
      local kt = type(k)
      if kt ~= "string" and kt ~= "number" then
        err("bad argument to '__newindex' (field names of nyto modules are strings or integers, got %s)", kt)
      end
      if RESERVED[k] then err("'%s' is a reserved field name of nyto modules", k) end
      if kt == "number" then
        if k ~= k or k == math.huge or k == -math.huge then err("bad argument to '__newindex' (field name %s is not a valid number)", tostring(k)) end
        k = tostring(k)
      end
      -- a plain field may not shadow a method (m.forward = m would make m(x) call itself
      -- forever), nor may a new parameter (PyTorch's register_parameter refuses it too);
      -- submodules may, as in PyTorch, except 'forward'
      local function shadows()
        local meth = lookup(cls, k)
        if type(meth) == "function" then
          err("bad argument to '__newindex' (cannot assign to '%s': it is a method of class %s; rename the field)", k, rawget(cls, "__classname") or "?")
        end
      end
      if v ~= nil and k == "forward" then shadows() end
      V.catch_up(self) -- decide on the particle's newest structure
      local p, m, b, f = rawget(self, _p), rawget(self, _m), rawget(self, _b), rawget(self, _f)
      local s = rawget(self, _s)
      -- inside a constructor parameters have no id yet: _p tells
      local is_p = s.pid[k] ~= nil or p[k] ~= nil
      if v ~= nil and getmetatable(v) == Tmt and is_param(v) then
        if not is_p then shadows() end -- as PyTorch's register_parameter: no parameter named as a method
        if m[k] then err("bad argument to '__newindex' (cannot assign a Parameter to '%s': it is a submodule; assign nil first)", k) end
        if b[k] then err("bad argument to '__newindex' (cannot assign a Parameter to '%s': it is a buffer; assign nil first)", k) end
        V.check_change(self, "add_param", k, v) -- nothing removed before the add is sure to work
        if is_p then
          if rawequal(p[k], v) then return end
          if replace_param(self, k, v) then return end
          structural_change(self, "remove_param", k)
        end
        f[k] = nil
        structural_change(self, "add_param", k, v)
        return
      end
      if v ~= nil and is_module(v) then
        if is_p then err("bad argument to '__newindex' (cannot assign a module to '%s': it is a parameter; assign nil first)", k) end
        if b[k] then err("bad argument to '__newindex' (cannot assign a module to '%s': it is a buffer; assign nil first)", k) end
        if rawequal(m[k], v) then return end
        local register = registrable(self, k, v)
        if not register then shadows() end
        if register then V.check_change(self, "add_module", k, v) end
        if m[k] then structural_change(self, "remove_module", k) end
        if register then
          f[k] = nil
          structural_change(self, "add_module", k, v)
        else
          f[k] = v
        end
        return
      end
      if v == nil then
        if is_p then return structural_change(self, "remove_param", k) end
        if m[k] then return structural_change(self, "remove_module", k) end
        if b[k] then return structural_change(self, "remove_buffer", k) end
        f[k] = nil
        return
      end
      if b[k] then
        if getmetatable(v) ~= Tmt then err("bad argument to '__newindex' (buffer '%s' takes a Tensor, got %s)", k, nyto.type(v) or type(v)) end
        b[k] = v -- replacing a buffer's tensor, as in PyTorch
        return
      end
      if is_p then
        err("bad argument to '__newindex' ('%s' is a parameter: assign a nyto.Parameter, or nil to remove it)", k)
      end
      if m[k] then err("bad argument to '__newindex' ('%s' is a submodule: assign a module, or nil to remove it)", k) end
      shadows()
      f[k] = v
    end
    mt.__call = function(self, ...)
      local fwd = self.forward
      -- a module as 'forward' would call itself with one more argument each time
      if type(fwd) ~= "function" then err("this module has no forward function (forward is %s)", is_module(fwd) and "a module" or type(fwd)) end
      return fwd(self, ...)
    end
    mt.__close = function(self) self:free() end
    mt.__tostring = function(self) return self:__repr() end
    -- inherit metamethods (__gc, __add ...) defined on ancestors
    return C.inherit_metamethods(mt, parent)
  end


  -- Construct: a blank instance, init(...), then (outermost constructor only)
  -- found a species and move the parameters into flat storage.
  function Module.__construct(cls, ...)
    local init = lookup(cls, "init")
    local self = R.blank(cls.__imt)
    building = building + 1
    local ok, e = pcall(function(...) if init then init(self, ...) end end, ...)
    building = building - 1
    if not ok then error(e, 0) end
    if building == 0 then K.found_species(self) end
    return self
  end

  -- the root class
  C.base_class(Module, make_instance_mt)
  nyto.Module = Module
  function nyto.class(name, parent) return C.class(name, parent, Module) end
  nyto.is_class = C.is_class

  -- the module API ------------------------------------------------------------------
  function Module:kernel() return rawget(self, _k) end

  -- net:free() (and `local net <close> = ...`): release the particle's
  -- buffers and parameter tensors now; any later use raises
  function Module:free() return K.free(self) end
  -- as in PyTorch, a class without forward constructs (a container, a holder
  -- of parameters); calling its instance raises
  function Module:forward()
    local name = getmetatable(self).__class.__classname
    err("%s has no forward method (define function %s:forward(...) to call it)", name, name)
  end
  function Module:module_id() return rawget(self, _id) end
  function Module:is_root() return rawget(self, _id) == 1 end
  function Module:class() return getmetatable(self).__class end
  function Module:touch()
    local k = rawget(self, _kk)
    if k then k:touch() end
    return self
  end

  function Module:register_buffer(name, t)
    if type(name) ~= "string" then err("bad argument #1 to 'register_buffer' (string expected, got %s)", type(name)) end
    if t ~= nil and getmetatable(t) ~= Tmt then err("bad argument #2 to 'register_buffer' (Tensor expected, got %s)", type(t)) end
    if RESERVED[name] then err("'%s' is a reserved field name of nyto modules", name) end
    V.catch_up(self)
    local s = rawget(self, _s)
    if s.pid[name] or rawget(self, _p)[name] or rawget(self, _m)[name] then err("bad argument #1 to 'register_buffer' ('%s' is already a parameter or submodule)", name) end
    if rawget(self, _b)[name] then rawget(self, _b)[name] = t return end
    rawget(self, _f)[name] = nil
    structural_change(self, "add_buffer", name, t)
  end

  local each_named = R.each_named

  local function ordered_iter(names, values)
    local i = 0
    return function()
      i = i + 1
      if names[i] then return names[i], values[i] end
    end
  end

  function Module:named_parameters_table()
    local names, vals = {}, {}
    each_named(self, "", function(m, prefix, s)
      for _, pn in ipairs(s.po) do
        names[#names + 1] = prefix == "" and pn or prefix .. "." .. pn
        vals[#vals + 1] = m[pn]
      end
    end)
    local t = {}
    for i, n in ipairs(names) do t[n] = vals[i] end
    return t, names, vals
  end

  function Module:param_ids_table()
    local out = {}
    each_named(self, "", function(m, prefix, s)
      for _, pn in ipairs(s.po) do out[#out + 1] = s.pid[pn] end
    end)
    return out
  end

  function Module:parameters()
    local _, _, vals = self:named_parameters_table()
    return vals
  end
  function Module:named_parameters()
    local _, names, vals = self:named_parameters_table()
    return ordered_iter(names, vals)
  end
  function Module:named_modules()
    local names, vals = {}, {}
    each_named(self, "", function(m, prefix) names[#names + 1] = prefix; vals[#vals + 1] = m end)
    return ordered_iter(names, vals)
  end
  function Module:modules()
    local out = {}
    each_named(self, "", function(m) out[#out + 1] = m end)
    return out
  end
  function Module:named_children()
    local s = rawget(self, _s)
    local names, vals = {}, {}
    for _, c in ipairs(s.mo) do names[#names + 1] = c; vals[#vals + 1] = rawget(self, _m)[c] end
    return ordered_iter(names, vals)
  end
  function Module:children()
    local out = {}
    for _, c in self:named_children() do out[#out + 1] = c end
    return out
  end
  function Module:named_buffers()
    local names, vals = {}, {}
    each_named(self, "", function(m, prefix, s)
      for _, bn in ipairs(s.bo) do
        names[#names + 1] = prefix == "" and bn or prefix .. "." .. bn
        vals[#vals + 1] = rawget(m, _b)[bn]
      end
    end)
    return ordered_iter(names, vals)
  end
  function Module:buffers()
    local out = {}
    for _, b in self:named_buffers() do out[#out + 1] = b end
    return out
  end
  function Module:state_dict()
    local sd = {}
    for n, p in self:named_parameters() do sd[n] = p end
    for n, b in self:named_buffers() do sd[n] = b end
    return sd
  end
  function Module:load_state_dict(sd)
    if type(sd) ~= "table" then err("bad argument #1 to 'load_state_dict' (table expected, got %s)", type(sd)) end
    local targets = {}
    for n, p in self:named_parameters() do targets[n] = p end
    for n, b in self:named_buffers() do targets[n] = b end
    for n, t in pairs(targets) do
      local v = sd[n]
      if v == nil then err("bad argument #1 to 'load_state_dict' (missing key '%s')", n) end
      if getmetatable(v) ~= Tmt then err("bad argument #1 to 'load_state_dict' ('%s' is not a Tensor)", n) end
      local a, b = t:size(), v:size()
      local same = #a == #b
      for i = 1, #a do if a[i] ~= b[i] then same = false end end
      if not same then err("bad argument #1 to 'load_state_dict' (shape of '%s' is %s, expected %s)", n, v:shape_string(), t:shape_string()) end
    end
    for n in pairs(sd) do
      if targets[n] == nil then err("bad argument #1 to 'load_state_dict' (unexpected key '%s')", n) end
    end
    nyto.no_grad(function() for n, t in pairs(targets) do t:copy_(sd[n]) end end)
    return self
  end
  function Module:train(mode)
    if mode == nil then mode = true end
    for _, m in ipairs(self:modules()) do rawget(m, _f).training = mode and true or false end
    return self
  end
  function Module:eval() return self:train(false) end
  function Module:zero_grad()
    for _, p in ipairs(self:parameters()) do p:zero_grad_() end
    return self
  end
  -- any module answers for every parameter of its particle; a tensor that is
  -- not one (another particle's, or one replaced by assigning the field) raises
  function Module:get_param_id(param)
    if getmetatable(param) ~= Tmt then err("bad argument #1 to 'get_param_id' (Tensor expected, got %s)", nyto.type(param) or type(param)) end
    local k = K.kernel_of(self, "get_param_id")
    require("nyto.particle.lazy").expand(k)
    local L = k.ver.layout
    for _, pid in ipairs(L.order) do
      local P = L.params[pid]
      -- a parameter never materialised is no tensor a caller can hold
      local t = rawget(k.mods[P.mid], _p)[P.name]
      if t ~= nil and (rawequal(t, param) or t:is_same(param)) then return pid end
    end
    err("bad argument #1 to 'get_param_id' (the tensor is not a parameter of this particle)")
  end
  function Module:extra_repr() return "" end
  function Module:__repr()
    local cls = getmetatable(self).__class
    local name = cls.__classname
    local extra = self:extra_repr() or ""
    local s = rawget(self, _s)
    if #s.mo == 0 then return name .. "(" .. extra .. ")" end
    local lines = {name .. "("}
    if extra ~= "" then lines[#lines + 1] = "  " .. extra end
    for _, cname in ipairs(s.mo) do
      local sub = tostring(rawget(self, _m)[cname]):gsub("\n", "\n  ")
      lines[#lines + 1] = "  (" .. cname .. "): " .. sub
    end
    lines[#lines + 1] = ")"
    return table.concat(lines, "\n")
  end


  -- particle operations, products' Module side and parameter configs
  O.install_module(Module, Module.__imt)
  G.install_module(Module)
end
