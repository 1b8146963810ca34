"""pfc_golden.py - every brainstage pFC against numpy corrcoef on the same kept
time points (exported by the C side), within 1e-5 absolute.

Covers keep fractions near 0.5 and near 1, ranges, block mode, Fisher z,
T up to 1200 and R up to 400, and data with a large offset and a trend (the
cancellation case).  Also shows that a naive float32 Gram downdate without
re-centring fails on that data, so the compensation is what earns the
accuracy.
"""
import os
import subprocess
import sys
import tempfile
import time

try:
    import numpy as np
except ImportError:
    sys.exit(1 if os.environ.get("BRAINSTAGE_REQUIRE_PYTHON") == "1" else 77)

TOOL = os.path.join(os.environ.get("top_builddir", "."), "tests", "test_pfc_tool")
ATOL = 1e-5
failures = 0


def make_series(T, R, seed, offset=0.0, trend=0.0):
    """Low-rank 'network' structure + noise, optional offset and linear trend."""
    rng = np.random.default_rng(seed)
    k = max(2, R // 10)
    x = rng.standard_normal((T, k)) @ rng.standard_normal((k, R)) + 0.7 * rng.standard_normal((T, R))
    x += offset * (1.0 + rng.random(R))
    x += trend * np.linspace(-1, 1, T)[:, None] * rng.standard_normal(R)
    return x.astype(np.float32)


def run(x, n, keep_min, keep_max, mode="individual", fisher=0, seed=1, threads=2):
    T, R = x.shape
    with tempfile.TemporaryDirectory() as tmp:
        src = os.path.join(tmp, "x.f32")
        x.tofile(src)
        prefix = os.path.join(tmp, "out")
        res = subprocess.run([TOOL, src, str(T), str(R), str(n), repr(keep_min), repr(keep_max), mode,
                              str(fisher), str(seed), str(threads), prefix], capture_output=True, text=True)
        if res.returncode != 0:
            raise SystemExit(f"tool failed: {res.stderr}")
        pfc = np.fromfile(prefix + ".pfc", dtype=np.float32).reshape(n, R, R)
        raw = np.fromfile(prefix + ".kept", dtype=np.int32)
    kept, pos = [], 0
    for _ in range(n):
        c = raw[pos]
        kept.append(raw[pos + 1:pos + 1 + c])
        pos += 1 + c
    return pfc, kept


def check_case(label, x, n, keep_min, keep_max, mode="individual", fisher=0):
    global failures
    T, R = x.shape
    pfc, kept = run(x, n, keep_min, keep_max, mode, fisher)
    xd = x.astype(np.float64)
    worst = 0.0
    for i in range(n):
        idx = kept[i]
        m = len(idx)
        lo, hi = int(np.floor(keep_min * T)) - 1, int(np.ceil(keep_max * T)) + 1
        if not (lo <= m <= hi) or np.any(np.diff(idx) <= 0) or idx[0] < 0 or idx[-1] >= T:
            failures += 1
            print(f"FAIL {label}: sample {i}: bad kept set (m={m})")
            continue
        if mode == "block" and idx[-1] - idx[0] != m - 1:
            failures += 1
            print(f"FAIL {label}: sample {i}: block not contiguous")
        ref = np.corrcoef(xd[idx], rowvar=False)
        if fisher:
            off = ~np.eye(R, dtype=bool)
            refz = np.zeros_like(ref)
            refz[off] = np.arctanh(np.clip(ref[off], -1 + 1e-7, 1 - 1e-7))
            # atanh'(r) = 1/(1-r^2): the tolerance follows the derivative.
            tol = ATOL / np.maximum(1e-12, 1 - ref ** 2)
            err = np.abs(pfc[i] - refz) / tol * ATOL
        else:
            err = np.abs(pfc[i].astype(np.float64) - ref)
        worst = max(worst, float(err.max()))
    ok = worst <= ATOL
    if not ok:
        failures += 1
    print(f"{'ok  ' if ok else 'FAIL'} {label:44s} T={T:5d} R={R:4d} n={n:4d} max|err|={worst:.2e}")
    return worst


def naive_error(x, keep, start=None, seed=3):
    """The same Gram algebra done the obvious way: data centred on the full
    mean in float32, kept-set Gram (or full minus dropped) and the rank-1
    mean correction all in float32, no re-centring of the subset.  Shows
    what the per-subset centring and double corrections buy."""
    x = (x - x.mean(0, dtype=np.float64)).astype(np.float32)
    T = len(x)
    m = int(round(keep * T))
    if start is None:
        kept = np.sort(np.random.default_rng(seed).choice(T, m, replace=False))
    else:
        kept = np.arange(start, start + m)
    drop = np.setdiff1d(np.arange(T), kept)
    if m <= T - m:
        G, s = x[kept].T @ x[kept], x[kept].sum(0)
    else:
        G, s = x.T @ x - x[drop].T @ x[drop], x.sum(0) - x[drop].sum(0)
    C = G - np.outer(s, s) / np.float32(m)
    d = np.sqrt(np.maximum(np.diag(C), 1e-30))
    return float(np.abs(C / np.outer(d, d) - np.corrcoef(x[kept].astype(np.float64), rowvar=False)).max())


t0 = time.time()
small = make_series(200, 116, 1)
check_case("keep 0.8 individual", small, 160, 0.8, 0.8)
check_case("keep 0.5 individual", small, 80, 0.5, 0.5)
check_case("keep 0.49/0.51 range", small, 80, 0.49, 0.51)
check_case("keep 0.97..0.995 (near 1)", small, 80, 0.97, 0.995)
check_case("keep 1.0 (all points)", small, 5, 1.0, 1.0)
check_case("keep 0.3..0.9 range", small, 60, 0.3, 0.9)
check_case("block keep 0.8", small, 80, 0.8, 0.8, mode="block")
check_case("block keep 0.3..0.7", small, 80, 0.3, 0.7, mode="block")
check_case("fisher keep 0.8", small, 60, 0.8, 0.8, fisher=1)
offset = make_series(300, 64, 2, offset=1000.0, trend=3.0)
check_case("offset 1000 + trend, keep 0.8", offset, 80, 0.8, 0.8)
check_case("offset 1000 + trend, block 0.6", offset, 80, 0.6, 0.6, mode="block")
check_case("offset 1000 + trend, keep 0.25", offset, 80, 0.25, 0.25)
big = make_series(1200, 400, 4)
check_case("T=1200 R=400 keep 0.8", big, 8, 0.8, 0.8)
check_case("T=1200 R=400 keep 0.5", big, 4, 0.5, 0.5)
check_case("T=1200 R=400 keep 0.98", big, 4, 0.98, 0.98)
check_case("T=1200 R=400 block 0.7", big, 4, 0.7, 0.7, mode="block")
drift = make_series(300, 64, 5, offset=1000.0, trend=30.0)
check_case("offset 1000 + strong drift, block 0.3", drift, 60, 0.3, 0.3, mode="block")
check_case("offset 1000 + strong drift, block 0.6", drift, 60, 0.6, 0.6, mode="block")
print(f"for comparison, naive float32 algebra on the drifting series: block 0.3 "
      f"max|err|={naive_error(drift, 0.3, start=0):.2e}, block 0.6 {naive_error(drift, 0.6, start=0):.2e}, "
      f"individual 0.8 {naive_error(drift, 0.8):.2e}")
print(f"elapsed {time.time() - t0:.1f} s")
if failures:
    print(f"{failures} failure(s)")
    sys.exit(1)
print("pfc golden: all passed")
