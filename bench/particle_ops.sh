#!/usr/bin/env bash
# bench/particle_ops: nyto particle and product operations vs the memory-
# bandwidth limit (same run) and vs PyTorch's per-parameter loop.
#   bench/particle_ops.sh [cnn_iterations] [mlp_iterations]
set -euo pipefail
cd "$(dirname "$0")/.."
c=${1:-5000}; m=${2:-200}
n=$(lua5.4 bench/particle_ops.lua "$c" "$m"); echo "$n"
p=$(/usr/bin/python3 bench/particle_ops.py "$c" "$m"); echo "$p"
for model in cnn mlp; do
  a=$(grep "^$model .*particle_op_us" <<<"$n" | sed -E 's/.* particle_op_us=([0-9.]+).*/\1/')
  b=$(grep "^pytorch $model " <<<"$p" | sed -E 's/.*per_param_loop_op_us=([0-9.]+).*/\1/')
  awk -v m="$model" -v a="$a" -v b="$b" 'BEGIN { printf "%s: a nyto particle operation is %.1fx faster than the PyTorch per-parameter loop\n", m, b / a }'
done
get() { grep -E "^$1( | .* )$2=" <<<"$n" | sed -E "s/(^| )$2=([0-9a-z.]+).*/ \2/; s/.* //"; }
echo "goals (per particle operation): cnn $(get cnn particle_op_us) us (<= 8, issue 3a);" \
  "mlp $(awk -v l="$(get mlp limit_us)" -v o="$(get mlp particle_op_us)" 'BEGIN { printf "%.2f", l / o }')x the limit's speed (>= 0.80, issue 3b);" \
  "cnn product $(get cnn product_op_us) us (<= 4, issue 4)"
echo "per iteration (two operations, one fused pass): mlp at $(get mlp iteration_vs_limit) of the limit"
echo "ParticleModule iteration ($(grep '^gc_mode ' <<<"$n" | cut -d' ' -f2) mode, lua5.4's):" \
  "cnn $(get cnn particle_module_iteration_us) us, $(get cnn particle_module_vs_particle)x a plain module's (goal <= 1.5, issue 11);" \
  "mlp $(get mlp particle_module_iteration_us) us, $(get mlp particle_module_vs_particle)x (goal <= 1.1)"
for model in cnn mlp; do
  echo "ParticleModule iteration, $(get $model other_mode) mode: $model" \
    "$(get $model other_particle_module_iteration_us) us, $(get $model other_particle_module_vs_particle)x a plain module's ($(get $model other_iteration_us) us)"
done
for model in cnn mlp; do
  echo "ParticleModule class with __gc: $model $(get $model gc_class_iteration_us) us, $(get $model gc_class_vs_particle)x," \
    "at most $(get $model gc_class_most_alive) alive; $(get $model other_mode) mode $(get $model other_gc_class_iteration_us) us," \
    "$(get $model other_gc_class_vs_particle)x, at most $(get $model other_gc_class_most_alive) alive"
done
