#!/usr/bin/env bash
# One epoch of the reference CNN, nyto vs PyTorch from Python on the same
# libtorch and thread count; prints each and the ratios (nyto / PyTorch time).
# nyto runs twice: under lua5.4 (glibc's default malloc settings, as in a
# host) and under the nyto program (which keeps freed memory: src/cli/nyto.c).
#   bench/train.sh [threads] [batches]
set -euo pipefail
cd "$(dirname "$0")/.."
t=${1:-2}; b=${2:-938}
n=$(lua5.4 bench/train.lua "$t" "$b"); echo "lua5.4:     $n"
c=$(build/nyto bench/train.lua "$t" "$b"); echo "build/nyto: $c"
p=$(/usr/bin/python3 bench/train.py "$t" "$b"); echo "$p"
ms() { sed -E 's/.*ms_per_batch=([0-9.]+).*/\1/' <<<"$1"; }
awk -v a="$(ms "$n")" -v c="$(ms "$c")" -v b="$(ms "$p")" \
  'BEGIN { printf "ratio nyto/pytorch time per batch: %.3f (lua5.4), %.3f (build/nyto)\n", a / b, c / b }'
