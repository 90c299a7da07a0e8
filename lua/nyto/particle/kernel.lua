-- nyto.particle.kernel: a particle's kernel and its flat buffers.
--
-- Every module of a particle refers to one kernel (raw fields _k/_kk,
-- particle/records.lua): its species and version, its module objects by id
-- (k.mods), its flat buffers (k.bufs: one nyto.Buffer per dtype, laid out by
-- the version's layout, particle/species.lua) and the requires_grad flag of
-- parameters not yet materialised (k.rg).  This file founds species, moves
-- parameters into flat storage (rebuild_flat), keeps the share groups of
-- detach(), frees particles and makes the kernel of an operand current
-- (kernel_of: replays structural changes, particle/versions.lua).
local _s, _p, _m, _b, _f, _id, _k, _kk = require("nyto.particle.records").field_keys()
local core = require "nyto.core"
local E = require "nyto.errors"
local S = require "nyto.particle.species"
local Z = require "nyto.particle.lazy"
local R = require "nyto.particle.records"

local K = {}
local err = E.err
local view, set_to_view = core.view, core.set_to_view
local expand = Z.expand
local Kernel = S.Kernel

function K.set_kernel_tree(m, k)
  rawset(m, _k, k.kref) -- nil while a ParticleModule has cleared the references
  rawset(m, _kk, k)
  local s = rawget(m, _s)
  local ch = rawget(m, _m)
  for _, cname in ipairs(s.mo) do K.set_kernel_tree(ch[cname], k) end
end

-- Kernels sharing one set of flat buffers (a particle and the particles
-- detach()ed from it): bufs table -> weak set of kernels.  A kernel that
-- borrowed tensors from another (detach) lists them in k.borrowed.
local share_groups = setmetatable({}, {__mode = "k"})

-- Move every parameter of kernel k's tree into fresh flat buffers (values
-- kept, tensor identity kept: Torch7's set), step by step:
--   1. one new buffer per dtype, of the size the (new) layout says;
--   2. each parameter in layout order: a materialised tensor is re-pointed
--      at its slot (set_to_view); a tensor another particle owns (borrowed
--      by detach) is dropped and keeps its values there; a parameter never
--      materialised gets its values copied from the old buffer (k.oldlayout);
--   3. sharing with detach()ed particles ends here: the tensors stay with the
--      particle they were assigned to, the borrowers view their own (old)
--      buffer instead.
function K.rebuild_flat(k)
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
    local p = rawget(m, _p)
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
        local p, s = rawget(mm, _p), rawget(mm, _s)
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

function K.collect_modules(k, m)
  k.mods[rawget(m, _id)] = m
  local s = rawget(m, _s)
  local ch = rawget(m, _m)
  for _, cname in ipairs(s.mo) do K.collect_modules(k, ch[cname]) end
end

-- Found a species for a freshly constructed root module.
function K.found_species(root)
  local species = S.new_species()
  S.assign_ids(species, root)
  local version = S.new_version(species, 1)
  species.ver = version
  local k = S.new_kernel({species = species, ver = version, mods = {}, bufs = {}, rg = {}})
  k.root = root
  K.collect_modules(k, root)
  K.set_kernel_tree(root, k)
  version.layout = S.layout_of(species, root)
  K.rebuild_flat(k)
  return k
end

-- the tensor of parameter `name` of module self, viewed from the flat buffer
-- on first read (nil: no such parameter, or not a particle yet)
function K.materialize(self, name)
  local s = rawget(self, _s)
  local pid = s.pid[name]
  local k = rawget(self, _kk)
  if k and k.freed then err("attempt to use a freed Module") end
  if not (pid and k) then return nil end
  local P = k.ver.layout.params[pid]
  local rg = k.rg[pid]
  if rg == nil then rg = true end
  local t = view(k.bufs[P.dtype], P.off, P.shape, rg, true)
  rawget(self, _p)[name] = t
  return t
end

-- the kernel of module x (argument i of fname), caught up with its species
function K.kernel_of(x, fname, i)
  local k = rawget(x, _kk)
  if not k then err("bad argument #%d to '%s' (module is not a particle)", i or 1, fname) end
  if k.freed then err("attempt to use a freed Module") end
  if k.ver ~= k.species.ver then k:touch() end
  return k
end

-- the kernel of self when structure may change (a ParticleModule's cleared
-- reference raises)
function K.check_kernel(self, what)
  local k = rawget(self, _k)
  if not k and rawget(self, _kk) then
    err("cannot %s: this module's kernel reference is cleared by a ParticleModule (call restore_kernel_ref() first)", what)
  end
  return k
end

-- net:free(): release the particle's buffers and parameter tensors now; any later use raises.
-- keep_tensors: free the buffers only (the parameter tensors may still be a
-- script's: they keep their storage, which the pool then never hands out)
function K.free(self, keep_tensors)
  local k = rawget(self, _kk)
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
  if not keep_tensors then
    local configs = k.species.configs
    for _, m in pairs(k.mods) do -- materialised modules only: a lazy tree has no tensors yet
      local s = rawget(m, _s)
      for pn, t in pairs(rawget(m, _p)) do
        local c = configs[s.pid[pn]]
        -- a clone=false parameter is the very tensor of another particle: not ours to free
        if not (c and c.clone == false and not c.operational) then t:free() end
      end
    end
  end
  for _, b in pairs(k.bufs) do b:free() end
  k.bufs = {}
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

-- detach: a new species sharing the same parameter tensors
function K.detach(self)
  local k = K.kernel_of(self, "detach")
  k.root:parameters() -- materialise every parameter (the new species shares the very tensors)
  local species = S.new_species(k.species.next_mid, k.species.next_pid)
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
  S.seg_build(species, L)
  local version = S.new_version(species, 1, L)
  species.ver = version
  local nk = S.new_kernel({species = species, ver = version, mods = {}, bufs = k.bufs, rg = Z.rg_of(k),
                           borrowed = setmetatable({}, {__mode = "k"})})
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
    local m = setmetatable({[_s] = rawget(srcm, _s), [_p] = {}, [_m] = {}, [_b] = {}, [_f] = {}, [_id] = rawget(srcm, _id), [_k] = nk, [_kk] = nk}, getmetatable(srcm))
    for kk, v in pairs(rawget(srcm, _f)) do rawget(m, _f)[kk] = v end
    for kk, v in pairs(rawget(srcm, _b)) do rawget(m, _b)[kk] = v end
    for _, pn in ipairs(rawget(srcm, _s).po) do
      local t = srcm[pn]
      rawget(m, _p)[pn] = t
      nk.borrowed[t] = true
    end
    nk.mods[rawget(m, _id)] = m
    for _, cn in ipairs(rawget(srcm, _s).mo) do rawget(m, _m)[cn] = copy(rawget(srcm, _m)[cn]) end
    return m
  end
  nk.root = copy(k.root)
  return nk.mods[rawget(self, _id)]
end

return K
