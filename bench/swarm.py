# bench/swarm (PyTorch side): the APSO step on the population as one [32, P]
# tensor, one torch.randn, in place (the vectorised way, as EvoTorch does).
import sys, time, statistics, torch
torch.set_num_threads(int(sys.argv[2]) if len(sys.argv) > 2 else 1)
reps = int(sys.argv[1]) if len(sys.argv) > 1 else 7
P = 784 * 1024 + 1024 + 1024 * 1024 + 1024 + 1024 * 10 + 10
n = 32
W = torch.randn(n, P)
best = torch.randn(P)
clock = time.process_time if torch.get_num_threads() == 1 else time.perf_counter  # as bench/swarm.lua
ts = []
for _ in range(reps):
    t0 = clock()
    W.mul_(0.5).add_(best, alpha=0.5).add_(torch.randn(n, P), alpha=0.1)
    ts.append((clock() - t0) * 1e3)
print("pytorch apso n=%d P=%d threads=%d vectorised_ms=%.2f" % (n, P, torch.get_num_threads(), statistics.median(ts)))
