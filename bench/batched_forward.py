# bench/batched_forward.py: hand-written batched PyTorch for the sizes of
# bench/batched_forward.lua, one thread: (a) 256 MLPs 8-32-4 on a batch of 64
# with torch.baddbmm (the population as stacked weights); (b) 32 reference
# CNNs on a batch of 64 with functorch.vmap over F.conv2d/max_pool2d/linear.
# Forward under no_grad, and forward + backward of the sum.
#   python3 bench/batched_forward.py [mlp_iters] [cnn_iters] [rounds]
import statistics
import sys
import time

import torch
import torch.nn.functional as F
from functorch import vmap

torch.set_num_threads(1)
torch.manual_seed(1)
mlp_iters = int(sys.argv[1]) if len(sys.argv) > 1 else 200
cnn_iters = int(sys.argv[2]) if len(sys.argv) > 2 else 5
reps = int(sys.argv[3]) if len(sys.argv) > 3 else 7
clock = time.process_time


def timed(fns, iters):
    for f in fns.values():
        f(1)
    ts = {k: [] for k in fns}
    for _ in range(reps):
        for k, f in fns.items():
            t0 = clock()
            f(iters)
            ts[k].append((clock() - t0) / iters * 1e3)
    return {k: statistics.median(v) for k, v in ts.items()}


# 0 iterations skips a model
if mlp_iters > 0:
    n, B = 256, 64
    W1, b1 = torch.randn(n, 32, 8) * 0.3, torch.randn(n, 1, 32) * 0.1
    W2, b2 = torch.randn(n, 4, 32) * 0.2, torch.randn(n, 1, 4) * 0.1
    x = torch.randn(B, 8)

    def mlp(W1, b1, W2, b2):
        h = torch.baddbmm(b1, x.expand(n, B, 8), W1.transpose(1, 2)).relu()
        return torch.baddbmm(b2, h, W2.transpose(1, 2))

    gp = [t.clone().requires_grad_() for t in (W1, b1, W2, b2)]

    def fw(k):
        with torch.no_grad():
            for _ in range(k):
                mlp(W1, b1, W2, b2)

    def fwbw(k):
        for _ in range(k):
            mlp(*gp).sum().backward()

    m = timed({"fw": fw, "fwbw": fwbw}, mlp_iters)
    print("pytorch mlp n=%d batched_ms=%.3f batched_fwbw_ms=%.3f" % (n, m["fw"], m["fwbw"]))

if cnn_iters > 0:
    n = 32
    xc = torch.randn(64, 1, 28, 28)
    P = [torch.randn(n, 16, 1, 5, 5) * 0.2, torch.zeros(n, 16), torch.randn(n, 32, 16, 5, 5) * 0.05,
         torch.zeros(n, 32), torch.randn(n, 10, 1568) * 0.02, torch.zeros(n, 10)]

    def cnn(c1, c1b, c2, c2b, o, ob):
        h = F.max_pool2d(F.conv2d(xc, c1, c1b, 1, 2).relu(), 2)
        h = F.max_pool2d(F.conv2d(h, c2, c2b, 1, 2).relu(), 2)
        return F.linear(h.flatten(1), o, ob)

    vcnn = vmap(cnn)
    gP = [t.clone().requires_grad_() for t in P]

    def cfw(k):
        with torch.no_grad():
            for _ in range(k):
                vcnn(*P)

    def cfwbw(k):
        for _ in range(k):
            vcnn(*gP).sum().backward()

    c = timed({"fw": cfw, "fwbw": cfwbw}, cnn_iters)
    print("pytorch cnn n=%d vmap_ms=%.3f vmap_fwbw_ms=%.3f" % (n, c["fw"], c["fwbw"]))
