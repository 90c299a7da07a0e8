-- nyto.strategy.APSO: accelerated particle swarm optimisation.
--
--   X.-S. Yang, "Nature-Inspired Metaheuristic Algorithms", Luniver Press 2008 (2nd ed.
--     2010), section "Accelerated PSO"; X.-S. Yang, S. Deb and S. Fong, "Accelerated particle
--     swarm optimization and support vector machine for business optimization and
--     applications", NDT 2011 (the APSO update, without velocities):
--       x_i <- (1 - beta) x_i + beta g* + alpha_t eps_i,   eps_i ~ N(0, I),
--       alpha_t = alpha_0 gamma^t,
--     with beta in [0.2, 0.7] (0.5 here), alpha_0 about 0.1 - 0.5 of the problem's scale and
--     gamma in [0.9, 0.97].
--   The reference library's hand-written example is the same update on particles,
--   W_i = (1 - a) W_i + a W_best plus noise: nyto's option `alpha` is that a (Yang's beta).
--
-- Options: popsize (50), sigma (0.1: initial positions center + sigma * N(0, I); also the
-- problem's scale), alpha (0.5: the pull toward the best), noise (0.2 * sigma: alpha_0),
-- decay (0.97: gamma). No velocities, no personal bests: APSO keeps only the global best g*.
local B = require "nyto.strategy.base"
local nyto = require "nyto"

return B.strategy("APSO", {
  popsize = 50,
  options = {
    alpha = {0.5, B.check_range(0, 1)},
    noise = {function(es) return 0.2 * es.o.sigma end, B.check_nonneg},
    decay = {0.97, B.check_range(0, 1)},
  },

  init = function(es)
    local S = es.state
    S.x = B.bcast(es, S.mean) + es.o.sigma * B.randn(es)
    S.gbest = S.mean:clone()
    S.gbest_f = nyto.full({1}, math.huge, {dtype = "float64"})
  end,

  ask = function(es) return es.state.x end,

  tell = function(es, x, f)
    local S, o = es.state, es.o
    -- g* <- the best position seen
    local bi = B.order(f)[1]
    if f[bi] < S.gbest_f:totable()[1] then
      S.gbest = B.row(es, x, bi)
      S.gbest_f = nyto.tensor({f[bi]}, {dtype = "float64"})
    end
    -- alpha_t = alpha_0 gamma^t (t = the generation being told, from 0)
    local noise = o.noise * o.decay ^ es.generation
    -- x_i <- (1 - beta) x_i + beta g* + alpha_t eps_i, in place on the population ask
    -- returned (the strategy's own: the next ask returns it again)
    if es.kind == "particle" then
      -- one pass: read x, write x, the noise made inside it
      x:axpby_randn_(1 - o.alpha, B.bcast(es, S.gbest), o.alpha, noise, {generator = es.g})
    else
      -- the same bits: ((a x) + (b g)) + (sigma z)
      x:mul_(1 - o.alpha):add_(o.alpha * S.gbest:view {1, es.D}):add_(noise * B.randn(es))
    end
    S.x = x
  end,

  center = function(es) return B.mean(es, es.state.x) end,
})
