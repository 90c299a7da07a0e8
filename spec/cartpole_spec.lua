-- examples/cartpole.c (build/cartpole_example) with examples/cartpole.lua: a C host simulates
-- Gym's CartPole-v1 for every member at once and Lua evolves the controllers.  The dynamics are
-- checked against Gym's equations written again here (gym/envs/classic_control/cartpole.py:
-- euler, tau 0.02, force 10, thresholds 12 degrees and 2.4); the run must solve CartPole-v1
-- (average >= 475 over 100 fresh episodes) in a small budget; a script's bad actions and errors
-- come back as nyto messages with a traceback, and the host exits 1 without crashing.
local H = require "helpers"

local EXE = "build/cartpole_example"

-- Gym's CartPole step, independently of the C code
local function gym_step(s, action)
  local gravity, masscart, masspole, length, force_mag, tau = 9.8, 1.0, 0.1, 0.5, 10.0, 0.02
  local total_mass, polemass_length = masspole + masscart, masspole * length
  local x, x_dot, theta, theta_dot = s[1], s[2], s[3], s[4]
  local force = action == 1 and force_mag or -force_mag
  local costheta, sintheta = math.cos(theta), math.sin(theta)
  local temp = (force + polemass_length * theta_dot ^ 2 * sintheta) / total_mass
  local thetaacc = (gravity * sintheta - costheta * temp) / (length * (4.0 / 3.0 - masspole * costheta ^ 2 / total_mass))
  local xacc = temp - polemass_length * thetaacc * costheta / total_mass
  x = x + tau * x_dot
  x_dot = x_dot + tau * xacc
  theta = theta + tau * theta_dot
  theta_dot = theta_dot + tau * thetaacc
  local done = x < -2.4 or x > 2.4 or theta < -12 * 2 * math.pi / 360 or theta > 12 * 2 * math.pi / 360
  return {x, x_dot, theta, theta_dot}, done
end

