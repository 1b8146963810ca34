"""bench_heads.py - 5-fold cross-validation of each head on vectorised FC,
brainstage (bs_evaluate through tests/test_heads_tool) vs scikit-learn on the
same features and the same folds, in one run.

Default cohort: 200 subjects, R = 100 ROIs -> 4950 FC features, two groups
with a planted edge difference.  Printed per head: brainstage seconds
(bs_evaluate only, no file parsing), sklearn seconds (fit + predict over the
folds), their ratio and both mean AUCs (they must agree).

usage: bench_heads.py [--subjects N] [--rois R] [--heads logreg,svm,ridge,mlp]
Needs the build tree's tests/test_heads_tool (make check or
make tests/test_heads_tool) and top_builddir in the environment (the
bench-heads make target sets it)."""
import argparse
import os
import subprocess
import sys
import tempfile
import time
import warnings

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import blas_info  # noqa: E402
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.metrics import roc_auc_score
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import LinearSVC

warnings.simplefilter("ignore")
ap = argparse.ArgumentParser()
ap.add_argument("--subjects", type=int, default=200)
ap.add_argument("--rois", type=int, default=100)
ap.add_argument("--heads", default="logreg,svm,ridge,mlp")
ap.add_argument("--mlp-epochs", type=int, default=30)
args = ap.parse_args()

build = os.environ.get("top_builddir", ".")
tool = os.path.join(build, "tests", "test_heads_tool")
if not os.path.exists(tool):
    sys.exit(f"{tool} missing: run 'make tests/test_heads_tool' in the build tree")

rng = np.random.default_rng(1)
n, R = args.subjects, args.rois
d = R * (R - 1) // 2
y = np.arange(n) % 2
rng.shuffle(y)
X = rng.normal(0, 0.3, (n, d))
X[:, : d // 50] += 0.25 * y[:, None]  # planted edge-level group difference (2 % of edges)
X = X.astype(np.float32)
age = X[:, :20].astype(np.float64).sum(1) * 5 + 40 + rng.normal(0, 3, n)

tmp = tempfile.TemporaryDirectory(prefix="bs-bench-heads-")
path = lambda name: os.path.join(tmp.name, name)  # noqa: E731
np.savetxt(path("X"), X, fmt="%.9g")
np.savetxt(path("y"), y, fmt="%d")
np.savetxt(path("age"), age, fmt="%.17g")
subprocess.run([tool, "splits", "strat", path("y"), "5", "42", path("roles")], check=True)
roles = np.loadtxt(path("roles"))
fold = np.argmax(roles == 2, axis=0)
np.savetxt(path("folds"), fold, fmt="%d")

configs = {
    "logreg": ("C=1.0", lambda: LogisticRegression(C=1.0, max_iter=1000)),
    "svm": ("C=1.0,loss=squared_hinge", lambda: LinearSVC(C=1.0, max_iter=10000)),
    "ridge": ("alpha=1.0", lambda: Ridge(alpha=1.0)),
    "mlp": (f"hidden=64,max_iter={args.mlp_epochs},batch=32,alpha=1e-4",
            lambda: MLPClassifier(hidden_layer_sizes=(64,), alpha=1e-4, batch_size=32,
                                  max_iter=args.mlp_epochs, tol=0, n_iter_no_change=10**6, random_state=0)),
}
threads = os.environ.get("OMP_NUM_THREADS", "default")
print(blas_info.describe())
print(f"# heads benchmark: {n} subjects x {d} features (R={R}), 5-fold CV, OMP/BLAS threads {threads}")
print(f"{'head':8s} {'brainstage_s':>12s} {'sklearn_s':>10s} {'ratio':>7s} {'auc_bs':>8s} {'auc_sk':>8s}")
for head in args.heads.split(","):
    params, make = configs[head]
    target = "age" if head == "ridge" else "y"
    out = subprocess.run([tool, "evaluate", head, params, path("X"), path(target), path("folds"), path(head)],
                         check=True, capture_output=True, text=True).stdout
    bs_s = float(out.split("evaluate_seconds")[1].split()[0])
    import json
    rep = json.load(open(path(head + ".json")))
    metric = "pearson_r" if head == "ridge" else "auc"
    bs_m = rep["metrics"][metric]["mean"]
    t0 = time.perf_counter()
    vals = []
    for f in range(5):
        tr, te = fold != f, fold == f
        m = make_pipeline(StandardScaler(), make())
        if head == "ridge":
            m.fit(X[tr], age[tr])
            vals.append(np.corrcoef(m.predict(X[te]), age[te])[0, 1])
        else:
            m.fit(X[tr], y[tr])
            s = m.decision_function(X[te]) if head == "svm" else m.predict_proba(X[te])[:, 1]
            vals.append(roc_auc_score(y[te], s))
    sk_s = time.perf_counter() - t0
    label = head + (" (r)" if head == "ridge" else "")
    print(f"{label:8s} {bs_s:12.3f} {sk_s:10.3f} {sk_s / bs_s:7.2f} {bs_m:8.4f} {np.mean(vals):8.4f}")
print("# ratio = sklearn_s / brainstage_s (> 1: brainstage faster); timings on a shared, loaded machine")
