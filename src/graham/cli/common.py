"""What every command does alike: fail with one line, say what was skipped, stop cleanly on
Ctrl-C, and check what it was given before the heavy libraries load."""

from __future__ import annotations

import os
from contextlib import contextmanager
from pathlib import Path
from typing import Iterable, Iterator, Optional

import typer

from ..errors import GrahamError

__all__ = ["fail", "handled", "reports", "notify", "echo_skipped", "check_first"]


def fail(exc: Exception) -> None:
    """``error: ...`` on stderr, exit 2."""
    typer.secho(f"error: {exc}", fg=typer.colors.RED, err=True)
    raise typer.Exit(2)


@contextmanager
def handled(*, interrupted: Optional[str] = None, also: tuple[type[Exception], ...] = ()) -> Iterator[None]:
    """A :class:`GrahamError` (and ``also``) becomes one line and exit 2; Ctrl-C, with
    ``interrupted`` (what is kept and how to go on), that line and exit 130 as a shell expects."""
    try:
        yield
    except GrahamError as exc:
        fail(exc)
    except also as exc:
        fail(exc)
    except KeyboardInterrupt:
        if interrupted is None:
            raise
        typer.secho(f"\ninterrupted: {interrupted}", fg=typer.colors.YELLOW, err=True)
        raise typer.Exit(130) from None


def reports() -> bool:
    """Whether this process prints the result: under torchrun only process 0 does."""
    return int(os.environ.get("RANK", "0")) == 0


def notify(line: str) -> None:
    """A line a workflow says as soon as it knows it (the split chosen, a leakage warning)."""
    if reports():
        typer.echo(line)


def echo_skipped(skipped: Iterable, *, limit: int = 20, where: str = "") -> None:
    """Name the first ``limit`` files left out, then count the rest: a corpus of millions can
    leave out thousands, and the full list is in a file."""
    skipped = list(skipped)
    for s in skipped[:limit]:
        typer.secho(f"skipped: {s}", fg=typer.colors.YELLOW)
    if len(skipped) > limit:
        typer.secho(f"... and {len(skipped) - limit} more{where}", fg=typer.colors.YELLOW)


def check_first(*, methods: Optional[Iterable[str]] = None, protocols: tuple = (), protocol: Optional[str] = None,
                fractions: Iterable[float] = (), device: Optional[str] = None, out: Optional[Path] = None,
                bundle: Optional[Path] = None) -> None:
    """What a command was given, checked before torch and PyTorch Geometric load (seconds):
    a typo is one line and exit 2 at once (:mod:`graham.cli.checks`)."""
    from . import checks

    with handled():
        if protocol is not None:
            checks.check_choice("--protocol", protocol, protocols)
        checks.check_methods(methods)
        checks.check_fractions(fractions)
        checks.check_device(device)
        if bundle is not None:
            from ..inference.bundle_format import bundle_config

            bundle_config(bundle)
        if out is not None:
            from ..utils.files import writable_folder

            writable_folder(out)
