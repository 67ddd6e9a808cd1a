"""The on-disk log-mel cache: one ``.npy`` per clip, keyed by the file's content hash and the
feature settings, so a changed file or changed settings never reuse a stale entry.

Layout: ``<root>/<settings key>/<hash[:2]>/<hash>.npy`` with ``settings.json`` beside the
entries. An entry that cannot be read, has the wrong shape or holds non-finite values is
recomputed. Writes are atomic. Extraction hashes and decodes files on a thread pool
(soundfile and soxr release the GIL) a bounded number of clips ahead, and computes log-mels
in the calling thread with the process's own torch threads: it changes no process-wide
setting, and a slow consumer never piles up decoded audio. It shows a progress bar.
"""

from __future__ import annotations

import hashlib
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
from ..io import save_npy, write_json
from ..parallel import map_ahead
from .corpus import Corpus, Skipped

__all__ = ["file_digest", "FeatureStore", "FeatureSet", "MelSequence", "take"]

log = logging.getLogger(__name__)


def file_digest(path: str | os.PathLike, *, chunk: int = 1 << 20) -> str:
    """BLAKE2b (128-bit) hex digest of a file's bytes."""
    h = hashlib.blake2b(digest_size=16)
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


class MelSequence(Sequence):
    """Log-mels of cached clips as a read-only sequence that maps a clip's entry only while it
    is read [item shape=(n_mels, frames), float32, memory-mapped].

    A list of memory-mapped arrays keeps one mapping per clip for as long as the list lives:
    the pages read stay resident, and Linux allows 65,530 mappings per process by default,
    fewer than AudioSet's 2 million clips. Here an item's mapping goes when the caller drops
    it, so memory and the mapping count stay flat whatever the corpus size.
    """

    def __init__(self, paths: Sequence[str | os.PathLike]) -> None:
        self.paths = [Path(p) for p in paths]

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, i):
        if isinstance(i, slice):
            return MelSequence(self.paths[i])
        return np.load(self.paths[i], mmap_mode="r", allow_pickle=False)

    def subset(self, indices) -> "MelSequence":
        """The clips at ``indices``, still lazy."""
        return MelSequence([self.paths[int(i)] for i in indices])


def take(mels: Sequence[np.ndarray], indices) -> Sequence[np.ndarray]:
    """``[mels[i] for i in indices]``, kept lazy when ``mels`` is a :class:`MelSequence`."""
    if isinstance(mels, MelSequence):
        return mels.subset(indices)
    return [mels[int(i)] for i in indices]


@dataclass
class FeatureSet:
    """Log-mels of a corpus's readable clips, loaded lazily from the cache.

    ``corpus`` holds only the clips that have features (failed ones are in its ``skipped``);
    ``paths[i]`` is the cache entry of ``corpus.clips[i]``.
    """

    corpus: Corpus
    paths: list[Path]
    config: MelConfig
    failed: list[Skipped] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, i: int) -> np.ndarray:
        """Log-mel of clip ``i`` [shape=(n_mels, frames), float32, dB]."""
        return np.load(self.paths[i], allow_pickle=False)

    def subset(self, indices) -> "FeatureSet":
        indices = list(indices)
        return FeatureSet(self.corpus.subset(indices), [self.paths[i] for i in indices], self.config, self.failed)


class FeatureStore:
    """Computes log-mels once per (file content, settings) and keeps them under ``root``."""

    def __init__(self, root: str | os.PathLike, config: MelConfig | None = None) -> None:
        self.config = config or MelConfig()
        self.root = Path(root).expanduser()
        self.dir = self.root / f"mel-{self.config.key()}"
        self._logmel = LogMel(self.config)

    def entry_path(self, digest: str) -> Path:
        return self.dir / digest[:2] / f"{digest}.npy"

    def _valid(self, path: Path) -> bool:
        try:
            arr = np.load(path, allow_pickle=False, mmap_mode="r")
            return arr.dtype == np.float32 and arr.ndim == 2 and arr.shape[0] == self.config.n_mels \
                and arr.shape[1] > 0 and bool(np.isfinite(arr).all())
        except Exception:  # truncated, garbage, wrong magic: recompute
            return False

    def _decode(self, path: str | os.PathLike) -> np.ndarray:
        y = load_audio(path, sr=self.config.sr)
        if y.shape[0] < self.config.n_fft // 2 + 1:
            raise AudioError(path, f"too short for features ({y.shape[0]} samples at {self.config.sr} Hz)")
        return y

    def _mel(self, y: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            return self._logmel(torch.from_numpy(y)).numpy()

    def compute(self, path: str | os.PathLike) -> np.ndarray:
        """Decode ``path`` and return its log-mel [shape=(n_mels, frames)] without caching."""
        return self._mel(self._decode(path))

    def get(self, path: str | os.PathLike) -> Path:
        """The cache entry for ``path``, computing it when missing, stale or corrupt."""
        entry, y = self._prepare(path)
        if y is not None:
            save_npy(entry, self._mel(y))
        return entry

    def _prepare(self, path: str | os.PathLike) -> tuple[Path, np.ndarray | None]:
        """Worker side: the cache entry of ``path`` and, when it must be (re)computed, the decoded
        samples. Raises AudioError or OSError for a file that cannot be used."""
        entry = self.entry_path(file_digest(path))
        if entry.exists():
            if self._valid(entry):
                return entry, None
            log.warning("recomputing corrupt cache entry %s for %s", entry, path)
        return entry, self._decode(path)

    def extract(self, corpus: Corpus, *, workers: int = 2, progress: bool = True) -> FeatureSet:
        """Features of every clip of ``corpus``. Undecodable files are reported by name (in the
        log and in the result's corpus ``skipped`` list) and left out; the run goes on.

        ``workers`` threads hash and decode files at most ``2 * workers`` clips ahead of the
        log-mel, which runs in this thread."""
        self.dir.mkdir(parents=True, exist_ok=True)
        write_json(self.dir / "settings.json", self.config.to_dict())

        def prepare(i: int):
            try:
                return self._prepare(corpus.clips[i].path), None
            except AudioError as exc:
                return None, exc.reason
            except OSError as exc:
                return None, f"cannot read ({exc.strerror or exc})"

        results: list = [None] * len(corpus)
        bar = None
        if progress:
            from tqdm.auto import tqdm
            bar = tqdm(total=len(corpus), desc="log-mel", unit="clip")
        try:
            for i, (prepared, err) in map_ahead(prepare, range(len(corpus)), workers=workers):
                if prepared is not None:
                    entry, y = prepared
                    if y is not None:
                        save_npy(entry, self._mel(y))
                    results[i] = (entry, None)
                else:
                    results[i] = (None, err)
                if bar is not None:
                    bar.update(1)
        finally:
            if bar is not None:
                bar.close()
        ok = [i for i, (entry, _) in enumerate(results) if entry is not None]
        failed = [Skipped(str(corpus.clips[i].path), err) for i, (entry, err) in enumerate(results) if entry is None]
        for s in failed:
            log.warning("skipped %s", s)
        kept = corpus.without([corpus.clips[i].clip_id for i, (e, _) in enumerate(results) if e is None],
                              {corpus.clips[i].clip_id: err for i, (e, err) in enumerate(results) if e is None})
        return FeatureSet(kept, [results[i][0] for i in ok], self.config, failed)
