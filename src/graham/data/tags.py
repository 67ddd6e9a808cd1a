"""A music file's tags, read with mutagen (ID3, Vorbis comments, FLAC, MP4, Opus): the names a
library's relations come from (ARTIST, ALBUMARTIST, ALBUM) and the GENRE a user gave, if any.
Reading never changes the file."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path, PurePath

from ..errors import AudioError
from .relations import album_key, artist_names

__all__ = ["TrackTags", "read_tags"]


@dataclass(frozen=True)
class TrackTags:
    """The tags of one file that graham reads ("" where a tag is missing)."""

    path: Path
    artist: str = ""
    albumartist: str = ""
    album: str = ""
    title: str = ""
    genre: str = ""

    def relation_keys(self, folder: str | PurePath) -> dict[str, set[str]]:
        """This track's keys for each relation: its album (:func:`~.relations.album_key`, the
        ``folder`` standing in for a missing or unusable ALBUM) and its artists."""
        return {"album": {album_key(self.album, self.albumartist, folder)},
                "artist": artist_names(self.artist, self.albumartist)}


def read_tags(path: str | os.PathLike) -> TrackTags:
    """The tags of an audio file.

    Parameters
    ----------
    path : str or os.PathLike
        An audio file of a format mutagen reads.

    Returns
    -------
    TrackTags
        Each tag's first value, stripped; several GENRE values are joined with "; ".

    Raises
    ------
    AudioError
        The file cannot be read, or is not a format mutagen knows.

    Examples
    --------
    >>> import numpy as np, soundfile as sf, mutagen
    >>> from graham.data.tags import read_tags
    >>> sf.write(f"{tmp}/a.ogg", np.zeros(22050, dtype=np.float32), 22050, format="OGG", subtype="VORBIS")
    >>> f = mutagen.File(f"{tmp}/a.ogg", easy=True)
    >>> f["artist"], f["album"], f["genre"] = "Dj Shadow", "Endtroducing.....", "trip hop"
    >>> f.save()
    >>> t = read_tags(f"{tmp}/a.ogg")
    >>> t.artist, t.album, t.genre, t.albumartist
    ('Dj Shadow', 'Endtroducing.....', 'trip hop', '')
    """
    import mutagen

    path = Path(path)
    try:
        f = mutagen.File(path, easy=True)
    except (mutagen.MutagenError, OSError) as exc:
        raise AudioError(str(path), f"cannot read its tags ({exc})") from None
    if f is None:
        raise AudioError(str(path), "not a tagged audio format mutagen knows")
    tags = f.tags or {}

    def first(key: str) -> str:
        values = tags.get(key) or []
        return str(values[0]).strip() if values else ""

    genres = [str(g).strip() for g in (tags.get("genre") or []) if str(g).strip()]
    return TrackTags(path, first("artist"), first("albumartist"), first("album"), first("title"), "; ".join(genres))
