-- nyto.class: classes of nyto objects (Module, ParticleModule, PMProduct and
-- the classes scripts derive from them with nyto.class), method lookup, and
-- the one copy of metamethod inheritance (issue 12).
--
-- A class is a table of methods with:
--   __classname   its name ("Linear")
--   __parent      the class it extends (nil for a base class)
--   __imt         the metatable of its instances, made by the base class's
--                 __make_imt(cls, parent)
-- A method is found by walking __parent (lookup); an instance metatable holds
-- its own metamethods plus those of its ancestors' instance metatables that
-- it lacks (inherit_metamethods), and a metamethod defined on a class later
-- (MyClass.__gc = f) reaches its instance metatable too.
--
-- What a nyto object is, is decided by one field: its metatable's __name
-- ("nyto.Module", "nyto.Product", ...), read by kind() (nyto.type).
local E = require "nyto.errors"

local C = {}

C.kind = E.type_of

function C.lookup(cls, k)
  while cls do
    local v = rawget(cls, k)
    if v ~= nil then return v end
    cls = rawget(cls, "__parent")
  end
end
local lookup = C.lookup

-- the metamethods (__gc, __add, ...) of parent's chain that mt lacks
function C.inherit_metamethods(mt, parent)
  local c = parent
  while c do
    local pm = rawget(c, "__imt")
    if pm then
      for k, v in pairs(pm) do if mt[k] == nil then mt[k] = v end end
    end
    c = rawget(c, "__parent")
  end
  return mt
end

-- fields of an instance metatable a class may not redefine: the type (__name)
-- and the field protocol
local KEEP = {__index = true, __newindex = true, __name = true}

-- metamethods defined on the class (__gc, __tostring, ...) go to the instance metatable
local function class_newindex(c, k, v)
  rawset(c, k, v)
  if type(k) == "string" and k:sub(1, 2) == "__" and not KEEP[k] then
    rawset(c.__imt, k, v)
  end
end

-- a base class: instances get make_imt(cls, parent)'s metatables; the class is
-- callable (cls(...) is cls.__construct(cls, ...)) and printable
function C.base_class(cls, make_imt)
  cls.__make_imt = make_imt
  cls.__imt = make_imt(cls, nil)
  local name = cls.__classname
  return setmetatable(cls, {
    __call = function(c, ...) return c.__construct(c, ...) end,
    __tostring = function() return "class " .. name end,
    __newindex = class_newindex,
  })
end

-- nyto.class(name [, parent]): parent defaults to `default` (nyto.Module)
function C.class(name, parent, default)
  if type(name) ~= "string" then E.err("bad argument #1 to 'class' (string expected, got %s)", type(name)) end
  parent = parent or default
  if type(parent) ~= "table" or not rawget(parent, "__imt") then
    E.err("bad argument #2 to 'class' (a nyto class expected, got %s)", type(parent))
  end
  local cls = {__classname = name, __parent = parent}
  cls.__imt = lookup(parent, "__make_imt")(cls, parent)
  return setmetatable(cls, {
    __index = parent,
    __call = function(c, ...) return c.__construct(c, ...) end,
    __tostring = function() return "class " .. name end,
    __newindex = class_newindex,
  })
end

function C.is_class(x) return type(x) == "table" and rawget(x, "__imt") ~= nil end

return C
