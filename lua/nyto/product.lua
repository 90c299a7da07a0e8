-- nyto.product: products (nyto.Product) and parameter configs.
--
-- A product is a particle without its module tree: the flat buffers of one
-- species version.  Arithmetic on products is the C pass alone, so a chain
-- such as 2*p + 5 builds no module; p:module() builds one tree at the end.
return function(nyto, core)
  local Module = nyto.Module
  local particle_from, op_bufs, segs_of = nyto._particle_from, nyto._op_bufs, nyto._segs_of
  local clone_bufs, random_bufs = nyto._clone_bufs, nyto._random_bufs
  local Tmt = core.Tensor_mt

  local function err(fmt, ...) error(nyto._cut("nyto: " .. string.format(fmt, ...)), 0) end

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

  local function is_product(x)
    local m = getmetatable(x)
    return type(m) == "table" and rawget(m, "__nyto_product") == true
  end
  Product.__nyto_product = true
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
    local m = getmetatable(x)
    if type(m) == "table" and rawget(m, "__nyto_pmproduct") then return rawget(x, "product") end
    return x
  end
  nyto._unwrap_product = unwrap

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
      local g = nyto._generator_opt(opts, fname)
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
    return nyto._module_at(particle_from(k, clone_bufs(self.bufs)), k.mid or 1)
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
  local kernel_of = nyto._kernel_of
  function Module:product()
    local k = kernel_of(self, "product")
    -- any module's product is the whole particle's; module() returns the module of this id
    local tk = nyto._template_kernel(k)
    tk.mid = rawget(self, "_id")
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
    local ok, e = nyto._pcall_noyield(function()
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

  -- parameter configs -------------------------------------------------------------
  -- the pids under a dotted name (a submodule: all its parameters; a parameter: one)
  local function pids_under(self, name, fname)
    kernel_of(self, fname)
    local targets = {}
    local valid = {}
    local found = name == nil
    for mname, m in self:named_modules() do
      local s = rawget(m, "_s")
      local inside = name == nil or mname == name or mname:sub(1, #name + 1) == name .. "."
      if mname ~= "" then valid[#valid + 1] = mname end
      if inside then found = true end
      for _, pn in ipairs(s.po) do
        local full = mname == "" and pn or mname .. "." .. pn
        valid[#valid + 1] = full
        if inside or full == name then
          targets[#targets + 1] = s.pid[pn]
          found = true
        end
      end
    end
    if not found then
      -- list the valid names nearest to the one asked for
      local function dist(a, b)
        local d = {}
        for i = 0, #a do d[i] = {[0] = i} end
        for j = 0, #b do d[0][j] = j end
        for i = 1, #a do
          for j = 1, #b do
            d[i][j] = math.min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + (a:sub(i, i) == b:sub(j, j) and 0 or 1))
          end
        end
        return d[#a][#b]
      end
      table.sort(valid, function(a, b) return dist(a, name) < dist(b, name) end)
      local near = {}
      for i = 1, math.min(5, #valid) do near[i] = "'" .. valid[i] .. "'" end
      err("bad argument to '%s' (no submodule or parameter named '%s'; valid names nearby: %s)", fname, name,
          #near > 0 and table.concat(near, ", ") or "none")
    end
    return targets
  end

  -- the pids whose parameter is shared by reference between particles
  local function shared_pids(species)
    local out = {}
    for pid, c in pairs(species.configs) do
      if c.clone == false and not c.operational then out[pid] = true end
    end
    return out
  end

  -- A parameter that stops being shared (clone=false, non-operational):
  -- every particle of the species that refers to another particle's tensor
  -- gets a tensor of its own, viewing its own buffer, with the values the
  -- shared tensor has now (its buffer's slot was a stale copy).
  local function unshare(species, pids)
    if next(pids) == nil then return end
    for k in pairs(nyto._live_kernels) do
      if k.species == species and not k.freed then
        nyto._expand(k)
        local L = k.ver.layout
        for pid in pairs(pids) do
          local P = L.params[pid]
          local m = P and k.mods[P.mid]
          local t = m and rawget(m, "_p")[P.name]
          local buf = t and k.bufs[P.dtype]
          if buf and t:storage_id() ~= buf:tensor():storage_id() then
            nyto.no_grad(function() core.view(buf, P.off, P.shape, false):copy_(t) end)
            k.rg[pid] = t:requires_grad()
            rawget(m, "_p")[P.name] = nil -- viewed from the own buffer on next use
          end
        end
      end
    end
  end

  local function touch_configs(self, before)
    local k = rawget(self, "_kk")
    local species = k.species
    species.cstamp = species.cstamp + 1
    -- particles made by operations share their template unless some parameter
    -- is shared by reference (clone=false, non-operational)
    local now = shared_pids(species)
    species.noclone = next(now) ~= nil or nil
    local stopped = {}
    for pid in pairs(before) do if not now[pid] then stopped[pid] = true end end
    unshare(species, stopped)
  end

  function Module:set_param_config(opts)
    if type(opts) ~= "table" then err("bad argument #1 to 'set_param_config' (table expected, got %s)", type(opts)) end
    if opts.name ~= nil and type(opts.name) ~= "string" then
      err("bad argument #1 to 'set_param_config' (name must be a string, got %s)", type(opts.name))
    end
    for key, v in pairs(opts) do
      if (key == "operational" or key == "clone") and type(v) ~= "boolean" then
        err("bad argument #1 to 'set_param_config' (%s must be a boolean, got %s)", key, type(v) == "string" and ('"' .. v .. '"') or type(v))
      end
    end
    local pids = pids_under(self, opts.name, "set_param_config")
    local configs = rawget(self, "_kk").species.configs
    local before = shared_pids(rawget(self, "_kk").species)
    for _, pid in ipairs(pids) do
      local c = configs[pid]
      for key, v in pairs(opts) do if key ~= "name" then c[key] = v end end
    end
    touch_configs(self, before)
    return self
  end

  function Module:apply_param_config(fn, name)
    if type(fn) ~= "function" then err("bad argument #1 to 'apply_param_config' (function expected, got %s)", type(fn)) end
    if name ~= nil and type(name) ~= "string" then err("bad argument #2 to 'apply_param_config' (string expected, got %s)", type(name)) end
    local pids = pids_under(self, name, "apply_param_config")
    local configs = rawget(self, "_kk").species.configs
    local before = shared_pids(rawget(self, "_kk").species)
    -- validate on copies, so a bad value or an error leaves every config as it was
    local staged = {}
    for i, pid in ipairs(pids) do
      local c = setmetatable({}, getmetatable(configs[pid]))
      for key, v in pairs(configs[pid]) do c[key] = v end
      fn(pid, c)
      if type(c.operational) ~= "boolean" or type(c.clone) ~= "boolean" then
        err("apply_param_config: operational and clone must stay booleans (parameter id %d)", pid)
      end
      staged[i] = c
    end
    for i, pid in ipairs(pids) do
      local c = configs[pid]
      for key in pairs(c) do c[key] = nil end
      for key, v in pairs(staged[i]) do c[key] = v end
    end
    touch_configs(self, before)
    return self
  end

  -- net:param_config(pid | name | param): the config table (shared by the species)
  function Module:param_config(x)
    local k = kernel_of(self, "param_config")
    local pid = x
    if getmetatable(x) == Tmt then
      local ok, id = pcall(self.get_param_id, self, x) -- not a parameter of the particle: the error below
      pid = ok and id or nil
    elseif type(x) == "string" then pid = pids_under(self, x, "param_config")[1] end
    local c = math.type(pid) == "integer" and k.species.configs[pid]
    if not c then err("bad argument #1 to 'param_config' (no parameter %s)", tostring(x)) end
    return c
  end
end
