---@meta nyto
-- docs/meta.lua -- LuaLS (lua-language-server) annotations of nyto's public API, as
-- docs/api.md and shared/design/API.md document it (luv's docs/meta.lua is the model).
-- Installed as <prefix>/share/lua/5.4/nyto/meta.lua; point LuaLS at it with
-- `"workspace.library": ["<prefix>/share/lua/5.4/nyto/meta.lua"]` (README, "Editor support").
-- Not a module to require: it declares, it runs nothing.  The Tensor operations of
-- src/torch/ops.def are the generated block at the end (scripts/gen-ops-doc --meta;
-- spec/ops_doc_spec.lua keeps it current).

---@alias nyto.dtype "float32"|"float64"|"int64"|"bool"
---@alias nyto.sizes integer[]

---@class nyto
---@field _VERSION string "0.1.0"
---@field ROOT_MODULE_ID integer 1: the root module's id in every particle
---@field Module nyto.ModuleClass the base class of every module (`nyto.class(name)`)
---@field Product table the class of `net:product()`
---@field ParticleModule nyto.ParticleModuleClass wraps a root module: `nyto.ParticleModule(root)`
---@field PMProduct table the class of `pm:product()`
---@field Swarm nyto.SwarmClass a population of one species in one arena: `nyto.Swarm(net, n [, init])`, `nyto.Swarm.of{...}`
---@field F nyto.F the functional layer (torch.nn.functional)
---@field nn nyto.nn layers and losses (torch.nn)
---@field optim nyto.optim optimizers (torch.optim)
---@field data nyto.data datasets and the DataLoader
---@field distributed nyto.distributed ranks on torch.distributed's Gloo backend (loaded on first use)
---@field strategy nyto.strategy ask/tell strategies on particles and vectors (loaded on first use)
---@field core table the C core (internal: its contract is undocumented and may change)
---@field Progress_mt table the metatable of `nyto.progress` bars (nyto.Progress)
local nyto = {}

-- ---------------------------------------------------------------------------------------
-- Tensors

---@class Tensor
---@field grad Tensor? the gradient after `backward()` (nil when none); assigning checks shape and dtype
---@operator add(Tensor|number): Tensor
---@operator sub(Tensor|number): Tensor
---@operator mul(Tensor|number): Tensor
---@operator div(Tensor|number): Tensor
---@operator pow(Tensor|number): Tensor
---@operator unm: Tensor
---@operator len: integer
---@operator call: nil
local Tensor = {}

---A tensor from a number or a nested table (float32 unless `dtype` says otherwise;
---booleans make a bool tensor).
---@param data number|boolean|table
---@param opts? {dtype?: nyto.dtype, requires_grad?: boolean}
---@return Tensor
function nyto.tensor(data, opts) end

---@param ... integer|integer[]|{dtype?: nyto.dtype} sizes, as varargs or one table; an options table last
---@return Tensor
function nyto.zeros(...) end
---@param ... integer|integer[]|{dtype?: nyto.dtype}
---@return Tensor
function nyto.ones(...) end
---@param ... integer|integer[]|{dtype?: nyto.dtype}
---@return Tensor
function nyto.empty(...) end
---Standard normal draws (reproducible after `nyto.manual_seed`).
---@param ... integer|integer[]|{dtype?: nyto.dtype}
---@return Tensor
function nyto.randn(...) end
---Uniform draws on [0, 1).
---@param ... integer|integer[]|{dtype?: nyto.dtype}
---@return Tensor
function nyto.rand(...) end
---@param size integer|integer[]
---@param value number
---@param opts? {dtype?: nyto.dtype}
---@return Tensor
function nyto.full(size, value, opts) end
---`arange(n)` is 0..n-1; `arange(a, b [, step])` is a, a+step, ... below b.  Integer arguments make int64.
---@param a number
---@param b? number
---@param step? number
---@param opts? {dtype?: nyto.dtype}
---@return Tensor
function nyto.arange(a, b, step, opts) end
---@param n integer
---@param opts? {dtype?: nyto.dtype}
---@return Tensor
function nyto.eye(n, opts) end
---@param t Tensor
---@param opts? {dtype?: nyto.dtype}
---@return Tensor
function nyto.zeros_like(t, opts) end
---@param t Tensor
---@param opts? {dtype?: nyto.dtype}
---@return Tensor
function nyto.ones_like(t, opts) end
---@param t Tensor
---@param opts? {dtype?: nyto.dtype}
---@return Tensor
function nyto.empty_like(t, opts) end
---@param t Tensor
---@param opts? {dtype?: nyto.dtype}
---@return Tensor
function nyto.randn_like(t, opts) end
---@param t Tensor
---@param opts? {dtype?: nyto.dtype}
---@return Tensor
function nyto.rand_like(t, opts) end
---@param t Tensor
---@param value number
---@param opts? {dtype?: nyto.dtype}
---@return Tensor
function nyto.full_like(t, value, opts) end
---@param list Tensor[]
---@param dim? integer 1-based (default 1)
---@return Tensor
function nyto.cat(list, dim) end
---@param list Tensor[]
---@param dim? integer 1-based (default 1)
---@return Tensor
function nyto.stack(list, dim) end
---A leaf tensor that requires grad (registers a parameter when assigned to a module field).
---@param t Tensor
---@return Tensor
function nyto.Parameter(t) end
---@param x any
---@return boolean
function nyto.is_parameter(x) end
---@param x any
---@return boolean
function nyto.is_tensor(x) end
---Same shape and the same values.
---@param a Tensor
---@param b Tensor
---@return boolean
function nyto.equal(a, b) end
---@param a Tensor
---@param b Tensor
---@param rtol? number
---@param atol? number
---@return boolean
function nyto.allclose(a, b, rtol, atol) end
---Calls fn(...) with autograd recording off; returns its results.
---@generic R
---@param fn fun(...): R
---@param ... any
---@return R
function nyto.no_grad(fn, ...) end
---@return boolean
function nyto.is_grad_enabled() end
---@param enabled boolean
function nyto.set_grad_enabled(enabled) end
---Makes every random draw in nyto reproducible.
---@param seed integer
function nyto.manual_seed(seed) end
---The number of intra-op threads; with n, sets it.
---@param n? integer
---@return integer
function nyto.num_threads(n) end
---The short type name of x ("Tensor", "Module", "Kernel", "Version", "Product",
---"ParticleModule", "PMProduct", ...), or nil; never raises.
---@param x any
---@return string?
function nyto.type(x) end

---@param d? integer a dim (1-based)
---@return integer|integer[] size the sizes as a table, or the size of dim d
function Tensor:size(d) end
---@return integer[]
function Tensor:shape() end
---@return string shape as "[3, 7]"
function Tensor:shape_string() end
---@return integer
function Tensor:dim() end
---@return integer
function Tensor:nDimension() end
---@return integer
function Tensor:numel() end
---@return nyto.dtype
function Tensor:dtype() end
---@return "Tensor"
function Tensor:type() end
---The value of a one-element tensor.
---@return number|boolean
function Tensor:item() end
---@return table nested tables of numbers
function Tensor:totable() end
---@return table
function Tensor:tolist() end
---@return boolean
function Tensor:requires_grad() end
---@param flag? boolean default true
---@return Tensor self
function Tensor:requires_grad_(flag) end
---@param gradient? Tensor
function Tensor:backward(gradient) end
---Sets `.grad` to nil (PyTorch's set_to_none).
---@return Tensor self
function Tensor:zero_grad_() end
---@param g Tensor?
---@return Tensor self
function Tensor:set_grad(g) end
---@return string? name the autograd node that made this tensor
function Tensor:grad_fn() end
---@return boolean
function Tensor:is_leaf() end
---@return boolean
function Tensor:is_contiguous() end
---@return boolean
function Tensor:is_parameter() end
---@param other Tensor
---@return boolean same the same storage, offset, sizes and strides
function Tensor:is_same(other) end
---@param other Tensor
---@return boolean
function Tensor:equal(other) end
---@param other Tensor
---@param rtol? number
---@param atol? number
---@return boolean
function Tensor:allclose(other, rtol, atol) end
---The transpose of a 2-D tensor (`t:t()`).
---@return Tensor
function Tensor:T() end
---A second handle to the same tensor (the same TensorImpl).
---@return Tensor
function Tensor:alias() end
---@return lightuserdata address of the first element
function Tensor:data_ptr() end
---@return lightuserdata id the same for every view of one storage
function Tensor:storage_id() end
---Releases the tensor's storage now (using it afterwards raises).
function Tensor:free() end
---@param opts? {dtype?: nyto.dtype}
---@return Tensor
function Tensor:zeros_like(opts) end
---@param opts? {dtype?: nyto.dtype}
---@return Tensor
function Tensor:ones_like(opts) end
---@param opts? {dtype?: nyto.dtype}
---@return Tensor
function Tensor:empty_like(opts) end
---@param opts? {dtype?: nyto.dtype}
---@return Tensor
function Tensor:randn_like(opts) end
---@param opts? {dtype?: nyto.dtype}
---@return Tensor
function Tensor:rand_like(opts) end
---@param value number
---@param opts? {dtype?: nyto.dtype}
---@return Tensor
function Tensor:full_like(value, opts) end

-- ---------------------------------------------------------------------------------------
-- Modules and particles

---A parameter position's config, shared by every particle of a species.
---@class nyto.ParamConfig
---@field operational boolean takes part in particle operations (default true)
---@field clone boolean a non-operational parameter is cloned into a result (default true)
---@field pid integer the parameter id (read-only)
---@field [string] any user fields

---@alias nyto.Operand Module|Product|number

---A module: a class made by `nyto.class`, or a layer of `nyto.nn`.  A module with no
---enclosing module is a particle root; any module acts for its whole particle.
---@class Module
---@field training boolean
---@operator add(nyto.Operand): Module
---@operator sub(nyto.Operand): Module
---@operator mul(nyto.Operand): Module
---@operator div(nyto.Operand): Module
---@operator pow(nyto.Operand): Module
---@operator unm: Module
---@operator call(...): any
local Module = {}

---@class nyto.ModuleClass: Module
---@overload fun(...): Module

---A new class of modules: `local Net = nyto.class("Net")`, `function Net:init(...)`,
---`function Net:forward(x)`; `Net(...)` constructs.
---@param name string
---@param parent? table a class (default nyto.Module; nyto.ParticleModule and nyto.PMProduct work too)
---@return nyto.ModuleClass
function nyto.class(name, parent) end
---@param x any
---@return boolean
function nyto.is_class(x) end
---@param x any
---@return boolean
function nyto.is_module(x) end
---@param x any
---@return boolean
function nyto.is_product(x) end
---@param x any
---@return boolean
function nyto.is_particle_module(x) end
---Redirects nyto's warnings (risky structures) to fn; nil restores `warn`.
---@param fn fun(message: string)?
function nyto.on_warning(fn) end

---Builds the instance (a class defines it).
---@param ... any
function Module:init(...) end
---Runs the module (a class defines it); `net(x)` calls it.
---@param ... any
---@return any
function Module:forward(...) end
---@return table cls the class of this module
function Module:class() end
---@return Tensor[]
function Module:parameters() end
---@return Tensor[]
function Module:buffers() end
---@return Module[]
function Module:modules() end
---@return Module[]
function Module:children() end
---@return fun(): string?, Tensor iterator over dotted names and parameters
function Module:named_parameters() end
---@return fun(): string?, Tensor
function Module:named_buffers() end
---@return fun(): string?, Module
function Module:named_modules() end
---@return fun(): string?, Module
function Module:named_children() end
---@return table<string, Tensor>
function Module:named_parameters_table() end
---@return table<Tensor, integer>
function Module:param_ids_table() end
---@return table<string, Tensor>
function Module:state_dict() end
---@param sd table<string, Tensor>
---@return Module self
function Module:load_state_dict(sd) end
---@param mode? boolean default true
---@return Module self
function Module:train(mode) end
---@return Module self
function Module:eval() end
---Sets the gradient of every parameter to nil.
function Module:zero_grad() end
---@param name string
---@param t Tensor?
function Module:register_buffer(name, t) end
---@return string extra the text printed inside this module's parentheses
function Module:extra_repr() end
---@return Kernel? kernel the particle kernel (nil once cleared); the same userdata on every call
function Module:kernel() end
---@return integer id this module's id in its particle (1 for the root)
function Module:module_id() end
---@return boolean
function Module:is_root() end
---@param param Tensor a parameter of this particle (else raises)
---@return integer pid
function Module:get_param_id(param) end
---@param other Module
---@return boolean
function Module:same_species(other) end
---Follows the species' newest version (particle operations call it for you).
---@return Module self
function Module:touch() end
---A new particle of the same species with copies of the values.
---@return Module
function Module:clone() end
---A new particle of the same species with standard normal values.
---@return Module
function Module:randn() end
---A new particle of the same species with uniform [0, 1) values.
---@return Module
function Module:rand() end
---A new particle of a new species sharing the same parameter tensors.
---@return Module
function Module:detach() end
---A new particle of this species holding src's values (src: the same structure).
---@param src Module|ParticleModule
---@return Module
function Module:clone_from(src) end
---@param other nyto.Operand
---@return Module
function Module:add(other) end
---@param other nyto.Operand
---@return Module
function Module:sub(other) end
---@param other nyto.Operand
---@return Module
function Module:mul(other) end
---@param other nyto.Operand
---@return Module
function Module:div(other) end
---@param other nyto.Operand
---@return Module
function Module:pow(other) end
---@return Module
function Module:neg() end
---@param other Module|number
---@return Module self
function Module:add_(other) end
---@param other Module|number
---@return Module self
function Module:sub_(other) end
---@param other Module|number
---@return Module self
function Module:mul_(other) end
---@param other Module|number
---@return Module self
function Module:div_(other) end
---@param other Module|number
---@return Module self
function Module:pow_(other) end
---The particle's values as a product (deferred copies: no pass until either side is written).
---@return Product
function Module:product() end
---Copies a product's values into this particle.
---@param p Product
---@return Module self
function Module:product_(p) end
---@param x integer|string|Tensor a parameter id, a dotted name or a parameter
---@return nyto.ParamConfig
function Module:param_config(x) end
---@param opts {operational?: boolean, clone?: boolean, name?: string}
---@return Module self
function Module:set_param_config(opts) end
---@param fn fun(pid: integer, config: nyto.ParamConfig)
---@param name? string a dotted submodule or parameter name (default: the receiver)
---@return Module self
function Module:apply_param_config(fn, name) end
---Releases the particle now (`local net <close> = ...` does it at scope end).
function Module:free() end

---A particle kernel: `net:kernel()`.
---@class Kernel
local Kernel = {}
---@return table<integer, Module> modules by module id
function Kernel:modules() end
---@return table<integer, Tensor> parameters by parameter id
function Kernel:params() end
---@return Version
function Kernel:version() end
---@return Kernel self
function Kernel:touch() end

---A species version: the same object for every particle at that version.
---@class Version
local Version = {}
---@return integer
function Version:number() end

---A particle's values without its module tree: `net:product()`.
---@class Product
---@operator add(Product|number): Product
---@operator sub(Product|number): Product
---@operator mul(Product|number): Product
---@operator div(Product|number): Product
---@operator pow(Product|number): Product
---@operator unm: Product
local Product = {}
---Builds a particle from the product.
---@return Module
function Product:module() end
---@return Module
function Product:particle() end
---@return Product
function Product:clone() end
---@return Product
function Product:randn() end
---@return Product
function Product:rand() end
---@param other Product
---@return boolean
function Product:same_species(other) end
---@param other Product|number
---@return Product
function Product:add(other) end
---@param other Product|number
---@return Product
function Product:sub(other) end
---@param other Product|number
---@return Product
function Product:mul(other) end
---@param other Product|number
---@return Product
function Product:div(other) end
---@param other Product|number
---@return Product
function Product:pow(other) end
---@return Product
function Product:neg() end
---@param other Product|number
---@return Product self
function Product:add_(other) end
---@param other Product|number
---@return Product self
function Product:sub_(other) end
---@param other Product|number
---@return Product self
function Product:mul_(other) end
---@param other Product|number
---@return Product self
function Product:div_(other) end
---@param other Product|number
---@return Product self
function Product:pow_(other) end
---A new product: fn(param, config) -> new tensor for every operational parameter (no grad).
---@param fn fun(param: Tensor, config: nyto.ParamConfig): Tensor
---@return Product
function Product:unary_operator(fn) end
---@param q Product
---@param fn fun(a: Tensor, b: Tensor, config: nyto.ParamConfig): Tensor
---@return Product
function Product:binary_operator(q, fn) end
function Product:free() end

---A root module wrapped so that its particle is released when the wrapper is unreachable.
---@class ParticleModule: Module
---@field root_module Module
---@operator add(ParticleModule|PMProduct|number): ParticleModule
---@operator sub(ParticleModule|PMProduct|number): ParticleModule
---@operator mul(ParticleModule|PMProduct|number): ParticleModule
---@operator div(ParticleModule|PMProduct|number): ParticleModule
---@operator pow(ParticleModule|PMProduct|number): ParticleModule
---@operator unm: ParticleModule
local ParticleModule = {}

---@class nyto.ParticleModuleClass: ParticleModule
---@overload fun(root: Module): ParticleModule

---@return PMProduct
function ParticleModule:product() end
---Makes the modules refer to their kernel again (before a structural change).
function ParticleModule:restore_kernel_ref() end
function ParticleModule:clear_kernel_ref() end

---The product of a ParticleModule: its `module()` returns a ParticleModule.
---@class PMProduct: Product
local PMProduct = {}
---@return ParticleModule
function PMProduct:module() end
---@return ParticleModule
function PMProduct:particle() end
---@return table cls the class of this product
function PMProduct:class() end

-- ---------------------------------------------------------------------------------------
-- Memory and the collector

---@class nyto.Stats
---@field particles integer live particle kernels
---@field particle_buffers integer the C core's flat buffers (one per dtype, products too)
---@field tensors integer live tensor handles
---@field tensor_bytes integer bytes of tensor storage, each storage once
---@field peak_tensor_bytes integer
---@field lua_bytes integer
---@field pool_buffers integer
---@field pool_bytes integer
---@field pool_hits integer
---@field pool_misses integer
---@field passes integer C passes of the particle loops over a buffer (a fused pair of operations is one)
---@field gc_collections integer
---@field gc_young_collections integer

---@return nyto.Stats
function nyto.stats() end
---Resets peak_tensor_bytes to the current count.
function nyto.reset_peak() end
---@return "incremental"|"generational"
function nyto.gc_mode() end
---@param mode "incremental"|"generational"
---@param ... any the collector's parameters, as collectgarbage takes them
---@return "incremental"|"generational" previous
function nyto.set_gc_mode(mode, ...) end
---Sizes the buffer pool (0 disables it).
---@param n integer buffers
---@param bytes? integer
function nyto.pool_limit(n, bytes) end

-- ---------------------------------------------------------------------------------------
-- nyto.F: functional (torch.nn.functional)

---@class nyto.F
local F = {}
---@param input Tensor
---@param weight Tensor
---@param bias? Tensor
---@return Tensor
function F.linear(input, weight, bias) end
---@param input Tensor
---@param weight Tensor
---@param bias? Tensor
---@param stride? integer|integer[]
---@param padding? integer|integer[]
---@param dilation? integer|integer[]
---@param groups? integer
---@return Tensor
function F.conv2d(input, weight, bias, stride, padding, dilation, groups) end
---@param input Tensor
---@param kernel_size integer|integer[]
---@param stride? integer|integer[]
---@param padding? integer|integer[]
---@return Tensor
function F.max_pool2d(input, kernel_size, stride, padding) end
---@param input Tensor
---@param kernel_size integer|integer[]
---@param stride? integer|integer[]
---@param padding? integer|integer[]
---@return Tensor
function F.avg_pool2d(input, kernel_size, stride, padding) end
---@param input Tensor
---@param inplace? boolean
---@return Tensor
function F.relu(input, inplace) end
---@param input Tensor
---@return Tensor
function F.sigmoid(input) end
---@param input Tensor
---@return Tensor
function F.tanh(input) end
---@param input Tensor
---@param dim integer
---@return Tensor
function F.softmax(input, dim) end
---@param input Tensor
---@param dim integer
---@return Tensor
function F.log_softmax(input, dim) end
---@param input Tensor
---@param p? number default 0.5
---@param training? boolean default true
---@param inplace? boolean
---@return Tensor
function F.dropout(input, p, training, inplace) end
---@param input Tensor
---@param start_dim? integer default 1
---@param end_dim? integer default -1
---@return Tensor
function F.flatten(input, start_dim, end_dim) end
---@param input Tensor logits
---@param target Tensor 1-based class labels
---@param ... any `reduction` ("mean", "sum", "none"), as torch's keywords or positions
---@return Tensor
function F.cross_entropy(input, target, ...) end
---@param input Tensor log-probabilities
---@param target Tensor 1-based class labels
---@param ... any
---@return Tensor
function F.nll_loss(input, target, ...) end
---@param input Tensor
---@param target Tensor
---@param ... any
---@return Tensor
function F.mse_loss(input, target, ...) end
---@param input Tensor
---@param running_mean? Tensor
---@param running_var? Tensor
---@param weight? Tensor
---@param bias? Tensor
---@param training? boolean
---@param momentum? number
---@param eps? number
---@return Tensor
function F.batch_norm(input, running_mean, running_var, weight, bias, training, momentum, eps) end
---@param input Tensor
---@param normalized_shape integer|integer[]
---@param weight? Tensor
---@param bias? Tensor
---@param eps? number
---@return Tensor
function F.layer_norm(input, normalized_shape, weight, bias, eps) end
---@param input Tensor 1-based indices
---@param weight Tensor
---@param padding_idx? integer
---@return Tensor
function F.embedding(input, weight, padding_idx) end

-- ---------------------------------------------------------------------------------------
-- nyto.nn: layers and losses (constructor arguments and defaults follow torch.nn)

---@class nyto.nn.Layer: nyto.ModuleClass

---@class nyto.nn
---@field Linear nyto.nn.Layer `Linear(in_features, out_features [, bias])`
---@field Conv2d nyto.nn.Layer `Conv2d(in_channels, out_channels, kernel_size [, stride, padding, dilation, groups, bias])`
---@field MaxPool2d nyto.nn.Layer `MaxPool2d(kernel_size [, stride, padding])`
---@field AvgPool2d nyto.nn.Layer `AvgPool2d(kernel_size [, stride, padding])`
---@field ReLU nyto.nn.Layer `ReLU([inplace])`
---@field Tanh nyto.nn.Layer
---@field Sigmoid nyto.nn.Layer
---@field Softmax nyto.nn.Layer `Softmax(dim)`
---@field LogSoftmax nyto.nn.Layer `LogSoftmax(dim)`
---@field Flatten nyto.nn.Layer `Flatten([start_dim=2, end_dim=-1])`
---@field Dropout nyto.nn.Layer `Dropout([p=0.5, inplace])`
---@field BatchNorm1d nyto.nn.Layer `BatchNorm1d(num_features [, eps, momentum, affine, track_running_stats])`
---@field BatchNorm2d nyto.nn.Layer `BatchNorm2d(num_features [, eps, momentum, affine, track_running_stats])`
---@field LayerNorm nyto.nn.Layer `LayerNorm(normalized_shape [, eps, elementwise_affine])`
---@field Embedding nyto.nn.Layer `Embedding(num_embeddings, embedding_dim [, padding_idx])`; `Embedding.from_pretrained(weights [, freeze])`
---@field LSTM nyto.nn.Layer `LSTM(input_size, hidden_size [, num_layers, bias, batch_first])`
---@field Sequential nyto.nn.Layer `Sequential(m1, m2, ...)`: children "1", "2", ..., `seq[1]`
---@field ModuleList nyto.nn.Layer `ModuleList([modules])`
---@field CrossEntropyLoss nyto.nn.Layer `CrossEntropyLoss([reduction])`
---@field NLLLoss nyto.nn.Layer `NLLLoss([reduction])`
---@field MSELoss nyto.nn.Layer `MSELoss([reduction])`
---@field init table parameter initialisers (torch.nn.init)

-- ---------------------------------------------------------------------------------------
-- nyto.optim (torch.optim)

---@class nyto.Optimizer
local Optimizer = {}
---@param set_to_none? boolean
function Optimizer:zero_grad(set_to_none) end
---@param closure? fun(): Tensor re-evaluates the loss
---@return Tensor? loss
function Optimizer:step(closure) end
---@param group {params: Tensor[], lr?: number, [string]: any}
function Optimizer:add_param_group(group) end
---@return table sd parameters numbered from 1, referring to the optimizer's state tensors
function Optimizer:state_dict() end
---Copies sd in, after checking every group, option and state shape.
---@param sd table
function Optimizer:load_state_dict(sd) end

---@class nyto.optim
---@field Optimizer table the base class of SGD and Adam
local optim = {}
---@param params Tensor[]|table[] parameters, or parameter groups
---@param opts {lr: number, momentum?: number, dampening?: number, weight_decay?: number, nesterov?: boolean}
---@return nyto.Optimizer
function optim.SGD(params, opts) end
---@param params Tensor[]|table[]
---@param opts? {lr?: number, betas?: number[], eps?: number, weight_decay?: number, amsgrad?: boolean}
---@return nyto.Optimizer
function optim.Adam(params, opts) end

-- ---------------------------------------------------------------------------------------
-- nyto.data

---@class nyto.DataLoader
---@operator len: integer
local DataLoader = {}
---@return fun(): Tensor?, Tensor? iterator over (samples, labels) batches
function DataLoader:iter() end
---@return Tensor order the sample order of the current epoch (1-based)
function DataLoader:order() end

---@class nyto.data
---@field DataLoader_mt table the metatable of data loaders (nyto.DataLoader)
---@field FASHION_MNIST_DIR string
---@field FASHION_MNIST_CLASSES string[]
local data = {}
---Reads an IDX file (MNIST's format, gzip or plain).
---@param path string
---@param opts? {dtype?: nyto.dtype}
---@return Tensor? t
---@return string? message when the file cannot be read
function data.read_idx(path, opts) end
---@param split "train"|"test"
---@param dir? string default data.FASHION_MNIST_DIR
---@return Tensor? images
---@return Tensor|string labels, or the message
function data.fashion_mnist(split, dir) end
---@param path string
---@param opts? {sep?: string, header?: boolean, dtype?: nyto.dtype}
---@return Tensor? t
---@return string? message
function data.read_csv(path, opts) end
---@param samples Tensor
---@param labels? Tensor
---@param opts? {batch_size?: integer, shuffle?: boolean, seed?: integer, drop_last?: boolean, normalize?: boolean}
---@return nyto.DataLoader
function data.DataLoader(samples, labels, opts) end

-- ---------------------------------------------------------------------------------------
-- nyto.progress

---@class nyto.Progress
local Progress = {}
---Advances by one, with optional figures to show (loss=, acc=, ...).
---@param stats? table<string, number>
function Progress:step(stats) end
---@param n integer the count reached
---@param stats? table<string, number>
function Progress:update(n, stats) end
---@param stats? table<string, number>
function Progress:finish(stats) end
function Progress:close() end
---The text of the bar as it is now.
---@param final? boolean the last line (totals and rate)
---@return string
function Progress:line(final) end
---Writes the bar to its output.
---@param final? boolean
function Progress:draw(final) end

---A progress bar (a line per tenth when not on a terminal).
---@param total integer
---@param opts? {title?: string, unit?: string, out?: file*, tty?: boolean, width?: integer, clock?: fun(): number}
---@return nyto.Progress
function nyto.progress(total, opts) end

---@class nyto.Generator
local Generator = {}
---A counter-based generator (xoshiro128++ lanes keyed by Philox4x32-10): a draw is a function of (seed, stream, counter) alone.
---@param seed integer
---@param stream? integer
---@return nyto.Generator
function nyto.Generator(seed, stream) end
---@return {generator: string, seed: integer, stream: integer, offset: integer}
function Generator:get_state() end
---@param state {generator: string, seed: integer, stream: integer, offset: integer}
---@return nyto.Generator
function Generator:set_state(state) end
---A new generator of the same seed on stream k, from its start.
---@param k integer
---@return nyto.Generator
function Generator:stream(k) end

---Every member's forward as one batched computation (functorch's vmap); outputs get a dim 1 of size n.
---@param module Module
---@param stacks table<integer|string, Tensor>
---@param x Tensor
---@param opts? {per_member?: boolean, loop?: boolean, fused?: boolean, strict_batching?: boolean}
---@return any
function nyto.batched_forward(module, stacks, x, opts) end

---Saves a value (tensor, table, module, ParticleModule, optimizer) as .safetensors or .pt, atomically.
---@param value any
---@param path string
---@return true|nil ok
---@return string? message
function nyto.save(value, path) end
---Loads what nyto.save (or torch.save, or a safetensors writer) wrote; nil, message for a missing file.
---@param path string
---@return any value
---@return string? message
function nyto.load(path) end
---@return string
function nyto.rng_state() end
---@param state string
function nyto.set_rng_state(state) end

-- ---------------------------------------------------------------------------------------
-- Swarms (docs/api.md "Swarms")

---@class nyto.SwarmClass
---@overload fun(net: Module|ParticleModule, n: integer, init?: "clone"|"randn"|"rand"|fun(i: integer, member: Module|ParticleModule)): Swarm
---@field of fun(particles: (Module|ParticleModule)[]): Swarm copies particles of one species (a ParticleModule first: a ParticleModule swarm)
---@field load fun(path_or_value: string|table, net: Module|ParticleModule): Swarm?, string? a swarm from what nyto.save(swarm) wrote; nil, message for a missing file

---@class Swarm
---@operator add(Swarm|Module|ParticleModule|Tensor|number): Swarm
---@operator sub(Swarm|Module|ParticleModule|Tensor|number): Swarm
---@operator mul(Swarm|Module|ParticleModule|Tensor|number): Swarm
---@operator div(Swarm|Module|ParticleModule|Tensor|number): Swarm
---@operator pow(Swarm|Module|ParticleModule|Tensor|number): Swarm
---@operator unm: Swarm
---@operator len: integer
---@operator call(Tensor): Tensor
---@field [integer] Module|ParticleModule member i (1-based, -1 the last; nil out of range; a ParticleModule in a ParticleModule's swarm)
local Swarm = {}
---@return Swarm
function Swarm:add(x) end
---@return Swarm
function Swarm:sub(x) end
---@return Swarm
function Swarm:mul(x) end
---@return Swarm
function Swarm:div(x) end
---@return Swarm
function Swarm:pow(x) end
---@return Swarm
function Swarm:neg() end
---@return Swarm
function Swarm:add_(x) end
---@return Swarm
function Swarm:sub_(x) end
---@return Swarm
function Swarm:mul_(x) end
---@return Swarm
function Swarm:div_(x) end
---@return Swarm
function Swarm:pow_(x) end
---@return Swarm
function Swarm:clone() end
---@param opts? {generator: Generator?}
---@return Swarm
function Swarm:randn(opts) end
---@param opts? {generator: Generator?}
---@return Swarm
function Swarm:rand(opts) end
---@param opts? {generator: Generator?}
---@return Swarm
function Swarm:randn_(opts) end
---@param opts? {generator: Generator?}
---@return Swarm
function Swarm:rand_(opts) end
---@param sigma number
---@param opts? {generator: Generator?}
---@return Swarm
function Swarm:add_randn_(sigma, opts) end
---s = a s + b x + sigma * (the draws of s:randn from the same generator state), one pass
---@param a number
---@param x Module|Swarm a particle of the species (broadcast) or a swarm of the same size
---@param b number
---@param sigma number
---@param opts? {generator: Generator?}
---@return Swarm
function Swarm:axpby_randn_(a, x, b, sigma, opts) end
---@param w? Tensor|number[] weights, one per member
---@return Module|ParticleModule a ParticleModule for a ParticleModule's swarm
function Swarm:mean(w) end
---@param idx integer[]|Tensor
---@return Swarm
function Swarm:select(idx) end
---@param idx integer[]|Tensor
---@param other Swarm
---@return Swarm
function Swarm:scatter_(idx, other) end
---@param dtype? nyto.dtype
---@return Tensor # the [n, P] arena
function Swarm:flat(dtype) end
---@return table<integer, Tensor> # pid -> [n, <shape>]
function Swarm:param_stacks() end
---@param x Tensor
---@param opts? {per_member: boolean?, loop: boolean?, fused: boolean?, strict_batching: boolean?}
---@return Tensor
function Swarm:forward(x, opts) end
function Swarm:free() end
---@return {members: table<string, Tensor>[]} # one state dict per member (views of the arena)
function Swarm:state_dict() end

---@class nyto.distributed
local dist = {}
---Joins the process group from RANK, WORLD_SIZE, MASTER_ADDR and MASTER_PORT (env://, c10d's TCPStore).
---@param opts? {timeout?: number, check_shapes?: boolean}
function dist.init(opts) end
function dist.destroy() end
---@return boolean
function dist.is_initialized() end
---@return integer rank 0-based, as torch.distributed
function dist.rank() end
---@return integer
function dist.world_size() end
function dist.barrier() end
---In place; one collective per flat buffer for a particle, per arena dtype for a swarm.
---@param x Tensor|Module|Swarm
---@param op? "sum"|"avg"|"min"|"max"|"product"
---@return Tensor|Module|Swarm
function dist.all_reduce(x, op) end
---@param x Tensor|Module|Swarm
---@param src integer
---@return Tensor|Module|Swarm
function dist.broadcast(x, src) end
---@param x Tensor|Module|Swarm
---@param dst integer
function dist.send(x, dst) end
---@param x Tensor|Module|Swarm
---@param src integer
---@return Tensor|Module|Swarm
function dist.recv(x, src) end
---A 1-based table in rank order.
---@param x Tensor|Module|Swarm
---@return (Tensor|Module|Swarm)[]
function dist.all_gather(x) end
---Island model on a ring: the k best (lowest fitness; the first k without it) go to rank + 1 and replace its k worst.
---@param s Swarm
---@param k integer
---@param fitness? number[]|Tensor
---@return Swarm
function dist.migrate(s, k, fitness) end
---Averages the particle's gradients over the ranks, one collective (as DDP).
---@param net Module
function dist.all_reduce_grads(net) end

---Median wall time of fn() in seconds (printed unless quiet), and the sorted times.
---@param fn fun()
---@param opts? {runs?: integer, min_time?: number, warmup?: integer, quiet?: boolean}
---@return number median
---@return number[] times
function nyto.timeit(fn, opts) end

-- ---------------------------------------------------------------------------------------
-- Strategies (docs/api.md "Strategies"; lua/nyto/strategy/)

---@alias nyto.StrategyCenter Module|Tensor a particle (one floating dtype) or a 1-D float32/float64 tensor

---Options every strategy takes; each strategy adds its own (docs/api.md "Strategies").
---@class nyto.StrategyOptions
---@field popsize? integer >= 2 (each strategy documents its default)
---@field sigma? number > 0: the initial spread (PSO, APSO, GA, DE: of the first population)
---@field maximize? boolean default false: minimise; true runs the course of minimising -f
---@field generator? Generator every draw of the strategy (default: seeded from nyto.manual_seed's generator)
---@field distributed? boolean OpenES, SNES, PGPE: split the population over nyto.distributed's ranks (seeds-only)

---@class nyto.strategy
local strategy = {}

---Particle swarm optimisation (Kennedy & Eberhart 1995; inertia weight, Shi & Eberhart 1998).
---@param center nyto.StrategyCenter
---@param opts? nyto.StrategyOptions|{inertia?: number, c1?: number, c2?: number}
---@return Strategy
function strategy.PSO(center, opts) end
---Accelerated PSO (Yang 2008): W_i = (1 - alpha) W_i + alpha W_best + noise.
---@param center nyto.StrategyCenter
---@param opts? nyto.StrategyOptions|{alpha?: number, noise?: number, decay?: number}
---@return Strategy
function strategy.APSO(center, opts) end
---Genetic algorithm: tournament selection, intermediate crossover, Gaussian mutation, elitism.
---@param center nyto.StrategyCenter
---@param opts? nyto.StrategyOptions|{tournament?: integer, crossover?: number, mutation?: number, elite?: integer}
---@return Strategy
function strategy.GA(center, opts) end
---Differential evolution DE/rand/1/bin (Storn & Price 1997).
---@param center nyto.StrategyCenter
---@param opts? nyto.StrategyOptions|{F?: number, CR?: number}
---@return Strategy
function strategy.DE(center, opts) end
---The cross-entropy method with a diagonal Gaussian (Rubinstein 1999; de Boer et al. 2005).
---@param center nyto.StrategyCenter
---@param opts? nyto.StrategyOptions|{elite_ratio?: number, lr?: number}
---@return Strategy
function strategy.CEM(center, opts) end

---Salimans et al. 2017's evolution strategy: antithetic pairs, centred ranks, Adam on the center.
---@param center nyto.StrategyCenter
---@param opts? nyto.StrategyOptions|{lr?: number, weight_decay?: number, beta1?: number, beta2?: number, epsilon?: number}
---@return Strategy
function strategy.OpenES(center, opts) end

---Separable natural evolution strategies (Wierstra et al. 2014, Algorithm 6).
---@param center nyto.StrategyCenter
---@param opts? nyto.StrategyOptions|{lr?: number, sigma_lr?: number}
---@return Strategy
function strategy.SNES(center, opts) end

---PGPE with symmetric sampling and the ClipUp optimizer (Sehnke et al. 2010; Toklu et al. 2020).
---@param center nyto.StrategyCenter
---@param opts? nyto.StrategyOptions|{max_speed?: number, lr?: number, momentum?: number, sigma_lr?: number, sigma_max_change?: number}
---@return Strategy
function strategy.PGPE(center, opts) end

---CMA-ES (Hansen's tutorial, 2016); `diagonal = true` gives sep-CMA-ES (Ros & Hansen 2008).
---@param center nyto.StrategyCenter
---@param opts? nyto.StrategyOptions|{elite_ratio?: number, diagonal?: boolean}
---@return Strategy
function strategy.CMAES(center, opts) end

---Runs ask/tell until `generations` or the best reaches `target`; returns the best and its fitness.
---@param es Strategy
---@param fn fun(member: Module|Tensor): number|fun(pop: Swarm|Tensor): (number[]|Tensor)
---@param opts? {generations?: integer, target?: number, progress?: boolean|table, batched?: boolean, plot?: string}
---@return Module|Tensor best
---@return number fitness
function strategy.run(es, fn, opts) end

---A strategy (`nyto.type(es) == "Strategy"`).
---@class Strategy
---@field generation integer the number of tells so far (0 at the start)
---@field name string "PSO", "CEM", ...
---@field n integer the popsize
---@field D integer the number of scalars of the center
local Strategy = {}
---The population to score: a Swarm (particle center) or an [n, D] tensor; the strategy's own (a later generation may reuse it: clone to keep it).
---@return Swarm|Tensor
function Strategy:ask() end
---Scores the population of the last ask; checks everything before it changes anything.
---@param fitness number[]|Tensor popsize numbers (no NaN; +/-inf allowed)
---@return Strategy
function Strategy:tell(fitness) end
---The best solution seen (a copy) and its fitness, in the user's sign; nil before the first tell.
---@return Module|Tensor|nil
---@return number|nil
function Strategy:best() end
---The current mean (a copy): a particle or a [D] tensor.
---@return Module|Tensor
function Strategy:center() end
---A plain table of tensors, numbers, strings and booleans (nyto.save writes it), with the generator's state.
---@return table
function Strategy:state_dict() end
---Copies a state_dict, checked (strategy, kind, sizes, dtypes) before anything changes.
---@param sd table
---@return Strategy
function Strategy:load_state_dict(sd) end
---@class nyto.PlotSeries
---@field y number[]|Tensor values (a list or a 1-D real tensor)
---@field x? number[]|Tensor x values (default 1..#y)
---@field name? string legend entry

---@class nyto.PlotOptions
---@field path string the PNG file to write
---@field series nyto.PlotSeries[] 1 to 64 series
---@field title? string
---@field xlabel? string
---@field ylabel? string
---@field logy? boolean y on a log scale (every y > 0)
---@field width? integer pixels, default 800
---@field height? integer pixels, default 500

---A line chart to PNG through gnuplot: true, or nil and a `nyto: plot: ` message when gnuplot
---is missing or fails or the file cannot be written. Bad arguments raise.
---@param opts nyto.PlotOptions
---@return true|nil ok
---@return string? message
function nyto.plot(opts) end

-- BEGIN ops (generated by scripts/gen-ops-doc --meta from src/torch/ops.def)

---@param input Tensor
---@return Tensor
function nyto.neg(input) end

---@return Tensor
function Tensor:neg() end

---@param input Tensor
---@return Tensor
function nyto.neg_(input) end

---@return Tensor
function Tensor:neg_() end

---@param input Tensor
---@return Tensor
function nyto.abs(input) end

---@return Tensor
function Tensor:abs() end

---@param input Tensor
---@return Tensor
function nyto.abs_(input) end

---@return Tensor
function Tensor:abs_() end

---@param input Tensor
---@return Tensor
function nyto.exp(input) end

---@return Tensor
function Tensor:exp() end

---@param input Tensor
---@return Tensor
function nyto.exp_(input) end

---@return Tensor
function Tensor:exp_() end

---@param input Tensor
---@return Tensor
function nyto.log(input) end

---@return Tensor
function Tensor:log() end

---@param input Tensor
---@return Tensor
function nyto.log_(input) end

---@return Tensor
function Tensor:log_() end

---@param input Tensor
---@return Tensor
function nyto.sqrt(input) end

---@return Tensor
function Tensor:sqrt() end

---@param input Tensor
---@return Tensor
function nyto.sqrt_(input) end

---@return Tensor
function Tensor:sqrt_() end

---@param input Tensor
---@return Tensor
function nyto.rsqrt(input) end

---@return Tensor
function Tensor:rsqrt() end

---@param input Tensor
---@return Tensor
function nyto.rsqrt_(input) end

---@return Tensor
function Tensor:rsqrt_() end

---@param input Tensor
---@return Tensor
function nyto.sin(input) end

---@return Tensor
function Tensor:sin() end

---@param input Tensor
---@return Tensor
function nyto.sin_(input) end

---@return Tensor
function Tensor:sin_() end

---@param input Tensor
---@return Tensor
function nyto.cos(input) end

---@return Tensor
function Tensor:cos() end

---@param input Tensor
---@return Tensor
function nyto.cos_(input) end

---@return Tensor
function Tensor:cos_() end

---@param input Tensor
---@return Tensor
function nyto.tan(input) end

---@return Tensor
function Tensor:tan() end

---@param input Tensor
---@return Tensor
function nyto.tan_(input) end

---@return Tensor
function Tensor:tan_() end

---@param input Tensor
---@return Tensor
function nyto.tanh(input) end

---@return Tensor
function Tensor:tanh() end

---@param input Tensor
---@return Tensor
function nyto.tanh_(input) end

---@return Tensor
function Tensor:tanh_() end

---@param input Tensor
---@return Tensor
function nyto.sigmoid(input) end

---@return Tensor
function Tensor:sigmoid() end

---@param input Tensor
---@return Tensor
function nyto.sigmoid_(input) end

---@return Tensor
function Tensor:sigmoid_() end

---@param input Tensor
---@return Tensor
function nyto.relu(input) end

---@return Tensor
function Tensor:relu() end

---@param input Tensor
---@return Tensor
function nyto.relu_(input) end

---@return Tensor
function Tensor:relu_() end

---@param input Tensor
---@return Tensor
function nyto.sign(input) end

---@return Tensor
function Tensor:sign() end

---@param input Tensor
---@return Tensor
function nyto.sign_(input) end

---@return Tensor
function Tensor:sign_() end

---@param input Tensor
---@return Tensor
function nyto.floor(input) end

---@return Tensor
function Tensor:floor() end

---@param input Tensor
---@return Tensor
function nyto.floor_(input) end

---@return Tensor
function Tensor:floor_() end

---@param input Tensor
---@return Tensor
function nyto.ceil(input) end

---@return Tensor
function Tensor:ceil() end

---@param input Tensor
---@return Tensor
function nyto.ceil_(input) end

---@return Tensor
function Tensor:ceil_() end

---@param input Tensor
---@return Tensor
function nyto.round(input) end

---@return Tensor
function Tensor:round() end

---@param input Tensor
---@return Tensor
function nyto.round_(input) end

---@return Tensor
function Tensor:round_() end

---@param input Tensor
---@return Tensor
function nyto.trunc(input) end

---@return Tensor
function Tensor:trunc() end

---@param input Tensor
---@return Tensor
function nyto.trunc_(input) end

---@return Tensor
function Tensor:trunc_() end

---@param input Tensor
---@return Tensor
function nyto.reciprocal(input) end

---@return Tensor
function Tensor:reciprocal() end

---@param input Tensor
---@return Tensor
function nyto.reciprocal_(input) end

---@return Tensor
function Tensor:reciprocal_() end

---@param input Tensor
---@return Tensor
function nyto.log1p(input) end

---@return Tensor
function Tensor:log1p() end

---@param input Tensor
---@return Tensor
function nyto.log1p_(input) end

---@return Tensor
function Tensor:log1p_() end

---@param input Tensor
---@return Tensor
function nyto.expm1(input) end

---@return Tensor
function Tensor:expm1() end

---@param input Tensor
---@return Tensor
function nyto.expm1_(input) end

---@return Tensor
function Tensor:expm1_() end

---@param input Tensor
---@return Tensor
function nyto.asin(input) end

---@return Tensor
function Tensor:asin() end

---@param input Tensor
---@return Tensor
function nyto.asin_(input) end

---@return Tensor
function Tensor:asin_() end

---@param input Tensor
---@return Tensor
function nyto.acos(input) end

---@return Tensor
function Tensor:acos() end

---@param input Tensor
---@return Tensor
function nyto.acos_(input) end

---@return Tensor
function Tensor:acos_() end

---@param input Tensor
---@return Tensor
function nyto.atan(input) end

---@return Tensor
function Tensor:atan() end

---@param input Tensor
---@return Tensor
function nyto.atan_(input) end

---@return Tensor
function Tensor:atan_() end

---@param input Tensor
---@return Tensor
function nyto.sinh(input) end

---@return Tensor
function Tensor:sinh() end

---@param input Tensor
---@return Tensor
function nyto.sinh_(input) end

---@return Tensor
function Tensor:sinh_() end

---@param input Tensor
---@return Tensor
function nyto.cosh(input) end

---@return Tensor
function Tensor:cosh() end

---@param input Tensor
---@return Tensor
function nyto.cosh_(input) end

---@return Tensor
function Tensor:cosh_() end

---@param input Tensor
---@return Tensor
function nyto.log2(input) end

---@return Tensor
function Tensor:log2() end

---@param input Tensor
---@return Tensor
function nyto.log2_(input) end

---@return Tensor
function Tensor:log2_() end

---@param input Tensor
---@return Tensor
function nyto.log10(input) end

---@return Tensor
function Tensor:log10() end

---@param input Tensor
---@return Tensor
function nyto.log10_(input) end

---@return Tensor
function Tensor:log10_() end

---@param input Tensor
---@return Tensor
function nyto.square(input) end

---@return Tensor
function Tensor:square() end

---@param input Tensor
---@return Tensor
function nyto.square_(input) end

---@return Tensor
function Tensor:square_() end

---@param input Tensor
---@param other Tensor|number
---@param value? number
---@return Tensor
function nyto.add(input, other, value) end

---@param other Tensor|number
---@param value? number
---@return Tensor
function Tensor:add(other, value) end

---@param input Tensor
---@param other Tensor|number
---@param value? number
---@return Tensor
function nyto.sub(input, other, value) end

---@param other Tensor|number
---@param value? number
---@return Tensor
function Tensor:sub(other, value) end

---@param input Tensor
---@param other Tensor|number
---@return Tensor
function nyto.mul(input, other) end

---@param other Tensor|number
---@return Tensor
function Tensor:mul(other) end

---@param input Tensor
---@param other Tensor|number
---@return Tensor
function nyto.div(input, other) end

---@param other Tensor|number
---@return Tensor
function Tensor:div(other) end

---@param input Tensor
---@param other Tensor|number
---@return Tensor
function nyto.pow(input, other) end

---@param other Tensor|number
---@return Tensor
function Tensor:pow(other) end

---@param input Tensor
---@param other Tensor|number
---@return Tensor
function nyto.fmod(input, other) end

---@param other Tensor|number
---@return Tensor
function Tensor:fmod(other) end

---@param input Tensor
---@param other Tensor|number
---@return Tensor
function nyto.remainder(input, other) end

---@param other Tensor|number
---@return Tensor
function Tensor:remainder(other) end

---@param input Tensor
---@param other Tensor
---@return Tensor
function nyto.atan2(input, other) end

---@param other Tensor
---@return Tensor
function Tensor:atan2(other) end

---@param input Tensor
---@param other Tensor
---@return Tensor
function nyto.maximum(input, other) end

---@param other Tensor
---@return Tensor
function Tensor:maximum(other) end

---@param input Tensor
---@param other Tensor
---@return Tensor
function nyto.minimum(input, other) end

---@param other Tensor
---@return Tensor
function Tensor:minimum(other) end

---@param input Tensor
---@param other Tensor|number
---@param value? number
---@return Tensor
function nyto.add_(input, other, value) end

---@param other Tensor|number
---@param value? number
---@return Tensor
function Tensor:add_(other, value) end

---@param input Tensor
---@param other Tensor|number
---@param value? number
---@return Tensor
function nyto.sub_(input, other, value) end

---@param other Tensor|number
---@param value? number
---@return Tensor
function Tensor:sub_(other, value) end

---@param input Tensor
---@param other Tensor|number
---@return Tensor
function nyto.mul_(input, other) end

---@param other Tensor|number
---@return Tensor
function Tensor:mul_(other) end

---@param input Tensor
---@param other Tensor|number
---@return Tensor
function nyto.div_(input, other) end

---@param other Tensor|number
---@return Tensor
function Tensor:div_(other) end

---@param input Tensor
---@param other Tensor|number
---@return Tensor
function nyto.pow_(input, other) end

---@param other Tensor|number
---@return Tensor
function Tensor:pow_(other) end

---@param input Tensor
---@param value number
---@return Tensor
function nyto.rsub(input, value) end

---@param value number
---@return Tensor
function Tensor:rsub(value) end

---@param input Tensor
---@param value number
---@return Tensor
function nyto.rdiv(input, value) end

---@param value number
---@return Tensor
function Tensor:rdiv(value) end

---@param input Tensor
---@param value number
---@return Tensor
function nyto.rpow(input, value) end

---@param value number
---@return Tensor
function Tensor:rpow(value) end

---@param input Tensor
---@param value? number
---@param value3? number
---@return Tensor
function nyto.clamp(input, value, value3) end

---@param value? number
---@param value3? number
---@return Tensor
function Tensor:clamp(value, value3) end

---@param input Tensor
---@param value? number
---@param value3? number
---@return Tensor
function nyto.clamp_(input, value, value3) end

---@param value? number
---@param value3? number
---@return Tensor
function Tensor:clamp_(value, value3) end

---@param input Tensor
---@param other Tensor
---@param value number
---@return Tensor
function nyto.lerp(input, other, value) end

---@param other Tensor
---@param value number
---@return Tensor
function Tensor:lerp(other, value) end

---@param input Tensor
---@param other Tensor|number
---@param other3 Tensor|number
---@return Tensor
function nyto.where(input, other, other3) end

---@param other Tensor|number
---@param other3 Tensor|number
---@return Tensor
function Tensor:where(other, other3) end

---@param input Tensor
---@param other Tensor|number
---@return Tensor
function nyto.eq(input, other) end

---@param other Tensor|number
---@return Tensor
function Tensor:eq(other) end

---@param input Tensor
---@param other Tensor|number
---@return Tensor
function nyto.ne(input, other) end

---@param other Tensor|number
---@return Tensor
function Tensor:ne(other) end

---@param input Tensor
---@param other Tensor|number
---@return Tensor
function nyto.lt(input, other) end

---@param other Tensor|number
---@return Tensor
function Tensor:lt(other) end

---@param input Tensor
---@param other Tensor|number
---@return Tensor
function nyto.le(input, other) end

---@param other Tensor|number
---@return Tensor
function Tensor:le(other) end

---@param input Tensor
---@param other Tensor|number
---@return Tensor
function nyto.gt(input, other) end

---@param other Tensor|number
---@return Tensor
function Tensor:gt(other) end

---@param input Tensor
---@param other Tensor|number
---@return Tensor
function nyto.ge(input, other) end

---@param other Tensor|number
---@return Tensor
function Tensor:ge(other) end

---@param input Tensor
---@return Tensor
function nyto.logical_not(input) end

---@return Tensor
function Tensor:logical_not() end

---@param input Tensor
---@param other Tensor
---@return Tensor
function nyto.logical_and(input, other) end

---@param other Tensor
---@return Tensor
function Tensor:logical_and(other) end

---@param input Tensor
---@param other Tensor
---@return Tensor
function nyto.logical_or(input, other) end

---@param other Tensor
---@return Tensor
function Tensor:logical_or(other) end

---@param input Tensor
---@return Tensor
function nyto.isnan(input) end

---@return Tensor
function Tensor:isnan() end

---@param input Tensor
---@param dim? integer
---@param flag? boolean
---@return Tensor
function nyto.sum(input, dim, flag) end

---@param dim? integer
---@param flag? boolean
---@return Tensor
function Tensor:sum(dim, flag) end

---@param input Tensor
---@param dim? integer
---@param flag? boolean
---@return Tensor
function nyto.mean(input, dim, flag) end

---@param dim? integer
---@param flag? boolean
---@return Tensor
function Tensor:mean(dim, flag) end

---@param input Tensor
---@param dim? integer
---@param flag? boolean
---@return Tensor
function nyto.prod(input, dim, flag) end

---@param dim? integer
---@param flag? boolean
---@return Tensor
function Tensor:prod(dim, flag) end

---@param input Tensor
---@param dim? integer
---@param flag? boolean
---@return Tensor
function nyto.std(input, dim, flag) end

---@param dim? integer
---@param flag? boolean
---@return Tensor
function Tensor:std(dim, flag) end

---@param input Tensor
---@param dim? integer
---@param flag? boolean
---@return Tensor
function nyto.var(input, dim, flag) end

---@param dim? integer
---@param flag? boolean
---@return Tensor
function Tensor:var(dim, flag) end

---@param input Tensor
---@param dim? integer
---@param flag? boolean
---@return Tensor values
---@return Tensor? indices 1-based (when dim is given)
function nyto.max(input, dim, flag) end

---@param dim? integer
---@param flag? boolean
---@return Tensor values
---@return Tensor? indices 1-based (when dim is given)
function Tensor:max(dim, flag) end

---@param input Tensor
---@param dim? integer
---@param flag? boolean
---@return Tensor values
---@return Tensor? indices 1-based (when dim is given)
function nyto.min(input, dim, flag) end

---@param dim? integer
---@param flag? boolean
---@return Tensor values
---@return Tensor? indices 1-based (when dim is given)
function Tensor:min(dim, flag) end

---@param input Tensor
---@param dim? integer
---@param flag? boolean
---@return Tensor
function nyto.argmax(input, dim, flag) end

---@param dim? integer
---@param flag? boolean
---@return Tensor
function Tensor:argmax(dim, flag) end

---@param input Tensor
---@param dim? integer
---@param flag? boolean
---@return Tensor
function nyto.argmin(input, dim, flag) end

---@param dim? integer
---@param flag? boolean
---@return Tensor
function Tensor:argmin(dim, flag) end

---@param input Tensor
---@param value? number
---@param dim? integer
---@return Tensor
function nyto.norm(input, value, dim) end

---@param value? number
---@param dim? integer
---@return Tensor
function Tensor:norm(value, dim) end

---@param input Tensor
---@param dim integer
---@return Tensor
function nyto.cumsum(input, dim) end

---@param dim integer
---@return Tensor
function Tensor:cumsum(dim) end

---@param input Tensor
---@return Tensor
function nyto.all(input) end

---@return Tensor
function Tensor:all() end

---@param input Tensor
---@return Tensor
function nyto.any(input) end

---@return Tensor
function Tensor:any() end

---@param input Tensor
---@param dim? integer
---@param flag? boolean
---@return Tensor values
---@return Tensor? indices 1-based
function nyto.sort(input, dim, flag) end

---@param dim? integer
---@param flag? boolean
---@return Tensor values
---@return Tensor? indices 1-based
function Tensor:sort(dim, flag) end

---@param input Tensor
---@param n integer
---@param dim? integer
---@param flag? boolean
---@return Tensor values
---@return Tensor? indices 1-based
function nyto.topk(input, n, dim, flag) end

---@param n integer
---@param dim? integer
---@param flag? boolean
---@return Tensor values
---@return Tensor? indices 1-based
function Tensor:topk(n, dim, flag) end

---@param input Tensor
---@param other Tensor
---@return Tensor
function nyto.matmul(input, other) end

---@param other Tensor
---@return Tensor
function Tensor:matmul(other) end

---@param input Tensor
---@param other Tensor
---@return Tensor
function nyto.mm(input, other) end

---@param other Tensor
---@return Tensor
function Tensor:mm(other) end

---@param input Tensor
---@param other Tensor
---@return Tensor
function nyto.bmm(input, other) end

---@param other Tensor
---@return Tensor
function Tensor:bmm(other) end

---@param input Tensor
---@param other Tensor
---@return Tensor
function nyto.mv(input, other) end

---@param other Tensor
---@return Tensor
function Tensor:mv(other) end

---@param input Tensor
---@param other Tensor
---@return Tensor
function nyto.dot(input, other) end

---@param other Tensor
---@return Tensor
function Tensor:dot(other) end

---@param input Tensor
---@param other Tensor
---@return Tensor
function nyto.outer(input, other) end

---@param other Tensor
---@return Tensor
function Tensor:outer(other) end

---@param input Tensor
---@return Tensor eigenvalues ascending
---@return Tensor eigenvectors the columns
function nyto.eigh(input) end

---@return Tensor eigenvalues ascending
---@return Tensor eigenvectors the columns
function Tensor:eigh() end

---@param input Tensor
---@param ... integer|integer[] sizes
---@return Tensor
function nyto.view(input, ...) end

---@param ... integer|integer[] sizes
---@return Tensor
function Tensor:view(...) end

---@param input Tensor
---@param ... integer|integer[] sizes
---@return Tensor
function nyto.reshape(input, ...) end

---@param ... integer|integer[] sizes
---@return Tensor
function Tensor:reshape(...) end

---@param input Tensor
---@param ... integer|integer[] sizes
---@return Tensor
function nyto.expand(input, ...) end

---@param ... integer|integer[] sizes
---@return Tensor
function Tensor:expand(...) end

---@param input Tensor
---@param dim? integer
---@param dim3? integer
---@return Tensor
function nyto.flatten(input, dim, dim3) end

---@param dim? integer
---@param dim3? integer
---@return Tensor
function Tensor:flatten(dim, dim3) end

---@param input Tensor
---@param dim integer
---@param dim3 integer
---@return Tensor
function nyto.transpose(input, dim, dim3) end

---@param dim integer
---@param dim3 integer
---@return Tensor
function Tensor:transpose(dim, dim3) end

---@param input Tensor
---@return Tensor
function nyto.t(input) end

---@return Tensor
function Tensor:t() end

---@param input Tensor
---@param dims integer[]
---@return Tensor
function nyto.permute(input, dims) end

---@param dims integer[]
---@return Tensor
function Tensor:permute(dims) end

---@param input Tensor
---@param dim? integer
---@return Tensor
function nyto.squeeze(input, dim) end

---@param dim? integer
---@return Tensor
function Tensor:squeeze(dim) end

---@param input Tensor
---@param dim integer
---@return Tensor
function nyto.unsqueeze(input, dim) end

---@param dim integer
---@return Tensor
function Tensor:unsqueeze(dim) end

---@param input Tensor
---@param dim integer
---@param index integer
---@param length integer
---@return Tensor
function nyto.narrow(input, dim, index, length) end

---@param dim integer
---@param index integer
---@param length integer
---@return Tensor
function Tensor:narrow(dim, index, length) end

---@param input Tensor
---@param dim integer
---@param index integer
---@return Tensor
function nyto.select(input, dim, index) end

---@param dim integer
---@param index integer
---@return Tensor
function Tensor:select(dim, index) end

---@param input Tensor
---@param dim integer
---@param other Tensor
---@return Tensor
function nyto.index_select(input, dim, other) end

---@param dim integer
---@param other Tensor
---@return Tensor
function Tensor:index_select(dim, other) end

---@param input Tensor
---@param dim integer
---@param other Tensor
---@return Tensor
function nyto.gather(input, dim, other) end

---@param dim integer
---@param other Tensor
---@return Tensor
function Tensor:gather(dim, other) end

---@param input Tensor
---@param other Tensor
---@return Tensor
function nyto.masked_select(input, other) end

---@param other Tensor
---@return Tensor
function Tensor:masked_select(other) end

---@param input Tensor
---@return Tensor
function nyto.contiguous(input) end

---@return Tensor
function Tensor:contiguous() end

---@param input Tensor
---@return Tensor
function nyto.clone(input) end

---@return Tensor
function Tensor:clone() end

---@param input Tensor
---@param other Tensor
---@return Tensor
function nyto.copy_(input, other) end

---@param other Tensor
---@return Tensor
function Tensor:copy_(other) end

---@param input Tensor
---@param value number
---@return Tensor
function nyto.fill_(input, value) end

---@param value number
---@return Tensor
function Tensor:fill_(value) end

---@param input Tensor
---@return Tensor
function nyto.zero_(input) end

---@return Tensor
function Tensor:zero_() end

---@param input Tensor
---@param value? number
---@param value3? number
---@return Tensor
function nyto.normal_(input, value, value3) end

---@param value? number
---@param value3? number
---@return Tensor
function Tensor:normal_(value, value3) end

---@param input Tensor
---@param value? number
---@param value3? number
---@return Tensor
function nyto.uniform_(input, value, value3) end

---@param value? number
---@param value3? number
---@return Tensor
function Tensor:uniform_(value, value3) end

---@param input Tensor
---@return Tensor
function nyto.float(input) end

---@return Tensor
function Tensor:float() end

---@param input Tensor
---@return Tensor
function nyto.double(input) end

---@return Tensor
function Tensor:double() end

---@param input Tensor
---@return Tensor
function nyto.long(input) end

---@return Tensor
function Tensor:long() end

---@param input Tensor
---@return Tensor
function nyto.bool(input) end

---@return Tensor
function Tensor:bool() end

---@param input Tensor
---@return Tensor
function nyto.detach(input) end

---@return Tensor
function Tensor:detach() end

---@param input Tensor
---@param n integer
---@param flag? boolean
---@return Tensor
function nyto.multinomial(input, n, flag) end

---@param n integer
---@param flag? boolean
---@return Tensor
function Tensor:multinomial(n, flag) end

---@param input Tensor
---@return Tensor
function nyto.randperm_like(input) end

---@return Tensor
function Tensor:randperm_like() end

---@param input Tensor
---@param other Tensor
---@param tensor? Tensor
---@return Tensor
function nyto.linear(input, other, tensor) end

---@param other Tensor
---@param tensor? Tensor
---@return Tensor
function Tensor:linear(other, tensor) end

---@param input Tensor
---@param other Tensor
---@param tensor? Tensor
---@param size integer|integer[]
---@param size5 integer|integer[]
---@param size6 integer|integer[]
---@param n? integer
---@return Tensor
function nyto.conv2d(input, other, tensor, size, size5, size6, n) end

---@param other Tensor
---@param tensor? Tensor
---@param size integer|integer[]
---@param size5 integer|integer[]
---@param size6 integer|integer[]
---@param n? integer
---@return Tensor
function Tensor:conv2d(other, tensor, size, size5, size6, n) end

---@param input Tensor
---@param size integer|integer[]
---@param size3 integer|integer[]
---@param size4 integer|integer[]
---@return Tensor
function nyto.max_pool2d(input, size, size3, size4) end

---@param size integer|integer[]
---@param size3 integer|integer[]
---@param size4 integer|integer[]
---@return Tensor
function Tensor:max_pool2d(size, size3, size4) end

---@param input Tensor
---@param size integer|integer[]
---@param size3 integer|integer[]
---@param size4 integer|integer[]
---@return Tensor
function nyto.avg_pool2d(input, size, size3, size4) end

---@param size integer|integer[]
---@param size3 integer|integer[]
---@param size4 integer|integer[]
---@return Tensor
function Tensor:avg_pool2d(size, size3, size4) end

---@param input Tensor
---@param dim integer
---@return Tensor
function nyto.softmax(input, dim) end

---@param dim integer
---@return Tensor
function Tensor:softmax(dim) end

---@param input Tensor
---@param dim integer
---@return Tensor
function nyto.log_softmax(input, dim) end

---@param dim integer
---@return Tensor
function Tensor:log_softmax(dim) end

---@param input Tensor
---@param value? number
---@param flag? boolean
---@return Tensor
function nyto.dropout(input, value, flag) end

---@param value? number
---@param flag? boolean
---@return Tensor
function Tensor:dropout(value, flag) end

---@param input Tensor
---@param other Tensor
---@param reduction? "mean"|"sum"|"none"
---@return Tensor
function nyto.cross_entropy(input, other, reduction) end

---@param other Tensor
---@param reduction? "mean"|"sum"|"none"
---@return Tensor
function Tensor:cross_entropy(other, reduction) end

---@param input Tensor
---@param other Tensor
---@param reduction? "mean"|"sum"|"none"
---@return Tensor
function nyto.nll_loss(input, other, reduction) end

---@param other Tensor
---@param reduction? "mean"|"sum"|"none"
---@return Tensor
function Tensor:nll_loss(other, reduction) end

---@param input Tensor
---@param other Tensor
---@param reduction? "mean"|"sum"|"none"
---@return Tensor
function nyto.mse_loss(input, other, reduction) end

---@param other Tensor
---@param reduction? "mean"|"sum"|"none"
---@return Tensor
function Tensor:mse_loss(other, reduction) end

---@param input Tensor
---@param other Tensor
---@param reduction? "mean"|"sum"|"none"
---@return Tensor
function nyto.l1_loss(input, other, reduction) end

---@param other Tensor
---@param reduction? "mean"|"sum"|"none"
---@return Tensor
function Tensor:l1_loss(other, reduction) end

---@param input Tensor
---@param other Tensor
---@param reduction? "mean"|"sum"|"none"
---@return Tensor
function nyto.binary_cross_entropy(input, other, reduction) end

---@param other Tensor
---@param reduction? "mean"|"sum"|"none"
---@return Tensor
function Tensor:binary_cross_entropy(other, reduction) end

---@param input Tensor
---@param tensor? Tensor
---@param tensor3? Tensor
---@param tensor4? Tensor
---@param tensor5? Tensor
---@param flag? boolean
---@param value? number
---@param value8? number
---@return Tensor
function nyto.batch_norm(input, tensor, tensor3, tensor4, tensor5, flag, value, value8) end

---@param tensor? Tensor
---@param tensor3? Tensor
---@param tensor4? Tensor
---@param tensor5? Tensor
---@param flag? boolean
---@param value? number
---@param value8? number
---@return Tensor
function Tensor:batch_norm(tensor, tensor3, tensor4, tensor5, flag, value, value8) end

---@param input Tensor
---@param size integer|integer[]
---@param tensor? Tensor
---@param tensor4? Tensor
---@param value? number
---@return Tensor
function nyto.layer_norm(input, size, tensor, tensor4, value) end

---@param size integer|integer[]
---@param tensor? Tensor
---@param tensor4? Tensor
---@param value? number
---@return Tensor
function Tensor:layer_norm(size, tensor, tensor4, value) end

---@param input Tensor
---@param other Tensor
---@return Tensor
function nyto.embedding(input, other) end

---@param other Tensor
---@return Tensor
function Tensor:embedding(other) end

---@param input Tensor
---@param n? integer
---@return Tensor
function nyto.one_hot(input, n) end

---@param n? integer
---@return Tensor
function Tensor:one_hot(n) end

---@param input Tensor
---@param other Tensor
---@param other3 Tensor
---@param value? number
---@param value5? number
---@return Tensor
function nyto.addmm(input, other, other3, value, value5) end

---@param other Tensor
---@param other3 Tensor
---@param value? number
---@param value5? number
---@return Tensor
function Tensor:addmm(other, other3, value, value5) end

---@param input Tensor
---@param other Tensor
---@param other3 Tensor
---@param value? number
---@param value5? number
---@return Tensor
function nyto.baddbmm(input, other, other3, value, value5) end

---@param other Tensor
---@param other3 Tensor
---@param value? number
---@param value5? number
---@return Tensor
function Tensor:baddbmm(other, other3, value, value5) end

---@param input Tensor
---@param other Tensor
---@param other3 Tensor
---@param value? number
---@param value5? number
---@return Tensor
function nyto.addbmm(input, other, other3, value, value5) end

---@param other Tensor
---@param other3 Tensor
---@param value? number
---@param value5? number
---@return Tensor
function Tensor:addbmm(other, other3, value, value5) end

---@param input Tensor
---@param dim integer
---@param dim3 integer
---@return Tensor
function nyto.movedim(input, dim, dim3) end

---@param dim integer
---@param dim3 integer
---@return Tensor
function Tensor:movedim(dim, dim3) end
-- END ops

return nyto
