-- nyto.strategy.CEM: the cross-entropy method for continuous optimisation, with a diagonal
-- Gaussian sampling distribution.
--
--   R. Y. Rubinstein, "The cross-entropy method for combinatorial and continuous
--     optimization", Methodology and Computing in Applied Probability 1(2), 1999.
--   P.-T. de Boer, D. P. Kroese, S. Mannor and R. Y. Rubinstein, "A tutorial on the
--     cross-entropy method", Annals of Operations Research 134, 2005, section 3.2 (continuous
--     optimisation, normal updating) and its smoothed updating:
--       sample   x_i ~ N(mu_t, diag(sigma_t^2)),            i = 1..N
--       elites   the ceil(rho N) best samples E              (rho: elite_ratio)
--       update   mu~ = mean_E x,   sigma~^2 = mean_E (x - mu~)^2        (maximum likelihood)
--                mu_{t+1} = lr mu~ + (1 - lr) mu_t,  sigma_{t+1} = lr sigma~ + (1 - lr) sigma_t
--     The tutorial's rho is 0.01 - 0.1 for large N; with the small populations of evolution
--     strategies (EvoTorch's CEM, Pourchot and Sigaud 2019's CEM-RL) an elite fraction of
--     0.1 - 0.5 is used: the default here is 0.2, lr = 1 (Rubinstein's plain update).
--
-- Options: popsize (50), sigma (0.1: the initial sigma of every coordinate), elite_ratio
-- (0.2; the elites are ceil(elite_ratio * popsize), at least 2), lr (1: the smoothing of mu
-- and sigma). es:center() is mu.
local B = require "nyto.strategy.base"
local U = require "nyto.strategy.es_util"
local nyto = require "nyto"
local core = nyto.core

return B.strategy("CEM", {
  popsize = 50,
  options = {
    elite_ratio = {0.2, B.check_range(0, 1, true, false)},
    lr = {1.0, B.check_range(0, 1, true, false)},
  },

  init = function(es)
    local S = es.state
    S.std = nyto.full({es.D}, es.o.sigma, {dtype = es.dtype})
  end,

  -- x_i = mu + sigma * z_i, z_i ~ N(0, I): one pass (core.es_sample) into the strategy's
  -- population buffer (reused every generation; a new one if the user freed it); the z_i are
  -- not kept (the tell reads the elites' rows)
  ask = function(es)
    local S = es.state
    return (U.sample(es, S.mean, S.std, false, false))
  end,

  tell = function(es, pop, f)
    local S, o = es.state, es.o
    local m = math.max(2, math.ceil(o.elite_ratio * es.n)) -- at least 2 (a spread)
    local order = B.order(f)
    local elite = {}
    for i = 1, m do elite[i] = order[i] end
    -- mu~ = mean_E x, sigma~ = sqrt(mean_E (x - mu~)^2): one read of the elites' rows
    -- (core.es_elite, float64 sums), no [m, D] copy
    -- written into the state's own vectors (with lr < 1, blended into them)
    local X = B.flat(es, pop):contiguous()
    if o.lr == 1 then
      core.es_elite(X, elite, S.mean, S.std)
    else
      local mu, std = core.es_elite(X, elite, U.vec(es, "mu"), U.vec(es, "std"))
      S.mean:mul_(1 - o.lr):add_(mu, o.lr)
      S.std:mul_(1 - o.lr):add_(std, o.lr)
    end
  end,
})
