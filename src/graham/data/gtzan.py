"""GTZAN reader: ``<root>/<genre>/<genre>.000NN.{au,wav}`` (also under ``genres/`` or ``genres_original/``).

Each file's header is checked on reading, so an unreadable file (the WAV copy's
``jazz/jazz.00054.wav``) is reported by name in ``Corpus.skipped`` and never stops the run.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from ..audio.decode import AUDIO_EXTENSIONS, header_problem
from ..errors import DatasetError
from .corpus import Clip, Corpus, Skipped, not_a_file
from .split_lists import apply_split_lists

__all__ = ["GTZAN_GENRES", "find_gtzan_root", "read_gtzan"]

GTZAN_GENRES = ("blues", "classical", "country", "disco", "hiphop", "jazz", "metal", "pop", "reggae", "rock")
_NAME = re.compile(r"^(?P<genre>[A-Za-z0-9_-]+)\.(?P<num>\d{5})\.(?P<ext>[A-Za-z0-9]+)$")


def find_gtzan_root(root: str | os.PathLike) -> Path:
    """The folder whose sub-folders are the genres: ``root`` itself, or ``genres/``,
    ``genres_original/`` or ``Data/genres_original/`` below it."""
    root = Path(root).expanduser()
    if not root.is_dir():
        raise DatasetError(f"GTZAN folder not found: {root}")
    for sub in ("genres", "genres_original", "Data/genres_original", "gtzan/genres"):
        if (root / sub).is_dir():
            return root / sub
    return root


def read_gtzan(
    root: str | os.PathLike,
    *,
    genres: tuple[str, ...] | None = None,
    split_lists: dict[str, str | os.PathLike] | None = None,
    check_headers: bool = True,
    name: str = "gtzan",
) -> Corpus:
    """Read a GTZAN-layout folder into a :class:`Corpus`.

    Parameters
    ----------
    root : str or os.PathLike
        The folder (or one holding ``genres/`` or ``genres_original/``).
    genres : tuple of str, optional
        Restrict to these genre folders (default: every sub-folder with GTZAN-named files).
    split_lists : dict, optional
        ``{"train"|"valid"|"test": file of clip ids or relative paths}``, e.g. the
        fault-filtered artist-conscious split of Kereliuk, Sturm & Larsen (2015).
    check_headers : bool
        Open every file's header and skip the unreadable ones (cheap; recommended).
    name : str
        The corpus's name.

    Returns
    -------
    Corpus
        Clip ids are ``<genre>.<NNNNN>``; GTZAN carries no artist names, so each clip is its own
        group unless split lists give an artist-conscious split.

    Examples
    --------
    The synthetic corpus written as GTZAN is laid out:

    >>> from graham.data.gtzan import read_gtzan
    >>> from graham.synth.corpus import SynthSpec, generate_corpus
    >>> root = generate_corpus(f"{tmp}/gtzan", SynthSpec(per_genre=2, seconds=1.0, genres=("jazz", "rock")), progress=False)
    >>> corpus = read_gtzan(root)
    >>> corpus.clip_ids, corpus.classes
    (['jazz.00000', 'jazz.00001', 'rock.00000', 'rock.00001'], ['jazz', 'rock'])
    """
    base = find_gtzan_root(root)
    clips, skipped = [], []
    folders = sorted(p for p in base.iterdir() if p.is_dir() and not p.name.startswith("."))
    if genres is not None:
        missing = [g for g in genres if not (base / g).is_dir()]
        if missing:
            raise DatasetError(f"{base}: no folder for genres {missing}")
        folders = [base / g for g in genres]
    for folder in folders:
        for path in sorted(folder.iterdir()):
            if path.name.startswith("."):
                continue
            m = _NAME.match(path.name)
            if m is None or path.suffix.lower() not in AUDIO_EXTENSIONS:
                continue  # GTZAN folders hold only clips; other files (e.g. .mf lists) are not clips
            problem = not_a_file(path)
            if problem:
                skipped.append(Skipped(str(path), problem))
                continue
            if m["genre"] != folder.name:
                skipped.append(Skipped(str(path), f"file name says genre {m['genre']!r} but it is in {folder.name}/"))
                continue
            problem = header_problem(path) if check_headers else None
            if problem:
                skipped.append(Skipped(str(path), problem))
                continue
            clip_id = f"{m['genre']}.{m['num']}"
            clips.append(Clip(clip_id, path, folder.name, clip_id))
    if not clips:
        raise DatasetError(f"{base}: no GTZAN clips found (expected <genre>/<genre>.000NN.wav or .au)")
    corpus = Corpus(name, tuple(clips), tuple(skipped), root=base)
    if split_lists:
        corpus = apply_split_lists(corpus, split_lists)
    return corpus
