"""An experiment's figures (``graham experiment``): kept apart from :mod:`graham.report.figures`,
which inference (the service, ``graham explain``) also draws with, because it reads the method
registry of :mod:`graham.evaluate`, and inference imports nothing of training."""

from __future__ import annotations

from pathlib import Path

from ..evaluate.methods import METHOD_NAMES
from .figures import confusion_figure, table_figure

__all__ = ["write_experiment_figures"]


def write_experiment_figures(result, out, *, title: str) -> Path:
    """An experiment's figures: a confusion matrix per run and method under ``out/confusion``
    and the Table 1 bars, ``out/table.png`` (returned)."""
    out = Path(out)
    for k, run in enumerate(result.runs):
        for m, met in run.metrics.items():
            confusion_figure(met["confusion"], result.classes,
                             f"{METHOD_NAMES[m]}, {run.fraction:.0%} labelled, seed {run.seed}",
                             out / "confusion" / f"run{k:02d}_{m}_{int(run.fraction * 100)}pct.png")
    return table_figure(result.table(), out / "table.png", title=title)
