-- nyto.strategy.PGPE: policy gradients with parameter-based exploration,
--   F. Sehnke, C. Osendorfer, T. Rueckstiess, A. Graves, J. Peters,
--   J. Schmidhuber, "Parameter-exploring policy gradients", Neural Networks 23
--   (2010) 551-559 (symmetric sampling, section 2.3 / Algorithm 2),
-- with the ClipUp optimizer of
--   N. E. Toklu, P. Liskowski, R. K. Srivastava, "ClipUp: A Simple and Powerful
--   Optimizer for Distribution-based Policy Evolution", PPSN 2020, arXiv:2008.02387,
-- and the centred-rank fitness shaping, as EvoTorch's PGPE implements them
-- (evotorch.algorithms.PGPE with optimizer="clipup", ranking_method="centered").
-- Defaults: ClipUp momentum 0.9 (Toklu et al., section 4), lr = max_speed / 2
-- (their recommendation alpha = v_max / 2), sigma_lr 0.1 and a relative sigma
-- change of at most 0.2 per generation (EvoTorch's stdev_learning_rate 0.1 and
-- stdev_max_change 0.2, the values of Toklu et al.'s experiments).  The papers
-- tie max_speed and sigma to the problem: nyto's defaults are max_speed 0.15
-- and sigma 0.1 (one tenth of a unit scale); set them for your problem.  The
-- popsize default is 4 + floor(3 ln D) rounded up to even (no paper default).
--
-- Notation: mu the center ([D]), sigma the per-coordinate deviations ([D]),
-- pairs k = 1..n/2: eps_k ~ N(0, diag(sigma^2)), members 2k-1 = mu + eps_k,
-- 2k = mu - eps_k.  Noise layout: nyto.strategy.es_util (one row per pair; the
-- standard normals are drawn, eps_k = sigma .* row k).
local nyto = require "nyto"
local shim = require "nyto.strategy.dist_shim"
local U = require "nyto.strategy.es_util"

local algo = {even = true, default_sigma = 0.1, state = {"mu", "sigma", "velocity"}}
algo.options = {
  max_speed = {"positive", function(_, opts) return opts.lr and 2 * opts.lr or 0.15 end},
  lr = {"positive", function(_, opts) return (opts.max_speed or 0.15) / 2 end},
  momentum = {"unit", 0.9},
  sigma_lr = {"nonneg", 0.1},
  sigma_max_change = {"unit_open", 0.2},
}
function algo.default_popsize(D)
  local n = 4 + math.floor(3 * math.log(D))
  return n + n % 2
end

function algo.init(self, x0, o)
  self.mu = x0:clone()
  self.sigma = nyto.full_like(x0, o.sigma)
  self.velocity = nyto.zeros_like(x0) -- ClipUp's v
end

function algo.mean(self) return self.mu end

-- Sehnke et al. 2010, symmetric sampling: eps_k ~ N(0, sigma^2), x = mu +- eps_k
function algo.sample(self, g)
  local D = self.mu:numel()
  local z = nyto.randn(self.popsize // 2, D, {generator = g, dtype = self.mu:dtype()})
  local eps = z * self.sigma
  return nyto.stack({self.mu + eps, self.mu - eps}, 2):view(self.popsize, D), eps
end

function algo.update(self, f, _, eps)
  local o, n = self.options, self.popsize
  local npairs = n // 2
  -- centred ranks as utilities to maximise: best = +0.5, worst = -0.5
  local r = U.centered_ranks(f)
  local wmu, wsig = {}, {}
  for k = 1, npairs do
    local up, um = -r[2 * k - 1], -r[2 * k]
    wmu[k] = (up - um) / 2 / npairs -- Sehnke eq. (symmetric): (r+ - r-)/2 weights eps_k
    wsig[k] = (up + um) / 2 / npairs -- ((r+ + r-)/2 - b), the baseline b = 0 for centred ranks
  end
  -- grad_mu = sum_k (r+ - r-)/2 eps_k; grad_sigma = sum_k ((r+ + r-)/2 - b) (eps_k^2 - sigma^2) / sigma
  local g_mu = U.weighted_sum(eps, wmu)
  local wsum = 0
  for k = 1, npairs do wsum = wsum + wsig[k] end
  local g_sigma = U.weighted_sum(eps * eps, wsig):sub_(self.sigma * self.sigma * wsum):div_(self.sigma)
  -- ClipUp (Toklu et al. 2020, Algorithm 1): g <- g / ||g||; v <- m v + lr g;
  -- if ||v|| > max_speed: v <- max_speed v / ||v||; mu <- mu + v
  local gn = g_mu:norm():item()
  if gn > 0 then g_mu:div_(gn) end
  self.velocity:mul_(o.momentum):add_(g_mu, o.lr)
  local vn = self.velocity:norm():item()
  if vn > o.max_speed then self.velocity:mul_(o.max_speed / vn) end
  self.mu:add_(self.velocity)
  -- sigma <- sigma + sigma_lr grad_sigma, each coordinate kept within a factor
  -- [1 - c, 1 + c] of its old value (EvoTorch's stdev_max_change c)
  local new = self.sigma + g_sigma * o.sigma_lr
  self.sigma = nyto.minimum(nyto.maximum(new, self.sigma * (1 - o.sigma_max_change)),
                            self.sigma * (1 + o.sigma_max_change))
end

return shim.define("PGPE", algo)
