-- nyto.strategy: ask/tell optimisers on particles and vectors (issue 17; API.md
-- "Strategies"; docs/api.md "Strategies").  `nyto.strategy.NAME(center, opts)` loads
-- lua/nyto/strategy/<lowercase name>.lua on first use; the shared machinery is
-- lua/nyto/strategy/base.lua.  This file holds the table and nyto.strategy.run.
return function(nyto)
  local B = require "nyto.strategy.base"
  local E = require "nyto.errors"
  local argerr, tname, repr = B.argerr, B.tname, B.repr

  local FILES = {PSO = "pso", APSO = "apso", GA = "ga", DE = "de", CEM = "cem",
                 OpenES = "openes", SNES = "snes", PGPE = "pgpe", CMAES = "cmaes"}

  local S = {}

  local RUN_OPTS = {generations = true, target = true, progress = true, batched = true, plot = true}

  local function finite(v) return v == v and v ~= math.huge and v ~= -math.huge end

  -- nyto.strategy.run(es, fn [, opts]) -> best, fitness
  function S.run(es, fn, opts)
    local fname = "run"
    if nyto.type(es) ~= "Strategy" then argerr(1, fname, "strategy expected, got %s", tname(es)) end
    if type(fn) ~= "function" then argerr(2, fname, "fitness function expected, got %s", tname(fn)) end
    if opts ~= nil and (type(opts) ~= "table" or getmetatable(opts) ~= nil) then
      argerr(3, fname, "options table expected, got %s", tname(opts))
    end
    opts = opts or {}
    for k in pairs(opts) do
      if not RUN_OPTS[k] then argerr(3, fname, "unknown option %s", repr(k)) end
    end
    local G = opts.generations
    if G == nil then G = 100 end
    if math.type(G) ~= "integer" or G < 1 then
      argerr(3, fname, "option 'generations' must be an integer >= 1, got %s", repr(G))
    end
    local target = opts.target
    if target ~= nil and (type(target) ~= "number" or target ~= target) then
      argerr(3, fname, "option 'target' must be a number (not NaN), got %s", repr(target))
    end
    for _, k in ipairs {"batched"} do
      if opts[k] ~= nil and type(opts[k]) ~= "boolean" then
        argerr(3, fname, "option '%s' must be a boolean, got %s", k, tname(opts[k]))
      end
    end
    local progress = opts.progress
    if progress ~= nil and type(progress) ~= "boolean" and (type(progress) ~= "table" or getmetatable(progress) ~= nil) then
      argerr(3, fname, "option 'progress' must be a boolean or a table of nyto.progress options, got %s", tname(progress))
    end
    local plot = opts.plot
    if plot ~= nil and (type(plot) ~= "string" or plot == "") then
      argerr(3, fname, "option 'plot' must be a non-empty file name, got %s", type(plot) == "string" and '""' or tname(plot))
    end
    local maximize = es.o.maximize
    local bar
    if progress then
      local po = {title = es.name, unit = "gen"}
      if type(progress) == "table" then for k, v in pairs(progress) do po[k] = v end end
      bar = nyto.progress(G, po)
    end
    local best_hist, mean_hist = {}, {}
    for gen = 1, G do
      local pop = es:ask()
      local f
      if opts.batched then
        f = fn(pop)
      else
        f = {}
        local n = es.n
        for i = 1, n do
          local m = es.kind == "particle" and pop[i] or pop:select(1, i)
          local v = fn(m)
          if type(v) ~= "number" then
            argerr(2, fname, "fitness function returned %s for member %d, expected a number", tname(v), i)
          end
          f[i] = v
        end
      end
      es:tell(f)
      local _, bf = es:best()
      local sum, cnt = 0, 0
      local vals = nyto.is_tensor(f) and f:double():totable() or f
      for i = 1, #vals do if finite(vals[i]) then sum, cnt = sum + vals[i], cnt + 1 end end
      best_hist[gen], mean_hist[gen] = bf, cnt > 0 and sum / cnt or bf
      if bar then bar:update(gen, {best = bf}) end
      if target ~= nil and ((maximize and bf >= target) or (not maximize and bf <= target)) then break end
    end
    if bar then bar:finish() end
    if plot then
      local plotfn = nyto.plot
      if plotfn == nil then
        E.warn("strategy.run: nyto.plot is not available; " .. plot .. " was not written")
      else
        -- a log scale when every finite value is positive and they span more than 100x
        local lo, hi = math.huge, -math.huge
        for _, h in ipairs {best_hist, mean_hist} do
          for _, v in ipairs(h) do if finite(v) then lo, hi = math.min(lo, v), math.max(hi, v) end end
        end
        local ok, res, msg = pcall(plotfn, {
          path = plot, title = es.name .. " fitness per generation", xlabel = "generation", ylabel = "fitness",
          logy = lo > 0 and hi > 100 * lo,
          series = {{name = "best", y = best_hist}, {name = "mean", y = mean_hist}}})
        if not ok then E.warn("strategy.run: plot failed: " .. tostring(res):gsub("^nyto: ", ""))
        elseif res == nil then E.warn("strategy.run: plot not written: " .. tostring(msg):gsub("^nyto: ", "")) end
      end
    end
    return es:best()
  end

  setmetatable(S, {__index = function(t, key)
    local file = FILES[key]
    if file == nil then return nil end
    local ctor = require("nyto.strategy." .. file)
    rawset(t, key, ctor)
    return ctor
  end})

  nyto.strategy = S
end
