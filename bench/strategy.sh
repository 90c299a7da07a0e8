#!/usr/bin/env bash
# bench/strategy: the cost of one generation of each nyto.strategy (ask + tell with random
# fitness; the fitness itself excluded) on a swarm of 64 MLP 784-1024-1024-10 particles
# (P = 1,863,690 float32: one [64, P] arena is 477 MB), one thread, side by side in one run:
#   - nyto's ms per generation (bench/strategy.lua);
#   - the bandwidth limit: the bytes the update must move, timed as a C pass over the arena
#     in the same run (core.paffine in place: one read + one write of 477 MB), so
#     floor = arenas x c_pass / 2;
#   - the same update in vectorised PyTorch from /usr/bin/python3 (bench/strategy.py).
# Arenas an update must move at least (a read or a write of n x D float32 each; D-vectors
# and per-member numbers are free; random draws are made inside the pass, not stored):
#   PSO 5     read x, v, pbest; write v, x (improved pbest rows are a copy beyond that)
#   APSO 2    read x, write x (the noise made in the pass)
#   GA 3      read both parents' rows, write the children
#   DE 5      read three donors' rows and the target, write the trial (selection: a row copy)
#   CEM 1.2   write the population; read the 20% elites (mean and variance in one pass)
#   OpenES 2  write the population; read it (the gradient sum_i w_i eps_i)
#   SNES 2    write; read (both gradients in one pass)
#   PGPE 2    write; read (mu's and sigma's gradients in one pass)
#   CMAES 2   sep-CMA-ES (diagonal=true): write; read every row (active weights use all lambda)
# Draws each update needs (arenas of random numbers; the table's "+draws" floor adds them at
# nyto's measured s:randn_ / s:rand_ speed, since drawing is compute, not bandwidth):
#   PSO 2 uniform, APSO 1 normal, GA 1 uniform + 1 normal, DE 1 uniform, CEM 1 normal,
#   OpenES 0.5 normal (antithetic), SNES 1 normal, PGPE 0.5 normal, CMAES 1 normal.
# Goal (issue 17): nyto within 2x of the floor, and faster than PyTorch.
#   bench/strategy.sh [reps] [names...]      (default 5 rounds, every strategy; ~6 min)
set -euo pipefail
cd "$(dirname "$0")/.."
r=${1:-5}
shift || true
out_n=$(mktemp) out_t=$(mktemp)
trap 'rm -f "$out_n" "$out_t"' EXIT
# the same allocator on both sides: build/nyto keeps freed memory in the process (mallopt:
# mmap threshold 256 MB, trim threshold 1 GB; README); Python gets the same through glibc's
# tunables (without them both sides page-fault their fresh arenas: nyto's CEM 493 ms under
# lua5.4, 280 ms under build/nyto; PyTorch's 1545 ms and 1181 ms)
build/nyto bench/strategy.lua "$r" "$@" >"$out_n"
cat "$out_n"
GLIBC_TUNABLES=glibc.malloc.mmap_threshold=268435456:glibc.malloc.trim_threshold=1073741824 \
  /usr/bin/python3 bench/strategy.py "$r" "$@" >"$out_t"
cat "$out_t"
awk '
  BEGIN { split("PSO 5 0 2 APSO 2 1 0 GA 3 1 1 DE 5 0 1 CEM 1.2 1 0 OpenES 2 0.5 0 SNES 2 1 0 PGPE 2 0.5 0 CMAES 2 1 0", a, " ")
          for (i = 1; i < 36; i += 4) { k = a[i]; arenas[k] = a[i + 1]; normals[k] = a[i + 2]; uniforms[k] = a[i + 3]; order[(i + 3) / 4] = k } }
  function field(name,   v) { if (match($0, name "=[0-9.]+")) v = substr($0, RSTART + length(name) + 1, RLENGTH - length(name) - 1); return v }
  FNR == NR && /c_pass_ms=/ { c = field("c_pass_ms"); rn = field("randn_ms"); ru = field("rand_ms") }
  FNR == NR && /strategy=.* ms=/ { split($2, s, "="); split($3, m, "="); nyto[s[2]] = m[2]; ask[s[2]] = field("ask_ms"); tell[s[2]] = field("tell_ms") }
  FNR == NR && /missing/ { split($2, s, "="); nyto[s[2]] = "missing" }
  FNR != NR && /strategy=.* ms=/ { split($2, s, "="); split($3, m, "="); torch[s[2]] = m[2] }
  END {
    printf "C pass over one 477 MB arena (read + write): %.1f ms, %.1f GB/s; one arena of draws: normal %.1f ms, uniform %.1f ms\n", c, 2 * 64 * 1863690 * 4 / c / 1e6, rn, ru
    printf "%-8s %9s %7s %9s %11s %11s %11s %13s\n", "strategy", "nyto ms", "arenas", "floor ms", "nyto/floor", "+draws ms", "nyto/+draws", "PyTorch/nyto"
    for (i = 1; i <= 9; i++) {
      k = order[i]
      if (!(k in nyto) && !(k in torch)) continue
      f = arenas[k] * c / 2
      fd = f + normals[k] * rn + uniforms[k] * ru
      if (nyto[k] == "missing" || !(k in nyto)) {
        printf "%-8s %9s %7.1f %9.1f %11s %11.1f %11s %13s   (PyTorch %.1f ms)\n", k, "missing", arenas[k], f, "-", fd, "-", "-", torch[k]
      } else {
        printf "%-8s %9.1f %7.1f %9.1f %10.1fx %11.1f %10.1fx %12.2fx   (PyTorch %.1f ms; nyto ask %.1f + tell %.1f)\n", k, nyto[k], arenas[k], f, nyto[k] / f, fd, nyto[k] / fd, torch[k] / nyto[k], torch[k], ask[k], tell[k]
      }
    }
  }' "$out_n" "$out_t"
