"""heads_common.py - shared helpers for the heads/eval cross-checks against
scikit-learn: locate the C driver (tests/test_heads_tool), write matrices it
reads, run it, and compare with stated tolerances (atol + rtol*|ref|)."""
import os
import subprocess
import sys
import tempfile


def require_modules():
    """Imports numpy/sklearn/scipy or exits 77 (skip), or 1 under CI."""
    try:
        import numpy  # noqa: F401
        import scipy  # noqa: F401
        import sklearn  # noqa: F401
    except ImportError as exc:
        strict = os.environ.get("BRAINSTAGE_REQUIRE_PYTHON") == "1"
        print(f"SKIP: {exc}", file=sys.stderr)
        sys.exit(1 if strict else 77)


def tool():
    """Path of the C driver.  In a libtool build tree tests/test_heads_tool
    is a shell wrapper that costs ~0.1-0.5 s per call; the real binary in
    tests/.libs runs directly once LD_LIBRARY_PATH points at the
    uninstalled libbrainstage (the wrapper does no more than that)."""
    build = os.environ.get("top_builddir", os.path.join(os.path.dirname(__file__), ".."))
    path = os.path.join(build, "tests", "test_heads_tool")
    real = os.path.join(build, "tests", ".libs", "test_heads_tool")
    if os.path.exists(real) and os.path.isdir(os.path.join(build, ".libs")):
        libs = os.path.abspath(os.path.join(build, ".libs"))
        old = os.environ.get("LD_LIBRARY_PATH")
        os.environ["LD_LIBRARY_PATH"] = libs + (":" + old if old else "")
        return real
    if not os.path.exists(path):
        print(f"FAIL: {path} not built (make check builds it)", file=sys.stderr)
        sys.exit(1)
    return path


class Runner:
    def __init__(self):
        self.tmp = tempfile.TemporaryDirectory(prefix="bs-heads-")
        self.dir = self.tmp.name
        self.tool = tool()
        self.failures = 0
        self.checks = 0

    def path(self, name):
        return os.path.join(self.dir, name)

    def write(self, name, arr, fmt="%.17g"):
        import numpy as np
        arr = np.asarray(arr)
        if arr.ndim == 1:
            arr = arr[:, None]
        if arr.dtype == np.float32:
            fmt = "%.9g"  # float32 round-trips with 9 significant digits
        np.savetxt(self.path(name), arr, fmt=fmt)
        return self.path(name)

    def run(self, *args, expect_ok=True):
        res = subprocess.run([self.tool, *map(str, args)], capture_output=True, text=True)
        if expect_ok and res.returncode != 0:
            print(f"FAIL: test_heads_tool {' '.join(map(str, args))}: {res.stderr.strip()}")
            sys.exit(1)
        return res

    def load(self, name):
        import numpy as np
        return np.loadtxt(self.path(name), ndmin=2)

    def close(self, what, got, ref, atol, rtol=0.0):
        import numpy as np
        got = np.asarray(got, dtype=float)
        ref = np.asarray(ref, dtype=float)
        self.checks += 1
        if got.shape != ref.shape:
            print(f"FAIL {what}: shape {got.shape} != {ref.shape}")
            self.failures += 1
            return
        err = np.abs(got - ref)
        bound = atol + rtol * np.abs(ref)
        worst = float(np.max(err - bound)) if err.size else -1.0
        if worst > 0 or not np.all(np.isfinite(got) == np.isfinite(ref)):
            print(f"FAIL {what}: max |diff| {float(np.max(err)):.3g} exceeds atol {atol} + rtol {rtol}*|ref|")
            self.failures += 1
        else:
            print(f"ok   {what}: max |diff| {float(np.max(err)) if err.size else 0:.3g}"
                  f" (atol {atol}, rtol {rtol})")

    def equal(self, what, got, ref):
        import numpy as np
        self.checks += 1
        if np.array_equal(np.asarray(got), np.asarray(ref)):
            print(f"ok   {what}: equal")
        else:
            print(f"FAIL {what}: {got} != {ref}")
            self.failures += 1

    def finish(self):
        print(f"{self.checks - self.failures}/{self.checks} checks passed")
        sys.exit(1 if self.failures else 0)
