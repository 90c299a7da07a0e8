-- nyto.help: the one-line docs that help(x) prints in the REPL, in one table.
-- spec/help_spec.lua checks that every public nyto.* function and every
-- Tensor method has an entry here.  Keys: "nyto.name", "Tensor:name",
-- "nn.Name", "F.name", "optim.Name", "Module:name", "data.name", "strategy.NAME",
-- "Strategy:name".
local nyto = require "nyto"
local H = {}

local D = {
  -- tensors: creation
  ["nyto.tensor"] = "nyto.tensor(data [, {dtype=, requires_grad=}]): a tensor from nested tables of numbers (float32 unless dtype says)",
  ["nyto.zeros"] = "nyto.zeros(sizes... [, opts]): a tensor of zeros",
  ["nyto.ones"] = "nyto.ones(sizes... [, opts]): a tensor of ones",
  ["nyto.full"] = "nyto.full(sizes, value [, opts]): a tensor filled with value",
  ["nyto.empty"] = "nyto.empty(sizes... [, opts]): an uninitialized tensor",
  ["nyto.randn"] = "nyto.randn(sizes... [, opts]): standard normal samples",
  ["nyto.rand"] = "nyto.rand(sizes... [, opts]): uniform samples in [0, 1)",
  ["nyto.randint"] = "nyto.randint(low, high, sizes [, opts]): integers in [low, high)",
  ["nyto.randperm"] = "nyto.randperm(n): a random permutation of 1..n (int64)",
  ["nyto.arange"] = "nyto.arange([start,] stop [, step] [, opts]): evenly spaced values (int64 for integers)",
  ["nyto.linspace"] = "nyto.linspace(start, stop, steps [, opts]): steps values from start to stop",
  ["nyto.eye"] = "nyto.eye(n [, m] [, opts]): the identity matrix",
  ["nyto.zeros_like"] = "nyto.zeros_like(t): zeros of t's shape and dtype",
  ["nyto.ones_like"] = "nyto.ones_like(t): ones of t's shape and dtype",
  ["nyto.randn_like"] = "nyto.randn_like(t): normal samples of t's shape and dtype",
  ["nyto.rand_like"] = "nyto.rand_like(t): uniform samples of t's shape and dtype",
  ["nyto.full_like"] = "nyto.full_like(t, value): value in t's shape and dtype",
  ["nyto.empty_like"] = "nyto.empty_like(t): an uninitialized tensor of t's shape and dtype",
  ["nyto.cat"] = "nyto.cat(tensors [, dim]): concatenate along dim (1-based, default 1)",
  ["nyto.stack"] = "nyto.stack(tensors [, dim]): stack along a new dim",
  ["nyto.from_string"] = "nyto.from_string(bytes, dtype, sizes): a tensor from raw bytes",
  -- library
  ["nyto.type"] = "nyto.type(x): \"Tensor\", \"Module\", \"Kernel\", \"Version\", ... or Lua's type",
  ["nyto.is_tensor"] = "nyto.is_tensor(x): true for a tensor",
  ["nyto.is_module"] = "nyto.is_module(x): true for a module",
  ["nyto.is_class"] = "nyto.is_class(x): true for a nyto class",
  ["nyto.class"] = "nyto.class(name [, parent]): a module class (parent: nyto.Module by default)",
  ["nyto.stats"] = "nyto.stats(): a table of live tensors, bytes, peak bytes, particles, buffers, ...",
  ["nyto.reset_peak"] = "nyto.reset_peak(): reset stats().peak_bytes to the current bytes",
  ["nyto.pool_limit"] = "nyto.pool_limit(n [, bytes]): size the buffer pool (0 disables it)",
  ["nyto.Generator"] = "nyto.Generator(seed [, stream]): a counter-based generator (xoshiro128++ lanes keyed by Philox4x32-10); g:get_state(), g:set_state(s), g:stream(k)",
  ["nyto.batched_forward"] = "nyto.batched_forward(module, stacks, x [, opts]): every member's forward as one batched computation (outputs get dim 1 of size n)",
  ["nyto.save"] = "nyto.save(value, path): save a tensor, table, module, ParticleModule or optimizer as .safetensors or .pt, atomically",
  ["nyto.load"] = "nyto.load(path): the saved value; nil, message for a missing file",
  ["nyto.rng_state"] = "nyto.rng_state(): the CPU generator's state as a string",
  ["nyto.set_rng_state"] = "nyto.set_rng_state(s): restore a state from nyto.rng_state()",
  ["nyto.manual_seed"] = "nyto.manual_seed(seed): seed the random number generator",
  ["nyto.no_grad"] = "nyto.no_grad(fn, ...): call fn with gradient recording off",
  ["nyto.enable_grad"] = "nyto.enable_grad(fn, ...): call fn with gradient recording on",
  ["nyto.grad_enabled"] = "nyto.grad_enabled(): whether gradients are recorded",
  ["nyto.set_grad_enabled"] = "nyto.set_grad_enabled(bool): turn gradient recording on or off",
  ["nyto.num_threads"] = "nyto.num_threads([n]): libtorch's intra-op thread count (sets it when n is given)",
  ["nyto.collect"] = "nyto.collect(): a full Lua collection, releasing unreachable tensors",
  ["nyto.gc_mode"] = "nyto.gc_mode(): \"incremental\" or \"generational\"",
  ["nyto.set_gc_mode"] = "nyto.set_gc_mode(mode): switch the Lua collector's mode through nyto",
  ["nyto.on_warning"] = "nyto.on_warning(fn): call fn(message) for nyto's warnings (nil: to stderr)",
  ["nyto.plot"] = "nyto.plot{path=, series={{y=, x=, name=}, ...}, title=, xlabel=, ylabel=, logy=, width=, height=}: line chart to PNG through gnuplot; true, or nil and a message when gnuplot is missing or fails",
  ["nyto.timeit"] = "nyto.timeit(fn [, {runs=, min_time=, warmup=, quiet=}]): median wall time of fn() in seconds, printed; also returns the sorted times",
  ["nyto.ParticleModule"] = "nyto.ParticleModule(module): a module whose particles are released promptly, by the next operations after they are dropped (docs/memory.md)",
  ["nyto.PMProduct"] = "nyto.PMProduct(x): the product class of ParticleModule",
  ["nyto.Module"] = "nyto.Module: the base class of modules (nyto.class(name) derives from it)",
  ["nyto.Product"] = "nyto.Product: a lazy linear combination of particles (net:product())",
  ["nyto.Parameter"] = "nyto.Parameter(t): t as a parameter (a leaf that requires grad)",
  ["nyto.is_parameter"] = "nyto.is_parameter(x): true for a parameter tensor",
  ["nyto.allclose"] = "nyto.allclose(a, b [, rtol [, atol]]): whether a and b are equal within tolerances",
  ["nyto.equal"] = "nyto.equal(a, b): whether a and b have the same shape and elements",
  ["nyto.is_grad_enabled"] = "nyto.is_grad_enabled(): whether gradients are recorded",
  -- nyto.distributed (docs/api.md, Distributed)
  ["distributed.init"] = "dist.init{timeout=, check_shapes=}: join the process group from RANK, WORLD_SIZE, MASTER_ADDR, MASTER_PORT (torchrun)",
  ["distributed.destroy"] = "dist.destroy(): leave the process group",
  ["distributed.is_initialized"] = "dist.is_initialized(): whether dist.init has run",
  ["distributed.rank"] = "dist.rank(): this rank, 0-based",
  ["distributed.world_size"] = "dist.world_size(): the number of ranks",
  ["distributed.barrier"] = "dist.barrier(): wait for every rank",
  ["distributed.all_reduce"] = "dist.all_reduce(x [, \"sum\"|\"avg\"|\"min\"|\"max\"|\"product\"]): in place over the ranks; x a tensor, particle or Swarm",
  ["distributed.broadcast"] = "dist.broadcast(x, src): x from rank src, in place (tensor, particle or Swarm)",
  ["distributed.all_gather"] = "dist.all_gather(x): a 1-based table of every rank's x, in rank order",
  ["distributed.send"] = "dist.send(x, dst): send x (tensor, particle or Swarm) to rank dst",
  ["distributed.recv"] = "dist.recv(x, src): receive into x from rank src",
  ["distributed.all_reduce_grads"] = "dist.all_reduce_grads(net): average net's gradients over the ranks in one collective (as DDP)",
  ["distributed.migrate"] = "dist.migrate(s, k [, fitness]): island model on a ring: the k best members go to rank + 1 and replace its k worst",
  ["nyto.Swarm"] = "nyto.Swarm(net, n [, init]) / nyto.Swarm.of{p1, ...}: n members of one species in one [n, P] arena; a ParticleModule's swarm hands out ParticleModules (docs/api.md, Swarms)",
  ["nyto.Swarm.load"] = "nyto.Swarm.load(path_or_value, net): a swarm of net's species from what nyto.save(swarm, path) wrote (nil, message for a missing file)",
  ["Swarm:state_dict"] = "s:state_dict(): {members = {state dict of each member}}, what nyto.save(s, path) writes",
  ["nyto.strategy"] = "nyto.strategy: ask/tell strategies (PSO, APSO, GA, DE, CEM, OpenES, SNES, PGPE, CMAES) on particles and vectors (docs/api.md, Strategies)",
  ["Swarm:axpby_randn_"] = "s:axpby_randn_(a, x, b, sigma [, {generator=}]): s = a s + b x + sigma N(0,1) in one pass (x a particle or a swarm; the noise of s:randn); the APSO step",
  -- strategies (lua/nyto/strategy/)
  ["strategy.PSO"] = "nyto.strategy.PSO(center [, {popsize=50, sigma=0.1, inertia=0.7298, c1=1.49618, c2=1.49618, maximize=, generator=}]): particle swarm optimisation",
  ["strategy.APSO"] = "nyto.strategy.APSO(center [, {popsize=50, sigma=0.1, alpha=0.5, noise=0.2*sigma, decay=0.97, ...}]): accelerated PSO, W_i = (1-alpha) W_i + alpha W_best + noise",
  ["strategy.GA"] = "nyto.strategy.GA(center [, {popsize=50, sigma=0.1, tournament=2, crossover=0.9, mutation=sigma, elite=1, ...}]): a genetic algorithm",
  ["strategy.DE"] = "nyto.strategy.DE(center [, {popsize=min(10D,100), sigma=0.1, F=0.5, CR=0.9, ...}]): differential evolution, DE/rand/1/bin",
  ["strategy.CEM"] = "nyto.strategy.CEM(center [, {popsize=50, sigma=0.1, elite_ratio=0.2, lr=1, ...}]): the cross-entropy method",
  ["strategy.OpenES"] = "nyto.strategy.OpenES(center [, {popsize=4+floor(3 ln D) (even), sigma=0.02, lr=0.01, weight_decay=0.005, beta1=0.9, beta2=0.999, epsilon=1e-8, ...}]): Salimans et al.'s ES, antithetic, centred ranks, Adam",
  ["strategy.SNES"] = "nyto.strategy.SNES(center [, {popsize=4+floor(3 ln D), sigma=1, lr=1, sigma_lr=(3+ln D)/(5 sqrt D), ...}]): separable natural evolution strategies",
  ["strategy.PGPE"] = "nyto.strategy.PGPE(center [, {popsize=4+floor(3 ln D) (even), sigma=0.1, max_speed=0.15, lr=max_speed/2, momentum=0.9, sigma_lr=0.1, sigma_max_change=0.2, ...}]): PGPE with ClipUp",
  ["strategy.CMAES"] = "nyto.strategy.CMAES(center [, {popsize=4+floor(3 ln D), sigma=0.3, elite_ratio=0.5, diagonal=false, ...}]): CMA-ES (Hansen's tutorial); diagonal=true: sep-CMA-ES",
  ["strategy.run"] = "nyto.strategy.run(es, fn [, {generations=100, target=, progress=, batched=, plot=}]): ask/tell until done; returns best, fitness",
  ["Strategy:ask"] = "es:ask(): the population to score (a Swarm, or an [n, D] tensor for a vector center; the strategy's own: clone to keep it)",
  ["Strategy:tell"] = "es:tell(fitness): popsize numbers (table or tensor) for the last ask; a bad one changes nothing",
  ["Strategy:best"] = "es:best(): the best solution seen (a copy) and its fitness",
  ["Strategy:center"] = "es:center(): the current mean (a particle or a [D] tensor, a copy)",
  ["Strategy:state_dict"] = "es:state_dict(): the state as tensors and numbers (generator included; nyto.save writes it)",
  ["Strategy:load_state_dict"] = "es:load_state_dict(sd): copy a state_dict (checked first); the run continues bit for bit",
  ["nyto.is_particle_module"] = "nyto.is_particle_module(x): true for a ParticleModule",
  ["nyto.is_product"] = "nyto.is_product(x): true for a Product",
  -- tensor methods
  ["Tensor:T"] = "t:T(): t with its dims reversed",
  ["Tensor:alias"] = "t:alias(): a new handle on t's storage (same values, same graph)",
  ["Tensor:empty_like"] = "t:empty_like(): an uninitialized tensor of t's shape and dtype",
  ["Tensor:equal"] = "t:equal(other): whether t and other have the same shape and elements",
  ["Tensor:allclose"] = "t:allclose(other [, rtol [, atol]]): whether t and other are equal within tolerances",
  ["Tensor:full_like"] = "t:full_like(value): value in t's shape and dtype",
  ["Tensor:zeros_like"] = "t:zeros_like(): zeros of t's shape and dtype",
  ["Tensor:ones_like"] = "t:ones_like(): ones of t's shape and dtype",
  ["Tensor:rand_like"] = "t:rand_like(): uniform samples of t's shape and dtype",
  ["Tensor:randn_like"] = "t:randn_like(): normal samples of t's shape and dtype",
  ["Tensor:is_parameter"] = "t:is_parameter(): whether t is a parameter",
  ["Tensor:is_same"] = "t:is_same(other): whether t and other are the same tensor",
  ["Tensor:nDimension"] = "t:nDimension(): the number of dims (Torch7's name of dim)",
  ["Tensor:set_grad"] = "t:set_grad(g): set t.grad (shape and dtype checked)",
  ["Tensor:shape"] = "t:shape(): the sizes as a table",
  ["Tensor:shape_string"] = "t:shape_string(): the sizes as a string, e.g. \"[3, 7]\"",
  ["Tensor:tolist"] = "t:tolist(): nested Lua tables of the elements",
  ["Tensor:size"] = "t:size([dim]): the sizes as a table, or the size of one dim",
  ["Tensor:dim"] = "t:dim(): the number of dims",
  ["Tensor:numel"] = "t:numel(): the number of elements",
  ["Tensor:dtype"] = "t:dtype(): the dtype name (\"float32\", \"int64\", ...)",
  ["Tensor:item"] = "t:item(): the one element as a Lua number or boolean",
  ["Tensor:totable"] = "t:totable(): nested Lua tables of the elements",
  ["Tensor:backward"] = "t:backward([grad]): accumulate gradients into the leaves",
  ["Tensor:requires_grad"] = "t:requires_grad(): whether t records gradients",
  ["Tensor:requires_grad_"] = "t:requires_grad_([bool]): set requires_grad; returns t",
  ["Tensor:zero_grad_"] = "t:zero_grad_(): set t.grad to nil",
  ["Tensor:grad_fn"] = "t:grad_fn(): the name of the node that made t, or nil",
  ["Tensor:is_leaf"] = "t:is_leaf(): whether t is a leaf of the graph",
  ["Tensor:is_contiguous"] = "t:is_contiguous(): whether t's elements are dense in row-major order",
  ["Tensor:stride"] = "t:stride([dim]): the strides as a table, or one stride",
  ["Tensor:to"] = "t:to(dtype): a copy in another dtype (t itself if the same)",
  ["Tensor:tostring"] = "t:tostring(): PyTorch-style printing",
  ["Tensor:tostring_bytes"] = "t:tostring_bytes(): the raw bytes of a contiguous tensor",
  ["Tensor:data_ptr"] = "t:data_ptr(): the address of the first element (light userdata)",
  ["Tensor:storage_id"] = "t:storage_id(): an id shared by tensors on the same storage",
  ["Tensor:free"] = "t:free(): release t's memory now",
  ["Tensor:split"] = "t:split(size [, dim]): tensors of size along dim",
  ["Tensor:chunk"] = "t:chunk(n [, dim]): n tensors along dim",
  ["Tensor:repeat_"] = "t:repeat_(sizes): t tiled",
  ["Tensor:type"] = "t:type(): \"Tensor\"",
  -- modules
  ["Module:parameters"] = "m:parameters(): a list of the parameter tensors",
  ["Module:named_parameters"] = "m:named_parameters(): pairs of dotted name and parameter",
  ["Module:forward"] = "m:forward(...): the module's computation (m(...) calls it)",
  ["Module:train"] = "m:train([bool]): training mode (dropout, batch norm)",
  ["Module:eval"] = "m:eval(): evaluation mode",
  ["Module:zero_grad"] = "m:zero_grad(): set every parameter's grad to nil",
  ["Module:product"] = "m:product(): a Product of the particle (linear combinations without module trees)",
  ["Module:randn"] = "m:randn(): a particle of the same species with normal parameters",
  ["Module:free"] = "m:free(): release the particle now",
  ["Module:kernel"] = "m:kernel(): the particle's kernel (flat buffers)",
  ["Module:param_config"] = "m:param_config(pid | name | parameter): the shared config table of a parameter",
  ["Module:state_dict"] = "m:state_dict(): a table of names to tensors",
  ["Module:load_state_dict"] = "m:load_state_dict(sd): copy tensors into the parameters and buffers",
  ["Module:register_buffer"] = "m:register_buffer(name, tensor): a buffer (saved, not trained)",
  ["Module:modules"] = "m:modules(): the submodules",
  -- nyto.nn (classes: nn.Name(...) makes a module)
  ["nn.Linear"] = "nn.Linear(in, out [, bias=true]): y = x W^T + b",
  ["nn.Conv2d"] = "nn.Conv2d(in, out, kernel [, {stride=, padding=, dilation=, groups=, bias=}]): 2-D convolution",
  ["nn.MaxPool2d"] = "nn.MaxPool2d(kernel [, stride [, padding]]): 2-D max pooling",
  ["nn.AvgPool2d"] = "nn.AvgPool2d(kernel [, stride [, padding]]): 2-D average pooling",
  ["nn.ReLU"] = "nn.ReLU(): max(x, 0)",
  ["nn.Tanh"] = "nn.Tanh(): tanh(x)",
  ["nn.Sigmoid"] = "nn.Sigmoid(): 1 / (1 + exp(-x))",
  ["nn.Softmax"] = "nn.Softmax([dim]): softmax along dim",
  ["nn.LogSoftmax"] = "nn.LogSoftmax([dim]): log-softmax along dim",
  ["nn.Flatten"] = "nn.Flatten([start_dim [, end_dim]]): flatten dims (from 2 by default)",
  ["nn.Dropout"] = "nn.Dropout([p=0.5]): zero elements with probability p in training",
  ["nn.BatchNorm1d"] = "nn.BatchNorm1d(features [, opts]): batch normalization over (N, C[, L])",
  ["nn.BatchNorm2d"] = "nn.BatchNorm2d(features [, opts]): batch normalization over (N, C, H, W)",
  ["nn.LayerNorm"] = "nn.LayerNorm(shape [, opts]): layer normalization over the last dims",
  ["nn.Embedding"] = "nn.Embedding(n, dim): a table of n vectors, looked up by 1-based index",
  ["nn.LSTM"] = "nn.LSTM(input, hidden [, opts]): a long short-term memory layer",
  ["nn.Sequential"] = "nn.Sequential(m1, m2, ...): modules applied in order",
  ["nn.ModuleList"] = "nn.ModuleList({m1, ...}): a list of submodules",
  ["nn.CrossEntropyLoss"] = "nn.CrossEntropyLoss([opts]): cross-entropy of logits and 1-based class targets",
  ["nn.NLLLoss"] = "nn.NLLLoss([opts]): negative log-likelihood of log-probabilities and 1-based targets",
  ["nn.MSELoss"] = "nn.MSELoss([opts]): mean squared error",
  ["nn.init"] = "nn.init: parameter initializers (as torch.nn.init)",
  -- nyto.optim
  ["optim.SGD"] = "optim.SGD(params, {lr=, momentum=, weight_decay=, nesterov=, ...}): stochastic gradient descent",
  ["optim.Adam"] = "optim.Adam(params, {lr=, betas=, eps=, weight_decay=, ...}): Adam",
  ["optim.Optimizer"] = "optim.Optimizer: the base of optimizers (zero_grad, step, state_dict, ...)",
}

