-- nyto.module: classes, nyto.Module, particle kernels, species, versions,
-- flat parameter storage, particle operations and products.
--
-- Layout of a module object (a Lua table; every key below is raw, every
-- user-visible field goes through __index/__newindex):
--   _s   the module's structure record: {po = {names}, pid = {name -> pid},
--        mo = {names}, mid = {name -> child mid}, bo = {names}}.  Shared by
--        every particle at the same species version (copy on write).
--   _p   name -> Parameter tensor (materialised lazily from the flat buffer)
--   _m   name -> child module          _b   name -> buffer tensor
--   _f   plain fields                  _id  module id (root = 1)
--   _k   the particle kernel (nil when a ParticleModule cleared it)
--   _kk  the kernel, kept for lazy parameter views and the ParticleModule
-- The flat buffers (one per dtype) are nyto.Buffer userdata of the C core;
-- a particle operation is one pass of a C loop over their operational
-- segments (core.pscalar/pbinary), never a loop of tensor calls.
return function(nyto, core)
  local pscalar, pbinary, view, set_to_view = core.pscalar, core.pbinary, core.view, core.set_to_view
  local is_param = core.is_parameter
  local Tmt = core.Tensor_mt
  local OP = {add = core.OP_ADD, sub = core.OP_SUB, mul = core.OP_MUL, div = core.OP_DIV, pow = core.OP_POW,
              rsub = core.OP_RSUB, rdiv = core.OP_RDIV, rpow = core.OP_RPOW}

  local function err(fmt, ...) error(nyto._cut("nyto: " .. string.format(fmt, ...)), 0) end
  local expand -- builds a lazy particle's module tree (defined with particle_from)

  -- warnings --------------------------------------------------------------------
  local warn_fn = nil
  function nyto.on_warning(fn)
    if fn ~= nil and type(fn) ~= "function" then err("bad argument #1 to 'on_warning' (function or nil expected, got %s)", type(fn)) end
    warn_fn = fn
  end
  local function nwarn(msg)
    msg = "nyto: " .. msg
    if warn_fn then warn_fn(msg) else warn("@on"); warn(msg) end
  end
  nyto._warn = nwarn -- for nyto.batched_forward (lua/nyto/batched.lua)

  -- classes -----------------------------------------------------------------------
  local Module = {}          -- the root class
  local class_of = {}        -- instance metatable -> class (weak)
  setmetatable(class_of, {__mode = "k"})

  local MODULE_MT_NAME = "nyto.Module"
  local building = 0         -- depth of running constructors (defers finalisation)

  local function is_module(x)
    local m = getmetatable(x)
    return m ~= nil and type(m) == "table" and rawget(m, "__nyto_module") == true
  end
  nyto.is_module = is_module

  -- A class is a table of methods; its instances' metatable is cls.__imt.
  local function lookup(cls, k)
    while cls do
      local v = rawget(cls, k)
      if v ~= nil then return v end
      cls = rawget(cls, "__parent")
    end
  end
  nyto._lookup = lookup

  local make_instance_mt -- forward

  function nyto.class(name, parent)
    if type(name) ~= "string" then err("bad argument #1 to 'class' (string expected, got %s)", type(name)) end
    parent = parent or Module
    if type(parent) ~= "table" or not rawget(parent, "__imt") then
      err("bad argument #2 to 'class' (a nyto class expected, got %s)", type(parent))
    end
    local cls = {__classname = name, __parent = parent}
    cls.__imt = (lookup(parent, "__make_imt") or make_instance_mt)(cls, parent)
    return setmetatable(cls, {
      __index = parent,
      __call = function(c, ...) return c.__construct(c, ...) end,
      __tostring = function() return "class " .. name end,
      __newindex = function(c, k, v)
        -- metamethods defined on the class (__gc, __tostring, ...) go to the instance metatable
        rawset(c, k, v)
        if type(k) == "string" and k:sub(1, 2) == "__" and k ~= "__index" and k ~= "__newindex" then
          rawset(c.__imt, k, v)
        end
      end,
    })
  end

  function nyto.is_class(x) return type(x) == "table" and rawget(x, "__imt") ~= nil end

  -- structure records --------------------------------------------------------------
  local function new_s() return {po = {}, pid = {}, mo = {}, mid = {}, bo = {}} end
  local function copy_s(s)
    local n = new_s()
    for i, v in ipairs(s.po) do n.po[i] = v end
    for i, v in ipairs(s.mo) do n.mo[i] = v end
    for i, v in ipairs(s.bo) do n.bo[i] = v end
    for k, v in pairs(s.pid) do n.pid[k] = v end
    for k, v in pairs(s.mid) do n.mid[k] = v end
    return n
  end
  local function remove_name(list, name)
    for i, v in ipairs(list) do if v == name then table.remove(list, i) return end end
  end

  -- species, versions, kernels ----------------------------------------------------
  local Kernel = {__name = "nyto.Kernel"}
  Kernel.__index = Kernel
  local Version = {__name = "nyto.Version"}
  Version.__index = Version
  local Species = {__name = "nyto.Species"}
  Species.__index = Species
  -- every live kernel (weak): nyto.stats().particles counts them (products,
  -- which hold buffers but no kernel, are not particles)
  local live_kernels = setmetatable({}, {__mode = "k"})
  nyto._live_kernels = live_kernels

  -- layout of a version: pid order, offsets and segments per dtype
  --   L.params[pid] = {mid=, name=, shape=, numel=, dtype=, off=}
  --   L.order = {pid...} (tree order) ; L.size[dtype] ; L.segs[dtype] (Segments)
  --   L.mods[mid] = {s = structure record, path = "a.b", parent = mid, name = }
  local function seg_build(species, L)
    local ranges = {}
    for _, pid in ipairs(L.order) do
      local P = L.params[pid]
      local c = species.configs[pid]
      if c.operational then
        local r = ranges[P.dtype]
        if not r then r = {}; ranges[P.dtype] = r end
        r[#r + 1] = P.off
        r[#r + 1] = P.numel
      end
    end
    L.segs = {}
    for dt in pairs(L.size) do L.segs[dt] = core.segments(ranges[dt] or {}) end
    L.cstamp = species.cstamp
  end

  -- (re)compute a layout by walking a finalised tree's structure records
  local function layout_of(species, root)
    local L = {params = {}, order = {}, size = {}, mods = {}, nparams = 0}
    local function walk(m, path, parent, name)
      local s = rawget(m, "_s")
      local id = rawget(m, "_id")
      L.mods[id] = {s = s, path = path, parent = parent, name = name, class = getmetatable(m)}
      for _, pname in ipairs(s.po) do
        local pid = s.pid[pname]
        local t = rawget(m, "_p")[pname]
        local P
        if t then
          P = {mid = id, name = pname, shape = t:size(), numel = t:numel(), dtype = t:dtype()}
        else
          P = species.pinfo[pid]
        end
        P = {mid = id, name = pname, shape = P.shape, numel = P.numel, dtype = P.dtype}
        species.pinfo[pid] = P
        local dt = P.dtype
        P.off = L.size[dt] or 0
        L.size[dt] = P.off + P.numel
        L.params[pid] = P
        L.order[#L.order + 1] = pid
        L.nparams = L.nparams + 1
      end
      for _, cname in ipairs(s.mo) do
        local c = rawget(m, "_m")[cname]
        walk(c, path == "" and cname or path .. "." .. cname, id, cname)
      end
    end
    walk(root, "", nil, nil)
    seg_build(species, L)
    return L
  end

  -- config.pid reads the parameter's id (from the metatable: pairs() lists
  -- operational, clone and the user's fields only)
  local function default_config(pid) return setmetatable({operational = true, clone = true}, {__index = {pid = pid}}) end


  -- assign fresh ids of `species` to a tree that joins it (a tree built by
  -- constructors, or an adopted one: its structure records are private).
  -- A module met a second time (one module placed twice in the tree) is kept
  -- as a plain field of its second parent, with a warning.
  local function assign_ids(species, m, seen)
    seen = seen or {}
    seen[m] = true
    local id = species.next_mid
    species.next_mid = id + 1
    rawset(m, "_id", id)
    local s = rawget(m, "_s")
    s.pid, s.mid = {}, {}
    for _, pname in ipairs(s.po) do
      local pid = species.next_pid
      species.next_pid = pid + 1
      s.pid[pname] = pid
      species.configs[pid] = default_config(pid)
    end
    local ch = rawget(m, "_m")
    local i = 1
    while i <= #s.mo do
      local cname = s.mo[i]
      local c = ch[cname]
      if seen[c] then
        nwarn(("submodule '%s' is placed twice in one module tree; the second place keeps it as a plain field (not registered)"):format(cname))
        table.remove(s.mo, i)
        ch[cname] = nil
        rawget(m, "_f")[cname] = c
      else
        assign_ids(species, c, seen)
        s.mid[cname] = rawget(c, "_id")
        i = i + 1
      end
    end
  end

  local function set_kernel_tree(m, k)
    rawset(m, "_k", k.kref) -- nil while a ParticleModule has cleared the references
    rawset(m, "_kk", k)
    local s = rawget(m, "_s")
    local ch = rawget(m, "_m")
    for _, cname in ipairs(s.mo) do set_kernel_tree(ch[cname], k) end
  end

  -- Kernels sharing one set of flat buffers (a particle and the particles
  -- detach()ed from it): bufs table -> weak set of kernels.  A kernel that
  -- borrowed tensors from another (detach) lists them in k.borrowed.
  local share_groups = setmetatable({}, {__mode = "k"})

  -- move every parameter of kernel k's tree into fresh flat buffers (values
  -- kept, tensor identity kept: Torch7's set).  Sharing with detach()ed
  -- particles ends here: the tensors stay with the particle they were
  -- assigned to, the borrower views its own (old) buffer instead.
  local function rebuild_flat(k)
    expand(k)
    local L = k.ver.layout
    local bufs = {}
    for dt, n in pairs(L.size) do bufs[dt] = core.buffer(dt, n) end
    local group = share_groups[k.bufs]
    local borrowed = k.borrowed
    local moved = group and {}
    for _, pid in ipairs(L.order) do
      local P = L.params[pid]
      local m = k.mods[P.mid]
      local p = rawget(m, "_p")
      local t = p[P.name]
      if t and borrowed and borrowed[t] then
        -- a tensor another particle owns: leave it there, keep the values
        k.rg[pid] = t:requires_grad()
        p[P.name] = nil
        borrowed[t] = nil
        t = nil
      end
      if t then
        set_to_view(t, bufs[P.dtype], P.off)
        if moved then moved[t] = true end
      else
        -- a lazily-viewed parameter: copy its values from the old buffer
        local old = k.bufs[P.dtype]
        local oldP = k.oldlayout and k.oldlayout.params[pid]
        if old and oldP then
          local src = view(old, oldP.off, P.shape, false)
          local dst = view(bufs[P.dtype], P.off, P.shape, false)
          dst:copy_(src)
        end
      end
    end
    if group then
      group[k] = nil
      -- the other sharers drop the tensors that moved: they view the old buffer
      for o in pairs(group) do
        for _, mm in pairs(o.mods) do
          local p, s = rawget(mm, "_p"), rawget(mm, "_s")
          for pn, t in pairs(p) do
            if moved[t] then
              local pid = s.pid[pn]
              if pid then o.rg[pid] = t:requires_grad() end
              p[pn] = nil
              if o.borrowed then o.borrowed[t] = nil end
            end
          end
        end
      end
    end
    k.bufs = bufs
    k.oldlayout = nil
  end

  local function collect_modules(k, m)
    k.mods[rawget(m, "_id")] = m
    local s = rawget(m, "_s")
    local ch = rawget(m, "_m")
    for _, cname in ipairs(s.mo) do collect_modules(k, ch[cname]) end
  end

  -- Found a species for a freshly constructed root module.
  local function found_species(root)
    local species = setmetatable({next_mid = 1, next_pid = 1, configs = {}, pinfo = {}, cstamp = 0}, Species)
    assign_ids(species, root)
    local version = setmetatable({species = species, n = 1}, Version)
    species.ver = version
    local k = setmetatable({species = species, ver = version, mods = {}, bufs = {}, rg = {}}, Kernel)
    k.kref = k
    live_kernels[k] = true
    k.root = root
    collect_modules(k, root)
    set_kernel_tree(root, k)
    version.layout = layout_of(species, root)
    rebuild_flat(k)
    return k
  end

  -- instance metatables ---------------------------------------------------------------
  local RESERVED = {_s = true, _p = true, _m = true, _b = true, _f = true, _id = true, _k = true, _kk = true}

  local structural_change -- forward: (module, kind, name, value)
  local replace_param     -- forward: (module, name, Parameter) -> true when done in place
  local registrable       -- forward: (module, name, module) -> false: keep as a plain field

  local function materialize(self, name)
    local s = rawget(self, "_s")
    local pid = s.pid[name]
    local k = rawget(self, "_kk")
    if k and k.freed then err("attempt to use a freed Module") end
    if not (pid and k) then return nil end
    local P = k.ver.layout.params[pid]
    local rg = k.rg[pid]
    if rg == nil then rg = true end
    local t = view(k.bufs[P.dtype], P.off, P.shape, rg, true)
    rawget(self, "_p")[name] = t
    return t
  end

  function make_instance_mt(cls, parent)
    local mt = {__nyto_module = true, __name = MODULE_MT_NAME, __class = cls}
    mt.__index = function(self, k)
      local v = rawget(self, "_p")[k]
      if v ~= nil then return v end
      local s = rawget(self, "_s")
      if s.pid[k] then return materialize(self, k) end
      v = rawget(self, "_m")[k]
      if v ~= nil then return v end
      v = rawget(self, "_b")[k]
      if v ~= nil then return v end
      v = rawget(self, "_f")[k]
      if v ~= nil then return v end
      if type(k) == "number" then
        v = rawget(self, "_m")[tostring(k)]
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
      local p, m, b, f = rawget(self, "_p"), rawget(self, "_m"), rawget(self, "_b"), rawget(self, "_f")
      local s = rawget(self, "_s")
      -- inside a constructor parameters have no id yet: _p tells
      local is_p = s.pid[k] ~= nil or p[k] ~= nil
      if v ~= nil and getmetatable(v) == Tmt and is_param(v) then
        if not is_p then shadows() end -- as PyTorch's register_parameter: no parameter named as a method
        if m[k] then err("bad argument to '__newindex' (cannot assign a Parameter to '%s': it is a submodule; assign nil first)", k) end
        if b[k] then err("bad argument to '__newindex' (cannot assign a Parameter to '%s': it is a buffer; assign nil first)", k) end
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
    local c = parent
    while c do
      local pm = rawget(c, "__imt")
      if pm then
        for k, v in pairs(pm) do if mt[k] == nil then mt[k] = v end end
      end
      c = rawget(c, "__parent")
    end
    class_of[mt] = cls
    return mt
  end

  -- the root class
  Module.__classname = "Module"
  Module.__imt = make_instance_mt(Module, nil)
  setmetatable(Module, {__call = function(c, ...) return c.__construct(c, ...) end,
                        __tostring = function() return "class Module" end})
  nyto.Module = Module

  local function blank(mt)
    return setmetatable({_s = new_s(), _p = {}, _m = {}, _b = {}, _f = {training = true}}, mt)
  end

  -- Construct: a blank instance, init(...), then (outermost constructor only)
  -- found a species and move the parameters into flat storage.
  function Module.__construct(cls, ...)
    local init = lookup(cls, "init")
    local self = blank(cls.__imt)
    building = building + 1
    local ok, e = pcall(function(...) if init then init(self, ...) end end, ...)
    building = building - 1
    if not ok then error(e, 0) end
    if building == 0 then found_species(self) end
    return self
  end

  -- structural changes (versions) ---------------------------------------------------
  local function check_kernel(self, what)
    local k = rawget(self, "_k")
    if not k and rawget(self, "_kk") then
      err("cannot %s: this module's kernel reference is cleared by a ParticleModule (call restore_kernel_ref() first)", what)
    end
    return k
  end

  local function tree_contains(m, target)
    if rawequal(m, target) then return true end
    local ch = rawget(m, "_m")
    for _, c in pairs(ch) do if tree_contains(c, target) then return true end end
    return false
  end

  -- Can module v be registered as submodule `name` of self?  A module tree
  -- has no cycles and holds each module once, and a module belongs to one
  -- particle: otherwise warn and keep v as a plain field (reading the field
  -- still returns v; its parameters stay where they are).
  function registrable(self, name, v)
    if tree_contains(v, self) then
      nwarn(("submodule '%s' refers back to a module that contains it (a cycle in the module tree); it is kept as a plain field, not registered"):format(name))
      return false
    end
    local vk = rawget(v, "_kk")
    if vk then
      -- the root of a particle (kernel reference not cleared) may join: it leaves its own particle
      if not (rawget(v, "_k") == vk and rawequal(vk.root, v)) then
        nwarn(("module '%s' is already part of a particle; one module placed in two particles (or twice in one) is kept as a plain field, not registered"):format(name))
        return false
      end
    elseif tree_contains(self, v) then
      nwarn(("module '%s' is already in this module tree; one module placed twice is kept as a plain field, not registered"):format(name))
      return false
    end
    return true
  end

  -- a module tree joining another tree: its parameters become standalone
  -- tensors (materialised from its old particle, if any), its structure
  -- records become private, it leaves its old particle
  local function adopt(m)
    local s = rawget(m, "_s")
    for _, pn in ipairs(s.po) do local _ = m[pn] end
    rawset(m, "_s", copy_s(s))
    rawset(m, "_k", nil)
    rawset(m, "_kk", nil)
    for _, cn in ipairs(s.mo) do adopt(rawget(m, "_m")[cn]) end
  end

  -- a subtree leaving its particle keeps its parameter tensors (views of the
  -- particle's current buffer; the particle moves to a new one)
  local function leave(m)
    for _, pn in ipairs(rawget(m, "_s").po) do local _ = m[pn] end
    rawset(m, "_k", nil)
    rawset(m, "_kk", nil)
    for _, c in pairs(rawget(m, "_m")) do leave(c) end
  end

  -- every parameter of a tree about to join a particle must be a live tensor
  local function check_tree_live(m, path)
    local s, p = rawget(m, "_s"), rawget(m, "_p")
    for _, pn in ipairs(s.po) do
      local t = p[pn]
      if t ~= nil and not pcall(t.dtype, t) then
        err("bad argument to '__newindex' (parameter '%s.%s' is a freed Tensor)", path, pn)
      end
    end
    for _, cn in ipairs(s.mo) do check_tree_live(rawget(m, "_m")[cn], path .. "." .. cn) end
  end

  -- apply one change to module m (no versioning); value already prepared
  local function apply_change(m, kind, name, value, ids)
    local s = rawget(m, "_s")
    if kind == "add_param" then
      s.po[#s.po + 1] = name
      if ids then s.pid[name] = ids.pid end
      rawget(m, "_p")[name] = value
    elseif kind == "remove_param" then
      remove_name(s.po, name)
      s.pid[name] = nil
      rawget(m, "_p")[name] = nil
    elseif kind == "add_module" then
      s.mo[#s.mo + 1] = name
      rawget(m, "_m")[name] = value
      if ids then s.mid[name] = ids.mid end
    elseif kind == "remove_module" then
      remove_name(s.mo, name)
      s.mid[name] = nil
      rawget(m, "_m")[name] = nil
    elseif kind == "add_buffer" then
      s.bo[#s.bo + 1] = name
      rawget(m, "_b")[name] = value
    elseif kind == "remove_buffer" then
      remove_name(s.bo, name)
      rawget(m, "_b")[name] = nil
    end
  end

  -- a detached deep copy of a module tree (values cloned), for version records
  local clone_tree_values -- forward

  -- copy-on-write the structure records of every module (they are shared
  -- with the other particles of the old version)
  local function own_records(k)
    expand(k)
    for _, m in pairs(k.mods) do rawset(m, "_s", copy_s(rawget(m, "_s"))) end
  end

  local function advance(k, kind, mid, name, record_value)
    -- k: the kernel that changed; builds the new version and flat storage
    local species = k.species
    local old = k.ver
    local nv = setmetatable({species = species, n = old.n + 1}, Version)
    old.next = nv
    old.change = {kind = kind, mid = mid, name = name, value = record_value}
    k.mods = {}
    collect_modules(k, k.root)
    k.oldlayout = old.layout
    nv.layout = layout_of(species, k.root)
    species.ver = nv
    k.ver = nv
    rebuild_flat(k)
  end

  function structural_change(self, kind, name, value)
    local k = rawget(self, "_k")
    if k and k.ver ~= k.species.ver then
      k:touch()
      k = rawget(self, "_k") -- the replay may have removed self from the particle
    end
    if kind == "add_module" then check_tree_live(value, name) end
    if not k then
      check_kernel(self, "change the structure of a module")
      -- not yet a particle (inside a constructor): plain bookkeeping; ids
      -- are assigned when the outermost constructor founds the species
      if kind == "add_module" and rawget(value, "_kk") then adopt(value) end
      apply_change(self, kind, name, value)
      return
    end
    -- a particle: make the change in a new species version.  Everything that
    -- can fail is checked above, so no error leaves a half-applied version.
    local species = k.species
    local mid = rawget(self, "_id")
    local record
    if kind == "add_param" then
      record = {value = nyto.no_grad(function() return value:detach():clone() end), rg = value:requires_grad()}
      own_records(k)
      local pid = species.next_pid
      species.next_pid = pid + 1
      species.configs[pid] = default_config(pid)
      record.pid = pid
      apply_change(self, kind, name, value, {pid = pid})
      k.rg[pid] = value:requires_grad()
    elseif kind == "add_module" then
      own_records(k)
      -- the new subtree joins this species with fresh ids
      adopt(value)
      assign_ids(species, value)
      apply_change(self, kind, name, value, {mid = rawget(value, "_id")})
      set_kernel_tree(value, k)
      record = {value = clone_tree_values(value)}
    elseif kind == "remove_param" then
      if not rawget(self, "_s").pid[name] then err("no parameter '%s' to remove", name) end
      local _ = self[name] -- a script holding it keeps a valid tensor
      own_records(k)
      apply_change(self, kind, name)
    elseif kind == "remove_module" then
      if not rawget(self, "_m")[name] then err("no submodule '%s' to remove", name) end
      own_records(k)
      leave(rawget(self, "_m")[name])
      apply_change(self, kind, name)
    elseif kind == "add_buffer" then
      own_records(k)
      apply_change(self, kind, name, value)
      record = {value = value}
    elseif kind == "remove_buffer" then
      if not rawget(self, "_b")[name] then err("no buffer '%s' to remove", name) end
      own_records(k)
      apply_change(self, kind, name)
    end
    advance(k, kind, mid, name, record)
  end

  -- Replace parameter `name` by a Parameter of the same dtype and shape:
  -- the assigned tensor takes over the slot of the flat storage (values of
  -- the new tensor, identity of the new tensor), no new version.  The old
  -- tensor, if a script holds it, gets storage of its own.
  function replace_param(self, name, v)
    local p = rawget(self, "_p")
    local k = rawget(self, "_k")
    if not k then
      check_kernel(self, "change the structure of a module")
      if rawget(self, "_kk") == nil then
        -- inside a constructor: the new tensor takes the old one's place
        p[name] = v
        return true
      end
    end
    if k.ver ~= k.species.ver then k:touch() end
    if rawget(self, "_k") ~= k then return false end
    local pid = rawget(self, "_s").pid[name]
    local P = k.ver.layout.params[pid]
    if v:dtype() ~= P.dtype or v:shape_string() ~= self[name]:shape_string() then return false end
    local c = k.species.configs[pid]
    if not c.operational and not c.clone then return false end
    local cur = p[name]
    if cur then set_to_view(cur, core.buffer(P.dtype, P.numel), 0) end
    set_to_view(v, k.bufs[P.dtype], P.off)
    p[name] = v
    k.rg[pid] = v:requires_grad()
    return true
  end

  -- Replay the changes from k's version to the newest.
  function Kernel:touch()
    local species = self.species
    if self.ver ~= species.ver then expand(self) end
    while self.ver ~= species.ver do
      local v = self.ver
      local ch = v.change
      local m = self.mods[ch.mid]
      own_records(self)
      if ch.kind == "add_param" then
        local t = nyto.no_grad(function() return ch.value.value:clone() end)
        local p = nyto.Parameter(t, ch.value.rg)
        apply_change(m, "add_param", ch.name, p, {pid = ch.value.pid})
        self.rg[ch.value.pid] = ch.value.rg
      elseif ch.kind == "add_module" then
        local sub = clone_tree_values(ch.value.value)
        -- the record's tree carries the ids of the species
        apply_change(m, "add_module", ch.name, sub, {mid = rawget(sub, "_id")})
        set_kernel_tree(sub, self)
      elseif ch.kind == "add_buffer" then
        apply_change(m, "add_buffer", ch.name, ch.value.value)
      elseif ch.kind == "remove_module" then
        -- a script holding the removed subtree keeps valid, standalone modules
        leave(rawget(m, "_m")[ch.name])
        apply_change(m, ch.kind, ch.name)
      else
        apply_change(m, ch.kind, ch.name)
      end
      self.mods = {}
      collect_modules(self, self.root)
      -- adopt the next version's shared records
      local nv = v.next
      for mid, info in pairs(nv.layout.mods) do
        local mm = self.mods[mid]
        if mm then rawset(mm, "_s", info.s) end
      end
      self.oldlayout = v.layout
      self.ver = nv
      rebuild_flat(self)
    end
    return self
  end

  -- the module API ------------------------------------------------------------------
  -- the kernel of a particle's module, caught up with its species (product.lua uses it too)
  function nyto._kernel_of(self, fname)
    local k = rawget(self, "_kk")
    if not k then err("bad argument #1 to '%s' (module is not a particle)", fname) end
    if k.freed then err("attempt to use a freed Module") end
    if k.ver ~= k.species.ver then k:touch() end
    return k
  end

  function Module:kernel() return rawget(self, "_k") end

  -- net:free() (and `local net <close> = ...`): release the particle's
  -- buffers and parameter tensors now; any later use raises
  function Module:free()
    local k = rawget(self, "_kk")
    if not k or k.freed then return end
    k.freed = true
    local group = share_groups[k.bufs]
    if group then
      -- detach() shares these buffers and tensors with another particle:
      -- drop this particle's hold, free nothing another one still uses
      group[k] = nil
      if next(group) then
        k.bufs = {}
        return
      end
      share_groups[k.bufs] = nil
    end
    local configs = k.species.configs
    for _, m in pairs(k.mods) do -- materialised modules only: a lazy tree has no tensors yet
      local s = rawget(m, "_s")
      for pn, t in pairs(rawget(m, "_p")) do
        local c = configs[s.pid[pn]]
        -- a clone=false parameter is the very tensor of another particle: not ours to free
        if not (c and c.clone == false and not c.operational) then t:free() end
      end
    end
    for _, b in pairs(k.bufs) do b:free() end
    k.bufs = {}
  end
  -- as in PyTorch, a class without forward constructs (a container, a holder
  -- of parameters); calling its instance raises
  function Module:forward()
    local name = getmetatable(self).__class.__classname
    err("%s has no forward method (define function %s:forward(...) to call it)", name, name)
  end
  function Module:module_id() return rawget(self, "_id") end
  function Module:is_root() return rawget(self, "_id") == 1 end
  function Module:class() return getmetatable(self).__class end
  function Module:touch()
    local k = rawget(self, "_kk")
    if k then k:touch() end
    return self
  end

  function Module:register_buffer(name, t)
    if type(name) ~= "string" then err("bad argument #1 to 'register_buffer' (string expected, got %s)", type(name)) end
    if t ~= nil and getmetatable(t) ~= Tmt then err("bad argument #2 to 'register_buffer' (Tensor expected, got %s)", type(t)) end
    if RESERVED[name] then err("'%s' is a reserved field name of nyto modules", name) end
    local s = rawget(self, "_s")
    if s.pid[name] or rawget(self, "_p")[name] or rawget(self, "_m")[name] then err("bad argument #1 to 'register_buffer' ('%s' is already a parameter or submodule)", name) end
    if rawget(self, "_b")[name] then rawget(self, "_b")[name] = t return end
    rawget(self, "_f")[name] = nil
    structural_change(self, "add_buffer", name, t)
  end

  local function each_named(self, prefix, visit)
    local s = rawget(self, "_s")
    visit(self, prefix, s)
    local ch = rawget(self, "_m")
    for _, cname in ipairs(s.mo) do
      each_named(ch[cname], prefix == "" and cname or prefix .. "." .. cname, visit)
    end
  end

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
    local s = rawget(self, "_s")
    local names, vals = {}, {}
    for _, c in ipairs(s.mo) do names[#names + 1] = c; vals[#vals + 1] = rawget(self, "_m")[c] end
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
        vals[#vals + 1] = rawget(m, "_b")[bn]
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
    for _, m in ipairs(self:modules()) do rawget(m, "_f").training = mode and true or false end
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
    local k = nyto._kernel_of(self, "get_param_id")
    expand(k)
    local L = k.ver.layout
    for _, pid in ipairs(L.order) do
      local P = L.params[pid]
      -- a parameter never materialised is no tensor a caller can hold
      local t = rawget(k.mods[P.mid], "_p")[P.name]
      if t ~= nil and (rawequal(t, param) or t:is_same(param)) then return pid end
    end
    err("bad argument #1 to 'get_param_id' (the tensor is not a parameter of this particle)")
  end
  function Module:extra_repr() return "" end
  function Module:__repr()
    local cls = getmetatable(self).__class
    local name = cls.__classname
    local extra = self:extra_repr() or ""
    local s = rawget(self, "_s")
    if #s.mo == 0 then return name .. "(" .. extra .. ")" end
    local lines = {name .. "("}
    if extra ~= "" then lines[#lines + 1] = "  " .. extra end
    for _, cname in ipairs(s.mo) do
      local sub = tostring(rawget(self, "_m")[cname]):gsub("\n", "\n  ")
      lines[#lines + 1] = "  (" .. cname .. "): " .. sub
    end
    lines[#lines + 1] = ")"
    return table.concat(lines, "\n")
  end

  function Kernel:modules()
    expand(self)
    if self.ver ~= self.species.ver then self:touch() end
    local t = {}
    for id, m in pairs(self.mods) do t[id] = m end
    return t
  end
  function Kernel:params()
    expand(self)
    if self.ver ~= self.species.ver then self:touch() end
    local t = {}
    for _, pid in ipairs(self.ver.layout.order) do
      local P = self.ver.layout.params[pid]
      t[pid] = self.mods[P.mid][P.name]
    end
    return t
  end
  -- kernel:version(): the nyto.Version shared by every particle at that
  -- version; the particle's own version (a particle behind reports the old
  -- one until touch())
  function Kernel:version() return self.ver end
  function Version:number() return self.n end


  -- building particles from buffers ---------------------------------------------------
  -- A particle made by an operation starts *lazy*: only its root module
  -- exists.  Its template (k.lazy) holds, per module id, the plain fields,
  -- buffers and shared (clone=false, non-operational) parameters the modules
  -- will get; the tree is built on first use (expand).  So `net = 0.5*net + 10`
  -- builds one table per operation, whatever the depth of the model.
  local function copy_table(t)
    local c = {}
    for key, v in pairs(t) do c[key] = v end
    return c
  end

  -- the template of kernel src: per mid {f=, b=, p=}; a lazy src lends its own
  local function template_of(src, species)
    local lz = src.lazy
    if lz and (src.template or not species.noclone) then return lz end
    if lz then expand(src) end
    local t = {}
    local configs = species.configs
    for mid, m in pairs(src.mods) do
      local s = rawget(m, "_s")
      local p
      if species.noclone and #s.po > 0 then
        local sp = rawget(m, "_p")
        for _, pn in ipairs(s.po) do
          local c = configs[s.pid[pn]]
          if not c.clone and not c.operational then
            p = p or {}
            p[pn] = sp[pn] or m[pn]
          end
        end
      end
      t[mid] = {f = copy_table(rawget(m, "_f")), b = copy_table(rawget(m, "_b")), p = p}
    end
    return t
  end

  -- a module of kernel k at id mid, from its template entry
  local function module_from(k, mid, info, tmpl)
    return setmetatable({_s = info.s, _p = tmpl.p and copy_table(tmpl.p) or {}, _m = {},
                         _b = copy_table(tmpl.b), _f = copy_table(tmpl.f), _id = mid,
                         _k = k.kref, _kk = k}, info.class)
  end

  -- proxies: reading a missing child (or module id) of a lazy particle builds the tree
  -- one metatable serves both proxies of a kernel (k.mods and the root's _m)
  local function lazy_proxy_mt(k)
    return {__index = function(t, key)
      expand(k)
      return rawget(t, key)
    end}
  end

  function expand(k)
    local lz = k.lazy
    if not lz then return end
    k.lazy = nil
    local root = k.root
    local L = k.ver.layout
    local mods = k.mods
    setmetatable(mods, nil)
    local function build(m)
      local s = rawget(m, "_s")
      local ch = rawget(m, "_m")
      setmetatable(ch, nil)
      for _, cn in ipairs(s.mo) do
        local cid = s.mid[cn]
        local c = module_from(k, cid, L.mods[cid], lz[cid])
        rawset(ch, cn, c)
        rawset(mods, cid, c)
        build(c)
      end
    end
    build(root)
  end
  nyto._expand = expand

  local function rg_of(src)
    -- requires_grad of each pid of kernel src: materialised tensors tell, else inherited
    local rg = {}
    for pid, v in pairs(src.rg) do rg[pid] = v end
    for _, m in pairs(src.mods) do
      local p = rawget(m, "_p")
      if next(p) then
        local s = rawget(m, "_s")
        for pn, t in pairs(p) do
          local pid = s.pid[pn]
          if pid then rg[pid] = t:requires_grad() end
        end
      end
    end
    return rg
  end

  -- A new particle of src's species from new buffers (lazy: root only).
  local function particle_from(src, bufs)
    local species = src.species
    local tmpl = template_of(src, species)
    local k = setmetatable({species = species, ver = src.ver, bufs = bufs, rg = rg_of(src), lazy = tmpl}, Kernel)
    k.kref = k
    live_kernels[k] = true
    local pmt = lazy_proxy_mt(k)
    k.mods = setmetatable({}, pmt)
    local root = module_from(k, 1, src.ver.layout.mods[1], tmpl[1])
    rawset(root, "_m", setmetatable({}, pmt))
    rawset(k.mods, 1, root)
    k.root = root
    return k
  end
  nyto._particle_from = particle_from

  -- What a product keeps of the particle it came from: species, version,
  -- template and requires_grad flags, never the particle's buffers (a product
  -- loop must not pin the particle it started from).
  function nyto._template_kernel(k)
    local species = k.species
    return {species = species, ver = k.ver, lazy = template_of(k, species), rg = rg_of(k), mods = {}, template = true}
  end

  -- particle operations ---------------------------------------------------------------
  local function segs_of(k)
    local L = k.ver.layout
    if L.cstamp ~= k.species.cstamp then seg_build(k.species, L) end
    return L.segs
  end

  local function kernel_operand(x, i, fname)
    local k = rawget(x, "_kk")
    if not k then err("bad argument #%d to '%s' (module is not a particle)", i, fname) end
    if k.freed then err("attempt to use a freed Module") end
    if k.ver ~= k.species.ver then k:touch() end
    return k
  end

  -- resolve operands of a binary particle operation to (kernel, kernel|number, swapped)
  local function operands(a, b, fname, getk)
    local ka, kb
    if type(a) == "number" then
      if type(b) ~= "table" then err("bad argument #1 to '%s' (number or particle expected)", fname) end
      return getk(b, 2, fname), a, true
    end
    if type(a) ~= "table" then
      -- `"10" + net`, `true * net`: Lua calls the particle's metamethod
      err("bad argument #1 to '%s' (number or particle expected, got %s)", fname, nyto.type(a) or type(a))
    end
    ka = getk(a, 1, fname)
    if type(b) == "number" then return ka, b, false end
    if math.type(b) == nil and type(b) ~= "table" and type(b) ~= "userdata" then
      err("bad argument #2 to '%s' (number or particle expected, got %s)", fname, type(b))
    end
    local okb, kb2 = pcall(getk, b, 2, fname)
    if not okb then
      err("bad argument #2 to '%s' (number or particle expected, got %s)", fname, nyto.type(b) or type(b))
    end
    kb = kb2
    if ka.species ~= kb.species then
      err("bad argument #2 to '%s' (particles are of different species; use clone_from to copy values between species)", fname)
    end
    return ka, kb, false
  end

  local ROP = {sub = "rsub", div = "rdiv", pow = "rpow", add = "add", mul = "mul"}

  -- buffers of op(ka, x) (x number or kernel); dst: in-place target bufs
  local function op_bufs(ka, x, opname, swapped, dst)
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
  nyto._op_bufs = op_bufs
  nyto._segs_of = segs_of

  -- any module of a particle acts for the whole particle: the result is the
  -- new particle's module with the operand's module id (the root's: the root)
  local function module_at(k, mid)
    if mid == 1 then return k.root end
    return k.mods[mid] -- builds a lazy particle's tree
  end
  nyto._module_at = module_at

  local function particle_binop(opname)
    local fname = "__" .. opname
    return function(a, b)
      local ka, x, swapped = operands(a, b, fname, kernel_operand)
      local k = particle_from(ka, op_bufs(ka, x, opname, swapped))
      return module_at(k, rawget(swapped and b or a, "_id"))
    end
  end
  local imt = Module.__imt
  imt.__add = particle_binop("add")
  imt.__sub = particle_binop("sub")
  imt.__mul = particle_binop("mul")
  imt.__div = particle_binop("div")
  imt.__pow = particle_binop("pow")
  imt.__unm = function(a)
    local ka = kernel_operand(a, 1, "__unm")
    return module_at(particle_from(ka, op_bufs(ka, -1, "mul", false)), rawget(a, "_id"))
  end
  imt.__eq = nil

  local function inplace(opname)
    return function(self, x)
      local fname = opname .. "_"
      if type(x) ~= "number" and not is_module(x) then
        err("bad argument #1 to '%s' (number or particle expected, got %s)", fname, nyto.type(x) or type(x))
      end
      local ka, kx = operands(self, x, fname, kernel_operand)
      op_bufs(ka, kx, opname, false, ka.bufs)
      return self
    end
  end
  Module.add_ = inplace("add")
  Module.sub_ = inplace("sub")
  Module.mul_ = inplace("mul")
  Module.div_ = inplace("div")
  Module.pow_ = inplace("pow")
  -- named forms, returning new particles
  for _, opname in ipairs {"add", "sub", "mul", "div", "pow"} do
    Module[opname] = imt["__" .. opname]
  end
  Module.neg = imt.__unm

  -- copies of a particle's or product's buffers; random draws (kind 0:
  -- normal, 1: uniform) on the operational segments of kernel k
  local function clone_bufs(bufs)
    local out = {}
    for dt, b in pairs(bufs) do out[dt] = core.pclone(b) end
    return out
  end
  -- dtypes in a fixed order, so a draw's counters are the same in every
  -- process (docs/design.md, "Counter-based randomness")
  local function random_bufs(bufs, kind, k, gen)
    local segs, out, dts = segs_of(k), {}, {}
    for dt in pairs(bufs) do dts[#dts + 1] = dt end
    table.sort(dts)
    for _, dt in ipairs(dts) do out[dt] = core.prandom(bufs[dt], kind, segs[dt], gen) end
    return out
  end
  -- the generator of p:randn{generator = g} (nil: the global one)
  local function generator_opt(opts, fname)
    if opts == nil then return nil end
    if type(opts) ~= "table" then
      error(("nyto: bad argument #1 to '%s' (options table expected, got %s)"):format(fname, nyto.type(opts) or type(opts)), 0)
    end
    local g = opts.generator
    if g ~= nil and nyto.type(g) ~= "Generator" then
      error(("nyto: bad argument #1 to '%s' (option 'generator' must be a Generator, got %s)"):format(fname, nyto.type(g) or type(g)), 0)
    end
    return g
  end
  nyto._generator_opt = generator_opt
  nyto._clone_bufs, nyto._random_bufs = clone_bufs, random_bufs

  function Module:clone()
    local k = kernel_operand(self, 1, "clone")
    return module_at(particle_from(k, clone_bufs(k.bufs)), rawget(self, "_id"))
  end
  local function random_particle(kind, fname)
    return function(self, opts)
      local k = kernel_operand(self, 1, fname)
      local g = generator_opt(opts, fname)
      return module_at(particle_from(k, random_bufs(k.bufs, kind, k, g)), rawget(self, "_id"))
    end
  end
  Module.randn = random_particle(0, "randn")
  Module.rand = random_particle(1, "rand")

  function Module:same_species(other)
    if not is_module(other) then return false end
    local a, b = rawget(self, "_kk"), rawget(other, "_kk")
    return a ~= nil and b ~= nil and a.species == b.species
  end

  -- detach: a new species sharing the same parameter tensors
  function Module:detach()
    local k = kernel_operand(self, 1, "detach")
    k.root:parameters() -- materialise every parameter (the new species shares the very tensors)
    local species = setmetatable({next_mid = k.species.next_mid, next_pid = k.species.next_pid, configs = {}, pinfo = {}, cstamp = 0}, Species)
    for pid, c in pairs(k.species.configs) do
      local nc = setmetatable({}, getmetatable(c))
      for kk, v in pairs(c) do nc[kk] = v end
      species.configs[pid] = nc
    end
    for pid, P in pairs(k.species.pinfo) do species.pinfo[pid] = P end
    -- the layout is the same, its operational segments are the new species' own
    local L = {}
    for kk, v in pairs(k.ver.layout) do L[kk] = v end
    L.segs, L.cstamp = nil, nil
    seg_build(species, L)
    local version = setmetatable({species = species, n = 1, layout = L}, Version)
    species.ver = version
    local nk = setmetatable({species = species, ver = version, mods = {}, bufs = k.bufs, rg = rg_of(k),
                             borrowed = setmetatable({}, {__mode = "k"})}, Kernel)
    nk.kref = nk
    live_kernels[nk] = true
    -- both kernels share the flat buffers until one of them changes structure
    local group = share_groups[k.bufs]
    if not group then
      group = setmetatable({}, {__mode = "k"})
      share_groups[k.bufs] = group
      group[k] = true
    end
    group[nk] = true
    -- the same parameter tensors: build a tree whose _p are the very tensors
    local function copy(srcm)
      local m = setmetatable({_s = rawget(srcm, "_s"), _p = {}, _m = {}, _b = {}, _f = {}, _id = rawget(srcm, "_id"), _k = nk, _kk = nk}, getmetatable(srcm))
      for kk, v in pairs(rawget(srcm, "_f")) do rawget(m, "_f")[kk] = v end
      for kk, v in pairs(rawget(srcm, "_b")) do rawget(m, "_b")[kk] = v end
      for _, pn in ipairs(rawget(srcm, "_s").po) do
        local t = srcm[pn]
        rawget(m, "_p")[pn] = t
        nk.borrowed[t] = true
      end
      nk.mods[rawget(m, "_id")] = m
      for _, cn in ipairs(rawget(srcm, "_s").mo) do rawget(m, "_m")[cn] = copy(rawget(srcm, "_m")[cn]) end
      return m
    end
    nk.root = copy(k.root)
    return nk.mods[rawget(self, "_id")]
  end

  -- clone_from(src): a NEW particle of the receiver's species (the receiver's
  -- module of that id, as clone()) holding src's parameter values; the
  -- receiver and src are unchanged.  src: a particle (or ParticleModule) whose
  -- subtree has the receiver's structure.
  local function clone_from_check(self, src)
    if not is_module(src) and not (type(src) == "table" and src.root_module) then
      err("bad argument #1 to 'clone_from' (particle expected, got %s)", nyto.type(src) or type(src))
    end
    if type(src) == "table" and not is_module(src) then src = src.root_module end
    kernel_operand(self, 1, "clone_from")
    kernel_operand(src, 1, "clone_from")
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
  local function clone_from_copy(r, vb)
    local k = rawget(r, "_kk")
    local configs = k.species.configs
    each_named(r, "", function(m, prefix, s)
      for _, pn in ipairs(s.po) do
        local c = configs[s.pid[pn]]
        -- a parameter shared by reference (clone=false) is another particle's
        -- tensor: the new particle gets its own, viewing its own buffer
        if not c.operational and not c.clone then rawget(m, "_p")[pn] = nil end
      end
    end)
    local _, _, va = r:named_parameters_table()
    nyto.no_grad(function() for i = 1, #va do va[i]:copy_(vb[i]) end end)
    return r
  end
  nyto._clone_from_check, nyto._clone_from_copy = clone_from_check, clone_from_copy
  function Module:clone_from(src)
    local _, vb = clone_from_check(self, src)
    return clone_from_copy(self:clone(), vb)
  end

  -- values deep-copied into a detached tree that carries the species ids
  function clone_tree_values(m)
    local n = setmetatable({_s = rawget(m, "_s"), _p = {}, _m = {}, _b = {}, _f = {}, _id = rawget(m, "_id")}, getmetatable(m))
    for kk, v in pairs(rawget(m, "_f")) do rawget(n, "_f")[kk] = v end
    for kk, v in pairs(rawget(m, "_b")) do rawget(n, "_b")[kk] = v end
    local s = rawget(m, "_s")
    for _, pn in ipairs(s.po) do
      local t = m[pn]
      rawget(n, "_p")[pn] = nyto.Parameter(nyto.no_grad(function() return t:detach():clone() end), t:requires_grad())
    end
    for _, cn in ipairs(s.mo) do rawget(n, "_m")[cn] = clone_tree_values(rawget(m, "_m")[cn]) end
    return n
  end
end
