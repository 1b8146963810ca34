"""eval_sklearn.py - brainstage metrics and cross-validation vs scikit-learn.

1. Metrics on random inputs with many ties: accuracy, balanced accuracy,
   macro F1, ROC AUC (binary; one-vs-rest macro) equal sklearn's to 1e-9;
   MAE, Pearson r, R^2 equal sklearn/scipy's to 1e-12.
2. Cross-validation: brainstage's stratified folds (exported by the C
   driver) are fed to a sklearn Pipeline(StandardScaler, LogisticRegression)
   fold by fold; per-fold AUC must agree within 1e-3 and accuracy exactly,
   and the JSON report's mean/sd must match numpy on the per-fold values."""
import json
import os
import sys
import warnings

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from heads_common import Runner, require_modules  # noqa: E402

require_modules()

import numpy as np  # noqa: E402
from scipy.stats import pearsonr  # noqa: E402
from sklearn.linear_model import LogisticRegression, Ridge  # noqa: E402
from sklearn.metrics import (accuracy_score, balanced_accuracy_score, f1_score,  # noqa: E402
                             mean_absolute_error, r2_score, roc_auc_score)
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402
from sklearn.svm import LinearSVC  # noqa: E402

R = Runner()
warnings.simplefilter("ignore")  # sklearn convergence chatter at tight tolerances
rng = np.random.default_rng(7)

# ---- 1. metrics -------------------------------------------------------------
for trial, (n, k) in enumerate([(50, 2), (37, 2), (80, 3), (64, 5), (200, 2), (23, 4)]):
    y = rng.integers(0, k, n)
    y[:k] = np.arange(k)  # every class present in y_true
    pred = np.where(rng.random(n) < 0.6, y, rng.integers(0, k, n))
    if trial == 1:
        pred[pred == k - 1] = 0  # a class never predicted
    # Scores rounded to one decimal: plenty of ties within and across classes.
    raw = rng.random((n, k)) + 0.5 * np.eye(k)[y]
    scores = np.round(raw / raw.sum(1, keepdims=True), 1)
    R.write(f"m{trial}.y", y, fmt="%d")
    R.write(f"m{trial}.p", pred, fmt="%d")
    R.write(f"m{trial}.s", scores)
    out = R.run("metrics", R.path(f"m{trial}.y"), R.path(f"m{trial}.p"), R.path(f"m{trial}.s"), k)
    acc, bacc, f1, auc = map(float, out.stdout.split())
    if k == 2:
        ref_auc = roc_auc_score(y, scores[:, 1])
    else:  # sklearn's ovr/macro definition, per class (scores need not sum to 1)
        ref_auc = np.mean([roc_auc_score(y == c, scores[:, c]) for c in range(k)])
    R.close(f"metrics n={n} k={k} accuracy", acc, accuracy_score(y, pred), atol=1e-12)
    R.close(f"metrics n={n} k={k} balanced accuracy", bacc, balanced_accuracy_score(y, pred), atol=1e-9)
    R.close(f"metrics n={n} k={k} macro F1", f1, f1_score(y, pred, average="macro", zero_division=0), atol=1e-9)
    R.close(f"metrics n={n} k={k} ROC AUC (ties)", auc, ref_auc, atol=1e-9)
    if k > 2:
        probs = raw / raw.sum(1, keepdims=True)
        R.write(f"m{trial}.q", probs)
        out = R.run("metrics", R.path(f"m{trial}.y"), R.path(f"m{trial}.p"), R.path(f"m{trial}.q"), k)
        R.close(f"metrics n={n} k={k} roc_auc_score(multi_class='ovr')", float(out.stdout.split()[3]),
                roc_auc_score(y, probs, multi_class="ovr", average="macro"), atol=1e-9)

t = rng.normal(40, 10, 60)
p = np.round(t + rng.normal(0, 5, 60), 1)
R.write("r.t", t)
R.write("r.p", p)
mae, r, r2 = map(float, R.run("regmetrics", R.path("r.t"), R.path("r.p")).stdout.split())
R.close("regression MAE", mae, mean_absolute_error(t, p), atol=1e-12, rtol=1e-12)
R.close("regression Pearson r", r, pearsonr(t, p)[0], atol=1e-12)
R.close("regression R^2", r2, r2_score(t, p), atol=1e-12)


# ---- 2. cross-validation on brainstage's folds ----------------------------------
def cohort(n, d, k, effect):
    y = np.arange(n) % k
    rng.shuffle(y)
    X = rng.normal(0, 1, (n, d)) * rng.uniform(0.5, 2, d)
    X[:, :5] += effect * y[:, None]
    return X.astype(np.float32), y


