-- nyto.F: every function checked against an independent computation written
-- out here (plain Lua loops over :totable() values, or the formula in tensor
-- arithmetic), plus the argument errors.
local nyto = require "nyto"
local H = require "helpers"
local I, err_of = H.I, H.err_of
local assert_close = H.assert_close
local F = nyto.F




local function shape(t) return t:size() end

-- naive references --------------------------------------------------------------------
local function zeros4(n, c, h, w, v)
  local t = {}
  for a = 1, n do
    t[a] = {}
    for b = 1, c do
      t[a][b] = {}
      for i = 1, h do
        t[a][b][i] = {}
        for j = 1, w do t[a][b][i][j] = v or 0 end
      end
    end
  end
  return t
end

-- conv2d by definition; x: [N][C][H][W], w: [O][C/g][kh][kw]
local function naive_conv(x, w, b, s, p, d, g)
  local N, C, H, W = #x, #x[1], #x[1][1], #x[1][1][1]
  local O, Cg, kh, kw = #w, #w[1], #w[1][1], #w[1][1][1]
  local oh = (H + 2 * p[1] - d[1] * (kh - 1) - 1) // s[1] + 1
  local ow = (W + 2 * p[2] - d[2] * (kw - 1) - 1) // s[2] + 1
  local out = zeros4(N, O, oh, ow)
  local og = O // g
  for n = 1, N do
    for o = 1, O do
      local grp = (o - 1) // og
      for i = 1, oh do
        for j = 1, ow do
          local acc = b and b[o] or 0
          for c = 1, Cg do
            local ci = grp * Cg + c
            for u = 1, kh do
              for v = 1, kw do
                local r = (i - 1) * s[1] - p[1] + (u - 1) * d[1] + 1
                local q = (j - 1) * s[2] - p[2] + (v - 1) * d[2] + 1
                if r >= 1 and r <= H and q >= 1 and q <= W then
                  acc = acc + x[n][ci][r][q] * w[o][c][u][v]
                end
              end
            end
          end
          out[n][o][i][j] = acc
        end
      end
    end
  end
  return out
end

