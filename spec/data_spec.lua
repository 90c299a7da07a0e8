-- nyto.data (IDX, Fashion-MNIST, CSV, DataLoader) and nyto.progress.
-- Real data: the Debian package dataset-fashion-mnist (scripts/bootstrap installs it),
-- checked against an independent read (gzip -dc | od).  Synthetic and corrupt files
-- are written to a temporary directory.
local nyto = require "nyto"

local FMNIST = "/usr/share/datasets/fashion-mnist"

local function now()
  local f = io.open("/proc/uptime")
  if not f then return os.time() end
  local v = f:read("n")
  f:close()
  return v
end

local function sh(cmd)
  local p = assert(io.popen(cmd, "r"))
  local s = p:read("a")
  p:close()
  return s
end

-- bytes [skip, skip + n) of a gzip file, decoded by gzip and od, not by nyto
local function od_bytes(path, skip, n)
  local out = sh(string.format("gzip -dc '%s' | od -An -v -tu1 -j%d -N%d", path, skip, n))
  local vals = {}
  for v in out:gmatch("%d+") do vals[#vals + 1] = tonumber(v) end
  return vals
end

local function write(path, s)
  local f = assert(io.open(path, "wb"))
  f:write(s)
  f:close()
end

local function idx_file(code, dims, body)
  local h = {string.char(0, 0, code, #dims)}
  for _, d in ipairs(dims) do h[#h + 1] = string.pack(">I4", d) end
  return table.concat(h) .. body
end

local function bytes(list)
  local t = {}
  for i, v in ipairs(list) do t[i] = string.char(v) end
  return table.concat(t)
end

local tmpdir
local function tmp(name) return tmpdir .. "/" .. name end

local function make_tmpdir()
  local d = os.tmpname()
  os.remove(d)
  assert(os.execute("mkdir -p '" .. d .. "'"))
  return d
end

-- the error message of f(...), which must raise
local function err_of(f, ...)
  local ok, e = pcall(f, ...)
  assert(not ok, "expected an error")
  return tostring(e)
end

local function assert_nyto_error(f, ...)
  local e = err_of(f, ...)
  assert.is_truthy(e:find("^nyto: "), "message must start with 'nyto: ': " .. e)
  return e
end

local function contains(s, sub) return s:find(sub, 1, true) ~= nil end

-- a synthetic Fashion-MNIST directory: n images whose pixel (r, c) of image k is (k*7 + r*28 + c) % 256
local function fake_fashion(dir, prefix, n, labels, opts)
  opts = opts or {}
  local rows, cols = opts.rows or 28, 28
  -- with 28 columns, image k is the byte cycle 0..255 from offset k*7: no per-pixel Lua strings
  local cycle = {}
  for i = 0, 255 do cycle[#cycle + 1] = string.char(i) end
  cycle = string.rep(table.concat(cycle), (rows * cols) // 256 + 2)
  local px = {}
  for k = 0, n - 1 do
    local off = (k * 7) % 256
    px[#px + 1] = cycle:sub(off + 1, off + rows * cols)
  end
  write(dir .. "/" .. prefix .. "-images-idx3-ubyte", idx_file(0x08, {n, rows, cols}, table.concat(px)))
  write(dir .. "/" .. prefix .. "-labels-idx1-ubyte", idx_file(0x08, {#labels}, bytes(labels)))
  if opts.gzip then
    assert(os.execute(string.format("gzip -f '%s/%s-images-idx3-ubyte' '%s/%s-labels-idx1-ubyte'", dir, prefix, dir, prefix)))
  end
end

setup(function() tmpdir = make_tmpdir() end)
teardown(function()
  if tmpdir and tmpdir:match("^/tmp/") then os.execute("rm -rf '" .. tmpdir .. "'") end
end)

describe("nyto.data.fashion_mnist on the Debian data", function()
  local test_x, test_y
  setup(function() test_x, test_y = nyto.data.fashion_mnist("test") end)

  it("finds the package's files", function()
    assert.is_truthy(io.open(FMNIST .. "/t10k-images-idx3-ubyte.gz"), "install dataset-fashion-mnist (scripts/bootstrap)")
    assert.is_truthy(test_x, "fashion_mnist('test') returned nil")
  end)

  it("returns test images 10000 x 1 x 28 x 28 float32 in [0, 1] and int64 labels 1..10", function()
    assert.same({10000, 1, 28, 28}, test_x:size())
    assert.equal("float32", test_x:dtype())
    assert.same({10000}, test_y:size())
    assert.equal("int64", test_y:dtype())
    assert.equal(0, test_x:min():item())
    assert.equal(1, test_x:max():item())
    assert.equal(1, test_y:min():item())
    assert.equal(10, test_y:max():item())
  end)

  it("has the labels of the file, plus one (checked with gzip -dc | od)", function()
    local raw = od_bytes(FMNIST .. "/t10k-labels-idx1-ubyte.gz", 8, 50)
    assert.equal(50, #raw)
    -- the well-known start of the test set: ankle boot, pullover, trouser, trouser, shirt
    assert.same({9, 2, 1, 1, 6}, {raw[1], raw[2], raw[3], raw[4], raw[5]})
    for i = 1, 50 do raw[i] = raw[i] + 1 end
    assert.same(raw, test_y:narrow(1, 1, 50):totable())
    local last = od_bytes(FMNIST .. "/t10k-labels-idx1-ubyte.gz", 8 + 9990, 10)
    for i = 1, 10 do last[i] = last[i] + 1 end
    assert.same(last, test_y:narrow(1, 9991, 10):totable())
  end)

  it("has the pixels of the file divided by 255 (first and last test image)", function()
    local path = FMNIST .. "/t10k-images-idx3-ubyte.gz"
    for _, k in ipairs {1, 10000} do
      local raw = od_bytes(path, 16 + (k - 1) * 784, 784)
      assert.equal(784, #raw)
      local img = test_x[k]:view(784):totable()
      local bad, first_bad = 0, nil
      for i = 1, 784 do
        if math.abs(img[i] - raw[i] / 255) >= 1e-7 then
          bad = bad + 1
          first_bad = first_bad or i
        end
      end
      assert.equal(0, bad, string.format("image %d: %d pixels differ, the first is %s", k, bad, tostring(first_bad)))
      assert.is_true(img[1] ~= nil and img[785] == nil)
    end
  end)

  it("loads the 60000 training images fast, with 6000 of each class", function()
    local t0 = now()
    local x, y = nyto.data.fashion_mnist("train")
    local dt = now() - t0
    assert.same({60000, 1, 28, 28}, x:size())
    assert.same({60000}, y:size())
    for c = 1, 10 do assert.equal(6000, y:eq(c):sum():item()) end
    local first = od_bytes(FMNIST .. "/train-labels-idx1-ubyte.gz", 8, 8)
    for i = 1, 8 do first[i] = first[i] + 1 end
    assert.same(first, y:narrow(1, 1, 8):totable())
    -- not a benchmark: a guard against a per-element Lua path (which takes minutes)
    assert.is_true(dt < 10, string.format("loading the training set took %.2f s", dt))
  end)

  it("returns nil and a message naming the path and the Debian package when files are missing", function()
    local dir = tmp("no-such-dir")
    local x, msg = nyto.data.fashion_mnist("train", dir)
    assert.is_nil(x)
    assert.is_truthy(msg:find("^nyto: "))
    assert.is_true(contains(msg, dir .. "/train-images-idx3-ubyte.gz"), msg)
    assert.is_true(contains(msg, "dataset-fashion-mnist"), msg)
    -- images present, labels missing: the labels' path is named
    local d2 = tmp("only-images")
    os.execute("mkdir -p '" .. d2 .. "'")
    fake_fashion(d2, "t10k", 2, {1, 2})
    os.remove(d2 .. "/t10k-labels-idx1-ubyte")
    local x2, msg2 = nyto.data.fashion_mnist("test", d2)
    assert.is_nil(x2)
    assert.is_true(contains(msg2, d2 .. "/t10k-labels-idx1-ubyte"), msg2)
    assert.is_true(contains(msg2, "dataset-fashion-mnist"), msg2)
  end)

  it("rejects a bad split", function()
    local e = assert_nyto_error(nyto.data.fashion_mnist, "valid")
    assert.is_true(contains(e, "bad argument #1 to 'fashion_mnist'"), e)
    assert_nyto_error(nyto.data.fashion_mnist, nil)
    assert_nyto_error(nyto.data.fashion_mnist, "test", 42)
  end)
end)

describe("nyto.data.fashion_mnist on synthetic files", function()
  it("reads gzip and plain IDX files from another directory", function()
    for _, gz in ipairs {true, false} do
      local d = tmp(gz and "fake-gz" or "fake-raw")
      os.execute("mkdir -p '" .. d .. "'")
      fake_fashion(d, "train", 3, {0, 9, 4}, {gzip = gz})
      local x, y = nyto.data.fashion_mnist("train", d .. "/")
      assert.is_truthy(x, y)
      assert.same({3, 1, 28, 28}, x:size())
      assert.same({1, 10, 5}, y:totable())
      -- pixel (r, c) of image k (0-based) is (k*7 + r*28 + c) % 256
      for _, p in ipairs {{0, 0, 0}, {1, 2, 3}, {2, 27, 27}, {2, 9, 4}} do
        local k, r, c = p[1], p[2], p[3]
        local want = ((k * 7 + r * 28 + c) % 256) / 255
        local got = x[k + 1][1][r + 1][c + 1]:item()
        assert.is_true(math.abs(got - want) < 1e-7, string.format("pixel %d,%d,%d: %g vs %g", k, r, c, got, want))
      end
    end
  end)

  local function corrupt_case(name, build)
    local d = tmp("corrupt-" .. name)
    os.execute("mkdir -p '" .. d .. "'")
    fake_fashion(d, "t10k", 3, {0, 1, 2})
    build(d)
    return assert_nyto_error(nyto.data.fashion_mnist, "test", d), d
  end

  it("raises a nyto: error naming the file for a bad magic number", function()
    local e, d = corrupt_case("magic", function(d)
      write(d .. "/t10k-images-idx3-ubyte", "\1\2\8\3" .. string.rep("\0", 12 + 3 * 784))
    end)
    assert.is_true(contains(e, d .. "/t10k-images-idx3-ubyte"), e)
    assert.is_true(contains(e, "magic"), e)
  end)

  it("raises for short data, extra data, a truncated header and an empty file", function()
    local cases = {
      short = function(d) -- one pixel missing
        write(d .. "/t10k-images-idx3-ubyte", idx_file(0x08, {3, 28, 28}, string.rep("\1", 3 * 784 - 1)))
      end,
      extra = function(d)
        write(d .. "/t10k-images-idx3-ubyte", idx_file(0x08, {3, 28, 28}, string.rep("\1", 3 * 784 + 5)))
      end,
      header = function(d) write(d .. "/t10k-labels-idx1-ubyte", "\0\0\8\1\0\0") end,
      empty = function(d) write(d .. "/t10k-labels-idx1-ubyte", "") end,
      huge = function(d) -- sizes far beyond the file (no overflow, no giant allocation)
        write(d .. "/t10k-images-idx3-ubyte", idx_file(0x08, {0xFFFFFFFF, 0xFFFFFFFF, 0xFFFFFFFF}, "\1\2\3"))
      end,
    }
    for name, build in pairs(cases) do
      local e, d = corrupt_case(name, build)
      assert.is_true(contains(e, d .. "/t10k-"), name .. ": " .. e)
    end
  end)

  it("raises for wrong image sizes, wrong types, mismatched counts and labels out of range", function()
    local cases = {
      shape = function(d) fake_fashion(d, "t10k", 3, {0, 1, 2}, {rows = 27}) end,
      type = function(d) write(d .. "/t10k-labels-idx1-ubyte", idx_file(0x0C, {3}, string.pack(">i4>i4>i4", 0, 1, 2))) end,
      count = function(d) write(d .. "/t10k-labels-idx1-ubyte", idx_file(0x08, {2}, "\0\1")) end,
      range = function(d) write(d .. "/t10k-labels-idx1-ubyte", idx_file(0x08, {3}, "\0\10\2")) end,
      dims = function(d) write(d .. "/t10k-labels-idx1-ubyte", idx_file(0x08, {3, 1}, "\0\1\2")) end,
    }
    for name, build in pairs(cases) do
      local e = corrupt_case(name, build)
      assert.is_true(contains(e, "fashion_mnist"), name .. ": " .. e)
    end
  end)

  it("raises for a truncated or corrupt gzip file", function()
    local d = tmp("badgz")
    os.execute("mkdir -p '" .. d .. "'")
    fake_fashion(d, "t10k", 20, {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9}, {gzip = true})
    local img = d .. "/t10k-images-idx3-ubyte.gz"
    local f = assert(io.open(img, "rb"))
    local gz = f:read("a")
    f:close()
    write(img, gz:sub(1, #gz // 2)) -- truncated stream
    local e = assert_nyto_error(nyto.data.fashion_mnist, "test", d)
    assert.is_true(contains(e, img), e)
    -- a gzip header followed by garbage
    write(img, "\31\139\8\0\0\0\0\0\0\3" .. string.rep("\255\0\17", 200))
    e = assert_nyto_error(nyto.data.fashion_mnist, "test", d)
    assert.is_true(contains(e, img), e)
    -- a valid stream whose trailer (CRC) is wrong
    write(img, gz:sub(1, #gz - 8) .. string.rep("\0", 8))
    e = assert_nyto_error(nyto.data.fashion_mnist, "test", d)
    assert.is_true(contains(e, img), e)
  end)
end)

describe("nyto.data.read_idx", function()
  it("reads gzip members back to back; trailing garbage after the gzip data raises", function()
    local p = tmp("two.idx")
    local raw = idx_file(0x08, {2, 3}, bytes {0, 1, 2, 253, 254, 255})
    write(p .. ".a", raw:sub(1, 7))
    write(p .. ".b", raw:sub(8))
    assert(os.execute(("gzip -c '%s.a' > '%s.gz' && gzip -c '%s.b' >> '%s.gz'"):format(p, p, p, p)))
    assert.same({{0, 1, 2}, {253, 254, 255}}, nyto.data.read_idx(p .. ".gz"):totable())
    local f = assert(io.open(p .. ".gz", "rb"))
    local gz = f:read("a")
    f:close()
    local bad = p .. ".bad.gz"
    for _, c in ipairs {
      {"x", "is corrupt (1 bytes of trailing garbage after its gzip data)"},
      {"\0\0\0\0", "is corrupt (4 bytes of trailing garbage after its gzip data)"},
      {"\31", "is corrupt (1 bytes of trailing garbage after its gzip data)"},
      {"\31\139", "is corrupt or truncated (its gzip data ends early)"},
    } do
      write(bad, gz .. c[1])
      local ok, e = pcall(nyto.data.read_idx, bad)
      assert.is_false(ok)
      assert.equal("nyto: read_idx: " .. bad .. " " .. c[2], e)
    end
  end)

  it("reads unsigned bytes as int64 with the file's sizes, or as float32 on request", function()
    local p = tmp("u8.idx")
    write(p, idx_file(0x08, {2, 3}, bytes {0, 1, 2, 253, 254, 255}))
    local t = nyto.data.read_idx(p)
    assert.equal("int64", t:dtype())
    assert.same({{0, 1, 2}, {253, 254, 255}}, t:totable())
    local f = nyto.data.read_idx(p, {dtype = "float32"})
    assert.equal("float32", f:dtype())
    assert.same({{0, 1, 2}, {253, 254, 255}}, f:totable())
    assert.equal("float64", nyto.data.read_idx(p, {dtype = "float64"}):dtype())
  end)

  it("reads signed bytes, shorts, ints, floats and doubles", function()
    local cases = {
      {0x09, "b", {-128, -1, 0, 127}, "int64"},
      {0x0B, ">i2", {-32768, -2, 300, 32767}, "int64"},
      {0x0C, ">i4", {-2147483648, -5, 70000, 2147483647}, "int64"},
      {0x0D, ">f", {-1.5, 0.25, 3.0, 1024.5}, "float32"},
      {0x0E, ">d", {-1e300, 0.1, 2.5, 1e-300}, "float64"},
    }
    for _, c in ipairs(cases) do
      local body = {}
      for i, v in ipairs(c[3]) do body[i] = string.pack(c[2], v) end
      local p = tmp(string.format("t%02x.idx", c[1]))
      write(p, idx_file(c[1], {4}, table.concat(body)))
      local t = nyto.data.read_idx(p)
      assert.equal(c[4], t:dtype())
      assert.same(c[3], t:totable())
    end
    -- more than one chunk of the Lua decoder (256 values) and a remainder
    local vals, body = {}, {}
    for i = 1, 600 do vals[i] = i * 3 - 900; body[i] = string.pack(">i2", vals[i]) end
    local p = tmp("many.idx")
    write(p, idx_file(0x0B, {20, 30}, table.concat(body)))
    local t = nyto.data.read_idx(p)
    assert.same({20, 30}, t:size())
    assert.same(vals, t:view(600):totable())
  end)

  it("reads an empty IDX file and a gzip one", function()
    local p = tmp("empty.idx")
    write(p, idx_file(0x08, {0, 28, 28}, ""))
    assert.same({0, 28, 28}, nyto.data.read_idx(p):size())
    write(p, idx_file(0x08, {0xFFFF, 0xFFFF, 0}, ""))
    assert.same({0xFFFF, 0xFFFF, 0}, nyto.data.read_idx(p):size())
    write(p, idx_file(0x08, {0xFFFFFFFF, 0xFFFFFFFF, 0}, "\1"))
    assert_nyto_error(nyto.data.read_idx, p)
    local q = tmp("g.idx")
    write(q, idx_file(0x08, {3}, "\5\6\7"))
    assert(os.execute("gzip -f '" .. q .. "'"))
    assert.same({5, 6, 7}, nyto.data.read_idx(q .. ".gz"):totable())
  end)

  it("returns nil and a message naming the path for a missing file", function()
    local p = tmp("missing.idx")
    local t, msg = nyto.data.read_idx(p)
    assert.is_nil(t)
    assert.is_truthy(msg:find("^nyto: "))
    assert.is_true(contains(msg, p), msg)
  end)

  it("raises nyto: errors for corrupt files and bad arguments", function()
    local p = tmp("bad.idx")
    for _, body in ipairs {"", "\0", "\0\0\8", "\0\0\7\1\0\0\0\1\0", "\0\0\8\0", "\0\0\8\17",
                           "\0\0\8\1\0\0\0\2\0", "\0\0\8\1\0\0\0\2\0\0\0"} do
      write(p, body)
      local e = assert_nyto_error(nyto.data.read_idx, p)
      assert.is_true(contains(e, p), e)
    end
    assert_nyto_error(nyto.data.read_idx, 3)
    write(p, idx_file(0x08, {1}, "\1"))
    assert_nyto_error(nyto.data.read_idx, p, {dtype = "uint8"})
  end)
end)

describe("nyto.core.tensor_from_bytes", function()
  local core = nyto.core
  it("makes float32 and int64 tensors of unsigned bytes", function()
    local t = core.tensor_from_bytes("ab\0\255\128", 2, 3, "float32")
    assert.equal("float32", t:dtype())
    assert.same({0, 255, 128}, t:totable())
    assert.same({97, 98}, core.tensor_from_bytes("ab", 0, 2, "int64"):totable())
    assert.same({0}, core.tensor_from_bytes("ab", 2, 0):size())
  end)
  it("checks its arguments", function()
    assert_nyto_error(core.tensor_from_bytes, "abc", 2, 2)
    assert_nyto_error(core.tensor_from_bytes, "abc", -1, 1)
    assert_nyto_error(core.tensor_from_bytes, "abc", 0, -1)
    assert_nyto_error(core.tensor_from_bytes, "abc", 0, 1, "bool")
    assert_nyto_error(core.tensor_from_bytes, {}, 0, 1)
    assert_nyto_error(core.tensor_from_bytes, "abc", 0.5, 1)
    assert_nyto_error(core.tensor_from_bytes, "abc", 0, math.maxinteger)
  end)
end)

describe("nyto.data.read_csv", function()
  it("reads a header and numbers", function()
    local p = tmp("a.csv")
    write(p, "x,y,label\n1,2.5,0\n-3,4e2,1\n\n")
    local t, names = nyto.data.read_csv(p)
    assert.same({"x", "y", "label"}, names)
    assert.equal("float32", t:dtype())
    assert.same({{1, 2.5, 0}, {-3, 400, 1}}, t:totable())
  end)

  it("follows header=, sep= and dtype=, CRLF lines, quotes, NaN and gzip", function()
    local p = tmp("b.csv")
    write(p, "1;2\r\n3;4\r\n")
    local t, names = nyto.data.read_csv(p, {sep = ";"})
    assert.is_nil(names)
    assert.same({{1, 2}, {3, 4}}, t:totable())
    local t2, n2 = nyto.data.read_csv(p, {sep = ";", header = true})
    assert.same({"1", "2"}, n2)
    assert.same({{3, 4}}, t2:totable())
    local q = tmp("c.csv")
    write(q, '"a","b c"\n"1",\nnan,inf\n')
    local t3, n3 = nyto.data.read_csv(q, {dtype = "float64"})
    assert.same({"a", "b c"}, n3)
    local v = t3:totable()
    assert.equal(1, v[1][1])
    assert.is_true(v[1][2] ~= v[1][2]) -- empty field: NaN
    assert.is_true(v[2][1] ~= v[2][1])
    assert.equal(math.huge, v[2][2])
    local r = tmp("d.csv")
    write(r, "k\n7\n8\n")
    local t4 = nyto.data.read_csv(r, {dtype = "int64"})
    assert.equal("int64", t4:dtype())
    assert.same({{7}, {8}}, t4:totable())
    assert(os.execute("gzip -f '" .. r .. "'"))
    assert.same({{7}, {8}}, nyto.data.read_csv(r .. ".gz"):totable())
    local e = tmp("e.csv")
    write(e, "u,v\n")
    local t5, n5 = nyto.data.read_csv(e)
    assert.same({"u", "v"}, n5)
    assert.same({0, 2}, t5:size())
  end)

  it("returns nil and a message for a missing file", function()
    local p = tmp("none.csv")
    local t, msg = nyto.data.read_csv(p)
    assert.is_nil(t)
    assert.is_truthy(msg:find("^nyto: "))
    assert.is_true(contains(msg, p), msg)
  end)

  it("raises for a field that is not a number, ragged rows and bad options", function()
    local p = tmp("bad.csv")
    write(p, "a,b\n1,2\n3,x\n")
    local e = assert_nyto_error(nyto.data.read_csv, p)
    assert.is_true(contains(e, p .. ":3"), e)
    write(p, "1,2\n3\n")
    e = assert_nyto_error(nyto.data.read_csv, p)
    assert.is_true(contains(e, p .. ":2"), e)
    write(p, "1,\n")
    assert_nyto_error(nyto.data.read_csv, p, {dtype = "int64"})
    assert_nyto_error(nyto.data.read_csv, p, {sep = ""})
    assert_nyto_error(nyto.data.read_csv, p, {header = "yes"})
    assert_nyto_error(nyto.data.read_csv, nil)
  end)
end)

describe("nyto.data.DataLoader", function()
  -- sample i has the value i in every feature, and the label i
  local function dataset(n, features)
    local x = nyto.arange(1, n + 1):view(n, 1):float()
    if features then x = x:expand(n, features):contiguous() end
    local y = nyto.arange(1, n + 1):long()
    return x, y
  end

  local function epoch(loader)
    local order, sizes, unpaired = {}, {}, 0
    for x, y in loader:iter() do
      sizes[#sizes + 1] = x:size(1)
      local xs, ys = x:select(2, 1):totable(), y:totable()
      if #xs ~= #ys then unpaired = unpaired + 1 end
      for i = 1, #ys do
        if ys[i] ~= xs[i] then unpaired = unpaired + 1 end -- images and labels stay paired
        order[#order + 1] = ys[i]
      end
    end
    assert.equal(0, unpaired, "samples whose image and label do not match")
    return order, sizes
  end

  local function is_permutation(order, n)
    if #order ~= n then return false end
    local seen = {}
    for _, v in ipairs(order) do
      if seen[v] or v < 1 or v > n then return false end
      seen[v] = true
    end
    return true
  end

  it("counts batches with #loader, with and without drop_last", function()
    local x, y = dataset(10)
    assert.equal(4, #nyto.data.DataLoader(x, y, {batch_size = 3}))
    assert.equal(3, #nyto.data.DataLoader(x, y, {batch_size = 3, drop_last = true}))
    assert.equal(1, #nyto.data.DataLoader(x, y, {batch_size = 64}))
    assert.equal(0, #nyto.data.DataLoader(x, y, {batch_size = 64, drop_last = true}))
    assert.equal(2, #nyto.data.DataLoader(x, y, {batch_size = 5}))
  end)

  it("without shuffle, gives every sample once, in order, the last batch short", function()
    local x, y = dataset(10)
    local loader = nyto.data.DataLoader(x, y, {batch_size = 4, shuffle = false})
    local order, sizes = epoch(loader)
    assert.same({1, 2, 3, 4, 5, 6, 7, 8, 9, 10}, order)
    assert.same({4, 4, 2}, sizes)
    local o2, s2 = epoch(nyto.data.DataLoader(x, y, {batch_size = 4, shuffle = false, drop_last = true}))
    assert.same({1, 2, 3, 4, 5, 6, 7, 8}, o2)
    assert.same({4, 4}, s2)
  end)

  it("with a seed, covers every sample once per epoch, in an order that is the same on every run", function()
    local n = 103
    local x, y = dataset(n)
    local a = nyto.data.DataLoader(x, y, {batch_size = 10, seed = 42})
    local b = nyto.data.DataLoader(x, y, {batch_size = 10, seed = 42})
    local a1, sizes = epoch(a)
    assert.is_true(is_permutation(a1, n))
    assert.equal(11, #sizes)
    assert.equal(3, sizes[11])
    local a2 = epoch(a)
    assert.is_true(is_permutation(a2, n))
    assert.are_not.same(a1, a2) -- a new order each epoch
    local in_order = {}
    for i = 1, n do in_order[i] = i end
    assert.are_not.same(in_order, a1)
    assert.same(a1, epoch(b)) -- same seed, same orders
    assert.same(a2, epoch(b))
    assert.are_not.same(a1, epoch(nyto.data.DataLoader(x, y, {batch_size = 10, seed = 43})))
    -- unaffected by nyto's own generator
    nyto.manual_seed(1)
    local c = nyto.data.DataLoader(x, y, {batch_size = 10, seed = 42})
    nyto.manual_seed(2)
    assert.same(a1, epoch(c))
    -- and the same in another process
    local script = [[
      local nyto = require "nyto"
      local n = 103
      local x = nyto.arange(1, n + 1):view(n, 1):float()
      local y = nyto.arange(1, n + 1):long()
      local l = nyto.data.DataLoader(x, y, {batch_size = 10, seed = 42})
      local out = {}
      for _, yb in l:iter() do for _, v in ipairs(yb:totable()) do out[#out + 1] = v end end
      print(table.concat(out, " "))
    ]]
    local sp = tmp("order.lua")
    write(sp, script)
    local cmd = string.format(
      "lua5.4 -e 'package.path=\"./lua/?.lua;./lua/?/init.lua;\"..package.path; package.cpath=\"./build/lib/?.so;\"..package.cpath' '%s'",
      sp)
    local out = sh(cmd)
    local other = {}
    for v in out:gmatch("%d+") do other[#other + 1] = tonumber(v) end
    assert.same(a1, other)
  end)

  it("without a seed, shuffles with nyto's generator (nyto.manual_seed reproduces it)", function()
    local x, y = dataset(50)
    nyto.manual_seed(7)
    local o1 = epoch(nyto.data.DataLoader(x, y, {batch_size = 8}))
    nyto.manual_seed(7)
    local o2 = epoch(nyto.data.DataLoader(x, y, {batch_size = 8}))
    assert.is_true(is_permutation(o1, 50))
    assert.same(o1, o2)
  end)

  it("normalises each batch as (x - mean) / std", function()
    local x, y = dataset(6)
    local loader = nyto.data.DataLoader(x, y, {batch_size = 6, shuffle = false, normalize = {2, 4}})
    for bx in loader:iter() do
      assert.same({{-0.25}, {0}, {0.25}, {0.5}, {0.75}, {1}}, bx:totable())
    end
    -- named fields, and shuffled: still (x - mean) / std of the same samples
    local l2 = nyto.data.DataLoader(x, y, {batch_size = 4, seed = 3, normalize = {mean = 1, std = 0.5}})
    for bx, by in l2:iter() do
      local xs, ys = bx:view(bx:numel()):totable(), by:totable()
      for i = 1, #ys do ys[i] = (ys[i] - 1) / 0.5 end
      assert.same(ys, xs)
    end
    -- one value per channel (dimension 2)
    local img = nyto.ones(3, 2, 2, 2)
    local l3 = nyto.data.DataLoader(img, nil, {batch_size = 3, shuffle = false, normalize = {{0.5, 2}, {0.25, 4}}})
    for bx, by in l3:iter() do
      assert.is_nil(by)
      assert.same({3, 2, 2, 2}, bx:size())
      assert.equal(2, bx:select(2, 1):mean():item())
      assert.equal(-0.25, bx:select(2, 2):mean():item())
    end
    -- the data itself is untouched
    assert.same({{1}, {2}, {3}, {4}, {5}, {6}}, x:totable())
    assert.equal(1, img:mean():item())
  end)

  it("gives new tensors, not views of the data", function()
    local x, y = dataset(4)
    for _, shuffle in ipairs {false, true} do
      for bx, by in nyto.data.DataLoader(x, y, {batch_size = 2, shuffle = shuffle}):iter() do
        bx:fill_(0)
        by:fill_(0)
      end
    end
    assert.same({{1}, {2}, {3}, {4}}, x:totable())
    assert.same({1, 2, 3, 4}, y:totable())
  end)

  it("raises nyto: errors for bad arguments", function()
    local x, y = dataset(4)
    assert_nyto_error(nyto.data.DataLoader, {}, y)
    assert_nyto_error(nyto.data.DataLoader, x, nyto.zeros(3))
    assert_nyto_error(nyto.data.DataLoader, x, y, {batch_size = 0})
    assert_nyto_error(nyto.data.DataLoader, x, y, {batch_size = 2.5})
    assert_nyto_error(nyto.data.DataLoader, x, y, {seed = "x"})
    assert_nyto_error(nyto.data.DataLoader, x, y, {shuffle = 1})
    assert_nyto_error(nyto.data.DataLoader, x, y, {normalize = {1, 0}})
    assert_nyto_error(nyto.data.DataLoader, x, y, {normalize = {1}})
    assert_nyto_error(nyto.data.DataLoader, x, y, {normalize = {{1, 2, 3}, {1, 1, 1}}})
    assert_nyto_error(nyto.data.DataLoader, x, y, "opts")
  end)

  it("batches the Fashion-MNIST test set: every sample once, normalised", function()
    local tx, ty = nyto.data.fashion_mnist("test")
    assert.is_truthy(tx, ty)
    local mean, std = 0.2860, 0.3530
    local loader = nyto.data.DataLoader(tx, ty, {batch_size = 64, seed = 1, normalize = {mean, std}})
    assert.equal(157, #loader)
    local count, label_sum, px_sum, batches = 0, 0, 0, 0
    for bx, by in loader:iter() do
      batches = batches + 1
      assert.same({by:size(1), 1, 28, 28}, bx:size())
      count = count + by:size(1)
      label_sum = label_sum + by:sum():item()
      px_sum = px_sum + bx:double():sum():item()
    end
    assert.equal(157, batches)
    assert.equal(10000, count)
    assert.equal(ty:sum():item(), label_sum)
    local want = (tx:double():sum():item() - mean * 10000 * 784) / std
    assert.is_true(math.abs(px_sum - want) < 1e-3 * math.abs(want) + 1, px_sum .. " vs " .. want)
  end)
end)

describe("nyto.progress", function()
  local function sink()
    local s = {buf = {}}
    function s:write(...) for _, v in ipairs {...} do self.buf[#self.buf + 1] = v end return self end
    function s:flush() return self end
    function s:text() return table.concat(self.buf) end
    return s
  end
  local function fake_clock()
    local c = {t = 0}
    c.f = function() return c.t end
    return c
  end
  local function lines(s)
    local out = {}
    for l in s:gmatch("[^\n]+") do out[#out + 1] = l end
    return out
  end

  it("is quiet when not on a terminal: a line every 10% and one at the end", function()
    local out, clock = sink(), fake_clock()
    local bar = nyto.progress(200, {title = "epoch 1", out = out, tty = false, clock = clock.f})
    for i = 1, 200 do
      clock.t = i * 0.05
      bar:update(i, {loss = 1 / i, acc = i / 200})
    end
    bar:finish()
    local ls = lines(out:text())
    assert.equal(10, #ls)
    assert.is_nil(out:text():find("\r", 1, true))
    assert.is_true(contains(ls[1], "epoch 1"), ls[1])
    assert.is_true(contains(ls[1], " 20/200"), ls[1])
    assert.is_true(contains(ls[1], "loss 0.0500"), ls[1])
    assert.is_true(contains(ls[1], "acc 10.00%"), ls[1])
    assert.is_true(contains(ls[1], "20.0 it/s"), ls[1])
    assert.is_true(contains(ls[1], "ETA 00:09"), ls[1])
    assert.is_true(contains(ls[10], "200/200"), ls[10])
    assert.is_true(contains(ls[10], "100%"), ls[10])
    assert.is_true(contains(ls[10], "in 00:10"), ls[10])
    bar:finish() -- once only
    assert.equal(10, #lines(out:text()))
  end)

  it("prints the final line at finish() when the loop stops early", function()
    local out, clock = sink(), fake_clock()
    local bar = nyto.progress(1000, {out = out, tty = false, clock = clock.f, unit = "img"})
    for i = 1, 50 do clock.t = i; bar:update(i) end
    bar:finish({loss = 0.5})
    local ls = lines(out:text())
    assert.equal(1, #ls)
    assert.is_true(contains(ls[1], "50/1000"), ls[1])
    assert.is_true(contains(ls[1], "loss 0.5000"), ls[1])
    assert.is_true(contains(ls[1], "1.0 img/s"), ls[1])
  end)

  it("redraws one line in place on a terminal, at most ~10 times a second", function()
    local out, clock = sink(), fake_clock()
    local bar = nyto.progress(100, {out = out, tty = true, clock = clock.f, width = 120})
    for i = 1, 100 do
      clock.t = i * 0.01 -- 1 s in all: about 10 draws
      bar:update(i, {loss = 2, acc = 0.5})
    end
    bar:finish()
    local text = out:text()
    local draws = select(2, text:gsub("\r", ""))
    assert.is_true(draws >= 9 and draws <= 13, "draws: " .. draws)
    assert.equal(1, select(2, text:gsub("\n", ""))) -- one line, ended by finish
    assert.equal("\n", text:sub(-1))
    assert.is_true(contains(text, "\27[K"))
    assert.is_true(contains(text, "ETA"))
    assert.is_true(contains(text, "["))
    assert.is_true(contains(text, "100/100"))
    for seg in text:gmatch("\r([^\r]*)") do
      assert.is_true(#seg:gsub("\27%[K", ""):gsub("\n", "") <= 119, seg)
    end
  end)

  it("is not a terminal when stdout is a pipe (detected without C)", function()
    local sp = tmp("tty.lua")
    write(sp, 'local nyto = require "nyto"; io.write(tostring(nyto.progress(3).tty))')
    local cmd = string.format(
      "TERM=xterm lua5.4 -e 'package.path=\"./lua/?.lua;./lua/?/init.lua;\"..package.path; package.cpath=\"./build/lib/?.so;\"..package.cpath' '%s'",
      sp)
    assert.equal("false", sh(cmd))
  end)

  it("handles a total of 0 and checks its arguments", function()
    local out = sink()
    local bar = nyto.progress(0, {out = out, tty = false})
    bar:finish()
    assert.equal(1, #lines(out:text()))
    assert_nyto_error(nyto.progress, -1)
    assert_nyto_error(nyto.progress, "10")
    assert_nyto_error(nyto.progress, 10, "title")
    local b = nyto.progress(10, {out = sink(), tty = false})
    assert_nyto_error(b.update, b, "x")
    assert_nyto_error(b.update, b, 1, 5)
  end)
end)
