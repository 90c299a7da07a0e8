-- nyto.strategy.SNES: separable natural evolution strategies, from
--   D. Wierstra, T. Schaul, T. Glasmachers, Y. Sun, J. Peters, J. Schmidhuber,
--   "Natural Evolution Strategies", JMLR 15 (2014) 949-980,
-- Algorithm 6 ("Separable NES (SNES)") with the paper's fitness shaping (utilities)
-- and the default parameters of its Table 1 (SNES column):
--   popsize lambda = 4 + floor(3 ln d), lr eta_mu = 1, sigma_lr eta_sigma = (3 + ln d) / (5 sqrt d).
-- The paper's experiments start from the unit Gaussian: `sigma` (the initial
-- spread of every coordinate) defaults to 1.
--
-- Notation: mu the mean ([D], es.state.mean), sigma the per-coordinate
-- deviations ([D], es.state.std), s_k ~ N(0, I), z_k = mu + sigma .* s_k.
-- Noise layout (seeds-only distribution): lua/nyto/strategy/es_util.lua, one
-- row per member.
local nyto = require "nyto"
local B = require "nyto.strategy.base"
local U = require "nyto.strategy.es_util"

return B.strategy("SNES", {
  popsize = function(D) return 4 + math.floor(3 * math.log(D)) end,
  sigma = 1,
  options = {
    lr = {1, B.check_positive},
    sigma_lr = {function(es) return (3 + math.log(es.D)) / (5 * math.sqrt(es.D)) end, B.check_positive},
  },

  init = function(es)
    local S = es.state
    S.std = nyto.full({es.D}, es.o.sigma, {dtype = es.dtype})
    S.s = nyto.zeros({es.n, es.D}, {dtype = es.dtype}) -- the pending generation's s_k
  end,

  -- Algorithm 6, lines 3-4: s_k ~ N(0, I), z_k = mu + sigma .* s_k
  ask = function(es)
    local S = es.state
    local pop, s = U.sample(es, S.mean, S.std, false, true) -- rows sigma .* s_k + mu
    S.s = s
    return pop
  end,

  tell = function(es, _, f)
    local S, o = es.state, es.o
    -- line 5: sort by fitness, utilities u_k (fitness shaping), k = 1 the best
    local u = U.nes_utilities(f)
    -- line 6: grad_mu J = sum_k u_k s_k;  grad_sigma J = sum_k u_k (s_k^2 - 1)
    -- (both in one read of the s_k)
    local usum = 0
    for k = 1, #u do usum = usum + u[k] end
    local g_mu, g_sigma = U.moments(es, S.s, u, u, usum) -- sum_k u_k s_k^2 - sum_k u_k
    -- line 7: mu <- mu + eta_mu sigma .* grad_mu;  sigma <- sigma .* exp(eta_sigma / 2 grad_sigma)
    -- (in place: no fresh [D] tensor per operation)
    S.mean:add_(g_mu:mul_(S.std), o.lr)
    S.std:mul_(g_sigma:mul_(o.sigma_lr / 2):exp_())
  end,
})
