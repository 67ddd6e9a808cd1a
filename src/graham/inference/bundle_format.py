"""The bundle folder's format: its files, its version, and its ``config.json`` read and
checked. Standard library only, so the CLI checks a bundle before torch loads."""

from __future__ import annotations

import json
import os
from pathlib import Path

from ..errors import BundleError

__all__ = ["BUNDLE_FILES", "BUNDLE_FORMAT", "bundle_config"]

#: The files of a bundle folder, and the format this graham reads.
BUNDLE_FILES = ("config.json", "siamese.safetensors", "gnn.safetensors", "reference.safetensors")
BUNDLE_FORMAT = 1


def bundle_config(path: str | os.PathLike) -> dict:
    """The ``config.json`` of a bundle folder, once the folder is found complete and the file is
    a JSON object of the format this graham reads; a :class:`BundleError` saying what is wrong
    otherwise."""
    path = Path(path).expanduser()
    if not path.is_dir():
        raise BundleError(f"bundle folder not found: {path}")
    missing = [f for f in BUNDLE_FILES if not (path / f).is_file()]
    if missing:
        raise BundleError(f"{path} is not a complete graham bundle: missing {', '.join(missing)}")
    try:
        cfg = json.loads((path / "config.json").read_text())
    except (OSError, ValueError) as exc:
        raise BundleError(f"{path}/config.json is malformed ({exc})") from exc
    if not isinstance(cfg, dict):
        raise BundleError(f"{path}/config.json is malformed (a JSON {type(cfg).__name__}, not an object)")
    if cfg.get("format") != BUNDLE_FORMAT:
        raise BundleError(f"{path}: bundle format {cfg.get('format')!r}, this graham reads {BUNDLE_FORMAT}")
    return cfg
