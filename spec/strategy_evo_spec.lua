-- core.evo_pso_, core.evo_ga, core.evo_de (src/core/evo.c): the one-pass generations of PSO,
-- GA and DE, each checked bit for bit against the plain tensor arithmetic it replaces, with the
-- same draws regenerated from a twin generator (nyto.rand / nyto.randn over [n, D]), on both
-- dtypes, rows that do not start on a chunk of draws, masks, and thread counts; then their bad
-- input (an exact message, nothing drawn or written).
local nyto = require "nyto"
local H = require "helpers"
local core = nyto.core
local raises = H.raises_exact

local function R(n, D, dt, seed) return nyto.randn({n, D}, {generator = nyto.Generator(seed), dtype = dt}) end
local function U(g, n, D, dt) return nyto.rand({n, D}, {generator = g, dtype = dt}) end
local function Z(g, n, D, dt) return nyto.randn({n, D}, {generator = g, dtype = dt}) end
-- the twin generators leave the pass in step: their next draws agree
local function in_step(g1, g2)
  assert.is_true(nyto.equal(nyto.rand({7}, {generator = g1}), nyto.rand({7}, {generator = g2})))
end
local function rows(X, idx) return X:index_select(1, H.I(idx)) end

describe("core.evo_pso_ (the PSO step in one pass)", function()
  -- v = ((w v) + ((p - x) r1) c1) + ((g - x) r2) c2;  x = x + v
  local function reference(X, V, Pb, g, w, c1, c2, gen, dt)
    local n, D = X:size(1), X:size(2)
    local r1, r2 = U(gen, n, D, dt), U(gen, n, D, dt)
    local v = ((V * w) + ((Pb - X) * r1) * c1) + ((g:view {1, D} - X) * r2) * c2
    return X + v, v
  end
  for _, dt in ipairs {"float32", "float64"} do
    it("equals the tensor arithmetic bit for bit, " .. dt, function()
      for _, shape in ipairs {{3, 5}, {4, 1000}, {2, 70001}} do -- 70001: rows across chunks and threads' parts
        local n, D = shape[1], shape[2]
        local X, V, Pb, g = R(n, D, dt, 1), R(n, D, dt, 2), R(n, D, dt, 3), R(1, D, dt, 4):view {D}
        local g1, g2 = nyto.Generator(5, 2), nyto.Generator(5, 2)
        nyto.rand({3}, {generator = g1}); nyto.rand({3}, {generator = g2}) -- an offset not on a block
        local ex, ev = reference(X, V, Pb, g, 0.7298, 1.49618, 1.2, g2, dt)
        assert.are.equal(X, core.evo_pso_(X, V, Pb, g, 0.7298, 1.49618, 1.2, nil, g1))
        assert.is_true(nyto.equal(X, ex), dt .. " x " .. n .. "x" .. D)
        assert.is_true(nyto.equal(V, ev), dt .. " v " .. n .. "x" .. D)
        in_step(g1, g2)
      end
    end)
  end

  it("updates only the mask's elements; the same bits on 1 and 2 threads", function()
    local n, D = 2, 70001
    local mask = nyto.ones({D}, {dtype = "bool"})
    mask:narrow(1, 1, 10):fill_(0)
    mask:narrow(1, 40000, 3):fill_(0)
    local X0, V0, Pb, g = R(n, D, "float32", 1), R(n, D, "float32", 2), R(n, D, "float32", 3), R(1, D, "float32", 4):view {D}
    local out = {}
    local threads = nyto.num_threads()
    for t = 1, 2 do
      nyto.num_threads(t)
      local X, V = X0:clone(), V0:clone()
      core.evo_pso_(X, V, Pb, g, 0.5, 1, 2, mask, nyto.Generator(8))
      out[t] = {X, V}
    end
    nyto.num_threads(threads)
    assert.is_true(nyto.equal(out[1][1], out[2][1]) and nyto.equal(out[1][2], out[2][2]))
    local ex, ev = reference(X0, V0, Pb, g, 0.5, 1, 2, nyto.Generator(8), "float32")
    local m = mask:view {1, D}
    assert.is_true(nyto.equal(out[1][1], nyto.where(m, ex, X0)))
    assert.is_true(nyto.equal(out[1][2], nyto.where(m, ev, V0)))
  end)

  it("bad input raises and changes nothing", function()
    local X, V, Pb, g = R(3, 4, "float32", 1), R(3, 4, "float32", 2), R(3, 4, "float32", 3), nyto.zeros(4)
    local X0, V0 = X:clone(), V:clone()
    local gen, twin = nyto.Generator(1), nyto.Generator(1)
    local function bad(msg, ...)
      raises(msg, core.evo_pso_, ...)
      assert.is_true(nyto.equal(X, X0) and nyto.equal(V, V0))
      in_step(gen, twin)
    end
    bad("nyto: bad argument #2 to 'evo_pso_' (velocities of another shape)", X, nyto.zeros(3, 5), Pb, g, 1, 1, 1, nil, gen)
    bad("nyto: bad argument #3 to 'evo_pso_' (personal bests of another dtype)", X, V, Pb:double(), g, 1, 1, 1, nil, gen)
    bad("nyto: bad argument #4 to 'evo_pso_' (global best of another layout)", X, V, Pb, nyto.zeros(5), 1, 1, 1, nil, gen)
    bad("nyto: bad argument #4 to 'evo_pso_' (a 1-D tensor expected)", X, V, Pb, nyto.zeros(1, 4), 1, 1, 1, nil, gen)
    bad("nyto: bad argument #2 to 'evo_pso_' (shares its storage with another operand)", X, X, Pb, g, 1, 1, 1, nil, gen)
    bad("nyto: bad argument #4 to 'evo_pso_' (shares its storage with another operand)", X, V, Pb, V:select(1, 1), 1, 1, 1, nil, gen)
    bad("nyto: bad argument #1 to 'evo_pso_' (a contiguous CPU tensor expected)", nyto.zeros(4, 3):t(), V, Pb, g, 1, 1, 1, nil, gen)
    bad("nyto: bad argument #1 to 'evo_pso_' (float32 or float64 expected)", H.I {{1, 2, 3, 4}}, V, Pb, g, 1, 1, 1, nil, gen)
    bad("nyto: bad argument #1 to 'evo_pso_' (a 2-D tensor expected)", nyto.zeros(12), V, Pb, g, 1, 1, 1, nil, gen)
    bad("nyto: bad argument #5 to 'evo_pso_' (w must be finite)", X, V, Pb, g, 0 / 0, 1, 1, nil, gen)
    bad("nyto: bad argument #7 to 'evo_pso_' (c2: number expected, got string)", X, V, Pb, g, 1, 1, "1", nil, gen)
    bad("nyto: bad argument #8 to 'evo_pso_' (mask: a contiguous bool tensor of one row's elements expected)",
        X, V, Pb, g, 1, 1, 1, nyto.ones({5}, {dtype = "bool"}), gen)
    bad("nyto: bad argument #1 to 'evo_pso_' (Tensor expected, got no value)")
  end)
end)

