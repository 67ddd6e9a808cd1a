"""Which code produced a result: graham's version and, in a git checkout, the commit and
whether the tree had changes. Saved runs record it, so a table is never scored on runs of
other code without saying so."""

from __future__ import annotations

import functools
import subprocess
from importlib import metadata
from pathlib import Path

__all__ = ["code_version", "same_code"]


@functools.lru_cache(maxsize=1)
def code_version() -> dict:
    """``{"version": ..., "commit": sha or None, "dirty": bool or None}``; the commit is that of
    the checkout graham is imported from (None for an installed copy, or without git)."""
    try:
        version = metadata.version("graham")
    except metadata.PackageNotFoundError:
        version = None
    here = Path(__file__).resolve().parent
    commit = dirty = None
    try:
        top = subprocess.run(["git", "-C", str(here), "rev-parse", "--show-toplevel"], capture_output=True,
                             text=True, timeout=10)
        root = Path(top.stdout.strip())
        if top.returncode == 0 and (root / "src" / "graham").resolve() == here:
            commit = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True,
                                    timeout=10).stdout.strip() or None
            status = subprocess.run(["git", "-C", str(root), "status", "--porcelain", "--", "src"],
                                    capture_output=True, text=True, timeout=10)
            dirty = bool(status.stdout.strip()) if status.returncode == 0 else None
    except (OSError, subprocess.SubprocessError):
        pass
    return {"version": version, "commit": commit, "dirty": dirty}


def same_code(recorded: dict | None) -> bool:
    """Whether ``recorded`` (a :func:`code_version` of a saved run) names this very code: the
    same commit and a clean tree on both sides (a changed tree is other code)."""
    now = code_version()
    return (recorded is not None and now["commit"] is not None and recorded.get("commit") == now["commit"]
            and recorded.get("dirty") is False and now["dirty"] is False)
