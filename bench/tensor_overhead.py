# bench/tensor_overhead.py: the loop of bench/tensor_overhead.lua in PyTorch:
# 10^5 adds `c = a + b` of two 4-element float32 tensors, one thread, timed 5
# times (process CPU time); prints the median in ns per add.
# Run with the Debian python that has python3-torch: /usr/bin/python3
import statistics
import time

import torch

torch.set_num_threads(1)
N, REPS = 100000, 5

a, b = torch.rand(4), torch.rand(4)


def plain(n):
    c = None
    for _ in range(n):
        c = a + b
    return c


assert torch.equal(plain(3), a + b)
plain(N // 10)  # warm up
ts = []
for _ in range(REPS):
    t0 = time.process_time()
    plain(N)
    ts.append((time.process_time() - t0) / N * 1e9)
m = statistics.median(ts)
print("pytorch a + b, 4 floats: median %.0f ns/op  (runs: %s ns)  torch %s"
      % (m, " ".join("%.0f" % t for t in ts), torch.__version__))
print("TORCH_NS %.1f" % m)
