-- spec/index_ops_spec.lua: the index arithmetic of the tensor ops, dims and
-- indices 1-based (negative from the end) in Lua while the op bodies are
-- 0-based (src/torch/ops.def; the binding converts, src/lua/tensor.c).  Every
-- expected value is computed here in plain Lua from the tensor's entries;
-- every bad dim or index gives a nyto error and changes nothing.
local nyto = require "nyto"
local H = require "helpers"
local err, I = H.err_of, H.I

-- a 3 x 4 matrix with distinct entries, and its rows as a Lua table
local M = {{3, 9, 1, 4}, {7, 2, 8, 6}, {5, 0, 11, 10}}
local m = nyto.tensor(M)

-- plain Lua: row r's entries picked at 1-based positions idx
local function pick(row, idx)
  local out = {}
  for j, i in ipairs(idx) do out[j] = row[i] end
  return out
end

describe("index ops (1-based in Lua, 0-based op bodies)", function()
  it("index_select along a dim, positive and negative", function()
    assert.same({M[3], M[1]}, m:index_select(1, I {3, 1}):totable())
    assert.same({M[3], M[1]}, m:index_select(-2, I {3, 1}):totable())
    local cols = {}
    for r = 1, 3 do cols[r] = pick(M[r], {4, 2, 2}) end
    assert.same(cols, m:index_select(2, I {4, 2, 2}):totable())
    assert.same(cols, m:index_select(-1, I {4, 2, 2}):totable())
    -- indices of another dtype are read as integers (as before)
    assert.same({M[2]}, m:index_select(1, nyto.tensor {2}):totable())
    assert.same({0, 4}, m:index_select(1, I {}):size())
  end)

  it("index_select refuses out-of-range indices and dims, with nyto errors", function()
    for _, bad in ipairs {0, 4, -1} do
      assert.matches("^nyto: bad argument", err(m.index_select, m, 1, I {1, bad}))
    end
    assert.equal("nyto: bad argument #2 to 'index_select' (dimension 3 out of range for a 2-d tensor)",
                 err(m.index_select, m, 3, I {1}))
    assert.equal("nyto: bad argument #2 to 'index_select' (dimension -3 out of range for a 2-d tensor)",
                 err(m.index_select, m, -3, I {1}))
    assert.equal("nyto: bad argument #3 to 'index_select' (Tensor expected, got table)", err(m.index_select, m, 1, {1}))
    assert.same(M, m:totable())
  end)

  it("gather along a dim, positive and negative", function()
    local idx = {{2, 2, 1, 4}, {1, 3, 3, 2}, {4, 1, 2, 3}}
    local want = {}
    for r = 1, 3 do want[r] = pick(M[r], idx[r]) end
    assert.same(want, m:gather(2, I(idx)):totable())
    assert.same(want, m:gather(-1, I(idx)):totable())
    -- along dim 1: out[r][c] = M[idx[r][c]][c]
    local idx1 = {{3, 1, 2, 1}}
    local want1 = {{}}
    for c = 1, 4 do want1[1][c] = M[idx1[1][c]][c] end
    assert.same(want1, m:gather(1, I(idx1)):totable())
    assert.same(want1, m:gather(-2, I(idx1)):totable())
  end)

  it("gather refuses out-of-range indices and dims", function()
    assert.matches("^nyto: bad argument", err(m.gather, m, 2, I {{0}, {1}, {1}}))
    assert.matches("^nyto: bad argument", err(m.gather, m, 2, I {{5}, {1}, {1}}))
    assert.matches("^nyto: bad argument", err(m.gather, m, 1, I {{4, 1, 1, 1}}))
    assert.equal("nyto: bad argument #2 to 'gather' (dimension 3 out of range for a 2-d tensor)", err(m.gather, m, 3, I {{1}}))
    assert.same(M, m:totable())
  end)

  it("narrow and select with negative starts and indices", function()
    assert.same({pick(M[1], {2, 3}), pick(M[2], {2, 3}), pick(M[3], {2, 3})}, m:narrow(2, 2, 2):totable())
    assert.same({pick(M[1], {3, 4}), pick(M[2], {3, 4}), pick(M[3], {3, 4})}, m:narrow(-1, -2, 2):totable())
    assert.same({M[3]}, m:narrow(1, -1, 1):totable())
    assert.same(M[2], m:select(1, -2):totable())
    assert.same({M[1][4], M[2][4], M[3][4]}, m:select(-1, -1):totable())
    assert.equal("nyto: bad argument #3 to 'select' (index -5 out of range for dimension 2 of size 4)", err(m.select, m, 2, -5))
    assert.equal("nyto: bad argument #2 to 'select' (dimension -3 out of range for a 2-d tensor)", err(m.select, m, -3, 1))
    assert.equal("nyto: bad argument #3 to 'narrow' (index -4 out of range for dimension 1 of size 3)", err(m.narrow, m, 1, -4, 1))
    assert.equal("nyto: bad argument #4 to 'narrow' (length 2 out of range: 1 elements are left in dimension 1 of size 3 from index 3)",
                 err(m.narrow, m, 1, -1, 2))
  end)

  -- plain Lua: the 1-based position of row's largest (or smallest) entry
  local function arg_of(row, better)
    local b = 1
    for i = 2, #row do if better(row[i], row[b]) then b = i end end
    return b
  end
  local gt = function(x, y) return x > y end
  local lt = function(x, y) return x < y end

  it("max, min, argmax and argmin give 1-based indices, for positive and negative dims", function()
    for _, d in ipairs {2, -1} do
      local v, i = m:max(d)
      local wi, wv = {}, {}
      for r = 1, 3 do wi[r] = arg_of(M[r], gt); wv[r] = M[r][wi[r]] end
      assert.same(wi, i:totable())
      assert.same(wv, v:totable())
      assert.equal("int64", i:dtype())
      assert.same(wi, m:argmax(d):totable())
      local _, j = m:min(d)
      local wj = {}
      for r = 1, 3 do wj[r] = arg_of(M[r], lt) end
      assert.same(wj, j:totable())
      assert.same(wj, m:argmin(d):totable())
    end
    -- over dim 1 (-2): per column
    local col = {}
    for c = 1, 4 do col[c] = arg_of({M[1][c], M[2][c], M[3][c]}, gt) end
    assert.same(col, select(2, m:max(-2)):totable())
    assert.same(col, m:argmax(1):totable())
    -- over everything: the flat 1-based position
    assert.equal(11, m:argmax():item())
    assert.equal(10, m:argmin():item())
    for _, f in ipairs {"max", "min", "argmax", "argmin", "sort"} do
      assert.equal(("nyto: bad argument #2 to '%s' (dimension 3 out of range for a 2-d tensor)"):format(f), err(m[f], m, 3))
      assert.equal(("nyto: bad argument #2 to '%s' (dimension -3 out of range for a 2-d tensor)"):format(f), err(m[f], m, -3))
    end
  end)

  it("sort and topk give 1-based indices that pick the values", function()
    for _, d in ipairs {2, -1} do
      for _, desc in ipairs {false, true} do
        local v, i = m:sort(d, desc)
        local vt, it_ = v:totable(), i:totable()
        for r = 1, 3 do
          assert.same(vt[r], pick(M[r], it_[r]))
          local s = {table.unpack(M[r])}
          table.sort(s, desc and gt or nil)
          assert.same(s, vt[r])
        end
      end
    end
    local v, i = m:sort() -- the last dim by default
    assert.same(v:totable()[2], pick(M[2], i:totable()[2]))
    v, i = m:topk(2, -1)
    for r = 1, 3 do
      local s = {table.unpack(M[r])}
      table.sort(s, gt)
      assert.same({s[1], s[2]}, v:totable()[r])
      assert.same(v:totable()[r], pick(M[r], i:totable()[r]))
    end
    v, i = m:topk(1, 1, false) -- the smallest of each column
    for c = 1, 4 do
      assert.equal(arg_of({M[1][c], M[2][c], M[3][c]}, lt), i:totable()[1][c])
    end
    assert.equal("nyto: bad argument #3 to 'topk' (dimension -3 out of range for a 2-d tensor)", err(m.topk, m, 1, -3))
    assert.matches("^nyto: bad argument #1 to 'topk'", err(m.topk, m, 5, 2))
    assert.same(M, m:totable())
  end)

  it("multinomial and randperm_like draw 1-based indices", function()
    nyto.manual_seed(3)
    local w = nyto.tensor {0, 1, 0, 2}
    local s = w:multinomial(40, true):totable()
    for _, x in ipairs(s) do assert.is_true(x == 2 or x == 4, "drew " .. x) end
    local p = nyto.zeros(6):randperm_like():totable()
    table.sort(p)
    assert.same({1, 2, 3, 4, 5, 6}, p)
  end)

  it("one_hot and embedding read 1-based indices", function()
    assert.same({{1, 0, 0}, {0, 0, 1}}, I {1, 3}:one_hot():totable())
    assert.same({{0, 1, 0, 0}}, I {2}:one_hot(4):totable())
    assert.matches("^nyto: bad argument", err(nyto.one_hot, I {0}, 3))
    assert.matches("^nyto: bad argument", err(nyto.one_hot, I {4}, 3))
    local w = nyto.tensor {{1, 2}, {3, 4}, {5, 6}}
    assert.same({{5, 6}, {1, 2}}, nyto.embedding(w, I {3, 1}):totable())
    assert.matches("^nyto: bad argument", err(nyto.embedding, w, I {4}))
    assert.matches("^nyto: bad argument", err(nyto.embedding, w, I {0}))
  end)

  it("cross_entropy and nll_loss read 1-based class labels, checked", function()
    local x = nyto.tensor {{0.5, 1.5, -1}, {2, 0, 1}}
    -- plain Lua: mean of -log softmax(x[r])[y[r]]
    local function ce(y)
      local s = 0
      for r = 1, 2 do
        local z = 0
        for c = 1, 3 do z = z + math.exp(x:totable()[r][c]) end
        s = s - (x:totable()[r][y[r]] - math.log(z))
      end
      return s / 2
    end
    assert.near(ce {2, 1}, nyto.cross_entropy(x, I {2, 1}):item(), 1e-5)
    assert.near(ce {3, 3}, nyto.cross_entropy(x, I {3, 3}):item(), 1e-5)
    assert.near(-(0.5 + 1) / 2, nyto.nll_loss(x, I {1, 3}):item(), 1e-6)
    assert.equal("nyto: bad argument #2 to 'cross_entropy' (class label 4 out of range 1..3; shapes [2, 3] and [2])",
                 err(nyto.cross_entropy, x, I {1, 4}))
    assert.equal("nyto: bad argument #2 to 'nll_loss' (class label 0 out of range 1..3; shapes [2, 3] and [2])", err(nyto.nll_loss, x, I {0, 1}))
    assert.equal("nyto: bad argument #2 to 'cross_entropy' (class label -1 out of range 1..3; shapes [2, 3] and [2])",
                 err(nyto.cross_entropy, x, I {-1, 1}))
    assert.matches("^nyto: bad argument #2 to 'cross_entropy' %(class labels must be an int64 tensor",
                   err(nyto.cross_entropy, x, nyto.tensor {1, 2}))
  end)
end)
