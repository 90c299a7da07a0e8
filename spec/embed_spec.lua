-- include/nyto.h's host API: build/test_embed (spec/c/test_embed.c) checks nyto_push_tensor,
-- nyto_tensor_data and nyto_pcall in a host's own Lua state against plain C arithmetic, and
-- prints one "ok"/"not ok" line per check.
local H = require "helpers"

describe("include/nyto.h host API (build/test_embed)", function()
  it("wraps host memory, reads tensor data in place and runs Lua protected, every check passing", function()
    local out, code = H.run("build/test_embed")
    local failed = {}
    for line in out:gmatch("[^\n]+") do
      if line:match("^not ok") then failed[#failed + 1] = line end
    end
    assert.same({}, failed)
    local passed, nfailed = out:match("\n(%d+) passed, (%d+) failed\n")
    assert.equal("0", nfailed, out)
    assert.is_true(tonumber(passed) >= 45, out)
    assert.equal(0, code, out)
  end)
end)
