"""Log-mel features of a corpus in a sharded store (:mod:`graham.data.store`), computed once
per (clip list, settings) and read back lazily.

Layout: ``<root>/mel-<settings key>/<clip-list key>/`` holds the store of one clip list: shard
``k`` has clips ``k*S .. k*S+S-1`` of the corpus in order. Each clip is stamped by path, size
and modification time, so a changed file redoes only its shard and changed settings never
reuse a stale entry. Extraction resumes after a kill, losing at most the shard in progress,
and shows a progress bar with an ETA. Files are decoded on a thread pool (soundfile and soxr
release the GIL) a bounded number of clips ahead; log-mels run in the calling thread with the
process's own torch threads: no process-wide setting changes, and a slow consumer never piles
up decoded audio. Under ``torchrun`` each process fills every N-th shard and all of them read
the whole store when every shard is done.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np
import torch

from ..audio.decode import load_audio
from ..audio.mel import LogMel, MelConfig
from ..errors import AudioError
from ..parallel import map_ahead
from ..ranks import world
from .corpus import Corpus, Skipped
from .store import DEFAULT_SHARD_SIZE, ShardedArrays, ShardStore, source_stamp

__all__ = ["FeatureStore", "FeatureSet", "take", "clip_list_key"]

log = logging.getLogger(__name__)


def take(mels: Sequence[np.ndarray], indices) -> Sequence[np.ndarray]:
    """``[mels[i] for i in indices]``, kept lazy when ``mels`` is a :class:`ShardedArrays`."""
    if isinstance(mels, ShardedArrays):
        return mels.subset(indices)
    return [mels[int(i)] for i in indices]


def clip_list_key(paths: Sequence[str | os.PathLike]) -> str:
    """A short stable hash of a clip list in its order: the name of its store's folder."""
    h = hashlib.blake2b(digest_size=8)
    for p in paths:
        h.update(os.fsencode(str(p)) + b"\0")
    return h.hexdigest()


@dataclass
class FeatureSet:
    """Log-mels of a corpus's readable clips, read lazily from the store.

    ``corpus`` holds only the clips that have features (failed ones are in its ``skipped``);
    ``mels[i]`` is the log-mel of ``corpus.clips[i]`` [shape=(n_mels, frames), float32, dB,
    memory-mapped]; ``dir`` is the store's folder and ``stamps[i]`` the stamp of clip ``i``.
    """

    corpus: Corpus
    mels: ShardedArrays
    config: MelConfig
    failed: list[Skipped] = field(default_factory=list)
    dir: Path | None = None
    stamps: list[str] = field(default_factory=list)
    shard_size: int = DEFAULT_SHARD_SIZE

    def __len__(self) -> int:
        return len(self.mels)

    def __getitem__(self, i: int) -> np.ndarray:
        """Log-mel of clip ``i``, read into memory [shape=(n_mels, frames), float32, dB]."""
        return np.array(self.mels[i])


class FeatureStore:
    """Computes the log-mels of a corpus once per (clip list, settings) and keeps them in a
    sharded store under ``root``."""

    def __init__(self, root: str | os.PathLike, config: MelConfig | None = None, *,
                 shard_size: int = DEFAULT_SHARD_SIZE) -> None:
        self.config = config or MelConfig()
        self.root = Path(root).expanduser()
        self.dir = self.root / f"mel-{self.config.key()}"
        self.shard_size = int(shard_size)
        self._logmel = LogMel(self.config)

    def _decode(self, path: str | os.PathLike) -> np.ndarray:
        y = load_audio(path, sr=self.config.sr)
        if y.shape[0] < self.config.n_fft // 2 + 1:
            raise AudioError(path, f"too short for features ({y.shape[0]} samples at {self.config.sr} Hz)")
        return y

    def _mel(self, y: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            return self._logmel(torch.from_numpy(y)).numpy()

    def compute(self, path: str | os.PathLike) -> np.ndarray:
        """Decode ``path`` and return its log-mel [shape=(n_mels, frames)] without storing it."""
        return self._mel(self._decode(path))

    def store_for(self, corpus: Corpus) -> ShardStore:
        """The store that holds (or will hold) the log-mels of ``corpus``'s clips in order. A
        store that exists keeps the shard size it was made with."""
        root = self.dir / clip_list_key([c.path for c in corpus.clips])
        shard_size = self.shard_size
        try:
            shard_size = int(json.loads((root / "store.json").read_text())["shard_size"])
        except (OSError, ValueError, KeyError, TypeError):
            pass
        if shard_size != self.shard_size:
            log.info("%s keeps its shard size %d (asked: %d)", root, shard_size, self.shard_size)
        return ShardStore(root, kind="log-mel", settings=self.config.to_dict(), shard_size=shard_size)

    def extract(self, corpus: Corpus, *, workers: int = 2, progress: bool = True) -> FeatureSet:
        """Features of every clip of ``corpus``. Undecodable files are reported by name (in the
        log and in the result's corpus ``skipped`` list) and left out; the run goes on.

        Shards already complete for these files are reused; ``workers`` threads decode files
        at most ``2 * workers`` clips ahead of the log-mel, which runs in this thread. Under
        ``torchrun`` (a process group initialised) this process fills its share of the shards,
        waits for the others, and returns the whole set, as every process does."""
        store = self.store_for(corpus)
        stamps = [source_stamp(c.path) for c in corpus.clips]
        todo = store.todo(stamps)
        self._fill(store, corpus, stamps, todo, workers=workers, progress=progress and world()[0] == 0)
        mels, kept, errors = store.gather(stamps)
        failed = [Skipped(str(corpus.clips[i].path), errors[i]) for i in sorted(errors)]
        for s in failed:
            log.warning("skipped %s", s)
        kept_corpus = corpus.without([corpus.clips[i].clip_id for i in sorted(errors)],
                                     {corpus.clips[i].clip_id: errors[i] for i in errors})
        return FeatureSet(kept_corpus, mels, self.config, failed, store.root, [stamps[i] for i in kept],
                          store.shard_size)

    def _fill(self, store: ShardStore, corpus: Corpus, stamps: list[str], shards: list[int], *, workers: int,
              progress: bool) -> None:
        """Compute and write ``shards``: decoding runs ahead across shard boundaries, and each
        shard is written as soon as its last clip is done."""
        n = len(corpus)
        ranges = [store.items_of(k, n) for k in shards]
        order = [i for r in ranges for i in r]

        def prepare(i: int):
            try:
                return self._decode(corpus.clips[i].path), None
            except AudioError as exc:
                return None, exc.reason
            except OSError as exc:
                return None, f"cannot read ({exc.strerror or exc})"

        bar = None
        if progress and order:
            from tqdm.auto import tqdm
            bar = tqdm(total=len(order), desc="log-mel", unit="clip")
        try:
            results = map_ahead(prepare, order, workers=workers)
            for k, rng in zip(shards, ranges):
                items: list = []
                for _ in rng:
                    _, (y, err) = next(results)
                    items.append(self._mel(y) if y is not None else err)
                    if bar is not None:
                        bar.update(1)
                store.write(k, [stamps[i] for i in rng], items)
        finally:
            if bar is not None:
                bar.close()
