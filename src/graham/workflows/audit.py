"""``graham audit``: duplicates, suspect labels and leakage in a data set, and the page to check
them by ear (:mod:`graham.audit`)."""

from __future__ import annotations

from pathlib import Path

from ..audit.core import AuditResult
from ..utils.files import writable_folder
from .features import prepare
from .requests import DataSource

__all__ = ["run_audit"]


def run_audit(source: DataSource, out: str | Path, *, seed: int = 0, folds: int = 5,
              progress: bool = True) -> tuple[AuditResult, Path]:
    """Audit a data set.

    Parameters
    ----------
    source : DataSource
        The data set (its ``split_lists`` are checked for leakage too).
    out : str or Path
        Folder for ``audit.json``, the CSVs and ``audit.html``.
    seed : int
        Seed of the folds of the out-of-fold predictions.
    folds : int >= 2
        Folds of the out-of-fold predictions that flag suspect labels.
    progress : bool
        Show progress bars.

    Returns
    -------
    (AuditResult, Path)
        What was found, and the page.

    Examples
    --------
    >>> from graham.workflows.audit import run_audit
    >>> from graham.workflows.requests import DataSource
    >>> result, page = run_audit(DataSource("synthetic:3x3"), f"{tmp}/audit", folds=3, progress=False)
    >>> len(result.corpus), page.name, sorted(p.name for p in page.parent.glob("*.json"))
    (30, 'audit.html', ['audit.json'])
    """
    from ..audit.core import audit_corpus
    from ..audit.page import write_audit

    out = writable_folder(out)
    prep = prepare(source, progress=progress)
    cfg = prep.run.features.config
    result = audit_corpus(prep.corpus, prep.mels, frames_per_second=cfg.sr / cfg.hop_length, seed=seed, folds=folds,
                          progress=progress)
    return result, write_audit(result, prep.mels, out, dataset=source.spec)
