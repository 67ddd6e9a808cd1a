"""Predefined split lists: text files of clip ids or relative paths, one per line."""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path

from ..errors import DatasetError
from .corpus import SPLITS, Corpus

__all__ = ["read_split_list", "apply_split_lists"]


def _normalise(entry: str) -> str:
    """``jazz/jazz.00054.wav`` or ``jazz.00054`` -> ``jazz.00054``: the file name without extension."""
    name = entry.strip().replace("\\", "/").rsplit("/", 1)[-1]
    stem, dot, ext = name.rpartition(".")
    return stem if dot and ext.isalpha() and len(ext) <= 5 else name


def read_split_list(path: str | os.PathLike) -> list[str]:
    """Clip ids named in ``path`` (blank lines and ``#`` comments ignored)."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise DatasetError(f"split list not found: {path}")
    ids = []
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            ids.append(_normalise(line))
    return ids


def apply_split_lists(corpus: Corpus, lists: dict[str, str | os.PathLike]) -> Corpus:
    """Mark every clip named in ``lists`` ({"train": file, "valid": file, "test": file}) with its
    split. A clip named in two lists is an error; a named clip absent from the corpus is noted."""
    unknown = set(lists) - set(SPLITS)
    if unknown:
        raise DatasetError(f"split names must be among {SPLITS}, got {sorted(unknown)}")
    by_id: dict[str, str] = {}
    for split, file in lists.items():
        for clip_id in read_split_list(file):
            if by_id.get(clip_id, split) != split:
                raise DatasetError(f"clip {clip_id} is in both the {by_id[clip_id]} and the {split} list")
            by_id[clip_id] = split
    # Match on the clip id, or on the file name when ids carry a folder.
    clips = []
    for c in corpus.clips:
        key = c.clip_id if c.clip_id in by_id else _normalise(str(c.path))
        clips.append(replace(c, split=by_id.get(key)))
    known = {c.clip_id for c in corpus.clips} | {_normalise(str(c.path)) for c in corpus.clips}
    absent = sorted(set(by_id) - known)
    notes = corpus.notes
    if absent:
        notes = notes + (f"{len(absent)} clips named in split lists are not in the corpus (e.g. {absent[:3]})",)
    return replace(corpus, clips=tuple(clips), notes=notes)
