"""Clips to leave out of training, read from a file: an audit's ``audit.json`` (its
``exclude`` list: ``{"clip_id": ..., "reason": ...}``), any JSON list of clip ids or of such
objects, or a text file with one clip id per line (optionally a tab and the reason; ``#``
starts a comment). Used by ``graham train --exclude`` and ``graham experiment --exclude``."""

from __future__ import annotations

import json
import os
from pathlib import Path

from ..errors import DatasetError

__all__ = ["read_exclusions"]


def read_exclusions(path: str | os.PathLike) -> dict[str, str]:
    """``{clip_id: reason}`` from ``path`` (see the module docstring); a reason not given is
    "listed in <file name>"."""
    path = Path(path).expanduser()
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise DatasetError(f"--exclude {path}: cannot read it ({exc.strerror or exc})") from None
    default = f"listed in {path.name}"
    if path.suffix.lower() == ".json":
        try:
            doc = json.loads(text)
        except ValueError as exc:
            raise DatasetError(f"--exclude {path}: not valid JSON ({exc})") from None
        items = doc.get("exclude") if isinstance(doc, dict) else doc
        if not isinstance(items, list):
            raise DatasetError(f"--exclude {path}: expected a list of clip ids or an object with an 'exclude' list")
        out = {}
        for item in items:
            if isinstance(item, str):
                out[item] = default
            elif isinstance(item, dict) and isinstance(item.get("clip_id"), str):
                out[item["clip_id"]] = str(item.get("reason") or default)
            else:
                raise DatasetError(f"--exclude {path}: each entry must be a clip id or {{'clip_id': ..., 'reason': ...}}, "
                                   f"got {item!r}")
        return out
    out = {}
    for line in text.splitlines():
        line = line.split("#", 1)[0].rstrip()
        if not line.strip():
            continue
        clip_id, _, reason = line.partition("\t")
        out[clip_id.strip()] = reason.strip() or default
    return out
