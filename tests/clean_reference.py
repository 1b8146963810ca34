#!/usr/bin/env python3
"""clean_reference.py - bs_clean against a numpy/scipy re-implementation.

The reference follows XCP-D's order of operations with the same building
blocks XCP-D/nilearn use: scipy.interpolate.CubicSpline (not-a-knot) for
censored volumes (edges copy the nearest kept volume), polynomial detrend by
numpy.linalg.lstsq, scipy.signal.butter(output='sos') + sosfiltfilt (default
odd padding, or XCP-D's constant padding with padlen n-1), numpy lstsq fitted
on low-motion volumes, censoring, z-score (ddof 1).  Strategies 36P, 24P,
aCompCor (+ extra columns), aCompCorWMCSF (components chosen per tissue
from the confounds JSON's Mask/Retained; with 04 marked retained in the
reference only, the case fails at 1.95 max |diff|), none and custom.

Tolerance: |brainstage - reference| <= 1e-4 + 1e-4 * |reference| everywhere
(the acceptance figure of issue 3), NaN exactly where the reference is NaN.
Exit 77 (skip) without numpy/scipy unless BRAINSTAGE_REQUIRE_PYTHON=1.
"""
import json
import os
import subprocess
import sys
import tempfile

try:
    import numpy as np
    import scipy.interpolate
    import scipy.signal
except ImportError as exc:  # pragma: no cover
    print(f"skip: {exc}")
    sys.exit(1 if os.environ.get("BRAINSTAGE_REQUIRE_PYTHON") == "1" else 77)

ATOL, RTOL = 1e-4, 1e-4
TOOL = os.path.join(os.environ.get("top_builddir", "."), "tests", "test_clean_tool")
MOTION = ["trans_x", "trans_y", "trans_z", "rot_x", "rot_y", "rot_z"]


def write_tsv(path, names, data):
    with open(path, "w") as f:
        f.write("\t".join(names) + "\n")
        for row in data:
            f.write("\t".join("n/a" if not np.isfinite(v) else "%.9g" % v for v in row) + "\n")


def read_tsv(path):
    with open(path) as f:
        header = f.readline().rstrip("\n").split("\t")
        rows = [[np.nan if c == "n/a" else float(c) for c in line.rstrip("\n").split("\t")] for line in f]
    return header, np.array(rows, dtype=np.float64).reshape(len(rows), len(header))


def derivative(x):
    d = np.full_like(x, np.nan)
    d[1:] = np.diff(x)
    return d


def make_confounds(rng, T):
    cols = {}
    motion = np.cumsum(rng.normal(0, 0.03, (T, 6)), axis=0)
    motion[:, 3:] *= 0.01  # radians
    for i, name in enumerate(MOTION):
        cols[name] = motion[:, i]
    for name in ["csf", "white_matter", "global_signal"]:
        cols[name] = 500 + np.cumsum(rng.normal(0, 1.0, T)) + rng.normal(0, 2, T)
    for base in MOTION + ["csf", "white_matter", "global_signal"]:
        x = cols[base]
        d = derivative(x)
        cols[base + "_derivative1"] = d
        cols[base + "_power2"] = x ** 2
        cols[base + "_derivative1_power2"] = d ** 2
    for k in range(6):
        cols["a_comp_cor_%02d" % k] = rng.normal(0, 1, T) / np.sqrt(T)
    fd = np.abs(rng.normal(0.15, 0.1, T))
    fd[[3, 40, 41, 42, 90, T - 2, T - 1]] = 0.9  # spikes, a run, and the last volumes
    fd[0] = np.nan
    cols["framewise_displacement"] = fd
    cols["dvars"] = np.concatenate([[np.nan], np.abs(rng.normal(20, 3, T - 1))])
    ns = np.zeros((T, 2))
    ns[0, 0] = ns[1, 1] = 1
    cols["non_steady_state_outlier_00"] = ns[:, 0]
    cols["non_steady_state_outlier_01"] = ns[:, 1]
    names = list(cols)
    return names, np.column_stack([cols[n] for n in names])


