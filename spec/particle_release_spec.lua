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
