"""Folder reader: ``<root>/<label>/**/<file>``, the first sub-folder under a label being the group."""

from __future__ import annotations

import os
from pathlib import Path

from ..audio.decode import AUDIO_EXTENSIONS, header_problem
from ..errors import DatasetError
from .corpus import Clip, Corpus, Skipped, not_a_file

__all__ = ["audio_paths", "read_folder", "read_audio_folder", "UNLABELLED"]

#: The label of a clip nobody has labelled (``audio:PATH``).
UNLABELLED = ""


def audio_paths(root: Path) -> list[Path]:
    """Every path below ``root`` named like audio (by extension), hidden files and folders passed
    over, in sorted order; files or not (the caller says what is wrong with one that is not)."""
    return [p for p in sorted(root.rglob("*")) if p.suffix.lower() in AUDIO_EXTENSIONS
            and not any(part.startswith(".") for part in p.relative_to(root).parts)]


def read_folder(root: str | os.PathLike, *, check_headers: bool = True, name: str | None = None) -> Corpus:
    """Read ``<root>/<label>/**/<audio file>`` into a :class:`Corpus`.

    A file directly in a label folder is its own group; a file further down belongs to the
    group named by the first sub-folder (``rock/Some Album/01.flac`` -> group ``rock/Some Album``),
    so a grouped split keeps an album, artist or source track on one side. Clip ids are the
    path relative to ``root`` without extension. Files with other extensions are ignored;
    audio files whose header is unreadable are listed in ``Corpus.skipped``.

    Parameters
    ----------
    root : str or os.PathLike
        The folder of genre folders.
    check_headers : bool
        Open every file's header and skip the unreadable ones.
    name : str, optional
        The corpus's name (default: the folder's).

    Returns
    -------
    Corpus

    Examples
    --------
    >>> import numpy as np, soundfile as sf
    >>> from pathlib import Path
    >>> from graham.data.folder import read_folder
    >>> for rel in ("rock/Album A/01.wav", "rock/Album A/02.wav", "jazz/loose.wav"):
    ...     path = Path(tmp, "music", rel)
    ...     path.parent.mkdir(parents=True, exist_ok=True)
    ...     sf.write(str(path), np.zeros(22050, dtype=np.float32), 22050)
    >>> (Path(tmp, "music", "rock", "notes.txt")).write_text("not audio")
    9
    >>> corpus = read_folder(Path(tmp, "music"))
    >>> corpus.clip_ids, corpus.groups
    (['jazz/loose', 'rock/Album A/01', 'rock/Album A/02'], ['jazz/loose', 'rock/Album A', 'rock/Album A'])
    """
    base = Path(root).expanduser()
    if not base.is_dir():
        raise DatasetError(f"folder not found: {base}")
    clips, skipped = [], []
    for label_dir in sorted(p for p in base.iterdir() if p.is_dir() and not p.name.startswith(".")):
        for path in sorted(label_dir.rglob("*")):
            rel = path.relative_to(base)
            if any(part.startswith(".") for part in rel.parts) or path.suffix.lower() not in AUDIO_EXTENSIONS:
                continue
            problem = not_a_file(path)
            if problem:  # a folder named x.wav, a dangling link: listed, not silently dropped
                skipped.append(Skipped(str(path), problem))
                continue
            problem = header_problem(path) if check_headers else None
            if problem:
                skipped.append(Skipped(str(path), problem))
                continue
            clip_id = rel.with_suffix("").as_posix()
            group = "/".join(rel.parts[:2]) if len(rel.parts) > 2 else clip_id
            clips.append(Clip(clip_id, path, label_dir.name, group))
    if not clips:
        raise DatasetError(f"{base}: no audio files found under <label>/ folders")
    return Corpus(name or base.name, tuple(clips), tuple(skipped), root=base)


def read_audio_folder(root: str | os.PathLike, *, check_headers: bool = True, name: str | None = None) -> Corpus:
    """Read every audio file below ``root`` (``audio:PATH``) as an unlabelled clip: a collection
    nobody has sorted into genres, for ``graham suggest`` and ``graham train --labels``.

    A file in a sub-folder belongs to the group named by the first one (an album, an artist); a
    file at the top is its own group. Clip ids are the path relative to ``root`` without
    extension.

    Parameters
    ----------
    root : str or os.PathLike
        The collection's folder.
    check_headers : bool
        Open every file's header and skip the unreadable ones.
    name : str, optional
        The corpus's name (default: the folder's).

    Returns
    -------
    Corpus
        Every clip's label is ``""``.

    Examples
    --------
    >>> import numpy as np, soundfile as sf
    >>> from pathlib import Path
    >>> from graham.data.folder import read_audio_folder
    >>> root = Path(tmp, "collection")
    >>> (root / "Album A").mkdir(parents=True)
    >>> silence = np.zeros(22050, dtype=np.float32)
    >>> sf.write(str(root / "Album A" / "1.flac"), silence, 22050); sf.write(str(root / "loose.wav"), silence, 22050)
    >>> (root / "broken.wav").write_bytes(b"RIFF")
    4
    >>> corpus = read_audio_folder(root)
    >>> corpus.clip_ids, corpus.groups, [s.path.endswith("broken.wav") for s in corpus.skipped]
    (['Album A/1', 'loose'], ['Album A', 'loose'], [True])
    """
    base = Path(root).expanduser()
    if not base.is_dir():
        raise DatasetError(f"folder not found: {base}")
    clips, skipped = [], []
    for path in audio_paths(base):
        rel = path.relative_to(base)
        problem = not_a_file(path) or (header_problem(path) if check_headers else None)
        if problem:
            skipped.append(Skipped(str(path), problem))
            continue
        clip_id = rel.with_suffix("").as_posix()
        clips.append(Clip(clip_id, path, UNLABELLED, rel.parts[0] if len(rel.parts) > 1 else clip_id))
    if not clips:
        raise DatasetError(f"{base}: no audio files found")
    return Corpus(name or base.name, tuple(clips), tuple(skipped), root=base)
