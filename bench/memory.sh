#!/usr/bin/env bash
# bench/memory: nyto (ParticleModule and plain module, pool on and off) and
# PyTorch, the 10,000-iteration `net = 0.5*net + 10` loop on the MLP.
#   bench/memory.sh [iterations]
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-10000}
lua5.4 bench/memory.lua pm "$n" on
lua5.4 bench/memory.lua plain "$n" on
lua5.4 bench/memory.lua pm "$n" off
/usr/bin/python3 bench/memory.py "$n"
