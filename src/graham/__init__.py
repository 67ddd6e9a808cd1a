"""graham: music genre classification with graph representation learning (GrahAM).

Audio clips become log-mel spectrograms, a Siamese network embeds them, and a graph network
over all clips classifies them (Dokania & Singh, "Graph Representation learning for Audio &
Music genre Classification").
"""

from importlib import metadata as _metadata

try:  # one version number: pyproject.toml's, as installed
    __version__ = _metadata.version("graham")
except _metadata.PackageNotFoundError:  # run from a source tree that was never installed
    __version__ = "unknown"

__all__ = ["__version__", "load", "audit"]


def load(path, *, device: str | None = None):
    """Load a trained bundle folder for inference: ``graham.load("runs/demo/bundle").predict("song.mp3")``.

    Returns a :class:`graham.predict.GenreClassifier`.
    """
    from .predict import load as _load

    return _load(path, device=device)


def audit(dataset: str, out, **kwargs):
    """Audit a data set (``KIND:PATH``): duplicates, suspect labels, leakage, per-class counts;
    writes ``out/audit.html``, ``out/audit.json`` and CSVs. Returns the
    :class:`graham.audit.core.AuditResult`. See :func:`graham.pipeline.run_audit`."""
    from .pipeline import run_audit

    return run_audit(dataset, out, **kwargs)[0]
