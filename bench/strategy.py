# bench/strategy (PyTorch side): one generation (ask + tell with random fitness) of each
# strategy written the vectorised PyTorch way (EvoTorch style: the population is one [n, P]
# tensor, one torch.randn per draw, in-place updates where they are natural), with the
# updates and defaults of lua/nyto/strategy/*.lua, 64 members of the MLP 784-1024-1024-10
# (P = 1,863,690), one thread.  Median CPU ms per generation after two warm-up generations.
#   /usr/bin/python3 bench/strategy.py [reps] [names...]
#   /usr/bin/python3 bench/strategy.py --check [generations] [names...]   (each on the 50-D sphere)
import math, statistics, sys, time

import torch

torch.set_num_threads(1)
torch.manual_seed(1)
check = len(sys.argv) > 1 and sys.argv[1] == "--check"
if check:  # --check: each update on the 50-D sphere from (1, ..., 1), to see that it optimises
    sys.argv.pop(1)
reps = int(sys.argv[1]) if len(sys.argv) > 1 else 5
names = sys.argv[2:] or ["PSO", "APSO", "GA", "DE", "CEM", "OpenES", "SNES", "PGPE", "CMAES"]
n = 64
P = 50 if check else 784 * 1024 + 1024 + 1024 * 1024 + 1024 + 1024 * 10 + 10
mean0 = torch.ones(P) if check else torch.randn(P) * 0.02


def centered_ranks(f):  # minimising: the best (lowest) gets -0.5, the worst +0.5
    r = torch.empty(len(f))
    r[f.argsort()] = torch.arange(len(f), dtype=torch.float32)
    return r / (len(f) - 1) - 0.5


class PSO:  # Shi & Eberhart 1998 inertia form, w 0.7298, c1 = c2 = 1.49618
    def __init__(s):
        s.x = mean0 + 0.1 * torch.randn(n, P)
        s.v = torch.zeros(n, P)
        s.pbest, s.pf = s.x.clone(), torch.full((n,), math.inf)
        s.g, s.gf = mean0.clone(), math.inf

    def ask(s):
        return s.x

    def tell(s, f):
        imp = f < s.pf
        s.pbest[imp] = s.x[imp]
        s.pf = torch.minimum(f, s.pf)
        gi = int(s.pf.argmin())
        if s.pf[gi] < s.gf:
            s.g, s.gf = s.pbest[gi].clone(), float(s.pf[gi])
        r1, r2 = torch.rand(n, P), torch.rand(n, P)
        s.v.mul_(0.7298).addcmul_(r1, s.pbest - s.x, value=1.49618).addcmul_(r2, s.g - s.x, value=1.49618)
        s.x.add_(s.v)


class APSO:  # Yang: x <- (1 - beta) x + beta g + alpha_t eps
    def __init__(s):
        s.x = mean0 + 0.1 * torch.randn(n, P)
        s.g, s.gf, s.t = mean0.clone(), math.inf, 0

    def ask(s):
        return s.x

    def tell(s, f):
        bi = int(f.argmin())
        if f[bi] < s.gf:
            s.g, s.gf = s.x[bi].clone(), float(f[bi])
        noise = 0.02 * 0.97 ** s.t
        s.t += 1
        s.x.mul_(0.5).add_(s.g, alpha=0.5).add_(torch.randn(n, P), alpha=noise)


class GA:  # tournament 2, intermediate crossover 0.9, Gaussian mutation sigma, 1 elite
    def __init__(s):
        s.x = mean0 + 0.1 * torch.randn(n, P)

    def ask(s):
        return s.x

    def tell(s, f):
        nsel = n - 1
        cand = torch.randint(n, (2, nsel, 2))
        win = cand.gather(2, f[cand].argmin(2, keepdim=True)).squeeze(2)
        elite = f.argmin().view(1)
        ia, ib = torch.cat([elite, win[0]]), torch.cat([elite, win[1]])
        cx = torch.cat([torch.zeros(1), (torch.rand(nsel) < 0.9).float()])
        mut = torch.cat([torch.zeros(1), torch.full((nsel,), 0.1)])
        a, b = s.x[ia], s.x[ib]
        s.x = a + cx[:, None] * (torch.rand(n, P) * (b - a)) + mut[:, None] * torch.randn(n, P)


