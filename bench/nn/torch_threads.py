# bench/nn/torch_threads.py - give the PyTorch side of a benchmark the thread
# count of the C side.  OpenBLAS (which torch calls for its GEMMs) reads
# OPENBLAS_NUM_THREADS once, when it loads, so the value of --threads must be
# in the environment BEFORE `import torch`; torch.set_num_threads() alone
# leaves OpenBLAS at one thread per core.
import os
import sys


def set_from_argv(default="2"):
    """Exports --threads N (or --threads=N) from sys.argv as OPENBLAS_NUM_THREADS
    and OMP_NUM_THREADS; returns it as a string."""
    value = default
    for i, a in enumerate(sys.argv):
        if a == "--threads" and i + 1 < len(sys.argv):
            value = sys.argv[i + 1]
        elif a.startswith("--threads="):
            value = a.split("=", 1)[1]
    os.environ["OPENBLAS_NUM_THREADS"] = os.environ["OMP_NUM_THREADS"] = value
    return value
