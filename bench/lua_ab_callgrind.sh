#!/usr/bin/env bash
# bench/lua_ab_callgrind.sh -- the Lua side of two revisions, by instruction counts:
# callgrind counts bench/particle_loop.lua's loop (`net = 0.5*net + 10` on the reference
# CNN) for lua/ at revision A and at revision B, on this build's core.so (as bench/lua_ab.sh
# times them), and prints the counts per iteration and B/A.  Counts do not depend on the
# machine's load, so a difference of 1% is seen where timings on a shared machine vary by 20%.
# Each run takes minutes (valgrind loads libtorch); the two run in parallel.
#   bench/lua_ab_callgrind.sh [A [B [iterations [particle|product|pm [gc_mode]]]]]
# Defaults: A = main, B = the working tree, 3000 iterations, particle, lua5.4's mode.
set -euo pipefail
cd "$(dirname "$0")/.."
a=${1:-main}; b=${2:-WORKTREE}; n=${3:-3000}; which=${4:-particle}; mode=${5:-}
root=$(pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
tree() { # rev -> a directory with that revision's lua/, this bench/ and this build's lib/
  local rev=$1 d=$tmp/$2
  mkdir -p "$d/build"
  if [ "$rev" = WORKTREE ]; then cp -r "$root/lua" "$d/lua"; else git archive "$rev" lua | tar -x -C "$d"; fi
  ln -s "$root/bench" "$d/bench"
  ln -s "$root/build/lib" "$d/build/lib"
  echo "$d"
}
count() { # dir side
  (cd "$1" && valgrind --tool=callgrind --collect-atstart=no --toggle-collect=lua_resume \
     --callgrind-out-file="$tmp/$2.out" lua5.4 bench/particle_loop.lua "$n" "$which" $mode 2>&1 |
     sed -nE 's/.*Collected : ([0-9]+).*/\1/p' >"$tmp/$2.count")
}
da=$(tree "$a" a); db=$(tree "$b" b)
count "$da" A & count "$db" B & wait
ca=$(cat "$tmp/A.count"); cb=$(cat "$tmp/B.count")
echo "A = $a, B = $b, $which loop, $n iterations${mode:+, $mode mode} (instructions inside the loop)"
awk -v a="$ca" -v b="$cb" -v n="$n" 'BEGIN { printf "A %d (%.0f per iteration)  B %d (%.0f per iteration)  B/A %.4f\n", a, a / n, b, b / n, b / a }'
