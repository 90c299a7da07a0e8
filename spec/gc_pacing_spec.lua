-- GC pacing (docs/memory.md, src/lua/binding.c nyto_gc_pace): in generational
-- mode, loops whose intermediates die young run young collections only in the
-- steady state, and memory stays bounded; garbage that turned old is still
-- found (by a full collection once young ones stop freeing).
local nyto = require "nyto"

describe("GC pacing", function()
  local mode0 = nyto.gc_mode()
  after_each(function() nyto.set_gc_mode(mode0) end)

  -- the stacked forward of bench/gc_pacing.lua, smaller
  local n, B, I, H, O = 32, 64, 8, 32, 4
  local w1, b1 = nyto.randn(n, I, H), nyto.randn(n, 1, H)
  local w2, b2 = nyto.randn(n, H, O), nyto.randn(n, 1, O)
  local x = nyto.randn(n, B, I)
  local function forward()
    local h = (nyto.bmm(x, w1) + b1):relu()
    return nyto.bmm(h, w2) + b2
  end

  -- the pacing's budget for garbage between two collections: 1 MiB, a
  -- quarter of the live tensor bytes, or twice the Lua heap, the largest
  -- (nyto_gc_due); the heap is busted's and every spec's loaded before this
  -- one, so the bound takes the largest heap seen during the loop
  local function bound(live, heaps)
    local heap = 0
    for _, h in ipairs(heaps) do heap = math.max(heap, h) end
    return live + live // 2 + math.max(2 * 2 ^ 20, 2 * heap + 2 ^ 20)
  end

  it("runs no full collection in a population forward's steady state (generational)", function()
    nyto.set_gc_mode("generational")
    collectgarbage()
    for _ = 1, 100 do forward() end
    local live = nyto.stats().tensor_bytes
    nyto.reset_peak()
    local s0 = nyto.stats()
    local heaps = {s0.lua_bytes}
    for i = 1, 2000 do
      forward()
      if i % 100 == 0 then heaps[#heaps + 1] = collectgarbage("count") * 1024 end
    end
    local s1 = nyto.stats()
    assert.are.equal(0, s1.gc_collections - s0.gc_collections)
    assert.is_true(s1.gc_young_collections - s0.gc_young_collections > 0)
    -- garbage stays within the pacing budget
    assert.is_true(s1.peak_tensor_bytes <= bound(live, heaps),
      ("peak %d, live %d, bound %d"):format(s1.peak_tensor_bytes, live, bound(live, heaps)))
  end)

  it("still frees garbage that turned old before it died (generational)", function()
    nyto.set_gc_mode("generational")
    collectgarbage()
    local live = nyto.stats().tensor_bytes
    nyto.reset_peak()
    local s0 = nyto.stats()
    -- the budget between two collections is at least twice the Lua heap, which in the suite is
    -- busted's and every spec's before this one: allocate eight such budgets (400 tensors at
    -- the least), so that whatever the heap the young collections stop paying and a full one runs
    local tensor = 64 * 1024 * 4 -- 256 KiB
    local heaps = {s0.lua_bytes}
    local iters = math.max(400, math.ceil(8 * math.max(2 * s0.lua_bytes, 2 ^ 20) / tensor))
    local keep = {}
    for i = 1, iters do
      -- each tensor lives through many collections (old), then dies
      keep[i % 40 + 1] = nyto.randn(64, 1024)
      if i % 100 == 0 then heaps[#heaps + 1] = collectgarbage("count") * 1024 end
    end
    keep = nil
    local s1 = nyto.stats()
    assert.is_true(s1.gc_collections - s0.gc_collections > 0,
      ("no full collection in %d iterations (Lua heap %d bytes)"):format(iters, s0.lua_bytes))
    -- 40 live tensors of 256 KiB: peak within a small multiple of that live set, plus the
    -- garbage the budget lets through between two collections
    local heap = 0
    for _, h in ipairs(heaps) do heap = math.max(heap, h) end
    local limit = 4 * 40 * tensor + 2 * heap
    assert.is_true(s1.peak_tensor_bytes - live <= limit,
      ("peak %d above %d"):format(s1.peak_tensor_bytes - live, limit))
  end)

  it("keeps memory bounded in incremental mode", function()
    nyto.set_gc_mode("incremental")
    collectgarbage()
    for _ = 1, 100 do forward() end
    local live = nyto.stats().tensor_bytes
    nyto.reset_peak()
    local heaps = {collectgarbage("count") * 1024}
    for i = 1, 1000 do
      forward()
      if i % 100 == 0 then heaps[#heaps + 1] = collectgarbage("count") * 1024 end
    end
    local s1 = nyto.stats()
    assert.is_true(s1.peak_tensor_bytes <= bound(live, heaps),
      ("peak %d, live %d, bound %d"):format(s1.peak_tensor_bytes, live, bound(live, heaps)))
  end)
end)
