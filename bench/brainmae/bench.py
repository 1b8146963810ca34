#!/usr/bin/env python3
"""bench/brainmae/bench.py - BrainMAE training step (training forward,
backward, AdamW), brainstage C vs PyTorch CPU, same config, same run, the
same thread count on both sides.

usage: bench.py [--builddir DIR] [--config medium|paper|tiny] [--rounds N]
                [--steps N] [--threads N] [--dropout P]

The two sides alternate: each round times `steps` C steps (after one warm-up
step), then `steps` PyTorch steps, so a change in the machine's load hits
both.  Printed per side: wall ms/step (mean and best over every timed step
of every round), process CPU ms/step (all threads: less sensitive to other
jobs on a shared machine), and the ratios PyTorch / C; the load average at
the start and the end, OMP_WAIT_POLICY and OPENBLAS_CORETYPE.  GFLOP/s
comes from an analytic count of the matmul work (forward x 3).
"""
import argparse
import os
import subprocess
import sys
import time

# A shared, loaded machine deschedules spinning OpenMP workers: both sides
# use passive waiting (must be set before torch loads libgomp).
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "tests"))

CONFIGS = {
    # 100 ROIs (Schaefer-100), 15 s windows at TR 0.72 s = 21 samples
    "medium": dict(R=100, tau=21, S=8, d=64, dk=32, ffn=128, heads=4, encoder="sg",
                   n_encoder=3, n_temporal=2, n_decoder=1, B=8, dropout=0.0),
    "paper": dict(R=100, tau=21, S=20, d=128, dk=64, ffn=256, heads=4, encoder="sg",
                  n_encoder=3, n_temporal=4, n_decoder=2, B=8, dropout=0.0),
    "tiny": dict(R=20, tau=10, S=4, d=32, dk=16, ffn=64, heads=4, encoder="sg",
                 n_encoder=3, n_temporal=1, n_decoder=1, B=8, dropout=0.0),
}
ORDER = ("R", "tau", "S", "d", "dk", "ffn", "heads", "encoder", "n_encoder", "n_temporal",
         "n_decoder", "B", "dropout")


def flops(c):
    """Multiply-adds x 2 of one forward, x 3 for forward + backward."""
    R, tau, S, d, dk, f, B = c["R"], c["tau"], c["S"], c["d"], c["dk"], c["ffn"], c["B"]
    nt = B * S * R
    fw = 2 * nt * tau * d * 2                      # in_proj + dec_out
    for kind in (["ra"] * c["n_encoder"] if c["encoder"] == "sg"
                 else ["ra"] + ["sa"] * (c["n_encoder"] - 1)):
        fw += 2 * nt * (2 * d * f)                  # FFN
        fw += 2 * nt * d * d + 2 * nt * R * d if kind == "ra" else \
            2 * nt * 4 * d * d + 2 * 2 * nt * R * d
    nq = B * (S + 1)
    fw += c["n_temporal"] * (2 * nq * (4 * d * d + 2 * d * f) + 4 * nq * (S + 1) * d)
    fw += c["n_decoder"] * (2 * nt * (4 * d * d + 2 * d * f) + 4 * nt * R * d)
    return 3 * fw


def run_c(builddir, c, steps, threads):
    """One C round: a fresh process, one warm-up step, `steps` timed steps."""
    exe = os.path.join(builddir, "bench", "brainmae", "bench_brainmae")
    args = [exe] + [str(c[k]) for k in ORDER] + [str(steps)]
    env = dict(os.environ, OMP_NUM_THREADS=str(threads), OPENBLAS_NUM_THREADS=str(threads))
    out = subprocess.run(args, check=True, capture_output=True, text=True, env=env).stdout
    r = {k: float(v) for k, v in (line.split() for line in out.splitlines())}
    return r


