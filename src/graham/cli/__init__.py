"""The ``graham`` command (typer): it parses options into the workflows' typed requests once,
calls a workflow (:mod:`graham.workflows`) and prints. One module per group of commands:
:mod:`.data`, :mod:`.training`, :mod:`.labels`, :mod:`.inference`; the options they share in
:mod:`.options`; the checks made before torch loads in :mod:`.checks`."""

from __future__ import annotations

import sys

from . import data, inference, labels, library, training  # noqa: F401  (each registers its commands)
from .app import app

__all__ = ["app", "run"]


def run() -> None:
    """The ``graham`` console command: ``app`` with ``-v``/``--verbose`` accepted anywhere on the
    line (``graham train DATA --out RUN -v``), not only before the subcommand."""
    args = sys.argv[1:]
    verbose = [a for a in args if a in ("-v", "--verbose")]
    app(args=verbose[:1] + [a for a in args if a not in ("-v", "--verbose")], prog_name="graham")
