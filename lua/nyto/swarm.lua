-- nyto.Swarm: a population of one species in one arena (issue 18; API.md
-- "Swarms"; ARCHITECTURE invariant 8).  The parameters of n members live in
-- one Buffer of n*P elements per dtype: row i (elements (i-1)*P .. i*P-1) is
-- member i's flat buffer, in the species' layout.  A member is a particle
-- whose Buffer is a slice of its row (core.buffer_slice: no copy), so its
-- parameters are views of the arena.  Whole-swarm arithmetic is one pass of
-- the particle loops per dtype: over the arena with the species' segments
-- repeated n times (numbers, swarms), or row by row (core.prows: broadcast
-- particles, coefficient tensors).  docs/design.md "Swarms".
local _s, _p, _m, _b, _f, _id, _k, _kk = require("nyto.particle.records").field_keys()
local _root = require("nyto.particle.records").pm_keys()
return function(nyto, core)
  local S = require "nyto.particle.species"
  local Z = require "nyto.particle.lazy"
  local K = require "nyto.particle.kernel"
  local O = require "nyto.particle.ops"
  local particle_from, segs_of, kernel_of = Z.particle_from, S.segs_of, K.kernel_of
  local pscalar, pbinary, prows, slice = core.pscalar, core.pbinary, core.prows, core.buffer_slice
  local Tmt = core.Tensor_mt
  local OP = {add = core.OP_ADD, sub = core.OP_SUB, mul = core.OP_MUL, div = core.OP_DIV, pow = core.OP_POW,
              rsub = core.OP_RSUB, rdiv = core.OP_RDIV, rpow = core.OP_RPOW}
  local ROP = {sub = "rsub", div = "rdiv", pow = "rpow", add = "add", mul = "mul"}

  local E = require "nyto.errors"
  local err = E.err
  local function is_tensor(x) return getmetatable(x) == Tmt end

  local Swarm = {__name = "nyto.Swarm"}
  local methods = {}
  local ST = setmetatable({}, {__mode = "k"}) -- swarm -> state

  local function is_swarm(x) return getmetatable(x) == Swarm end

  -- the state of a live swarm (raises for a freed one or a stale species)
  local function state(s, fname)
    local st = ST[s]
    if st.freed then err("bad argument #1 to '%s' (attempt to use a freed Swarm)", fname) end
    if st.tk.ver ~= st.tk.species.ver then
      err("bad argument #1 to '%s' (the species changed after the swarm was made)", fname)
    end
    return st
  end

  -- dtypes in a fixed order (random draws: the same counters in every process)
  local function dtypes_of(size)
    local dts = {}
    for dt in pairs(size) do dts[#dts + 1] = dt end
    table.sort(dts)
    return dts
  end

  -- segments of the whole arena: the species' operational ranges, once per
  -- row; one Segments per (species, n), so that a deferred op of one swarm
  -- fuses into a pass of another (the particle loops fuse on the same Segments)
  local seg_cache = setmetatable({}, {__mode = "k"}) -- species -> n -> {cstamp=, segs=}
  local function swarm_segs(st)
    local tk = st.tk
    local species, L = tk.species, tk.ver.layout
    local by_n = seg_cache[species]
    if not by_n then by_n = {}; seg_cache[species] = by_n end
    local c = by_n[st.n]
    if c and c.cstamp == species.cstamp and c.ver == tk.ver then return c.segs end
    local ranges = {}
    for r = 0, st.n - 1 do
      for _, pid in ipairs(L.order) do
        local P = L.params[pid]
        if species.configs[pid].operational then
          local t = ranges[P.dtype]
          if not t then t = {}; ranges[P.dtype] = t end
          t[#t + 1] = r * L.size[P.dtype] + P.off
          t[#t + 1] = P.numel
        end
      end
    end
    local segs = {}
    for dt in pairs(L.size) do segs[dt] = core.segments(ranges[dt] or {}) end
    by_n[st.n] = {cstamp = species.cstamp, ver = tk.ver, segs = segs}
    return segs
  end

  local function new_state(tk, n, arena, pmclass)
    local L = tk.ver.layout
    local full = {}
    for dt, P in pairs(L.size) do full[dt] = core.segments {0, P} end
    -- members are kept once handed out: the gradients a batched backward
    -- leaves on member i's parameters stay there
    return {tk = tk, n = n, arena = arena, size = L.size, full = full, members = {}, pmclass = pmclass, pms = {}}
  end

  local function wrap(st)
    local s = setmetatable({}, Swarm)
    ST[s] = st
    return s
  end

  -- ParticleModule swarms: a swarm made of a ParticleModule (or of a list whose
  -- first element is one) hands out members of its class (st.pmclass), each
  -- wrapping the member particle, and its mean is one too
  -- x, or the root module of a ParticleModule x, and x's class (a freed one raises)
  local function unwrap_pm(x, i, fname)
    local kind = O.operand(x)
    if kind == "freed_pm" then err("bad argument #%d to '%s' (attempt to use a freed ParticleModule)", i, fname) end
    if kind ~= "pm" then return x, nil end
    return rawget(x, _root), getmetatable(x).__class
  end

  -- the kernel of particle x of the swarm's species (argument i of fname)
  local function species_kernel(st, x, i, fname)
    x = unwrap_pm(x, i, fname)
    if nyto.type(x) ~= "Module" or not rawget(x, _kk) then
      err("bad argument #%d to '%s' (particle expected, got %s)", i, fname, nyto.type(x) or type(x))
    end
    local k = kernel_of(x, fname)
    if k.species ~= st.tk.species then err("bad argument #%d to '%s' (particle of another species)", i, fname) end
    return k
  end

  local function row_index(st, i)
    if math.type(i) ~= "integer" then return nil end
    if i < 0 then i = st.n + 1 + i end
    if i < 1 or i > st.n then return nil end
    return i
  end

  local function member(st, i)
    local m = st.members[i]
    if m then return m end
    local bufs = {}
    for dt, P in pairs(st.size) do bufs[dt] = slice(st.arena[dt], (i - 1) * P, P) end
    local k = particle_from(st.tk, bufs)
    k.swarm = st
    m = k.root
    st.members[i] = m
    return m
  end
  -- member i as handed out: the particle, or a ParticleModule of the swarm's class around it
  local function handout(st, i)
    if not st.pmclass then return member(st, i) end
    local pm = st.pms[i]
    if not pm then
      pm = st.pmclass(member(st, i))
      st.pms[i] = pm
    end
    return pm
  end

  -- copy every element of kernel k's buffers into row i
  local function copy_row(st, i, k)
    for dt, P in pairs(st.size) do core.pcopy(slice(st.arena[dt], (i - 1) * P, P), k.bufs[dt], st.full[dt]) end
  end

  local function new_arena(st0, n)
    local arena = {}
    for dt, P in pairs(st0.size) do arena[dt] = core.buffer(dt, n * P) end
    return arena
  end

  -- constructors ---------------------------------------------------------------------
  local function check_init(init)
    if init == nil or init == "clone" or init == "randn" or init == "rand" or type(init) == "function" then return end
    err("bad argument #3 to 'Swarm' (init must be \"clone\", \"randn\", \"rand\" or a function, got %s)",
        type(init) == "string" and ("%q"):format(init) or type(init))
  end

  local function make(net, n, init)
    local fname = "Swarm"
    local pmclass
    net, pmclass = unwrap_pm(net, 1, fname)
    if nyto.type(net) ~= "Module" or not rawget(net, _kk) then
      err("bad argument #1 to '%s' (particle expected, got %s)", fname, nyto.type(net) or type(net))
    end
    if math.type(n) ~= "integer" then err("bad argument #2 to '%s' (integer expected, got %s)", fname, math.type(n) or type(n)) end
    if n < 1 then err("bad argument #2 to '%s' (a swarm has at least 1 member, got %d)", fname, n) end
    check_init(init)
    local k = kernel_of(net, fname)
    local tk = Z.template_kernel(k)
    local st = new_state(tk, n, nil, pmclass)
    st.arena = new_arena(st, n)
    for i = 1, n do copy_row(st, i, k) end
    local s = wrap(st)
    if init == "randn" then s:randn_()
    elseif init == "rand" then s:rand_()
    elseif type(init) == "function" then
      for i = 1, n do init(i, handout(st, i)) end
    end
    return s
  end

  local function of(list)
    local fname = "Swarm.of"
    if type(list) ~= "table" or getmetatable(list) ~= nil or #list < 1 then
      err("bad argument #1 to '%s' (non-empty table of particles expected)", fname)
    end
    local p1, pmclass = unwrap_pm(list[1], 1, fname)
    if nyto.type(p1) ~= "Module" or not rawget(p1, _kk) then
      err("bad argument #1 to '%s' (element 1: particle expected, got %s)", fname, nyto.type(p1) or type(p1))
    end
    local k1 = kernel_of(p1, fname)
    local st = new_state(Z.template_kernel(k1), #list, nil, pmclass)
    local ks = {}
    for i, p in ipairs(list) do
      local ok, k = pcall(species_kernel, st, p, 1, fname)
      if not ok then
        err("bad argument #1 to '%s' (element %d: %s)", fname, i, (tostring(k):match("%((.*)%)$") or tostring(k)))
      end
      ks[i] = k
    end
    st.arena = new_arena(st, #list)
    for i, k in ipairs(ks) do copy_row(st, i, k) end
    return wrap(st)
  end

  -- metamethods ----------------------------------------------------------------------
  Swarm.__index = function(s, key)
    if math.type(key) == "integer" then
      local st = state(s, "Swarm.__index")
      local i = row_index(st, key)
      return i and handout(st, i) or nil
    end
    return methods[key]
  end
  Swarm.__newindex = function(s, key, v)
    local fname = "Swarm.__newindex"
    local st = state(s, fname)
    if math.type(key) ~= "integer" then err("bad argument #2 to '%s' (integer index expected, got %s)", fname, type(key)) end
    local i = row_index(st, key)
    if not i then err("bad argument #2 to '%s' (index %d out of range for a swarm of %d members)", fname, key, st.n) end
    local k = species_kernel(st, v, 3, fname)
    if k.swarm == st and st.members[i] == unwrap_pm(v, 3, fname) then return end
    copy_row(st, i, k)
  end
  Swarm.__len = function(s) return state(s, "__len").n end
  Swarm.__tostring = function(s)
    local st = ST[s]
    if st.freed then return "nyto.Swarm(freed)" end
    return ("nyto.Swarm(%d members, %d parameters each)"):format(st.n, st.tk.ver.layout.nparams)
  end

  -- coefficients: a 1-d float tensor of n numbers -> a table of n numbers
  local function coefficients(st, w, i, fname)
    if w:dim() ~= 1 or w:numel() ~= st.n then
      err("bad argument #%d to '%s' (coefficient tensor must have %d elements (one per member), got shape [%s])", i, fname,
          st.n, table.concat(w:size(), ", "))
    end
    local dt = w:dtype()
    if dt ~= "float32" and dt ~= "float64" then
      err("bad argument #%d to '%s' (coefficient tensor must be float32 or float64, got %s)", i, fname, dt)
    end
    return w:totable()
  end

  -- operands that are one particle (the one operand coercion, lua/nyto/particle/ops.lua)
  local PARTICLE = {module = true, pm = true, freed_pm = true}
  -- buffers of op(swarm, x) (swapped: x op swarm); dst: in-place target
  local function op_arena(st, x, opname, swapped, dst, fname, xi)
    local out, arena = {}, st.arena
    if type(x) == "number" then
      local code = OP[swapped and ROP[opname] or opname]
      local ss = swarm_segs(st)
      for dt, b in pairs(arena) do out[dt] = pscalar(b, x, code, ss[dt], dst and dst[dt]) end
    elseif is_swarm(x) then
      local sx = state(x, fname)
      if sx.tk.species ~= st.tk.species then err("bad argument #%d to '%s' (swarm of another species)", xi, fname) end
      if sx.n ~= st.n then err("bad argument #%d to '%s' (swarm of %d members, expected %d)", xi, fname, sx.n, st.n) end
      local ss = swarm_segs(st)
      for dt, b in pairs(arena) do
        local a, c = b, sx.arena[dt]
        if swapped then a, c = c, a end
        out[dt] = pbinary(a, c, OP[opname], ss[dt], dst and dst[dt])
      end
    elseif is_tensor(x) then
      local w = coefficients(st, x, xi, fname)
      local code = OP[swapped and ROP[opname] or opname]
      local segs = segs_of(st.tk)
      for dt, b in pairs(arena) do out[dt] = prows(b, st.size[dt], w, code, segs[dt], false, dst and dst[dt]) end
    elseif PARTICLE[O.operand(x)] then
      local k = species_kernel(st, x, xi, fname)
      local segs = segs_of(st.tk)
      local bufs = k.bufs
      -- a member of this swarm, written in place row by row: read a copy
      if dst and k.swarm == st then bufs = O.clone_bufs(bufs) end
      for dt, b in pairs(arena) do out[dt] = prows(b, st.size[dt], bufs[dt], OP[opname], segs[dt], swapped, dst and dst[dt]) end
    else
      err("bad argument #%d to '%s' (number, particle, swarm or coefficient tensor expected, got %s)", xi, fname,
          nyto.type(x) or type(x))
    end
    return out
  end

  local function derived(st, arena)
    local nst = new_state(st.tk, st.n, arena, st.pmclass)
    return wrap(nst)
  end

  local function binop(opname)
    local fname = "__" .. opname
    return function(a, b)
      if is_swarm(a) then
        local st = state(a, fname)
        return derived(st, op_arena(st, b, opname, false, nil, fname, 2))
      end
      local st = state(b, fname)
      return derived(st, op_arena(st, a, opname, true, nil, fname, 1))
    end
  end
  for _, opname in ipairs {"add", "sub", "mul", "div", "pow"} do
    Swarm["__" .. opname] = binop(opname)
    methods[opname] = Swarm["__" .. opname]
    methods[opname .. "_"] = function(self, x)
      local fname = opname .. "_"
      local st = state(self, fname)
      op_arena(st, x, opname, false, st.arena, fname, 1)
      return self
    end
  end
  Swarm.__unm = function(a)
    local st = state(a, "__unm")
    return derived(st, op_arena(st, -1, "mul", false, nil, "__unm", 1))
  end
  methods.neg = Swarm.__unm

  function methods:clone()
    local st = state(self, "clone")
    local out = {}
    for dt, b in pairs(st.arena) do out[dt] = core.pclone(b) end
    return derived(st, out)
  end

  local function draw(kind, fname, inplace)
    return function(self, opts)
      local st = state(self, fname)
      local g = O.generator_opt(opts, fname)
      local ss = swarm_segs(st)
      if inplace then
        for _, dt in ipairs(dtypes_of(st.size)) do core.prandom_(st.arena[dt], kind, ss[dt], g) end
        return self
      end
      local out = {}
      for _, dt in ipairs(dtypes_of(st.size)) do out[dt] = core.prandom(st.arena[dt], kind, ss[dt], g) end
      return derived(st, out)
    end
  end
  methods.randn = draw(0, "randn", false)
  methods.rand = draw(1, "rand", false)
  methods.randn_ = draw(0, "randn_", true)
  methods.rand_ = draw(1, "rand_", true)

  -- s:add_randn_(sigma [, {generator=}]): s += sigma * (the draws of
  -- s:randn with the same generator state), in one pass per dtype with the
  -- noise made inside it (no noise arena)
  function methods:add_randn_(sigma, opts)
    local fname = "add_randn_"
    local st = state(self, fname)
    if type(sigma) ~= "number" then err("bad argument #1 to '%s' (number expected, got %s)", fname, nyto.type(sigma) or type(sigma)) end
    local g = O.generator_opt(opts, fname)
    local ss = swarm_segs(st)
    for _, dt in ipairs(dtypes_of(st.size)) do core.prandom_add_(st.arena[dt], sigma, ss[dt], g) end
    return self
  end

  -- s:axpby_randn_(a, x, b, sigma [, {generator=}]): s = a s + b x + sigma *
  -- (the draws of s:randn with the same generator state), x a particle of the
  -- species (broadcast to every member) or a swarm of the same species and
  -- size: one pass per dtype (read s and x, write s), the noise made in
  -- registers inside it; the APSO step is s:axpby_randn_(1 - beta, best,
  -- beta, alpha).  Every argument is checked before s changes.
  function methods:axpby_randn_(a, x, b, sigma, opts)
    local fname = "axpby_randn_"
    local st = state(self, fname)
    for _, c in ipairs {{a, 1, "a"}, {b, 3, "b"}, {sigma, 4, "sigma"}} do
      if type(c[1]) ~= "number" then
        err("bad argument #%d to '%s' (%s: number expected, got %s)", c[2], fname, c[3], nyto.type(c[1]) or type(c[1]))
      end
    end
    if opts ~= nil and type(opts) ~= "table" then
      err("bad argument #5 to '%s' (options table expected, got %s)", fname, nyto.type(opts) or type(opts))
    end
    if opts and opts.generator ~= nil and nyto.type(opts.generator) ~= "Generator" then
      err("bad argument #5 to '%s' (option 'generator' must be a Generator, got %s)", fname,
          nyto.type(opts.generator) or type(opts.generator))
    end
    local bufs
    if is_swarm(x) then
      if ST[x].freed then err("bad argument #2 to '%s' (attempt to use a freed Swarm)", fname) end
      local sx = state(x, fname)
      if sx.tk.species ~= st.tk.species then err("bad argument #2 to '%s' (swarm of another species)", fname) end
      if sx.n ~= st.n then err("bad argument #2 to '%s' (swarm of %d members, expected %d)", fname, sx.n, st.n) end
      bufs = sx.arena
      if sx.arena == st.arena then bufs = O.clone_bufs(bufs) end -- s itself: read a copy
    elseif PARTICLE[O.operand(x)] then
      local k = species_kernel(st, x, 2, fname)
      bufs = k.bufs
      if k.swarm == st then bufs = O.clone_bufs(bufs) end -- a member of s, written row by row: read a copy
    else
      err("bad argument #2 to '%s' (particle or swarm expected, got %s)", fname, nyto.type(x) or type(x))
    end
    local g = O.generator_opt(opts, fname)
    local segs = segs_of(st.tk)
    for _, dt in ipairs(dtypes_of(st.size)) do
      core.paxpby_randn_(st.arena[dt], st.size[dt], a, bufs[dt], b, sigma, segs[dt], g)
    end
    return self
  end

  -- the [n, P] tensor of dtype dt: the arena itself
  local function flat_of(st, dt)
    return st.arena[dt]:tensor():view {st.n, st.size[dt]}
  end

  function methods:flat(dtype)
    local st = state(self, "flat")
    dtype = dtype or "float32"
    if not st.arena[dtype] then err("bad argument #1 to 'flat' (the species has no %s parameters)", tostring(dtype)) end
    return flat_of(st, dtype)
  end

  function methods:mean(w)
    local fname = "mean"
    local st = state(self, fname)
    local wt
    if w ~= nil then
      if type(w) == "table" and getmetatable(w) == nil then
        if #w ~= st.n then err("bad argument #1 to '%s' (%d weights expected (one per member), got %d)", fname, st.n, #w) end
        for i = 1, st.n do
          if type(w[i]) ~= "number" then err("bad argument #1 to '%s' (weight %d is not a number)", fname, i) end
        end
        wt = w
      elseif is_tensor(w) then
        wt = coefficients(st, w, 1, fname)
      else
        err("bad argument #1 to '%s' (tensor or table of weights expected, got %s)", fname, nyto.type(w) or type(w))
      end
      local sum = 0
      for i = 1, st.n do sum = sum + wt[i] end
      if sum == 0 then err("bad argument #1 to '%s' (the weights sum to zero)", fname) end
      local t = {}
      for i = 1, st.n do t[i] = wt[i] / sum end
      wt = t
    else
      wt = {}
      for i = 1, st.n do wt[i] = 1 / st.n end
    end
    local bufs = {}
    nyto.no_grad(function()
      for dt, P in pairs(st.size) do
        local b = core.buffer(dt, P)
        b:tensor():copy_(nyto.mv(flat_of(st, dt):t(), nyto.tensor(wt, {dtype = dt})))
        bufs[dt] = b
      end
    end)
    local root = particle_from(st.tk, bufs).root
    return st.pmclass and st.pmclass(root) or root
  end

  -- rows of idx (a table or int64 tensor of 1-based indices; -1 the last)
  local function indices(st, idx, i, fname)
    local list
    if is_tensor(idx) then
      if idx:dtype() ~= "int64" or idx:dim() ~= 1 then
        err("bad argument #%d to '%s' (indices must be a 1-d int64 tensor or a table)", i, fname)
      end
      list = idx:totable()
    elseif type(idx) == "table" and getmetatable(idx) == nil then
      list = idx
    else
      err("bad argument #%d to '%s' (table or int64 tensor of indices expected, got %s)", i, fname, nyto.type(idx) or type(idx))
    end
    if #list < 1 then err("bad argument #%d to '%s' (no index given)", i, fname) end
    local rows = {}
    for j, v in ipairs(list) do
      local r = row_index(st, v)
      if not r then err("bad argument #%d to '%s' (index %s out of range for a swarm of %d members)", i, fname, tostring(v), st.n) end
      rows[j] = r
    end
    return rows
  end

  function methods:select(idx)
    local st = state(self, "select")
    local rows = indices(st, idx, 1, "select")
    local nst = new_state(st.tk, #rows, nil, st.pmclass)
    nst.arena = new_arena(st, #rows)
    for dt, P in pairs(st.size) do
      for j, r in ipairs(rows) do
        core.pcopy(slice(nst.arena[dt], (j - 1) * P, P), slice(st.arena[dt], (r - 1) * P, P), st.full[dt])
      end
    end
    return wrap(nst)
  end

  function methods:scatter_(idx, other)
    local fname = "scatter_"
    local st = state(self, fname)
    local rows = indices(st, idx, 1, fname)
    if not is_swarm(other) then err("bad argument #2 to '%s' (Swarm expected, got %s)", fname, nyto.type(other) or type(other)) end
    local so = state(other, fname)
    if so.tk.species ~= st.tk.species then err("bad argument #2 to '%s' (swarm of another species)", fname) end
    if so.n ~= #rows then err("bad argument #2 to '%s' (swarm of %d members for %d indices)", fname, so.n, #rows) end
    for dt, P in pairs(st.size) do
      local src = so.arena[dt]
      if so == st then src = core.pclone(src) end
      for j, r in ipairs(rows) do
        core.pcopy(slice(st.arena[dt], (r - 1) * P, P), slice(src, (j - 1) * P, P), st.full[dt])
      end
    end
    return self
  end

  -- every parameter of a module's subtree, in tree order: {pid=, t=}
  local function params_of(module)
    local out = {}
    local function walk(m)
      local s = rawget(m, _s)
      for _, pn in ipairs(s.po) do out[#out + 1] = {pid = s.pid[pn], t = m[pn]} end
      for _, cn in ipairs(s.mo) do walk(rawget(m, _m)[cn]) end
    end
    walk(module)
    return out
  end

  -- pid -> [n, <shape>]: views of the arena (no copy); when gradients are
  -- recorded and a parameter requires grad, the stack of the members'
  -- parameters instead (one copy, so backward reaches every member's .grad)
  function methods:param_stacks()
    local st = state(self, "param_stacks")
    local L = st.tk.ver.layout
    local stacks = {}
    local grad = nyto.is_grad_enabled()
    local per_member
    for _, pid in ipairs(L.order) do
      local P = L.params[pid]
      if grad and st.tk.rg[pid] then
        if not per_member then
          per_member = {}
          for i = 1, st.n do per_member[i] = params_of(member(st, i)) end
        end
        local j
        for jj, e in ipairs(per_member[1]) do if e.pid == pid then j = jj end end
        local col = {}
        for i = 1, st.n do col[i] = per_member[i][j].t end
        stacks[pid] = nyto.stack(col, 1)
      else
        local shape = {st.n}
        for _, d in ipairs(P.shape) do shape[#shape + 1] = d end
        stacks[pid] = flat_of(st, P.dtype):narrow(2, P.off + 1, P.numel):view(shape)
      end
    end
    return stacks
  end

  function methods:forward(x, opts)
    local fname = "forward"
    local st = state(self, fname)
    if opts ~= nil and type(opts) ~= "table" then err("bad argument #2 to '%s' (table of options expected, got %s)", fname, type(opts)) end
    if opts and opts.per_member and is_tensor(x) and (x:dim() < 1 or x:size(1) ~= st.n) then
      err("bad argument #2 to '%s' (per_member input's dim 1 must be the number of members %d, got shape [%s])", fname,
          st.n, table.concat(x:size(), ", "))
    end
    return nyto.batched_forward(member(st, 1), self:param_stacks(), x, opts)
  end
  Swarm.__call = function(s, x, opts) return methods.forward(s, x, opts) end

  -- {members = {state dict of member 1, ..., of member n}}: what nyto.save
  -- writes for a swarm (the tensors are views of the arena, as a particle's)
  function methods:state_dict()
    local st = state(self, "state_dict")
    local members = {}
    for i = 1, st.n do members[i] = member(st, i):state_dict() end
    return {members = members}
  end

  -- nyto.Swarm.load(path_or_value, net): a new swarm of net's species whose
  -- member i loads members[i] of the value (nyto.load(path)'s for a path; a
  -- missing file gives nil, message); nothing is made when any member fails
  local function load(src, net)
    local fname = "Swarm.load"
    local v = src
    if type(src) == "string" then
      local msg
      v, msg = nyto.load(src)
      if v == nil then return nil, msg end
    elseif type(src) ~= "table" or getmetatable(src) ~= nil then
      err("bad argument #1 to '%s' (path or table expected, got %s)", fname, nyto.type(src) or type(src))
    end
    local where = type(src) == "string" and src .. ": " or ""
    local root = unwrap_pm(net, 2, fname) -- a ParticleModule: a ParticleModule swarm (make)
    if nyto.type(root) ~= "Module" or not rawget(root, _kk) then
      err("bad argument #2 to '%s' (particle expected, got %s)", fname, nyto.type(net) or type(net))
    end
    local members = type(v) == "table" and v.members
    if type(members) ~= "table" or getmetatable(members) ~= nil or #members < 1 then
      err("bad argument #1 to '%s' (%sno members: a swarm's state dict is {members = {sd1, sd2, ...}})", fname, where)
    end
    local n = #members
    for k in pairs(members) do
      if math.type(k) ~= "integer" or k < 1 or k > n then
        err("bad argument #1 to '%s' (%smembers is not a sequence: key %s)", fname, where, tostring(k))
      end
    end
    local s = make(net, n, nil)
    local st = ST[s]
    for i = 1, n do
      local ok, e = pcall(function() member(st, i):load_state_dict(members[i]) end)
      if not ok then
        methods.free(s)
        err("bad argument #1 to '%s' (%smember %d: %s)", fname, where, i, tostring(e):match("%((.*)%)$") or tostring(e))
      end
    end
    return s
  end

  -- free the arena and the members handed out; any later use raises
  function methods:free()
    local st = ST[self]
    if not st or st.freed then return end
    for _, pm in pairs(st.pms) do pm:free() end
    for _, m in pairs(st.members) do m:free() end
    for _, b in pairs(st.arena) do b:free() end
    st.freed = true
    st.members, st.pms, st.arena = {}, {}, {}
  end
  Swarm.__close = function(s) methods.free(s) end

  -- `w * s` (a tensor first: tensor.c's arith hands a `__nyto_rhs` operand
  -- to its own metamethod) and `best - s` (a particle first)
  Swarm.__nyto_rhs = true
  local imt = nyto.Module.__imt
  for _, opname in ipairs {"add", "sub", "mul", "div", "pow"} do
    local mm = "__" .. opname
    local orig = imt[mm]
    imt[mm] = function(a, b)
      if getmetatable(b) == Swarm then return Swarm[mm](a, b) end
      return orig(a, b)
    end
  end

  nyto.Swarm = setmetatable({of = of, load = load}, {__call = function(_, net, n, init) return make(net, n, init) end})
end
