"""Which torch device a command runs on: ``--device`` resolved, and checked usable before any
work (a leaf module: inference and training both use it)."""

from __future__ import annotations

import torch

from ..errors import ParameterError

__all__ = ["resolve_device"]


def resolve_device(device: str | None) -> torch.device:
    """``None``/"auto": a GPU when there is one, else the CPU; otherwise as named. A CUDA device
    that this torch cannot use (a CPU build, no visible GPU, an index past the last GPU) is a
    :class:`ParameterError` saying so, not an assertion deep inside torch."""
    if device in (None, "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise ParameterError(f"unknown device {device!r}: use cpu, cuda, cuda:N or auto") from exc
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise ParameterError(f"device {device!r}: this torch has no usable CUDA (a CPU build, or no GPU "
                                 "visible); use --device cpu or auto")
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise ParameterError(f"device {device!r}: only {torch.cuda.device_count()} GPU(s) visible")
    elif dev.type == "mps":
        if not torch.backends.mps.is_available():
            raise ParameterError(f"device {device!r}: this torch has no usable Apple GPU (MPS); use --device cpu or auto")
    elif dev.type != "cpu":
        raise ParameterError(f"device {device!r}: graham runs on cpu, cuda or mps; use --device cpu, cuda or auto")
    return dev
