-- nyto.serialize: nyto.save(value, path) / nyto.load(path) (API.md "Saving
-- and loading").  The format follows the extension: .safetensors (the
-- safetensors library's format; the structure of a nested value is kept in
-- __metadata__["nyto"]) or .pt (torch.save's zip format, through libtorch's
-- torch::pickle_save / torch::pickle_load).  The files are written by
-- src/core/save.c, atomically (a temporary in the same folder, fsynced, renamed).
return function(nyto, core)
  local argerr = require("nyto.errors").argerr

  local function format_of(path, fname)
    if type(path) ~= "string" then argerr(fname == "save" and 2 or 1, fname, "string path expected, got " .. type(path)) end
    if path:match("%.safetensors$") then return "safetensors" end
    if path:match("%.pt$") or path:match("%.pth$") then return "pt" end
    argerr(fname == "save" and 2 or 1, fname, "path must end in .safetensors or .pt, got " .. ("%q"):format(path))
  end

  -- The value to write: modules, particles, ParticleModules and optimizers
  -- become their state dicts; tensors are made contiguous (a copy only when
  -- they are not); cycles and unsaveable values raise, naming where.
  local function plain(v, where, seen)
    local tv = type(v)
    if tv == "number" or tv == "string" or tv == "boolean" then return v end
    if nyto.is_tensor(v) then return v:is_contiguous() and v or v:contiguous() end
    if (tv == "table" or tv == "userdata") and getmetatable(v) ~= nil then
      local ok, sd = pcall(function() return v.state_dict end)
      if ok and type(sd) == "function" then return plain(v:state_dict(), where, seen) end
      if tv == "userdata" then argerr(1, "save", "cannot save a " .. (nyto.type(v) or "userdata") .. " at " .. where) end
    end
    if tv ~= "table" then argerr(1, "save", "cannot save a " .. tv .. " at " .. where) end
    if seen[v] then argerr(1, "save", "the table at " .. where .. " contains itself") end
    seen[v] = true
    local out = {}
    for k, x in pairs(v) do
      local tk = type(k)
      if not (tk == "string" or math.type(k) == "integer") then
        argerr(1, "save", "a " .. (math.type(k) or tk) .. " key at " .. where .. " (keys are strings or integers)")
      end
      out[k] = plain(x, where .. "." .. tostring(k), seen)
    end
    seen[v] = nil
    return out
  end

  -- ---- .safetensors: tensors under names, the rest as tokens ----
  -- The structure is a flat JSON array of tokens in prefix order:
  --   "{n"  a table of n entries, each a key token then a value's tokens;
  --   "s..." a string, "x<hex>" a string that is not UTF-8 text (or has a NUL),
  --   "i<n>" an integer, "f<%a>" a float, true / false, "t<name>" a tensor.
  local function str_token(s)
    if utf8.len(s) and not s:find("\0", 1, true) then return "s" .. s end
    return "x" .. s:gsub(".", function(c) return ("%02x"):format(c:byte()) end)
  end
  local function num_token(n)
    if math.type(n) == "integer" then return "i" .. n end
    if n ~= n then return "fnan" end
    if n == math.huge then return "finf" end
    if n == -math.huge then return "f-inf" end
    return "f" .. ("%a"):format(n)
  end

  local function flat_tensors(v)
    if type(v) ~= "table" then return false end
    local n = 0
    for k, x in pairs(v) do
      if type(k) ~= "string" or not nyto.is_tensor(x) or k == "__metadata__" then return false end
      n = n + 1
    end
    return n > 0
  end

  local function sorted_keys(t)
    local ks = {}
    for k in pairs(t) do ks[#ks + 1] = k end
    table.sort(ks, function(a, b)
      local ta, tb = type(a), type(b)
      if ta ~= tb then return ta == "number" end
      return a < b
    end)
    return ks
  end

  local function st_save(value, path)
    local names, tensors, used = {}, {}, {}
    local function add(name, t)
      if used[name] or name == "__metadata__" then
        local k = 2
        while used[name .. "#" .. k] do k = k + 1 end
        name = name .. "#" .. k
      end
      used[name] = true
      names[#names + 1], tensors[#tensors + 1] = name, t
      return name
    end
    local tokens = {}
    local function walk(v, prefix)
      if nyto.is_tensor(v) then
        tokens[#tokens + 1] = "t" .. add(prefix == "" and "tensor" or prefix, v)
      elseif type(v) == "table" then
        local ks = sorted_keys(v)
        tokens[#tokens + 1] = "{" .. #ks
        for _, k in ipairs(ks) do
          tokens[#tokens + 1] = type(k) == "string" and str_token(k) or num_token(k)
          walk(v[k], prefix == "" and tostring(k) or prefix .. "." .. tostring(k))
        end
      elseif type(v) == "string" then tokens[#tokens + 1] = str_token(v)
      elseif type(v) == "number" then tokens[#tokens + 1] = num_token(v)
      else tokens[#tokens + 1] = v end
    end
    if flat_tensors(value) then
      -- a flat string-keyed table of tensors: stored under exactly those names
      local ks = sorted_keys(value)
      tokens[1] = "{" .. #ks
      for _, k in ipairs(ks) do
        tokens[#tokens + 1] = str_token(k)
        tokens[#tokens + 1] = "t" .. k
        names[#names + 1], tensors[#tensors + 1] = k, value[k]
      end
    else
      walk(value, "")
    end
    return core.st_save(path, names, tensors, {"nyto", core.json_array(tokens), "format", "pt"})
  end

  local function st_rebuild(path, names, tensors, meta)
    local byname = {}
    for i, n in ipairs(names) do byname[n] = tensors[i] end
    local s = meta.nyto
    if s == nil then return byname end -- another writer's file: its tensors by name
    local tokens = core.json_decode(s)
    local function bad(what) error(("nyto: %s: bad structure in __metadata__ (%s)"):format(path, what), 0) end
    if type(tokens) ~= "table" then bad("not a JSON array") end
    local i, ntok = 0, #tokens
    local function scalar(tok)
      if type(tok) == "boolean" then return tok end
      if type(tok) ~= "string" then bad("token " .. i .. " is not a string") end
      local c, rest = tok:sub(1, 1), tok:sub(2)
      if c == "s" then return rest end
      if c == "x" then
        if #rest % 2 ~= 0 or rest:find("[^0-9a-f]") then bad("token " .. i .. " is not hex") end
        return (rest:gsub("..", function(h) return string.char(tonumber(h, 16)) end))
      end
      if c == "i" then return math.tointeger(tonumber(rest)) or bad("token " .. i .. " is not an integer") end
      if c == "f" then
        if rest == "nan" then return 0 / 0 elseif rest == "inf" then return math.huge
        elseif rest == "-inf" then return -math.huge end
        local x = tonumber(rest)
        return x and x + 0.0 or bad("token " .. i .. " is not a number")
      end
      if c == "t" then return byname[rest] or bad("no tensor named " .. ("%q"):format(rest)) end
      bad("token " .. i .. " is unknown")
    end
    local function value(depth)
      i = i + 1
      if i > ntok then bad("it ends early") end
      if depth > 200 then bad("nested too deeply") end
      local tok = tokens[i]
      if type(tok) == "string" and tok:sub(1, 1) == "{" then
        local n = math.tointeger(tonumber(tok:sub(2)))
        if not n or n < 0 or n > ntok then bad("token " .. i .. " is a bad table size") end
        local t = {}
        for _ = 1, n do
          local k = value(depth + 1)
          if type(k) ~= "string" and math.type(k) ~= "integer" then bad("a key is not a string or an integer") end
          t[k] = value(depth + 1)
        end
        return t
      end
      return scalar(tok)
    end
    local v = value(0)
    if i ~= ntok then bad("tokens left after the value") end
    return v
  end

  function nyto.save(value, path)
    local fmt = format_of(path, "save")
    local v = plain(value, "the value", {})
    if fmt == "pt" then return core.pt_save(path, v) end
    return st_save(v, path)
  end

  function nyto.load(path)
    local fmt = format_of(path, "load")
    if fmt == "pt" then return core.pt_load(path) end
    local names, tensors, meta = core.st_load(path)
    if names == nil then return nil, tensors end
    return st_rebuild(path, names, tensors, meta)
  end

  -- The CPU generator's state (a string), for checkpoints.
  nyto.rng_state = core.rng_state
  nyto.set_rng_state = core.set_rng_state
end
