-- nyto.errors: the one place where nyto's Lua files make their errors and
-- warnings (issue 12).  Every message starts with "nyto: "; user strings are
-- cut to 400 characters; a type is named by nyto.type (or Lua's type).
-- Internal: `local E = require "nyto.errors"`; nothing here is on the public
-- nyto table except what init.lua/tensor.lua expose (nyto.type, nyto.on_warning).
local E = {}

local format = string.format

-- the short type name of a nyto object ("Tensor", "Module", ...), or nil;
-- decided by one field, the metatable's __name ("nyto.<kind>"); never raises.
-- Every particle operation asks it of its operands: the answer is kept per
-- metatable (a class cannot change its instances' __name, lua/nyto/class.lua)
local kinds = setmetatable({}, {__mode = "k"}) -- metatable -> kind, or false
function E.type_of(x)
  local m = getmetatable(x)
  if m == nil then return nil end
  local k = kinds[m]
  if k ~= nil then return k or nil end
  k = false
  if type(m) == "table" then
    local n = rawget(m, "__name")
    if type(n) == "string" and n:sub(1, 5) == "nyto." then k = n:sub(6) end
    kinds[m] = k
  end
  return k or nil
end
local type_of = E.type_of

-- the type of a value as messages say it: nyto's name, else Lua's
function E.typename(v) return type_of(v) or type(v) end

-- an error message of at most 400 characters: user strings (a 10,000-character
-- dtype, ...) are not echoed in full
function E.cut(msg)
  if type(msg) == "string" and #msg > 400 then return msg:sub(1, 380) .. "... (message cut)" end
  return msg
end
local cut = E.cut

-- err(fmt, ...): raise "nyto: <formatted>" (no position)
function E.err(fmt, ...) error(cut("nyto: " .. format(fmt, ...)), 0) end

-- err_at(level, fmt, ...): the same with the position of a caller (timeit)
function E.err_at(level, fmt, ...) error(cut("nyto: " .. format(fmt, ...)), level + 1) end

-- argerr(i, fname, msg): "nyto: bad argument #i to 'fname' (msg)"
function E.argerr(i, fname, msg)
  error(cut(format("nyto: bad argument #%d to '%s' (%s)", i, fname, msg)), 0)
end

-- raise a message already formatted (it must start with "nyto: ")
function E.raise(msg) error(cut(msg), 0) end

-- check_type(v, "table"|"function"|..., i, fname): Lua type checks with the usual message
function E.check_type(v, want, i, fname)
  if type(v) ~= want then E.argerr(i, fname, format("%s expected, got %s", want, type(v))) end
  return v
end

-- warnings ------------------------------------------------------------------
local warn_fn = nil
-- nyto.on_warning(fn): fn(message) receives nyto's warnings (nil: Lua's warn)
function E.on_warning(fn)
  if fn ~= nil and type(fn) ~= "function" then
    E.err("bad argument #1 to 'on_warning' (function or nil expected, got %s)", type(fn))
  end
  warn_fn = fn
end
function E.warn(msg)
  msg = "nyto: " .. msg
  if warn_fn then warn_fn(msg) else warn("@on"); warn(msg) end
end
-- once-per-process warnings (batched_forward's): key -> true; specs reset them
local warned = {}
function E.warn_once(key, msg)
  if warned[key] then return end
  warned[key] = true
  E.warn(msg)
end
function E.reset_warnings() warned = {} end

-- pcall(fn, ...) that refuses a yield: fn runs in a coroutine of its own, so
-- control always comes back here and the caller can restore the gradient mode
-- on every path (a yield out of a pcall in the script's coroutine, never
-- resumed, would leave recording off for good).
function E.pcall_noyield(fn, ...)
  local co = coroutine.create(fn)
  local res = table.pack(coroutine.resume(co, ...))
  if res[1] and coroutine.status(co) ~= "dead" then
    coroutine.close(co)
    return false, "nyto: a callback of no_grad, unary_operator or binary_operator yielded: yields across them are refused"
  end
  return table.unpack(res, 1, res.n)
end

return E
