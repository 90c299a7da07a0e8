-- TEMPORARY glue until nyto.strategy.base (engineer strat-core) lands: the
-- ask/tell contract around an algorithm over flat D-vectors.
local nyto = require "nyto"

local M = {}

local function cast(t, dt)
  if t:dtype() == dt then return t end
  return dt == "float64" and t:double() or t:float()
end
M.cast = cast

local function err(fmt, ...) error(nyto._cut("nyto: " .. string.format(fmt, ...)), 0) end
M.err = err

local function describe(v)
  if type(v) == "string" then return ("%q"):format(v) end
  if type(v) == "number" then return tostring(v) end
  return nyto.type(v) or type(v)
end

local checks = {
  positive = {"a finite number > 0", function(v) return type(v) == "number" and v > 0 and v < math.huge end},
  nonneg = {"a finite number >= 0", function(v) return type(v) == "number" and v >= 0 and v < math.huge end},
  unit = {"a number in [0, 1)", function(v) return type(v) == "number" and v >= 0 and v < 1 end},
  unit_open = {"a number in (0, 1)", function(v) return type(v) == "number" and v > 0 and v < 1 end},
  boolean = {"a boolean", function(v) return type(v) == "boolean" end},
}

local function flat_of(center, fname)
  if nyto.is_tensor(center) then
    local dt = center:dtype()
    if center:dim() ~= 1 or (dt ~= "float32" and dt ~= "float64") or center:numel() < 1 then
      err("bad argument #1 to '%s' (center must be a particle or a 1-D float tensor, got a %s tensor of shape [%s])",
          fname, dt, table.concat(center:size(), ", "))
    end
    return {kind = "tensor", dtype = dt, D = center:numel()}, center:detach():clone()
  end
  local ty = nyto.type(center)
  if ty == "Module" and rawget(center, "_kk") then
    local dts = {}
    for _, p in ipairs(center:parameters()) do dts[p:dtype()] = true end
    local list = {}
    for dt in pairs(dts) do list[#list + 1] = dt end
    table.sort(list)
    if #list ~= 1 then
      err("bad argument #1 to '%s' (center's parameters must have one floating dtype, got %s)", fname,
          #list == 0 and "none" or table.concat(list, " and "))
    end
    local s = nyto.Swarm(center, 1)
    local x = s:flat(list[1]):select(1, 1):clone()
    s:free()
    return {kind = "particle", dtype = list[1], D = x:numel(), net = center}, x
  end
  err("bad argument #1 to '%s' (center must be a particle or a 1-D float tensor, got %s)", fname, ty or type(center))
end

-- [n, D] rows -> the population handed to the user
local function to_pop(info, X)
  X = cast(X, info.dtype)
  if info.kind == "tensor" then return X end
  local s = nyto.Swarm(info.net, X:size(1))
  nyto.no_grad(function() s:flat(info.dtype):copy_(X) end)
  return s
end

local function to_value(info, x)
  x = cast(x, info.dtype)
  if info.kind == "tensor" then return x:clone() end
  local s = nyto.Swarm(info.net, 1)
  nyto.no_grad(function() s:flat(info.dtype):select(1, 1):copy_(x) end)
  local p = s:mean()
  s:free()
  return p
end

-- fitness -> a table of n numbers in the minimisation sign
local function fitness_of(self, f)
  local fname = "tell"
  local n = self.popsize
  local list
  if nyto.is_tensor(f) then
    if f:dim() ~= 1 then err("bad argument #1 to '%s' (fitness must be a 1-D tensor or a table, got shape [%s])", fname, table.concat(f:size(), ", ")) end
    list = f:double():totable()
  elseif type(f) == "table" and getmetatable(f) == nil then
    list = f
  else
    err("bad argument #1 to '%s' (fitness must be a table or a 1-D tensor of %d numbers, got %s)", fname, n, nyto.type(f) or type(f))
  end
  if #list ~= n then err("bad argument #1 to '%s' (%d fitness values expected (the popsize), got %d)", fname, n, #list) end
  local out = {}
  for i = 1, n do
    local v = list[i]
    if type(v) ~= "number" then err("bad argument #1 to '%s' (fitness %d is not a number (%s))", fname, i, type(v)) end
    if v ~= v then err("bad argument #1 to '%s' (fitness %d is NaN)", fname, i) end
    out[i] = self.maximize and -v or v
  end
  return out
end

-- define(name, algo) -> constructor(center, opts)
-- algo.options: name -> {check, default | function(D, opts) -> default}; the
-- common options popsize, sigma, maximize, generator are added here.
-- algo.init(self, x0, opts), algo.sample(self, g) -> X [n, D],
-- algo.update(self, f) (minimisation fitness), algo.mean(self) -> [D],
-- algo.state: names of fields saved (tensors, numbers, booleans).
function M.define(name, algo)
  local methods = {}
  local mt = {__name = "nyto.Strategy", __index = methods}

  function methods:ask()
    local X, Z = algo.sample(self, self.g)
    self._pending, self._noise = X, Z
    return to_pop(self._info, X)
  end

  function methods:tell(f)
    if not self._pending then err("bad argument #1 to 'tell' (tell before ask: call ask() first)") end
    local fm = fitness_of(self, f)
    local X = self._pending
    local bi = 1
    for i = 2, #fm do if fm[i] < fm[bi] then bi = i end end
    if self._best_f == nil or fm[bi] < self._best_f then
      self._best_f = fm[bi]
      self._best_x = X:select(1, bi):clone()
    end
    algo.update(self, fm, X, self._noise)
    self._pending, self._noise = nil, nil
    self.generation = self.generation + 1
  end

  function methods:best()
    if not self._best_x then return nil end
    return to_value(self._info, self._best_x), self.maximize and -self._best_f or self._best_f
  end

  function methods:center() return to_value(self._info, algo.mean(self)) end

  function methods:state_dict()
    local sd = {strategy = name, generation = self.generation, D = self._info.D, dtype = self._info.dtype,
                generator = self.g:get_state(), pending = self._pending ~= nil}
    if self._pending then sd.pending_x = self._pending:clone(); sd.pending_z = self._noise:clone() end
    if self._best_x then sd.best_x = self._best_x:clone(); sd.best_f = self._best_f end
    for _, k in ipairs(algo.state) do
      local v = self[k]
      sd[k] = nyto.is_tensor(v) and v:clone() or v
    end
    return sd
  end

  function methods:load_state_dict(sd)
    if type(sd) ~= "table" or sd.strategy ~= name then
      err("bad argument #1 to 'load_state_dict' (not a %s state dict)", name)
    end
    if sd.D ~= self._info.D then err("bad argument #1 to 'load_state_dict' (state of D = %s, this strategy has D = %d)", tostring(sd.D), self._info.D) end
    for _, k in ipairs(algo.state) do
      local v, cur = sd[k], self[k]
      if nyto.is_tensor(cur) then
        if not nyto.is_tensor(v) or v:numel() ~= cur:numel() then err("bad argument #1 to 'load_state_dict' (field '%s' missing or of the wrong size)", k) end
      elseif type(v) ~= type(cur) then
        err("bad argument #1 to 'load_state_dict' (field '%s' must be a %s)", k, type(cur))
      end
    end
    for _, k in ipairs(algo.state) do
      local v = sd[k]
      self[k] = nyto.is_tensor(v) and cast(v:clone():view(self[k]:size()), self[k]:dtype()) or v
    end
    self.g:set_state(sd.generator)
    self.generation = sd.generation
    self._pending = sd.pending and sd.pending_x:clone() or nil
    self._noise = sd.pending and sd.pending_z:clone() or nil
    self._best_x = sd.best_x and sd.best_x:clone() or nil
    self._best_f = sd.best_f
    return self
  end

  return function(center, opts)
    local info, x0 = flat_of(center, name)
    if opts == nil then opts = {} end
    if type(opts) ~= "table" then err("bad argument #2 to '%s' (options must be a table, got %s)", name, type(opts)) end
    local known = {popsize = true, sigma = true, maximize = true, generator = true}
    for k in pairs(algo.options) do known[k] = true end
    for k in pairs(opts) do
      if not known[k] then err("bad argument #2 to '%s' (unknown option '%s')", name, tostring(k)) end
    end
    local self = setmetatable({generation = 0, _info = info}, mt)
    local D = info.D
    local o = {}
    local ps = opts.popsize
    if ps == nil then ps = algo.default_popsize(D) end
    if math.type(ps) ~= "integer" or ps < 2 then
      err("bad argument #2 to '%s' (option 'popsize' must be an integer >= 2, got %s)", name, describe(ps))
    end
    if algo.even and ps % 2 ~= 0 then
      err("bad argument #2 to '%s' (option 'popsize' must be even (antithetic pairs), got %d)", name, ps)
    end
    self.popsize = ps
    local sigma = opts.sigma
    if sigma == nil then sigma = algo.default_sigma end
    if not checks.positive[2](sigma) then
      err("bad argument #2 to '%s' (option 'sigma' must be a finite number > 0, got %s)", name, describe(sigma))
    end
    o.sigma = sigma
    if opts.maximize ~= nil and type(opts.maximize) ~= "boolean" then
      err("bad argument #2 to '%s' (option 'maximize' must be a boolean, got %s)", name, describe(opts.maximize))
    end
    self.maximize = opts.maximize == true
    local g = opts.generator
    if g ~= nil and nyto.type(g) ~= "Generator" then
      err("bad argument #2 to '%s' (option 'generator' must be a Generator, got %s)", name, describe(g))
    end
    self.g = g or nyto.Generator(math.random(0, 1 << 31))
    for k, spec in pairs(algo.options) do
      local v = opts[k]
      if v == nil then
        v = spec[2]
        if type(v) == "function" then v = v(D, opts, ps) end
      end
      local c = checks[spec[1]]
      if not c[2](v) then err("bad argument #2 to '%s' (option '%s' must be %s, got %s)", name, k, c[1], describe(v)) end
      o[k] = v
    end
    self.options = o
    algo.init(self, x0, o)
    return self
  end
end

return M
