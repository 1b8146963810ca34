# bench/brainmass/bench.py - C BrainMass vs PyTorch CPU (our reference model,
# tests/brainmass_ref.py) in one run, same thread count: one full pretraining
# step (online encoder 4x fwd+bwd, target 2x fwd, AdamW, EMA) and eval-mode
# inference of the 8R embedding, for the reference shape and a demo shape.
#
# The two sides alternate (C, torch, torch, C, ...) for --repeats rounds, so
# load from other processes hits both alike; for each side the mean and the
# best samples/s are printed with their ratios, the achieved GFLOP/s of the
# best run, the CPU seconds per batch (all threads), and the load average.
# Set OPENBLAS_CORETYPE the same for both sides (it is inherited here).
import argparse
import json
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "tests"))
sys.path.insert(0, os.path.join(HERE, "..", "nn"))

import torch_threads  # noqa: E402

torch_threads.set_from_argv()  # before torch loads OpenBLAS

import torch  # noqa: E402

import brainmass_ref as ref  # noqa: E402
from threadpoolctl import threadpool_info, threadpool_limits  # noqa: E402


def threadpoolctl_blas_threads():
    """OpenBLAS's thread count as loaded (torch_threads set it from --threads)."""
    n = [i["num_threads"] for i in threadpool_info() if i.get("user_api") == "blas"]
    return n[0] if n else 1

SHAPES = {
    # name: rois, depth, heads, ffn, feature_dim, batch, train iters, infer iters
    "reference": (100, 16, 10, 2048, 1024, 32, 1, 3),
    "demo": (100, 2, 10, 128, 64, 32, 10, 40),
}


def encoder_flops(T, d, ffn, depth):
    per_layer = 2 * T * d * 3 * d + 4 * T * T * d + 2 * T * d * d + 4 * T * d * ffn
    return depth * per_layer


def step_flops(R, depth, ffn, F, B, mrm=5, nce=10):
    E = 8 * R
    enc = encoder_flops(R, R, ffn, depth) + 2 * R * R * 8
    g = 2 * E * 2 * E + 2 * 2 * E * F
    pred = 2 * F * 2 * F * 2
    masked = encoder_flops(R + 2, R, ffn, depth)
    heads = 4 * (mrm + nce) * R * ffn
    fwd = 2 * (enc + g) + 2 * (enc + g + pred) + 2 * masked + heads
    bwd = 2 * (2 * (enc + g + pred) + 2 * masked + heads)
    return B * (fwd + bwd)


def infer_flops(R, depth, ffn, B):
    return B * (encoder_flops(R, R, ffn, depth) + 2 * R * R * 8)


class TorchSide:
    """The reference model, its optimizer and fixed inputs for one shape."""

    def __init__(self, R, depth, heads, ffn, F, B):
        torch.manual_seed(0)
        self.B = B
        self.model = ref.BrainMass(rois=R, depth=depth, heads=heads, ffn=ffn, feature_dim=F)
        self.gen = torch.Generator().manual_seed(1)
        self.v1 = 0.3 * torch.randn(B, R, R, generator=self.gen)
        self.v2 = 0.3 * torch.randn(B, R, R, generator=self.gen)
        self.opt = torch.optim.AdamW(self.model.trainable_parameters(True), lr=1e-4, weight_decay=5e-5)
        self.warm = False

    def _step(self):
        m = self.model
        ref.train_step(m, self.opt, self.v1, self.v2, m.random_masks(self.B, 5, self.gen),
                       m.random_masks(self.B, 10, self.gen))

    def run(self, n_train, n_infer):
        """-> (train s/step, train cpu s/step, infer s/batch, infer cpu s/batch),
        each the better of torch with OpenBLAS at the full thread count and
        at one thread: torch parallelises some ops itself, and on 2 cores
        its batched matmuls ran up to 1.3x faster with single-threaded
        OpenBLAS (reference-shape inference, quiet machine), so the peer
        gets whichever is faster for each mode."""
        runs = []
        for blas in sorted({threadpoolctl_blas_threads(), 1}, reverse=True):
            with threadpool_limits(limits=blas, user_api="blas"):
                runs.append(self._run(n_train, n_infer))
        tt, ct = min(((r[0], r[1]) for r in runs), key=lambda x: x[0])
        ti, ci = min(((r[2], r[3]) for r in runs), key=lambda x: x[0])
        return tt, ct, ti, ci

    def _run(self, n_train, n_infer):
        self.model.train()
        if not self.warm:
            self._step()
        t0, c0 = time.perf_counter(), time.process_time()
        for _ in range(n_train):
            self._step()
        tt, ct = [(x1 - x0) / max(n_train, 1) for x0, x1 in
                  ((t0, time.perf_counter()), (c0, time.process_time()))]
        self.model.eval()
        with torch.no_grad():
            if not self.warm:
                self.model.online_network.feature(self.v1)
            t0, c0 = time.perf_counter(), time.process_time()
            for _ in range(n_infer):
                self.model.online_network.feature(self.v1)
            ti, ci = [(x1 - x0) / max(n_infer, 1) for x0, x1 in
                      ((t0, time.perf_counter()), (c0, time.process_time()))]
        self.warm = True
        return tt, ct, ti, ci


