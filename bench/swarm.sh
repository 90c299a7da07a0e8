#!/usr/bin/env bash
# bench/swarm: APSO step over 32 MLP members, one thread, side by side:
# nyto.Swarm, the per-particle loop, PyTorch vectorised, a C pass (bandwidth).
#   bench/swarm.sh [reps]
set -euo pipefail
cd "$(dirname "$0")/.."
r=${1:-7}
n=$(lua5.4 bench/swarm.lua "$r"); echo "$n"
p=$(/usr/bin/python3 bench/swarm.py "$r" 1); echo "$p"
get() { sed -E "s/.* $1=([0-9.]+).*/\\1/" <<<"$2"; }
awk -v s="$(get swarm_ms "$n")" -v l="$(get loop_ms "$n")" -v c="$(get c_pass_ms "$n")" -v t="$(get vectorised_ms "$p")" \
  -v d="$(get randn_only_ms "$n")" -v f="$(get swarm_fused_ms "$n")" \
  'BEGIN { printf "swarm step %.1f ms (goal <= 35): %.1fx faster than the loop, %.1fx faster than PyTorch vectorised, %.2fx the C pass (bandwidth floor); the draw alone %.1f ms; with add_randn_ %.1f ms (%.1fx the loop, %.2fx the C pass)\n", s, l / s, t / s, s / c, d, f, l / f, f / c }'
