-- nyto.particle.lazy: particles built from buffers, with lazy module trees.
--
-- A particle made by an operation starts *lazy*: only its root module
-- exists.  Its template (k.lazy) holds, per module id, the plain fields,
-- buffers and shared (clone=false, non-operational) parameters the modules
-- will get; the tree is built on first use (expand).  So `net = 0.5*net + 10`
-- builds one table per operation, whatever the depth of the model.
local _s, _p, _m, _b, _f, _id, _k, _kk = require("nyto.particle.records").field_keys()
local S = require "nyto.particle.species"
local R = require "nyto.particle.records"

local Z = {}
local copy_table = R.copy_table

-- builds a lazy particle's module tree (nothing to do for a built one)
function Z.expand(k)
  local lz = k.lazy
  if not lz then return end
  k.lazy = nil
  local root = k.root
  local L = k.ver.layout
  local mods = k.mods
  setmetatable(mods, nil)
  local function build(m)
    local s = rawget(m, _s)
    local ch = rawget(m, _m)
    setmetatable(ch, nil)
    for _, cn in ipairs(s.mo) do
      local cid = s.mid[cn]
      local c = Z.module_from(k, cid, L.mods[cid], lz[cid])
      rawset(ch, cn, c)
      rawset(mods, cid, c)
      build(c)
    end
  end
  build(root)
end
local expand = Z.expand

-- the template of kernel src: per mid {f=, b=, p=}; a lazy src lends its own
local function template_of(src, species)
  local lz = src.lazy
  if lz and (src.template or not species.noclone) then return lz end
  if lz then expand(src) end
  local t = {}
  local configs = species.configs
  for mid, m in pairs(src.mods) do
    local s = rawget(m, _s)
    local p
    if species.noclone and #s.po > 0 then
      local sp = rawget(m, _p)
      for _, pn in ipairs(s.po) do
        local c = configs[s.pid[pn]]
        if not c.clone and not c.operational then
          p = p or {}
          p[pn] = sp[pn] or m[pn]
        end
      end
    end
    t[mid] = {f = copy_table(rawget(m, _f)), b = copy_table(rawget(m, _b)), p = p}
  end
  return t
end

-- a module of kernel k at id mid, from its template entry
function Z.module_from(k, mid, info, tmpl)
  return setmetatable({[_s] = info.s, [_p] = tmpl.p and copy_table(tmpl.p) or {}, [_m] = {},
                       [_b] = copy_table(tmpl.b), [_f] = copy_table(tmpl.f), [_id] = mid,
                       [_k] = k.kref, [_kk] = k}, info.class)
end

-- proxies: reading a missing child (or module id) of a lazy particle builds the tree
-- one metatable serves both proxies of a kernel (k.mods and the root's _m)
local function lazy_proxy_mt(k)
  return {__index = function(t, key)
    expand(k)
    return rawget(t, key)
  end}
end

-- requires_grad of each pid of kernel src: materialised tensors tell, else inherited
function Z.rg_of(src)
  local rg = {}
  for pid, v in pairs(src.rg) do rg[pid] = v end
  for _, m in pairs(src.mods) do
    local p = rawget(m, _p)
    if next(p) then
      local s = rawget(m, _s)
      for pn, t in pairs(p) do
        local pid = s.pid[pn]
        if pid then rg[pid] = t:requires_grad() end
      end
    end
  end
  return rg
end
local rg_of = Z.rg_of

-- A new particle of src's species from new buffers (lazy: root only).
function Z.particle_from(src, bufs)
  local species = src.species
  local tmpl = template_of(src, species)
  local k = S.new_kernel({species = species, ver = src.ver, bufs = bufs, rg = rg_of(src), lazy = tmpl})
  local pmt = lazy_proxy_mt(k)
  k.mods = setmetatable({}, pmt)
  local root = Z.module_from(k, 1, src.ver.layout.mods[1], tmpl[1])
  rawset(root, _m, setmetatable({}, pmt))
  rawset(k.mods, 1, root)
  k.root = root
  return k
end

-- What a product keeps of the particle it came from: species, version,
-- template and requires_grad flags, never the particle's buffers (a product
-- loop must not pin the particle it started from).
function Z.template_kernel(k)
  local species = k.species
  return {species = species, ver = k.ver, lazy = template_of(k, species), rg = rg_of(k), mods = {}, template = true}
end

-- any module of a particle acts for the whole particle: the result is the
-- new particle's module with the operand's module id (the root's: the root)
function Z.module_at(k, mid)
  if mid == 1 then return k.root end
  return k.mods[mid] -- builds a lazy particle's tree
end

return Z