class TorchPeer:
    """The PyTorch twin (tests/brainmae_ref.py, autograd, float32) with
    torch's own dropout at the same rate."""

    def __init__(self, c, threads):
        import torch
        import brainmae_ref as ref
        self.torch, self.ref = torch, ref
        torch.set_num_threads(threads)
        self.cfg = dict(c, gelu="tanh", w_masked=0.75, w_unmasked=0.25)
        gen = torch.Generator().manual_seed(1)
        self.params = {k: v.float().requires_grad_(True)
                       for k, v in ref.init_params(self.cfg, gen).items()}
        specs = ref.param_specs(self.cfg)
        self.opt = torch.optim.AdamW(
            [{"params": [self.params[n] for n, _, dflag in specs if dflag], "weight_decay": 0.05},
             {"params": [self.params[n] for n, _, dflag in specs if not dflag],
              "weight_decay": 0.0}], lr=1e-3)
        B, S, R, tau = c["B"], c["S"], c["R"], c["tau"]
        self.X = torch.randn(B, S, R, tau, generator=gen)
        self.M = (torch.rand(B, S, R, generator=gen) < 0.7).float()
        self.V = torch.ones(B, R)
        self.drop = ref.Dropout(c["dropout"], native=True)
        self.step()  # warm-up (allocator, thread pool)

    def step(self):
        self.opt.zero_grad()
        loss = self.ref.forward(self.params, self.cfg, self.X, self.M, self.V, self.drop)["loss"]
        loss.backward()
        self.opt.step()

    def round(self, steps):
        wall, cpu = [], []
        for _ in range(steps):
            t0, c0 = time.perf_counter(), time.process_time()
            self.step()
            wall.append(time.perf_counter() - t0)
            cpu.append(time.process_time() - c0)
        return wall, cpu


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--builddir", default=os.environ.get("top_builddir", "."))
    ap.add_argument("--config", default="medium", choices=sorted(CONFIGS))
    ap.add_argument("--rounds", type=int, default=4)
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--dropout", type=float, default=None,
                    help="training dropout on both sides (default: the model default, 0)")
    a = ap.parse_args()
    c = dict(CONFIGS[a.config])
    if a.dropout is not None:
        c["dropout"] = a.dropout
    load0 = os.getloadavg()[0]
    peer = TorchPeer(c, a.threads)
    c_mean, c_best, c_cpu, t_wall, t_cpu = [], [], [], [], []
    for _ in range(a.rounds):
        r = run_c(a.builddir, c, a.steps, a.threads)
        c_mean.append(r["c_ms_mean"])
        c_best.append(r["c_ms_best"])
        c_cpu.append(r["c_cpu_ms"])
        w, cp = peer.round(a.steps)
        t_wall += w
        t_cpu += cp
    load1 = os.getloadavg()[0]
    cm, cb, cc = sum(c_mean) / len(c_mean), min(c_best), sum(c_cpu) / len(c_cpu)
    tm, tb = 1e3 * sum(t_wall) / len(t_wall), 1e3 * min(t_wall)
    tc = 1e3 * sum(t_cpu) / len(t_cpu)
    gf = flops(c) / 1e9
    print("BrainMAE training step (forward with dropout %g, backward, AdamW), config %s %s"
          % (c["dropout"], a.config, {k: c[k] for k in ORDER}))
    print("%d threads each; %d alternating rounds of %d steps per side (after warm-up)"
          % (a.threads, a.rounds, a.steps))
    print("load average %.1f at start, %.1f at end, on %d cores; OMP_WAIT_POLICY=%s, "
          "OPENBLAS_CORETYPE=%s" % (load0, load1, os.cpu_count(), os.environ["OMP_WAIT_POLICY"],
                                    os.environ.get("OPENBLAS_CORETYPE", "(auto)")))
    print("parameters: C %d, PyTorch %d"
          % (r["c_params"], sum(p.numel() for p in peer.params.values())))
    print("brainstage C      : %8.1f ms/step mean, %8.1f best, CPU %8.1f ms/step  (%.1f GFLOP/s "
          "on best)" % (cm, cb, cc, gf / (cb / 1e3)))
    print("PyTorch %-10s: %8.1f ms/step mean, %8.1f best, CPU %8.1f ms/step  (%.1f GFLOP/s "
          "on best)" % (peer.torch.__version__, tm, tb, tc, gf / (tb / 1e3)))
    print("speed-up C vs PyTorch (%s): %.2fx mean, %.2fx best, %.2fx CPU time (target 1.5x)"
          % (a.config, tm / cm, tb / cb, tc / cc))


if __name__ == "__main__":
    main()
