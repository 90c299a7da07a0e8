-- nyto.data: loading data sets into tensors and batching them.
--
--   images, labels = nyto.data.fashion_mnist("train" | "test" [, dir])
--   t = nyto.data.read_idx(path [, {dtype=}])
--   t, names = nyto.data.read_csv(path [, {header=, sep=, dtype=}])
--   loader = nyto.data.DataLoader(images, labels, {batch_size=, shuffle=, seed=, normalize=, drop_last=})
--   for x, y in loader:iter() do ... end        #loader == number of batches
--
-- File I/O failures a caller may handle (a missing file) return nil, message;
-- a file that is there but corrupt raises a "nyto: " error.  Bytes become
-- tensors in C (core.tensor_from_bytes), never through a Lua table, so the
-- 47 million pixels of the training set load in a fraction of a second.
return function(nyto, core)
  local data = {}
  nyto.data = data

  local PACKAGE = "dataset-fashion-mnist"
  local FASHION_DIR = "/usr/share/datasets/fashion-mnist"
  data.FASHION_MNIST_DIR = FASHION_DIR
  data.FASHION_MNIST_CLASSES = {"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                                "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"}

  local Tensor_mt = core.Tensor_mt
  local function is_tensor(x) return getmetatable(x) == Tensor_mt end

  local function fail(msg) error(msg, 0) end
  local argerror = require("nyto.errors").argerr

  -- nil, message when the file cannot be opened (the message names the path)
  local function check_open(path, fname)
    local f, err = io.open(path, "rb")
    if not f then return nil, string.format("nyto: %s: cannot open %s", fname, err or path) end
    f:close()
    return true
  end

  -- the whole (gunzipped) file, or a raise when it is there but unreadable
  local function slurp(path, fname)
    local s, err = core.read_file(path)
    if not s then fail(string.format("nyto: %s: %s", fname, err or ("cannot read " .. path))) end
    return s
  end

  local converters = {float32 = "float", float64 = "double", int64 = "long", bool = "bool"}
  local function check_dtype(d, i, fname)
    if d ~= nil and not converters[d] then
      argerror(i, fname, "dtype must be \"float32\", \"float64\", \"int64\" or \"bool\", got " .. tostring(d))
    end
    return d
  end

  -- IDX ------------------------------------------------------------------------
  -- type code -> element size, string.unpack format, natural nyto dtype
  local IDX_TYPES = {
    [0x08] = {1, "B", "int64", "unsigned byte"},
    [0x09] = {1, "b", "int64", "signed byte"},
    [0x0B] = {2, ">i2", "int64", "short"},
    [0x0C] = {4, ">i4", "int64", "int"},
    [0x0D] = {4, ">f", "float32", "float"},
    [0x0E] = {8, ">d", "float64", "double"},
  }

  local function shape_string(dims) return "[" .. table.concat(dims, ", ") .. "]" end

  -- Parse an IDX file's bytes: dims, type code, data offset.  Raises on anything wrong.
  local function parse_idx(s, path, fname)
    local len = #s
    if len < 4 then
      fail(string.format("nyto: %s: %s is not an IDX file (truncated: %d bytes, the header alone needs at least 4)",
                         fname, path, len))
    end
    local z1, z2, code, nd = s:byte(1, 4)
    if z1 ~= 0 or z2 ~= 0 then
      fail(string.format("nyto: %s: %s is not an IDX file (bad magic number 0x%02x%02x%02x%02x)",
                         fname, path, z1, z2, code, nd))
    end
    local ty = IDX_TYPES[code]
    if not ty then fail(string.format("nyto: %s: %s has an unknown IDX element type 0x%02x", fname, path, code)) end
    if nd < 1 or nd > 16 then
      fail(string.format("nyto: %s: %s has %d dimensions (IDX files here have 1 to 16)", fname, path, nd))
    end
    local hdr = 4 + 4 * nd
    if len < hdr then
      fail(string.format("nyto: %s: %s is truncated: a header of %d dimensions needs %d bytes, the file has %d",
                         fname, path, nd, hdr, len))
    end
    local dims, count, empty = {}, 1, false
    for d = 1, nd do
      dims[d] = string.unpack(">I4", s, 5 + 4 * (d - 1))
      if dims[d] == 0 then empty = true end
    end
    if empty then
      count = 0
    else
      for d = 1, nd do
        -- count <= len before each step, so the integer product cannot overflow
        count = count * dims[d]
        if count * ty[1] > len then count = math.huge break end -- cannot fit: reported below
      end
    end
    local need = count == math.huge and math.huge or count * ty[1]
    local have = len - hdr
    if need ~= have then
      local needs = need == math.huge and "more than the file holds" or string.format("%d data bytes", need)
      fail(string.format("nyto: %s: %s has wrong sizes or is truncated: sizes %s of %s need %s, the file has %d",
                         fname, path, shape_string(dims), ty[4], needs, have))
    end
    return dims, code, hdr, count
  end

  -- Decode the data of a parsed IDX file to a tensor of the given dtype.
  local function idx_tensor(s, dims, code, hdr, count, dtype)
    local ty = IDX_TYPES[code]
    dtype = dtype or ty[3]
    local t
    if code == 0x08 then
      -- unsigned bytes: straight to float32 or int64 in C
      local direct = (dtype == "float32" or dtype == "int64") and dtype or "float32"
      t = core.tensor_from_bytes(s, hdr, count, direct)
    else
      -- other element types: string.unpack in chunks (rare, small files)
      local flat, n, pos = {}, 0, hdr + 1
      local CH = 256
      local fmt = ty[2]:sub(1, 1) == ">" and (">" .. string.rep(ty[2]:sub(2), CH)) or string.rep(ty[2], CH)
      local one = ty[2]
      while n + CH <= count do
        local vals = table.pack(string.unpack(fmt, s, pos))
        for k = 1, CH do flat[n + k] = vals[k] end
        n, pos = n + CH, vals[CH + 1]
      end
      while n < count do
        local v
        v, pos = string.unpack(one, s, pos)
        n = n + 1
        flat[n] = v
      end
      if count == 0 then
        t = nyto.zeros(0, {dtype = ty[3]})
      else
        t = nyto.tensor(flat, {dtype = ty[3]})
      end
    end
    if t:dtype() ~= dtype then t = t[converters[dtype]](t) end
    return t:view(dims)
  end

  local function load_idx(path, fname, dtype)
    local ok, err = check_open(path, fname)
    if not ok then return nil, err end
    local s = slurp(path, fname)
    local dims, code, hdr, count = parse_idx(s, path, fname)
    return idx_tensor(s, dims, code, hdr, count, dtype), code, dims
  end

  -- nyto.data.read_idx(path [, {dtype=}]) -> tensor with the file's sizes | nil, message.
  -- Integer element types become int64, float float32, double float64, unless dtype says.
  function data.read_idx(path, opts)
    if type(path) ~= "string" then argerror(1, "read_idx", "string expected, got " .. type(path)) end
    if opts ~= nil and type(opts) ~= "table" then argerror(2, "read_idx", "options table expected, got " .. type(opts)) end
    local dtype = check_dtype(opts and opts.dtype, 2, "read_idx")
    local t, err = load_idx(path, "read_idx", dtype)
    if not t then return nil, err end
    return t
  end

  -- Fashion-MNIST ----------------------------------------------------------------
  local function find_file(dir, name)
    local gz = dir .. "/" .. name .. ".gz"
    if check_open(gz, "fashion_mnist") then return gz end
    local raw = dir .. "/" .. name
    if check_open(raw, "fashion_mnist") then return raw end
    return nil, gz
  end

  -- nyto.data.fashion_mnist(split [, dir]) -> images (N x 1 x 28 x 28 float32 in [0, 1]),
  -- labels (N int64, classes 1..10) | nil, message naming the path and the Debian package.
  function data.fashion_mnist(split, dir)
    local fname = "fashion_mnist"
    if split ~= "train" and split ~= "test" then
      argerror(1, fname, "\"train\" or \"test\" expected, got " ..
                         (type(split) == "string" and string.format("%q", split) or type(split)))
    end
    if dir ~= nil and type(dir) ~= "string" then argerror(2, fname, "directory string expected, got " .. type(dir)) end
    dir = (dir or FASHION_DIR):gsub("/+$", "")
    if dir == "" then dir = "/" end
    local prefix = split == "train" and "train" or "t10k"
    local paths = {}
    for _, kind in ipairs {"images-idx3-ubyte", "labels-idx1-ubyte"} do
      local p, missing = find_file(dir, prefix .. "-" .. kind)
      if not p then
        local _, why = io.open(missing, "rb")
        return nil, string.format("nyto: fashion_mnist: cannot open %s (install the Debian package %s: apt-get install %s)",
                                  why or missing, PACKAGE, PACKAGE)
      end
      paths[#paths + 1] = p
    end
    -- labels first: small, and they fix N
    local ls = slurp(paths[2], fname)
    local ldims, lcode, lhdr, lcount = parse_idx(ls, paths[2], fname)
    if lcode ~= 0x08 or #ldims ~= 1 then
      fail(string.format("nyto: fashion_mnist: %s is not a Fashion-MNIST label file (expected unsigned bytes of 1 dimension, got %s of %d)",
                         paths[2], IDX_TYPES[lcode][4], #ldims))
    end
    local labels = idx_tensor(ls, ldims, lcode, lhdr, lcount, "int64")
    ls = nil
    local s = slurp(paths[1], fname)
    local dims, code, hdr, count = parse_idx(s, paths[1], fname)
    if code ~= 0x08 or #dims ~= 3 or dims[2] ~= 28 or dims[3] ~= 28 then
      fail(string.format("nyto: fashion_mnist: %s is not a Fashion-MNIST image file (expected unsigned bytes of sizes [N, 28, 28], got %s of %s)",
                         paths[1], IDX_TYPES[code][4], shape_string(dims)))
    end
    if dims[1] ~= ldims[1] then
      fail(string.format("nyto: fashion_mnist: %s holds %d images but %s holds %d labels",
                         paths[1], dims[1], paths[2], ldims[1]))
    end
    local images = core.tensor_from_bytes(s, hdr, count, "float32")
    s = nil
    images = images:view(dims[1], 1, 28, 28):div_(255)
    if lcount > 0 then
      local hi = labels:max():item()
      if hi > 9 then
        fail(string.format("nyto: fashion_mnist: %s has a label %d outside 0..9", paths[2], hi))
      end
    end
    labels = labels + 1 -- (not add_: int64 add_ with the default alpha fails in ops.def)
    return images, labels
  end

  -- CSV --------------------------------------------------------------------------
  local specials = {nan = 0 / 0, ["+nan"] = 0 / 0, ["-nan"] = 0 / 0, inf = math.huge, ["+inf"] = math.huge,
                    ["-inf"] = -math.huge, infinity = math.huge, ["+infinity"] = math.huge,
                    ["-infinity"] = -math.huge}

  -- fields come out of records() already unquoted; spaces around a number are allowed
  local function unquote(f) return (f:match("^%s*(.-)%s*$")) end

  -- decimal numbers only (RFC 4180 says nothing of numbers): 12, -1.5, .5, 1e-3, 2.E+4;
  -- not 0x10, not 1_000, not "1 2"
  local function is_decimal(f)
    return f:match("^[+-]?%d+%.?%d*$") or f:match("^[+-]?%d*%.%d+$") or f:match("^[+-]?%d+%.?%d*[eE][+-]?%d+$")
      or f:match("^[+-]?%d*%.%d+[eE][+-]?%d+$")
  end

  -- a number, or nil for an empty field, or false when not a number
  local function parse_number(f)
    f = unquote(f)
    if f == "" then return nil end
    local v = is_decimal(f) and tonumber(f)
    if v then return v end
    v = specials[f:lower()]
    if v then return v end
    return false
  end

  -- RFC 4180 records of s: fields separated by sep, records ended by CRLF, LF or a lone CR;
  -- a field in double quotes may hold sep, line breaks and "" (one quote).  Calls
  -- fn(fields, n, lineno) for each record that is not blank; raises on a stray quote.
  local function records(s, sep, path, fn)
    local pos, len, lineno = 1, #s, 1
    local fields, n = {}, 0
    local function fail_at(msg) fail(string.format("nyto: read_csv: %s:%d: %s", path, lineno, msg)) end
    while pos <= len + 1 do
      local start_line = lineno
      fields, n = {}, 0
      local blank = true
      while true do -- one field
        n = n + 1
        local c = s:sub(pos, pos)
        local lead = s:match("^[ \t]*", pos)
        if s:sub(pos + #lead, pos + #lead) == '"' then -- quoted
          local buf, p = {}, pos + #lead + 1
          while true do
            local q = s:find('"', p, true)
            if not q then fail_at("a quoted field is not closed") end
            local chunk = s:sub(p, q - 1)
            for _ in chunk:gmatch("\r\n?") do lineno = lineno + 1 end
            for _ in chunk:gsub("\r\n", ""):gmatch("\n") do lineno = lineno + 1 end
            buf[#buf + 1] = chunk
            if s:sub(q + 1, q + 1) == '"' then
              buf[#buf + 1] = '"'
              p = q + 2
            else
              p = q + 1
              break
            end
          end
          fields[n] = table.concat(buf)
          blank = false
          local trail = s:match("^[ \t]*", p)
          pos = p + #trail
          c = s:sub(pos, pos)
          if c ~= "" and c ~= "\r" and c ~= "\n" and s:sub(pos, pos + #sep - 1) ~= sep then
            fail_at(string.format("field %d: text after the closing quote", n))
          end
        else
          local a = s:find(sep, pos, true)
          local e = s:find("[\r\n]", pos)
          local stop = (a and (not e or a < e)) and a or (e or len + 1)
          local f = s:sub(pos, stop - 1)
          if f:find('"', 1, true) then fail_at(string.format("field %d: a quote inside an unquoted field", n)) end
          if f:find("%S") then blank = false end
          fields[n] = f
          pos = stop
        end
        if s:sub(pos, pos + #sep - 1) == sep then
          pos = pos + #sep
          blank = false
        else
          break
        end
      end
      -- end of record: CRLF, LF, CR or the end of s
      local c = s:sub(pos, pos)
      if c == "\r" and s:sub(pos + 1, pos + 1) == "\n" then pos = pos + 2
      elseif c == "\r" or c == "\n" then pos = pos + 1
      else pos = len + 2 end
      lineno = lineno + 1
      if not blank then fn(fields, n, start_line) end
    end
  end

  -- nyto.data.read_csv(path [, {header=, sep=",", dtype="float32"}]) -> tensor (rows x columns), names | nil, message.
  -- header: true (the first line names the columns), false (no header), or nil: a header
  -- exactly when the first line has a field that is not a number.  names is nil without one.
  -- Empty fields read as NaN (an error for int64); "nan" and "inf" are read too.
  function data.read_csv(path, opts)
    local fname = "read_csv"
    if type(path) ~= "string" then argerror(1, fname, "string expected, got " .. type(path)) end
    if opts ~= nil and type(opts) ~= "table" then argerror(2, fname, "options table expected, got " .. type(opts)) end
    opts = opts or {}
    local sep = opts.sep == nil and "," or opts.sep
    if type(sep) ~= "string" or sep == "" then argerror(2, fname, "sep must be a non-empty string") end
    local header = opts.header
    if header ~= nil and type(header) ~= "boolean" then argerror(2, fname, "header must be a boolean") end
    local dtype = check_dtype(opts.dtype, 2, fname) or "float32"
    local ok, err = check_open(path, fname)
    if not ok then return nil, err end
    local s = slurp(path, fname)
    if s:sub(1, 3) == "\239\187\191" then s = s:sub(4) end -- UTF-8 byte order mark
    local rows, names, ncols = {}, nil, nil
    local first = true
    records(s, sep, path, function(fields, n, lineno)
        if first then
          first = false
          local is_header = header
          if is_header == nil then
            -- a header when every field is text; a line of both numbers and text is an
            -- error (a corrupted first row must not silently become the header)
            local text, num = 0, 0
            for i = 1, n do
              local v = parse_number(fields[i])
              if v == false then text = text + 1 elseif v ~= nil then num = num + 1 end
            end
            if text > 0 and num > 0 then
              fail(string.format("nyto: read_csv: %s:%d: the first line mixes numbers and text: is it a header? pass {header = true} or {header = false}",
                path, lineno))
            end
            is_header = text > 0
          end
          ncols = n
          if is_header then
            names = {}
            for i = 1, n do names[i] = unquote(fields[i]) end
            return
          end
        end
        if n ~= ncols then
          fail(string.format("nyto: read_csv: %s:%d: %d fields, expected %d", path, lineno, n, ncols))
        end
        local row = {}
        for i = 1, n do
          local v = parse_number(fields[i])
          if v == false then
            fail(string.format("nyto: read_csv: %s:%d: field %d is not a number (%q)", path, lineno, i, unquote(fields[i])))
          elseif v == nil then
            if dtype == "int64" or dtype == "bool" then
              fail(string.format("nyto: read_csv: %s:%d: field %d is empty (no missing values in %s)", path, lineno, i, dtype))
            end
            v = 0 / 0
          end
          row[i] = v
        end
        rows[#rows + 1] = row
    end)
    local t
    if #rows == 0 then
      t = nyto.zeros(0, ncols or 0, {dtype = dtype})
    else
      local ok2, res = pcall(nyto.tensor, rows, {dtype = dtype})
      if not ok2 then fail(string.format("nyto: read_csv: %s: %s", path, tostring(res):gsub("^nyto: ", ""))) end
      t = res
    end
    return t, names
  end

  -- DataLoader ---------------------------------------------------------------------
  -- splitmix64: a small generator of its own, so a seeded loader neither reads nor
  -- disturbs nyto's (torch's) random state and gives the same order on every run.
  local function splitmix(state)
    state = state + 0x9E3779B97F4A7C15
    local z = state
    z = (z ~ (z >> 30)) * 0xBF58476D1CE4E5B9
    z = (z ~ (z >> 27)) * 0x94D049BB133111EB
    return state, z ~ (z >> 31)
  end

  local DataLoader = {}
  DataLoader.__index = DataLoader
  DataLoader.__name = "nyto.DataLoader"
  data.DataLoader_mt = DataLoader

  local function read_stat(v, what, channels)
    if type(v) == "number" then return v end
    if is_tensor(v) then return v end
    if type(v) == "table" then
      if #v == 1 and type(v[1]) == "number" then return v[1] end
      if channels == nil or #v ~= channels then
        argerror(3, "DataLoader", string.format("normalize %s has %d values, the images have %s channels (size of dimension 2)",
                                                what, #v, tostring(channels)))
      end
      for i = 1, #v do
        if type(v[i]) ~= "number" then argerror(3, "DataLoader", "normalize " .. what .. " values must be numbers") end
      end
      return v -- per channel: made a tensor that broadcasts over dimension 2
    end
    argerror(3, "DataLoader", "normalize " .. what .. " must be a number or a table of numbers, got " .. type(v))
  end

  -- nyto.data.DataLoader(images, labels, opts): batches of (images, labels) along dimension 1.
  -- opts: batch_size (64), shuffle (true), seed (an integer: shuffle with the loader's own
  -- generator, the same order on every run; without one, shuffling draws from nyto's generator,
  -- so nyto.manual_seed makes it reproducible), normalize = {mean, std} (numbers, or one value
  -- per channel of dimension 2; each batch is (x - mean) / std), drop_last (false).
  -- labels may be nil: the loop then gets x alone.
  function data.DataLoader(images, labels, opts)
    local fname = "DataLoader"
    if not is_tensor(images) then argerror(1, fname, "Tensor of samples expected, got " .. (nyto.type(images) or type(images))) end
    if images:dim() < 1 then argerror(1, fname, "the samples tensor needs at least one dimension") end
    local n = images:size(1)
    if labels ~= nil then
      if not is_tensor(labels) then argerror(2, fname, "Tensor of labels (or nil) expected, got " .. (nyto.type(labels) or type(labels))) end
      if labels:dim() < 1 or labels:size(1) ~= n then
        argerror(2, fname, string.format("%d labels for %d samples", labels:dim() < 1 and 0 or labels:size(1), n))
      end
    end
    if opts ~= nil and type(opts) ~= "table" then argerror(3, fname, "options table expected, got " .. type(opts)) end
    opts = opts or {}
    local bs = opts.batch_size == nil and 64 or opts.batch_size
    if math.type(bs) ~= "integer" or bs < 1 then argerror(3, fname, "batch_size must be a positive integer") end
    local shuffle = opts.shuffle
    if shuffle == nil then shuffle = true end
    if type(shuffle) ~= "boolean" then argerror(3, fname, "shuffle must be a boolean") end
    local seed = opts.seed
    if seed ~= nil and math.type(seed) ~= "integer" then argerror(3, fname, "seed must be an integer") end
    local drop_last = opts.drop_last or false
    if type(drop_last) ~= "boolean" then argerror(3, fname, "drop_last must be a boolean") end
    local mean, std
    if opts.normalize ~= nil then
      local nz = opts.normalize
      if type(nz) ~= "table" then argerror(3, fname, "normalize must be a table {mean, std}") end
      local m, s = nz.mean, nz.std
      if m == nil then m = nz[1] end
      if s == nil then s = nz[2] end
      if m == nil or s == nil then argerror(3, fname, "normalize must be a table {mean, std}") end
      local channels = images:dim() >= 2 and images:size(2) or nil
      m, s = read_stat(m, "mean", channels), read_stat(s, "std", channels)
      local function as_operand(v)
        if type(v) ~= "table" then return v end
        local shape = {1, #v}
        for _ = 3, images:dim() do shape[#shape + 1] = 1 end
        return nyto.tensor(v, {dtype = images:dtype()}):view(shape)
      end
      local function has_zero(v)
        if type(v) == "number" then return v == 0 end
        if is_tensor(v) then return v:eq(0):any():item() end
        for i = 1, #v do if v[i] == 0 then return true end end
        return false
      end
      if has_zero(s) then argerror(3, fname, "normalize std must not be zero") end
      mean, std = as_operand(m), as_operand(s)
    end
    local nb = drop_last and n // bs or (n + bs - 1) // bs
    local self = setmetatable({
      images = images, labels = labels, batch_size = bs, shuffle = shuffle, seed = seed,
      drop_last = drop_last, mean = mean, std = std, size = n, nbatches = nb, epoch = 0,
      _state = seed,
    }, DataLoader)
    return self
  end

  function DataLoader.__len(self) return self.nbatches end
  function DataLoader.__tostring(self)
    return string.format("DataLoader(%d samples, %d batches of %d%s)", self.size, self.nbatches, self.batch_size,
                         self.shuffle and ", shuffled" or "")
  end

  -- The order of one epoch as a 1-based int64 tensor (nil: in order).
  function DataLoader:order()
    local n = self.size
    if not self.shuffle or n == 0 then return nil end
    if self._state == nil then
      return core.ops.randperm_like(self.images)
    end
    local st, z = self._state, nil
    local p = {}
    for i = 1, n do p[i] = i end
    for i = n, 2, -1 do
      st, z = splitmix(st)
      local j = (z >> 11) % i + 1
      p[i], p[j] = p[j], p[i]
    end
    self._state = st
    return nyto.tensor(p, {dtype = "int64"})
  end

  -- for x, y in loader:iter() do ... end: one epoch; each call starts a new epoch
  -- (with a new order when shuffling).  Batches are new tensors, never views of the data.
  function DataLoader:iter()
    local images, labels, bs, n, nb = self.images, self.labels, self.batch_size, self.size, self.nbatches
    local mean, std = self.mean, self.std
    self.epoch = self.epoch + 1
    local perm = self:order()
    local b = 0
    return function()
      b = b + 1
      if b > nb then return nil end
      local start = (b - 1) * bs + 1
      local cnt = math.min(bs, n - start + 1)
      local x, y
      if perm then
        local idx = perm:narrow(1, start, cnt)
        x = images:index_select(1, idx)
        if labels then y = labels:index_select(1, idx) end
      else
        x = images:narrow(1, start, cnt):clone()
        if labels then y = labels:narrow(1, start, cnt):clone() end
      end
      if mean ~= nil then
        if x:dtype() ~= "float32" and x:dtype() ~= "float64" then x = x:float() end
        x:sub_(mean):div_(std)
      end
      return x, y
    end
  end
end
