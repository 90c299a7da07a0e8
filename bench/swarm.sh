#!/usr/bin/env bash
# bench/swarm: APSO step over 32 MLP members, one thread and two, side by side:
# s:axpby_randn_ (one fused pass), nyto.Swarm arithmetic (four passes), the
# per-particle loop, PyTorch vectorised, a C pass (bandwidth floor).
#   bench/swarm.sh [reps]
set -euo pipefail
cd "$(dirname "$0")/.."
r=${1:-7}
get() { sed -E "s/.* $1=([0-9.]+).*/\\1/" <<<"$2"; }
for th in 1 2; do
  n=$(THREADS=$th lua5.4 bench/swarm.lua "$r"); echo "$n"
  p=$(/usr/bin/python3 bench/swarm.py "$r" "$th"); echo "$p"
  awk -v th="$th" -v x="$(get axpby_ms "$n")" -v s="$(get swarm_ms "$n")" -v l="$(get loop_ms "$n")" \
    -v c="$(get c_pass_ms "$n")" -v t="$(get vectorised_ms "$p")" -v d="$(get randn_only_ms "$n")" \
    -v f="$(get swarm_fused_ms "$n")" -v cb="$(get c_pass_best_ms "$n")" \
    'BEGIN { printf "threads=%s: axpby_randn_ step %.1f ms (goal <= 35): %.2fx the C pass over the same bytes (s and best read, s written: %.1f ms; the arena alone %.1f ms), %.1fx faster than PyTorch vectorised (%.1f ms), %.1fx faster than the per-particle loop; four swarm passes %.1f ms (%.1fx axpby), with add_randn_ %.1f ms; the draw alone %.1f ms\n", th, x, x / cb, cb, c, t / x, t, l / x, s, s / x, f, d }'
done
