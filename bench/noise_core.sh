#!/usr/bin/env bash
# bench/noise_core: the noise kernels of src/core/philox.c alone (no Lua, no
# libtorch, one thread): fill speed per vector path, and the APSO step as the
# fused pass, as fill + pass, and as a shared noise table, against the C pass.
#   bench/noise_core.sh            this tree's philox.c
#   bench/noise_core.sh REV        also philox.c at git revision REV (before/after)
#   CALLGRIND=1 bench/noise_core.sh [REV]   instruction counts of one fill (load-proof;
#     valgrind hides AVX-512, so this counts the AVX2 paths)
set -euo pipefail
cd "$(dirname "$0")/.."
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
build() { # $1 = dir holding philox.c, $2 = output
  gcc -O3 -ffp-contract=off -w -I"$1" -Isrc/core -Isrc/torch -Iinclude bench/noise_core.c -o "$2" -lm
}
build src/core "$tmp/now"
echo "this tree:"; "$tmp/now"
if [ $# -ge 1 ]; then
  mkdir -p "$tmp/old"
  git show "$1:src/core/philox.c" > "$tmp/old/philox.c"
  # an old philox.c has no nyto_random_isa / nyto_random_axpby: its fill only
  old=""; grep -q nyto_random_isa "$tmp/old/philox.c" || old=-DNOISE_OLD
  gcc -O3 -ffp-contract=off -w $old -I"$tmp/old" -Isrc/core -Isrc/torch -Iinclude bench/noise_core.c -o "$tmp/old/bin" -lm
  echo "at $1:"; "$tmp/old/bin"
fi
if [ "${CALLGRIND:-0}" = 1 ]; then
  cat > "$tmp/one.c" <<'C'
#include "philox.c"
int nt_parallel_for(int64_t n, int64_t g, void (*fn)(void *, int64_t, int64_t), void *c) { (void)g; fn(c, 0, n); return 0; }
int nt_get_num_threads(void) { return 1; }
static float f[1863690];
__attribute__((noinline)) void one_fill(void) { nyto_random_fill(NT_FLOAT32, 0, f, 1863690, 1, 0, 0); }
int main(void) { nyto_random_init(); one_fill(); return f[7] > 100; } /* the tables made before */
C
  for d in src/core ${1:+$tmp/old}; do
    gcc -O3 -ffp-contract=off -w -I"$d" -Isrc/core -Isrc/torch -Iinclude "$tmp/one.c" -o "$tmp/one" -lm
    valgrind --tool=callgrind --callgrind-out-file="$tmp/cg" --toggle-collect=one_fill "$tmp/one" >/dev/null 2>&1
    ir=$(callgrind_annotate "$tmp/cg" 2>/dev/null | grep -m1 'PROGRAM TOTALS' | awk '{gsub(",","",$1); print $1}')
    awk -v d="$d" -v ir="$ir" 'BEGIN { printf "callgrind %s (AVX2 path: valgrind hides AVX-512): %s instructions per fill of 1.86 M normals, %.2f per element\n", d, ir, ir / 1863690 }'
  done
fi