def c_run(c_bench, env, R, depth, heads, ffn, F, B, n_train, n_infer):
    out = subprocess.run([c_bench, str(R), str(depth), str(heads), str(ffn), str(F), str(B),
                          str(n_train), str(n_infer)], env=env, capture_output=True, text=True,
                         check=True)
    c = json.loads(out.stdout.strip().splitlines()[-1])
    return c["train_step_s"], c["train_cpu_s"], c["infer_batch_s"], c["infer_cpu_s"]


def summary(name, mode, B, c_times, t_times, c_cpu, t_cpu, flops):
    c_rate = [B / t for t in c_times]
    t_rate = [B / t for t in t_times]
    cm, cb = sum(c_rate) / len(c_rate), max(c_rate)
    tm, tb = sum(t_rate) / len(t_rate), max(t_rate)
    print(f"{name:10} {mode:6} {cm:9.2f} {cb:9.2f} {tm:9.2f} {tb:9.2f} {cm / tm:6.2f} {cb / tb:6.2f} "
          f"{flops * cb / B / 1e9:8.1f} {flops * tb / B / 1e9:8.1f} "
          f"{min(c_cpu):8.3f} {min(t_cpu):8.3f}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--c-bench", required=True, help="path of bench_brainmass")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--shapes", default="reference,demo")
    ap.add_argument("--repeats", type=int, default=3, help="alternating rounds per side")
    ap.add_argument("--modes", default="train,infer")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    env = dict(os.environ, OMP_NUM_THREADS=str(args.threads),
               OPENBLAS_NUM_THREADS=str(args.threads))
    modes = args.modes.split(",")
    print(f"BrainMass C vs PyTorch {torch.__version__} CPU, {args.threads} threads, "
          f"OPENBLAS_CORETYPE={os.environ.get('OPENBLAS_CORETYPE', '(unset)')}, "
          f"{args.repeats} alternating rounds per side; torch: best of OpenBLAS at "
          f"{threadpoolctl_blas_threads()} and 1 thread(s)")
    rows = []
    for name in args.shapes.split(","):
        R, depth, heads, ffn, F, B, n_train, n_infer = SHAPES[name]
        if "train" not in modes:
            n_train = 0
        if "infer" not in modes:
            n_infer = 0
        side = TorchSide(R, depth, heads, ffn, F, B)
        load0 = os.getloadavg()[0]
        res = {"c": [], "t": []}
        for rep in range(args.repeats):
            order = ("c", "t") if rep % 2 == 0 else ("t", "c")
            for who in order:
                if who == "c":
                    r = c_run(args.c_bench, env, R, depth, heads, ffn, F, B, n_train, n_infer)
                else:
                    r = side.run(n_train, n_infer)
                res[who].append(r)
                print(f"  {name} round {rep + 1} {'C    ' if who == 'c' else 'torch'}: "
                      + (f"train {B / r[0]:.2f} samples/s  " if n_train else "")
                      + (f"infer {B / r[2]:.2f} samples/s" if n_infer else ""), flush=True)
        load1 = os.getloadavg()[0]
        rows.append((name, B, res, n_train, n_infer, load0, load1,
                     step_flops(R, depth, ffn, F, B), infer_flops(R, depth, ffn, B)))
    print("\nsamples/s (mean and best over the rounds), ratio C/torch, GFLOP/s of the best run, "
          "CPU s per batch (best)")
    print(f"{'shape':10} {'mode':6} {'C mean':>9} {'C best':>9} {'pt mean':>9} {'pt best':>9} "
          f"{'r mean':>6} {'r best':>6} {'C GF/s':>8} {'pt GF/s':>8} {'C cpu':>8} {'pt cpu':>8}")
    for name, B, res, n_train, n_infer, load0, load1, fl_train, fl_inf in rows:
        for mode, k, n, fl in (("train", 0, n_train, fl_train), ("infer", 2, n_infer, fl_inf)):
            if n:
                summary(name, mode, B, [r[k] for r in res["c"]], [r[k] for r in res["t"]],
                        [r[k + 1] for r in res["c"]], [r[k + 1] for r in res["t"]], fl)
        print(f"{name:10} load average {load0:.1f} -> {load1:.1f}")
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
