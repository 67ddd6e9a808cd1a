"""Benchmark helpers: fixed thread counts and median timings over repeats."""

from __future__ import annotations

import json
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


def setting_changes(pairs) -> dict:
    """``KEY=VALUE`` arguments as a dict, each value read as JSON (``refit=true``, ``contrastive=0.5``,
    ``cross_fit_others="mean"``)."""
    return {k: json.loads(v) for k, v in (kv.split("=", 1) for kv in pairs)}


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


def cpu_name() -> str:
    """The CPU's model name (figures differ between CPUs: say on which one they were taken)."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    flags = open("/proc/cpuinfo").read()
                    simd = "AVX-512" if " avx512f" in flags else "AVX2" if " avx2" in flags else "no AVX2"
                    return f"{line.split(':', 1)[1].strip()} ({simd})"
    except OSError:
        pass
    import platform

    return platform.processor() or "unknown CPU"


def run_in_child(target, *args):
    """``target(*args, queue)`` in a fresh spawned process; returns what it put on the queue.
    A child of its own gives a measure its own peak RSS."""
    import multiprocessing as mp

    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    p = ctx.Process(target=target, args=(*args, q))
    p.start()
    result = q.get()
    p.join()
    return result
