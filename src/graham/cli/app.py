"""The ``graham`` typer application and its global options; each command lives in the module
of its group (:mod:`.data`, :mod:`.training`, :mod:`.labels`, :mod:`.inference`)."""

from __future__ import annotations

import logging
from typing import Optional

import typer

__all__ = ["app"]

# rich_markup_mode=None: help texts are plain text, so units such as "[s]" and "[Hz]" are shown
# as written (Rich markup would take them for tags and drop them).
app = typer.Typer(add_completion=False, no_args_is_help=True, rich_markup_mode=None,
                  help="graham: music genre classification with graph representation learning (GrahAM).")


@app.callback()
def main(
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Log progress details."),
    threads: Optional[int] = typer.Option(
        None, "--threads", min=1,
        help="CPU threads for torch and BLAS (default: $OMP_NUM_THREADS, else the CPUs this process may use: "
             "its affinity mask capped by its cgroup quota). Waiting threads sleep (OMP_WAIT_POLICY=PASSIVE "
             "unless set), so a second job on the same cores slows this one only by its share."),
) -> None:
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    # Before any command imports torch: OpenMP reads its settings once, when it loads.
    from ..utils.threads import configure_threads

    configure_threads(threads)


@app.command()
def version() -> None:
    """Print graham's version."""
    from importlib.metadata import version as installed

    typer.echo(installed("graham"))