local function numbers(line)
  local t = {}
  for v in line:gmatch("%S+") do t[#t + 1] = tonumber(v) end
  return t
end

describe("examples/cartpole.c", function()
  it("steps Gym's CartPole-v1 equations (checked against them written in Lua)", function()
    local actions = ("1101001110100101"):rep(4) -- 64 steps: far enough to fall
    local out, code = H.run(("%s --trace 7 %s"):format(EXE, actions))
    assert.equal(0, code, out)
    local lines = {}
    for l in out:gmatch("[^\n]+") do lines[#lines + 1] = numbers(l) end
    assert.equal(#actions + 1, #lines)
    local s = {lines[1][1], lines[1][2], lines[1][3], lines[1][4]}
    for k = 1, 4 do assert.is_true(s[k] >= -0.05 and s[k] < 0.05, "initial state U(-0.05, 0.05)") end
    local fell
    for i = 1, #actions do
      local done
      s, done = gym_step(s, tonumber(actions:sub(i, i)))
      for k = 1, 4 do
        assert.is_true(math.abs(s[k] - lines[i + 1][k]) <= 1e-12 * (1 + math.abs(s[k])),
          ("step %d, state %d: C %.17g, Gym %.17g"):format(i, k, lines[i + 1][k], s[k]))
      end
      assert.equal(done and 1 or 0, lines[i + 1][5], "termination at step " .. i)
      fell = fell or done
      -- the C run goes on from its own state (Gym's step after done is the same equations)
      s = {lines[i + 1][1], lines[i + 1][2], lines[i + 1][3], lines[i + 1][4]}
    end
    assert.is_true(fell, "the trace reaches a termination")
  end)

  it("solves CartPole-v1 (>= 475 over 100 fresh episodes) within 30 generations, printing generations and wall time", function()
    local png = os.tmpname()
    local out, code = H.run(EXE .. " examples/cartpole.lua --generations 30 --popsize 64 --seed 2 --plot " .. png)
    local f = assert(io.open(png, "rb"))
    local bytes = f:read("a")
    f:close()
    os.remove(png)
    assert.equal("\137PNG\r\n\26\n", bytes:sub(1, 8), "--plot draws the returns per generation")
    assert.equal(0, code, out)
    assert.matches("cart%-pole: 64 controllers, CEM, seed 2", out)
    assert.matches("generation   1  best", out, 1, true)
    local gen, avg, wall = out:match("solved: generation (%d+), average return ([%d.]+) over 100 fresh episodes %(>= 475%), wall time ([%d.]+) s")
    assert.is_not_nil(gen, out)
    assert.is_true(tonumber(avg) >= 475 and tonumber(avg) <= 500)
    assert.is_true(tonumber(gen) <= 30)
    -- the evaluation that solved it is printed with the same figure
    assert.matches(("best controller: %s average return over 100 fresh episodes"):format(avg), out, 1, true)
    assert.is_true(tonumber(wall) > 0)
  end)

  local function host(script_text, args)
    local path = H.script(script_text)
    local out, code = H.run(("%s %s %s"):format(EXE, path, args or "--generations 2 --quiet"))
    os.remove(path)
    return out, code
  end

  local PRELUDE = [[
    local M, env = {}, nil
    function M.setup(e) env = e end
    function M.evaluate() return 0 end
  ]]

  it("gives Lua the host's memory in place: obs changes with every step, returns count the steps", function()
    local out, code = host(PRELUDE .. [[
      function M.generation()
        local obs = env.reset(3)
        local p, before = obs:data_ptr(), obs:clone()
        local running = env.step(nyto.tensor({2, 2, 1}, {dtype = "int64"}))
        assert(running == 3, running)
        assert(not nyto.equal(obs, before), "obs updated in place")
        assert(env.reset(3):data_ptr() == p, "the same host array")
        local n = 0
        repeat n = n + 1 until env.step(nyto.full({3}, 2, {dtype = "int64"})) == 0
        local r = env.returns()
        assert(r:dtype() == "float32" and r:size(1) == 3)
        assert(r:max():item() == n and n < 500, "the longest episode ran every step")
        return r:max():item(), r:mean():item()
      end
      return M
    ]])
    assert.equal(2, code, out) -- ran, not solved
    assert.matches("not solved in 2 generations", out, 1, true)
  end)

  it("reports a script's bad actions as nyto errors with a traceback, and exits 1 without crashing", function()
    local cases = {
      {"nyto.tensor({1, 3}, {dtype = 'int64'})", "nyto: bad argument #1 to 'step' (action 2 must be 1 or 2, got 3)"},
      {"nyto.tensor({1, 2})", "nyto: nyto_tensor_data: the Tensor at index 1 is float32, int64 expected"},
      {"nyto.ones(4, {dtype = 'int64'})", "nyto: bad argument #1 to 'step' (2 actions expected, got 4)"},
      {"nyto.ones(2, 3, {dtype = 'int64'}):t()", "is not contiguous: t:contiguous() is"},
      {"'left'", "nyto: nyto_tensor_data: the value at index 1 is a string, not a Tensor"},
    }
    for _, c in ipairs(cases) do
      local out, code = host(PRELUDE .. ([[
        function M.generation() env.reset(2); env.step(%s) end
        return M
      ]]):format(c[1]))
      assert.equal(1, code, out)
      assert.matches("cartpole: generation 1: ", out, 1, true)
      assert.matches(c[2], out, 1, true)
      assert.matches("stack traceback:", out, 1, true)
    end
    local out, code = host(PRELUDE .. "function M.generation() env.reset(1000) end return M")
    assert.equal(1, code)
    assert.matches("nyto: bad argument #1 to 'reset' (n must be in [1, 100], got 1000)", out, 1, true)
    out, code = host("error('broken script')")
    assert.equal(1, code)
    assert.matches("cartpole: .-: broken script\nstack traceback:", out)
    out, code = host("return 5")
    assert.equal(1, code)
    assert.matches("must return a table of functions", out, 1, true)
  end)
end)
