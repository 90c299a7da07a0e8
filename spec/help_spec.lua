-- help(x)'s table (lua/nyto/help.lua) covers the public API, and the REPL's
-- completion (lua/nyto/repl.lua) answers odd input without raising.
local nyto = require "nyto"

local H = require "helpers"
local run = H.run

describe("help", function()
  local H = require "nyto.help"

  it("has an entry for every public nyto.* function and Tensor method", function()
    local missing = {}
    for k, v in pairs(nyto) do
      if type(k) == "string" and not k:match("^_") and type(v) == "function" and not H.docs["nyto." .. k] then
        missing[#missing + 1] = "nyto." .. k
      end
    end
    for k, v in pairs(nyto.core.Tensor_methods) do
      if type(k) == "string" and not k:match("^_") and type(v) == "function" and not H.docs["Tensor:" .. k] then
        missing[#missing + 1] = "Tensor:" .. k
      end
    end
    for k, v in pairs(nyto.distributed) do
      if type(v) == "function" and not H.docs["distributed." .. k] then missing[#missing + 1] = "distributed." .. k end
    end
    table.sort(missing)
    assert.same({}, missing)
    assert.matches("^dist%.migrate%(", H.doc(nyto.distributed.migrate))
    assert.matches("^dist%.migrate%(", H.doc("migrate"))
  end)

  it("has an entry for every strategy, nyto.strategy.run and every strategy method", function()
    local missing = {}
    local S = nyto.strategy
    for _, name in ipairs {"PSO", "APSO", "GA", "DE", "CEM", "OpenES", "SNES", "PGPE", "CMAES"} do local _ = S[name] end -- load them
    for k, v in pairs(S) do
      if type(k) == "string" and type(v) == "function" and not H.docs["strategy." .. k] then missing[#missing + 1] = "strategy." .. k end
    end
    local es = S.PSO(nyto.zeros {2}, {popsize = 2})
    for _, m in ipairs {"ask", "tell", "best", "center", "state_dict", "load_state_dict"} do
      assert.is_function(es[m])
      if not H.docs["Strategy:" .. m] then missing[#missing + 1] = "Strategy:" .. m end
    end
    table.sort(missing)
    assert.same({}, missing)
    assert.matches("^nyto%.strategy%.PSO%(", H.doc(S.PSO))
    assert.matches("^es:tell%(", H.doc("tell"))
  end)

  it("finds the doc of a function, a method, a class and a name", function()
    assert.matches("^nyto%.zeros%(", H.doc(nyto.zeros))
    assert.matches("sum%(", H.doc(nyto.zeros(1).sum))
    assert.matches("^t:sum%(", H.doc("Tensor:sum"))
    assert.matches("^nyto%.randn%(", H.doc("randn"))
    assert.matches("Linear", H.doc(nyto.nn.Linear))
    assert.is_nil(H.doc("no_such_thing"))
  end)
end)

describe("REPL completion", function()
  local R = require "nyto.repl"
  setup(function() _G.nyto = nyto end) -- a global in the REPL
  teardown(function() _G.nyto = nil end)

  it("lists globals, fields of nyto and nyto.nn, and methods of tensors and modules", function()
    assert.is_truthy(R.complete("pri")[1] == "print")
    local c = R.complete("nyto.zeros")
    assert.same({"nyto.zeros", "nyto.zeros_like"}, c)
    local t = nyto.ones(2)
    _G.__spec_t, _G.__spec_m = t, nyto.nn.Linear(2, 3)
    local m = R.complete("__spec_t:nume")
    assert.same({"__spec_t:numel"}, m)
    local w = R.complete("__spec_m.we")
    assert.same({"__spec_m.weight"}, w)
    local f = R.complete("__spec_m:forw")
    assert.same({"__spec_m:forward"}, f)
    assert.same({"nyto.nn.Linear"}, R.complete("nyto.nn.Line"))
    _G.__spec_t, _G.__spec_m = nil, nil
  end)

  it("never raises on odd input", function()
    for _, s in ipairs {"", ".", ":", "..", "a..b", "1.2", "nyto.zeros(1):", "x.y.z", "nyto:",
                        "nyto.nope.", "string.", "_G._G._G.", ("a."):rep(500), "\0"} do
      assert.equal("table", type(R.complete(s)))
    end
    assert.same({}, R.complete("nyto.nope."))
  end)

  it("lists nyto's lazy submodules without loading them", function()
    local out, code = run([[build/nyto -e 'local R = require "nyto.repl"; local c = table.concat(R.complete("nyto."), " ");
      print(c:find("nyto.nn", 1, true) ~= nil, c:find("nyto.optim", 1, true) ~= nil, rawget(nyto, "nn") == nil)']])
    assert.equal(0, code)
    assert.matches("true\ttrue\ttrue", out, 1, true)
  end)
end)

describe("nyto.timeit", function()
  it("returns the median of the runs, prints it, and checks its options", function()
    local calls = 0
    local med, times = nyto.timeit(function() calls = calls + 1 end, {runs = 7, warmup = 2, quiet = true})
    assert.equal(9, calls)
    assert.equal(7, #times)
    assert.equal(times[4], med)
    for i = 2, 7 do assert.is_true(times[i - 1] <= times[i]) end
    assert.has_error(function() nyto.timeit(1) end, "nyto: bad argument #1 to 'timeit' (function expected, got number)")
    assert.has_error(function() nyto.timeit(print, {runs = 0}) end,
      "nyto: bad argument #2 to 'timeit' (runs must be a positive integer, got 0)")
    assert.has_error(function() nyto.timeit(print, {rnus = 3}) end, "nyto: bad argument #2 to 'timeit' (unknown option 'rnus')")
    local out = run([[build/nyto -e 'nyto.timeit(function() end, {min_time = 0.01})']])
    assert.matches("^[%d.]+ [mu]?s median of %d+ runs %(min", out)
  end)
end)
