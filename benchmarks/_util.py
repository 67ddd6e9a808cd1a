"""Benchmark helpers: fixed thread counts and median timings over repeats."""

from __future__ import annotations

import os
import statistics
import time


def set_threads(n: int) -> None:
    """Pin torch's (and BLAS's) thread count so runs compare like with like. The environment is
    set before torch is imported (OpenMP reads it once, at load); call this first."""
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ.setdefault(var, str(n))
    import torch

    torch.set_num_threads(n)


def median_time(fn, *, repeats: int = 7, warmup: int = 1) -> float:
    """Median wall time [s] of ``fn()`` over ``repeats`` runs after ``warmup`` runs."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)
