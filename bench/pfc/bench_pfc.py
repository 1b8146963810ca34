"""bench_pfc.py - pFC throughput: brainstage vs numpy (np.corrcoef per sample).

One run measures, on the same inputs and thread count:
  * the sgemm peak of this machine (big OpenBLAS sgemm),
  * brainstage pFC/s (tests/test_pfc_tool, in-process timing, no I/O),
  * the numpy peer: np.corrcoef on the kept rows of each sample,
at R=116, T=200 and R=400, T=1200, keep 0.8 (individual time points), and
prints both rates, their ratio and brainstage's GFLOP/s against the peak.
GFLOP/s counts the Gram work actually done: R*R*s per pFC with
s = min(kept, dropped) (ssyrk: R(R+1)/2 multiply-adds per row).

Usage: make bench-pfc   (or top_builddir=BUILD python3 bench/pfc/bench_pfc.py)
Environment: BENCH_THREADS (default 2), BENCH_ROUNDS (alternating rounds,
best of each side kept; default 5).
"""
import os
import subprocess
import sys
import tempfile
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import blas_info  # noqa: E402

BUILD = os.environ.get("top_builddir", ".")
TOOL = os.path.join(BUILD, "tests", "test_pfc_tool")
THREADS = int(os.environ.get("BENCH_THREADS", "2"))
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "5"))
# Each round takes about half a second per side on a current 2-core machine:
# rounds of ~60 ms (the sizes used before) swung the ratio between 7.5x and
# 13x from run to run on an idle machine.
CASES = [  # (R, T, keep, brainstage batch, repeats, numpy samples)
    (116, 200, 0.8, 1000, 25, 3000),
    (400, 1200, 0.8, 60, 25, 150),
]


def series(T, R, seed):
    rng = np.random.default_rng(seed)
    k = max(2, R // 10)
    x = rng.standard_normal((T, k)) @ rng.standard_normal((k, R)) + rng.standard_normal((T, R))
    return x.astype(np.float32)


def brainstage_rate(x, keep, n, repeat):
    T, R = x.shape
    with tempfile.TemporaryDirectory() as tmp:
        src = os.path.join(tmp, "x.f32")
        x.tofile(src)
        out = subprocess.run([TOOL, src, str(T), str(R), str(n), str(keep), str(keep), "individual", "0", "1",
                              str(THREADS), os.path.join(tmp, "o"), str(repeat)],
                             capture_output=True, text=True, check=True).stdout.split()
    return float(out[3]) / float(out[1])


def numpy_rate(x, keep, n):
    T, R = x.shape
    m = int(round(keep * T))
    rng = np.random.default_rng(0)
    subsets = [np.sort(rng.choice(T, m, replace=False)) for _ in range(n)]
    np.corrcoef(x[subsets[0]], rowvar=False)
    t0 = time.perf_counter()
    for idx in subsets:
        np.corrcoef(x[idx], rowvar=False)
    return n / (time.perf_counter() - t0)


def main():
    if not os.path.exists(TOOL):
        sys.exit(f"{TOOL} not built: run `make check` or `make tests/test_pfc_tool` first")
    os.environ.setdefault("OPENBLAS_NUM_THREADS", str(THREADS))
    os.environ["OMP_NUM_THREADS"] = str(THREADS)
    load = os.getloadavg()[0]
    peak = max(float(subprocess.run([TOOL, "sgemm", "2048", str(THREADS)], capture_output=True, text=True,
                                    check=True).stdout.split()[1]) for _ in range(2))
    print(f"pFC benchmark: {THREADS} thread(s), {os.cpu_count()} CPU(s), load average {load:.1f}"
          f"{'  (machine under load: figures are pessimistic)' if load > 1.5 * (os.cpu_count() or 1) / 2 else ''}")
    print(blas_info.describe())
    print(f"sgemm peak (2048^3, {THREADS} threads): {peak:.1f} GFLOP/s")
    print(f"{'R':>4} {'T':>5} {'keep':>5} {'brainstage pFC/s':>17} {'numpy pFC/s':>12} {'ratio':>7} "
          f"{'GFLOP/s':>8} {'% peak':>7}")
    for R, T, keep, n, repeat, n_np in CASES:
        x = series(T, R, R)
        # Alternate the two sides and keep each one's best round, so a burst
        # of load from other processes does not land on one side only.
        bs = npr = 0.0
        for _ in range(ROUNDS):
            bs = max(bs, brainstage_rate(x, keep, n, repeat))
            npr = max(npr, numpy_rate(x, keep, n_np))
        m = int(round(keep * T))
        s = min(m, T - m)
        gflops = bs * R * R * s * 1e-9
        print(f"{R:4d} {T:5d} {keep:5.2f} {bs:17.0f} {npr:12.0f} {bs / npr:6.1f}x {gflops:8.1f} "
              f"{100 * gflops / peak:6.1f}%")


if __name__ == "__main__":
    main()
