-- Prompt release at the speed of a plain module (issue 11, docs/memory.md
-- "Prompt release"): the trace of examples/particle_release.lua line for line
-- and at most 3 particles alive after each iteration, in both GC modes, under
-- busted (this process), lua5.4 and the nyto program; and the collections an
-- operation runs, counted (one young collection per `0.5*pm + 10` iteration in
-- generational mode, one full one in incremental mode; two full ones before).
local nyto = require "nyto"
local H = require "helpers"

-- the reference document's trace (ParticleModule.rst, "Garbage Collection Cycles")
local EXPECTED = {"init cnn=1", "init cnn=2", "init cnn=3", "delete cnn=2", "delete cnn=1"}
for i = 4, 18, 2 do
  EXPECTED[#EXPECTED + 1] = ("init cnn=%d"):format(i)
  EXPECTED[#EXPECTED + 1] = ("init cnn=%d"):format(i + 1)
  EXPECTED[#EXPECTED + 1] = ("delete cnn=%d"):format(i)
  EXPECTED[#EXPECTED + 1] = ("delete cnn=%d"):format(i - 1)
end
EXPECTED[#EXPECTED + 1] = "init cnn=20"
EXPECTED[#EXPECTED + 1] = "init cnn=21"
-- then the last three, released by the example's final collectgarbage(): 19,
-- 20 and 21 in an order the reference leaves to its collector

local function check_trace(trace, alive_after, where)
  assert.are.equal(10, #alive_after, where)
  for i, n in ipairs(alive_after) do
    assert.is_true(n <= 3, ("%s: iteration %d: %d alive"):format(where, i, n))
  end
  assert.are.equal(#EXPECTED + 3, #trace, where .. ": " .. table.concat(trace, ", "))
  for i = 1, #EXPECTED do assert.are.equal(EXPECTED[i], trace[i], ("%s: trace line %d"):format(where, i)) end
  local tail = {trace[#trace - 2], trace[#trace - 1], trace[#trace]}
  table.sort(tail)
  assert.are.same({"delete cnn=19", "delete cnn=20", "delete cnn=21"}, tail, where)
end

-- a ParticleModule class that counts its live instances
local Lin = H.Lin("RelLin")
local Net = nyto.class("RelNet")
function Net:init() self.fc = Lin(3, 2) end
function Net:forward(x) return self.fc(x) end
local alive = 0
local released = {} -- tag -> true once released
local Counted = nyto.class("RelCounted", nyto.ParticleModule)
function Counted:init() alive = alive + 1 end
function Counted:__gc()
  alive = alive - 1
  if self.tag then released[self.tag] = true end
end

-- nyto's collections (full, young) that f() ran
local function collections(f)
  local s0 = nyto.stats()
  f()
  local s1 = nyto.stats()
  return s1.gc_collections - s0.gc_collections, s1.gc_young_collections - s0.gc_young_collections
end

describe("prompt release", function()
  local mode0 = nyto.gc_mode()
  after_each(function() nyto.set_gc_mode(mode0) end)

  for _, mode in ipairs {"generational", "incremental"} do
    it(("examples/particle_release.lua in this process (busted, %s mode): the trace line for line"):format(mode), function()
      nyto.set_gc_mode(mode)
      local r = assert(loadfile("examples/particle_release.lua"))("quiet")
      check_trace(r.trace, r.alive_after, "busted " .. mode)
      assert.are.equal(0, r.alive)
    end)
  end

  -- a fresh process per run: lua5.4 and the nyto program, each mode
  local WRAP = [[
    package.path = "./lua/?.lua;./lua/?/init.lua;" .. package.path
    package.cpath = "./build/lib/?.so;" .. package.cpath
    local nyto = nyto or require "nyto"
    nyto.set_gc_mode(%q)
    local r = dofile("examples/particle_release.lua")
    print("mode " .. nyto.gc_mode())
  ]]
  for _, prog in ipairs {"lua5.4", "build/nyto"} do
    for _, mode in ipairs {"generational", "incremental"} do
      it(("examples/particle_release.lua under %s (%s mode): the trace line for line"):format(prog, mode), function()
        local path = H.script(WRAP:format(mode))
        local out, code = H.run(prog .. " " .. path)
        os.remove(path)
        assert.are.equal(0, code, out)
        local trace, alive_after, got_mode = {}, nil, nil
        for line in out:gmatch("[^\n]+") do
          if line:match("^init cnn=") or line:match("^delete cnn=") then
            trace[#trace + 1] = line
          elseif line:match("^alive after each iteration: ") then
            alive_after = {}
            for n in line:gmatch("%d+") do alive_after[#alive_after + 1] = tonumber(n) end
          elseif line:match("^mode ") then
            got_mode = line:sub(6)
          end
        end
        assert.are.equal(mode, got_mode, out)
        assert.is_not_nil(alive_after, out)
        check_trace(trace, alive_after, prog .. " " .. mode)
      end)
    end
  end

  it("runs one young collection per `0.5*pm + 10` in generational mode, one full one in incremental mode", function()
    for _, mode in ipairs {"generational", "incremental"} do
      nyto.set_gc_mode(mode)
      collectgarbage()
      local pm = nyto.ParticleModule(Net())
      pm = 0.5 * pm + 10
      local full, young = collections(function() for _ = 1, 50 do pm = 0.5 * pm + 10 end end)
      if mode == "generational" then
        assert.are.equal(0, full, mode)
        assert.are.equal(50, young, mode)
      else
        assert.are.equal(50, full, mode)
        assert.are.equal(0, young, mode)
      end
    end
  end)

  it("collects before an operation unless its operand is the result of the previous one, which collected", function()
    nyto.set_gc_mode("incremental") -- every collection a full one: counted by gc_collections
    local pm = Counted(Net())
    local x, y, z, w
    assert.are.equal(1, (collections(function() x = pm * 2 end)))
    assert.are.equal(0, (collections(function() y = x * 2 end))) -- the middle of an expression
    assert.are.equal(1, (collections(function() z = y * 2 end))) -- the previous one did not collect
    assert.are.equal(0, (collections(function() w = 1 + z end)))
    assert.are.equal(1, (collections(function() w = w:clone() end)))
    -- a ParticleModule made in between (a constructor, PMProduct:module()): the next one collects
    local q = Counted(Net())
    assert.are.equal(1, (collections(function() x = -w end)))
    q = x:product():module()
    assert.are.equal(1, (collections(function() y = x * 2 end)))
    -- operands unchanged, results right
    local v = pm:parameters()[1]:detach()
    H.assert_close(y:parameters()[1]:detach(), -(1 + v * 8) * 2)
    assert.is_not_nil(q)
  end)

  -- (the specs tag the particles they drop and check their release: a count
  -- of live particles would also see the temporaries that Lua keeps in the
  -- registers of this function's frame until they are overwritten)
  for _, mode in ipairs {"generational", "incremental"} do
    it(("releases a dropped ParticleModule by the second operation after it at the latest (%s mode)"):format(mode), function()
      nyto.set_gc_mode(mode)
      collectgarbage()
      local a = Counted(Net())
      a.tag = mode .. " a"
      local b = a * 2
      a = nil -- dropped between an operation and the one that takes its result
      local c = b + 1 -- the middle of an expression: no collection
      assert.is_nil(released[mode .. " a"])
      local d = c * 3 -- collects: a is released
      assert.is_true(released[mode .. " a"])
      assert.is_not_nil(d)
      b, c = nil, nil
    end)
  end

  -- Long loops, counted through nyto.stats() (kernels alive, whatever holds
  -- them) after each iteration, across a full collection (a script's
  -- collectgarbage() at iteration 100, and nyto's own when they come), for a
  -- ParticleModule class with and without __gc.  In generational mode one
  -- particle more is alive after a full collection: the operand it ran for
  -- is old, and once dropped only the next full one finds it dead (Lua 5.4:
  -- docs/memory.md, "Prompt release"; the pure-Lua spec below).
  local Plain = nyto.class("RelPlain", nyto.ParticleModule)
  local WithGc = nyto.class("RelWithGc", nyto.ParticleModule)
  local finalized = 0
  function WithGc:__gc() finalized = finalized + 1 end
  for _, mode in ipairs {"generational", "incremental"} do
    for _, cls in ipairs {Plain, WithGc} do
      local name = cls.__classname
      it(("keeps at most 3 particles alive after each iteration of a long loop, 4 after a full collection in generational mode (%s, %s mode)"):format(name, mode), function()
        nyto.set_gc_mode(mode)
        collectgarbage()
        collectgarbage()
        local base = nyto.stats().particles
        local s0 = nyto.stats()
        local f0 = finalized
        local net = cls(Net())
        local counts, first_full = {}, 100
        for i = 1, 400 do
          net = 0.5 * net + 10
          if i == 100 then collectgarbage() end
          local s = nyto.stats()
          counts[i] = s.particles - base
          if s.gc_collections > s0.gc_collections and i < first_full then first_full = i end
        end
        for i = 1, 400 do
          local limit = (mode == "generational" and i > first_full) and 4 or 3
          assert.is_true(counts[i] <= limit, ("%s %s: iteration %d (first full collection at %d): %d particles alive"):format(name, mode, i, first_full, counts[i]))
        end
        if cls == WithGc then assert.is_true(finalized - f0 >= 790, mode) end
        net = nil
        collectgarbage()
        collectgarbage()
        assert.are.equal(base, nyto.stats().particles, mode)
      end)
    end
  end

  -- Lua 5.4 itself, without nyto: an object that lived through a full
  -- collection in generational mode is old; dropped, no young collection
  -- finds it dead, the next full one does
  it("(Lua 5.4) in generational mode only a full collection finds dead an object that lived through one", function()
    local mode = collectgarbage("generational")
    local alive = 0
    local mt = {__gc = function() alive = alive - 1 end}
    local function new() alive = alive + 1 return setmetatable({}, mt) end
    local x = new()
    local out = {}
    for i = 1, 8 do
      collectgarbage("step", 0) -- a young collection (nyto's, core.collect_young)
      if i == 4 then collectgarbage() end -- a full one while x is alive
      x = new()
      out[i] = alive
    end
    if mode == "incremental" then collectgarbage("incremental") end
    assert.are.same({2, 2, 2, 2, 3, 3, 3, 3}, out)
    assert.is_not_nil(x)
  end)

  it("runs a class's __gc on the whole ParticleModule, then releases its buffers unless something alive holds its root module", function()
    nyto.set_gc_mode("generational")
    local seen = {}
    local Cls = nyto.class("RelGcSeen", nyto.ParticleModule)
    function Cls:__gc() seen[#seen + 1] = {self.tag, #self.root_module:parameters(), self.root_module.fc.weight:sum():item()} end
    collectgarbage()
    local base = nyto.stats().particles
    -- dropped: __gc sees it whole, then its particle is released in the same collection
    local a = Cls(Net())
    a.tag = "dropped"
    local wsum = a.root_module.fc.weight:sum():item()
    a = nil
    collectgarbage()
    assert.are.same({{"dropped", 2, wsum}}, seen)
    assert.are.equal(base, nyto.stats().particles)
    -- its root module kept by the script: released by nothing, still usable
    local b = Cls(Net())
    b.tag = "root kept"
    local root = b.root_module
    local w = root.fc.weight:detach():clone()
    b = nil
    collectgarbage()
    collectgarbage()
    assert.are.equal("root kept", seen[2][1])
    assert.are.equal(base + 1, nyto.stats().particles)
    H.assert_close((root * 2).fc.weight:detach(), w * 2)
    assert.is_not_nil(root(nyto.randn(4, 3)))
    root = nil
    collectgarbage()
    collectgarbage()
    assert.are.equal(base, nyto.stats().particles)
    -- a parameter tensor kept by the script: still valid once its particle is released
    local c = Cls(Net())
    c.tag = "tensor kept"
    local t = c.root_module.fc.weight
    local v = t:detach():clone()
    c = nil
    collectgarbage()
    collectgarbage()
    assert.are.equal("tensor kept", seen[3][1])
    assert.are.equal(base, nyto.stats().particles)
    H.assert_close(t:detach(), v)
    -- a __gc that keeps self: the ParticleModule is freed, any later use raises
    local kept
    local Keep = nyto.class("RelGcKeep", nyto.ParticleModule)
    function Keep:__gc() kept = self end
    local d = Keep(Net())
    d = nil
    collectgarbage()
    collectgarbage()
    assert.is_not_nil(kept)
    H.raises_exact("nyto: attempt to use a freed ParticleModule", function() return kept * 2 end)
    kept:free() -- does nothing
    assert.are.equal(base, nyto.stats().particles)
    kept = nil
    assert.is_nil(d)
  end)

  -- in generational mode a ParticleModule that lived through a full
  -- collection, or through two collections but as an operand, is old: the
  -- next full collection finds it dead (the pacing's, docs/memory.md)
  it("releases a ParticleModule that lived through a full collection at once in incremental mode, by the next full one in generational mode", function()
    for _, mode in ipairs {"incremental", "generational"} do
      nyto.set_gc_mode(mode)
      local d = Counted(Net())
      local keep = Counted(Net())
      local tag = mode .. " kept"
      keep.tag = tag
      collectgarbage()
      for _ = 1, 3 do d = 0.5 * d + 1 end
      keep = nil
      d = d * 2
      d = d * 2
      assert.is_nil(keep)
      if mode == "incremental" then
        assert.is_true(released[tag], mode)
      else
        -- old: a young collection does not find it dead (docs/memory.md)
        assert.is_nil(released[tag], mode)
        local full = collections(function() for _ = 1, 3 do d = d * 1 end end)
        assert.are.equal(0, full, mode)
        collectgarbage()
        assert.is_true(released[tag], mode)
      end
    end
  end)
end)
