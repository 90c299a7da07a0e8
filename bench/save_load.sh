#!/usr/bin/env bash
# bench/save_load: nyto.save / nyto.load of the MLP 784-1024-1024-10 particle
# (7.45 MB) and of a 16-particle checkpoint (119 MB), .safetensors and .pt,
# side by side with torch.save / torch.load from /usr/bin/python3 on the same
# tensors and with cp of a file of the same size on the same disk; medians of
# wall-clock times (files in the page cache: loads read memory, saves write
# it, and fsync adds the disk).  Goal: as fast as PyTorch, within 2x of cp.
#   bench/save_load.sh [reps]
set -euo pipefail
cd "$(dirname "$0")/.."
r=${1:-5}
dir=$(mktemp -d build/bench-save.XXXXXX)
trap 'rm -rf "$dir"' EXIT
n=$(LUA_PATH="./lua/?.lua;./lua/?/init.lua;./bench/?.lua;;" LUA_CPATH="./build/lib/?.so;;" \
    lua5.4 bench/save_load.lua "$dir" "$r"); echo "$n"
p=$(OMP_NUM_THREADS=1 /usr/bin/python3 bench/save_load.py "$dir" "$r"); echo "$p"
# cp of nyto's .pt over an existing copy (as nyto.save replaces its file; cp alone, and cp then
# fsync of the copy: sync FILE), from bash
c="cp"
for name in mlp ck16; do
  a=() b=()
  cp "$dir/$name.pt" "$dir/$name.cp"
  for _ in $(seq "$r"); do
    t0=$EPOCHREALTIME; cp "$dir/$name.pt" "$dir/$name.cp"; t1=$EPOCHREALTIME
    sync "$dir/$name.cp"; t2=$EPOCHREALTIME
    a+=("$(awk -v x="$t0" -v y="$t1" 'BEGIN { printf "%.2f", (y - x) * 1e3 }')")
    b+=("$(awk -v x="$t0" -v y="$t2" 'BEGIN { printf "%.2f", (y - x) * 1e3 }')")
  done
  rm -f "$dir/$name.cp"
  med() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
  c="$c ${name}_cp_nosync_ms=$(med "${a[@]}") ${name}_cp_ms=$(med "${b[@]}")"
done
echo "$c"
get() { sed -E "s/.* $1=([0-9.]+).*/\\1/" <<<" $2"; }
for name in mlp ck16; do
  for sync in "" _nosync; do
    awk -v st="$(get "${name}_st_save${sync}_ms" "$n")" -v pt="$(get "${name}_pt_save${sync}_ms" "$n")" \
        -v tp="$(get "${name}_torch_save${sync}_ms" "$p")" -v cp="$(get "${name}_cp${sync}_ms" "$c")" \
        -v what="$name save${sync/_nosync/ without fsync}" \
      'BEGIN { printf "%-28s safetensors %8.1f ms, .pt %8.1f ms | torch.save %8.1f ms, cp %7.1f ms | safetensors %.2fx torch, %.2fx cp; .pt %.2fx torch, %.2fx cp\n", what, st, pt, tp, cp, st / tp, st / cp, pt / tp, pt / cp }'
  done
  awk -v st="$(get "${name}_st_load_ms" "$n")" -v pt="$(get "${name}_pt_load_ms" "$n")" \
      -v tp="$(get "${name}_torch_load_ms" "$p")" -v cp="$(get "${name}_cp_nosync_ms" "$c")" -v what="$name load" \
    'BEGIN { printf "%-28s safetensors %8.1f ms, .pt %8.1f ms | torch.load %8.1f ms, cp %7.1f ms | safetensors %.2fx torch, %.2fx cp; .pt %.2fx torch, %.2fx cp\n", what, st, pt, tp, cp, st / tp, st / cp, pt / tp, pt / cp }'
done
