#!/bin/sh
# bench/tensor_overhead.sh: nyto vs PyTorch per-op overhead (10^5 adds of two
# 4-element float tensors, one thread, median of 5), and their ratio.
# Usage: sh bench/tensor_overhead.sh   (from anywhere; needs build/ built)
set -e
cd "$(dirname "$0")/.."
LUA=${LUA:-lua5.4}
PY=${PY:-/usr/bin/python3} # the Debian python with python3-torch
nyto_out=$($LUA bench/tensor_overhead.lua)
torch_out=$($PY bench/tensor_overhead.py)
echo "$nyto_out" | grep -v '^NYTO_NS'
echo "$torch_out" | grep -v '^TORCH_NS'
n=$(echo "$nyto_out" | awk '/^NYTO_NS/ {print $2}')
t=$(echo "$torch_out" | awk '/^TORCH_NS/ {print $2}')
awk -v n="$n" -v t="$t" 'BEGIN { printf "ratio nyto/pytorch: %.2f\n", n / t }'
