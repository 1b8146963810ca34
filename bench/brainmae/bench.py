#!/usr/bin/env python3
"""bench/brainmae/bench.py - BrainMAE training step (forward + backward +
AdamW), brainstage C vs PyTorch CPU, same config, same run, 2 threads each.

usage: bench.py [--builddir DIR] [--steps N] [--config medium|paper|tiny]
Prints ms/step for both, the ratio (PyTorch time / C time) and GFLOP/s from
an analytic count of the matmul work (forward x 3 for forward + backward).
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
                   n_encoder=3, n_temporal=2, n_decoder=1, B=8),
    "paper": dict(R=100, tau=21, S=20, d=128, dk=64, ffn=256, heads=4, encoder="sg",
                  n_encoder=3, n_temporal=4, n_decoder=2, B=8),
    "tiny": dict(R=20, tau=10, S=4, d=32, dk=16, ffn=64, heads=4, encoder="sg",
                 n_encoder=3, n_temporal=1, n_decoder=1, B=8),
}


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


def run_c(builddir, c, steps):
    exe = os.path.join(builddir, "bench", "brainmae", "bench_brainmae")
    args = [exe] + [str(c[k]) for k in ("R", "tau", "S", "d", "dk", "ffn", "heads", "encoder",
                                          "n_encoder", "n_temporal", "n_decoder", "B")]
    env = dict(os.environ, OMP_NUM_THREADS="2", OPENBLAS_NUM_THREADS="2")
    out = subprocess.run(args + [str(steps)], check=True, capture_output=True, text=True,
                         env=env).stdout
    return {k: float(v) for k, v in (line.split() for line in out.splitlines())}


def run_torch(c, steps):
    import torch
    import brainmae_ref as ref
    torch.set_num_threads(2)
    cfg = dict(c, gelu="tanh", w_masked=0.75, w_unmasked=0.25)
    gen = torch.Generator().manual_seed(1)
    params = {k: v.float().requires_grad_(True) for k, v in ref.init_params(cfg, gen).items()}
    specs = ref.param_specs(cfg)
    opt = torch.optim.AdamW(
        [{"params": [params[n] for n, _, dflag in specs if dflag], "weight_decay": 0.05},
         {"params": [params[n] for n, _, dflag in specs if not dflag], "weight_decay": 0.0}],
        lr=1e-3)
    B, S, R, tau = c["B"], c["S"], c["R"], c["tau"]
    X = torch.randn(B, S, R, tau, generator=gen)
    M = (torch.rand(B, S, R, generator=gen) < 0.7).float()
    V = torch.ones(B, R)
    times = []
    for s in range(steps + 1):
        t0 = time.perf_counter()
        opt.zero_grad()
        loss = ref.forward(params, cfg, X, M, V)["loss"]
        loss.backward()
        opt.step()
        if s > 0:
            times.append(time.perf_counter() - t0)
    return {"ms_mean": 1e3 * sum(times) / len(times), "ms_best": 1e3 * min(times),
            "params": sum(p.numel() for p in params.values()), "torch": torch.__version__}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--builddir", default=os.environ.get("top_builddir", "."))
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--config", default="medium", choices=sorted(CONFIGS))
    a = ap.parse_args()
    c = CONFIGS[a.config]
    load = os.getloadavg()[0]
    cres = run_c(a.builddir, c, a.steps)
    tres = run_torch(c, a.steps)
    gf = flops(c) / 1e9
    print("BrainMAE training step, config %s %s, %d steps after 1 warm-up, 2 threads each"
          % (a.config, c, a.steps))
    print("load average at start: %.1f on %d cores (timings taken under load); "
          "OMP_WAIT_POLICY=%s for both" % (load, os.cpu_count(), os.environ["OMP_WAIT_POLICY"]))
    print("parameters: C %d, PyTorch %d" % (cres["c_params"], tres["params"]))
    print("brainstage C : %9.1f ms/step mean, %9.1f best  (%.2f GFLOP/s on best)"
          % (cres["c_ms_mean"], cres["c_ms_best"], gf / (cres["c_ms_best"] / 1e3)))
    print("PyTorch %s: %9.1f ms/step mean, %9.1f best  (%.2f GFLOP/s on best)"
          % (tres["torch"], tres["ms_mean"], tres["ms_best"], gf / (tres["ms_best"] / 1e3)))
    print("speed-up C vs PyTorch: %.2fx (mean), %.2fx (best)"
          % (tres["ms_mean"] / cres["c_ms_mean"], tres["ms_best"] / cres["c_ms_best"]))


if __name__ == "__main__":
    main()
