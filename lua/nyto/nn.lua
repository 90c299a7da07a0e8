-- nyto.nn: layers as nyto modules, after torch.nn (PyTorch 1.13).
-- Constructors take PyTorch's arguments in PyTorch's order, with PyTorch's
-- defaults and parameter initialisation; since Lua has no keyword arguments,
-- the last argument may instead be a table of them:
--   nn.Conv2d(1, 32, 3, {padding = 1})   ==   nn.Conv2d(1, 32, 3, 1, 1)
-- Dims are 1-based (nn.Flatten() flattens from dim 2, nn.Softmax(2) is over
-- the second dim); class labels and embedding indices are 1-based.
-- BatchNorm's momentum = false means PyTorch's momentum=None (cumulative average).
return function(nyto, core)
  local F = nyto.F
  local Tmt = core.Tensor_mt
  local nn = {}
  nyto.nn = nn

  local type, getmetatable, error, select, tostring = type, getmetatable, error, select, tostring
  local tointeger, sqrt = math.tointeger, math.sqrt

  local E = require "nyto.errors"
  local typename = E.typename
  local function argerr(i, fname, msg) E.argerr(i, "nn." .. fname, msg) end

  local function is_tensor(v) return getmetatable(v) == Tmt end
  local is_module = nyto.is_module

  local function py(v) -- Python-style printing of a value in extra_repr
    if v == true then return "True" elseif v == false then return "False" elseif v == nil then return "None" end
    if type(v) == "table" then
      local p = {}
      for k = 1, #v do p[k] = py(v[k]) end
      return "(" .. table.concat(p, ", ") .. (#v == 1 and ",)" or ")")
    end
    if math.type(v) == "float" and v == math.floor(v) and v > -1e15 and v < 1e15 then return ("%.1f"):format(v) end
    return tostring(v)
  end

  -- constructor arguments ---------------------------------------------------------------
  -- an options table: a plain table without an array part
  local function is_opts(v)
    return type(v) == "table" and getmetatable(v) == nil and rawget(v, 1) == nil
  end

  -- parse (...) by spec = {{name, default}, ...}; returns a table name -> value and,
  -- for errors, name -> argument number
  local REQUIRED = {}
  local function parse(fname, spec, ...)
    local n = select("#", ...)
    local v = table.pack(...)
    local opts
    if n > 0 and is_opts(v[n]) then
      opts = v[n]
      n = n - 1
    end
    if n > #spec then argerr(#spec + 1, fname, ("at most %d arguments expected, got %d"):format(#spec, n)) end
    local out, pos = {}, {}
    local known = {}
    for i, s in ipairs(spec) do
      local name = s[1]
      known[name] = true
      local val
      if i <= n then val = v[i] end
      pos[name] = i
      if opts and opts[name] ~= nil then
        if val ~= nil then argerr(i, fname, ("'%s' given both positionally and in the options table"):format(name)) end
        val = opts[name]
      end
      if val == nil then
        if s[2] == REQUIRED then argerr(i, fname, ("'%s' is required"):format(name)) end
        val = s[2]
      end
      out[name] = val
    end
    if opts then
      for k in pairs(opts) do
        if not known[k] then argerr(n + 1, fname, "unknown option '" .. tostring(k) .. "'") end
      end
    end
    return out, pos
  end

  -- bounds on what a layer's constructor may allocate (checked before any allocation)
  local MAX_LAYERS, MAX_PARAM_NUMEL = 4096, 1 << 32

  local function int_arg(a, pos, fname, name, min)
    local v = a[name]
    local n = type(v) == "number" and tointeger(v)
    if not n then
      argerr(pos[name], fname, ("%s must be an integer, got %s"):format(name,
        type(v) == "number" and "a non-integral number" or typename(v)))
    end
    if min and n < min then argerr(pos[name], fname, ("%s must be >= %d, got %d"):format(name, min, n)) end
    if n > 1 << 40 then argerr(pos[name], fname, ("%s must be at most 2^40, got %d"):format(name, n)) end
    a[name] = n
    return n
  end

  local function num_arg(a, pos, fname, name, lo, hi)
    local v = a[name]
    if type(v) ~= "number" then argerr(pos[name], fname, ("%s must be a number, got %s"):format(name, typename(v))) end
    if (lo and v < lo) or (hi and v > hi) then
      argerr(pos[name], fname, ("%s must be in [%s, %s], got %s"):format(name, tostring(lo or "-inf"), tostring(hi or "inf"), tostring(v)))
    end
    return v
  end

  local function bool_arg(a, pos, fname, name)
    local v = a[name]
    if type(v) ~= "boolean" then argerr(pos[name], fname, ("%s must be a boolean, got %s"):format(name, typename(v))) end
    return v
  end

  -- an integer or a table of 1 or 2 integers -> {h, w}
  local function pair_arg(a, pos, fname, name, min)
    local v = a[name]
    local h, w
    if type(v) == "number" then h = tointeger(v) w = h
    elseif type(v) == "table" and (#v == 1 or #v == 2) then h, w = tointeger(v[1]), tointeger(v[#v]) end
    if not h or not w then
      argerr(pos[name], fname, ("%s must be an integer or a table of 2 integers, got %s"):format(name, typename(v)))
    end
    if h < min or w < min then argerr(pos[name], fname, ("%s must be >= %d"):format(name, min)) end
    a[name] = {h, w}
    return a[name]
  end

  local function pair_repr(p) return "(" .. p[1] .. ", " .. p[2] .. ")" end

  -- initialisation (PyTorch's defaults) ----------------------------------------------------
  -- kaiming_uniform_(a = sqrt(5)): U(-1/sqrt(fan_in), 1/sqrt(fan_in)); the bias has the same bound
  local function init_uniform(t, bound)
    nyto.no_grad(function() t:uniform_(-bound, bound) end)
  end
  local function fan_bound(fan_in) return fan_in > 0 and 1 / sqrt(fan_in) or 0 end
  nn.init = {
    uniform_ = function(t, a, b) nyto.no_grad(function() t:uniform_(a or 0, b or 1) end) return t end,
    normal_ = function(t, m, s) nyto.no_grad(function() t:normal_(m or 0, s or 1) end) return t end,
    constant_ = function(t, v) nyto.no_grad(function() t:fill_(v) end) return t end,
    zeros_ = function(t) nyto.no_grad(function() t:zero_() end) return t end,
    ones_ = function(t) nyto.no_grad(function() t:fill_(1) end) return t end,
  }

  local function class(name, parent) return nyto.class(name, parent) end

  -- Linear -------------------------------------------------------------------------------
  local Linear = class("Linear")
  nn.Linear = Linear
  local LINEAR = {{"in_features", REQUIRED}, {"out_features", REQUIRED}, {"bias", true}}
  function Linear:init(...)
    local a, pos = parse("Linear", LINEAR, ...)
    local fin = int_arg(a, pos, "Linear", "in_features", 0)
    local fout = int_arg(a, pos, "Linear", "out_features", 0)
    bool_arg(a, pos, "Linear", "bias")
    self.in_features, self.out_features = fin, fout
    self.weight = nyto.Parameter(nyto.empty(fout, fin))
    if a.bias then self.bias = nyto.Parameter(nyto.empty(fout)) end
    self:reset_parameters()
  end
  function Linear:reset_parameters()
    local bound = fan_bound(self.in_features)
    init_uniform(self.weight, bound)
    if self.bias then init_uniform(self.bias, bound) end
  end
  function Linear:forward(x) return F.linear(x, self.weight, self.bias) end
  function Linear:extra_repr()
    return ("in_features=%d, out_features=%d, bias=%s"):format(self.in_features, self.out_features, py(self.bias ~= nil))
  end

  -- Conv2d -------------------------------------------------------------------------------
  local Conv2d = class("Conv2d")
  nn.Conv2d = Conv2d
  local CONV = {{"in_channels", REQUIRED}, {"out_channels", REQUIRED}, {"kernel_size", REQUIRED},
                {"stride", 1}, {"padding", 0}, {"dilation", 1}, {"groups", 1}, {"bias", true},
                {"padding_mode", "zeros"}}
  function Conv2d:init(...)
    local fn = "Conv2d"
    local a, pos = parse(fn, CONV, ...)
    local cin = int_arg(a, pos, fn, "in_channels", 1)
    local cout = int_arg(a, pos, fn, "out_channels", 1)
    local k = pair_arg(a, pos, fn, "kernel_size", 1)
    local stride = pair_arg(a, pos, fn, "stride", 1)
    local dilation = pair_arg(a, pos, fn, "dilation", 1)
    local groups = int_arg(a, pos, fn, "groups", 1)
    bool_arg(a, pos, fn, "bias")
    local padding = a.padding
    if padding == "same" then
      if stride[1] ~= 1 or stride[2] ~= 1 then argerr(pos.padding, fn, "padding=\"same\" is not supported for strided convolutions") end
    elseif padding ~= "valid" then
      padding = pair_arg(a, pos, fn, "padding", 0)
    end
    if a.padding_mode ~= "zeros" then
      argerr(pos.padding_mode, fn, ("padding_mode %s is not supported (only \"zeros\")"):format(tostring(a.padding_mode)))
    end
    if cin % groups ~= 0 then argerr(pos.groups, fn, "in_channels must be divisible by groups") end
    if cout % groups ~= 0 then argerr(pos.groups, fn, "out_channels must be divisible by groups") end
    self.in_channels, self.out_channels, self.kernel_size = cin, cout, k
    self.stride, self.padding, self.dilation, self.groups = stride, padding, dilation, groups
    self.padding_mode = "zeros"
    self.weight = nyto.Parameter(nyto.empty(cout, cin // groups, k[1], k[2]))
    if a.bias then self.bias = nyto.Parameter(nyto.empty(cout)) end
    self:reset_parameters()
  end
  function Conv2d:reset_parameters()
    local k = self.kernel_size
    local bound = fan_bound(self.in_channels // self.groups * k[1] * k[2])
    init_uniform(self.weight, bound)
    if self.bias then init_uniform(self.bias, bound) end
  end
  function Conv2d:forward(x)
    return F.conv2d(x, self.weight, self.bias, self.stride, self.padding, self.dilation, self.groups)
  end
  function Conv2d:extra_repr()
    local s = ("%d, %d, kernel_size=%s, stride=%s"):format(self.in_channels, self.out_channels,
      pair_repr(self.kernel_size), pair_repr(self.stride))
    local p = self.padding
    if type(p) == "string" then s = s .. ", padding=" .. p
    elseif p[1] ~= 0 or p[2] ~= 0 then s = s .. ", padding=" .. pair_repr(p) end
    if self.dilation[1] ~= 1 or self.dilation[2] ~= 1 then s = s .. ", dilation=" .. pair_repr(self.dilation) end
    if self.groups ~= 1 then s = s .. ", groups=" .. self.groups end
    if not self.bias then s = s .. ", bias=False" end
    return s
  end

  -- pooling ------------------------------------------------------------------------------
  local function pool_param(a, pos, fn, name, min)
    local v = a[name]
    if type(v) == "number" then return int_arg(a, pos, fn, name, min) end
    return pair_arg(a, pos, fn, name, min)
  end
  local function pool_repr(v) return type(v) == "table" and pair_repr(v) or tostring(v) end

  -- kernel_size, stride (default: the kernel size) and padding of a pooling layer
  local function pool_window(self, a, pos, fn)
    self.kernel_size = pool_param(a, pos, fn, "kernel_size", 1)
    if a.stride == false then self.stride = self.kernel_size else self.stride = pool_param(a, pos, fn, "stride", 1) end
    self.padding = pool_param(a, pos, fn, "padding", 0)
  end

  local MaxPool2d = class("MaxPool2d")
  nn.MaxPool2d = MaxPool2d
  local MAXPOOL = {{"kernel_size", REQUIRED}, {"stride", false}, {"padding", 0}, {"dilation", 1},
                   {"return_indices", false}, {"ceil_mode", false}}
  function MaxPool2d:init(...)
    local fn = "MaxPool2d"
    local a, pos = parse(fn, MAXPOOL, ...)
    pool_window(self, a, pos, fn)
    self.dilation = pool_param(a, pos, fn, "dilation", 1)
    self.return_indices = bool_arg(a, pos, fn, "return_indices")
    if self.return_indices then argerr(pos.return_indices, fn, "return_indices is not supported yet") end
    self.ceil_mode = bool_arg(a, pos, fn, "ceil_mode")
  end
  function MaxPool2d:forward(x)
    return F.max_pool2d(x, self.kernel_size, self.stride, self.padding, self.dilation, self.ceil_mode)
  end
  function MaxPool2d:extra_repr()
    return ("kernel_size=%s, stride=%s, padding=%s, dilation=%s, ceil_mode=%s"):format(pool_repr(self.kernel_size),
      pool_repr(self.stride), pool_repr(self.padding), pool_repr(self.dilation), py(self.ceil_mode))
  end

  local AvgPool2d = class("AvgPool2d")
  nn.AvgPool2d = AvgPool2d
  local AVGPOOL = {{"kernel_size", REQUIRED}, {"stride", false}, {"padding", 0}, {"ceil_mode", false},
                   {"count_include_pad", true}, {"divisor_override", false}}
  function AvgPool2d:init(...)
    local fn = "AvgPool2d"
    local a, pos = parse(fn, AVGPOOL, ...)
    pool_window(self, a, pos, fn)
    self.ceil_mode = bool_arg(a, pos, fn, "ceil_mode")
    self.count_include_pad = bool_arg(a, pos, fn, "count_include_pad")
    if a.divisor_override ~= false then self.divisor_override = int_arg(a, pos, fn, "divisor_override", 1) end
  end
  function AvgPool2d:forward(x)
    return F.avg_pool2d(x, self.kernel_size, self.stride, self.padding, self.ceil_mode, self.count_include_pad,
      self.divisor_override)
  end
  function AvgPool2d:extra_repr()
    return ("kernel_size=%s, stride=%s, padding=%s"):format(pool_repr(self.kernel_size), pool_repr(self.stride),
      pool_repr(self.padding))
  end

  -- activations --------------------------------------------------------------------------
  local ReLU = class("ReLU")
  nn.ReLU = ReLU
  function ReLU:init(...)
    local a, pos = parse("ReLU", {{"inplace", false}}, ...)
    self.inplace = bool_arg(a, pos, "ReLU", "inplace")
  end
  function ReLU:forward(x) return F.relu(x, self.inplace) end
  function ReLU:extra_repr() return self.inplace and "inplace=True" or "" end

  local Tanh = class("Tanh")
  nn.Tanh = Tanh
  function Tanh:init(...) parse("Tanh", {}, ...) end
  function Tanh:forward(x) return F.tanh(x) end

  local Sigmoid = class("Sigmoid")
  nn.Sigmoid = Sigmoid
  function Sigmoid:init(...) parse("Sigmoid", {}, ...) end
  function Sigmoid:forward(x) return F.sigmoid(x) end

  local function softmax_class(name, f)
    local C = class(name)
    function C:init(...)
      local a, pos = parse(name, {{"dim", false}}, ...)
      if a.dim ~= false then self.dim = int_arg(a, pos, name, "dim") end
    end
    function C:forward(x) return f(x, self.dim) end
    function C:extra_repr() return "dim=" .. py(self.dim) end
    return C
  end
  nn.Softmax = softmax_class("Softmax", F.softmax)
  nn.LogSoftmax = softmax_class("LogSoftmax", F.log_softmax)

  local Flatten = class("Flatten")
  nn.Flatten = Flatten
  function Flatten:init(...)
    local a, pos = parse("Flatten", {{"start_dim", 2}, {"end_dim", -1}}, ...)
    self.start_dim = int_arg(a, pos, "Flatten", "start_dim")
    self.end_dim = int_arg(a, pos, "Flatten", "end_dim")
  end
  function Flatten:forward(x) return F.flatten(x, self.start_dim, self.end_dim) end
  function Flatten:extra_repr() return ("start_dim=%d, end_dim=%d"):format(self.start_dim, self.end_dim) end

  local Dropout = class("Dropout")
  nn.Dropout = Dropout
  function Dropout:init(...)
    local a, pos = parse("Dropout", {{"p", 0.5}, {"inplace", false}}, ...)
    self.p = num_arg(a, pos, "Dropout", "p", 0, 1)
    self.inplace = bool_arg(a, pos, "Dropout", "inplace")
  end
  function Dropout:forward(x) return F.dropout(x, self.p, self.training, self.inplace) end
  function Dropout:extra_repr() return ("p=%s, inplace=%s"):format(py(self.p), py(self.inplace)) end

  -- batch normalisation ---------------------------------------------------------------------
  -- The running statistics are buffers.  Particles made by particle operations
  -- share their buffers' tensors, so a training step never writes into them:
  -- it computes new statistics and assigns them (a buffer assignment replaces
  -- the tensor, as in PyTorch).
  local BN = {{"num_features", REQUIRED}, {"eps", 1e-5}, {"momentum", 0.1}, {"affine", true},
              {"track_running_stats", true}}
  local function batchnorm_class(name, check_input)
    local C = class(name)
    function C:init(...)
      local a, pos = parse(name, BN, ...)
      local n = int_arg(a, pos, name, "num_features", 1)
      self.num_features = n
      self.eps = num_arg(a, pos, name, "eps", 0)
      if a.momentum ~= false then self.momentum = num_arg(a, pos, name, "momentum", 0, 1) else self.momentum = false end
      self.affine = bool_arg(a, pos, name, "affine")
      self.track_running_stats = bool_arg(a, pos, name, "track_running_stats")
      if self.affine then
        self.weight = nyto.Parameter(nyto.ones(n))
        self.bias = nyto.Parameter(nyto.zeros(n))
      end
      if self.track_running_stats then
        self:register_buffer("running_mean", nyto.zeros(n))
        self:register_buffer("running_var", nyto.ones(n))
        self:register_buffer("num_batches_tracked", nyto.tensor(0, {dtype = "int64"}))
      end
    end
    function C:reset_running_stats()
      if self.track_running_stats then
        self.running_mean = nyto.zeros(self.num_features)
        self.running_var = nyto.ones(self.num_features)
        self.num_batches_tracked = nyto.tensor(0, {dtype = "int64"})
      end
    end
    function C:reset_parameters()
      self:reset_running_stats()
      if self.affine then
        nyto.no_grad(function()
          self.weight:fill_(1)
          self.bias:zero_()
        end)
      end
    end
    function C:forward(x)
      if not is_tensor(x) then argerr(1, name .. ":forward", "Tensor expected, got " .. typename(x)) end
      check_input(x)
      if x:size(2) ~= self.num_features then
        error(("nyto: %s: expected %d channels (dim 2) in the input, got shape %s"):format(name, self.num_features,
          F._shape_str(x)), 0)
      end
      local factor = self.momentum or 0
      local training = self.training
      local track = self.track_running_stats
      local rm, rv
      if track then
        rm, rv = self.running_mean, self.running_var
        if training then
          local nbt = self.num_batches_tracked + 1
          self.num_batches_tracked = nbt
          if self.momentum == false then factor = 1 / nbt:item() end
          rm, rv = rm:clone(), rv:clone()
        end
      end
      local bn_training = training or not track
      local out = F.batch_norm(x, (not training or track) and rm or nil, (not training or track) and rv or nil,
        self.weight, self.bias, bn_training, factor, self.eps)
      if track and training then
        self.running_mean, self.running_var = rm, rv
      end
      return out
    end
    function C:extra_repr()
      return ("%d, eps=%s, momentum=%s, affine=%s, track_running_stats=%s"):format(self.num_features, py(self.eps),
        self.momentum == false and "None" or py(self.momentum), py(self.affine), py(self.track_running_stats))
    end
    return C
  end
  nn.BatchNorm1d = batchnorm_class("BatchNorm1d", function(x)
    if x:dim() ~= 2 and x:dim() ~= 3 then
      error(("nyto: BatchNorm1d: expected 2D or 3D input, got %dD input"):format(x:dim()), 0)
    end
  end)
  nn.BatchNorm2d = batchnorm_class("BatchNorm2d", function(x)
    if x:dim() ~= 4 then error(("nyto: BatchNorm2d: expected 4D input, got %dD input"):format(x:dim()), 0) end
  end)

  -- LayerNorm --------------------------------------------------------------------------------
  local LayerNorm = class("LayerNorm")
  nn.LayerNorm = LayerNorm
  function LayerNorm:init(...)
    local fn = "LayerNorm"
    local a, pos = parse(fn, {{"normalized_shape", REQUIRED}, {"eps", 1e-5}, {"elementwise_affine", true}}, ...)
    local ns = a.normalized_shape
    local shape = {}
    if type(ns) == "number" then shape[1] = int_arg(a, pos, fn, "normalized_shape", 1)
    elseif type(ns) == "table" and #ns >= 1 then
      for k = 1, #ns do
        local v = type(ns[k]) == "number" and tointeger(ns[k])
        if not v or v < 1 then argerr(pos.normalized_shape, fn, "normalized_shape must hold positive integers") end
        shape[k] = v
      end
    else
      argerr(pos.normalized_shape, fn, "normalized_shape must be an integer or a table of integers, got " .. typename(ns))
    end
    self.normalized_shape = shape
    self.eps = num_arg(a, pos, fn, "eps", 0)
    self.elementwise_affine = bool_arg(a, pos, fn, "elementwise_affine")
    if self.elementwise_affine then
      self.weight = nyto.Parameter(nyto.ones(shape))
      self.bias = nyto.Parameter(nyto.zeros(shape))
    end
  end
  function LayerNorm:reset_parameters()
    if self.elementwise_affine then
      nyto.no_grad(function()
        self.weight:fill_(1)
        self.bias:zero_()
      end)
    end
  end
  function LayerNorm:forward(x) return F.layer_norm(x, self.normalized_shape, self.weight, self.bias, self.eps) end
  function LayerNorm:extra_repr()
    return ("%s, eps=%s, elementwise_affine=%s"):format(py(self.normalized_shape), py(self.eps), py(self.elementwise_affine))
  end

  -- Embedding --------------------------------------------------------------------------------
  local Embedding = class("Embedding")
  nn.Embedding = Embedding
  local EMB = {{"num_embeddings", REQUIRED}, {"embedding_dim", REQUIRED}, {"padding_idx", false},
               {"max_norm", false}, {"norm_type", 2.0}, {"scale_grad_by_freq", false}, {"sparse", false},
               {"_weight", false}, {"_freeze", false}}
  function Embedding:init(...)
    local fn = "Embedding"
    local a, pos = parse(fn, EMB, ...)
    local n = int_arg(a, pos, fn, "num_embeddings", 1)
    local d = int_arg(a, pos, fn, "embedding_dim", 0)
    self.num_embeddings, self.embedding_dim = n, d
    if a.padding_idx ~= false then
      local p = int_arg(a, pos, fn, "padding_idx")
      if p < 0 then p = n + p + 1 end
      if p < 1 or p > n then argerr(pos.padding_idx, fn, ("padding_idx must be within 1..%d (or -%d..-1)"):format(n, n)) end
      self.padding_idx = p
    end
    if a.max_norm ~= false then self.max_norm = num_arg(a, pos, fn, "max_norm", 0) end
    self.norm_type = num_arg(a, pos, fn, "norm_type")
    self.scale_grad_by_freq = bool_arg(a, pos, fn, "scale_grad_by_freq")
    self.sparse = bool_arg(a, pos, fn, "sparse")
    if self.scale_grad_by_freq then argerr(pos.scale_grad_by_freq, fn, "scale_grad_by_freq is not supported") end
    if self.sparse then argerr(pos.sparse, fn, "sparse gradients are not supported") end
    if a._weight ~= false then
      local w = a._weight
      if not is_tensor(w) then argerr(pos._weight, fn, "_weight must be a Tensor, got " .. typename(w)) end
      local s = w:size()
      if #s ~= 2 or s[1] ~= n or s[2] ~= d then
        argerr(pos._weight, fn, ("_weight must have shape [%d, %d], got %s"):format(n, d, F._shape_str(s)))
      end
      self.weight = nyto.Parameter(nyto.no_grad(function() return w:detach():clone() end), not a._freeze)
    else
      self.weight = nyto.Parameter(nyto.empty(n, d))
      self:reset_parameters()
    end
  end
  function Embedding:reset_parameters()
    nyto.no_grad(function()
      self.weight:normal_(0, 1)
      if self.padding_idx then self.weight[self.padding_idx]:zero_() end
    end)
  end
  function Embedding:forward(x)
    return F.embedding(x, self.weight, self.padding_idx, self.max_norm, self.norm_type)
  end
  function Embedding:extra_repr()
    local s = ("%d, %d"):format(self.num_embeddings, self.embedding_dim)
    if self.padding_idx then s = s .. ", padding_idx=" .. self.padding_idx end
    if self.max_norm then s = s .. ", max_norm=" .. py(self.max_norm) end
    if self.norm_type ~= 2 then s = s .. ", norm_type=" .. py(self.norm_type) end
    return s
  end
  -- nn.Embedding.from_pretrained(embeddings [, freeze=true, padding_idx, max_norm, norm_type])
  function Embedding.from_pretrained(embeddings, freeze, padding_idx, max_norm, norm_type)
    if not is_tensor(embeddings) or embeddings:dim() ~= 2 then
      argerr(1, "Embedding.from_pretrained", "2-D Tensor expected, got " ..
        (is_tensor(embeddings) and F._shape_str(embeddings) or typename(embeddings)))
    end
    if freeze == nil then freeze = true end
    if type(freeze) ~= "boolean" then argerr(2, "Embedding.from_pretrained", "freeze must be a boolean") end
    local s = embeddings:size()
    return Embedding(s[1], s[2], {padding_idx = padding_idx, max_norm = max_norm, norm_type = norm_type,
                                  _weight = embeddings, _freeze = freeze})
  end

  -- LSTM ---------------------------------------------------------------------------------
  -- gates in PyTorch's order: input, forget, cell, output; every weight and bias
  -- U(-1/sqrt(hidden_size), 1/sqrt(hidden_size)).
  local LSTM = class("LSTM")
  nn.LSTM = LSTM
  local LSTM_ARGS = {{"input_size", REQUIRED}, {"hidden_size", REQUIRED}, {"num_layers", 1}, {"bias", true},
                     {"batch_first", false}, {"dropout", 0}, {"bidirectional", false}, {"proj_size", 0}}
  function LSTM:init(...)
    local fn = "LSTM"
    local a, pos = parse(fn, LSTM_ARGS, ...)
    local isz = int_arg(a, pos, fn, "input_size", 1)
    local H = int_arg(a, pos, fn, "hidden_size", 1)
    local L = int_arg(a, pos, fn, "num_layers", 1)
    self.input_size, self.hidden_size, self.num_layers = isz, H, L
    self.bias = bool_arg(a, pos, fn, "bias")
    self.batch_first = bool_arg(a, pos, fn, "batch_first")
    self.dropout = num_arg(a, pos, fn, "dropout", 0, 1)
    self.bidirectional = bool_arg(a, pos, fn, "bidirectional")
    if int_arg(a, pos, fn, "proj_size", 0) ~= 0 then argerr(pos.proj_size, fn, "proj_size is not supported") end
    self.proj_size = 0
    local D = self.bidirectional and 2 or 1
    -- absurd sizes raise at once instead of building layers until memory runs out
    if L > MAX_LAYERS then argerr(pos.num_layers, fn, ("num_layers must be at most %d, got %d"):format(MAX_LAYERS, L)) end
    local per = 4 * H * (H * D + H + (self.bias and 2 or 0))
    if 4 * H * (isz + H) > MAX_PARAM_NUMEL or per > MAX_PARAM_NUMEL or D * L * per > MAX_PARAM_NUMEL then
      argerr(pos.hidden_size, fn, "the layers would hold more than 2^32 parameters")
    end
    for l = 0, L - 1 do
      for d = 1, D do
        local sfx = "_l" .. l .. (d == 2 and "_reverse" or "")
        local lin = l == 0 and isz or H * D
        self["weight_ih" .. sfx] = nyto.Parameter(nyto.empty(4 * H, lin))
        self["weight_hh" .. sfx] = nyto.Parameter(nyto.empty(4 * H, H))
        if self.bias then
          self["bias_ih" .. sfx] = nyto.Parameter(nyto.empty(4 * H))
          self["bias_hh" .. sfx] = nyto.Parameter(nyto.empty(4 * H))
        end
      end
    end
    self:reset_parameters()
  end
  function LSTM:reset_parameters()
    local bound = fan_bound(self.hidden_size)
    for _, p in ipairs(self:parameters()) do init_uniform(p, bound) end
  end

  local function lstm_direction(self, x, h, c, sfx, reverse)
    -- x: (T, N, in); h, c: (N, H); returns (T, N, H), h, c
    local H = self.hidden_size
    local w_ih, w_hh = self["weight_ih" .. sfx], self["weight_hh" .. sfx]
    local b_ih, b_hh = self["bias_ih" .. sfx], self["bias_hh" .. sfx]
    local xw = F.linear(x, w_ih, b_ih)
    local T = x:size(1)
    local outs = {}
    for s = 1, T do
      local t = reverse and T - s + 1 or s
      local gates = xw[t] + F.linear(h, w_hh, b_hh)
      local i = gates:narrow(2, 1, H):sigmoid()
      local f = gates:narrow(2, H + 1, H):sigmoid()
      local g = gates:narrow(2, 2 * H + 1, H):tanh()
      local o = gates:narrow(2, 3 * H + 1, H):sigmoid()
      c = f * c + i * g
      h = o * c:tanh()
      outs[t] = h
    end
    return nyto.stack(outs, 1), h, c
  end

  -- lstm(input [, {h0, c0}]) -> output, {h_n, c_n}
  function LSTM:forward(input, hx)
    local fn = "LSTM:forward"
    if not is_tensor(input) then argerr(1, fn, "Tensor expected, got " .. typename(input)) end
    local batched = input:dim() == 3
    if not batched and input:dim() ~= 2 then
      argerr(1, fn, "expected a 2-D (unbatched) or 3-D (batched) input, got shape " .. F._shape_str(input))
    end
    if input:size(-1) ~= self.input_size then
      argerr(1, fn, ("input's last dimension must be input_size=%d, got shape %s"):format(self.input_size, F._shape_str(input)))
    end
    local x = input
    if not batched then x = x:unsqueeze(2)
    elseif self.batch_first then x = x:transpose(1, 2) end
    local N, H = x:size(2), self.hidden_size
    local D = self.bidirectional and 2 or 1
    local nl = self.num_layers
    local h0, c0
    if hx == nil then
      h0 = nyto.zeros({D * nl, N, H}, {dtype = x:dtype()})
      c0 = h0
    else
      if type(hx) ~= "table" or not is_tensor(hx[1]) or not is_tensor(hx[2]) then
        argerr(2, fn, "{h0, c0} expected (a table of two Tensors), got " .. typename(hx))
      end
      h0, c0 = hx[1], hx[2]
      local want = batched and {D * nl, N, H} or {D * nl, H}
      for k, t in ipairs {h0, c0} do
        local s = t:size()
        local ok = #s == #want
        if ok then for j = 1, #s do if s[j] ~= want[j] then ok = false end end end
        if not ok then
          argerr(2, fn, ("expected %s of shape %s, got %s"):format(k == 1 and "h0" or "c0", F._shape_str(want), F._shape_str(s)))
        end
      end
      if not batched then h0, c0 = h0:unsqueeze(2), c0:unsqueeze(2) end
    end
    local hn, cn = {}, {}
    local layer_in = x
    for l = 0, nl - 1 do
      local outs = {}
      for d = 1, D do
        local idx = l * D + d
        local sfx = "_l" .. l .. (d == 2 and "_reverse" or "")
        local out, h, c = lstm_direction(self, layer_in, h0[idx], c0[idx], sfx, d == 2)
        outs[d] = out
        hn[idx], cn[idx] = h, c
      end
      layer_in = D == 2 and nyto.cat(outs, 3) or outs[1]
      if self.dropout > 0 and self.training and l < nl - 1 then
        layer_in = F.dropout(layer_in, self.dropout, true)
      end
    end
    local output = layer_in
    local h_n, c_n = nyto.stack(hn, 1), nyto.stack(cn, 1)
    if not batched then
      output, h_n, c_n = output:squeeze(2), h_n:squeeze(2), c_n:squeeze(2)
    elseif self.batch_first then
      output = output:transpose(1, 2)
    end
    return output, {h_n, c_n}
  end
  function LSTM:extra_repr()
    local s = ("%d, %d"):format(self.input_size, self.hidden_size)
    if self.num_layers ~= 1 then s = s .. ", num_layers=" .. self.num_layers end
    if not self.bias then s = s .. ", bias=False" end
    if self.batch_first then s = s .. ", batch_first=True" end
    if self.dropout ~= 0 then s = s .. ", dropout=" .. py(self.dropout) end
    if self.bidirectional then s = s .. ", bidirectional=True" end
    return s
  end

  -- containers ---------------------------------------------------------------------------
  -- children are named "1", "2", ...; seq[i] indexes them, #seq counts them
  local function count(self)
    local n = 0
    while self[n + 1] ~= nil do n = n + 1 end
    return n
  end

  local function modules_of(fname, ...)
    local list = table.pack(...)
    if list.n == 1 and type(list[1]) == "table" and not nyto.is_module(list[1]) then
      list = list[1]
      list.n = #list
      for k in pairs(list) do
        if k ~= "n" and (math.type(k) ~= "integer" or k < 1 or k > list.n) then
          argerr(1, fname, "an array of modules expected (string keys have no order; add named modules with add_module)")
        end
      end
    end
    for k = 1, list.n do
      if not nyto.is_module(list[k]) then
        argerr(k, fname, ("module expected at position %d, got %s"):format(k, typename(list[k])))
      end
    end
    return list
  end

  -- put m at position k of a container
  local function place(self, k, m)
    self[k] = m
  end

  local Sequential = class("Sequential")
  nn.Sequential = Sequential
  -- nn.Sequential(m1, m2, ...) or nn.Sequential({m1, m2, ...})
  function Sequential:init(...)
    local list = modules_of("Sequential", ...)
    for k = 1, list.n do place(self, k, list[k]) end
  end
  function Sequential:forward(x, ...)
    local k = 1
    local m = self[1]
    while m ~= nil do
      -- a plain field named like a position (seq[3] = t) is no layer to call
      if not is_module(m) then
        E.err("Sequential: element %d is a %s, not a module (a Sequential calls its submodules 1, 2, ... in turn)", k, typename(m))
      end
      if k == 1 then x = m(x, ...) else x = m(x) end
      k = k + 1
      m = self[k]
    end
    return x
  end
  function Sequential:append(m)
    if not nyto.is_module(m) then argerr(1, "Sequential:append", "module expected, got " .. typename(m)) end
    place(self, count(self) + 1, m)
    return self
  end
  Sequential.add = Sequential.append
  Sequential.__len = count

  local ModuleList = class("ModuleList")
  nn.ModuleList = ModuleList
  -- nn.ModuleList({m1, m2, ...})
  function ModuleList:init(modules)
    if modules == nil then return end
    local list = modules_of("ModuleList", modules)
    for k = 1, list.n do place(self, k, list[k]) end
  end
  function ModuleList:forward()
    error("nyto: ModuleList has no forward; iterate over it (for i, m in ipairs(list) do ... end)", 0)
  end
  function ModuleList:append(m)
    if not nyto.is_module(m) then argerr(1, "ModuleList:append", "module expected, got " .. typename(m)) end
    place(self, count(self) + 1, m)
    return self
  end
  function ModuleList:extend(modules)
    local list = modules_of("ModuleList:extend", modules)
    for k = 1, list.n do self:append(list[k]) end
    return self
  end
  -- insert(index, m): shifts the later children up by one
  function ModuleList:insert(index, m)
    local n = count(self)
    local i = type(index) == "number" and tointeger(index)
    if not i then argerr(1, "ModuleList:insert", "integer expected, got " .. typename(index)) end
    if i < 0 then i = n + i + 1 end
    if i < 1 or i > n + 1 then argerr(1, "ModuleList:insert", ("index %d out of range 1..%d"):format(index, n + 1)) end
    if not nyto.is_module(m) then argerr(2, "ModuleList:insert", "module expected, got " .. typename(m)) end
    local tail = {}
    for k = i, n do
      tail[#tail + 1] = self[k]
      self[k] = nil
    end
    place(self, i, m)
    for k, t in ipairs(tail) do place(self, i + k, t) end
    return self
  end
  ModuleList.__len = count

  -- losses ----------------------------------------------------------------------------------
  local function legacy(size_average, reduce, reduction)
    if size_average == nil and reduce == nil then return reduction end
    if size_average == nil then size_average = true end
    if reduce == nil then reduce = true end
    if not reduce then return "none" end
    return size_average and "mean" or "sum"
  end

  local function reduction_arg(a, pos, fn)
    for _, k in ipairs {"size_average", "reduce"} do
      local v = a[k]
      if v ~= nil and type(v) ~= "boolean" then argerr(pos[k], fn, k .. " must be a boolean or nil") end
    end
    local r = legacy(a.size_average, a.reduce, a.reduction)
    if r ~= "mean" and r ~= "sum" and r ~= "none" then
      argerr(pos.reduction, fn, "reduction must be \"mean\", \"sum\" or \"none\", got " .. tostring(r))
    end
    return r
  end

  local function class_loss(name, f, with_smoothing)
    local C = class(name)
    local spec = {{"weight", nil}, {"size_average", nil}, {"ignore_index", -100}, {"reduce", nil},
                  {"reduction", "mean"}}
    if with_smoothing then spec[6] = {"label_smoothing", 0} end
    function C:init(...)
      local a, pos = parse(name, spec, ...)
      if a.weight ~= nil then
        if not is_tensor(a.weight) or a.weight:dim() ~= 1 then
          argerr(1, name, "weight must be a 1-D Tensor (one weight per class), got " .. typename(a.weight))
        end
        self:register_buffer("weight", a.weight)
      end
      self.ignore_index = int_arg(a, pos, name, "ignore_index")
      self.reduction = reduction_arg(a, pos, name)
      if with_smoothing then self.label_smoothing = num_arg(a, pos, name, "label_smoothing", 0, 1) end
    end
    function C:forward(input, target)
      return f(input, target, {weight = self.weight, ignore_index = self.ignore_index, reduction = self.reduction,
                               label_smoothing = self.label_smoothing})
    end
    return C
  end
  nn.CrossEntropyLoss = class_loss("CrossEntropyLoss", F.cross_entropy, true)
  nn.NLLLoss = class_loss("NLLLoss", F.nll_loss, false)

  local MSELoss = class("MSELoss")
  nn.MSELoss = MSELoss
  function MSELoss:init(...)
    local a, pos = parse("MSELoss", {{"size_average", nil}, {"reduce", nil}, {"reduction", "mean"}}, ...)
    self.reduction = reduction_arg(a, pos, "MSELoss")
  end
  function MSELoss:forward(input, target) return F.mse_loss(input, target, self.reduction) end

  return nn
end
