-- nyto.plot: line charts to PNG through gnuplot.  The PNG is checked by its signature and its
-- IHDR chunk (width, height); what it draws is checked against gnuplot run by hand on a script
-- and a data file written here, independently of nyto.  The failure paths run the nyto program
-- with a PATH without gnuplot, or with a fake gnuplot, and a TMPDIR of their own, which must be
-- empty afterwards (no temporary file left behind).
local nyto = require "nyto"

local H = require "helpers"
local run = H.run

local function slurp(path)
  local f = io.open(path, "rb")
  if not f then return nil end
  local s = f:read("a")
  f:close()
  return s
end

local function be32(s, i) return ((s:byte(i) * 256 + s:byte(i + 1)) * 256 + s:byte(i + 2)) * 256 + s:byte(i + 3) end

-- signature, then the IHDR chunk first: length 13, "IHDR", width, height
local function png_size(bytes)
  assert.is_string(bytes)
  assert.equal("\137PNG\r\n\26\n", bytes:sub(1, 8))
  assert.equal("IHDR", bytes:sub(13, 16))
  return be32(bytes, 17), be32(bytes, 21)
end

local function tmpdir()
  local p = assert(io.popen("mktemp -d"))
  local d = p:read("a"):gsub("%s+$", "")
  p:close()
  return d
end

local function ls(dir)
  local p = assert(io.popen("ls -A '" .. dir .. "'"))
  local s = p:read("a")
  p:close()
  return s
end

local function rm_rf(dir) os.execute("rm -rf '" .. dir .. "'") end

local NYTO = (os.getenv("PWD") or ".") .. "/build/nyto"

