#!/usr/bin/env python3
"""bench/nn/bench_nn.py - nn core ops vs PyTorch CPU, same thread count.

Times forward and forward+backward of a linear layer and of multi-head
self-attention at BrainMass reference shapes (tokens = 100 ROIs of width
100, 10 heads, FFN 2048, batch 32) and a BrainMAE-like shape, in C
(bench/nn/bench_nn) and in PyTorch, in one run; prints medians, the ratio
(PyTorch time / C time, > 1 means C is faster) and achieved GFLOP/s.

Usage: bench_nn.py [--threads N] [--reps K] [--driver PATH]
"""
import argparse
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import torch_threads  # noqa: E402

torch_threads.set_from_argv()  # before torch loads OpenBLAS

import torch  # noqa: E402


def median_ms(fn, reps):
    fn()
    ts = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        ts.append((time.perf_counter() - t0) * 1e3)
    ts.sort()
    return ts[len(ts) // 2]


def torch_linear(N, i, o, reps):
    lin = torch.nn.Linear(i, o)
    x = torch.randn(N, i, requires_grad=True)
    dy = torch.randn(N, o)
    with torch.no_grad():
        f = median_ms(lambda: lin(x), reps)

    def step():
        y = lin(x)
        y.backward(dy)
    return f, median_ms(step, reps)


def torch_mha(B, T, C, H, reps):
    m = torch.nn.MultiheadAttention(C, H, dropout=0.0, batch_first=True)
    x = torch.randn(B, T, C, requires_grad=True)
    dy = torch.randn(B, T, C)
    with torch.no_grad():
        f = median_ms(lambda: m(x, x, x, need_weights=False), reps)

    def step():
        y, _ = m(x, x, x, need_weights=False)
        y.backward(dy)
    return f, median_ms(step, reps)


def torch_attn(B, T, C, H, reps):
    """The attention core alone (what nn_attention_* computes): batched
    GEMMs and softmax on per-head views of a packed qkv, with autograd."""
    hd = C // H
    qkv = torch.randn(B, T, 3 * C, requires_grad=True)
    dout = torch.randn(B, T, C)

    def core():
        q, k, v = (t.reshape(B, T, H, hd).transpose(1, 2) for t in qkv.split(C, dim=-1))
        p = torch.softmax((q / hd ** 0.5) @ k.transpose(-1, -2), dim=-1)
        return (p @ v).transpose(1, 2).reshape(B, T, C)
    with torch.no_grad():
        f = median_ms(core, reps)

    def step():
        core().backward(dout)
    return f, median_ms(step, reps)


def c_run(driver, args, threads):
    env = dict(os.environ, OMP_NUM_THREADS=str(threads), OPENBLAS_NUM_THREADS=str(threads))
    out = subprocess.run([driver] + [str(a) for a in args], env=env, check=True,
                         capture_output=True, text=True).stdout
    kv = dict(p.split("=") for p in out.split())
    return float(kv["fwd_ms"]), float(kv["fwdbwd_ms"])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--reps", type=int, default=7)
    ap.add_argument("--driver", default=os.path.join(os.environ.get("top_builddir", "."),
                                                     "bench", "nn", "bench_nn"))
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    cases = [
        ("linear 3200x100->2048 (FFN up)", "linear", (3200, 100, 2048),
         2 * 3200 * 100 * 2048),
        ("linear 3200x2048->100 (FFN down)", "linear", (3200, 2048, 100),
         2 * 3200 * 100 * 2048),
        ("MHA B32 T100 C100 H10 (BrainMass)", "mha", (32, 100, 100, 10),
         8 * 3200 * 100 * 100 + 4 * 32 * 100 * 100 * 100),
        ("MHA B32 T100 C128 H4 (BrainMAE-like)", "mha", (32, 100, 128, 4),
         8 * 3200 * 128 * 128 + 4 * 32 * 100 * 100 * 128),
        ("attention core B32 T100 C100 H10", "attn", (32, 100, 100, 10), 4 * 32 * 100 * 100 * 100),
        ("attention core B32 T100 C128 H4", "attn", (32, 100, 128, 4), 4 * 32 * 100 * 100 * 128),
    ]
    print("threads=%d reps=%d torch=%s (ratio = torch/C; >1: C faster)" %
          (a.threads, a.reps, torch.__version__))
    print("%-38s %9s %9s %6s %8s %8s | %9s %9s %6s %8s" %
          ("case", "C fwd ms", "pt fwd ms", "ratio", "C GF/s", "pt GF/s",
           "C f+b ms", "pt f+b ms", "ratio", "C GF/s"))
    for label, kind, dims, flops in cases:
        cf, cfb = c_run(a.driver, [kind] + list(dims) + [a.reps], a.threads)
        if kind == "linear":
            pf, pfb = torch_linear(*dims, a.reps)
        elif kind == "attn":
            pf, pfb = torch_attn(*dims, a.reps)
        else:
            pf, pfb = torch_mha(*dims, a.reps)
        print("%-38s %9.2f %9.2f %6.2f %8.1f %8.1f | %9.2f %9.2f %6.2f %8.1f" %
              (label, cf, pf, pf / cf, flops / cf / 1e6, flops / pf / 1e6,
               cfb, pfb, pfb / cfb, 3 * flops / cfb / 1e6))
    return 0


if __name__ == "__main__":
    sys.exit(main())
