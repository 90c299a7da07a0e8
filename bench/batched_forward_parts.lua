-- bench/batched_forward_parts: the parts of the MLP's batched forward (issue 18), each
-- timed as a whole nyto.batched_forward of 256 members under no_grad, one thread, medians
-- over rounds (each round times the cases in turn): a Linear(32, 4) and a Linear(32, 32)
-- on a per-member [256, 64, 32] input, the same after a ReLU, Linear(8, 32) -> ReLU on a
-- shared [64, 8] input, the MLP 8-32-4 and 8-32-32.
--   build/nyto bench/batched_forward_parts.lua [iters] [rounds]
package.cpath = "./build/lib/?.so;" .. package.cpath
local nyto = require "nyto"
local nn = nyto.nn
nyto.num_threads(1)
nyto.manual_seed(1)
local iters, reps = tonumber(arg[1] or 200), tonumber(arg[2] or 7)
local function median(t) table.sort(t); return t[(#t+1)//2] end
local function stk(net, n)
  local s = {}
  for pid, p in pairs(net:kernel():params()) do
    local l = {}
    for i = 1, n do l[i] = p + nyto.randn(table.unpack(p:size())) * 0.05 end
    s[pid] = nyto.stack(l, 1):detach()
  end
  return s
end
local x = nyto.randn(64, 8)
local xh = nyto.randn(256, 64, 32)
local cases = {
  {"lin32_4_pm", nn.Linear(32, 4), xh, {per_member = true}},
  {"lin32_32_pm", nn.Linear(32, 32), xh, {per_member = true}},
  {"relu_lin32_4_pm", nn.Sequential(nn.ReLU(), nn.Linear(32, 4)), xh, {per_member = true}},
  {"lin8_32_relu", nn.Sequential(nn.Linear(8, 32), nn.ReLU()), x},
  {"mlp", nn.Sequential(nn.Linear(8, 32), nn.ReLU(), nn.Linear(32, 4)), x},
  {"mlp_32", nn.Sequential(nn.Linear(8, 32), nn.ReLU(), nn.Linear(32, 32)), x},
}
for _, c in ipairs(cases) do c[5] = stk(c[2], 256) end
local ts = {}
for r = 1, reps do
  for _, c in ipairs(cases) do
    ts[c[1]] = ts[c[1]] or {}
    local t0 = os.clock()
    nyto.no_grad(function() for _ = 1, iters do nyto.batched_forward(c[2], c[5], c[3], c[4]) end end)
    ts[c[1]][r] = (os.clock() - t0) / iters * 1e3
  end
end
for _, c in ipairs(cases) do print(("%-16s %.3f ms"):format(c[1], median(ts[c[1]]))) end
