-- nyto.harden: the methods of nyto.Module, nyto.Product and nyto.ParticleModule check their
-- self, so `nyto.Product.clone(io.stdout)` and `MyClass:free()` (a class, not an instance) say
-- `nyto: bad self to '...'` as the C methods do instead of failing inside the library
-- (issue 13).  Loaded last by init.lua; it wraps the methods in place, so classes defined
-- later inherit the checked ones.
return function(nyto, core)
  local E = require "nyto.errors"
  local function wrap_all(cls, cname, is_self)
    local names = {}
    for k, v in pairs(cls) do
      -- constructors and metamethods take a class or two operands: left as they are
      if type(k) == "string" and type(v) == "function" and (k:sub(1, 2) ~= "__" or k == "__repr") then names[#names + 1] = k end
    end
    table.sort(names)
    for _, k in ipairs(names) do
      local f = rawget(cls, k)
      rawset(cls, k, function(self, ...)
        if not is_self(self) then
          local what = nyto.is_class(self) and ("class " .. tostring(rawget(self, "__classname")))
            or nyto.type(self) or type(self)
          E.err("bad self to '%s' (%s expected, got %s)", k, cname, what)
        end
        return f(self, ...)
      end)
    end
  end
  wrap_all(nyto.Module, "Module", nyto.is_module)
  wrap_all(nyto.Product, "Product", nyto.is_product)
  wrap_all(nyto.ParticleModule, "ParticleModule", nyto.is_particle_module)
end
