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
                          "Parameter", "is_parameter", "cat", "stack"} do
    nyto[name] = core[name]
  end
  -- every op is also a function of the nyto table: nyto.exp(t), nyto.matmul(a, b)
  for name, f in pairs(ops) do
    if nyto[name] == nil then nyto[name] = f end
  end
  nyto.manual_seed = core.manual_seed
  nyto.num_threads = core.num_threads
  nyto.Generator = core.Generator -- src/lua/random.c

  local tensor_type = "nyto.Tensor"

  -- nyto.type(x): the short type name of a nyto object, or nil; never raises
  nyto.type = require("nyto.errors").type_of
  function nyto.is_tensor(x) return getmetatable(x) == mt end

  -- comparisons and identity -------------------------------------------------
  local function check_tensor(x, i, fname)
    if getmetatable(x) ~= mt then
      local tn = nyto.type(x) or type(x)
      error(("nyto: bad argument #%d to '%s' (Tensor expected, got %s)"):format(i, fname, tn), 0)
    end
  end

  -- nyto.equal(a, b): the same shape and the same values (as torch.equal)
  function nyto.equal(a, b, ...)
    check_tensor(a, 1, "equal")
    check_tensor(b, 2, "equal")
    if select("#", ...) > 0 then error("nyto: bad argument #3 to 'equal' (no value expected: at most 2 arguments)", 0) end
    local sa, sb = a:size(), b:size()
    if #sa ~= #sb then return false end
    for i = 1, #sa do if sa[i] ~= sb[i] then return false end end
    if a:numel() == 0 then return true end
    return ops.eq(a, b):all():item()
  end
  M.equal = nyto.equal

  -- t:allclose(u [, rtol, atol]): |t - u| <= atol + rtol * |u| everywhere (equal infinities are close)
  function M.allclose(a, b, rtol, atol, ...)
    check_tensor(a, 1, "allclose")
    check_tensor(b, 2, "allclose")
    if rtol ~= nil and type(rtol) ~= "number" then
      error("nyto: bad argument #3 to 'allclose' (number expected, got " .. type(rtol) .. ")", 0)
    end
    if atol ~= nil and type(atol) ~= "number" then
      error("nyto: bad argument #4 to 'allclose' (number expected, got " .. type(atol) .. ")", 0)
    end
    if select("#", ...) > 0 then error("nyto: bad argument #5 to 'allclose' (no value expected: at most 4 arguments)", 0) end
    rtol, atol = rtol or 1e-5, atol or 1e-8
    local x, y = a:double(), b:double()
    local ok, diff = pcall(ops.sub, x, y)
    if not ok then
      error(("nyto: bad argument #2 to 'allclose' (shapes %s and %s do not broadcast)"):format(a:shape_string(), b:shape_string()), 0)
    end
    local close = ops.logical_or(ops.eq(x, y), ops.le(diff:abs(), y:abs() * rtol + atol))
    return close:all():item()
  end
  nyto.allclose = M.allclose

  -- autograd -------------------------------------------------------------------
  -- nyto.no_grad(fn, ...): run fn with gradient recording off; returns fn's results
  -- pcall(fn, ...) that refuses a yield: fn runs in a coroutine of its own, so control always
  -- comes back here and the caller can restore the gradient mode on every path (a yield out of
  -- a pcall in the script's coroutine, never resumed, would leave recording off for good).
  -- an error message of at most 400 characters: user strings (a 10,000-character dtype, ...)
  -- are not echoed in full
  local pcall_noyield = require("nyto.errors").pcall_noyield

  function nyto.no_grad(fn, ...)
    if type(fn) ~= "function" then error("nyto: bad argument #1 to 'no_grad' (function expected, got " .. type(fn) .. ")", 0) end
    local was = core.grad_enabled()
    core.set_grad_enabled(false)
    local res = table.pack(pcall_noyield(fn, ...))
    core.set_grad_enabled(was)
    if not res[1] then error(res[2], 0) end
    return table.unpack(res, 2, res.n)
  end
  nyto.is_grad_enabled = core.grad_enabled
  nyto.set_grad_enabled = core.set_grad_enabled

  -- printing like PyTorch ------------------------------------------------------
  -- A port of torch/_tensor_str.py (PyTorch 1.13) with its default print
  -- options: precision 4, threshold 1000, edgeitems 3, linewidth 80.  One
  -- difference: a dtype suffix names nyto's dtype ("dtype=float64").
  local PRECISION, THRESHOLD, EDGE, LINEWIDTH = 4, 1000, 3, 80
  local huge, floor, ceil, abs, fmt, rep = math.huge, math.floor, math.ceil, math.abs, string.format, string.rep

  local function finite(v) return v == v and v ~= huge and v ~= -huge end
  local function nonfinite_str(v)
    if v ~= v then return "nan" elseif v == huge then return "inf" else return "-inf" end
  end

  -- _Formatter: decides int/fixed/scientific mode and the common width from
  -- the (summarised) values; returns the width and the element formatter.
  local function formatter(vals, dt)
    local width = 1
    if dt == "bool" or dt == "int64" then
      local function f(v)
        if dt == "bool" then return v and "True" or "False" end
        return fmt("%d", v)
      end
      for i = 1, #vals do
        local n = #f(vals[i])
        if n > width then width = n end
      end
      return width, function(v)
        local s = f(v)
        return rep(" ", width - #s) .. s
      end
    end
    local int_mode, sci_mode = true, false
    local nz = {}
    for i = 1, #vals do
      local v = vals[i]
      if v ~= 0 and finite(v) then nz[#nz + 1] = v end
    end
    if #nz > 0 then
      local mn, mx = huge, 0
      for i = 1, #nz do
        local a = abs(nz[i])
        if a < mn then mn = a end
        if a > mx then mx = a end
        if nz[i] ~= ceil(nz[i]) then int_mode = false end
      end
      if int_mode then
        if mx / mn > 1000 or mx > 1e8 then
          sci_mode = true
          for i = 1, #nz do width = math.max(width, #fmt("%." .. PRECISION .. "e", nz[i])) end
        else
          for i = 1, #nz do width = math.max(width, #fmt("%.0f", nz[i]) + 1) end
        end
      else
        if mx / mn > 1000 or mx > 1e8 or mn < 1e-4 then
          sci_mode = true
          for i = 1, #nz do width = math.max(width, #fmt("%." .. PRECISION .. "e", nz[i])) end
        else
          for i = 1, #nz do width = math.max(width, #fmt("%." .. PRECISION .. "f", nz[i])) end
        end
      end
    end
    local efmt, ffmt = "%." .. PRECISION .. "e", "%." .. PRECISION .. "f"
    return width, function(v)
      local s
      if not finite(v) then s = nonfinite_str(v)
      elseif sci_mode then s = fmt(efmt, v)
      elseif int_mode then s = fmt("%.0f", v) .. "."
      else s = fmt(ffmt, v) end
      return rep(" ", width - #s) .. s
    end
  end

  -- the values of a nested table, depth first
  local function flatten_values(tab, depth, nd, out)
    if depth == nd then
      out[#out + 1] = tab
      return out
    end
    for i = 1, #tab do flatten_values(tab[i], depth + 1, nd, out) end
    return out
  end

  -- _tensor_str_with_formatter over the nested table x of the summarised
  -- tensor; sizes are the full sizes (they decide where "..." goes).
  local function tensor_str(x, depth, sizes, indent, summ, width, f)
    local nd = #sizes
    local n = #x
    local cut = summ and sizes[depth] > 2 * EDGE
    if depth == nd then -- _vector_str
      local per_line = math.max(1, floor((LINEWIDTH - indent) / (width + 2)))
      local data = {}
      for i = 1, n do
        if cut and i == EDGE + 1 then data[#data + 1] = " ..." end
        data[#data + 1] = f(x[i])
      end
      local lines = {}
      for i = 1, #data, per_line do
        lines[#lines + 1] = table.concat(data, ", ", i, math.min(i + per_line - 1, #data))
      end
      return "[" .. table.concat(lines, ",\n" .. rep(" ", indent + 1)) .. "]"
    end
    local slices = {}
    for i = 1, n do
      if cut and i == EDGE + 1 then slices[#slices + 1] = "..." end
      slices[#slices + 1] = tensor_str(x[i], depth + 1, sizes, indent + 1, summ, width, f)
    end
    return "[" .. table.concat(slices, "," .. rep("\n", nd - depth) .. rep(" ", indent + 1)) .. "]"
  end

  local function add_suffixes(s, suffixes, indent)
    local parts = {s}
    local nl = s:match(".*()\n") or 0
    local last_line_len = #s - nl + 2
    for _, suffix in ipairs(suffixes) do
      if last_line_len + #suffix + 2 > LINEWIDTH then
        parts[#parts + 1] = ",\n" .. rep(" ", indent) .. suffix
        last_line_len = indent + #suffix
      else
        parts[#parts + 1] = ", " .. suffix
        last_line_len = last_line_len + #suffix + 2
      end
    end
    parts[#parts + 1] = ")"
    return table.concat(parts)
  end

  local function tostring_tensor(t)
    if getmetatable(t) ~= mt then return tostring(t) end
    local ok, dt = pcall(t.dtype, t)
    if not ok then return "Tensor(freed)" end
    local prefix = "tensor("
    local indent = #prefix
    local sizes = t:size()
    local suffixes = {}
    local body
    if t:numel() == 0 then
      if #sizes ~= 1 then
        local s = {}
        for i, v in ipairs(sizes) do s[i] = tostring(v) end
        suffixes[#suffixes + 1] = "size=(" .. table.concat(s, ", ") .. (#s == 1 and ",)" or ")")
      end
      if dt ~= "float32" then suffixes[#suffixes + 1] = "dtype=" .. dt end
      body = "[]"
    else
      if dt == "float64" then suffixes[#suffixes + 1] = "dtype=" .. dt end
      local summ = t:numel() > THRESHOLD
      local src = t
      if summ then
        -- get_summarized_data: keep the edges of every long dim, so printing a huge tensor stays cheap
        for d = 1, #sizes do
          if sizes[d] > 2 * EDGE then
            src = nyto.cat({src:narrow(d, 1, EDGE), src:narrow(d, sizes[d] - EDGE + 1, EDGE)}, d)
          end
        end
      end
      local tab = src:totable()
      local vals = #sizes == 0 and {tab} or flatten_values(tab, 0, #sizes, {})
      local width, f = formatter(vals, dt)
      if #sizes == 0 then body = f(tab)
      else body = tensor_str(tab, 1, sizes, indent, summ, width, f) end
    end
    local gf = t:grad_fn()
    if gf then suffixes[#suffixes + 1] = "grad_fn=<" .. gf .. ">"
    elseif t:requires_grad() then suffixes[#suffixes + 1] = "requires_grad=True" end
    local s = add_suffixes(prefix .. body, suffixes, indent)
    if t:is_parameter() then s = "Parameter containing:\n" .. s end
    return s
  end
  mt.__tostring = tostring_tensor
  mt.__name = tensor_type

  -- convenience methods ---------------------------------------------------------
  function M.type(t) return "Tensor" end
  function M.shape(t) return t:size() end
  -- t:totable(): when Lua itself runs out of memory building the tables, its fixed message
  -- "not enough memory" becomes a nyto error (the C side refuses shapes that need too many tables)
  local c_totable = M.totable
  function M.totable(...)
    local ok, r = pcall(c_totable, ...)
    if ok then return r end
    if r == "not enough memory" then
      collectgarbage()
      error(("nyto: not enough memory for 'totable' (the tables of a tensor of shape %s)"):format((...):shape_string()), 0)
    end
    error(r, 0)
  end
  function M.tolist(t) return t:totable() end
  M.T = M.t
  -- t:max() over everything returns a tensor; :item() gives the number.
end
