-- examples/hybrid_swarm.lua, the flagship, on a tiny configuration: its
-- checkpoints resume bit for bit, its batched test accuracies equal plain
-- per-member forwards, and --islands under torchrun (training --batched there)
-- migrates the best member of each rank to the next.
local nyto = require "nyto"
local H = require "helpers"
local run = H.run

local tmp = os.tmpname()
os.remove(tmp)
local small = "--members 3 --batches 2 --every 1 --test 200 --plot '' --seed 7 "
local function flagship(args)
  local out, code = run("NYTO_THREADS=1 timeout 120 build/nyto examples/hybrid_swarm.lua " .. small .. args)
  assert.are.equal(0, code, out)
  return out
end
local function line(out, tag)
  local l = out:match("\n(" .. tag .. "[^\n]*)") or out:match("^(" .. tag .. "[^\n]*)")
  assert(l, "no line " .. tag .. " in:\n" .. out)
  return l
end
local function accs(l)
  local t = {}
  for v in l:gmatch("m%d+ ([%d.]+)%%") do t[#t + 1] = tonumber(v) end
  return t
end

describe("examples/hybrid_swarm.lua", function()
  local full, part = tmp .. "-full.safetensors", tmp .. "-part.safetensors"
  teardown(function() os.remove(full); os.remove(part) end)

  it("resumes from its checkpoint bit for bit, and its batched accuracies are the members' own", function()
    local png = tmp .. "-curve.png"
    local a = flagship("--epochs 2 --checkpoint " .. full .. " --plot " .. png)
    -- the learning curve, through nyto.plot
    assert.truthy(a:find("learning curve: " .. png, 1, true), a)
    local f = assert(io.open(png, "rb"))
    assert.are.equal("\137PNG", f:read(4))
    f:close()
    os.remove(png)
    local b1 = flagship("--epochs 1 --checkpoint " .. part)
    assert.are.equal(line(a, "epoch 1 +m1"), line(b1, "epoch 1 +m1"))
    local b2 = flagship("--epochs 2 --resume --checkpoint " .. part)
    assert.truthy(b2:find("resumed " .. part .. " after epoch 1", 1, true), b2)
    assert.is_nil(b2:find("\nepoch 1 +m1"), b2)
    assert.are.equal(line(a, "epoch 2 +m1"), line(b2, "epoch 2 +m1"))
    assert.are.equal(line(a, "best member"):gsub("%d+ s$", ""), (line(b2, "best member"):gsub("%d+ s$", "")))

    local A, B = nyto.load(full), nyto.load(part)
    assert.are.equal(2, A.epoch); assert.are.equal(2, B.epoch)
    assert.is_true(nyto.equal(A.swarm, B.swarm), "members differ")
    assert.are.same({3, 28938}, A.swarm:size())
    for i = 1, 3 do
      local ma, mb = A.optimizers[i].state, B.optimizers[i].state
      local nbuf = 0
      for k, st in pairs(ma) do
        assert.is_true(nyto.equal(st.momentum_buffer, mb[k].momentum_buffer), "momentum of member " .. i)
        nbuf = nbuf + 1
      end
      assert.are.equal(6, nbuf) -- conv1, conv2 and output_layer: weight and bias each
    end
    assert.are.same(A.generator, B.generator)
    assert.are.equal(A.rng, B.rng)
    assert.are.equal(A.swarm_steps, B.swarm_steps)

    -- the printed accuracies: each member's own forward, one at a time, on the same images
    local CNN = dofile("examples/reference_cnn.lua")(nyto)
    local tx, ty = nyto.data.fashion_mnist("test")
    tx, ty = tx:narrow(1, 1, 200), ty:narrow(1, 1, 200)
    tx = (tx - 0.2860) / 0.3530
    local want = accs(line(a, "epoch 2 +m1"))
    local sw = nyto.Swarm(CNN(), 3)
    nyto.no_grad(function()
      sw:flat():copy_(A.swarm)
      for i = 1, 3 do
        local correct = sw[i](tx):argmax(2):eq(ty):sum():item() -- member i alone, not batched
        assert.are.equal(("%.2f"):format(100 * correct / 200), ("%.2f"):format(want[i]))
      end
    end)
  end)

  it("--islands under torchrun: each rank's best member goes to the next rank, replacing its worst", function()
    local port = H.free_port()
    local ck = tmp .. "-isl.safetensors"
    local out, code = run(("NYTO_THREADS=1 timeout 120 torchrun --no_python --nproc_per_node=2 --redirects 2 --tee 2 --master_addr=127.0.0.1 "
      .. "--master_port=%d build/nyto examples/hybrid_swarm.lua %s --epochs 2 --islands --batched --checkpoint %s"):format(port, small, ck))
    os.remove((ck:gsub("%.safetensors$", "-rank0.safetensors"))); os.remove((ck:gsub("%.safetensors$", "-rank1.safetensors")))
    assert.are.equal(0, code, out)
    local e, m = {}, {}
    for r = 0, 1 do
      e[r] = accs(line(out, "%[rank " .. r .. "%] epoch 1 +m1"))
      m[r] = accs(line(out, "%[rank " .. r .. "%] migrated"))
    end
    local function best_worst(t)
      local b, w = 1, 1
      for i = 2, #t do
        if t[i] > t[b] then b = i end
        if t[i] <= t[w] then w = i end
      end
      return b, w
    end
    for r = 0, 1 do
      local peer = 1 - r
      local pb = best_worst(e[peer])
      local _, w = best_worst(e[r])
      for i = 1, 3 do
        if i == w then assert.are.equal(e[peer][pb], m[r][i], out) else assert.are.equal(e[r][i], m[r][i], out) end
      end
    end
    assert.truthy(out:find("islands: rank 0 ", 1, true), out)
  end)
end)
