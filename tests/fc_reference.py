#!/usr/bin/env python3
"""fc_reference.py - bs_fc_compute against numpy / scikit-learn.

  pearson       numpy.corrcoef
  fisher z      numpy.arctanh of corrcoef, diagonal 0
  partial       -P_ij/sqrt(P_ii P_jj), P = inv(corrcoef + ridge*I)
  ledoit_wolf   nilearn ConnectivityMeasure(kind='correlation') semantics:
                z-score each ROI, sklearn.covariance.ledoit_wolf, covariance
                to correlation (diagonal 1); shrinkage vs ledoit_wolf_shrinkage
A constant ROI and a NaN ROI must come back as NaN rows/columns; the other
entries are compared on the defined ROIs.
Tolerance: |brainstage - reference| <= 1e-4 + 1e-4 * |reference|.
Exit 77 (skip) without numpy/sklearn unless BRAINSTAGE_REQUIRE_PYTHON=1.
"""
import os
import subprocess
import sys
import tempfile

try:
    import numpy as np
    from sklearn.covariance import ledoit_wolf, ledoit_wolf_shrinkage
except ImportError as exc:  # pragma: no cover
    print(f"skip: {exc}")
    sys.exit(1 if os.environ.get("BRAINSTAGE_REQUIRE_PYTHON") == "1" else 77)

ATOL, RTOL = 1e-4, 1e-4
TOOL = os.path.join(os.environ.get("top_builddir", "."), "tests", "test_clean_tool")


def write_tsv(path, names, data):
    with open(path, "w") as f:
        f.write("\t".join(names) + "\n")
        for row in data:
            f.write("\t".join("n/a" if not np.isfinite(v) else "%.9g" % v for v in row) + "\n")


def read_relmat(path):
    with open(path) as f:
        header = f.readline().rstrip("\n").split("\t")
        rows = [line.rstrip("\n").split("\t") for line in f]
    assert header[0] == "Node", header
    return np.array([[np.nan if c == "n/a" else float(c) for c in r[1:]] for r in rows])


def nilearn_style_correlation(X):
    Z = (X - X.mean(0)) / X.std(0)
    cov, shrink = ledoit_wolf(Z)
    d = np.sqrt(np.diag(cov))
    corr = cov / np.outer(d, d)
    np.fill_diagonal(corr, 1.0)
    return corr, ledoit_wolf_shrinkage(Z)


def main():
    rng = np.random.default_rng(7)
    T, R = 140, 24
    latent = rng.normal(size=(T, 4))
    load = rng.normal(size=(4, R))
    X = 100 + latent @ load + rng.normal(size=(T, R))
    X[:, 5] = 42.0          # zero variance
    X[:, 11] = np.nan       # low-coverage ROI
    X = X.astype(np.float32).astype(np.float64)
    ok = np.ones(R, bool)
    ok[[5, 11]] = False
    Xo = X[:, ok]
    C = np.corrcoef(Xo, rowvar=False)
    fisher = np.arctanh(np.clip(C, -1 + 1e-7, 1 - 1e-7))
    np.fill_diagonal(fisher, 0.0)
    ridge = 0.05
    P = np.linalg.inv(C + ridge * np.eye(C.shape[0]))
    partial = -P / np.sqrt(np.outer(np.diag(P), np.diag(P)))
    np.fill_diagonal(partial, 1.0)
    lw, shrink = nilearn_style_correlation(Xo)
    cases = [("pearson", ["kind=pearson"], C, None), ("fisher", ["kind=pearson", "fisher=1"], fisher, None),
             ("partial", ["kind=partial", f"ridge={ridge}"], partial, None),
             ("ledoit_wolf", ["kind=ledoit_wolf"], lw, shrink)]
    failures = 0
    names = ["roi%02d" % i for i in range(R)]
    with tempfile.TemporaryDirectory() as tmp:
        ts, out = os.path.join(tmp, "ts.tsv"), os.path.join(tmp, "fc.tsv")
        write_tsv(ts, names, X)
        for label, args, ref, ref_shrink in cases:
            proc = subprocess.run([TOOL, "fc", ts, out] + args, capture_output=True, text=True)
            if proc.returncode != 0:
                print(f"{label}: tool failed: {proc.stderr.strip()}")
                failures += 1
                continue
            got = read_relmat(out)
            nan_ok = np.isnan(got[~ok]).all() and np.isnan(got[:, ~ok]).all()
            warned = "2 of 24 ROIs" in proc.stderr
            sub = got[np.ix_(ok, ok)]
            err = np.abs(sub - ref)
            worst = float(np.max(err / (ATOL + RTOL * np.abs(ref))))
            msg = f"{label}: max |diff| {err.max():.2e}, worst diff/tolerance {worst:.3f}"
            bad = worst > 1.0 or not nan_ok or not warned or not np.isfinite(sub).all()
            if ref_shrink is not None:
                got_shrink = float(proc.stdout.split("shrinkage")[1].split()[0])
                msg += f", shrinkage {got_shrink:.6f} vs sklearn {ref_shrink:.6f}"
                bad |= abs(got_shrink - ref_shrink) > 1e-5
            print(msg + ("" if not bad else f"  FAIL (NaN rows ok: {nan_ok}, warned: {warned})"))
            failures += bad
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
