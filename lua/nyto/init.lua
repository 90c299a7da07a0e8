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
for _, name in ipairs {"nyto.product", "nyto.particle_module", "nyto.F", "nyto.nn", "nyto.optim", "nyto.data", "nyto.progress"} do
  -- optional parts: present in a full checkout
  if package.searchpath(name, package.path) then require(name)(nyto, core) end
end

return nyto
