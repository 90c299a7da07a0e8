-- nyto.timeit(fn [, opts]): median wall-clock time of fn() over several runs.
-- The module is a callable table: init.lua calls it to define nyto.timeit;
-- the REPL reads its fmt_time.
local T = {}
local E = require "nyto.errors"

local function fmt_time(s)
  if s >= 1 then return string.format("%.3f s", s) end
  if s >= 1e-3 then return string.format("%.3f ms", s * 1e3) end
  return string.format("%.3f us", s * 1e6)
end
T.fmt_time = fmt_time

return setmetatable(T, {__call = function(_, nyto, core)
  local function err(fmt, ...) E.err_at(3, fmt, ...) end

  --- opts.runs (default: as many as fit in opts.min_time, at least 5 and at most 1000),
  --- opts.min_time (seconds, default 0.2), opts.warmup (default 1), opts.quiet (no print).
  function nyto.timeit(fn, opts)
    if type(fn) ~= "function" and not (getmetatable(fn) or {}).__call then
      err("bad argument #1 to 'timeit' (function expected, got %s)", type(fn))
    end
    if opts ~= nil and type(opts) ~= "table" then
      err("bad argument #2 to 'timeit' (table expected, got %s)", type(opts))
    end
    opts = opts or {}
    for k in pairs(opts) do
      if k ~= "runs" and k ~= "min_time" and k ~= "warmup" and k ~= "quiet" then
        err("bad argument #2 to 'timeit' (unknown option '%s')", tostring(k))
      end
    end
    local runs, min_time, warmup = opts.runs, opts.min_time or 0.2, opts.warmup or 1
    if runs ~= nil and (math.type(runs) ~= "integer" or runs < 1) then
      err("bad argument #2 to 'timeit' (runs must be a positive integer, got %s)", tostring(runs))
    end
    if type(min_time) ~= "number" or min_time < 0 then
      err("bad argument #2 to 'timeit' (min_time must be a number >= 0, got %s)", tostring(min_time))
    end
    if math.type(warmup) ~= "integer" or warmup < 0 then
      err("bad argument #2 to 'timeit' (warmup must be an integer >= 0, got %s)", tostring(warmup))
    end
    for _ = 1, warmup do fn() end
    local times, clock = {}, core.clock
    local start = clock()
    while true do
      local t0 = clock()
      fn()
      times[#times + 1] = clock() - t0
      if runs then
        if #times >= runs then break end
      elseif #times >= 1000 or (#times >= 5 and clock() - start >= min_time) then
        break
      end
    end
    table.sort(times)
    local n = #times
    local median = n % 2 == 1 and times[(n + 1) // 2] or (times[n // 2] + times[n // 2 + 1]) / 2
    if not opts.quiet then
      print(string.format("%s median of %d runs (min %s, max %s)", fmt_time(median), n,
        fmt_time(times[1]), fmt_time(times[n])))
    end
    return median, times
  end
end})
