#!/usr/bin/env bash
# The GC pacing's cost on a stacked forward of 256 MLPs 8-32-4 (bench/gc_pacing.lua),
# this build and, side by side, another build's lib directory (before/after):
#   bench/gc_pacing.sh [other_build_lib_dir]
set -euo pipefail
cd "$(dirname "$0")/.."
for lib in build/lib ${1:-}; do
  for mode in generational incremental; do
    echo -n "lua5.4 $mode "
    lua5.4 -e "collectgarbage('$mode')" bench/gc_pacing.lua "$lib"
  done
done
