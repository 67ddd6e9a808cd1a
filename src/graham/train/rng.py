"""Training draws from torch's global random generator (initialisation, dropout: modules take
no generator of their own) after seeding it with the run's seed. :func:`keeps_global_rng`
runs a training function inside :func:`torch.random.fork_rng`, so the caller's generator
state, their own seeding included, is as it was when the call returns."""

from __future__ import annotations

import functools

import torch

__all__ = ["keeps_global_rng"]


def keeps_global_rng(fn):
    """Decorate a function that seeds torch's global generator: the CPU's and every visible
    GPU's generator states are restored when it returns or raises."""
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        devices = list(range(torch.cuda.device_count())) if torch.cuda.is_available() else []
        with torch.random.fork_rng(devices=devices):
            return fn(*args, **kwargs)
    return wrapper
