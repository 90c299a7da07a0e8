-- bench/save_load.lua DIR REPS: nyto.save / nyto.load of the MLP 784-1024-1024-10
-- particle (7.45 MB) and of a 16-particle checkpoint, both formats, with and
-- without fsync; wall-clock medians in ms as key=value.  Also writes
-- DIR/mlp.pt and DIR/ck16.pt for bench/save_load.py (the same tensors).
local nyto = require "nyto"
local M = require "models"
local dir, reps = arg[1], tonumber(arg[2] or "5")
local clock = nyto.core.clock
nyto.manual_seed(0)
local mlp = M.MLP()
local ck = {epoch = 3, members = {}}
for i = 1, 16 do ck.members[i] = mlp:randn():state_dict() end

local function median(xs)
  table.sort(xs)
  return xs[(#xs + 1) // 2]
end

local cases = {{"mlp", mlp}, {"ck16", ck}}
local out = {}
for _, case in ipairs(cases) do
  local name, value = case[1], case[2]
  for _, ext in ipairs {"safetensors", "pt"} do
    local path = ("%s/%s.%s"):format(dir, name, ext)
    nyto.save(value, path) -- warm up (and the file for Python)
    local t = {save = {}, save_nosync = {}, load = {}}
    for _ = 1, reps do
      local t0 = clock()
      nyto.save(value, path)
      t.save[#t.save + 1] = (clock() - t0) * 1e3
      nyto.core.save_sync(false)
      t0 = clock()
      nyto.save(value, path)
      t.save_nosync[#t.save_nosync + 1] = (clock() - t0) * 1e3
      nyto.core.save_sync(true)
      collectgarbage()
      t0 = clock()
      local v = nyto.load(path)
      t.load[#t.load + 1] = (clock() - t0) * 1e3
      v = nil
      collectgarbage()
    end
    local f = io.open(path, "rb")
    local bytes = f:seek("end")
    f:close()
    for _, k in ipairs {"save", "save_nosync", "load"} do
      out[#out + 1] = ("%s_%s_%s_ms=%.2f"):format(name, ext == "pt" and "pt" or "st", k, median(t[k]))
    end
    out[#out + 1] = ("%s_%s_bytes=%d"):format(name, ext == "pt" and "pt" or "st", bytes)
  end
end
print("nyto " .. table.concat(out, " "))
