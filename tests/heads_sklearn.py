"""heads_sklearn.py - brainstage heads vs scikit-learn on the same features.

StandardScaler + LogisticRegression (binary, multinomial, d > n),
LinearSVC (hinge / squared hinge, binary / one-vs-rest), Ridge (d < n and
d > n) and a numpy nearest-centroid reference.  Both sides are run to tight
tolerances so the comparison measures the implementations, not the
stopping rules.  The logistic reference uses solver="newton-cg": sklearn's
lbfgs also stops on a relative decrease of the loss (scipy's ftol), which
leaves its coefficients ~1e-5 from the optimum whatever tol says.  Newton
converges in ~15 iterations; sklearn 1.2's newton-cg then keeps failing its
line search at tight tol until max_iter, hence max_iter=100."""
import os
import sys
import warnings

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from heads_common import Runner, require_modules  # noqa: E402

require_modules()

import numpy as np  # noqa: E402
from sklearn.linear_model import LogisticRegression, Ridge  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402
from sklearn.svm import LinearSVC  # noqa: E402

R = Runner()
warnings.simplefilter("ignore")  # sklearn convergence chatter at tight tolerances
rng = np.random.default_rng(20261124)


def dataset(n, d, k, shift=0.8):
    y = np.arange(n) % k
    rng.shuffle(y)
    centres = rng.normal(0, shift, size=(k, d))
    X = (rng.normal(0, 1, size=(n, d)) * rng.uniform(0.5, 3, size=d) + centres[y] + rng.normal(0, 2, d))
    return X.astype(np.float32), y


def split(X, y, n_test):
    return X[:-n_test], y[:-n_test], X[-n_test:], y[-n_test:]


def fit(kind, params, Xtr, ytr, Xte, tag):
    R.write(f"{tag}.Xtr", Xtr)
    R.write(f"{tag}.ytr", ytr, fmt="%.17g" if kind == "ridge" else "%d")
    R.write(f"{tag}.Xte", Xte)
    R.run("fit", kind, params, R.path(f"{tag}.Xtr"), R.path(f"{tag}.ytr"), R.path(f"{tag}.Xte"), R.path(tag))
    out = {"scores": R.load(f"{tag}.scores")}
    if os.path.exists(R.path(f"{tag}.coef")):
        out["coef"] = R.load(f"{tag}.coef")
        out["bias"] = R.load(f"{tag}.bias").ravel()
    return out


# ---- logistic regression ------------------------------------------------
for (n, d, k, C) in [(150, 12, 2, 0.5), (180, 10, 3, 2.0), (60, 300, 2, 0.05), (90, 40, 4, 1.0)]:
    X, y = dataset(n, d, k)
    Xtr, ytr, Xte, _ = split(X, y, 30)
    tag = f"logreg_n{n}_d{d}_k{k}"
    got = fit("logreg", f"C={C},tol=1e-11,max_iter=20000", Xtr, ytr, Xte, tag)
    ref = make_pipeline(StandardScaler(), LogisticRegression(C=C, solver="newton-cg", tol=1e-12, max_iter=100))
    ref.fit(Xtr.astype(np.float64), ytr)
    lr = ref[-1]
    R.close(f"{tag} coefficients", got["coef"], lr.coef_, atol=1e-6, rtol=1e-5)
    bias, ref_bias = got["bias"], lr.intercept_
    if k > 2:  # softmax intercepts are defined up to a shared constant
        bias, ref_bias = bias - bias.mean(), ref_bias - ref_bias.mean()
    R.close(f"{tag} intercepts", bias, ref_bias, atol=1e-6, rtol=1e-5)
    R.close(f"{tag} probabilities", got["scores"], ref.predict_proba(Xte.astype(np.float64)), atol=1e-7)

