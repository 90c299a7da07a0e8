-- nyto.save / nyto.load: round trips in both formats, interop with PyTorch from
-- Python (one python process for the file), atomic writes under SIGKILL, bad input.
local nyto = require "nyto"
local H = require "helpers"
local err_of = H.err_of

local dir = os.tmpname()
os.remove(dir)
os.execute("mkdir -p " .. dir)
local function P(name) return dir .. "/" .. name end
local PY = "/usr/bin/python3"

local function write(path, bytes)
  local f = assert(io.open(path, "wb")); f:write(bytes); f:close()
end
local read = H.read

local function sample()
  return {
    w = nyto.randn(3, 4), d = nyto.randn(2, 2):double(), i = H.I {1, -2, 3},
    b = nyto.tensor({true, false, true}, {dtype = "bool"}), z = nyto.tensor(5.0),
    e = nyto.zeros(0, 3), nc = nyto.randn(4, 5):t(),
    n = 3, big = math.maxinteger, f = 0.1, inf = math.huge, s = "h\"i\n", bin = "\0\255x", yes = true, no = false,
    list = {1, 2.5, {x = "y"}}, [7] = "seven",
  }
end

local function assert_same_value(a, b, where)
  where = where or "value"
  if nyto.is_tensor(b) then
    assert(nyto.is_tensor(a), where .. " is not a tensor")
    assert.are.equal(b:dtype(), a:dtype(), where)
    assert.are.same(b:size(), a:size(), where)
    assert(nyto.equal(a, b), where .. " differs")
  elseif type(b) == "table" then
    assert.are.equal("table", type(a), where)
    for k, v in pairs(b) do assert_same_value(a[k], v, where .. "." .. tostring(k)) end
    for k in pairs(a) do assert(b[k] ~= nil, where .. ": extra key " .. tostring(k)) end
  else
    assert.are.equal(math.type(b), math.type(a), where)
    assert.are.equal(b, a, where)
  end
end

for _, ext in ipairs {"safetensors", "pt"} do
  describe("nyto.save/load ." .. ext, function()
    it("round-trips tensors of every dtype (0-d, empty, non-contiguous) and nested values", function()
      local v = sample()
      assert.is_true(nyto.save(v, P("v." .. ext)))
      assert_same_value(nyto.load(P("v." .. ext)), v)
    end)

    it("round-trips a single tensor and a module's state dict; load_state_dict restores it", function()
      local t = nyto.randn(6)
      nyto.save(t, P("t." .. ext))
      assert_same_value(nyto.load(P("t." .. ext)), t)
      local net = nyto.nn.Sequential(nyto.nn.Linear(4, 3), nyto.nn.ReLU(), nyto.nn.Linear(3, 2))
      nyto.save(net, P("net." .. ext))
      local sd = nyto.load(P("net." .. ext))
      assert_same_value(sd, net:state_dict())
      local other = net:randn()
      other:load_state_dict(sd)
      for i, p in ipairs(other:parameters()) do assert(nyto.equal(p, net:parameters()[i])) end
      local pm = nyto.ParticleModule(nyto.nn.Linear(2, 2))
      nyto.save(pm, P("pm." .. ext))
      assert_same_value(nyto.load(P("pm." .. ext)), pm:state_dict())
    end)

    it("an optimizer's state: two identical continuations after a load give identical parameters", function()
      for _, make in ipairs {function(ps) return nyto.optim.SGD(ps, {lr = 0.1, momentum = 0.9}) end,
                             function(ps) return nyto.optim.Adam(ps, {lr = 0.01}) end} do
        nyto.manual_seed(3)
        local net = nyto.nn.Linear(3, 2)
        local opt = make(net:parameters())
        local x = nyto.randn(5, 3)
        local function step(n, o)
          o:zero_grad(); n(x):pow(2):sum():backward(); o:step()
        end
        for _ = 1, 3 do step(net, opt) end
        nyto.save({net = net, opt = opt, epoch = 3}, P("ck." .. ext))
        local runs = {}
        for r = 1, 2 do
          local ck = nyto.load(P("ck." .. ext))
          assert.are.equal(3, ck.epoch)
          local n2 = nyto.nn.Linear(3, 2)
          n2:load_state_dict(ck.net)
          local o2 = make(n2:parameters())
          o2:load_state_dict(ck.opt)
          for _ = 1, 4 do step(n2, o2) end
          runs[r] = H.values(n2)
        end
        for _ = 1, 4 do step(net, opt) end
        for i, v in ipairs(H.values(net)) do
          assert(nyto.equal(runs[1][i], runs[2][i]))
          assert(nyto.equal(runs[1][i], v))
        end
      end
    end)

    it("a missing file returns nil, message; a directory raises", function()
      local v, msg = nyto.load(P("missing." .. ext))
      assert.is_nil(v)
      assert.are.equal("nyto: " .. P("missing." .. ext) .. ": No such file or directory", msg)
      os.execute("mkdir -p " .. P("adir." .. ext))
      assert.are.equal("nyto: " .. P("adir." .. ext) .. ": is a directory", err_of(nyto.load, P("adir." .. ext)))
      assert.are.equal("nyto: " .. P("adir." .. ext) .. ": is a directory", select(2, nyto.save(1, P("adir." .. ext))))
    end)

    it("refuses values it cannot save, and leaves the old file", function()
      nyto.save({a = nyto.ones(2)}, P("keep." .. ext))
      local before = read(P("keep." .. ext))
      assert.are.equal("nyto: bad argument #1 to 'save' (cannot save a function at the value.f)",
                       err_of(nyto.save, {f = print}, P("keep." .. ext)))
      local c = {}; c.c = c
      assert.are.equal("nyto: bad argument #1 to 'save' (the table at the value.c contains itself)",
                       err_of(nyto.save, c, P("keep." .. ext)))
      assert.are.equal(before, read(P("keep." .. ext)))
    end)
  end)
