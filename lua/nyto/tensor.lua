-- nyto.tensor: the Tensor surface of the nyto table.  The C binding provides
-- the userdata and one function per row of src/torch/ops.def; this file
-- exposes them, adds what is simpler in Lua (printing, equal, allclose,
-- no_grad) and nothing that a tight loop pays for.
return function(nyto, core)
  local M = core.Tensor_methods
  local mt = core.Tensor_mt
  local ops = core.ops

  for _, name in ipairs {"tensor", "zeros", "ones", "empty", "full", "randn", "rand", "arange", "eye",
                          "zeros_like", "ones_like", "full_like", "randn_like", "rand_like", "empty_like",
                          "Parameter", "cat", "stack"} do
    nyto[name] = core[name]
  end
  -- every op is also a function of the nyto table: nyto.exp(t), nyto.matmul(a, b)
  for name, f in pairs(ops) do
    if nyto[name] == nil then nyto[name] = f end
  end
  nyto.manual_seed = core.manual_seed
  nyto.num_threads = core.num_threads

  local tensor_type = "nyto.Tensor"

  -- nyto.type(x): the short type name of a nyto object, or nil; never raises
  local function short_type(x)
    local m = getmetatable(x)
    if type(m) ~= "table" then return nil end
    local n = rawget(m, "__name")
    if type(n) == "string" and n:sub(1, 5) == "nyto." then return n:sub(6) end
    return nil
  end
  nyto.type = short_type
  function nyto.is_tensor(x) return getmetatable(x) == mt end

  -- comparisons and identity -------------------------------------------------
  function nyto.equal(a, b)
    if getmetatable(a) ~= mt or getmetatable(b) ~= mt then
      error("nyto: bad argument to 'equal' (two Tensors expected)", 2)
    end
    local sa, sb = a:size(), b:size()
    if #sa ~= #sb then return false end
    for i = 1, #sa do if sa[i] ~= sb[i] then return false end end
    if a:dtype() ~= b:dtype() then return false end
    if a:numel() == 0 then return true end
    return ops.eq(a, b):all():item()
  end
  M.equal = nyto.equal

  function M.allclose(a, b, rtol, atol)
    rtol, atol = rtol or 1e-5, atol or 1e-8
    if getmetatable(b) ~= mt then error("nyto: bad argument #2 to 'allclose' (Tensor expected, got " .. type(b) .. ")", 2) end
    local x, y = a:double(), b:double()
    local ok, diff = pcall(ops.sub, x, y)
    if not ok then error(diff, 2) end
    return ops.le(diff:abs(), y:abs() * rtol + atol):all():item()
  end
  nyto.allclose = M.allclose

  -- autograd -------------------------------------------------------------------
  -- nyto.no_grad(fn, ...): run fn with gradient recording off; returns fn's results
  function nyto.no_grad(fn, ...)
    if type(fn) ~= "function" then error("nyto: bad argument #1 to 'no_grad' (function expected, got " .. type(fn) .. ")", 2) end
    local was = core.grad_enabled()
    core.set_grad_enabled(false)
    local res = table.pack(pcall(fn, ...))
    core.set_grad_enabled(was)
    if not res[1] then error(res[2], 0) end
    return table.unpack(res, 2, res.n)
  end
  nyto.is_grad_enabled = core.grad_enabled
  nyto.set_grad_enabled = core.set_grad_enabled

  -- printing like PyTorch ------------------------------------------------------
  local function fmt_float_all(vals)
    -- decide PyTorch's format: integral, fixed 4 decimals, or scientific
    local allint, maxa, mina = true, 0, math.huge
    local finite = 0
    for _, v in ipairs(vals) do
      if v == v and v ~= math.huge and v ~= -math.huge then
        finite = finite + 1
        local a = math.abs(v)
        if v ~= math.floor(v) then allint = false end
        if a > maxa then maxa = a end
        if a ~= 0 and a < mina then mina = a end
      end
    end
    if finite == 0 then mina = 0 end
    local sci = finite > 0 and (maxa > 1e8 or (mina ~= math.huge and (maxa / mina > 1000 or mina < 1e-4)))
    if allint and not (maxa > 1e8) then
      return function(v)
        if v ~= v then return "nan" elseif v == math.huge then return "inf" elseif v == -math.huge then return "-inf" end
        return string.format("%.0f.", v)
      end
    elseif sci then
      return function(v)
        if v ~= v then return "nan" elseif v == math.huge then return "inf" elseif v == -math.huge then return "-inf" end
        return string.format("%.4e", v)
      end
    else
      return function(v)
        if v ~= v then return "nan" elseif v == math.huge then return "inf" elseif v == -math.huge then return "-inf" end
        return string.format("%.4f", v)
      end
    end
  end

  local EDGE = 3
  local function summarized(t) return t:numel() > 1000 end

  -- collect the printed elements (with summarisation) as a flat list
  local function gather(tab, depth, sizes, summ, out)
    if depth == #sizes then
      out[#out + 1] = tab
      return
    end
    local n = sizes[depth + 1]
    if summ and n > 2 * EDGE then
      for i = 1, EDGE do gather(tab[i], depth + 1, sizes, summ, out) end
      for i = n - EDGE + 1, n do gather(tab[i], depth + 1, sizes, summ, out) end
    else
      for i = 1, n do gather(tab[i], depth + 1, sizes, summ, out) end
    end
  end

  local function tostring_tensor(t)
    if getmetatable(t) ~= mt then return tostring(t) end
    local ok, dt = pcall(t.dtype, t)
    if not ok then return "Tensor(freed)" end
    local sizes = t:size()
    local suffix = {}
    if dt == "float64" then suffix[#suffix + 1] = "dtype=float64" end
    if dt == "bool" and false then suffix[#suffix + 1] = "" end
    if t:requires_grad() then suffix[#suffix + 1] = "requires_grad=True" end
    local numel = t:numel()
    local body
    if numel == 0 then
      body = "[]"
      if #sizes ~= 1 then
        local s = {}
        for i, v in ipairs(sizes) do s[i] = tostring(v) end
        table.insert(suffix, 1, "size=(" .. table.concat(s, ", ") .. (#s == 1 and ",)" or ")"))
      end
    else
      local summ = summarized(t)
      local src = t
      if summ then
        -- take the edges only, so printing a huge tensor stays cheap
        for d = 1, #sizes do
          if sizes[d] > 2 * EDGE then
            src = nyto.cat({src:narrow(d, 1, EDGE), src:narrow(d, sizes[d] - EDGE + 1, EDGE)}, d)
          end
        end
      end
      local tab = src:totable()
      local shown = src:size()
      local flat = {}
      if #sizes == 0 then flat[1] = tab else gather(tab, 0, shown, false, flat) end
      local f
      if dt == "bool" then
        f = function(v) return v and "True" or "False" end
      elseif dt == "int64" then
        f = function(v) return string.format("%d", v) end
      else
        f = fmt_float_all(flat)
      end
      local width = 0
      for _, v in ipairs(flat) do
        local s = f(v)
        if #s > width then width = #s end
      end
      local function el(v)
        local s = f(v)
        return string.rep(" ", width - #s) .. s
      end
      if #sizes == 0 then
        body = f(tab)
      else
        local indent = 7 -- #"tensor("
        local function rec(x, depth, dsize)
          local n = shown[depth]
          local parts = {}
          local cut = summ and sizes[depth] > 2 * EDGE
          for i = 1, n do
            if cut and i == EDGE + 1 then parts[#parts + 1] = "..." end
            if depth == #shown then parts[#parts + 1] = el(x[i]) else parts[#parts + 1] = rec(x[i], depth + 1) end
          end
          if depth == #shown then return "[" .. table.concat(parts, ", ") .. "]" end
          local sep = "," .. string.rep("\n", #shown - depth) .. string.rep(" ", indent + depth)
          return "[" .. table.concat(parts, sep) .. "]"
        end
        body = rec(tab, 1)
      end
    end
    if #suffix > 0 then body = body .. ", " .. table.concat(suffix, ", ") end
    return "tensor(" .. body .. ")"
  end
  mt.__tostring = tostring_tensor
  mt.__name = tensor_type

  -- convenience methods ---------------------------------------------------------
  function M.type(t) return "Tensor" end
  function M.shape(t) return t:size() end
  function M.tolist(t) return t:totable() end
  M.T = M.t
  -- t:max() over everything returns a tensor; :item() gives the number.
end
