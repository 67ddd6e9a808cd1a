"""A user's music library as graham reads it: every audio file below a folder with its tags, the
genres it already carries (spellings merged through a genre map, genres of too few tracks left
out and reported), and the relations between its tracks (album, artist)."""

from __future__ import annotations

import csv
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Mapping

from ..errors import AudioError, DatasetError
from .folder import audio_paths
from .relations import TrackRelations, normalise_name
from .tags import TrackTags, read_tags

__all__ = ["Library", "read_library", "read_genre_map"]


@dataclass
class Library:
    """The tracks of a library folder, in path order.

    ``genres[i]`` is track i's genre as graham trains on it ("" for an untagged track, and for a
    track whose genre is left out); ``left_out`` names the genres of fewer than the minimum
    tracks, with their counts; ``skipped`` the files that could not be read, with the reason."""

    root: Path
    tracks: list[TrackTags]
    genres: list[str]
    left_out: dict[str, int] = field(default_factory=dict)
    skipped: list[AudioError] = field(default_factory=list)

    @property
    def classes(self) -> list[str]:
        return sorted({g for g in self.genres if g})

    def folder(self, i: int) -> str:
        """Track i's folder, relative to the library's root."""
        return self.tracks[i].path.parent.relative_to(self.root).as_posix()

    def relations(self, *, max_neighbours: int = 32) -> TrackRelations:
        """The album and artist edges between the tracks (:mod:`graham.data.relations`)."""
        keys = [t.relation_keys(self.folder(i)) for i, t in enumerate(self.tracks)]
        return TrackRelations.from_keys({r: [k[r] for k in keys] for r in ("album", "artist")},
                                        max_neighbours=max_neighbours)


def read_genre_map(path: str | os.PathLike) -> dict[str, str]:
    """A genre map: CSV rows ``spelling,genre`` ("Hip-Hop,hip hop"); a header row
    ``spelling,genre`` is allowed. Spellings are compared normalised (case, spacing, punctuation)."""
    path = Path(path).expanduser()
    try:
        rows = list(csv.reader(path.read_text(encoding="utf-8").splitlines()))
    except OSError as exc:
        raise DatasetError(f"genre map {path}: {exc.strerror or exc}") from None
    out = {}
    for k, row in enumerate(rows, 1):
        if not row or not "".join(row).strip() or (k == 1 and [c.strip().lower() for c in row] == ["spelling", "genre"]):
            continue
        if len(row) != 2 or not row[0].strip() or not row[1].strip():
            raise DatasetError(f"genre map {path}, line {k}: want spelling,genre; got {row!r}")
        out[normalise_name(row[0])] = row[1].strip()
    return out


def read_library(root: str | os.PathLike, *, genre_map: Mapping[str, str] | None = None, min_tracks: int = 3,
                 on_skip: Callable[[AudioError], None] | None = None) -> Library:
    """Every audio file below ``root`` with its tags.

    Parameters
    ----------
    root : str or os.PathLike
        The library's folder (hidden files and folders are passed over).
    genre_map : Mapping[str, str], optional
        Normalised spelling -> genre (:func:`read_genre_map`); a GENRE tag not in it is its own
        genre, spelt as the most common of its spellings.
    min_tracks : int
        Genres with fewer tracks are left out (reported in ``left_out``): too few to learn from.
    on_skip : callable, optional
        Hears each file that cannot be read (it is skipped).

    Returns
    -------
    Library

    Examples
    --------
    >>> import numpy as np, soundfile as sf, mutagen
    >>> from pathlib import Path
    >>> from graham.data.library import read_library
    >>> for name, genre in (("a.ogg", "Hip-Hop"), ("b.ogg", "hip hop"), ("c.ogg", "Jazz"), ("d.ogg", "")):
    ...     sf.write(f"{tmp}/{name}", np.zeros(22050, dtype=np.float32), 22050, format="OGG", subtype="VORBIS")
    ...     f = mutagen.File(f"{tmp}/{name}", easy=True)
    ...     f["genre"] = [genre] if genre else []
    ...     f.save()
    >>> lib = read_library(tmp, genre_map={"hip hop": "hip hop"}, min_tracks=2)
    >>> lib.genres, lib.left_out
    (['hip hop', 'hip hop', '', ''], {'Jazz': 1})
    """
    base = Path(root).expanduser()
    if not base.is_dir():
        raise DatasetError(f"library folder not found: {base}")
    tracks, skipped = [], []
    for path in audio_paths(base):
        if not path.is_file():
            continue
        try:
            tracks.append(read_tags(path))
        except AudioError as exc:
            skipped.append(exc)
            if on_skip is not None:
                on_skip(exc)
    genres = _genres([t.genre for t in tracks], genre_map or {})
    counts: dict[str, int] = {}
    for g in genres:
        if g:
            counts[g] = counts.get(g, 0) + 1
    left_out = {g: n for g, n in sorted(counts.items()) if n < min_tracks}
    return Library(base, tracks, [g if g not in left_out else "" for g in genres], left_out, skipped)


def _genres(tags: list[str], genre_map: Mapping[str, str]) -> list[str]:
    """Each track's genre: its GENRE tag's first value through the map, or its normalised
    spelling's most common form in the library."""
    first = [t.split(";")[0].strip() for t in tags]
    spellings: dict[str, dict[str, int]] = {}
    for t in first:
        if t:
            forms = spellings.setdefault(normalise_name(t), {})
            forms[t] = forms.get(t, 0) + 1
    common = {k: max(sorted(forms), key=lambda f: forms[f]) for k, forms in spellings.items()}
    return [genre_map.get(normalise_name(t), common[normalise_name(t)]) if t else "" for t in first]
