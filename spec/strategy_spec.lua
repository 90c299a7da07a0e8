-- nyto.strategy: PSO, APSO, GA, DE, CEM (issue 17) and the shared ask/tell machinery
-- (lua/nyto/strategy/base.lua), checked against
--   * published behaviour on test functions (median over seeds; figures and sources below),
--   * the first generations recomputed by hand in plain tensor arithmetic from a replayed
--     generator (an independent computation of each paper's update),
--   * the same strategy on a particle center and on that center's flat vector (bit for bit),
--   * maximize = minimising -f, reruns, thread counts, and save/load continuations,
--   * every bad input of the issue, with its exact message, leaving the state unchanged.
local nyto = require "nyto"
local H = require "helpers"
local sphere, median, raises, net3, flat_of, pop_flat, same_state =
  H.sphere, H.median, H.raises_exact, H.net3, H.flat_of, H.pop_flat, H.same_state
local nn = nyto.nn

local NAMES = {"PSO", "APSO", "GA", "DE", "CEM"}

local function rastrigin(X) -- rows of X: f(x) = 10 D + sum_j (x_j^2 - 10 cos(2 pi x_j)); min 0 at 0
  return (X * X - (X * (2 * math.pi)):cos() * 10):sum(2) + 10 * X:size(2)
end


-- the best fitness of `gens` generations of NAME on f, for seeds 1..5
local function runs(name, f, center, opts, gens)
  local out = {}
  for seed = 1, 5 do
    local o = {generator = nyto.Generator(seed)}
    for k, v in pairs(opts) do o[k] = v end
    local es = nyto.strategy[name](center, o)
    for _ = 1, gens do es:tell(f(es:ask())) end
    local _, best = es:best()
    out[seed] = best
  end
  return out
end




describe("nyto.strategy: published behaviour (medians over seeds 1-5, float64 vector centers)", function()
  -- 10-D Rastrigin, started off-center (center 2, sigma 3: the optimum is not the mean of the
  -- first population).
  it("PSO on 10-D Rastrigin: gbest PSO, constriction-equivalent parameters", function()
    -- Expected: gbest PSO with w = 0.7298, c1 = c2 = 1.49618 (Clerc & Kennedy 2002; Eberhart &
    -- Shi 2000) does not solve Rastrigin: it stagnates in a local minimum near a lattice point,
    -- at a few units of f (the local minima sit near integers k of f: 0.995, 1.99, 2.98, ...).
    -- Bratton & Kennedy 2007 ("Defining a standard for PSO") find that the standard PSO does
    -- not solve the 30-D Rastrigin either (mean errors far above 0); on 10-D the figures in
    -- the PSO literature are a few units (not checked here against one table). nyto measured (40 particles, 500 generations = 20,000 evaluations): best
    -- per seed (sorted) 1.00, 2.98, 3.03, 7.96, 7.96, median 3.03. Criterion: median < 10 (from an
    -- initial best of ~100), every run < 20.
    local f = runs("PSO", rastrigin, nyto.full({10}, 2, {dtype = "float64"}), {popsize = 40, sigma = 3}, 500)
    assert.is_true(median(f) < 10, "median " .. median(f))
    for _, v in ipairs(f) do assert.is_true(v < 20, tostring(v)) end
  end)

  it("DE/rand/1/bin on 10-D Rastrigin reaches the global minimum", function()
    -- Expected: Storn & Price 1997 advise F = 0.5 and CR = 0.1 as the first setting (CR = 0.9
    -- for non-separable problems); Rastrigin is separable, where low CR makes DE's search
    -- coordinate-wise and DE/rand/1/bin finds the global minimum f = 0 (the reason for their
    -- advice; Price, Storn and Lampinen 2005 discuss CR ~ 0 for separable functions).
    -- nyto measured (NP = 50, 400 generations = 20,000 evaluations): median 1.1e-9, worst
    -- 2.3e-9. Criterion: median < 1e-6.
    local f = runs("DE", rastrigin, nyto.full({10}, 2, {dtype = "float64"}), {popsize = 50, sigma = 3, CR = 0.1}, 400)
    assert.is_true(median(f) < 1e-6, "median " .. median(f))
  end)

  it("CEM on the 20-D sphere", function()
    -- Expected: the cross-entropy method with normal updating converges on the sphere
    -- (de Boer et al. 2005, section 3.2) until its variance collapses; without smoothing the
    -- collapse can stop it early (their remark motivating smoothed updates), so the figure
    -- varies by seed. nyto measured (N = 100, elite_ratio 0.5, 300 generations from
    -- mu = (1, ..., 1), sigma = 1, f = 20): median 2.2e-4, worst 1.3e-3 (best 1e-36: the seed
    -- whose variance did not collapse early). Criterion: median
    -- < 1e-2, every run < 0.1.
    local f = runs("CEM", sphere, nyto.ones({20}, {dtype = "float64"}), {popsize = 100, sigma = 1, elite_ratio = 0.5}, 300)
    assert.is_true(median(f) < 1e-2, "median " .. median(f))
    for _, v in ipairs(f) do assert.is_true(v < 0.1, tostring(v)) end
  end)
end)

describe("nyto.strategy: the updates recomputed by hand", function()
  local D, n, c
  before_each(function()
    D, n = 5, 6
    c = nyto.tensor({0.5, -1, 2, 0, 1}, {dtype = "float64"})
  end)
  local function Z(g) return nyto.randn({n, D}, {generator = g, dtype = "float64"}) end
  local function U(g) return nyto.rand({n, D}, {generator = g, dtype = "float64"}) end
  local function argmin(f) local b = 1; for i = 2, #f do if f[i] < f[b] then b = i end end; return b end

  it("PSO: x0 = c + sigma z, then Shi & Eberhart's v and x updates with per-element r1, r2", function()
    local es = nyto.strategy.PSO(c, {popsize = n, sigma = 0.3, generator = nyto.Generator(4)})
    local g = nyto.Generator(4)
    local x0 = c:view {1, D} + 0.3 * Z(g)
    H.assert_close(es:ask(), x0, 1e-12)
    local f0 = sphere(x0):totable()
    es:tell(f0)
    local gb = x0:select(1, argmin(f0))
    local r1, r2 = U(g), U(g)
    -- v1 = w * 0 + c1 r1 (p - x0) + c2 r2 (g - x0), with p = x0 after the first tell
    local v1 = 1.49618 * r2 * (gb:view {1, D} - x0)
    local x1 = x0 + v1
    H.assert_close(es:ask(), x1, 1e-12)
    -- second step: personal bests where improved, the global best, the inertia term
    local f1 = sphere(x1):totable()
    es:tell(f1)
    local p = {}
    for i = 1, n do p[i] = (f1[i] < f0[i] and x1 or x0):select(1, i) end
    local P = nyto.stack(p, 1)
    local pf = {}
    for i = 1, n do pf[i] = math.min(f0[i], f1[i]) end
    local gb2 = P:select(1, argmin(pf)):view {1, D}
    r1, r2 = U(g), U(g)
    local v2 = 0.7298 * v1 + 1.49618 * r1 * (P - x1) + 1.49618 * r2 * (gb2 - x1)
    H.assert_close(es:ask(), x1 + v2, 1e-12)
    local best, bf = es:best()
    assert.are.equal(math.min(table.unpack(pf)), bf)
    H.assert_close(best, gb2:view {D}, 1e-12)
  end)

  it("APSO: x <- (1 - a) x + a g* + noise * decay^t * eps", function()
    local es = nyto.strategy.APSO(c, {popsize = n, sigma = 0.5, alpha = 0.3, decay = 0.9, generator = nyto.Generator(2)})
    local g = nyto.Generator(2)
    local x = c:view {1, D} + 0.5 * Z(g)
    local gbest, gf = nil, math.huge
    for t = 0, 2 do
      H.assert_close(es:ask(), x, 1e-12)
      local f = sphere(x):totable()
      es:tell(f)
      local b = argmin(f)
      if f[b] < gf then gbest, gf = x:select(1, b):clone(), f[b] end
      x = 0.7 * x + 0.3 * gbest:view {1, D} + (0.2 * 0.5 * 0.9 ^ t) * Z(g)
    end
    local _, bf = es:best()
    assert.are.equal(gf, bf)
  end)

  it("GA: elites carried unchanged, children of tournament winners; no crossover and no mutation copy parents", function()
    local es = nyto.strategy.GA(c, {popsize = n, sigma = 1, elite = 2, crossover = 0, mutation = 0, generator = nyto.Generator(3)})
    local x0 = es:ask():clone()
    local f0 = sphere(x0):totable()
    es:tell(f0)
    local order = {}
    for i = 1, n do order[i] = i end
    table.sort(order, function(a, b) return f0[a] < f0[b] end)
    local x1 = es:ask()
    H.assert_close(x1:select(1, 1), x0:select(1, order[1]), 0)
    H.assert_close(x1:select(1, 2), x0:select(1, order[2]), 0)
    for i = 3, n do
      local found = false
      for j = 1, n do if nyto.equal(x1:select(1, i), x0:select(1, j)) then found = true end end
      assert.is_true(found, "child " .. i .. " is a parent")
    end
    -- with crossover and mutation: elites still exact, children new
    local es2 = nyto.strategy.GA(c, {popsize = n, sigma = 1, elite = 1, generator = nyto.Generator(3)})
    local y0 = es2:ask():clone()
    local g0 = sphere(y0):totable()
    es2:tell(g0)
    local y1 = es2:ask()
    H.assert_close(y1:select(1, 1), y0:select(1, argmin(g0)), 0)
    for i = 2, n do
      for j = 1, n do assert.is_false(nyto.equal(y1:select(1, i), y0:select(1, j))) end
    end
  end)

  it("DE: every trial is binomial crossover of x_i with x_r1 + F (x_r2 - x_r3), and selection keeps the better", function()
    local F = 0.7
    local es = nyto.strategy.DE(c, {popsize = n, sigma = 1, F = F, CR = 0.5, generator = nyto.Generator(8)})
    local x = es:ask():clone()
    local fx = sphere(x):totable()
    es:tell(fx)
    for _ = 1, 3 do
      local u = es:ask():clone()
      for i = 1, n do
        local ok = false
        for r1 = 1, n do for r2 = 1, n do for r3 = 1, n do
          if not ok and r1 ~= i and r2 ~= i and r3 ~= i and r1 ~= r2 and r1 ~= r3 and r2 ~= r3 then
            local v = x:select(1, r1) + F * (x:select(1, r2) - x:select(1, r3))
            local fromv, all = 0, true
            for j = 1, D do
              local uj = u[i][j]:item()
              if uj == v[j]:item() and uj ~= x[i][j]:item() then fromv = fromv + 1
              elseif uj ~= x[i][j]:item() then all = false end
            end
            ok = all and fromv >= 1
          end
        end end end
        assert.is_true(ok, "trial " .. i .. " is a DE/rand/1/bin trial")
      end
      local fu = sphere(u):totable()
      es:tell(fu)
      local nx = {}
      for i = 1, n do
        nx[i] = (fu[i] <= fx[i] and u or x):select(1, i)
        fx[i] = math.min(fu[i], fx[i])
      end
      x = nyto.stack(nx, 1)
      H.assert_close(es:state_dict().state.x, x, 0)
    end
  end)

  it("CEM: mu and sigma are the mean and the standard deviation of the elites", function()
    local es = nyto.strategy.CEM(c, {popsize = n, sigma = 0.4, elite_ratio = 0.5, generator = nyto.Generator(6)})
    local g = nyto.Generator(6)
    local mu, sd = c, nyto.full({D}, 0.4, {dtype = "float64"})
    for _ = 1, 3 do
      local X = mu:view {1, D} + sd:view {1, D} * Z(g)
      H.assert_close(es:ask(), X, 1e-12)
      local f = sphere(X):totable()
      es:tell(f)
      local order = {}
      for i = 1, n do order[i] = i end
      table.sort(order, function(a, b) return f[a] < f[b] end)
      local E = X:index_select(1, H.I {order[1], order[2], order[3]})
      mu = E:mean(1)
      sd = ((E - mu:view {1, D}) ^ 2):mean(1):sqrt()
      H.assert_close(es:center(), mu, 1e-12)
      H.assert_close(es:state_dict().state.std, sd, 1e-12)
    end
  end)
end)

describe("nyto.strategy: particle centers", function()
  it("every strategy on a particle runs on Swarms, bit for bit the same course as on its flat vector", function()
    nyto.manual_seed(3)
    local net = net3()
    local c = flat_of(net)
    local function f_of(X) return (X * X):sum(2) + X:select(2, 1) end
    for _, name in ipairs(NAMES) do
      local a = nyto.strategy[name](net, {popsize = 6, generator = nyto.Generator(9)})
      local b = nyto.strategy[name](c, {popsize = 6, generator = nyto.Generator(9)})
      for _ = 1, 8 do
        local pa, pb = a:ask(), b:ask()
        assert.are.equal("Swarm", nyto.type(pa), name)
        assert.are.equal(6, #pa)
        assert.is_true(nyto.equal(pa:flat(), pb), name)
        a:tell(f_of(pa:flat()))
        b:tell(f_of(pb))
      end
      local ba, fa = a:best()
      local bb, fb = b:best()
      assert.are.equal("Module", nyto.type(ba))
      assert.are.equal(fb, fa)
      assert.is_true(nyto.equal(flat_of(ba), bb), name)
      assert.are.equal("Module", nyto.type(a:center()), name)
      assert.is_true(nyto.equal(flat_of(a:center()), b:center()), name)
      assert.are.equal(8, a.generation)
    end
  end)

  it("a non-operational parameter keeps the center's values in every member, best and center", function()
    nyto.manual_seed(2)
    local net = nn.Linear(3, 2)
    net:set_param_config {operational = false, name = "bias"}
    local bias = net.bias:detach():clone()
    for _, name in ipairs(NAMES) do
      local es = nyto.strategy[name](net, {popsize = 6, sigma = 1, generator = nyto.Generator(1)})
      for _ = 1, 4 do
        local pop = es:ask()
        for i = 1, 6 do assert.is_true(nyto.equal(pop[i].bias:detach(), bias), name) end
        es:tell(sphere(pop:flat()))
      end
      assert.is_true(nyto.equal(es:best().bias:detach(), bias), name)
      assert.is_true(nyto.equal(es:center().bias:detach(), bias), name)
    end
  end)

  it("the population ask returns is the strategy's own: PSO, APSO and CEM reuse it (clone to keep one)", function()
    nyto.manual_seed(4)
    local net = net3()
    for _, name in ipairs {"PSO", "APSO", "CEM"} do
      local es = nyto.strategy[name](net, {popsize = 6, generator = nyto.Generator(3)})
      local p1 = es:ask()
      local kept = p1:clone()
      es:tell(sphere(p1:flat()))
      local p2 = es:ask()
      assert.is_true(rawequal(p1, p2), name)
      assert.is_false(nyto.equal(p2:flat(), kept:flat()), name)
    end
    -- CEM draws into a new arena when its population was freed
    local es = nyto.strategy.CEM(net, {popsize = 6, generator = nyto.Generator(3)})
    local ref = nyto.strategy.CEM(net, {popsize = 6, generator = nyto.Generator(3)})
    for _ = 1, 3 do
      local p, q = es:ask(), ref:ask()
      es:tell(sphere(p:flat()))
      ref:tell(sphere(q:flat()))
      p:free()
    end
    same_state(es:state_dict(), ref:state_dict())
    -- freeing PSO's population (its positions) is an error, never a crash
    local pso = nyto.strategy.PSO(net, {popsize = 6, generator = nyto.Generator(3)})
    pso:ask():free()
    raises("nyto: bad argument #1 to 'tell' (the population returned by ask was freed)", pso.tell, pso, {1, 2, 3, 4, 5, 6})
  end)

  it("evolves a small network: the best member's loss, recomputed by its own forward, falls", function()
    nyto.manual_seed(5)
    local net = nn.Linear(3, 2)
    local X = nyto.randn(32, 3)
    local Wt = nyto.tensor {{1, -2, 0.5}, {0, 1, 1}}
    local Y = nyto.mm(X, Wt:t())
    local function loss1(m) return ((m(X) - Y) ^ 2):mean():item() end
    local l0 = loss1(net)
    for _, name in ipairs(NAMES) do
      local es = nyto.strategy[name](net, {popsize = 16, sigma = 0.5, generator = nyto.Generator(1)})
      local best, f = nyto.strategy.run(es, function(pop) return ((pop(X) - Y) ^ 2):mean(3):mean(2) end,
                                        {generations = 40, batched = true})
      assert.are.equal("Module", nyto.type(best))
      assert.is_true(math.abs(loss1(best) - f) < 1e-5, name)
      assert.is_true(f < 0.5 * l0, ("%s: %g vs %g"):format(name, f, l0))
    end
  end)
end)

describe("nyto.strategy: determinism", function()
  it("maximize = true runs the course of minimising -f; best is reported in the user's sign", function()
    for _, name in ipairs(NAMES) do
      local c = nyto.tensor({1, 2, 3, 4}, {dtype = "float64"})
      local a = nyto.strategy[name](c, {popsize = 8, maximize = true, generator = nyto.Generator(5)})
      local b = nyto.strategy[name](c, {popsize = 8, generator = nyto.Generator(5)})
      for _ = 1, 10 do
        local pa, pb = a:ask(), b:ask()
        assert.is_true(nyto.equal(pa, pb), name)
        a:tell(-sphere(pa))
        b:tell(sphere(pb))
      end
      local ba, fa = a:best()
      local bb, fb = b:best()
      assert.are.equal(-fb, fa, name)
      assert.is_true(nyto.equal(ba, bb), name)
    end
  end)

  it("a seeded run is bit-identical on a rerun and on 1 or 2 threads (large fills use the pool)", function()
    local n0 = nyto.num_threads()
    local function course(name, center, threads)
      nyto.num_threads(threads)
      local es = nyto.strategy[name](center, {popsize = 8, generator = nyto.Generator(11)})
      local out = {}
      for g = 1, 2 do
        local pop = es:ask()
        local X = pop_flat(es, pop)
        out[g] = X:clone()
        es:tell(sphere(X))
      end
      return out
    end
    local big = nyto.zeros {16500} -- 8 x 16500 draws: past the 131072-element threshold
    local net = nn.Linear(128, 128) -- 16512 parameters
    for _, name in ipairs(NAMES) do
      for _, center in ipairs {big, net} do
        local a, b, c = course(name, center, 1), course(name, center, 2), course(name, center, 1)
        for g = 1, 2 do
          assert.is_true(nyto.equal(a[g], b[g]), name .. " threads")
          assert.is_true(nyto.equal(a[g], c[g]), name .. " rerun")
        end
      end
    end
    nyto.num_threads(n0)
  end)

  it("without a generator, nyto.manual_seed makes the run reproducible", function()
    local c = nyto.zeros {6}
    nyto.manual_seed(42)
    local a = nyto.strategy.CEM(c, {popsize = 4}):ask()
    nyto.manual_seed(42)
    local b = nyto.strategy.CEM(c, {popsize = 4}):ask()
    nyto.manual_seed(43)
    local d = nyto.strategy.CEM(c, {popsize = 4}):ask()
    assert.is_true(nyto.equal(a, b))
    assert.is_false(nyto.equal(a, d))
  end)
end)

describe("nyto.strategy: state_dict", function()
  local dir
  setup(function()
    dir = os.tmpname()
    os.remove(dir)
    assert(os.execute("mkdir -p " .. dir))
  end)
  teardown(function() os.execute("rm -rf " .. dir) end)

  -- run k generations, save (with an ask pending or not), go on m generations; a new
  -- strategy loaded from the file goes on the same m generations bit for bit
  local function check(name, center, ext, pending)
    local function f_of(es, pop) return sphere(pop_flat(es, pop)) end
    local a = nyto.strategy[name](center, {popsize = 6, generator = nyto.Generator(21)})
    for _ = 1, 4 do a:tell(f_of(a, a:ask())) end
    local pop
    if pending then pop = a:ask() end
    local path = dir .. "/es." .. ext
    assert.is_true(nyto.save(a, path))
    local b = nyto.strategy[name](center, {popsize = 6, generator = nyto.Generator(99)})
    b:load_state_dict(nyto.load(path))
    assert.are.equal(a.generation, b.generation)
    same_state(a:state_dict(), b:state_dict())
    local pb
    if pending then
      pb = b:ask()
      assert.is_true(nyto.equal(pop_flat(a, a:ask()), pop_flat(b, pb)))
    end
    for _ = 1, 4 do
      local xa, xb = a:ask(), b:ask()
      assert.is_true(nyto.equal(pop_flat(a, xa), pop_flat(b, xb)), name .. " " .. ext)
      a:tell(f_of(a, xa))
      b:tell(f_of(b, xb))
    end
    same_state(a:state_dict(), b:state_dict())
    local _, fa = a:best()
    local _, fb = b:best()
    assert.are.equal(fa, fb)
  end

  it("state_dict -> nyto.save -> nyto.load -> load_state_dict continues identically (.safetensors, .pt)", function()
    for _, name in ipairs(NAMES) do
      check(name, nyto.tensor({1, -1, 0.5}, {dtype = "float64"}), "safetensors", false)
      check(name, nyto.tensor {1, -1, 0.5}, "pt", true)
    end
    nyto.manual_seed(1)
    check("PSO", net3(), "safetensors", true)
    check("DE", net3(), "pt", false)
  end)

  it("a tell told after loading a pending ask scores the saved population", function()
    local a = nyto.strategy.CEM(nyto.zeros {4}, {popsize = 4, generator = nyto.Generator(1)})
    local pop = a:ask()
    local b = nyto.strategy.CEM(nyto.zeros {4}, {popsize = 4, generator = nyto.Generator(2)})
    b:load_state_dict(a:state_dict())
    b:tell(sphere(pop))
    a:tell(sphere(pop))
    same_state(a:state_dict(), b:state_dict())
  end)

  it("load_state_dict checks kind and sizes before it changes anything", function()
    local es = nyto.strategy.PSO(nyto.zeros {3}, {popsize = 4, generator = nyto.Generator(1)})
    es:tell(sphere(es:ask()))
    local before = es:state_dict()
    local function bad(msg, sd) raises(msg, es.load_state_dict, es, sd); same_state(before, es:state_dict()) end
    bad("nyto: bad argument #1 to 'load_state_dict' (state table expected, got number)", 3)
    local cem = nyto.strategy.CEM(nyto.zeros {3}, {popsize = 4}):state_dict()
    bad("nyto: bad argument #1 to 'load_state_dict' (a PSO state expected, got strategy \"CEM\")", cem)
    local other = nyto.strategy.PSO(nyto.zeros {3}, {popsize = 5}):state_dict()
    bad("nyto: bad argument #1 to 'load_state_dict' (popsize is 5, expected 4)", other)
    other = nyto.strategy.PSO(nyto.zeros {4}, {popsize = 4}):state_dict()
    bad("nyto: bad argument #1 to 'load_state_dict' (dim is 4, expected 3)", other)
    other = nyto.strategy.PSO(nyto.zeros({3}, {dtype = "float64"}), {popsize = 4}):state_dict()
    bad("nyto: bad argument #1 to 'load_state_dict' (dtype is \"float64\", expected \"float32\")", other)
    local sd = es:state_dict()
    sd.state.v = nyto.zeros(4, 2)
    bad("nyto: bad argument #1 to 'load_state_dict' (state entry 'v' must be a float32 tensor of shape [4, 3], got float32 [4, 2])", sd)
    sd = es:state_dict()
    sd.generator = {generator = "mt19937"}
    bad("nyto: bad argument #1 to 'load_state_dict' (generator: not a Generator state: field 'generator' is not \"xoshiro128++/philox4x32-10\")", sd)
    sd = es:state_dict()
    sd.state.extra = 1
    bad("nyto: bad argument #1 to 'load_state_dict' (unknown state entry \"extra\")", sd)
  end)
end)

describe("nyto.strategy: bad input", function()
  it("a center of another kind", function()
    for _, name in ipairs(NAMES) do
      local S = nyto.strategy[name]
      raises(("nyto: bad argument #1 to '%s' (center must be a particle or a 1-D float tensor, got string)"):format(name), S, "x")
      raises(("nyto: bad argument #1 to '%s' (center must be a particle or a 1-D float tensor, got nil)"):format(name), S)
      raises(("nyto: bad argument #1 to '%s' (center must be a particle or a 1-D float tensor, got a 2-D float32 tensor)"):format(name),
             S, nyto.zeros(2, 2))
      raises(("nyto: bad argument #1 to '%s' (center must be a particle or a 1-D float tensor, got a 1-D int64 tensor)"):format(name),
             S, H.I {1, 2})
    end
    local mixed = nn.Linear(2, 2)
    mixed.bias = nyto.Parameter(nyto.zeros({2}, {dtype = "float64"}))
    raises("nyto: bad argument #1 to 'PSO' (center's parameters must have one floating dtype, got float32 and float64)",
           nyto.strategy.PSO, mixed)
    raises("nyto: bad argument #1 to 'PSO' (ParticleModule centers are not supported yet: pass its root module)",
           nyto.strategy.PSO, nyto.ParticleModule(nn.Linear(2, 2)))
  end)

  it("unknown options and options out of range", function()
    local c = nyto.zeros {3}
    local function bad(name, msg, opts) raises(("nyto: bad argument #2 to '%s' (%s)"):format(name, msg), nyto.strategy[name], c, opts) end
    for _, name in ipairs(NAMES) do
      bad(name, "options table expected, got number", 5)
      bad(name, 'unknown option "sigmaa"', {sigmaa = 1})
      bad(name, "option 'popsize' must be an integer >= 2, got 1", {popsize = 1})
      bad(name, "option 'popsize' must be an integer >= 2, got 4.5", {popsize = 4.5})
      bad(name, "option 'sigma' must be a finite number > 0, got 0", {sigma = 0})
      bad(name, "option 'sigma' must be a finite number > 0, got -1", {sigma = -1})
      bad(name, "option 'sigma' must be a finite number > 0, got inf", {sigma = math.huge})
      bad(name, "option 'sigma' must be a finite number > 0, got \"x\"", {sigma = "x"})
      bad(name, "option 'maximize' must be a boolean, got 1", {maximize = 1})
      bad(name, "option 'generator' must be a Generator, got number", {generator = 3})
    end
    bad("PSO", "option 'inertia' must be a number in [0, 1], got -0.5", {inertia = -0.5})
    bad("PSO", "option 'c1' must be a finite number >= 0, got nan", {c1 = 0 / 0})
    bad("APSO", "option 'alpha' must be a number in [0, 1], got 2", {alpha = 2})
    bad("APSO", "option 'decay' must be a number in [0, 1], got 1.5", {decay = 1.5})
    bad("GA", "option 'tournament' must be an integer >= 1, got 0", {tournament = 0})
    bad("GA", "option 'crossover' must be a number in [0, 1], got 1.1", {crossover = 1.1})
    bad("GA", "option 'mutation' must be a finite number >= 0, got -1", {mutation = -1})
    bad("GA", "option 'elite' must be less than popsize (4), got 4", {popsize = 4, elite = 4})
    bad("DE", "option 'F' must be a number in (0, 2], got 0", {F = 0})
    bad("DE", "option 'CR' must be a number in [0, 1], got 2", {CR = 2})
    bad("DE", "option 'popsize' must be >= 4 for DE/rand/1 (a target and 3 others), got 3", {popsize = 3})
    bad("CEM", "option 'elite_ratio' must be a number in (0, 1], got 0", {elite_ratio = 0})
    bad("CEM", "option 'lr' must be a number in (0, 1], got 0", {lr = 0})
  end)

  it("tell before ask, and fitness of the wrong length, type or with NaN: errors that change nothing", function()
    for _, name in ipairs(NAMES) do
      local es = nyto.strategy[name](nyto.zeros {3}, {popsize = 4, generator = nyto.Generator(1)})
      raises(("nyto: tell before ask (%s: call es:ask() first)"):format(name), es.tell, es, {1, 2, 3, 4})
      es:tell(sphere(es:ask()))
      local pop = es:ask()
      local before = es:state_dict()
      local function bad(msg, f)
        raises("nyto: bad argument #1 to 'tell' (" .. msg .. ")", es.tell, es, f)
        same_state(before, es:state_dict())
        assert.are.equal(1, es.generation)
      end
      bad("fitness has 3 values, expected 4 (the popsize)", {1, 2, 3})
      bad("fitness has 5 values, expected 4 (the popsize)", nyto.zeros {5})
      bad("fitness 3 is NaN", {1, 2, 0 / 0, 4})
      bad("fitness 2 is NaN", nyto.tensor {1, 0 / 0, 3, 4})
      bad("fitness 2 is not a number, got string", {1, "2", 3, 4})
      bad("fitness must be a table or 1-D tensor of numbers, got string", "1234")
      bad("fitness must be a table or 1-D tensor of numbers, got nil", nil)
      bad("fitness must be a table or 1-D tensor of numbers, got a 2-D tensor", nyto.zeros(2, 2))
      bad("fitness must be a table or 1-D tensor of numbers, got a bool tensor", nyto.tensor {true, false, true, true})
      -- after the failures, the tell goes on as if they never happened
      local ref = nyto.strategy[name](nyto.zeros {3}, {popsize = 4, generator = nyto.Generator(1)})
      ref:tell(sphere(ref:ask()))
      local rp = ref:ask()
      ref:tell(sphere(rp))
      es:tell(sphere(pop))
      same_state(ref:state_dict(), es:state_dict())
    end
  end)

  it("+/-inf fitness is allowed: ranked last and first", function()
    local es = nyto.strategy.CEM(nyto.zeros {2}, {popsize = 4, elite_ratio = 0.5, generator = nyto.Generator(1)})
    local X = es:ask()
    es:tell {math.huge, 1, -math.huge, 2}
    local best, f = es:best()
    assert.are.equal(-math.huge, f)
    H.assert_close(best, X:select(1, 3), 0)
    H.assert_close(es:center(), (X:select(1, 3) + X:select(1, 2)) / 2, 1e-6)
    local es2 = nyto.strategy.PSO(nyto.zeros {2}, {popsize = 2, generator = nyto.Generator(1)})
    es2:ask()
    es2:tell {math.huge, math.huge}
    local _, f2 = es2:best()
    assert.are.equal(math.huge, f2)
  end)
end)

describe("nyto.strategy.run", function()
  it("runs generations, stops at the target, and returns the best", function()
    local es = nyto.strategy.PSO(nyto.ones {4}, {popsize = 20, sigma = 0.5, generator = nyto.Generator(1)})
    local calls = 0
    local best, f = nyto.strategy.run(es, function(x) calls = calls + 1; return (x * x):sum():item() end,
                                      {generations = 200, target = 1e-2})
    assert.is_true(f <= 1e-2)
    assert.is_true(es.generation < 200)
    assert.are.equal(20 * es.generation, calls)
    H.assert_close(nyto.tensor {(best * best):sum():item()}, {f}, 1e-6)
    -- maximize: the target is reached from below
    local es2 = nyto.strategy.PSO(nyto.ones {2}, {popsize = 10, maximize = true, generator = nyto.Generator(1)})
    local _, f2 = nyto.strategy.run(es2, function(x) return -(x * x):sum():item() end, {generations = 500, target = -1e-3})
    assert.is_true(f2 >= -1e-3)
    assert.is_true(es2.generation < 500)
  end)

  it("batched: fn gets the whole population; unbatched fn gets members (particles on a particle center)", function()
    local net = nn.Linear(2, 1)
    local es = nyto.strategy.GA(net, {popsize = 4, generator = nyto.Generator(1)})
    local seen = {}
    nyto.strategy.run(es, function(m) seen[#seen + 1] = nyto.type(m); return 1 end, {generations = 2})
    assert.are.equal(8, #seen)
    assert.are.equal("Module", seen[1])
    local es2 = nyto.strategy.GA(net, {popsize = 4, generator = nyto.Generator(1)})
    local kinds = {}
    nyto.strategy.run(es2, function(pop) kinds[#kinds + 1] = nyto.type(pop); return {1, 2, 3, 4} end,
                      {generations = 3, batched = true})
    assert.are.same({"Swarm", "Swarm", "Swarm"}, kinds)
    assert.are.equal(3, es2.generation)
  end)

  it("progress prints a line; plot without nyto.plot warns and does not fail", function()
    local es = nyto.strategy.PSO(nyto.zeros {2}, {popsize = 4, generator = nyto.Generator(1)})
    local path = os.tmpname()
    local out = io.open(path, "w")
    nyto.strategy.run(es, function(x) return (x * x):sum():item() end, {generations = 5, progress = {out = out, tty = false}})
    out:close()
    local text = io.open(path):read "a"
    os.remove(path)
    assert.is_truthy(text:find("PSO", 1, true))
    assert.is_truthy(text:find("5/5", 1, true))
    if rawget(nyto, "plot") == nil and not package.searchpath("nyto.plot", package.path) then
      local warned
      nyto.on_warning(function(m) warned = m end)
      nyto.strategy.run(es, function(x) return (x * x):sum():item() end, {generations = 1, plot = "/tmp/never.png"})
      nyto.on_warning(nil)
      assert.are.equal("nyto: strategy.run: nyto.plot is not available; /tmp/never.png was not written", warned)
    end
  end)

  it("plot: calls nyto.plot with the best and mean fitness per generation; its failures are warnings", function()
    local orig = rawget(nyto, "plot")
    local got
    rawset(nyto, "plot", function(a) got = a; return true end)
    local es = nyto.strategy.PSO(nyto.ones {2}, {popsize = 4, generator = nyto.Generator(1)})
    local fs = {}
    nyto.strategy.run(es, function(pop)
      local f = sphere(pop)
      fs[#fs + 1] = f:totable()
      return f
    end, {generations = 6, batched = true, plot = "out.png"})
    assert.are.equal("out.png", got.path)
    assert.are.equal("best", got.series[1].name)
    assert.are.equal("mean", got.series[2].name)
    local best = math.huge
    for g = 1, 6 do
      local sum = 0
      for _, v in ipairs(fs[g]) do best = math.min(best, v); sum = sum + v end
      assert.are.equal(best, got.series[1].y[g])
      assert.is_true(math.abs(sum / 4 - got.series[2].y[g]) < 1e-12)
    end
    local warned = {}
    nyto.on_warning(function(m) warned[#warned + 1] = m end)
    rawset(nyto, "plot", function() return nil, "nyto: plot: gnuplot not found" end)
    nyto.strategy.run(es, function(pop) return sphere(pop) end, {generations = 1, batched = true, plot = "out.png"})
    rawset(nyto, "plot", function() error("nyto: bad argument #1 to 'plot' (boom)", 0) end)
    nyto.strategy.run(es, function(pop) return sphere(pop) end, {generations = 1, batched = true, plot = "out.png"})
    nyto.on_warning(nil)
    rawset(nyto, "plot", orig)
    assert.are.same({"nyto: strategy.run: plot not written: plot: gnuplot not found",
                     "nyto: strategy.run: plot failed: bad argument #1 to 'plot' (boom)"}, warned)
  end)

  it("bad arguments", function()
    local es = nyto.strategy.PSO(nyto.zeros {2}, {popsize = 4, generator = nyto.Generator(1)})
    local fn = function() return 1 end
    local run = nyto.strategy.run
    raises("nyto: bad argument #1 to 'run' (strategy expected, got table)", run, {}, fn)
    raises("nyto: bad argument #2 to 'run' (fitness function expected, got nil)", run, es)
    raises("nyto: bad argument #3 to 'run' (options table expected, got string)", run, es, fn, "x")
    raises('nyto: bad argument #3 to \'run\' (unknown option "generation")', run, es, fn, {generation = 3})
    raises("nyto: bad argument #3 to 'run' (option 'generations' must be an integer >= 1, got 0)", run, es, fn, {generations = 0})
    raises("nyto: bad argument #3 to 'run' (option 'target' must be a number (not NaN), got nan)", run, es, fn, {target = 0 / 0})
    raises("nyto: bad argument #3 to 'run' (option 'batched' must be a boolean, got number)", run, es, fn, {batched = 1})
    raises("nyto: bad argument #3 to 'run' (option 'progress' must be a boolean or a table of nyto.progress options, got string)",
           run, es, fn, {progress = "yes"})
    raises("nyto: bad argument #3 to 'run' (option 'plot' must be a non-empty file name, got number)", run, es, fn, {plot = 1})
    raises("nyto: bad argument #2 to 'run' (fitness function returned string for member 1, expected a number)",
           run, es, function() return "1" end, {generations = 1})
    raises("nyto: bad argument #1 to 'tell' (fitness has 1 values, expected 4 (the popsize))",
           run, es, function() return {1} end, {generations = 1, batched = true})
  end)
end)
