-- nyto.strategy.base: the machinery every ask/tell strategy shares (issue 17; an internal
-- module, `local B = require "nyto.strategy.base"`; the contract: API.md "Strategies" and
-- docs/api.md "Strategies").
--
-- A strategy file returns `B.strategy(name, impl)`, a constructor `NAME(center, opts)`.
-- impl:
--   options   = {key = {default, check}, ...}: the strategy's own options. default is a value
--               or function(es) -> value (es.D, es.n are set); check is one of the B.check_*
--               below. popsize, sigma, maximize and generator are base options (impl.popsize
--               = number or function(D) gives popsize's default; impl.sigma sigma's, default
--               0.1; impl.even_popsize = true refuses an odd popsize: antithetic sampling).
--   init(es)  : make the state, in es.state (below). Options are in es.o (resolved).
--   ask(es)   -> pop: the population to score (a pop value, below).
--   tell(es, pop, f): update es.state from f, a Lua table of es.n numbers in the minimising
--               sign (maximize already folded in, no NaN; +/-inf possible). pop is what ask
--               returned (as the user may have changed it since). The population is the
--               strategy's: tell may update it in place for the next ask (PSO, APSO) or keep
--               it; base keeps only copies (the best row).
--   center(es) -> vec   (optional): the current mean; default es.state.mean.
--   check(es, fname)    (optional): cross-option checks after parsing (raise with B.argerr(2, ...)).
--   methods = {...}     (optional): extra methods of the strategy's objects.
-- Fields of es a strategy may read: es.name, es.kind ("particle" | "tensor"), es.D, es.n,
-- es.dtype, es.o (options, resolved), es.g (the Generator), es.generation, es.state
-- (es.state.mean starts as the center's flat vector), es.template (particle centers: a clone).
-- Base does: option parsing (unknown keys, ranges), the center (a particle or a 1-D float
-- tensor), fitness validation before any state changes (a failed tell changes nothing),
-- tell-before-ask, es.generation, best tracking, the generator (es.g: every random draw of a
-- strategy must come from it), state_dict/load_state_dict (es.state + generator + best +
-- pending population), and the public methods ask/tell/best/center/state_dict/load_state_dict.
--
-- Values. D = the number of scalars of the center; n = es.n (popsize); es.dtype float32/64.
--   "vec"  a [D] tensor of es.dtype (state over the flat vector: a mean, per-dim sigmas).
--   "pop"  a population: a Swarm of the center's species (particle center) or an [n, D] tensor
--          (tensor center). Arithmetic works the same on both kinds: pop +-*/ pop, pop op
--          number, and pop op B.bcast(es, vec) (a particle broadcast to every row / a [D]
--          tensor broadcasting over rows); per-member coefficients: B.rows(es, w) * pop.
-- es.state: a table name -> vec, pop, tensor, number, boolean or string. Every entry is saved
-- by state_dict and checked (kind, shape, dtype) and copied by load_state_dict; an entry's
-- kind must not change between init and later generations (keep placeholders, e.g. a tensor
-- of +inf, rather than nil). Numbers in es.state must be finite (JSON metadata): keep a
-- value that can be inf in a tensor.
--
-- Helpers (es first):
--   B.randn(es) / B.rand(es)        pop of N(0, 1) / U[0, 1) draws from es.g
--   B.uniforms(es, k)               a Lua table of k float64 U[0, 1) draws from es.g
--   B.bcast(es, vec)                vec as a pop operand (particle or [D] tensor)
--   B.rows(es, w)                   per-member coefficients (Lua table or [n] tensor) as a
--                                   pop operand: row i scaled by w[i]
--   B.full(es, vec)                 a pop whose every row is vec
--   B.flat(es, pop)                 the [n, D] tensor of pop (a swarm's arena: a view)
--   B.from_flat(es, X)              an [m, D] tensor as a pop (a new Swarm, or X itself)
--   B.row(es, pop, i)               row i of pop as a [D] tensor (a copy)
--   B.select(es, pop, idx)          a pop of rows idx (Lua table of 1-based indices)
--   B.where(es, mask, a, b)         a new pop: row i from pop a where mask[i], else from b
--   B.copy_rows_(es, dst, mask, src) rows of dst where mask[i] := rows of src, in place
--                                   (dst must be the strategy's own); returns dst
--   B.spare(es, key, avoid)         a population buffer {pop =, X =} to write into: es[key]
--                                   when alive and not avoid, else a new one
--   B.where_elem(es, M, a, b)       a new pop: element (i, j) from a where the [n, D] bool
--                                   tensor M holds, else from b (values copied exactly)
--   B.where_elem_(es, M, a, b)      the same written into a (a must be the strategy's own; a
--                                   tensor center gets a new tensor); returns the result
--   B.mean(es, pop [, w])           the (weighted) mean of the rows, a [D] tensor
--   B.member(es, vec)               vec as a solution (a particle or a [D] tensor copy)
--   B.order(f)                      indices 1..#f sorted by f ascending (ties: lower index)
--   B.err(fmt, ...), B.argerr(i, fname, fmt, ...)   raise `nyto: ...` errors
--   B.repr(v)                       an option value for a message ("x" quoted, nan, a type)
--   B.check_positive, B.check_nonneg, B.check_range(lo, hi, lo_open, hi_open),
--   B.check_int(min [, max]), B.check_bool   option checkers: function(v) -> nil or reason
local KK = select(8, require("nyto.particle.records").field_keys()) -- a module's kernel field (private key)
local nyto = require "nyto"
local E = require "nyto.errors"

local B = {}

local function tname(x) return nyto.type(x) or math.type(x) and "number" or type(x) end
B.tname = tname

function B.err(fmt, ...) error(E.cut("nyto: " .. fmt:format(...)), 0) end
function B.argerr(i, fname, fmt, ...)
  error(E.cut(("nyto: bad argument #%d to '%s' (%s)"):format(i, fname, fmt:format(...))), 0)
end
local err, argerr = B.err, B.argerr

local function repr(v)
  if type(v) == "string" then return ("%q"):format(v) end
  if v ~= v then return "nan" end
  if type(v) == "number" or type(v) == "boolean" then return tostring(v) end
  return tname(v)
end

B.repr = repr

-- option checkers -----------------------------------------------------------------------
local function finite(v) return type(v) == "number" and v == v and v ~= math.huge and v ~= -math.huge end
function B.check_positive(v) if not (finite(v) and v > 0) then return "must be a finite number > 0" end end
function B.check_nonneg(v) if not (finite(v) and v >= 0) then return "must be a finite number >= 0" end end
function B.check_range(lo, hi, lo_open, hi_open)
  local what = ("must be a number in %s%s, %s%s"):format(lo_open and "(" or "[", tostring(lo), tostring(hi),
                                                          hi_open and ")" or "]")
  return function(v)
    if not finite(v) or v < lo or v > hi or (lo_open and v == lo) or (hi_open and v == hi) then return what end
  end
end
function B.check_int(min, max)
  local what = max and ("must be an integer in [%d, %d]"):format(min, max) or ("must be an integer >= %d"):format(min)
  return function(v)
    if math.type(v) ~= "integer" or v < min or (max and v > max) then return what end
  end
end
function B.check_bool(v) if type(v) ~= "boolean" then return "must be a boolean" end end

-- the center ----------------------------------------------------------------------------
local function center_of(c, fname)
  local t = nyto.type(c)
  if t == "ParticleModule" then
    argerr(1, fname, "ParticleModule centers are not supported yet: pass its root module")
  end
  if t == "Module" and rawget(c, KK) then
    local dt
    for _, p in ipairs(c:parameters()) do
      local d = p:dtype()
      if d ~= "float32" and d ~= "float64" then
        argerr(1, fname, "center's parameters must be float32 or float64, got %s", d)
      end
      if dt and d ~= dt then argerr(1, fname, "center's parameters must have one floating dtype, got %s and %s", dt, d) end
      dt = d
    end
    if not dt then argerr(1, fname, "center has no parameters") end
    local s1 = nyto.Swarm(c, 1)
    local v = s1:flat(dt):view {-1}:clone()
    s1:free()
    return "particle", v, dt
  end
  if nyto.is_tensor(c) then
    local d = c:dtype()
    if c:dim() ~= 1 or (d ~= "float32" and d ~= "float64") then
      argerr(1, fname, "center must be a particle or a 1-D float tensor, got a %d-D %s tensor", c:dim(), d)
    end
    if c:numel() < 1 then argerr(1, fname, "center must have at least one element") end
    return "tensor", nyto.no_grad(function() return c:detach():clone() end), d
  end
  argerr(1, fname, "center must be a particle or a 1-D float tensor, got %s", tname(c))
end

-- values ----------------------------------------------------------------------------------
local function is_particle(es) return es.kind == "particle" end

function B.flat(es, pop)
  if is_particle(es) then return pop:flat(es.dtype) end
  return pop
end

function B.from_flat(es, X)
  if not is_particle(es) then return X end
  local m = X:size(1)
  local s = nyto.Swarm(es.template, m)
  nyto.no_grad(function() s:flat(es.dtype):copy_(X) end)
  return s
end

function B.member(es, v)
  if not is_particle(es) then return v:clone() end
  -- non-operational parameters keep the center's values (a mean of them may round)
  if es.opmask then v = nyto.where(es.opmask, v, es.center_flat) end
  local s = B.from_flat(es, v:view {1, es.D})
  return s[1] -- its kernel keeps the one-row arena alive
end

function B.bcast(es, v)
  if is_particle(es) then return B.member(es, v) end
  return v
end

function B.rows(es, w)
  if type(w) == "table" then w = nyto.tensor(w, {dtype = es.dtype}) end
  if is_particle(es) then return w end
  return w:view {w:numel(), 1}
end

function B.full(es, v)
  if is_particle(es) then
    local s = nyto.Swarm(es.template, es.n)
    nyto.no_grad(function() s:flat(es.dtype):copy_(v:view {1, es.D}:expand {es.n, es.D}) end)
    return s
  end
  return v:view {1, es.D}:expand {es.n, es.D}:clone()
end

function B.randn(es)
  if is_particle(es) then return es.shape:randn {generator = es.g} end
  return nyto.randn({es.n, es.D}, {generator = es.g, dtype = es.dtype})
end

function B.rand(es)
  if is_particle(es) then return es.shape:rand {generator = es.g} end
  return nyto.rand({es.n, es.D}, {generator = es.g, dtype = es.dtype})
end

function B.uniforms(es, k)
  return nyto.rand({k}, {generator = es.g, dtype = "float64"}):totable()
end

function B.row(es, pop, i)
  return B.flat(es, pop):select(1, i):clone()
end

function B.select(es, pop, idx)
  if is_particle(es) then return pop:select(idx) end
  return pop:index_select(1, nyto.tensor(idx, {dtype = "int64"}))
end

function B.where(es, mask, a, b)
  local idx = {}
  for i = 1, es.n do if mask[i] then idx[#idx + 1] = i end end
  if is_particle(es) then
    local out = b:clone()
    if #idx > 0 then out:scatter_(idx, a:select(idx)) end
    return out
  end
  local m = nyto.tensor(mask, {dtype = "bool"}):view {es.n, 1}
  return nyto.where(m, a, b)
end

function B.copy_rows_(es, dst, mask, src)
  -- row by row on the flat [n, D] tensors (a swarm's arena): each copied row is read and
  -- written once, the others are not touched (the gaps of a particle row are the center's
  -- in both, so a whole-row copy is the swarm's scatter_)
  local Xd, Xs
  nyto.no_grad(function()
    for i = 1, es.n do
      if mask[i] then
        Xd, Xs = Xd or B.flat(es, dst), Xs or B.flat(es, src)
        Xd:select(1, i):copy_(Xs:select(1, i))
      end
    end
  end)
  return dst
end

-- A population buffer to write a new population into (GA's children, DE's trials): the one
-- kept in es[key] when it is still alive (a Swarm the user freed is not written again) and
-- is not `avoid`, else a new one. Returns {pop =, X = its [n, D] tensor}. The caller keeps
-- a population it is done with in es[key] for the next generation (the population an ask
-- returned is the strategy's: clone it to keep it).
function B.spare(es, key, avoid)
  local p = es[key]
  es[key] = nil
  if p ~= nil and not rawequal(p, avoid) and (not is_particle(es) or pcall(function() return #p end)) then
    return {pop = p, X = B.flat(es, p)}
  end
  if is_particle(es) then
    p = nyto.Swarm(es.template, es.n)
  else
    p = nyto.empty({es.n, es.D}, {dtype = es.dtype})
  end
  return {pop = p, X = B.flat(es, p)}
end

function B.where_elem(es, M, a, b)
  return B.from_flat(es, nyto.where(M, B.flat(es, a), B.flat(es, b)))
end

function B.where_elem_(es, M, a, b)
  if not is_particle(es) then return nyto.where(M, a, b) end
  local A = B.flat(es, a)
  nyto.no_grad(function() A:copy_(nyto.where(M, A, B.flat(es, b))) end)
  return a
end

function B.mean(es, pop, w)
  local X = B.flat(es, pop)
  if w == nil then return X:mean(1) end
  if type(w) == "table" then w = nyto.tensor(w, {dtype = es.dtype}) end
  w = es.dtype == "float64" and w:double() or w:float()
  return nyto.mv(X:t(), w) / w:sum():item()
end

function B.order(f)
  local idx = {}
  for i = 1, #f do idx[i] = i end
  table.sort(idx, function(a, b)
    if f[a] ~= f[b] then return f[a] < f[b] end
    return a < b
  end)
  return idx
end

-- fitness ---------------------------------------------------------------------------------
local function fitness_of(es, f, n, keep_sign, whose)
  local fname = "tell"
  n = n or es.n
  whose = whose or "the popsize"
  local vals
  if nyto.is_tensor(f) then
    local d = f:dtype()
    if d == "bool" then argerr(1, fname, "fitness must be a table or 1-D tensor of numbers, got a bool tensor") end
    if f:dim() ~= 1 then argerr(1, fname, "fitness must be a table or 1-D tensor of numbers, got a %d-D tensor", f:dim()) end
    if f:numel() ~= n then argerr(1, fname, "fitness has %d values, expected %d (%s)", f:numel(), n, whose) end
    vals = nyto.no_grad(function() return f:detach():double():totable() end)
  elseif type(f) == "table" and getmetatable(f) == nil then
    if #f ~= n then argerr(1, fname, "fitness has %d values, expected %d (%s)", #f, n, whose) end
    vals = {}
    for i = 1, n do
      local v = f[i]
      if type(v) ~= "number" then argerr(1, fname, "fitness %d is not a number, got %s", i, tname(v)) end
      vals[i] = v + 0.0
    end
  else
    argerr(1, fname, "fitness must be a table or 1-D tensor of numbers, got %s", tname(f))
  end
  for i = 1, n do
    if vals[i] ~= vals[i] then argerr(1, fname, "fitness %d is NaN", i) end
    if es.o.maximize and not keep_sign then vals[i] = -vals[i] end
  end
  return vals
end
B.fitness_of = fitness_of -- (es, f [, n, keep_sign, whose]): n checked numbers of f

-- state_dict ------------------------------------------------------------------------------
local function kind_of(v)
  local t = nyto.type(v)
  if t == "Swarm" then return "pop" end
  if t == "Tensor" then return "tensor" end
  if type(v) == "number" or type(v) == "boolean" or type(v) == "string" then return type(v) end
  err("strategy state holds a %s (internal error)", tname(v))
end

local function save_value(es, v)
  local k = kind_of(v)
  if k == "pop" then return B.flat(es, v):clone() end
  if k == "tensor" then return v:detach():clone() end
  return v
end

local function shape_str(t) return table.concat(t:size(), ", ") end

local function check_tensor_like(fname, what, got, want)
  if not nyto.is_tensor(got) then argerr(1, fname, "%s must be a tensor, got %s", what, tname(got)) end
  if got:dtype() ~= want:dtype() or shape_str(got) ~= shape_str(want) then
    argerr(1, fname, "%s must be a %s tensor of shape [%s], got %s [%s]", what, want:dtype(), shape_str(want),
           got:dtype(), shape_str(got))
  end
end

local methods = {}

function methods:ask()
  local pop = self._impl.ask(self)
  self._pending = pop
  -- distributed: every rank makes the whole population, and hands out its own members
  if self.dist then return require("nyto.strategy.dist").mine(self, pop) end
  return pop
end

function methods:tell(f)
  local pop = self._pending
  if pop == nil then err("tell before ask (%s: call es:ask() first)", self.name) end
  -- distributed: this rank's fitness values, then every rank's (one all_gather)
  if self.dist then f = require("nyto.strategy.dist").gather(self, f) end
  local vals = fitness_of(self, f)
  if is_particle(self) then
    local ok = pcall(function() return #pop end)
    if not ok then err("bad argument #1 to 'tell' (the population returned by ask was freed)") end
  end
  -- best tracking: the first best member of this generation, kept if better than any before
  local bi = 1
  for i = 2, self.n do if vals[i] < vals[bi] then bi = i end end
  local best
  if self._best_f == nil or vals[bi] < self._best_f then best = B.row(self, pop, bi) end
  self._impl.tell(self, pop, vals)
  if best then self._best, self._best_f = best, vals[bi] end
  self._pending = nil
  self.generation = self.generation + 1
  return self
end

function methods:best()
  if self._best == nil then return nil, nil end
  local f = self._best_f
  if self.o.maximize then f = -f end
  return B.member(self, self._best), f
end

function methods:center()
  local v = self._impl.center and self._impl.center(self) or self.state.mean
  return B.member(self, v)
end

function methods:state_dict()
  local st = {}
  for k, v in pairs(self.state) do st[k] = save_value(self, v) end
  local sd = {strategy = self.name, kind = self.kind, dim = self.D, popsize = self.n, dtype = self.dtype,
              generation = self.generation, generator = self.g:get_state(), pending = self._pending ~= nil,
              state = st}
  if self._pending ~= nil then sd.population = B.flat(self, self._pending):clone() end
  if self._best ~= nil then
    sd.best = self._best:clone()
    sd.best_fitness = nyto.tensor({self._best_f}, {dtype = "float64"})
  end
  return sd
end

function methods:load_state_dict(sd)
  local fname = "load_state_dict"
  if type(sd) ~= "table" then argerr(1, fname, "state table expected, got %s", tname(sd)) end
  if sd.strategy ~= self.name then argerr(1, fname, "a %s state expected, got strategy %s", self.name, repr(sd.strategy)) end
  for _, k in ipairs {"kind", "dtype"} do
    if sd[k] ~= self[k] then argerr(1, fname, "%s is %s, expected %s", k, repr(sd[k]), repr(self[k])) end
  end
  if sd.dim ~= self.D then argerr(1, fname, "dim is %s, expected %d", repr(sd.dim), self.D) end
  if sd.popsize ~= self.n then argerr(1, fname, "popsize is %s, expected %d", repr(sd.popsize), self.n) end
  if math.type(sd.generation) ~= "integer" or sd.generation < 0 then
    argerr(1, fname, "generation must be an integer >= 0, got %s", repr(sd.generation))
  end
  local ok, e = pcall(function() nyto.Generator(0):set_state(sd.generator) end)
  if not ok then argerr(1, fname, "generator: %s", tostring(e):match("%((.*)%)$") or tostring(e)) end
  if type(sd.pending) ~= "boolean" then argerr(1, fname, "pending must be a boolean, got %s", repr(sd.pending)) end
  local popshape = nyto.zeros({self.n, self.D}, {dtype = self.dtype})
  if sd.pending then check_tensor_like(fname, "population", sd.population, popshape) end
  if (sd.best == nil) ~= (sd.best_fitness == nil) then argerr(1, fname, "best and best_fitness go together") end
  if sd.best ~= nil then
    check_tensor_like(fname, "best", sd.best, self.state_proto_vec)
    check_tensor_like(fname, "best_fitness", sd.best_fitness, nyto.zeros({1}, {dtype = "float64"}))
  end
  if type(sd.state) ~= "table" then argerr(1, fname, "state must be a table, got %s", tname(sd.state)) end
  for k in pairs(sd.state) do
    if self.state[k] == nil then argerr(1, fname, "unknown state entry %s", repr(k)) end
  end
  for k, v in pairs(self.state) do
    local got, kind = sd.state[k], kind_of(v)
    local what = "state entry '" .. k .. "'"
    if got == nil then argerr(1, fname, "%s is missing", what) end
    if kind == "pop" or kind == "tensor" then
      check_tensor_like(fname, what, got, kind == "pop" and popshape or v)
    elseif type(got) ~= kind then
      argerr(1, fname, "%s must be a %s, got %s", what, kind, tname(got))
    end
  end
  -- everything checked: copy
  local new = {}
  for k, v in pairs(self.state) do
    local got, kind = sd.state[k], kind_of(v)
    if kind == "pop" then new[k] = B.from_flat(self, got:clone())
    elseif kind == "tensor" then new[k] = got:detach():clone()
    else new[k] = got end
  end
  self.state = new
  self.g:set_state(sd.generator)
  self.generation = sd.generation
  self._pending = sd.pending and B.from_flat(self, sd.population:clone()) or nil
  if sd.best ~= nil then
    self._best, self._best_f = sd.best:clone(), sd.best_fitness:totable()[1]
  else
    self._best, self._best_f = nil, nil
  end
  return self
end

-- the constructor -------------------------------------------------------------------------
local BASE = {popsize = true, sigma = true, maximize = true, generator = true, distributed = true}

local function default_generator()
  -- a fresh generator seeded from libtorch's CPU generator, which nyto.manual_seed seeds
  local u = nyto.rand({2}, {dtype = "float64"}):totable()
  return nyto.Generator((math.floor(u[1] * 2 ^ 31) << 21) | math.floor(u[2] * 2 ^ 21))
end

function B.strategy(name, impl)
  local mt = {__name = "nyto.Strategy", __index = function(_, k) return methods[k] or impl.methods and impl.methods[k] end,
              __tostring = function(es)
                return ("nyto.strategy.%s(popsize %d, dim %d, generation %d)"):format(name, es.n, es.D, es.generation)
              end}
  return function(center, opts)
    local fname = name
    local kind, v, dt = center_of(center, fname)
    if opts ~= nil and (type(opts) ~= "table" or getmetatable(opts) ~= nil) then
      argerr(2, fname, "options table expected, got %s", tname(opts))
    end
    opts = opts or {}
    for k in pairs(opts) do
      if not BASE[k] and not (impl.options and impl.options[k]) then argerr(2, fname, "unknown option %s", repr(k)) end
    end
    local es = setmetatable({name = name, kind = kind, D = v:numel(), dtype = dt, generation = 0, _impl = impl}, mt)
    local o = {}
    local function opt(k, default, check)
      local val = opts[k]
      if val == nil then val = default end
      local why = check and check(val)
      if why then argerr(2, fname, "option '%s' %s, got %s", k, why, repr(val)) end
      o[k] = val
      return val
    end
    local pd = impl.popsize or 16
    if type(pd) == "function" then pd = pd(es.D) end
    es.n = opt("popsize", pd, impl.even_popsize and function(x)
      if math.type(x) ~= "integer" or x < 2 or x % 2 ~= 0 then return "must be an even integer >= 2 (antithetic sampling)" end
    end or B.check_int(2))
    opt("sigma", impl.sigma or 0.1, B.check_positive)
    opt("maximize", false, B.check_bool)
    opt("distributed", false, B.check_bool)
    local g = opts.generator
    if g ~= nil and nyto.type(g) ~= "Generator" then argerr(2, fname, "option 'generator' must be a Generator, got %s", tname(g)) end
    es.g = g or default_generator()
    o.generator = es.g
    es.o = o
    local names = {}
    for k in pairs(impl.options or {}) do names[#names + 1] = k end
    table.sort(names)
    for _, k in ipairs(names) do
      local spec = impl.options[k]
      local d = spec[1]
      if type(d) == "function" then d = d(es) end
      opt(k, d, spec[2])
    end
    if impl.check then impl.check(es, fname) end
    if kind == "particle" then
      es.template = center:clone()
      es.shape = nyto.Swarm(es.template, es.n)
      -- the operational elements: where swarm arithmetic changes a row (it copies the rest)
      local s1 = nyto.Swarm(es.template, 1)
      local a, b = (s1 * 0):flat(dt):view {-1}, (s1 * 0 + 1):flat(dt):view {-1}
      local mask = b:ne(a)
      if not mask:all():item() then es.opmask, es.center_flat = mask, v:clone() end
    end
    es.state_proto_vec = v
    es.state = {mean = v:clone()}
    if o.distributed then require("nyto.strategy.dist").setup(es, fname) end -- rank 0's center and generator
    impl.init(es)
    return es
  end
end

return B