# ---- linear SVM ------------------------------------------------------------
for (n, d, k, C, loss) in [(120, 8, 2, 0.1, "hinge"), (120, 8, 2, 0.5, "squared_hinge"),
                           (150, 10, 3, 0.2, "hinge"), (150, 10, 3, 1.0, "squared_hinge")]:
    X, y = dataset(n, d, k, shift=0.5)
    Xtr, ytr, Xte, _ = split(X, y, 30)
    tag = f"svm_{loss}_k{k}"
    got = fit("svm", f"C={C},tol=1e-10,max_iter=200000,loss={loss}", Xtr, ytr, Xte, tag)
    ref = make_pipeline(StandardScaler(), LinearSVC(C=C, loss=loss, tol=1e-10, max_iter=2000000))
    ref.fit(Xtr.astype(np.float64), ytr)
    dec = ref.decision_function(Xte.astype(np.float64))
    if k == 2:
        dec = np.stack([-dec, dec], axis=1)
    R.close(f"{tag} decision values", got["scores"], dec, atol=1e-5, rtol=1e-4)
    R.close(f"{tag} weights", got["coef"], ref[-1].coef_, atol=1e-5, rtol=1e-4)

# ---- ridge -----------------------------------------------------------------
for (n, d, alpha) in [(100, 15, 3.0), (40, 200, 10.0)]:
    X, _ = dataset(n, d, 2)
    w = rng.normal(size=d)
    t = X.astype(np.float64) @ w * 0.1 + rng.normal(size=n) + 40.0
    Xtr, ttr, Xte, _ = split(X, t, 20)
    tag = f"ridge_n{n}_d{d}"
    got = fit("ridge", f"alpha={alpha}", Xtr, ttr, Xte, tag)
    ref = make_pipeline(StandardScaler(), Ridge(alpha=alpha)).fit(Xtr.astype(np.float64), ttr)
    R.close(f"{tag} coefficients", got["coef"].ravel(), ref[-1].coef_, atol=1e-9, rtol=1e-8)
    R.close(f"{tag} predictions", got["scores"].ravel(), ref.predict(Xte.astype(np.float64)), atol=1e-8, rtol=1e-9)

# ---- nearest centroid (cosine) against numpy ------------------------------------
X, y = dataset(90, 16, 3)
Xtr, ytr, Xte, _ = split(X, y, 30)
got = fit("centroid", "temperature=0.2", Xtr, ytr, Xte, "centroid")
sc = StandardScaler().fit(Xtr.astype(np.float64))
Z = sc.transform(Xtr.astype(np.float64))
Z /= np.linalg.norm(Z, axis=1, keepdims=True)
P = np.stack([Z[ytr == c].mean(0) for c in range(3)])
P /= np.linalg.norm(P, axis=1, keepdims=True)
Q = sc.transform(Xte.astype(np.float64))
Q /= np.linalg.norm(Q, axis=1, keepdims=True)
logits = Q @ P.T / 0.2
prob = np.exp(logits - logits.max(1, keepdims=True))
prob /= prob.sum(1, keepdims=True)
R.close("centroid probabilities", got["scores"], prob, atol=1e-12, rtol=1e-10)

# ---- MLP: sanity (learns a separable problem; reproducible for a seed) -------------
X, y = dataset(160, 10, 3, shift=2.0)
Xtr, ytr, Xte, yte = split(X, y, 40)
a = fit("mlp", "hidden=32,max_iter=150,seed=7", Xtr, ytr, Xte, "mlp_a")["scores"]
b = fit("mlp", "hidden=32,max_iter=150,seed=7", Xtr, ytr, Xte, "mlp_b")["scores"]
R.equal("mlp same seed -> identical scores", a, b)
acc = float(np.mean(a.argmax(1) == yte))
ref = make_pipeline(StandardScaler(), LogisticRegression(max_iter=10000)).fit(Xtr, ytr)
ref_acc = float(ref.score(Xte, yte))
R.checks += 1
if acc + 0.1 < ref_acc:
    print(f"FAIL mlp accuracy {acc:.3f} far below logistic regression {ref_acc:.3f}")
    R.failures += 1
else:
    print(f"ok   mlp accuracy {acc:.3f} (logistic regression {ref_acc:.3f})")

R.finish()