end

describe("nyto.save/load argument errors", function()
  it("names the extension", function()
    assert.are.equal('nyto: bad argument #2 to \'save\' (path must end in .safetensors or .pt, got "x.bin")',
                     err_of(nyto.save, 1, "x.bin"))
    assert.are.equal("nyto: bad argument #1 to 'load' (string path expected, got nil)", err_of(nyto.load))
  end)
end)

describe(".safetensors bad input", function()
  local path = P("bad.safetensors")
  local function header(h, data)
    return string.pack("<I8", #h) .. h .. (data or "")
  end
  local cases = {
    {"truncated: 3 bytes, fewer than the 8 of the header length", "abc"},
    {"header length 1000 runs past the end of the file (10 bytes)", string.pack("<I8", 1000) .. "{}"},
    {"the header is not valid JSON", header("{\"a\":")},
    {'tensor "a": unknown dtype F16', header('{"a":{"dtype":"F16","shape":[1],"data_offsets":[0,2]}}', "xx")},
    {'tensor "a": the shape\'s product overflows',
     header('{"a":{"dtype":"F32","shape":[4294967296,4294967296,16],"data_offsets":[0,4]}}', "xxxx")},
    {'tensor "a": data_offsets [0, 8] run past the end of the data (4 bytes)',
     header('{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}', "xxxx")},
    {'tensor "a": data_offsets hold 4 bytes, its shape and dtype need 8',
     header('{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,4]}}', "xxxxxxxx")},
    {'tensors "a" and "b": data_offsets overlap',
     header('{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}',
            "xxxxxxxx")},
    {'tensor "a": shape entry 1 is not a non-negative integer',
     header('{"a":{"dtype":"F32","shape":[-1],"data_offsets":[0,0]}}')},
  }
  for _, c in ipairs(cases) do
    it("raises: " .. c[1], function()
      write(path, c[2])
      assert.are.equal("nyto: " .. path .. ": " .. c[1], err_of(nyto.load, path))
    end)
  end

  it("a flipped byte in the header or the structure raises, never crashes", function()
    nyto.save({a = nyto.ones(3), n = 2}, path)
    local good = read(path)
    local raised = 0
    for i = 1, #good do
      local b = good:byte(i)
      write(path, good:sub(1, i - 1) .. string.char(b ~ 0x5a) .. good:sub(i + 1))
      local ok, e = pcall(nyto.load, path)
      if not ok then
        raised = raised + 1
        assert.are.equal("nyto: " .. path .. ": ", tostring(e):sub(1, #path + 8))
      end
    end
    assert(raised > 20)
  end)

  it("a failed load changes no object", function()
    local net = nyto.nn.Linear(2, 2)
    local before = H.values(net)
    write(path, "garbage!")
    assert(not pcall(function() net:load_state_dict(nyto.load(path)) end))
    for i, p in ipairs(net:parameters()) do assert(nyto.equal(p, before[i])) end
  end)
end)

describe(".pt bad input", function()
  it("every flipped byte and every truncation raises with the path, or loads; never crashes", function()
    local path = P("flip.pt")
    nyto.save({w = nyto.randn(2, 2), i = H.I {3}, n = 1, s = "x", l = {true, 2.5}}, path)
    local good = read(path)
    local raised, loaded = 0, 0
    for i = 1, #good do
      write(path, good:sub(1, i - 1) .. string.char(good:byte(i) ~ 0x21) .. good:sub(i + 1))
      local ok, e = pcall(nyto.load, path)
      if ok then loaded = loaded + 1 else
        raised = raised + 1
        assert.are.equal("nyto: " .. path .. ": ", tostring(e):sub(1, #path + 8))
      end
    end
    -- the records' bytes and the directory are checked (CRC-32s, offsets, names); what may still
    -- load is a flip in bytes nothing reads (padding, times, attributes)
    assert(raised > #good // 2, ("%d of %d flips raised"):format(raised, #good))
    for n = 0, #good - 1 do
      write(path, good:sub(1, n))
      local ok, e = pcall(nyto.load, path)
      assert.is_false(ok, "a file cut to " .. n .. " bytes loaded")
      assert.are.equal("nyto: " .. path .. ": ", tostring(e):sub(1, #path + 8))
    end
  end)

  it("a truncated file, a flipped byte and a non-zip raise with the path", function()
    local path = P("bad.pt")
    nyto.save({a = nyto.ones(3)}, path)
    local good = read(path)
    for _, bytes in ipairs {good:sub(1, #good // 2), "PK\3\4 not a zip", ""} do
      write(path, bytes)
      assert.are.equal("nyto: " .. path .. ": ", err_of(nyto.load, path):sub(1, #path + 8))
    end
  end)
end)

describe("interop with PyTorch from Python", function()
  local py_ok, py_out, swarm_py
  setup(function()
    nyto.manual_seed(1)
    nyto.save({w = nyto.randn(3, 4), i = H.I {1, 2}, b = nyto.tensor({true}, {dtype = "bool"}),
               d = nyto.randn(2):double(), n = 7, f = 0.5, s = "x", list = {1, 2}, bin = "\0\255",
               big = math.mininteger, e = nyto.zeros(0, 3)}, P("nyto.pt"))
    nyto.save({["fc.weight"] = nyto.arange(0, 6):reshape(2, 3), ["fc.bias"] = nyto.tensor({1.5, -2}),
               steps = H.I {4}, mask = nyto.tensor({true, false}, {dtype = "bool"})}, P("nyto.safetensors"))
    swarm_py = nyto.Swarm(nyto.nn.Linear(2, 2), 3, "randn")
    nyto.save(swarm_py, P("swarm_py.pt"))
    write(P("check.py"), [==[
import json, struct, sys, torch
d = sys.argv[1]
out = {}
v = torch.load(d + "/nyto.pt")
out["pt"] = {"w": v["w"].tolist(), "i": v["i"].tolist(), "b": v["b"].tolist(), "d": v["d"].tolist(),
             "dtypes": [str(v[k].dtype) for k in ("w", "i", "b", "d")], "n": v["n"], "f": v["f"], "s": v["s"],
             "list": v["list"], "bin": [type(v["bin"]).__name__] + list(v["bin"]), "big": v["big"],
             "e": list(v["e"].shape)}
# an independent reader of safetensors: struct + json
raw = open(d + "/nyto.safetensors", "rb").read()
(n,) = struct.unpack("<Q", raw[:8])
hdr = json.loads(raw[8:8 + n])
fmt = {"F32": "f", "F64": "d", "I64": "q", "BOOL": "?"}
st = {}
for k, e in hdr.items():
    if k == "__metadata__": continue
    b0, b1 = e["data_offsets"]
    cnt = (b1 - b0) // struct.calcsize(fmt[e["dtype"]])
    st[k] = {"dtype": e["dtype"], "shape": e["shape"],
             "data": list(struct.unpack("<%d%s" % (cnt, fmt[e["dtype"]]), raw[8 + n + b0:8 + n + b1]))}
out["st"] = st
out["meta"] = hdr.get("__metadata__", {})
sw = torch.load(d + "/swarm_py.pt")
out["swarm"] = [[m["weight"].tolist(), m["bias"].tolist()] for m in sw["members"]]
# files for nyto: a torch.save'd state dict and a plain-Python safetensors
torch.manual_seed(0)
net = torch.nn.Linear(3, 2)
torch.save(dict(net.state_dict()), d + "/torch.pt")
torch.save({"m": torch.nn.Linear(2, 2)}, d + "/hostile.pt")
out["torch_sd"] = {k: t.tolist() for k, t in net.state_dict().items()}
tensors = {"a": ("F64", [2], struct.pack("<2d", 1.25, -3.5)), "b": ("I64", [1, 2], struct.pack("<2q", 9, -9))}
hdr, off, data = {"__metadata__": {"who": "python"}}, 0, b""
for k, (dt, sh, bs) in tensors.items():
    hdr[k] = {"dtype": dt, "shape": sh, "data_offsets": [off, off + len(bs)]}
    off += len(bs); data += bs
h = json.dumps(hdr).encode()
open(d + "/py.safetensors", "wb").write(struct.pack("<Q", len(h)) + h + data)
print(json.dumps(out))
]==])
    local f = io.popen(PY .. " " .. P("check.py") .. " " .. dir .. " 2>&1")
    py_out = f:read("a")
    py_ok = f:close()
  end)

  it("torch.load opens nyto's .pt with the same values", function()
    assert(py_ok, py_out)
    local r = nyto.core.json_decode(py_out).pt
    local v = nyto.load(P("nyto.pt"))
    H.assert_close(nyto.tensor(r.w), v.w, 0)
    assert.are.same({"torch.float32", "torch.int64", "torch.bool", "torch.float64"}, r.dtypes)
    assert.are.same({1, 2}, r.i)
    assert.are.same({true}, r.b)
    H.assert_close(nyto.tensor(r.d, {dtype = "float64"}), v.d, 0)
    assert.are.same({7, 0.5, "x", {1, 2}}, {r.n, r.f, r.s, r.list})
    assert.are.same({"bytes", 0, 255}, r.bin) -- a string that is not UTF-8 text is bytes (protocol 3)
    assert.are.same({0, 3}, r.e)
    assert.are.equal(math.mininteger, math.tointeger(r.big))
  end)

  it("torch.load opens a saved swarm: a list of the members' state dicts", function()
    assert(py_ok, py_out)
    local sw = nyto.core.json_decode(py_out).swarm
    assert.are.equal(3, #sw)
    for i = 1, 3 do
      H.assert_close(swarm_py[i].weight, nyto.tensor(sw[i][1]), 0)
      H.assert_close(swarm_py[i].bias, nyto.tensor(sw[i][2]), 0)
    end
  end)

  it("a plain-Python reader parses nyto's .safetensors under exactly the table's names", function()
    assert(py_ok, py_out)
    local st = nyto.core.json_decode(py_out).st
    assert.are.same({dtype = "I64", shape = {2, 3}, data = {0, 1, 2, 3, 4, 5}}, st["fc.weight"])
    assert.are.same({dtype = "F32", shape = {2}, data = {1.5, -2}}, st["fc.bias"])
    assert.are.same({dtype = "I64", shape = {1}, data = {4}}, st.steps)
    assert.are.same({dtype = "BOOL", shape = {2}, data = {true, false}}, st.mask)
  end)

  it("nyto loads a state dict torch.save wrote, and a plain-Python .safetensors", function()
    assert(py_ok, py_out)
    local sd = nyto.load(P("torch.pt"))
    local ref = nyto.core.json_decode(py_out).torch_sd
    H.assert_close(sd.weight, nyto.tensor(ref.weight), 0)
    H.assert_close(sd.bias, nyto.tensor(ref.bias), 0)
    local net = nyto.nn.Linear(3, 2)
    net:load_state_dict(sd)
    assert(nyto.equal(net.weight, sd.weight))
    assert.are.equal("nyto: " .. P("hostile.pt") .. ": pickle: refused global torch.nn.modules.linear.Linear (only "
                     .. "tensors, dicts, lists, tuples, numbers, strings, booleans and None load) (byte 13)",
                     err_of(nyto.load, P("hostile.pt")))
    local v = nyto.load(P("py.safetensors"))
    assert.are.equal("float64", v.a:dtype())
    assert.are.same({1.25, -3.5}, v.a:totable())
    assert.are.same({{9, -9}}, v.b:totable())
  end)
end)

describe("PyTorch's own torch.save files", function()
  -- one python process writes them all (and the values to compare with)
  local py_ok, py_out, ref
  setup(function()
    write(P("torch_files.py"), [==[
import json, os, struct, sys, zipfile, torch
d = sys.argv[1]
out = {}
torch.manual_seed(0)
seq = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.ReLU(), torch.nn.Linear(3, 2))
torch.save(seq.state_dict(), d + "/seq.pt")                    # an OrderedDict with _metadata (BUILD)
x = torch.randn(5, 4)
out["seq"] = {k: t.tolist() for k, t in seq.state_dict().items()}
out["x"], out["y"] = x.tolist(), seq(x).tolist()
zi = zipfile.ZipFile(d + "/seq.pt").getinfo("seq/data/0")  # where its bytes are: after the local header
raw = open(d + "/seq.pt", "rb").read()
out["seq_data0"] = zi.header_offset + 30 + sum(struct.unpack("<HH", raw[zi.header_offset + 26:zi.header_offset + 30]))
adam = torch.optim.Adam(seq.parameters(), lr=0.01)
sgd_net = torch.nn.Linear(2, 2)
sgd = torch.optim.SGD(sgd_net.parameters(), lr=0.1, momentum=0.9)
for _ in range(2):
    adam.zero_grad(); seq(x).pow(2).sum().backward(); adam.step()
    sgd.zero_grad(); sgd_net(x[:, :2]).pow(2).sum().backward(); sgd.step()
torch.save(adam.state_dict(), d + "/adam.pt")
torch.save(sgd.state_dict(), d + "/sgd.pt")
out["adam_avg0"] = adam.state_dict()["state"][0]["exp_avg"].tolist()
out["adam_sq3"] = adam.state_dict()["state"][3]["exp_avg_sq"].tolist()
out["sgd_mom1"] = sgd.state_dict()["state"][1]["momentum_buffer"].tolist()
base = torch.arange(12.0, dtype=torch.float64)
cyc = []
cyc.append(cyc)
nested = {"views": [base[2:5], base.view(3, 4).t()], "tup": (torch.tensor([1, -2]), 3, (True, None)),
          "d": {"f": 1.5, "s": "text", "none": None, 7: "seven"},
          "bools": torch.tensor([True, False, True]), "z": torch.zeros(0, 2), "one": torch.tensor(2.5),
          "p": torch.nn.Parameter(torch.ones(2)), "cyc": cyc}
torch.save(nested, d + "/nested.pt")
nested["d"]["b"] = b"\x00\xff" # protocol 2 pickles bytes as _codecs.encode (refused); 4 as BINBYTES
torch.save(nested, d + "/nested4.pt", pickle_protocol=4)
torch.save({"i": torch.ones(2, dtype=torch.int32)}, d + "/int32.pt")
class Custom:
    pass
torch.save({"c": Custom()}, d + "/custom.pt")
class Evil:
    def __reduce__(self):
        return (os.system, ("touch " + d + "/pwned",))
torch.save({"e": Evil()}, d + "/evil.pt")
# hand-made pickles in a torch.save zip: opcodes that make objects
def zipped(name, pkl, records={}):
    with zipfile.ZipFile(d + "/" + name, "w", zipfile.ZIP_STORED) as z:
        z.writestr("archive/data.pkl", pkl)
        for k, v in records.items(): z.writestr("archive/data/" + k, v)
zipped("inst.pt", b"\x80\x02(iposix\nsystem\nq\x00.")
zipped("build.pt", b"\x80\x02}q\x00}q\x01b.")
zipped("newobj.pt", b"\x80\x02ccollections\nOrderedDict\n)\x81.")
# ('storage', FloatStorage, '0', 'cpu', numel) then BINPERSID, offset, size, stride, False, OrderedDict()
def rebuild(size, stride, offset, numel):
    def tup(xs): return b"(" + b"".join(b"J" + struct.pack("<i", v) for v in xs) + b"t"
    return (b"\x80\x02ctorch._utils\n_rebuild_tensor_v2\n(" +
            b"(X\x07\x00\x00\x00storagectorch\nFloatStorage\nX\x01\x00\x00\x000X\x03\x00\x00\x00cpuJ" +
            struct.pack("<i", numel) + b"tQJ" + struct.pack("<i", offset) + tup(size) + tup(stride) +
            b"\x89ccollections\nOrderedDict\n)RtR.")
zipped("strided_ok.pt", rebuild([2, 2], [1, 2], 1, 6), {"0": struct.pack("<6f", *range(6))})
zipped("past_end.pt", rebuild([2, 3], [3, 1], 1, 6), {"0": struct.pack("<6f", *range(6))})
zipped("short_record.pt", rebuild([2], [1], 0, 6), {"0": struct.pack("<5f", *range(5))})
zipped("no_record.pt", rebuild([2], [1], 0, 6), {})
zipped("overflow.pt", rebuild([2**30, 2**30, 2**30], [1, 1, 1], 0, 6), {"0": struct.pack("<6f", *range(6))})
print(json.dumps(out))
]==])
    local f = io.popen(PY .. " " .. P("torch_files.py") .. " " .. dir .. " 2>&1")
    py_out = f:read("a")
    py_ok = f:close()
    if py_ok then ref = nyto.core.json_decode(py_out) end
  end)

  it("a Sequential's state dict (an OrderedDict with _metadata): the values, and the same outputs in nyto", function()
    assert(py_ok, py_out)
    local sd = nyto.load(P("seq.pt"))
    local keys = {}
    for k, t in pairs(sd) do
      keys[#keys + 1] = k
      H.assert_close(t, nyto.tensor(ref.seq[k]), 0)
      assert.are.equal("float32", t:dtype())
    end
    table.sort(keys)
    assert.are.same({"0.bias", "0.weight", "2.bias", "2.weight"}, keys) -- _metadata (the BUILD) is dropped
    -- nyto's Sequential counts from 1: the same network gives PyTorch's outputs
    local net = nyto.nn.Sequential(nyto.nn.Linear(4, 3), nyto.nn.ReLU(), nyto.nn.Linear(3, 2))
    local renamed = {}
    for k, t in pairs(sd) do renamed[k:gsub("^%d+", function(i) return tostring(tonumber(i) + 1) end)] = t end
    net:load_state_dict(renamed)
    H.assert_close(net(nyto.tensor(ref.x)), nyto.tensor(ref.y), 1e-6)
  end)

  it("optimizers' state dicts (Adam's moments and steps, SGD's momentum buffers)", function()
    assert(py_ok, py_out)
    local adam = nyto.load(P("adam.pt"))
    H.assert_close(adam.state[0].exp_avg, nyto.tensor(ref.adam_avg0), 0)
    H.assert_close(adam.state[3].exp_avg_sq, nyto.tensor(ref.adam_sq3), 0)
    assert.are.equal(2.0, adam.state[0].step:item())
    local g = adam.param_groups[1]
    assert.are.same({0, 1, 2, 3}, g.params)
    assert.are.same({0.9, 0.999}, g.betas)
    assert.are.same({0.01, 1e-08, false, nil}, {g.lr, g.eps, g.amsgrad, g.foreach})
    local sgd = nyto.load(P("sgd.pt"))
    H.assert_close(sgd.state[1].momentum_buffer, nyto.tensor(ref.sgd_mom1), 0)
    assert.are.same({0.1, 0.9}, {sgd.param_groups[1].lr, sgd.param_groups[1].momentum})
  end)

  for _, name in ipairs {"nested.pt", "nested4.pt"} do
    it("nested containers, views of one storage, every dtype, a Parameter and a cycle (" .. name .. ")", function()
      assert(py_ok, py_out)
      local v = nyto.load(P(name))
      local a, b = v.views[1], v.views[2]
      assert.are.same({2, 3, 4}, a:totable())
      assert.are.equal("float64", a:dtype())
      assert.are.same({{0, 4, 8}, {1, 5, 9}, {2, 6, 10}, {3, 7, 11}}, b:totable())
      a:fill_(-1) -- one storage, as in PyTorch: the transposed view sees it
      assert.are.same({{0, -1, 8}, {1, 5, 9}, {-1, 6, 10}, {-1, 7, 11}}, b:totable())
      assert.are.same({1, -2}, v.tup[1]:totable())
      assert.are.equal("int64", v.tup[1]:dtype())
      assert.are.same({3, {true}}, {v.tup[2], v.tup[3]}) -- None in a tuple is a hole
      assert.are.same({f = 1.5, s = "text", b = name == "nested4.pt" and "\0\255" or nil, [7] = "seven"}, v.d)
      assert.are.same({true, false, true}, v.bools:totable())
      assert.are.same({0, 2}, v.z:size())
      assert.are.same({}, v.one:size())
      assert.are.equal(2.5, v.one:item())
      assert.are.same({1, 1}, v.p:totable())
      assert.are.equal(v.cyc, v.cyc[1])
    end)
  end

  it("refuses classes, os.system through REDUCE and objects, before anything runs", function()
    assert(py_ok, py_out)
    local refused = " (only tensors, dicts, lists, tuples, numbers, strings, booleans and None load)"
    for _, c in ipairs {
      {"custom.pt", "pickle: refused global __main__.Custom" .. refused .. " (byte 13)"},
      {"evil.pt", "pickle: refused global posix.system" .. refused .. " (byte 13)"},
      {"inst.pt", "pickle: INST refused (objects are refused) (byte 3)"},
      {"build.pt", "pickle: BUILD of a dict (objects are refused) (byte 8)"},
      {"newobj.pt", "pickle: NEWOBJ refused (objects are refused) (byte 28)"},
      {"int32.pt", "pickle: a tensor of storage type torch.IntStorage (float32, float64, int64 and bool tensors "
                   .. "load) (byte 64)"},
    } do
      assert.are.equal("nyto: " .. P(c[1]) .. ": " .. c[2], err_of(nyto.load, P(c[1])))
    end
    assert.is_nil(io.open(P("pwned")), "os.system ran")
  end)

  it("checks every tensor against its storage and every storage against its record", function()
    assert(py_ok, py_out)
    assert.are.same({{1, 3}, {2, 4}}, nyto.load(P("strided_ok.pt")):totable())
    for _, c in ipairs {
      {"past_end.pt", "pickle: a tensor reaching element 6 of a storage of 6 (byte 148)"},
      {"short_record.pt", "pickle: storage 0: 20 bytes, 6 elements of 4 bytes need 24 (byte 89)"},
      {"no_record.pt", "pickle: storage 0: no record data/0 (byte 89)"},
      {"overflow.pt", "pickle: a tensor whose size's product overflows (byte 158)"},
    } do
      assert.are.equal("nyto: " .. P(c[1]) .. ": " .. c[2], err_of(nyto.load, P(c[1])))
    end
    -- a flipped byte in a tensor's data: its CRC-32 no longer matches
    local good, off = read(P("seq.pt")), ref.seq_data0 + 1
    write(P("flipped.pt"), good:sub(1, off - 1) .. string.char(good:byte(off) ~ 1) .. good:sub(off + 1))
    assert.are.equal("nyto: " .. P("flipped.pt") .. ": storage 0: its record is damaged (its CRC-32 does not match)",
                     err_of(nyto.load, P("flipped.pt")))
  end)
end)

describe("swarms", function()
  local function species() return nyto.nn.Sequential(nyto.nn.Linear(3, 4), nyto.nn.ReLU(), nyto.nn.Linear(4, 2)) end

  for _, ext in ipairs {"safetensors", "pt"} do
    it("nyto.save(swarm) and nyto.Swarm.load(path or value, net) give the same members (." .. ext .. ")", function()
      nyto.manual_seed(5)
      local net = species()
      local s = nyto.Swarm(net, 5, "randn")
      local path = P("swarm." .. ext)
      assert.is_true(nyto.save(s, path))
      local v = nyto.load(path)
      assert.are.equal(5, #v.members)
      for i = 1, 5 do assert_same_value(v.members[i], s[i]:state_dict(), "member " .. i) end
      for _, src in ipairs {path, v} do
        local t = nyto.Swarm.load(src, net)
        assert.are.equal("Swarm", nyto.type(t))
        assert.are.equal(5, #t)
        assert(nyto.equal(t:flat(), s:flat()), "the arenas differ")
        local x = nyto.randn(2, 3)
        for i = 1, 5 do H.assert_close(t[i](x), s[i](x), 0) end
        assert.is_false(t[3]["1"].weight:data_ptr() == s[3]["1"].weight:data_ptr())
      end
    end)
  end

  it("Swarm.load: a missing file gives nil, message; bad values raise and make nothing", function()
    local net = species()
    local v, msg = nyto.Swarm.load(P("no-such-swarm.pt"), net)
    assert.is_nil(v)
    assert.are.equal("nyto: " .. P("no-such-swarm.pt") .. ": No such file or directory", msg)
    local s = nyto.Swarm(net, 2)
    nyto.save(s, P("two.pt"))
    local good = s:state_dict()
    local m2 = {}
    for k, t in pairs(good.members[2]) do m2[k] = t end
    m2["1.bias"] = nil
    local wrong = {members = {good.members[1], m2}}
    local shape = nyto.load(P("two.pt"))
    shape.members[2]["3.weight"] = nyto.zeros(3, 3)
    local freed_pm = nyto.ParticleModule(net:clone())
    freed_pm:free()
    -- a ParticleModule of the species: a ParticleModule swarm
    local PMS = nyto.class("SavePMSwarm", nyto.ParticleModule)
    local t = nyto.Swarm.load(P("two.pt"), PMS(net:clone()))
    assert.are.equal("ParticleModule", nyto.type(t[2]))
    assert.are.equal(PMS, t[2]:class())
    assert(nyto.equal(t:flat(), s:flat()), "the arenas differ")
    for _, c in ipairs {
      {{42, net}, "bad argument #1 to 'Swarm.load' (path or table expected, got number)"},
      {{good, "net"}, "bad argument #2 to 'Swarm.load' (particle expected, got string)"},
      {{good, freed_pm}, "bad argument #2 to 'Swarm.load' (attempt to use a freed ParticleModule)"},
      {{{members = {}}, net}, "bad argument #1 to 'Swarm.load' (no members: a swarm's state dict is {members = {sd1, sd2, ...}})"},
      {{{}, net}, "bad argument #1 to 'Swarm.load' (no members: a swarm's state dict is {members = {sd1, sd2, ...}})"},
      {{{members = {good.members[1], x = 1}}, net}, "bad argument #1 to 'Swarm.load' (members is not a sequence: key x)"},
      {{wrong, net}, "bad argument #1 to 'Swarm.load' (member 2: missing key '1.bias')"},
      {{shape, net}, "bad argument #1 to 'Swarm.load' (member 2: shape of '3.weight' is [3, 3], expected [2, 4])"},
    } do
      assert.are.equal("nyto: " .. c[2], err_of(nyto.Swarm.load, table.unpack(c[1])))
    end
    -- another species: its first missing key (weight or bias) named, with the path
    local e = err_of(nyto.Swarm.load, P("two.pt"), nyto.nn.Linear(3, 2))
    local head = "nyto: bad argument #1 to 'Swarm.load' (" .. P("two.pt") .. ": member 1: missing key '"
    assert.are.equal(head, e:sub(1, #head))
    assert(e:sub(#head + 1) == "weight')" or e:sub(#head + 1) == "bias')", e)
  end)
end)

describe("atomic writes", function()
  it("after a SIGKILL at any moment the path holds the old or the new file, and no temporaries pile up", function()
    -- 4 writers start at once (libtorch's start-up is paid once), save a 1 MiB
    -- tensor again and again to one path, and are killed one by one
    local path = P("kill.safetensors")
    write(P("kill.lua"), ([==[
package.path = "./lua/?.lua;./lua/?/init.lua;" .. package.path
package.cpath = "./build/lib/?.so;" .. package.cpath
local nyto = require "nyto"
local t = nyto.zeros(1 << 18)
local k, id = 0, tonumber(arg[1])
nyto.save({t = t, k = 0}, %q)
io.open(%q .. id, "w"):close()
while true do k = k + 1; t:fill_(k); nyto.save({t = t, k = k}, %q) end
]==]):format(path, P("ready"), path))
    local pids = {}
    for id = 1, 4 do
      pids[id] = io.popen(("lua5.4 %s %d >/dev/null 2>&1 & echo $!"):format(P("kill.lua"), id)):read("l")
    end
    for id = 1, 4 do
      for _ = 1, 600 do
        if io.open(P("ready") .. id) then break end
        os.execute("sleep 0.02")
      end
    end
    local seen = {}
    for id = 1, 4 do
      os.execute(("sleep %.3f; kill -9 %s"):format(0.005 * id, pids[id]))
      local v = assert(nyto.load(path))
      assert.are.equal(v.k, v.t[1]:item())
      assert.are.equal(v.k, v.t[-1]:item())
      seen[v.k] = true
    end
    os.execute("sleep 0.1")
    local n = 0
    for _ in pairs(seen) do n = n + 1 end
    assert(n >= 2, "the writers never got to save")
    local function temps() return tonumber(io.popen("ls -a " .. dir .. " | grep -c 'nyto-tmp' || true"):read("a")) end
    assert(temps() <= 4)
    nyto.save({t = nyto.zeros(2), k = -1}, path) -- removes the dead writers' temporaries
    assert.are.equal(0, temps())
  end)
end)

teardown(function() os.execute("rm -rf " .. dir) end)
