# Rank 1 with spec/dist/interop.lua: plain torch.distributed, gloo, env://.
from datetime import timedelta
import torch, torch.distributed as d
d.init_process_group("gloo", timeout=timedelta(seconds=10))
assert d.get_rank() == 1 and d.get_world_size() == 2
x = torch.tensor([10., 20., 30.]); d.all_reduce(x); assert x.tolist() == [11, 22, 33], x
d.broadcast(torch.tensor([[1., 2.], [3., 4.]], dtype=torch.float64), 1)
y = torch.zeros(5, dtype=torch.int64); d.recv(y, 0); assert y.tolist() == [0, 1, 2, 3, 4], y
out = [torch.zeros(1) for _ in range(2)]; d.all_gather(out, torch.tensor([8.]))
assert [t.item() for t in out] == [7, 8], out
d.barrier()
d.destroy_process_group()
print("PASS python")
