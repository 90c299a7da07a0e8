-- nyto.repl: the REPL of the nyto program (src/cli/nyto.c reads the lines and
-- drives it; scripts never load this file).  R.eval(code) runs a chunk and
-- prints its values, or answers "more" while the chunk is incomplete;
-- R.complete(word) lists completions for readline; help(x) is a global.
local _s, _p, _m, _b, _f, _id, _k, _kk = require("nyto.particle.records").field_keys()
local nyto = require "nyto"
local R = {}

R.traceback = debug.traceback -- replaced by the program's filtering handler
R.depth, R.width = 2, 20      -- pretty printing: nesting depth and entries shown

-- printing ------------------------------------------------------------------------
local function is_ident(k) return type(k) == "string" and k:match("^[%a_][%w_]*$") ~= nil end

local function has_tostring(v)
  local mt = getmetatable(v)
  return type(mt) == "table" and rawget(mt, "__tostring") ~= nil
end

local function key_str(k)
  if is_ident(k) then return k end
  if type(k) == "string" then return "[" .. string.format("%q", k) .. "]" end
  return "[" .. tostring(k) .. "]"
end

local function indent(s, pad) return (s:gsub("\n", "\n" .. pad)) end

local function pretty(v, depth, seen)
  local tv = type(v)
  if tv == "string" then return depth == 0 and v or string.format("%q", v) end
  if tv ~= "table" or has_tostring(v) then
    local ok, s = pcall(tostring, v)
    return ok and s or ("<" .. tv .. ": tostring failed>")
  end
  if seen[v] then return "<cycle " .. tostring(v) .. ">" end
  -- a list of numbers (sizes, strides): [3, 7]
  local n = #v
  local count = 0
  for _ in next, v do count = count + 1 end
  if count == 0 then return "{}" end
  if n == count then
    local nums = true
    for i = 1, n do if type(v[i]) ~= "number" then nums = false break end end
    if nums then
      local parts = {}
      for i = 1, math.min(n, R.width * 4) do parts[i] = tostring(v[i]) end
      if n > R.width * 4 then parts[#parts + 1] = "..." end
      return "[" .. table.concat(parts, ", ") .. "]"
    end
  end
  if depth >= R.depth then return "{...} (" .. count .. " entries)" end
  seen[v] = true
  local keys = {}
  for k in next, v do keys[#keys + 1] = k end
  table.sort(keys, function(a, b)
    local ta, tb = type(a), type(b)
    if ta == "number" and tb == "number" then return a < b end
    if ta == "number" then return true end
    if tb == "number" then return false end
    return tostring(a) < tostring(b)
  end)
  local items, multiline, width = {}, false, 0
  for i = 1, math.min(#keys, R.width) do
    local k = keys[i]
    local s = pretty(v[k], depth + 1, seen)
    if has_tostring(v[k]) or type(v[k]) == "userdata" then multiline = true end -- tensors, modules: one per line
    local item = (math.type(k) == "integer" and k >= 1 and k <= n) and s or (key_str(k) .. " = " .. s)
    if item:find("\n") then multiline = true end
    width = width + #item + 2
    items[i] = item
  end
  if #keys > R.width then items[#items + 1] = "... (" .. (#keys - R.width) .. " more)" end
  seen[v] = nil
  if not multiline and width < 72 then return "{" .. table.concat(items, ", ") .. "}" end
  local lines = {}
  for i, item in ipairs(items) do lines[i] = "  " .. indent(item, "  ") .. "," end
  return "{\n" .. table.concat(lines, "\n") .. "\n}"
end
R.pretty = function(v) return pretty(v, 0, {}) end

local function print_values(n, ...)
  local parts = {}
  for i = 1, n do
    local v = select(i, ...)
    parts[i] = type(v) == "string" and v or pretty(v, 0, {})
  end
  io.write(table.concat(parts, "\t"), "\n")
  io.flush()
end

-- evaluation ----------------------------------------------------------------------
local function incomplete(msg) return type(msg) == "string" and msg:sub(-5) == "<eof>" end

-- as a `return` first (to print values), then as a statement; "<eof>" when either form
-- could still be completed by more lines
local function compile(code)
  local fn, rmsg = load("return " .. code, "=stdin", "t")
  if fn then return fn end
  local msg
  fn, msg = load(code, "=stdin", "t")
  if fn then return fn end
  if incomplete(rmsg) and not incomplete(msg) then return nil, rmsg end
  return nil, msg
end

local function report(msg)
  io.stderr:write(tostring(msg), "\n")
  io.stderr:flush()
end

local function run(fn)
  local r = table.pack(xpcall(fn, R.traceback))
  if not r[1] then report(r[2]) return end
  if r.n > 1 then print_values(r.n - 1, table.unpack(r, 2, r.n)) end
end

--- Run one chunk typed at the prompt.  Returns "more" when it is incomplete.
function R.eval(code)
  if code:match("^%s*$") then return end
  local timed = code:match("^%s*%%time%s+(.*)$")
  if code:match("^%s*%%time%s*$") then report("usage: %time expr-or-statement") return end
  local src = timed or code
  src = src:gsub("^%s*=", "", 1) -- `= expr`, as Lua 5.1-5.3's REPL
  local fn, msg = compile(src)
  if not fn then
    if incomplete(msg) then return "more" end
    report(msg)
    return
  end
  if not timed then return run(fn) end
  local clock = nyto.core.clock
  local t0 = clock()
  local r = table.pack(xpcall(fn, R.traceback))
  local dt = clock() - t0
  if not r[1] then report(r[2]) return end
  if r.n > 1 then print_values(r.n - 1, table.unpack(r, 2, r.n)) end
  print("time: " .. require("nyto.timeit").fmt_time(dt))
end

-- completion ----------------------------------------------------------------------
-- lazy submodules of nyto (init.lua's `lazy` table), listed without loading them
local function lazy_names()
  local mt = getmetatable(nyto)
  local f = mt and rawget(mt, "__index")
  if type(f) ~= "function" then return {} end
  for i = 1, 10 do
    local name, v = debug.getupvalue(f, i)
    if name == nil then break end
    if name == "lazy" and type(v) == "table" then return v end
  end
  return {}
end

local function add_keys(out, t)
  if type(t) ~= "table" then return end
  for k in next, t do if is_ident(k) then out[k] = true end end
end

-- the names a value answers to: its own fields, its class chain, its metatable's __index
local function fields(v, methods_only)
  local out, seen = {}, {}
  local function walk_index(t, depth)
    if type(t) ~= "table" or seen[t] or depth > 20 then return end
    seen[t] = true
    add_keys(out, t)
    local mt = getmetatable(t)
    if type(mt) == "table" then
      walk_index(rawget(mt, "__index"), depth + 1)
      local parent = rawget(t, "__parent")
      if parent then walk_index(parent, depth + 1) end
    end
  end
  if type(v) == "table" then
    if not methods_only then add_keys(out, v) end
    if v == nyto then for k in next, lazy_names() do if is_ident(k) then out[k] = true end end end
    for _, f in ipairs {_p, _m, _b, _f} do
      local t = rawget(v, f)
      if type(t) == "table" and not methods_only then add_keys(out, t) end
    end
    local s = rawget(v, _s)
    if type(s) == "table" and type(s.pid) == "table" and not methods_only then add_keys(out, s.pid) end
    if rawget(v, "__imt") then walk_index(v, 0) end -- a class: its chain
  end
  local mt = getmetatable(v)
  if type(mt) == "table" then
    local cls = rawget(mt, "__class")
    if cls then walk_index(cls, 0) end
    walk_index(rawget(mt, "__index"), 0)
  end
  if type(v) == "string" then walk_index(string, 0) end
  if type(v) == "userdata" and nyto.type(v) == "Tensor" then -- __index is a function: its methods table
    walk_index(nyto.core.Tensor_methods, 0)
    if not methods_only then out.grad = true end
  end
  local list = {}
  for k in pairs(out) do
    if not k:match("^__") then list[#list + 1] = k end
  end
  return list
end

local KEYWORDS = {"and", "break", "do", "else", "elseif", "end", "false", "for", "function",
  "goto", "if", "in", "local", "nil", "not", "or", "repeat", "return", "then", "true", "until", "while"}

local function safe_get(t, k)
  if type(t) ~= "table" and type(t) ~= "userdata" then return nil end
  if t == nyto and rawget(nyto, k) == nil and lazy_names()[k] == nil then return nil end
  local ok, v = pcall(function() return t[k] end)
  if ok then return v end
end

--- Completions of `word` (e.g. "nyto.ran", "x:si", "pri"): a sorted list of whole words.
function R.complete(word)
  local ok, list = pcall(function()
    local base, sep, part = word:match("^(.*)([%.:])([%w_]*)$")
    local cands, prefix = {}, ""
    if base then
      if not base:match("^[%a_][%w_]*[%w_%.]*$") or base:find("%.%.") then return {} end
      local v = _G
      for name in base:gmatch("[^%.]+") do
        v = safe_get(v, name)
        if v == nil then return {} end
      end
      cands, prefix = fields(v, sep == ":"), base .. sep
    else
      part = word
      if not part:match("^[%w_]*$") then return {} end
      cands = fields(_G)
      for _, k in ipairs(KEYWORDS) do cands[#cands + 1] = k end
    end
    local res = {}
    for _, k in ipairs(cands) do
      if k:sub(1, #part) == part then res[#res + 1] = prefix .. k end
    end
    table.sort(res)
    return res
  end)
  if ok and type(list) == "table" then return list end
  return {}
end

-- help ------------------------------------------------------------------------------
_G.help = function(...) return require("nyto.help").help(...) end

return R
