# bench/particle_ops.py: the PyTorch side of bench/particle_ops.  The same
# arithmetic as a per-parameter loop making new tensors (what a nytorch-style
# particle operation does), on the reference CNN and the MLP, one thread.
import statistics, sys, time
import torch, torch.nn as nn
torch.set_num_threads(1)

class CNN(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Sequential(nn.Conv2d(1, 16, 5, 1, 2), nn.ReLU(), nn.MaxPool2d(2))
        self.conv2 = nn.Sequential(nn.Conv2d(16, 32, 5, 1, 2), nn.ReLU(), nn.MaxPool2d(2))
        self.output_layer = nn.Linear(32 * 7 * 7, 10)

mlp = nn.Sequential(nn.Linear(784, 1024), nn.ReLU(), nn.Linear(1024, 1024), nn.ReLU(), nn.Linear(1024, 10))

def bench(name, net, iters):
    params = [p.detach() for p in net.parameters()]
    n = sum(p.numel() for p in params)
    ts = []
    with torch.no_grad():
        for _ in range(7):
            t0 = time.process_time()
            ps = params
            for _ in range(iters):
                ps = [p * 0.5 for p in ps]
                ps = [p + 10 for p in ps]
            ts.append((time.process_time() - t0) / (2 * iters))
    print("pytorch %s params=%d per_param_loop_op_us=%.3f" % (name, n, statistics.median(ts) * 1e6))

bench("cnn", CNN(), int(sys.argv[1]) if len(sys.argv) > 1 else 5000)
bench("mlp", mlp, int(sys.argv[2]) if len(sys.argv) > 2 else 200)
