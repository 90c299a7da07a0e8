-- nyto.nn: each layer against an independent computation (the formula in
-- tensor arithmetic or a plain Lua loop), PyTorch's initialisation bounds,
-- train/eval behaviour, containers, printing and argument errors.
local nyto = require "nyto"
local H = require "helpers"
local I, err_of = H.I, H.err_of
local assert_close = H.assert_close
local nn = nyto.nn




local function maxabs(t) return t:abs():max():item() end

-- every |w| <= bound, and the values spread over most of [-bound, bound]
local function assert_uniform_bound(t, bound)
  local m = maxabs(t)
  assert.is_true(m <= bound * (1 + 1e-6), ("max |w| = %g > bound %g"):format(m, bound))
  if t:numel() >= 50 then assert.is_true(m > 0.8 * bound, ("max |w| = %g, far below bound %g"):format(m, bound)) end
end

local function names(iter_owner, method)
  local out = {}
  for n in iter_owner[method](iter_owner) do out[#out + 1] = n end
  return out
end

local function sigmoid(v) return 1 / (1 + math.exp(-v)) end
local function tanh(v) return (math.exp(2 * v) - 1) / (math.exp(2 * v) + 1) end

describe("nyto.nn", function()
  before_each(function() nyto.manual_seed(11) end)

  it("has every layer of the API", function()
    for _, name in ipairs {"Linear", "Conv2d", "MaxPool2d", "AvgPool2d", "ReLU", "Tanh", "Sigmoid", "Softmax", "LogSoftmax",
                           "Flatten", "Dropout", "BatchNorm1d", "BatchNorm2d", "LayerNorm", "Embedding", "LSTM",
                           "Sequential", "ModuleList", "CrossEntropyLoss", "NLLLoss", "MSELoss"} do
      assert.is_true(nyto.is_class(nn[name]), name)
    end
    assert.are.equal("Module", nyto.type(nn.ReLU()))
  end)

  describe("Linear", function()
    it("computes x W^T + b", function()
      local lin = nn.Linear(4, 3)
      local x = nyto.randn(5, 4)
      assert_close(lin(x), x:matmul(lin.weight:t()) + lin.bias)
      local nb = nn.Linear(4, 3, false)
      assert.is_nil(nb.bias)
      assert_close(nb(x), x:matmul(nb.weight:t()))
      assert.are.same({"weight", "bias"}, names(lin, "named_parameters"))
    end)
    it("initialises weight and bias in U(-1/sqrt(in), 1/sqrt(in))", function()
      local lin = nn.Linear(100, 30)
      assert.are.same({30, 100}, lin.weight:size())
      assert_uniform_bound(lin.weight, 1 / math.sqrt(100))
      assert_uniform_bound(lin.bias, 1 / math.sqrt(100))
      assert.is_true(lin.weight:requires_grad())
      -- reset_parameters redraws in place
      local w = lin.weight
      local before = w:clone()
      lin:reset_parameters()
      assert.are.equal(w, lin.weight)
      assert.is_false(nyto.equal(before, lin.weight))
    end)
    it("prints like PyTorch and takes an options table", function()
      assert.are.equal("Linear(in_features=4, out_features=3, bias=True)", tostring(nn.Linear(4, 3)))
      assert.are.equal("Linear(in_features=4, out_features=3, bias=False)", tostring(nn.Linear(4, 3, {bias = false})))
    end)
    it("backpropagates", function()
      local lin = nn.Linear(3, 2)
      local x = nyto.randn(4, 3)
      lin(x):sum():backward()
      assert_close(lin.weight.grad, nyto.ones(2, 1):matmul(x:sum(1):view(1, 3)))
      assert_close(lin.bias.grad, {4, 4})
    end)
    it("checks its arguments", function()
      assert.are.equal("nyto: bad argument #1 to 'nn.Linear' (in_features must be an integer, got string)",
        err_of(nn.Linear, "4", 3))
      assert.are.equal("nyto: bad argument #2 to 'nn.Linear' ('out_features' is required)", err_of(nn.Linear, 4))
      assert.are.equal("nyto: bad argument #2 to 'nn.Linear' (out_features must be >= 0, got -1)", err_of(nn.Linear, 4, -1))
      assert.are.equal("nyto: bad argument #3 to 'nn.Linear' (bias must be a boolean, got number)", err_of(nn.Linear, 4, 3, 1))
      assert.are.equal("nyto: bad argument #3 to 'nn.Linear' (unknown option 'bais')", err_of(nn.Linear, 4, 3, {bais = false}))
      local lin = nn.Linear(4, 3)
      assert.matches("^nyto: bad argument #1 to 'F.linear' %(input's last dimension is 5 but weight expects 4",
        err_of(lin, nyto.randn(2, 5)))
      assert.matches("^nyto: bad argument #1 to 'F.linear' %(Tensor expected, got string%)", err_of(lin, "x"))
    end)
  end)

  describe("Conv2d", function()
    -- definition of a cross-correlation, one output element at a time
    local function naive(x, w, b, s, p, g)
      local xt, wt, bt = x:totable(), w:totable(), b and b:totable()
      local N, C, H, W = #xt, #xt[1], #xt[1][1], #xt[1][1][1]
      local O, Cg, kh, kw = #wt, #wt[1], #wt[1][1], #wt[1][1][1]
      local oh, ow = (H + 2 * p - kh) // s + 1, (W + 2 * p - kw) // s + 1
      local out = {}
      for n = 1, N do
        out[n] = {}
        for o = 1, O do
          out[n][o] = {}
          local c0 = ((o - 1) // (O // g)) * Cg
          for i = 1, oh do
            out[n][o][i] = {}
            for j = 1, ow do
              local acc = bt and bt[o] or 0
              for c = 1, Cg do for u = 1, kh do for v = 1, kw do
                local r, q = (i - 1) * s - p + u, (j - 1) * s - p + v
                if r >= 1 and r <= H and q >= 1 and q <= W then acc = acc + xt[n][c0 + c][r][q] * wt[o][c][u][v] end
              end end end
              out[n][o][i][j] = acc
            end
          end
        end
      end
      return out
    end
    it("matches the definition", function()
      local conv = nn.Conv2d(2, 3, 3, 2, 1)
      local x = nyto.randn(2, 2, 5, 6)
      assert_close(conv(x), naive(x, conv.weight, conv.bias, 2, 1, 1), 1e-4)
      local g = nn.Conv2d(4, 2, 2, {groups = 2, bias = false})
      local x2 = nyto.randn(1, 4, 4, 4)
      assert_close(g(x2), naive(x2, g.weight, nil, 1, 0, 2), 1e-4)
      assert.are.same({2, 2, 2, 2}, g.weight:size())
    end)
    it("initialises with bound 1/sqrt(in/groups * kh * kw)", function()
      local conv = nn.Conv2d(4, 16, {3, 2}, {groups = 2})
      assert.are.same({16, 2, 3, 2}, conv.weight:size())
      assert_uniform_bound(conv.weight, 1 / math.sqrt(2 * 3 * 2))
      assert_uniform_bound(conv.bias, 1 / math.sqrt(2 * 3 * 2))
    end)
    it("supports padding \"same\"", function()
      local conv = nn.Conv2d(1, 2, 3, {padding = "same"})
      assert.are.same({1, 2, 7, 5}, conv(nyto.randn(1, 1, 7, 5)):size())
    end)
    it("prints like PyTorch", function()
      assert.are.equal("Conv2d(1, 32, kernel_size=(3, 3), stride=(1, 1))", tostring(nn.Conv2d(1, 32, 3)))
      assert.are.equal("Conv2d(2, 4, kernel_size=(3, 5), stride=(2, 1), padding=(1, 2), groups=2, bias=False)",
        tostring(nn.Conv2d(2, 4, {3, 5}, {2, 1}, {1, 2}, 1, 2, false)))
    end)
    it("checks its arguments", function()
      assert.matches("^nyto: bad argument #3 to 'nn.Conv2d' %(kernel_size must be an integer or a table of 2 integers",
        err_of(nn.Conv2d, 1, 2, "3"))
      assert.matches("^nyto: bad argument #7 to 'nn.Conv2d' %(in_channels must be divisible by groups%)",
        err_of(nn.Conv2d, 3, 2, 3, 1, 0, 1, 2))
      assert.matches("^nyto: bad argument #9 to 'nn.Conv2d' %(padding_mode reflect is not supported",
        err_of(nn.Conv2d, 1, 2, 3, {padding_mode = "reflect"}))
      assert.matches("^nyto: bad argument #2 to 'F.conv2d' %(weight of shape %[2, 1, 3, 3%] with groups=1 expects 1 input channels, but input of shape %[1, 3, 5, 5%] has 3%)",
        err_of(nn.Conv2d(1, 2, 3), nyto.randn(1, 3, 5, 5)))
    end)
  end)

  describe("pooling", function()
    local function naive(x, k, s, f)
      local xt = x:totable()
      local out = {}
      for n = 1, #xt do
        out[n] = {}
        for c = 1, #xt[1] do
          out[n][c] = {}
          local H, W = #xt[1][1], #xt[1][1][1]
          for i = 1, (H - k) // s + 1 do
            out[n][c][i] = {}
            for j = 1, (W - k) // s + 1 do
              local vals = {}
              for u = 1, k do for v = 1, k do vals[#vals + 1] = xt[n][c][(i - 1) * s + u][(j - 1) * s + v] end end
              out[n][c][i][j] = f(vals)
            end
          end
        end
      end
      return out
    end
    local function max(v) return math.max(table.unpack(v)) end
    local function mean(v)
      local s = 0
      for _, a in ipairs(v) do s = s + a end
      return s / #v
    end
    it("MaxPool2d and AvgPool2d match the definition", function()
      local x = nyto.randn(2, 3, 6, 5)
      assert_close(nn.MaxPool2d(2)(x), naive(x, 2, 2, max))
      assert_close(nn.MaxPool2d(3, 1)(x), naive(x, 3, 1, max))
      assert_close(nn.AvgPool2d(2)(x), naive(x, 2, 2, mean))
      assert_close(nn.AvgPool2d(3, {stride = 2})(x), naive(x, 3, 2, mean))
      -- ceil_mode covers the last, partial window
      assert.are.same({2, 3, 3, 3}, nn.MaxPool2d(2, {ceil_mode = true})(x):size())
    end)
    it("print like PyTorch and check their arguments", function()
      assert.are.equal("MaxPool2d(kernel_size=2, stride=2, padding=0, dilation=1, ceil_mode=False)", tostring(nn.MaxPool2d(2)))
      assert.are.equal("AvgPool2d(kernel_size=3, stride=1, padding=1)", tostring(nn.AvgPool2d(3, 1, 1)))
      assert.matches("^nyto: bad argument #1 to 'nn.MaxPool2d' %('kernel_size' is required%)", err_of(nn.MaxPool2d))
      assert.matches("^nyto: bad argument #2 to 'nn.AvgPool2d' %(stride must be >= 1", err_of(nn.AvgPool2d, 2, 0))
      assert.matches("^nyto: bad argument #1 to 'F.max_pool2d' %(expected a 3%-D %(unbatched%) or 4%-D",
        err_of(nn.MaxPool2d(2), nyto.randn(4, 4)))
    end)
  end)

  describe("activations and shape layers", function()
    it("ReLU, Tanh and Sigmoid follow their formulas", function()
      local x = nyto.randn(3, 4)
      local xt = x:totable()
      local r, t, s = {}, {}, {}
      for i = 1, 3 do
        r[i], t[i], s[i] = {}, {}, {}
        for j = 1, 4 do
          local v = xt[i][j]
          r[i][j], t[i][j], s[i][j] = v > 0 and v or 0, tanh(v), sigmoid(v)
        end
      end
      assert_close(nn.ReLU()(x), r)
      assert_close(nn.Tanh()(x), t)
      assert_close(nn.Sigmoid()(x), s)
      assert.are.equal("ReLU()", tostring(nn.ReLU()))
      assert.are.equal("ReLU(inplace=True)", tostring(nn.ReLU(true)))
      assert.are.equal("Tanh()", tostring(nn.Tanh()))
      assert.matches("^nyto: bad argument #1 to 'nn.Tanh' %(at most 0 arguments expected, got 1%)", err_of(nn.Tanh, 1))
    end)
    it("Softmax and LogSoftmax follow their formulas over a 1-based dim", function()
      local x = nyto.randn(2, 3)
      local e = x:exp()
      assert_close(nn.Softmax(2)(x), e / e:sum(2, true))
      assert_close(nn.Softmax(1)(x), e / e:sum(1, true))
      assert_close(nn.LogSoftmax(2)(x), x - e:sum(2, true):log())
      assert.are.equal("Softmax(dim=2)", tostring(nn.Softmax(2)))
      assert.are.equal("LogSoftmax(dim=None)", tostring(nn.LogSoftmax()))
    end)
    it("Flatten flattens from dim 2 by default", function()
      local x = nyto.randn(2, 3, 4)
      assert.are.same({2, 12}, nn.Flatten()(x):size())
      assert.are.same({24}, nn.Flatten(1)(x):size())
      assert.are.equal("Flatten(start_dim=2, end_dim=-1)", tostring(nn.Flatten()))
    end)
  end)

  describe("Dropout", function()
    it("drops in training and is the identity in eval", function()
      local d = nn.Dropout(0.25)
      assert.is_true(d.training)
      local x = nyto.rand(50, 40) + 1
      local y = d(x)
      local kept = y:ne(0)
      local frac = 1 - kept:double():mean():item()
      assert.is_true(math.abs(frac - 0.25) < 0.04, "dropped " .. frac)
      assert_close(y, nyto.where(kept, x / 0.75, 0))
      d:eval()
      assert.is_false(d.training)
      assert_close(d(x), x)
      d:train()
      assert.is_true(d(x):eq(0):any():item())
    end)
    it("follows its parent's mode and checks p", function()
      local net = nn.Sequential(nn.Linear(3, 3), nn.Dropout(0.9))
      net:eval()
      local x = nyto.randn(4, 3)
      assert_close(net(x), net[1](x))
      assert.are.equal("Dropout(p=0.5, inplace=False)", tostring(nn.Dropout()))
      assert.matches("^nyto: bad argument #1 to 'nn.Dropout' %(p must be in %[0, 1%], got 1.5%)", err_of(nn.Dropout, 1.5))
    end)
  end)

  describe("BatchNorm", function()
    it("initialises weight 1, bias 0, running_mean 0, running_var 1, num_batches_tracked 0", function()
      local bn = nn.BatchNorm1d(3)
      assert_close(bn.weight, {1, 1, 1})
      assert_close(bn.bias, {0, 0, 0})
      assert_close(bn.running_mean, {0, 0, 0})
      assert_close(bn.running_var, {1, 1, 1})
      assert.are.equal(0, bn.num_batches_tracked:item())
      assert.are.equal("int64", bn.num_batches_tracked:dtype())
      assert.are.same({"running_mean", "running_var", "num_batches_tracked"}, names(bn, "named_buffers"))
      assert.are.same({"weight", "bias"}, names(bn, "named_parameters"))
      assert.are.equal("BatchNorm1d(3, eps=1e-05, momentum=0.1, affine=True, track_running_stats=True)", tostring(bn))
    end)

    it("BatchNorm1d normalises with batch stats in training and updates the running stats", function()
      local bn = nn.BatchNorm1d(3)
      nyto.no_grad(function()
        bn.weight:copy_(nyto.tensor {1, 2, 0.5})
        bn.bias:copy_(nyto.tensor {0, -1, 3})
      end)
      local rm, rv = {0, 0, 0}, {1, 1, 1}
      for step = 1, 2 do
        local x = nyto.randn(6, 3) * step + step
        local y = bn(x)
        local mean = x:mean(1)
        local var = ((x - mean) ^ 2):mean(1)           -- biased, for normalising
        local uvar = ((x - mean) ^ 2):sum(1) / 5        -- unbiased, for the running stat
        assert_close(y, (x - mean) / (var + 1e-5):sqrt() * bn.weight + bn.bias, 1e-4)
        local mt, ut = mean:totable(), uvar:totable()
        for c = 1, 3 do
          rm[c] = 0.9 * rm[c] + 0.1 * mt[c]
          rv[c] = 0.9 * rv[c] + 0.1 * ut[c]
        end
        assert_close(bn.running_mean, rm, 1e-5)
        assert_close(bn.running_var, rv, 1e-5)
        assert.are.equal(step, bn.num_batches_tracked:item())
      end
      -- eval: the running stats, and nothing changes
      bn:eval()
      local x = nyto.randn(4, 3)
      local want = (x - nyto.tensor(rm)) / (nyto.tensor(rv) + 1e-5):sqrt() * bn.weight + bn.bias
      assert_close(bn(x), want, 1e-4)
      assert_close(bn.running_mean, rm, 1e-5)
      assert.are.equal(2, bn.num_batches_tracked:item())
    end)

    it("BatchNorm2d normalises per channel over (N, H, W)", function()
      local bn = nn.BatchNorm2d(2)
      local x = nyto.randn(3, 2, 4, 4) * 3 + 2
      local y = bn(x)
      local flat = x:transpose(1, 2):reshape(2, 48) -- channel-major
      local mean = flat:mean(2)
      local var = ((flat - mean:view(2, 1)) ^ 2):mean(2)
      assert_close(y, (x - mean:view(1, 2, 1, 1)) / (var:view(1, 2, 1, 1) + 1e-5):sqrt(), 1e-4)
      assert_close(bn.running_mean, mean * 0.1, 1e-5)
      assert_close(bn.running_var, ((flat - mean:view(2, 1)) ^ 2):sum(2) / 47 * 0.1 + 0.9, 1e-5)
    end)

    it("momentum = false is the cumulative average (PyTorch's momentum=None)", function()
      local bn = nn.BatchNorm1d(2, {momentum = false})
      local x1, x2 = nyto.randn(5, 2), nyto.randn(5, 2) + 3
      bn(x1)
      bn(x2)
      assert_close(bn.running_mean, (x1:mean(1) + x2:mean(1)) / 2, 1e-5)
      assert.matches("momentum=None", tostring(bn))
    end)

    it("without affine or running stats", function()
      local bn = nn.BatchNorm1d(2, 1e-5, 0.1, false, false)
      assert.are.equal(0, #bn:parameters())
      assert.are.equal(0, #bn:buffers())
      local x = nyto.randn(5, 2)
      bn:eval() -- no running stats: batch stats even in eval
      assert_close(bn(x), (x - x:mean(1)) / (((x - x:mean(1)) ^ 2):mean(1) + 1e-5):sqrt(), 1e-4)
    end)

    it("never writes into running-stat tensors another particle may share", function()
      local bn = nn.BatchNorm1d(2)
      local other = bn:clone()
      local held = bn.running_mean
      bn(nyto.randn(4, 2) + 5)
      assert_close(held, {0, 0})
      assert_close(other.running_mean, {0, 0})
      assert.is_true(bn.running_mean:sum():item() > 0.1)
    end)

    it("checks its input", function()
      assert.are.equal("nyto: BatchNorm2d: expected 4D input, got 3D input", err_of(nn.BatchNorm2d(2), nyto.randn(2, 2, 3)))
      assert.are.equal("nyto: BatchNorm1d: expected 2D or 3D input, got 4D input", err_of(nn.BatchNorm1d(2), nyto.randn(2, 2, 3, 3)))
      assert.are.equal("nyto: BatchNorm1d: expected 3 channels (dim 2) in the input, got shape [4, 2]",
        err_of(nn.BatchNorm1d(3), nyto.randn(4, 2)))
      assert.matches("^nyto: F.batch_norm: expected more than 1 value per channel when training",
        err_of(nn.BatchNorm1d(3), nyto.randn(1, 3)))
      assert.matches("^nyto: bad argument #1 to 'nn.BatchNorm1d' %(num_features must be >= 1", err_of(nn.BatchNorm1d, 0))
    end)
  end)

  describe("LayerNorm", function()
    it("normalises over the trailing shape with weight 1 and bias 0", function()
      local ln = nn.LayerNorm(4)
      assert_close(ln.weight, {1, 1, 1, 1})
      assert_close(ln.bias, {0, 0, 0, 0})
      local x = nyto.randn(3, 4) * 2 + 1
      local m = x:mean(2, true)
      local v = ((x - m) ^ 2):mean(2, true)
      assert_close(ln(x), (x - m) / (v + 1e-5):sqrt(), 1e-4)
      local ln2 = nn.LayerNorm({2, 3}, {elementwise_affine = false})
      assert.are.equal(0, #ln2:parameters())
      assert.are.equal("LayerNorm((2, 3), eps=1e-05, elementwise_affine=False)", tostring(ln2))
      assert.are.equal("LayerNorm((4,), eps=1e-05, elementwise_affine=True)", tostring(ln))
      assert.matches("^nyto: bad argument #1 to 'F.layer_norm' %(given normalized_shape=%[4%]", err_of(ln, nyto.randn(4, 3)))
    end)
  end)

  describe("Embedding", function()
    it("looks rows up by 1-based index, initialised N(0, 1)", function()
      local e = nn.Embedding(1000, 8)
      local w = e.weight
      assert.is_true(math.abs(w:mean():item()) < 0.05)
      assert.is_true(math.abs(w:std():item() - 1) < 0.05)
      local y = e(I {{1, 1000}, {7, 7}})
      assert.are.same({2, 2, 8}, y:size())
      assert_close(y[1][2], w[1000])
      assert_close(y[2][1], w[7])
      assert.are.equal("Embedding(1000, 8)", tostring(e))
    end)
    it("zeroes the padding row and gives it no gradient", function()
      local e = nn.Embedding(5, 3, 2)
      assert_close(e.weight[2], {0, 0, 0})
      e(I {2, 3, 2}):sum():backward()
      assert_close(e.weight.grad[2], {0, 0, 0})
      assert_close(e.weight.grad[3], {1, 1, 1})
      assert.are.equal("Embedding(5, 3, padding_idx=2)", tostring(e))
      assert.are.equal(5, nn.Embedding(5, 3, -1).padding_idx)
    end)
    it("from_pretrained copies, and freezes by default", function()
      local w = nyto.randn(4, 2)
      local e = nn.Embedding.from_pretrained(w)
      assert_close(e.weight, w)
      assert.is_false(e.weight:requires_grad())
      assert.is_true(nn.Embedding.from_pretrained(w, false).weight:requires_grad())
    end)
    it("checks its arguments", function()
      local e = nn.Embedding(4, 2)
      assert.are.equal("nyto: bad argument #1 to 'F.embedding' (index 5 out of range 1..4)", err_of(e, I {5}))
      assert.matches("^nyto: bad argument #1 to 'F.embedding' %(indices must be an int64 tensor", err_of(e, nyto.tensor {1}))
      assert.matches("^nyto: bad argument #3 to 'nn.Embedding' %(padding_idx must be within 1..4", err_of(nn.Embedding, 4, 2, 9))
      assert.matches("^nyto: bad argument #7 to 'nn.Embedding' %(sparse gradients are not supported",
        err_of(nn.Embedding, 4, 2, {sparse = true}))
    end)
  end)

  describe("LSTM", function()
    -- one step of the gate equations, written out per unit
    local function step(x, h, c, wih, whh, bih, bhh, H)
      local xt, ht, ct = x:totable(), h:totable(), c:totable()
      local Wi, Wh, bi, bh = wih:totable(), whh:totable(), bih:totable(), bhh:totable()
      local hn, cn = {}, {}
      for n = 1, #xt do
        hn[n], cn[n] = {}, {}
        local pre = {}
        for r = 1, 4 * H do
          local s = bi[r] + bh[r]
          for k = 1, #xt[n] do s = s + Wi[r][k] * xt[n][k] end
          for k = 1, H do s = s + Wh[r][k] * ht[n][k] end
          pre[r] = s
        end
        for u = 1, H do
          local i, f = sigmoid(pre[u]), sigmoid(pre[H + u])
          local g, o = tanh(pre[2 * H + u]), sigmoid(pre[3 * H + u])
          cn[n][u] = f * ct[n][u] + i * g
          hn[n][u] = o * tanh(cn[n][u])
        end
      end
      return nyto.tensor(hn), nyto.tensor(cn)
    end

    it("has PyTorch's parameters, initialised in U(-1/sqrt(H), 1/sqrt(H))", function()
      local lstm = nn.LSTM(6, 20, 2)
      assert.are.same({"weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0",
                       "weight_ih_l1", "weight_hh_l1", "bias_ih_l1", "bias_hh_l1"}, names(lstm, "named_parameters"))
      assert.are.same({80, 6}, lstm.weight_ih_l0:size())
      assert.are.same({80, 20}, lstm.weight_ih_l1:size())
      for _, p in ipairs(lstm:parameters()) do assert_uniform_bound(p, 1 / math.sqrt(20)) end
      assert.are.equal("LSTM(6, 20, num_layers=2)", tostring(lstm))
      local bi = nn.LSTM(3, 4, {bidirectional = true, bias = false})
      assert.are.same({"weight_ih_l0", "weight_hh_l0", "weight_ih_l0_reverse", "weight_hh_l0_reverse"},
        names(bi, "named_parameters"))
    end)

    it("follows the gate equations, step by step", function()
      local H = 3
      local lstm = nn.LSTM(2, H)
      local x = nyto.randn(3, 2, 2) -- (T, N, in)
      local h0, c0 = nyto.randn(1, 2, H), nyto.randn(1, 2, H)
      local out, hc = lstm(x, {h0, c0})
      assert.are.same({3, 2, H}, out:size())
      local h, c = h0[1], c0[1]
      for t = 1, 3 do
        h, c = step(x[t], h, c, lstm.weight_ih_l0, lstm.weight_hh_l0, lstm.bias_ih_l0, lstm.bias_hh_l0, H)
        assert_close(out[t], h, 1e-5)
      end
      assert_close(hc[1], h:unsqueeze(1), 1e-5)
      assert_close(hc[2], c:unsqueeze(1), 1e-5)
      -- zero initial state by default
      local out0 = lstm(x:narrow(1, 1, 1))
      local h1 = step(x[1], nyto.zeros(2, H), nyto.zeros(2, H), lstm.weight_ih_l0, lstm.weight_hh_l0, lstm.bias_ih_l0,
        lstm.bias_hh_l0, H)
      assert_close(out0[1], h1, 1e-5)
    end)

    it("batch_first, unbatched input, stacked and bidirectional layers", function()
      local lstm = nn.LSTM(2, 3, {batch_first = true})
      local x = nyto.randn(4, 5, 2) -- (N, T, in)
      local out_bf, hc_bf = lstm(x)
      local plain = nn.LSTM(2, 3)
      plain:load_state_dict(lstm:state_dict())
      local out, hc = plain(x:transpose(1, 2))
      assert_close(out_bf, out:transpose(1, 2), 1e-6)
      assert_close(hc_bf[1], hc[1], 1e-6)
      -- unbatched: (T, in)
      local u, uhc = plain(x[1])
      assert_close(u, out:select(2, 1), 1e-6)
      assert.are.same({1, 3}, uhc[1]:size())
      -- the reverse direction is the forward recurrence on the reversed sequence
      local bi = nn.LSTM(2, 3, {bidirectional = true})
      local xs = nyto.randn(4, 1, 2)
      local bo, bhc = bi(xs)
      assert.are.same({4, 1, 6}, bo:size())
      assert.are.same({2, 1, 3}, bhc[1]:size())
      local fwd, rev = nn.LSTM(2, 3), nn.LSTM(2, 3)
      nyto.no_grad(function()
        for _, n in ipairs {"weight_ih", "weight_hh", "bias_ih", "bias_hh"} do
          fwd[n .. "_l0"]:copy_(bi[n .. "_l0"])
          rev[n .. "_l0"]:copy_(bi[n .. "_l0_reverse"])
        end
      end)
      local xr = nyto.stack({xs[4], xs[3], xs[2], xs[1]}, 1)
      local ro = rev(xr)
      assert_close(bo:narrow(3, 1, 3), fwd(xs), 1e-6)
      assert_close(bo:narrow(3, 4, 3), nyto.stack({ro[4], ro[3], ro[2], ro[1]}, 1), 1e-6)
      assert_close(bhc[1][2], ro[4], 1e-6)
      -- two layers: the second runs on the first's output
      local two = nn.LSTM(2, 3, 2)
      local o2, hc2 = two(xs)
      local l1, l2 = nn.LSTM(2, 3), nn.LSTM(3, 3)
      nyto.no_grad(function()
        for _, n in ipairs {"weight_ih", "weight_hh", "bias_ih", "bias_hh"} do
          l1[n .. "_l0"]:copy_(two[n .. "_l0"])
          l2[n .. "_l0"]:copy_(two[n .. "_l1"])
        end
      end)
      local o1 = l1(xs)
      assert_close(o2, (l2(o1)), 1e-6)
      assert.are.same({2, 1, 3}, hc2[2]:size())
    end)

    it("backpropagates and checks its input", function()
      local lstm = nn.LSTM(2, 3)
      local out = lstm(nyto.randn(4, 2, 2))
      out:sum():backward()
      assert.is_true(maxabs(lstm.weight_hh_l0.grad) > 0)
      assert.matches("^nyto: bad argument #1 to 'nn.LSTM:forward' %(input's last dimension must be input_size=2",
        err_of(lstm, nyto.randn(4, 2, 3)))
      assert.matches("^nyto: bad argument #1 to 'nn.LSTM:forward' %(expected a 2%-D %(unbatched%) or 3%-D",
        err_of(lstm, nyto.randn(4)))
      assert.matches("^nyto: bad argument #2 to 'nn.LSTM:forward' %(expected h0 of shape %[1, 2, 3%], got %[1, 3%]",
        err_of(lstm, nyto.randn(4, 2, 2), {nyto.zeros(1, 3), nyto.zeros(1, 3)}))
      assert.matches("^nyto: bad argument #2 to 'nn.LSTM:forward' %({h0, c0} expected",
        err_of(lstm, nyto.randn(4, 2, 2), nyto.zeros(1, 2, 3)))
      assert.matches("^nyto: bad argument #8 to 'nn.LSTM' %(proj_size is not supported", err_of(nn.LSTM, 2, 3, {proj_size = 2}))
    end)
  end)

  describe("Sequential", function()
    it("chains its children, named 1, 2, ... and indexed seq[i]", function()
      local l1, l2 = nn.Linear(3, 4), nn.Linear(4, 2)
      local seq = nn.Sequential(l1, nn.ReLU(), l2)
      assert.are.equal(3, #seq)
      assert.are.equal(l1, seq[1])
      assert.are.equal(l2, seq[3])
      assert.is_nil(seq[4])
      assert.are.same({"1.weight", "1.bias", "3.weight", "3.bias"}, names(seq, "named_parameters"))
      local x = nyto.randn(5, 3)
      local want = (x:matmul(l1.weight:t()) + l1.bias):relu():matmul(l2.weight:t()) + l2.bias
      assert_close(seq(x), want, 1e-5)
      assert.are.equal(table.concat({
        "Sequential(",
        "  (1): Linear(in_features=3, out_features=4, bias=True)",
        "  (2): ReLU()",
        "  (3): Linear(in_features=4, out_features=2, bias=True)",
        ")"}, "\n"), tostring(seq))
    end)
    it("a value at a position that is no module: calling the Sequential says so", function()
      -- seq[k] falls back to the class: a class field at a position is read as element k
      local Seq = nyto.class("NNSpecSeq", nn.Sequential)
      local seq = Seq(nn.Linear(3, 3))
      Seq[2] = nyto.zeros(3)
      local ok, e = pcall(seq, nyto.randn(2, 3))
      assert.is_false(ok)
      assert.are.equal("nyto: Sequential: element 2 is a Tensor, not a module (a Sequential calls its submodules 1, 2, ... in turn)", e)
      Seq[2] = nil
      assert.are.same({2, 3}, seq(nyto.randn(2, 3)):size())
    end)

    it("keeps its children's values, takes an array, appends, and nests", function()
      local lin = nn.Linear(2, 2)
      local w = lin.weight:clone()
      local seq = nn.Sequential({lin, nn.Tanh()})
      assert_close(seq[1].weight, w)
      seq:append(nn.Linear(2, 1))
      assert.are.equal(3, #seq)
      assert.are.same({4, 1}, seq(nyto.randn(4, 2)):size())
      local Net = nyto.class("SpecNet")
      function Net:init() self.body = nn.Sequential(nn.Linear(2, 3), nn.ReLU()) self.head = nn.Linear(3, 1) end
      function Net:forward(x) return self.head(self.body(x)) end
      local net = Net()
      assert.are.same({"body.1.weight", "body.1.bias", "head.weight", "head.bias"}, names(net, "named_parameters"))
      assert.are.same({5, 1}, net(nyto.randn(5, 2)):size())
      assert.are.equal(0, #nn.Sequential())
    end)
    it("checks its arguments", function()
      assert.matches("^nyto: bad argument #2 to 'nn.Sequential' %(module expected at position 2, got number%)",
        err_of(nn.Sequential, nn.ReLU(), 3))
      assert.matches("^nyto: bad argument #1 to 'nn.Sequential' %(an array of modules expected",
        err_of(nn.Sequential, {a = nn.ReLU()}))
    end)
  end)

  describe("ModuleList", function()
    it("holds modules in order, with append, extend, insert and ipairs", function()
      local ml = nn.ModuleList({nn.Linear(2, 2), nn.Tanh()})
      ml:append(nn.Sigmoid())
      ml:extend({nn.ReLU()})
      ml:insert(2, nn.Linear(2, 5))
      assert.are.equal(5, #ml)
      local kinds = {}
      for i, m in ipairs(ml) do kinds[i] = tostring(m):match("^%a+") end
      assert.are.same({"Linear", "Linear", "Tanh", "Sigmoid", "ReLU"}, kinds)
      assert.are.same({"1.weight", "1.bias", "2.weight", "2.bias"}, names(ml, "named_parameters"))
      assert.are.same({5, 2}, ml[2].weight:size())
      assert.matches("^nyto: ModuleList has no forward", err_of(ml, nyto.randn(1)))
      assert.matches("^nyto: bad argument #1 to 'nn.ModuleList:append' %(module expected, got string%)", err_of(ml.append, ml, "x"))
      assert.matches("^nyto: bad argument #1 to 'nn.ModuleList:insert' %(index 9 out of range 1..6%)",
        err_of(ml.insert, ml, 9, nn.ReLU()))
    end)
  end)

  describe("losses", function()
    it("CrossEntropyLoss is mean -log softmax[label], with weight, ignore_index and reduction", function()
      local x, y = nyto.randn(4, 3), I {2, 3, 1, 2}
      local lsm = x - x:exp():sum(2, true):log()
      local picked = lsm:gather(2, y:unsqueeze(2)):squeeze(2)
      assert_close(nn.CrossEntropyLoss()(x, y), -picked:mean(), 1e-5)
      assert_close(nn.CrossEntropyLoss({reduction = "sum"})(x, y), -picked:sum(), 1e-5)
      local w = nyto.tensor {1, 2, 3}
      local ce = nn.CrossEntropyLoss(w)
      assert.are.same({"weight"}, names(ce, "named_buffers"))
      local ww = w:index_select(1, y)
      assert_close(ce(x, y), -(picked * ww):sum() / ww:sum(), 1e-5)
      assert_close(nn.CrossEntropyLoss({ignore_index = 2})(x, y), -(picked[2] + picked[3]) / 2, 1e-5)
      assert.are.equal("CrossEntropyLoss()", tostring(nn.CrossEntropyLoss()))
      assert.are.equal("nyto: bad argument #2 to 'F.cross_entropy' (class label 4 out of range 1..3)",
        err_of(nn.CrossEntropyLoss(), x, I {1, 4, 1, 1}))
    end)
    it("NLLLoss takes log-probabilities; MSELoss squares differences", function()
      local lp = nyto.randn(3, 4):log_softmax(2)
      local y = I {4, 1, 2}
      assert_close(nn.NLLLoss()(lp, y), -(lp[1][4] + lp[2][1] + lp[3][2]) / 3, 1e-6)
      local a, b = nyto.randn(2, 3), nyto.randn(2, 3)
      assert_close(nn.MSELoss()(a, b), ((a - b) ^ 2):mean(), 1e-6)
      assert_close(nn.MSELoss({reduction = "sum"})(a, b), ((a - b) ^ 2):sum(), 1e-5)
      assert_close(nn.MSELoss(nil, false)(a, b), (a - b) ^ 2, 1e-6) -- legacy reduce=False
      assert.matches("^nyto: bad argument #3 to 'nn.MSELoss' %(reduction must be", err_of(nn.MSELoss, {reduction = "max"}))
    end)
  end)

  it("a small network trains end to end", function()
    local net = nn.Sequential(nn.Linear(2, 8), nn.Tanh(), nn.Linear(8, 2))
    local x = nyto.randn(32, 2)
    local y = x:select(2, 1):gt(0):long() + 1 -- class 2 when x1 > 0
    local loss_fn = nn.CrossEntropyLoss()
    local opt = nyto.optim.SGD(net:parameters(), {lr = 0.5})
    local first, last
    for i = 1, 40 do
      opt:zero_grad()
      local loss = loss_fn(net(x), y)
      loss:backward()
      opt:step()
      if i == 1 then first = loss:item() end
      last = loss:item()
    end
    assert.is_true(last < first * 0.5, ("loss %g -> %g"):format(first, last))
  end)
end)
