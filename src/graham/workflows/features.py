"""The first step of every workflow: a data set's log-mels, made where missing, and what a
training starts from (the clips left after ``exclude``, two classes or more, the split)."""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable

import numpy as np

from ..audio.mel import MelConfig
from ..data.corpus import Corpus, Skipped
from ..data.features import FeatureSet, FeatureStore, resolve_settings
from ..data.spec import open_dataset
from ..data.store import DEFAULT_SHARD_SIZE
from ..errors import DatasetError, ParameterError
from ..evaluate.splits import Split, choose_protocol, leakage_note, make_splits
from ..utils.files import write_json, write_text
from ..utils.paths import cache_dir
from ..utils.ranks import world
from .requests import DataSource

__all__ = ["FeatureRun", "extract_features", "Prepared", "prepare"]

log = logging.getLogger(__name__)

#: How long a process waits for the others to finish their shards (a process group's
#: default, 30 min, is shorter than extracting AudioSet).
STORE_TIMEOUT_S = 7 * 24 * 3600


@dataclass
class FeatureRun:
    """What :func:`extract_features` did: the features, the skipped files, how long it took and
    the feature folder."""

    features: FeatureSet
    skipped: list
    seconds: float
    out: Path


def feature_folder(source: DataSource) -> Path:
    """Where ``source``'s log-mels live: its ``cache``, else ``features`` in graham's cache."""
    return source.cache if source.cache is not None else cache_dir() / "features"


def extract_features(source: DataSource, *, config: MelConfig | None = None, workers: int = 2,
                     shard_size: int = DEFAULT_SHARD_SIZE, genres: list[str] | None = None,
                     progress: bool = True) -> FeatureRun:
    """The log-mel of every readable clip of a data set, in its feature folder.

    Computes what is missing and reuses the rest; a killed run resumes.

    Parameters
    ----------
    source : DataSource
        The data set; its ``cache`` is the feature folder (None: graham's cache).
    config : MelConfig, optional
        Log-mel settings. None: the folder's own (``features.json``), or the defaults for a new
        folder. Settings that disagree with the folder's are a :class:`ParameterError`: a
        folder holds the log-mels of one set of settings.
    workers : int
        Decoding threads.
    shard_size : int
        Clips per shard of a new store.
    genres : list of str, optional
        Synthetic corpus only: the genres to generate.
    progress : bool
        Show a progress bar.

    Returns
    -------
    FeatureRun
        The features, every file left out (by name, with the reason) and the time taken. The
        folder also gets ``corpus.csv`` (the clips that have features), ``skipped.txt`` and
        ``features.json`` (settings, counts).

    Notes
    -----
    Under ``torchrun`` every process takes its share of the shards (gloo, unless a process
    group is already up) and process 0 writes the files above once all shards are done.

    Examples
    --------
    >>> import tempfile
    >>> from graham.workflows.features import extract_features
    >>> from graham.workflows.requests import DataSource
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     run = extract_features(DataSource("synthetic:2x3", cache=tmp), progress=False)
    ...     (len(run.features), run.features.corpus.classes[:2], run.features.mels[0].shape)
    (20, ['blues', 'classical'], (128, 130))
    """
    import torch

    from ..train.distributed import init_from_env

    out = feature_folder(source)
    config = resolve_settings(out, None if config is None else config.to_dict())
    t0 = time.perf_counter()
    init_from_env(torch.device("cpu"), timeout_s=STORE_TIMEOUT_S)
    lists: dict[str, str | os.PathLike] | None = dict(source.split_lists) if source.split_lists else None
    corpus: Corpus = open_dataset(source.spec, clips=source.clips, genres=genres, split_lists=lists, progress=progress)
    store = FeatureStore(out, config, shard_size=shard_size)
    fs = store.extract(corpus, workers=workers, progress=progress)
    skipped = list(corpus.skipped) + list(fs.failed)
    seconds = time.perf_counter() - t0
    if world()[0] == 0:
        write_text(out / "corpus.csv", fs.corpus.to_csv())
        write_text(out / "skipped.txt", "".join(f"{s}\n" for s in skipped))
        write_json(out / "features.json", {
            "dataset": source.spec, "corpus": fs.corpus.name, "clips": len(fs), "classes": fs.corpus.classes,
            "skipped": len(skipped), "mel": store.config.to_dict(), "store": str(fs.dir), "shard_size": shard_size,
            "seconds": round(seconds, 2), "notes": list(corpus.notes),
        })
    return FeatureRun(fs, skipped, seconds, out)


