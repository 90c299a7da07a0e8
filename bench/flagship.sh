#!/usr/bin/env bash
# bench/flagship: the flagship's training batch and evaluation before (a pool of
# ParticleModules, per-member forwards) and now (one nyto.Swarm, batched
# forwards), interleaved round by round in one process, one thread and two.
#   bench/flagship.sh [rounds] [batches per round]
set -euo pipefail
cd "$(dirname "$0")/.."
for t in 1 2; do
  echo "threads $t:"
  build/nyto bench/flagship.lua "$t" "${1:-5}" "${2:-10}" | sed 's/^/  /'
done
