"""Data sets named on the command line as ``KIND:PATH``.

- ``gtzan:~/data/gtzan``: a GTZAN folder (see :func:`~graham.data.gtzan.read_gtzan`).
- ``audioset:~/as/eval_segments.csv`` with ``clips=DIR``: AudioSet music genres.
- ``folder:~/music``: ``<root>/<label>/**/<file>``.
- ``audio:~/collection``: every audio file below it, unlabelled (``graham suggest``,
  ``graham train --labels``); the first sub-folder is the group.
- ``csv:~/table.csv``: a corpus table (clip_id, path, label[, group, split]).
- ``synthetic`` or ``synthetic:PER_GENRExSECONDS[@ARTISTS]`` (e.g. ``synthetic:30x10``,
  ``synthetic:30x10@5``): the built-in synthetic genre corpus, generated once into the cache and
  read as GTZAN; with ``@ARTISTS`` (or ``synthetic:artists`` = ``30x10@5``) each genre's clips
  come from that many artists, and a clip's group is its artist.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field, replace
from pathlib import Path

from ..errors import DatasetError
from ..names import DATASET_KINDS
from ..synth.corpus import SynthSpec, generate_corpus
from ..utils.paths import cache_dir
from .audioset import read_audioset
from .corpus import Corpus
from .folder import read_audio_folder, read_folder
from .gtzan import read_gtzan

__all__ = ["DatasetSpec", "parse_dataset", "check_paths", "open_dataset", "DEFAULT_SYNTHETIC", "ARTIST_SYNTHETIC"]

KINDS = DATASET_KINDS

#: What the bare name ``synthetic`` means: 10 genres x 30 clips of 10 s at 22050 Hz, seed 0.
DEFAULT_SYNTHETIC = SynthSpec(per_genre=30, seconds=10.0, seed=0)

#: What ``synthetic:artists`` means: the same size, each genre played by 5 artists of 6 clips
#: (the artist is the clip's group, so grouped splits keep an artist on one side).
ARTIST_SYNTHETIC = SynthSpec(per_genre=30, seconds=10.0, seed=0, artists=5)


@dataclass(frozen=True)
class DatasetSpec:
    """A parsed ``KIND:PATH`` plus the reader options that go with it."""

    kind: str
    path: Path | None
    options: dict = field(default_factory=dict)

    def __str__(self) -> str:
        return self.kind if self.path is None else f"{self.kind}:{self.path}"


def parse_dataset(text: str) -> DatasetSpec:
    """Split ``KIND:PATH`` (``~`` expanded). ``synthetic`` may carry ``PER_GENRExSECONDS``."""
    kind, sep, rest = text.partition(":")
    kind = kind.strip().lower()
    if kind not in KINDS:
        kinds = ", ".join(k + ":PATH" for k in KINDS[:-1])
        raise DatasetError(f"unknown data-set kind {kind!r} in {text!r}; use one of {kinds} or synthetic")
    if kind == "synthetic":
        if not rest:
            return DatasetSpec(kind, None, {"synth": DEFAULT_SYNTHETIC})
        if rest.strip().lower() == "artists":
            return DatasetSpec(kind, None, {"synth": ARTIST_SYNTHETIC})
        m = re.fullmatch(r"(\d+)(?:x(\d+(?:\.\d+)?))?(?:@(\d+))?", rest.strip())
        if not m:
            raise DatasetError("synthetic takes PER_GENRE[xSECONDS][@ARTISTS] or artists, e.g. synthetic:30x10, "
                               f"synthetic:30x10@5 or synthetic:artists, got {rest!r}")
        seconds = float(m[2]) if m[2] else DEFAULT_SYNTHETIC.seconds
        return DatasetSpec(kind, None, {"synth": SynthSpec(per_genre=int(m[1]), seconds=seconds, seed=DEFAULT_SYNTHETIC.seed,
                                                           artists=int(m[3] or 0))})
    if not sep or not rest.strip():
        raise DatasetError(f"{kind} needs a path: {kind}:PATH")
    return DatasetSpec(kind, Path(os.path.expanduser(rest.strip())))


def check_paths(spec: DatasetSpec, clips: str | os.PathLike | None = None) -> None:
    """Each kind's rule for its paths, in one place (the CLI checks before any work, the readers
    before reading): GTZAN and ``folder:`` name a folder, ``csv:`` and ``audioset:`` a table,
    and AudioSet also needs the folder of its clips."""
    if spec.path is None:
        if spec.kind != "synthetic":
            raise DatasetError(f"{spec.kind} needs a path: {spec.kind}:PATH")
        return
    if spec.kind in ("gtzan", "folder", "audio") and not spec.path.is_dir():
        raise DatasetError(f"{spec.kind}: folder not found: {spec.path}")
    if spec.kind in ("csv", "audioset") and not spec.path.is_file():
        raise DatasetError(f"{spec.kind}: table not found: {spec.path}")
    if spec.kind == "audioset":
        if clips is None:
            raise DatasetError("audioset:CSV needs the folder of clips: --clips DIR")
        if not Path(clips).expanduser().is_dir():
            raise DatasetError(f"--clips: folder not found: {clips}")


def open_dataset(
    dataset: str | DatasetSpec,
    *,
    clips: str | os.PathLike | None = None,
    genres: list[str] | None = None,
    split_lists: dict[str, str | os.PathLike] | None = None,
    multi_label: str = "drop",
    pattern: str = "{YTID}_{start}",
    synth_seed: int | None = None,
    progress: bool = True,
) -> Corpus:
    """Read the data set named by ``dataset`` into a :class:`Corpus`.

    Parameters
    ----------
    dataset : str or DatasetSpec
        ``gtzan:DIR``, ``audioset:CSV`` (with ``clips``), ``folder:DIR``, ``audio:DIR``,
        ``csv:TABLE`` or ``synthetic[:PER_GENRExSECONDS]`` (``synthetic:artists`` for the corpus
        with artists).
    clips : str or os.PathLike, optional
        AudioSet: the clip folder.
    genres : list of str, optional
        Restrict GTZAN, AudioSet or the synthetic corpus to these genres.
    split_lists : dict, optional
        Predefined GTZAN splits, ``{"train"|"valid"|"test": FILE}``.
    multi_label, pattern
        AudioSet: see :func:`~graham.data.audioset.read_audioset`.
    synth_seed : int, optional
        The synthetic corpus's seed (default: the spec's).
    progress : bool
        Show a progress bar while the synthetic corpus is written (once per settings, cached).

    Returns
    -------
    Corpus
        The clips (id, path, label, group, split), the files skipped with the reason, notes.

    Examples
    --------
    >>> from graham.data.spec import open_dataset
    >>> corpus = open_dataset("synthetic:2x3", progress=False)
    >>> len(corpus), corpus.classes[:3], corpus.clips[0].clip_id
    (20, ['blues', 'classical', 'country'], 'blues.00000')
    >>> open_dataset("mp3:/x")
    Traceback (most recent call last):
    ...
    graham.errors.DatasetError: unknown data-set kind 'mp3' in 'mp3:/x'; use one of gtzan:PATH, ...
    """
    spec = parse_dataset(dataset) if isinstance(dataset, str) else dataset
    check_paths(spec, clips)
    if spec.kind != "synthetic":
        path = spec.path
        assert path is not None  # check_paths: every kind but synthetic has one
        if spec.kind == "gtzan":
            return read_gtzan(path, genres=tuple(genres) if genres else None, split_lists=split_lists)
        if spec.kind == "audioset":
            assert clips is not None  # check_paths: AudioSet needs its clips
            return read_audioset(path, clips, genres=genres, pattern=pattern, multi_label=multi_label)
        if spec.kind == "folder":
            return read_folder(path)
        if spec.kind == "audio":
            return read_audio_folder(path)
        return Corpus.from_csv(path)
    synth: SynthSpec = spec.options["synth"]
    if genres or synth_seed is not None:
        synth = SynthSpec(per_genre=synth.per_genre, seconds=synth.seconds,
                          seed=synth.seed if synth_seed is None else synth_seed,
                          genres=tuple(genres) if genres else synth.genres, sample_rate=synth.sample_rate,
                          artists=synth.artists)
    root = generate_corpus(cache_dir() / synth.key(), synth, progress=progress)
    corpus = read_gtzan(root, name="synthetic")
    grouped = tuple(replace(c, group=synth.group(c.label, int(c.clip_id.rsplit(".", 1)[1]))) for c in corpus.clips)
    by = f", {synth.artists} artists per genre" if synth.artists else ""
    return Corpus(f"synthetic ({synth.per_genre} clips x {len(synth.genres)} genres, {synth.seconds:g} s{by}, "
                  f"seed {synth.seed})", grouped, corpus.skipped, corpus.root, corpus.notes)
