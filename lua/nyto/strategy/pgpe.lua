-- nyto.strategy.PGPE: policy gradients with parameter-based exploration,
--   F. Sehnke, C. Osendorfer, T. Rueckstiess, A. Graves, J. Peters,
--   J. Schmidhuber, "Parameter-exploring policy gradients", Neural Networks 23
--   (2010) 551-559, in its symmetric-sampling form (PGPE with symmetric sampling, SyS),
-- with the ClipUp optimizer of
--   N. E. Toklu, P. Liskowski, R. K. Srivastava, "ClipUp: A Simple and Powerful
--   Optimizer for Distribution-based Policy Evolution", PPSN XVI (2020),
--   arXiv:2008.02387,
-- and centred-rank fitness shaping, as EvoTorch's PGPE runs them
-- (evotorch.algorithms.PGPE, optimizer "clipup", ranking_method "centered").
-- Defaults: ClipUp momentum 0.9 (Toklu et al.), lr = max_speed / 2 (their
-- advice alpha = v_max / 2; giving only lr sets max_speed = 2 lr), sigma_lr 0.1
-- and a relative change of sigma of at most 0.2 per generation
-- (sigma_max_change; EvoTorch's stdev_learning_rate 0.1 and stdev_max_change 0.2,
-- the values of Toklu et al.'s experiments).  max_speed and the initial sigma
-- depend on the problem's scale in both papers: nyto's defaults are max_speed
-- 0.15 and sigma 0.1.  popsize: 4 + floor(3 ln D) rounded up to even (no paper default).
--
-- Notation: mu the center ([D], es.state.mean), sigma the per-coordinate
-- deviations ([D], es.state.std), pairs k = 1..n/2: eps_k = sigma .* z_k,
-- z_k ~ N(0, I); member 2k-1 = mu + eps_k, member 2k = mu - eps_k.  Noise
-- layout (seeds-only distribution): lua/nyto/strategy/es_util.lua, the rows z_k.
local nyto = require "nyto"
local B = require "nyto.strategy.base"
local U = require "nyto.strategy.es_util"

local function unset_or_positive(v) if v ~= false then return B.check_positive(v) end end

return B.strategy("PGPE", {
  popsize = function(D)
    local n = 4 + math.floor(3 * math.log(D))
    return n + n % 2
  end,
  sigma = 0.1,
  even_popsize = true,
  options = {
    -- false: not given (check below derives it from the other)
    max_speed = {false, unset_or_positive},
    lr = {false, unset_or_positive},
    momentum = {0.9, B.check_range(0, 1, false, true)},
    sigma_lr = {0.1, B.check_nonneg},
    sigma_max_change = {0.2, B.check_range(0, 1, true, true)},
  },

  -- max_speed 0.15 and lr = max_speed / 2 by default; one given sets the other (Toklu et al.)
  check = function(es)
    local o = es.o
    if not o.max_speed then o.max_speed = o.lr and 2 * o.lr or 0.15 end
    if not o.lr then o.lr = o.max_speed / 2 end
  end,

  init = function(es)
    local S = es.state
    S.std = nyto.full({es.D}, es.o.sigma, {dtype = es.dtype})
    S.velocity = nyto.zeros_like(S.mean) -- ClipUp's v
    S.z = nyto.zeros({es.n // 2, es.D}, {dtype = es.dtype}) -- the pending generation's z_k (eps_k = sigma .* z_k)
  end,

  -- symmetric sampling: eps_k = sigma .* z_k, members mu + eps_k and mu - eps_k
  ask = function(es)
    local S = es.state
    local pop, z = U.sample(es, S.mean, S.std, true, true) -- rows mu + sigma .* z_k, mu - sigma .* z_k
    S.z = z
    return pop
  end,

  tell = function(es, _, f)
    local S, o = es.state, es.o
    local npairs = es.n // 2
    -- utilities to maximise: centred ranks, the best +0.5, the worst -0.5
    local r = U.centered_ranks(f)
    local wmu, wsig, wsum = {}, {}, 0
    for k = 1, npairs do
      local up, um = -r[2 * k - 1], -r[2 * k]
      wmu[k] = (up - um) / 2 / npairs -- (r+ - r-) / 2
      wsig[k] = (up + um) / 2 / npairs -- (r+ + r-) / 2 - b, the baseline b = 0 (centred ranks)
      wsum = wsum + wsig[k]
    end
    -- Sehnke et al. 2010, symmetric sampling (averaged over the pairs, as EvoTorch):
    -- grad_mu = sum_k (r+ - r-)/2 eps_k;  grad_sigma = sum_k ((r+ + r-)/2 - b) (eps_k^2 - sigma^2) / sigma
    -- with eps_k = sigma .* z_k: grad_mu = sigma .* sum_k w_k z_k and
    -- grad_sigma = sigma .* (sum_k w'_k z_k^2 - sum_k w'_k) (the eps_k are never formed)
    -- (both sums in one read of the z_k)
    local g_mu, g_sigma = U.moments(es, S.z, wmu, wsig, wsum)
    g_mu:mul_(S.std)
    g_sigma:mul_(S.std)
    -- ClipUp (Toklu et al. 2020): g <- g / ||g||;  v <- m v + lr g;
    -- v <- max_speed v / ||v|| when ||v|| > max_speed;  mu <- mu + v
    -- (in place on the state: no fresh [D] tensor per operation)
    local gn = g_mu:norm():item()
    if gn > 0 then g_mu:div_(gn) end
    local v = S.velocity:mul_(o.momentum):add_(g_mu, o.lr)
    local vn = v:norm():item()
    if vn > o.max_speed then v:mul_(o.max_speed / vn) end
    S.mean:add_(v)
    -- sigma <- sigma + sigma_lr grad_sigma, each coordinate kept in
    -- [(1 - c) sigma, (1 + c) sigma], c = sigma_max_change (EvoTorch's stdev_max_change):
    -- with sigma > 0, sigma (1 + clamp(sigma_lr grad_sigma / sigma, -c, c))
    local c = o.sigma_max_change
    S.std:mul_(g_sigma:mul_(o.sigma_lr):div_(S.std):clamp_(-c, c):add_(1))
  end,
})
