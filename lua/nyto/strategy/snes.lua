-- nyto.strategy.SNES: separable natural evolution strategies, from
--   D. Wierstra, T. Schaul, T. Glasmachers, Y. Sun, J. Peters, J. Schmidhuber,
--   "Natural Evolution Strategies", JMLR 15 (2014) 949-980,
-- Algorithm 6 ("Separable NES (SNES)") with the utility shaping of section 3.1
-- and the default parameters of Table 1 (SNES row):
--   popsize lambda = 4 + floor(3 ln d), lr eta_mu = 1, sigma_lr eta_sigma = (3 + ln d) / (5 sqrt d).
-- The paper starts from sigma = 1 (the unit Gaussian); `sigma` is the initial
-- spread of every coordinate (a scalar, default 1).
--
-- Notation: mu the mean ([D]), sigma the per-coordinate deviations ([D]),
-- s_k ~ N(0, I), z_k = mu + sigma .* s_k (Algorithm 6, lines 3-4).
-- Noise layout: nyto.strategy.es_util (one row per member).
local nyto = require "nyto"
local shim = require "nyto.strategy.dist_shim"
local U = require "nyto.strategy.es_util"

local algo = {default_sigma = 1, state = {"mu", "sigma"}}
algo.options = {
  lr = {"positive", 1},
  sigma_lr = {"positive", function(D) return (3 + math.log(D)) / (5 * math.sqrt(D)) end},
}
function algo.default_popsize(D) return 4 + math.floor(3 * math.log(D)) end

function algo.init(self, x0, o)
  self.mu = x0:clone()
  self.sigma = nyto.full_like(x0, o.sigma)
end

function algo.mean(self) return self.mu end

-- Algorithm 6, lines 3-4: s_k ~ N(0, I), z_k = mu + sigma .* s_k
function algo.sample(self, g)
  local s = nyto.randn(self.popsize, self.mu:numel(), {generator = g, dtype = self.mu:dtype()})
  return s * self.sigma + self.mu, s
end

function algo.update(self, f, _, s)
  local o = self.options
  -- line 5: sort by fitness and take the utilities u_k (section 3.1)
  local u = U.nes_utilities(f)
  -- line 6: grad_mu J = sum_k u_k s_k; grad_sigma J = sum_k u_k (s_k^2 - 1)
  local g_mu = U.weighted_sum(s, u)
  local g_sigma = U.weighted_sum(s * s - 1, u)
  -- line 7: mu <- mu + eta_mu sigma .* grad_mu; sigma <- sigma .* exp(eta_sigma / 2 grad_sigma)
  self.mu:add_(self.sigma * g_mu * o.lr)
  self.sigma:mul_(nyto.exp(g_sigma * (o.sigma_lr / 2)))
end

return shim.define("SNES", algo)
