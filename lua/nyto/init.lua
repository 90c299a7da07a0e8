-- nyto: a particle engine on libtorch.  `local nyto = require "nyto"`.
local core = require "nyto.core"

local nyto = {}
package.loaded.nyto = nyto -- submodules may require "nyto" while it loads

nyto._VERSION = core._VERSION
nyto.core = core
nyto.ROOT_MODULE_ID = 1

require "nyto.tensor" (nyto, core)
require "nyto.gc" (nyto, core)

return nyto
