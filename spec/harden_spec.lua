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
