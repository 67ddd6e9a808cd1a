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
from ..errors import AudioError, DatasetError, ParameterError
from ..utils.parallel import map_ahead
from ..utils.ranks import world
from .corpus import Corpus, Skipped
from .store import DEFAULT_SHARD_SIZE, ShardedArrays, ShardStore, source_stamp

__all__ = ["FeatureStore", "FeatureSet", "take", "clip_list_key", "folder_settings", "resolve_settings"]

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


#: The record a feature folder keeps of its settings (written by ``graham features``).
SETTINGS_FILE = "features.json"


def folder_settings(root: str | os.PathLike) -> MelConfig | None:
    """The log-mel settings a feature folder was made with (its ``features.json``), or None
    for a folder without one. A record that cannot be read is an error, never a silent default."""
    path = Path(root).expanduser() / SETTINGS_FILE
    if not path.is_file():
        return None
    try:
        record = json.loads(path.read_text())
        return MelConfig.from_dict(record["mel"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise DatasetError(f"{path}: not a readable feature-folder record ({exc}); remove it or use "
                           "another folder") from None


def resolve_settings(root: str | os.PathLike | None, given: dict | None = None) -> MelConfig:
    """The log-mel settings for a feature folder: the folder's own (see :func:`folder_settings`)
    with ``given`` on top, or the defaults with ``given`` for a new folder. A given setting that
    disagrees with the folder's is a :class:`ParameterError` naming both: a folder holds one set
    of settings, and features are never recomputed behind the user's back."""
    given = {k: v for k, v in (given or {}).items() if v is not None}
    known = folder_settings(root) if root is not None else None
    if root is None or known is None:
        return MelConfig(**given)
    held = known.to_dict()
    unknown = sorted(set(given) - set(held))
    if unknown:
        raise ParameterError(f"unknown log-mel settings: {', '.join(unknown)}")
    clash = [f"{k}={given[k]} (the folder has {held[k]})" for k in sorted(given) if given[k] != held[k]]
    if clash:
        raise ParameterError(f"{Path(root).expanduser()} holds log-mels made with other settings: "
                             f"{'; '.join(clash)}. Leave the option out to use the folder's, or give "
                             f"another folder")
    return known


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
            log.info("skipped %s", s)  # the commands list them (all in the run's files)
        kept_corpus = corpus.without([corpus.clips[i].clip_id for i in sorted(errors)],
                                     {corpus.clips[i].clip_id: errors[i] for i in errors})
        return FeatureSet(kept_corpus, mels, self.config, failed, store.root, [stamps[i] for i in kept],
                          store.shard_size)

    def _fill(self, store: ShardStore, corpus: Corpus, stamps: list[str], shards: list[int], *, workers: int,
              progress: bool) -> None:
        """Compute and write ``shards``: decoding runs ahead across shard boundaries, and each
        shard is written as soon as its last clip is done. A shard is filled only under its
        lock; shards that another process holds are left for later: this process then waits,
        holding no lock, for one of them, and skips those the other has completed (two runs on
        one store share the work, never a file, and cannot wait for each other in a circle)."""
        n = len(corpus)
        bar = None
        if progress and shards:
            from tqdm.auto import tqdm
            bar = tqdm(total=sum(len(store.items_of(k, n)) for k in shards), desc="log-mel", unit="clip")
        try:
            while shards:
                busy = self._fill_free(store, corpus, stamps, shards, workers=workers, bar=bar)
                waited = store.lock(busy[0]) if busy else None  # wait until its holder is done with it
                if waited is not None:
                    waited.release()
                shards = busy
        finally:
            if bar is not None:
                bar.close()

    def _fill_free(self, store: ShardStore, corpus: Corpus, stamps: list[str], shards: list[int], *, workers: int,
                   bar) -> list[int]:
        """Fill the shards of ``shards`` whose lock is free and that are still to do; return
        those another process holds."""
        n = len(corpus)
        busy: list[int] = []
        held: list = []  # (shard, lock) claimed and not yet written, in order

        def order():
            for k in shards:
                lock = store.lock(k, wait=False)
                if lock is None:
                    busy.append(k)
                elif store.done(k, [stamps[i] for i in store.items_of(k, n)]):
                    lock.release()  # completed by another process meanwhile
                    if bar is not None:
                        bar.update(len(store.items_of(k, n)))
                else:
                    held.append((k, lock))
                    yield from store.items_of(k, n)

        def prepare(i: int):
            try:
                return self._decode(corpus.clips[i].path), None
            except AudioError as exc:
                return None, exc.reason
            except OSError as exc:
                return None, f"cannot read ({exc.strerror or exc})"

        try:
            items: list = []
            for i, (y, err) in map_ahead(prepare, order(), workers=workers):
                items.append(self._mel(y) if y is not None else err)
                if bar is not None:
                    bar.update(1)
                k, lock = held[0]
                rng = store.items_of(k, n)
                if i == rng[-1]:
                    store.write(k, [stamps[j] for j in rng], items)
                    lock.release()
                    held.pop(0)
                    items = []
        finally:
            for _, lock in held:
                lock.release()
        return busy
