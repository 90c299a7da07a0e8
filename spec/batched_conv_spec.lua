-- The conv block of nyto.batched_forward (issue 18): a Sequential's Conv2d, ReLU, MaxPool2d(2)
-- run as one population-aware block (core.vmap_conv_pool: the direct kernel of src/core/bconv.c
-- for shallow convolutions, libtorch's convolution per member + nyto_relu_pool2 for deep ones).
-- Every case is checked against the per-member loop (each member's own forward, libtorch's
-- oneDNN convolution, F.relu, F.max_pool2d: an independent computation), and core.bconv_count
-- tells which path ran, so a case cannot pass by silently taking the generic layers.
local nyto = require "nyto"
local core = require "nyto.core"
local H = require "helpers"
local nn = nyto.nn

local population = H.population

-- the batched forward against the loop; returns the direct-kernel calls and the per-member
-- convolutions the block made during the batched call
local function check(net, n, x, tol, opts)
  local members, stacks = population(net, n)
  local d0, m0 = core.bconv_count()
  local y = nyto.batched_forward(net, stacks, x, opts)
  local d1, m1 = core.bconv_count()
  assert.are.equal(n, y:size(1))
  for i = 1, n do H.assert_close(y[i], members[i](opts and opts.per_member and x[i] or x), tol) end
  return d1 - d0, m1 - m0
end

-- the error batched_forward gives on x for two members of net (the fallback's warning silenced)
local function loop_error(net, x)
  local _, stacks = population(net, 2)
  nyto.on_warning(function() end)
  local e = H.err_of(nyto.batched_forward, net, stacks, x)
  nyto.on_warning(nil)
  return e
end

local function block(cin, cout, k, ...)
  return nn.Sequential(nn.Conv2d(cin, cout, k, ...), nn.ReLU(), nn.MaxPool2d(2))
end

-- float32 rounding: the kernel sums bias then taps in (cin, kh, kw) order with FMA, oneDNN in
-- its own order; at most C*kh*kw (<= 400 here) terms of O(1) values, ~6e-8 relative each
local TOL = 2e-5

describe("batched_forward's conv block (Conv2d + ReLU + MaxPool2d(2))", function()
  local old_mode
  before_each(function()
    nyto.manual_seed(11)
    require("nyto.errors").reset_warnings()
    old_mode = core.bconv_force(0)
  end)
  after_each(function() core.bconv_force(old_mode) end)

  it("a shallow conv (C*kh*kw <= 64) takes the direct kernel, once per call, the loop's values", function()
    local d, m = check(block(1, 16, 5, 1, 2), 5, nyto.randn(3, 1, 12, 12), TOL)
    assert.are.same({1, 0}, {d, m})
    -- the reference CNN: conv1 (1x5x5 = 25 taps) direct, conv2 (16x5x5 = 400) per member
    local CNN = dofile("examples/reference_cnn.lua")(nyto)
    d, m = check(CNN(), 3, nyto.randn(2, 1, 28, 28), TOL)
    assert.are.same({1, 3}, {d, m})
  end)

  it("a deep conv (C*kh*kw > 64) runs oneDNN per member (n convolutions), the loop's values", function()
    local d, m = check(block(8, 12, 3, 1, 1), 4, nyto.randn(2, 8, 9, 9), TOL)
    assert.are.same({0, 4}, {d, m})
  end)

  it("both forced paths equal the loop: strides, paddings, odd sizes (pool floor), bias or none", function()
    local cases = {
      -- cin, cout, k, stride, padding, bias, H, W
      {1, 16, 5, 1, 2, true, 28, 28},
      {2, 7, 3, 1, 0, false, 9, 11},     -- odd sizes: conv 7x9, pooled 3x4
      {3, 17, 3, 2, 1, true, 13, 10},    -- stride 2, more channels than a vector
      {1, 5, {3, 5}, {1, 2}, {2, 0}, true, 8, 15}, -- non-square kernel, stride, padding
      {4, 33, 1, 1, 0, false, 5, 7},     -- 1x1 kernel, cout above two vectors
      {2, 3, 4, 3, 2, true, 11, 11},
    }
    for _, c in ipairs(cases) do
      local net = nn.Sequential(nn.Conv2d(c[1], c[2], c[3], {stride = c[4], padding = c[5], bias = c[6]}), nn.ReLU(),
                                nn.MaxPool2d(2))
      for mode = 1, 2 do
        core.bconv_force(mode)
        local x = nyto.randn(3, c[1], c[7], c[8])
        local d, m = check(net, 4, x, TOL)
        assert.are.same(mode == 1 and {1, 0} or {0, 4}, {d, m})
      end
    end
  end)

  it("padding 'same' (odd kernel) and 'valid' take the block", function()
    for _, pad in ipairs {"same", "valid"} do
      local d = check(nn.Sequential(nn.Conv2d(2, 6, 3, {padding = pad}), nn.ReLU(), nn.MaxPool2d(2)), 3,
                      nyto.randn(2, 2, 7, 8), TOL)
      assert.are.equal(1, d)
    end
  end)

  it("batched (per_member) inputs and shared inputs, on both paths", function()
    for mode = 1, 2 do
      core.bconv_force(mode)
      local net = block(2, 9, 3, 1, 1)
      local d, m = check(net, 4, nyto.randn(4, 3, 2, 10, 10), TOL, {per_member = true})
      assert.are.same(mode == 1 and {1, 0} or {0, 4}, {d, m})
      -- a batched input inside the forward: a second block after a first
      d, m = check(nn.Sequential(block(1, 4, 3, 1, 1), block(4, 6, 3, 1, 1)), 3, nyto.randn(2, 1, 16, 16), TOL)
      assert.are.same(mode == 1 and {2, 0} or {0, 6}, {d, m})
    end
  end)

  it("every vector path of the direct kernel the CPU has equals the loop (core.bconv_isa)", function()
    local top, path = core.bconv_isa(-1)
    local ran = {}
    core.bconv_force(1)
    for level = 0, 2 do
      core.bconv_isa(level)
      local _, now = core.bconv_isa(-1)
      if now == level then
        ran[#ran + 1] = level
        -- cout 16/8/4 lanes: 21 leaves partial vectors on every path; odd widths leave partial quads
        for _, c in ipairs {{1, 21, 5, 2, 13, 17}, {3, 8, 3, 1, 10, 9}} do
          local d = check(block(c[1], c[2], c[3], 1, c[4]), 3, nyto.randn(2, c[1], c[5], c[6]), TOL)
          assert.are.equal(1, d)
        end
      end
    end
    assert.are.equal(top, (core.bconv_isa(top))) -- the cap set above is the one returned
    assert.are.same({top, path}, {core.bconv_isa(-1)})
    assert.are.equal(0, ran[1]) -- the baseline is always there
  end)

  it("NaN and negative values: NaN propagates as in the loop, an all-negative window gives 0", function()
    core.bconv_force(1)
    local net = block(1, 4, 1, 1, 0)
    local members, stacks = population(net, 2)
    local x = nyto.randn(1, 1, 4, 4) - 3 -- negative but for one NaN
    x[1][1][1][1] = 0 / 0
    x[1][1][4][4] = 5
    local y = nyto.batched_forward(net, stacks, x)
    for i = 1, 2 do
      local e = members[i](x)
      assert.is_true(nyto.equal(y[i]:isnan(), e:isnan()))
      H.assert_close(nyto.where(y[i]:isnan(), 0, y[i]), nyto.where(e:isnan(), 0, e), TOL)
    end
  end)

  it("models the block does not take give the loop's values through the generic layers", function()
    local others = {
      nn.Sequential(nn.Conv2d(2, 4, 3, 1, 1), nn.ReLU(), nn.MaxPool2d(3)),
      nn.Sequential(nn.Conv2d(2, 4, 3, {padding = 1, dilation = 2}), nn.ReLU(), nn.MaxPool2d(2)),
      nn.Sequential(nn.Conv2d(2, 4, 3, {padding = 1, groups = 2}), nn.ReLU(), nn.MaxPool2d(2)),
      nn.Sequential(nn.Conv2d(2, 4, 3, 1, 1), nn.MaxPool2d(2)),                 -- no ReLU
      nn.Sequential(nn.Conv2d(2, 4, 3, 1, 1), nn.Tanh(), nn.MaxPool2d(2)),
      nn.Sequential(nn.Conv2d(2, 4, 3, 1, 1), nn.ReLU(), nn.MaxPool2d(2, 1)),   -- stride 1
      nn.Sequential(nn.Conv2d(2, 4, 3, 1, 1), nn.ReLU(), nn.MaxPool2d(2, {ceil_mode = true})),
      nn.Sequential(nn.Conv2d(2, 4, 3, 1, 1), nn.ReLU(), nn.MaxPool2d(2, 2, 1)), -- pool padding
      nn.Sequential(nn.Conv2d(2, 4, 4, {padding = "same"}), nn.ReLU(), nn.MaxPool2d(2)), -- even 'same'
    }
    for _, net in ipairs(others) do
      local d, m = check(net, 3, nyto.randn(2, 2, 9, 9), TOL)
      assert.are.same({0, 0}, {d, m})
    end
    -- a conv output too small to pool (1x1) is left to the layers, which give the loop's error
    assert.matches("^nyto: ", loop_error(block(1, 2, 3), nyto.randn(1, 1, 3, 3)))
  end)

  it("float64 is left to the layers (the block is float32), values equal at 1e-12", function()
    local net = nn.Sequential(nn.Conv2d(2, 5, 3, 1, 1), nn.ReLU(), nn.MaxPool2d(2))
    net[1].weight = nyto.Parameter(net[1].weight:detach():double())
    net[1].bias = nyto.Parameter(net[1].bias:detach():double())
    local d, m = check(net, 3, nyto.randn(2, 2, 7, 7, {dtype = "float64"}), 1e-12)
    assert.are.same({0, 0}, {d, m})
  end)

  it("under autograd the block is skipped: the layers run and the grads equal the loop's", function()
    local net = block(2, 6, 3, 1, 1)
    local members, stacks = population(net, 3, true)
    local x = nyto.randn(2, 2, 8, 8)
    local d0, m0 = core.bconv_count()
    local y = nyto.batched_forward(net, stacks, x)
    local d1, m1 = core.bconv_count()
    assert.are.same({0, 0}, {d1 - d0, m1 - m0})
    assert.is_true(y:requires_grad())
    local t = nyto.randn(3, 2, 6, 4, 4);
    (y * t):sum():backward()
    for i = 1, 3 do
      H.assert_close(y[i], members[i](x), TOL);
      (members[i](x) * t[i]):sum():backward()
      for pid, p in pairs(members[i]:kernel():params()) do H.assert_close(stacks[pid].grad[i], p.grad, 1e-4) end
    end
    -- the same stacks under no_grad take the block, with the autograd path's values
    local yn = nyto.no_grad(function() return nyto.batched_forward(net, stacks, x) end)
    local d2 = core.bconv_count()
    assert.are.equal(1, d2 - d1)
    H.assert_close(yn, y:detach(), TOL)
  end)

  it("an input the conv refuses (wrong channels) gives the loop's nyto: error", function()
    assert.matches("^nyto: ", loop_error(block(3, 4, 3, 1, 1), nyto.randn(2, 2, 8, 8)))
  end)
end)

describe("core.vmap_conv_pool, core.bconv_force, core.bconv_isa: bad input", function()
  local x, w = nyto.randn(1, 1, 4, 4), nyto.randn(2, 1, 3, 3)
  local function raises(pattern, f, ...)
    assert.matches(pattern, H.err_of(f, ...))
  end
  it("wrong arity and types are nyto: errors, not crashes", function()
    raises("^nyto: vmap_conv_pool: 7 or 8 arguments expected", core.vmap_conv_pool)
    raises("^nyto: vmap_conv_pool: 7 or 8 arguments expected", core.vmap_conv_pool, x, w, nil, 1, 1, 0)
    raises("^nyto: vmap_conv_pool: 7 or 8 arguments expected", core.vmap_conv_pool, x, w, nil, 1, 1, 0, 0, 0, 0)
    raises("^nyto: bad argument #1 to 'vmap_conv_pool' %(Tensor expected, got number%)", core.vmap_conv_pool, 1, w, nil, 1, 1, 0, 0)
    raises("^nyto: bad argument #2 to 'vmap_conv_pool' %(Tensor expected, got table%)", core.vmap_conv_pool, x, {}, nil, 1, 1, 0, 0)
    raises("^nyto: bad argument #3 to 'vmap_conv_pool' %(Tensor expected, got string%)", core.vmap_conv_pool, x, w, "b", 1, 1, 0, 0)
    raises("^nyto: bad argument #4 to 'vmap_conv_pool' %(integer expected, got string%)", core.vmap_conv_pool, x, w, nil, "1", 1, 0, 0)
    raises("^nyto: bad argument #7 to 'vmap_conv_pool' %(integer expected, got 0.5", core.vmap_conv_pool, x, w, nil, 1, 1, 0, 0.5)
    raises("^nyto: bad argument #8 to 'vmap_conv_pool' %(mode 0, 1 or 2 expected, got 3%)", core.vmap_conv_pool, x, w, nil, 1, 1, 0, 0, 3)
    local freed = nyto.randn(2)
    freed:free()
    raises("^nyto: attempt to use a freed Tensor", core.vmap_conv_pool, freed, w, nil, 1, 1, 0, 0)
    raises("^nyto: bad argument #1 to 'bconv_force' %(mode 0, 1 or 2 expected, got %-1%)", core.bconv_force, -1)
    raises("^nyto: bad argument #1 to 'bconv_force' %(integer expected, got no value%)", core.bconv_force)
    raises("^nyto: bad argument #1 to 'bconv_isa' %(level %-1 to 2 expected, got 3%)", core.bconv_isa, 3)
    raises("^nyto: bad argument #1 to 'bconv_isa' %(integer expected, got string%)", core.bconv_isa, "2")
  end)
  it("outside a batched forward, or on arguments it does not take, it returns nil", function()
    assert.is_nil(core.vmap_conv_pool(x, w, nil, 1, 1, 0, 0))
    assert.is_nil(core.vmap_conv_pool(x, w, nil, 0, -1, 0, 0, 1))
  end)
end)
