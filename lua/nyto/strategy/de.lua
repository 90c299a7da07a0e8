-- nyto.strategy.DE: differential evolution, DE/rand/1/bin.
--
--   R. Storn and K. Price, "Differential evolution - a simple and efficient heuristic for
--     global optimization over continuous spaces", Journal of Global Optimization 11, 1997:
--     mutation (their eq. 2)   v_i = x_r1 + F (x_r2 - x_r3), r1, r2, r3, i distinct;
--     crossover (eq. 3-4)      u_ij = v_ij if rand_ij <= CR or j = rnbr_i, else x_ij;
--     selection                x_i <- u_i if f(u_i) <= f(x_i).
--     Their advice: NP = 10 D, F = 0.5, CR = 0.1 (0.9 for hard, non-separable problems): the
--     defaults here are F = 0.5, CR = 0.9, popsize 10 D capped at 100 (neural-network centers
--     have D in the thousands; pass popsize for more).
--
-- The first ask returns the initial population (center + sigma * N(0, I)); every later ask
-- returns the n trial vectors u, and tell keeps, row by row, the better of x_i and u_i.
-- Options: popsize (min(10 D, 100), at least 4), sigma (0.1), F (0.5), CR (0.9).
local B = require "nyto.strategy.base"
local nyto = require "nyto"
local core = nyto.core

-- k-th (1-based) number of 1..n that is not in the sorted list ex
local function skip(k, ex)
  for _, e in ipairs(ex) do if k >= e then k = k + 1 end end
  return k
end

return B.strategy("DE", {
  popsize = function(D) return math.max(4, math.min(10 * D, 100)) end,
  options = {
    F = {0.5, B.check_range(0, 2, true, false)},
    CR = {0.9, B.check_range(0, 1)},
  },

  check = function(es, fname)
    if es.n < 4 then B.argerr(2, fname, "option 'popsize' must be >= 4 for DE/rand/1 (a target and 3 others), got %d", es.n) end
  end,

  init = function(es)
    local S = es.state
    S.x = B.bcast(es, S.mean) + es.o.sigma * B.randn(es)
    S.fx = nyto.full({es.n}, math.huge, {dtype = "float64"})
    S.evaluated = false -- false until the initial population is scored
  end,

  ask = function(es)
    local S, o, n, D = es.state, es.o, es.n, es.D
    if not S.evaluated then return S.x end
    -- r1, r2, r3: distinct, and distinct from i (uniform without replacement)
    local u = B.uniforms(es, 4 * n)
    local r1, r2, r3, jr = {}, {}, {}, {}
    for i = 1, n do
      local ex = {i}
      local picks = {}
      for m = 1, 3 do
        local k = math.min(n - m, math.floor(u[4 * (i - 1) + m] * (n - m)) + 1)
        local r = skip(k, ex)
        picks[m] = r
        ex[#ex + 1] = r
        table.sort(ex)
      end
      r1[i], r2[i], r3[i] = picks[1], picks[2], picks[3]
      -- rnbr_i: the one coordinate always taken from v
      jr[i] = math.min(D, math.floor(u[4 * i] * D) + 1)
    end
    -- eq. 2-4 in one C pass (core.evo_de, src/core/evo.c) from the rows of x, the uniforms
    -- rand_ij (the draws of nyto.rand({n, D})) made inside it:
    --   u_ij = (rand_ij <= CR or j = rnbr_i) ? x_r1,j + (x_r2,j - x_r3,j) F : x_ij,
    -- into the arena of the trials before last (B.spare): no row gathers, no temporaries
    local out = B.spare(es, "de_spare", S.x)
    core.evo_de(out.X, B.flat(es, S.x), r1, r2, r3, jr, o.F, o.CR, es.opmask, es.g)
    return out.pop
  end,

  tell = function(es, pop, f)
    local S = es.state
    if not S.evaluated then
      -- a copy: the population is the user's after tell (they may free it)
      S.x, S.fx, S.evaluated = pop:clone(), nyto.tensor(f, {dtype = "float64"}), true
      es.de_spare = pop
      return
    end
    -- selection: x_i <- u_i where f(u_i) <= f(x_i)
    local fx = S.fx:totable()
    local take = {}
    for i = 1, es.n do
      take[i] = f[i] <= fx[i]
      if take[i] then fx[i] = f[i] end
    end
    S.x = B.copy_rows_(es, S.x, take, pop) -- in place: S.x is the strategy's own copy
    S.fx = nyto.tensor(fx, {dtype = "float64"})
    es.de_spare = pop -- the next ask writes its trials here (clone a population to keep it)
  end,

  center = function(es) return B.mean(es, es.state.x) end,
})
