-- nyto.distributed (lua/nyto/distributed.lua, src/torch/dist.cpp): ranks on
-- c10d's TCPStore and Gloo over loopback, each run bounded by timeout(1).
-- The rank programs are spec/dist/*.lua (and one Python rank, interop.py).
local H = require "helpers"
local run = H.run

local free_port = H.free_port

local function torchrun(script)
  return run(("timeout 25 torchrun --no_python --nproc_per_node=2 --redirects 2 --tee 2 --master_addr=127.0.0.1 "
    .. "--master_port=%d build/nyto %s"):format(free_port(), script))
end

local function env(rank, world, port)
  return ("env RANK=%d WORLD_SIZE=%d MASTER_ADDR=127.0.0.1 MASTER_PORT=%d "):format(rank, world, port)
end

local script = H.script

describe("nyto.distributed", function()
  it("torchrun, 2 ranks: every collective on tensors, particles and swarms, migrate, seeds-only strategies, and bad input", function()
    local out, code = torchrun("spec/dist/collectives.lua")
    assert.are.equal(0, code, out)
    assert.truthy(out:find("PASS 0", 1, true), out)
    assert.truthy(out:find("PASS 1", 1, true), out)
  end)

  it("torchrun, 2 ranks: data-parallel SGD ends bit-identical, equal to the one-process run", function()
    local out, code = torchrun("spec/dist/ddp.lua")
    assert.are.equal(0, code, out)
    assert.truthy(out:find("PASS 0", 1, true) and out:find("PASS 1", 1, true), out)
  end)

  it("a nyto rank and a Python torch.distributed (gloo) rank exchange tensors", function()
    local port = free_port()
    local out, code = run(("(%s timeout 25 /usr/bin/python3 spec/dist/interop.py & %s timeout 25 build/nyto spec/dist/interop.lua; wait)")
      :format(env(1, 2, port), env(0, 2, port)))
    assert.are.equal(0, code, out)
    assert.truthy(out:find("PASS nyto", 1, true) and out:find("PASS python", 1, true), out)
  end)

  it("a rank that dies: the other gets a nyto: error within the timeout", function()
    local port = free_port()
    local out = run(("(%s timeout 20 build/nyto spec/dist/dead.lua & %s timeout 20 build/nyto spec/dist/dead.lua; wait)")
      :format(env(1, 2, port), env(0, 2, port)))
    assert.truthy(out:find("ERROR nyto: all_reduce: ", 1, true), out)
    local s = assert(tonumber(out:match("SECONDS (%d+)")), out)
    assert.is_true(s <= 5, out)
  end)

  it("raises on a collective before init, a missing variable, a port in use", function()
    local path = script([[
      local dist = nyto.distributed
      assert(not dist.is_initialized())
      local ok, e = pcall(dist.all_reduce, nyto.zeros(1)); print(e)
      ok, e = pcall(dist.rank); print(e)
      ok, e = pcall(dist.init, {timeout = 2}); print(e)
      ok, e = pcall(dist.init, {timeout = -1}); print(e)
      ok, e = pcall(nyto.strategy.OpenES, nyto.zeros(4), {distributed = true}); print(e)
      assert(not dist.is_initialized())
    ]])
    local out = run("env -u MASTER_PORT RANK=0 WORLD_SIZE=1 MASTER_ADDR=127.0.0.1 timeout 20 build/nyto " .. path)
    assert.truthy(out:find("nyto: all_reduce: not initialized (call dist.init first)", 1, true), out)
    assert.truthy(out:find("nyto: rank: not initialized (call dist.init first)", 1, true), out)
    assert.truthy(out:find("nyto: init: environment variable MASTER_PORT is not set (launch with torchrun)", 1, true), out)
    assert.truthy(out:find("nyto: bad argument #1 to 'init' (timeout must be a positive number of seconds, got -1)", 1, true), out)
    assert.truthy(out:find("nyto: bad argument #2 to 'OpenES' (option 'distributed' needs a process group (call nyto.distributed.init first))", 1, true), out)
    -- a port held by another process
    local held = script([[
      local ok, e = pcall(nyto.distributed.init, {timeout = 2}); print(e)
      print(nyto.distributed.is_initialized())
    ]])
    out = run(([[timeout 20 python3 -c "
import os, socket, subprocess, sys
s = socket.socket(); s.bind(('127.0.0.1', 0)); s.listen()
env = dict(os.environ, RANK='0', WORLD_SIZE='1', MASTER_ADDR='127.0.0.1', MASTER_PORT=str(s.getsockname()[1]))
sys.exit(subprocess.call(['build/nyto', '%s'], env=env))"]]):format(held))
    assert.truthy(out:match("nyto: init: [^\n]*[Aa]ddress already in use"), out)
    assert.truthy(out:find("\nfalse", 1, true), out)
    os.remove(path); os.remove(held)
  end)
end)
