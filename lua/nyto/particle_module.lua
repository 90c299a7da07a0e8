-- nyto.particle_module: ParticleModule and PMProduct
-- (../shared/reference/ParticleModule.rst).  A ParticleModule wraps a root
-- module and clears the modules' references to their kernel; a class may
-- extend it, and the result of an operation on an instance is an instance of
-- the same class, whose init(self, root) runs for every new instance.
local _s, _p, _m, _b, _f, _id, _k, _kk = require("nyto.particle.records").field_keys()
-- pm.root_module and pm.particle_kernel live under private keys: read-only for scripts
local _root, _pk = require("nyto.particle.records").pm_keys()
return function(nyto, core)
  local Module = nyto.Module
  local Product = nyto.Product
  local is_module = nyto.is_module

  local E = require "nyto.errors"
  local C = require "nyto.class"
  local O = require "nyto.particle.ops"
  local K = require "nyto.particle.kernel"
  local err = E.err

  -- Prompt release (docs/memory.md, "Prompt release"): an operation on a
  -- ParticleModule first collects, so the particles a loop dropped are
  -- released before the new one is made (their buffers serve it from the
  -- pool).  This is what ParticleModule is for; plain modules and products
  -- pace the collector by a byte budget instead.  Two things keep it cheap:
  -- * the middle of an expression does not collect: an operation whose
  --   operand is the result of the previous operation, when that one
  --   collected and no ParticleModule was made since (the `+ 10` of
  --   `0.5*pm + 10`), could only find what was dropped since the previous
  --   one, and the next operation finds that;
  -- * in generational mode the collection is a young one: the dead particles
  --   of a loop are young.  Lua 5.4 makes an object old once it has lived
  --   through two collections, or one full one, and only a full collection
  --   finds an old object dead; so when a ParticleModule other than the
  --   operands has lived through two collections since the last full one,
  --   the collection is a full one.  A ParticleModule that lived through a
  --   full collection waits for the next full one once dropped (the pacing's).
  -- `epoch` counts the collections that completed, whoever ran them (Lua's
  -- own steps, the pacing, collectgarbage()): a sentinel's finalizer bumps
  -- it and makes the next sentinel.
  -- Collect only from frames that hold no ParticleModule but the operands:
  -- Lua marks every register of the frames below a call, stale ones too.
  local collect, collect_young, gc_mode, gc_settle, gc_count =
    core.collect, core.collect_young, core.gc_mode, core.gc_settle, core.gc_count
  local epoch = 0
  local function sentinel() setmetatable({}, {__gc = function() epoch = epoch + 1 sentinel() end}) end
  sentinel()
  -- the ParticleModules made since the last full collection: young[n] (weak:
  -- cleared before a finalizer runs) was made at epoch born[n]
  local WEAK_VALUES = {__mode = "v"}
  local young, born, serial = setmetatable({}, WEAK_VALUES), {}, 0
  local prev = setmetatable({}, WEAK_VALUES) -- [1]: the last operation's result, if it collected and none was made since

  local function forget()
    young, born = setmetatable({}, WEAK_VALUES), {}
  end
  -- young collections leave what died old (a few hundred bytes a loop
  -- iteration): a full one when the Lua heap has doubled since the last full
  -- one, as Lua's own generational pacing does (genmajormul 100)
  local heap_full = nil -- (the heap at the first operation, when nyto has loaded)
  -- and when the last young collection left tensor bytes above twice what
  -- the last full one left, plus 1 MiB (core.collect_young: the pacing's rule)
  local full_due = false
  -- after the last collection here: the epoch and nyto's counts of full and
  -- young collections.  A full collection that ran since (the pacing's, for
  -- a particle as large as the Lua heap), or one that nyto did not run (Lua's
  -- own or collectgarbage(): young or full, who knows), made the particles
  -- then alive old: the next collection here is a full one.
  local epoch_seen, full_seen, young_seen = 0, gc_count()
  local function seen()
    epoch_seen = epoch
    full_seen, young_seen = gc_count()
  end
  local OLD = -math.huge
  -- a collection that may have been a full one since the last look: the
  -- particles made before it are old
  local function sync()
    local f, y = gc_count()
    if f ~= full_seen or epoch - epoch_seen > y - young_seen then
      for n in next, born do born[n] = OLD end
    end
    epoch_seen, full_seen, young_seen = epoch, f, y
  end
  local function full()
    collect()
    full_due = false
    forget()
    heap_full = collectgarbage("count")
    seen()
  end
  -- whether a ParticleModule other than a and b may be old (see above)
  local function old_other(a, b)
    for n, e in next, born do
      local pm = young[n]
      if pm == nil then
        born[n] = nil
      elseif epoch - e >= 2 and not rawequal(pm, a) and not rawequal(pm, b) then
        return true
      end
    end
    return false
  end
  -- the bytes of x's particle, if x is a ParticleModule (0 otherwise)
  local DSIZE = {float64 = 8, int64 = 8, complex64 = 8, float16 = 2, bfloat16 = 2, int16 = 2, int8 = 1, uint8 = 1, bool = 1}
  local layout_bytes = setmetatable({}, {__mode = "k"})
  local function pm_bytes(x)
    local root = type(x) == "table" and rawget(x, _root)
    local kk = root and rawget(root, _kk)
    local L = kk and kk.ver and kk.ver.layout
    if not L then return 0 end
    local n = layout_bytes[L]
    if not n then
      n = 0
      for dt, numel in pairs(L.size) do n = n + numel * (DSIZE[dt] or 4) end
      layout_bytes[L] = n
    end
    return n
  end
  -- before an operation on operands a, b: collect as above; true if it did
  local function release(a, b)
    local r = prev[1]
    prev[1] = nil
    if r ~= nil and (rawequal(r, a) or rawequal(r, b)) then return false end
    r = nil
    if gc_mode() ~= "generational" then full() return true end
    sync()
    -- a full collection, also: when the heap has doubled since the last
    -- one, and for a particle as large as the Lua heap, whose pass costs more
    -- than a full collection (as the pacing does, nyto_gc_pace_before)
    local heap = collectgarbage("count")
    heap_full = heap_full or heap
    if full_due or old_other(a, b) or heap > 2 * heap_full or math.max(pm_bytes(a), pm_bytes(b)) >= heap * 1024 then
      full()
      return true
    end
    local e = epoch
    full_due = collect_young()
    -- more than one collection: leaving Lua's state after a bad major ran a
    -- full one first (core.gc_settle); none: the mode is not generational
    if epoch > e + 1 then forget() elseif epoch == e then full() return true end
    seen()
    return true
  end
  -- a new ParticleModule, made at epoch e
  -- set while an arithmetic operation makes its result (release just ran)
  local in_op = false
  local function track(pm, e)
    serial = serial + 1
    young[serial], born[serial] = pm, e
  end
  -- r, made by an operation that began (after release) at epoch e
  local function made(r, e, collected)
    if rawequal(young[serial], r) then born[serial] = e end -- r's entry, made by the constructor
    if collected then prev[1] = r end
    return r
  end

  local PM = {__classname = "ParticleModule"}
  local lookup = C.lookup

  -- A class's __gc (MyParticleModule.__gc = f) and the particle.  Lua runs
  -- a finalizer on a dead object that it first resurrects, with everything
  -- the object reaches: the root module, the kernel and its buffers live on.
  -- In generational mode a ParticleModule that lived through one collection
  -- (a loop's operand) then becomes old with all it reaches, and only the
  -- next full collection finds its particle dead: 332 CNN particles alive in
  -- `0.5*pm + 10` loops between full collections (3 without __gc); one
  -- collection late in incremental mode (5 alive).  So nyto runs the class's
  -- __gc through its own, which then releases the particle's buffers, as
  -- pm:free() does, when nothing alive reaches the root module: `reach`
  -- holds each ParticleModule's root as a weak value, and Lua clears a weak
  -- value that only objects being finalized reach before it runs their
  -- finalizers.  The parameter tensors are left alone (a script may keep
  -- one: it keeps its storage, which the pool then never hands out).
  local reach = setmetatable({}, {__mode = "kv"})
  local user_gc = setmetatable({}, {__mode = "k"}) -- nyto's __gc -> the class's
  local FREED -- (below)
  local function gc_of(f)
    local w = function(self)
      local root = rawget(self, _root)
      local dead = root ~= nil and reach[self] == nil
      local ok, e = pcall(f, self)
      if dead and rawget(self, _root) == root then
        rawset(self, _root, nil)
        rawset(self, _pk, nil)
        setmetatable(self, FREED)
        K.free(root, true)
      end
      if not ok then error(e, 0) end
    end
    user_gc[w] = f
    return w
  end

  -- A freed ParticleModule gets this metatable: any use raises, free() and
  -- __close do nothing, and there is no __gc left to run (a class's __gc ran
  -- when it was freed: once per object).
  local function freed() err("attempt to use a freed ParticleModule") end
  FREED = {__name = "nyto.ParticleModule"}
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
    if is_pm(x) then return rawget(x, _root) end
    if is_freed_pm(x) then freed() end
    return x
  end

  -- operand i of a ParticleModule operation: a number, or the root module of a
  -- ParticleModule (one operand coercion: lua/nyto/particle/ops.lua)
  local function pm_operand(x, i, fname)
    local what = O.operand(x)
    if what == "number" then return x end
    if what == "pm" then return rawget(x, _root) end
    if what == "freed_pm" then freed() end
    err("bad argument #%d to '%s' (number or ParticleModule expected, got %s)", i, fname, nyto.type(x) or type(x))
  end

  -- the root's introspection, forwarded (a method returning the root returns the ParticleModule)
  local FORWARD = {"parameters", "named_parameters", "named_parameters_table", "param_ids_table", "modules",
                   "named_modules", "children", "named_children", "buffers", "named_buffers", "state_dict",
                   "load_state_dict", "zero_grad", "get_param_id", "set_param_config", "apply_param_config",
                   "param_config", "kernel", "touch", "module_id", "is_root"}

  local function set_kernel_refs(root, k)
    local kk = rawget(root, _kk)
    kk.kref = k -- modules a lazy particle builds later get the same reference
    if kk.lazy then rawset(root, _k, k) return end
    for _, m in ipairs(root:modules()) do rawset(m, _k, k) end
  end

  -- the class-level metamethods (__gc ...) of parent's chain that mt lacks;
  -- a base class made by make_imt: callable, printable, and its metamethods
  -- defined later (PM.__gc = ...) reach its instances (lua/nyto/class.lua)
  local inherit_metamethods, base_class = C.inherit_metamethods, C.base_class

  local function make_pm_mt(cls, parent)
    local mt = {__name = "nyto.ParticleModule", __class = cls}
    mt.__index = function(self, key)
      if key == "root_module" then return rawget(self, _root) end
      if key == "particle_kernel" then return rawget(self, _pk) end
      local v = lookup(cls, key)
      if v == nil and key == "training" then return rawget(self, _root).training end
      return v
    end
    mt.__call = function(self, ...) return rawget(self, _root)(...) end
    -- a module or Parameter assigned to the wrapper would become a plain field that pm(x)
    -- never uses: raise and say where the structure lives
    mt.__newindex = function(self, key, v)
      if type(key) ~= "string" and type(key) ~= "number" then
        err("bad argument to '__newindex' (field names are strings or integers, got %s)", type(key))
      end
      if key == "root_module" or key == "particle_kernel" then
        err("cannot assign '%s' of a ParticleModule: it is read-only (wrap another particle in a new ParticleModule instead)", key)
      end
      if is_module(v) or (nyto.is_tensor(v) and v:is_parameter()) then
        err("cannot assign a %s to '%s' of a ParticleModule: change the structure through the root module (pm:restore_kernel_ref(), then pm.root_module.%s = ...)",
          is_module(v) and "module" or "Parameter", tostring(key), tostring(key))
      end
      rawset(self, key, v)
    end
    mt.__close = function(self) self:free() end
    mt.__tostring = function(self)
      local inner = tostring(rawget(self, _root)):gsub("\n", "\n  ")
      return cls.__classname .. "(\n  (root_module): " .. inner .. "\n)"
    end
    for _, op in ipairs {"add", "sub", "mul", "div", "pow"} do
      local f = Module.__imt["__" .. op]
      local fname = "__" .. op
      mt[fname] = function(a, b)
        -- a or b is this class's instance; the other: a number, a ParticleModule or a Swarm
        local ra, rb
        -- the common case first: with a number, the other operand is the live instance
        -- whose metamethod this is (a freed one's metatable is FREED)
        if type(b) == "number" then ra, rb = rawget(a, _root), b
        elseif type(a) == "number" then ra, rb = a, rawget(b, _root)
        else
          local ta, tb = nyto.type(a), nyto.type(b)
          if ta == "Swarm" or tb == "Swarm" then
            return getmetatable(ta == "Swarm" and a or b)[fname](a, b) -- `best - s`: the swarm's
          end
          ra, rb = pm_operand(a, 1, fname), pm_operand(b, 2, fname)
        end
        local c = release(a, b)
        local e = epoch
        local v = f(ra, rb) -- may raise: in_op is set only around the constructor, which clears it
        in_op = true
        local r = cls(v)
        return made(r, e, c)
      end
    end
    mt.__unm = function(a)
      local c = release(a)
      local e = epoch
      return made(cls(Module.__imt.__unm(rawget(a, _root))), e, c)
    end
    return inherit_metamethods(mt, parent)
  end

  function PM.__construct(cls, root)
    if not is_module(root) then
      err("bad argument #1 to 'ParticleModule' (module expected, got %s)", nyto.type(root) or type(root))
    end
    local k = rawget(root, _kk)
    if not k then err("bad argument #1 to 'ParticleModule' (module is not a particle)") end
    if k.freed then err("bad argument #1 to 'ParticleModule' (attempt to use a freed Module)") end
    if rawget(root, _id) ~= 1 then err("bad argument #1 to 'ParticleModule' (not a root module: wrap the particle's root)") end
    -- a full collection now, if Lua's state asks for one, rather than one
    -- that makes this particle old (the particles it made old are forgotten:
    -- they wait for the next full collection once dropped)
    local op = in_op
    in_op = false
    if not op then
      sync()
      local e0 = epoch
      gc_settle()
      if epoch ~= e0 then forget() seen() end
    end
    local e = epoch
    local mt = cls.__imt
    local g = mt.__gc
    if g ~= nil and not user_gc[g] then mt.__gc = gc_of(g) end
    local self = setmetatable({[_root] = root, [_pk] = k}, mt)
    if g ~= nil then reach[self] = root end
    track(self, e)
    prev[1] = nil -- a ParticleModule made since the last operation: the next one collects
    set_kernel_refs(root, nil)
    local init = lookup(cls, "init")
    if init then init(self, root) end
    return self
  end

  base_class(PM, make_pm_mt)
  nyto.ParticleModule = PM

  function PM:forward(...) return rawget(self, _root)(...) end
  function PM:clear_kernel_ref() set_kernel_refs(rawget(self, _root), nil) return self end
  function PM:restore_kernel_ref() set_kernel_refs(rawget(self, _root), rawget(self, _pk)) return self end
  for _, name in ipairs(FORWARD) do
    local f = Module[name]
    PM[name] = function(self, ...)
      local root = rawget(self, _root)
      local r = table.pack(f(root, ...))
      if rawequal(r[1], root) then r[1] = self end
      return table.unpack(r, 1, r.n)
    end
  end
  function PM:train(mode) rawget(self, _root):train(mode) return self end
  function PM:eval() rawget(self, _root):eval() return self end
  function PM:class() return getmetatable(self).__class end
  local function wrap(self, r) return getmetatable(self).__class(r) end
  for _, op in ipairs {"add", "sub", "mul", "div", "pow"} do
    PM[op] = function(self, x) return getmetatable(self)["__" .. op](self, x) end
    PM[op .. "_"] = function(self, x)
      Module[op .. "_"](rawget(self, _root), root_of(x))
      return self
    end
  end
  function PM:neg() return -self end
  -- an operation of self's class: release, then wrap what root:name(...) returns
  local function op(name)
    return function(self, ...)
      local c = release(self)
      local e = epoch
      local root = rawget(self, _root)
      return made(wrap(self, root[name](root, ...)), e, c)
    end
  end
  PM.clone = op("clone")
  PM.randn = op("randn")
  PM.rand = op("rand")
  function PM:detach() return wrap(self, rawget(self, _root):detach()) end
  function PM:same_species(o)
    return rawget(self, _root):same_species(root_of(o))
  end
  -- a new ParticleModule of self's class (as clone()) holding src's values; self unchanged
  function PM:clone_from(src)
    local _, vb = O.clone_from_check(rawget(self, _root), root_of(src))
    local r = self:clone()
    O.clone_from_copy(rawget(r, _root), vb)
    return r
  end
  function PM:product()
    return nyto.PMProduct.__wrap(rawget(self, _root):product(), getmetatable(self).__class)
  end
  function PM:product_(p)
    rawget(self, _root):product_(p) -- a PMProduct is unwrapped there
    return self
  end
  -- pm:free() (and `local pm <close> = ...`): run the class's __gc (once: a
  -- freed object has none left), release the particle's buffers now; any
  -- later use raises
  function PM:free()
    local mt = getmetatable(self)
    local root = rawget(self, _root)
    local gc = mt.__gc
    gc = user_gc[gc] or gc
    rawset(self, _root, nil)
    rawset(self, _pk, nil)
    setmetatable(self, FREED)
    local ok, e = true, nil
    if gc then
      -- the object as the class knows it, for the duration of the call
      setmetatable(self, {__index = mt.__index, __name = mt.__name})
      rawset(self, _root, root)
      ok, e = pcall(gc, self)
      rawset(self, _root, nil)
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
    if is_pm(x) then return new_pmp(cls, rawget(x, _root):product(), getmetatable(x).__class) end
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