@dataclass
class Prepared:
    """What every training workflow starts from: the features of a data set read (or made),
    the corpus checked to hold two classes or more, its labels and, when asked, its split."""

    run: FeatureRun
    corpus: Corpus
    labels: np.ndarray
    split: Split | None = None
    excluded: list = field(default_factory=list)  # Skipped: clips left out by ``exclude``, with the reason
    protocol_why: str = ""  # why that protocol, in words
    leakage: str | None = None  # a line when the split puts clips of one group on both sides

    @property
    def mels(self):
        return self.run.features.mels


def prepare(source: DataSource, *, protocol: str | None = None, seed: int = 0, test_size: float = 0.3,
            progress: bool = True, notify: Callable[[str], None] | None = None) -> Prepared:
    """Features (made or reused for the whole data set), less the clips ``source.exclude``
    names, the class check, labels and, with a ``protocol``, the split (``auto``: grouped on a
    corpus with groups of several clips, else random; see
    :func:`~graham.evaluate.splits.choose_protocol`). ``notify(line)`` hears which split was
    drawn and why, and the leakage line when it cuts groups, as soon as they are known."""
    fr, excluded = _without(extract_features(source, progress=progress), source)
    corpus = fr.features.corpus
    if len(corpus.classes) < 2:  # before any work is done
        raise DatasetError(f"{corpus.name}: training needs clips of at least two classes, found "
                           f"{len(corpus.classes)} ({', '.join(corpus.classes) or 'none'})")
    labels = np.asarray(corpus.targets())
    if protocol is None:
        return Prepared(fr, corpus, labels, None, excluded)
    chosen, why = choose_protocol(protocol, corpus.groups, grouped="grouped")
    if chosen == "kfold":
        raise ParameterError("this command uses one split: protocol auto, random (paper), grouped or given (k-fold: "
                             "graham experiment)")
    split = make_splits(chosen, labels, seed=seed, groups=corpus.groups, test_size=test_size,
                        splits=[c.split for c in corpus], names=corpus.classes)[0]
    leakage = leakage_note(split, corpus.groups)
    if notify is not None:
        notify(f"split: {split.name} ({why})")
        if leakage:
            notify(leakage)
    return Prepared(fr, corpus, labels, split, excluded, why, leakage)


def _without(fr: FeatureRun, source: DataSource) -> tuple[FeatureRun, list[Skipped]]:
    """The features less the clips ``source.exclude`` names, and those clips with the reason."""
    exclude = source.exclude
    if not exclude:
        return fr, []
    fs = fr.features
    keep = [i for i, c in enumerate(fs.corpus.clips) if c.clip_id not in exclude]
    excluded = [Skipped(str(c.path), exclude[c.clip_id]) for c in fs.corpus.clips if c.clip_id in exclude]
    missing = len(set(exclude) - {c.clip_id for c in fs.corpus.clips})
    if missing:
        log.warning("%d of the %d clip ids to exclude are not in %s", missing, len(exclude), source.spec)
    subset = FeatureSet(replace(fs.corpus, clips=tuple(fs.corpus.clips[i] for i in keep)), fs.mels.subset(keep),
                        fs.config, fs.failed, None, [fs.stamps[i] for i in keep], fs.shard_size)
    return FeatureRun(subset, fr.skipped, fr.seconds, fr.out), excluded