# fMRIPrep's confounds JSON for the a_comp_cor columns of make_confounds:
# 00-02 CSF, 03-05 WM, 04 not retained (aCompCorWMCSF reads the Mask).
COMPCOR_MASKS = {"a_comp_cor_%02d" % k: {"Method": "aCompCor", "Mask": "CSF" if k < 3 else "WM",
                                          "Retained": k != 4} for k in range(6)}


def select(names, table, strategy, extra, acompcor_n=5):
    cols = []
    if strategy in ("24P", "36P"):
        bases = MOTION + (["csf", "white_matter", "global_signal"] if strategy == "36P" else [])
        for b in bases:
            cols += [b, b + "_derivative1", b + "_power2", b + "_derivative1_power2"]
    elif strategy == "aCompCor":
        for b in MOTION:
            cols += [b, b + "_derivative1"]
        cols += ["a_comp_cor_%02d" % k for k in range(acompcor_n)]
    elif strategy == "aCompCorWMCSF":
        for b in MOTION:
            cols += [b, b + "_derivative1"]
        for tissue in ("WM", "CSF"):
            cols += [c for c, m in COMPCOR_MASKS.items() if m["Mask"] == tissue and m["Retained"]][:acompcor_n]
        cols += [c for c in names if c.startswith("cosine")]
    cols += [c for c in extra if c and c not in cols]
    X = table[:, [names.index(c) for c in cols]] if cols else np.zeros((table.shape[0], 0))
    X = X.copy()
    X[0, np.isnan(X[0])] = 0.0
    return X


def interpolate(arr, keep):
    if keep.all():
        return arr
    t = np.arange(arr.shape[0], dtype=float)
    out = arr.copy()
    spline = scipy.interpolate.CubicSpline(t[keep], arr[keep], axis=0, extrapolate=True)
    out[~keep] = spline(t[~keep])
    first, last = np.flatnonzero(keep)[[0, -1]]
    out[:first] = arr[first]
    out[last + 1:] = arr[last]
    return out


def detrend(arr, order):
    if order < 0 or arr.shape[1] == 0:
        return arr
    t = np.arange(arr.shape[0], dtype=float)
    P = np.column_stack([t ** k for k in range(order + 1)])
    beta = np.linalg.lstsq(P, arr, rcond=None)[0]
    return arr - P @ beta


def bandpass(arr, hp, lp, order, tr, pad):
    if (hp <= 0 and lp <= 0) or arr.shape[1] == 0:
        return arr
    fs = 1.0 / tr
    if hp > 0 and lp > 0:
        sos = scipy.signal.butter(order, [hp, lp], btype="bandpass", output="sos", fs=fs)
    elif lp > 0:
        sos = scipy.signal.butter(order, lp, btype="lowpass", output="sos", fs=fs)
    else:
        sos = scipy.signal.butter(order, hp, btype="highpass", output="sos", fs=fs)
    if pad == "constant":
        return scipy.signal.sosfiltfilt(sos, arr, axis=0, padtype="constant", padlen=arr.shape[0] - 1)
    return scipy.signal.sosfiltfilt(sos, arr, axis=0)


def reference(Y, names, table, p):
    X = select(names, table, p["strategy"], p.get("columns", "").split(","), p.get("acompcor_n", 5))
    fd = table[:, names.index("framewise_displacement")].copy()
    fd[0] = 0.0
    dummy = p["dummy"] if p["dummy"] >= 0 else sum(n.startswith("non_steady_state_outlier") for n in names)
    Y, X, fd = Y[dummy:], X[dummy:], fd[dummy:]
    keep = ~(fd > p["fd"]) if p["fd"] > 0 else np.ones(len(fd), bool)
    good = np.isfinite(Y).all(axis=0)
    out = np.full((Y.shape[0], Y.shape[1]), np.nan)
    Yv = interpolate(Y[:, good], keep)
    X = interpolate(X, keep)
    Yv, X = detrend(Yv, p["detrend"]), detrend(X, p["detrend"])
    Yv = bandpass(Yv, p["hp"], p["lp"], p["order"], p["tr"], p["pad"])
    X = bandpass(X, p["hp"], p["lp"], p["order"], p["tr"], p["pad"])
    if X.shape[1]:
        beta = np.linalg.lstsq(X[keep], Yv[keep], rcond=None)[0]
        Yv = Yv - X @ beta
    out[:, good] = Yv
    if p["censor"]:
        out = out[keep]
    if p["zscore"]:
        out = (out - out.mean(0)) / out.std(0, ddof=1)
    return out


