"""Spectrogram crops in time: random crops for training (the random time shift, the one
augmentation always on), the middle crop for validation, and every window for embedding.
The other augmentations, off by default, are in :mod:`graham.train.augment`."""

from __future__ import annotations

from typing import Sequence

import numpy as np
import torch

from ..audio.windows import fit_length, mel_windows

__all__ = ["MelCrops", "Chained"]


class Chained(Sequence):
    """Two sequences of log-mels read as one (the first's clips, then the second's), without
    copying or loading either: a lazily loaded store stays lazy."""

    def __init__(self, first: Sequence[np.ndarray], second: Sequence[np.ndarray]) -> None:
        self.first, self.second = first, second

    def __len__(self) -> int:
        return len(self.first) + len(self.second)

    def __getitem__(self, i):
        i = int(i)
        if not -len(self) <= i < len(self):
            raise IndexError(i)
        i %= len(self)
        return self.first[i] if i < len(self.first) else self.second[i - len(self.first)]


class MelCrops:
    """Log-mels of a set of clips [each shape=(n_mels, frames)] cut into fixed ``frames`` crops.
    A clip shorter than a crop is tiled to length."""

    def __init__(self, mels: Sequence[np.ndarray], frames: int) -> None:
        self.mels = mels
        self.frames = int(frames)

    def __len__(self) -> int:
        return len(self.mels)

    def _crop(self, i: int, start: int) -> np.ndarray:
        return fit_length(np.asarray(self.mels[i]), self.frames, short="tile", offset=start)

    def random(self, indices: Sequence[int] | np.ndarray, rng: np.random.Generator) -> torch.Tensor:
        """One random crop per index [shape=(len(indices), n_mels, frames)]."""
        out = []
        for i in indices:
            n = np.asarray(self.mels[i]).shape[-1]
            start = int(rng.integers(0, max(n - self.frames, 0) + 1))
            out.append(self._crop(int(i), start))
        return torch.from_numpy(np.stack(out).astype(np.float32, copy=False))

    def center(self, indices: Sequence[int] | np.ndarray) -> torch.Tensor:
        """The middle crop of each clip [shape=(len(indices), n_mels, frames)]."""
        out = [self._crop(int(i), max(np.asarray(self.mels[i]).shape[-1] - self.frames, 0) // 2) for i in indices]
        return torch.from_numpy(np.stack(out).astype(np.float32, copy=False))

    def windows(self, i: int, hop: int) -> torch.Tensor:
        """All crops of clip ``i`` with ``hop`` frames between starts, the last flush with the end
        (:func:`graham.audio.windows.mel_windows`)."""
        return torch.from_numpy(mel_windows(np.asarray(self.mels[i]), self.frames, hop)[0])
