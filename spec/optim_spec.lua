-- nyto.optim: SGD and Adam against the update rules written out on plain Lua
-- numbers (torch.optim's single-tensor algorithms), in-place updates of
-- parameters that live in a particle's flat buffer, and argument errors.
local nyto = require "nyto"
local H = require "helpers"
local I, err_of = H.I, H.err_of
local optim = nyto.optim

local function D(t) return nyto.tensor(t, {dtype = "float64"}) end


local function assert_close(a, b, tol) return H.assert_close(a, b, tol or 1e-10, false) end

-- loss = sum(c * p): the gradient is c, whatever p is
local function backward_linear(p, c) (p * D(c)):sum():backward() end

-- the update rules on Lua numbers, one element at a time ---------------------------------
local function sgd_ref(p, grads, o)
  local lr, mom, damp, wd, nest = o.lr, o.momentum or 0, o.dampening or 0, o.weight_decay or 0, o.nesterov
  local buf = {}
  local out = {}
  for step, g in ipairs(grads) do
    for i = 1, #p do
      local d = g[i]
      if o.maximize then d = -d end
      d = d + wd * p[i]
      if mom ~= 0 then
        if step == 1 then buf[i] = d else buf[i] = mom * buf[i] + (1 - damp) * d end
        d = nest and d + mom * buf[i] or buf[i]
      end
      p[i] = p[i] - lr * d
    end
    local snap = {}
    for i = 1, #p do snap[i] = p[i] end
    out[step] = snap
  end
  return out
end

local function adam_ref(p, grads, o)
  local lr, b1, b2, eps, wd = o.lr or 1e-3, (o.betas or {0.9, 0.999})[1], (o.betas or {0.9, 0.999})[2], o.eps or 1e-8,
    o.weight_decay or 0
  local m, v, vmax, out = {}, {}, {}, {}
  for i = 1, #p do m[i], v[i], vmax[i] = 0, 0, 0 end
  for t, g in ipairs(grads) do
    for i = 1, #p do
      local d = g[i]
      if o.maximize then d = -d end
      d = d + wd * p[i]
      m[i] = b1 * m[i] + (1 - b1) * d
      v[i] = b2 * v[i] + (1 - b2) * d * d
      local mhat = m[i] / (1 - b1 ^ t)
      local vv = v[i]
      if o.amsgrad then
        vmax[i] = math.max(vmax[i], v[i])
        vv = vmax[i]
      end
      local vhat = vv / (1 - b2 ^ t)
      p[i] = p[i] - lr * mhat / (math.sqrt(vhat) + eps)
    end
    local snap = {}
    for i = 1, #p do snap[i] = p[i] end
    out[t] = snap
  end
  return out
end

-- run an optimizer for #grads steps on a float64 parameter, checking every step
local function run(make, init, grads, ref)
  local p = nyto.Parameter(D(init))
  local opt = make({p})
  local want = ref({table.unpack(init)}, grads)
  for step, g in ipairs(grads) do
    opt:zero_grad()
    backward_linear(p, g)
    opt:step()
    assert_close(p, want[step], 1e-12)
  end
  return p, opt
end

local GRADS = {{0.5, -1.0, 2.0}, {0.25, 0.75, -1.5}, {-0.5, 0.1, 0.3}}
local INIT = {1.0, -2.0, 0.5}

describe("nyto.optim", function()
  describe("SGD", function()
    it("steps p -= lr * grad (by hand)", function()
      local p = nyto.Parameter(D {1, 2})
      local opt = optim.SGD({p}, {lr = 0.1})
      backward_linear(p, {2, -4})
      opt:step()
      assert_close(p, {0.8, 2.4})
      opt:zero_grad()
      backward_linear(p, {2, -4})
      opt:step()
      assert_close(p, {0.6, 2.8})
    end)

    it("momentum with weight decay (by hand, two steps)", function()
      -- p = 1, g = 1, lr = 0.1, momentum = 0.9, weight_decay = 0.5
      -- step 1: d = 1 + 0.5 * 1 = 1.5, buf = 1.5, p = 1 - 0.15 = 0.85
      -- step 2: d = 1 + 0.425 = 1.425, buf = 0.9 * 1.5 + 1.425 = 2.775, p = 0.85 - 0.2775 = 0.5725
      local p = nyto.Parameter(D {1})
      local opt = optim.SGD({p}, {lr = 0.1, momentum = 0.9, weight_decay = 0.5})
      backward_linear(p, {1})
      opt:step()
      assert_close(p, {0.85})
      opt:zero_grad()
      backward_linear(p, {1})
      opt:step()
      assert_close(p, {0.5725})
      assert_close(opt.state[p].momentum_buffer, {2.775})
    end)

    it("matches the update rule over three steps, for every option", function()
      for _, o in ipairs {
        {lr = 0.1},
        {lr = 0.05, momentum = 0.9},
        {lr = 0.05, momentum = 0.8, dampening = 0.3},
        {lr = 0.1, momentum = 0.9, weight_decay = 0.01},
        {lr = 0.1, momentum = 0.9, nesterov = true},
        {lr = 0.1, momentum = 0.5, weight_decay = 0.1, nesterov = true},
        {lr = 0.1, maximize = true, momentum = 0.3},
      } do
        run(function(ps) return optim.SGD(ps, o) end, INIT, GRADS, function(p, g) return sgd_ref(p, g, o) end)
      end
    end)
  end)

  describe("Adam", function()
    it("first step moves each element by lr * sign(grad) (bias-corrected)", function()
      -- m1 = (1-b1) g, v1 = (1-b2) g^2: mhat = g, vhat = g^2, step = lr * g / (|g| + eps)
      local p = nyto.Parameter(D {1, 1})
      local opt = optim.Adam({p}, {lr = 0.01})
      backward_linear(p, {3, -0.5})
      opt:step()
      assert_close(p, {1 - 0.01 * 3 / (3 + 1e-8), 1 + 0.01 * 0.5 / (0.5 + 1e-8)})
    end)

    it("matches the update rule over three steps, for every option", function()
      for _, o in ipairs {
        {},
        {lr = 0.1},
        {lr = 0.05, betas = {0.8, 0.99}, eps = 1e-6},
        {lr = 0.05, weight_decay = 0.1},
        {lr = 0.05, amsgrad = true},
        {lr = 0.05, maximize = true},
      } do
        run(function(ps) return optim.Adam(ps, o) end, INIT, GRADS, function(p, g) return adam_ref(p, g, o) end)
      end
    end)

    it("keeps its state per parameter", function()
      local p, opt = run(function(ps) return optim.Adam(ps, {lr = 0.1}) end, INIT, GRADS, function(q, g)
        return adam_ref(q, g, {lr = 0.1})
      end)
      local st = opt.state[p]
      assert.are.equal(3, st.step)
      -- exp_avg = sum_t (1 - b1) b1^(3-t) g_t
      local want = {}
      for i = 1, 3 do
        want[i] = 0.1 * (0.81 * GRADS[1][i] + 0.9 * GRADS[2][i] + GRADS[3][i])
      end
      assert_close(st.exp_avg, want, 1e-12)
    end)
  end)

  describe("both", function()
    it("zero_grad sets grads to nil (set_to_none), or to zero", function()
      local p = nyto.Parameter(nyto.ones(3))
      local opt = optim.SGD({p}, {lr = 0.1})
      p:sum():backward()
      assert.is_not_nil(p.grad)
      opt:zero_grad()
      assert.is_nil(p.grad)
      p:sum():backward()
      opt:zero_grad(false)
      assert.is_true(p.grad:eq(0):all():item())
    end)

    it("skips parameters without a gradient", function()
      local a, b = nyto.Parameter(D {1}), nyto.Parameter(D {1})
      for _, opt in ipairs {optim.SGD({a, b}, {lr = 0.5, momentum = 0.9}), optim.Adam({a, b}, {lr = 0.5})} do
        a.grad, b.grad = nil, nil
        backward_linear(a, {1})
        local before = b:item()
        opt:step()
        assert.are.equal(before, b:item())
      end
    end)

    it("updates parameters in place, inside a particle's flat buffer", function()
      local net = nyto.nn.Sequential(nyto.nn.Linear(3, 2), nyto.nn.Linear(2, 1))
      local params = net:parameters()
      local w = net[1].weight
      local sid = w:storage_id()
      for _, opt in ipairs {optim.SGD(params, {lr = 0.1, momentum = 0.9, weight_decay = 0.1}), optim.Adam(params)} do
        local before = w:clone()
        for _ = 1, 2 do
          opt:zero_grad()
          net(nyto.randn(4, 3)):sum():backward()
          opt:step()
        end
        assert.are.equal(w, net[1].weight)
        assert.are.equal(sid, net[1].weight:storage_id())
        assert.are.equal(sid, net[2].bias:storage_id()) -- still one buffer for the particle
        assert.is_false(nyto.equal(before, net[1].weight))
        assert.is_true(net[1].weight:requires_grad())
      end
      -- particle arithmetic sees the optimised values
      local doubled = net * 2
      assert.is_true(doubled[1].weight:allclose(net[1].weight * 2))
    end)

    it("does not record autograd history", function()
      local p = nyto.Parameter(D {1, 2})
      local opt = optim.Adam({p}, {lr = 0.1})
      backward_linear(p, {1, 1})
      opt:step()
      assert.is_true(p:is_leaf())
    end)

    it("param groups carry their own options, and lr can change between steps", function()
      local a, b = nyto.Parameter(D {1}), nyto.Parameter(D {1})
      local opt = optim.SGD({{params = {a}}, {params = {b}, lr = 0.5}}, {lr = 0.1})
      backward_linear(a, {1})
      backward_linear(b, {1})
      opt:step()
      assert_close(a, {0.9})
      assert_close(b, {0.5})
      opt.param_groups[1].lr = 0.2
      opt:step() -- the same gradients
      assert_close(a, {0.7})
      local c = nyto.Parameter(D {1})
      opt:add_param_group({params = {c}, lr = 1})
      backward_linear(c, {1})
      opt:step()
      assert_close(c, {0})
    end)

    it("state_dict and load_state_dict carry the state to another optimizer, which then steps identically", function()
      for _, make in ipairs {
        function(ps) return optim.SGD(ps, {lr = 0.1, momentum = 0.9, nesterov = true}) end,
        function(ps) return optim.Adam(ps, {lr = 0.05, amsgrad = true}) end,
      } do
        local a1, b1 = D{1, 2, 3}:requires_grad_(), D{{1, -1}, {0.5, 2}}:requires_grad_()
        local a2, b2 = D{1, 2, 3}:requires_grad_(), D{{1, -1}, {0.5, 2}}:requires_grad_()
        local o1 = make({{params = {a1}}, {params = {b1}, lr = 0.01}})
        local function step(o, a, b, k)
          o:zero_grad()
          local loss = (a * a):sum() * k + (b * b * b):sum()
          loss:backward()
          o:step()
        end
        for k = 1, 3 do step(o1, a1, b1, k) end
        nyto.no_grad(function() a2:copy_(a1); b2:copy_(b1) end)
        local o2 = make({{params = {a2}}, {params = {b2}}})
        local sd = o1:state_dict()
        assert.are.same({1}, sd.param_groups[1].params)
        assert.are.same({2}, sd.param_groups[2].params)
        assert.are.equal(0.01, sd.param_groups[2].lr)
        o2:load_state_dict(sd)
        assert.are.equal(0.01, o2.param_groups[2].lr)
        for k = 4, 6 do step(o1, a1, b1, k); step(o2, a2, b2, k) end
        assert.is_true(nyto.equal(a1, a2))
        assert.is_true(nyto.equal(b1, b2))
        -- the loaded state is a copy: o1's steps did not reach o2's buffers before
        assert.is_false(rawequal(o1.state[a1], o2.state[a2]))
      end
    end)

    it("load_state_dict checks everything before it changes anything", function()
      local a, b = D{1, 2}:requires_grad_(), D{3}:requires_grad_()
      local o = optim.SGD({a, b}, {lr = 0.1, momentum = 0.5})
      o:zero_grad()
      local loss = (a * a):sum() + (b * b):sum()
      loss:backward()
      o:step()
      local sd = o:state_dict()
      local before = o.state[a].momentum_buffer:clone()
      local bad = {
        {"a table with 'state' and 'param_groups' expected", 3},
        {"2 parameter groups for an optimizer of 1", {state = {}, param_groups = {{params = {1}}, {params = {2}}}}},
        {"parameter group 1 does not have 2 parameters", {state = {}, param_groups = {{params = {1}}}}},
        {"unknown option 'betas' in parameter group 1", {state = {}, param_groups = {{params = {1, 2}, betas = {0.9, 0.99}}}}},
        {"invalid lr: %-1", {state = {}, param_groups = {{params = {1, 2}, lr = -1}}}},
        {"state for parameter 7, which no group names", {state = {[7] = {}}, param_groups = sd.param_groups}},
        {"state 'momentum_buffer' of parameter 1 is float64 %[1%], the parameter float64 %[2%]",
         {state = {[1] = {momentum_buffer = D{1}}}, param_groups = sd.param_groups}},
      }
      for _, c in ipairs(bad) do
        H.raises("^nyto: bad argument #1 to 'load_state_dict' %(" .. c[1], function() o:load_state_dict(c[2]) end)
      end
      assert.are.equal(0.1, o.param_groups[1].lr)
      assert.is_true(nyto.equal(o.state[a].momentum_buffer, before))
    end)

    it("step(closure) evaluates the loss", function()
      local p = nyto.Parameter(D {1})
      local opt = optim.SGD({p}, {lr = 0.1})
      local loss = opt:step(function()
        opt:zero_grad()
        local l = (p * 3):sum()
        l:backward()
        return l
      end)
      assert.are.equal(3, loss:item())
      assert_close(p, {0.7})
    end)

    it("prints its groups", function()
      local s = tostring(optim.SGD({nyto.Parameter(nyto.ones(1))}, {lr = 0.1}))
      assert.matches("^SGD %(\nParameter Group 0\n", s)
      assert.matches("    lr: 0.1\n", s)
      assert.matches("    nesterov: False\n", s)
    end)

    it("check their arguments", function()
      local p = nyto.Parameter(nyto.ones(2))
      assert.are.equal("nyto: bad argument #2 to 'SGD' (option 'lr' is required)", err_of(optim.SGD, {p}))
      assert.are.equal("nyto: bad argument #2 to 'SGD' (option 'lr' is required)", err_of(optim.SGD, {p}, {momentum = 0.9}))
      assert.are.equal("nyto: bad argument #2 to 'SGD' (invalid lr: -1 (must be >= 0))", err_of(optim.SGD, {p}, {lr = -1}))
      -- an option inside a parameter group is in argument #1
      assert.are.equal("nyto: bad argument #1 to 'SGD' (invalid lr: -1 (must be >= 0))",
        err_of(optim.SGD, {{params = {p}, lr = -1}}, {lr = 0.1}))
      assert.are.equal("nyto: bad argument #1 to 'add_param_group' (invalid lr: -1 (must be >= 0))",
        err_of(function() optim.SGD({p}, {lr = 0.1}):add_param_group({params = {D{1}:requires_grad_()}, lr = -1}) end))
      assert.are.equal("nyto: bad argument #2 to 'SGD' (option 'lr' must be a number, got string)",
        err_of(optim.SGD, {p}, {lr = "0.1"}))
      assert.are.equal("nyto: bad argument #2 to 'SGD' (unknown option 'momentun')",
        err_of(optim.SGD, {p}, {lr = 0.1, momentun = 0.9}))
      assert.are.equal("nyto: bad argument #2 to 'SGD' (Nesterov momentum requires a momentum and zero dampening)",
        err_of(optim.SGD, {p}, {lr = 0.1, nesterov = true}))
      assert.are.equal("nyto: bad argument #1 to 'SGD' (optimizer got an empty parameter list)", err_of(optim.SGD, {}, {lr = 0.1}))
      assert.are.equal("nyto: bad argument #1 to 'Adam' (array of Parameters expected, got Tensor)", err_of(optim.Adam, p))
      assert.are.equal("nyto: bad argument #1 to 'Adam' (params[2] is a number, not a Tensor)", err_of(optim.Adam, {p, 3}))
      assert.are.equal("nyto: bad argument #1 to 'Adam' (params[1] does not require grad (use nyto.Parameter))",
        err_of(optim.Adam, {nyto.ones(2)}))
      assert.are.equal("nyto: bad argument #1 to 'Adam' (some parameters appear in more than one parameter group)",
        err_of(optim.Adam, {{params = {p}}, {params = {p}}}))
      assert.are.equal("nyto: bad argument #2 to 'Adam' (invalid betas[2]: 1 (must be in [0, 1)))",
        err_of(optim.Adam, {p}, {betas = {0.9, 1}}))
      assert.are.equal("nyto: bad argument #2 to 'Adam' (option 'amsgrad' must be a boolean, got number)",
        err_of(optim.Adam, {p}, {amsgrad = 1}))
      assert.are.equal("nyto: bad argument #2 to 'Adam' (options table expected, got number)", err_of(optim.Adam, {p}, 0.1))
      assert.are.equal("nyto: bad argument #1 to 'step' (function expected, got number)",
        err_of(optim.Adam({p}).step, optim.Adam({p}), 1))
    end)
  end)
end)
