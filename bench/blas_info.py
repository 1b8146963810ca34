"""blas_info.py - which OpenBLAS kernels a benchmark's Python peer runs.

`make bench-*` exports the OPENBLAS_CORETYPE that the brainstage CLI picks
(brainstage(1), ENVIRONMENT) for both brainstage and the peer; this reports
what numpy's OpenBLAS actually loaded, so a ratio is never the artefact of
one side running generic kernels.  Import after numpy."""
import os


def describe():
    try:
        import threadpoolctl
        arch = {i.get("internal_api"): i.get("architecture") for i in threadpoolctl.threadpool_info()}
        peer = arch.get("openblas", "not OpenBLAS")
    except ImportError:
        peer = "unknown (no threadpoolctl)"
    forced = os.environ.get("OPENBLAS_CORETYPE", "")
    return f"OpenBLAS kernels: OPENBLAS_CORETYPE={forced or '(unset)'}, numpy peer runs {peer}"