class DE:  # rand/1/bin, F 0.5, CR 0.9
    def __init__(s):
        s.x = mean0 + 0.1 * torch.randn(n, P)
        s.fx = None

    def ask(s):
        if s.fx is None:
            s.u = s.x
            return s.x
        # r1, r2, r3 distinct and not i: the first three of a random order of the others
        keys = torch.rand(n, n)
        keys[torch.arange(n), torch.arange(n)] = 2.0
        r = keys.argsort(1)[:, :3]
        v = s.x[r[:, 0]] + 0.5 * (s.x[r[:, 1]] - s.x[r[:, 2]])
        M = torch.rand(n, P) <= 0.9
        M[torch.arange(n), torch.randint(P, (n,))] = True
        s.u = torch.where(M, v, s.x)
        return s.u

    def tell(s, f):
        if s.fx is None:
            s.fx = f.clone()
            return
        take = f <= s.fx
        s.x[take] = s.u[take]
        s.fx = torch.where(take, f, s.fx)


class CEM:  # elites 20%, lr 1
    def __init__(s):
        s.mu, s.std = mean0.clone(), torch.full((P,), 0.1)

    def ask(s):
        s.x = s.mu + s.std * torch.randn(n, P)
        return s.x

    def tell(s, f):
        E = s.x[f.argsort()[: max(2, math.ceil(0.2 * n))]]
        s.mu = E.mean(0)
        s.std = E.std(0, unbiased=False)


