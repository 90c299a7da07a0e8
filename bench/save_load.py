# bench/save_load.py DIR REPS: torch.save / torch.load of the same tensors as
# bench/save_load.lua (it loads DIR/mlp.pt and DIR/ck16.pt, which nyto wrote),
# with and without an fsync of the file; wall-clock medians in ms.
import os, statistics, sys, time, torch
d, reps = sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 5
torch.set_num_threads(1)
out = []
for name in ("mlp", "ck16"):
    value = torch.load(f"{d}/{name}.pt")
    path = f"{d}/{name}.torch.pt"
    torch.save(value, path)
    ts = {"save": [], "save_nosync": [], "load": []}
    for _ in range(reps):
        t0 = time.perf_counter()
        with open(path, "wb") as f:
            torch.save(value, f)
            f.flush()
            os.fsync(f.fileno())
        ts["save"].append((time.perf_counter() - t0) * 1e3)
        t0 = time.perf_counter()
        torch.save(value, path)
        ts["save_nosync"].append((time.perf_counter() - t0) * 1e3)
        t0 = time.perf_counter()
        v = torch.load(path)
        ts["load"].append((time.perf_counter() - t0) * 1e3)
        del v
    for k in ("save", "save_nosync", "load"):
        out.append(f"{name}_torch_{k}_ms={statistics.median(ts[k]):.2f}")
    out.append(f"{name}_torch_bytes={os.path.getsize(path)}")
print("torch " + " ".join(out))
