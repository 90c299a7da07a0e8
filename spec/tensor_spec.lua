-- spec/tensor_spec.lua: nyto.Tensor, every function of API.md's "Tensors"
-- section.  Expected values are written out by hand or computed here in plain
-- Lua (never by nyto); expected printing is PyTorch 1.13's own output.
local nyto = require "nyto"

-- helpers ----------------------------------------------------------------------

-- the error message of f(...), which must fail
local function err(f, ...)
  local ok, e = pcall(f, ...)
  assert(not ok, "expected an error, got success")
  return e
end

-- compare nested tables of numbers (or booleans) with tolerance
local function near(a, b, tol, path)
  tol = tol or 1e-5
  path = path or "t"
  if type(b) == "table" then
    assert(type(a) == "table", path .. ": table expected, got " .. tostring(a))
    assert(#a == #b, ("%s: length %d, expected %d"):format(path, #a, #b))
    for i = 1, #b do near(a[i], b[i], tol, path .. "[" .. i .. "]") end
  elseif type(b) == "number" then
    assert(type(a) == "number", path .. ": number expected, got " .. tostring(a))
    if b ~= b then
      assert(a ~= a, path .. ": nan expected, got " .. a)
    elseif b == math.huge or b == -math.huge then
      assert(a == b, path .. (": %s expected, got %s"):format(b, a))
    else
      assert(math.abs(a - b) <= tol * math.max(1, math.abs(b)), ("%s: %.17g, expected %.17g"):format(path, a, b))
    end
  else
    assert(a == b, ("%s: %s, expected %s"):format(path, tostring(a), tostring(b)))
  end
end

-- assert that tensor t holds the values v (nested table or number)
local function values(t, v, tol) near(t:totable(), v, tol) end

-- exact comparison of nested tables, integer type included
local function exact(a, b, path)
  path = path or "t"
  if type(b) == "table" then
    assert(type(a) == "table" and #a == #b, path .. ": shape differs")
    for i = 1, #b do exact(a[i], b[i], path .. "[" .. i .. "]") end
  else
    assert(math.type(a) == math.type(b) and a == b,
           ("%s: %s (%s), expected %s (%s)"):format(path, tostring(a), math.type(a), tostring(b), math.type(b)))
  end
end

local function shape(t) return table.concat(t:size(), "x") end

-- plain-Lua matrix product, the reference for matmul/mm
local function lua_matmul(a, b)
  local n, k, m = #a, #b, #b[1]
  local c = {}
  for i = 1, n do
    c[i] = {}
    for j = 1, m do
      local s = 0
      for l = 1, k do s = s + a[i][l] * b[l][j] end
      c[i][j] = s
    end
  end
  return c
end

local function map(tab, f)
  local r = {}
  for i, v in ipairs(tab) do r[i] = type(v) == "table" and map(v, f) or f(v) end
  return r
end

-- constructors --------------------------------------------------------------

describe("tensor constructors", function()
  it("nyto.tensor builds from a number: a 0-d float32 tensor", function()
    local t = nyto.tensor(3.5)
    assert.equal(0, t:dim())
    assert.equal(1, t:numel())
    assert.equal("float32", t:dtype())
    assert.equal(3.5, t:item())
    assert.same({}, t:size())
  end)

  it("nyto.tensor builds from nested tables, row major", function()
    local t = nyto.tensor{{1, 2, 3}, {4, 5, 6}}
    assert.same({2, 3}, t:size())
    assert.equal("float32", t:dtype())
    values(t, {{1, 2, 3}, {4, 5, 6}})
    local e = nyto.tensor{}
    assert.same({0}, e:size())
    assert.same({}, e:totable())
  end)

  it("nyto.tensor takes {dtype=} and infers bool from booleans", function()
    assert.equal("float64", nyto.tensor({1, 2}, {dtype = "float64"}):dtype())
    local i = nyto.tensor({1, -2, 3}, {dtype = "int64"})
    assert.equal("int64", i:dtype())
    exact(i:totable(), {1, -2, 3})
    local b = nyto.tensor{true, false, true}
    assert.equal("bool", b:dtype())
    assert.same({true, false, true}, b:totable())
    -- int64 values are exact past 2^53 and truncate fractions toward zero
    exact(nyto.tensor({(1 << 53) + 1, math.maxinteger, math.mininteger}, {dtype = "int64"}):totable(),
          {(1 << 53) + 1, math.maxinteger, math.mininteger})
    exact(nyto.tensor({1.7, -1.7}, {dtype = "int64"}):totable(), {1, -1})
    -- float64 keeps a value float32 cannot hold
    assert.equal(0.1, nyto.tensor(0.1, {dtype = "float64"}):item())
    assert.not_equal(0.1, nyto.tensor(0.1):item())
  end)

  it("nyto.tensor takes {requires_grad=true}", function()
    local t = nyto.tensor({1, 2}, {requires_grad = true})
    assert.is_true(t:requires_grad())
    assert.is_false(nyto.tensor{1, 2}:requires_grad())
  end)

  it("zeros, ones take sizes as varargs or one table", function()
    for _, t in ipairs{nyto.zeros(2, 3), nyto.zeros{2, 3}} do
      assert.same({2, 3}, t:size())
      assert.equal("float32", t:dtype())
      values(t, {{0, 0, 0}, {0, 0, 0}})
    end
    for _, t in ipairs{nyto.ones(3, 1), nyto.ones{3, 1}} do values(t, {{1}, {1}, {1}}) end
    assert.is_true(nyto.equal(nyto.zeros(4), nyto.zeros{4}))
    -- no sizes: a 0-d tensor
    assert.equal(0, nyto.zeros():dim())
    assert.equal(0, nyto.ones{}:dim())
    assert.equal(1, nyto.ones{}:item())
    -- zero-sized dims are fine
    assert.same({2, 0}, nyto.zeros(2, 0):size())
  end)

  it("zeros, ones, full take {dtype=}", function()
    local z = nyto.zeros(2, {dtype = "int64"})
    assert.equal("int64", z:dtype())
    exact(z:totable(), {0, 0})
    assert.equal("float64", nyto.ones({2}, {dtype = "float64"}):dtype())
    assert.same({true, true}, nyto.ones(2, {dtype = "bool"}):totable())
    local f = nyto.full({2}, 7, {dtype = "int64"})
    exact(f:totable(), {7, 7})
  end)

  it("full(size, v) fills with v", function()
    values(nyto.full({2, 2}, 7.5), {{7.5, 7.5}, {7.5, 7.5}})
    values(nyto.full(2, 3, -1), {{-1, -1, -1}, {-1, -1, -1}})
  end)

  it("rand draws from [0, 1) and randn from a standard normal", function()
    local r = nyto.rand(100, 100)
    assert.same({100, 100}, r:size())
    assert.equal("float32", r:dtype())
    local flat = r:view(-1):totable()
    local lo, hi, sum = math.huge, -math.huge, 0
    for _, v in ipairs(flat) do
      lo, hi, sum = math.min(lo, v), math.max(hi, v), sum + v
    end
    assert.is_true(lo >= 0 and hi < 1)
    assert.is_true(math.abs(sum / #flat - 0.5) < 0.02)
    local n = nyto.randn{10000}:totable()
    local m, ss = 0, 0
    for _, v in ipairs(n) do m = m + v end
    m = m / #n
    for _, v in ipairs(n) do ss = ss + (v - m) ^ 2 end
    assert.is_true(math.abs(m) < 0.05)
    assert.is_true(math.abs(math.sqrt(ss / (#n - 1)) - 1) < 0.05)
    assert.equal("float64", nyto.randn(2, {dtype = "float64"}):dtype())
    assert.equal("float64", nyto.rand({2}, {dtype = "float64"}):dtype())
  end)

  it("arange(n | a, b [, step]): int64 from integers, float32 otherwise", function()
    local a = nyto.arange(5)
    assert.equal("int64", a:dtype())
    exact(a:totable(), {0, 1, 2, 3, 4})
    exact(nyto.arange(2, 6):totable(), {2, 3, 4, 5})
    exact(nyto.arange(10, 0, -3):totable(), {10, 7, 4, 1})
    local f = nyto.arange(0, 1, 0.25)
    assert.equal("float32", f:dtype())
    values(f, {0, 0.25, 0.5, 0.75})
    assert.equal("float32", nyto.arange(3.0):dtype())
    assert.equal("float64", nyto.arange(3, {dtype = "float64"}):dtype())
    assert.same({0}, nyto.arange(0):size())
  end)

  it("eye(n [, m])", function()
    values(nyto.eye(3), {{1, 0, 0}, {0, 1, 0}, {0, 0, 1}})
    values(nyto.eye(2, 3), {{1, 0, 0}, {0, 1, 0}})
    assert.equal("float32", nyto.eye(2):dtype())
  end)

  it("*_like keep the shape and dtype of their argument", function()
    local src = nyto.tensor({{1, 2, 3}, {4, 5, 6}}, {dtype = "float64"})
    local z, o, f = nyto.zeros_like(src), nyto.ones_like(src), nyto.full_like(src, 2.5)
    for _, t in ipairs{z, o, f, nyto.randn_like(src), nyto.rand_like(src)} do
      assert.same({2, 3}, t:size())
      assert.equal("float64", t:dtype())
    end
    values(z, {{0, 0, 0}, {0, 0, 0}})
    values(o, {{1, 1, 1}, {1, 1, 1}})
    values(f, {{2.5, 2.5, 2.5}, {2.5, 2.5, 2.5}})
    -- also methods, and int64 is kept
    local l = nyto.tensor({1, 2}, {dtype = "int64"}):zeros_like()
    assert.equal("int64", l:dtype())
    exact(l:totable(), {0, 0})
  end)
end)

-- dtypes --------------------------------------------------------------------

describe("tensor dtypes", function()
  it("float32 is the default; dtype() names it", function()
    assert.equal("float32", nyto.zeros(1):dtype())
    assert.equal("float32", nyto.tensor{1}:dtype())
  end)

  it("float(), double(), long() convert; long truncates toward zero", function()
    local t = nyto.tensor{2.7, -2.7, 0.5}
    assert.equal("float64", t:double():dtype())
    assert.equal("float32", t:double():float():dtype())
    local l = t:long()
    assert.equal("int64", l:dtype())
    exact(l:totable(), {2, -2, 0})
    assert.equal("float32", t:dtype(), "the receiver is unchanged")
    -- int64 and bool read back as Lua integers and booleans
    assert.equal("integer", math.type(nyto.tensor({5}, {dtype = "int64"}):item()))
    assert.equal("float", math.type(nyto.tensor{5}:item()))
    assert.equal(true, nyto.tensor(true):item())
    assert.equal("bool", nyto.tensor{0, 2}:bool():dtype())
    assert.same({false, true}, nyto.tensor{0, 2}:bool():totable())
  end)
end)

-- shape ---------------------------------------------------------------------

describe("tensor shape", function()
  local t -- 2x3x4 holding 0..23
  before_each(function() t = nyto.arange(24):float():view(2, 3, 4) end)

  it("size(), size(d) with negative d, dim(), numel(), #t", function()
    assert.same({2, 3, 4}, t:size())
    assert.equal(2, t:size(1))
    assert.equal(4, t:size(3))
    assert.equal(4, t:size(-1))
    assert.equal(2, t:size(-3))
    assert.equal(3, t:dim())
    assert.equal(24, t:numel())
    assert.equal(2, #t)
    assert.equal(5, #nyto.zeros(5))
  end)

  it("view and reshape, with one -1 inferred", function()
    local v = t:view(6, 4)
    assert.same({6, 4}, v:size())
    values(v[2], {4, 5, 6, 7})
    assert.same({4, 6}, t:view(4, -1):size())
    assert.same({24}, t:view(-1):size())
    assert.same({3, 8}, t:reshape{3, 8}:size())
    -- reshape copies where view cannot (a transposed tensor)
    local r = nyto.tensor{{1, 2}, {3, 4}}:t():reshape(4)
    values(r, {1, 3, 2, 4})
    -- a view shares storage with its base
    v:fill_(1)
    assert.equal(24, t:sum():item())
  end)

  it("flatten over all dims or from a dim", function()
    local f = t:flatten()
    assert.same({24}, f:size())
    values(f:narrow(1, 20, 5), {19, 20, 21, 22, 23})
    assert.same({2, 12}, t:flatten(2):size())
    assert.same({6, 4}, t:flatten(1, 2):size())
  end)

  it("transpose and permute move dims (1-based)", function()
    local m = nyto.tensor{{1, 2, 3}, {4, 5, 6}}
    values(m:transpose(1, 2), {{1, 4}, {2, 5}, {3, 6}})
    values(m:transpose(-1, 1), {{1, 4}, {2, 5}, {3, 6}})
    local p = t:permute{3, 1, 2}
    assert.same({4, 2, 3}, p:size())
    -- p[k][i][j] == t[i][j][k] == (i-1)*12 + (j-1)*4 + (k-1)
    local pt = p:totable()
    for k = 1, 4 do
      for i = 1, 2 do
        for j = 1, 3 do assert.equal((i - 1) * 12 + (j - 1) * 4 + (k - 1), pt[k][i][j]) end
      end
    end
    assert.is_false(p:is_contiguous())
    assert.same({4, 2, 3}, t:permute{-1, 1, 2}:size())
  end)

  it("squeeze and unsqueeze", function()
    local s = nyto.zeros(1, 3, 1)
    assert.same({3}, s:squeeze():size())
    assert.same({3, 1}, s:squeeze(1):size())
    assert.same({1, 3}, s:squeeze(-1):size())
    assert.same({1, 3, 1}, s:squeeze(2):size(), "a dim of size > 1 stays")
    local v = nyto.tensor{1, 2, 3}
    assert.same({1, 3}, v:unsqueeze(1):size())
    assert.same({3, 1}, v:unsqueeze(2):size())
    assert.same({3, 1}, v:unsqueeze(-1):size())
  end)

  it("narrow(dim, start, length) is a view", function()
    local v = nyto.arange(10)
    exact(v:narrow(1, 3, 4):totable(), {2, 3, 4, 5})
    exact(v:narrow(1, -2, 2):totable(), {8, 9})
    values(t:narrow(3, 2, 2)[1], {{1, 2}, {5, 6}, {9, 10}})
    v:narrow(1, 1, 3):fill_(-1)
    exact(v:totable(), {-1, -1, -1, 3, 4, 5, 6, 7, 8, 9})
    assert.same({0}, v:narrow(1, 10, 0):size(), "an empty narrow")
  end)

  it("select(dim, index) drops the dim", function()
    local m = nyto.tensor{{1, 2, 3}, {4, 5, 6}}
    values(m:select(1, 2), {4, 5, 6})
    values(m:select(2, 3), {3, 6})
    values(m:select(2, -1), {3, 6})
    assert.equal(5, m:select(1, 2):select(1, 2):item())
  end)

  it("t[i] is a view of row i; negative i counts from the end", function()
    local m = nyto.tensor{{1, 2, 3}, {4, 5, 6}}
    values(m[1], {1, 2, 3})
    values(m[-1], {4, 5, 6})
    assert.equal(6, m[2][3]:item())
    assert.equal(0, m[2][3]:dim())
    -- writing through a view changes the base
    m[1]:fill_(0)
    values(m, {{0, 0, 0}, {4, 5, 6}})
    m[2]:mul_(10)
    values(m, {{0, 0, 0}, {40, 50, 60}})
    m[2][1]:add_(1)
    assert.equal(41, m[2][1]:item())
    -- and assigning t[i] = number | tensor writes the row
    m[1] = 7
    m[2] = nyto.tensor{1, 2, 3}
    values(m, {{7, 7, 7}, {1, 2, 3}})
    m[1][2] = -5
    values(m, {{7, -5, 7}, {1, 2, 3}})
  end)

  it("nyto.cat and nyto.stack (dim defaults to 1)", function()
    local a, b = nyto.tensor{{1, 2}}, nyto.tensor{{3, 4}}
    values(nyto.cat({a, b}, 1), {{1, 2}, {3, 4}})
    values(nyto.cat({a, b}, 2), {{1, 2, 3, 4}})
    values(nyto.cat({a, b}), {{1, 2}, {3, 4}})
    values(nyto.cat({a, b}, -1), {{1, 2, 3, 4}})
    values(nyto.cat{nyto.tensor{1}, nyto.tensor{2, 3}}, {1, 2, 3})
    local x, y = nyto.tensor{1, 2}, nyto.tensor{3, 4}
    values(nyto.stack({x, y}), {{1, 2}, {3, 4}})
    values(nyto.stack({x, y}, 2), {{1, 3}, {2, 4}})
    values(nyto.stack({x, y}, -1), {{1, 3}, {2, 4}})
  end)

  it("contiguous, clone, copy_, fill_", function()
    local m = nyto.tensor{{1, 2}, {3, 4}}
    local tr = m:t()
    assert.is_false(tr:is_contiguous())
    local c = tr:contiguous()
    assert.is_true(c:is_contiguous())
    values(c, {{1, 3}, {2, 4}})
    local k = m:clone()
    k:fill_(0)
    values(m, {{1, 2}, {3, 4}}, 0, "clone does not share storage")
    local r = m:fill_(9)
    assert.equal(m, r, "fill_ returns its receiver")
    values(m, {{9, 9}, {9, 9}})
    local dst = nyto.zeros(2, 2)
    assert.equal(dst, dst:copy_(nyto.tensor{{1, 2}, {3, 4}}))
    values(dst, {{1, 2}, {3, 4}})
    dst:copy_(nyto.tensor{5, 6}) -- broadcasts
    values(dst, {{5, 6}, {5, 6}})
    dst:copy_(nyto.tensor({7, 8}, {dtype = "int64"})) -- converts
    values(dst, {{7, 8}, {7, 8}})
  end)
end)

-- math ----------------------------------------------------------------------

describe("tensor math", function()
  local a, b
  before_each(function()
    a = nyto.tensor{{1, 2, 3}, {4, 5, 6}}
    b = nyto.tensor{{6, 5, 4}, {3, 2, 1}}
  end)

  it("metamethods with a number on either side", function()
    values(a + 1, {{2, 3, 4}, {5, 6, 7}})
    values(1 + a, {{2, 3, 4}, {5, 6, 7}})
    values(a - 1, {{0, 1, 2}, {3, 4, 5}})
    values(10 - a, {{9, 8, 7}, {6, 5, 4}})
    values(a * 2, {{2, 4, 6}, {8, 10, 12}})
    values(2 * a, {{2, 4, 6}, {8, 10, 12}})
    values(a / 4, {{0.25, 0.5, 0.75}, {1, 1.25, 1.5}})
    values(12 / a, {{12, 6, 4}, {3, 2.4, 2}})
    values(a ^ 2, {{1, 4, 9}, {16, 25, 36}})
    values(2 ^ a, {{2, 4, 8}, {16, 32, 64}})
    values(-a, {{-1, -2, -3}, {-4, -5, -6}})
    values(a + 0.5, {{1.5, 2.5, 3.5}, {4.5, 5.5, 6.5}})
  end)

  it("metamethods between tensors, with broadcasting", function()
    values(a + b, {{7, 7, 7}, {7, 7, 7}})
    values(a - b, {{-5, -3, -1}, {1, 3, 5}})
    values(a * b, {{6, 10, 12}, {12, 10, 6}})
    values(a / b, {{1 / 6, 2 / 5, 3 / 4}, {4 / 3, 5 / 2, 6}})
    values(a ^ nyto.tensor{2, 1, 0}, {{1, 2, 1}, {16, 5, 1}})
    -- [2, 3] with [3], and [2, 1] with [1, 3]
    values(a + nyto.tensor{10, 20, 30}, {{11, 22, 33}, {14, 25, 36}})
    values(nyto.tensor{{1}, {2}} * nyto.tensor{{1, 2, 3}}, {{1, 2, 3}, {2, 4, 6}})
    values(nyto.tensor{10, 20, 30} - a, {{9, 18, 27}, {6, 15, 24}})
    -- a 0-d tensor broadcasts everywhere
    values(a * nyto.tensor(2), {{2, 4, 6}, {8, 10, 12}})
    -- operands are not changed
    values(a, {{1, 2, 3}, {4, 5, 6}})
  end)

  it("int64 arithmetic stays integral; division gives floats", function()
    local i = nyto.tensor({7, -7}, {dtype = "int64"})
    exact((i + 1):totable(), {8, -6})
    exact((i * 2):totable(), {14, -14})
    assert.equal("float32", (i / 2):dtype())
    values(i / 2, {3.5, -3.5})
    assert.equal("float32", (i + 0.5):dtype())
  end)

  it("== is identity, not elementwise", function()
    local c = a
    assert.is_true(a == c)
    assert.is_false(a == a:clone())
    assert.is_false(nyto.tensor{1} == nyto.tensor{1})
  end)

  it("eq ne lt le gt ge give bool tensors", function()
    local x, y = nyto.tensor{1, 2, 3}, nyto.tensor{3, 2, 1}
    assert.equal("bool", x:eq(y):dtype())
    assert.same({false, true, false}, x:eq(y):totable())
    assert.same({true, false, true}, x:ne(y):totable())
    assert.same({true, false, false}, x:lt(y):totable())
    assert.same({true, true, false}, x:le(y):totable())
    assert.same({false, false, true}, x:gt(y):totable())
    assert.same({false, true, true}, x:ge(y):totable())
    assert.same({false, true, true}, x:gt(1.5):totable())
    assert.same({true, false, false}, nyto.lt(x, 2):totable())
  end)

  it("nyto.equal: same shape and values", function()
    assert.is_true(nyto.equal(nyto.tensor{1, 2}, nyto.tensor{1, 2}))
    assert.is_false(nyto.equal(nyto.tensor{1, 2}, nyto.tensor{1, 3}))
    assert.is_false(nyto.equal(nyto.tensor{1, 2}, nyto.tensor{{1, 2}}))
    assert.is_false(nyto.equal(nyto.tensor{0 / 0}, nyto.tensor{0 / 0}))
    assert.is_true(nyto.equal(nyto.zeros(0), nyto.zeros(0)))
    assert.is_true(a:equal(a:clone()))
  end)

  it("allclose(u [, rtol, atol])", function()
    local x = nyto.tensor{1, 2, 3}
    assert.is_true(x:allclose(x + 1e-6))
    assert.is_false(x:allclose(x + 1e-3))
    assert.is_true(x:allclose(x + 1e-3, 1e-3))
    assert.is_true(x:allclose(x + 0.1, 0, 0.11))
    assert.is_false(x:allclose(x + 0.1, 0, 0.09))
    assert.is_true(nyto.tensor{math.huge}:allclose(nyto.tensor{math.huge}))
    assert.is_false(nyto.tensor{0 / 0}:allclose(nyto.tensor{0 / 0}))
    assert.is_true(nyto.allclose(x, x:double()))
  end)

  it("add sub mul div pow with tensors and numbers; add/sub take alpha", function()
    values(a:add(b), {{7, 7, 7}, {7, 7, 7}})
    values(a:add(1), {{2, 3, 4}, {5, 6, 7}})
    values(a:add(b, 2), {{13, 12, 11}, {10, 9, 8}})
    values(a:sub(b), {{-5, -3, -1}, {1, 3, 5}})
    values(a:sub(1, 3), {{-2, -1, 0}, {1, 2, 3}})
    values(a:mul(b), {{6, 10, 12}, {12, 10, 6}})
    values(a:div(2), {{0.5, 1, 1.5}, {2, 2.5, 3}})
    values(a:pow(0.5), map({{1, 2, 3}, {4, 5, 6}}, math.sqrt))
    values(nyto.add(a, 1), {{2, 3, 4}, {5, 6, 7}})
  end)

  it("unary functions match plain Lua math", function()
    local xs = {-2.5, -0.5, 0, 0.25, 1.5, 3}
    local x = nyto.tensor(xs)
    local function sigmoid(v) return 1 / (1 + math.exp(-v)) end
    local function tanh(v) return (math.exp(v) - math.exp(-v)) / (math.exp(v) + math.exp(-v)) end
    local function sign(v) return v > 0 and 1 or v < 0 and -1 or 0 end
    values(x:neg(), map(xs, function(v) return -v end))
    values(x:abs(), map(xs, math.abs))
    values(x:exp(), map(xs, math.exp))
    values(x:sin(), map(xs, math.sin))
    values(x:cos(), map(xs, math.cos))
    values(x:tanh(), map(xs, tanh))
    values(x:sigmoid(), map(xs, sigmoid))
    values(x:relu(), map(xs, function(v) return math.max(v, 0) end))
    values(x:sign(), map(xs, sign))
    values(x:floor(), map(xs, math.floor))
    values(x:clamp(-1, 1), map(xs, function(v) return math.min(math.max(v, -1), 1) end))
    values(x:clamp(0), map(xs, function(v) return math.max(v, 0) end))
    values(x:clamp(nil, 0), map(xs, function(v) return math.min(v, 0) end))
    local pos = {0.25, 1, 2, 9}
    local p = nyto.tensor(pos)
    values(p:log(), map(pos, math.log))
    values(p:sqrt(), map(pos, math.sqrt))
    values(nyto.tensor{-1}:sqrt(), {0 / 0})
    values(nyto.tensor{0}:log(), {-math.huge})
    values(nyto.exp(p), map(pos, math.exp))
  end)

  it("the _ forms change their receiver and return it", function()
    local xs = {-1.5, 0.5, 2}
    local function check(name, f, args)
      local x = nyto.tensor(xs)
      local r = x[name](x, table.unpack(args or {}))
      assert.equal(x, r, name .. " returns its receiver")
      values(x, map(xs, f))
    end
    check("add_", function(v) return v + 2 end, {2})
    check("sub_", function(v) return v - 2 end, {2})
    check("mul_", function(v) return v * 3 end, {3})
    check("div_", function(v) return v / 4 end, {4})
    check("pow_", function(v) return v * v end, {2})
    check("neg_", function(v) return -v end)
    check("abs_", math.abs)
    check("exp_", math.exp)
    check("sin_", math.sin)
    check("cos_", math.cos)
    check("tanh_", function(v) return (math.exp(2 * v) - 1) / (math.exp(2 * v) + 1) end)
    check("sigmoid_", function(v) return 1 / (1 + math.exp(-v)) end)
    check("relu_", function(v) return math.max(v, 0) end)
    check("sign_", function(v) return v > 0 and 1 or -1 end)
    check("floor_", math.floor)
    check("clamp_", function(v) return math.min(math.max(v, 0), 1) end, {0, 1})
    local p = nyto.tensor{1, 4}
    p:sqrt_()
    values(p, {1, 2})
    p:log_()
    values(p, {0, math.log(2)})
    local t = nyto.tensor{1, 2}
    t:add_(nyto.tensor{10, 20}):mul_(nyto.tensor{2, 3})
    values(t, {22, 66})
  end)

  it("reductions over everything", function()
    -- a = {{1,2,3},{4,5,6}}: sum 21, mean 3.5, sum of squared deviations 17.5
    assert.equal(21, a:sum():item())
    assert.equal(0, a:sum():dim())
    assert.equal(3.5, a:mean():item())
    assert.equal(6, a:max():item())
    assert.equal(1, a:min():item())
    assert.equal(6, a:argmax():item(), "1-based flat index")
    assert.equal(1, a:argmin():item())
    near(a:var():item(), 17.5 / 5)
    near(a:std():item(), math.sqrt(17.5 / 5))
    near(a:norm():item(), math.sqrt(1 + 4 + 9 + 16 + 25 + 36))
    near(a:norm(1):item(), 21)
    exact(nyto.tensor({1, 2, 3}, {dtype = "int64"}):sum():item(), 6)
    assert.equal(2, nyto.tensor({1, 2, 3}, {dtype = "int64"}):mean():item())
  end)

  it("reductions over a dim (1-based, negative from the end, keepdim)", function()
    values(a:sum(1), {5, 7, 9})
    values(a:sum(2), {6, 15})
    values(a:sum(-1), {6, 15})
    assert.same({1, 3}, a:sum(1, true):size())
    assert.same({2, 1}, a:sum(2, true):size())
    values(a:mean(1), {2.5, 3.5, 4.5})
    values(a:mean(2), {2, 5})
    values(a:var(1), {4.5, 4.5, 4.5})
    values(a:var(2), {1, 1})
    values(a:std(1), {math.sqrt(4.5), math.sqrt(4.5), math.sqrt(4.5)})
    values(a:norm(2, 2), {math.sqrt(14), math.sqrt(77)})
    values(a:norm(1, 1), {5, 7, 9})
    exact(a:argmax(2):totable(), {3, 3})
    exact(a:argmin(1):totable(), {1, 1, 1})
  end)

  it("max and min over a dim return values and 1-based indices", function()
    local m = nyto.tensor{{3, 9, 1}, {7, 2, 8}}
    local v, i = m:max(2)
    values(v, {9, 8})
    exact(i:totable(), {2, 3})
    assert.equal("int64", i:dtype())
    v, i = m:min(1)
    values(v, {3, 2, 1})
    exact(i:totable(), {1, 2, 1})
    v, i = m:max(1, true)
    assert.same({1, 3}, v:size())
    exact(i:totable(), {{2, 1, 2}})
    v, i = m:min(-1)
    values(v, {1, 2})
    exact(i:totable(), {3, 2})
  end)

  it("matmul and mm against a plain Lua product", function()
    local A = {{1, 2, 3}, {4, 5, 6}}
    local B = {{7, 8}, {9, 10}, {11, 12}}
    local C = lua_matmul(A, B)
    values(nyto.tensor(A):matmul(nyto.tensor(B)), C)
    values(nyto.tensor(A):mm(nyto.tensor(B)), C)
    values(nyto.matmul(nyto.tensor(A), nyto.tensor(B)), C)
    -- matrix x vector, vector x vector
    values(nyto.tensor(A):matmul(nyto.tensor{1, 0, -1}), {1 - 3, 4 - 6})
    values(nyto.tensor{1, 2, 3}:matmul(nyto.tensor{4, 5, 6}), 32)
    -- a larger product, against a nested loop
    local P, Q = {}, {}
    for i = 1, 5 do
      P[i] = {}
      for j = 1, 7 do P[i][j] = (i * 3 + j * 5) % 11 - 5 end
    end
    for i = 1, 7 do
      Q[i] = {}
      for j = 1, 4 do Q[i][j] = (i * 7 - j * 2) % 13 - 6 end
    end
    values(nyto.tensor(P, {dtype = "float64"}):mm(nyto.tensor(Q, {dtype = "float64"})), lua_matmul(P, Q), 0)
  end)

  it("item and totable", function()
    assert.equal(7, nyto.tensor{{7}}:item())
    assert.equal(2.5, nyto.tensor(2.5):item())
    local tt = a:totable()
    assert.same({{1, 2, 3}, {4, 5, 6}}, tt)
    assert.equal("float", math.type(tt[1][1]))
    assert.equal(5, nyto.tensor(5):totable())
    assert.same({{}, {}}, nyto.zeros(2, 0):totable())
  end)
end)

describe("tostring prints like PyTorch", function()
  -- expected strings: PyTorch 1.13's repr of the same tensors (dtype suffixes
  -- name nyto's dtypes: "dtype=float64" where PyTorch says "dtype=torch.float64")
  local cases = {
    {function() return nyto.tensor{{1, 2}, {3, 4}} end, "tensor([[1., 2.],\n        [3., 4.]])"},
    {function() return nyto.tensor(3.5) end, "tensor(3.5000)"},
    {function() return nyto.tensor{1.5, -2.25, 3} end, "tensor([ 1.5000, -2.2500,  3.0000])"},
    {function() return nyto.tensor{1e-5, 1} end, "tensor([1.0000e-05, 1.0000e+00])"},
    {function() return nyto.tensor{123456, 1.5} end, "tensor([1.2346e+05, 1.5000e+00])"},
    {function() return nyto.tensor{0.5, 500.5} end, "tensor([5.0000e-01, 5.0050e+02])"},
    {function() return nyto.tensor{1e8, 1} end, "tensor([1.0000e+08, 1.0000e+00])"},
    {function() return nyto.tensor{0 / 0, 1.5, math.huge} end, "tensor([   nan, 1.5000,    inf])"},
    {function() return nyto.tensor{0 / 0, 1, -math.huge} end, "tensor([nan, 1., -inf])"},
    {function() return nyto.tensor{-0.0, 1} end, "tensor([-0., 1.])"},
    {function() return nyto.tensor({{1, 2}, {3, -40}}, {dtype = "int64"}) end, "tensor([[  1,   2],\n        [  3, -40]])"},
    {function() return nyto.tensor{true, false} end, "tensor([ True, False])"},
    {function() return nyto.tensor(true) end, "tensor(True)"},
    {function() return nyto.tensor({1.5, 2}, {dtype = "float64"}) end, "tensor([1.5000, 2.0000], dtype=float64)"},
    {function() return nyto.zeros(0) end, "tensor([])"},
    {function() return nyto.zeros(2, 0) end, "tensor([], size=(2, 0))"},
    {function() return nyto.zeros(0, {dtype = "int64"}) end, "tensor([], dtype=int64)"},
    {function() return nyto.arange(24.0):view(2, 3, 4) end,
     "tensor([[[ 0.,  1.,  2.,  3.],\n         [ 4.,  5.,  6.,  7.],\n         [ 8.,  9., 10., 11.]],\n\n" ..
     "        [[12., 13., 14., 15.],\n         [16., 17., 18., 19.],\n         [20., 21., 22., 23.]]])"},
    {function() return nyto.arange(30.0) end,
     "tensor([ 0.,  1.,  2.,  3.,  4.,  5.,  6.,  7.,  8.,  9., 10., 11., 12., 13.,\n" ..
     "        14., 15., 16., 17., 18., 19., 20., 21., 22., 23., 24., 25., 26., 27.,\n        28., 29.])"},
    {function() return nyto.arange(2000.0) end,
     "tensor([0.0000e+00, 1.0000e+00, 2.0000e+00,  ..., 1.9970e+03, 1.9980e+03,\n        1.9990e+03])"},
    {function() return nyto.arange(2000):view(40, 50) end,
     "tensor([[   0,    1,    2,  ...,   47,   48,   49],\n" ..
     "        [  50,   51,   52,  ...,   97,   98,   99],\n" ..
     "        [ 100,  101,  102,  ...,  147,  148,  149],\n" ..
     "        ...,\n" ..
     "        [1850, 1851, 1852,  ..., 1897, 1898, 1899],\n" ..
     "        [1900, 1901, 1902,  ..., 1947, 1948, 1949],\n" ..
     "        [1950, 1951, 1952,  ..., 1997, 1998, 1999]])"},
    {function() return nyto.ones(2, {requires_grad = true}) end, "tensor([1., 1.], requires_grad=True)"},
    {function() return nyto.ones(3, 3, {requires_grad = true}) * nyto.ones(3, 3) end,
     "tensor([[1., 1., 1.],\n        [1., 1., 1.],\n        [1., 1., 1.]], grad_fn=<MulBackward0>)"},
    {function() return nyto.full({1, 15}, 1.2345, {requires_grad = true}) * nyto.ones(1) end,
     "tensor([[1.2345, 1.2345, 1.2345, 1.2345, 1.2345, 1.2345, 1.2345, 1.2345, 1.2345,\n" ..
     "         1.2345, 1.2345, 1.2345, 1.2345, 1.2345, 1.2345]],\n       grad_fn=<MulBackward0>)"},
    {function() return (nyto.ones(2, {requires_grad = true}) * nyto.ones(2)):sum() end, "tensor(2., grad_fn=<SumBackward0>)"},
    {function() return nyto.Parameter(nyto.ones(2)) end, "Parameter containing:\ntensor([1., 1.], requires_grad=True)"},
  }
  for i, c in ipairs(cases) do
    it("case " .. i .. ": " .. c[2]:match("^[^\n]*"), function() assert.equal(c[2], tostring(c[1]())) end)
  end
end)

-- autograd ------------------------------------------------------------------

describe("tensor autograd", function()
  it("nyto.Parameter is a leaf that requires grad and shares its argument's data", function()
    local src = nyto.tensor{1, 2}
    local p = nyto.Parameter(src)
    assert.is_true(p:requires_grad())
    assert.is_true(p:is_leaf())
    assert.is_true(nyto.is_parameter(p))
    assert.is_false(src:requires_grad(), "the argument is not changed")
    src:fill_(5)
    values(p, {5, 5})
    assert.is_false(nyto.Parameter(nyto.ones(1), false):requires_grad())
  end)

  it("requires_grad and requires_grad_", function()
    local t = nyto.tensor{1, 2}
    assert.is_false(t:requires_grad())
    assert.equal(t, t:requires_grad_())
    assert.is_true(t:requires_grad())
    t:requires_grad_(false)
    assert.is_false(t:requires_grad())
    t:requires_grad_(true)
    assert.is_true((t * 2):requires_grad())
    assert.is_false((t * 2):is_leaf())
  end)

  it("backward fills .grad with the gradient; .grad is nil before", function()
    local x = nyto.Parameter(nyto.tensor{1, 2, 3})
    assert.is_nil(x.grad)
    -- L = sum(x^2 * 3 + 2x) => dL/dx = 6x + 2
    local loss = (x * x * 3 + x * 2):sum()
    loss:backward()
    values(x.grad, {8, 14, 20})
    -- gradients accumulate over backward calls
    ;(x * 5):sum():backward()
    values(x.grad, {13, 19, 25})
  end)

  it("backward through matmul, mean, sigmoid", function()
    local w = nyto.Parameter(nyto.tensor{{1, 2}, {3, 4}})
    local v = nyto.tensor{1, -1}
    -- y = w v = {-1, -1}; L = mean(y) => dL/dw[i][j] = v[j] / 2
    w:matmul(v):mean():backward()
    values(w.grad, {{0.5, -0.5}, {0.5, -0.5}})
    local z = nyto.Parameter(nyto.tensor{0.5})
    z:sigmoid():sum():backward()
    local s = 1 / (1 + math.exp(-0.5))
    values(z.grad, {s * (1 - s)})
  end)

  it("backward takes a gradient for a non-scalar", function()
    local x = nyto.Parameter(nyto.tensor{1, 2})
    ;(x * x):backward(nyto.tensor{1, 10})
    values(x.grad, {2, 40})
  end)

  it("zero_grad_ clears .grad to nil and returns the tensor", function()
    local x = nyto.Parameter(nyto.tensor{1, 2})
    x:sum():backward()
    assert.is_not_nil(x.grad)
    assert.equal(x, x:zero_grad_())
    assert.is_nil(x.grad)
  end)

  it("detach shares data and drops history", function()
    local x = nyto.Parameter(nyto.tensor{1, 2})
    local y = x * 2
    local d = y:detach()
    assert.is_false(d:requires_grad())
    assert.is_true(d:is_leaf())
    values(d, {2, 4})
    local xd = x:detach()
    xd:fill_(7)
    values(x, {7, 7})
  end)

  it("no_grad(fn, ...) runs fn without recording and returns its results", function()
    local x = nyto.Parameter(nyto.tensor{1, 2})
    local r1, r2, r3 = nyto.no_grad(function(a, b)
      return (x * a):requires_grad(), nyto.is_grad_enabled(), b
    end, 3, "b")
    assert.is_false(r1)
    assert.is_false(r2)
    assert.equal("b", r3)
    assert.is_true(nyto.is_grad_enabled())
    assert.is_true((x * 2):requires_grad())
    -- results, nils included
    local n = select("#", nyto.no_grad(function() return 1, nil, 3, nil end))
    assert.equal(4, n)
  end)

  it("no_grad restores grad mode when fn errors, and re-raises the very value", function()
    local e = err(nyto.no_grad, function() error("boom", 0) end)
    assert.equal("boom", e)
    assert.is_true(nyto.is_grad_enabled())
    local obj = {}
    assert.equal(obj, err(nyto.no_grad, function() error(obj) end))
    assert.is_true(nyto.is_grad_enabled())
    -- nested, and inside a grad-disabled region it stays disabled
    nyto.no_grad(function()
      nyto.no_grad(function() end)
      assert.is_false(nyto.is_grad_enabled())
      pcall(nyto.no_grad, function() error("x") end)
      assert.is_false(nyto.is_grad_enabled())
    end)
    assert.is_true(nyto.is_grad_enabled())
  end)
end)

-- randomness ----------------------------------------------------------------

describe("nyto.manual_seed", function()
  it("makes random draws reproducible", function()
    nyto.manual_seed(42)
    local a, b, c = nyto.randn(5), nyto.rand(2, 2), nyto.randn_like(nyto.zeros(3))
    nyto.manual_seed(42)
    assert.is_true(nyto.equal(a, nyto.randn(5)))
    assert.is_true(nyto.equal(b, nyto.rand(2, 2)))
    assert.is_true(nyto.equal(c, nyto.randn_like(nyto.zeros(3))))
    nyto.manual_seed(43)
    assert.is_false(nyto.equal(a, nyto.randn(5)))
  end)
end)

-- lifetime ------------------------------------------------------------------

describe("tensor lifetime", function()
  local FREED = "nyto: attempt to use a freed Tensor"

  it("free() releases now; every later use raises; free twice is fine", function()
    local t = nyto.ones(2)
    t:free()
    t:free()
    assert.equal(FREED, err(function() return t + 1 end))
    assert.equal(FREED, err(function() return 1 - t end))
    assert.equal(FREED, err(function() return -t end))
    assert.equal(FREED, err(function() return #t end))
    assert.equal(FREED, err(function() return t[1] end))
    assert.equal(FREED, err(function() t[1] = 0 end))
    assert.equal(FREED, err(function() return t.grad end))
    assert.equal(FREED, err(t.size, t))
    assert.equal(FREED, err(t.item, t))
    assert.equal(FREED, err(t.exp, t))
    assert.equal(FREED, err(t.add_, t, 1))
    assert.equal(FREED, err(nyto.add, nyto.ones(2), t))
    assert.equal(FREED, err(nyto.cat, {t}))
    assert.equal(FREED, err(nyto.equal, t, t))
    assert.equal(FREED, err(nyto.Parameter, t))
    assert.equal("Tensor", nyto.type(t))
    assert.equal("Tensor(freed)", tostring(t))
  end)

  it("local t <close> frees at the end of the scope", function()
    local keep
    do
      local t <close> = nyto.ones(3)
      keep = t
      assert.equal(3, t:sum():item())
    end
    assert.equal(FREED, err(keep.sum, keep))
  end)

  it("a view outlives the freed base", function()
    local base = nyto.tensor{1, 2, 3}
    local v = base:narrow(1, 2, 2)
    base:free()
    values(v, {2, 3})
  end)

  it("__gc releases unreachable tensors", function()
    collectgarbage()
    collectgarbage()
    local before = nyto.stats().tensors
    do
      for _ = 1, 50 do local _ = nyto.ones(10) + 1 end
    end
    collectgarbage()
    collectgarbage()
    assert.equal(before, nyto.stats().tensors)
  end)
end)

describe("nyto.type", function()
  it("names nyto objects and returns nil for anything else, without raising", function()
    assert.equal("Tensor", nyto.type(nyto.zeros(1)))
    assert.equal("Tensor", nyto.type(nyto.Parameter(nyto.zeros(1))))
    assert.is_nil(nyto.type(1))
    assert.is_nil(nyto.type("Tensor"))
    assert.is_nil(nyto.type({}))
    assert.is_nil(nyto.type(nil))
    assert.is_nil(nyto.type(io.stdout))
    assert.is_nil(nyto.type(setmetatable({}, {__index = function() error("no") end, __metatable = false})))
    assert.is_nil(nyto.type())
  end)
end)

-- bad input -----------------------------------------------------------------

describe("tensor bad input raises a nyto error naming the argument", function()
  local m
  before_each(function() m = nyto.ones(2, 3) end)

  -- wrong types
  it("a string size", function()
    assert.equal("nyto: bad argument #1 to 'zeros' (integer size expected, got string)", err(nyto.zeros, "2"))
  end)
  it("a fractional size", function()
    assert.equal("nyto: bad argument #2 to 'ones' (integer size expected, got 2.5)", err(nyto.ones, 2, 2.5))
  end)
  it("a size table holding a string", function()
    assert.equal("nyto: bad argument #1 to 'zeros' (size 2 must be an integer, got string)", err(nyto.zeros, {2, "3"}))
  end)
  it("tensor of a string", function()
    assert.equal("nyto: bad argument #1 to 'tensor' (number or table expected, got string)", err(nyto.tensor, "1"))
  end)
  it("tensor of a table holding a string", function()
    assert.equal("nyto: bad argument #1 to 'tensor' (numbers or booleans expected, got string)", err(nyto.tensor, {1, "2"}))
  end)
  it("tensor of a ragged table", function()
    assert.equal("nyto: bad argument #1 to 'tensor' (ragged nested table: length 1 at depth 2, expected 2)",
                 err(nyto.tensor, {{1, 2}, {3}}))
  end)
  it("tensor mixing booleans and numbers", function()
    assert.equal("nyto: bad argument #1 to 'tensor' (mixes booleans and numbers)", err(nyto.tensor, {true, 1}))
  end)
  it("an unknown dtype", function()
    assert.equal("nyto: bad argument #2 to 'zeros' (dtype must be \"float32\", \"float64\", \"int64\" or \"bool\", got \"float16\")",
                 err(nyto.zeros, 2, {dtype = "float16"}))
  end)
  it("a non-table options argument", function()
    assert.equal("nyto: bad argument #2 to 'tensor' (options table expected, got string)", err(nyto.tensor, {1}, "int64"))
  end)
  it("a non-number fill value", function()
    assert.equal("nyto: bad argument #2 to 'full' (number expected, got function)", err(nyto.full, {2}, print))
  end)
  it("a non-tensor where a tensor is expected", function()
    assert.equal("nyto: bad argument #2 to 'matmul' (Tensor expected, got number)", err(m.matmul, m, 3))
    assert.equal("nyto: bad argument #1 to 'zeros_like' (Tensor expected, got table)", err(nyto.zeros_like, {}))
    assert.equal("nyto: bad argument #1 to 'Parameter' (Tensor expected, got nil)", err(nyto.Parameter, nil))
    assert.equal("nyto: bad argument #1 to 'exp' (Tensor expected, got string)", err(nyto.exp, "1"))
    assert.equal("nyto: bad argument #2 to 'equal' (Tensor expected, got number)", err(nyto.equal, m, 1))
    assert.equal("nyto: bad argument #2 to 'allclose' (Tensor expected, got table)", err(m.allclose, m, {}))
  end)
  it("a table arithmetic operand", function()
    assert.equal("nyto: bad argument #2 to '__mul' (number or Tensor expected, got table)", err(function() return m * {} end))
  end)
  it("a string dim", function()
    assert.equal("nyto: bad argument #2 to 'sum' (dimension must be an integer, got string)", err(m.sum, m, "1"))
  end)
  it("a non-boolean keepdim", function()
    assert.equal("nyto: bad argument #3 to 'max' (boolean expected, got number)", err(m.max, m, 1, 1))
  end)
  it("a non-table permutation", function()
    assert.equal("nyto: bad argument #2 to 'permute' (table of integers expected, got number)", err(m.permute, m, 2, 1))
  end)
  it("a non-list to cat", function()
    assert.equal("nyto: bad argument #1 to 'cat' (table of Tensors expected, got userdata)", err(nyto.cat, m))
    assert.equal("nyto: bad argument #1 to 'stack' (element 2 is a number, not a Tensor)", err(nyto.stack, {m, 1}))
    assert.equal("nyto: bad argument #1 to 'cat' (non-empty list of tensors expected)", err(nyto.cat, {}))
  end)
  it("a non-boolean requires_grad_ flag", function()
    assert.equal("nyto: bad argument #2 to 'requires_grad_' (boolean expected, got string)", err(m.requires_grad_, m, "yes"))
  end)
  it("a non-function to no_grad", function()
    assert.equal("nyto: bad argument #1 to 'no_grad' (function expected, got number)", err(nyto.no_grad, 1))
  end)
  it("a non-integer seed", function()
    assert.equal("nyto: bad argument #1 to 'manual_seed' (seed must be an integer)", err(nyto.manual_seed, 1.5))
  end)
  it("an unknown field assignment", function()
    assert.equal("nyto: bad argument #2 to '__newindex' (cannot set field 'foo' of a Tensor)", err(function() m.foo = 1 end))
  end)
  it("a grad of the wrong shape", function()
    local p = nyto.Parameter(nyto.ones(3))
    assert.equal("nyto: bad argument #3 to '__newindex' (assigned grad has shape [2], the tensor has shape [3])",
                 err(function() p.grad = nyto.ones(2) end))
  end)

  -- wrong arity
  it("too many arguments to an op", function()
    assert.equal("nyto: bad argument #2 to 'exp' (no value expected: at most 1 argument, got 2)", err(m.exp, m, 1))
    assert.equal("nyto: bad argument #4 to 'add' (no value expected: at most 3 arguments, got 4)", err(m.add, m, 1, 1, 1))
    assert.equal("nyto: bad argument #3 to 'view' (no value expected: at most 2 arguments, got 3)", err(m.view, m, {6}, 1))
  end)
  it("too many arguments to a method", function()
    assert.equal("nyto: bad argument #2 to 'item' (no value expected: at most 1 argument, got 2)", err(m.item, m, 1))
    assert.equal("nyto: bad argument #3 to 'size' (no value expected: at most 2 arguments, got 3)", err(m.size, m, 1, 2))
    assert.equal("nyto: bad argument #3 to 'equal' (no value expected: at most 2 arguments)", err(nyto.equal, m, m, m))
    assert.equal("nyto: bad argument #3 to 'tensor' (no value expected: at most 2 arguments, got 3)", err(nyto.tensor, {1}, nil, 1))
  end)
  it("too few arguments", function()
    assert.equal("nyto: bad argument #2 to 'add' (number or Tensor expected, got no value)", err(m.add, m))
    assert.equal("nyto: bad argument #3 to 'transpose' (dimension must be an integer, got no value)", err(m.transpose, m, 1))
    assert.equal("nyto: bad argument #2 to 'full' (fill value expected)", err(nyto.full, {2}))
    assert.equal("nyto: bad argument #1 to 'arange' (number expected, got no value)", err(nyto.arange))
  end)

  -- out of range
  it("a dim out of range", function()
    assert.equal("nyto: bad argument #2 to 'size' (dimension 3 out of range for a 2-d tensor)", err(m.size, m, 3))
    assert.equal("nyto: bad argument #2 to 'size' (dimension 0 out of range for a 2-d tensor)", err(m.size, m, 0))
    assert.equal("nyto: bad argument #2 to 'sum' (dimension -3 out of range for a 2-d tensor)", err(m.sum, m, -3))
    assert.equal("nyto: bad argument #3 to 'transpose' (dimension 3 out of range for a 2-d tensor)", err(m.transpose, m, 1, 3))
    assert.equal("nyto: bad argument #2 to 'unsqueeze' (dimension 4 out of range for a 2-d tensor)", err(m.unsqueeze, m, 4))
    assert.equal("nyto: bad argument #2 to 'cat' (dimension 3 out of range for a 2-d tensor)", err(nyto.cat, {m, m}, 3))
    assert.equal("nyto: bad argument #2 to 'max' (dimension 5 out of range for a 2-d tensor)", err(m.max, m, 5))
  end)
  it("a permutation that is not one", function()
    assert.equal("nyto: bad argument #2 to 'permute' (dimension 1 repeated)", err(m.permute, m, {1, 1}))
    assert.equal("nyto: bad argument #2 to 'permute' (2 dims expected for a 2-d tensor, got 1)", err(m.permute, m, {1}))
  end)
  it("an index out of range", function()
    assert.equal("nyto: bad argument #2 to '__index' (index 3 out of range for dimension 1 of size 2)", err(function() return m[3] end))
    assert.equal("nyto: bad argument #2 to '__index' (index 0 out of range for dimension 1 of size 2)", err(function() return m[0] end))
    assert.equal("nyto: bad argument #2 to '__index' (index -3 out of range for dimension 1 of size 2)", err(function() return m[-3] end))
    assert.equal("nyto: bad argument #2 to '__index' (integer index expected, got 1.5)", err(function() return m[1.5] end))
    assert.equal("nyto: bad argument #3 to 'select' (index 4 out of range for dimension 2 of size 3)", err(m.select, m, 2, 4))
    assert.equal("nyto: bad argument #3 to 'narrow' (index 0 out of range for dimension 1 of size 2)", err(m.narrow, m, 1, 0, 1))
    assert.equal("nyto: bad argument #4 to 'narrow' (length 3 out of range: 2 elements are left in dimension 2 of size 3 from index 2)",
                 err(m.narrow, m, 2, 2, 3))
    assert.equal("nyto: bad argument #1 to '__index' (a 0-d tensor cannot be indexed)", err(function() return nyto.tensor(1)[1] end))
    assert.equal("nyto: bad argument #1 to 'select' (a 0-d tensor has no dimension to index)", err(nyto.select, nyto.tensor(1), 1, 1))
    assert.equal("nyto: bad argument #1 to '__len' (a 0-d tensor has no length)", err(function() return #nyto.tensor(1) end))
  end)
  it("item of a tensor with more than one element", function()
    assert.equal("nyto: bad argument #1 to 'item' (a Tensor of shape [2, 3] (6 elements) cannot be converted to a number)", err(m.item, m))
  end)

  -- shape mismatch
  it("a shape mismatch in arithmetic shows both shapes", function()
    local msg = "nyto: bad argument #2 to '__add' (The size of tensor a (3) must match the size of tensor b (2) at non-singleton dimension 1; shapes [2, 3] and [3, 2])"
    assert.equal(msg, err(function() return m + nyto.ones(3, 2) end))
    assert.equal("nyto: bad argument #2 to 'mul' (The size of tensor a (3) must match the size of tensor b (4) at non-singleton dimension 1; shapes [2, 3] and [4])",
                 err(m.mul, m, nyto.ones(4)))
    assert.equal("nyto: bad argument #2 to 'add_' (output with shape [2, 3] doesn't match the broadcast shape [2, 2, 3]; shapes [2, 3] and [2, 2, 3])",
                 err(m.add_, m, nyto.ones(2, 2, 3)))
    assert.equal("nyto: bad argument #2 to 'copy_' (The size of tensor a (3) must match the size of tensor b (2) at non-singleton dimension 1; shapes [2, 3] and [2])",
                 err(m.copy_, m, nyto.ones(2)))
    assert.equal("nyto: bad argument #3 to '__newindex' (The size of tensor a (3) must match the size of tensor b (2) at non-singleton dimension 0; shapes [3] and [2])",
                 err(function() m[1] = nyto.ones(2) end))
    assert.equal("nyto: bad argument #2 to 'allclose' (shapes [2, 3] and [4] do not broadcast)", err(m.allclose, m, nyto.ones(4)))
  end)
  it("a shape mismatch in matmul and mm shows both shapes", function()
    assert.equal("nyto: bad argument #2 to 'matmul' (mat1 and mat2 shapes cannot be multiplied (2x3 and 2x3); shapes [2, 3] and [2, 3])",
                 err(m.matmul, m, nyto.ones(2, 3)))
    assert.equal("nyto: bad argument #2 to 'mm' (mat1 and mat2 shapes cannot be multiplied (2x3 and 4x2); shapes [2, 3] and [4, 2])",
                 err(nyto.mm, m, nyto.ones(4, 2)))
    assert.equal("nyto: bad argument #2 to 'mm' (mat2 must be a matrix; shapes [2, 3] and [3])", err(m.mm, m, nyto.ones(3)))
  end)
  it("a view that does not fit", function()
    assert.equal("nyto: bad argument #2 to 'view' (shape '[4]' is invalid for input of size 6; input shape [2, 3])", err(m.view, m, 4))
    assert.equal("nyto: bad argument #3 to 'view' (only one size can be -1)", err(m.view, m, -1, -1))
  end)
  it("cat of mismatched tensors", function()
    assert.equal("nyto: bad argument #1 to 'cat' (Sizes of tensors must match except in dimension 0. Expected size 3 but got size 2 for tensor number 1 in the list.)",
                 err(nyto.cat, {m, nyto.ones(2, 2)}, 1))
    assert.equal("nyto: bad argument #1 to 'cat' (element 2 has 1 dims, element 1 has 2)", err(nyto.cat, {m, nyto.ones(3)}))
  end)

  -- sizes
  it("a negative size", function()
    assert.equal("nyto: bad argument #2 to 'zeros' (size must be non-negative, got -3)", err(nyto.zeros, 2, -3))
    assert.equal("nyto: bad argument #1 to 'ones' (size must be non-negative, got -1)", err(nyto.ones, {2, -1}))
    assert.equal("nyto: bad argument #1 to 'full' (size must be non-negative, got -2)", err(nyto.full, {-2}, 0))
    assert.equal("nyto: bad argument #1 to 'eye' (size must be non-negative, got -1)", err(nyto.eye, -1))
    assert.equal("nyto: bad argument #2 to 'view' (size must be non-negative, got -2)", err(m.view, m, -2, -3))
  end)
  it("an overflowing size", function()
    assert.equal("nyto: bad argument #2 to 'zeros' (size too large: more than 2^40 elements)", err(nyto.zeros, 1 << 40, 1 << 40))
    assert.equal("nyto: bad argument #1 to 'randn' (size too large: more than 2^40 elements)", err(nyto.randn, math.maxinteger))
    assert.equal("nyto: bad argument #1 to 'zeros' (integer size expected, got 1e+20)", err(nyto.zeros, 1e20))
    assert.equal("nyto: bad argument #2 to 'view' (size too large: more than 2^40 elements)", err(m.view, m, 1 << 62, 4))
    assert.equal("nyto: bad argument #1 to 'eye' (size too large: more than 2^40 elements)", err(nyto.eye, 1 << 30))
    assert.equal("nyto: bad argument #1 to 'arange' (size too large: more than 2^40 elements)", err(nyto.arange, 0, 1e30, 1e-3))
  end)
  it("an arange that goes nowhere", function()
    assert.equal("nyto: bad argument #3 to 'arange' (step must be finite and nonzero)", err(nyto.arange, 0, 1, 0))
    assert.equal("nyto: bad argument #2 to 'arange' (the step 1.0 does not lead from 5.0 to 0.0)", err(nyto.arange, 5, 0))
  end)

  -- autograd misuse
  it("backward on a non-scalar", function()
    local y = nyto.Parameter(nyto.ones(3)) * 2
    assert.equal("nyto: bad argument #1 to 'backward' (backward of a non-scalar tensor of shape [3] needs a gradient argument)",
                 err(y.backward, y))
  end)
  it("backward with a gradient of the wrong shape", function()
    local y = nyto.Parameter(nyto.ones(3)) * 2
    assert.equal("nyto: bad argument #2 to 'backward' (gradient of shape [2] for a tensor of shape [3])", err(y.backward, y, nyto.ones(2)))
  end)
  it("backward on a tensor without history", function()
    assert.equal("nyto: bad argument #1 to 'backward' (tensor does not require grad and has no grad history)",
                 err(function() nyto.ones(1):sum():backward() end))
  end)
  it("an in-place op on a leaf that requires grad", function()
    local p = nyto.Parameter(nyto.ones(2))
    assert.equal("nyto: bad argument #1 to 'add_' (a leaf Variable that requires grad is being used in an in-place operation.)",
                 err(p.add_, p, 1))
  end)

  -- int64 where floats are required
  it("nyto.Parameter of an int64 tensor", function()
    assert.equal("nyto: bad argument #1 to 'Parameter' (only floating tensors can be parameters, got int64)",
                 err(nyto.Parameter, nyto.arange(3)))
  end)
  it("requires_grad_ on int64 and bool tensors", function()
    local i = nyto.arange(3)
    assert.equal("nyto: bad argument #1 to 'requires_grad_' (only floating tensors can require grad, got int64)", err(i.requires_grad_, i))
    local b = nyto.tensor{true}
    assert.equal("nyto: bad argument #1 to 'requires_grad_' (only floating tensors can require grad, got bool)", err(b.requires_grad_, b, true))
    assert.equal("nyto: bad argument #2 to 'tensor' (only floating tensors can require grad, got int64)",
                 err(nyto.tensor, {1}, {dtype = "int64", requires_grad = true}))
  end)
  it("random draws of an int64 dtype", function()
    assert.equal("nyto: bad argument #2 to 'randn' (randn needs a floating dtype, got int64)", err(nyto.randn, 2, {dtype = "int64"}))
    assert.equal("nyto: bad argument #1 to 'rand_like' (rand_like needs a floating tensor, got int64)", err(nyto.rand_like, nyto.arange(2)))
  end)
  it("an int64 result that cannot hold floats", function()
    local i = nyto.arange(3)
    assert.equal("nyto: bad argument #1 to 'exp_' (result type Float can't be cast to the desired output type Long)", err(i.exp_, i))
  end)

  -- strings are never coerced
  it("a string operand of arithmetic", function()
    assert.equal("nyto: bad argument #2 to '__add' (number or Tensor expected, got string)", err(function() return m + "1" end))
    assert.equal("nyto: bad argument #1 to '__add' (number or Tensor expected, got string)", err(function() return "1" + m end))
    assert.equal("nyto: bad argument #2 to '__pow' (number or Tensor expected, got string)", err(function() return m ^ "2" end))
    assert.equal("nyto: bad argument #1 to '__sub' (number or Tensor expected, got string)", err(function() return "10" - m end))
  end)
  it("a string argument of an op", function()
    assert.equal("nyto: bad argument #2 to 'add' (number or Tensor expected, got string)", err(m.add, m, "1"))
    assert.equal("nyto: bad argument #2 to 'fill_' (number expected, got string)", err(m.fill_, m, "3"))
    assert.equal("nyto: bad argument #2 to 'clamp' (number expected, got string)", err(m.clamp, m, "0"))
    assert.equal("nyto: bad argument #1 to 'arange' (number expected, got string)", err(nyto.arange, "3"))
    assert.equal("nyto: bad argument #1 to 'eye' (integer expected, got string)", err(nyto.eye, "3"))
    assert.equal("nyto: bad argument #2 to 'full_like' (number expected, got string)", err(nyto.full_like, m, "3"))
    assert.equal("nyto: bad argument #3 to '__newindex' (number or Tensor expected, got string)", err(function() m[1] = "3" end))
  end)

  it("none of the above aborts or corrupts: the tensor is intact", function()
    values(m, {{1, 1, 1}, {1, 1, 1}})
  end)
end)

-- issue 13, point 7: Lua's own allocation failure says "not enough memory" with no prefix.
-- Run in a child whose address space is capped, so that running out is quick and harmless.
describe("totable out of memory", function()
  local H = require "helpers"
  local function child(code)
    local path = H.script('package.path = "./lua/?.lua;./lua/?/init.lua;" .. package.path\n' ..
      'package.cpath = "./build/lib/?.so;" .. package.cpath\nlocal nyto = require "nyto"\n' ..
      'local ok, e = pcall(function() ' .. code .. ' end)\nio.write(tostring(ok), " ", tostring(e))\n')
    local out = H.run("ulimit -v 1300000; timeout 60 lua5.4 " .. path)
    os.remove(path)
    return out
  end

  it("a tensor with no elements but 2^24 rows is refused before any table is built", function()
    assert.equal("false nyto: not enough memory for 'totable' (a tensor of shape [16777216, 0] makes more than 16777216 tables)",
      child("return nyto.zeros(2^24, 0):totable()"))
    -- the same at 2^40 rows returns at once (it used to build tables until memory ran out)
    assert.equal("false nyto: not enough memory for 'totable' (a tensor of shape [1099511627776, 0, 3] makes more than 16777216 tables)",
      child("return nyto.zeros(2^40, 0, 3):totable()"))
  end)

  it("Lua running out of memory in totable is a nyto error", function()
    assert.equal("false nyto: not enough memory for 'totable' (the tables of a tensor of shape [16777216])",
      child("local z = nyto.zeros(2^24):double(); return z:totable()"))
  end)

  it("an empty tensor with few rows still converts", function()
    assert.are.same({{}, {}, {}}, nyto.zeros(3, 0):totable())
    assert.are.same({}, nyto.zeros(0, 5):totable())
  end)
end)
