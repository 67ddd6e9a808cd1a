"""The Corpus table: one row per clip (id, path, label, group, predefined split)."""

from __future__ import annotations

import csv
import io
import os
from collections import Counter
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Iterable, Iterator, Sequence

from ..errors import DatasetError

__all__ = ["Clip", "Skipped", "Corpus", "not_a_file"]

SPLITS = ("train", "valid", "test")


@dataclass(frozen=True)
class Clip:
    """One audio clip: a unique id, its file, its genre label, a group that must never span a
    train/test boundary in a grouped split (artist, album, source track or video), and an
    optional predefined split ("train", "valid", "test") from a split list."""

    clip_id: str
    path: Path
    label: str
    group: str
    split: str | None = None


def not_a_file(path: Path) -> str | None:
    """Why ``path``, named like an audio file, cannot be one (``None`` when it is a regular
    file): a folder, a dangling symbolic link, a device or pipe."""
    if path.is_file():
        return None
    if path.is_symlink() and not path.exists():
        return "dangling symbolic link"
    if path.is_dir():
        return "a folder, not a file"
    return "not a regular file"


@dataclass(frozen=True)
class Skipped:
    """A file left out of a corpus, and why."""

    path: str
    reason: str

    def __str__(self) -> str:
        return f"{self.path}: {self.reason}"


@dataclass(frozen=True)
class Corpus:
    """An ordered table of clips plus the files that were skipped while reading it."""

    name: str
    clips: tuple[Clip, ...]
    skipped: tuple[Skipped, ...] = ()
    root: Path | None = None
    notes: tuple[str, ...] = field(default=())

    def __post_init__(self) -> None:
        counts = Counter(c.clip_id for c in self.clips)
        dup = [k for k, n in counts.items() if n > 1]
        if dup:
            raise DatasetError(f"{self.name}: duplicate clip ids, e.g. {dup[:3]}")

    def __len__(self) -> int:
        return len(self.clips)

    def __iter__(self) -> Iterator[Clip]:
        return iter(self.clips)

    def __getitem__(self, i: int) -> Clip:
        return self.clips[i]

    @property
    def classes(self) -> list[str]:
        """Sorted label names; a label's index in this list is its class index."""
        return sorted({c.label for c in self.clips})

    @property
    def labels(self) -> list[str]:
        return [c.label for c in self.clips]

    @property
    def groups(self) -> list[str]:
        return [c.group for c in self.clips]

    @property
    def clip_ids(self) -> list[str]:
        return [c.clip_id for c in self.clips]

    def targets(self, classes: Sequence[str] | None = None) -> list[int]:
        """Class index of every clip, in ``classes`` order (default: :attr:`classes`)."""
        index = {name: i for i, name in enumerate(classes or self.classes)}
        return [index[c.label] for c in self.clips]

    def class_counts(self) -> dict[str, int]:
        return dict(sorted(Counter(self.labels).items()))

    def subset(self, indices: Iterable[int], *, name: str | None = None) -> "Corpus":
        """The clips at ``indices`` (in that order), keeping the skipped list."""
        return replace(self, name=name or self.name, clips=tuple(self.clips[i] for i in indices))

    def without(self, clip_ids: Iterable[str], reasons: dict[str, str] | None = None) -> "Corpus":
        """A copy without ``clip_ids``; each goes to the skipped list with its reason."""
        drop = set(clip_ids)
        reasons = reasons or {}
        kept = tuple(c for c in self.clips if c.clip_id not in drop)
        gone = tuple(Skipped(str(c.path), reasons.get(c.clip_id, "dropped")) for c in self.clips if c.clip_id in drop)
        return replace(self, clips=kept, skipped=self.skipped + gone)

    def summary(self) -> str:
        """One line: the clips, the classes with their counts (an unlabelled collection: its
        groups), and how many files were skipped."""
        counts = self.class_counts()
        if set(counts) <= {""}:  # audio:PATH, nobody's labels
            text = f"{self.name}: {len(self)} unlabelled clips in {len(set(self.groups))} groups"
        else:
            listed = ", ".join(f"{k} {v}" for k, v in counts.items())
            n = len(self.classes)
            text = f"{self.name}: {len(self)} clips in {n} class{'es' if n != 1 else ''} ({listed})"
        if self.skipped:
            text += f"; {len(self.skipped)} skipped"
        return text

    def to_csv(self) -> str:
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        w.writerow(["clip_id", "path", "label", "group", "split"])
        for c in self.clips:
            w.writerow([c.clip_id, str(c.path), c.label, c.group, c.split or ""])
        return buf.getvalue()

    @classmethod
    def from_csv(cls, path: str | os.PathLike, *, name: str | None = None) -> "Corpus":
        """Read a corpus table (``csv:TABLE``): columns ``clip_id, path, label[, group, split]``,
        as :meth:`to_csv` writes them; relative paths are taken from the table's folder.

        Parameters
        ----------
        path : str or os.PathLike
            The table.
        name : str, optional
            The corpus's name (default: the table's file name).

        Returns
        -------
        Corpus

        Examples
        --------
        >>> from pathlib import Path
        >>> from graham.data.corpus import Corpus
        >>> _ = Path(tmp, "table.csv").write_text("clip_id,path,label,group\\na,a.wav,rock,album1\\nb,b.wav,jazz,album2\\n")
        >>> corpus = Corpus.from_csv(Path(tmp, "table.csv"))
        >>> corpus.clip_ids, corpus.classes, corpus.clips[0].path == Path(tmp, "a.wav")
        (['a', 'b'], ['jazz', 'rock'], True)
        """
        path = Path(path)
        base = path.parent
        clips = []
        with open(path, newline="") as f:
            reader = csv.DictReader(f)
            missing = {"clip_id", "path", "label"} - set(reader.fieldnames or ())
            if missing:
                raise DatasetError(f"{path}: missing columns {sorted(missing)}")
            for row in reader:
                p = Path(row["path"])
                clips.append(Clip(row["clip_id"], p if p.is_absolute() else base / p, row["label"],
                                  row.get("group") or row["clip_id"], row.get("split") or None))
        return cls(name or path.stem, tuple(clips), root=base)
