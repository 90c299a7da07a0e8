-- nyto.strategy.OpenES: the evolution strategy of
--   T. Salimans, J. Ho, X. Chen, S. Sidor, I. Sutskever, "Evolution Strategies
--   as a Scalable Alternative to Reinforcement Learning", arXiv:1703.03864 (2017),
-- Algorithm 1 with the refinements the paper describes and uses: antithetic
-- ("mirrored") sampling, centred-rank fitness shaping, Adam on the center and
-- weight decay.  Defaults are the authors' (openai/evolution-strategies-starter:
-- configs/humanoid.json and es_distributed/optimizers.py): sigma ("noise_stdev")
-- 0.02, lr ("stepsize") 0.01, weight_decay ("l2coeff") 0.005, Adam beta1 0.9,
-- beta2 0.999, epsilon 1e-8.  The paper fixes no population size (it scales with
-- the workers): the default popsize is 4 + floor(3 ln D) rounded up to even.
--
-- Notation: theta the center ([D], es.state.mean), sigma fixed, n = popsize,
-- eps_k ~ N(0, I) for the pairs k = 1..n/2; member 2k-1 = theta + sigma eps_k,
-- member 2k = theta - sigma eps_k.  Noise layout (seeds-only distribution):
-- lua/nyto/strategy/es_util.lua, one row per pair.
local nyto = require "nyto"
local B = require "nyto.strategy.base"
local U = require "nyto.strategy.es_util"

return B.strategy("OpenES", {
  popsize = function(D)
    local n = 4 + math.floor(3 * math.log(D))
    return n + n % 2
  end,
  sigma = 0.02,
  even_popsize = true,
  options = {
    lr = {0.01, B.check_positive},
    weight_decay = {0.005, B.check_nonneg},
    beta1 = {0.9, B.check_range(0, 1, false, true)},
    beta2 = {0.999, B.check_range(0, 1, false, true)},
    epsilon = {1e-8, B.check_positive},
  },

  init = function(es)
    local S = es.state
    S.m = nyto.zeros_like(S.mean) -- Adam's first moment
    S.v = nyto.zeros_like(S.mean) -- Adam's second moment
    S.t = 0 -- Adam's step count
    S.eps = nyto.zeros({es.n // 2, es.D}, {dtype = es.dtype}) -- the pending generation's eps_k
  end,

  -- Algorithm 1, line 3 (eps_k ~ N(0, I)) and line 4 (evaluate theta +- sigma eps_k)
  ask = function(es)
    local S, s = es.state, es.o.sigma
    local sv = es._sigma_vec
    if not sv then sv = nyto.full({es.D}, s, {dtype = es.dtype}); es._sigma_vec = sv end
    local pop, eps = U.sample(es, S.mean, sv, true, true) -- rows theta + sigma eps_k, theta - sigma eps_k
    S.eps = eps
    return pop
  end,

  tell = function(es, _, f)
    local S, o, n = es.state, es.o, es.n
    -- fitness shaping: centred ranks in [-0.5, 0.5], the best (smallest f) -0.5
    local r = U.centered_ranks(f)
    -- Algorithm 1, line 5, mirrored: the loss gradient 1/(n sigma) sum_k (F_{2k-1} - F_{2k}) eps_k
    local w = {}
    for k = 1, n // 2 do w[k] = (r[2 * k - 1] - r[2 * k]) / (n * o.sigma) end
    local grad = U.moments(es, S.eps, w) -- one read of the eps_k
    -- weight decay (the authors' optimizer.update(-g + l2coeff * theta)): + l2coeff theta
    if o.weight_decay > 0 then grad:add_(S.mean, o.weight_decay) end
    -- Adam (Kingma & Ba 2015, Algorithm 1, in the form of the authors' optimizers.py):
    -- m <- b1 m + (1 - b1) g; v <- b2 v + (1 - b2) g^2; a = lr sqrt(1 - b2^t) / (1 - b1^t);
    -- theta <- theta - a m / (sqrt(v) + epsilon).  In place on the state and on scratch
    -- vectors (U.vec: no fresh [D] tensor per operation)
    S.t = S.t + 1
    S.m:mul_(o.beta1):add_(grad, 1 - o.beta1)
    S.v:mul_(o.beta2):add_(grad:mul_(grad), 1 - o.beta2)
    local a = o.lr * math.sqrt(1 - o.beta2 ^ S.t) / (1 - o.beta1 ^ S.t)
    local den = grad:copy_(S.v):sqrt_():add_(o.epsilon)
    S.mean:add_(U.vec(es, "step"):copy_(S.m):div_(den), -a)
  end,
})
