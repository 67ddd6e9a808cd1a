"""Augmentation of log-mel training crops, each step justified by how music is heard.

Image-style transforms (flips, rotations, colour) move sound to other frequencies or times,
which changes what it is (paper, section 3.1), so graham applies only transforms that leave a
clip's genre unchanged:

- **mixing two clips of the same genre** in the power domain,
  ``10 log10(w 10^(a/10) + (1 - w) 10^(b/10))``, as two recordings of one genre played
  together: the mixture is still of that genre;
- **time masking** and **frequency masking** (SpecAugment; Park et al. 2019): a few frames or
  mel bands set to the crop's mean, so no single onset or band decides;
- the random **time shift** is the random crop itself (:meth:`graham.train.crops.MelCrops.random`).

There is no random gain: the Xception branch standardises every crop (zero mean, unit
variance), so a gain in dB, a constant added to the crop, is invisible to it (tested).

All of it is off by default, in both presets: at the ``cpu`` preset's budget it measured no
better (README, "Why these defaults"); ``AugmentConfig`` turns each step on.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import torch

from ..errors import ParameterError

__all__ = ["AugmentConfig", "augment_batch", "mix_power_db"]


@dataclass(frozen=True)
class AugmentConfig:
    """What to apply to each training crop; every probability is per crop.

    ``mix``: probability of mixing with another crop of the same genre in the batch, with a
    weight ``w`` drawn from U(0.5, 1) for the crop itself. ``time_masks``/``freq_masks``: how many masks, each at most
    ``time_mask_frac`` of the frames / ``freq_mask_frac`` of the bands wide.
    """

    mix: float = 0.0
    time_masks: int = 0
    time_mask_frac: float = 0.1
    freq_masks: int = 0
    freq_mask_frac: float = 0.1

    def __post_init__(self) -> None:
        if not 0 <= self.mix <= 1 or self.time_masks < 0 or self.freq_masks < 0:
            raise ParameterError("augmentation needs 0 <= mix <= 1 and mask counts >= 0")
        if not 0 <= self.time_mask_frac < 1 or not 0 <= self.freq_mask_frac < 1:
            raise ParameterError("mask widths are fractions in [0, 1)")

    @property
    def active(self) -> bool:
        return bool(self.mix or self.time_masks or self.freq_masks)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def preset(cls, name: str) -> "AugmentConfig":
        """``paper``: nothing (the paper trains on plain crops); ``cpu``: every transform."""
        if name == "paper":
            return cls()
        if name == "cpu":
            return cls(mix=0.5, time_masks=2, time_mask_frac=0.1, freq_masks=2, freq_mask_frac=0.1)
        raise ParameterError(f"unknown augmentation preset {name!r}; known: cpu, paper")


def mix_power_db(a: torch.Tensor, b: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """Mix two log-mels [dB] as sounds: ``10 log10(w 10^(a/10) + (1 - w) 10^(b/10))``, computed
    stably as ``m + 10 log10(w 10^((a-m)/10) + (1-w) 10^((b-m)/10))`` with ``m = max(a, b)``.
    ``w`` broadcasts against ``a`` (one weight per crop: shape (B, 1, 1))."""
    m = torch.maximum(a, b)
    k = np.log(10.0) / 10.0
    return m + torch.log(w * torch.exp((a - m) * k) + (1 - w) * torch.exp((b - m) * k)) / k


def augment_batch(x: torch.Tensor, labels: np.ndarray, config: AugmentConfig, rng: np.random.Generator) -> torch.Tensor:
    """Augmented copy of a batch of crops ``x`` [shape=(B, n_mels, frames), dB] with class
    ``labels`` [shape=(B,)]. Every random draw comes from ``rng``, so training stays
    reproducible and resumable."""
    if not config.active:
        return x
    x = x.clone()
    b, n_mels, frames = x.shape
    labels = np.asarray(labels)
    if config.mix > 0:
        partner = np.arange(b)
        for i in range(b):
            same = np.flatnonzero((labels == labels[i]) & (np.arange(b) != i))
            if len(same) and rng.random() < config.mix:
                partner[i] = int(rng.choice(same))
        w = torch.from_numpy(rng.uniform(0.5, 1.0, b).astype(np.float32)).view(b, 1, 1)
        mixed = mix_power_db(x, x[torch.from_numpy(partner)], w)
        x = torch.where(torch.from_numpy(partner != np.arange(b)).view(b, 1, 1), mixed, x)
    fill = x.mean(dim=(1, 2))
    for axis, count, frac, size in ((2, config.time_masks, config.time_mask_frac, frames),
                                    (1, config.freq_masks, config.freq_mask_frac, n_mels)):
        width_max = int(frac * size)
        if count == 0 or width_max < 1:
            continue
        for i in range(b):
            for _ in range(count):
                width = int(rng.integers(0, width_max + 1))
                start = int(rng.integers(0, size - width + 1))
                if axis == 2:
                    x[i, :, start:start + width] = fill[i]
                else:
                    x[i, start:start + width, :] = fill[i]
    return x
