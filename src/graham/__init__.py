"""graham: music genre classification with graph representation learning (GrahAM).

Audio clips become log-mel spectrograms, a Siamese network embeds them, and a graph network
over all clips classifies them (Dokania & Singh, "Graph Representation learning for Audio &
Music genre Classification").

The package root is the inference facade: :func:`load` a trained bundle, get a
:class:`GenreClassifier`. Importing it loads nothing heavy; the workflows (train, experiment,
suggest, extend, audit) are :mod:`graham.workflows`, the command is :mod:`graham.cli`.
"""

from importlib import metadata as _metadata

from .utils.lazy import lazy_attributes

try:  # one version number: pyproject.toml's, as installed
    __version__ = _metadata.version("graham")
except _metadata.PackageNotFoundError:  # run from a source tree that was never installed
    __version__ = "unknown"

_WHERE = {"load": ".inference.predict", "GenreClassifier": ".inference.predict"}

__all__ = ["__version__", *_WHERE]
__getattr__, __dir__ = lazy_attributes(__name__, _WHERE)
