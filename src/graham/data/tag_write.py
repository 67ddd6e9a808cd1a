"""Writing GENRE tags into a user's music files, safely: nothing is changed unless asked, a file
that already has a genre keeps it unless ``overwrite``, every change is written to a copy that
is read back before it replaces the file, and the previous values go to an undo log before the
file is touched, so that :func:`undo` restores every tag exactly."""

from __future__ import annotations

import json
import os
import shutil
import stat
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

__all__ = ["GenreWrite", "WriteReport", "write_genres", "undo"]


@dataclass(frozen=True)
class GenreWrite:
    """One file's new GENRE."""

    path: str | os.PathLike
    genre: str


@dataclass
class WriteReport:
    """What :func:`write_genres` (or :func:`undo`) did: the files changed, those left as they were
    because they have a genre, and those that could not be written, each with the reason."""

    written: list[Path] = field(default_factory=list)
    kept: list[Path] = field(default_factory=list)
    failed: list[tuple[Path, str]] = field(default_factory=list)


def _open(path: Path):
    """The file's tags through mutagen's easy interface, or a reason it has none to write."""
    import mutagen

    try:
        f = mutagen.File(path, easy=True)
    except (mutagen.MutagenError, OSError) as exc:
        return None, f"cannot read its tags ({exc})"
    if f is None:
        return None, "a format without tags graham can write"
    if f.tags is None:
        try:
            f.add_tags()
        except (mutagen.MutagenError, NotImplementedError) as exc:
            return None, f"a format without tags graham can write ({exc})"
    return f, ""


def _genres(path: Path) -> tuple[list[str] | None, str]:
    """The file's GENRE values ([] when it has none), or None and the reason its tags cannot be read."""
    f, why = _open(path)
    return (None, why) if f is None else ([str(g) for g in (f.tags.get("genre") or [])], "")


def _read_only(path: Path) -> bool:
    """No write bit for anyone (checked on the mode: root may write any file, a user's choice
    to protect one still holds)."""
    return not stat.S_IMODE(path.stat().st_mode) & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH)


def _replace_genres(path: Path, genres: list[str]) -> str:
    """Set the file's GENRE to ``genres`` ([]: no GENRE): on a copy beside it, read back, then
    moved over the file (its mode and times kept). "" on success, else the reason; on failure
    the file is as it was."""
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".graham-tmp", dir=path.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        shutil.copy2(path, tmp)
        f, why = _open(tmp)
        if f is None:
            return why
        if genres:
            f.tags["genre"] = genres
        elif "genre" in f.tags:
            del f.tags["genre"]
        f.save()
        if _genres(tmp)[0] != genres:
            return "the written tags did not read back"
        os.replace(tmp, path)
        return ""
    except Exception as exc:  # mutagen raises many kinds; the file itself is untouched until os.replace
        return f"cannot write its tags ({type(exc).__name__}: {exc})"
    finally:
        tmp.unlink(missing_ok=True)


def write_genres(writes: Iterable[GenreWrite], log: str | os.PathLike, *, overwrite: bool = False) -> WriteReport:
    """Write each file's GENRE, logging the previous values to ``log`` (JSON lines) first.

    Parameters
    ----------
    writes : iterable of GenreWrite
        The files and their new genres.
    log : str or os.PathLike
        The undo log, appended to (a line per file, flushed to disk before the file changes).
    overwrite : bool
        Replace a genre a file already has; by default such a file is kept as it is.

    Returns
    -------
    WriteReport
        A file that is read-only, of a format without tags, or unreadable is reported in
        ``failed`` and left byte-identical.

    Examples
    --------
    >>> import numpy as np, soundfile as sf
    >>> from graham.data.tag_write import GenreWrite, undo, write_genres
    >>> from graham.data.tags import read_tags
    >>> sf.write(f"{tmp}/a.flac", np.zeros(22050, dtype=np.float32), 22050)
    >>> report = write_genres([GenreWrite(f"{tmp}/a.flac", "ambient")], f"{tmp}/undo.jsonl")
    >>> len(report.written), read_tags(f"{tmp}/a.flac").genre
    (1, 'ambient')
    >>> _ = undo(f"{tmp}/undo.jsonl")
    >>> read_tags(f"{tmp}/a.flac").genre
    ''
    """
    report = WriteReport()
    log = Path(log)
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "a", encoding="utf-8") as undo_log:
        for w in writes:
            path = Path(w.path)
            if not path.is_file():
                report.failed.append((path, "no such file"))
                continue
            if _read_only(path):
                report.failed.append((path, "read-only"))
                continue
            before, why = _genres(path)
            if before is None:
                report.failed.append((path, why))
                continue
            if before and not overwrite:
                report.kept.append(path)
                continue
            undo_log.write(json.dumps({"path": str(path.resolve()), "genre": before, "new": [w.genre]}) + "\n")
            undo_log.flush()
            os.fsync(undo_log.fileno())
            why = _replace_genres(path, [w.genre])
            if why:
                report.failed.append((path, why))
            else:
                report.written.append(path)
    return report


def undo(log: str | os.PathLike) -> WriteReport:
    """Restore the GENRE of every file in an undo log to what it was, newest change first. A
    file whose GENRE is no longer what was written (changed since) is reported and left."""
    report = WriteReport()
    entries = [json.loads(line) for line in Path(log).read_text(encoding="utf-8").splitlines() if line.strip()]
    for e in reversed(entries):
        path = Path(e["path"])
        now = _genres(path)[0] if path.is_file() else None
        if now is None:
            report.failed.append((path, "no longer readable"))
            continue
        if now == e["genre"]:
            report.kept.append(path)  # already as it was (an entry whose write failed, or undone before)
            continue
        if now != e["new"]:
            report.failed.append((path, f"its genre changed since ({now}); left as it is"))
            continue
        why = _replace_genres(path, list(e["genre"]))
        if why:
            report.failed.append((path, why))
        else:
            report.written.append(path)
    return report