describe("core.evo_ga (the GA's children in one pass)", function()
  -- child = cross ? a + (b - a) u : a; then + (m z) where m > 0
  local function reference(X, ia, ib, cross, mut, gen, dt)
    local n, D = #ia, X:size(2)
    local u, z = U(gen, n, D, dt), Z(gen, n, D, dt)
    local A, Bm = rows(X, ia), rows(X, ib)
    local C = A + (Bm - A) * u
    local out = {}
    for i = 1, n do
      local r = cross[i] and C:select(1, i) or A:select(1, i)
      if mut[i] > 0 then r = r + z:select(1, i) * mut[i] end
      out[i] = r
    end
    return nyto.stack(out, 1)
  end
  for _, dt in ipairs {"float32", "float64"} do
    it("equals the tensor arithmetic bit for bit, " .. dt, function()
      for _, shape in ipairs {{5, 7}, {4, 1000}, {3, 70001}} do
        local n, D = shape[1], shape[2]
        local X = R(n, D, dt, 1)
        local ia, ib, cross, mut = {}, {}, {}, {}
        for i = 1, n do
          ia[i], ib[i] = (i * 3) % n + 1, (i * 5 + 1) % n + 1
          cross[i], mut[i] = i % 3 ~= 0, (i % 2 == 0) and 0.25 or 0
        end
        ia[1], cross[1], mut[1] = n, false, 0 -- an elite: a copy of its row
        local out = nyto.full({n, D}, 7, {dtype = dt})
        local g1, g2 = nyto.Generator(3), nyto.Generator(3)
        local ex = reference(X, ia, ib, cross, mut, g2, dt)
        assert.are.equal(out, core.evo_ga(out, X, ia, ib, cross, mut, nil, g1))
        assert.is_true(nyto.equal(out, ex), dt .. " " .. n .. "x" .. D)
        assert.is_true(nyto.equal(out:select(1, 1), X:select(1, n)))
        in_step(g1, g2)
      end
    end)
  end

  it("copies the parent a outside the mask; the same bits on 1 and 2 threads", function()
    local n, D = 3, 70001
    local mask = nyto.ones({D}, {dtype = "bool"})
    mask:narrow(1, 5, 100):fill_(0)
    local X = R(n, D, "float32", 2)
    local ia, ib, cross, mut = {2, 3, 1}, {3, 1, 1}, {true, false, true}, {0.1, 0.2, 0}
    local out = {}
    local threads = nyto.num_threads()
    for t = 1, 2 do
      nyto.num_threads(t)
      out[t] = core.evo_ga(nyto.zeros(n, D), X, ia, ib, cross, mut, mask, nyto.Generator(4))
    end
    nyto.num_threads(threads)
    assert.is_true(nyto.equal(out[1], out[2]))
    local ex = reference(X, ia, ib, cross, mut, nyto.Generator(4), "float32")
    assert.is_true(nyto.equal(out[1], nyto.where(mask:view {1, D}, ex, rows(X, ia))))
  end)

  it("bad input raises and changes nothing", function()
    local X, out = R(3, 4, "float32", 1), nyto.zeros(2, 4)
    local gen, twin = nyto.Generator(1), nyto.Generator(1)
    local ok = {{1, 2}, {2, 3}, {true, false}, {0.1, 0}}
    local function bad(msg, ...)
      raises(msg, core.evo_ga, ...)
      assert.is_true(nyto.equal(out, nyto.zeros(2, 4)))
      in_step(gen, twin)
    end
    local ia, ib, cx, mu = table.unpack(ok)
    bad("nyto: bad argument #2 to 'evo_ga' (parents of another layout)", out, nyto.zeros(3, 5), ia, ib, cx, mu, nil, gen)
    bad("nyto: bad argument #2 to 'evo_ga' (shares its storage with another operand)", out, out, ia, ib, cx, mu, nil, gen)
    bad("nyto: bad argument #3 to 'evo_ga' (ia: index 2 must be an integer in [1, 3])", out, X, {1, 4}, ib, cx, mu, nil, gen)
    bad("nyto: bad argument #4 to 'evo_ga' (ib: index 1 must be an integer in [1, 3])", out, X, ia, {1.5, 1}, cx, mu, nil, gen)
    bad("nyto: bad argument #3 to 'evo_ga' (ia: 2 indices expected)", out, X, {1}, ib, cx, mu, nil, gen)
    bad("nyto: bad argument #5 to 'evo_ga' (cross: booleans expected)", out, X, ia, ib, {1, 0}, mu, nil, gen)
    bad("nyto: bad argument #5 to 'evo_ga' (cross: a table of 2 booleans expected)", out, X, ia, ib, nil, mu, nil, gen)
    bad("nyto: bad argument #6 to 'evo_ga' (mut: finite numbers >= 0 expected)", out, X, ia, ib, cx, {-1, 0}, nil, gen)
    bad("nyto: bad argument #6 to 'evo_ga' (mut: finite numbers >= 0 expected)", out, X, ia, ib, cx, {1 / 0, 0}, nil, gen)
    bad("nyto: bad argument #7 to 'evo_ga' (mask: a contiguous bool tensor of one row's elements expected)",
        out, X, ia, ib, cx, mu, nyto.ones(4), gen)
  end)
end)

