"""matplotlib figures without pyplot: made with the object API (``Figure``), so no backend is
chosen for the process, no global figure registry is touched, and figures can be drawn from
several threads (the HTTP service) at once; written as PNG atomically."""

from __future__ import annotations

import os
from pathlib import Path

from matplotlib.figure import Figure

from .files import atomic_path

__all__ = ["new_figure", "save"]


def new_figure(*args, figsize, **kwargs):
    """(figure, axes) as ``pyplot.subplots`` gives, without pyplot (see the module docstring),
    laid out by matplotlib's constrained layout so titles and labels never overlap."""
    fig = Figure(figsize=figsize, layout="constrained")
    return fig, fig.subplots(*args, **kwargs)


def save(fig, path: str | os.PathLike, *, dpi: int = 90) -> Path:
    path = Path(path)
    with atomic_path(path, suffix=".png") as tmp:
        fig.savefig(tmp, dpi=dpi, format="png", bbox_inches="tight")
    return path
