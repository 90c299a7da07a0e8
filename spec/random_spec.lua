-- Randomness: API.md "Randomness".  nyto.Generator (Philox4x32-10, a function
-- of (seed, stream, counter) alone), its statistics on 10^6 draws against the
-- normal's and the uniform's, reproducibility (chunks, threads, streams) and
-- the particle draws that use it.
local nyto = require "nyto"
local H = require "helpers"
local Lin = H.Lin("RLin")

local N = 1000000

-- the standard normal's CDF (Abramowitz-Stegun 7.1.26 is too coarse: erf by
-- its series and continued fraction is overkill; math has no erf, so use the
-- complementary error function from a high-precision rational fit)
local function Phi(z)
  -- W. J. Cody's erfc via the relation Phi(z) = 0.5 erfc(-z / sqrt 2), computed by
  -- numerically integrating the density (Simpson, 2000 intervals): exact to 1e-10
  local a, b, n = 0, math.abs(z), 2000
  local h = (b - a) / n
  local f = function(x) return math.exp(-x * x / 2) / math.sqrt(2 * math.pi) end
  local s = f(a) + f(b)
  for i = 1, n - 1 do s = s + (i % 2 == 1 and 4 or 2) * f(a + i * h) end
  local half = s * h / 3
  return z >= 0 and 0.5 + half or 0.5 - half
end

local function moments(x)
  local d = x:double()
  local m = d:mean():item()
  local c = d - m
  local v = (c * c):mean():item()
  local skew = (c * c * c):mean():item() / v ^ 1.5
  local kurt = (c * c * c * c):mean():item() / (v * v)
  return m, v, skew, kurt
end

local function cdf_at(x, q) return nyto.lt(x, q):double():mean():item() end

