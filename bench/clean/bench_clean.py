#!/usr/bin/env python3
"""bench_clean.py - brainstage clean + fc vs a numpy/scipy peer, one run.

Input: T x R float32 ROI series and an fMRIPrep-like confounds table (36P,
FD with ~5 % of volumes above 0.5 mm), written once as TSV.
  brainstage: tests/test_clean_tool (bs_clean, then bs_fc_compute Pearson and
              Ledoit-Wolf); the time of the library call alone (compute_ms,
              data in memory; TSV I/O excluded), best of 3 processes.
  peer:       the XCP-D-order pipeline in numpy/scipy (CubicSpline, lstsq
              detrend, butter+sosfiltfilt, lstsq regression, censoring), then
              np.corrcoef and sklearn ledoit_wolf; compute only, best of 3.
Usage: bench_clean.py [T R]   (default 1200 400); env top_builddir.
Prints both times and the ratio peer / brainstage.
"""
import os
import subprocess
import sys
import tempfile
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import blas_info  # noqa: E402

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tests"))
import clean_reference as ref  # noqa: E402  (the golden-test reference pipeline)

TOOL = os.path.join(os.environ.get("top_builddir", "."), "tests", "test_clean_tool")


def tool_ms(args, n=3):
    best = None
    for _ in range(n):
        out = subprocess.run(args, check=True, capture_output=True, text=True).stdout
        ms = float(out.split("compute_ms")[1].split()[0]) / 1000.0
        best = ms if best is None else min(best, ms)
    return best


def best_of(fn, n=3):
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def main():
    T = int(sys.argv[1]) if len(sys.argv) > 1 else 1200
    R = int(sys.argv[2]) if len(sys.argv) > 2 else 400
    rng = np.random.default_rng(1)
    names, table = ref.make_confounds(rng, T)
    Y = (1000 + np.cumsum(rng.normal(0, 0.5, (T, R)), axis=0) + rng.normal(0, 3, (T, R)))
    Y = Y.astype(np.float32).astype(np.float64)
    p = dict(strategy="36P", dummy=0, fd=0.5, hp=0.01, lp=0.08, order=2, pad="odd", detrend=1, censor=1,
             zscore=0, tr=0.8)
    with tempfile.TemporaryDirectory() as tmp:
        ts, conf, out, fc = (os.path.join(tmp, n) for n in ("ts.tsv", "conf.tsv", "out.tsv", "fc.tsv"))
        ref.write_tsv(ts, ["roi%03d" % i for i in range(R)], Y)
        ref.write_tsv(conf, names, table)
        _, table = ref.read_tsv(conf)
        args = [TOOL, "clean", ts, out, f"confounds={conf}"] + [f"{k}={v}" for k, v in p.items()]
        bs_clean = tool_ms(args)
        bs_fc = tool_ms([TOOL, "fc", out, fc, "kind=pearson"])
        bs_lw = tool_ms([TOOL, "fc", out, fc, "kind=ledoit_wolf"])
    from sklearn.covariance import ledoit_wolf
    cleaned = ref.reference(Y, names, table, p)
    py_clean = best_of(lambda: ref.reference(Y, names, table, p))
    py_fc = best_of(lambda: np.corrcoef(cleaned, rowvar=False))
    z = (cleaned - cleaned.mean(0)) / cleaned.std(0)
    py_lw = best_of(lambda: ledoit_wolf(z))
    print(f"input: T={T} volumes x R={R} ROIs, 36P ({len(ref.select(names, table, '36P', []).T)} regressors), "
          f"band 0.01-0.08 Hz order 2, FD censoring (kept {cleaned.shape[0]})")
    print(blas_info.describe())
    print(f"threads: OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'default')}")
    for label, b, q in (("clean", bs_clean, py_clean), ("fc pearson", bs_fc, py_fc), ("fc ledoit_wolf", bs_lw, py_lw)):
        print(f"{label:15s} brainstage {b * 1000:8.1f} ms (compute)   "
              f"numpy/scipy {q * 1000:8.1f} ms (compute)   ratio peer/brainstage {q / b:5.2f}x")


if __name__ == "__main__":
    main()
