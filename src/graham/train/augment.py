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

import numpy as np
import torch

from ..presets import AugmentConfig

__all__ = ["augment_batch", "mix_power_db"]



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
