#!/usr/bin/env bash
# One epoch of the reference CNN, nyto vs PyTorch from Python on the same
# libtorch and thread count; prints both and the ratio (nyto / PyTorch time).
#   bench/train.sh [threads] [batches]
set -euo pipefail
cd "$(dirname "$0")/.."
t=${1:-2}; b=${2:-938}
n=$(lua5.4 bench/train.lua "$t" "$b"); echo "$n"
p=$(/usr/bin/python3 bench/train.py "$t" "$b"); echo "$p"
nm=$(sed -E 's/.*ms_per_batch=([0-9.]+).*/\1/' <<<"$n")
pm=$(sed -E 's/.*ms_per_batch=([0-9.]+).*/\1/' <<<"$p")
awk -v a="$nm" -v b="$pm" 'BEGIN { printf "ratio nyto/pytorch time per batch: %.3f\n", a / b }'
