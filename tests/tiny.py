"""Plain helpers of the tests (imported, not fixtures): tiny models and settings, toy log-mels,
audio files written on the spot, a free port."""

from __future__ import annotations

import socket

import numpy as np
import soundfile as sf

from graham.nn.gnn import GNNConfig
from graham.nn.xception import XceptionConfig
from graham.presets import GNNTrainConfig, SiameseConfig
from graham.workflows.requests import ModelSettings

TINY = XceptionConfig(stem=(4, 8), entry=(8, 12, 16), middle_blocks=1, exit=(16, 16), out_channels=16)


def tiny_siamese(**kw) -> SiameseConfig:
    base = dict(backbone=TINY, crop_frames=32, epochs=2, classes_per_batch=4, per_class=3, head_hidden=16,
                val_fraction=0.0, min_batches=0, lr=3e-4)
    return SiameseConfig(**{**base, **kw})


def settings(siamese: SiameseConfig | None = None, *, gnn_epochs: int | None = None) -> ModelSettings:
    """Model settings for a test: ``siamese`` (default: :func:`tiny_siamese`), the default GNN,
    and ``gnn_epochs`` GNN epochs (default: the recipe's)."""
    train = GNNTrainConfig(epochs=gnn_epochs) if gnn_epochs is not None else GNNTrainConfig()
    return ModelSettings(siamese or tiny_siamese(), GNNConfig(), train)


def toy_mels(n_per_class: int = 8, classes: int = 4, n_mels: int = 32, frames: int = 48, seed: int = 0):
    """Log-mel-like arrays whose class is a bright band at a class-specific height."""
    rng = np.random.default_rng(seed)
    mels, labels = [], []
    for c in range(classes):
        for _ in range(n_per_class):
            m = rng.normal(-40, 3, (n_mels, frames + int(rng.integers(0, 20)))).astype(np.float32)
            lo = 2 + c * (n_mels - 4) // classes
            m[lo:lo + 3] += 30
            mels.append(m)
            labels.append(c)
    return mels, np.array(labels)


def tone(seconds: float = 1.0, sr: int = 22050, freq: float = 440.0, amp: float = 0.3) -> np.ndarray:
    t = np.arange(int(seconds * sr)) / sr
    return (amp * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def write(path, y, sr=22050, **kw):
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(str(path), y, sr, **kw)
    return path


def free_port() -> int:
    """A TCP port free on 127.0.0.1 now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
