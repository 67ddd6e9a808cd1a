"""AudioSet reader: a segments CSV plus a folder of clips the user already has, music genres only.

The CSV is AudioSet's own (``balanced_train_segments.csv``, ``eval_segments.csv``,
``unbalanced_train_segments.csv``): three ``#`` header lines, then
``YTID, start_seconds, end_seconds, "label,label,..."``. Only the children of "Music genre"
(``/m/0kpv1t``) count as labels.

Multi-label rule: a clip carrying several of the chosen genres is ambiguous for single-label
classification. ``multi_label="drop"`` (default) leaves it out and counts it;
``multi_label="first"`` keeps it with the first of its genres in the CSV's own order.
"""

from __future__ import annotations

import csv
import functools
import os
from pathlib import Path

from ..audio.decode import AUDIO_EXTENSIONS
from ..errors import DatasetError
from .corpus import Clip, Corpus, Skipped

__all__ = ["AUDIOSET_GENRES", "read_audioset", "resolve_genres"]

#: The 25 children of "Music genre" (/m/0kpv1t) in the AudioSet ontology: MID -> name.
AUDIOSET_GENRES: dict[str, str] = {
    "/m/064t9": "Pop music", "/m/0glt670": "Hip hop music", "/m/06by7": "Rock music",
    "/m/06j6l": "Rhythm and blues", "/m/0gywn": "Soul music", "/m/06cqb": "Reggae",
    "/m/01lyv": "Country", "/m/02x8m": "Funk", "/m/02w4v": "Folk music",
    "/m/06j64v": "Middle Eastern music", "/m/03_d0": "Jazz", "/m/026z9": "Disco",
    "/m/0ggq0m": "Classical music", "/m/02lkt": "Electronic music", "/m/0g293": "Music of Latin America",
    "/m/0155w": "Blues", "/m/05fw6t": "Music for children", "/m/02v2lh": "New-age music",
    "/m/0y4f8": "Vocal music", "/m/0164x2": "Music of Africa", "/m/02mscn": "Christian music",
    "/m/028sqc": "Music of Asia", "/m/06rqw": "Ska", "/m/02p0sh1": "Traditional music",
    "/m/05rwpb": "Independent music",
}

_MULTI = ("drop", "first")


def _slug(name: str) -> str:
    return name.lower().replace(" music", "").replace("music of ", "").replace("music for ", "").strip()


def resolve_genres(names: list[str] | None) -> dict[str, str]:
    """Map user-given genres (MIDs, full names or short names such as ``rock``) to {MID: label}."""
    if not names:
        return {mid: _slug(n) for mid, n in AUDIOSET_GENRES.items()}
    lookup: dict[str, str] = {}
    for mid, full in AUDIOSET_GENRES.items():
        for key in (mid, full.lower(), _slug(full)):
            lookup[key] = mid
    out = {}
    for n in names:
        found = lookup.get(n.strip().lower()) or lookup.get(n.strip())
        if found is None:
            raise DatasetError(f"unknown AudioSet genre {n!r}; known: {sorted(_slug(v) for v in AUDIOSET_GENRES.values())}")
        out[found] = _slug(AUDIOSET_GENRES[found])
    return out


@functools.lru_cache(maxsize=1 << 14)  # a CSV holds a few hundred distinct times over millions of rows
def _fmt_seconds(raw: str) -> str:
    value = float(raw)
    return str(int(value)) if value.is_integer() else f"{value:g}"


def _audio_files(folder: Path) -> dict[str, Path]:
    """Every audio file below ``folder`` by its name without extension (the first one found)."""
    files: dict[str, Path] = {}
    for root, _, names in os.walk(folder):  # scandir's entry types: no stat per file (2 million for AudioSet)
        for name in names:
            stem, ext = os.path.splitext(name)
            if ext.lower() in AUDIO_EXTENSIONS and stem not in files:
                files[stem] = Path(root, name)
    return files


