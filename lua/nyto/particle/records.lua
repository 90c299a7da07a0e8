-- nyto.particle.records: structure records, the raw fields of a module object.
--
-- A module object is a Lua table; every key below is raw, every user-visible
-- field goes through its metatable's __index/__newindex (lua/nyto/module.lua):
--   _s   the module's structure record: {po = {names}, pid = {name -> pid},
--        mo = {names}, mid = {name -> child mid}, bo = {names}}.  Shared by
--        every particle at the same species version (copy on write).
--   _p   name -> Parameter tensor (materialised lazily from the flat buffer)
--   _m   name -> child module          _b   name -> buffer tensor
--   _f   plain fields                  _id  module id (root = 1)
--   _k   the particle kernel (nil when a ParticleModule cleared it)
--   _kk  the kernel, kept for lazy parameter views and the ParticleModule
--
-- The raw fields are stored under private keys (tables that no script holds,
-- printed as their names), not under the strings "_s", "_p", ...: a script's
-- `net._p = 5` then reaches __newindex, which refuses the reserved names,
-- instead of overwriting the module's own record (issue 13, point 7).
-- Internal files take the keys as locals named like the fields:
--   local _s, _p, _m, _b, _f, _id, _k, _kk = require("nyto.particle.records").field_keys()
local R = {}

local function field_key(name) return setmetatable({}, {__tostring = function() return name end}) end
local KEYS = {field_key("_s"), field_key("_p"), field_key("_m"), field_key("_b"), field_key("_f"),
              field_key("_id"), field_key("_k"), field_key("_kk")}
function R.field_keys() return table.unpack(KEYS, 1, 8) end
local _s, _p, _m, _b, _f, _id, _k, _kk = R.field_keys()
-- a ParticleModule's raw fields: its root module and its kernel, read as
-- pm.root_module and pm.particle_kernel, never assigned by a script
local PM_KEYS = {field_key("root_module"), field_key("particle_kernel")}
function R.pm_keys() return PM_KEYS[1], PM_KEYS[2] end

-- the names of the raw fields: a script may not use them as field names (module.lua's __newindex)
R.RESERVED = {_s = true, _p = true, _m = true, _b = true, _f = true, _id = true, _k = true, _kk = true}

function R.new_s() return {po = {}, pid = {}, mo = {}, mid = {}, bo = {}} end

function R.copy_s(s)
  local n = R.new_s()
  for i, v in ipairs(s.po) do n.po[i] = v end
  for i, v in ipairs(s.mo) do n.mo[i] = v end
  for i, v in ipairs(s.bo) do n.bo[i] = v end
  for k, v in pairs(s.pid) do n.pid[k] = v end
  for k, v in pairs(s.mid) do n.mid[k] = v end
  return n
end

function R.remove_name(list, name)
  for i, v in ipairs(list) do if v == name then table.remove(list, i) return end end
end

function R.copy_table(t)
  local c = {}
  for key, v in pairs(t) do c[key] = v end
  return c
end

-- a blank module object of instance metatable mt (a constructor fills it)
function R.blank(mt)
  return setmetatable({[_s] = R.new_s(), [_p] = {}, [_m] = {}, [_b] = {}, [_f] = {training = true}}, mt)
end

-- visit(m, prefix, s) for m and every submodule, in registration order
function R.each_named(self, prefix, visit)
  local s = rawget(self, _s)
  visit(self, prefix, s)
  local ch = rawget(self, _m)
  for _, cname in ipairs(s.mo) do
    R.each_named(ch[cname], prefix == "" and cname or prefix .. "." .. cname, visit)
  end
end

return R