class OpenES:  # Salimans et al. 2017: antithetic pairs, centred ranks, Adam (lr 0.01), l2 0.005
    def __init__(s):
        s.theta, s.m, s.v, s.t = mean0.clone(), torch.zeros(P), torch.zeros(P), 0

    def ask(s):
        s.eps = torch.randn(n // 2, P)
        x = torch.empty(n, P)
        torch.add(s.theta, s.eps, alpha=0.02, out=x[0::2])
        torch.sub(s.theta, s.eps, alpha=0.02, out=x[1::2])
        return x

    def tell(s, f):
        r = centered_ranks(f)
        w = r[0::2] - r[1::2]
        g = (w @ s.eps) / (n * 0.02) + 0.005 * s.theta  # the gradient of the minimised loss
        s.t += 1
        s.m.mul_(0.9).add_(g, alpha=0.1)
        s.v.mul_(0.999).addcmul_(g, g, value=0.001)
        a = 0.01 * math.sqrt(1 - 0.999 ** s.t) / (1 - 0.9 ** s.t)
        s.theta.addcdiv_(s.m, s.v.sqrt().add_(1e-8), value=-a)


def snes_utilities(lam):  # Wierstra et al. 2014, section 3.1, best first
    k = torch.arange(1, lam + 1, dtype=torch.float32)
    u = torch.clamp(math.log(lam / 2 + 1) - torch.log(k), min=0)
    return u / u.sum() - 1 / lam


class SNES:  # Wierstra et al. 2014, Algorithm 6: eta_mu 1, eta_sigma (3 + ln d) / (5 sqrt d)
    def __init__(s):
        s.mu, s.sigma = mean0.clone(), torch.ones(P)
        s.eta_sigma = (3 + math.log(P)) / (5 * math.sqrt(P))
        s.util = snes_utilities(n)

    def ask(s):
        s.s = torch.randn(n, P)
        return s.mu + s.sigma * s.s

    def tell(s, f):
        u = torch.empty(n)
        u[f.argsort()] = s.util
        g_mu = u @ s.s
        g_sigma = u @ s.s.square() - u.sum()
        s.mu.addcmul_(s.sigma, g_mu)
        s.sigma.mul_(torch.exp(0.5 * s.eta_sigma * g_sigma))


class PGPE:  # Sehnke et al. 2010 symmetric sampling, ClipUp (momentum 0.9, max_speed 0.15)
    def __init__(s):
        s.mu, s.sigma, s.vel = mean0.clone(), torch.full((P,), 0.1), torch.zeros(P)

    def ask(s):
        s.eps = s.sigma * torch.randn(n // 2, P)
        x = torch.empty(n, P)
        torch.add(s.mu, s.eps, out=x[0::2])
        torch.sub(s.mu, s.eps, out=x[1::2])
        return x

    def tell(s, f):
        r = -centered_ranks(f)  # maximised utility
        rp, rm = r[0::2], r[1::2]
        npairs = n // 2
        g_mu = ((rp - rm) / 2) @ s.eps / npairs
        b = r.mean()
        g_sigma = (((rp + rm) / 2 - b) @ (s.eps.square() - s.sigma.square())) / s.sigma / npairs
        # ClipUp: a normalised step with momentum, the speed clipped at max_speed
        s.vel.mul_(0.9).add_(g_mu / g_mu.norm().clamp_min(1e-12), alpha=0.075)
        speed = s.vel.norm()
        if speed > 0.15:
            s.vel.mul_(0.15 / speed)
        s.mu.add_(s.vel)
        step = (0.1 * g_sigma).clamp(-0.2 * s.sigma, 0.2 * s.sigma)
        s.sigma.add_(step)


class CMAES:  # sep-CMA-ES (Ros & Hansen 2008) with the tutorial's active weights, float64 state
    def __init__(s):
        d = P
        s.m, s.sigma = mean0.double(), 0.3
        s.C, s.ps, s.pc = torch.ones(d, dtype=torch.float64), torch.zeros(d, dtype=torch.float64), torch.zeros(d, dtype=torch.float64)
        lam, mu = n, n // 2
        wp = torch.tensor([math.log((lam + 1) / 2) - math.log(i + 1) for i in range(lam)], dtype=torch.float64)
        pos = wp[:mu]
        s.mueff = float(pos.sum() ** 2 / (pos ** 2).sum())
        neg = wp[mu:]
        mueff_neg = float(neg.sum() ** 2 / (neg ** 2).sum())
        s.cs = (s.mueff + 2) / (d + s.mueff + 5)
        s.ds = 1 + 2 * max(0, math.sqrt((s.mueff - 1) / (d + 1)) - 1) + s.cs
        s.cc = (4 + s.mueff / d) / (d + 4 + 2 * s.mueff / d)
        c1 = 2 / ((d + 1.3) ** 2 + s.mueff)
        cmu = min(1 - c1, 2 * (s.mueff - 2 + 1 / s.mueff) / ((d + 2) ** 2 + s.mueff))
        s.c1, s.cmu = c1 * (d + 2) / 3, min(1 - c1 * (d + 2) / 3, cmu * (d + 2) / 3)  # sep: x (n + 2) / 3
        a_neg = min(1 + c1 / cmu, 1 + 2 * mueff_neg / (s.mueff + 2))
        s.w = torch.cat([pos / pos.sum(), a_neg * neg / -neg.sum()])
        s.mu = mu
        s.chi = math.sqrt(d) * (1 - 1 / (4 * d) + 1 / (21 * d * d))

    def ask(s):
        s.z = torch.randn(n, P).double()
        s.y = s.z * s.C.sqrt()
        return (s.m + s.sigma * s.y).float()

    def tell(s, f):
        idx = f.argsort()
        y, z = s.y[idx], s.z[idx]
        w = s.w.clone()
        wpos = w[: s.mu]
        ymean = wpos @ y[: s.mu]
        s.m.add_(ymean, alpha=s.sigma)
        s.ps.mul_(1 - s.cs).add_(ymean / s.C.sqrt(), alpha=math.sqrt(s.cs * (2 - s.cs) * s.mueff))
        hsig = float(s.ps.norm()) / math.sqrt(1 - (1 - s.cs) ** 2) / s.chi < 1.4 + 2 / (P + 1)
        s.pc.mul_(1 - s.cc).add_(ymean, alpha=hsig * math.sqrt(s.cc * (2 - s.cc) * s.mueff))
        w[s.mu:] *= P / z[s.mu:].square().sum(1)  # the active weights' rescaling
        s.C.mul_(1 - s.c1 - s.cmu * float(s.w.sum())).addcmul_(s.pc, s.pc, value=s.c1).add_(w @ y.square(), alpha=s.cmu)
        s.sigma *= math.exp(s.cs / s.ds * (float(s.ps.norm()) / s.chi - 1))


if check:
    for name in names:
        es = globals()[name]()
        f0 = None
        for k in range(reps):
            x = es.ask()
            f = x.double().square().sum(1).float()
            f0 = float(f.min()) if f0 is None else f0
            es.tell(f)
        print("check strategy=%s sphere best: first generation %.4g, generation %d %.4g" % (name, f0, reps, float(f.min())))
    sys.exit(0)

fit = [torch.randn(n) for _ in range(reps + 2)]
for name in names:
    es = globals()[name]()
    ts = []
    for k in range(reps + 2):
        t0 = time.process_time()
        es.ask()
        es.tell(fit[k])
        ts.append((time.process_time() - t0) * 1e3)
    print("pytorch strategy=%s ms=%.2f" % (name, statistics.median(ts[2:])), flush=True)
    del es
print("pytorch n=%d P=%d threads=%d" % (n, P, torch.get_num_threads()))
