"""The labels a person has given so far: a CSV of ``clip_id,label`` (a header row, one clip a
row), read by ``graham suggest`` and ``graham train --labels`` and written by the labelling page.
Every problem is one line naming what is wrong: an unknown clip id, an empty label, a clip
labelled twice with two labels."""

from __future__ import annotations

import csv
import io
import os
from pathlib import Path
from typing import Mapping, Sequence

from ..errors import DatasetError

__all__ = ["read_labels", "labels_csv"]


def read_labels(path: str | os.PathLike, clip_ids: Sequence[str] | None = None) -> dict[str, str]:
    """``{clip_id: label}`` from ``path``. ``clip_ids``: the data set's clips; an id not among
    them is a :class:`DatasetError` (a typo would otherwise drop a label silently)."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise DatasetError(f"labels file not found: {path}")
    text = path.read_text(encoding="utf-8-sig")
    reader = csv.DictReader(io.StringIO(text))
    missing = {"clip_id", "label"} - set(reader.fieldnames or ())
    if missing:
        raise DatasetError(f"{path}: needs the columns clip_id and label (missing {', '.join(sorted(missing))})")
    out: dict[str, str] = {}
    for n, row in enumerate(reader, start=2):
        clip, label = (row.get("clip_id") or "").strip(), (row.get("label") or "").strip()
        if not clip:
            raise DatasetError(f"{path}, line {n}: no clip id")
        if not label:
            raise DatasetError(f"{path}, line {n}: clip {clip!r} has no label")
        if out.get(clip, label) != label:
            raise DatasetError(f"{path}, line {n}: clip {clip!r} is labelled both {out[clip]!r} and {label!r}")
        out[clip] = label
    if clip_ids is not None:
        known = set(clip_ids)
        unknown = [c for c in out if c not in known]
        if unknown:
            raise DatasetError(f"{path}: {len(unknown)} clip id(s) not in the data set, e.g. "
                               f"{', '.join(map(repr, unknown[:3]))}")
    return out


def labels_csv(labels: Mapping[str, str]) -> str:
    """The CSV text :func:`read_labels` reads."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["clip_id", "label"])
    for clip, label in labels.items():
        w.writerow([clip, label])
    return buf.getvalue()