describe("core.evo_de (DE/rand/1/bin trials in one pass)", function()
  -- t = a + (b - c) F;  trial = (u <= CR or j == jr) ? t : x
  local function reference(X, r1, r2, r3, jr, F, CR, gen, dt)
    local n, D = X:size(1), X:size(2)
    local u = U(gen, n, D, dt)
    local T = rows(X, r1) + (rows(X, r2) - rows(X, r3)) * F
    local J = nyto.arange(1, D + 1):view {1, D}:eq(H.I(jr):view {n, 1})
    return nyto.where(nyto.logical_or(u:le(CR), J), T, X)
  end
  for _, dt in ipairs {"float32", "float64"} do
    it("equals the tensor arithmetic bit for bit, " .. dt, function()
      for _, shape in ipairs {{4, 9}, {5, 1000}, {4, 70001}} do
        local n, D = shape[1], shape[2]
        local X = R(n, D, dt, 6)
        local r1, r2, r3, jr = {}, {}, {}, {}
        for i = 1, n do
          r1[i], r2[i], r3[i] = i % n + 1, (i + 1) % n + 1, (i + 2) % n + 1
          jr[i] = (i * 997) % D + 1
        end
        jr[1] = D -- the last column
        local out = nyto.zeros({n, D}, {dtype = dt})
        local g1, g2 = nyto.Generator(9), nyto.Generator(9)
        for _, CR in ipairs {0.9, 0, 1} do
          local ex = reference(X, r1, r2, r3, jr, 0.5, CR, g2, dt)
          assert.are.equal(out, core.evo_de(out, X, r1, r2, r3, jr, 0.5, CR, nil, g1))
          assert.is_true(nyto.equal(out, ex), dt .. " " .. n .. "x" .. D .. " CR " .. CR)
        end
        in_step(g1, g2)
      end
    end)
  end

  it("copies the target outside the mask; the same bits on 1 and 2 threads", function()
    local n, D = 4, 70001
    local mask = nyto.ones({D}, {dtype = "bool"})
    mask:narrow(1, 1, 3):fill_(0)
    mask:narrow(1, D - 2, 3):fill_(0)
    local X = R(n, D, "float64", 3)
    local r1, r2, r3, jr = {2, 3, 4, 1}, {3, 4, 1, 2}, {4, 1, 2, 3}, {1, 2, D, 100}
    local out = {}
    local threads = nyto.num_threads()
    for t = 1, 2 do
      nyto.num_threads(t)
      out[t] = core.evo_de(nyto.zeros({n, D}, {dtype = "float64"}), X, r1, r2, r3, jr, 0.8, 0.3, mask, nyto.Generator(2))
    end
    nyto.num_threads(threads)
    assert.is_true(nyto.equal(out[1], out[2]))
    local ex = reference(X, r1, r2, r3, jr, 0.8, 0.3, nyto.Generator(2), "float64")
    assert.is_true(nyto.equal(out[1], nyto.where(mask:view {1, D}, ex, X)))
  end)

  it("bad input raises and changes nothing", function()
    local X, out = R(4, 3, "float32", 1), nyto.zeros(4, 3)
    local gen, twin = nyto.Generator(1), nyto.Generator(1)
    local r = {2, 3, 4, 1}
    local function bad(msg, ...)
      raises(msg, core.evo_de, ...)
      assert.is_true(nyto.equal(out, nyto.zeros(4, 3)))
      in_step(gen, twin)
    end
    bad("nyto: bad argument #2 to 'evo_de' (population of another shape)", out, nyto.zeros(4, 2), r, r, r, r, 0.5, 0.9, nil, gen)
    bad("nyto: bad argument #2 to 'evo_de' (population of another dtype)", out, X:double(), r, r, r, r, 0.5, 0.9, nil, gen)
    bad("nyto: bad argument #2 to 'evo_de' (shares its storage with another operand)", out, out, r, r, r, r, 0.5, 0.9, nil, gen)
    bad("nyto: bad argument #5 to 'evo_de' (r3: index 4 must be an integer in [1, 4])", out, X, r, r, {1, 1, 1, 0}, r, 0.5, 0.9, nil, gen)
    bad("nyto: bad argument #6 to 'evo_de' (jr: index 2 must be an integer in [1, 3])", out, X, r, r, r, {1, 4, 1, 1}, 0.5, 0.9, nil, gen)
    bad("nyto: bad argument #7 to 'evo_de' (F must be finite)", out, X, r, r, r, {1, 1, 1, 1}, 1 / 0, 0.9, nil, gen)
    bad("nyto: bad argument #8 to 'evo_de' (CR: number expected, got nil)", out, X, r, r, r, {1, 1, 1, 1}, 0.5, nil, nil, gen)
    bad("nyto: bad argument #10 to 'evo_de' (Generator expected, got string)", out, X, r, r, r, {1, 1, 1, 1}, 0.5, 0.9, nil, "g")
  end)
end)

describe("PSO, GA and DE on the fused passes", function()
  it("GA and DE write into the population before last; a freed one is replaced, the course unchanged", function()
    nyto.manual_seed(4)
    local net = H.net3()
    for _, name in ipairs {"GA", "DE"} do
      local es = nyto.strategy[name](net, {popsize = 6, generator = nyto.Generator(3)})
      local ref = nyto.strategy[name](net, {popsize = 6, generator = nyto.Generator(3)})
      local seen = {}
      for k = 1, 5 do
        local p, q = es:ask(), ref:ask()
        assert.is_true(nyto.equal(p:flat(), q:flat()), name)
        seen[p] = true
        es:tell(H.sphere(p:flat()))
        ref:tell(H.sphere(q:flat()))
        if k == 3 then p:free() end
      end
      H.same_state(es:state_dict(), ref:state_dict())
      local n = 0
      for _ in pairs(seen) do n = n + 1 end
      assert.is_true(n <= 4, name .. ": " .. n .. " population arenas in 5 generations")
    end
  end)
end)
