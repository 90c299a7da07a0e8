#!/usr/bin/env bash
# bench/strategy: the cost of one generation of each nyto.strategy (ask + tell with random
# fitness; the fitness itself excluded) on a swarm of 64 MLP 784-1024-1024-10 particles
# (P = 1,863,690 float32: one [64, P] arena is 477 MB), one thread, side by side in one run:
#   - nyto's ms per generation (bench/strategy.lua);
#   - the bandwidth limit: the bytes the update must move, at the speed one thread moves them,
#     timed in the same run by C passes over an arena of the same size:
#       C   a read and a write in one pass (core.paffine in place: 477 MB each way);
#       R   a read alone (core.mem_read), W a streamed write alone (core.mem_write).
#     PSO, APSO, GA and DE read and write their arenas in the same pass, so their floor is
#     arenas x C / 2 (a pass that reads and writes overlaps the two).  The distribution
#     strategies' ask only writes (the population) and their tell only reads, and a pass in
#     one direction cannot borrow the other's time: their floor is writes x W + reads x R.
#     (On this project's machines R and W each cost 0.55-1.0 of C: one core's read speed is
#     bound by the misses it keeps in flight, not by the memory.)  The old single rule,
#     arenas x C / 2 for every strategy, is printed beside it (C/2 floor).
#   - the same update in vectorised PyTorch from /usr/bin/python3 (bench/strategy.py).
# Arenas an update must move at least (a read or a write of n x D float32 each; D-vectors
# and per-member numbers are free; random draws are made inside the pass, not stored):
#   PSO 5     read x, v, pbest; write v, x (improved pbest rows are a copy beyond that)
#   APSO 2    read x, write x (the noise made in the pass)
#   GA 3      read both parents' rows, write the children
#   DE 5      read three donors' rows and the target, write the trial (selection: a row copy)
#   CEM 1w + 0.2r     write the population; read the 20% elites (mean and variance in one pass)
#   OpenES 1w + 1r    write the population; read it (the gradient sum_i w_i eps_i)
#   SNES 1w + 1r      write; read (both gradients in one pass)
#   PGPE 1w + 1r      write; read (mu's and sigma's gradients in one pass)
#   CMAES 1w + 1r     sep-CMA-ES (diagonal=true): write; read every row (active weights use all lambda)
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
  # name, arenas of an in-place pass (0: none), arenas written, arenas read (one-directional
  # passes), arenas of normals and of uniforms drawn
  BEGIN { split("PSO 5 0 0 0 2 APSO 2 0 0 1 0 GA 3 0 0 1 1 DE 5 0 0 0 1 CEM 0 1 0.2 1 0 OpenES 0 1 1 0.5 0 SNES 0 1 1 1 0 PGPE 0 1 1 0.5 0 CMAES 0 1 1 1 0", a, " ")
          for (i = 1; i < 54; i += 6) { k = a[i]; inplace[k] = a[i + 1]; writes[k] = a[i + 2]; reads[k] = a[i + 3]; normals[k] = a[i + 4]; uniforms[k] = a[i + 5]; order[(i + 5) / 6] = k } }
  function field(name,   v) { if (match($0, name "=[0-9.]+")) v = substr($0, RSTART + length(name) + 1, RLENGTH - length(name) - 1); return v }
  FNR == NR && /c_pass_ms=/ { c = field("c_pass_ms"); r = field("read_ms"); w = field("write_ms"); rn = field("randn_ms"); ru = field("rand_ms") }
  FNR == NR && /strategy=.* ms=/ { split($2, s, "="); split($3, m, "="); nyto[s[2]] = m[2]; ask[s[2]] = field("ask_ms"); tell[s[2]] = field("tell_ms") }
  FNR == NR && /missing/ { split($2, s, "="); nyto[s[2]] = "missing" }
  FNR != NR && /strategy=.* ms=/ { split($2, s, "="); split($3, m, "="); torch[s[2]] = m[2] }
  END {
    printf "C pass over one 477 MB arena (read + write in place): %.1f ms, %.1f GB/s; a read alone %.1f ms (%.1f GB/s), a streamed write alone %.1f ms (%.1f GB/s); one arena of draws: normal %.1f ms, uniform %.1f ms\n", c, 2 * 64 * 1863690 * 4 / c / 1e6, r, 64 * 1863690 * 4 / r / 1e6, w, 64 * 1863690 * 4 / w / 1e6, rn, ru
    printf "%-8s %9s %10s %9s %11s %11s %9s %11s %11s %13s\n", "strategy", "nyto ms", "traffic", "floor ms", "nyto/floor", "C/2 floor", "nyto/C/2", "+draws ms", "nyto/+draws", "PyTorch/nyto"
    for (i = 1; i <= 9; i++) {
      k = order[i]
      if (!(k in nyto) && !(k in torch)) continue
      if (inplace[k] > 0) { f = inplace[k] * c / 2; t = inplace[k] " C/2"; old = f }
      else { f = writes[k] * w + reads[k] * r; t = writes[k] "W+" reads[k] "R"; old = (writes[k] + reads[k]) * c / 2 }
      fd = f + normals[k] * rn + uniforms[k] * ru
      if (nyto[k] == "missing" || !(k in nyto)) {
        printf "%-8s %9s %10s %9.1f %11s %11.1f %9s %11.1f %11s %13s   (PyTorch %.1f ms)\n", k, "missing", t, f, "-", old, "-", fd, "-", "-", torch[k]
      } else {
        printf "%-8s %9.1f %10s %9.1f %10.1fx %11.1f %8.1fx %11.1f %10.1fx %12.2fx   (PyTorch %.1f ms; nyto ask %.1f + tell %.1f)\n", k, nyto[k], t, f, nyto[k] / f, old, nyto[k] / old, fd, nyto[k] / fd, torch[k] / nyto[k], torch[k], ask[k], tell[k]
      }
    }
  }' "$out_n" "$out_t"
