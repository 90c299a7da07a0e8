-- nyto.strategy.OpenES: the evolution strategy of
--   T. Salimans, J. Ho, X. Chen, S. Sidor, I. Sutskever, "Evolution Strategies
--   as a Scalable Alternative to Reinforcement Learning", arXiv:1703.03864 (2017),
-- Algorithm 1 with its section-2.2/3 refinements: antithetic ("mirrored")
-- sampling, centred-rank fitness shaping, Adam on the center, weight decay.
-- Defaults are those of the authors' code (openai/evolution-strategies-starter,
-- configs/humanoid.json and es_distributed/optimizers.py): sigma ("noise_stdev")
-- 0.02, lr ("stepsize") 0.01, weight_decay ("l2coeff") 0.005, Adam beta1 0.9,
-- beta2 0.999, epsilon 1e-8.  The paper fixes no population size (it scales
-- with the workers): the default is 4 + floor(3 ln D) rounded up to even.
--
-- Notation: theta the center (self.theta, [D]), sigma fixed, n = popsize,
-- eps_k ~ N(0, I) for the pairs k = 1..n/2; member 2k-1 = theta + sigma eps_k,
-- member 2k = theta - sigma eps_k.  Noise layout: nyto.strategy.es_util.
local nyto = require "nyto"
local shim = require "nyto.strategy.dist_shim"
local U = require "nyto.strategy.es_util"

local algo = {even = true, default_sigma = 0.02, state = {"theta", "m1", "v", "t"}}
algo.options = {
  lr = {"positive", 0.01},
  weight_decay = {"nonneg", 0.005},
  beta1 = {"unit", 0.9},
  beta2 = {"unit", 0.999},
  epsilon = {"positive", 1e-8},
}
function algo.default_popsize(D)
  local n = 4 + math.floor(3 * math.log(D))
  return n + n % 2
end

function algo.init(self, x0, o)
  self.theta = x0:clone()
  self.m1 = nyto.zeros_like(x0) -- Adam's first moment
  self.v = nyto.zeros_like(x0) -- Adam's second moment
  self.t = 0 -- Adam's step count
end

function algo.mean(self) return self.theta end

-- Algorithm 1, line 3 (sample eps_k ~ N(0, I)) and line 4 (evaluate theta +- sigma eps_k)
function algo.sample(self, g)
  local D = self.theta:numel()
  local eps = nyto.randn(self.popsize // 2, D, {generator = g, dtype = self.theta:dtype()})
  local s = self.options.sigma
  -- rows 2k-1, 2k: theta + sigma eps_k, theta - sigma eps_k
  local plus, minus = self.theta + eps * s, self.theta - eps * s
  return nyto.stack({plus, minus}, 2):view(self.popsize, D), eps
end

function algo.update(self, f, X, eps)
  local o, n = self.options, self.popsize
  -- fitness shaping: centred ranks in [-0.5, 0.5], best = -0.5 (we minimise)
  local r = U.centered_ranks(f)
  -- Algorithm 1, line 5, with mirrored pairs: g = 1/(n sigma) sum_k (F(+) - F(-)) eps_k
  local w = {}
  for k = 1, n // 2 do w[k] = (r[2 * k - 1] - r[2 * k]) / (n * o.sigma) end
  local grad = U.weighted_sum(eps, w)
  -- weight decay (the authors' optimizer.update(-g + l2coeff * theta)): gradient of l2coeff/2 |theta|^2
  if o.weight_decay > 0 then grad:add_(self.theta, o.weight_decay) end
  -- Adam (Kingma & Ba 2015, Algorithm 1, as the authors' optimizers.py):
  -- m = b1 m + (1-b1) g; v = b2 v + (1-b2) g^2; a = lr sqrt(1-b2^t)/(1-b1^t); theta -= a m/(sqrt v + eps)
  self.t = self.t + 1
  self.m1:mul_(o.beta1):add_(grad, 1 - o.beta1)
  self.v:mul_(o.beta2):add_(grad * grad, 1 - o.beta2)
  local a = o.lr * math.sqrt(1 - o.beta2 ^ self.t) / (1 - o.beta1 ^ self.t)
  self.theta:sub_(self.m1 / (nyto.sqrt(self.v) + o.epsilon) * a)
end

return shim.define("OpenES", algo)
