#!/usr/bin/env bash
# A normal fill of 1.86 M floats: nyto's Philox generator vs torch.randn
# (from Lua on the same libtorch, and from Python), one thread and two.
#   bench/randn.sh [iterations]
set -euo pipefail
cd "$(dirname "$0")/.."
i=${1:-50}
n=$(lua5.4 bench/randn.lua "$i"); echo "$n"
p=$(/usr/bin/python3 bench/randn.py "$i"); echo "$p"
for th in 1 2; do
  a=$(grep "^threads=$th " <<<"$n" | sed -E 's/.* philox_fill_ns=([0-9.]+).*/\1/')
  b=$(grep "^pytorch threads=$th " <<<"$p" | sed -E 's/.* randn_ns=([0-9.]+).*/\1/')
  awk -v t="$th" -v a="$a" -v b="$b" 'BEGIN { printf "threads=%s: philox fill %.3f ns/element, torch.randn %.3f: %.1fx (goal 0.6 ns, 5x)\n", t, a, b, b / a }'
done
