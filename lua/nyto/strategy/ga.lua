-- nyto.strategy.GA: a real-coded genetic algorithm with tournament selection, intermediate
-- crossover, Gaussian mutation and elitism.
--
--   D. E. Goldberg and K. Deb, "A comparative analysis of selection schemes used in genetic
--     algorithms", FOGA 1991: tournament selection (size 2, the default `tournament`).
--   H. Muehlenbein and D. Schlierkamp-Voosen, "Predictive models for the breeder genetic
--     algorithm I", Evolutionary Computation 1(1), 1993: intermediate recombination,
--     child_j = a_j + u_j (b_j - a_j), u_j uniform on [0, 1) per variable (d = 0).
--   F. P. Such et al., "Deep neuroevolution: genetic algorithms are a competitive alternative
--     for training deep neural networks for reinforcement learning", arXiv:1712.06567, 2017:
--     Gaussian mutation of every parameter, child = parent + sigma * N(0, I), and elitism (the
--     best individual carried over unchanged): the GA for network populations.
--   K. De Jong, "An analysis of the behavior of a class of genetic adaptive systems", 1975,
--     and Grefenstette 1986: crossover probability 0.6 - 0.95 (0.9 here).
--
-- Options: popsize (50), sigma (0.1: initial population center + sigma * N(0, I)),
-- tournament (2), crossover (0.9: the probability that a child is a crossover of two parents;
-- otherwise a copy of the first), mutation (sigma: the mutation's standard deviation),
-- elite (1: the best members copied unchanged into the next generation).
--
-- One generation, over n children at once in one pass over the arenas:
--   a = pop[idx_a], b = pop[idx_b]          (tournament winners; elites: idx_a = elites)
--   child = a + (b - a) u    (child i crosses over; else a), then + m_i N(0, I) (m_i > 0)
-- with m_i the mutation std (0 for elites), u per-element uniforms. The population an ask
-- returned is overwritten by the next generation's tell (clone it to keep it).
local B = require "nyto.strategy.base"
local nyto = require "nyto"
local core = nyto.core

return B.strategy("GA", {
  popsize = 50,
  options = {
    tournament = {2, B.check_int(1)},
    crossover = {0.9, B.check_range(0, 1)},
    mutation = {function(es) return es.o.sigma end, B.check_nonneg},
    elite = {1, B.check_int(0)},
  },

  check = function(es, fname)
    if es.o.elite >= es.n then
      B.argerr(2, fname, "option 'elite' must be less than popsize (%d), got %d", es.n, es.o.elite)
    end
  end,

  init = function(es)
    local S = es.state
    S.x = B.bcast(es, S.mean) + es.o.sigma * B.randn(es)
  end,

  ask = function(es) return es.state.x end,

  tell = function(es, x, f)
    local S, o, n = es.state, es.o, es.n
    local order = B.order(f)
    -- tournament selection: each entrant drawn uniformly (with replacement); the fittest wins
    local k, nsel = o.tournament, n - o.elite
    local u = B.uniforms(es, 2 * nsel * k)
    local p = 0
    local function tournament()
      local win
      for _ = 1, k do
        p = p + 1
        local c = math.min(n, math.floor(u[p] * n) + 1)
        if win == nil or f[c] < f[win] or (f[c] == f[win] and c < win) then win = c end
      end
      return win
    end
    local ia, ib, cx, mut = {}, {}, {}, {}
    for i = 1, o.elite do ia[i], ib[i], cx[i], mut[i] = order[i], order[i], false, 0 end
    local uc = nsel > 0 and B.uniforms(es, nsel) or {}
    for j = 1, nsel do
      local i = o.elite + j
      ia[i], ib[i] = tournament(), tournament()
      cx[i] = uc[j] < o.crossover
      mut[i] = o.mutation
    end
    -- the children in one C pass (core.evo_ga, src/core/evo.c) from the parents' rows, the
    -- uniforms u and normals z (the draws of nyto.rand({n, D}) then nyto.randn({n, D})) made
    -- inside it: child_i = a + (b - a) u when it crosses over (else a), then + m_i z when
    -- m_i > 0 (elites: a copy of a). Written into the arena of the population before last
    -- (B.spare), so a generation allocates nothing.
    local out = B.spare(es, "ga_spare", x)
    core.evo_ga(out.X, B.flat(es, x), ia, ib, cx, mut, es.opmask, es.g)
    S.x, es.ga_spare = out.pop, x
  end,

  center = function(es) return B.mean(es, es.state.x) end,
})
