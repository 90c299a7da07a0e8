-- Shared helpers of the busted specs (on the specs' lpath: require "helpers").
local nyto = require "nyto"
local assert = require "luassert"
local H = {}

-- a free TCP port on 127.0.0.1 (for a rendezvous)
function H.free_port()
  local p = assert(io.popen([[python3 -c "import socket; s = socket.socket(); s.bind(('127.0.0.1', 0)); print(s.getsockname()[1])"]]))
  local port = assert(tonumber(p:read("l")))
  p:close()
  return port
end

-- an int64 tensor (class labels, indices)
function H.I(t) return nyto.tensor(t, {dtype = "int64"}) end

-- the error message of f(...), which must raise
function H.err_of(f, ...)
  local ok, e = pcall(f, ...)
  if ok then error("expected an error", 2) end
  return tostring(e)
end

-- a equals b (a Tensor, a nested table or a number) within tol, shapes equal
-- unless check_shape is false
function H.assert_close(a, b, tol, check_shape)
  tol = tol or 1e-5
  if type(b) ~= "userdata" then b = nyto.tensor(b, {dtype = "float64"}) end
  if check_shape ~= false then assert.are.same(b:size(), a:size()) end
  if not a:double():allclose(b:double(), tol, tol) then
    error(("tensors differ:\n%s\nexpected\n%s"):format(tostring(a), tostring(b)), 2)
  end
end

-- plain copies of a particle's parameter values, in parameters() order
function H.values(net)
  local out = {}
  for _, p in ipairs(net:parameters()) do out[#out + 1] = p:detach():clone() end
  return out
end

-- {f(list[1], 1), f(list[2], 2), ...}
function H.map(list, f)
  local out = {}
  for i, v in ipairs(list) do out[i] = f(v, i) end
  return out
end

-- Lists of tensors (parameter values): the same length and dtypes, and values
-- equal bit for bit (exact) or within 1e-5; names[i] labels element i.
function H.assert_values(got, expected, names, what, exact)
  assert.are.equal(#expected, #got, what)
  for i = 1, #expected do
    local label = ("%s %s"):format(what or "", names[i] or i)
    assert.are.equal(expected[i]:dtype(), got[i]:dtype(), label .. ": dtype")
    local ok = exact and nyto.equal(got[i], expected[i]) or (not exact and got[i]:allclose(expected[i], 1e-5, 1e-6))
    assert.is_true(ok, ("%s: got %s, expected %s"):format(label, tostring(got[i]), tostring(expected[i])))
  end
end

-- f(...) must raise a string error in which pattern is found; returns it
function H.raises(pattern, fn, ...)
  local ok, e = pcall(fn, ...)
  assert.is_false(ok, "expected an error matching " .. pattern)
  assert.is_string(e)
  assert.is_truthy(e:find(pattern), ("error %q does not match %q"):format(tostring(e), pattern))
  return e
end

-- the names an ordered iterator yields (named_parameters, named_children ...)
function H.names_of(iter)
  local out = {}
  for n in iter do out[#out + 1] = n end
  return out
end

-- A small linear module class built from raw parameters (no nyto.nn), for
-- specs of modules and particles; name: the class name to print.
function H.Lin(name)
  local Lin = nyto.class(name or "Lin")
  function Lin:init(i, o)
    self.weight = nyto.Parameter(nyto.randn(o, i))
    self.bias = nyto.Parameter(nyto.randn(o))
  end
  function Lin:forward(x) return x:matmul(self.weight:t()) + self.bias end
  return Lin
end

-- run a shell command: its output (stderr too) and exit code
function H.run(cmd)
  local p = assert(io.popen(cmd .. " 2>&1"))
  local out = p:read("a")
  local _, _, code = p:close()
  return out, code
end

-- write text to a new temporary file; its path
function H.script(text)
  local path = os.tmpname()
  local f = assert(io.open(path, "w"))
  f:write(text)
  f:close()
  return path
end

-- a whole file's bytes
function H.read(path)
  local f = assert(io.open(path, "rb"))
  local s = f:read("a")
  f:close()
  return s
end

-- strategies (spec/strategy_spec.lua, spec/strategy_dist_spec.lua) -------------------------
function H.sphere(X) return (X * X):sum(2) end -- rows of X

function H.median(t)
  local c = {}
  for i, v in ipairs(t) do c[i] = v end
  table.sort(c)
  local n = #c
  return n % 2 == 1 and c[(n + 1) // 2] or (c[n // 2] + c[n // 2 + 1]) / 2
end

-- fn(...) raises exactly msg (H.raises matches a pattern)
function H.raises_exact(msg, fn, ...)
  local ok, e = pcall(fn, ...)
  assert.is_false(ok, "expected an error: " .. msg)
  assert.are.equal(msg, e)
end

function H.net3() local nn = nyto.nn return nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 2)) end
function H.flat_of(p) return nyto.Swarm(p, 1):flat():view {-1}:clone() end
function H.pop_flat(es, pop) return es.kind == "particle" and pop:flat() or pop end

-- every tensor of two state dicts equal, every other value equal
function H.same_state(a, b, where)
  where = where or "state"
  assert.are.equal(type(a), type(b), where)
  if nyto.is_tensor(a) then
    assert.is_true(nyto.equal(a, b), where)
  elseif type(a) == "table" then
    for k, v in pairs(a) do H.same_state(v, b[k], where .. "." .. tostring(k)) end
    for k in pairs(b) do assert.is_not_nil(a[k], where .. "." .. tostring(k)) end
  else
    assert.are.equal(a, b, where)
  end
end

-- n members of net's species (net plus small noise) and their parameters stacked by
-- pid, as nyto.batched_forward takes them (Parameters when rg: leaves for autograd)
function H.population(net, n, rg)
  local members, stacks = {}, {}
  for i = 1, n do members[i] = net + net:randn() * 0.05 end
  for pid in pairs(net:kernel():params()) do
    local l = {}
    for i = 1, n do l[i] = members[i]:kernel():params()[pid] end
    local s = nyto.stack(l, 1):detach()
    stacks[pid] = rg and nyto.Parameter(s) or s
  end
  return members, stacks
end

return H
