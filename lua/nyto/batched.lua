-- nyto.batched_forward: every member of a population as one batched forward
-- (issue 18).  The template module's parameters are swapped, for the call
-- only, for batched views of the members' stacked parameters (functorch's
-- vmap layer of libtorch 1.13: src/torch/vmap.cpp, src/lua/vmap.c), so the
-- module's unmodified Lua forward runs once for all members.  A forward that
-- cannot be batched runs as the per-member loop, with a warning, once.
local _s, _p, _m, _b, _f, _id, _k, _kk = require("nyto.particle.records").field_keys()
return function(nyto, core)
  local Tmt = core.Tensor_mt
  local vmap_call = core.vmap_call

  local E = require "nyto.errors"
  local err = E.err
  local function is_tensor(x) return getmetatable(x) == Tmt end
  local function shape_str(sz) return "[" .. table.concat(sz, ", ") .. "]" end

  -- every parameter of the module's subtree: {m=, name=, pid=, dotted=, shape=}
  local function param_slots(module)
    local slots = {}
    local function walk(m, prefix)
      local s = rawget(m, _s)
      for _, pn in ipairs(s.po) do
        local t = m[pn] -- materialises a lazy view: its shape and identity
        slots[#slots + 1] = {m = m, name = pn, pid = s.pid[pn], dotted = prefix .. pn, shape = t:size(),
                             dtype = t:dtype()}
      end
      for _, cn in ipairs(s.mo) do walk(rawget(m, _m)[cn], prefix .. cn .. ".") end
    end
    walk(module, "")
    return slots
  end

  -- results: a tensor, or (nested) tables of tensors, and other values kept as they are
  local function flatten(v, list)
    if is_tensor(v) then list[#list + 1] = v; return {leaf = #list} end
    if type(v) == "table" and getmetatable(v) == nil then
      local shape = {tab = {}}
      for k, x in pairs(v) do shape.tab[k] = flatten(x, list) end
      return shape
    end
    return {value = v}
  end
  local function rebuild(shape, list)
    if shape.leaf then return list[shape.leaf] end
    if shape.tab then
      local t = {}
      for k, s in pairs(shape.tab) do t[k] = rebuild(s, list) end
      return t
    end
    return shape.value
  end

  -- set the slots' parameters to `vals` (pid-aligned list), return the old ones
  local function swap(slots, vals)
    local old = {}
    for i, s in ipairs(slots) do
      local p = rawget(s.m, _p)
      old[i] = rawget(p, s.name)
      rawset(p, s.name, vals[i])
    end
    return old
  end

  local function call_forward(module, x, nres)
    local r = table.pack(module(x))
    return r
  end


  -- the per-member loop: member i runs with its rows of the stacks
  local function loop_forward(module, slots, stacks, n, x, per_member)
    local outs_per_member, shape = {}, nil
    local nres
    for i = 1, n do
      local vals = {}
      for j = 1, #slots do vals[j] = stacks[j][i] end
      local old = swap(slots, vals)
      local ok, r = pcall(call_forward, module, per_member and x[i] or x)
      swap(slots, old)
      if not ok then error(r, 0) end
      local list = {}
      shape = flatten(r, list)
      nres = r.n
      outs_per_member[i] = list
    end
    local stacked = {}
    for k = 1, #outs_per_member[1] do
      local col = {}
      for i = 1, n do col[i] = outs_per_member[i][k] end
      stacked[k] = nyto.stack(col, 1)
    end
    return rebuild(shape, stacked)
  end

  -- under the vmap layer, F.linear with a batched weight runs as one addmm
  -- (or baddbmm) over all members, the bias fused (core.vmap_linear); any other
  -- case, or a bad argument, goes to F.linear itself (its checks, its messages)
  local vmap_linear = core.vmap_linear
  local function fused_linear_of(orig)
    return function(input, weight, bias, ...)
      if select("#", ...) == 0 and is_tensor(input) and is_tensor(weight) and (bias == nil or is_tensor(bias)) then
        local r = vmap_linear(input, weight, bias)
        if r then return r end
      end
      return orig(input, weight, bias, ...)
    end
  end

  -- under the vmap layer, a Sequential's nn.Conv2d, nn.ReLU, nn.MaxPool2d(2)
  -- in a row (the stock classes and forwards, groups 1, dilation 1, a 2x2
  -- stride-2 pool without padding or ceil mode) run as one population-aware
  -- block, core.vmap_conv_pool: its direct kernel never makes the full-size
  -- activation (src/core/bconv.c), or oneDNN per member with the ReLU and the
  -- pool on its output while in cache.  The Sequential is where the next ops
  -- are known: the block's result is exactly what the three layers return.
  -- Anything else (autograd, float64, other arguments) runs the layers.
  local vmap_conv_pool = core.vmap_conv_pool
  local function is_pair(v, a)
    if v == a then return true end
    return type(v) == "table" and v[1] == a and v[2] == a and v[3] == nil
  end
  local conv_block_mode = 0 -- 0: core.bconv_force decides (itself 0: the block chooses)
  local function conv_block(nn, c, r, p, x)
    local Conv2d, ReLU, MaxPool2d = nn.Conv2d, nn.ReLU, nn.MaxPool2d
    if getmetatable(c) ~= Conv2d.__imt or getmetatable(r) ~= ReLU.__imt or getmetatable(p) ~= MaxPool2d.__imt then return nil end
    if c.forward ~= Conv2d.forward or r.forward ~= ReLU.forward or p.forward ~= MaxPool2d.forward then return nil end
    if not is_tensor(x) or c.groups ~= 1 or not is_pair(c.dilation, 1) or type(c.stride) ~= "table" then return nil end
    if not (is_pair(p.kernel_size, 2) and is_pair(p.stride, 2) and is_pair(p.padding, 0) and is_pair(p.dilation, 1))
       or p.ceil_mode ~= false then
      return nil
    end
    local w = c.weight
    if not is_tensor(w) or w:dim() ~= 4 then return nil end
    local pad, ph, pw = c.padding, nil, nil
    if pad == "valid" then ph, pw = 0, 0
    elseif pad == "same" then
      local th, tw = w:size(3) - 1, w:size(4) - 1
      if th % 2 ~= 0 or tw % 2 ~= 0 then return nil end -- the odd element at the end: F.conv2d pads
      ph, pw = th // 2, tw // 2
    elseif type(pad) == "table" then ph, pw = pad[1], pad[2]
    else return nil end
    local b, sh, sw = c.bias, c.stride[1], c.stride[2]
    local mi = math.type
    if (b ~= nil and not is_tensor(b)) or mi(sh) ~= "integer" or mi(sw) ~= "integer" or mi(ph) ~= "integer"
       or mi(pw) ~= "integer" then
      return nil -- the layers raise their own errors
    end
    return vmap_conv_pool(x, w, b, sh, sw, ph, pw, conv_block_mode)
  end
  -- a Sequential's nn.Linear then nn.ReLU (the stock classes and forwards):
  -- the ReLU inside the core's small-linear kernel, on each member's output
  -- while in cache (core.vmap_linear's relu flag), instead of a separate pass
  -- over a fresh activation; nil (the layers run) when that kernel does not apply
  local function linear_relu_ok(nn, l, r, x)
    local Linear, ReLU = nn.Linear, nn.ReLU
    if getmetatable(l) ~= Linear.__imt or getmetatable(r) ~= ReLU.__imt then return false end
    if l.forward ~= Linear.forward or r.forward ~= ReLU.forward then return false end
    local w, b = l.weight, l.bias
    return is_tensor(x) and is_tensor(w) and (b == nil or is_tensor(b))
  end
  local function linear_relu(nn, l, r, x)
    if not linear_relu_ok(nn, l, r, x) then return nil end
    return vmap_linear(x, l.weight, l.bias, true)
  end
  -- Linear -> ReLU -> Linear: the second layer on each member's hidden rows
  -- while they are in cache, so the hidden activation is never written out
  -- (the MLP's 32 -> 4 layer cost its read of a fresh 2 MB activation)
  local function linear_relu_linear(nn, l, r, l2, x)
    local Linear = nn.Linear
    if getmetatable(l2) ~= Linear.__imt or l2.forward ~= Linear.forward then return nil end
    local w2, b2 = l2.weight, l2.bias
    if not is_tensor(w2) or (b2 ~= nil and not is_tensor(b2)) then return nil end
    if not linear_relu_ok(nn, l, r, x) then return nil end
    return vmap_linear(x, l.weight, l.bias, true, w2, b2)
  end
  local function fused_sequential_of(orig, nn)
    return function(self, x, ...)
      local mods, k = {}, 1
      while true do
        local m = self[k]
        if m == nil then break end
        if not nyto.is_module(m) then return orig(self, x, ...) end -- its error
        mods[k], k = m, k + 1
      end
      local i, nm, extra = 1, #mods, select("#", ...) > 0
      while i <= nm do
        local y = i + 2 <= nm and not (i == 1 and extra) and conv_block(nn, mods[i], mods[i + 1], mods[i + 2], x)
        -- (a ReLU after the second Linear: the pairs instead, each ReLU in its kernel)
        local y3 = not y and i + 2 <= nm and not (i == 1 and extra)
          and not (mods[i + 3] and getmetatable(mods[i + 3]) == nn.ReLU.__imt)
          and linear_relu_linear(nn, mods[i], mods[i + 1], mods[i + 2], x)
        local y2 = not y and not y3 and i + 1 <= nm and not (i == 1 and extra)
          and linear_relu(nn, mods[i], mods[i + 1], x)
        if y or y3 then
          x, i = y or y3, i + 3
        elseif y2 then
          x, i = y2, i + 2
        else
          if i == 1 then x = mods[1](x, ...) else x = mods[i](x) end
          i = i + 1
        end
      end
      return x
    end
  end

  local opts_fused = true
  local function vmap_forward(module, slots, stacks, n, x, per_member, fused)
    opts_fused = fused
    local wrap = {}
    for j = 1, #slots do wrap[j] = stacks[j] end
    if per_member then wrap[#wrap + 1] = x end
    local shape
    local function body(views)
      local xin = per_member and views[#views] or x
      local old = swap(slots, views)
      local F = nyto.F
      local orig_linear = F.linear
      F.linear = opts_fused and fused_linear_of(orig_linear) or orig_linear
      local nn = nyto.nn
      local orig_seq = rawget(nn.Sequential, "forward")
      if opts_fused then rawset(nn.Sequential, "forward", fused_sequential_of(orig_seq, nn)) end
      local ok, r = pcall(call_forward, module, xin)
      rawset(nn.Sequential, "forward", orig_seq)
      F.linear = orig_linear
      swap(slots, old)
      if not ok then error(r, 0) end
      local list = {}
      shape = flatten(r, list)
      return list
    end
    local list, nfallback, msg = vmap_call(n, wrap, body)
    return rebuild(shape, list), nfallback, msg
  end

  local function unpack_results(r) return table.unpack(r, 1, r.n) end

  --- nyto.batched_forward(module, stacks, x [, opts]) -> the forward's results, each with a new dim 1 of size n
  function nyto.batched_forward(module, stacks, x, opts)
    local fn = "batched_forward"
    if nyto.type(module) == "ParticleModule" then module = module.root_module end
    if nyto.type(module) ~= "Module" then
      err("bad argument #1 to '%s' (Module expected, got %s)", fn, nyto.type(module) or type(module))
    end
    if type(stacks) ~= "table" then err("bad argument #2 to '%s' (table of stacked parameters expected, got %s)", fn, nyto.type(stacks) or type(stacks)) end
    if opts ~= nil and type(opts) ~= "table" then err("bad argument #4 to '%s' (table of options expected, got %s)", fn, type(opts)) end
    opts = opts or {}
    local slots = param_slots(module)
    if #slots == 0 then err("bad argument #1 to '%s' (the module has no parameters)", fn) end
    local by_pid, used = {}, {}
    local list, n = {}, nil
    for j, s in ipairs(slots) do
      local t, key = stacks[s.pid], s.pid
      if t == nil then t, key = stacks[s.dotted], s.dotted end
      if t == nil then err("bad argument #2 to '%s' (no stack for parameter %d '%s')", fn, s.pid, s.dotted) end
      if used[key] then err("bad argument #2 to '%s' (two stacks for parameter '%s')", fn, s.dotted) end
      used[key] = true
      if stacks[s.pid] ~= nil and stacks[s.dotted] ~= nil then
        err("bad argument #2 to '%s' (parameter '%s' given both by id %d and by name)", fn, s.dotted, s.pid)
      end
      if not is_tensor(t) then err("bad argument #2 to '%s' (stack for '%s': Tensor expected, got %s)", fn, s.dotted, nyto.type(t) or type(t)) end
      local sz = t:size()
      n = n or sz[1]
      local ok = #sz == #s.shape + 1 and sz[1] == n
      for d = 1, #s.shape do ok = ok and sz[d + 1] == s.shape[d] end
      if not ok then
        err("bad argument #2 to '%s' (stack for '%s' has shape %s, expected [%s%s])", fn, s.dotted, shape_str(sz),
            tostring(n), #s.shape > 0 and ", " .. table.concat(s.shape, ", ") or "")
      end
      if t:dtype() ~= s.dtype then
        err("bad argument #2 to '%s' (stack for '%s' is %s, the parameter is %s)", fn, s.dotted, t:dtype(), s.dtype)
      end
      list[j] = t
    end
    for k in pairs(stacks) do
      if not used[k] then err("bad argument #2 to '%s' (%s %s is not a parameter of the module)", fn, type(k) == "number" and "id" or "name", tostring(k)) end
    end
    if n < 1 then err("bad argument #2 to '%s' (stacks hold no member)", fn) end
    if not is_tensor(x) then err("bad argument #3 to '%s' (Tensor expected, got %s)", fn, nyto.type(x) or type(x)) end
    local per_member = opts.per_member and true or false
    if per_member and (x:dim() < 1 or x:size(1) ~= n) then
      err("bad argument #3 to '%s' (per_member input's dim 1 must be the number of members %d, got shape %s)", fn, n,
          shape_str(x:size()))
    end
    if opts.loop then return unpack_results(loop_forward(module, slots, list, n, x, per_member)) end
    local ok, r, nfallback, msg = pcall(vmap_forward, module, slots, list, n, x, per_member, opts.fused ~= false)
    if ok and nfallback > 0 and opts.strict_batching then ok, r = false, msg end
    if ok then
      if nfallback > 0 then
        E.warn_once("batched_forward", ("batched_forward: %d op(s) of this forward have no batching rule and ran as a loop over members (%s)")
          :format(nfallback, msg))
      end
      return unpack_results(r)
    end
    -- not batchable (or a real error: the loop raises it again, as the plain forward would)
    local lr = loop_forward(module, slots, list, n, x, per_member)
    do
      E.warn_once("batched_forward", "batched_forward: this forward cannot be batched; it ran as the per-member loop (" ..
        tostring(r):gsub("^nyto: ", "") .. ")")
    end
    return unpack_results(lr)
  end
end
