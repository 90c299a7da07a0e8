# bench/randn.py: torch.randn of 1.86 M floats from Python, one thread and two.
import sys, time, torch
iters = int(sys.argv[1]) if len(sys.argv) > 1 else 50
n = 784 * 1024 + 1024 + 1024 * 1024 + 1024 + 1024 * 10 + 10
buf = torch.empty(n)
for th in (1, 2):
    torch.set_num_threads(th)
    clock = time.process_time if th == 1 else time.perf_counter  # as bench/randn.lua
    a, b = [], []
    for r in range(9):
        t0 = clock()
        for _ in range(iters): torch.randn(n)
        a.append((clock() - t0) / iters / n * 1e9)
        t0 = clock()
        for _ in range(iters): buf.normal_()
        b.append((clock() - t0) / iters / n * 1e9)
    a.sort(); b.sort()
    print("pytorch threads=%d randn_ns=%.3f normal_inplace_ns=%.3f" % (th, a[4], b[4]))
