-- nyto.plot{path=, series=, title=, xlabel=, ylabel=, logy=, width=, height=}: line charts to
-- PNG through gnuplot (Debian's gnuplot-nox, installed by scripts/bootstrap), as Torch7 had its
-- gnuplot package.
--
-- Safety: no user string reaches a shell.  The only shell commands are `command -v gnuplot`,
-- `mktemp -d` and gnuplot run on files of a private temporary directory (names made by mktemp,
-- quoted anyway).  Titles, labels and series names reach gnuplot as double-quoted strings in
-- which every byte but ASCII letters and spaces is an octal escape (control characters made
-- spaces), so the script holds no quote, backquote (command substitution), @ (macro) or $ of
-- theirs; noenhanced mode prints ^ _ { } as typed.  (Single quotes with a doubled quote are
-- not enough: gnuplot lexes a title of one quote, '''', as an empty string and fails.)  The data go through a
-- file of numbers written by string.format.  gnuplot draws into the temporary directory; the
-- PNG is then copied to `path` by Lua, so the path is never in the script either.  The
-- directory and its files are removed on every path out, errors included.
return function(nyto, core)
  local E = require "nyto.errors"
  local function err(fmt, ...)
    error(E.cut("nyto: bad argument #1 to 'plot' (" .. string.format(fmt, ...) .. ")"), 0)
  end

  local OPTIONS = {path = true, series = true, title = true, xlabel = true, ylabel = true,
                   logy = true, width = true, height = true}

  local function shell_quote(s) return "'" .. s:gsub("'", "'\\''") .. "'" end
  -- a gnuplot double-quoted string in which every byte but ASCII letters and spaces is an
  -- octal escape: no quote, backquote, @ or $ is left for gnuplot's lexer to act on.  Digits
  -- are escaped too: gnuplot reads "\0501" as one escape (\501), not "(" then "1".
  local function gp_quote(s)
    s = s:gsub("%c", " "):gsub("[^A-Za-z ]", function(c) return ("\\%03o"):format(c:byte()) end)
    return '"' .. s .. '"'
  end

  -- a list of numbers from a table of numbers or a 1-D real tensor; `what` names it in errors
  local function numbers(v, what)
    if nyto.is_tensor(v) then
      if v:dim() ~= 1 then err("%s must be a 1-D tensor, got %d dims", what, v:dim()) end
      if v:dtype() == "bool" then err("%s must be a real tensor, got bool", what) end
      return v:detach():double():totable()
    end
    if type(v) ~= "table" then err("%s must be a table of numbers or a 1-D tensor, got %s", what, nyto.type(v) or type(v)) end
    local n = #v
    for k in pairs(v) do
      if math.type(k) ~= "integer" or k < 1 or k > n then
        err("%s must be a list of numbers (key %s)", what, tostring(k))
      end
    end
    local out = {}
    for i = 1, n do
      if type(v[i]) ~= "number" then err("%s[%d] must be a number, got %s", what, i, type(v[i])) end
      out[i] = v[i]
    end
    return out
  end

  local function opt_string(opts, key)
    local v = opts[key]
    if v ~= nil and type(v) ~= "string" then err("%s must be a string, got %s", key, type(v)) end
    return v
  end

  local function finite(x) return x == x and x ~= math.huge and x ~= -math.huge end

  -- the checked arguments: {path, title, xlabel, ylabel, logy, width, height, series = {{name, x, y}}}
  local function check(opts)
    if type(opts) ~= "table" or nyto.is_tensor(opts) then err("table expected, got %s", nyto.type(opts) or type(opts)) end
    for k in pairs(opts) do
      if not OPTIONS[k] then err("unknown option '%s'", tostring(k)) end
    end
    local a = {}
    a.path = opts.path
    if type(a.path) ~= "string" then err("path must be a string, got %s", type(a.path)) end
    if a.path == "" then err("path must not be empty") end
    a.title, a.xlabel, a.ylabel = opt_string(opts, "title"), opt_string(opts, "xlabel"), opt_string(opts, "ylabel")
    a.logy = opts.logy
    if a.logy ~= nil and type(a.logy) ~= "boolean" then err("logy must be a boolean, got %s", type(a.logy)) end
    for _, key in ipairs {"width", "height"} do
      local v = opts[key]
      if v ~= nil and (math.type(v) ~= "integer" or v < 16 or v > 8192) then
        err("%s must be an integer in [16, 8192], got %s", key, tostring(v))
      end
      a[key] = v
    end
    local series = opts.series
    if type(series) ~= "table" or nyto.is_tensor(series) then
      err("series must be a list of {y = ...} tables, got %s", nyto.type(series) or type(series))
    end
    if #series == 0 then err("series must hold at least one series") end
    if #series > 64 then err("series must hold at most 64 series, got %d", #series) end
    a.series = {}
    for i = 1, #series do
      local s = series[i]
      if type(s) ~= "table" or nyto.is_tensor(s) then err("series[%d] must be a table, got %s", i, nyto.type(s) or type(s)) end
      for k in pairs(s) do
        if k ~= "name" and k ~= "x" and k ~= "y" then err("series[%d] has unknown key '%s'", i, tostring(k)) end
      end
      if s.name ~= nil and type(s.name) ~= "string" then err("series[%d].name must be a string, got %s", i, type(s.name)) end
      if s.y == nil then err("series[%d].y is missing", i) end
      local y = numbers(s.y, ("series[%d].y"):format(i))
      if #y == 0 then err("series[%d].y is empty", i) end
      local x
      if s.x ~= nil then
        x = numbers(s.x, ("series[%d].x"):format(i))
        if #x ~= #y then err("series[%d].x has %d values and y %d", i, #x, #y) end
      else
        x = {}
        for j = 1, #y do x[j] = j end
      end
      if a.logy then
        for j = 1, #y do
          if y[j] <= 0 then err("logy needs positive values: series[%d].y[%d] is %s", i, j, tostring(y[j])) end
        end
      end
      a.series[i] = {name = s.name, x = x, y = y}
    end
    return a
  end

  local function script(a, dir)
    local L = {}
    L[#L + 1] = ("set terminal pngcairo noenhanced size %d,%d"):format(a.width or 800, a.height or 500)
    L[#L + 1] = "set output " .. gp_quote(dir .. "/out.png")
    L[#L + 1] = "set grid"
    L[#L + 1] = "set key top right"
    if a.title then L[#L + 1] = "set title " .. gp_quote(a.title) end
    if a.xlabel then L[#L + 1] = "set xlabel " .. gp_quote(a.xlabel) end
    if a.ylabel then L[#L + 1] = "set ylabel " .. gp_quote(a.ylabel) end
    if a.logy then L[#L + 1] = "set logscale y" end
    local parts = {}
    for i, s in ipairs(a.series) do
      local title = s.name and ("title " .. gp_quote(s.name)) or (#a.series == 1 and "notitle" or ("title 'series %d'"):format(i))
      parts[i] = ("%s index %d using 1:2 with lines linewidth 2 %s"):format(i == 1 and gp_quote(dir .. "/data") or "''", i - 1, title)
    end
    L[#L + 1] = "plot " .. table.concat(parts, ", ")
    return table.concat(L, "\n") .. "\n"
  end

  local function data(a)
    local out = {}
    for i, s in ipairs(a.series) do
      if i > 1 then out[#out + 1] = "\n\n" end -- two blank lines: the next gnuplot index
      local any = false
      for j = 1, #s.y do
        local x, y = s.x[j], s.y[j]
        if finite(x) and finite(y) then -- a NaN or infinite point is left out
          out[#out + 1] = ("%.17g %.17g\n"):format(x, y)
          any = true
        end
      end
      -- a series with no finite point: one undefined row, so its index exists
      if not any then out[#out + 1] = "NaN NaN\n" end
    end
    return table.concat(out)
  end

  local function write(path, bytes)
    local f, e = io.open(path, "wb")
    if not f then return nil, e end
    local ok, e2 = f:write(bytes)
    local ok2, e3 = f:close()
    if not ok then return nil, e2 end
    if not ok2 then return nil, e3 end
    return true
  end

  local function fail(fmt, ...) return nil, E.cut("nyto: plot: " .. string.format(fmt, ...)) end

  -- draws into dir; returns true or nil, message
  local function draw(a, dir)
    local ok, e = write(dir .. "/data", data(a))
    if not ok then return fail("cannot write its data file (%s)", e) end
    ok, e = write(dir .. "/plot.gp", script(a, dir))
    if not ok then return fail("cannot write its gnuplot script (%s)", e) end
    local q = shell_quote(dir)
    local rc = os.execute("gnuplot " .. q .. "/plot.gp >/dev/null 2>" .. q .. "/stderr </dev/null")
    local f = io.open(dir .. "/stderr", "rb")
    local msg = f and f:read("a") or ""
    if f then f:close() end
    msg = msg:gsub("%s+$", "")
    if not rc then return fail("gnuplot failed: %s", msg ~= "" and msg or "no message") end
    f = io.open(dir .. "/out.png", "rb")
    local png = f and f:read("a")
    if f then f:close() end
    if not png or #png < 8 or png:sub(1, 8) ~= "\137PNG\r\n\26\n" then
      return fail("gnuplot wrote no PNG%s", msg ~= "" and (": " .. msg) or "")
    end
    ok, e = write(a.path, png)
    if not ok then return fail("cannot write %s", e) end
    return true
  end

  function nyto.plot(opts)
    local a = check(opts)
    local p = io.popen("command -v gnuplot 2>/dev/null")
    local where = p and p:read("a") or ""
    if p then p:close() end
    if not where:match("%S") then
      return fail("gnuplot is not installed (Debian package gnuplot-nox), so no plot was drawn")
    end
    p = io.popen("mktemp -d 2>/dev/null")
    local dir = p and p:read("a") or ""
    if p then p:close() end
    dir = dir:gsub("%s+$", "")
    if dir == "" or dir:find("%c") then return fail("cannot make a temporary directory (mktemp -d)") end
    local r = table.pack(pcall(draw, a, dir))
    for _, name in ipairs {"data", "plot.gp", "stderr", "out.png"} do os.remove(dir .. "/" .. name) end
    os.remove(dir)
    if not r[1] then return fail("%s", tostring(r[2])) end
    if not r[2] then return nil, r[3] end
    return true
  end
end
