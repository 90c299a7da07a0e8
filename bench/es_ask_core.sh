#!/usr/bin/env bash
# bench/es_ask_core: what bounds the ask of CEM, SNES and sep-CMA-ES (bench/es_ask_core.c):
# the line pass over the [64, 1.86M] float32 arena with its lines streamed to memory, against
# the same pass with its stores sent to L1 (its compute alone), the normals alone and a
# streamed write alone; one thread, interleaved runs, medians.
#   bench/es_ask_core.sh [runs]     (default 5 runs of each build, ~40 s)
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-5}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
flags="-O3 -ffp-contract=off -fno-math-errno -w -Isrc/core -Isrc/torch -Iinclude"
gcc $flags bench/es_ask_core.c -o "$tmp/mem" -lm
gcc $flags -DL1_SINK bench/es_ask_core.c -o "$tmp/l1" -lm
for i in $(seq "$runs"); do
  "$tmp/mem" | sed 's/^/build=memory /'
  "$tmp/l1" | sed 's/^/build=l1 /'
done >"$tmp/out"
grep -q "no AVX-512" "$tmp/out" && { head -1 "$tmp/out"; exit 0; }
awk '
  { split($1, b, "="); split($2, p, "="); split($3, m, "="); k = b[2] " " p[2]; v[k, ++n[k]] = m[2] }
  function med(k,   i, j, t, c) {
    c = n[k]; for (i = 1; i <= c; i++) a[i] = v[k, i]
    for (i = 1; i <= c; i++) for (j = i + 1; j <= c; j++) if (a[j] < a[i]) { t = a[i]; a[i] = a[j]; a[j] = t }
    return c % 2 ? a[(c + 1) / 2] : (a[c / 2] + a[c / 2 + 1]) / 2
  }
  END {
    nz = med("memory normals"); w = med("memory write")
    printf "one thread, [64, 1863690] float32 (477 MB), medians of %d runs: normals alone %.1f ms, a streamed write alone %.1f ms (normals / write %.2f)\n", n["memory write"], nz, w, nz / w
    printf "%-12s %12s %14s %18s %16s\n", "ask pass", "streamed ms", "stores-in-L1 ms", "streamed / L1", "streamed / W"
    split("X X+z X+z+norms", ps, " ")
    for (i = 1; i <= 3; i++) {
      s = med("memory " ps[i]); l = med("l1 " ps[i])
      printf "%-12s %12.1f %14.1f %17.2fx %15.2fx\n", ps[i], s, l, s / l, s / w
    }
  }' "$tmp/out"