CASES = [
    dict(strategy="36P", dummy=2, fd=0.5, hp=0.01, lp=0.08, order=2, pad="odd", detrend=1, censor=1, zscore=0, tr=2.0),
    dict(strategy="24P", dummy=-1, fd=0.5, hp=0.009, lp=0.08, order=2, pad="constant", detrend=2, censor=1,
         zscore=1, tr=0.8),
    dict(strategy="aCompCor", columns="csf,global_signal", dummy=0, fd=0.0, hp=0.01, lp=0.0, order=3, pad="odd",
         detrend=1, censor=1, zscore=0, tr=2.0),
    dict(strategy="aCompCorWMCSF", acompcor_n=2, dummy=1, fd=0.5, hp=0.01, lp=0.08, order=2, pad="odd",
         detrend=1, censor=1, zscore=0, tr=2.0),
    dict(strategy="none", dummy=0, fd=0.3, hp=0.0, lp=0.1, order=4, pad="odd", detrend=0, censor=0, zscore=0,
         tr=1.5),
    dict(strategy="custom", columns="trans_x,rot_z,white_matter", dummy=1, fd=0.5, hp=0.0, lp=0.0, order=2,
         pad="odd", detrend=1, censor=1, zscore=1, tr=2.0),
]


def main():
    rng = np.random.default_rng(20261124)
    T, R = 180, 10
    names, table = make_confounds(rng, T)
    # ROI signals: baseline + slow drift + confound leakage + noise; one NaN ROI.
    gs = table[:, names.index("global_signal")]
    Y = 1000 + np.cumsum(rng.normal(0, 0.5, (T, R)), axis=0) + 0.3 * (gs - 500)[:, None] + rng.normal(0, 3, (T, R))
    Y[:, 4] = np.nan
    Y = Y.astype(np.float32).astype(np.float64)
    roi = ["roi%02d" % i for i in range(R)]
    failures = 0
    with tempfile.TemporaryDirectory() as tmp:
        ts_path, conf_path, out_path = (os.path.join(tmp, n) for n in ("ts.tsv", "conf.tsv", "out.tsv"))
        write_tsv(ts_path, roi, Y)
        write_tsv(conf_path, names, table)
        with open(os.path.join(tmp, "conf.json"), "w") as f:
            json.dump(COMPCOR_MASKS, f)
        _, table = read_tsv(conf_path)  # what the tool sees (9 significant digits)
        for i, p in enumerate(CASES):
            args = [TOOL, "clean", ts_path, out_path, f"confounds={conf_path}"]
            args += [f"{k}={v}" for k, v in p.items()]
            proc = subprocess.run(args, capture_output=True, text=True)
            if proc.returncode != 0:
                print(f"case {i}: tool failed ({proc.returncode}): {proc.stderr.strip()}")
                failures += 1
                continue
            _, got = read_tsv(out_path)
            ref = reference(Y, names, table, p)
            if got.shape != ref.shape or not np.array_equal(np.isnan(got), np.isnan(ref)):
                print(f"case {i}: shape/NaN mismatch: got {got.shape}, reference {ref.shape}")
                failures += 1
                continue
            fin = np.isfinite(ref)
            err = np.abs(got[fin] - ref[fin])
            bound = ATOL + RTOL * np.abs(ref[fin])
            worst = float(np.max(err / bound))
            status = "ok" if worst <= 1.0 else "FAIL"
            failures += worst > 1.0
            print(f"case {i} ({p['strategy']}, pad={p['pad']}): {ref.shape[0]} rows, "
                  f"max |diff| {err.max():.2e}, max |ref| {np.abs(ref[fin]).max():.3g}, "
                  f"worst diff/tolerance {worst:.3f} {status}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