def read_audioset(
    csv_path: str | os.PathLike,
    clips_dir: str | os.PathLike,
    *,
    genres: list[str] | None = None,
    pattern: str = "{YTID}_{start}",
    multi_label: str = "drop",
    name: str = "audioset",
) -> Corpus:
    """Read an AudioSet segments CSV, keep music-genre clips present in ``clips_dir``.

    Parameters
    ----------
    csv_path : str or os.PathLike
        AudioSet segments CSV (``YTID, start_seconds, end_seconds, positive_labels``).
    clips_dir : str or os.PathLike
        Folder (searched recursively) holding the clips, in any audio format.
    genres : list of str, optional
        Subset of genres (MIDs or names); default: all 25.
    pattern : str
        File name without extension; fields ``{YTID}``, ``{start}``, ``{end}`` (seconds,
        written as integers when whole, e.g. ``30``) and ``{start_raw}``, ``{end_raw}`` (as in
        the CSV).
    multi_label : {'drop', 'first'}
        A segment of several chosen genres is dropped, or kept with its first (see the module
        docstring).
    name : str
        The corpus's name.

    Returns
    -------
    Corpus
        Clips in the CSV whose file is absent are counted in ``Corpus.notes``; a segment's group
        is its YouTube id, so grouped splits never put two segments of one video on both sides.

    Examples
    --------
    One segment of rock, one of jazz and rock (dropped), one whose file is missing, one of
    speech (not a genre):

    >>> import numpy as np, soundfile as sf
    >>> from pathlib import Path
    >>> from graham.data.audioset import read_audioset
    >>> rows = ['abc, 30.000, 40.000, "/m/06by7"', 'abc, 50.000, 60.000, "/m/03_d0,/m/06by7"',
    ...         'xyz, 0.000, 10.000, "/m/06by7"', 'spk, 0.000, 10.000, "/m/09x0r"']
    >>> _ = Path(tmp, "segments.csv").write_text("# YTID, start_seconds, end_seconds, positive_labels\\n" + "\\n".join(rows))
    >>> Path(tmp, "clips").mkdir()
    >>> for stem in ("abc_30", "abc_50"):
    ...     sf.write(str(Path(tmp, "clips", stem + ".flac")), np.zeros(22050, dtype=np.float32), 22050)
    >>> corpus = read_audioset(Path(tmp, "segments.csv"), Path(tmp, "clips"))
    >>> [(c.clip_id, c.label, c.group) for c in corpus.clips]
    [('abc_30', 'rock', 'abc')]
    >>> print(corpus.notes[0])  # doctest: +NORMALIZE_WHITESPACE
    4 segments in segments.csv: 1 without a chosen genre, 1 dropped for several genres
    (multi_label='drop'), 1 missing from ..., 1 kept
    """
    if multi_label not in _MULTI:
        raise DatasetError(f"multi_label must be one of {_MULTI}, got {multi_label!r}")
    csv_path, clips_dir = Path(csv_path).expanduser(), Path(clips_dir).expanduser()
    if not csv_path.is_file():
        raise DatasetError(f"AudioSet CSV not found: {csv_path}")
    if not clips_dir.is_dir():
        raise DatasetError(f"AudioSet clips folder not found: {clips_dir}")
    wanted = resolve_genres(genres)
    files = _audio_files(clips_dir)
    default_pattern = pattern == "{YTID}_{start}"
    clips, skipped = [], []
    n_rows = n_multi = n_missing = n_other = 0
    with open(csv_path, newline="") as f:
        for row in csv.reader(f, skipinitialspace=True):  # ~2 million rows for the unbalanced set: keep this lean
            if not row or row[0].startswith("#") or (len(row) == 1 and not row[0].strip()):
                continue  # comments and blank lines
            if len(row) < 4:
                raise DatasetError(f"{csv_path}: malformed row {row!r} (want YTID, start, end, labels)")
            n_rows += 1
            ytid, start, end, labels = row[0], row[1], row[2], row[3]
            mids = [m for m in map(str.strip, labels.split(",")) if m in wanted]
            if not mids:
                n_other += 1
                continue
            if len(set(mids)) > 1 and multi_label == "drop":
                n_multi += 1
                continue
            if default_pattern:
                stem = f"{ytid}_{_fmt_seconds(start)}"
            else:
                stem = pattern.format(YTID=ytid, start=_fmt_seconds(start), end=_fmt_seconds(end),
                                      start_raw=start, end_raw=end)
            path = files.get(stem)
            if path is None:
                n_missing += 1
                continue
            clips.append(Clip(stem, path, wanted[mids[0]], ytid))
    notes = (
        f"{n_rows} segments in {csv_path.name}: {n_other} without a chosen genre, "
        f"{n_multi} dropped for several genres (multi_label={multi_label!r}), "
        f"{n_missing} missing from {clips_dir}, {len(clips)} kept",
    )
    if n_missing:
        skipped.append(Skipped(str(clips_dir), f"{n_missing} clips listed in {csv_path.name} are not in the folder"))
    if not clips:
        raise DatasetError(f"no AudioSet music-genre clips found: {notes[0]}")
    return Corpus(name, tuple(clips), tuple(skipped), root=clips_dir, notes=notes)
