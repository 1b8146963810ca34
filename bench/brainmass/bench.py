# bench/brainmass/bench.py - C BrainMass vs PyTorch CPU (our reference model,
# tests/brainmass_ref.py) in one run, same thread count: one full pretraining
# step (online encoder 4x fwd+bwd, target 2x fwd, AdamW, EMA) and eval-mode
# inference of the 8R embedding, for the reference shape and a demo shape.
# Prints samples/s for both, the ratio C/PyTorch and achieved GFLOP/s.
import argparse
import json
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "tests"))

import torch  # noqa: E402

import brainmass_ref as ref  # noqa: E402

SHAPES = {
    # name: rois, depth, heads, ffn, feature_dim, batch, train iters, infer iters
    "reference": (100, 16, 10, 2048, 1024, 32, 1, 2),
    "demo": (100, 2, 10, 128, 64, 32, 10, 20),
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


def torch_times(R, depth, heads, ffn, F, B, n_train, n_infer):
    torch.manual_seed(0)
    model = ref.BrainMass(rois=R, depth=depth, heads=heads, ffn=ffn, feature_dim=F)
    gen = torch.Generator().manual_seed(1)
    v1 = 0.3 * torch.randn(B, R, R, generator=gen)
    v2 = 0.3 * torch.randn(B, R, R, generator=gen)
    opt = torch.optim.AdamW(model.trainable_parameters(True), lr=1e-4, weight_decay=5e-5)

    def step():
        ref.train_step(model, opt, v1, v2, model.random_masks(B, 5, gen),
                       model.random_masks(B, 10, gen))

    model.train()
    step()
    t0 = time.perf_counter()
    for _ in range(n_train):
        step()
    t_train = (time.perf_counter() - t0) / n_train
    model.eval()
    with torch.no_grad():
        model.online_network.feature(v1)
        t0 = time.perf_counter()
        for _ in range(n_infer):
            model.online_network.feature(v1)
        t_infer = (time.perf_counter() - t0) / n_infer
    return t_train, t_infer


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--c-bench", required=True, help="path of bench_brainmass")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--shapes", default="reference,demo")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    env = dict(os.environ, OMP_NUM_THREADS=str(args.threads),
               OPENBLAS_NUM_THREADS=str(args.threads))
    print(f"BrainMass C vs PyTorch {torch.__version__} CPU, {args.threads} threads "
          f"(shared machine: figures taken under load)")
    hdr = f"{'shape':10} {'mode':6} {'C samples/s':>12} {'torch samples/s':>16} {'ratio':>6} " \
          f"{'C GFLOP/s':>10} {'torch GFLOP/s':>14}"
    print(hdr)
    for name in args.shapes.split(","):
        R, depth, heads, ffn, F, B, n_train, n_infer = SHAPES[name]
        out = subprocess.run([args.c_bench, str(R), str(depth), str(heads), str(ffn), str(F), str(B),
                              str(n_train), str(n_infer)], env=env, capture_output=True, text=True,
                             check=True)
        c = json.loads(out.stdout.strip().splitlines()[-1])
        print(f"{name:10} C only: train {B / c['train_step_s']:.2f} samples/s, "
              f"infer {B / c['infer_batch_s']:.2f} samples/s (PyTorch running...)", flush=True)
        tt, ti = torch_times(R, depth, heads, ffn, F, B, n_train, n_infer)
        fl_train, fl_inf = step_flops(R, depth, ffn, F, B), infer_flops(R, depth, ffn, B)
        for mode, tc, tp, fl in (("train", c["train_step_s"], tt, fl_train),
                                 ("infer", c["infer_batch_s"], ti, fl_inf)):
            print(f"{name:10} {mode:6} {B / tc:12.2f} {B / tp:16.2f} {tp / tc:6.2f} "
                  f"{fl / tc / 1e9:10.1f} {fl / tp / 1e9:14.1f}")
        sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
