-- The passes of the distribution strategies (src/core/es.c, bound in src/lua/es.c):
-- core.es_sample (the ask of CEM, OpenES, SNES, PGPE and sep-CMA-ES), core.es_moments
-- (their tells' weighted sums) and core.es_elite (CEM's elite mean and deviation),
-- each checked against the plain tensor arithmetic or Lua numbers it replaces, on
-- both dtypes, odd sizes (partial blocks, counters not on a multiple of 64), 1 and 2
-- threads, and bad input.
local nyto = require "nyto"
local H = require "helpers"
local raises = H.raises_exact
local core = nyto.core
local F64 = {dtype = "float64"}

local function rows_of(t) return t:double():totable() end

-- a generator whose counter is not on a multiple of 64 (a draw of 5 advances it by 8)
local function gen(seed)
  local g = nyto.Generator(seed, 3)
  nyto.randn(5, {generator = g})
  return g
end

describe("core.es_sample", function()
  for _, xd in ipairs {"float32", "float64"} do
    for _, sd in ipairs {"float32", "float64"} do
      it(("X %s, center and scale %s: c + s z_k (and c - s z_k) with z = nyto.randn's draws, bit for bit"):format(xd, sd), function()
        local D, n = 1037, 6 -- a partial block of 1024 columns; rows start off the 64-counter grid
        local c = nyto.randn({D}, {generator = nyto.Generator(1), dtype = sd})
        local s = nyto.rand({D}, {generator = nyto.Generator(2), dtype = sd})
        -- the arithmetic: float32 when both are float32, else float64; rounded once to X's dtype
        local A = (xd == "float32" and sd == "float32") and "float32" or "float64"
        local function as(t, dt) return dt == "float64" and t:double() or t:float() end
        for _, pairs in ipairs {false, true} do
          local rows = pairs and n // 2 or n
          local g, ref = gen(7), gen(7)
          local X, Z = nyto.zeros({n, D}, {dtype = xd}), nyto.zeros({rows, D}, {dtype = xd})
          assert.are.equal(X, core.es_sample(X, c, s, pairs, Z, g))
          local z = nyto.randn({rows, D}, {generator = ref}) -- float32 normals
          assert.are.same(ref:get_state(), g:get_state()) -- the generator advanced as the randn did
          assert.is_true(nyto.equal(Z, as(z, xd)))
          local zA, cA, sA = as(z, A), as(c, A):view {1, D}, as(s, A):view {1, D}
          local plus, minus = as(cA + sA * zA, xd), as(cA - sA * zA, xd)
          if pairs then
            local Xv = X:view {rows, 2, D}
            assert.is_true(nyto.equal(Xv:select(2, 1), plus))
            assert.is_true(nyto.equal(Xv:select(2, 2), minus))
          else
            assert.is_true(nyto.equal(X, plus))
          end
          -- without z: the same population, the same counters taken
          local X2, g2 = nyto.zeros({n, D}, {dtype = xd}), gen(7)
          core.es_sample(X2, c, s, pairs, nil, g2)
          assert.is_true(nyto.equal(X2, X))
          assert.are.same(ref:get_state(), g2:get_state())
        end
      end)
    end
  end

  it("norms: sum_j r_j z_kj^2 per row, in the same pass (sep-CMA-ES's ||C^-1/2 y_k||^2)", function()
    local D, n = 2100, 5
    local c, s = nyto.zeros(D, F64), nyto.ones(D, F64)
    local r = nyto.rand({D}, {generator = nyto.Generator(3), dtype = "float64"}) + 0.5
    local X, Z, norms = nyto.zeros(n, D), nyto.zeros(n, D), nyto.zeros(n, F64)
    core.es_sample(X, c, s, false, Z, gen(9), r, norms)
    local function check(got, want)
      for k = 1, n do
        assert.is_true(math.abs(got[k] - want[k]) <= 1e-12 * want[k], ("row %d: %.17g vs %.17g"):format(k, got[k], want[k]))
      end
    end
    check(norms:totable(), (Z:double() * Z:double() * r:view {1, D}):sum(2):totable())
    -- without r: sum_j z_kj^2
    local n2 = nyto.zeros(n, F64)
    core.es_sample(X, c, s, false, nil, gen(9), nil, n2)
    check(n2:totable(), (Z:double() * Z:double()):sum(2):totable())
  end)

  it("the same bits on 1 and 2 threads (the pass split by column blocks)", function()
    local old = nyto.num_threads()
    local D, n = 20000, 256
    local c, s = nyto.randn({D}, {generator = nyto.Generator(1)}), nyto.rand({D}, {generator = nyto.Generator(2)})
    local r = nyto.ones(D, F64)
    local out = {}
    for t = 1, 2 do
      nyto.num_threads(t)
      local X, Z, norms = nyto.zeros(n, D), nyto.zeros(n // 2, D), nyto.zeros(n // 2, F64)
      core.es_sample(X, c, s, true, Z, gen(5), r, norms)
      out[t] = {X, Z, norms}
    end
    nyto.num_threads(old)
    for i = 1, 3 do assert.is_true(nyto.equal(out[1][i], out[2][i]), "output " .. i) end
  end)

  it("without r (the norms in registers on AVX-512): the same bits on 1 and 2 threads, the norms sum_j z_kj^2", function()
    local old = nyto.num_threads()
    local D, n = 20011, 64 -- several 8-block runs of a row, split between the threads, a last partial group
    local out = {}
    for _, sd in ipairs {"float32", "float64"} do
      local c = nyto.randn({D}, {generator = nyto.Generator(1), dtype = sd})
      local s = nyto.rand({D}, {generator = nyto.Generator(2), dtype = sd})
      for t = 1, 2 do
        nyto.num_threads(t)
        local X, Z, norms = nyto.zeros(n, D), nyto.zeros(n, D), nyto.zeros(n, F64)
        core.es_sample(X, c, s, false, Z, gen(5), nil, norms)
        local Xp = nyto.zeros(n, D)
        core.es_sample(Xp, c, s, true, nil, gen(5))
        out[t] = {X, Z, norms, Xp}
      end
      for i = 1, 4 do assert.is_true(nyto.equal(out[1][i], out[2][i]), sd .. " output " .. i) end
      local Z = out[1][2]
      local want, got = (Z:double() * Z:double()):sum(2):totable(), out[1][3]:totable()
      for k = 1, n do assert.is_true(math.abs(got[k] - want[k]) <= 1e-12 * want[k], "row " .. k) end
      -- the population from the kept z, in the arithmetic of the dtypes
      local zA = sd == "float64" and Z:double() or Z
      local ex = zA * s:view {1, D} + c:view {1, D}
      assert.is_true(nyto.equal(out[1][1], sd == "float64" and ex:float() or ex))
    end
    nyto.num_threads(old)
  end)

  it("refuses bad operands with a nyto: error and writes nothing", function()
    local X, c, s, z = nyto.zeros(4, 3), nyto.zeros(3), nyto.ones(3), nyto.zeros(2, 3)
    local fn = "es_sample"
    local function bad(i, msg, ...)
      raises(("nyto: bad argument #%d to '%s' (%s)"):format(i, fn, msg), core.es_sample, ...)
    end
    bad(2, "center's size does not divide X's", X, nyto.zeros(5), s, true, z)
    bad(3, "scale of another dtype or size than the center", X, c, nyto.ones(2), true, z)
    bad(3, "scale of another dtype or size than the center", X, c, nyto.ones(3, F64), true, z)
    bad(5, "noise of another dtype or size", X, c, s, false, z)
    bad(5, "noise of another dtype or size", X, c, s, true, nyto.zeros({2, 3}, F64))
    bad(4, "pairs need an even number of rows", nyto.zeros(3, 3), c, s, true)
    bad(4, "boolean expected, got no value", X, c, s)
    bad(1, "a contiguous CPU tensor expected", nyto.zeros(3, 4):t(), c, s, true)
    bad(1, "float32 or float64 tensor expected", H.I {{1, 2, 3}}, c, s, false)
    bad(7, "r without norms", X, c, s, true, z, nil, nyto.ones(3, F64))
    bad(7, "r must be P float64 elements", X, c, s, true, z, nil, nyto.ones(3), nyto.zeros(2, F64))
    bad(8, "norms must be one float64 per row", X, c, s, true, z, nil, nyto.ones(3, F64), nyto.zeros(4, F64))
    bad(1, "shares its storage with argument #2", X, X:view {-1}:narrow(1, 1, 3), s, true)
    bad(1, "shares its storage with argument #5", X, c, s, true, X:view {-1}:narrow(1, 1, 6))
    local big = nyto.ones(9) -- one storage, disjoint parts: still refused
    bad(5, "shares its storage with argument #3", X, c, big:narrow(1, 1, 3), true, big:narrow(1, 4, 6))
    bad(6, "Generator expected, got table", X, c, s, true, z, {})
    assert.is_true(nyto.equal(X, nyto.zeros(4, 3)))
    assert.is_true(nyto.equal(z, nyto.zeros(2, 3)))
  end)
end)

describe("core.es_moments", function()
  -- o1 = sum_k w1_k Z_k, o2 = sum_k w2_k Z_k^2 - sub2, in float64 Lua numbers, rows in order
  local function by_hand(Z, w1, w2, sub2)
    local R = rows_of(Z)
    local o1, o2 = {}, {}
    for j = 1, #R[1] do
      local a, b = 0.0, 0.0
      for k = 1, #R do
        local v = R[k][j]
        a = a + w1[k] * v
        b = b + w2[k] * (v * v)
      end
      o1[j], o2[j] = a, b - sub2
    end
    return o1, o2
  end

  for _, zd in ipairs {"float32", "float64"} do
    for _, rows in ipairs {1, 7, 8} do -- a group of four rows, and the rest one at a time
      it(("Z %s, %d rows: the float64 sums of Lua numbers exactly, rounded once to the output's dtype"):format(zd, rows), function()
        local D = 2051 -- a partial block of 2048 columns
        local Z = nyto.randn({rows, D}, {generator = nyto.Generator(rows), dtype = zd})
        local u = nyto.rand({2 * rows}, {generator = nyto.Generator(11), dtype = "float64"}):totable()
        local w1, w2 = {}, {}
        for k = 1, rows do w1[k], w2[k] = u[k] - 0.5, u[rows + k] - 0.3 end
        local h1, h2 = by_hand(Z, w1, w2, 0.25)
        for _, od in ipairs {"float64", "float32"} do
          local o1, o2 = nyto.zeros({D}, {dtype = od}), nyto.zeros({D}, {dtype = od})
          local a, b = core.es_moments(Z, w1, o1, w2, 0.25, o2)
          assert.are.equal(o1, a)
          assert.are.equal(o2, b)
          assert.is_true(nyto.equal(o1, nyto.tensor(h1, {dtype = od})), od .. " o1")
          assert.is_true(nyto.equal(o2, nyto.tensor(h2, {dtype = od})), od .. " o2")
          -- one sum alone: the same o1; and what it replaces (a gemv and a gemv of Z * Z) agrees
          local o3 = nyto.zeros({D}, {dtype = od})
          assert.are.equal(o3, core.es_moments(Z, w1, o3))
          assert.is_true(nyto.equal(o3, o1))
        end
        local Zd = Z:double()
        local mv1 = nyto.mv(Zd:t(), nyto.tensor(w1, F64))
        local mv2 = nyto.mv((Zd * Zd):t(), nyto.tensor(w2, F64)) - 0.25
        assert.is_true(nyto.allclose(nyto.tensor(h1, F64), mv1, 1e-12, 1e-12))
        assert.is_true(nyto.allclose(nyto.tensor(h2, F64), mv2, 1e-12, 1e-12))
      end)
    end
  end

  it("the same bits on 1 and 2 threads", function()
    local old = nyto.num_threads()
    local Z = nyto.randn({9, 40000}, {generator = nyto.Generator(4)})
    local w = {}
    for k = 1, 9 do w[k] = k / 9 - 0.4 end
    local out = {}
    for t = 1, 2 do
      nyto.num_threads(t)
      out[t] = {core.es_moments(Z, w, nyto.zeros(40000), w, 1, nyto.zeros(40000))}
    end
    nyto.num_threads(old)
    assert.is_true(nyto.equal(out[1][1], out[2][1]))
    assert.is_true(nyto.equal(out[1][2], out[2][2]))
  end)

  it("refuses bad operands with a nyto: error and writes nothing", function()
    local Z, o1, o2 = nyto.ones(2, 3), nyto.zeros(3), nyto.zeros(3)
    local fn = "es_moments"
    local function bad(i, msg, ...)
      raises(("nyto: bad argument #%d to '%s' (%s)"):format(i, fn, msg), core.es_moments, ...)
    end
    bad(1, "Z must have #w1 rows of the output's size", Z, {1, 2, 3}, o1)
    bad(1, "Z must have #w1 rows of the output's size", Z, {1, 2}, nyto.zeros(2))
    bad(2, "weights must not be empty", Z, {}, o1)
    bad(2, "weights: table expected, got number", Z, 1, o1)
    bad(2, "weight 2 is not a finite number", Z, {1, 0 / 0}, o1)
    bad(2, "weight 1 is not a finite number", Z, {math.huge, 1}, o1)
    bad(2, "weight 2 is not a finite number", Z, {1, "x"}, o1)
    bad(4, "as many weights as w1 expected", Z, {1, 2}, o1, {1}, 0, o2)
    bad(4, "weight 1 is not a finite number", Z, {1, 2}, o1, {0 / 0, 1}, 0, o2)
    bad(5, "a finite number expected", Z, {1, 2}, o1, {1, 2}, 0 / 0, o2)
    bad(6, "o2 of another dtype or size than o1", Z, {1, 2}, o1, {1, 2}, 0, nyto.zeros(3, F64))
    bad(3, "shares its storage with argument #6", Z, {1, 2}, o1, {1, 2}, 0, o1)
    bad(3, "shares its storage with argument #1", Z, {1, 2}, Z:view {-1}:narrow(1, 1, 3))
    bad(3, "float32 or float64 tensor expected", Z, {1, 2}, H.I {1, 2, 3})
    assert.is_true(nyto.equal(o1, nyto.zeros(3)))
    assert.is_true(nyto.equal(o2, nyto.zeros(3)))
    assert.is_true(nyto.equal(Z, nyto.ones(2, 3)))
  end)
end)

describe("core.es_elite", function()
  for _, xd in ipairs {"float32", "float64"} do
    it(xd .. ": the mean and sqrt(mean (x - mean)^2) of the chosen rows, as float64 Lua numbers", function()
      local n, D = 9, 2050
      local X = nyto.randn({n, D}, {generator = nyto.Generator(6), dtype = xd})
      local many = {} -- more rows than the pass's list on the stack (64)
      for k = 1, 70 do many[k] = (k * 4) % n + 1 end
      for _, idx in ipairs {{7, 2, 9, 2, 4}, many} do -- any order, repeats count twice
      local R = rows_of(X)
      local mu, sd = {}, {}
      for j = 1, D do
        local a = 0.0
        for _, i in ipairs(idx) do a = a + R[i][j] end
        local m = a / #idx
        local b = 0.0
        for _, i in ipairs(idx) do b = b + (R[i][j] - m) * (R[i][j] - m) end
        mu[j], sd[j] = m, math.sqrt(b / #idx)
      end
      for _, od in ipairs {"float64", "float32"} do
        local m, s = nyto.zeros({D}, {dtype = od}), nyto.zeros({D}, {dtype = od})
        local a, b = core.es_elite(X, idx, m, s)
        assert.are.equal(m, a)
        assert.are.equal(s, b)
        assert.is_true(nyto.equal(m, nyto.tensor(mu, {dtype = od})), od .. " mean")
        assert.is_true(nyto.equal(s, nyto.tensor(sd, {dtype = od})), od .. " std")
      end
      -- what it replaces: the tensor mean and deviation of the selected rows
      local E = X:double():index_select(1, nyto.tensor(idx, {dtype = "int64"}))
      local tm = E:mean(1)
      local d = E - tm:view {1, D}
      assert.is_true(nyto.allclose(nyto.tensor(mu, F64), tm, 1e-12, 1e-12))
      assert.is_true(nyto.allclose(nyto.tensor(sd, F64), (d * d):mean(1):sqrt(), 1e-12, 1e-12))
      end
    end)
  end

  it("refuses bad operands with a nyto: error and writes nothing", function()
    local X, m, s = nyto.ones(4, 3), nyto.zeros(3), nyto.zeros(3)
    local fn = "es_elite"
    local function bad(i, msg, ...)
      raises(("nyto: bad argument #%d to '%s' (%s)"):format(i, fn, msg), core.es_elite, ...)
    end
    bad(2, "index 1 is not a row of X (1..4)", X, {0}, m, s)
    bad(2, "index 2 is not a row of X (1..4)", X, {1, 5}, m, s)
    bad(2, "index 1 is not a row of X (1..4)", X, {1.5}, m, s)
    bad(2, "index 1 is not a row of X (1..4)", X, {math.maxinteger}, m, s)
    bad(2, "idx must not be empty", X, {}, m, s)
    bad(3, "mean's size does not divide X's", X, {1}, nyto.zeros(5), s)
    bad(4, "std of another dtype or size than mean", X, {1}, m, nyto.zeros(3, F64))
    bad(3, "shares its storage with argument #4", X, {1}, m, m)
    bad(4, "shares its storage with argument #1", X, {1}, m, X:view {-1}:narrow(1, 1, 3))
    assert.is_true(nyto.equal(m, nyto.zeros(3)))
    assert.is_true(nyto.equal(s, nyto.zeros(3)))
  end)
end)

describe("core.es_sepcma_mean and core.es_sepcma_cov (sep-CMA-ES's tell over its D-vectors)", function()
  -- |got - want| <= 1e-12 |want| elementwise (float64; one rounding per operation either way,
  -- the order may differ from libtorch's vector kernels)
  local function rel(got, want, what)
    local excess = ((got - want):abs() - want:abs() * 1e-12):max():item()
    assert.is_true(excess <= 1e-300, ("%s: excess %.3g"):format(what, excess))
  end
  local function vecs(P, seed)
    local g = nyto.Generator(seed)
    local zw = nyto.randn({P}, {generator = g, dtype = "float64"})
    local Dv = nyto.rand({P}, {generator = g, dtype = "float64"}) + 0.1
    local m = nyto.randn({P}, {generator = g, dtype = "float64"})
    local ps = nyto.randn({P}, {generator = g, dtype = "float64"})
    local pc = nyto.randn({P}, {generator = g, dtype = "float64"})
    local C = Dv * Dv
    local rk = nyto.randn({P}, {generator = g, dtype = "float64"})
    return zw, Dv, m, ps, pc, C, rk
  end

  it("equal the update written in tensor arithmetic (a partial block, past the pool's threshold)", function()
    local P = 140001 -- 69 blocks of 2048 and a partial one; more than 131072: split on the pool
    local zw, Dv, m, ps, pc, C, rk = vecs(P, 21)
    C:narrow(1, 5, 3):fill_(-1) -- three entries whose update is negative: clamped to 1e-300
    local am, ks, as = 0.37, 0.81, 1.9
    local kc, ac, keep, c1, cmu = 0.93, 0.44, 0.98, 0.013, 0.021
    -- the tensor arithmetic (cmaes.lua's before the pass)
    local y = zw * Dv
    local m2 = m + y * am
    local ps2 = ps * ks + (y / Dv) * as
    local n2 = (ps2 * ps2):sum():item()
    local pc2 = pc * kc + y * ac
    local C2 = (C * keep + pc2 * pc2 * c1 + rk * Dv * Dv * cmu):clamp(1e-300)
    local D2 = C2:sqrt()
    local got = core.es_sepcma_mean(zw, Dv, m, ps, am, ks, as)
    assert.is_true(math.abs(got - n2) <= 1e-12 * n2, ("||ps||^2 %.17g vs %.17g"):format(got, n2))
    rel(zw, y, "<y>_w")
    rel(m, m2, "m")
    rel(ps, ps2, "p_sigma")
    local _, D0 = vecs(P, 21)
    assert.is_true(nyto.equal(Dv, D0), "D read only")
    core.es_sepcma_cov(zw, rk, Dv, pc, C, kc, ac, keep, c1, cmu)
    rel(pc, pc2, "p_c")
    rel(C, C2, "C")
    rel(Dv, D2, "D")
    assert.are.same({1e-300, 1e-300, 1e-300}, C:narrow(1, 5, 3):totable())
  end)

  it("the same bits on 1 and 2 threads", function()
    local old = nyto.num_threads()
    local out = {}
    for t = 1, 2 do
      nyto.num_threads(t)
      local zw, Dv, m, ps, pc, C, rk = vecs(300007, 5)
      local n2 = core.es_sepcma_mean(zw, Dv, m, ps, 1.1, 0.7, 0.3)
      core.es_sepcma_cov(zw, rk, Dv, pc, C, 0.9, 0.2, 0.95, 0.01, 0.02)
      out[t] = {n2, zw, m, ps, pc, C, Dv}
    end
    nyto.num_threads(old)
    assert.are.equal(out[1][1], out[2][1])
    for i = 2, 7 do assert.is_true(nyto.equal(out[1][i], out[2][i]), "output " .. i) end
  end)

  it("a sep-CMA-ES generation equals the tensor arithmetic of (41)-(47), with h_sigma 1 and 0", function()
    local S = nyto.strategy
    local D = 10 -- c_sigma ~ 0.3: p_sigma follows a slope within a few generations
    local es = S.CMAES(nyto.zeros(D, F64), {diagonal = true, sigma = 0.01, popsize = 12, generator = nyto.Generator(3)})
    local K, lambda, mu = es.K, es.n, es.mu_parents
    local seen = {}
    for gen = 1, 24 do
      local X = es:ask()
      -- a linear slope for 12 generations (p_sigma grows: h_sigma 0 in most), then the sphere
      -- around (5, ..., 5) (h_sigma switches between 1 and 0)
      local f = gen <= 12 and X:sum(2) or ((X - 5) * (X - 5)):sum(2)
      local ft = f:totable()
      local st = es:state_dict().state
      -- the reference: ranks, weights, sums and updates in tensor arithmetic
      local order = {}
      for k = 1, lambda do order[k] = k end
      table.sort(order, function(a, b) if ft[a] ~= ft[b] then return ft[a] < ft[b] end return a < b end)
      local norms2 = st.norms2:totable()
      local wp, wo = {}, {}
      for k = 1, lambda do wp[k] = 0 end
      for i = 1, lambda do
        local w, k = K.w[i], order[i]
        if i <= mu then wp[k] = w end
        wo[k] = w >= 0 and w or w * D / math.max(norms2[k], 1e-300)
      end
      local Z = st.z:double()
      local zw = (Z * nyto.tensor(wp, F64):view {-1, 1}):sum(1)
      local rankz = (Z * Z * nyto.tensor(wo, F64):view {-1, 1}):sum(1)
      local yw = zw * st.Dv
      local m = st.mean + yw * (K.cm * st.step)
      local ps = st.ps * (1 - K.cs) + (yw / st.Dv) * math.sqrt(K.cs * (2 - K.cs) * K.mueff)
      local psn = ps:norm():item()
      local g1 = st.counteval / lambda + 1
      local hsig = psn / math.sqrt(1 - (1 - K.cs) ^ (2 * g1)) < (1.4 + 2 / (D + 1)) * K.chiN and 1 or 0
      seen[hsig] = true
      local pc = st.pc * (1 - K.cc) + yw * (hsig * math.sqrt(K.cc * (2 - K.cc) * K.mueff))
      local keep = 1 + K.c1 * (1 - hsig) * K.cc * (2 - K.cc) - K.c1 - K.cmu * K.wsum
      local C = (st.C * keep + pc * pc * K.c1 + rankz * st.Dv * st.Dv * K.cmu):clamp(1e-300)
      local step = st.step * math.exp(K.cs / K.ds * (psn / K.chiN - 1))
      es:tell(f)
      local new = es:state_dict().state
      -- (sum(1) adds the rows of z in another order than es_moments: within the tolerance)
      rel(new.mean, m, "m, generation " .. gen)
      rel(new.ps, ps, "p_sigma, generation " .. gen)
      rel(new.pc, pc, "p_c, generation " .. gen)
      rel(new.C, C, "C, generation " .. gen)
      rel(new.Dv, C:sqrt(), "D, generation " .. gen)
      assert.is_true(math.abs(new.step - step) <= 1e-12 * step, "sigma, generation " .. gen)
      -- each generation's reference starts from the strategy's own state: no drift to allow
    end
    assert.is_true(seen[0] and seen[1], "both h_sigma paths taken")
  end)

  it("sep-CMA-ES's ask: x_k = m + (sigma D) z_k in the center's dtype from m and sigma D rounded once", function()
    local S = nyto.strategy
    for _, dt in ipairs {"float32", "float64"} do
      local D = 1037 -- a partial 1024-column block
      local es = S.CMAES(nyto.randn(D, {generator = nyto.Generator(4), dtype = dt}),
        {diagonal = true, sigma = 0.3, popsize = 6, generator = nyto.Generator(5)})
      for gen = 1, 4 do
        local X = es:ask()
        local st = es:state_dict().state
        assert.are.equal(dt, X:dtype())
        assert.are.equal(dt, st.z:dtype())
        -- sigma D in float64, then (float32 center) m and sigma D rounded to float32 and the
        -- product and sum in float32, each rounded once: the tensor arithmetic, bit for bit
        local function to(t) return dt == "float32" and t:float() or t:double() end
        local sD = to(st.Dv * st.step):view {1, -1}
        local want = (to(st.z) * sD) + to(st.mean):view {1, -1}
        assert.is_true(nyto.equal(X, want), dt .. ", generation " .. gen)
        -- and within a few float32 roundings of the same sample in float64 arithmetic, relative
        -- to |m| + |sigma D z| (the sum cancels where x is near 0)
        local step = st.z:double() * (st.Dv * st.step):view {1, -1}
        local exact = step + st.mean:view {1, -1}
        local err = ((X:double() - exact):abs() / (step:abs() + st.mean:abs():view {1, -1})):max():item()
        assert.is_true(err <= (dt == "float32" and 4 * 2 ^ -24 or 2 ^ -53), ("%s relative error %g"):format(dt, err))
        es:tell(((X:double() - 1) * (X:double() - 1)):sum(2))
      end
    end
  end)

  it("refuses bad operands with a nyto: error and writes nothing", function()
    local a, b, c, d, e = nyto.zeros(5, F64), nyto.ones(5, F64), nyto.zeros(5, F64), nyto.zeros(5, F64), nyto.ones(5, F64)
    local function bad(fn, i, msg, ...)
      raises(("nyto: bad argument #%d to '%s' (%s)"):format(i, fn, msg), core[fn], ...)
    end
    bad("es_sepcma_mean", 1, "float64 tensor expected", nyto.zeros(5), b, c, d, 1, 1, 1)
    bad("es_sepcma_mean", 2, "a vector of the size of argument #1 expected", a, nyto.ones(4, F64), c, d, 1, 1, 1)
    bad("es_sepcma_mean", 3, "a contiguous CPU tensor expected", a, b, nyto.zeros(2, 5, F64):t(), d, 1, 1, 1)
    bad("es_sepcma_mean", 1, "shares its storage with argument #3", a, b, a, d, 1, 1, 1)
    bad("es_sepcma_mean", 1, "shares its storage with argument #2", b, b, c, d, 1, 1, 1)
    bad("es_sepcma_mean", 6, "a finite number expected", a, b, c, d, 1, 0 / 0, 1)
    bad("es_sepcma_mean", 7, "a finite number expected", a, b, c, d, 1, 1)
    bad("es_sepcma_mean", 1, "empty vector", nyto.zeros(0, F64), nyto.zeros(0, F64), nyto.zeros(0, F64), nyto.zeros(0, F64), 1, 1, 1)
    bad("es_sepcma_cov", 5, "a vector of the size of argument #3 expected", a, b, c, d, nyto.ones(6, F64), 1, 1, 1, 1, 1)
    bad("es_sepcma_cov", 4, "float64 tensor expected", a, b, c, nyto.zeros(5), e, 1, 1, 1, 1, 1)
    bad("es_sepcma_cov", 3, "shares its storage with argument #1", a, b, a, d, e, 1, 1, 1, 1, 1)
    bad("es_sepcma_cov", 10, "a finite number expected", a, b, c, d, e, 1, 1, 1, 1, math.huge)
    bad("es_sepcma_cov", 1, "Tensor expected, got table", {}, b, c, d, e, 1, 1, 1, 1, 1)
    assert.is_true(nyto.equal(a, nyto.zeros(5, F64)) and nyto.equal(c, nyto.zeros(5, F64)) and nyto.equal(e, nyto.ones(5, F64)))
    assert.is_true(nyto.equal(d, nyto.zeros(5, F64)))
  end)
end)

describe("core.mem_read and core.mem_write (bench/strategy's floor passes)", function()
  it("read every element once: the sum of a float32 tensor, off the line grid, with a tail", function()
    local big = nyto.randn({8 * 4096 + 16 * 8 + 13}, {generator = nyto.Generator(7)})
    for _, off in ipairs {0, 1, 5} do -- element offsets: the data 4, 20 bytes off its line
      local x = big:narrow(1, off + 1, big:numel() - off - 3)
      local want = x:double():sum():item()
      local got = core.mem_read(x)
      assert.is_true(math.abs(got - want) <= 1e-3 * (x:double():abs():sum():item()) * 2 ^ -10,
        ("offset %d: %g against %g"):format(off, got, want))
    end
    -- each element counts: a changed element moves the sum by what it changed
    local x = nyto.zeros(1000)
    assert.are.equal(0, core.mem_read(x))
    x[999] = 4
    assert.are.equal(4, core.mem_read(x))
    assert.are.equal(0, core.mem_read(nyto.zeros(0)))
  end)

  it("write v into every element, and nothing beside them", function()
    for _, dt in ipairs {"float32", "float64"} do
      local big = nyto.full({8 * 4096 + 37}, -1, {dtype = dt})
      local x = big:narrow(1, 4, big:numel() - 9) -- 3 elements before, 6 after
      assert.are.equal(x, core.mem_write(x, 2.5))
      assert.is_true(nyto.equal(x, nyto.full({x:numel()}, 2.5, {dtype = dt})), dt)
      assert.is_true(nyto.equal(big:narrow(1, 1, 3), nyto.full({3}, -1, {dtype = dt})), dt .. " before")
      assert.is_true(nyto.equal(big:narrow(1, big:numel() - 5, 6), nyto.full({6}, -1, {dtype = dt})), dt .. " after")
    end
  end)

  it("refuses bad operands with a nyto: error and writes nothing", function()
    local x = nyto.zeros(4)
    raises("nyto: bad argument #1 to 'mem_read' (Tensor expected, got number)", core.mem_read, 3)
    raises("nyto: bad argument #1 to 'mem_read' (float32 or float64 tensor expected)", core.mem_read, nyto.zeros({4}, {dtype = "int64"}))
    raises("nyto: bad argument #1 to 'mem_read' (a contiguous CPU tensor expected)", core.mem_read, nyto.zeros(3, 4):t())
    raises("nyto: bad argument #2 to 'mem_write' (a finite number expected)", core.mem_write, x, 0 / 0)
    raises("nyto: bad argument #2 to 'mem_write' (a finite number expected)", core.mem_write, x, "one")
    raises("nyto: bad argument #1 to 'mem_write' (a contiguous CPU tensor expected)", core.mem_write, nyto.zeros(3, 4):t(), 1)
    assert.is_true(nyto.equal(x, nyto.zeros(4)))
  end)
end)
