"""Shared fixtures: small audio files written by the tests, and a private cache folder."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf


@pytest.fixture(autouse=True)
def _private_cache(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("GRAHAM_CACHE", str(tmp_path_factory.getbasetemp() / "graham-cache"))


def tone(seconds: float = 1.0, sr: int = 22050, freq: float = 440.0, amp: float = 0.3) -> np.ndarray:
    t = np.arange(int(seconds * sr)) / sr
    return (amp * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def write(path, y, sr=22050, **kw):
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(str(path), y, sr, **kw)
    return path


@pytest.fixture
def gtzan_dir(tmp_path):
    """A GTZAN-layout folder under ``genres/``: .au and .wav clips and the WAV copy's broken jazz.00054."""
    base = tmp_path / "gtzan" / "genres"
    for g, f in (("jazz", 330.0), ("rock", 110.0)):
        for i in range(3):
            ext, kw = ("au", {"format": "AU", "subtype": "PCM_16"}) if i == 0 else ("wav", {})
            write(base / g / f"{g}.{i:05d}.{ext}", tone(1.0, freq=f * (i + 1)), **kw)
    (base / "jazz" / "jazz.00054.wav").write_bytes(b"RIFF\x10\x00\x00\x00WAVEfmt " + b"\x00" * 7)
    (base / "jazz" / "jazz.mf").write_text("a GTZAN index file, not a clip\n")
    return tmp_path / "gtzan"


@pytest.fixture(scope="session")
def trained(tmp_path_factory):
    """A run of the whole path with a tiny network on a tiny synthetic corpus (40 clips)."""
    from graham.workflows.requests import DataSource
    from graham.workflows.train import train_model

    from tiny import settings, tiny_siamese

    out = tmp_path_factory.mktemp("run")
    return train_model(DataSource("synthetic:4x3", cache=out / "features"), out,
                       settings(tiny_siamese(epochs=2), gnn_epochs=30), progress=False)