describe("randomness", function()
  it("normal draws have the normal's moments and quantiles (10^6 draws, 5 standard errors)", function()
    local x = nyto.randn(N, {generator = nyto.Generator(2024)})
    assert.are.equal("float32", x:dtype())
    local m, v, skew, kurt = moments(x)
    assert.is_true(math.abs(m) < 5 * math.sqrt(1 / N), "mean " .. m)
    assert.is_true(math.abs(v - 1) < 5 * math.sqrt(2 / N), "variance " .. v)
    assert.is_true(math.abs(skew) < 5 * math.sqrt(6 / N), "skew " .. skew)
    assert.is_true(math.abs(kurt - 3) < 5 * math.sqrt(24 / N), "kurtosis " .. kurt)
    for _, q in ipairs {-3.5, -3, -2.326, -1.96, -1, -0.5, 0, 0.25, 1, 1.645, 2.576, 3, 3.5} do
      local p, got = Phi(q), cdf_at(x, q)
      assert.is_true(math.abs(got - p) < 5 * math.sqrt(p * (1 - p) / N) + 1e-6,
                     ("P(X < %g) = %g, the normal's %g"):format(q, got, p))
    end
    assert.is_true(x:abs():max():item() < 6.5) -- 31 bits of magnitude: |x| <= 6.1
  end)

  it("uniform draws have the uniform's moments and quantiles on [0, 1)", function()
    local x = nyto.rand(N, {generator = nyto.Generator(7, 3)})
    local m, v = moments(x)
    assert.is_true(math.abs(m - 0.5) < 5 * math.sqrt(1 / 12 / N), "mean " .. m)
    assert.is_true(math.abs(v - 1 / 12) < 5 * math.sqrt(1 / 180 / N), "variance " .. v)
    for _, q in ipairs {0.001, 0.01, 0.1, 0.25, 0.5, 0.75, 0.9, 0.99, 0.999} do
      local got = cdf_at(x, q)
      assert.is_true(math.abs(got - q) < 5 * math.sqrt(q * (1 - q) / N), ("P(U < %g) = %g"):format(q, got))
    end
    assert.is_true(x:min():item() >= 0 and x:max():item() < 1)
  end)

  it("the same seed and stream give the same bits; another seed or stream does not", function()
    local a = nyto.randn(1000, {generator = nyto.Generator(5, 1)})
    assert.is_true(nyto.equal(a, nyto.randn(1000, {generator = nyto.Generator(5, 1)})))
    assert.is_false(nyto.equal(a, nyto.randn(1000, {generator = nyto.Generator(5, 2)})))
    assert.is_false(nyto.equal(a, nyto.randn(1000, {generator = nyto.Generator(6, 1)})))
    -- float64 draws are the float32 values, widened
    local d = nyto.randn(1000, {generator = nyto.Generator(5, 1), dtype = "float64"})
    assert.is_true(nyto.equal(d, a:double()))
  end)

  it("a draw in chunks equals the whole draw", function()
    local whole = nyto.randn(1000, {generator = nyto.Generator(9)})
    local g = nyto.Generator(9)
    local a, b = nyto.randn(500, {generator = g}), nyto.randn(2, 250, {generator = g})
    assert.is_true(nyto.equal(whole, nyto.cat({a, b:flatten()})))
  end)

  it("one thread and two threads give the same bits", function()
    local n0 = nyto.num_threads()
    nyto.num_threads(1)
    local a = nyto.randn(400000, {generator = nyto.Generator(11)})
    local u = nyto.rand(400000, {generator = nyto.Generator(11)})
    nyto.num_threads(2)
    local b = nyto.randn(400000, {generator = nyto.Generator(11)})
    local v = nyto.rand(400000, {generator = nyto.Generator(11)})
    nyto.num_threads(n0)
    assert.is_true(nyto.equal(a, b))
    assert.is_true(nyto.equal(u, v))
  end)

  it("get_state / set_state replay a draw; g:stream(k) is Generator(seed, k) from its start", function()
    local g = nyto.Generator(3)
    nyto.randn(10, {generator = g})
    local s = g:get_state()
    assert.are.same({generator = "xoshiro128++/philox4x32-10", seed = 3, stream = 0, offset = 12}, s)
    local x = nyto.randn(7, {generator = g})
    local h = nyto.Generator(99, 4)
    assert.are.equal(h, h:set_state(s))
    assert.is_true(nyto.equal(x, nyto.randn(7, {generator = h})))
    local k = g:stream(5)
    assert.are.equal("Generator", nyto.type(k))
    assert.are.same({generator = "xoshiro128++/philox4x32-10", seed = 3, stream = 5, offset = 0}, k:get_state())
    assert.are.equal(20, g:get_state().offset) -- g untouched by stream()
    assert.is_true(nyto.equal(nyto.rand(9, {generator = k}), nyto.rand(9, {generator = nyto.Generator(3, 5)})))
  end)

  it("particle draws use the generator: buffer element i has counter offset + i", function()
    local net = Lin(4, 3)
    local p = net:randn {generator = nyto.Generator(21)}
    local ref = nyto.randn(15, {generator = nyto.Generator(21)})
    local flat = nyto.cat({p.weight:detach():flatten(), p.bias:detach():flatten()})
    assert.is_true(nyto.equal(flat, ref))
    local q = net:rand {generator = nyto.Generator(21)}
    assert.is_true(nyto.equal(nyto.cat({q.weight:detach():flatten(), q.bias:detach():flatten()}),
                              nyto.rand(15, {generator = nyto.Generator(21)})))
    -- products draw the same way
    local pr = net:product():randn {generator = nyto.Generator(21)}
    local m = pr:module()
    assert.is_true(nyto.equal(nyto.cat({m.weight:detach():flatten(), m.bias:detach():flatten()}), ref))
  end)

  it("manual_seed seeds the particle generator and torch's; a draw with g leaves the global one alone", function()
    local net = Lin(4, 3)
    nyto.manual_seed(77)
    local a, ta = net:randn(), nyto.randn(5)
    nyto.manual_seed(77)
    net:randn {generator = nyto.Generator(1)}
    local b, tb = net:randn(), nyto.randn(5)
    assert.is_true(nyto.equal(a.weight:detach(), b.weight:detach()))
    assert.is_true(nyto.equal(ta, tb))
  end)

  describe("bad input", function()
    it("Generator arguments", function()
      assert.are.equal("nyto: bad argument #1 to 'Generator' (seed must be >= 0)", H.err_of(nyto.Generator, -1))
      assert.are.equal("nyto: bad argument #1 to 'Generator' (seed must be an integer)", H.err_of(nyto.Generator, 1.5))
      assert.are.equal("nyto: bad argument #1 to 'Generator' (seed: integer expected, got string)",
                       H.err_of(nyto.Generator, "x"))
      assert.are.equal("nyto: bad argument #2 to 'Generator' (stream must be >= 0)", H.err_of(nyto.Generator, 1, -2))
    end)

    it("a state from something else raises and changes nothing", function()
      local g = nyto.Generator(8, 2)
      nyto.rand(3, {generator = g})
      local before = g:get_state()
      assert.are.equal("nyto: bad argument #2 to 'set_state' (not a Generator state: field 'generator' is not \"xoshiro128++/philox4x32-10\")",
                       H.err_of(g.set_state, g, {generator = "mt19937", seed = 1, stream = 0, offset = 0}))
      -- the previous version's words were Philox4x32-10's own: its states name
      -- that generator, and restoring one would silently give another stream
      assert.are.equal("nyto: bad argument #2 to 'set_state' (not a Generator state: field 'generator' is not \"xoshiro128++/philox4x32-10\")",
                       H.err_of(g.set_state, g, {generator = "philox4x32-10", seed = 1, stream = 0, offset = 0}))
      assert.are.equal("nyto: bad argument #2 to 'set_state' (not a Generator state: field 'offset' must be an integer >= 0)",
                       H.err_of(g.set_state, g, {generator = "xoshiro128++/philox4x32-10", seed = 1, stream = 0}))
      assert.are.equal("nyto: bad argument #2 to 'set_state' (not a Generator state: table expected, got number)",
                       H.err_of(g.set_state, g, 5))
      assert.are.same(before, g:get_state())
    end)

    it("a generator option that is not a Generator", function()
      local net = Lin(2, 2)
      assert.are.equal("nyto: bad argument #1 to 'randn' (option 'generator' must be a Generator, got number)",
                       H.err_of(net.randn, net, {generator = 5}))
      assert.are.equal("nyto: bad argument #2 to 'randn' (option 'generator' must be a Generator, got table)",
                       H.err_of(nyto.randn, 3, {generator = {}}))
    end)
  end)
end)

describe("BLAS threads", function()
  it("OpenBLAS's own pool follows nyto.num_threads (one thread means one thread)", function()
    local n0 = nyto.num_threads()
    nyto.num_threads(1)
    local one = nyto.core.blas_threads()
    nyto.num_threads(2)
    local two = nyto.core.blas_threads()
    nyto.num_threads(n0)
    if one == nil then return end -- a BLAS without a pool of its own (netlib)
    assert.are.equal(1, one)
    assert.are.equal(2, two)
  end)
end)
