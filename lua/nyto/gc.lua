-- nyto.gc: keeping Lua's collector in step with tensor memory (ARCHITECTURE
-- invariant 6).  The binding counts the bytes of every tensor and particle
-- buffer it creates and collects when they pass a budget (src/lua/binding.c,
-- nyto_gc_pace): young collections in generational mode, full ones in
-- incremental mode.  nyto leaves the host's mode as it is.
-- Measured: docs/memory.md.
return function(nyto, core)
  function nyto.stats()
    local s = core.stats()
    -- the core counts particle buffers (one per dtype, products' too);
    -- `particles` counts live particle kernels (API.md, Particles)
    s.particle_buffers = s.particles
    local n = 0
    for k in pairs(require("nyto.particle.species").live_kernels) do
      if not k.freed then n = n + 1 end
    end
    s.particles = n
    s.lua_bytes = math.floor(collectgarbage("count") * 1024)
    return s
  end
  nyto.reset_peak = core.reset_peak
  -- the collector mode: nyto paces young collections in generational mode
  -- and full ones in incremental mode, so switch through nyto to keep it told
  nyto.gc_mode = core.gc_mode
  function nyto.set_gc_mode(m, ...)
    if m ~= "incremental" and m ~= "generational" then
      error("nyto: bad argument #1 to 'set_gc_mode' (\"incremental\" or \"generational\" expected)", 0)
    end
    core.set_gc_mode(m)
    if select("#", ...) > 0 then collectgarbage(m, ...) end
  end
  -- nyto.pool_limit(n [, bytes]): how many released particle buffers to keep (0 disables the pool)
  nyto.pool_limit = core.pool_limit
end
