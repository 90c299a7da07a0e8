#!/usr/bin/env bash
# bench/lua_ab.sh -- the Lua side of two revisions side by side, on this build's core.so:
# bench/particle_ops.lua's figures for lua/ at revision A and at revision B, run in turn
# (A, B, A, B, ...) in one run, then the ratio B/A of each figure's median.  For a change
# of the Lua files only (issue 12's split: "bench/particle_ops.sh stays within noise").
#   bench/lua_ab.sh [A [B [rounds [cnn_iterations [mlp_iterations]]]]]
# Defaults: A = main, B = the working tree, 2 rounds, 5000 and 200 iterations.
set -euo pipefail
cd "$(dirname "$0")/.."
a=${1:-main}; b=${2:-WORKTREE}; rounds=${3:-2}; c=${4:-5000}; m=${5:-200}
root=$(pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
tree() { # rev -> a directory with that revision's lua/, this bench/ and this build's lib/
  local rev=$1 d=$tmp/$2
  mkdir -p "$d/build"
  if [ "$rev" = WORKTREE ]; then cp -r "$root/lua" "$d/lua"; else git archive "$rev" lua | tar -x -C "$d"; fi
  ln -s "$root/bench" "$d/bench"
  ln -s "$root/build/lib" "$d/build/lib"
  echo "$d"
}
da=$(tree "$a" a); db=$(tree "$b" b)
for ((r = 1; r <= rounds; r++)); do
  (cd "$da" && lua5.4 bench/particle_ops.lua "$c" "$m") | sed 's/^/A /' >>"$tmp/out"
  (cd "$db" && lua5.4 bench/particle_ops.lua "$c" "$m") | sed 's/^/B /' >>"$tmp/out"
done
echo "A = $a, B = $b, $rounds rounds (medians of each figure over the rounds)"
lua5.4 - "$tmp/out" <<'EOF'
local vals = {} -- side -> "model key" -> list
for line in io.lines(arg[1]) do
  local side, model, rest = line:match("^(%a) (%a+) (.*)$")
  if side then
    for k, v in rest:gmatch("([%w_]+)=([%d.]+)") do
      local key = model .. " " .. k
      vals[side] = vals[side] or {}
      vals[side][key] = vals[side][key] or {}
      table.insert(vals[side][key], tonumber(v))
    end
  end
end
local function median(t)
  table.sort(t)
  local n = #t
  return n % 2 == 1 and t[(n + 1) // 2] or (t[n // 2] + t[n // 2 + 1]) / 2
end
local keys = {}
for key in pairs(vals.A or {}) do
  if key:match("_us$") then keys[#keys + 1] = key end
end
table.sort(keys)
for _, key in ipairs(keys) do
  local x, y = median(vals.A[key]), vals.B[key] and median(vals.B[key])
  if y then print(("%-40s A %10.3f  B %10.3f  B/A %.3f"):format(key, x, y, y / x)) end
end
EOF