def folds_of(roles):
    """Role matrix [splits, n] (1 train, 2 test) -> fold id per row."""
    assert np.all((roles == 2).sum(0) == 1), "each row must be tested exactly once"
    return np.argmax(roles == 2, axis=0)


for (n, d, k, head, params) in [(120, 40, 2, "logreg", "C=0.3,tol=1e-10"),
                                (150, 20, 3, "logreg", "C=1.0,tol=1e-10"),
                                (100, 60, 2, "svm", "C=0.05,tol=1e-10,max_iter=200000,loss=squared_hinge"),
                                (90, 30, 0, "ridge", "alpha=5")]:
    tag = f"cv_{head}_k{k}"
    if k:
        X, y = cohort(n, d, k, 0.6)
        R.write(f"{tag}.y", y, fmt="%d")
        R.run("splits", "strat", R.path(f"{tag}.y"), 5, 11, R.path(f"{tag}.roles"))
    else:
        X, _ = cohort(n, d, 2, 0.0)
        y = X[:, :5].astype(np.float64).sum(1) * 3 + rng.normal(0, 2, n) + 50
        R.write(f"{tag}.y", y)
        R.run("splits", "kfold", R.path(f"{tag}.y"), 5, 11, R.path(f"{tag}.roles"))
    fold = folds_of(R.load(f"{tag}.roles").astype(int))
    R.write(f"{tag}.X", X)
    R.write(f"{tag}.folds", fold, fmt="%d")
    R.run("evaluate", head, params, R.path(f"{tag}.X"), R.path(f"{tag}.y"), R.path(f"{tag}.folds"), R.path(tag))
    report = json.load(open(R.path(f"{tag}.json")))
    ref_vals = {}
    for f in range(5):
        tr, te = fold != f, fold == f
        Xtr, Xte = X[tr].astype(np.float64), X[te].astype(np.float64)
        if head == "logreg":
            C = float(params.split(",")[0][2:])
            m = make_pipeline(StandardScaler(), LogisticRegression(C=C, solver="newton-cg", tol=1e-12,
                                                                   max_iter=100)).fit(Xtr, y[tr])
            s = m.predict_proba(Xte)
        elif head == "svm":
            m = make_pipeline(StandardScaler(), LinearSVC(C=0.05, tol=1e-10, max_iter=1000000)).fit(Xtr, y[tr])
            s = m.decision_function(Xte)
            s = np.stack([-s, s], 1)
        else:
            m = make_pipeline(StandardScaler(), Ridge(alpha=5.0)).fit(Xtr, y[tr])
            s = m.predict(Xte)
        if k:
            pred = s.argmax(1)
            auc = roc_auc_score(y[te], s[:, 1]) if k == 2 else roc_auc_score(y[te], s, multi_class="ovr")
            vals = {"acc": accuracy_score(y[te], pred), "balanced_acc": balanced_accuracy_score(y[te], pred),
                    "auc": auc, "f1_macro": f1_score(y[te], pred, average="macro")}
        else:
            vals = {"mae": mean_absolute_error(y[te], s), "pearson_r": pearsonr(y[te], s)[0],
                    "r2": r2_score(y[te], s)}
        for key, v in vals.items():
            ref_vals.setdefault(key, []).append(v)
    for key, ref in ref_vals.items():
        got = report["metrics"][key]["per_split"]
        if key in ("acc", "balanced_acc", "f1_macro"):
            R.close(f"{tag} per-fold {key} (exact)", got, ref, atol=1e-12)
        elif key == "auc":
            R.close(f"{tag} per-fold AUC", got, ref, atol=1e-3)
        else:
            R.close(f"{tag} per-fold {key}", got, ref, atol=1e-8, rtol=1e-8)
        R.close(f"{tag} {key} mean", report["metrics"][key]["mean"], np.mean(got), atol=1e-12)
        R.close(f"{tag} {key} sd (ddof=1)", report["metrics"][key]["sd"], np.std(got, ddof=1), atol=1e-12)
    # The TSV carries the same numbers (10 significant digits).
    tsv = [line.rstrip("\n").split("\t") for line in open(R.path(f"{tag}.tsv"))]
    col = tsv[0].index(list(ref_vals)[0])
    R.close(f"{tag} TSV column matches JSON", [float(row[col]) for row in tsv[1:6]],
            report["metrics"][list(ref_vals)[0]]["per_split"], atol=1e-9, rtol=1e-9)

R.finish()
