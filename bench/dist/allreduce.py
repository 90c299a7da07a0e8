# bench/distributed.sh's PyTorch rank: all_reduce (sum) of one float32 tensor of
# the MLP 784-1024-1024-10's parameter count, median of ROUNDS rounds of REPS.
import statistics, sys, time
import torch, torch.distributed as d
d.init_process_group("gloo")
reps, rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 20, int(sys.argv[2]) if len(sys.argv) > 2 else 5
n = 784 * 1024 + 1024 + 1024 * 1024 + 1024 + 1024 * 10 + 10
x = torch.randn(n) * 1e-3
for _ in range(3): d.all_reduce(x)
ms = []
for _ in range(rounds):
    d.barrier()
    t0 = time.perf_counter()
    for _ in range(reps): d.all_reduce(x)
    ms.append((time.perf_counter() - t0) * 1000 / reps)
if d.get_rank() == 0: print("pytorch all_reduce_ms=%.3f bytes=%d" % (statistics.median(ms), n * 4))
d.destroy_process_group()
