# bench/memory.py: the PyTorch side of bench/memory: the same MLP, and
# `net = 0.5*net + 10` as a per-parameter loop making new tensors.
import resource, sys, time
import torch, torch.nn as nn
torch.set_num_threads(1)
iters = int(sys.argv[1]) if len(sys.argv) > 1 else 10000
net = nn.Sequential(nn.Linear(784, 1024), nn.ReLU(), nn.Linear(1024, 1024), nn.ReLU(), nn.Linear(1024, 10))
params = [p.detach() for p in net.parameters()]
with torch.no_grad():
    t0 = time.time()
    for _ in range(iters):
        params = [p * 0.5 for p in params]
        params = [p + 10 for p in params]
    dt = time.time() - t0
flt = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
hwm = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
print("pytorch per-parameter iterations=%d ms_per_iter=%.3f peak_rss_mib=%.1f" % (iters, dt / iters * 1000, hwm / 2**20))
