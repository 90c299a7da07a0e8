-- nyto.particle.versions: structural changes and their replay.
--
-- Adding or removing a parameter, submodule or buffer of a particle makes a
-- new version of its species: the old version records the change (kind, the
-- module id, the name and a detached copy of what was added), the changed
-- particle gets the new layout and fresh flat buffers.  Another particle of
-- the species at an older version replays the recorded changes, in order, on
-- its next use (Kernel:touch, called by kernel_of).  Structure records are
-- shared by the particles of a version and copied on write (own_records).
local _s, _p, _m, _b, _f, _id, _k, _kk = require("nyto.particle.records").field_keys()
local core = require "nyto.core"
local E = require "nyto.errors"
local S = require "nyto.particle.species"
local Z = require "nyto.particle.lazy"
local R = require "nyto.particle.records"
local K = require "nyto.particle.kernel"

local V = {}
local err, nwarn = E.err, E.warn
local set_to_view = core.set_to_view
local expand = Z.expand
local copy_s, remove_name = R.copy_s, R.remove_name
local collect_modules, set_kernel_tree, rebuild_flat = K.collect_modules, K.set_kernel_tree, K.rebuild_flat
local check_kernel = K.check_kernel
local Kernel = S.Kernel

-- nyto.no_grad (lua/nyto/tensor.lua), read when called: tensor.lua has defined it by then
local function no_grad(fn) return require("nyto").no_grad(fn) end
local Parameter = core.Parameter

local function tree_contains(m, target)
  if rawequal(m, target) then return true end
  local ch = rawget(m, _m)
  for _, c in pairs(ch) do if tree_contains(c, target) then return true end end
  return false
end

-- Can module v be registered as submodule `name` of self?  A module tree
-- has no cycles and holds each module once, and a module belongs to one
-- particle: otherwise warn and keep v as a plain field (reading the field
-- still returns v; its parameters stay where they are).
function V.registrable(self, name, v)
  if tree_contains(v, self) then
    nwarn(("submodule '%s' refers back to a module that contains it (a cycle in the module tree); it is kept as a plain field, not registered"):format(name))
    return false
  end
  local vk = rawget(v, _kk)
  if vk then
    -- the root of a particle (kernel reference not cleared) may join: it leaves its own particle
    if not (rawget(v, _k) == vk and rawequal(vk.root, v)) then
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
  local s = rawget(m, _s)
  for _, pn in ipairs(s.po) do local _ = m[pn] end
  rawset(m, _s, copy_s(s))
  rawset(m, _k, nil)
  rawset(m, _kk, nil)
  for _, cn in ipairs(s.mo) do adopt(rawget(m, _m)[cn]) end
end

