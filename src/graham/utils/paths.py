"""Where graham keeps its caches: ``$GRAHAM_CACHE`` or ``~/.cache/graham``."""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["cache_dir"]


def cache_dir() -> Path:
    """The root of graham's caches (synthetic corpora, features); created on demand."""
    root = Path(os.environ.get("GRAHAM_CACHE") or Path.home() / ".cache" / "graham").expanduser()
    root.mkdir(parents=True, exist_ok=True)
    return root
