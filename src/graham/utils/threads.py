"""How many CPU threads this process may really use, and OpenMP settings that keep two jobs
on the same cores from wrecking each other.

Why: torch's CPU build runs its kernels on GNU OpenMP (libgomp, which MKL and oneDNN use too).
By default a libgomp thread that reaches a barrier spins for about 300,000 iterations before it
sleeps, and torch starts one thread per core it *sees*, ignoring a container's CPU quota. With
a second job on the same cores, each job's threads spin at every barrier while the partner
thread they wait for is descheduled, and each job slows far more than sharing the cores
explains (``benchmarks/bench_contention.py`` measures it). The fix has two parts, both applied
by the ``graham`` command before torch is imported:

- size the thread pools from the CPUs this process may run on (its affinity mask) and its
  cgroup CPU quota, not from the machine's core count (:func:`cpu_budget`);
- let waiting threads sleep at once (``OMP_WAIT_POLICY=PASSIVE``), so a thread that has to
  wait gives its core to the job that can use it.

The library never changes these by itself (importing graham changes no global state);
applications call :func:`configure_threads`, as the command line does. Settings the user has
already put in the environment are kept.
"""

from __future__ import annotations

import logging
import math
import os
import sys
from pathlib import Path

from ..errors import ParameterError

__all__ = ["cpu_budget", "cgroup_cpu_quota", "configure_threads", "THREAD_ENV_VARS"]

log = logging.getLogger(__name__)

#: Environment variables that size the thread pools of OpenMP, MKL and OpenBLAS.
THREAD_ENV_VARS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")


def cgroup_cpu_quota(root: str | os.PathLike = "/sys/fs/cgroup") -> float | None:
    """The CPU quota of this process's cgroup in cores (e.g. 1.5), or None when there is none.

    Reads cgroup v2's ``cpu.max`` ("max 100000" or "150000 100000") and falls back to cgroup v1's
    ``cpu/cpu.cfs_quota_us`` and ``cpu.cfs_period_us`` (a quota of -1 means none). Unreadable
    files count as no quota.
    """
    root = Path(root)
    try:
        quota, period = (root / "cpu.max").read_text().split()[:2]
        return None if quota == "max" else int(quota) / int(period)
    except (OSError, ValueError):
        pass
    try:
        quota_us = int((root / "cpu" / "cpu.cfs_quota_us").read_text())
        period_us = int((root / "cpu" / "cpu.cfs_period_us").read_text())
        return None if quota_us <= 0 or period_us <= 0 else quota_us / period_us
    except (OSError, ValueError):
        return None


def cpu_budget(*, cgroup_root: str | os.PathLike = "/sys/fs/cgroup") -> int:
    """CPUs this process may use [int >= 1]: the CPUs of its affinity mask (``taskset``,
    ``cpuset``), capped by the cgroup CPU quota rounded up."""
    try:
        n = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        n = os.cpu_count() or 1
    quota = cgroup_cpu_quota(cgroup_root)
    if quota is not None:
        n = min(n, max(1, math.ceil(quota - 1e-9)))
    return max(1, n)


def configure_threads(threads: int | None = None, *, wait_policy: str = "passive") -> int:
    """Size this process's thread pools and OpenMP's wait policy; returns the thread count.

    Parameters
    ----------
    threads : int >= 1 or None
        Threads for torch and BLAS. None: ``$OMP_NUM_THREADS`` when the user set it, else
        :func:`cpu_budget`.
    wait_policy : "passive" or "active"
        OpenMP's ``OMP_WAIT_POLICY`` unless the user set it. ``passive`` (default): waiting
        threads sleep, so a job sharing the cores loses only its share; ``active``: they spin,
        a little faster when the job has the cores to itself.

    Must run before torch is first imported to take full effect: the OpenMP runtime reads its
    environment once, when it loads. Called later, it still sets torch's intra-op thread count
    and logs that the wait policy could not change.
    """
    if threads is not None and threads < 1:
        raise ParameterError(f"threads must be >= 1, got {threads}")
    if wait_policy not in ("passive", "active"):
        raise ParameterError(f"wait_policy must be 'passive' or 'active', got {wait_policy!r}")
    if threads is None:
        try:
            threads = int(os.environ["OMP_NUM_THREADS"])
        except (KeyError, ValueError):
            threads = cpu_budget()
        threads = max(1, threads)
    else:
        for var in THREAD_ENV_VARS:  # an explicit count wins over the environment
            os.environ[var] = str(threads)
    for var in THREAD_ENV_VARS:
        os.environ.setdefault(var, str(threads))
    os.environ.setdefault("OMP_WAIT_POLICY", wait_policy.upper())
    if "torch" in sys.modules:
        import torch

        torch.set_num_threads(threads)
        log.info("torch was imported before configure_threads: threads set to %d, OpenMP wait policy unchanged", threads)
    return threads
