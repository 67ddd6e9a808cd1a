"""The default renderer: a :class:`~graham.synth.score.Score` becomes a mono float32 signal.

Each track is rendered from its notes (voices cached per patch, pitch and length within a
clip), guitar tracks are driven through a cabinet filter, the tracks are mixed at the score's
levels, then reverb, compression, a master low-pass, a noise floor and loudness
normalisation are applied, all as the score's :class:`~graham.synth.score.Production` says.
"""

from __future__ import annotations

import numpy as np

from .effects import compress, distort, lowpass, normalise_loudness, reverb
from .instruments import render_drum, render_voice
from .score import Score

__all__ = ["render"]

_DUR_STEP = 0.05  # seconds: note lengths are rounded up to this grid so voices can be reused


def _place(buf: np.ndarray, wave: np.ndarray, start: int, gain: float) -> None:
    end = min(buf.shape[0], start + wave.shape[0])
    if end > start:
        buf[start:end] += gain * wave[: end - start]


def _render_track(notes, n: int, sr: int, rng: np.random.Generator) -> np.ndarray:
    buf = np.zeros(n)
    cache: dict = {}
    kit_variants = 3
    for note in notes:
        start = int(note.onset * sr)
        if note.track == "drums":
            drum = (note.patch, int(rng.integers(kit_variants)))
            if drum not in cache:
                cache[drum] = render_drum(note.patch, sr, rng, tune=float(rng.uniform(0.9, 1.1)))
            _place(buf, cache[drum], start, note.velocity)
            continue
        steps = max(1, int(np.ceil(note.duration / _DUR_STEP)))
        key = (note.patch, note.pitch, steps)
        if key not in cache:
            wave = render_voice(note.patch, note.pitch, steps * _DUR_STEP, sr, rng)
            cache[key] = wave / (np.abs(wave).max() + 1e-9)
        _place(buf, cache[key], start, note.velocity ** 1.5)
    return buf


def render(score: Score, *, sr: int = 22050, seed: int | np.random.SeedSequence = 0) -> np.ndarray:
    """Render ``score`` to ``score.seconds`` of mono audio [shape=(round(seconds*sr),), float32].

    ``seed`` fixes the renderer's own randomness (noise bursts, kit variants, reverb tail).
    """
    rng = np.random.default_rng(seed)
    n = int(round(score.seconds * sr))
    prod = score.production
    mix = np.zeros(n)
    for track in ("drums", "bass", "comp", "lead", "pad"):
        notes = [x for x in score.notes if x.track == track]
        if not notes:
            continue
        y = _render_track(notes, n, sr, rng)
        patches = {x.patch for x in notes}
        if track in ("comp", "lead") and all(p.startswith("ks_") for p in patches):
            drive = max(prod.distortion, 0.55 if "ks_guitar_drive" in patches else 0.0)
            y = distort(y, drive, sr)
        rms = np.sqrt(np.mean(y * y)) + 1e-9
        mix += prod.levels[track] * y * (0.1 / rms)
    mix = reverb(mix, prod.reverb, sr, rng)
    mix = compress(mix, prod.compression, sr)
    mix = lowpass(mix, prod.lowpass, sr, poles=2)
    mix = normalise_loudness(mix, prod.loudness_db)
    mix += 10 ** (prod.noise_db / 20) * rng.standard_normal(n)
    return np.clip(mix, -1.0, 1.0).astype(np.float32)
