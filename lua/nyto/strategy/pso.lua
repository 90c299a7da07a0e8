-- nyto.strategy.PSO: particle swarm optimisation, global-best topology.
--
--   J. Kennedy and R. Eberhart, "Particle swarm optimization", Proc. ICNN 1995.
--   Y. Shi and R. Eberhart, "A modified particle swarm optimizer", Proc. IEEE ICEC 1998
--     (the inertia weight w).
--   M. Clerc and J. Kennedy, "The particle swarm - explosion, stability, and convergence in a
--     multidimensional complex space", IEEE TEC 6(1), 2002: the constriction coefficient
--     chi = 0.7298 for phi = c1 + c2 = 4.1, which is the inertia form with w = chi = 0.7298 and
--     c1 = c2 = chi * 2.05 = 1.49618 (Eberhart and Shi 2000): the defaults here.
--   D. Bratton and J. Kennedy, "Defining a standard for particle swarm optimization",
--     IEEE SIS 2007: 50 particles (the default popsize).
--
-- The worked example of lua/nyto/strategy/base.lua: the state is populations (a Swarm on a
-- particle center, an [n, D] tensor on a vector center) and the update is written once, in
-- population arithmetic, for both.
--
-- Options: popsize (50), sigma (0.1: the initial positions are center + sigma * N(0, I)),
-- inertia w (0.7298; in [0, 1], 1 being the original 1995 PSO), c1 (1.49618), c2 (1.49618).
-- Velocities start at 0.
local B = require "nyto.strategy.base"
local nyto = require "nyto"
local core = nyto.core

local function inf_tensor(n) return nyto.full({n}, math.huge, {dtype = "float64"}) end

return B.strategy("PSO", {
  popsize = 50,
  options = {
    inertia = {0.7298, B.check_range(0, 1)},
    c1 = {1.49618, B.check_nonneg},
    c2 = {1.49618, B.check_nonneg},
  },

  init = function(es)
    local S, mean = es.state, es.state.mean
    -- x_i(0) = center + sigma * N(0, I); v_i(0) = 0
    S.x = B.bcast(es, mean) + es.o.sigma * B.randn(es)
    S.v = S.x * 0
    S.pbest = S.x:clone() -- p_i: each particle's best position (the strategy's own copy)
    S.pbest_f = inf_tensor(es.n)
    S.gbest = mean:clone() -- g: the swarm's best position (a [D] vector)
    S.gbest_f = inf_tensor(1)
  end,

  ask = function(es) return es.state.x end,

  tell = function(es, x, f)
    local S, o = es.state, es.o
    -- personal bests: p_i <- x_i where f(x_i) < f(p_i)
    local pf = S.pbest_f:totable()
    local improved = {}
    for i = 1, es.n do
      improved[i] = f[i] < pf[i]
      if improved[i] then pf[i] = f[i] end
    end
    local pbest = B.copy_rows_(es, S.pbest, improved, x)
    -- global best: g <- argmin_i f(p_i) when it improves on g
    local gi = B.order(pf)[1]
    local gbest, gbest_f = S.gbest, S.gbest_f
    if pf[gi] < gbest_f:totable()[1] then
      gbest = B.row(es, pbest, gi)
      gbest_f = nyto.tensor({pf[gi]}, {dtype = "float64"})
    end
    -- the velocity and position updates (Kennedy & Eberhart 1995, with Shi & Eberhart 1998's
    -- inertia w):
    --   v_i <- w v_i + c1 r1 (p_i - x_i) + c2 r2 (g - x_i);  x_i <- x_i + v_i,
    -- r1, r2 uniform on [0, 1) per element (the draws of nyto.rand({n, D}) twice: r1 first).
    -- One C pass (core.evo_pso_, src/core/evo.c) in place on x (the population ask returned,
    -- the strategy's own: the next ask returns it again) and v, reading p and g, the uniforms
    -- made inside it: ((w v) + ((p - x) r1) c1) + ((g - x) r2) c2, then x + v, rounded in
    -- that order.
    core.evo_pso_(B.flat(es, x), B.flat(es, S.v), B.flat(es, pbest), gbest:contiguous(), o.inertia, o.c1, o.c2,
                  es.opmask, es.g)
    S.x, S.pbest, S.pbest_f = x, pbest, nyto.tensor(pf, {dtype = "float64"})
    S.gbest, S.gbest_f = gbest, gbest_f
  end,

  -- the current mean: the swarm's centroid
  center = function(es) return B.mean(es, es.state.x) end,
})
