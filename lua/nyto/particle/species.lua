-- nyto.particle.species: species, versions and layouts.
--
-- A species is the set of particles that share one structure history; each
-- structural change makes a new Version of it, and every particle's kernel
-- (particle/kernel.lua) sits at one version.  A version's layout says where
-- each parameter lives in the flat buffers (one per dtype):
--   L.params[pid] = {mid=, name=, shape=, numel=, dtype=, off=}
--   L.order = {pid...} (tree order) ; L.size[dtype] ; L.segs[dtype] (Segments)
--   L.mods[mid] = {s = structure record, path = "a.b", parent = mid, name =, class = mt}
-- L.segs are the operational ranges that a particle operation's one C pass
-- covers; they are rebuilt when a parameter config changes (species.cstamp).
local _s, _p, _m, _b, _f, _id, _k, _kk = require("nyto.particle.records").field_keys()
local core = require "nyto.core"
local E = require "nyto.errors"

local S = {}

local Kernel = {__name = "nyto.Kernel"}
Kernel.__index = Kernel
local Version = {__name = "nyto.Version"}
Version.__index = Version
local Species = {__name = "nyto.Species"}
Species.__index = Species
S.Kernel, S.Version, S.Species = Kernel, Version, Species

-- every live kernel (weak): nyto.stats().particles counts them (products,
-- which hold buffers but no kernel, are not particles)
S.live_kernels = setmetatable({}, {__mode = "k"})

function S.new_species(next_mid, next_pid)
  return setmetatable({next_mid = next_mid or 1, next_pid = next_pid or 1, configs = {}, pinfo = {}, cstamp = 0}, Species)
end

function S.new_version(species, n, layout)
  return setmetatable({species = species, n = n, layout = layout}, Version)
end

-- a kernel (registered live); fields: species, ver, mods, bufs, rg, root, ...
function S.new_kernel(t)
  local k = setmetatable(t, Kernel)
  k.kref = k
  S.live_kernels[k] = true
  return k
end

-- the operational segments of layout L, per dtype
function S.seg_build(species, L)
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

-- the segments of kernel (or product) k, rebuilt after a config change
function S.segs_of(k)
  local L = k.ver.layout
  if L.cstamp ~= k.species.cstamp then S.seg_build(k.species, L) end
  return L.segs
end

-- (re)compute a layout by walking a finalised tree's structure records
function S.layout_of(species, root)
  local L = {params = {}, order = {}, size = {}, mods = {}, nparams = 0}
  local function walk(m, path, parent, name)
    local s = rawget(m, _s)
    local id = rawget(m, _id)
    L.mods[id] = {s = s, path = path, parent = parent, name = name, class = getmetatable(m)}
    for _, pname in ipairs(s.po) do
      local pid = s.pid[pname]
      local t = rawget(m, _p)[pname]
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
      local c = rawget(m, _m)[cname]
      walk(c, path == "" and cname or path .. "." .. cname, id, cname)
    end
  end
  walk(root, "", nil, nil)
  S.seg_build(species, L)
  return L
end

-- config.pid reads the parameter's id (from the metatable: pairs() lists
-- operational, clone and the user's fields only)
function S.default_config(pid) return setmetatable({operational = true, clone = true}, {__index = {pid = pid}}) end

-- assign fresh ids of `species` to a tree that joins it (a tree built by
-- constructors, or an adopted one: its structure records are private).
-- A module met a second time (one module placed twice in the tree) is kept
-- as a plain field of its second parent, with a warning.
function S.assign_ids(species, m, seen)
  seen = seen or {}
  seen[m] = true
  local id = species.next_mid
  species.next_mid = id + 1
  rawset(m, _id, id)
  local s = rawget(m, _s)
  s.pid, s.mid = {}, {}
  for _, pname in ipairs(s.po) do
    local pid = species.next_pid
    species.next_pid = pid + 1
    s.pid[pname] = pid
    species.configs[pid] = S.default_config(pid)
  end
  local ch = rawget(m, _m)
  local i = 1
  while i <= #s.mo do
    local cname = s.mo[i]
    local c = ch[cname]
    if seen[c] then
      E.warn(("submodule '%s' is placed twice in one module tree; the second place keeps it as a plain field (not registered)"):format(cname))
      table.remove(s.mo, i)
      ch[cname] = nil
      rawget(m, _f)[cname] = c
    else
      S.assign_ids(species, c, seen)
      s.mid[cname] = rawget(c, _id)
      i = i + 1
    end
  end
end

-- kernel:version(): the nyto.Version shared by every particle at that
-- version; the particle's own version (a particle behind reports the old
-- one until touch())
function Kernel:version() return self.ver end
function Version:number() return self.n end

return S
