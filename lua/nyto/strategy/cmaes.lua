-- nyto.strategy.CMAES: the covariance matrix adaptation evolution strategy of
--   N. Hansen, "The CMA Evolution Strategy: A Tutorial", arXiv:1604.00772 (2016),
-- Appendix A ("the (mu/mu_W, lambda)-CMA-ES", the summary with the active
-- negative weights), every constant as Table 1 of the tutorial; and, with
-- {diagonal = true}, sep-CMA-ES of
--   R. Ros, N. Hansen, "A Simple Modification in CMA-ES Achieving Linear Time
--   and Space Complexity", PPSN X (2008), LNCS 5199, 296-305:
-- C kept diagonal, and its learning rates c_1, c_mu multiplied by (n + 2) / 3.
--
-- Equation numbers below are the tutorial's.  Notation: n = D, lambda =
-- popsize, m the mean, sigma the step size, C = B D^2 B^T, z_k ~ N(0, I),
-- y_k = B D z_k ~ N(0, C), x_k = m + sigma y_k.  All internal state is float64,
-- whatever the center's dtype, but sep-CMA-ES's pending z_k ([lambda, n], in the
-- center's dtype: the float32 normals lose nothing) beside their float64
-- ||C^(-1/2) y_k||^2; its ask and tell are one pass each (src/core/es.c).  The
-- samples x_k are computed in the center's dtype (from m and sigma D rounded to it).
-- Defaults: popsize 4 + floor(3 ln n), mu = floor(lambda * elite_ratio) with elite_ratio 0.5 (Table 1: mu = floor(lambda/2)),
-- sigma 0.3 (the tutorial's purecmaes.m).  The eigendecomposition is refreshed
-- when more than lambda / ((c_1 + c_mu) n 10) evaluations passed since the last
-- one (the tutorial's Appendix C code), so it costs O(n^2) per evaluation.
-- Noise layout: nyto.strategy.es_util (one row z_k per member, drawn as float32
-- normals and widened).
local nyto = require "nyto"
local B = require "nyto.strategy.base"
local U = require "nyto.strategy.es_util"

local F64 = {dtype = "float64"}
local core = nyto.core

-- the constants of Table 1 for dimension n, population lambda, mu parents
local function constants(n, lambda, mu, table1, diagonal)
  -- Table 1: w'_i = ln((lambda + 1) / 2) - ln i; with an explicit
  -- elite_ratio, ln(mu + 1/2) - ln i, so that exactly mu weights are positive
  local base = table1 and math.log((lambda + 1) / 2) or math.log(mu + 0.5)
  local wp = {}
  for i = 1, lambda do wp[i] = base - math.log(i) end
  local sp, sp2, sn, sn2, sabs = 0, 0, 0, 0, 0
  for i = 1, lambda do
    if i <= mu then sp, sp2 = sp + wp[i], sp2 + wp[i] ^ 2
    else sn, sn2 = sn + wp[i], sn2 + wp[i] ^ 2 end
    if wp[i] < 0 then sabs = sabs - wp[i] end
  end
  local mueff = sp ^ 2 / sp2 -- mu_eff = (sum_{i<=mu} w'_i)^2 / sum_{i<=mu} w'_i^2
  local mueff_neg = sn2 > 0 and sn ^ 2 / sn2 or 0
  local c = {mueff = mueff, cm = 1}
  -- step-size control (Table 1): c_sigma, d_sigma
  c.cs = (mueff + 2) / (n + mueff + 5)
  c.ds = 1 + 2 * math.max(0, math.sqrt((mueff - 1) / (n + 1)) - 1) + c.cs
  -- covariance matrix adaptation (Table 1): c_c, c_1, c_mu with alpha_cov = 2
  local acov = 2
  c.cc = (4 + mueff / n) / (n + 4 + 2 * mueff / n)
  c.c1 = acov / ((n + 1.3) ^ 2 + mueff)
  c.cmu = math.min(1 - c.c1, acov * (mueff - 2 + 1 / mueff) / ((n + 2) ^ 2 + acov * mueff / 2))
  if diagonal then
    -- Ros & Hansen 2008: c_cov^sep = (n + 2) / 3 * c_cov
    c.c1 = c.c1 * (n + 2) / 3
    c.cmu = math.min(1 - c.c1, c.cmu * (n + 2) / 3)
  end
  -- Table 1: alpha_mu^-, alpha_mueff^-, alpha_posdef^- and the weights w_i
  local amu = 1 + c.c1 / c.cmu
  local amueff = 1 + 2 * mueff_neg / (mueff + 2)
  local aposdef = (1 - c.c1 - c.cmu) / (n * c.cmu)
  local aneg = math.min(amu, amueff, aposdef)
  local w, wsum = {}, 0
  for i = 1, lambda do
    if wp[i] >= 0 then w[i] = i <= mu and wp[i] / sp or 0
    else w[i] = aneg * wp[i] / sabs end
    wsum = wsum + w[i]
  end
  c.w, c.wsum = w, wsum
  -- E||N(0, I)|| = sqrt(n) (1 - 1/(4n) + 1/(21 n^2))
  c.chiN = math.sqrt(n) * (1 - 1 / (4 * n) + 1 / (21 * n * n))
  return c
end

-- h_sigma (after (45)): 1 if ||p_sigma|| / sqrt(1 - (1 - c_sigma)^(2(g+1))) < (1.4 + 2/(n+1)) E||N(0,I)||
local function hsigma(es, psn)
  local K, n = es.K, es.D
  local g1 = es.state.counteval / es.n
  return psn / math.sqrt(1 - (1 - K.cs) ^ (2 * g1)) < (1.4 + 2 / (n + 1)) * K.chiN and 1 or 0
end

-- C = B D^2 B^T from the symmetric part of C (eigenvalues clamped at a tiny
-- positive); C^(-1/2) = B D^-1 B^T
local function decompose(S)
  local C = (S.C + S.C:t()) * 0.5
  local d, Bm = nyto.eigh(C)
  S.C, S.B, S.Dv = C, Bm, nyto.sqrt(d:clamp(1e-300))
  S.invsqrtC = U.mm(Bm / S.Dv:view {1, -1}, Bm:t())
end

return B.strategy("CMAES", {
  popsize = function(D) return 4 + math.floor(3 * math.log(D)) end,
  sigma = 0.3,
  options = {
    diagonal = {false, B.check_bool},
    elite_ratio = {0.5, B.check_range(0, 1, true, true)},
  },

  check = function(es, fname)
    local mu = math.floor(es.n * es.o.elite_ratio)
    if mu < 1 then
      B.argerr(2, fname, "option 'elite_ratio' selects no parent: floor(%d * %s) = 0", es.n, tostring(es.o.elite_ratio))
    end
  end,

  init = function(es)
    local S, o, n, lambda = es.state, es.o, es.D, es.n
    local mu = math.floor(lambda * o.elite_ratio)
    es.mu_parents = mu
    es.K = constants(n, lambda, mu, mu == lambda // 2 and o.elite_ratio == 0.5, o.diagonal)
    S.mean = U.cast(S.mean, "float64") -- m, float64 whatever the center's dtype
    S.step = o.sigma -- sigma, the step size
    S.pc = nyto.zeros(n, F64) -- evolution path p_c
    S.ps = nyto.zeros(n, F64) -- conjugate evolution path p_sigma
    S.Dv = nyto.ones(n, F64) -- D: the square roots of C's eigenvalues
    if o.diagonal then
      S.C = nyto.ones(n, F64) -- the diagonal of C (B = I)
    else
      S.C, S.B, S.invsqrtC = nyto.eye(n, F64), nyto.eye(n, F64), nyto.eye(n, F64)
    end
    S.eigeneval, S.counteval = 0, 0 -- evaluations at the last decomposition, and in all
    if o.diagonal then
      -- sep-CMA-ES keeps the pending z_k (y_k = D z_k) in the center's dtype, and
      -- ||C^(-1/2) y_k||^2, made by the ask's pass: no [lambda, n] float64 state
      S.z = nyto.zeros({lambda, n}, {dtype = es.dtype})
      S.norms2 = nyto.zeros(lambda, F64)
    else
      S.y = nyto.zeros({lambda, n}, F64) -- the pending generation's y_k
    end
  end,

  -- (38)-(40): z_k ~ N(0, I), y_k = B D z_k ~ N(0, C), x_k = m + sigma y_k
  ask = function(es)
    local S = es.state
    if es.o.diagonal then
      -- one pass (core.es_sample): x_k = m + (sigma D) .* z_k, z_k kept; ||C^(-1/2) y_k||^2 =
      -- ||D^-1 D z_k||^2 = sum_j z_kj^2 (B = I, D = sqrt(diag C)).  sigma D is made in float64;
      -- on a float32 center m and sigma D are rounded to float32 once each and x_k computed in
      -- float32, as the full-C path's x_k = sigma y_k + m (a float64 m and sigma D cost the pass
      -- ~30 ms in conversions on the bench's 64 x 1.86M swarm; the members differ by rounding:
      -- a few float32 ulps); on a float64 center all in float64
      local scale = U.vec(es, "scale", "float64"):copy_(S.Dv):mul_(S.step)
      local c, s = S.mean, scale
      if es.dtype ~= "float64" then
        c, s = U.vec(es, "m", es.dtype):copy_(S.mean), U.vec(es, "scale", es.dtype):copy_(scale)
      end
      local pop, z = U.sample(es, c, s, false, true, nil, S.norms2)
      S.z = z
      return pop
    end
    local z = U.noise(es, es.n, "float64")
    local y = U.mm(z:mul_(S.Dv:view {1, -1}), S.B:t()) -- rows (B D z_k)^T
    S.y = y
    local b = U.buffer(es)
    -- x_k = (sigma y_k) + m in place, in the center's dtype (no [lambda, D] float64 temporary)
    b.X:copy_(y):mul_(S.step):add_(U.cast(S.mean, es.dtype):view {1, -1})
    return U.finish(es, b)
  end,

  tell = function(es, _, f)
    local S, K, o = es.state, es.K, es.o
    local n, lambda, mu = es.D, es.n, es.mu_parents
    local order = B.order(f)
    S.counteval = S.counteval + lambda
    -- (41): <y>_w = sum_{i=1}^{mu} w_i y_{i:lambda}, as one weighted sum over the members
    -- (weight w_i for member order[i], 0 past mu): no sorted copy of y
    local wpos = {}
    for i = 1, lambda do wpos[i] = 0 end
    for i = 1, mu do wpos[order[i]] = K.w[i] end
    local y, yw, norms2 -- y: rows in member order; y_{i:lambda} = y[order[i]]
    if o.diagonal then
      norms2 = S.norms2:totable() -- ||C^(-1/2) y_k||^2, from the ask's pass
    else
      y = S.y
      yw = U.weighted_sum(y, wpos)
    end
    -- (46): w°_i = w_i if w_i >= 0, else w_i n / ||C^(-1/2) y_{i:lambda}||^2 (for member order[i])
    local function weights_o()
      local wo = {}
      for i = 1, lambda do
        local w, k = K.w[i], order[i]
        wo[k] = w >= 0 and w or w * n / math.max(norms2[k], 1e-300)
      end
      return wo
    end
    local wo
    if o.diagonal then
      -- <y>_w = D .* sum_i w_i z_i and the diagonal of sum_i w°_i y_i y_i^T = D^2 .* sum_i w°_i z_i^2,
      -- both in one read of z (core.es_moments, float64 sums); then (42)-(47) over the
      -- float64 D-vectors in two passes (core.es_sepcma_mean, core.es_sepcma_cov: the same
      -- operations as the full-C code below, each rounded once, in place on the state)
      wo = weights_o()
      local zw, rankz = U.moments(es, S.z, wpos, wo, 0, "float64")
      -- (42), (43) with C^(-1/2) <y>_w = <y>_w / D: zw becomes <y>_w
      local psn = math.sqrt(core.es_sepcma_mean(zw, S.Dv, S.mean, S.ps, K.cm * S.step, 1 - K.cs,
        math.sqrt(K.cs * (2 - K.cs) * K.mueff)))
      local hsig = hsigma(es, psn)
      -- (45), (47) with the diagonal of c_1 p_c p_c^T and D^2 .* rank-mu, and D = sqrt(diag C)
      local delta = (1 - hsig) * K.cc * (2 - K.cc)
      core.es_sepcma_cov(zw, rankz, S.Dv, S.pc, S.C, 1 - K.cc, hsig * math.sqrt(K.cc * (2 - K.cc) * K.mueff),
        1 + K.c1 * delta - K.c1 - K.cmu * K.wsum, K.c1, K.cmu)
      -- (44)
      S.step = S.step * math.exp(K.cs / K.ds * (psn / K.chiN - 1))
      return
    end
    -- (42): m <- m + c_m sigma <y>_w (the D-vector arithmetic below in place: no fresh
    -- [D] float64 tensor per operation)
    S.mean:add_(yw, K.cm * S.step)
    -- C^(-1/2) <y>_w and ||C^(-1/2) y_k||^2, with the decomposition that sampled y
    local cy = U.mv(S.invsqrtC, yw)
    local cyk = U.mm(y, S.invsqrtC)
    norms2 = (cyk * cyk):sum(2):totable()
    -- (43): p_sigma <- (1 - c_sigma) p_sigma + sqrt(c_sigma (2 - c_sigma) mu_eff) C^(-1/2) <y>_w
    S.ps:mul_(1 - K.cs):add_(cy, math.sqrt(K.cs * (2 - K.cs) * K.mueff))
    local psn = S.ps:norm():item()
    local hsig = hsigma(es, psn)
    -- (45): p_c <- (1 - c_c) p_c + h_sigma sqrt(c_c (2 - c_c) mu_eff) <y>_w
    S.pc:mul_(1 - K.cc):add_(yw, hsig * math.sqrt(K.cc * (2 - K.cc) * K.mueff))
    wo = weights_o()
    -- (47): C <- (1 + c_1 delta(h_sigma) - c_1 - c_mu sum_j w_j) C + c_1 p_c p_c^T
    --            + c_mu sum_{i=1}^{lambda} w°_i y_{i:lambda} y_{i:lambda}^T,
    -- delta(h_sigma) = (1 - h_sigma) c_c (2 - c_c)
    local delta = (1 - hsig) * K.cc * (2 - K.cc)
    local keep = 1 + K.c1 * delta - K.c1 - K.cmu * K.wsum
    local rankmu = U.mm((y * nyto.tensor(wo, F64):view {-1, 1}):t(), y)
    S.C = S.C * keep + nyto.outer(S.pc, S.pc) * K.c1 + rankmu * K.cmu
    -- (44): sigma <- sigma exp(c_sigma / d_sigma (||p_sigma|| / E||N(0,I)|| - 1))
    S.step = S.step * math.exp(K.cs / K.ds * (psn / K.chiN - 1))
    -- B and D: when more than lambda / ((c_1 + c_mu) n 10) evaluations passed since the
    -- last decomposition (sep-CMA-ES: every generation, D = sqrt(diag C), above)
    if S.counteval - S.eigeneval > lambda / (K.c1 + K.cmu) / n / 10 then
      S.eigeneval = S.counteval
      decompose(S)
    end
  end,

  -- the mean m, in the center's dtype
  center = function(es) return U.cast(es.state.mean, es.dtype) end,
})
