#!/usr/bin/env bash
# bench/distributed: all_reduce of the MLP 784-1024-1024-10 particle (7.45 MB)
# between 2 local ranks launched by torchrun, nyto vs PyTorch from Python, side
# by side in one run.  Goal (issue 16): nyto within 1.2x of PyTorch.
#   bench/distributed.sh [reps] [rounds] [popsize] [generations]
# Then the bytes per generation of seeds-only OpenES (bench/dist/es_bytes.lua).
set -euo pipefail
cd "$(dirname "$0")/.."
port() { /usr/bin/python3 -c "import socket; s = socket.socket(); s.bind(('127.0.0.1', 0)); print(s.getsockname()[1])"; }
tr() { timeout 600 torchrun --nproc_per_node=2 --redirects 2 --tee 2 --master_addr=127.0.0.1 --master_port="$(port)" "$@"; }
n=$(tr --no_python build/nyto bench/dist/allreduce.lua "${1:-20}" "${2:-5}" 2>/dev/null | grep '^nyto ')
echo "$n"
p=$(tr bench/dist/allreduce.py "${1:-20}" "${2:-5}" 2>/dev/null | grep '^pytorch ')
echo "$p"
a=$(sed -E 's/.*all_reduce_ms=([0-9.]+).*/\1/' <<<"$n")
b=$(sed -E 's/.*all_reduce_ms=([0-9.]+).*/\1/' <<<"$p")
awk -v a="$a" -v b="$b" 'BEGIN { printf "nyto/pytorch all_reduce time: %.2fx (goal <= 1.2x)\n", a / b }'
# seeds-only OpenES: the bytes each rank sends per generation, against broadcasting the parameters
tr --no_python build/nyto bench/dist/es_bytes.lua "${3:-16}" "${4:-2}" 2>/dev/null | grep -E '^(seeds-only|broadcasting)'
