# bench/train.py: the PyTorch side of bench/train (same CNN, batch 64, SGD).
import gzip, sys, time
import numpy as np
import torch, torch.nn as nn, torch.nn.functional as F

threads = int(sys.argv[1]) if len(sys.argv) > 1 else 2
limit = int(sys.argv[2]) if len(sys.argv) > 2 else 10**9
torch.set_num_threads(threads)
torch.manual_seed(0)
d = "/usr/share/datasets/fashion-mnist/"
with gzip.open(d + "train-images-idx3-ubyte.gz") as f:
    X = torch.from_numpy(np.frombuffer(f.read(), np.uint8, offset=16).copy()).view(-1, 1, 28, 28).float() / 255
with gzip.open(d + "train-labels-idx1-ubyte.gz") as f:
    Y = torch.from_numpy(np.frombuffer(f.read(), np.uint8, offset=8).copy()).long()

class CNN(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Sequential(nn.Conv2d(1, 16, 5, 1, 2), nn.ReLU(), nn.MaxPool2d(2))
        self.conv2 = nn.Sequential(nn.Conv2d(16, 32, 5, 1, 2), nn.ReLU(), nn.MaxPool2d(2))
        self.output_layer = nn.Linear(32 * 7 * 7, 10)
    def forward(self, x):
        x = self.conv2(self.conv1(x))
        return self.output_layer(x.view(x.size(0), -1))

net = CNN()
opt = torch.optim.SGD(net.parameters(), lr=0.05, momentum=0.9)
g = torch.Generator().manual_seed(1)
perm = torch.randperm(X.size(0), generator=g)
t0 = time.time()
n = 0
for i in range(0, X.size(0), 64):
    idx = perm[i:i + 64]
    x, y = X[idx], Y[idx]
    opt.zero_grad()
    loss = F.cross_entropy(net(x), y)
    loss.backward()
    opt.step()
    n += 1
    if n >= limit:
        break
dt = time.time() - t0
print("pytorch train batches=%d seconds=%.3f ms_per_batch=%.3f last_loss=%.4f threads=%d" % (n, dt, dt / n * 1000, loss.item(), threads))
