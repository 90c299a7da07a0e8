-- nyto.batched_forward: every member's forward as one batched computation
-- (functorch's vmap layer), checked against the per-member loop.
local nyto = require "nyto"
local H = require "helpers"
local nn, F = nyto.nn, nyto.F

local population = H.population

local function loop_out(members, x, per_member)
  local outs = {}
  for i, m in ipairs(members) do outs[i] = m(per_member and x[i] or x) end
  return outs
end

local function check(net, n, x, opts)
  local members, stacks = population(net, n)
  local warnings = {}
  nyto.on_warning(function(m) warnings[#warnings + 1] = m end)
  local y = nyto.batched_forward(net, stacks, x, opts)
  nyto.on_warning(nil)
  local per = loop_out(members, x, opts and opts.per_member)
  assert.are.equal(n, y:size(1))
  for i = 1, n do H.assert_close(y[i], per[i], 1e-5) end
  return warnings
end

local function snapshot(net)
  local t = {}
  for name, p in net:named_parameters() do t[name] = {p = p, v = p:detach():clone()} end
  return t
end
local function assert_unchanged(net, snap)
  for name, p in net:named_parameters() do
    assert.is_true(rawequal(p, snap[name].p), name)
    assert.is_true(nyto.equal(p, snap[name].v), name)
  end
end

describe("nyto.batched_forward", function()
  before_each(function() nyto.manual_seed(7); require("nyto.errors").reset_warnings() end)

  it("MLP (Linear, ReLU, Tanh in a Sequential) equals the per-member loop, no warning", function()
    local net = nn.Sequential(nn.Linear(8, 32), nn.ReLU(), nn.Linear(32, 16), nn.Tanh(), nn.Linear(16, 4))
    local w = check(net, 6, nyto.randn(5, 8))
    assert.are.same({}, w)
    -- functorch's own linear rule (no fused baddbmm) gives the same values
    check(net, 6, nyto.randn(5, 8), {fused = false})
    check(net, 6, nyto.randn(2, 5, 8), {fused = false})
    check(net, 6, nyto.randn(2, 5, 8))
  end)

  -- Small layers without autograd run through the core's kernel (src/core/blinear.c: 4 rows by
  -- 16 float32 or 8 float64 outputs per block, k summed in order): these sizes cover partial
  -- row and output blocks, one element, no bias, shared and batched inputs.  The loop's values
  -- come from libtorch's addmm (BLAS), an independent computation; they differ by the order of
  -- the sums, at most fin terms of ~6e-8 relative rounding each, so 1e-5 (absolute and
  -- relative) holds for these O(1) values with fin <= 40.
  it("small linear layers (the core's kernel) equal the loop: partial blocks, no bias, batched input", function()
    for _, sz in ipairs {{1, 1, 1}, {7, 5, 17}, {4, 33, 3}, {9, 16, 16}, {3, 40, 33}} do
      local rows, fin, fout = sz[1], sz[2], sz[3]
      local net = nn.Sequential(nn.Linear(fin, fout), nn.ReLU(), nn.Linear(fout, 3, false))
      assert.are.same({}, check(net, 5, nyto.randn(rows, fin)))
      nyto.no_grad(function() check(net, 5, nyto.randn(2, rows, fin)) end)
      check(net, 5, nyto.randn(5, rows, fin), {per_member = true})
    end
  end)

  -- Narrow layers (float32 fout <= 8, float64 fout <= 4) run with 16 (8) rows of the batch in
  -- the lanes instead of the outputs (src/core/blinear.c, BL_NARROW): rows over two full row
  -- blocks and a partial one, every output count of that path, no bias, a shared input
  -- transposed once, batched and per-member inputs, float64 at 1e-12.
  it("narrow layers (rows in the lanes) equal the loop: 1..8 outputs, partial row blocks, float64", function()
    for _, fout in ipairs {1, 2, 3, 4, 5, 7, 8} do
      for _, rows in ipairs {16, 37} do
        local net = nn.Sequential(nn.Linear(6, 20), nn.ReLU(), nn.Linear(20, fout, fout % 2 == 0))
        assert.are.same({}, check(net, 3, nyto.randn(rows, 6)))
        check(net, 3, nyto.randn(3, rows, 6), {per_member = true})
        assert.are.same({}, check(nn.Linear(6, fout, fout ~= 3), 3, nyto.randn(rows, 6)))
      end
    end
    local Net = nyto.class("BF64N")
    function Net:init()
      self.w = nyto.Parameter(nyto.randn(3, 10, {dtype = "float64"}))
      self.b = nyto.Parameter(nyto.randn(3, {dtype = "float64"}))
    end
    function Net:forward(x) return F.linear(x, self.w, self.b) end
    local net = Net()
    local members, stacks = population(net, 4)
    local x = nyto.randn(21, 10, {dtype = "float64"})
    local y = nyto.batched_forward(net, stacks, x)
    for i = 1, 4 do H.assert_close(y[i], members[i](x), 1e-12) end
  end)

  -- A Sequential's Linear then ReLU runs as one kernel call with the ReLU applied to each
  -- member's output (core.vmap_linear's relu flag); where the kernel does not apply (a layer
  -- above its size, autograd) both layers run: the same values as the loop in every case.
  -- Linear -> ReLU -> Linear runs as one kernel call per member (the second layer on the
  -- hidden rows in cache; core.blinear_count tells which kernel ran)
  it("Linear -> ReLU -> Linear as one kernel call equals the loop: shapes, no bias, per member, float64", function()
    local core = require "nyto.core"
    local function ran(f)
      local a1, a2 = core.blinear_count()
      f()
      local b1, b2 = core.blinear_count()
      return b1 - a1, b2 - a2
    end
    local one, two = ran(function() check(nn.Sequential(nn.Linear(8, 32), nn.ReLU(), nn.Linear(32, 4)), 9, nyto.randn(64, 8)) end)
    assert.are.same({0, 1}, {one, two})
    -- a narrow and a wide second layer, no bias on either, rows not a multiple of 16
    for _, c in ipairs({{5, 9, 3, true}, {8, 32, 20, false}, {3, 40, 1, false}, {6, 7, 17, true}}) do
      local net = nn.Sequential(nn.Linear(c[1], c[2], c[4]), nn.ReLU(), nn.Linear(c[2], c[3], c[4]))
      one, two = ran(function() check(net, 5, nyto.randn(19, c[1])) check(net, 3, nyto.randn(7, c[1])) end)
      assert.are.same({0, 2}, {one, two})
    end
    -- per-member inputs, leading dims, float64
    one, two = ran(function()
      check(nn.Sequential(nn.Linear(8, 32), nn.ReLU(), nn.Linear(32, 4)), 4, nyto.randn(4, 3, 13, 8), {per_member = true})
      check(nn.Sequential(nn.Linear(8, 32), nn.ReLU(), nn.Linear(32, 4)), 4, nyto.randn(2, 11, 8))
    end)
    assert.are.same({0, 2}, {one, two})
    local l1, l2 = nn.Linear(6, 10), nn.Linear(10, 3)
    l1.weight = nyto.Parameter(nyto.randn(10, 6, {dtype = "float64"}))
    l1.bias = nyto.Parameter(nyto.randn(10, {dtype = "float64"}))
    l2.weight = nyto.Parameter(nyto.randn(3, 10, {dtype = "float64"}))
    l2.bias = nyto.Parameter(nyto.randn(3, {dtype = "float64"}))
    local net = nn.Sequential(l1, nn.ReLU(), l2)
    local members, stacks = population(net, 4)
    local x = nyto.randn(9, 6, {dtype = "float64"})
    one, two = ran(function()
      local y = nyto.batched_forward(net, stacks, x)
      for i = 1, 4 do H.assert_close(y[i], members[i](x), 1e-12) end
    end)
    assert.are.same({0, 1}, {one, two})
    -- a ReLU after the second Linear: a pair (its ReLU in the kernel), then the triple after it
    one, two = ran(function()
      check(nn.Sequential(nn.Linear(5, 9), nn.ReLU(), nn.Linear(9, 3), nn.ReLU(), nn.Linear(3, 2)), 4, nyto.randn(8, 5))
    end)
    assert.are.same({1, 1}, {one, two})
    -- a second layer too big for the kernel: the layers run (the first pair still fused)
    one, two = ran(function()
      check(nn.Sequential(nn.Linear(4, 200), nn.ReLU(), nn.Linear(200, 100)), 3, nyto.randn(5, 4))
    end)
    assert.are.same({1, 0}, {one, two})
  end)

  it("Linear -> ReLU pairs (the ReLU in the kernel) equal the loop: inplace, last pair, too big, autograd", function()
    check(nn.Sequential(nn.Linear(5, 9), nn.ReLU(true), nn.Linear(9, 3), nn.ReLU()), 4, nyto.randn(37, 5))
    check(nn.Sequential(nn.Linear(5, 9, false), nn.ReLU(), nn.Linear(9, 2)), 4, nyto.randn(4, 37, 5), {per_member = true})
    check(nn.Sequential(nn.Linear(4, 6), nn.ReLU()), 3, nyto.randn(2, 5, 4))
    local wide = nn.Sequential(nn.Linear(200, 100), nn.ReLU(), nn.Linear(100, 2))
    check(wide, 3, nyto.randn(6, 200) * 0.1)
    local net = nn.Sequential(nn.Linear(6, 20), nn.ReLU(), nn.Linear(20, 3))
    local members, stacks = population(net, 4, true)
    local x = nyto.randn(7, 6)
    local y = nyto.batched_forward(net, stacks, x)
    for i = 1, 4 do H.assert_close(y[i], members[i](x), 1e-5) end
    -- the fused pair's output has no negative entry and keeps the positive ones of the linear
    local lin = nn.Sequential(nn.Linear(6, 20), nn.ReLU())
    local ms, st = population(lin, 3)
    local z = nyto.batched_forward(lin, st, x)
    for i = 1, 3 do
      local ref = ms[i][1](x):detach()
      H.assert_close(z[i], ref:clamp(0, math.huge), 1e-5)
      assert.is_true(z[i]:min():item() >= 0)
    end
  end)

  it("a layer above the kernel's size (fin * fout > 16384) runs as baddbmm, the same values", function()
    check(nn.Sequential(nn.Linear(200, 100), nn.Tanh(), nn.Linear(100, 2)), 3, nyto.randn(6, 200) * 0.1)
  end)

  it("float64 linear layers through the kernel equal the loop at 1e-12", function()
    local Net = nyto.class("BF64")
    function Net:init()
      self.w = nyto.Parameter(nyto.randn(9, 6, {dtype = "float64"}))
      self.b = nyto.Parameter(nyto.randn(9, {dtype = "float64"}))
    end
    function Net:forward(x) return F.linear(x, self.w, self.b):tanh() end
    local net = Net()
    local members, stacks = population(net, 4)
    local x = nyto.randn(7, 6, {dtype = "float64"})
    local y = nyto.batched_forward(net, stacks, x)
    assert.are.equal("float64", y:dtype())
    for i = 1, 4 do H.assert_close(y[i], members[i](x), 1e-12) end
  end)

  it("stacks requiring grad under no_grad (the kernel) give the values of the autograd path, no graph", function()
    local net = nn.Sequential(nn.Linear(6, 20), nn.ReLU(), nn.Linear(20, 3))
    local _, stacks = population(net, 4, true)
    local x = nyto.randn(5, 6)
    local y = nyto.no_grad(function() return nyto.batched_forward(net, stacks, x) end)
    assert.is_false(y:requires_grad())
    local yg = nyto.batched_forward(net, stacks, x)
    assert.is_true(yg:requires_grad())
    H.assert_close(y, yg:detach(), 1e-5)
  end)

  it("the reference CNN (Conv2d, MaxPool2d, view, Linear) equals the loop", function()
    local CNN = dofile("examples/reference_cnn.lua")(nyto)
    local w = check(CNN(), 3, nyto.randn(4, 1, 28, 28))
    assert.are.same({}, w)
  end)

  it("Conv2d + AvgPool2d + Flatten + Sigmoid equals the loop", function()
    local net = nn.Sequential(nn.Conv2d(2, 3, 3, 1, 1), nn.AvgPool2d(2), nn.Flatten(), nn.Sigmoid(), nn.Linear(12, 2))
    check(net, 4, nyto.randn(3, 2, 4, 4))
  end)

  it("norms: LayerNorm, and BatchNorm1d in eval mode", function()
    check(nn.Sequential(nn.Linear(5, 6), nn.LayerNorm(6), nn.Linear(6, 2)), 4, nyto.randn(3, 5))
    local bn = nn.Sequential(nn.Linear(5, 6), nn.BatchNorm1d(6), nn.Linear(6, 2))
    bn:eval()
    check(bn, 4, nyto.randn(3, 5))
  end)

  it("LSTM: output and final states equal the loop", function()
    local lstm = nn.LSTM(3, 5)
    local members, stacks = population(lstm, 4)
    local x = nyto.randn(6, 2, 3)
    local out, hc = nyto.batched_forward(lstm, stacks, x)
    for i = 1, 4 do
      local o, s = members[i](x)
      H.assert_close(out[i], o, 1e-5)
      H.assert_close(hc[1][i], s[1], 1e-5)
      H.assert_close(hc[2][i], s[2], 1e-5)
    end
  end)

  it("a custom class forward with tensor ops and F equals the loop; stacks by dotted name", function()
    local Net = nyto.class("BFNet")
    function Net:init() self.w = nyto.Parameter(nyto.randn(4, 3)); self.fc = nn.Linear(3, 2) end
    function Net:forward(x)
      local h = (x:matmul(self.w) * 2 + 1):tanh()
      return F.log_softmax(self.fc(h) + h:sum(2, true), 2)
    end
    local net = Net()
    local members, by_pid = population(net, 3)
    local by_name = {}
    for name, _ in net:named_parameters() do by_name[name] = by_pid[net:get_param_id(net[name] or net.fc[name:match("%.(.*)")])] end
    local x = nyto.randn(5, 4)
    local y = nyto.batched_forward(net, by_name, x)
    for i = 1, 3 do H.assert_close(y[i], members[i](x), 1e-5) end
  end)

  it("per_member gives member i the slice x[i]", function()
    local net = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))
    check(net, 5, nyto.randn(5, 7, 3), {per_member = true})
  end)

  it("gradients of the batched output fill the stacks' grads, equal to the per-member grads", function()
    local net = nn.Sequential(nn.Linear(4, 6), nn.Tanh(), nn.Linear(6, 3))
    local members, stacks = population(net, 3, true)
    local x, target = nyto.randn(5, 4), nyto.randn(3, 5, 3)
    local y = nyto.batched_forward(net, stacks, x)
    F.mse_loss(y, target, "sum"):backward()
    for i = 1, 3 do
      F.mse_loss(members[i](x), target[i], "sum"):backward()
      for pid, p in pairs(members[i]:kernel():params()) do
        H.assert_close(stacks[pid].grad[i], p.grad, 1e-5)
      end
    end
    -- the template's own parameters got no gradient
    for _, p in ipairs(net:parameters()) do assert.is_nil(p.grad) end
  end)

  it("gradients through the reference CNN equal the per-member grads", function()
    local CNN = dofile("examples/reference_cnn.lua")(nyto)
    local net = CNN()
    local members, stacks = population(net, 2, true)
    local x = nyto.randn(3, 1, 28, 28)
    local y = nyto.batched_forward(net, stacks, x)
    y:sum():backward()
    for i = 1, 2 do
      members[i](x):sum():backward()
      for pid, p in pairs(members[i]:kernel():params()) do H.assert_close(stacks[pid].grad[i], p.grad, 1e-4) end
    end
  end)

  it("a forward that cannot be batched runs as the loop, with the same values and one warning", function()
    local Net = nyto.class("BFItem")
    function Net:init() self.fc = nn.Linear(3, 2) end
    function Net:forward(x)
      local y = self.fc(x)
      return y * y:sum():item() -- item() reads one member's value: not batchable
    end
    local net = Net()
    local snap = snapshot(net)
    local w = check(net, 3, nyto.randn(4, 3))
    assert.are.equal(1, #w)
    assert.matches("^nyto: batched_forward: this forward cannot be batched; it ran as the per%-member loop", w[1])
    w = check(net, 3, nyto.randn(4, 3))
    assert.are.equal(0, #w) -- said once
    assert_unchanged(net, snap)
  end)

  it("an op without a batching rule (functorch's per-op loop) gives the loop's values and one warning", function()
    local Net = nyto.class("BFAny")
    function Net:init() self.fc = nn.Linear(3, 2) end
    function Net:forward(x)
      local y = self.fc(x)
      return y * y:gt(0):any():float() + 1 -- aten::any has no batching rule in libtorch 1.13
    end
    local w = check(Net(), 3, nyto.randn(4, 3))
    assert.are.equal(1, #w)
    assert.matches("^nyto: batched_forward: 1 op%(s%) of this forward have no batching rule and ran as a loop over members", w[1])
    assert.are.equal(0, #check(Net(), 3, nyto.randn(4, 3)))
  end)

  it("training-mode BatchNorm (writes its running statistics) falls back to the loop", function()
    local net = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4))
    local members, stacks = population(net, 2)
    local warnings = {}
    nyto.on_warning(function(m) warnings[#warnings + 1] = m end)
    local y = nyto.batched_forward(net, stacks, nyto.randn(5, 3))
    nyto.on_warning(nil)
    assert.are.same({2, 5, 4}, y:size())
    assert.are.equal(1, #warnings)
  end)

  describe("bad input raises a nyto: error and changes nothing", function()
    local net, members, stacks, snap
    before_each(function()
      net = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))
      members, stacks = population(net, 3)
      snap = snapshot(net)
    end)
    local function raises(pattern, ...)
      local e = H.err_of(nyto.batched_forward, ...)
      assert.matches(pattern, e, 1, true)
      assert_unchanged(net, snap)
    end

    it("a stack of the wrong leading size", function()
      stacks[3] = nyto.zeros(2, 2, 4)
      raises("nyto: bad argument #2 to 'batched_forward' (stack for '3.weight' has shape [2, 2, 4], expected [3, 2, 4])",
             net, stacks, nyto.randn(2, 3))
    end)
    it("a stack of the wrong shape", function()
      stacks[1] = nyto.zeros(3, 4, 5)
      raises("nyto: bad argument #2 to 'batched_forward' (stack for '1.weight' has shape [3, 4, 5], expected [3, 4, 3])",
             net, stacks, nyto.randn(2, 3))
    end)
    it("a missing parameter", function()
      stacks[2] = nil
      raises("nyto: bad argument #2 to 'batched_forward' (no stack for parameter 2 '1.bias')", net, stacks, nyto.randn(2, 3))
    end)
    it("a key that is not a parameter", function()
      stacks[99] = nyto.zeros(3, 1)
      raises("nyto: bad argument #2 to 'batched_forward' (id 99 is not a parameter of the module)", net, stacks, nyto.randn(2, 3))
    end)
    it("a wrong dtype", function()
      stacks[2] = nyto.zeros(3, 4, {dtype = "float64"})
      raises("nyto: bad argument #2 to 'batched_forward' (stack for '1.bias' is float64, the parameter is float32)",
             net, stacks, nyto.randn(2, 3))
    end)
    it("per_member input whose dim 1 is not n", function()
      raises("nyto: bad argument #3 to 'batched_forward' (per_member input's dim 1 must be the number of members 3, got shape [2, 3])",
             net, stacks, nyto.randn(2, 3), {per_member = true})
    end)
    it("not a module, not a tensor", function()
      raises("nyto: bad argument #1 to 'batched_forward' (Module expected, got number)", 1, stacks, nyto.randn(2, 3))
      raises("nyto: bad argument #3 to 'batched_forward' (Tensor expected, got table)", net, stacks, {})
    end)
    it("an error inside the forward propagates (from the loop as from a plain call) and restores the parameters", function()
      nyto.on_warning(function() end)
      local linear = F.linear
      raises("nyto: bad argument #1 to 'F.linear' (input's last dimension is 5 but weight expects 3", net, stacks, nyto.randn(2, 5))
      nyto.on_warning(nil)
      assert.are.equal(linear, F.linear) -- the fused linear is uninstalled on the error path
      -- a later call still works (the vmap layer was popped)
      local y = nyto.batched_forward(net, stacks, nyto.randn(2, 3))
      assert.are.same({3, 2, 2}, y:size())
    end)
  end)
end)

describe("fused ops for batched forwards (ops.def)", function()
  it("addmm, baddbmm, addbmm equal beta*input + alpha*products; movedim moves a dim", function()
    local a, m1, m2 = nyto.randn(3, 5), nyto.randn(3, 4), nyto.randn(4, 5)
    H.assert_close(nyto.addmm(a, m1, m2), a + m1:mm(m2), 1e-5)
    H.assert_close(a:addmm(m1, m2, 0.5, 2), a * 0.5 + m1:mm(m2) * 2, 1e-5)
    local b, b1, b2 = nyto.randn(2, 1, 5), nyto.randn(2, 3, 4), nyto.randn(2, 4, 5)
    H.assert_close(nyto.baddbmm(b, b1, b2), b + b1:bmm(b2), 1e-5)
    H.assert_close(nyto.baddbmm(b, b1, b2, 0, 3), b1:bmm(b2) * 3, 1e-5)
    H.assert_close(nyto.addbmm(a, b1, b2), a + b1:bmm(b2):sum(1), 1e-5)
    local t = nyto.randn(2, 3, 4)
    assert.are.same({3, 4, 2}, t:movedim(1, 3):size())
    H.assert_close(t:movedim(1, 3), t:permute{2, 3, 1}, 0)
  end)
  it("bad shapes raise nyto: errors", function()
    assert.matches("^nyto: bad argument #2 to .addmm. %(mat1 and mat2 shapes cannot be multiplied", H.err_of(nyto.addmm, nyto.randn(3, 5), nyto.randn(3, 4), nyto.randn(5, 5)))
    assert.matches("^nyto: bad argument", H.err_of(nyto.baddbmm, nyto.randn(2, 3, 5), nyto.randn(2, 3, 4), nyto.randn(3, 4, 5)))
  end)
end)
