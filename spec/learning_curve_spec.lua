-- examples/learning_curve.lua: a training run's learning curve drawn with nyto.plot (issue 17).
local H = require "helpers"

describe("examples/learning_curve.lua", function()
  it("trains, prints a loss per epoch that falls, and draws the curve as a PNG", function()
    local png = os.tmpname() .. ".png"
    local out, code = H.run("build/nyto examples/learning_curve.lua " .. png .. " 2000 3")
    local f = io.open(png, "rb")
    local bytes = f and f:read("a")
    if f then f:close() end
    os.remove(png)
    os.remove(png:sub(1, -5))
    assert.equal(0, code, out)
    local losses = {}
    for e, l in out:gmatch("epoch (%d+)  train loss ([%d.]+)") do losses[tonumber(e)] = tonumber(l) end
    assert.equal(3, #losses, out)
    assert.is_true(losses[3] < losses[1], out)
    assert.matches("learning curve: " .. png:gsub("%p", "%%%0"), out)
    assert.is_string(bytes)
    assert.equal("\137PNG\r\n\26\n", bytes:sub(1, 8))
    assert.equal("IHDR", bytes:sub(13, 16))
  end)
end)
