-- nyto.optim: SGD and Adam, after torch.optim (PyTorch 1.13, single-tensor path).
--   local opt = nyto.optim.SGD(net:parameters(), {lr = 0.1, momentum = 0.9})
--   opt:zero_grad(); loss:backward(); opt:step()
-- params is an array of Parameters, or of parameter groups ({params = {...}, lr = ...})
-- whose options override the optimizer's.  opt.param_groups[k].lr may be changed
-- between steps (learning-rate schedules).  Every update happens in place under
-- no_grad: a parameter may be a view into a particle's flat buffer, so it is never
-- replaced, only written through.
return function(nyto, core)
  local mt = core.Tensor_mt
  local optim = {}
  nyto.optim = optim

  local E = require "nyto.errors"
  local typename, argerr = E.typename, E.argerr

  local Optimizer = {}
  Optimizer.__index = Optimizer
  Optimizer.__name = "nyto.Optimizer"
  optim.Optimizer = Optimizer

  -- check one option against its default's type; a default of `false` means a boolean.
  -- argn: the argument errors name (2: the options of a constructor)
  local function check_option(fname, key, v, default, argn)
    argn = argn or 2
    if default == "required" then
      if v == nil then argerr(argn, fname, "option '" .. key .. "' is required") end
      default = 0
    end
    if type(default) == "number" then
      if type(v) ~= "number" then argerr(argn, fname, ("option '%s' must be a number, got %s"):format(key, typename(v))) end
      if v ~= v or v < 0 then argerr(argn, fname, ("invalid %s: %s (must be >= 0)"):format(key, tostring(v))) end
    elseif type(default) == "boolean" then
      if type(v) ~= "boolean" then argerr(argn, fname, ("option '%s' must be a boolean, got %s"):format(key, typename(v))) end
    elseif type(default) == "table" then
      if type(v) ~= "table" or #v ~= #default then
        argerr(argn, fname, ("option '%s' must be a table of %d numbers"):format(key, #default))
      end
      for k = 1, #default do
        if type(v[k]) ~= "number" or not (v[k] >= 0 and v[k] < 1) then
          argerr(argn, fname, ("invalid %s[%d]: %s (must be in [0, 1))"):format(key, k, tostring(v[k])))
        end
      end
    end
    return v
  end

  local function check_params(fname, list, where)
    if type(list) ~= "table" or getmetatable(list) == mt then
      argerr(1, fname, where .. " must be an array of Parameters, got " .. typename(list))
    end
    local out = {}
    for k = 1, #list do
      local p = list[k]
      if getmetatable(p) ~= mt then
        argerr(1, fname, ("%s[%d] is a %s, not a Tensor"):format(where, k, typename(p)))
      end
      if not p:requires_grad() then
        argerr(1, fname, ("%s[%d] does not require grad (use nyto.Parameter)"):format(where, k))
      end
      local dt = p:dtype()
      if dt ~= "float32" and dt ~= "float64" then
        argerr(1, fname, ("%s[%d] is %s; only floating point parameters can be optimized"):format(where, k, dt))
      end
      out[k] = p
    end
    return out
  end

  -- the common constructor: defaults (name -> default value), then the subclass' checks
  local function new(class, fname, defaults, params, options)
    if options ~= nil and type(options) ~= "table" then
      argerr(2, fname, "options table expected, got " .. typename(options))
    end
    options = options or {}
    for k in pairs(options) do
      if defaults[k] == nil then argerr(2, fname, "unknown option '" .. tostring(k) .. "'") end
    end
    local self = setmetatable({defaults = {}, param_groups = {}, state = {}}, class)
    for k, d in pairs(defaults) do
      local v = options[k]
      if v == nil then v = d end
      if v ~= "required" then check_option(fname, k, v, d) end
      self.defaults[k] = v
    end
    if type(params) ~= "table" or getmetatable(params) == mt then
      argerr(1, fname, "array of Parameters expected, got " .. typename(params))
    end
    if #params == 0 then argerr(1, fname, "optimizer got an empty parameter list") end
    local grouped = type(params[1]) == "table" and getmetatable(params[1]) ~= mt
    local groups = grouped and params or {{params = params}}
    local seen = {}
    for gi = 1, #groups do
      local g = groups[gi]
      if type(g) ~= "table" or getmetatable(g) == mt or g.params == nil then
        argerr(1, fname, ("param group %d must be a table with a 'params' field"):format(gi))
      end
      local group = {params = check_params(fname, g.params, grouped and ("param group %d"):format(gi) or "params")}
      for k, v in pairs(g) do
        if k ~= "params" then
          if defaults[k] == nil then argerr(1, fname, ("unknown option '%s' in param group %d"):format(tostring(k), gi)) end
          group[k] = check_option(fname, k, v, defaults[k], 1)
        end
      end
      for k, v in pairs(self.defaults) do
        if group[k] == nil then
          if v == "required" then argerr(2, fname, "option '" .. k .. "' is required") end
          group[k] = v
        end
      end
      for _, p in ipairs(group.params) do
        if seen[p] then argerr(1, fname, "some parameters appear in more than one parameter group") end
        seen[p] = true
      end
      self.param_groups[gi] = group
    end
    return self
  end

  -- opt:zero_grad([set_to_none=true]): drop (or zero) every parameter's gradient
  function Optimizer:zero_grad(set_to_none)
    if set_to_none == nil then set_to_none = true end
    for _, g in ipairs(self.param_groups) do
      for _, p in ipairs(g.params) do
        if set_to_none then
          p.grad = nil
        else
          local gr = p.grad
          if gr then gr:zero_() end
        end
      end
    end
  end

  function Optimizer:add_param_group(g)
    if type(g) ~= "table" or g.params == nil then argerr(1, "add_param_group", "table with a 'params' field expected") end
    local group = {params = check_params("add_param_group", g.params, "params")}
    for k, v in pairs(g) do
      if k ~= "params" then
        if self.defaults[k] == nil then argerr(1, "add_param_group", "unknown option '" .. tostring(k) .. "'") end
        group[k] = check_option("add_param_group", k, v, self.defaults[k], 1)
      end
    end
    for k, v in pairs(self.defaults) do
      if group[k] == nil then
        if v == "required" then argerr(1, "add_param_group", "option '" .. k .. "' is required") end
        group[k] = v
      end
    end
    for _, og in ipairs(self.param_groups) do
      for _, p in ipairs(og.params) do
        for _, q in ipairs(group.params) do
          if p == q then argerr(1, "add_param_group", "some parameters appear in more than one parameter group") end
        end
      end
    end
    self.param_groups[#self.param_groups + 1] = group
  end

  -- opt:state_dict(): as torch.optim's, with parameters numbered 1, 2, ... across
  -- the groups in order: {state = {[i] = {momentum_buffer = t, ...}}, param_groups =
  -- {{lr = ..., params = {1, 2, ...}}, ...}}.  Like PyTorch's, it refers to the
  -- optimizer's state tensors (later steps change them); load_state_dict copies.
  function Optimizer:state_dict()
    local state, groups, index = {}, {}, 0
    for gi, g in ipairs(self.param_groups) do
      local out = {}
      for k, v in pairs(g) do
        if k ~= "params" then out[k] = type(v) == "table" and {table.unpack(v)} or v end
      end
      out.params = {}
      for _, p in ipairs(g.params) do
        index = index + 1
        out.params[#out.params + 1] = index
        if self.state[p] then
          local st = {}
          for k, v in pairs(self.state[p]) do st[k] = v end
          state[index] = st
        end
      end
      groups[gi] = out
    end
    return {state = state, param_groups = groups}
  end

  -- opt:load_state_dict(sd): the options and state of sd, for the same number of
  -- groups and parameters; every check runs before anything changes
  function Optimizer:load_state_dict(sd)
    local fname = "load_state_dict"
    if type(sd) ~= "table" or type(sd.state) ~= "table" or type(sd.param_groups) ~= "table" then
      argerr(1, fname, "a table with 'state' and 'param_groups' expected, got " .. typename(sd))
    end
    if #sd.param_groups ~= #self.param_groups then
      argerr(1, fname, ("%d parameter groups for an optimizer of %d"):format(#sd.param_groups, #self.param_groups))
    end
    local params, options = {}, {}
    for gi, g in ipairs(self.param_groups) do
      local sg = sd.param_groups[gi]
      if type(sg) ~= "table" or type(sg.params) ~= "table" or #sg.params ~= #g.params then
        argerr(1, fname, ("parameter group %d does not have %d parameters"):format(gi, #g.params))
      end
      local opts = {}
      for k, v in pairs(sg) do
        if k ~= "params" then
          if self.defaults[k] == nil then argerr(1, fname, ("unknown option '%s' in parameter group %d"):format(tostring(k), gi)) end
          opts[k] = check_option(fname, k, v, self.defaults[k], 1)
        end
      end
      options[gi] = opts
      for j, p in ipairs(g.params) do params[sg.params[j]] = p end
    end
    local state = {}
    for i, st in pairs(sd.state) do
      local p = params[i]
      if not p then argerr(1, fname, ("state for parameter %s, which no group names"):format(tostring(i))) end
      if type(st) ~= "table" then argerr(1, fname, ("state of parameter %s must be a table"):format(tostring(i))) end
      local copy = {}
      for k, v in pairs(st) do
        if getmetatable(v) == mt then
          if v:shape_string() ~= p:shape_string() or v:dtype() ~= p:dtype() then
            argerr(1, fname, ("state '%s' of parameter %d is %s %s, the parameter %s %s"):format(tostring(k), i,
              v:dtype(), v:shape_string(), p:dtype(), p:shape_string()))
          end
          copy[k] = v:detach():clone()
        else
          copy[k] = v
        end
      end
      state[p] = copy
    end
    for gi, g in ipairs(self.param_groups) do
      for k, v in pairs(options[gi]) do g[k] = type(v) == "table" and {table.unpack(v)} or v end
    end
    self.state = state
  end

  -- opt:step([closure]): one update; a closure re-evaluates the loss and returns it
  function Optimizer:step(closure)
    local loss
    if closure ~= nil then
      if type(closure) ~= "function" then argerr(1, "step", "function expected, got " .. typename(closure)) end
      loss = closure()
    end
    nyto.no_grad(self._update, self)
    return loss
  end

  function Optimizer:__tostring()
    local lines = {self.__name_short .. " ("}
    for gi, g in ipairs(self.param_groups) do
      lines[#lines + 1] = ("Parameter Group %d"):format(gi - 1)
      local keys = {}
      for k in pairs(g) do if k ~= "params" then keys[#keys + 1] = k end end
      table.sort(keys)
      for _, k in ipairs(keys) do
        local v = g[k]
        if type(v) == "table" then
          local p = {}
          for i = 1, #v do p[i] = tostring(v[i]) end
          v = "(" .. table.concat(p, ", ") .. ")"
        end
        if v == true then v = "True" elseif v == false then v = "False" end
        lines[#lines + 1] = ("    %s: %s"):format(k, tostring(v))
      end
    end
    lines[#lines + 1] = ")"
    return table.concat(lines, "\n")
  end

  local function subclass(name)
    local c = {__name_short = name, __tostring = Optimizer.__tostring, __name = "nyto." .. name}
    c.__index = c
    return setmetatable(c, {__index = Optimizer})
  end

  -- SGD ------------------------------------------------------------------------------
  local SGD = subclass("SGD")
  optim.SGD = SGD
  local SGD_DEFAULTS = {lr = "required", momentum = 0, dampening = 0, weight_decay = 0,
                        nesterov = false, maximize = false}

  setmetatable(SGD, {__index = Optimizer, __call = function(_, params, options)
    local self = new(SGD, "SGD", SGD_DEFAULTS, params, options)
    for _, g in ipairs(self.param_groups) do
      if g.nesterov and (g.momentum <= 0 or g.dampening ~= 0) then
        argerr(2, "SGD", "Nesterov momentum requires a momentum and zero dampening")
      end
    end
    return self
  end})

  function SGD:_update()
    for _, g in ipairs(self.param_groups) do
      local lr, momentum, dampening, wd = g.lr, g.momentum, g.dampening, g.weight_decay
      for _, p in ipairs(g.params) do
        local d = p.grad
        if d then
          if g.maximize then d = -d end
          if wd ~= 0 then d = d:add(p, wd) end
          if momentum ~= 0 then
            local st = self.state[p]
            if not st then st = {} self.state[p] = st end
            local buf = st.momentum_buffer
            if buf == nil then
              buf = d:detach():clone()
              st.momentum_buffer = buf
            else
              buf:mul_(momentum):add_(d, 1 - dampening)
            end
            if g.nesterov then d = d:add(buf, momentum) else d = buf end
          end
          p:add_(d, -lr)
        end
      end
    end
  end

  -- Adam -----------------------------------------------------------------------------
  local Adam = subclass("Adam")
  optim.Adam = Adam
  local ADAM_DEFAULTS = {lr = 1e-3, betas = {0.9, 0.999}, eps = 1e-8, weight_decay = 0,
                         amsgrad = false, maximize = false}

  setmetatable(Adam, {__index = Optimizer, __call = function(_, params, options)
    return new(Adam, "Adam", ADAM_DEFAULTS, params, options)
  end})

  function Adam:_update()
    for _, g in ipairs(self.param_groups) do
      local lr, b1, b2, eps, wd = g.lr, g.betas[1], g.betas[2], g.eps, g.weight_decay
      for _, p in ipairs(g.params) do
        local grad = p.grad
        if grad then
          if g.maximize then grad = -grad end
          local st = self.state[p]
          if not st then
            st = {step = 0, exp_avg = nyto.zeros_like(p), exp_avg_sq = nyto.zeros_like(p)}
            if g.amsgrad then st.max_exp_avg_sq = nyto.zeros_like(p) end
            self.state[p] = st
          end
          st.step = st.step + 1
          if wd ~= 0 then grad = grad:add(p, wd) end
          st.exp_avg:mul_(b1):add_(grad, 1 - b1)
          st.exp_avg_sq:mul_(b2):add_(grad * grad, 1 - b2)
          local bc1 = 1 - b1 ^ st.step
          local bc2_sqrt = math.sqrt(1 - b2 ^ st.step)
          local v = st.exp_avg_sq
          if g.amsgrad then
            st.max_exp_avg_sq:copy_(nyto.maximum(st.max_exp_avg_sq, v))
            v = st.max_exp_avg_sq
          end
          local denom = (v:sqrt() / bc2_sqrt):add_(eps)
          p:add_(st.exp_avg / denom, -lr / bc1)
        end
      end
    end
  end

  return optim
end