-- a subtree leaving its particle keeps its parameter tensors (views of the
-- particle's current buffer; the particle moves to a new one)
local function leave(m)
  for _, pn in ipairs(rawget(m, _s).po) do local _ = m[pn] end
  rawset(m, _k, nil)
  rawset(m, _kk, nil)
  for _, c in pairs(rawget(m, _m)) do leave(c) end
end

-- every parameter of a tree about to join a particle must be a live tensor
local function check_tree_live(m, path)
  local s, p = rawget(m, _s), rawget(m, _p)
  for _, pn in ipairs(s.po) do
    local t = p[pn]
    if t ~= nil and not pcall(t.dtype, t) then
      err("bad argument to '__newindex' (parameter '%s.%s' is a freed Tensor)", path, pn)
    end
  end
  for _, cn in ipairs(s.mo) do check_tree_live(rawget(m, _m)[cn], path .. "." .. cn) end
end

-- A structural change first brings the particle to its species' newest
-- version (another particle of the species may have changed it), so that it
-- decides on the current structure (issue 13, point 4).
function V.catch_up(self)
  local k = rawget(self, _k)
  if k and not k.freed and k.ver ~= k.species.ver then k:touch() end
end

-- Everything a change of entry `name` of module self (a particle's, or one
-- being built) can fail on, checked before anything changes (issue 13,
-- point 5): the value added is live, and every parameter tensor of the
-- particle is live, apart from the entry being removed or replaced.
function V.check_change(self, kind, name, value)
  if kind == "add_module" then check_tree_live(value, name) end
  if kind == "add_param" and not pcall(value.dtype, value) then
    err("bad argument to '__newindex' (the Parameter assigned to '%s' is a freed Tensor)", name)
  end
  local k = rawget(self, _k)
  if not k then return end
  local L = k.ver.layout
  local sub = rawget(self, _m)[name]
  local sid = sub and rawget(sub, _id)
  for mid, m in pairs(k.mods) do -- materialised modules only: a lazy tree has no tensors yet
    for pn, t in pairs(rawget(m, _p)) do
      if not pcall(t.dtype, t) then
        local skip = rawequal(m, self) and pn == name
        local id = mid
        while id and not skip do
          if id == sid then skip = true end
          id = L.mods[id] and L.mods[id].parent
        end
        if not skip then
          local path = L.mods[mid] and L.mods[mid].path or ""
          err("cannot change the structure of this particle: its parameter '%s' is a freed Tensor",
              path == "" and pn or path .. "." .. pn)
        end
      end
    end
  end
end

-- apply one change to module m (no versioning); value already prepared
local function apply_change(m, kind, name, value, ids)
  local s = rawget(m, _s)
  if kind == "add_param" then
    s.po[#s.po + 1] = name
    if ids then s.pid[name] = ids.pid end
    rawget(m, _p)[name] = value
  elseif kind == "remove_param" then
    remove_name(s.po, name)
    s.pid[name] = nil
    rawget(m, _p)[name] = nil
  elseif kind == "add_module" then
    s.mo[#s.mo + 1] = name
    rawget(m, _m)[name] = value
    if ids then s.mid[name] = ids.mid end
  elseif kind == "remove_module" then
    remove_name(s.mo, name)
    s.mid[name] = nil
    rawget(m, _m)[name] = nil
  elseif kind == "add_buffer" then
    s.bo[#s.bo + 1] = name
    rawget(m, _b)[name] = value
  elseif kind == "remove_buffer" then
    remove_name(s.bo, name)
    rawget(m, _b)[name] = nil
  end
end

-- values deep-copied into a detached tree that carries the species ids
local function clone_tree_values(m)
  local n = setmetatable({[_s] = rawget(m, _s), [_p] = {}, [_m] = {}, [_b] = {}, [_f] = {}, [_id] = rawget(m, _id)}, getmetatable(m))
  for kk, v in pairs(rawget(m, _f)) do rawget(n, _f)[kk] = v end
  for kk, v in pairs(rawget(m, _b)) do rawget(n, _b)[kk] = v end
  local s = rawget(m, _s)
  for _, pn in ipairs(s.po) do
    local t = m[pn]
    rawget(n, _p)[pn] = Parameter(no_grad(function() return t:detach():clone() end), t:requires_grad())
  end
  for _, cn in ipairs(s.mo) do rawget(n, _m)[cn] = clone_tree_values(rawget(m, _m)[cn]) end
  return n
end

-- copy-on-write the structure records of every module (they are shared
-- with the other particles of the old version)
local function own_records(k)
  expand(k)
  for _, m in pairs(k.mods) do rawset(m, _s, copy_s(rawget(m, _s))) end
end

-- k: the kernel that changed; builds the new version and flat storage
local function advance(k, kind, mid, name, record_value)
  local species = k.species
  local old = k.ver
  local nv = S.new_version(species, old.n + 1)
  old.next = nv
  old.change = {kind = kind, mid = mid, name = name, value = record_value}
  k.mods = {}
  collect_modules(k, k.root)
  k.oldlayout = old.layout
  nv.layout = S.layout_of(species, k.root)
  species.ver = nv
  k.ver = nv
  rebuild_flat(k)
end

-- structural_change(module, kind, name, value): kind is add_param,
-- remove_param, add_module, remove_module, add_buffer or remove_buffer
function V.structural_change(self, kind, name, value)
  local k = rawget(self, _k)
  if k and k.ver ~= k.species.ver then
    k:touch()
    k = rawget(self, _k) -- the replay may have removed self from the particle
  end
  V.check_change(self, kind, name, value)
  if not k then
    check_kernel(self, "change the structure of a module")
    -- not yet a particle (inside a constructor): plain bookkeeping; ids
    -- are assigned when the outermost constructor founds the species
    if kind == "add_module" and rawget(value, _kk) then adopt(value) end
    apply_change(self, kind, name, value)
    return
  end
  -- a particle: make the change in a new species version.  Everything that
  -- can fail is checked above, so no error leaves a half-applied version.
  local species = k.species
  local mid = rawget(self, _id)
  local record
  if kind == "add_param" then
    record = {value = no_grad(function() return value:detach():clone() end), rg = value:requires_grad()}
    own_records(k)
    local pid = species.next_pid
    species.next_pid = pid + 1
    species.configs[pid] = S.default_config(pid)
    record.pid = pid
    apply_change(self, kind, name, value, {pid = pid})
    k.rg[pid] = value:requires_grad()
  elseif kind == "add_module" then
    own_records(k)
    -- the new subtree joins this species with fresh ids
    adopt(value)
    S.assign_ids(species, value)
    apply_change(self, kind, name, value, {mid = rawget(value, _id)})
    set_kernel_tree(value, k)
    record = {value = clone_tree_values(value)}
  elseif kind == "remove_param" then
    if not rawget(self, _s).pid[name] then err("no parameter '%s' to remove", name) end
    local _ = self[name] -- a script holding it keeps a valid tensor
    own_records(k)
    apply_change(self, kind, name)
  elseif kind == "remove_module" then
    if not rawget(self, _m)[name] then err("no submodule '%s' to remove", name) end
    own_records(k)
    leave(rawget(self, _m)[name])
    apply_change(self, kind, name)
  elseif kind == "add_buffer" then
    own_records(k)
    apply_change(self, kind, name, value)
    record = {value = value}
  elseif kind == "remove_buffer" then
    if not rawget(self, _b)[name] then err("no buffer '%s' to remove", name) end
    own_records(k)
    apply_change(self, kind, name)
  end
  advance(k, kind, mid, name, record)
end

-- Replace parameter `name` by a Parameter of the same dtype and shape:
-- the assigned tensor takes over the slot of the flat storage (values of
-- the new tensor, identity of the new tensor), no new version.  The old
-- tensor, if a script holds it, gets storage of its own.
-- -> true when done in place
function V.replace_param(self, name, v)
  local p = rawget(self, _p)
  local k = rawget(self, _k)
  if not k then
    check_kernel(self, "change the structure of a module")
    if rawget(self, _kk) == nil then
      -- inside a constructor: the new tensor takes the old one's place
      p[name] = v
      return true
    end
  end
  if k.ver ~= k.species.ver then k:touch() end
  if rawget(self, _k) ~= k then return false end
  local pid = rawget(self, _s).pid[name]
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
      local t = no_grad(function() return ch.value.value:clone() end)
      local p = Parameter(t, ch.value.rg)
      apply_change(m, "add_param", ch.name, p, {pid = ch.value.pid})
      self.rg[ch.value.pid] = ch.value.rg
    elseif ch.kind == "add_module" then
      local sub = clone_tree_values(ch.value.value)
      -- the record's tree carries the ids of the species
      apply_change(m, "add_module", ch.name, sub, {mid = rawget(sub, _id)})
      set_kernel_tree(sub, self)
    elseif ch.kind == "add_buffer" then
      apply_change(m, "add_buffer", ch.name, ch.value.value)
    elseif ch.kind == "remove_module" then
      -- a script holding the removed subtree keeps valid, standalone modules
      leave(rawget(m, _m)[ch.name])
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
      if mm then rawset(mm, _s, info.s) end
    end
    self.oldlayout = v.layout
    self.ver = nv
    rebuild_flat(self)
  end
  return self
end

return V
