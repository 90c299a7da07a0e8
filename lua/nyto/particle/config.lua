-- nyto.particle.config: parameter configs (API.md "Parameter configs").
--
-- Each parameter id of a species has one config table, shared by every
-- particle of the species: operational (the particle operations' C passes
-- cover it: it is in the layout's segments) and clone (a new particle gets a
-- copy; clone=false with operational=false shares the very tensor).  A
-- change bumps species.cstamp, so the segments are rebuilt on next use.
local _s, _p, _m, _b, _f, _id, _k, _kk = require("nyto.particle.records").field_keys()
local core = require "nyto.core"
local E = require "nyto.errors"
local S = require "nyto.particle.species"
local Z = require "nyto.particle.lazy"
local K = require "nyto.particle.kernel"

local G = {}
local err = E.err
local Tmt = core.Tensor_mt
local kernel_of = K.kernel_of

-- the pids under a dotted name (a submodule: all its parameters; a parameter: one)
-- (argn: the argument that holds the name; what: how the message names it)
local function pids_under(self, name, fname, argn, what)
  kernel_of(self, fname)
  local targets = {}
  local valid = {}
  local found = name == nil
  for mname, m in self:named_modules() do
    local s = rawget(m, _s)
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
    err("bad argument #%d to '%s' (%sno submodule or parameter named '%s'; valid names nearby: %s)", argn, fname, what or "", name,
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
  for k in pairs(S.live_kernels) do
    if k.species == species and not k.freed then
      Z.expand(k)
      local L = k.ver.layout
      for pid in pairs(pids) do
        local P = L.params[pid]
        local m = P and k.mods[P.mid]
        local t = m and rawget(m, _p)[P.name]
        local buf = t and k.bufs[P.dtype]
        if buf and t:storage_id() ~= buf:tensor():storage_id() then
          require("nyto").no_grad(function() core.view(buf, P.off, P.shape, false):copy_(t) end)
          k.rg[pid] = t:requires_grad()
          rawget(m, _p)[P.name] = nil -- viewed from the own buffer on next use
        end
      end
    end
  end
end

local function touch_configs(self, before)
  local k = rawget(self, _kk)
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


-- net:set_param_config, net:apply_param_config, net:param_config
function G.install_module(Module)
  function Module:set_param_config(opts)
    if type(opts) ~= "table" then err("bad argument #1 to 'set_param_config' (table expected, got %s)", type(opts)) end
    if opts.name ~= nil and type(opts.name) ~= "string" then
      err("bad argument #1 to 'set_param_config' (name must be a string, got %s)", type(opts.name))
    end
    for key, v in pairs(opts) do
      if type(key) ~= "string" then
        err("bad argument #1 to 'set_param_config' (option names are strings, got %s)", E.typename(key))
      end
      if (key == "operational" or key == "clone") and type(v) ~= "boolean" then
        err("bad argument #1 to 'set_param_config' (%s must be a boolean, got %s)", key, type(v) == "string" and ('"' .. v .. '"') or type(v))
      end
    end
    local pids = pids_under(self, opts.name, "set_param_config", 1, "option 'name': ")
    local configs = rawget(self, _kk).species.configs
    local before = shared_pids(rawget(self, _kk).species)
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
    local pids = pids_under(self, name, "apply_param_config", 2)
    local configs = rawget(self, _kk).species.configs
    local before = shared_pids(rawget(self, _kk).species)
    -- validate on copies, so a bad value or an error leaves every config as it was
    local staged = {}
    for i, pid in ipairs(pids) do
      local c = setmetatable({}, getmetatable(configs[pid]))
      for key, v in pairs(configs[pid]) do c[key] = v end
      fn(pid, c)
      if type(c.operational) ~= "boolean" or type(c.clone) ~= "boolean" then
        err("apply_param_config: operational and clone must stay booleans (parameter id %d)", pid)
      end
      for key in pairs(c) do
        if type(key) ~= "string" then
          err("apply_param_config: config field names are strings (parameter id %d, got %s)", pid, E.typename(key))
        end
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
    elseif type(x) == "string" then pid = pids_under(self, x, "param_config", 1)[1]
    elseif math.type(x) ~= "integer" then
      err("bad argument #1 to 'param_config' (parameter id, name or Parameter expected, got %s)", E.typename(x))
    end
    local c = math.type(pid) == "integer" and k.species.configs[pid]
    if not c and getmetatable(x) == Tmt then err("bad argument #1 to 'param_config' (the tensor is not a parameter of this particle)") end
    if not c then err("bad argument #1 to 'param_config' (no parameter %s)", tostring(x)) end
    return c
  end
end

return G
