-- nyto.gc: keeping Lua's collector in step with tensor memory (ARCHITECTURE
-- invariant 6).  The binding reports every byte a tensor or particle buffer
-- newly reaches as collector debt (LUA_GCSTEP).  In generational mode that
-- debt frees nothing young, so loading nyto switches the state to incremental
-- mode (nyto.gc_mode() tells, nyto.set_gc_mode("generational") undoes it at
-- your own risk).  Measured: docs/memory.md.
return function(nyto, core)
  -- a pause of 100 starts a new cycle as soon as the last one ends, so a
  -- particle loop's dead buffers are found within about one iteration
  local PAUSE, STEPMUL = 100, 200
  collectgarbage("incremental", PAUSE, STEPMUL)
  local mode = "incremental"
  function nyto.gc_mode() return mode end
  function nyto.set_gc_mode(m, pause, stepmul)
    if m ~= "incremental" and m ~= "generational" then
      error("nyto: bad argument #1 to 'set_gc_mode' (\"incremental\" or \"generational\" expected)", 2)
    end
    if m == "incremental" then collectgarbage("incremental", pause or PAUSE, stepmul or STEPMUL)
    else collectgarbage("generational") end
    mode = m
  end
  function nyto.stats()
    local s = core.stats()
    s.lua_bytes = math.floor(collectgarbage("count") * 1024)
    return s
  end
  nyto.reset_peak = core.reset_peak
  -- nyto.pool_limit(n [, bytes]): how many released particle buffers to keep (0 disables the pool)
  nyto.pool_limit = core.pool_limit
end