local function pool_size(n, k, s, p, d, ceil)
  local num = n + 2 * p - d * (k - 1) - 1
  local o
  if ceil then o = -((-num) // s) + 1 else o = num // s + 1 end
  if ceil and (o - 1) * s >= n + p then o = o - 1 end
  return o
end

-- max pool by definition (PyTorch's window rule, padding never wins)
local function naive_maxpool(x, k, s, p, d, ceil)
  local N, C, H, W = #x, #x[1], #x[1][1], #x[1][1][1]
  local oh, ow = pool_size(H, k[1], s[1], p[1], d[1], ceil), pool_size(W, k[2], s[2], p[2], d[2], ceil)
  local out = zeros4(N, C, oh, ow)
  for n = 1, N do for c = 1, C do for i = 1, oh do for j = 1, ow do
    local m = -math.huge
    for u = 1, k[1] do for v = 1, k[2] do
      local r = (i - 1) * s[1] - p[1] + (u - 1) * d[1] + 1
      local q = (j - 1) * s[2] - p[2] + (v - 1) * d[2] + 1
      if r >= 1 and r <= H and q >= 1 and q <= W and x[n][c][r][q] > m then m = x[n][c][r][q] end
    end end
    out[n][c][i][j] = m
  end end end end
  return out
end

-- avg pool by definition (PyTorch's divisor rules)
local function naive_avgpool(x, k, s, p, ceil, include_pad, divisor)
  local N, C, H, W = #x, #x[1], #x[1][1], #x[1][1][1]
  local oh, ow = pool_size(H, k[1], s[1], p[1], 1, ceil), pool_size(W, k[2], s[2], p[2], 1, ceil)
  local out = zeros4(N, C, oh, ow)
  for n = 1, N do for c = 1, C do for i = 1, oh do for j = 1, ow do
    local hs, ws = (i - 1) * s[1] - p[1], (j - 1) * s[2] - p[2]
    local he, we = math.min(hs + k[1], H + p[1]), math.min(ws + k[2], W + p[2])
    local pool = (he - hs) * (we - ws)
    local hs2, ws2, he2, we2 = math.max(hs, 0), math.max(ws, 0), math.min(he, H), math.min(we, W)
    local sum = 0
    for r = hs2 + 1, he2 do for q = ws2 + 1, we2 do sum = sum + x[n][c][r][q] end end
    local div = divisor or (include_pad and pool or (he2 - hs2) * (we2 - ws2))
    out[n][c][i][j] = sum / div
  end end end end
  return out
end

describe("nyto.F", function()
  before_each(function() nyto.manual_seed(7) end)

  it("has every function of the API", function()
    for _, name in ipairs {"linear", "conv2d", "max_pool2d", "avg_pool2d", "relu", "sigmoid", "tanh", "softmax",
                           "log_softmax", "dropout", "flatten", "cross_entropy", "nll_loss", "mse_loss",
                           "batch_norm", "layer_norm", "embedding"} do
      assert.is_function(F[name], name)
    end
  end)

  describe("linear", function()
    it("is x W^T + b", function()
      local x, w, b = nyto.randn(4, 3), nyto.randn(5, 3), nyto.randn(5)
      assert_close(F.linear(x, w, b), x:matmul(w:t()) + b)
      assert_close(F.linear(x, w), x:matmul(w:t()))
      -- by hand, one entry
      local xt, wt, bt = x:totable(), w:totable(), b:totable()
      local v = bt[2]
      for k = 1, 3 do v = v + xt[3][k] * wt[2][k] end
      assert.is_true(math.abs(F.linear(x, w, b)[3][2]:item() - v) < 1e-5)
    end)
    it("takes batched inputs of any rank", function()
      local x, w = nyto.randn(2, 3, 4), nyto.randn(6, 4)
      assert.are.same({2, 3, 6}, shape(F.linear(x, w)))
    end)
    it("checks its arguments", function()
      local x, w = nyto.randn(4, 3), nyto.randn(5, 3)
      assert.are.equal("nyto: bad argument #1 to 'F.linear' (Tensor expected, got table)", err_of(F.linear, {}, w))
      assert.are.equal("nyto: bad argument #2 to 'F.linear' (Tensor expected, got string)", err_of(F.linear, x, "w"))
      assert.are.equal("nyto: bad argument #3 to 'F.linear' (Tensor or nil expected, got number)", err_of(F.linear, x, w, 1))
      assert.matches("^nyto: bad argument #1 to 'F.linear' %(input's last dimension is 3 but weight expects 4",
        err_of(F.linear, x, nyto.randn(5, 4)))
      assert.matches("^nyto: bad argument #3 to 'F.linear' %(bias has 4 elements, expected 5%)",
        err_of(F.linear, x, w, nyto.randn(4)))
    end)
  end)

  describe("conv2d", function()
    local function check(N, C, H, W, O, kh, kw, s, p, d, g, with_bias)
      local x, w = nyto.randn(N, C, H, W), nyto.randn(O, C // g, kh, kw)
      local b = with_bias and nyto.randn(O) or nil
      local got = F.conv2d(x, w, b, s, p, d, g)
      local want = naive_conv(x:totable(), w:totable(), b and b:totable(), type(s) == "table" and s or {s, s},
        type(p) == "table" and p or {p, p}, type(d) == "table" and d or {d, d}, g)
      assert_close(got, want, 1e-4)
    end
    it("matches the definition", function()
      check(2, 3, 5, 6, 4, 3, 3, 1, 0, 1, 1, true)
    end)
    it("matches with stride, padding, dilation and groups", function()
      check(1, 2, 7, 6, 3, 3, 2, {2, 1}, {1, 0}, 1, 1, true)
      check(2, 4, 7, 7, 6, 2, 3, 1, 1, {2, 1}, 2, false)
      check(1, 2, 5, 5, 2, 3, 3, 2, 1, 1, 2, true)
    end)
    it("takes unbatched input", function()
      local x, w = nyto.randn(2, 5, 5), nyto.randn(3, 2, 3, 3)
      assert_close(F.conv2d(x, w), F.conv2d(x:unsqueeze(1), w)[1])
    end)
    it("supports padding \"same\" (odd padding at the end) and \"valid\"", function()
      local x, w = nyto.randn(1, 1, 5, 6), nyto.randn(2, 1, 2, 4)
      local y = F.conv2d(x, w, nil, 1, "same")
      assert.are.same({1, 2, 5, 6}, shape(y))
      -- PyTorch pads top/left by total//2 and bottom/right by the rest: here 0/1 rows, 1/2 cols
      local xp = zeros4(1, 1, 6, 9)
      local xt = x:totable()
      for i = 1, 5 do for j = 1, 6 do xp[1][1][i][j + 1] = xt[1][1][i][j] end end
      assert_close(y, naive_conv(xp, w:totable(), nil, {1, 1}, {0, 0}, {1, 1}, 1), 1e-4)
      assert_close(F.conv2d(x, w, nil, 1, "valid"), F.conv2d(x, w))
    end)
    it("checks its arguments", function()
      local x, w = nyto.randn(1, 2, 5, 5), nyto.randn(3, 2, 3, 3)
      assert.matches("^nyto: bad argument #1 to 'F.conv2d' %(expected a 3%-D %(unbatched%) or 4%-D",
        err_of(F.conv2d, nyto.randn(5, 5), w))
      assert.matches("^nyto: bad argument #2 to 'F.conv2d' %(weight of shape %[3, 3, 3, 3%] with groups=1 expects 3 input channels",
        err_of(F.conv2d, x, nyto.randn(3, 3, 3, 3)))
      assert.matches("^nyto: bad argument #3 to 'F.conv2d' %(bias must have shape %[3%]", err_of(F.conv2d, x, w, nyto.randn(2)))
      assert.matches("^nyto: bad argument #4 to 'F.conv2d' %(stride must be >= 1", err_of(F.conv2d, x, w, nil, 0))
      assert.matches("^nyto: bad argument #5 to 'F.conv2d' %(padding must be", err_of(F.conv2d, x, w, nil, 1, "full"))
      assert.matches("^nyto: bad argument #5 to 'F.conv2d' %(padding=\"same\" is not supported for strided",
        err_of(F.conv2d, x, w, nil, 2, "same"))
      assert.matches("^nyto: bad argument #1 to 'F.conv2d' %(input of shape %[1, 2, 2, 2%] %(padded%) is smaller than the kernel",
        err_of(F.conv2d, nyto.randn(1, 2, 2, 2), w))
      assert.matches("^nyto: bad argument #7 to 'F.conv2d' %(integer expected", err_of(F.conv2d, x, w, nil, 1, 0, 1, 1.5))
    end)
  end)

  describe("max_pool2d", function()
    local function check(x, k, s, p, d, ceil)
      local got = F.max_pool2d(x, k, s, p, d, ceil)
      local kk = type(k) == "table" and k or {k, k}
      local ss = s == nil and kk or (type(s) == "table" and s or {s, s})
      local pp = type(p) == "table" and p or {p or 0, p or 0}
      local dd = type(d) == "table" and d or {d or 1, d or 1}
      assert_close(got, naive_maxpool(x:totable(), kk, ss, pp, dd, ceil))
    end
    it("matches the definition", function()
      local x = nyto.randn(2, 3, 6, 7)
      check(x, 2)
      check(x, {3, 2}, {1, 2})
      check(x, 3, 2, 1)
    end)
    it("supports dilation and ceil_mode", function()
      local x = nyto.randn(1, 2, 7, 8)
      check(x, 2, 2, 0, 1, true)
      check(x, 3, 2, 1, 1, true)
      check(x, 2, 1, 0, 2, false)
      check(x, {2, 3}, {2, 1}, {1, 1}, {2, 1}, true)
      -- a gradient flows through the composed path
      local xp = nyto.Parameter(nyto.randn(1, 1, 5, 5))
      F.max_pool2d(xp, 2, 2, 0, 2, true):sum():backward()
      assert.is_true(xp.grad:sum():item() > 0)
    end)
    it("takes unbatched input", function()
      local x = nyto.randn(2, 4, 4)
      assert_close(F.max_pool2d(x, 2), F.max_pool2d(x:unsqueeze(1), 2)[1])
    end)
    it("checks its arguments", function()
      local x = nyto.randn(1, 1, 4, 4)
      assert.matches("^nyto: bad argument #1 to 'F.max_pool2d' %(Tensor expected", err_of(F.max_pool2d, 4, 2))
      assert.matches("^nyto: bad argument #2 to 'F.max_pool2d' %(kernel_size must be an integer or a table of 2 integers",
        err_of(F.max_pool2d, x, "2"))
      assert.matches("^nyto: bad argument #2 to 'F.max_pool2d' %(kernel_size must be >= 1", err_of(F.max_pool2d, x, 0))
      assert.matches("^nyto: bad argument #4 to 'F.max_pool2d' %(padding must be at most half", err_of(F.max_pool2d, x, 2, 2, 2))
      assert.matches("^nyto: bad argument #1 to 'F.max_pool2d' %(input of shape %[1, 1, 4, 4%] is too small",
        err_of(F.max_pool2d, x, 5))
      assert.matches("^nyto: bad argument #7 to 'F.max_pool2d' %(return_indices is not supported",
        err_of(F.max_pool2d, x, 2, nil, 0, 1, false, true))
    end)
  end)

  describe("avg_pool2d", function()
    local function check(x, k, s, p, ceil, include, div)
      local got = F.avg_pool2d(x, k, s, p, ceil, include, div)
      local kk = type(k) == "table" and k or {k, k}
      local ss = s == nil and kk or (type(s) == "table" and s or {s, s})
      local pp = type(p) == "table" and p or {p or 0, p or 0}
      if include == nil then include = true end
      assert_close(got, naive_avgpool(x:totable(), kk, ss, pp, ceil, include, div))
    end
    it("matches the definition", function()
      local x = nyto.randn(2, 2, 6, 7)
      check(x, 2)
      check(x, {3, 2}, {2, 1})
      check(x, 3, 2, 1)
    end)
    it("supports count_include_pad, ceil_mode and divisor_override", function()
      local x = nyto.randn(1, 2, 7, 6)
      check(x, 3, 2, 1, false, false)
      check(x, 2, 2, 0, true)
      check(x, 3, 2, 1, true, true)
      check(x, 3, 2, 1, true, false)
      check(x, 2, 2, 1, false, true, 3)
    end)
    it("checks its arguments", function()
      local x = nyto.randn(1, 1, 4, 4)
      assert.matches("^nyto: bad argument #4 to 'F.avg_pool2d' %(padding must be at most half", err_of(F.avg_pool2d, x, 2, 2, 2))
      assert.matches("^nyto: bad argument #5 to 'F.avg_pool2d' %(boolean expected", err_of(F.avg_pool2d, x, 2, 2, 0, 1))
      assert.matches("^nyto: bad argument #7 to 'F.avg_pool2d' %(divisor must not be zero",
        err_of(F.avg_pool2d, x, 2, 2, 0, false, true, 0))
    end)
  end)

  describe("activations", function()
    it("relu, sigmoid and tanh follow their formulas", function()
      local x = nyto.randn(3, 4)
      local xt = x:totable()
      local r, s, t = {}, {}, {}
      for i = 1, 3 do
        r[i], s[i], t[i] = {}, {}, {}
        for j = 1, 4 do
          local v = xt[i][j]
          r[i][j] = math.max(v, 0)
          s[i][j] = 1 / (1 + math.exp(-v))
          t[i][j] = (math.exp(v) - math.exp(-v)) / (math.exp(v) + math.exp(-v))
        end
      end
      assert_close(F.relu(x), r)
      assert_close(F.sigmoid(x), s)
      assert_close(F.tanh(x), t)
      local y = x:clone()
      assert.are.equal(y, F.relu(y, true))
      assert_close(y, r)
      assert.matches("^nyto: bad argument #1 to 'F.relu' %(Tensor expected, got number%)", err_of(F.relu, 1))
      assert.matches("^nyto: bad argument #2 to 'F.relu' %(boolean expected", err_of(F.relu, x, 1))
      assert.matches("^nyto: bad argument #1 to 'F.tanh'", err_of(F.tanh, "x"))
      assert.matches("^nyto: bad argument #1 to 'F.sigmoid'", err_of(F.sigmoid, {}))
    end)

    it("softmax and log_softmax follow exp(x_i) / sum_j exp(x_j) over the dim", function()
      local x = nyto.randn(3, 4)
      local xt = x:totable()
      local rows, cols, lrows = {}, {}, {}
      for i = 1, 3 do
        local z = 0
        for j = 1, 4 do z = z + math.exp(xt[i][j]) end
        rows[i], lrows[i] = {}, {}
        for j = 1, 4 do
          rows[i][j] = math.exp(xt[i][j]) / z
          lrows[i][j] = xt[i][j] - math.log(z)
        end
      end
      for i = 1, 3 do cols[i] = {} end
      for j = 1, 4 do
        local z = 0
        for i = 1, 3 do z = z + math.exp(xt[i][j]) end
        for i = 1, 3 do cols[i][j] = math.exp(xt[i][j]) / z end
      end
      assert_close(F.softmax(x, 2), rows)
      assert_close(F.softmax(x, -1), rows)
      assert_close(F.softmax(x, 1), cols)
      assert_close(F.log_softmax(x, 2), lrows)
      -- PyTorch's implicit dim: the second for 2-d input
      assert_close(F.softmax(x), rows)
      assert_close(F.log_softmax(x), lrows)
      assert.are.equal("float64", F.softmax(x, 2, "float64"):dtype())
      assert.are.equal("float64", F.log_softmax(x, 2, {dtype = "float64"}):dtype())
    end)

    it("softmax checks its arguments", function()
      local x = nyto.randn(3, 4)
      assert.matches("^nyto: bad argument #1 to 'F.softmax' %(Tensor expected", err_of(F.softmax, nil, 1))
      assert.matches("^nyto: bad argument #2 to 'F.softmax' %(integer expected, got string%)", err_of(F.softmax, x, "1"))
      assert.matches("^nyto: bad argument #2 to 'F.softmax'", err_of(F.softmax, x, 3))
      assert.matches("^nyto: bad argument #3 to 'F.log_softmax' %(dtype must be", err_of(F.log_softmax, x, 1, "int64"))
    end)
  end)

  describe("dropout", function()
    it("zeroes a fraction p and scales the rest by 1/(1-p) in training", function()
      local x = nyto.rand(100, 100) + 1
      local y = F.dropout(x, 0.3)
      local kept = y:ne(0)
      local frac = 1 - kept:double():mean():item()
      assert.is_true(math.abs(frac - 0.3) < 0.03, "dropped fraction " .. frac)
      -- kept entries are x / 0.7
      local scaled = nyto.where(kept, x / 0.7, 0)
      assert_close(y, scaled)
      assert.is_true(F.dropout(x, 1):eq(0):all():item())
    end)
    it("is the identity when not training, or for p = 0", function()
      local x = nyto.randn(5, 5)
      assert.are.equal(x, F.dropout(x, 0.5, false))
      assert_close(F.dropout(x, 0), x)
    end)
    it("can work in place", function()
      local x = nyto.rand(10, 10) + 1
      local y = F.dropout(x, 0.5, true, true)
      assert.are.equal(x, y)
      assert.is_true(x:eq(0):any():item())
    end)
    it("checks its arguments", function()
      local x = nyto.randn(2)
      assert.are.equal("nyto: bad argument #2 to 'F.dropout' (dropout probability has to be between 0 and 1, but got 1.5)",
        err_of(F.dropout, x, 1.5))
      assert.matches("^nyto: bad argument #2 to 'F.dropout' %(number expected, got string", err_of(F.dropout, x, "0.5"))
      assert.matches("^nyto: bad argument #3 to 'F.dropout' %(boolean expected", err_of(F.dropout, x, 0.5, 1))
    end)
  end)

  it("flatten follows torch.flatten (1-based dims)", function()
    local x = nyto.randn(2, 3, 4, 5)
    assert.are.same({120}, shape(F.flatten(x)))
    assert.are.same({2, 60}, shape(F.flatten(x, 2)))
    assert.are.same({2, 12, 5}, shape(F.flatten(x, 2, 3)))
    assert_close(F.flatten(x, 2)[2], x[2]:flatten())
    assert.matches("^nyto: bad argument #2 to 'F.flatten' %(integer expected", err_of(F.flatten, x, "2"))
  end)

  describe("cross_entropy and nll_loss", function()
    local x, y
    local logp -- log-softmax by the formula
    before_each(function()
      x = nyto.randn(4, 3)
      y = I {3, 1, 2, 3}
      local xt = x:totable()
      logp = {}
      for i = 1, 4 do
        local z = 0
        for j = 1, 3 do z = z + math.exp(xt[i][j]) end
        logp[i] = {}
        for j = 1, 3 do logp[i][j] = xt[i][j] - math.log(z) end
      end
    end)

    it("is the mean of -log softmax(x)[label]", function()
      local yt, s, each = y:totable(), 0, {}
      for i = 1, 4 do
        each[i] = -logp[i][yt[i]]
        s = s + each[i]
      end
      assert_close(F.cross_entropy(x, y), s / 4)
      assert_close(F.cross_entropy(x, y, "sum"), s)
      assert_close(F.cross_entropy(x, y, {reduction = "none"}), each)
      assert_close(F.cross_entropy(x, y, nil, nil, -100, nil, "sum"), s) -- PyTorch's positional order
      assert_close(F.cross_entropy(x, y, nil, false), s) -- legacy size_average=False
      assert_close(F.nll_loss(nyto.tensor(logp), y), s / 4)
      assert_close(F.nll_loss(nyto.tensor(logp), y, {reduction = "sum"}), s)
    end)

    it("weights classes (mean divides by the total weight)", function()
      local w = nyto.tensor {0.2, 1.0, 3.0}
      local wt, yt = w:totable(), y:totable()
      local num, den = 0, 0
      for i = 1, 4 do
        num = num - wt[yt[i]] * logp[i][yt[i]]
        den = den + wt[yt[i]]
      end
      assert_close(F.cross_entropy(x, y, w), num / den)
      assert_close(F.cross_entropy(x, y, {weight = w, reduction = "sum"}), num)
      assert_close(F.nll_loss(nyto.tensor(logp), y, w), num / den)
    end)

    it("ignores ignore_index labels (default -100)", function()
      local y2 = I {3, -100, 2, -100}
      local want = -(logp[1][3] + logp[3][2]) / 2
      assert_close(F.cross_entropy(x, y2), want)
      assert_close(F.cross_entropy(x, I {3, 1, 2, 1}, {ignore_index = 1}), want)
      assert_close(F.nll_loss(nyto.tensor(logp), y2), want)
      assert_close(F.cross_entropy(x, y2, {reduction = "none"}), {-logp[1][3], 0, -logp[3][2], 0})
    end)

    it("smooths labels as PyTorch does", function()
      local eps, yt = 0.2, y:totable()
      local total = 0
      for i = 1, 4 do
        local smooth = 0
        for j = 1, 3 do smooth = smooth - logp[i][j] end
        total = total + (1 - eps) * -logp[i][yt[i]] + eps / 3 * smooth
      end
      assert_close(F.cross_entropy(x, y, {label_smoothing = eps}), total / 4)
      -- with weights: both parts are divided by the total weight of the targets
      local w = nyto.tensor {0.5, 2, 1}
      local wt = w:totable()
      local nll, sm, den = 0, 0, 0
      for i = 1, 4 do
        nll = nll - wt[yt[i]] * logp[i][yt[i]]
        den = den + wt[yt[i]]
        for j = 1, 3 do sm = sm - wt[j] * logp[i][j] end
      end
      assert_close(F.cross_entropy(x, y, {weight = w, label_smoothing = eps}), (1 - eps) * nll / den + eps / 3 * sm / den)
    end)

    it("takes class probabilities as targets", function()
      local p = F.softmax(nyto.randn(4, 3), 2)
      local pt, s = p:totable(), 0
      for i = 1, 4 do for j = 1, 3 do s = s - pt[i][j] * logp[i][j] end end
      assert_close(F.cross_entropy(x, p), s / 4)
      assert_close(F.cross_entropy(x, p, "sum"), s)
    end)

    it("handles (N, C, d) inputs with the class dim second", function()
      local x3 = nyto.randn(2, 3, 5)
      local y3 = I {{1, 2, 3, 1, 2}, {3, 3, 1, 2, 1}}
      local flat = x3:permute({1, 3, 2}):reshape(10, 3)
      assert_close(F.cross_entropy(x3, y3), F.cross_entropy(flat, y3:flatten()))
    end)

    it("gives gradients of softmax - onehot", function()
      local xp = nyto.Parameter(x:clone())
      F.cross_entropy(xp, y, "sum"):backward()
      local yt, want = y:totable(), {}
      for i = 1, 4 do
        want[i] = {}
        for j = 1, 3 do want[i][j] = math.exp(logp[i][j]) - (yt[i] == j and 1 or 0) end
      end
      assert_close(xp.grad, want)
    end)

    it("rejects bad labels and arguments", function()
      assert.are.equal("nyto: bad argument #2 to 'F.cross_entropy' (class label 4 out of range 1..3)",
        err_of(F.cross_entropy, x, I {1, 2, 4, 1}))
      assert.are.equal("nyto: bad argument #2 to 'F.cross_entropy' (class label 0 out of range 1..3)",
        err_of(F.cross_entropy, x, I {1, 0, 3, 1}))
      assert.are.equal("nyto: bad argument #2 to 'F.nll_loss' (class label 5 out of range 1..3)",
        err_of(F.nll_loss, x, I {1, 5, 3, 1}))
      assert.are.equal("nyto: bad argument #2 to 'F.cross_entropy' (class label 7 out of range 1..3)",
        err_of(F.cross_entropy, x, I {1, 7, 3, 1}, {weight = nyto.ones(3)}))
      assert.matches("^nyto: bad argument #2 to 'F.nll_loss' %(class labels must be an int64 tensor, got float32%)",
        err_of(F.nll_loss, x, nyto.tensor {1, 2, 3, 1}))
      assert.matches("^nyto: bad argument #2 to 'F.cross_entropy' %(expected labels of shape %[4%] for input of shape %[4, 3%], got %[3%]",
        err_of(F.cross_entropy, x, I {1, 2, 3}))
      assert.matches("^nyto: bad argument #2 to 'F.cross_entropy' %(class probabilities must have the input's shape",
        err_of(F.cross_entropy, x, nyto.rand(4, 2)))
      assert.matches("^nyto: bad argument #1 to 'F.cross_entropy' %(Tensor expected, got nil%)", err_of(F.cross_entropy, nil, y))
      assert.matches("^nyto: bad argument #2 to 'F.cross_entropy' %(Tensor expected, got table%)", err_of(F.cross_entropy, x, {1, 2}))
      assert.matches("^nyto: bad argument #3 to 'F.cross_entropy' %(reduction must be \"mean\", \"sum\" or \"none\", got \"avg\"%)",
        err_of(F.cross_entropy, x, y, "avg"))
      assert.matches("^nyto: bad argument #3 to 'F.cross_entropy' %(unknown option 'weights'%)",
        err_of(F.cross_entropy, x, y, {weights = nyto.ones(3)}))
      assert.matches("^nyto: bad argument #3 to 'F.cross_entropy' %(weight must have shape %[3%]",
        err_of(F.cross_entropy, x, y, nyto.ones(4)))
      assert.matches("^nyto: bad argument #3 to 'F.cross_entropy' %(label_smoothing must be between 0 and 1",
        err_of(F.cross_entropy, x, y, {label_smoothing = 2}))
    end)
  end)

  describe("mse_loss", function()
    it("is the mean of squared differences", function()
      local a, b = nyto.randn(3, 4), nyto.randn(3, 4)
      local at, bt, s, each = a:totable(), b:totable(), 0, {}
      for i = 1, 3 do
        each[i] = {}
        for j = 1, 4 do
          each[i][j] = (at[i][j] - bt[i][j]) ^ 2
          s = s + each[i][j]
        end
      end
      assert_close(F.mse_loss(a, b), s / 12)
      assert_close(F.mse_loss(a, b, "sum"), s)
      assert_close(F.mse_loss(a, b, {reduction = "none"}), each)
      assert_close(F.mse_loss(a, b, nil, nil, "sum"), s)
      assert_close(F.mse_loss(a, b, false), s) -- legacy size_average=False
      assert_close(F.mse_loss(a, b, nil, false), each) -- legacy reduce=False
    end)
    it("warns when the target's shape differs, and rejects shapes that do not broadcast", function()
      local seen
      local old = nyto.warn
      nyto.warn = function(m) seen = m end
      local ok, v = pcall(F.mse_loss, nyto.ones(3, 2), nyto.zeros(2))
      nyto.warn = old
      assert.is_true(ok, v)
      assert_close(v, 1)
      assert.matches("^nyto: F.mse_loss: using a target size %(%[2%]%) that is different to the input size %(%[3, 2%]%)", seen)
      assert.matches("^nyto: bad argument #2 to 'F.mse_loss' %(target of shape %[3%] does not broadcast with input of shape %[3, 2%]%)",
        err_of(F.mse_loss, nyto.ones(3, 2), nyto.ones(3)))
      assert.matches("^nyto: bad argument #2 to 'F.mse_loss' %(Tensor expected, got number%)", err_of(F.mse_loss, nyto.ones(2), 1))
      assert.matches("^nyto: bad argument #3 to 'F.mse_loss' %(reduction must be", err_of(F.mse_loss, nyto.ones(2), nyto.ones(2), "max"))
    end)
  end)

  describe("batch_norm", function()
    -- per-channel mean and (biased, unbiased) variance of (N, C, L) values
    local function stats(xt)
      local N, C, L = #xt, #xt[1], #xt[1][1]
      local mean, var, uvar = {}, {}, {}
      for c = 1, C do
        local s, n = 0, N * L
        for a = 1, N do for l = 1, L do s = s + xt[a][c][l] end end
        mean[c] = s / n
        local q = 0
        for a = 1, N do for l = 1, L do q = q + (xt[a][c][l] - mean[c]) ^ 2 end end
        var[c], uvar[c] = q / n, q / (n - 1)
      end
      return mean, var, uvar
    end
    local function normalize(xt, mean, var, w, b, eps)
      local out = {}
      for a = 1, #xt do
        out[a] = {}
        for c = 1, #xt[1] do
          out[a][c] = {}
          for l = 1, #xt[1][1] do
            out[a][c][l] = (xt[a][c][l] - mean[c]) / math.sqrt(var[c] + eps) * w[c] + b[c]
          end
        end
      end
      return out
    end

    it("normalises with the batch statistics in training and updates the running stats in place", function()
      local x = nyto.randn(4, 3, 5) * 2 + 1
      local w, b = nyto.randn(3), nyto.randn(3)
      local rm, rv = nyto.zeros(3), nyto.ones(3)
      local y = F.batch_norm(x, rm, rv, w, b, true, 0.1, 1e-5)
      local xt = x:totable()
      local mean, var, uvar = stats(xt)
      assert_close(y, normalize(xt, mean, var, w:totable(), b:totable(), 1e-5), 1e-4)
      local wm, wv = {}, {}
      for c = 1, 3 do
        wm[c] = 0.9 * 0 + 0.1 * mean[c]
        wv[c] = 0.9 * 1 + 0.1 * uvar[c]
      end
      assert_close(rm, wm)
      assert_close(rv, wv)
    end)

    it("normalises with the running statistics when not training", function()
      local x = nyto.randn(4, 3, 2, 2)
      local rm, rv = nyto.tensor {0.5, -1, 2}, nyto.tensor {1, 4, 0.25}
      local y = F.batch_norm(x, rm, rv)
      local want = (x - rm:view(1, 3, 1, 1)) / (rv:view(1, 3, 1, 1) + 1e-5):sqrt()
      assert_close(y, want, 1e-5)
      assert_close(rm, {0.5, -1, 2}) -- untouched
      -- affine, eps
      local w, b = nyto.tensor {1, 2, 3}, nyto.tensor {0, 1, 0}
      want = (x - rm:view(1, 3, 1, 1)) / (rv:view(1, 3, 1, 1) + 0.1):sqrt() * w:view(1, 3, 1, 1) + b:view(1, 3, 1, 1)
      assert_close(F.batch_norm(x, rm, rv, w, b, false, 0.1, 0.1), want, 1e-5)
    end)

    it("checks its arguments", function()
      local x = nyto.randn(4, 3)
      assert.matches("^nyto: bad argument #1 to 'F.batch_norm' %(Tensor expected", err_of(F.batch_norm, 1, nil, nil))
      assert.matches("^nyto: bad argument #2 to 'F.batch_norm' %(running_mean must have 3 elements",
        err_of(F.batch_norm, x, nyto.zeros(2), nyto.ones(3)))
      assert.matches("^nyto: bad argument #4 to 'F.batch_norm' %(weight must have 3 elements",
        err_of(F.batch_norm, x, nil, nil, nyto.ones(4), nil, true))
      assert.matches("^nyto: bad argument #2 to 'F.batch_norm' %(running_mean and running_var are needed when not training",
        err_of(F.batch_norm, x, nil, nil))
      assert.matches("^nyto: F.batch_norm: expected more than 1 value per channel when training, got input of shape %[1, 3%]",
        err_of(F.batch_norm, nyto.randn(1, 3), nil, nil, nil, nil, true))
      assert.matches("^nyto: bad argument #6 to 'F.batch_norm' %(boolean expected", err_of(F.batch_norm, x, nil, nil, nil, nil, 1))
    end)
  end)

  describe("layer_norm", function()
    it("normalises over the last dims", function()
      local x = nyto.randn(2, 3, 4)
      local xt = x:totable()
      local want = {}
      for a = 1, 2 do
        want[a] = {}
        local s, q = 0, 0
        for i = 1, 3 do for j = 1, 4 do s = s + xt[a][i][j] end end
        local m = s / 12
        for i = 1, 3 do for j = 1, 4 do q = q + (xt[a][i][j] - m) ^ 2 end end
        local v = q / 12
        for i = 1, 3 do
          want[a][i] = {}
          for j = 1, 4 do want[a][i][j] = (xt[a][i][j] - m) / math.sqrt(v + 1e-5) end
        end
      end
      assert_close(F.layer_norm(x, {3, 4}), want, 1e-4)
      local w, b = nyto.randn(3, 4), nyto.randn(3, 4)
      assert_close(F.layer_norm(x, {3, 4}, w, b), nyto.tensor(want) * w + b, 1e-4)
      -- an integer normalised shape is the last dim only
      local y = F.layer_norm(x, 4)
      assert_close(y:mean(3), nyto.zeros(2, 3), 1e-5)
    end)
    it("checks its arguments", function()
      local x = nyto.randn(2, 3)
      assert.are.equal("nyto: bad argument #1 to 'F.layer_norm' (given normalized_shape=[4], expected input with shape [*, 4], but got input of shape [2, 3])",
        err_of(F.layer_norm, x, 4))
      assert.matches("^nyto: bad argument #2 to 'F.layer_norm' %(normalized_shape must be an integer or a table",
        err_of(F.layer_norm, x, "3"))
      assert.matches("^nyto: bad argument #3 to 'F.layer_norm' %(weight must have shape %[3%], got %[2%]",
        err_of(F.layer_norm, x, 3, nyto.ones(2)))
    end)
  end)

  describe("embedding", function()
    it("picks rows of the weight by 1-based index", function()
      local w = nyto.randn(5, 3)
      local idx = I {{1, 5}, {3, 3}}
      local y = F.embedding(idx, w)
      assert.are.same({2, 2, 3}, shape(y))
      assert_close(y[1][1], w[1])
      assert_close(y[1][2], w[5])
      assert_close(y[2][2], w[3])
    end)
    it("gives no gradient to padding_idx", function()
      local w = nyto.Parameter(nyto.randn(4, 2))
      F.embedding(I {1, 2, 2, 4}, w, 2):sum():backward()
      assert_close(w.grad, {{1, 1}, {0, 0}, {0, 0}, {1, 1}})
      w.grad = nil
      F.embedding(I {4, 1}, w, -1):sum():backward() -- -1 is the last row
      assert_close(w.grad, {{1, 1}, {0, 0}, {0, 0}, {0, 0}})
    end)
    it("renormalises the rows it uses to max_norm", function()
      local w = nyto.tensor {{3, 4}, {0.3, 0.4}, {6, 8}}
      local y = F.embedding(I {1, 2}, w, nil, 1)
      assert_close(w, {{0.6, 0.8}, {0.3, 0.4}, {6, 8}}, 1e-5) -- row 3 unused: untouched
      assert_close(y, {{0.6, 0.8}, {0.3, 0.4}}, 1e-5)
    end)
    it("checks its arguments", function()
      local w = nyto.randn(4, 2)
      assert.are.equal("nyto: bad argument #1 to 'F.embedding' (index 5 out of range 1..4)", err_of(F.embedding, I {1, 5}, w))
      assert.are.equal("nyto: bad argument #1 to 'F.embedding' (index 0 out of range 1..4)", err_of(F.embedding, I {0}, w))
      assert.are.equal("nyto: bad argument #1 to 'F.embedding' (indices must be an int64 tensor, got float32)",
        err_of(F.embedding, nyto.tensor {1, 2}, w))
      assert.matches("^nyto: bad argument #2 to 'F.embedding' %(weight must be 2%-D", err_of(F.embedding, I {1}, nyto.randn(4)))
      assert.matches("^nyto: bad argument #3 to 'F.embedding' %(padding_idx must be within 1..4%)", err_of(F.embedding, I {1}, w, 5))
    end)
  end)
end)
