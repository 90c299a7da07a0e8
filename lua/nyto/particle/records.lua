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
local R = {}

-- the raw fields: a script may not assign them (module.lua's __newindex)
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
  return setmetatable({_s = R.new_s(), _p = {}, _m = {}, _b = {}, _f = {training = true}}, mt)
end

-- visit(m, prefix, s) for m and every submodule, in registration order
function R.each_named(self, prefix, visit)
  local s = rawget(self, "_s")
  visit(self, prefix, s)
  local ch = rawget(self, "_m")
  for _, cname in ipairs(s.mo) do
    R.each_named(ch[cname], prefix == "" and cname or prefix .. "." .. cname, visit)
  end
end

return R
