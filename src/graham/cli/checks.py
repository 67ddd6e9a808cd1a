"""Checks of what a command was given that need no heavy import (torch, PyTorch Geometric,
scipy): the CLI runs them first, so a typo costs a fraction of a second and one line, not the
seconds those libraries take to load. The modules that do the work check again, as the
authority; these checks only say early what would fail later."""

from __future__ import annotations

import os
import sys
from importlib import metadata
from typing import Iterable

from ..errors import ParameterError

__all__ = ["check_dataset", "check_methods", "check_choice", "check_device",
           "check_fractions", "check_port"]

from ..names import METHOD_KEYS


def check_dataset(dataset: str, clips: str | os.PathLike | None = None) -> None:
    """A data-set spec that names a known kind and a path that is there (the folder of GTZAN and
    ``folder:``, the table of ``csv:`` and ``audioset:``, and AudioSet's ``--clips`` folder)."""
    from ..data.spec import check_paths, parse_dataset  # light: the readers load on use

    check_paths(parse_dataset(dataset), clips)


def check_methods(methods: Iterable[str] | None) -> None:
    """Every name a key of Table 1's methods."""
    unknown = [m for m in methods or () if m not in METHOD_KEYS]
    if unknown:
        raise ParameterError(f"unknown method {', '.join(map(repr, unknown))}; known: {', '.join(METHOD_KEYS)}")


def check_choice(option: str, value: str | None, choices: Iterable[str]) -> None:
    """``value`` (when given) one of ``choices``, else an error naming ``option``."""
    choices = tuple(choices)
    if value is not None and value not in choices:
        raise ParameterError(f"{option} {value!r}: use one of {', '.join(choices)}")


def check_fractions(fractions: Iterable[float], option: str = "--fraction") -> None:
    bad = [f for f in fractions if not 0 < f <= 1]
    if bad:
        raise ParameterError(f"{option} {bad[0]:g}: a labelled fraction lies in (0, 1]")


def check_device(device: str | None) -> None:
    """A device name graham can run on: auto, cpu, cuda[:N] (not with a CPU build of torch) or
    mps (on macOS). Whether a GPU is visible is left to :func:`graham.train.siamese.resolve_device`."""
    if device in (None, "auto", "cpu"):
        return
    kind, _, index = device.partition(":")
    if kind not in ("cuda", "mps", "cpu") or (index and not index.isdigit()):
        raise ParameterError(f"device {device!r}: graham runs on cpu, cuda, cuda:N, mps or auto")
    if kind == "mps" and sys.platform != "darwin":
        raise ParameterError(f"device {device!r}: Apple's GPU (MPS) exists on macOS only; use --device cpu or auto")
    if kind == "cuda":
        try:
            build = metadata.version("torch")
        except metadata.PackageNotFoundError:
            return
        if build.endswith("+cpu"):
            raise ParameterError(f"device {device!r}: this torch ({build}) is a CPU build with no CUDA; use "
                                 "--device cpu or auto")


def check_port(host: str, port: int) -> None:
    """That ``host:port`` can be listened on now (not taken by another server, an address of
    this machine): a server checks before it spends seconds loading a model."""
    import socket

    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise ParameterError(f"--host {host!r}: not an address of this machine ({exc.strerror})") from None
    family, kind, proto, _, address = infos[0]
    with socket.socket(family, kind, proto) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn binds: a closing socket is no clash
        try:
            s.bind(address)
        except OSError as exc:
            raise ParameterError(f"cannot listen on {host}:{port} ({exc.strerror}); another server may hold the "
                                 "port: pick another with --port") from None
