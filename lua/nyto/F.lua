-- nyto.F: the functional layer, after torch.nn.functional.  Each function
-- takes PyTorch's arguments in PyTorch's order with PyTorch's defaults, with
-- the Lua conventions of API.md: dims, class labels and indices are 1-based.
-- The common case is one call of the matching row of src/torch/ops.def; the
-- options that row does not take (dilation and ceil_mode of the pools, class
-- weights, ignore_index, label smoothing and probability targets of the
-- losses, padding_idx and max_norm of embedding) are composed here from other
-- ops.  Losses take their keyword options PyTorch's way (positionally) or as
-- one table: F.cross_entropy(x, y, {reduction = "sum", ignore_index = 1}),
-- or just the reduction: F.mse_loss(x, y, "sum").
return function(nyto, core)
  local ops = core.ops
  local mt = core.Tensor_mt
  local F = {}
  nyto.F = F

  local type, getmetatable, error, pcall, select = type, getmetatable, error, pcall, select
  local floor, huge, tointeger = math.floor, math.huge, math.tointeger

  -- argument checking ------------------------------------------------------------
  local E = require "nyto.errors"
  local typename = E.typename
  local function argerr(i, fname, msg) E.argerr(i, "F." .. fname, msg) end
  local function fail(fname, msg) E.raise(("nyto: F.%s: %s"):format(fname, msg)) end

  local function checkT(v, i, fname)
    if getmetatable(v) ~= mt then argerr(i, fname, "Tensor expected, got " .. typename(v)) end
    return v
  end

  local function optT(v, i, fname)
    if v ~= nil and getmetatable(v) ~= mt then argerr(i, fname, "Tensor or nil expected, got " .. typename(v)) end
    return v
  end

  local function checknum(v, i, fname, dflt)
    if v == nil then return dflt end
    if type(v) ~= "number" then argerr(i, fname, "number expected, got " .. typename(v)) end
    return v
  end

  local function checkint(v, i, fname, dflt)
    if v == nil and dflt ~= nil then return dflt end
    local n = type(v) == "number" and tointeger(v)
    if not n then
      argerr(i, fname, "integer expected, got " .. (type(v) == "number" and "a non-integral number" or typename(v)))
    end
    return n
  end

  local function checkbool(v, i, fname, dflt)
    if v == nil then return dflt end
    if type(v) ~= "boolean" then argerr(i, fname, "boolean expected, got " .. typename(v)) end
    return v
  end

  local function shape_str(s)
    if getmetatable(s) == mt then s = s:size() end
    local p = {}
    for k = 1, #s do p[k] = tostring(s[k]) end
    return "[" .. table.concat(p, ", ") .. "]"
  end
  F._shape_str = shape_str

  local function same_sizes(s1, s2)
    if #s1 ~= #s2 then return false end
    for k = 1, #s1 do if s1[k] ~= s2[k] then return false end end
    return true
  end

  local function is_float(t)
    local d = t:dtype()
    return d == "float32" or d == "float64"
  end

  -- an integer or a table of 1 or 2 integers, as a pair {h, w}
  local function pair(v, i, fname, what, min)
    local a, b
    if type(v) == "number" then
      a = tointeger(v)
      b = a
    elseif type(v) == "table" and (#v == 1 or #v == 2) then
      a, b = tointeger(v[1]), tointeger(v[#v])
    end
    if not a or not b then
      argerr(i, fname, what .. " must be an integer or a table of 2 integers, got " ..
        (type(v) == "table" and "a table of " .. #v .. " entries" or typename(v)))
    end
    if a < min or b < min then argerr(i, fname, ("%s must be >= %d, got {%d, %d}"):format(what, min, a, b)) end
    return a, b
  end

  -- run one op, naming F.<fname> (and the caller's argument numbers) in its errors
  local function call(fname, argmap, op, ...)
    local ok, r = pcall(op, ...)
    if ok then return r end
    if type(r) == "string" then
      r = r:gsub("^nyto: bad argument #(%d+) to '[%w_]+'", function(n)
        n = tonumber(n)
        return ("nyto: bad argument #%d to 'F.%s'"):format(argmap and argmap[n] or n, fname)
      end, 1)
      r = r:gsub("^nyto: [%w_]+: ", "nyto: F." .. fname .. ": ", 1)
    end
    error(r, 0)
  end

  -- reductions: PyTorch's legacy size_average/reduce, then a string
  local function legacy_reduction(size_average, reduce)
    if size_average == nil then size_average = true end
    if reduce == nil then reduce = true end
    if not reduce then return "none" end
    return size_average and "mean" or "sum"
  end

  local function check_reduction(r, i, fname)
    if r ~= "mean" and r ~= "sum" and r ~= "none" then
      argerr(i, fname, "reduction must be \"mean\", \"sum\" or \"none\", got " ..
        (type(r) == "string" and ("%q"):format(r) or typename(r)))
    end
    return r
  end

  -- options of a loss given as one table (argument 3): check the keys
  local function opts_table(o, allowed, fname)
    for k in pairs(o) do
      if not allowed[k] then argerr(3, fname, "unknown option '" .. tostring(k) .. "'") end
    end
    return o
  end

  -- padding with a constant on the last two dims: top, bottom, left, right
  local function pad2d(x, top, bottom, left, right, value)
    local d = x:dim()
    local function strip(t, dim, n)
      local s = t:size()
      s[dim] = 1
      local piece = nyto.full_like(t:narrow(dim, 1, 1), value)
      s[dim] = n
      return piece:expand(s)
    end
    local function side(t, dim, before, after)
      if before == 0 and after == 0 then return t end
      local parts = {}
      if before > 0 then parts[#parts + 1] = strip(t, dim, before) end
      parts[#parts + 1] = t
      if after > 0 then parts[#parts + 1] = strip(t, dim, after) end
      return nyto.cat(parts, dim)
    end
    return side(side(x, d - 1, top, bottom), d, left, right)
  end

  -- linear ----------------------------------------------------------------------------
  -- F.linear(input, weight [, bias]): input @ weight^T + bias
  function F.linear(input, weight, bias)
    checkT(input, 1, "linear")
    checkT(weight, 2, "linear")
    optT(bias, 3, "linear")
    if weight:dim() ~= 2 and weight:dim() ~= 1 then
      argerr(2, "linear", "weight must be 1-D or 2-D, got shape " .. shape_str(weight))
    end
    if input:dim() == 0 then argerr(1, "linear", "input must have at least 1 dimension") end
    local fin = weight:size(-1)
    if input:size(-1) ~= fin then
      argerr(1, "linear", ("input's last dimension is %d but weight expects %d (shapes %s and %s)")
        :format(input:size(-1), fin, shape_str(input), shape_str(weight)))
    end
    if bias and weight:dim() == 2 and bias:numel() ~= weight:size(1) and bias:numel() ~= 1 then
      argerr(3, "linear", ("bias has %d elements, expected %d"):format(bias:numel(), weight:size(1)))
    end
    return call("linear", nil, ops.linear, input, weight, bias)
  end

  -- conv2d -----------------------------------------------------------------------------
  -- F.conv2d(input, weight [, bias, stride=1, padding=0, dilation=1, groups=1]);
  -- padding may be "valid" or "same" (stride 1), as in PyTorch.
  function F.conv2d(input, weight, bias, stride, padding, dilation, groups)
    local fn = "conv2d"
    checkT(input, 1, fn)
    checkT(weight, 2, fn)
    optT(bias, 3, fn)
    local sh, sw = pair(stride == nil and 1 or stride, 4, fn, "stride", 1)
    local dh, dw = pair(dilation == nil and 1 or dilation, 6, fn, "dilation", 1)
    groups = checkint(groups, 7, fn, 1)
    if groups < 1 then argerr(7, fn, "groups must be positive, got " .. groups) end
    local nd = input:dim()
    if nd ~= 3 and nd ~= 4 then
      argerr(1, fn, "expected a 3-D (unbatched) or 4-D (batched) input, got shape " .. shape_str(input))
    end
    if weight:dim() ~= 4 then
      argerr(2, fn, "weight must be 4-D (out_channels, in_channels/groups, kH, kW), got shape " .. shape_str(weight))
    end
    local ws = weight:size()
    local cin = input:size(nd - 2)
    if ws[2] * groups ~= cin then
      argerr(2, fn, ("weight of shape %s with groups=%d expects %d input channels, but input of shape %s has %d")
        :format(shape_str(ws), groups, ws[2] * groups, shape_str(input), cin))
    end
    if ws[1] % groups ~= 0 then
      argerr(7, fn, ("out_channels (%d) must be divisible by groups (%d)"):format(ws[1], groups))
    end
    if bias and (bias:dim() ~= 1 or bias:size(1) ~= ws[1]) then
      argerr(3, fn, ("bias must have shape [%d], got %s"):format(ws[1], shape_str(bias)))
    end
    local ph, pw
    if padding == "valid" then
      ph, pw = 0, 0
    elseif padding == "same" then
      if sh ~= 1 or sw ~= 1 then argerr(5, fn, "padding=\"same\" is not supported for strided convolutions") end
      local th, tw = dh * (ws[3] - 1), dw * (ws[4] - 1)
      ph, pw = th // 2, tw // 2
      if th % 2 ~= 0 or tw % 2 ~= 0 then
        -- PyTorch puts the odd element of the padding at the end
        input = pad2d(input, 0, th - 2 * ph, 0, tw - 2 * pw, 0)
      end
    elseif type(padding) == "string" then
      argerr(5, fn, ("padding must be an integer, a table, \"valid\" or \"same\", got %q"):format(padding))
    else
      ph, pw = pair(padding == nil and 0 or padding, 5, fn, "padding", 0)
    end
    local eh = input:size(-2) + 2 * ph - dh * (ws[3] - 1)
    local ew = input:size(-1) + 2 * pw - dw * (ws[4] - 1)
    if eh < 1 or ew < 1 then
      argerr(1, fn, ("input of shape %s (padded) is smaller than the kernel %s (dilated)")
        :format(shape_str(input), shape_str({ws[3], ws[4]})))
    end
    return call(fn, nil, ops.conv2d, input, weight, bias, {sh, sw}, {ph, pw}, {dh, dw}, groups)
  end

  -- pooling -----------------------------------------------------------------------------
  local function pool_out(n, k, s, p, d, ceil)
    local num = n + 2 * p - d * (k - 1) - 1 + (ceil and s - 1 or 0)
    local o = floor(num / s) + 1
    if ceil and (o - 1) * s >= n + p then o = o - 1 end
    return o
  end

  -- index tensor {start, start+step, ...} (1-based) of n entries
  local function idx(start, step, n)
    local t = {}
    for k = 1, n do t[k] = start + (k - 1) * step end
    return nyto.tensor(t, {dtype = "int64"})
  end

  -- combine(acc, window) over every kernel offset of a padded input
  local function pool_windows(x, kh, kw, sh, sw, dh, dw, oh, ow, combine)
    local hd, wd = x:dim() - 1, x:dim()
    local acc
    for a = 0, kh - 1 do
      local rows = x:index_select(hd, idx(1 + a * dh, sh, oh))
      for b = 0, kw - 1 do
        local win = rows:index_select(wd, idx(1 + b * dw, sw, ow))
        acc = acc and combine(acc, win) or win
      end
    end
    return acc
  end

  local function pool_args(fn, input, kernel_size, stride, padding)
    checkT(input, 1, fn)
    if input:dim() ~= 3 and input:dim() ~= 4 then
      argerr(1, fn, "expected a 3-D (unbatched) or 4-D (batched) input, got shape " .. shape_str(input))
    end
    local kh, kw = pair(kernel_size, 2, fn, "kernel_size", 1)
    local sh, sw
    if stride == nil or (type(stride) == "table" and #stride == 0) then sh, sw = kh, kw
    else sh, sw = pair(stride, 3, fn, "stride", 1) end
    local ph, pw = pair(padding == nil and 0 or padding, 4, fn, "padding", 0)
    return kh, kw, sh, sw, ph, pw
  end

  -- F.max_pool2d(input, kernel_size [, stride=kernel_size, padding=0, dilation=1, ceil_mode=false])
  function F.max_pool2d(input, kernel_size, stride, padding, dilation, ceil_mode, return_indices)
    local fn = "max_pool2d"
    local kh, kw, sh, sw, ph, pw = pool_args(fn, input, kernel_size, stride, padding)
    local dh, dw = pair(dilation == nil and 1 or dilation, 5, fn, "dilation", 1)
    ceil_mode = checkbool(ceil_mode, 6, fn, false)
    if checkbool(return_indices, 7, fn, false) then
      argerr(7, fn, "return_indices is not supported yet")
    end
    if ph > (dh * (kh - 1) + 1) // 2 or pw > (dw * (kw - 1) + 1) // 2 then
      argerr(4, fn, "padding must be at most half of the (dilated) kernel size")
    end
    local H, W = input:size(-2), input:size(-1)
    local oh, ow = pool_out(H, kh, sh, ph, dh, ceil_mode), pool_out(W, kw, sw, pw, dw, ceil_mode)
    if oh < 1 or ow < 1 then
      argerr(1, fn, ("input of shape %s is too small for the kernel (output would be %dx%d)")
        :format(shape_str(input), oh, ow))
    end
    if dh == 1 and dw == 1 and not ceil_mode then
      return call(fn, nil, ops.max_pool2d, input, {kh, kw}, {sh, sw}, {ph, pw})
    end
    local eh = math.max(0, (oh - 1) * sh + dh * (kh - 1) + 1 - (H + 2 * ph))
    local ew = math.max(0, (ow - 1) * sw + dw * (kw - 1) + 1 - (W + 2 * pw))
    local x = pad2d(input, ph, ph + eh, pw, pw + ew, -huge)
    return pool_windows(x, kh, kw, sh, sw, dh, dw, oh, ow, ops.maximum)
  end

  -- F.avg_pool2d(input, kernel_size [, stride=kernel_size, padding=0, ceil_mode=false,
  --              count_include_pad=true, divisor_override=nil])
  function F.avg_pool2d(input, kernel_size, stride, padding, ceil_mode, count_include_pad, divisor_override)
    local fn = "avg_pool2d"
    local kh, kw, sh, sw, ph, pw = pool_args(fn, input, kernel_size, stride, padding)
    ceil_mode = checkbool(ceil_mode, 5, fn, false)
    count_include_pad = checkbool(count_include_pad, 6, fn, true)
    if divisor_override ~= nil then
      divisor_override = checkint(divisor_override, 7, fn)
      if divisor_override == 0 then argerr(7, fn, "divisor must not be zero") end
    end
    if ph > kh // 2 or pw > kw // 2 then argerr(4, fn, "padding must be at most half of the kernel size") end
    local H, W = input:size(-2), input:size(-1)
    local oh, ow = pool_out(H, kh, sh, ph, 1, ceil_mode), pool_out(W, kw, sw, pw, 1, ceil_mode)
    if oh < 1 or ow < 1 then
      argerr(1, fn, ("input of shape %s is too small for the kernel (output would be %dx%d)")
        :format(shape_str(input), oh, ow))
    end
    if not ceil_mode and count_include_pad and not divisor_override then
      return call(fn, nil, ops.avg_pool2d, input, {kh, kw}, {sh, sw}, {ph, pw})
    end
    local eh = math.max(0, (oh - 1) * sh + kh - (H + 2 * ph))
    local ew = math.max(0, (ow - 1) * sw + kw - (W + 2 * pw))
    local x = pad2d(input, ph, ph + eh, pw, pw + ew, 0)
    local sum = pool_windows(x, kh, kw, sh, sw, 1, 1, oh, ow, ops.add)
    if divisor_override then return sum / divisor_override end
    -- which cells count: the input and its padding, or the input only; never the ceil_mode overhang
    local mask = nyto.zeros({H + 2 * ph + eh, W + 2 * pw + ew}, {dtype = input:dtype()})
    if count_include_pad then mask:narrow(1, 1, H + 2 * ph):narrow(2, 1, W + 2 * pw):fill_(1)
    else mask:narrow(1, ph + 1, H):narrow(2, pw + 1, W):fill_(1) end
    local count = pool_windows(mask, kh, kw, sh, sw, 1, 1, oh, ow, ops.add)
    return sum / count
  end

  -- activations ------------------------------------------------------------------------
  function F.relu(input, inplace)
    checkT(input, 1, "relu")
    if checkbool(inplace, 2, "relu", false) then return input:relu_() end
    return ops.relu(input)
  end

  function F.sigmoid(input)
    checkT(input, 1, "sigmoid")
    return ops.sigmoid(input)
  end

  function F.tanh(input)
    checkT(input, 1, "tanh")
    return ops.tanh(input)
  end

  -- PyTorch's implicit softmax dim (deprecated there): 1 for 0-, 1- and 3-d inputs, else 2
  local function softmax_dim(input, dim, fn)
    if dim == nil then
      local nd = input:dim()
      return (nd == 0 or nd == 1 or nd == 3) and 1 or 2
    end
    return checkint(dim, 2, fn)
  end

  local function cast(input, dtype, i, fn)
    if type(dtype) == "table" then dtype = dtype.dtype end
    if dtype == nil then return input end
    if dtype == "float32" then return input:float() end
    if dtype == "float64" then return input:double() end
    argerr(i, fn, "dtype must be \"float32\" or \"float64\", got " .. (type(dtype) == "string" and ("%q"):format(dtype) or typename(dtype)))
  end

  -- F.softmax(input, dim [, dtype]); dtype may also be given as {dtype = ...}
  function F.softmax(input, dim, dtype)
    checkT(input, 1, "softmax")
    dim = softmax_dim(input, dim, "softmax")
    return call("softmax", nil, ops.softmax, cast(input, dtype, 3, "softmax"), dim)
  end

  function F.log_softmax(input, dim, dtype)
    checkT(input, 1, "log_softmax")
    dim = softmax_dim(input, dim, "log_softmax")
    return call("log_softmax", nil, ops.log_softmax, cast(input, dtype, 3, "log_softmax"), dim)
  end

  -- F.dropout(input [, p=0.5, training=true, inplace=false])
  function F.dropout(input, p, training, inplace)
    checkT(input, 1, "dropout")
    p = checknum(p, 2, "dropout", 0.5)
    if p < 0 or p > 1 then argerr(2, "dropout", "dropout probability has to be between 0 and 1, but got " .. p) end
    training = checkbool(training, 3, "dropout", true)
    inplace = checkbool(inplace, 4, "dropout", false)
    if not training or p == 0 then return input end
    local out = ops.dropout(input, p, true)
    if inplace then return input:copy_(out) end
    return out
  end

  -- F.flatten(input [, start_dim=1, end_dim=-1]) (torch.flatten)
  function F.flatten(input, start_dim, end_dim)
    checkT(input, 1, "flatten")
    start_dim = checkint(start_dim, 2, "flatten", 1)
    end_dim = checkint(end_dim, 3, "flatten", -1)
    return call("flatten", nil, ops.flatten, input, start_dim, end_dim)
  end

  -- losses -------------------------------------------------------------------------------
  local CE_OPTS = {weight = true, size_average = true, ignore_index = true, reduce = true,
                   reduction = true, label_smoothing = true}
  local NLL_OPTS = {weight = true, size_average = true, ignore_index = true, reduce = true, reduction = true}

  -- (weight, size_average, ignore_index, reduce, reduction, label_smoothing) from
  -- positional arguments 3.., a table, or a reduction string
  local function class_loss_opts(fn, allowed, a3, ...)
    local weight, size_average, ignore_index, reduce, reduction, smoothing
    local base = 3
    if type(a3) == "string" then
      reduction = check_reduction(a3, 3, fn)
    elseif type(a3) == "table" and getmetatable(a3) ~= mt then
      opts_table(a3, allowed, fn)
      weight, size_average, ignore_index, reduce = a3.weight, a3.size_average, a3.ignore_index, a3.reduce
      reduction, smoothing = a3.reduction, a3.label_smoothing
      base = nil
    else
      weight = a3
      size_average, ignore_index, reduce, reduction, smoothing = ...
    end
    local function n(k) return base and base + k or 3 end
    optT(weight, n(0), fn)
    checkbool(size_average, n(1), fn)
    ignore_index = checkint(ignore_index, n(2), fn, -100)
    checkbool(reduce, n(3), fn)
    if size_average ~= nil or reduce ~= nil then reduction = legacy_reduction(size_average, reduce)
    else reduction = check_reduction(reduction == nil and "mean" or reduction, n(4), fn) end
    smoothing = checknum(smoothing, n(5), fn, 0)
    if smoothing < 0 or smoothing > 1 then argerr(n(5), fn, "label_smoothing must be between 0 and 1, got " .. smoothing) end
    return weight, ignore_index, reduction, smoothing
  end

  local function class_dim(input, fn)
    local nd = input:dim()
    if nd == 0 then argerr(1, fn, "input must have at least 1 dimension") end
    return nd == 1 and 1 or 2
  end

  local function reduce_by(loss, reduction, denom)
    if reduction == "none" then return loss end
    if reduction == "sum" then return loss:sum() end
    return loss:sum() / denom
  end

  -- the weight of each class, shaped to broadcast along the class dim
  local function class_weight_view(weight, input, cdim)
    local s = {}
    for k = 1, input:dim() do s[k] = 1 end
    s[cdim] = weight:numel()
    return weight:view(s)
  end

  -- labels: check dtype and shape; returns nothing
  local function check_labels(fn, input, target, cdim)
    local dt = target:dtype()
    if dt ~= "int64" then argerr(2, fn, "class labels must be an int64 tensor, got " .. dt) end
    local si, st = input:size(), target:size()
    local ok = #st == #si - 1
    if ok then
      local j = 1
      for k = 1, #si do
        if k ~= cdim then
          if si[k] ~= st[j] then ok = false break end
          j = j + 1
        end
      end
    end
    if not ok then
      local expect = {}
      for k = 1, #si do if k ~= cdim then expect[#expect + 1] = si[k] end end
      argerr(2, fn, ("expected labels of shape %s for input of shape %s, got %s")
        :format(shape_str(expect), shape_str(si), shape_str(st)))
    end
  end

  -- t converted to u's floating dtype
  local function as_dtype_of(t, u)
    if u:dtype() == "float64" then return t:double() end
    return t:float()
  end

  -- nll / cross entropy with every option, composed from ops; input holds log-probabilities
  local function class_loss(fn, logp, target, cdim, weight, ignore_index, reduction, smoothing)
    local C = logp:size(cdim)
    local ignored = target:eq(ignore_index)
    local safe = ops.where(ignored, 1, target)
    if target:numel() > 0 then
      local lo, hi = safe:min():item(), safe:max():item()
      if lo < 1 or hi > C then
        argerr(2, fn, ("class label %d out of range 1..%d"):format(lo < 1 and lo or hi, C))
      end
    end
    local valid = as_dtype_of(ignored:logical_not(), logp)
    local picked = logp:gather(cdim, safe:unsqueeze(cdim)):squeeze(cdim)
    local wt = valid
    if weight then wt = weight:index_select(1, safe:flatten()):view(target:size()) * valid end
    local nll = reduce_by(-(picked * wt), reduction, wt:sum())
    if smoothing == 0 then return nll end
    local lw = weight and logp * class_weight_view(weight, logp, cdim) or logp
    local smooth = -lw:sum(cdim) * valid
    local ret = reduce_by(smooth, reduction, wt:sum())
    return nll * (1 - smoothing) + ret * (smoothing / C)
  end


  local function check_weight(fn, weight, C, i)
    if weight and (weight:dim() ~= 1 or weight:numel() ~= C) then
      argerr(i, fn, ("weight must have shape [%d] (one per class), got %s"):format(C, shape_str(weight)))
    end
  end

  -- F.cross_entropy(input, target [, weight, size_average, ignore_index=-100, reduce,
  --                 reduction="mean", label_smoothing=0]); target holds 1-based class
  -- labels (int64), or class probabilities of the input's shape (float).
  function F.cross_entropy(input, target, ...)
    local fn = "cross_entropy"
    checkT(input, 1, fn)
    checkT(target, 2, fn)
    local weight, ignore_index, reduction, smoothing = class_loss_opts(fn, CE_OPTS, ...)
    local cdim = class_dim(input, fn)
    if not is_float(input) then argerr(1, fn, "input must be a floating point tensor, got " .. input:dtype()) end
    local C = input:size(cdim)
    check_weight(fn, weight, C, 3)
    if is_float(target) then
      -- class probabilities
      if not same_sizes(input:size(), target:size()) then
        argerr(2, fn, ("class probabilities must have the input's shape %s, got %s")
          :format(shape_str(input), shape_str(target)))
      end
      local logp = ops.log_softmax(input, cdim)
      if smoothing > 0 then target = target * (1 - smoothing) + smoothing / C end
      if weight then logp = logp * class_weight_view(weight, logp, cdim) end
      local loss = -(logp * target):sum(cdim)
      return reduce_by(loss, reduction, input:numel() / C)
    end
    check_labels(fn, input, target, cdim)
    if not weight and smoothing == 0 and ignore_index == -100 then
      local ok, r = pcall(ops.cross_entropy, input, target, reduction)
      if ok then return r end
      -- an ignored label (out of 1..C) or a bad one: the general path says which
    end
    return class_loss(fn, ops.log_softmax(input, cdim), target, cdim, weight, ignore_index, reduction, smoothing)
  end

  -- F.nll_loss(input, target [, weight, size_average, ignore_index=-100, reduce, reduction="mean"])
  function F.nll_loss(input, target, ...)
    local fn = "nll_loss"
    checkT(input, 1, fn)
    checkT(target, 2, fn)
    local weight, ignore_index, reduction = class_loss_opts(fn, NLL_OPTS, ...)
    local cdim = class_dim(input, fn)
    if not is_float(input) then argerr(1, fn, "input must be a floating point tensor, got " .. input:dtype()) end
    check_weight(fn, weight, input:size(cdim), 3)
    check_labels(fn, input, target, cdim)
    if not weight and ignore_index == -100 then
      local ok, r = pcall(ops.nll_loss, input, target, reduction)
      if ok then return r end
    end
    return class_loss(fn, input, target, cdim, weight, ignore_index, reduction, 0)
  end

  -- F.mse_loss(input, target [, size_average, reduce, reduction="mean"]); the shapes
  -- must broadcast; a target of another shape than the input warns, as in PyTorch.
  function F.mse_loss(input, target, a3, ...)
    local fn = "mse_loss"
    checkT(input, 1, fn)
    checkT(target, 2, fn)
    local reduction
    if type(a3) == "string" then
      reduction = check_reduction(a3, 3, fn)
    elseif type(a3) == "table" then
      opts_table(a3, {reduction = true, size_average = true, reduce = true}, fn)
      checkbool(a3.size_average, 3, fn)
      checkbool(a3.reduce, 3, fn)
      if a3.size_average ~= nil or a3.reduce ~= nil then reduction = legacy_reduction(a3.size_average, a3.reduce)
      else reduction = check_reduction(a3.reduction == nil and "mean" or a3.reduction, 3, fn) end
    else
      local reduce, r = ...
      checkbool(a3, 3, fn)
      checkbool(reduce, 4, fn)
      if a3 ~= nil or reduce ~= nil then reduction = legacy_reduction(a3, reduce)
      else reduction = check_reduction(r == nil and "mean" or r, 5, fn) end
    end
    local si, st = input:size(), target:size()
    if not same_sizes(si, st) then
      local ok, r = pcall(ops.mse_loss, input, target, reduction)
      if not ok then
        argerr(2, fn, ("target of shape %s does not broadcast with input of shape %s"):format(shape_str(st), shape_str(si)))
      end
      local w = ("nyto: F.mse_loss: using a target size (%s) that is different to the input size (%s); " ..
                 "this will likely lead to incorrect results due to broadcasting"):format(shape_str(st), shape_str(si))
      if nyto.warn then nyto.warn(w) else warn(w) end
      return r
    end
    return call(fn, nil, ops.mse_loss, input, target, reduction)
  end

  -- normalisation --------------------------------------------------------------------------
  -- F.batch_norm(input, running_mean, running_var [, weight, bias, training=false,
  --              momentum=0.1, eps=1e-5]); in training, updates the running stats in place
  function F.batch_norm(input, running_mean, running_var, weight, bias, training, momentum, eps)
    local fn = "batch_norm"
    checkT(input, 1, fn)
    optT(running_mean, 2, fn)
    optT(running_var, 3, fn)
    optT(weight, 4, fn)
    optT(bias, 5, fn)
    training = checkbool(training, 6, fn, false)
    momentum = checknum(momentum, 7, fn, 0.1)
    eps = checknum(eps, 8, fn, 1e-5)
    if input:dim() < 2 then argerr(1, fn, "expected an input of at least 2 dimensions (N, C, ...), got " .. shape_str(input)) end
    local C = input:size(2)
    local function per_channel(t, i, name)
      if t and t:numel() ~= C then
        argerr(i, fn, ("%s must have %d elements (one per channel), got shape %s"):format(name, C, shape_str(t)))
      end
    end
    per_channel(running_mean, 2, "running_mean")
    per_channel(running_var, 3, "running_var")
    per_channel(weight, 4, "weight")
    per_channel(bias, 5, "bias")
    if not training and (running_mean == nil or running_var == nil) then
      argerr(running_mean == nil and 2 or 3, fn, "running_mean and running_var are needed when not training")
    end
    if training and input:numel() // C <= 1 then
      fail(fn, "expected more than 1 value per channel when training, got input of shape " .. shape_str(input))
    end
    return call(fn, nil, ops.batch_norm, input, running_mean, running_var, weight, bias, training, momentum, eps)
  end

  -- F.layer_norm(input, normalized_shape [, weight, bias, eps=1e-5])
  function F.layer_norm(input, normalized_shape, weight, bias, eps)
    local fn = "layer_norm"
    checkT(input, 1, fn)
    local ns
    if type(normalized_shape) == "number" then
      ns = {checkint(normalized_shape, 2, fn)}
    elseif type(normalized_shape) == "table" and getmetatable(normalized_shape) ~= mt then
      ns = {}
      for k = 1, #normalized_shape do ns[k] = checkint(normalized_shape[k], 2, fn) end
    else
      argerr(2, fn, "normalized_shape must be an integer or a table of integers, got " .. typename(normalized_shape))
    end
    optT(weight, 3, fn)
    optT(bias, 4, fn)
    eps = checknum(eps, 5, fn, 1e-5)
    local si = input:size()
    local ok = #ns >= 1 and #si >= #ns
    if ok then for k = 1, #ns do if si[#si - #ns + k] ~= ns[k] then ok = false break end end end
    if not ok then
      argerr(1, fn, ("given normalized_shape=%s, expected input with shape [*, %s], but got input of shape %s")
        :format(shape_str(ns), shape_str(ns):sub(2, -2), shape_str(si)))
    end
    local function same(t, i, name)
      if t == nil then return end
      local s = t:size()
      local good = #s == #ns
      if good then for k = 1, #s do if s[k] ~= ns[k] then good = false break end end end
      if not good then argerr(i, fn, ("%s must have shape %s, got %s"):format(name, shape_str(ns), shape_str(s))) end
    end
    same(weight, 3, "weight")
    same(bias, 4, "bias")
    return call(fn, nil, ops.layer_norm, input, ns, weight, bias, eps)
  end

  -- embedding ---------------------------------------------------------------------------------
  -- F.embedding(input, weight [, padding_idx, max_norm, norm_type=2, scale_grad_by_freq=false,
  --             sparse=false]); input holds 1-based indices (int64)
  function F.embedding(input, weight, padding_idx, max_norm, norm_type, scale_grad_by_freq, sparse)
    local fn = "embedding"
    checkT(input, 1, fn)
    checkT(weight, 2, fn)
    if input:dtype() ~= "int64" then argerr(1, fn, "indices must be an int64 tensor, got " .. input:dtype()) end
    if weight:dim() ~= 2 then argerr(2, fn, "weight must be 2-D (num_embeddings, embedding_dim), got " .. shape_str(weight)) end
    local n = weight:size(1)
    if padding_idx ~= nil then
      padding_idx = checkint(padding_idx, 3, fn)
      if padding_idx < 0 then padding_idx = n + padding_idx + 1 end
      if padding_idx < 1 or padding_idx > n then argerr(3, fn, ("padding_idx must be within 1..%d"):format(n)) end
    end
    max_norm = checknum(max_norm, 4, fn)
    norm_type = checknum(norm_type, 5, fn, 2)
    if checkbool(scale_grad_by_freq, 6, fn, false) then argerr(6, fn, "scale_grad_by_freq is not supported") end
    if checkbool(sparse, 7, fn, false) then argerr(7, fn, "sparse gradients are not supported") end
    if input:numel() > 0 then
      local lo, hi = input:min():item(), input:max():item()
      if lo < 1 or hi > n then argerr(1, fn, ("index %d out of range 1..%d"):format(lo < 1 and lo or hi, n)) end
    end
    if max_norm then
      -- renormalise, in place, the rows the input refers to (as PyTorch does)
      nyto.no_grad(function()
        local used = ops.one_hot(input:flatten(), n):sum(1):gt(0)
        local norms = weight:norm(norm_type, 2)
        local scale = ops.where(used:logical_and(norms:gt(max_norm)), max_norm / (norms + 1e-7), 1)
        weight:mul_(scale:unsqueeze(2))
      end)
    end
    local out = call(fn, {2, 1}, ops.embedding, weight, input)
    if padding_idx then
      -- the padding row gets no gradient
      local fixed = ops.embedding(weight:detach(), input)
      out = ops.where(input:eq(padding_idx):unsqueeze(-1), fixed, out)
    end
    return out
  end

  return F
end
