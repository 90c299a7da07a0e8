-- spec/fuzz/areas.lua -- the fuzzer's generators, one table per API area.
-- A generator is {name, function(G) -> fn, args [, weight]}; args may hold nils (set args.n).
-- A later feature (distributed, strategies) adds its own table, as generator, save, batched
-- and swarm do below:
--   A.swarm = { {"new", function(G) return nyto.Swarm, {G.maybe(G.module()), G.maybe(8), n = 2} end}, ... }
-- and its name to A.order.  G (spec/fuzz/fuzz.lua) gives G.tensor(), G.module(), G.product(),
-- G.pm(), G.hostile(), G.maybe(v [, p]), G.pick(list), G.R, G.SENTINEL, G.freed_tensor(),
-- G.freed_module().  Never assert semantics here: the fuzzer only checks that a failure is a
-- nyto error and changes no operand.
local nyto = require "nyto"
local core = require "nyto.core"
local A = {order = {}}
local function area(name, gens)
  A[name] = gens
  A.order[#A.order + 1] = name
end

-- ---- tensor ops: every row of src/torch/ops.def, by its signature letters ----
local rows = {}
do
  local f = io.open("src/torch/ops.def")
  local text = f and f:read("a") or ""
  if f then f:close() end
  -- the argument letters, before the results (">2", ">1i1")
  for name, sig in text:gmatch('NT_OP%(([%w_]+),%s*"([%a>%d]*)"') do
    if name ~= "name" then rows[#rows + 1] = {name, sig:match("^[^>]*")} end
  end
  local unary = text:match("#define NT_UNARY_OPS%(X%)(.-)\n\n") or ""
  for name in unary:gmatch("X%(([%w_]+)%)") do
    rows[#rows + 1] = {name, "T"}
    rows[#rows + 1] = {name .. "_", "T"}
  end
end

local function arg_for(G, letter)
  local R = G.R
  if letter == "T" or letter == "t" or letter == "X" or letter == "c" then return G.tensor() end
  if letter == "S" then return R() < 0.5 and G.tensor() or R(-3, 3) end
  if letter == "n" or letter == "N" then return G.pick {0.5, -1, 2, 0, 1e30} end
  if letter == "i" or letter == "I" or letter == "x" or letter == "l" then return R(-2, 3) end
  if letter == "d" or letter == "D" or letter == "u" then return R(-3, 3) end
  if letter == "b" then return R() < 0.5 end
  if letter == "z" or letter == "v" or letter == "e" then return G.shape() end
  if letter == "p" then return G.pick {{1, 2}, {2, 1}, {1}, {1, 2, 3}} end
  if letter == "k" then return G.pick {1, 2, {2, 2}, {1, 3}} end
  if letter == "r" then return G.pick {"mean", "sum", "none"} end
  return nil
end

local tensor_gens = {}
for _, row in ipairs(rows) do
  local name, sig = row[1], row[2]
  tensor_gens[#tensor_gens + 1] = {name, function(G)
    local args = {n = #sig}
    for j = 1, #sig do args[j] = G.maybe(arg_for(G, sig:sub(j, j)), 0.15) end
    return nyto[name], args
  end, 0.3}
end
local ctor = {"zeros", "ones", "empty", "randn", "rand"}
for _, c in ipairs(ctor) do
  tensor_gens[#tensor_gens + 1] = {c, function(G)
    return nyto[c], {G.maybe(G.shape(), 0.4), G.maybe({dtype = G.pick {"float32", "float64", "int64", "bool"}}, 0.3), n = 2}
  end}
end
local extra_tensor = {
  {"tensor", function(G) return nyto.tensor, {G.maybe(G.pick {{1, 2}, {{1, 2}, {3}}, 3, {{1}, {2}}}, 0.4), n = 1} end},
  {"full", function(G) return nyto.full, {G.maybe(G.shape()), G.maybe(2.5), n = 2} end},
  {"arange", function(G) return nyto.arange, {G.maybe(0), G.maybe(5), G.maybe(1), n = 3} end},
  {"eye", function(G) return nyto.eye, {G.maybe(3), G.maybe(2), n = 2} end},
  {"cat", function(G) return nyto.cat, {G.maybe({G.tensor(), G.tensor()}), G.maybe(1), n = 2} end},
  {"stack", function(G) return nyto.stack, {G.maybe({G.tensor(), G.tensor()}), G.maybe(1), n = 2} end},
  {"index", function(G) local t = G.tensor(); return function(a, i) return a[i] end, {t, G.maybe(G.R(-1, 3)), n = 2} end},
  {"arith", function(G)
    local op = G.pick {"+", "-", "*", "/", "^"}
    local f = load("local a, b = ...; return a " .. op .. " b")
    return f, {G.tensor(), G.maybe(G.R() < 0.5 and G.tensor() or 2, 0.3), n = 2}
  end},
  {"size", function(G) return nyto.tensor(1).size, {G.maybe(G.tensor(), 0.3), G.maybe(G.R(-2, 3), 0.3), n = 2} end},
  {"item", function(G) return nyto.tensor(1).item, {G.maybe(G.tensor(), 0.3), n = 1} end},
  {"totable", function(G) return nyto.tensor(1).totable, {G.maybe(G.tensor(), 0.3), n = 1} end},
  {"tostring", function(G) return tostring, {G.maybe(G.tensor(), 0.3), n = 1} end},
  {"requires_grad_", function(G) return nyto.tensor(1).requires_grad_, {G.maybe(G.tensor(), 0.3), G.maybe(true), n = 2} end},
  {"backward", function(G) return nyto.tensor(1).backward, {G.maybe(G.tensor(), 0.3), G.maybe(nil), n = 2} end},
  {"set_grad", function(G) local t = G.tensor(); return function(a, g) a.grad = g end, {t, G.maybe(G.tensor()), n = 2} end},
  {"free", function(G) return nyto.tensor(1).free, {G.maybe(G.new_tensor(), 0.3), n = 1} end},
}
for _, g in ipairs(extra_tensor) do tensor_gens[#tensor_gens + 1] = g end
area("tensor", tensor_gens)

-- ---- F ----
local Fnames = {}
for k, v in pairs(nyto.F or {}) do if type(v) == "function" then Fnames[#Fnames + 1] = k end end
table.sort(Fnames)
local F_gens = {}
for _, name in ipairs(Fnames) do
  F_gens[#F_gens + 1] = {name, function(G)
    return nyto.F[name], {G.tensor(), G.maybe(G.tensor(), 0.5), G.maybe(nil, 0.3), G.maybe(nil, 0.3), n = 4}
  end, 0.3}
end
area("F", F_gens)

-- ---- modules ----
local function meth(name, nargs)
  return {name, function(G)
    local m = G.module()
    local args = {G.maybe(m, 0.1), n = nargs + 1}
    for j = 2, nargs + 1 do args[j] = G.hostile() end
    return nyto.Module[name], args
  end}
end
area("module", {
  {"forward", function(G) return function(m, x) return m(x) end, {G.module(), G.maybe(G.tensor(), 0.3), n = 2} end, 2},
  {"setfield", function(G)
    -- the names of the raw internal fields (_s, _p, _m, ...) are refused: the fields live
    -- under private keys (lua/nyto/particle/records.lua)
    local key = G.pick {"extra", "forward", "parameters", "weight", "bias", 1, "fc", "add", "free",
                        "_s", "_p", "_m", "_b", "_f", "_id", "_k", "_kk"}
    if G.R() < 0.2 then key = G.hostile() end
    local v = G.R() < 0.5 and G.pick {G.new_module(), nyto.Parameter(nyto.randn(2)), G.freed_module(), nyto.zeros(3)} or G.hostile()
    return function(m, k, val) m[k] = val end, {G.module(), key, v, n = 3}
  end, 2},
  {"getfield", function(G) return function(m, k) return m[k] end, {G.module(), G.hostile(), n = 2} end},
  {"remove", function(G) return function(m, k) m[k] = nil end, {G.module(), G.pick {"weight", "bias", "1", "2", "fc"}, n = 2} end},
  meth("parameters", 0), meth("named_parameters", 0), meth("modules", 0), meth("named_modules", 0),
  meth("children", 0), meth("buffers", 0), meth("state_dict", 0), meth("load_state_dict", 1),
  meth("train", 1), meth("eval", 0), meth("zero_grad", 0), meth("param_config", 1), meth("set_param_config", 2),
  meth("apply_param_config", 2), meth("get_param_id", 1), meth("register_buffer", 2), meth("clone", 0),
  meth("detach", 0), meth("same_species", 1), meth("product", 0), meth("product_", 1), meth("touch", 0),
  meth("free", 0), meth("__repr", 0),
  {"tostring", function(G) return tostring, {G.module(), n = 1} end},
  {"scalar_op", function(G)
    local op = G.pick {"+", "-", "*", "/", "^"}
    local f = load("local a, b = ...; return a " .. op .. " b")
    local a, b = G.module(), G.pick {2, 0.5, -1}
    if G.R() < 0.5 then a, b = b, a end
    if G.R() < 0.2 then -- a hostile number side (the module side keeps the metamethod)
      local h = G.hostile()
      if type(a) == "number" then a = h else b = h end
    end
    return f, {a, b, n = 2}
  end, 2},
  {"binary_op", function(G)
    local op = G.pick {"+", "-", "*", "/"}
    local f = load("local a, b = ...; return a " .. op .. " b")
    local a = G.module()
    local b = G.R() < 0.5 and a:clone() or G.module()
    return f, {a, G.maybe(b, 0.2), n = 2}
  end, 2},
  {"inplace", function(G)
    local name = G.pick {"add_", "sub_", "mul_", "div_"}
    local a = G.module()
    local b = G.R() < 0.5 and 2 or (G.R() < 0.5 and a:clone() or G.module())
    return function(x, y) return x[name](x, y) end, {a, G.maybe(b, 0.2), n = 2}
  end},
  {"class_free", function(G)
    local C = nyto.class("FuzzC" .. G.R(3))
    function C:forward(x) return x end
    return nyto.Module.free, {G.maybe(C, 0.2), n = 1}
  end, 0.3},
  {"foreign_self", function(G)
    local name = G.pick {"parameters", "clone", "free", "state_dict", "product", "named_modules"}
    return nyto.Module[name], {G.hostile(), n = 1}
  end},
})

-- ---- nn layers ----
local layers = {"Linear", "Conv2d", "LayerNorm", "Embedding", "BatchNorm1d", "BatchNorm2d", "LSTM", "Dropout",
                "ReLU", "Softmax", "LogSoftmax", "Flatten", "MaxPool2d", "AvgPool2d", "Sequential", "ModuleList",
                "CrossEntropyLoss", "MSELoss", "NLLLoss"}
local nn_gens = {}
for _, name in ipairs(layers) do
  nn_gens[#nn_gens + 1] = {name, function(G)
    local R = G.R
    local function sz() return G.pick {1, 2, 3, 0, -1, 1 << 40, 2 ^ 40, 0.5, math.maxinteger} end
    return nyto.nn[name], {G.maybe(R(1, 4), 0.4), G.maybe(R(1, 4), 0.4), R() < 0.3 and sz() or nil, n = 3}
  end, 0.5}
end
area("nn", nn_gens)

-- ---- products, configs, operators ----
local function cb(G, good)
  if G.R() < 0.3 then return function() error(G.SENTINEL, 0) end end
  if G.R() < 0.2 then return function() return "bad" end end
  if G.R() < 0.1 then return function() coroutine.yield() end end
  return good
end
area("product", {
  {"unary_operator", function(G)
    return nyto.Product.unary_operator, {G.maybe(G.product(), 0.1), cb(G, function(t) return t * 2 end), n = 2}
  end, 2},
  {"binary_operator", function(G)
    local p = G.product()
    return nyto.Product.binary_operator,
      {p, G.maybe(G.R() < 0.5 and p or G.product(), 0.2), cb(G, function(a, b) return a + b end), n = 3}
  end, 2},
  {"arith", function(G)
    local op = G.pick {"+", "-", "*", "/"}
    local f = load("local a, b = ...; return a " .. op .. " b")
    return f, {G.product(), G.maybe(G.pick {2, G.product()}, 0.3), n = 2}
  end},
  {"module", function(G) return nyto.Product.module, {G.maybe(G.product(), 0.2), n = 1} end},
  {"clone", function(G) return nyto.Product.clone, {G.maybe(G.product(), 0.3), n = 1} end},
  {"free", function(G) return nyto.Product.free, {G.product(), n = 1} end, 0.2},
  {"no_grad", function(G) return nyto.no_grad, {cb(G, function() return 1 end), n = 1} end},
})

-- ---- ParticleModule ----
area("pm", {
  {"new", function(G) return nyto.ParticleModule, {G.maybe(G.new_module(), 0.4), n = 1} end},
  {"call", function(G) return function(pm, x) return pm(x) end, {G.pm(), G.maybe(G.tensor(), 0.3), n = 2} end},
  {"setfield", function(G)
    -- root_module and particle_kernel are read-only
    return function(pm, k, v) pm[k] = v end,
      {G.pm(), G.pick {"fc", "x", "forward", "training", "root_module", "particle_kernel"}, G.maybe(G.new_module(), 0.4), n = 3}
  end},
  {"ops", function(G)
    local op = G.pick {"+", "*", "-"}
    local f = load("local a, b = ...; return a " .. op .. " b")
    return f, {G.pm(), G.maybe(2, 0.3), n = 2}
  end},
  {"product", function(G) return function(pm) return pm:product() end, {G.pm(), n = 1} end},
  {"kernel_ref", function(G)
    local name = G.pick {"clear_kernel_ref", "restore_kernel_ref"}
    return function(pm) return pm[name](pm) end, {G.pm(), n = 1}
  end},
})

-- ---- optim ----
area("optim", {
  {"new", function(G)
    local name = G.pick {"SGD", "Adam"}
    local params = G.R() < 0.7 and G.module():parameters() or G.hostile()
    return nyto.optim[name], {params, G.maybe({lr = G.pick {0.1, -1, 0 / 0}, momentum = G.pick {0, 0.9}}, 0.3), n = 2}
  end},
  {"step", function(G)
    local m = G.module()
    local ok, opt = pcall(nyto.optim.SGD, m:parameters(), {lr = 0.1})
    if not ok then return nil end
    return opt.step, {opt, G.maybe(nil, 0.5), n = 2}
  end},
})

-- ---- data ----
local tmpdir = os.getenv("TMPDIR") or "/tmp"
area("data", {
  {"read_csv", function(G)
    local path = tmpdir .. "/nyto_fuzz_" .. G.R(4) .. ".csv"
    local f = io.open(path, "wb")
    f:write(G.pick {"a,b\n1,2\n", "1,2\r3,4\r", "\"1,2\",3\n", "0x10,2\n", "1,2\n3\n", "", "a,b\r\n1,2\r\n"})
    f:close()
    return nyto.data.read_csv, {G.maybe(path, 0.2), G.maybe({header = G.R() < 0.5}, 0.3), n = 2}
  end},
  {"DataLoader", function(G)
    return nyto.data.DataLoader, {G.maybe(nyto.randn(6, 2), 0.3), G.maybe(nyto.zeros({6}, {dtype = "int64"}), 0.3),
      G.maybe({batch_size = G.pick {2, 0, -1, 1.5}}, 0.3), n = 3}
  end},
  {"read_idx", function(G) return nyto.data.read_idx, {G.maybe("/nonexistent", 0.5), n = 1} end},
})

-- ---- nyto.core: reachable from scripts, so every entry validates ----
local maxint = math.maxinteger
local function segs_table(G)
  local R = G.R
  if R() < 0.5 then return G.pick {{0, 4}, {0, 1, 2, 3}, {35, maxint, 26, 0, 3, 15}, {0, 1, maxint - 1, 4}, {-1, 2}, {0, -5}} end
  local t = {}
  for j = 1, R(0, 6) do t[j] = G.pick {0, 1, 3, 7, -1, maxint, maxint - 1, 1 << 40, 2.5} end
  return t
end
area("core", {
  {"segments", function(G) return core.segments, {G.maybe(segs_table(G), 0.2), n = 1} end},
  {"buffer", function(G) return core.buffer, {G.maybe("float32", 0.2), G.maybe(G.R(0, 64), 0.3), n = 2} end},
  {"pcopy", function(G)
    local a, b = core.buffer("float32", 16), core.buffer("float32", 16)
    local ok, s = pcall(core.segments, segs_table(G))
    return core.pcopy, {a, G.maybe(b, 0.2), ok and s or G.hostile(), n = 3}
  end},
  {"pscalar", function(G)
    local a = core.buffer(G.pick {"float32", "float64"}, 16)
    local ok, s = pcall(core.segments, segs_table(G))
    return core.pscalar, {G.maybe(a, 0.1), G.maybe(2, 0.2), G.maybe(G.R(0, 8), 0.2), ok and s or G.hostile(), n = 4}
  end},
  {"paffine", function(G)
    local a = core.buffer("float32", 8)
    local ok, s = pcall(core.segments, segs_table(G))
    return core.paffine, {a, G.maybe(2, 0.2), G.maybe(1, 0.2), ok and s or G.hostile(), n = 4}
  end},
  {"pbinary", function(G)
    local a, b = core.buffer("float32", 8), core.buffer("float32", G.pick {8, 4})
    local ok, s = pcall(core.segments, segs_table(G))
    return core.pbinary, {a, b, G.maybe(0, 0.2), ok and s or G.hostile(), n = 4}
  end},
  {"prandom", function(G)
    local ok, s = pcall(core.segments, segs_table(G))
    return core.prandom, {core.buffer("float32", 8), G.maybe(0, 0.3), ok and s or G.hostile(), n = 3}
  end},
  {"view", function(G) return core.view, {core.buffer("float32", 8), G.maybe(G.R(-1, 9), 0.3), G.maybe(G.shape(), 0.3), n = 3} end},
  {"set_to_view", function(G)
    return core.set_to_view, {G.maybe(nyto.zeros(4), 0.2), core.buffer("float32", 8), G.maybe(G.pick {0, 4, 5, maxint - 1}, 0.3), n = 3}
  end},
  -- the strategies' passes (src/lua/es.c): tensors of the right or the wrong sizes, dtypes,
  -- layouts, freed, aliased; weights and indices out of range
  {"es_sample", function(G)
    local dt = G.pick {"float32", "float64"}
    local X = G.pick {nyto.zeros(4, 3), nyto.zeros({4, 3}, {dtype = dt}), nyto.zeros(3, 4):t(), G.freed_tensor()}
    local c = G.pick {nyto.zeros(3), nyto.zeros({3}, {dtype = dt}), nyto.zeros(5), X}
    local z = G.pick {nyto.zeros(2, 3), nyto.zeros(4, 3), X, c}
    local gen = G.maybe(nyto.Generator(1), 0.3)
    return core.es_sample, {X, c, G.maybe(nyto.ones(3), 0.2), G.maybe(G.R() < 0.5, 0.2), G.maybe(z, 0.3), gen,
      G.maybe(nyto.ones({3}, {dtype = "float64"}), 0.5), G.maybe(nyto.zeros({G.pick {2, 4}}, {dtype = "float64"}), 0.5), n = 8}
  end},
  {"es_moments", function(G)
    local w = G.pick {{1, 2}, {1, 0 / 0}, {}, {1, "x"}, {1, 2, 3}, {math.huge, 1}}
    local Z = G.pick {nyto.zeros(2, 3), nyto.zeros({2, 3}, {dtype = "float64"}), G.freed_tensor()}
    local o1 = G.pick {nyto.zeros(3), nyto.zeros(2), Z}
    return core.es_moments, {Z, G.maybe(w, 0.2), o1, G.maybe(w, 0.5), G.maybe(G.pick {0, 0 / 0, 1.5}, 0.3),
      G.maybe(G.pick {nyto.zeros(3), o1, nyto.zeros({3}, {dtype = "float64"})}, 0.3), n = 6}
  end},
  {"es_elite", function(G)
    local X = G.pick {nyto.randn(4, 3), nyto.zeros({4, 3}, {dtype = "float64"}), G.freed_tensor()}
    local idx = G.pick {{1, 2}, {0}, {5}, {1.5}, {}, {maxint}, {1, "2"}}
    local m = G.pick {nyto.zeros(3), nyto.zeros(5), X}
    return core.es_elite, {X, G.maybe(idx, 0.2), m, G.maybe(G.pick {nyto.zeros(3), m, nyto.zeros({3}, {dtype = "float64"})}, 0.2), n = 4}
  end},
  {"es_sepcma", function(G)
    local function v()
      return G.pick {nyto.zeros({3}, {dtype = "float64"}), nyto.ones({3}, {dtype = "float64"}), nyto.zeros(3),
        nyto.zeros({4}, {dtype = "float64"}), nyto.zeros({2, 3}, {dtype = "float64"}):t(), G.freed_tensor()}
    end
    local shared = nyto.ones({3}, {dtype = "float64"})
    local function t() return G.pick {v(), v(), shared} end
    local function x() return G.maybe(G.pick {0.5, 1, 0 / 0, math.huge}, 0.2) end
    if G.chance(0.5) then
      return core.es_sepcma_mean, {t(), t(), t(), t(), x(), x(), x(), n = 7}
    end
    return core.es_sepcma_cov, {t(), t(), t(), t(), t(), x(), x(), x(), x(), x(), n = 10}
  end},
  {"mem", function(G)
    local x = G.pick {nyto.zeros(5), nyto.zeros({5}, {dtype = "float64"}), nyto.zeros(3, 4):t(), nyto.zeros({3}, {dtype = "int64"}),
      nyto.zeros(0), G.freed_tensor(), 7}
    if G.R() < 0.5 then return core.mem_read, {x, n = 1} end
    return core.mem_write, {x, G.maybe(G.pick {1.5, 0 / 0, math.huge, "2"}, 0.2), n = 2}
  end},
  {"evo", function(G)
    local X = nyto.zeros(G.pick {3, 4}, 5)
    local t = {G.maybe(nyto.zeros(4, 5), 0.2), G.maybe(X, 0.2)}
    local idx = function() return G.maybe({1, 2, G.pick {3, 4, 5, 0, -1, 1.5}, 1}, 0.3) end
    local name = G.pick {"evo_pso_", "evo_ga", "evo_de"}
    if name == "evo_pso_" then
      return core.evo_pso_, {t[1], G.maybe(nyto.zeros(4, 5), 0.2), G.maybe(nyto.zeros(4, 5), 0.2),
        G.maybe(nyto.zeros(5), 0.2), G.maybe(0.5, 0.2), 1, 1, G.maybe(nil, 0.3), n = 8}
    elseif name == "evo_ga" then
      return core.evo_ga, {t[1], t[2], idx(), idx(), G.maybe({true, false, true, true}, 0.2),
        G.maybe({0, 0.1, 0, 1}, 0.2), G.maybe(nil, 0.3), n = 7}
    end
    return core.evo_de, {t[1], t[2], idx(), idx(), idx(), idx(), G.maybe(0.5, 0.2), G.maybe(0.9, 0.2),
      G.maybe(nil, 0.3), n = 9}
  end},
  {"read_file", function(G) return core.read_file, {G.maybe("/nonexistent", 0.5), n = 1} end},
  {"tensor_from_bytes", function(G) return core.tensor_from_bytes, {G.maybe("abcd", 0.3), G.maybe(1, 0.3), G.maybe(2, 0.3), n = 3} end},
  {"misc", function(G)
    local name = G.pick {"pool_limit", "manual_seed", "num_threads", "set_gc_mode"}
    return core[name], {G.hostile(), n = 1}
  end},
})

-- ---- randomness: nyto.Generator and draws with {generator = g} ----
local function generator(G) return G.maybe(nyto.Generator(G.pick {0, 1, 2^31}, G.pick {0, 3}), 0.2) end
local Gen = getmetatable(nyto.Generator(0)).__index -- its methods, called with a hostile self too
area("generator", {
  {"new", function(G) return nyto.Generator, {G.maybe(G.pick {0, 7, -1, 2^63, 0.5, "1"}, 0.2), G.maybe(G.hostile(), 0.5), n = 2} end},
  {"set_state", function(G)
    local st = G.R() < 0.5 and nyto.Generator(3):get_state() or G.hostile()
    if type(st) == "table" and G.R() < 0.5 then st[G.pick {"seed", "stream", "offset", "generator"}] = G.hostile() end
    return Gen.set_state, {generator(G), st, n = 2}
  end},
  {"stream", function(G) return Gen.stream, {generator(G), G.maybe(G.R(0, 9), 0.4), n = 2} end},
  {"draw", function(G)
    local f = G.pick {nyto.randn, nyto.rand}
    return f, {G.maybe(G.R(1, 5), 0.2), G.maybe({generator = generator(G)}, 0.3), n = 2}
  end},
  {"particle_draw", function(G)
    local name = G.pick {"randn", "rand"}
    return function(m, o) return m[name](m, o) end, {G.module(), G.maybe({generator = generator(G)}, 0.4), n = 2}
  end},
})

-- ---- saving and loading (files in a temporary place, removed after each call) ----
local function with_path(ext, fn)
  return function(...)
    local base = os.tmpname() -- creates the file base: removed too
    local path = base .. ext
    local r = table.pack(pcall(fn, path, ...))
    os.remove(path)
    os.remove(base)
    if not r[1] then error(r[2], 0) end
    return table.unpack(r, 2, r.n)
  end
end
area("save", {
  {"save", function(G)
    local v = G.pick {G.tensor(), {a = G.tensor(), b = {1, "x", true}}, G.module(), G.hostile(), {[G.pick {true, 2.5, print}] = 1}}
    return with_path(G.pick {".pt", ".safetensors", ".bin"}, function(path, val) return nyto.save(val, path) end), {v, n = 1}
  end},
  {"load_garbage", function(G)
    local bytes = G.pick {"", "\0\0\0\0\0\0\0\0", "\255\255\255\255\255\255\255\127{}", "\2\0\0\0\0\0\0\0{}",
                          "PK\3\4garbage", string.rep("x", G.R(1, 64))}
    return with_path(G.pick {".pt", ".safetensors"}, function(path, b)
      local f = assert(io.open(path, "wb")); f:write(b); f:close()
      return nyto.load(path)
    end), {bytes, n = 1}
  end},
  {"load_hostile_path", function(G) return nyto.load, {G.maybe(G.pick {"/", "/nonexistent.pt", "x.unknown"}, 0.3), n = 1} end},
})

-- ---- the batched forward of stacked parameters ----
area("batched", {
  {"batched_forward", function(G)
    local m = G.module()
    local stacks = G.R() < 0.3 and G.hostile() or {}
    if type(stacks) == "table" and nyto.type(m) == "Module" then
      local ok, params = pcall(function() return m:parameters() end)
      if ok then
        local n = G.pick {1, 2, 3}
        for i, p in ipairs(params) do
          stacks[i] = G.R() < 0.85 and nyto.stack((function() local t = {} for j = 1, n do t[j] = p:detach():clone() end return t end)()) or G.tensor()
        end
      end
    end
    return nyto.batched_forward, {m, stacks, G.maybe(G.tensor(), 0.2), G.maybe({per_member = G.R() < 0.5}, 0.5), n = 4}
  end},
})

-- ---- the batched forward's conv block (Conv2d + ReLU + MaxPool2d(2), core.vmap_conv_pool) ----
-- Sequential CNNs of random shapes, strides, paddings, with the block's layers or near misses,
-- on inputs that fit or not; and the core entry with hostile arguments inside a vmap_call
local function cnn_seq(G)
  local nn = nyto.nn
  local cin, cout = G.pick {1, 2, 3}, G.pick {1, 4, 16, 17}
  local k = G.pick {1, 2, 3, 5, {2, 3}}
  local pad = G.pick {0, 1, 2, "same", "valid", {1, 0}}
  local stride = pad == "same" and 1 or G.pick {1, 2, 3, {1, 2}}
  local ok, conv = pcall(nn.Conv2d, cin, cout, k, {stride = stride, padding = pad, bias = G.R() < 0.7,
                                                    dilation = G.pick {1, 1, 1, 2}, groups = G.pick {1, 1, 1, cin}})
  if not ok then conv = nn.Conv2d(cin, cout, 3) end
  local act = G.pick {nn.ReLU(), nn.ReLU(), nn.ReLU(), nn.Tanh()}
  local pool = G.pick {nn.MaxPool2d(2), nn.MaxPool2d(2), nn.MaxPool2d(2), nn.MaxPool2d(3), nn.MaxPool2d(2, 1),
                       nn.AvgPool2d(2)}
  local layers = {conv, act, pool}
  if G.R() < 0.3 then
    local ok2, c2 = pcall(nn.Conv2d, cout, G.pick {2, 8}, G.pick {1, 3}, 1, 1)
    if ok2 then layers[4], layers[5], layers[6] = c2, nn.ReLU(), nn.MaxPool2d(2) end
  end
  return nn.Sequential(table.unpack(layers)), cin
end
local function cnn_stacks(G, m, n)
  local stacks = {}
  local ok, params = pcall(function() return m:parameters() end)
  if not ok then return stacks end
  for i, p in ipairs(params) do
    if G.R() < 0.97 then
      local l = {}
      for j = 1, n do l[j] = p:detach() + nyto.randn(table.unpack(p:size())) * 0.1 end
      stacks[i] = nyto.stack(l, 1)
    else
      stacks[i] = G.tensor()
    end
  end
  return stacks
end
area("conv_block", {
  {"batched_cnn", function(G)
    local m, cin = cnn_seq(G)
    local n = G.pick {1, 2, 3}
    local per_member = G.R() < 0.3
    local hw = {G.pick {1, 5, 7, 9, 12, 13}, G.pick {2, 6, 8, 11, 12}}
    local c = G.R() < 0.9 and cin or cin + 1
    local x = per_member and nyto.randn(n, 2, c, hw[1], hw[2]) or nyto.randn(G.pick {1, 2}, c, hw[1], hw[2])
    if G.R() < 0.1 then x = x:double() end
    local opts = {per_member = per_member, fused = G.R() < 0.9}
    return function(...)
      nyto.on_warning(function() end)
      local ok, r = pcall(nyto.batched_forward, ...)
      nyto.on_warning(nil)
      if not ok then error(r, 0) end
      return r
    end, {m, cnn_stacks(G, m, n), G.maybe(x, 0.05), opts, n = 4}
  end, 2},
  {"vmap_conv_pool_in_call", function(G)
    local n = G.pick {1, 2, 3}
    local w = nyto.randn(n, G.pick {1, 4, 17}, G.pick {1, 2}, G.pick {1, 3}, G.pick {1, 3})
    local b = G.pick {nyto.randn(n, w:size(2)), nyto.randn(w:size(2)), nyto.randn(n, 3), "b", false}
    local x = G.pick {nyto.randn(2, w:size(3), G.pick {1, 5, 6}, G.pick {2, 7}), G.tensor(), 1}
    local args = {x, nil, b or nil, G.pick {1, 2, 0, -1, 1.5}, G.pick {1, 3, 2^40}, G.pick {0, 1, -2, "1"},
                  G.pick {0, 2, 2^62}, G.maybe(G.pick {0, 1, 2, 3}, 0.4), n = G.pick {8, 8, 8, 7, 7, 7, 3}}
    return function(wt, argv)
      return core.vmap_call(n, {wt}, function(views)
        local a = {}
        for i = 1, argv.n do a[i] = argv[i] end
        a[2] = views[1]
        return {core.vmap_conv_pool(table.unpack(a, 1, argv.n))}
      end)
    end, {w, args, n = 2}
  end},
  {"vmap_conv_pool_hostile", function(G)
    return core.vmap_conv_pool, {G.maybe(G.tensor(), 0.3), G.maybe(G.tensor(), 0.3), G.maybe(G.tensor(), 0.5),
                                 G.maybe(G.R(-1, 3), 0.2), 1, G.hostile(), 0, G.maybe(G.R(-1, 3), 0.5), n = 8}
  end, 0.5},
  {"bconv_controls", function(G)
    local f = G.pick {core.bconv_force, core.bconv_isa, core.bconv_count}
    return function(v)
      local a, b = f(v)
      if f == core.bconv_force then core.bconv_force(a) elseif f == core.bconv_isa then core.bconv_isa(a) end
      return b
    end, {G.pick {-2, -1, 0, 1, 2, 3, 1.5, "1"}, n = 1}
  end, 0.3},
})

-- ---- swarms: a population of one species in one arena ----
local function swarm(G)
  -- a ParticleModule's swarm (members and mean are ParticleModules) a third of the time
  local ok, s = pcall(nyto.Swarm, G.R() < 0.3 and G.pm() or G.module(), G.pick {1, 2, 3})
  if ok then return s end
  return nyto.Swarm(nyto.nn.Linear(2, 2), 2)
end
local function swarm_operand(G, s)
  return G.pick {function() return 0.5 end, function() return s[1] end, function() return s:clone() end,
                 function() return nyto.randn(#s) end, function() return nyto.randn(#s + 1) end,
                 function() return nyto.zeros(#s, {dtype = "int64"}) end, function() return swarm(G) end,
                 function() return G.pm() end, G.hostile}()
end
area("swarm", {
  {"new", function(G)
    return nyto.Swarm, {G.maybe(G.module(), 0.3), G.maybe(G.pick {1, 3, 0, -2, 1.5}, 0.3),
                        G.maybe(G.pick {"clone", "randn", "rand", "nope", function(i, m) m:mul_(i) end}, 0.3), n = 3}
  end, 2},
  {"of", function(G) return nyto.Swarm.of, {G.maybe({G.module(), G.module()}, 0.3), n = 1} end},
  {"of_pm", function(G) local pm = G.pm() return nyto.Swarm.of, {G.maybe({pm, G.maybe(pm:clone(), 0.3)}, 0.3), n = 1} end},
  {"load", function(G)
    local s = swarm(G)
    local v = G.pick {function() return s:state_dict() end, function() return {members = {s[1]:state_dict(), 7}} end,
                      function() return {members = {}} end, G.hostile}()
    return nyto.Swarm.load, {G.maybe(v, 0.3), G.maybe(G.pick {G.module(), s[1]}, 0.3), n = 2}
  end},
  {"arith", function(G)
    local op = G.pick {"+", "-", "*", "/", "^"}
    local f = load("local a, b = ...; return a " .. op .. " b")
    local s = swarm(G)
    if G.R() < 0.5 then return f, {s, swarm_operand(G, s), n = 2} end
    return f, {swarm_operand(G, s), s, n = 2}
  end, 2},
  {"inplace", function(G)
    local name = G.pick {"add_", "sub_", "mul_", "div_", "pow_"}
    local s = swarm(G)
    return function(a, b) return a[name](a, b) end, {s, swarm_operand(G, s), n = 2}
  end},
  {"index", function(G)
    local s = swarm(G)
    return function(a, k) return a[k] end, {s, G.maybe(G.pick {1, -1, 0, 9, 1.5}, 0.3), n = 2}
  end},
  {"setindex", function(G)
    local s = swarm(G)
    return function(a, k, v) a[k] = v end, {s, G.maybe(G.pick {1, -1, 0, 9}, 0.3), G.maybe(s[1]:clone(), 0.5), n = 3}
  end},
  {"methods", function(G)
    local s = swarm(G)
    local name = G.pick {"mean", "select", "scatter_", "flat", "param_stacks", "randn", "rand", "randn_", "clone", "free", "forward",
                         "state_dict"}
    return function(a, x, y) return a[name](a, x, y) end, {s, G.hostile(), G.maybe(swarm(G), 0.5), n = 3}
  end, 2},
  {"axpby_randn_", function(G)
    local s = swarm(G)
    local num = function() return G.maybe(G.pick {0.5, -1, 0, 1e30, 0 / 0}, 0.3) end
    return function(a, ...) return a:axpby_randn_(...) end,
           {s, num(), G.maybe(swarm_operand(G, s), 0.3), num(), num(),
            G.maybe({generator = G.maybe(nyto.Generator(1), 0.3)}, 0.3), n = 6}
  end},
})

-- ---- strategies: ask/tell on particles and vectors (lua/nyto/strategy/) ----
local STRATS = {"PSO", "APSO", "GA", "DE", "CEM", "OpenES", "SNES", "PGPE", "CMAES"}
local STRAT_OPTS = {popsize = {2, 4, 5, 1, 0, -3, 2.5}, sigma = {0.1, 1, 0, -1}, maximize = {true, false, 1},
                    inertia = {0.5, 2}, c1 = {1, -1}, alpha = {0.5, 3}, noise = {0, -1}, decay = {0.9, 2},
                    tournament = {1, 3, 0}, crossover = {0.5, 2}, mutation = {0.1, -1}, elite = {0, 1, 4},
                    F = {0.5, 0, 3}, CR = {0.5, -1}, elite_ratio = {0.5, 0, 2, 0.1}, lr = {0.5, 0}, nope = {1},
                    -- OpenES, SNES, PGPE, CMAES
                    weight_decay = {0, -1}, beta1 = {0.5, 1}, beta2 = {0.99, -0.1}, epsilon = {1e-8, 0},
                    sigma_lr = {0.1, -1}, max_speed = {0.1, 0, false}, momentum = {0.5, 1},
                    sigma_max_change = {0.1, 1}, diagonal = {true, false, 1},
                    distributed = {true, false, "yes"}} -- outside a process group: true raises
local function strat_opts(G)
  local o = {}
  for _ = 1, G.R(0, 3) do
    local keys = {}
    for k in pairs(STRAT_OPTS) do keys[#keys + 1] = k end
    table.sort(keys)
    local k = G.pick(keys)
    o[k] = G.maybe(G.pick(STRAT_OPTS[k]), 0.2)
  end
  if G.R() < 0.5 then o.generator = G.maybe(nyto.Generator(G.R(0, 9)), 0.2) end
  return o
end
local function strat_center(G)
  return G.pick {function() return nyto.randn(G.R(1, 4)) end, function() return nyto.nn.Linear(2, 2) end,
                 function() return nyto.zeros({3}, {dtype = "float64"}) end, G.module, G.tensor}()
end
-- a strategy that exists (4 members, so every strategy accepts it), told 0-2 times, ask pending or not
local function strategy(G)
  local name = G.pick(STRATS)
  local ok, es = pcall(nyto.strategy[name], strat_center(G), {popsize = 4, generator = nyto.Generator(G.R(0, 9))})
  if not ok then es = nyto.strategy[name](nyto.zeros {2}, {popsize = 4}) end
  for _ = 1, G.R(0, 2) do es:ask(); es:tell {1, 2, 3, 4} end
  if G.R() < 0.8 then es:ask() end
  return es
end
local function hostile_fitness(G, n)
  return G.pick {
    function() return {1, 2, 3} end, function() return {1, 0 / 0, 2, 3} end, function() return {1, "2", 3, 4} end,
    function() local t = {}; for i = 1, n do t[i] = G.pick {1, -math.huge, math.huge, 1e308} end; return t end,
    function() return nyto.randn(n) end, function() return nyto.randn(n + 1) end, function() return nyto.zeros(n, 2) end,
    function() return nyto.zeros(n, {dtype = "int64"}) end, function() return nyto.zeros(n, {dtype = "bool"}) end,
    function() return nyto.full({n}, 0 / 0) end, G.hostile}()
end
area("strategy", {
  {"new", function(G)
    return nyto.strategy[G.pick(STRATS)], {G.maybe(strat_center(G), 0.2), G.maybe(strat_opts(G), 0.15), n = 2}
  end, 2},
  {"tell", function(G)
    local es = strategy(G)
    return es.tell, {es, hostile_fitness(G, 4), n = 2}
  end, 3},
  {"methods", function(G)
    local es = strategy(G)
    local name = G.pick {"ask", "best", "center", "state_dict", "tell"}
    return es[name], {es, G.maybe(nil, 0.5), n = 2}
  end},
  {"load_state_dict", function(G)
    local es, other = strategy(G), strategy(G)
    local sd = other:state_dict()
    if G.R() < 0.6 then
      local keys = {}
      for k in pairs(sd) do keys[#keys + 1] = k end
      table.sort(keys)
      sd[G.pick(keys)] = G.hostile()
    end
    if G.R() < 0.3 and type(sd.state) == "table" then
      local keys = {}
      for k in pairs(sd.state) do keys[#keys + 1] = k end
      table.sort(keys, function(a, b) return tostring(a) < tostring(b) end) -- a hostile sd.state may have any keys
      if #keys > 0 then sd.state[G.pick(keys)] = G.hostile() end
    end
    return es.load_state_dict, {es, G.maybe(sd, 0.1), n = 2}
  end, 2},
  -- run asks before it calls fn: a failing fn leaves that ask pending (documented)
  {"run", function(G)
    local es = strategy(G)
    local fn = G.pick {function() return 1 end, function() return {1, 2, 3, 4} end, G.hostile}
    local opts = G.maybe({generations = G.pick {1, 2, 0, 1.5}, batched = G.pick {true, false, 1},
                          target = G.pick {0, 0 / 0, "x"}}, 0.3)
    return nyto.strategy.run, {es, fn, opts, n = 3}
  end, mutates_on_error = true},
})

-- ---- plots (gnuplot runs only when every argument is good: rare, into a temporary file) ----
area("plot", {
  {"plot", function(G)
    local y = G.maybe(G.pick {{1, 2, 3}, {0.5}, {1, 0 / 0, math.huge}}, 0.3)
    if G.R() < 0.2 then y = G.tensor() end
    local opts = {series = G.maybe({{y = y, x = G.maybe(nil, 0.2), name = G.maybe("s", 0.2)}}, 0.2),
                  title = G.maybe(nil, 0.15), logy = G.maybe(nil, 0.15), width = G.maybe(320, 0.15)}
    if G.R() < 0.1 then opts[G.pick {"colour", 1, true}] = 1 end
    local base = os.tmpname()
    opts.path = G.maybe(base .. ".png", 0.2)
    local arg = G.R() < 0.1 and G.hostile() or opts
    return function(o)
      local r = table.pack(pcall(nyto.plot, o))
      os.remove(base .. ".png")
      os.remove(base)
      if not r[1] then error(r[2], 0) end
      return table.unpack(r, 2, r.n)
    end, {arg, n = 1}
  end, 0.5},
})

-- ---- distributed, outside a process group: every call raises a nyto: error ----
-- (init only with bad options, so that no call ever joins a group or waits)
local dist_names = {"rank", "world_size", "barrier", "all_reduce", "broadcast", "all_gather", "send", "recv",
                    "all_reduce_grads", "migrate", "destroy", "is_initialized"}
area("distributed", {
  {"uninitialized", function(G)
    local f = nyto.distributed[G.pick(dist_names)]
    local x = G.pick {G.hostile, G.tensor, G.module, function() return swarm(G) end}()
    return f, {x, G.maybe(G.pick {0, 1, -1, "sum", "max", 2}, 0.3), G.maybe(G.hostile(), 0.5), n = 3}
  end, 2},
  {"init_bad", function(G)
    return nyto.distributed.init, {G.pick {3, "x", {timeout = -1}, {timeout = "x"}, {timeout = 0}, {timeout = 0 / 0}}, n = 1}
  end},
})

-- ---- a self test of the checks (NYTO_FUZZ_SELFTEST=1, spec/fuzz_spec.lua) ----
if os.getenv("NYTO_FUZZ_SELFTEST") then
  area("selftest", {
    {"plain_error", function() return function() error("not a nyto message", 0) end, {n = 0} end, 40},
    {"changes_operand", function()
      local t = nyto.zeros(2)
      return function(x) x:fill_(1); error("nyto: fails after writing", 0) end, {t, n = 1}
    end, 40},
    {"crash", function(G) -- chunk 1 only, so the other chunks finish and count
      if G.chunk ~= 1 then return nil end
      return function() os.exit(3, false) end, {n = 0}
    end, 5},
  })
end

return A
