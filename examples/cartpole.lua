-- cartpole.lua -- the Lua half of examples/cartpole.c: neuroevolution of cart-pole controllers.
-- The host simulates (Gym's CartPole-v1, every member at once) and calls this file's functions
-- once per generation; here a nyto.strategy evolves a Swarm of small controller networks, and
-- every simulation step scores ALL members with one batched forward:
--   actions = pop(obs, {per_member = true}):argmax(2)     -- member i sees obs[i]
-- `env` is the host's table: env.reset(n) -> obs (an [n, 4] float32 Tensor over the host's own
-- array, updated in place by every step), env.step(actions) -> episodes still running,
-- env.returns() -> [n] returns.
--   build/cartpole_example examples/cartpole.lua [--generations N] [--popsize N] [--seed N] [--strategy NAME]
--                          [--plot fitness.png]
local nyto = require "nyto"
local nn = nyto.nn

local M = {}
local env, es, champion, plot
local best_hist, mean_hist = {}, {}

-- one episode per row of `act(obs)`, until every episode ended (or 500 steps); the returns
local function episodes(n, act)
  local obs = env.reset(n)
  nyto.no_grad(function()
    while env.step(act(obs)) > 0 do end
  end)
  return env.returns():clone() -- the host reuses its array at the next reset
end

function M.setup(e, opts)
  env, plot = e, opts.plot
  nyto.manual_seed(opts.seed)
  -- a controller: 4 observations -> 16 tanh units -> 2 action scores (push left, push right)
  local net = nn.Sequential(nn.Linear(4, 16), nn.Tanh(), nn.Linear(16, 2))
  local ctor = nyto.strategy[opts.strategy]
  if not ctor then error("nyto: unknown strategy '" .. tostring(opts.strategy) .. "'", 0) end
  es = ctor(net, {popsize = opts.popsize, sigma = 0.5, maximize = true,
                  generator = nyto.Generator(opts.seed)})
end

-- ask, simulate every member with one batched forward per step, tell; best and mean return
function M.generation()
  local pop = es:ask() -- a Swarm of popsize controllers
  local returns = episodes(#pop, function(obs) return pop(obs, {per_member = true}):argmax(2) end)
  es:tell(returns)
  local best, i = returns:max(1)
  champion = pop[i:item()]:clone() -- this generation's best controller, kept for evaluate
  best_hist[#best_hist + 1], mean_hist[#mean_hist + 1] = best:item(), returns:mean():item()
  return best_hist[#best_hist], mean_hist[#mean_hist]
end

-- the champion on n fresh episodes at once (one forward of one network over n observations)
function M.evaluate(n)
  return episodes(n, function(obs) return champion(obs):argmax(2) end):mean():item()
end

-- after the last generation: the return per generation, drawn with nyto.plot (--plot FILE.png)
function M.finish()
  if not plot then return end
  local ok, msg = nyto.plot {path = plot, title = "cart-pole: " .. es.name .. ", " .. #best_hist .. " generations",
                             xlabel = "generation", ylabel = "episode return",
                             series = {{name = "best", y = best_hist}, {name = "mean", y = mean_hist}}}
  if not ok then print("plot not written: " .. msg) end
end

return M
