-- Issue 13: no script can crash, hang or corrupt nyto through its own API or nyto.core.
local nyto = require "nyto"
local core = require "nyto.core"
local nn = nyto.nn
local H = require "helpers"

local maxint = math.maxinteger

describe("nyto.core validates its arguments", function()
  it("segments refuse off + len past 2^40 (no int64 overflow)", function()
    assert.matches("^nyto: bad argument #1 to 'segments'", H.err_of(core.segments, {35, maxint, 26, 0, 3, 15}))
    assert.matches("^nyto: bad argument #1 to 'segments'", H.err_of(core.segments, {0, 1, maxint - 1, 4}))
    assert.matches("^nyto: bad argument #1 to 'segments'", H.err_of(core.segments, {-5, 3}))
    assert.matches("^nyto: bad argument #1 to 'segments'", H.err_of(core.segments, {0, -3}))
    assert.matches("^nyto: bad argument #1 to 'segments'", H.err_of(core.segments, {0.5, 3}))
    assert.matches("^nyto: bad argument #1 to 'segments'", H.err_of(core.segments, {"a", 3}))
    assert.matches("^nyto: bad argument #1 to 'segments'", H.err_of(core.segments, 5))
  end)

  it("pcopy, paffine and pscalar refuse segments past the buffer, and the buffers keep their values", function()
    local a, b = core.buffer("float32", 40), core.buffer("float32", 40)
    local s = core.segments({0, 10, 30, 20})
    assert.matches("^nyto: bad argument #3 to 'copy' %(segments exceed the buffer%)", H.err_of(core.pcopy, a, b, s))
    assert.matches("^nyto: bad argument #4 to 'particle operation'", H.err_of(core.paffine, a, 2, 1, s))
    assert.matches("^nyto: bad argument #4 to 'particle operation'", H.err_of(core.pscalar, a, 2, core.OP_ADD, s))
    assert.matches("^nyto: bad argument #3 to 'particle operation' %(unknown operation%)",
      H.err_of(core.pscalar, a, 2, 99, core.segments({0, 4})))
    assert.matches("^nyto: bad argument #2 to 'particle operation' %(number expected, got string%)",
      H.err_of(core.paffine, a, "x", 1, core.segments({0, 4})))
    assert.matches("^nyto: bad argument #3 to 'copy' %(Segments expected, got table%)", H.err_of(core.pcopy, a, b, {}))
    assert.are.equal(0, a:tensor():abs():sum():item())
  end)

  it("view and set_to_view refuse ranges whose end overflows", function()
    local a = core.buffer("float32", 8)
    assert.matches("^nyto: bad argument #2 to 'view'", H.err_of(core.view, a, maxint - 1, {4}))
    local t = nyto.zeros(4)
    assert.matches("^nyto: bad argument #3 to 'set_to_view'", H.err_of(core.set_to_view, t, a, maxint - 1))
    assert.matches("^nyto: bad argument #1 to 'set_to_view'", H.err_of(core.set_to_view, {}, a, 0))
    assert.matches("^nyto: bad argument #2 to 'buffer'", H.err_of(core.buffer, "float32", maxint))
    assert.matches("^nyto: bad argument #2 to 'randn'", H.err_of(core.prandom, a, 7, core.segments({0, 4})))
    assert.matches("^nyto: bad self to 'free'", H.err_of(a.free, io.stdout))
  end)

  it("the library's own use of nyto.core still works", function()
    local net = nn.Linear(3, 2)
    local y = 0.5 * net + 10
    assert.are.equal(2, #y:parameters())
  end)
end)

describe("modules", function()
  it("m.forward = m is refused instead of looping forever in m(x)", function()
    local m = nn.Linear(2, 2)
    assert.matches("^nyto: .*cannot assign to 'forward': it is a method", H.err_of(function() m.forward = m end))
    assert.matches("^nyto: .*cannot assign to 'parameters'", H.err_of(function() m.parameters = 5 end))
    local y = m(nyto.zeros(1, 2))
    assert.are.same({1, 2}, y:size())
  end)

  it("a parameter named as a method is refused (as PyTorch's register_parameter), and changes nothing", function()
    local m = nn.Linear(2, 2)
    local before = #m:parameters()
    assert.matches("^nyto: .*cannot assign to 'parameters': it is a method of class",
      H.err_of(function() m.parameters = nyto.Parameter(nyto.randn(2)) end))
    assert.equal(before, #m:parameters())
    m:zero_grad() -- the method still works
  end)

  it("non-string keys are refused with a nyto error", function()
    local m = nn.Linear(2, 2)
    assert.matches("^nyto: .*field names of nyto modules are strings or integers, got table",
      H.err_of(function() m[{}] = nn.Linear(2, 2) end))
    assert.matches("^nyto: .*got boolean", H.err_of(function() m[true] = 1 end))
    assert.matches("^nyto: .*got nil", H.err_of(function() rawequal(m, m); m[nil] = 1 end))
    assert.are.equal(2, #m:parameters())
    assert.is_string(tostring(m))
  end)
end)

describe("unbounded allocation", function()
  it("nn.LSTM(4, 4, 2^40) raises at once", function()
    assert.matches("^nyto: bad argument #3 to 'nn.LSTM' %(num_layers must be at most", H.err_of(nn.LSTM, 4, 4, 1 << 40))
    assert.matches("^nyto: bad argument #2 to 'nn.LSTM'", H.err_of(nn.LSTM, 4, 1 << 30, 1))
    assert.matches("^nyto: bad argument #1 to 'nn.LSTM' %(input_size must be at most 2%^40", H.err_of(nn.LSTM, maxint, 4))
  end)

  it("read_file stops at its cap instead of growing the buffer past it", function()
    local path = os.tmpname()
    local f = assert(io.open(path, "wb"))
    f:write(("x"):rep(5000))
    f:close()
    local old = core.read_limit(4096)
    local s, e = core.read_file(path)
    core.read_limit(old)
    assert.is_nil(s)
    assert.matches("is too large to read %(more than 4096 bytes%)", e)
    old = core.read_limit(5000)
    s = core.read_file(path)
    core.read_limit(old)
    assert.are.equal(5000, #s)
    os.remove(path)
    assert.matches("^nyto: bad argument #1 to 'read_file'", H.err_of(core.read_file, {}))
  end)
end)

describe("gradient mode", function()
  it("a callback that yields inside a never-resumed coroutine leaves recording on", function()
    local net = nn.Linear(2, 2)
    local p = net:product()
    local calls = {
      function() nyto.no_grad(function() coroutine.yield() end) end,
      function() p:unary_operator(function(t) coroutine.yield(); return t end) end,
      function() p:binary_operator(p, function(a) coroutine.yield(); return a end) end,
    }
    for _, f in ipairs(calls) do
      local co = coroutine.create(f)
      local ok, e = coroutine.resume(co)
      assert.is_false(ok)
      assert.matches("^nyto: a callback of no_grad, unary_operator or binary_operator yielded", e)
      assert.is_true(nyto.is_grad_enabled())
    end
    -- the callback's own error value passes through unchanged
    local v = {}
    local ok, e = pcall(nyto.no_grad, function() error(v) end)
    assert.is_false(ok)
    assert.is_true(rawequal(v, e))
    assert.are.equal(7, nyto.no_grad(function(a) return a + 1 end, 6))
  end)
end)

describe("messages and self checks", function()
  it("a ParticleModule refuses a module assigned to the wrapper and points at the root", function()
    local pm = nyto.ParticleModule(nn.Linear(3, 2))
    assert.matches("^nyto: cannot assign a module to 'fc' of a ParticleModule: .*restore_kernel_ref.*pm%.root_module%.fc",
      H.err_of(function() pm.fc = nn.Linear(3, 3) end))
    assert.is_nil(rawget(pm, "fc"))
    pm.note = "plain fields still work"
    assert.are.equal("plain fields still work", pm.note)
  end)

  it("the raw fields of a module and of a ParticleModule are read-only", function()
    local net = nn.Sequential(nn.Linear(3, 2))
    local x = nyto.randn(4, 3)
    local y = net(x)
    for _, name in ipairs {"_s", "_p", "_m", "_b", "_f", "_id", "_k", "_kk"} do
      assert.are.equal(("nyto: '%s' is a reserved field name of nyto modules"):format(name),
        H.err_of(function() net[name] = 5 end))
      assert.are.equal(("nyto: '%s' is a reserved field name of nyto modules"):format(name),
        H.err_of(function() net[1][name] = {} end))
      assert.is_nil(net[name])
    end
    -- the module is intact
    assert.is_true(nyto.equal(y, net(x)))
    assert.are.equal(2, #net:parameters())
    assert.matches("^Sequential%(", tostring(net))
    local pm = nyto.ParticleModule(net)
    for _, name in ipairs {"root_module", "particle_kernel"} do
      assert.are.equal(("nyto: cannot assign '%s' of a ParticleModule: it is read-only (wrap another particle in a new ParticleModule instead)"):format(name),
        H.err_of(function() pm[name] = 5 end))
    end
    assert.is_true(rawequal(net, pm.root_module))
    assert.is_not_nil(pm.particle_kernel)
    assert.is_true(nyto.equal(y, pm(x)))
    assert.is_true(nyto.equal(y * 2, (pm * 2)(x)))
  end)

  it("Lua-side methods with a foreign self say 'bad self', classes included", function()
    assert.matches("^nyto: bad self to 'clone' %(Product expected, got userdata%)", H.err_of(nyto.Product.clone, io.stdout))
    assert.matches("^nyto: bad self to 'parameters' %(Module expected, got number%)", H.err_of(nyto.Module.parameters, 5))
    local C = nyto.class("HardenC")
    function C:forward(x) return x end
    assert.matches("^nyto: bad self to 'free' %(Module expected, got class HardenC%)", H.err_of(nyto.Module.free, C))
    assert.matches("^nyto: bad self to 'product' %(ParticleModule expected", H.err_of(nyto.ParticleModule.product, {}))
  end)

  it("user strings in messages are cut", function()
    local e = H.err_of(nyto.F.mse_loss, nyto.zeros(2), nyto.zeros(2), ("x"):rep(10000))
    assert.matches("^nyto: bad argument #3 to 'F.mse_loss'", e)
    assert.matches("%.%.%. %(message cut%)$", e)
    assert.is_true(#e <= 400)
    e = H.err_of(nyto.zeros, 2, {dtype = ("y"):rep(10000)})
    assert.matches("^nyto: ", e)
    assert.is_true(#e <= 400)
    assert.matches("^nyto: bad argument #1 to 'set_gc_mode'", H.err_of(core.set_gc_mode, {}))
  end)
end)

describe("read_csv follows RFC 4180", function()
  local function w(s)
    local p = os.tmpname()
    local f = assert(io.open(p, "wb"))
    f:write(s)
    f:close()
    return p
  end
  it("reads CR-only, LF and CRLF line endings", function()
    for _, s in ipairs {"1,2,3\r4,5,6\r", "1,2,3\n4,5,6", "1,2,3\r\n4,5,6\r\n"} do
      local t = nyto.data.read_csv(w(s))
      assert.are.same({{1, 2, 3}, {4, 5, 6}}, t:totable())
    end
  end)
  it("quoted fields protect separators, quotes and line breaks", function()
    local t, names = nyto.data.read_csv(w('"x,y","say ""hi""","two\r\nlines"\n1,2,3\n'))
    assert.are.same({"x,y", 'say "hi"', "two\r\nlines"}, names)
    assert.are.same({{1, 2, 3}}, t:totable())
    assert.matches("^nyto: read_csv: .*:1: a quoted field is not closed", H.err_of(nyto.data.read_csv, w('"a,b\n1,2\n')))
    assert.matches("^nyto: read_csv: .*:1: field 2: a quote inside an unquoted field", H.err_of(nyto.data.read_csv, w('a,b"c\n1,2\n')))
  end)
  it("accepts decimal numbers only: 0x10 is not a number", function()
    assert.matches('^nyto: read_csv: .*:2: field 1 is not a number %("0x10"%)', H.err_of(nyto.data.read_csv, w("1,2\n0x10,3\n")))
    local t = nyto.data.read_csv(w("-1.5,.5,1e-3,2.E+1, 7 \n"), {dtype = "float64"})
    assert.are.same({{-1.5, 0.5, 1e-3, 20, 7}}, t:totable())
  end)
  it("a first line of numbers and text is an error, not a header", function()
    assert.matches("^nyto: read_csv: .*:1: the first line mixes numbers and text: is it a header%? pass {header = true} or {header = false}",
      H.err_of(nyto.data.read_csv, w("1,x\n2,3\n")))
    local t, names = nyto.data.read_csv(w("1,x\n2,3\n"), {header = true})
    assert.are.same({"1", "x"}, names)
    assert.are.same({{2, 3}}, t:totable())
  end)
end)
