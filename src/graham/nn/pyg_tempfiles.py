"""PyTorch Geometric writes the source it generates for each ``MessagePassing`` class's
``propagate`` (and ``edge_updater``) to a file in the temp folder (``NamedTemporaryFile``,
``delete=False``) and imports it from there, once per class and process; it never removes the
file, so every graham process left one per class behind. Once imported the module lives in
memory, so the file can go: :func:`remove_generated_sources` removes the ones of the classes
loaded so far."""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

__all__ = ["remove_generated_sources"]

_removed: set[str] = set()


def remove_generated_sources() -> None:
    """Delete the temp-folder source files of PyG's generated modules imported so far in this
    process (only files PyG wrote there: named after their module, in the temp folder)."""
    tmp = None
    for name, module in list(sys.modules.items()):
        if name in _removed or not name.endswith(("_propagate", "_edge_updater")):
            continue
        path = getattr(module, "__file__", None)
        if not path:
            continue
        tmp = tmp or Path(tempfile.gettempdir()).resolve()
        path = Path(path)
        if path.parent.resolve() == tmp and path.name.startswith(name + "_") and path.suffix == ".py":
            path.unlink(missing_ok=True)
        _removed.add(name)