describe("nyto.plot", function()
  local dir
  before_each(function() dir = tmpdir() end)
  after_each(function() rm_rf(dir) end)

  it("writes a PNG of the asked size, from tables and tensors", function()
    local path = dir .. "/fit.png"
    local ok, msg = nyto.plot {path = path, title = "fitness", xlabel = "generation", ylabel = "f",
                               width = 640, height = 400, logy = true,
                               series = {{name = "best", y = {10, 5, 2, 1, 0.5}},
                                         {name = "mean", y = nyto.tensor {20, 10, 8, 3, 2}, x = nyto.arange(1, 6)}}}
    assert.is_true(ok, msg)
    assert.is_nil(msg)
    local png = slurp(path)
    assert.is_true(#png > 1000)
    local w, h = png_size(png)
    assert.equal(640, w)
    assert.equal(400, h)
    local ok2 = nyto.plot {path = dir .. "/default.png", series = {{y = {1, 2, 3}}}}
    assert.is_true(ok2)
    w, h = png_size(slurp(dir .. "/default.png"))
    assert.equal(800, w)
    assert.equal(500, h)
  end)

  it("draws what gnuplot draws of the same points (an independent script)", function()
    -- the same picture by hand: gnuplot on a data file and a script written here
    local y = {3, 1, 4, 1, 5, 9, 2, 6}
    local f = assert(io.open(dir .. "/hand.dat", "w"))
    for i, v in ipairs(y) do f:write(i, " ", v, "\n") end
    f:close()
    f = assert(io.open(dir .. "/hand.gp", "w"))
    f:write("set terminal pngcairo noenhanced size 320,200\n",
            "set output '", dir, "/hand.png'\n",
            "set grid\nset key top right\nset title 'pi'\n",
            "plot '", dir, "/hand.dat' index 0 using 1:2 with lines linewidth 2 title 'digits'\n")
    f:close()
    assert.is_true(os.execute("gnuplot '" .. dir .. "/hand.gp'"))
    local hand = slurp(dir .. "/hand.png")
    assert.is_true(nyto.plot {path = dir .. "/a.png", title = "pi", width = 320, height = 200,
                              series = {{name = "digits", y = y}}})
    assert.equal(hand, slurp(dir .. "/a.png"))
    -- a float64 tensor with explicit x is the same picture; other values are not
    assert.is_true(nyto.plot {path = dir .. "/b.png", title = "pi", width = 320, height = 200,
                              series = {{name = "digits", y = nyto.tensor(y, {dtype = "float64"}), x = {1, 2, 3, 4, 5, 6, 7, 8}}}})
    assert.equal(hand, slurp(dir .. "/b.png"))
    y[3] = 7
    assert.is_true(nyto.plot {path = dir .. "/c.png", title = "pi", width = 320, height = 200,
                              series = {{name = "digits", y = y}}})
    assert.are_not.equal(hand, slurp(dir .. "/c.png"))
  end)

  it("prints titles and names as typed: digits after escapes, quotes, UTF-8 (against gnuplot by hand)", function()
    local title = "MLP (10000 images), it's 5% \"x\" 2^3 \195\169t\195\169 a_b {c}"
    local f = assert(io.open(dir .. "/hand.gp", "w"))
    f:write("set terminal pngcairo noenhanced size 480,240\n",
            "set output '", dir, "/hand.png'\n",
            "set grid\nset key top right\n",
            "set title '", title:gsub("'", "''"), "'\n",
            "set xlabel '0.5'\n",
            "plot '-' using 1:2 with lines linewidth 2 title '7 (b)'\n1 2\n2 1\ne\n")
    f:close()
    assert.is_true(os.execute("gnuplot '" .. dir .. "/hand.gp'"))
    assert.is_true(nyto.plot {path = dir .. "/t.png", title = title, xlabel = "0.5", width = 480, height = 240,
                              series = {{name = "7 (b)", y = {2, 1}}}})
    assert.equal(slurp(dir .. "/hand.png"), slurp(dir .. "/t.png"))
  end)

  it("leaves NaN and infinite points out", function()
    local y = {1, 0 / 0, 3, math.huge, 5}
    assert.is_true(nyto.plot {path = dir .. "/nan.png", width = 320, height = 200, series = {{y = y}}})
    assert.is_true(nyto.plot {path = dir .. "/clean.png", width = 320, height = 200,
                              series = {{y = {1, 3, 5}, x = {1, 3, 5}}}})
    assert.equal(slurp(dir .. "/clean.png"), slurp(dir .. "/nan.png"))
  end)

  it("passes titles and names to gnuplot as quoted strings, never as commands", function()
    local marker = dir .. "/pwned"
    local hostile = "it's `touch " .. marker .. "` '\nset output '" .. marker .. "'\n@x $y ^_{z}"
    assert.is_true(nyto.plot {path = dir .. "/q.png", title = hostile, xlabel = hostile, ylabel = hostile,
                              series = {{name = hostile, y = {1, 2}}, {name = "'", y = {2, 1}}}})
    png_size(slurp(dir .. "/q.png"))
    assert.is_nil(slurp(marker))
    -- a path with quotes and spaces is a file name like any other
    local odd = dir .. "/a 'b` $(c).png"
    assert.is_true(nyto.plot {path = odd, series = {{y = {1, 2}}}})
    png_size(slurp(odd))
  end)

  it("returns nil and a message when the PNG cannot be written", function()
    local ok, msg = nyto.plot {path = dir .. "/no/such/dir/x.png", series = {{y = {1, 2}}}}
    assert.is_nil(ok)
    assert.equal("nyto: plot: cannot write " .. dir .. "/no/such/dir/x.png: No such file or directory", msg)
  end)

  it("returns nil and a message when gnuplot is missing, and leaves no file", function()
    local tmp, out = dir .. "/tmp", dir .. "/out.png"
    os.execute("mkdir '" .. tmp .. "'")
    local r = run(("env PATH=/nonexistent TMPDIR='%s' '%s' -e 'print(nyto.plot{path=%q, series={{y={1,2}}}})' 2>&1")
      :format(tmp, NYTO, out))
    assert.equal("nil\tnyto: plot: gnuplot is not installed (Debian package gnuplot-nox), so no plot was drawn\n", r)
    assert.is_nil(slurp(out))
    assert.equal("", ls(tmp))
  end)

  it("returns gnuplot's message when it fails, and leaves no temporary file", function()
    local bin, tmp, out, seen = dir .. "/bin", dir .. "/tmp", dir .. "/out.png", dir .. "/seen"
    os.execute(("mkdir '%s' '%s'"):format(bin, tmp))
    local function fake(body)
      local f = assert(io.open(bin .. "/gnuplot", "w"))
      f:write("#!/bin/sh\necho \"$1\" >> '", seen, "'\n", body, "\n")
      f:close()
      os.execute("chmod +x '" .. bin .. "/gnuplot'")
    end
    local cmd = ("env PATH='%s':/usr/bin:/bin TMPDIR='%s' '%s' -e 'print(nyto.plot{path=%q, series={{y={1,2}}}})' 2>&1")
      :format(bin, tmp, NYTO, out)
    fake("echo 'line 3: undefined variable: boom' >&2; exit 1")
    assert.equal("nil\tnyto: plot: gnuplot failed: line 3: undefined variable: boom\n", (run(cmd)))
    assert.equal("", ls(tmp))
    fake("exit 0")
    assert.equal("nil\tnyto: plot: gnuplot wrote no PNG\n", (run(cmd)))
    assert.equal("", ls(tmp))
    assert.is_nil(slurp(out))
    -- the fake saw the script in the private temporary directory
    assert.matches("^" .. tmp:gsub("%p", "%%%0") .. "/[^/\n]+/plot%.gp\n", slurp(seen))
    -- and the real one leaves nothing either
    local real = ("env TMPDIR='%s' '%s' -e 'print(nyto.plot{path=%q, series={{y={1,2}}}})' 2>&1"):format(tmp, NYTO, out)
    assert.equal("true\n", (run(real)))
    assert.equal("", ls(tmp))
    png_size(slurp(out))
  end)

  it("raises a nyto error naming the argument for bad input, and writes nothing", function()
    local p = dir .. "/bad.png"
    local good = {{y = {1, 2}}}
    local cases = {
      {nil, "table expected, got nil"},
      {"x", "table expected, got string"},
      {nyto.zeros(2), "table expected, got Tensor"},
      {{path = p, series = good, colour = 1}, "unknown option 'colour'"},
      {{series = good}, "path must be a string, got nil"},
      {{path = "", series = good}, "path must not be empty"},
      {{path = p, series = good, title = 3}, "title must be a string, got number"},
      {{path = p, series = good, ylabel = {}}, "ylabel must be a string, got table"},
      {{path = p, series = good, logy = 1}, "logy must be a boolean, got number"},
      {{path = p, series = good, width = 10}, "width must be an integer in [16, 8192], got 10"},
      {{path = p, series = good, height = 1.5}, "height must be an integer in [16, 8192], got 1.5"},
      {{path = p}, "series must be a list of {y = ...} tables, got nil"},
      {{path = p, series = nyto.zeros(2)}, "series must be a list of {y = ...} tables, got Tensor"},
      {{path = p, series = {}}, "series must hold at least one series"},
      {{path = p, series = {5}}, "series[1] must be a table, got number"},
      {{path = p, series = {{y = {1}, z = 2}}}, "series[1] has unknown key 'z'"},
      {{path = p, series = {{y = {1}, name = 2}}}, "series[1].name must be a string, got number"},
      {{path = p, series = {{x = {1}}}}, "series[1].y is missing"},
      {{path = p, series = {{y = {}}}}, "series[1].y is empty"},
      {{path = p, series = {{y = {1, "2"}}}}, "series[1].y[2] must be a number, got string"},
      {{path = p, series = {{y = {1, 2, n = 2}}}}, "series[1].y must be a list of numbers (key n)"},
      {{path = p, series = {{y = "12"}}}, "series[1].y must be a table of numbers or a 1-D tensor, got string"},
      {{path = p, series = {{y = nyto.zeros(2, 2)}}}, "series[1].y must be a 1-D tensor, got 2 dims"},
      {{path = p, series = {{y = nyto.tensor {true, false}}}}, "series[1].y must be a real tensor, got bool"},
      {{path = p, series = {{y = {1}}, {y = {1, 2}, x = {1}}}}, "series[2].x has 1 values and y 2"},
      {{path = p, series = {{y = {1, 0, 2}}}, logy = true}, "logy needs positive values: series[1].y[2] is 0"},
    }
    for i, c in ipairs(cases) do
      if c[2] then
        local ok, e = pcall(nyto.plot, c[1])
        assert.is_false(ok, "case " .. i)
        assert.equal("nyto: bad argument #1 to 'plot' (" .. c[2] .. ")", e, "case " .. i)
        assert.is_nil(slurp(p), "case " .. i)
      end
    end
    local many = {}
    for i = 1, 65 do many[i] = {y = {i}} end
    assert.has_error(function() nyto.plot {path = p, series = many} end,
      "nyto: bad argument #1 to 'plot' (series must hold at most 64 series, got 65)")
    assert.has_error(function() nyto.plot {path = p, series = {{y = {1}}}, title = ("t"):rep(5000), width = 1} end,
      "nyto: bad argument #1 to 'plot' (width must be an integer in [16, 8192], got 1)")
  end)
end)
