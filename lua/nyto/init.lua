-- nyto: a particle engine on libtorch.  `local nyto = require "nyto"`.
local core = require "nyto.core"

local nyto = {}
package.loaded.nyto = nyto -- submodules may require "nyto" while it loads

nyto._VERSION = core._VERSION
nyto.core = core
nyto.ROOT_MODULE_ID = 1

require "nyto.tensor" (nyto, core)
require "nyto.gc" (nyto, core)
require "nyto.module" (nyto, core)
require "nyto.product" (nyto, core)
require "nyto.particle_module" (nyto, core)
require "nyto.batched" (nyto, core)
require "nyto.swarm" (nyto, core)
require "nyto.serialize" (nyto, core)
require "nyto.harden" (nyto, core)

-- Layers, training and data load on first use (nyto.nn, nyto.F, ...): a
-- script that does not use them keeps a smaller Lua heap, and a full
-- collection costs a pass over that heap.
local lazy = {F = "nyto.F", nn = "nyto.nn", optim = "nyto.optim", data = "nyto.data",
              progress = "nyto.progress", Progress_mt = "nyto.progress",
              timeit = "nyto.timeit",
              distributed = "nyto.distributed", plot = "nyto.plot", strategy = "nyto.strategy"}
setmetatable(nyto, {__index = function(t, key)
  local name = lazy[key]
  if name == nil then return nil end
  lazy[key] = nil
  require(name)(nyto, core)
  return rawget(t, key)
end})

return nyto