-- ops.def rows: every one is nyto.<name>(...) and, with a tensor first, t:<name>(...)
local groups = {
  {"neg abs exp log sqrt rsqrt sin cos tan tanh sigmoid relu sign floor ceil round trunc reciprocal log1p expm1 asin acos atan sinh cosh log2 log10 square",
   "%s(t): elementwise %s (in place: %s_)"},
  {"add sub mul div pow fmod remainder atan2 maximum minimum",
   "%s(a, b): elementwise %s with broadcasting; b may be a number (in place: %s_)"},
  {"rsub rdiv rpow", "%s(t, x): x %s t, reversed operands (x a number)"},
  {"eq ne lt le gt ge", "%s(a, b): elementwise comparison '%s' (a bool tensor)"},
  {"logical_not logical_and logical_or isnan", "%s(...): elementwise %s (a bool tensor)"},
  {"sum mean prod std var max min argmax argmin norm all any",
   "%s(t [, dim [, keepdim]]): the %s of all elements or along dim (1-based)"},
  {"cumsum", "%s(t, dim): the running sum along dim"},
  {"addmm baddbmm addbmm", "%s(input, a, b [, beta, alpha]): beta*input + alpha*(the %s products), one pass"},
  {"movedim", "%s(t, from, to): t with dim from moved to position to (1-based); a view"},
  {"sort topk", "%s(t, ...): %s: values and 1-based indices"},
  {"matmul mm bmm mv dot outer", "%s(a, b): the matrix product %s"},
  {"eigh", "%s(t): the eigenvalues (ascending) and eigenvectors (columns) of a symmetric matrix, as torch.linalg.%s"},
  {"view reshape expand flatten transpose t permute squeeze unsqueeze narrow select contiguous",
   "%s(t, ...): the %s of t (a view where possible)"},
  {"index_select gather masked_select", "%s(t, ...): %s (1-based indices)"},
  {"clone detach float double long bool", "%s(t): %s of t"},
  {"copy_ fill_ zero_ normal_ uniform_", "%s(t, ...): %s t in place; returns t"},
  {"clamp clamp_ lerp where", "%s(...): %s (clamp_: in place)"},
  {"multinomial randperm_like", "%s(t, ...): random %s"},
  {"linear conv2d max_pool2d avg_pool2d softmax log_softmax dropout batch_norm layer_norm embedding one_hot",
   "%s(input, ...): the functional %s (as torch.nn.functional)"},
  {"cross_entropy nll_loss mse_loss l1_loss binary_cross_entropy",
   "%s(input, target [, opts]): the %s loss (reduction \"mean\", \"sum\" or \"none\")"},
}
for _, g in ipairs(groups) do
  for name in g[1]:gmatch("%S+") do
    local doc = string.format(g[2], name, name:gsub("_$", ""), name)
    D["nyto." .. name] = D["nyto." .. name] or ("nyto." .. doc)
    D["Tensor:" .. name] = D["Tensor:" .. name] or ("t:" .. doc:gsub("^([%w_]+)%(t, ", "%1("):gsub("^([%w_]+)%(t %[, ", "%1(["):gsub("^([%w_]+)%(t%)", "%1()"):gsub("^([%w_]+)%(a, ", "%1("))
    local u = name .. "_"
    if g[2]:find("in place: %%s_") then
      D["nyto." .. u] = D["nyto." .. u] or ("nyto." .. u .. "(t, ...): " .. name .. " in place; returns t")
      D["Tensor:" .. u] = D["Tensor:" .. u] or ("t:" .. u .. "(...): " .. name .. " in place; returns t")
    end
  end
