-- nyto.distributed: ranks on torch.distributed's C++ core (c10d: TCPStore and
-- the Gloo backend), launched by torchrun (or anything that sets RANK,
-- WORLD_SIZE, MASTER_ADDR, MASTER_PORT).  The C++ is src/torch/dist.cpp.
--   local dist = nyto.distributed
--   dist.init{timeout = 30}
--   dist.all_reduce(net, "avg")     -- one collective per flat buffer of the particle
-- A particle is exchanged through its flat buffers (one per dtype, in dtype
-- order), never one parameter at a time.  Unless init was given
-- {check_shapes = false}, every collective first exchanges a small shape/dtype
-- header so that mismatched tensors raise on every rank instead of corrupting
-- (a plain PyTorch rank in the group needs check_shapes = false).
local _s, _p, _m, _b, _f, _id, _k, _kk = require("nyto.particle.records").field_keys()
return function(nyto, core)
  local Tmt = core.Tensor_mt
  local dist = {}
  nyto.distributed = dist
  local check = true

  local E = require "nyto.errors"
  local err = E.err

  local ops = {sum = 0, avg = 1, min = 2, max = 3, product = 4}

  function dist.init(opts)
    if opts ~= nil and type(opts) ~= "table" then
      err("bad argument #1 to 'init' (table expected, got %s)", type(opts))
    end
    opts = opts or {}
    local timeout = opts.timeout == nil and 300 or opts.timeout
    if type(timeout) ~= "number" or not (timeout > 0) then
      err("bad argument #1 to 'init' (timeout must be a positive number of seconds, got %s)", tostring(timeout))
    end
    if core.dist_initialized() then err("init: already initialized (call dist.destroy first)") end
    local env = {}
    for _, name in ipairs{"RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT"} do
      local v = os.getenv(name)
      if v == nil or v == "" then err("init: environment variable %s is not set (launch with torchrun)", name) end
      env[name] = v
    end
    local rank, world, port = math.tointeger(tonumber(env.RANK)), math.tointeger(tonumber(env.WORLD_SIZE)),
      math.tointeger(tonumber(env.MASTER_PORT))
    if not rank then err("init: environment variable RANK is not an integer ('%s')", env.RANK) end
    if not world then err("init: environment variable WORLD_SIZE is not an integer ('%s')", env.WORLD_SIZE) end
    if not port then err("init: environment variable MASTER_PORT is not an integer ('%s')", env.MASTER_PORT) end
    core.dist_init(rank, world, env.MASTER_ADDR, port, timeout)
    check = opts.check_shapes ~= false
  end

  function dist.destroy() core.dist_destroy() end
  function dist.is_initialized() return core.dist_initialized() end

  local function need(fname)
    if not core.dist_initialized() then err("%s: not initialized (call dist.init first)", fname) end
  end
  function dist.rank() need("rank"); return core.dist_rank() end
  function dist.world_size() need("world_size"); return core.dist_world_size() end
  function dist.barrier() need("barrier"); core.dist_barrier() end

  local kernel_of = require("nyto.particle.kernel").kernel_of
  local function is_swarm(x) return nyto.type(x) == "Swarm" end
  local function sorted_dtypes(k)
    local dts = {}
    for dt in pairs(k.bufs) do dts[#dts + 1] = dt end
    table.sort(dts, function(a, b) return tostring(a) < tostring(b) end)
    return dts
  end
  local function live_swarm(s, fname, i)
    if tostring(s) == "nyto.Swarm(freed)" then err("bad argument #%d to '%s' (attempt to use a freed Swarm)", i or 1, fname) end
  end

  -- the flat tensors of x: {x} for a Tensor, one per dtype (in dtype order)
  -- for a particle, and for a swarm its [n, P] arenas (one per dtype, in place)
  local function flats(x, fname)
    if getmetatable(x) == Tmt then return {x} end
    if is_swarm(x) then
      live_swarm(x, fname)
      local out = {}
      for i, dt in ipairs(sorted_dtypes(kernel_of(x[1], fname))) do out[i] = x:flat(dt) end
      return out
    end
    if type(x) == "table" and rawget(x, _k) then
      local k = kernel_of(x, fname)
      local out = {}
      for i, dt in ipairs(sorted_dtypes(k)) do out[i] = k.bufs[dt]:tensor() end
      return out
    end
    err("bad argument #1 to '%s' (Tensor, particle or Swarm expected, got %s)", fname, nyto.type(x) or type(x))
  end

  local function peer(v, i, fname, what)
    if math.type(v) ~= "integer" then
      err("bad argument #%d to '%s' (%s rank expected, got %s)", i, fname, what, math.type(v) or type(v))
    end
    local n = core.dist_world_size()
    if v < 0 or v >= n then
      err("bad argument #%d to '%s' (%s %d out of range: ranks are 0..%d)", i, fname, what, v, n - 1)
    end
  end

  function dist.all_reduce(x, op)
    need("all_reduce")
    local code = ops[op == nil and "sum" or op]
    if not code then err("bad argument #2 to 'all_reduce' (\"sum\", \"avg\", \"min\", \"max\" or \"product\" expected, got %s)", tostring(op)) end
    for _, t in ipairs(flats(x, "all_reduce")) do core.dist_all_reduce(t, code, check) end
    return x
  end

  function dist.broadcast(x, src)
    need("broadcast")
    local ts = flats(x, "broadcast")
    peer(src, 2, "broadcast", "src")
    for _, t in ipairs(ts) do core.dist_broadcast(t, src, check) end
    return x
  end

  -- send and recv: one message per flat buffer to or from another rank
  local function point_to_point(fname, argname, op, returns_x)
    return function(x, other)
      need(fname)
      local ts = flats(x, fname)
      peer(other, 2, fname, argname)
      if other == core.dist_rank() then err("bad argument #2 to '%s' (%s %d is this rank)", fname, argname, other) end
      for _, t in ipairs(ts) do op(t, other, check) end
      if returns_x then return x end
    end
  end
  dist.send = point_to_point("send", "dst", core.dist_send, false)
  dist.recv = point_to_point("recv", "src", core.dist_recv, true) -- received in place

  -- a 1-based table in rank order: tensors for a tensor, particles (clones of x)
  -- for a particle, swarms (clones of x) for a swarm
  function dist.all_gather(x)
    need("all_gather")
    local ts = flats(x, "all_gather")
    if getmetatable(x) == Tmt then return core.dist_all_gather(x, check) end
    local n = core.dist_world_size()
    local out = {}
    for r = 1, n do out[r] = x:clone() end
    for i, t in ipairs(ts) do
      local got = core.dist_all_gather(t, check)
      nyto.no_grad(function()
        for r = 1, n do flats(out[r], "all_gather")[i]:copy_(got[r]) end
      end)
    end
    return out
  end

  -- the island model on a ring: the k best members (lowest fitness; the first k
  -- without one) go to rank + 1 and replace its k worst (the last k without a
  -- fitness); even ranks send first, odd ranks receive first, so a ring of any
  -- size never waits on itself
  function dist.migrate(s, k, fitness)
    local fname = "migrate"
    need(fname)
    if not is_swarm(s) then err("bad argument #1 to '%s' (Swarm expected, got %s)", fname, nyto.type(s) or type(s)) end
    live_swarm(s, fname)
    local n = #s
    if math.type(k) ~= "integer" then err("bad argument #2 to '%s' (integer expected, got %s)", fname, math.type(k) or type(k)) end
    if k < 0 or k > n then err("bad argument #2 to '%s' (k must be in 0..%d, the swarm's members, got %d)", fname, n, k) end
    local f
    if fitness ~= nil then
      if getmetatable(fitness) == Tmt then
        if fitness:dim() ~= 1 or fitness:numel() ~= n then
          err("bad argument #3 to '%s' (fitness must have %d elements (one per member), got shape [%s])", fname, n,
              table.concat(fitness:size(), ", "))
        end
        f = fitness:totable()
        if type(f[1]) ~= "number" then err("bad argument #3 to '%s' (fitness must be a numeric tensor, got %s)", fname, fitness:dtype()) end
      elseif type(fitness) == "table" and getmetatable(fitness) == nil then
        if #fitness ~= n then err("bad argument #3 to '%s' (%d fitness values expected (one per member), got %d)", fname, n, #fitness) end
        f = {}
        for i = 1, n do
          if type(fitness[i]) ~= "number" then err("bad argument #3 to '%s' (fitness %d is not a number)", fname, i) end
          f[i] = fitness[i]
        end
      else
        err("bad argument #3 to '%s' (tensor or table of fitness values expected, got %s)", fname, nyto.type(fitness) or type(fitness))
      end
    end
    if check then -- every rank migrates the same number of members
      local ks = core.dist_all_gather(nyto.tensor({k}, {dtype = "int64"}), true)
      for r, t in ipairs(ks) do
        local kr = t:item()
        if kr ~= k then err("migrate: rank %d migrates %d members, rank %d %d (k must match)", r - 1, kr, core.dist_rank(), k) end
      end
    end
    if k == 0 then return s end
    local order = {}
    for i = 1, n do order[i] = i end
    if f then -- ascending, NaN last, ties by index: the same order on every run
      table.sort(order, function(a, b)
        local fa, fb = f[a], f[b]
        if fa ~= fa then return fb ~= fb and a < b end
        if fb ~= fb then return true end
        if fa ~= fb then return fa < fb end
        return a < b
      end)
    end
    local best, worst = {}, {}
    for j = 1, k do best[j] = order[j]; worst[j] = order[n + 1 - j] end -- the best incoming replaces the worst
    local out <close> = s:select(best)
    local world, r = core.dist_world_size(), core.dist_rank()
    if world == 1 then
      s:scatter_(worst, out)
      return s
    end
    local inc <close> = out:clone()
    local nxt, prv = (r + 1) % world, (r - 1 + world) % world
    local ts_out, ts_in = flats(out, fname), flats(inc, fname)
    if r % 2 == 0 then
      for _, t in ipairs(ts_out) do core.dist_send(t, nxt, check) end
      for _, t in ipairs(ts_in) do core.dist_recv(t, prv, check) end
    else
      for _, t in ipairs(ts_in) do core.dist_recv(t, prv, check) end
      for _, t in ipairs(ts_out) do core.dist_send(t, nxt, check) end
    end
    s:scatter_(worst, inc)
    return s
  end

  -- data-parallel training: average every parameter's gradient over the ranks
  -- (as DDP), one collective per dtype over the gradients made contiguous once
  function dist.all_reduce_grads(net)
    need("all_reduce_grads")
    if not (type(net) == "table" and rawget(net, _k)) then
      err("bad argument #1 to 'all_reduce_grads' (particle expected, got %s)", nyto.type(net) or type(net))
    end
    local groups, order = {}, {}
    for name, p in net:named_parameters() do
      if p:requires_grad() then
        local g = p.grad
        if g == nil then err("all_reduce_grads: parameter '%s' has no gradient (call backward first)", name) end
        local dt = g:dtype()
        if not groups[dt] then groups[dt] = {}; order[#order + 1] = dt end
        local list = groups[dt]
        list[#list + 1] = g
      end
    end
    table.sort(order)
    nyto.no_grad(function()
      for _, dt in ipairs(order) do
        local list, flat = groups[dt], {}
        for i, g in ipairs(list) do flat[i] = g:reshape(-1) end
        local buf = nyto.cat(flat, 1)
        core.dist_all_reduce(buf, ops.avg, check)
        local off = 0
        for _, g in ipairs(list) do
          local n = g:numel()
          g:copy_(buf:narrow(1, off + 1, n):view(g:size()))
          off = off + n
        end
      end
    end)
    return net
  end
end
