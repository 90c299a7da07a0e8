#!/usr/bin/env bash
# bench/batched_forward: nyto.batched_forward of a population vs the per-member
# loop (same process) and vs hand-written batched PyTorch from Python (baddbmm
# for the MLP, functorch.vmap for the CNN), one thread; prints each and the ratios.
# nyto runs under the nyto program (its malloc settings: src/cli/nyto.c) and lua5.4.
# 0 iterations skips a model (bench/batched_forward.sh 0 3 5: the CNN only).
#   bench/batched_forward.sh [mlp_iters] [cnn_iters] [rounds]
set -euo pipefail
cd "$(dirname "$0")/.."
m=${1:-200}; c=${2:-3}; r=${3:-7}
a=$(build/nyto bench/batched_forward.lua "$m" "$c" "$r"); echo "build/nyto: $a"
p=$(/usr/bin/python3 bench/batched_forward.py "$m" "$c" "$r"); echo "$p"
l=""
if [ "$m" -gt 0 ]; then l=$(lua5.4 bench/batched_forward.lua "$m" 0 "$r" | grep '^mlp'); echo "lua5.4:     $l"; fi
get() { grep "^$1 " <<<"$2" | sed -E "s/.* $3=([0-9.]+).*/\\1/"; }
if [ "$m" -gt 0 ]; then
  pm=$(get "pytorch mlp" "$p" batched_ms); pmb=$(get "pytorch mlp" "$p" batched_fwbw_ms)
  awk -v s="$(get mlp "$a" speedup)" -v fb="$(get mlp "$a" fwbw_speedup)" -v b="$(get mlp "$a" batched_ms)" \
      -v bb="$(get mlp "$a" batched_fwbw_ms)" -v lb="$(get mlp "$l" batched_ms)" -v pm="$pm" -v pmb="$pmb" 'BEGIN {
    printf "mlp 256 x 8-32-4, batch 64: batched forward %.1fx the loop (goal >= 10), forward+backward %.1fx\n", s, fb
    printf "mlp: nyto batched / hand-written PyTorch baddbmm time: %.2f forward (goal <= 1.2; %.2f under lua5.4), %.2f forward+backward\n", b / pm, lb / pm, bb / pmb
  }'
fi
if [ "$c" -gt 0 ]; then
  pc=$(get "pytorch cnn" "$p" vmap_ms); pcb=$(get "pytorch cnn" "$p" vmap_fwbw_ms)
  awk -v cs="$(get cnn "$a" speedup)" -v cb="$(get cnn "$a" batched_ms)" -v pc="$pc" -v pcb="$pcb" \
      -v bs="$(get cnn "$a" block_speedup)" -v fs="$(get cnn "$a" fwbw_speedup)" -v cbb="$(get cnn "$a" batched_fwbw_ms)" \
      -v d="$(get cnn "$a" block_direct)" -v q="$(get cnn "$a" block_per_member)" 'BEGIN {
    printf "cnn 32 reference CNNs (Sequential conv blocks), batch 64: batched forward %.2fx the loop (goal >= 3), %.2fx the unfused batched forward; nyto / PyTorch functorch.vmap time: %.2f\n", cs, bs, cb / pc
    printf "cnn: conv block per forward: %d direct-kernel call(s), %d per-member convolution(s); forward+backward (no block under autograd) %.2fx the loop, nyto / functorch.vmap %.2f\n", d, q, fs, cbb / pcb
  }'
fi