end
H.docs = D

-- where to look for a value's name
local function places()
  local p = {{"nyto.", nyto}, {"Tensor:", nyto.core.Tensor_methods}}
  for _, sub in ipairs {"nn", "F", "optim", "data", "strategy"} do p[#p + 1] = {sub .. ".", nyto[sub]} end
  if rawget(nyto, "distributed") then p[#p + 1] = {"distributed.", nyto.distributed} end -- once loaded
  return p
end

local function name_of(x)
  for _, pl in ipairs(places()) do
    if type(pl[2]) == "table" then
      for k, v in pairs(pl[2]) do
        if rawequal(v, x) and type(k) == "string" then
          local key = pl[1] .. k
          if D[key] then return key end
          if pl[1] == "Tensor:" and D["nyto." .. k] then return "Tensor:" .. k end
          if D["nyto." .. k] then return "nyto." .. k end
          return key
        end
      end
    end
  end
end

local function lookup(name)
  if D[name] then return name end
  for _, p in ipairs {"nyto.", "Tensor:", "Module:", "nn.", "F.", "optim.", "data.", "strategy.", "Strategy:", "distributed."} do
    if D[p .. name] then return p .. name end
  end
  local m = name:match("^[%w_]+[:.]([%w_]+)$")
  if m and D["Tensor:" .. m] then return "Tensor:" .. m end
  if m and D["Module:" .. m] then return "Module:" .. m end
end

--- The doc line of x (a function, class, tensor, module or a name such as "zeros", "Tensor:sum"), or nil.
function H.doc(x)
  local key
  if type(x) == "string" then key = lookup(x)
  else
    key = name_of(x)
    if not key then
      local t = nyto.type(x)
      if t == "Tensor" then return "a Tensor: " .. tostring(x:dtype()) .. " of size [" .. table.concat(x:size(), ", ") .. "]; help(\"Tensor:name\") for a method" end
      if t == "Module" then return "a Module; help(\"Module:name\") for a method" end
      if type(x) == "table" and rawget(x, "__classname") then return "class " .. rawget(x, "__classname") end
    end
  end
  if key and D[key] then return D[key] end
  if key then return key .. ": (no doc)" end
end

local USAGE = [[
help(x): the one-line doc of a nyto function, class or method, e.g.
  help(nyto.zeros)   help(nyto.nn.Linear)   help("Tensor:sum")   help(t.matmul)
Tab completes names, fields and methods (nyto.ra<Tab>, t:si<Tab>) and file names in strings.
%time expr times one run; nyto.timeit(fn [, {runs=, min_time=}]) prints median times.
Errors show as Lua shows them; NYTO_TRACEBACK=full keeps nyto's own traceback frames.]]

function H.help(...)
  if select("#", ...) == 0 then print(USAGE) return end
  local x = ...
  local d = H.doc(x)
  print(d or ("no help for " .. tostring(x) .. " (help() for how to use help)"))
end

return H
